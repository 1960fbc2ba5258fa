"""PSI on samples where the answer is known: the same distribution ~0, a shifted one well above 0.25."""

import numpy as np
import pandas as pd
import pytest

from orchestration.ml import drift


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_identical_distributions_have_psi_near_zero() -> None:
    rng = _rng()
    assert drift.psi(rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)) < 0.01


def test_shifted_distribution_crosses_the_retraining_level() -> None:
    rng = _rng()
    # a one-standard-deviation shift of the mean: PSI is about 1 (theory: ~ shift squared)
    value = drift.psi(rng.normal(0, 1, 20_000), rng.normal(1, 1, 20_000))
    assert value > 0.25
    assert value == pytest.approx(1.0, rel=0.3)


def test_psi_is_finite_when_actual_leaves_bins_empty() -> None:
    rng = _rng()
    # every actual value lies above the training range: nine bins empty, epsilon keeps the log finite
    value = drift.psi(rng.uniform(0, 1, 5_000), rng.uniform(5, 6, 5_000))
    assert np.isfinite(value) and value > 5


def test_discrete_feature_keeps_its_mass_together() -> None:
    # a 0/1 flag: quantile edges collapse to one; same proportions -> 0, 30% -> 60% members -> clearly drifted
    base = np.r_[np.zeros(700), np.ones(300)]
    assert drift.psi(base, base) == pytest.approx(0.0, abs=1e-12)
    expected_value = (0.6 - 0.3) * np.log(0.6 / 0.3) + (0.4 - 0.7) * np.log(0.4 / 0.7)
    assert drift.psi(base, np.r_[np.zeros(400), np.ones(600)]) == pytest.approx(expected_value, rel=1e-9)


def test_empty_sample_gives_nan() -> None:
    assert np.isnan(drift.psi([], [1.0, 2.0]))


def test_psi_table_flags_only_the_shifted_feature(tmp_path) -> None:
    rng = _rng()
    train = pd.DataFrame({"recency": rng.exponential(30, 5_000), "frequency": rng.poisson(3, 5_000)})
    today = pd.DataFrame({"recency": rng.exponential(90, 5_000), "frequency": rng.poisson(3, 5_000)})
    table = drift.psi_table(train, today, ["recency", "frequency", "not_a_column"], threshold=0.25)
    assert list(table["feature"]) == ["recency", "frequency"]
    assert table.set_index("feature")["drifted"].to_dict() == {"recency": True, "frequency": False}

    # the snapshot saved beside a model round-trips to the same PSI
    saved = drift.save_reference(train, ["recency", "frequency"], tmp_path / "churn_model.joblib")
    assert saved.name == "churn_model.reference.parquet"
    again = drift.psi_table(pd.read_parquet(saved), today, ["recency", "frequency"])
    pd.testing.assert_frame_equal(again, table)
