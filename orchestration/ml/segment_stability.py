"""How much a segmentation depends on the seed and on the particular customers.

Two views, as in the field notes ("Segmentation practice"):

* adjusted Rand index (ARI) between the reference segmentation and refits with other seeds,
  and between the reference and refits on bootstrap resamples (whole-partition agreement);
* Hennig's per-cluster bootstrap Jaccard (``fpc::clusterboot``): for each reference segment,
  the best Jaccard overlap with a cluster of the bootstrap refit, averaged over rounds —
  which segments are real and which are an artefact of the sample. Bands: < 0.60 unstable,
  0.60–0.75 doubtful, 0.75–0.85 stable, > 0.85 highly stable.

The refit is a callable so that this module knows nothing about the clustering method.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

#: Hennig's bootstrap-Jaccard bands (upper bound, verdict).
JACCARD_BANDS: tuple[tuple[float, str], ...] = (
    (0.60, "unstable"),
    (0.75, "doubtful"),
    (0.85, "stable"),
    (1.01, "highly stable"),
)


class Predictor(Protocol):
    def predict(self, X: np.ndarray) -> np.ndarray: ...


#: (rows, seed) → a fitted clusterer with ``predict``
Refit = Callable[[np.ndarray, int], Predictor]


def jaccard_band(value: float) -> str:
    """Hennig's verdict for a mean bootstrap Jaccard."""
    for upper, label in JACCARD_BANDS:
        if value < upper:
            return label
    return JACCARD_BANDS[-1][1]


@dataclass
class StabilityReport:
    """ARI across seeds and bootstraps, and per-segment bootstrap Jaccard."""

    seed_ari: list[float]
    bootstrap_ari: list[float]
    #: segment id → mean bootstrap Jaccard
    jaccard: dict[int, float]

    @property
    def mean_seed_ari(self) -> float:
        return float(np.mean(self.seed_ari)) if self.seed_ari else float("nan")

    @property
    def mean_bootstrap_ari(self) -> float:
        return float(np.mean(self.bootstrap_ari)) if self.bootstrap_ari else float("nan")

    @property
    def min_jaccard(self) -> float:
        return float(min(self.jaccard.values())) if self.jaccard else float("nan")

    def table(self, names: Mapping[int, str] | None = None) -> pd.DataFrame:
        """One row per segment: mean bootstrap Jaccard and its verdict."""
        names = names or {}
        return pd.DataFrame(
            [
                {"segment_id": s, "segment_name": names.get(s, ""), "bootstrap_jaccard": j, "verdict": jaccard_band(j)}
                for s, j in sorted(self.jaccard.items())
            ]
        )


def _best_jaccard(reference: np.ndarray, predicted: np.ndarray, segment: int) -> float:
    """Largest Jaccard overlap between one reference segment and any predicted cluster."""
    in_s = reference == segment
    best = 0.0
    for c in np.unique(predicted[in_s]):
        in_c = predicted == c
        best = max(best, float((in_s & in_c).sum() / (in_s | in_c).sum()))
    return best


def stability(
    X: np.ndarray,
    reference: np.ndarray,
    refit: Refit,
    seeds: int,
    bootstrap_rounds: int,
    random_state: int = 0,
) -> StabilityReport:
    """ARI across seeds and bootstrap refits, and per-segment bootstrap Jaccard (Hennig 2007).

    ``X`` is a sample of the model matrix and ``reference`` the final model's segment of each
    row. Seeds: refit on ``X`` with ``seeds`` other seeds (0 for deterministic methods such as
    Ward) and compare with the reference. Bootstrap: refit on a resample with replacement and
    assign every row of ``X``; ARI against the reference on all rows, and per reference segment
    the best Jaccard with a bootstrap cluster over the rows that were drawn.
    """
    rng = np.random.default_rng(random_state + 1)
    seed_ari = [
        float(adjusted_rand_score(reference, refit(X, random_state + 101 + i).predict(X))) for i in range(seeds)
    ]
    boot_ari: list[float] = []
    jaccard: dict[int, list[float]] = {int(s): [] for s in np.unique(reference)}
    for _ in range(bootstrap_rounds):
        idx = rng.choice(len(X), size=len(X), replace=True)
        predicted = np.asarray(refit(X[idx], int(rng.integers(1 << 31))).predict(X))
        boot_ari.append(float(adjusted_rand_score(reference, predicted)))
        drawn = np.zeros(len(X), dtype=bool)
        drawn[idx] = True
        for s, values in jaccard.items():
            values.append(_best_jaccard(reference[drawn], predicted[drawn], s))
    return StabilityReport(seed_ari, boot_ari, {s: float(np.mean(v)) for s, v in jaccard.items() if v})
