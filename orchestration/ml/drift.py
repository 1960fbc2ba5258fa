"""Feature drift: population stability index (PSI) between a training sample and today's scoring sample.

PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%). The usual reading:
below 0.1 stable, 0.1-0.25 some shift, above 0.25 a shift large enough to retrain. Bins are
quantiles of the *expected* (training) sample, so each training bin holds about the same
share and the index is not dominated by the tails; empty bins get a small epsilon so the
logarithm stays finite.

Pure pandas / numpy: the Dagster asset in ``orchestration.monitoring`` reads the frames.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_BINS = 10
EPSILON = 1e-4
#: the conventional "significant shift" level; the sensor's threshold defaults to it too
DEFAULT_THRESHOLD = 0.25


def psi(
    expected: Sequence[float] | np.ndarray | pd.Series,
    actual: Sequence[float] | np.ndarray | pd.Series,
    bins: int = DEFAULT_BINS,
    epsilon: float = EPSILON,
) -> float:
    """Population stability index of ``actual`` against ``expected`` (NaN values are dropped).

    Edges are the expected sample's quantiles; duplicate edges (discrete features such as
    counts or flags) collapse, so a feature with few distinct values gets fewer, not empty,
    bins. The outer edges are open so actual values outside the training range still count.
    Returns NaN when either sample has no values.
    """
    exp = np.asarray(pd.to_numeric(pd.Series(expected), errors="coerce"), dtype=np.float64)
    act = np.asarray(pd.to_numeric(pd.Series(actual), errors="coerce"), dtype=np.float64)
    exp, act = exp[np.isfinite(exp)], act[np.isfinite(act)]
    if exp.size == 0 or act.size == 0:
        return float("nan")
    inner = np.unique(np.quantile(exp, np.linspace(0, 1, bins + 1)[1:-1]))
    # right-closed bins on the inner edges: a value equal to an edge falls in the lower bin for
    # both samples, so a discrete feature's mass stays together
    exp_share = np.bincount(np.searchsorted(inner, exp, side="left"), minlength=inner.size + 1) / exp.size
    act_share = np.bincount(np.searchsorted(inner, act, side="left"), minlength=inner.size + 1) / act.size
    exp_share = np.clip(exp_share, epsilon, None)
    act_share = np.clip(act_share, epsilon, None)
    return float(np.sum((act_share - exp_share) * np.log(act_share / exp_share)))


def psi_table(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    features: Sequence[str],
    bins: int = DEFAULT_BINS,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """PSI per feature present in both frames, largest first, with a ``drifted`` flag (psi > threshold)."""
    rows = [
        {"feature": f, "psi": psi(expected[f], actual[f], bins)}
        for f in features
        if f in expected.columns and f in actual.columns
    ]
    table = pd.DataFrame(rows, columns=["feature", "psi"])
    table["drifted"] = table["psi"] > threshold
    return table.sort_values("psi", ascending=False, na_position="last").reset_index(drop=True)


def reference_path(model_path: str | Path) -> Path:
    """Where a model's training snapshot is kept: beside its artifact, ``<name>.reference.parquet``."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.reference.parquet")


def save_reference(frame: pd.DataFrame, features: Sequence[str], model_path: str | Path) -> Path:
    """Keep the training rows' model features beside the model, so drift is measured against what it saw.

    Written to a temporary file and renamed, like the model itself, so a crash never leaves
    half a snapshot.
    """
    target = reference_path(model_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    frame[[f for f in features if f in frame.columns]].reset_index(drop=True).to_parquet(tmp, index=False)
    tmp.replace(target)
    return target
