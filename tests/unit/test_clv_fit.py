"""Fitting the CLV models: recovery of simulated truth, weights, invalid input, numerical stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from orchestration.ml.clv import (
    BetaGeo,
    ConvergenceError,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    _common,
    simulate_beta_geo,
    simulate_gamma_gamma,
    simulate_pareto_nbd,
)

BG_TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
PNBD_TRUE = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}
GG_TRUE = {"p": 6.0, "q": 3.7, "v": 15.0}
N = 40_000


def _cohort_T(n: int, seed: int) -> np.ndarray:
    """Customers acquired over 12 weeks, observed until week 52 (T between 40 and 52 weeks)."""
    return np.random.default_rng(seed).uniform(40.0, 52.0, n)


def _assert_recovers(model: object, truth: dict[str, float], n_se: float = 4.0) -> None:
    for name, value in truth.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert np.isfinite(se) and se > 0, name
        assert abs(est - value) < n_se * se, f"{name}: estimate {est:.4g} ± {se:.3g}, truth {value}"


@pytest.fixture(scope="module")
def bg_sample() -> pd.DataFrame:
    return simulate_beta_geo(N, **BG_TRUE, T=_cohort_T(N, 1), holdout=26.0, seed=2)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_recovers_simulated_beta_geo_parameters(cls: type) -> None:
    data = simulate_beta_geo(
        N, **BG_TRUE, T=_cohort_T(N, 3), holdout=26.0, modified=cls is ModifiedBetaGeo, seed=4
    )
    model = cls().fit(data["frequency"], data["recency"], data["T"])
    _assert_recovers(model, BG_TRUE)
    # the maximum beats the truth, and not by more than chi2(4) would allow
    truth = np.array(list(BG_TRUE.values()))
    ll_truth = model._loglik(truth, *(data[c].to_numpy(float) for c in ("frequency", "recency", "T")))[
        0
    ].sum()
    assert 0 <= model.log_likelihood_ - ll_truth < 10
    # out-of-sample: expected vs simulated holdout purchases in aggregate and for heavy buyers
    pred = model.expected_purchases(26.0, data["frequency"], data["recency"], data["T"])
    actual = data["frequency_holdout"]
    assert pred.sum() == pytest.approx(actual.sum(), rel=0.03)
    heavy = data["frequency"] >= 5
    assert pred[heavy].sum() == pytest.approx(actual[heavy].sum(), rel=0.05)
    # probability_alive is calibrated against the simulated truth, overall and among repeat buyers
    p_alive = model.probability_alive(data["frequency"], data["recency"], data["T"])
    alive = data["alive_at_T"]
    assert p_alive.mean() == pytest.approx(alive.mean(), abs=0.01)
    repeat = data["frequency"] > 0
    assert p_alive[repeat].mean() == pytest.approx(alive[repeat].mean(), abs=0.02)
    assert p_alive[repeat & alive].mean() > p_alive[repeat & ~alive].mean() + 0.2


def test_recovers_simulated_pareto_nbd_parameters() -> None:
    data = simulate_pareto_nbd(N, **PNBD_TRUE, T=_cohort_T(N, 5), holdout=26.0, seed=6)
    model = ParetoNBD().fit(data["frequency"], data["recency"], data["T"])
    _assert_recovers(model, PNBD_TRUE)
    pred = model.expected_purchases(26.0, data["frequency"], data["recency"], data["T"])
    assert pred.sum() == pytest.approx(data["frequency_holdout"].sum(), rel=0.03)
    # P(alive) against the simulated truth: the lifetime extends past T
    p_alive = model.probability_alive(data["frequency"], data["recency"], data["T"])
    alive = data["alive_at_T"]
    assert p_alive.mean() == pytest.approx(alive.mean(), abs=0.01)
    assert p_alive[alive].mean() > p_alive[~alive].mean() + 0.2


def test_recovers_simulated_gamma_gamma_parameters(bg_sample: pd.DataFrame) -> None:
    freq = bg_sample["frequency"].to_numpy()
    spend = simulate_gamma_gamma(freq, **GG_TRUE, seed=7)
    model = GammaGamma().fit(freq, spend)
    assert model.n_customers_ == (freq > 0).sum()
    _assert_recovers(model, GG_TRUE)


def test_simulated_beta_geo_matches_closed_form_new_customer_expectation() -> None:
    """The simulator and E[X(t)] agree: a check of both against each other."""
    model = BetaGeo()
    model.params_ = dict(BG_TRUE)
    data = simulate_beta_geo(200_000, **BG_TRUE, T=30.0, seed=8)
    expected = float(model.expected_purchases_new_customer(30.0))
    se = data["frequency"].std() / np.sqrt(len(data))
    assert abs(data["frequency"].mean() - expected) < 4 * se
    pmf = model.probability_n_purchases(np.arange(4), 30.0)
    observed = np.bincount(data["frequency"], minlength=4)[:4] / len(data)
    assert (np.abs(observed - pmf) < 4 * np.sqrt(pmf * (1 - pmf) / len(data))).all()


# ------------------------------------------------------------------------------ weights


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_weighted_fit_equals_fit_on_expanded_rows(cls: type, bg_sample: pd.DataFrame) -> None:
    base = bg_sample.iloc[:3000].reset_index(drop=True)
    counts = np.random.default_rng(9).integers(1, 5, len(base))
    expanded = base.loc[base.index.repeat(counts)]
    weighted = cls().fit(base["frequency"], base["recency"], base["T"], weights=counts)
    plain = cls().fit(expanded["frequency"], expanded["recency"], expanded["T"])
    for name in weighted.params_:
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-5)
        assert weighted.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-3)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-10)
    assert weighted.n_customers_ == len(expanded)


def test_gamma_gamma_weighted_fit_equals_expanded(bg_sample: pd.DataFrame) -> None:
    base = bg_sample[bg_sample["frequency"] > 0].iloc[:2000].reset_index(drop=True)
    spend = simulate_gamma_gamma(base["frequency"], **GG_TRUE, seed=10)
    counts = np.random.default_rng(11).integers(1, 4, len(base))
    weighted = GammaGamma().fit(base["frequency"], spend, weights=counts)
    plain = GammaGamma().fit(np.repeat(base["frequency"], counts), np.repeat(spend, counts))
    for name in weighted.params_:
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-5)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-10)


def test_doubling_weights_doubles_likelihood_and_shrinks_standard_errors(bg_sample: pd.DataFrame) -> None:
    base = bg_sample.iloc[:5000]
    one = BetaGeo().fit(base["frequency"], base["recency"], base["T"])
    two = BetaGeo().fit(base["frequency"], base["recency"], base["T"], weights=np.full(len(base), 2.0))
    assert two.log_likelihood_ == pytest.approx(2 * one.log_likelihood_, rel=1e-9)
    for name in one.params_:
        assert two.params_[name] == pytest.approx(one.params_[name], rel=1e-5)
        assert two.standard_errors_[name] == pytest.approx(one.standard_errors_[name] / np.sqrt(2), rel=1e-3)


# ------------------------------------------------------------------------------ invalid input

VALID = {"frequency": [0, 1, 3], "recency": [0.0, 2.0, 5.0], "T": [4.0, 6.0, 8.0]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frequency": [-1, 1, 3]}, "non-negative"),
        ({"frequency": [0, 1.5, 3]}, "integer"),
        ({"frequency": [0, np.nan, 3]}, "NaN"),
        ({"recency": [0.0, 7.0, 5.0]}, "exceed T"),
        ({"recency": [1.0, 2.0, 5.0]}, "recency must be 0"),
        ({"recency": [0.0, -2.0, 5.0]}, "non-negative"),
        ({"T": [4.0, 6.0, np.inf]}, "infinite"),
        ({"T": [4.0, 6.0]}, "same length"),
        ({"frequency": [], "recency": [], "T": []}, "empty"),
        ({"frequency": ["a", "b", "c"]}, "numeric"),
    ],
)
@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_invalid_transaction_input_raises(cls: type, change: dict, message: str) -> None:
    args = {**VALID, **change}
    with pytest.raises(ValueError, match=message):
        cls().fit(args["frequency"], args["recency"], args["T"])


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_beta_geo_rejects_repeat_purchase_at_time_zero(cls: type) -> None:
    with pytest.raises(ValueError, match="recency must be positive"):
        cls().fit([0, 2], [0.0, 0.0], [3.0, 3.0])


def test_pareto_accepts_repeat_purchase_at_time_zero() -> None:
    model = ParetoNBD()
    model.params_ = dict(PNBD_TRUE)
    assert np.isfinite(model.log_likelihood([2], [0.0], [3.0])).all()


@pytest.mark.parametrize(
    ("weights", "message"), [([1, -1, 1], "non-negative"), ([0, 0, 0], "positive sum"), ([1, 1], "length")]
)
def test_invalid_weights_raise(weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(VALID["frequency"], VALID["recency"], VALID["T"], weights=weights)


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([1, 2], [10.0, 0.0], "positive"),
        ([1, 2], [10.0, -3.0], "non-negative"),
        ([0, 0], [0.0, 0.0], "at least one customer"),
        ([1, 2], [10.0, np.nan], "NaN"),
        ([1, 2.5], [10.0, 3.0], "integer"),
        ([], [], "empty"),
    ],
)
def test_invalid_spend_input_raises(frequency: list, monetary: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGamma().fit(frequency, monetary)


def test_predictions_validate_input_and_require_fit() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeo().probability_alive(1, 2.0, 3.0)
    model = BetaGeo()
    model.params_ = dict(BG_TRUE)
    with pytest.raises(ValueError, match="exceed T"):
        model.expected_purchases(1.0, 1, 5.0, 3.0)
    with pytest.raises(ValueError, match="t must be non-negative"):
        model.expected_purchases(-1.0, 1, 2.0, 3.0)
    gg = GammaGamma()
    gg.params_ = {"p": 2.0, "q": 0.8, "v": 10.0}
    with pytest.raises(ValueError, match="undefined"):
        gg.expected_average_value([0, 3], [0.0, 20.0])  # q < 1: population mean does not exist
    assert np.isfinite(gg.expected_average_value([3], [20.0])).all()


def test_optimiser_failure_raises_with_scipy_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_minimize(fun, x0, **kwargs):
        return optimize.OptimizeResult(
            x=np.asarray(x0), success=False, message="ABNORMAL: LINE SEARCH FAILED", nit=1
        )

    monkeypatch.setattr(_common.optimize, "minimize", failing_minimize)
    with pytest.raises(ConvergenceError, match="ABNORMAL: LINE SEARCH FAILED"):
        BetaGeo().fit([0, 1, 3, 2], [0.0, 2.0, 5.0, 1.0], [4.0, 6.0, 8.0, 9.0])


# ------------------------------------------------------------------------------ stability


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_large_frequency_and_recency_equal_to_T_are_finite(cls: type, bg_sample: pd.DataFrame) -> None:
    data = bg_sample.iloc[:5000][["frequency", "recency", "T"]].copy()
    extreme = pd.DataFrame(
        {
            "frequency": [10_000, 10_000, 500, 3],
            "recency": [52.0, 51.0, 40.0, 45.0],
            "T": [52.0, 52.0, 40.0, 45.0],
        }
    )
    data = pd.concat([data, extreme], ignore_index=True)
    model = cls().fit(data["frequency"], data["recency"], data["T"])
    assert all(np.isfinite(v) for v in model.params_.values())
    assert all(np.isfinite(v) for v in model.standard_errors_.values())
    x, tx, T = extreme["frequency"], extreme["recency"], extreme["T"]
    ll = model.log_likelihood(x, tx, T)
    p_alive = model.probability_alive(x, tx, T)
    expected = model.expected_purchases(np.array([[1.0], [520.0]]), x, tx, T)
    assert np.isfinite(ll).all() and np.isfinite(p_alive).all() and np.isfinite(expected).all()
    # buying on the last day means alive (exactly for Pareto/NBD, ~1 - p for BG)
    assert p_alive.iloc[0] > 0.99
    # a customer with 10,000 purchases in 52 weeks buys ~190 per week while alive
    rate = (model.params_["r"] + 10_000) / (model.params_["alpha"] + 52.0)
    assert expected[0, 0] == pytest.approx(p_alive.iloc[0] * rate, rel=0.02)
    if cls is not ParetoNBD:
        # exact: E[(1 - (1 + p t / A)^-R) / p] over the posterior p ~ Beta(a, b + x + k)
        a, b = model.params_["a"], model.params_["b"] + 10_000 + (cls is ModifiedBetaGeo)
        R, A = model.params_["r"] + 10_000, model.params_["alpha"] + 52.0
        for row, t in ((0, 1.0), (1, 520.0)):
            ref, _ = integrate.quad(
                lambda p, t=t: -np.expm1(-R * np.log1p(p * t / A)) / p * stats.beta.pdf(p, a, b),
                0,
                1,
                points=[a / b, 10 * a / b],
                limit=400,
                epsrel=1e-10,
            )
            assert expected[row, 0] == pytest.approx(p_alive.iloc[0] * ref, rel=1e-7)


def test_pareto_is_continuous_at_alpha_equal_beta_and_recency_equal_T() -> None:
    x = np.array([0.0, 1.0, 4.0, 200.0, 10_000.0])
    tx = np.array([0.0, 3.0, 9.0, 9.999999, 10.0])
    T = np.full(5, 10.0)
    from orchestration.ml.clv.pareto_nbd import _pareto_loglik, _ParetoData

    data = _ParetoData(x, tx, T)
    at = _pareto_loglik(np.array([0.5, 8.0, 0.7, 8.0]), data)[0]
    for beta in (8.0 * (1 + 1e-10), 8.0 * (1 - 1e-10)):
        near = _pareto_loglik(np.array([0.5, 8.0, 0.7, beta]), data)[0]
        np.testing.assert_allclose(near, at, rtol=0, atol=1e-8)
    # t_x -> T from below converges to the t_x == T value
    on_end = _pareto_loglik(np.array([0.5, 8.0, 0.7, 11.0]), _ParetoData(x[1:], T[1:], T[1:]))[0]
    below = _pareto_loglik(np.array([0.5, 8.0, 0.7, 11.0]), _ParetoData(x[1:], T[1:] - 1e-9, T[1:]))[0]
    np.testing.assert_allclose(below, on_end, atol=1e-6)


def test_summary_table_and_repr(bg_sample: pd.DataFrame) -> None:
    model = BetaGeo().fit(bg_sample["frequency"], bg_sample["recency"], bg_sample["T"])
    table = model.summary_
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()
    assert "BetaGeo(r=" in repr(model)
    assert model.n_unique_ <= model.n_customers_ == N
    # predictions keep a Series' index
    head = bg_sample.head(3)
    out = model.probability_alive(head["frequency"], head["recency"], head["T"])
    assert isinstance(out, pd.Series) and list(out.index) == list(head.index)


def test_customer_lifetime_value_matches_month_by_month_loop(bg_sample: pd.DataFrame) -> None:
    repeat = bg_sample[bg_sample["frequency"] > 0].head(50)
    spend = simulate_gamma_gamma(repeat["frequency"], **GG_TRUE, seed=12)
    bg = BetaGeo()
    bg.params_ = dict(BG_TRUE)
    gg = GammaGamma()
    gg.params_ = dict(GG_TRUE)
    x, tx, T = repeat["frequency"].to_numpy(), repeat["recency"].to_numpy(), repeat["T"].to_numpy()
    clv = gg.customer_lifetime_value(
        bg,
        x,
        tx,
        T,
        spend,
        horizon_months=6,
        discount_rate_monthly=0.02,
        freq_units_per_month=4.345,
        chunk_size=7,
    )
    # lifetimes' algorithm, written out
    value = gg.expected_average_value(x, spend)
    expected = np.zeros(len(x))
    for month in range(1, 7):
        step = bg.expected_purchases(month * 4.345, x, tx, T) - bg.expected_purchases(
            (month - 1) * 4.345, x, tx, T
        )
        expected += value * step / 1.02**month
    np.testing.assert_allclose(clv, expected, rtol=1e-12)
    undiscounted = gg.customer_lifetime_value(bg, x, tx, T, spend, 6, 0.0, freq_units_per_month=4.345)
    np.testing.assert_allclose(undiscounted, value * bg.expected_purchases(6 * 4.345, x, tx, T), rtol=1e-10)
    assert (clv > 0).all() and (clv < undiscounted).all()


@pytest.mark.parametrize("cls", [BetaGeo, ParetoNBD])
def test_warm_start_from_a_subset_reaches_the_same_maximum(
    cls: type, bg_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = bg_sample.iloc[:12_000]
    args = (head["frequency"], head["recency"], head["T"])
    cold = cls().fit(*args)  # 12,000 unique rows: below the warm-start threshold
    monkeypatch.setattr(_common, "WARM_START_ROWS", 2_000)
    warm = cls().fit(*args)
    for name in cold.params_:
        assert warm.params_[name] == pytest.approx(cold.params_[name], rel=1e-5)
    assert warm.log_likelihood_ == pytest.approx(cold.log_likelihood_, abs=1e-6)


def test_gamma_gamma_warm_start_reaches_the_same_maximum(
    bg_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    freq = bg_sample["frequency"].to_numpy()
    spend = simulate_gamma_gamma(freq, **GG_TRUE, seed=13)
    cold = GammaGamma().fit(freq, spend)
    monkeypatch.setattr(_common, "WARM_START_ROWS", 1_000)
    warm = GammaGamma().fit(freq, spend)
    for name in cold.params_:
        assert warm.params_[name] == pytest.approx(cold.params_[name], rel=1e-5)
