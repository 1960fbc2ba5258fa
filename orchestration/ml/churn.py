"""Churn risk: who will not buy again within the horizon, trained and judged across time.

Label: a customer who had bought by a cutoff *churns* when they make no completed order in
the ``horizon`` days after it. Features at a cutoff are computed in SQL from data strictly
before it (``marts.customer_feature_snapshots``, one row per customer × cutoff), so nothing
from the label window leaks into training.

Time-based evaluation, as a deployment would see it:

* ``train`` snapshots (cutoffs = as-of − k × horizon, k ≥ 2): fit; 20 % of the customers are
  held out to choose between the candidate models and to set the decision threshold (max F1);
* ``test`` snapshot (cutoff = as-of − horizon, labels fully observed by the as-of date):
  every candidate, refitted on the whole train snapshot, is scored here — this is the
  backtest reported in Dagster;
* ``score`` snapshot (cutoff = as-of): the chosen recipe refitted on train + test (the most
  recent labels) scores every current buyer.

Candidates: HistGradientBoostingClassifier, LogisticRegression on robust-scaled log
features, and a recency-only logistic baseline — the model must earn its keep against
"the longer since the last order, the likelier they are gone". Reported: ROC AUC, PR AUC,
precision / recall / F1 at the threshold, Brier score, calibration curve, permutation
importance. Per customer: probability, risk band and the top drivers (the features whose
value, replaced by a typical customer's, lowers the predicted risk the most).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from orchestration.ml.features import CHURN_FEATURES, build_feature_pipeline

log = logging.getLogger(__name__)

BASELINE = "recency_baseline"
CANDIDATES: tuple[str, ...] = ("hist_gradient_boosting", "logistic_regression")
RISK_BANDS: tuple[str, str, str] = ("low", "medium", "high")


@dataclass(frozen=True)
class ChurnConfig:
    """Model choices; defaults bound training at 10⁶ customers to a few minutes on 2 cores (benchmarks/models.py)."""

    features: tuple[str, ...] = CHURN_FEATURES
    label_column: str = "is_churned"
    #: share of the train snapshot held out for model choice and threshold
    validation_share: float = 0.2
    #: rows of a snapshot used for fitting (uniform sample above this)
    max_train_rows: int = 400_000
    #: probability cut points of the risk bands (Klaviyo-style thirds by default)
    band_edges: tuple[float, float] = (0.33, 0.66)
    permutation_rows: int = 5_000
    permutation_repeats: int = 3
    #: features tried as per-customer drivers (the most important ones), and how many are reported
    driver_candidates: int = 8
    top_drivers: int = 3
    #: a driver must raise the probability by at least this much to be named
    min_driver_effect: float = 0.01
    random_state: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.band_edges
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(f"band_edges must satisfy 0 < low < high < 1, got {self.band_edges}")


def candidate_pipelines(features: Sequence[str], random_state: int = 0) -> dict[str, Pipeline]:
    """The two models and the baseline, each with its own feature pipeline."""
    hgb = build_feature_pipeline(features, scale=False)
    hgb.steps.append(
        (
            "model",
            HistGradientBoostingClassifier(
                max_iter=300,
                learning_rate=0.08,
                max_leaf_nodes=31,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=20,
                random_state=random_state,
            ),
        )
    )
    lr = build_feature_pipeline(features, scale=True)
    lr.steps.append(("model", LogisticRegression(C=1.0, max_iter=2000)))
    base = build_feature_pipeline(("recency_days",), scale=True)
    base.steps.append(("model", LogisticRegression(max_iter=1000)))
    return {"hist_gradient_boosting": hgb, "logistic_regression": lr, BASELINE: base}


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises F1 (on held-out data)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.nanargmax(f1[:-1])) if len(thresholds) else 0
    return float(thresholds[best]) if len(thresholds) else 0.5


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking, classification-at-threshold and probability-quality metrics of one model."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    top = p >= np.quantile(p, 0.9)
    base_rate = float(y.mean())
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "threshold": float(threshold),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "base_rate": base_rate,
        "mean_probability": float(p.mean()),
        "lift_top_decile": float(y[top].mean() / base_rate) if base_rate > 0 else float("nan"),
        "rows": float(len(y)),
    }


def auc_difference_ci(
    y: np.ndarray, p_model: np.ndarray, p_base: np.ndarray, rounds: int = 200, max_rows: int = 50_000, seed: int = 0
) -> tuple[float, float]:
    """95 % paired-bootstrap interval of ROC AUC(model) − ROC AUC(baseline).

    "Beats the baseline clearly" then means the whole interval is above zero, not just the
    point estimate. Resamples customers (rows) with replacement, both models on the same
    resample; at most ``max_rows`` rows are used to bound the cost.
    """
    rng = np.random.default_rng(seed)
    y, p_model, p_base = (np.asarray(a) for a in (y, p_model, p_base))
    if len(y) > max_rows:
        keep = rng.choice(len(y), max_rows, replace=False)
        y, p_model, p_base = y[keep], p_model[keep], p_base[keep]
    diffs = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        diffs.append(roc_auc_score(y[idx], p_model[idx]) - roc_auc_score(y[idx], p_base[idx]))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Observed churn rate against mean predicted probability in equal-count bins."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)), labels=False)
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), customers=("y", "size"))
    return out.reset_index(drop=True)


def roc_points(y: np.ndarray, p: np.ndarray, max_points: int = 200) -> pd.DataFrame:
    """A thinned ROC curve (for plots)."""
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def risk_band(p: np.ndarray, edges: tuple[float, float]) -> np.ndarray:
    """low / medium / high by probability cut points."""
    idx = np.searchsorted(np.asarray(edges), np.asarray(p, dtype=float), side="right")
    return np.asarray(RISK_BANDS, dtype=object)[idx]


@dataclass
class ChurnModel:
    """The deployed recipe: fitted pipeline, threshold, bands and driver references.

    Pickled whole; ``score`` is the only thing the scoring asset calls.
    """

    name: str
    pipeline: Pipeline
    features: tuple[str, ...]
    threshold: float
    band_edges: tuple[float, float]
    #: features tried as drivers, most important first
    driver_features: tuple[str, ...]
    #: a typical customer's value of each driver feature (training median)
    reference_values: dict[str, float] = field(default_factory=dict)
    top_drivers: int = 3
    min_driver_effect: float = 0.01
    horizon_days: int | None = None
    #: free-form facts about the training run (cutoffs, version), kept with the model
    info: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame[list(self.features)])[:, 1]

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """churn_probability, is_predicted_churner, risk_band, driver_1..n and top_drivers per row.

        A driver is a feature whose value, replaced by the typical customer's, lowers this
        customer's predicted probability the most ("what makes *this* customer risky"). It
        is model-agnostic (works for trees and the linear model alike) and costs one extra
        prediction per candidate feature.
        """
        x = frame[list(self.features)].reset_index(drop=True)
        p = self.predict_proba(x)
        effects = np.zeros((len(x), len(self.driver_features)))
        for j, col in enumerate(self.driver_features):
            swapped = x.copy()
            swapped[col] = self.reference_values.get(col, np.nan)
            effects[:, j] = p - self.predict_proba(swapped)
        out = pd.DataFrame(
            {
                "churn_probability": p,
                "is_predicted_churner": p >= self.threshold,
                "risk_band": risk_band(p, self.band_edges),
            }
        )
        names = np.asarray(self.driver_features, dtype=object)
        order = np.argsort(-effects, axis=1)[:, : self.top_drivers] if len(names) else np.empty((len(x), 0), int)
        texts = pd.Series([""] * len(x), dtype=object)
        for rank in range(self.top_drivers):
            col = pd.Series([None] * len(x), dtype=object)
            if rank < order.shape[1]:
                idx = order[:, rank]
                eff = effects[np.arange(len(x)), idx]
                ok = eff >= self.min_driver_effect
                col[ok] = names[idx[ok]]
                # drivers are ranked, so a named driver always follows the named ones before it
                label = pd.Series(names[idx], dtype=object) + " (+" + pd.Series(np.round(eff, 2)).map("{:.2f}".format)
                texts = texts.where(~ok, texts + ("; " if rank else "") + label + ")")
            out[f"driver_{rank + 1}"] = col.to_numpy()
        out["top_drivers"] = texts.where(texts != "", None).to_numpy()
        return out


@dataclass
class ChurnResult:
    model: ChurnModel
    #: candidate → backtest metrics on the later (test) cutoff
    test_metrics: pd.DataFrame
    #: candidate → metrics on the held-out part of the train cutoff (model choice, threshold)
    validation_metrics: pd.DataFrame
    calibration: dict[str, pd.DataFrame]
    roc: dict[str, pd.DataFrame]
    importance: pd.DataFrame
    #: test-cutoff predictions of every candidate (customer order of the test frame)
    test_predictions: pd.DataFrame
    #: 95 % bootstrap interval of the chosen model's ROC AUC minus the baseline's
    lift_ci: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def chosen(self) -> str:
        return self.model.name


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


def _holdout_mask(frame: pd.DataFrame, share: float, rng: np.random.Generator) -> np.ndarray:
    """Rows of a random ``share`` of customers (all their cutoffs), or of rows without ids."""
    if "customer_id" not in frame.columns:
        return rng.random(len(frame)) < share
    ids = frame["customer_id"].unique()
    held = set(ids[rng.random(len(ids)) < share])
    return frame["customer_id"].isin(held).to_numpy()


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    y = frame[column]
    if y.isna().any():
        raise ValueError(f"{int(y.isna().sum())} rows have no {column!r} label")
    return y.astype(bool).to_numpy().astype(int)


def _choose_on_validation(
    pipes: Mapping[str, Pipeline], train: pd.DataFrame, y: np.ndarray, hold: np.ndarray
) -> tuple[pd.DataFrame, dict[str, float], str]:
    """Fit every candidate on the kept customers; on the held-out ones set its threshold (max F1),
    measure it, and pick the candidate with the best ROC AUC (the baseline is never picked)."""
    rows, thresholds = [], {}
    for name, pipe in pipes.items():
        p = clone(pipe).fit(train.loc[~hold], y[~hold]).predict_proba(train.loc[hold])[:, 1]
        thresholds[name] = choose_threshold(y[hold], p)
        rows.append({"model": name, **evaluate(y[hold], p, thresholds[name])})
    validation = pd.DataFrame(rows).set_index("model")
    chosen = str(validation.loc[list(CANDIDATES), "roc_auc"].idxmax())
    log.info("churn: chose %s (validation ROC AUC %.3f)", chosen, validation.loc[chosen, "roc_auc"])
    return validation, thresholds, chosen


@dataclass
class _Backtest:
    metrics: pd.DataFrame
    calibration: dict[str, pd.DataFrame]
    roc: dict[str, pd.DataFrame]
    predictions: pd.DataFrame
    fitted: dict[str, Pipeline]


def _backtest(
    pipes: Mapping[str, Pipeline],
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    y_test: np.ndarray,
    thresholds: Mapping[str, float],
) -> _Backtest:
    """Every candidate refitted on the whole earlier cutoff and judged at the later one."""
    rows, calibration, roc, preds, fitted = [], {}, {}, {}, {}
    for name, pipe in pipes.items():
        fitted[name] = clone(pipe).fit(train, y_train)
        p = fitted[name].predict_proba(test)[:, 1]
        preds[name] = p
        rows.append({"model": name, **evaluate(y_test, p, thresholds[name])})
        calibration[name] = calibration_table(y_test, p)
        roc[name] = roc_points(y_test, p)
    return _Backtest(pd.DataFrame(rows).set_index("model"), calibration, roc, pd.DataFrame(preds), fitted)


def _importance(model: Pipeline, test: pd.DataFrame, config: ChurnConfig) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) on a sample of the later cutoff, most important first."""
    frame = _sample(test.reset_index(drop=True), config.permutation_rows, config.random_state)
    perm = permutation_importance(
        model,
        frame[list(config.features)],
        _labels(frame, config.label_column),
        scoring="roc_auc",
        n_repeats=config.permutation_repeats,
        random_state=config.random_state,
        n_jobs=1,
    )
    table = pd.DataFrame(
        {"feature": list(config.features), "importance": perm.importances_mean, "std": perm.importances_std}
    )
    return table.sort_values("importance", ascending=False).reset_index(drop=True)


def train_churn(
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: ChurnConfig | None = None,
    horizon_days: int | None = None,
) -> ChurnResult:
    """Fit on the earlier cutoff, evaluate on the later, and refit the winner on both.

    ``train`` / ``test``: customer rows at the earlier cutoff(s) / the later cutoff, with the
    feature columns and the boolean label (and ``customer_id``, used to hold out whole
    customers). Both must contain churners and non-churners.
    """
    config = config or ChurnConfig()
    rng = np.random.default_rng(config.random_state)
    train = _sample(train, config.max_train_rows, config.random_state).reset_index(drop=True)
    y_train = _labels(train, config.label_column)
    y_test = _labels(test, config.label_column)
    for name, y in (("train", y_train), ("test", y_test)):
        if y.min() == y.max():
            raise ValueError(f"the {name} snapshot has only one class; cannot train or evaluate churn")

    pipes = candidate_pipelines(config.features, config.random_state)
    # 1. model choice and thresholds on held-out customers of the train cutoff(s); split by
    #    customer so that one person's rows at several cutoffs never sit on both sides
    hold = _holdout_mask(train, config.validation_share, rng)
    validation, thresholds, chosen = _choose_on_validation(pipes, train, y_train, hold)
    # 2. backtest: refit on the whole train cutoff, evaluate at the later cutoff
    backtest = _backtest(pipes, train, y_train, test, y_test, thresholds)
    importance = _importance(backtest.fitted[chosen], test, config)

    # 3. the deployed model: same recipe, refitted on every labelled snapshot
    both = _sample(pd.concat([train, test], ignore_index=True), config.max_train_rows, config.random_state)
    final = clone(pipes[chosen]).fit(both, _labels(both, config.label_column))
    drivers = tuple(importance.loc[importance["importance"] > 0, "feature"].head(config.driver_candidates))
    reference = {c: float(pd.to_numeric(both[c].astype("float64"), errors="coerce").median()) for c in drivers}
    model = ChurnModel(
        name=chosen,
        pipeline=final,
        features=tuple(config.features),
        threshold=thresholds[chosen],
        band_edges=config.band_edges,
        driver_features=drivers,
        reference_values=reference,
        top_drivers=config.top_drivers,
        min_driver_effect=config.min_driver_effect,
        horizon_days=horizon_days,
    )
    preds = backtest.predictions
    return ChurnResult(
        model=model,
        test_metrics=backtest.metrics,
        validation_metrics=validation,
        calibration=backtest.calibration,
        roc=backtest.roc,
        importance=importance,
        test_predictions=preds,
        lift_ci=auc_difference_ci(y_test, preds[chosen], preds[BASELINE], seed=config.random_state),
    )


def summary_metrics(result: ChurnResult) -> dict[str, float]:
    """Flat numeric metrics for Dagster (plotted across runs): chosen model vs baseline."""
    m = result.test_metrics
    out: dict[str, float] = {}
    for name in m.index:
        for col in ("roc_auc", "pr_auc", "brier", "f1", "precision", "recall"):
            out[f"{name}_{col}"] = float(m.at[name, col])
    chosen = result.chosen
    # the deployed model's figures under fixed names, so the UI's plots follow it across runs
    for col in ("roc_auc", "pr_auc", "brier", "precision", "recall", "f1"):
        out[col] = float(m.at[chosen, col])
    out["threshold"] = float(result.model.threshold)
    out["roc_auc_lift_over_baseline"] = float(m.at[chosen, "roc_auc"] - m.at[BASELINE, "roc_auc"])
    out["roc_auc_lift_ci_low"], out["roc_auc_lift_ci_high"] = result.lift_ci
    out["brier_skill_vs_baseline"] = float(1.0 - m.at[chosen, "brier"] / m.at[BASELINE, "brier"])
    out["base_rate"] = float(m.at[chosen, "base_rate"])
    return out


def band_counts(scores: pd.DataFrame) -> Mapping[str, int]:
    counts = scores["risk_band"].value_counts()
    return {band: int(counts.get(band, 0)) for band in RISK_BANDS}
