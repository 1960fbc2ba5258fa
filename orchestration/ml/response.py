"""Response propensity per channel: who answers an e-mail, an SMS, a push or a social post.

Trained on past campaign touches (``intermediate.int_response_points_featurised``, point
type ``touch``): a treated touch is a positive when the customer clicked the campaign or
ordered within its response window.

One model pooled over the four channels, with the channel as a feature (one-hot, plus
"own channel" history: the response and open rate on the channel being scored). Why
pooled: what makes someone answer is mostly channel-agnostic (how recently and how often
they buy), and SMS and social have a few hundred touches each, too few to learn recency
effects alone; pooling lets them borrow that from e-mail while the channel features
keep their own base rates and histories apart.

Evaluation is time-based, as the model will be used: touches after a cutoff (the last
``test_fraction`` of all touches in time) are the test set, and training uses only
touches whose response window closed before the cutoff (no label from the test period
leaks into training). The model family (logistic regression or gradient boosting) is
chosen on a validation slice at the end of the training period, never on the test set.
Every channel is scored on its test touches against two baselines: the base rate (a
constant score: AUC 0.5, and the Brier / log-loss reference) and the "contact recent
buyers" rule (score = -days since last order). The chosen family is then refitted on
every closed touch and scores every customer x channel at the as-of date.

Pure pandas / numpy / scikit-learn: no Dagster, no DuckDB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("email", "sms", "push", "social")

#: Activity in the last 90 / 365 days before the point (int_response_points_featurised).
WINDOWED_MEASURES: tuple[str, ...] = (
    "orders", "revenue", "responses", "web_sessions", "app_sessions", "email_opens", "push_opens"
)
LOOKBACKS: tuple[int, ...] = (90, 365)
#: A missing "days since" (never ordered, never responded) becomes this many days, with a flag.
DAYS_CAP = 1_000
LABEL = "is_responded"


def feature_frame(points: pd.DataFrame) -> pd.DataFrame:
    """Model features of points (touch or score rows), derived identically for both.

    Only features whose scale does not drift with calendar time: the model is trained on
    early touches and scores today, and lifetime totals (touches received, sessions ever)
    only grow. So: activity in the last 90 / 365 days (log1p, heavy tails), recency as
    capped days plus their log (response decays roughly exponentially with recency) and a
    missing flag, lifetime *rates* (orders per year of tenure, responses per touch per
    channel, smoothed with one pseudo-touch so a single lucky click is not a 100 %
    responder), and membership / follower flags.
    """
    out = pd.DataFrame(index=points.index)
    for days in LOOKBACKS:
        for measure in WINDOWED_MEASURES:
            col = f"{measure}_last_{days}_days"
            out[f"log_{col}"] = np.log1p(points[col].astype(float).clip(lower=0))
    for col in ("days_since_last_order", "days_since_first_order", "days_since_last_response"):
        days_since = points[col].astype(float)
        out[f"has_{col}"] = days_since.notna().astype(float)
        capped = days_since.fillna(DAYS_CAP).clip(0, DAYS_CAP)
        out[col] = capped
        out[f"log_{col}"] = np.log1p(capped)
    tenure = points["tenure_days"].astype(float).fillna(0).clip(lower=0)
    out["log_tenure_days"] = np.log1p(tenure)
    years = np.maximum(tenure, 30.0) / 365.25
    out["log_orders_per_year"] = np.log1p(points["orders_before"].astype(float).clip(lower=0) / years)
    for c in CHANNELS:
        touches = points[f"{c}_touches_before"].astype(float)
        out[f"{c}_response_rate"] = points[f"{c}_responses_before"].astype(float) / (touches + 1.0)
    out["email_open_rate"] = points["email_opens_before"].astype(float) / (points["email_touches_before"] + 1.0)
    out["push_open_rate"] = points["push_opens_before"].astype(float) / (points["push_touches_before"] + 1.0)
    orders = points["orders_before"].astype(float)
    out["discount_share"] = points["discounted_orders_before"].astype(float) / (orders + 1.0)
    out["is_member"] = points["is_member"].fillna(False).astype(float)
    out["is_social_follower"] = points["is_social_follower"].fillna(False).astype(float)
    channel = points["channel"].astype(str)
    own_rate = np.zeros(len(points))
    for c in CHANNELS:
        is_c = (channel == c).to_numpy()
        out[f"is_{c}"] = is_c.astype(float)
        own_rate = np.where(is_c, out[f"{c}_response_rate"].to_numpy(), own_rate)
    # the history on the channel being scored, so one pooled model can tell channels apart per person
    out["own_channel_response_rate"] = own_rate
    out["own_channel_open_rate"] = np.select(
        [(channel == "email").to_numpy(), (channel == "push").to_numpy()],
        [out["email_open_rate"].to_numpy(), out["push_open_rate"].to_numpy()],
        0.0,
    )
    return out


def _candidates(random_state: int) -> dict[str, Any]:
    """The two families compared per channel; both small and regularised (channels have few positives)."""
    return {
        "logistic_regression": Pipeline(
            [("scale", StandardScaler()), ("model", LogisticRegression(C=0.5, max_iter=2_000))]
        ),
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            max_depth=3,
            learning_rate=0.05,
            max_iter=200,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=random_state,
        ),
    }


@dataclass(frozen=True)
class ResponseConfig:
    """How the per-channel models are evaluated and trained."""

    #: last share of each channel's touch period held out as the test set
    test_fraction: float = 0.3
    #: last share of the training period used to choose the model family
    validation_fraction: float = 0.25
    #: fewer positives (or negatives) than this in a channel's training data: base rate only
    min_class_count: int = 20
    bootstrap_rounds: int = 200
    random_state: int = 0

    def __post_init__(self) -> None:
        if not (0.05 <= self.test_fraction <= 0.5 and 0.05 <= self.validation_fraction <= 0.5):
            raise ValueError("test_fraction and validation_fraction must lie in [0.05, 0.5]")


@dataclass
class ResponseModel:
    """The pooled response model; ``score`` turns score points into propensities per channel.

    ``estimator`` is None when there were too few touches to fit anything: every channel
    then scores its base rate. A channel with no touches at all has no base rate and
    scores null (nothing is known about it).
    """

    name: str
    estimator: Any | None
    features: list[str]
    base_rates: dict[str, float]
    trained_on: int
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, points: pd.DataFrame) -> np.ndarray:
        """Probability to respond for each point (its customer, contacted on its channel)."""
        base = points["channel"].map(self.base_rates).astype(float).to_numpy()
        if self.estimator is None or points.empty:
            return base
        with threadpool_limits(limits=1):
            proba = self.estimator.predict_proba(feature_frame(points)[self.features].to_numpy())[:, 1]
        return np.where(np.isnan(base), np.nan, proba)

    def score(self, points: pd.DataFrame) -> pd.DataFrame:
        """customer_id, channel, response_propensity, lift over the channel base rate and the channel rank."""
        scored = pd.DataFrame(
            {
                "customer_id": points["customer_id"].to_numpy(),
                "channel": points["channel"].to_numpy(),
                "response_propensity": self.predict(points),
            }
        )
        scored["channel_base_rate"] = scored["channel"].map(self.base_rates).astype(float)
        scored["propensity_lift"] = scored["response_propensity"] / scored["channel_base_rate"].where(
            scored["channel_base_rate"] > 0
        )
        scored["model_name"] = self.name
        return rank_channels(scored)


def rank_channels(scored: pd.DataFrame) -> pd.DataFrame:
    """channel_rank per customer: 1 = the channel they are most likely to answer (ties: channel name).

    Consent is not applied here (customer_next_best_action does it). Call it on the whole
    table when scores were computed in chunks that may split a customer's channels.
    """
    order = scored.sort_values(
        ["customer_id", "response_propensity", "channel"], ascending=[True, False, True], na_position="last"
    )
    ranked = scored.assign(channel_rank=order.groupby("customer_id").cumcount().add(1).reindex(scored.index))
    return ranked.sort_values(["customer_id", "channel_rank"]).reset_index(drop=True)


@dataclass
class ResponseTrainingResult:
    model: ResponseModel
    #: one row per channel (and one for all channels): counts, the AUCs against the baselines
    metrics: pd.DataFrame
    #: channel → ROC points of the model on the channel's test touches
    roc: dict[str, pd.DataFrame]
    #: validation AUC of each candidate family (how the family was chosen)
    validation: dict[str, float]
    test_cutoff: pd.Timestamp | None


def _split_time(touches: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Train = response windows closed before the cutoff; test = touched at or after it."""
    at = pd.to_datetime(touches["point_at"])
    cutoff = at.quantile(1.0 - test_fraction)
    train = touches[pd.to_datetime(touches["window_ends_at"]) < cutoff]
    test = touches[at >= cutoff]
    return train, test, cutoff


def _enough(y: np.ndarray, minimum: int) -> bool:
    positives = int(y.sum())
    return positives >= minimum and len(y) - positives >= minimum


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def _bootstrap_auc_low(y: np.ndarray, score: np.ndarray, rounds: int, rng: np.random.Generator) -> float:
    """2.5th percentile of the test AUC over bootstrap resamples of the test touches."""
    values = []
    n = len(y)
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        if 0 < y[idx].sum() < n:
            values.append(roc_auc_score(y[idx], score[idx]))
    return float(np.percentile(values, 2.5)) if values else float("nan")


def _top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Response rate among the top 10 % scores over the overall rate (1 = no better than random)."""
    if y.mean() == 0:
        return float("nan")
    k = max(1, len(y) // 10)
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def _choose_family(train: pd.DataFrame, features: list[str], config: ResponseConfig) -> tuple[str, dict[str, float]]:
    """Pick the family by AUC on the last slice of the training period (logistic on ties or too little data)."""
    inner, valid, _ = _split_time(train, config.validation_fraction)
    y_inner, y_valid = inner[LABEL].to_numpy(bool), valid[LABEL].to_numpy(bool)
    scores: dict[str, float] = {}
    if not (_enough(y_inner, config.min_class_count) and 0 < y_valid.sum() < len(y_valid)):
        return "logistic_regression", scores
    x_inner, x_valid = feature_frame(inner)[features].to_numpy(), feature_frame(valid)[features].to_numpy()
    for name, estimator in _candidates(config.random_state).items():
        fitted = clone(estimator).fit(x_inner, y_inner)
        scores[name] = _auc(y_valid, fitted.predict_proba(x_valid)[:, 1])
    best = max(scores, key=lambda k: (scores[k], k == "logistic_regression"))
    return best, scores


def _fit(family: str, frame: pd.DataFrame, features: list[str], config: ResponseConfig) -> Any:
    estimator = clone(_candidates(config.random_state)[family])
    return estimator.fit(feature_frame(frame)[features].to_numpy(), frame[LABEL].to_numpy(bool))


def _evaluate(
    name: str, y: np.ndarray, score: np.ndarray, test: pd.DataFrame, train_rate: float,
    config: ResponseConfig, rng: np.random.Generator,
) -> dict[str, Any]:
    """Test metrics of the model's scores against the base-rate and recency baselines."""
    row: dict[str, Any] = {"channel": name, "test_touches": len(y), "test_responses": int(y.sum())}
    if not _enough(y, 1):
        return row | {"note": "no responses (or no non-responses) among the test touches"}
    constant = np.full(len(y), train_rate)
    recency = -test["days_since_last_order"].astype(float).fillna(DAYS_CAP).to_numpy()
    brier, brier_base = brier_score_loss(y, score), brier_score_loss(y, constant)
    return row | {
        "roc_auc": _auc(y, score),
        "roc_auc_ci_low": _bootstrap_auc_low(y, score, config.bootstrap_rounds, rng),
        "base_rate_roc_auc": 0.5,
        "recency_roc_auc": _auc(y, recency),
        "brier": brier,
        "base_rate_brier": brier_base,
        "brier_skill": 1.0 - brier / brier_base if brier_base > 0 else float("nan"),
        "log_loss": log_loss(y, np.clip(score, 1e-6, 1 - 1e-6), labels=[False, True]),
        "base_rate_log_loss": log_loss(y, constant, labels=[False, True]),
        "test_response_rate": float(y.mean()),
        "top_decile_lift": _top_decile_lift(y, score),
    }


def train_response_model(points: pd.DataFrame, config: ResponseConfig | None = None) -> ResponseTrainingResult:
    """Evaluate (time split) and train the pooled response model from labelled touch points.

    ``points`` are rows of int_response_points_featurised; only touch rows whose response
    window has closed are used (an open window's label is not final).

    Single-threaded on purpose: the data are small (tens of thousands of touches), and
    gradient boosting's OpenMP threads spin-waiting on a busy two-core machine made the
    fit 15x slower (31 s instead of 2 s) in our measurements.
    """
    with threadpool_limits(limits=1):
        return _train(points, config)


def _train(points: pd.DataFrame, config: ResponseConfig | None) -> ResponseTrainingResult:
    config = config or ResponseConfig()
    rng = np.random.default_rng(config.random_state)
    touches = points[(points["point_type"] == "touch") & points["is_window_closed"].fillna(False).astype(bool)]
    touches = touches.sort_values(["point_at", "point_id"]).reset_index(drop=True)
    y_all = touches[LABEL].to_numpy(bool)
    base_rates = {c: float(y_all[(touches["channel"] == c).to_numpy()].mean()) for c in CHANNELS
                  if (touches["channel"] == c).any()}
    features = list(feature_frame(touches.head(1)).columns) if len(touches) else []
    counts = [{"channel": c, "touches": int((touches["channel"] == c).sum()),
               "responses": int(y_all[(touches["channel"] == c).to_numpy()].sum()),
               "base_rate": base_rates.get(c, float("nan"))} for c in CHANNELS]
    if not _enough(y_all, config.min_class_count):
        log.warning("response model: %d touches, %d responses: base rates only", len(y_all), y_all.sum())
        model = ResponseModel("base_rate", None, features, base_rates, len(touches))
        return ResponseTrainingResult(model, pd.DataFrame(counts), {}, {}, None)

    train, test, cutoff = _split_time(touches, config.test_fraction)
    y_train = train[LABEL].to_numpy(bool)
    rows: list[dict[str, Any]] = []
    rocs: dict[str, pd.DataFrame] = {}
    family, validation = "logistic_regression", {}
    if _enough(y_train, config.min_class_count) and _enough(test[LABEL].to_numpy(bool), 1):
        family, validation = _choose_family(train, features, config)
        fitted = _fit(family, train, features, config)
        score_all = fitted.predict_proba(feature_frame(test)[features].to_numpy())[:, 1]
        for channel in (*CHANNELS, "all"):
            mask = np.ones(len(test), bool) if channel == "all" else (test["channel"] == channel).to_numpy()
            y_test = test[LABEL].to_numpy(bool)[mask]
            in_train = train if channel == "all" else train[train["channel"] == channel]
            train_rate = float(in_train[LABEL].mean()) if len(in_train) else float(y_train.mean())
            row = _evaluate(channel, y_test, score_all[mask], test[mask], train_rate, config, rng)
            rows.append(row | {"train_touches": len(in_train)})
            if _enough(y_test, 1):
                fpr, tpr, _ = roc_curve(y_test, score_all[mask])
                rocs[channel] = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    else:
        log.warning("response model: too few responses on one side of the time split: no evaluation")
    overall = {"channel": "all", "touches": len(touches), "responses": int(y_all.sum()),
               "base_rate": float(y_all.mean())}
    metrics = pd.DataFrame([*counts, overall])
    if rows:
        metrics = metrics.merge(pd.DataFrame(rows), on="channel", how="left")
    metrics["model"] = family
    # the family chosen on validation is refitted on every closed touch for scoring
    model = ResponseModel(family, _fit(family, touches, features, config), features, base_rates, len(touches))
    return ResponseTrainingResult(model, metrics, rocs, validation, cutoff)


def summary_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """Flat ``<channel>_<metric>`` numbers for Dagster metadata (plotted across runs)."""
    out: dict[str, float] = {}
    keep = ("touches", "responses", "base_rate", "train_touches", "test_touches", "test_responses", "roc_auc",
            "roc_auc_ci_low", "base_rate_roc_auc", "recency_roc_auc", "brier_skill", "log_loss",
            "base_rate_log_loss", "top_decile_lift")
    for row in metrics.to_dict("records"):
        for key in keep:
            value = row.get(key)
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                out[f"{row['channel']}_{key}"] = float(value)
    return out
