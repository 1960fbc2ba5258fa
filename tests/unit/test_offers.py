"""Discount sensitivity and the offer policy against known answers.

* the beta-binomial fit recovers the μ and κ it was simulated with;
* the campaign uplift regression recovers a known contact effect and discount slope;
* shrinkage and the β ≥ 0 posterior behave as their formulas say (hand-checked numbers);
* the margin-maximising depth of a hand-checked customer;
* end to end on a synthetic population, sensitivity is recovered and ranks the truth.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestration.ml import offers


def test_beta_binomial_recovers_its_parameters():
    rng = np.random.default_rng(1)
    mu, kappa = 0.3, 8.0
    theta = rng.beta(mu * kappa, (1 - mu) * kappa, 20_000)
    n = rng.integers(1, 15, 20_000)
    k = rng.binomial(n, theta)
    fit = offers.fit_beta_binomial(k, n)
    assert fit.mu == pytest.approx(mu, abs=0.01)
    assert fit.kappa == pytest.approx(kappa, rel=0.15)
    assert fit.customers == 20_000


def test_uplift_slope_recovers_contact_effect_and_discount_slope():
    rng = np.random.default_rng(2)
    rows = []
    for i, depth in enumerate([0.0, 0.05, 0.1, 0.15, 0.2, 0.3] * 5):
        base, uplift = 0.10, 0.03 + 0.4 * depth
        nt, nc = 40_000, 40_000
        rows.append({"segment": "s", "campaign_id": f"c{i}", "discount_pct": depth,
                     "treated_touches": nt, "treated_conversions": rng.binomial(nt, base + uplift),
                     "control_touches": nc, "control_conversions": rng.binomial(nc, base)})
    fit = offers.fit_uplift_slope(pd.DataFrame(rows))
    assert fit is not None
    assert fit.alpha == pytest.approx(0.03, abs=0.005)
    assert fit.beta == pytest.approx(0.4, abs=0.04)
    assert fit.beta_se < 0.03
    # depths that do not vary identify no slope
    assert offers.fit_uplift_slope(pd.DataFrame(rows).assign(discount_pct=0.1)) is None


def test_shrinkage_and_the_non_negative_posterior():
    # groups as noisy as their spread collapse onto the target (τ² = 0)
    mean, var, tau2 = offers.shrink(np.array([0.1, -0.1]), np.array([0.04, 0.04]), 0.05, 0.01)
    assert tau2 == 0 and np.allclose(mean, 0.05) and np.allclose(var, 0.01)
    # clearly different precise groups keep most of their own estimate
    mean, _, tau2 = offers.shrink(np.array([0.0, 1.0, 2.0]), np.array([0.01] * 3), 1.0, 0.01)
    assert tau2 == pytest.approx(1.0 - 0.01, abs=1e-9)
    assert mean[0] == pytest.approx((0.0 / 0.01 + 1.0 / tau2) / (1 / 0.01 + 1 / tau2))
    # E[N(0, 1) | >= 0] = sqrt(2 / pi); a precise positive estimate stays itself
    assert offers.positive_mean(0.0, 1.0)[0] == pytest.approx(np.sqrt(2 / np.pi))
    assert offers.positive_mean(0.5, 1e-6)[0] == pytest.approx(0.5)
    assert offers.positive_mean(-3.0, 1e-4)[0] == pytest.approx(0.0, abs=1e-3)


def _one_segment_cells(alpha: float, beta: float) -> pd.DataFrame:
    """Noise-free arms with the given contact effect and slope (huge counts: the SE is ~0)."""
    rows = []
    for i, depth in enumerate([0.0, 0.1, 0.2]):
        n = 10_000_000
        rows.append({"segment": "s", "campaign_id": f"c{i}", "discount_pct": depth,
                     "treated_touches": n, "treated_conversions": round(n * (0.1 + alpha + beta * depth)),
                     "control_touches": n, "control_conversions": round(n * 0.1)})
    return pd.DataFrame(rows)


def test_hand_checked_margin_maximising_depth():
    """One segment, α = 0.01, β = 0.5 per unit depth; two customers with list value 100, margin 0.5.

    Customer A (take-up equal to the segment's, so β_A = 0.5) has a 2 % chance to buy anyway:
    E(d) = (0.02 + 0.01 + 0.5 d) · 100 · (0.5 - d): E(0) = 1.5, E(0.1) = 3.2, E(0.2) = 3.9,
    E(0.3) = 3.6 → 0.2 (continuous optimum (0.5·0.5 - 0.03) / (2·0.5) = 0.22).
    Customer B buys anyway with 60 %: E(0) = 30.5, E(0.1) = 26.4 → no discount.
    """
    customers = pd.DataFrame({
        "customer_id": ["A", "B"], "segment": ["s", "s"],
        "eligible_order_count": [0, 0], "discounted_order_count": [0, 0],
        "average_list_order_value": [100.0, 100.0], "list_margin_rate": [0.5, 0.5],
        "expected_purchases": [-np.log(1 - 0.02), -np.log(1 - 0.60)],
    })  # fmt: skip
    config = offers.OfferConfig(depth_grid=(0.0, 0.1, 0.2, 0.3), segment_prior_orders=0.0)
    result = offers.estimate_offer_policy(
        pd.concat([customers, _evidence()], ignore_index=True), _one_segment_cells(0.01, 0.5), config
    )
    policy = result.customers.set_index("customer_id")
    assert policy.loc["A", "uplift_per_discount_point"] * 100 == pytest.approx(0.5, abs=1e-3)
    assert policy.loc["A", "recommended_discount_pct"] == 0.2
    assert policy.loc["A", "expected_margin_at_recommended"] == pytest.approx(3.9, abs=0.01)
    assert policy.loc["A", "expected_margin_without_discount"] == pytest.approx(1.5, abs=0.01)
    assert policy.loc["B", "recommended_discount_pct"] == 0.0
    assert policy.loc["B", "expected_margin_gain"] == 0.0


def _evidence() -> pd.DataFrame:
    """Other buyers of the segment whose orders give it a take-up (A and B sit exactly at it)."""
    rng = np.random.default_rng(3)
    n = rng.integers(1, 10, 500)
    return pd.DataFrame({
        "customer_id": [f"x{i}" for i in range(500)], "segment": "s",
        "eligible_order_count": n, "discounted_order_count": rng.binomial(n, rng.beta(3, 7, 500)),
        "average_list_order_value": 100.0, "list_margin_rate": 0.5, "expected_purchases": 0.5,
    })  # fmt: skip


def test_sensitivity_is_recovered_on_a_synthetic_population():
    """Two segments with different take-up; more orders, better recovery; persona means rank right."""
    rng = np.random.default_rng(4)
    size = 3_000
    persona = rng.choice(["bargain", "loyal", "casual"], size)
    truth = np.where(persona == "bargain", rng.beta(6, 2, size),
                     np.where(persona == "loyal", rng.beta(1.5, 6, size), rng.beta(2, 4, size)))
    n = rng.poisson(5, size)
    k = rng.binomial(n, 0.04 + 0.45 * truth)  # the simulator's take-up rule
    customers = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(size)], "segment": np.where(persona == "bargain", "deal", "other"),
        "eligible_order_count": n, "discounted_order_count": k, "average_list_order_value": 300.0,
        "list_margin_rate": 0.45, "expected_purchases": 0.2,
    })  # fmt: skip
    result = offers.estimate_offer_policy(customers, _one_segment_cells(0.02, 0.1).assign(segment="deal"))
    recovery = offers.sensitivity_recovery(
        result.customers, pd.DataFrame({"customer_id": customers["customer_id"], "true_sensitivity": truth,
                                        "persona": persona})
    )
    assert recovery["spearman_evidence_1"] > 0.5
    assert recovery["spearman_evidence_3"] > recovery["spearman_all"]
    assert recovery["spearman_persona"] == pytest.approx(1.0)
    segments = result.segments.set_index("segment")
    assert segments.loc["deal", "segment_discount_sensitivity"] > segments.loc["other", "segment_discount_sensitivity"]
    # the segment without campaign evidence borrows the population slope
    assert segments.loc["other", "uplift_slope"] == pytest.approx(result.population["population_uplift_slope"])
    assert set(result.customers["sensitivity_band"]) == {"low", "medium", "high"}


def test_the_population_slope_is_the_truncated_posterior_under_the_prior():
    """A noisy slope: WLS estimate b ± se, prior N(0, 0.3²) → N(m, v) truncated to >= 0 (formula by hand)."""
    rng = np.random.default_rng(5)
    rows = [{"segment": "s", "campaign_id": f"c{i}", "discount_pct": d, "treated_touches": 300,
             "treated_conversions": int(rng.binomial(300, 0.12 + 0.1 * d)), "control_touches": 30,
             "control_conversions": int(rng.binomial(30, 0.1))} for i, d in enumerate([0.0, 0.1, 0.2, 0.3] * 3)]
    cells = pd.DataFrame(rows)
    fit = offers.fit_uplift_slope(cells)
    assert fit is not None and fit.beta_se > 0.1  # genuinely noisy
    m = fit.beta * 0.09 / (0.09 + fit.beta_se**2)
    v = 0.09 * fit.beta_se**2 / (0.09 + fit.beta_se**2)
    sd = np.sqrt(v)
    expected = m + sd * stats.norm.pdf(m / sd) / stats.norm.cdf(m / sd)
    result = offers.estimate_offer_policy(_evidence(), cells)
    assert result.population["population_uplift_slope"] == pytest.approx(expected, rel=1e-6)
    assert result.population["probability_slope_positive"] == pytest.approx(stats.norm.cdf(m / sd))
    assert result.population["population_uplift_slope_raw"] == pytest.approx(fit.beta)


def test_config_is_validated():
    with pytest.raises(ValueError, match="contain 0"):
        offers.OfferConfig(depth_grid=(0.1, 0.2))
    with pytest.raises(ValueError, match="missing columns"):
        offers.estimate_offer_policy(pd.DataFrame({"customer_id": ["a"]}), pd.DataFrame())
