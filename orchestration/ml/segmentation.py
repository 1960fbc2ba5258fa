"""Behavioural segmentation: choose k, fit, name the segments, and measure their stability.

The field-notes recipe, made repeatable:

* features are log-transformed and robust-scaled by the pipeline in :mod:`features`, which
  is fitted with the model and pickled with it;
* k-means k is chosen over a range by the **silhouette** (computed on a sample: it is
  O(n²)); Calinski–Harabasz, Davies–Bouldin and the Kneedle **elbow** of the inertia
  (convex, decreasing) are reported as diagnostics, because they often disagree and a
  reader should see by how much;
* a Gaussian mixture (components × covariance type by **BIC**) and Ward hierarchical
  clustering (cut at the silhouette-best k) are configurable alternatives;
* segments are **named** from their profiles (z-scores of segment means against the
  population, in the transformed feature space) so a marketer reads "High-value frequent
  app shoppers", not "cluster 3";
* **stability**: adjusted Rand index between fits with different seeds and between the
  model and refits on bootstrap samples, and Hennig's per-cluster bootstrap Jaccard
  (< 0.60 unstable, 0.60–0.75 doubtful, 0.75–0.85 stable, > 0.85 highly stable).

Large inputs: k selection runs on a sample, the final model is fitted on at most
``fit_sample`` rows and then assigns every customer, so cost is bounded whatever the
customer count. Pure: pandas / numpy / scipy / scikit-learn only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from kneed import KneeLocator
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline

from orchestration.ml.features import SEGMENTATION_FEATURES, build_feature_pipeline

log = logging.getLogger(__name__)

Method = Literal["kmeans", "gmm", "ward"]

#: Hennig's bootstrap-Jaccard bands (field notes, "Segmentation practice").
JACCARD_BANDS: tuple[tuple[float, str], ...] = (
    (0.60, "unstable"),
    (0.75, "doubtful"),
    (0.85, "stable"),
    (1.01, "highly stable"),
)


@dataclass(frozen=True)
class SegmentationConfig:
    """Everything that decides a segmentation; the defaults suit 10³–10⁶ buyers on 2 cores."""

    features: tuple[str, ...] = SEGMENTATION_FEATURES
    method: Method = "kmeans"
    k_min: int = 2
    k_max: int = 10
    #: rows used to choose k (fits per k); silhouette on a further sub-sample
    selection_sample: int = 20_000
    silhouette_sample: int = 5_000
    #: the final k-means / mixture is fitted on at most this many rows, then assigns all
    fit_sample: int = 200_000
    #: Ward needs the O(n²) distance matrix: it runs on this many rows, the rest go to the nearest centroid
    ward_sample: int = 5_000
    n_init: int = 10
    gmm_covariance_types: tuple[str, ...] = ("full", "diag")
    #: variance floor added to the mixture covariances, in scaled units (≈ 1 per feature). Discrete
    #: features (is_member, small counts) otherwise let components collapse onto single values,
    #: which BIC rewards with ever more components (seen: k = 7 for 4 planted groups at 1e-4)
    gmm_reg_covar: float = 0.01
    stability_seeds: int = 5
    bootstrap_rounds: int = 10
    stability_sample: int = 5_000
    #: |z| above which a profile trait enters a segment's name
    name_threshold: float = 0.5
    random_state: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}..{self.k_max}")
        if self.method not in ("kmeans", "gmm", "ward"):
            raise ValueError(f"unknown method {self.method!r}")


class CentroidAssigner:
    """Assigns rows to the nearest centre: how Ward clusters fitted on a sample label everyone.

    Ward merges minimise the within-cluster sum of squares, so the nearest cluster mean is
    the assignment consistent with its objective.
    """

    def __init__(self, centers: np.ndarray) -> None:
        self.cluster_centers_ = np.asarray(centers, dtype=np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _nearest(X, self.cluster_centers_)


def _nearest(X: np.ndarray, centers: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    out = np.empty(len(X), dtype=np.int64)
    c2 = (centers**2).sum(axis=1)
    for start in range(0, len(X), chunk):
        block = X[start : start + chunk]
        d = c2[None, :] - 2.0 * block @ centers.T
        out[start : start + chunk] = d.argmin(axis=1)
    return out


@dataclass
class SegmentationModel:
    """A fitted segmentation: feature pipeline + clusterer + segment ids and names.

    Pickled as a whole (``features.save_artifact``) so scoring applies exactly the training
    transforms. Raw cluster labels are renumbered 1..k by decreasing training size, so
    segment 1 is always the largest.
    """

    pipeline: Pipeline
    method: Method
    clusterer: Any
    k: int
    #: raw label → segment id (1..k)
    relabel: np.ndarray
    segment_names: dict[int, str] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    n_train: int = 0
    #: free-form facts about the training run (as-of date, version), kept with the model
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Cluster centres in the scaled space, in raw-label order (mixture means for GMM)."""
        est = self.clusterer
        return np.asarray(est.means_ if self.method == "gmm" else est.cluster_centers_, dtype=np.float64)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """segment_id, segment_name and distance_to_centre (scaled space) for every row."""
        X = self.transform(frame)
        raw = np.asarray(self.clusterer.predict(X), dtype=np.int64)
        seg = self.relabel[raw]
        dist = np.sqrt(((X - self.centers[raw]) ** 2).sum(axis=1))
        return pd.DataFrame({"segment_id": seg, "segment_name": self.names_of(seg), "distance_to_centre": dist})

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The scaled model matrix of a customer frame."""
        return self.pipeline.transform(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Segment id (1..k) of every row of ``frame``."""
        return self.predict_matrix(self.transform(frame))

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        return self.relabel[np.asarray(self.clusterer.predict(X), dtype=np.int64)]

    def names_of(self, segment_ids: np.ndarray) -> np.ndarray:
        return np.array([self.segment_names.get(int(s), f"Segment {int(s)}") for s in segment_ids], dtype=object)


@dataclass
class StabilityReport:
    """How much the segmentation depends on the seed and on the particular customers."""

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
        names = names or {}
        return pd.DataFrame(
            [
                {"segment_id": s, "segment_name": names.get(s, ""), "bootstrap_jaccard": j, "verdict": jaccard_band(j)}
                for s, j in sorted(self.jaccard.items())
            ]
        )


@dataclass
class PcaView:
    """A 2-D picture of the clusters and how much of the variance it shows."""

    coords: np.ndarray
    segment_ids: np.ndarray
    explained_variance_ratio: np.ndarray
    #: explained variance ratio of every component (scree)
    spectrum: np.ndarray


@dataclass
class SegmentationResult:
    model: SegmentationModel
    #: per candidate: k (or components × covariance) with the scores used to choose
    selection: pd.DataFrame
    elbow_k: int | None
    stability: StabilityReport
    #: long profile: segment_id, segment_name, feature, segment_mean, population_mean, z_score, ...
    profiles: pd.DataFrame
    pca: PcaView
    #: segment id of every training row
    labels: np.ndarray
    metrics: dict[str, float]


def jaccard_band(value: float) -> str:
    for upper, label in JACCARD_BANDS:
        if value < upper:
            return label
    return JACCARD_BANDS[-1][1]


def _sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _fit_clusterer(
    X: np.ndarray,
    method: Method,
    k: int,
    seed: int,
    config: SegmentationConfig,
    covariance_type: str = "full",
) -> Any:
    """One clusterer with ``predict``; Ward is reduced to its cluster means."""
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=config.n_init, random_state=seed).fit(X)
    if method == "gmm":
        return GaussianMixture(
            n_components=k, covariance_type=covariance_type, n_init=1, random_state=seed, reg_covar=config.gmm_reg_covar
        ).fit(X)
    labels = fcluster(linkage(X, method="ward"), t=k, criterion="maxclust") - 1
    centers = np.vstack([X[labels == c].mean(axis=0) for c in np.unique(labels)])
    return CentroidAssigner(centers)


def select_k_kmeans(X: np.ndarray, config: SegmentationConfig) -> tuple[pd.DataFrame, int | None]:
    """Fit k-means for every k; silhouette, Calinski–Harabasz, Davies–Bouldin, inertia + elbow.

    Returns the table and the Kneedle elbow (None when the curve has no knee).
    """
    rows = []
    for k in range(config.k_min, config.k_max + 1):
        if k >= len(X):
            break
        km = KMeans(n_clusters=k, n_init=config.n_init, random_state=config.random_state).fit(X)
        rows.append(_scores(X, km.labels_, config) | {"k": k, "inertia": float(km.inertia_)})
    table = pd.DataFrame(rows)[["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]]
    return table, elbow(table["k"].to_numpy(), table["inertia"].to_numpy())


def select_k_ward(X: np.ndarray, config: SegmentationConfig) -> tuple[pd.DataFrame, int | None]:
    """One Ward tree, cut at every k; the within-cluster sum of squares plays the inertia."""
    tree = linkage(X, method="ward")
    rows = []
    for k in range(config.k_min, config.k_max + 1):
        labels = fcluster(tree, t=k, criterion="maxclust") - 1
        if len(np.unique(labels)) < 2:
            continue
        wss = sum(((X[labels == c] - X[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
        rows.append(_scores(X, labels, config) | {"k": k, "inertia": float(wss)})
    table = pd.DataFrame(rows)[["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]]
    return table, elbow(table["k"].to_numpy(), table["inertia"].to_numpy())


def select_gmm(X: np.ndarray, config: SegmentationConfig) -> pd.DataFrame:
    """BIC of every (components, covariance type); lower is better."""
    rows = []
    for cov in config.gmm_covariance_types:
        for k in range(config.k_min, config.k_max + 1):
            gm = GaussianMixture(
                n_components=k,
                covariance_type=cov,
                n_init=1,
                random_state=config.random_state,
                reg_covar=config.gmm_reg_covar,
            ).fit(X)
            labels = gm.predict(X)
            scores = _scores(X, labels, config) if len(np.unique(labels)) > 1 else {}
            rows.append({"k": k, "covariance_type": cov, "bic": float(gm.bic(X)), **scores})
    return pd.DataFrame(rows)


def _scores(X: np.ndarray, labels: np.ndarray, config: SegmentationConfig) -> dict[str, float]:
    n = len(X)
    return {
        "silhouette": float(
            silhouette_score(X, labels, sample_size=min(config.silhouette_sample, n), random_state=config.random_state)
        ),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


def elbow(ks: np.ndarray, inertia: np.ndarray) -> int | None:
    """Kneedle elbow of a decreasing, convex inertia curve (kneed), or None."""
    if len(ks) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns "no knee found" instead of returning quietly
        knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def choose_k(selection: pd.DataFrame, method: Method) -> tuple[int, str]:
    """The winning candidate: max silhouette (ties → fewer segments), or min BIC for mixtures."""
    if method == "gmm":
        best = selection.sort_values(["bic", "k"]).iloc[0]
        return int(best["k"]), str(best["covariance_type"])
    best = selection.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
    return int(best["k"]), ""


def profile_segments(
    frame: pd.DataFrame,
    labels: np.ndarray,
    prepared: np.ndarray,
    features: Sequence[str],
    names: Mapping[int, str] | None = None,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Long profile table: one row per segment × feature.

    ``segment_mean`` / ``population_mean`` are in the features' natural units (days,
    currency, shares); ``z_score`` compares the segment mean with the population in the
    *prepared* space (after the log), divided by the population standard deviation there,
    so a handful of huge spenders cannot make every segment look "low value".
    ``extra_columns`` (e.g. monetary_total) are profiled in natural units only.
    """
    names = names or {}
    labels = np.asarray(labels)
    seg_ids = np.unique(labels)
    pop_mean_t = prepared.mean(axis=0)
    pop_std_t = prepared.std(axis=0)
    pop_std_t = np.where(pop_std_t > 0, pop_std_t, 1.0)
    columns = [*features, *extra_columns]
    natural_of = {
        c: pd.to_numeric(frame[c].astype("float64"), errors="coerce").to_numpy() for c in columns if c in frame
    }
    rows = []
    for s in seg_ids:
        m = labels == s
        size = int(m.sum())
        seg_t = prepared[m].mean(axis=0)
        for j, col in enumerate(columns):
            natural = natural_of.get(col)
            in_model = j < len(features)
            rows.append(
                {
                    "segment_id": int(s),
                    "segment_name": names.get(int(s), f"Segment {int(s)}"),
                    "customer_count": size,
                    "customer_share": size / len(labels),
                    "feature": col,
                    "is_model_feature": in_model,
                    "segment_mean": _nanmean(natural[m]) if natural is not None else float("nan"),
                    "population_mean": _nanmean(natural) if natural is not None else float("nan"),
                    "z_score": float((seg_t[j] - pop_mean_t[j]) / pop_std_t[j]) if in_model else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (without numpy's empty-slice warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def zscore_matrix(profiles: pd.DataFrame) -> pd.DataFrame:
    """segment × feature z-scores (model features only), for naming and the heat map."""
    z = profiles[profiles["is_model_feature"]].pivot(index="segment_id", columns="feature", values="z_score")
    order = list(dict.fromkeys(profiles.loc[profiles["is_model_feature"], "feature"]))
    return z[order]


_CHANNELS = {
    "app_order_share": "app",
    "web_order_share": "web",
    "store_order_share": "in-store",
    "marketplace_order_share": "marketplace",
}

#: traits a channel word already implies ("app shoppers" use the app)
_CHANNEL_RELATED = {
    "app_order_share": ("app_sessions_last_90_days",),
    "web_order_share": ("web_sessions_last_90_days",),
}

#: readable phrases for traits used to break ties between otherwise equal names
_TRAIT_PHRASES = {
    "email_open_rate": ("e-mail engaged", "e-mail silent"),
    "email_click_rate": ("e-mail clickers", "non-clickers"),
    "web_sessions_last_90_days": ("frequent web visitors", "rare web visitors"),
    "app_sessions_last_90_days": ("active app users", "no app use"),
    "return_rate": ("high returns", "few returns"),
    "is_member": ("members", "non-members"),
    "tenure_days": ("long-standing", "recently acquired"),
    "recency_days": ("not seen lately", "recently active"),
    "average_order_value": ("big baskets", "small baskets"),
    "order_count": ("many orders", "few orders"),
    "mean_interpurchase_days": ("long gaps", "short gaps"),
    "discount_share": ("discount users", "full price"),
    "coupon_order_share": ("coupon users", "no coupons"),
}


def name_segments(
    zscores: pd.DataFrame, channel_means: pd.DataFrame | None = None, threshold: float = 0.5
) -> dict[int, str]:
    """Readable, unique names from each segment's z-scores against the population.

    Grammar: ``[Lapsed|New] [High-value|Low-value|Discount-driven] [frequent|occasional]
    [<channel>] shoppers|buyers``. A channel is named when the segment's mean share of it is
    at least 50 % and above the population (``channel_means``: segment × channel-share
    columns in natural units). When two segments get the same name the most distinctive
    remaining trait is appended ("…, e-mail engaged"), so names are unique.
    """

    def z(seg: int, col: str) -> float:
        return float(zscores.at[seg, col]) if col in zscores.columns else 0.0

    names: dict[int, str] = {}
    used_by: dict[int, set[str]] = {}
    for seg in zscores.index:
        used: set[str] = set()
        prefix = ""
        if z(seg, "recency_days") > 1.5 * threshold:
            prefix, _ = "Lapsed", used.add("recency_days")
        elif z(seg, "tenure_days") < -1.5 * threshold:
            prefix, _ = "New", used.add("tenure_days")
        value = ""
        value_z = max(z(seg, "average_order_value"), z(seg, "monetary_total"))
        discount_z = max(z(seg, "discount_share"), z(seg, "coupon_order_share"))
        if value_z > threshold:
            value = "high-value"
            used.update({"average_order_value", "monetary_total"})
        elif discount_z > threshold:
            value = "discount-driven"
            used.update({"discount_share", "coupon_order_share"})
        elif value_z < -threshold:
            value = "low-value"
            used.update({"average_order_value", "monetary_total"})
        freq = ""
        if z(seg, "order_count") > threshold:
            freq = "frequent"
            used.add("order_count")
        elif z(seg, "order_count") < -threshold:
            freq = "occasional"
            used.add("order_count")
        channel = ""
        if channel_means is not None and seg in channel_means.index:
            shares = channel_means.loc[seg]
            top = shares.idxmax()
            if shares[top] >= 0.5 and z(seg, top) > 0:
                channel = _CHANNELS.get(top, "")
                used.update({top, *_CHANNEL_RELATED.get(top, ())})
        noun = "shoppers" if freq == "frequent" or (value == "high-value" and not freq) else "buyers"
        words = [w for w in (prefix, value, freq, channel, noun) if w]
        if len(words) == 1:
            words.insert(0, "average")
        text = " ".join(words)
        # the strongest remaining trait, when it is pronounced (|z| >= 2 x threshold), is what
        # a marketer would notice first about the segment: say it
        trait = _strongest_trait(zscores.loc[seg], used, 2 * threshold)
        if trait is not None:
            text += f", {trait[1]}"
            used.add(trait[0])
        names[int(seg)] = text[0].upper() + text[1:]
        used_by[int(seg)] = used
    return _make_unique(names, zscores, used_by)


def _strongest_trait(row: pd.Series, used: set[str], min_abs_z: float) -> tuple[str, str] | None:
    """(feature, phrase) of the largest |z| among unused phrase-able features, if large enough."""
    best: tuple[float, str, str] | None = None
    for col, (up, down) in _TRAIT_PHRASES.items():
        if col in used or col not in row.index or not np.isfinite(row[col]):
            continue
        if abs(row[col]) >= min_abs_z and (best is None or abs(row[col]) > best[0]):
            best = (abs(row[col]), col, up if row[col] > 0 else down)
    return None if best is None else (best[1], best[2])


def _make_unique(names: dict[int, str], zscores: pd.DataFrame, used_by: Mapping[int, set[str]]) -> dict[int, str]:
    """Append the strongest not-yet-used trait to names shared by several segments."""
    out = dict(names)
    for name in set(names.values()):
        segs = [s for s, n in names.items() if n == name]
        if len(segs) < 2:
            continue
        taken: set[str] = set()
        for seg in segs:
            row = zscores.loc[seg].drop(labels=list(used_by.get(seg, set())), errors="ignore")
            row = row[[c in _TRAIT_PHRASES for c in row.index]]
            order = row.abs().sort_values(ascending=False).index
            suffix = ""
            for col in order:
                phrase = _TRAIT_PHRASES[col][0 if row[col] > 0 else 1]
                if phrase not in taken:
                    suffix, _ = phrase, taken.add(phrase)
                    break
            out[seg] = f"{name}, {suffix}" if suffix else f"{name} #{seg}"
    # last resort: still duplicated (identical suffixes) → number them
    seen: dict[str, int] = {}
    for seg in sorted(out):
        seen[out[seg]] = seen.get(out[seg], 0) + 1
        if seen[out[seg]] > 1:
            out[seg] = f"{out[seg]} #{seg}"
    return out


def stability(
    X: np.ndarray,
    reference: np.ndarray,
    method: Method,
    k: int,
    config: SegmentationConfig,
    covariance_type: str = "full",
) -> StabilityReport:
    """ARI across seeds and bootstrap refits, and per-cluster bootstrap Jaccard (Hennig 2007).

    ``X`` is a sample of the scaled matrix and ``reference`` the final model's segment ids on
    it. Seeds: each refit on ``X`` with another seed is compared with the reference. Bootstrap:
    refit on a resample with replacement, assign every row of ``X``; ARI against the reference
    on all rows, and for each reference segment the best Jaccard with a bootstrap cluster over
    the rows that were drawn (as in ``fpc::clusterboot``).
    """
    rng = np.random.default_rng(config.random_state + 1)
    seed_ari = []
    if method != "ward":  # Ward is deterministic: seeds cannot change it
        for i in range(config.stability_seeds):
            model = _fit_clusterer(X, method, k, config.random_state + 101 + i, config, covariance_type)
            seed_ari.append(float(adjusted_rand_score(reference, model.predict(X))))
    boot_ari = []
    jacc: dict[int, list[float]] = {int(s): [] for s in np.unique(reference)}
    for _ in range(config.bootstrap_rounds):
        idx = rng.choice(len(X), size=len(X), replace=True)
        model = _fit_clusterer(X[idx], method, k, int(rng.integers(1 << 31)), config, covariance_type)
        pred = model.predict(X)
        boot_ari.append(float(adjusted_rand_score(reference, pred)))
        drawn = np.zeros(len(X), dtype=bool)
        drawn[idx] = True
        ref_d, pred_d = reference[drawn], pred[drawn]
        for s in jacc:
            in_s = ref_d == s
            best = 0.0
            for c in np.unique(pred_d[in_s]):
                in_c = pred_d == c
                best = max(best, (in_s & in_c).sum() / (in_s | in_c).sum())
            jacc[s].append(float(best))
    return StabilityReport(seed_ari, boot_ari, {s: float(np.mean(v)) for s, v in jacc.items()})


def pca_view(X: np.ndarray, segment_ids: np.ndarray, random_state: int = 0) -> PcaView:
    pca = PCA(n_components=min(X.shape[1], 10), random_state=random_state).fit(X)
    coords = pca.transform(X)[:, :2]
    return PcaView(coords, segment_ids, pca.explained_variance_ratio_[:2].copy(), pca.explained_variance_ratio_.copy())


def train_segmentation(frame: pd.DataFrame, config: SegmentationConfig | None = None) -> SegmentationResult:
    """Choose k, fit the model, name and profile the segments, and measure stability.

    ``frame``: one row per customer with the configured feature columns (e.g. the buyers of
    ``marts.customer_features``). Returns the fitted model and everything a reviewer needs to
    judge it.
    """
    config = config or SegmentationConfig()
    n = len(frame)
    if n < max(50, 5 * config.k_max):
        raise ValueError(f"need at least {max(50, 5 * config.k_max)} customers to segment, got {n}")
    rng = np.random.default_rng(config.random_state)
    pipeline = build_feature_pipeline(config.features)
    fit_idx = _sample_index(n, config.fit_sample, rng)
    pipeline.fit(frame.iloc[fit_idx])
    X = pipeline.transform(frame)
    sel_idx = _sample_index(n, config.ward_sample if config.method == "ward" else config.selection_sample, rng)
    X_sel = X[sel_idx]

    covariance = "full"
    if config.method == "gmm":
        selection = select_gmm(X_sel, config)
        elbow_k = None
        k, covariance = choose_k(selection, "gmm")
    elif config.method == "ward":
        selection, elbow_k = select_k_ward(X_sel, config)
        k, _ = choose_k(selection, "ward")
    else:
        selection, elbow_k = select_k_kmeans(X_sel, config)
        k, _ = choose_k(selection, "kmeans")
    log.info("segmentation: %s chose k=%d (elbow %s) on %d rows", config.method, k, elbow_k, len(X_sel))

    fit_rows = X_sel if config.method == "ward" else X[fit_idx]
    clusterer = _fit_clusterer(fit_rows, config.method, k, config.random_state, config, covariance)
    raw = np.asarray(clusterer.predict(X), dtype=np.int64)
    sizes = np.bincount(raw, minlength=k)
    relabel = np.empty(k, dtype=np.int64)
    relabel[np.argsort(-sizes, kind="stable")] = np.arange(1, k + 1)
    model = SegmentationModel(pipeline, config.method, clusterer, k, relabel, {}, tuple(config.features), n)
    labels = relabel[raw]

    prepared = pipeline.named_steps["prepare"].transform(frame)
    extra = [c for c in ("monetary_total", "revenue_last_365_days") if c in frame.columns and c not in config.features]
    profiles = profile_segments(frame, labels, prepared, config.features, extra_columns=extra)
    z = zscore_matrix(profiles)
    channel_cols = [c for c in _CHANNELS if c in config.features]
    channel_means = None
    if channel_cols:
        channel_rows = profiles[profiles["feature"].isin(channel_cols)]
        channel_means = channel_rows.pivot(index="segment_id", columns="feature", values="segment_mean")
    model.segment_names = name_segments(z, channel_means, config.name_threshold)
    profiles["segment_name"] = profiles["segment_id"].map(model.segment_names)

    stab_idx = _sample_index(n, config.stability_sample, rng)
    stab = stability(X[stab_idx], labels[stab_idx], config.method, k, config, covariance)
    pca = pca_view(X[stab_idx], labels[stab_idx], config.random_state)

    chosen = selection[selection["k"] == k]
    if config.method == "gmm":
        chosen = chosen[chosen["covariance_type"] == covariance]

    def score(name: str) -> float:
        return float(chosen[name].iloc[0]) if name in chosen else float("nan")

    metrics = {
        "k": float(k),
        "elbow_k": float(elbow_k) if elbow_k is not None else float("nan"),
        "silhouette": score("silhouette"),
        "calinski_harabasz": score("calinski_harabasz"),
        "davies_bouldin": score("davies_bouldin"),
        "seed_ari_mean": stab.mean_seed_ari,
        "bootstrap_ari_mean": stab.mean_bootstrap_ari,
        "bootstrap_jaccard_min": stab.min_jaccard,
        "pca_explained_variance_2d": float(pca.explained_variance_ratio.sum()),
        "smallest_segment_share": float(sizes.min() / sizes.sum()),
        "customers": float(n),
    }
    if config.method == "gmm":
        metrics["bic"] = float(chosen["bic"].iloc[0])
    return SegmentationResult(model, selection, elbow_k, stab, profiles, pca, labels, metrics)


def agreement(labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Agreement of segments with a known grouping (e.g. simulator personas): ARI and AMI."""
    return {
        "ari": float(adjusted_rand_score(reference, labels)),
        "ami": float(adjusted_mutual_info_score(reference, labels)),
    }


def crosstab(labels: np.ndarray, reference: np.ndarray, names: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Segment × reference counts, for reading which persona each segment captured."""
    names = names or {}
    seg = pd.Series(labels).map(lambda s: names.get(int(s), f"Segment {int(s)}"))
    return pd.crosstab(seg.rename("segment"), pd.Series(reference).rename("reference"))
