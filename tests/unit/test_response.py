"""Response propensity on synthetic touch histories with a known response mechanism.

The synthetic customers respond with a probability that falls with days since their last
order and rises with their own past click rate on the channel; e-mail answers more than
SMS. The model must rank test touches well above the base rate, respect the time split
(no training touch whose window ends after the cutoff), and score every channel.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from orchestration.ml import response


def synthetic_points(n_customers: int = 1_500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    recency = rng.exponential(120, n_customers)
    clickiness = rng.beta(2, 8, n_customers)
    for c in range(n_customers):
        for k in range(int(rng.integers(2, 9))):
            channel = str(rng.choice(response.CHANNELS, p=[0.5, 0.2, 0.2, 0.1]))
            days = float(recency[c] * rng.uniform(0.5, 1.5))
            touches = int(rng.integers(0, 10))
            clicks = int(rng.binomial(touches, clickiness[c]))
            logit = -1.0 - days / 90 + 6 * clickiness[c] + (0.5 if channel == "email" else 0.0)
            at = start + pd.Timedelta(days=int(rng.integers(0, 700)))
            row = {
                "point_id": f"t{c}-{k}", "point_type": "touch", "customer_id": f"c{c}", "channel": channel,
                "point_at": at, "window_ends_at": at + pd.Timedelta(days=14), "is_window_closed": True,
                "true_probability": 1 / (1 + np.exp(-logit)),
                "orders_before": 3, "revenue_before": 900.0, "discounted_orders_before": 1,
                "days_since_last_order": days, "days_since_first_order": days + 200,
                "days_since_last_response": np.nan if clicks == 0 else 30.0, "tenure_days": 400,
                "is_member": bool(c % 2), "is_social_follower": False,
                "email_opens_before": touches, "push_opens_before": 0,
                "web_sessions_before": 5, "app_sessions_before": 1,
            }  # fmt: skip
            for ch in response.CHANNELS:
                row[f"{ch}_touches_before"] = touches if ch == channel else 0
                row[f"{ch}_responses_before"] = clicks if ch == channel else 0
            for days_back in response.LOOKBACKS:
                for measure in response.WINDOWED_MEASURES:
                    row[f"{measure}_last_{days_back}_days"] = int(days < days_back) * (100.0 if measure == "revenue"
                                                                                       else 1)
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["is_responded"] = rng.random(len(frame)) < frame["true_probability"]
    return frame


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, response.ResponseTrainingResult]:
    points = synthetic_points()
    return points, response.train_response_model(points, response.ResponseConfig(bootstrap_rounds=50))


def test_the_model_ranks_test_touches_close_to_the_truth_and_far_above_the_base_rate(trained):
    """Against the AUC of the true response probability on the same test touches (the ceiling).

    The model sees a customer's clickiness only through 0-9 past touches, so it cannot reach
    the ceiling; measured: 0.742 against 0.782 (recency rule 0.717).
    """
    points, result = trained
    metrics = result.metrics.set_index("channel")
    test = points[pd.to_datetime(points["point_at"]) >= result.test_cutoff]
    ceiling = roc_auc_score(test["is_responded"], test["true_probability"])
    assert metrics.loc["all", "roc_auc"] > ceiling - 0.06, (metrics.loc["all", "roc_auc"], ceiling)
    assert metrics.loc["all", "roc_auc_ci_low"] > 0.65
    assert metrics.loc["all", "base_rate_roc_auc"] == 0.5
    assert metrics.loc["all", "roc_auc"] > metrics.loc["all", "recency_roc_auc"]
    assert metrics.loc["all", "brier_skill"] > 0.05
    assert (metrics.loc[list(response.CHANNELS), "roc_auc"] > 0.65).all()
    assert result.model.name in ("logistic_regression", "hist_gradient_boosting")
    assert set(result.validation) == {"logistic_regression", "hist_gradient_boosting"}


def test_training_never_sees_a_label_from_the_test_period(trained):
    points, result = trained
    cutoff = result.test_cutoff
    touches = points.sort_values(["point_at", "point_id"])
    train, test, split_cutoff = response._split_time(touches, response.ResponseConfig().test_fraction)
    assert split_cutoff == cutoff
    assert (train["window_ends_at"] < cutoff).all() and (test["point_at"] >= cutoff).all()
    assert len(set(train["point_id"]) & set(test["point_id"])) == 0
    metrics = result.metrics.set_index("channel")
    assert metrics.loc["all", "train_touches"] == len(train)


def test_features_do_not_grow_with_calendar_time():
    """Lifetime totals only grow; the features the model sees are windows, rates and recency."""
    points = synthetic_points(50)
    features = response.feature_frame(points)
    grows = {"log_orders_before", "log_email_touches_before", "log_web_sessions_before"}
    assert not grows & set(features.columns)
    assert features.notna().all().all()
    assert {"is_email", "own_channel_response_rate", "log_days_since_last_order"} <= set(features.columns)


def test_scores_rank_channels_per_customer(trained):
    points, result = trained
    score_points = points.drop_duplicates("customer_id").head(20)
    frames = []
    for ch in response.CHANNELS:
        frames.append(score_points.assign(channel=ch, point_type="score"))
    scored = result.model.score(pd.concat(frames, ignore_index=True))
    assert len(scored) == 80
    assert scored.groupby("customer_id")["channel_rank"].apply(sorted).map(list).eq([[1, 2, 3, 4]] * 20).all()
    best = scored[scored["channel_rank"] == 1].set_index("customer_id")["response_propensity"]
    assert (scored.groupby("customer_id")["response_propensity"].max() == best).all()
    assert scored["response_propensity"].between(0, 1).all()


def test_too_few_responses_fall_back_to_base_rates():
    points = synthetic_points(30).assign(is_responded=False)
    points.loc[points.index[:3], "is_responded"] = True
    result = response.train_response_model(points)
    assert result.model.name == "base_rate" and result.model.estimator is None
    scored = result.model.score(points.head(4).assign(channel="email"))
    assert np.allclose(scored["response_propensity"], result.model.base_rates["email"])
