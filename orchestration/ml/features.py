"""Customer features → model matrix, as one scikit-learn Pipeline saved with every model.

The columns come from the dbt models ``marts.customer_features`` (as of the observation date)
and ``marts.customer_feature_snapshots`` (the same SQL at earlier cutoffs, for churn training).
Everything that turns those columns into numbers a model sees — missing-value rules, the
log transform of skewed counts and amounts, scaling — lives in :class:`FeaturePreparer` and a
``RobustScaler`` inside one ``Pipeline``. The pipeline is fitted with the model and pickled
with it (joblib), so training and scoring can never apply different transforms.

Why these transforms:

* Counts, amounts, durations are heavy-tailed (a few customers buy 100× the median);
  ``log1p`` makes distances and linear effects reflect ratios, not absolute gaps, which is
  what k-means and logistic regression need (field notes: "log-transform skewed frequency
  and monetary values, then standardise").
* ``RobustScaler`` (median / IQR) rather than ``StandardScaler`` because the outliers that
  remain after the log would otherwise set the scale for everyone.
* "Days since X" is missing when X never happened; that is the extreme of "long ago", so it
  is filled with a cap (10 years) rather than a median that would make "never" look typical.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

log = logging.getLogger(__name__)

Kind = Literal["log", "rate", "linear"]
Fill = Literal["zero", "median", "cap"]

#: "never happened" for day-count features: ten years
DAYS_CAP = 3650.0


@dataclass(frozen=True)
class FeatureSpec:
    """How one column of ``marts.customer_features`` becomes a model input.

    ``kind``: ``log`` → clip at 0 then ``log1p`` (skewed counts / amounts / durations);
    ``rate`` → clip to [0, 1] (shares and rates); ``linear`` → used as is.
    ``fill``: value for missing entries — ``zero`` (absence means none), ``median`` (of the
    training data, stored in the fitted pipeline) or ``cap`` (``DAYS_CAP``: never happened).
    """

    name: str
    kind: Kind
    fill: Fill
    description: str


FEATURES: dict[str, FeatureSpec] = {
    s.name: s
    for s in [
        FeatureSpec("recency_days", "log", "cap", "days since the last completed order"),
        FeatureSpec("order_count", "log", "zero", "completed orders"),
        FeatureSpec("monetary_total", "log", "zero", "net revenue over the history"),
        FeatureSpec("average_order_value", "log", "zero", "mean net amount of completed orders"),
        FeatureSpec("tenure_days", "log", "zero", "days since the first completed order"),
        FeatureSpec("mean_interpurchase_days", "log", "median", "mean days between orders (2+ orders)"),
        FeatureSpec("interpurchase_cv", "linear", "zero", "coefficient of variation of the gaps"),
        FeatureSpec("recency_to_interpurchase_ratio", "log", "median", "recency over the usual gap (> 1: overdue)"),
        FeatureSpec("orders_per_year", "log", "zero", "orders per year since the first order (BG/NBD rate)"),
        FeatureSpec("orders_last_90_days", "log", "zero", "completed orders in the last 90 days"),
        FeatureSpec("orders_last_365_days", "log", "zero", "completed orders in the last 365 days"),
        FeatureSpec("revenue_last_365_days", "log", "zero", "net revenue in the last 365 days"),
        FeatureSpec("web_order_share", "rate", "zero", "share of orders on the web shop"),
        FeatureSpec("app_order_share", "rate", "zero", "share of orders in the app"),
        FeatureSpec("marketplace_order_share", "rate", "zero", "share of orders on marketplaces"),
        FeatureSpec("store_order_share", "rate", "zero", "share of orders in stores"),
        FeatureSpec("discount_share", "rate", "zero", "discount over gross amount"),
        FeatureSpec("coupon_order_share", "rate", "zero", "share of orders with a coupon"),
        FeatureSpec("return_rate", "rate", "zero", "returned over placed orders"),
        FeatureSpec("email_open_rate", "rate", "zero", "opened over delivered e-mails (365 days)"),
        FeatureSpec("email_click_rate", "rate", "zero", "clicked over delivered e-mails (365 days)"),
        FeatureSpec("push_open_rate", "rate", "zero", "opened over delivered pushes (365 days)"),
        FeatureSpec("sms_click_rate", "rate", "zero", "clicked over delivered SMS (365 days)"),
        FeatureSpec("web_sessions_last_90_days", "log", "zero", "web sessions in the last 90 days"),
        FeatureSpec("app_sessions_last_90_days", "log", "zero", "app sessions in the last 90 days"),
        FeatureSpec("product_views_last_30_days", "log", "zero", "product views in the last 30 days"),
        FeatureSpec("cart_abandonment_rate", "rate", "zero", "cart sessions without checkout"),
        FeatureSpec("days_since_last_engagement", "log", "cap", "days since any active engagement"),
        FeatureSpec("days_since_last_web_session", "log", "cap", "days since the last web session"),
        FeatureSpec("days_since_last_app_session", "log", "cap", "days since the last app session"),
        FeatureSpec("days_since_last_email_open", "log", "cap", "days since the last e-mail open / click"),
        FeatureSpec("days_since_last_sms_click", "log", "cap", "days since the last SMS click"),
        FeatureSpec("days_since_last_push_open", "log", "cap", "days since the last push open"),
        FeatureSpec("days_since_last_social_interaction", "log", "cap", "days since the last social interaction"),
        FeatureSpec("social_interactions_last_365_days", "log", "zero", "social interactions (365 days)"),
        FeatureSpec("ticket_count", "log", "zero", "service tickets"),
        FeatureSpec("mean_csat_score", "linear", "median", "mean satisfaction 1-5"),
        FeatureSpec("is_member", "linear", "zero", "loyalty member (0/1)"),
        FeatureSpec("favourite_category_share", "rate", "zero", "share of items in the top category"),
        FeatureSpec("distinct_category_count", "log", "zero", "distinct product categories bought"),
    ]
}

#: Behaviour that describes *who* a buyer is, one reliable measure per trait: value (order
#: value), rhythm (orders, tenure, gaps, recency — so lapsed buyers form their own group, as in
#: RFM), channel mix, price sensitivity (discount share), engagement (web / app sessions, e-mail
#: recency) and membership. Chosen on simulated data against the personas the simulator drew
#: (adjusted Rand index, six simulations of 4,000 and 20,000 persons; see
#: tests/integration/test_models.py), by leaving out measures that are noise at customer level
#: rather than traits:
#:
#: * ``return_rate``: returned / placed orders of a buyer with two or three orders is 0, 1/3 or
#:   1/2 by chance (between-persona share of its variance 0.4 %); k-means spent a whole segment
#:   on it ("high returns") and silhouette then preferred k = 6.
#: * ``email_open_rate`` / ``email_click_rate``: ratios over the handful of e-mails a buyer gets
#:   in a year (none for about half of them, who never consented): clumps at 0, 1/2 and 1 that
#:   silhouette rewards — one simulation chose k = 2, splitting off "opened every e-mail"
#:   (ARI 0.02). ``days_since_last_email_open`` keeps e-mail engagement in a smooth form.
#: * ``coupon_order_share``: the same trait as ``discount_share`` (coupons are one way to a
#:   discount), which would count price sensitivity twice.
#:
#: With this set silhouette and the elbow both choose k = 5 — the number of buying personas —
#: in all six simulations, and ARI vs personas is 0.21-0.27 (0.02-0.25 before). The left-out
#: columns stay in ``marts.customer_features`` and in the segment profiles.
SEGMENTATION_FEATURES: tuple[str, ...] = (
    "recency_days",
    "order_count",
    "average_order_value",
    "tenure_days",
    "mean_interpurchase_days",
    "web_order_share",
    "app_order_share",
    "marketplace_order_share",
    "store_order_share",
    "discount_share",
    "web_sessions_last_90_days",
    "app_sessions_last_90_days",
    "days_since_last_email_open",
    "is_member",
)

#: Columns described in every segment profile besides the model features (natural units only).
PROFILE_EXTRA_FEATURES: tuple[str, ...] = (
    "monetary_total",
    "revenue_last_365_days",
    "orders_per_year",
    "coupon_order_share",
    "return_rate",
    "email_open_rate",
    "email_click_rate",
    "push_open_rate",
    "product_views_last_30_days",
    "ticket_count",
    "mean_csat_score",
    "distinct_category_count",
)

#: Point-in-time behaviour up to a cutoff (``marts.customer_feature_snapshots``).
CHURN_FEATURES: tuple[str, ...] = (
    "recency_days",
    "order_count",
    "monetary_total",
    "average_order_value",
    "tenure_days",
    "mean_interpurchase_days",
    "interpurchase_cv",
    "recency_to_interpurchase_ratio",
    "orders_per_year",
    "orders_last_90_days",
    "orders_last_365_days",
    "revenue_last_365_days",
    "web_order_share",
    "app_order_share",
    "marketplace_order_share",
    "store_order_share",
    "discount_share",
    "coupon_order_share",
    "return_rate",
    "email_open_rate",
    "email_click_rate",
    "push_open_rate",
    "web_sessions_last_90_days",
    "app_sessions_last_90_days",
    "product_views_last_30_days",
    "days_since_last_engagement",
    "days_since_last_web_session",
    "days_since_last_app_session",
    "days_since_last_email_open",
    "ticket_count",
    "mean_csat_score",
    "is_member",
)


def specs_for(columns: Iterable[str]) -> tuple[FeatureSpec, ...]:
    """The specs of ``columns`` in order; unknown names are an error, not a silent default."""
    unknown = [c for c in columns if c not in FEATURES]
    if unknown:
        raise KeyError(f"no FeatureSpec for {unknown}; add them to orchestration.ml.features.FEATURES")
    return tuple(FEATURES[c] for c in columns)


class FeaturePreparer(TransformerMixin, BaseEstimator):
    """Select, fill, clip and log-transform the feature columns of a customer frame.

    A scikit-learn transformer so that it is fitted (training medians) and pickled inside the
    model's Pipeline. Input: a DataFrame with at least the configured columns (extra columns
    are ignored, so the full ``customer_features`` table can be passed). Output: float64 array.
    """

    def __init__(self, columns: Sequence[str] = SEGMENTATION_FEATURES) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeaturePreparer:
        specs = specs_for(self.columns)
        raw = pd.DataFrame(self._raw(X, specs)).replace([np.inf, -np.inf], np.nan)
        # pandas' median skips NaN and gives NaN for an all-missing column (then 0) without warnings
        self.specs_ = specs
        self.medians_ = raw.median().fillna(0.0).to_numpy(dtype="float64")
        self.n_features_in_ = len(specs)
        self.feature_names_in_ = np.asarray(list(self.columns), dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        raw = self._raw(X, self.specs_)
        out = np.empty_like(raw)
        for j, spec in enumerate(self.specs_):
            col = raw[:, j]
            fill = {"zero": 0.0, "median": self.medians_[j], "cap": DAYS_CAP}[spec.fill]
            col = np.where(np.isfinite(col), col, fill)
            if spec.kind == "log":
                col = np.log1p(np.clip(col, 0.0, None))
            elif spec.kind == "rate":
                col = np.clip(col, 0.0, 1.0)
            out[:, j] = col
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(list(self.columns), dtype=object)

    @staticmethod
    def _raw(X: pd.DataFrame, specs: Sequence[FeatureSpec]) -> np.ndarray:
        names = [s.name for s in specs]
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise KeyError(f"feature frame lacks columns {missing}")
        # nullable / decimal / boolean columns → float64 with NaN for missing
        return (
            np.column_stack(
                [
                    pd.to_numeric(X[c].astype("float64"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                    for c in names
                ]
            )
            if len(names)
            else np.empty((len(X), 0))
        )


def build_feature_pipeline(columns: Sequence[str], scale: bool = True) -> Pipeline:
    """Preparer (+ RobustScaler): the first steps of every model pipeline.

    ``scale=False`` for tree models, which are invariant to monotone transforms; keeping the
    preparer still fixes the column order and missing-value rules between fit and score.
    """
    steps: list[tuple[str, Any]] = [("prepare", FeaturePreparer(tuple(columns)))]
    if scale:
        steps.append(("scale", RobustScaler(quantile_range=(10.0, 90.0))))
    return Pipeline(steps)


def save_artifact(obj: Any, path: str | Path) -> Path:
    """Pickle a fitted model (with its feature pipeline) atomically: write, then rename.

    A crash mid-write leaves the previous model in place, so scoring assets never read a
    truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    joblib.dump(obj, tmp, compress=3)
    tmp.replace(path)
    log.info("saved %s (%d bytes)", path, path.stat().st_size)
    return path


def load_artifact(path: str | Path) -> Any:
    """Load a model saved by :func:`save_artifact` (only load files this project wrote)."""
    return joblib.load(Path(path))
