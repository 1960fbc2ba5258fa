"""Discount sensitivity and the discount depth that maximises expected margin.

Two kinds of evidence, each used for what it can tell:

1. **How often a customer takes a discount** (observational, per customer). Of a buyer's
   orders after the first (welcome offers say nothing about the person), how many
   carried a discount. Few buyers have many orders, so the share is shrunk with an
   empirical-Bayes beta-binomial: population → segment → customer. The population fit
   (maximum marginal likelihood) gives the concentration κ, i.e. how many orders of
   evidence weigh as much as the prior; each segment's mean take-up is the pooled share
   shrunk towards the population mean; a customer's estimate is
   ``(discounted + κ·μ_segment) / (orders + κ)``. This posterior mean is the customer's
   **discount sensitivity** (0–1): a rank, comparable across customers.

2. **What discount depth does to purchase probability** (causal, per segment). Campaign
   touches have randomised control groups, so for every segment × campaign the uplift
   ``τ = conversion(treated) − conversion(control)`` is unbiased; regressing it on the
   campaign's discount depth (weighted least squares, weights 1/var τ, one intercept per
   campaign objective because depth goes with objective and target group) gives the
   contact effect α and the slope β (extra purchase probability per unit of depth).
   Segment estimates are noisy (control groups are ~10 % of a campaign), so they are
   shrunk towards the population fit with a DerSimonian–Laird between-segment variance.
   The population slope gets a weakly informative N(0, 0.3²) prior, and every slope is
   the posterior mean truncated to β ≥ 0: a deeper discount cannot make a purchase less
   likely, so a negative estimate is noise, but clipping it to 0 would throw away the
   chance that the true slope is positive.

A customer's slope is the segment's, tilted by their relative sensitivity:
``β_i = β_segment · s_i / μ_segment``. The expected margin of contacting them with depth
``d`` over the policy window is

    E_i(d) = max(0, p_i + α_segment + β_i·d) · V_i · (m_i − d)

with ``β_i`` taken at the 25th percentile of its posterior (a discount is margin spent for
sure, its effect is uncertain), ``p_i`` the probability they buy anyway (from the CLV
model's expected purchases),
``V_i`` their list-price order value and ``m_i`` their list margin rate: every purchase in
the window redeems the offer, so a discount also costs margin on the orders that would
have happened without it (cannibalisation). The recommended depth maximises ``E_i`` over
a grid. With a purchase-probability slope as small as campaigns usually show, this mostly
recommends no discount, except for sensitive customers who are unlikely to buy anyway.

Pure pandas / numpy / scipy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

log = logging.getLogger(__name__)

UNSEGMENTED = "unsegmented"


@dataclass(frozen=True)
class OfferConfig:
    """How sensitivity is pooled and which depths the policy may recommend."""

    #: discount depths the policy chooses from (0 = no discount)
    depth_grid: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
    #: a segment's pooled take-up is shrunk towards the population with this many pseudo-orders
    segment_prior_orders: float = 50.0
    #: days the policy's expected margin covers (the CLV expected purchases window)
    window_days: int = 30
    #: bounds of the fitted beta-binomial concentration (orders of evidence the prior weighs)
    kappa_bounds: tuple[float, float] = (0.5, 500.0)
    #: a segment's control arms need this many touches to stand in for its purchase probability
    min_control_touches: int = 30
    #: prior scale of the discount slope (extra purchase probability per unit of depth, β ≥ 0):
    #: half-normal, so a 10-point discount adding more than ~3 points of purchase probability
    #: needs evidence. Without it, a slope measured as 0.08 ± 0.18 would be read as "anything
    #: up to +50 points is as likely as +5".
    slope_prior_scale: float = 0.3
    #: the policy prices depth with this quantile of the slope's posterior, not its mean: a
    #: discount is recommended only where it pays even if the slope is at the low end of what
    #: the campaigns allow. Slopes are measured on a few dozen campaigns with ~10 % control
    #: groups, so their posteriors are wide, and a discount given is margin spent for sure.
    decision_quantile: float = 0.25

    def __post_init__(self) -> None:
        if not self.depth_grid or min(self.depth_grid) < 0 or max(self.depth_grid) >= 1:
            raise ValueError("depth_grid must hold depths in [0, 1)")
        if 0.0 not in self.depth_grid:
            raise ValueError("depth_grid must contain 0 (no discount)")
        if not 0 < self.decision_quantile < 1:
            raise ValueError("decision_quantile must lie in (0, 1)")


@dataclass
class BetaBinomialFit:
    """Population take-up μ and concentration κ (prior strength in orders)."""

    mu: float
    kappa: float
    log_likelihood: float
    customers: int


def fit_beta_binomial(successes: np.ndarray, trials: np.ndarray, config: OfferConfig | None = None) -> BetaBinomialFit:
    """Maximum marginal likelihood of Beta(μκ, (1-μ)κ)-binomial over customers with trials > 0."""
    config = config or OfferConfig()
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    keep = n > 0
    k, n = k[keep], n[keep]
    if len(n) == 0:
        raise ValueError("no customer has an order to learn discount take-up from")
    pooled = float(np.clip(k.sum() / n.sum(), 1e-4, 1 - 1e-4))
    lo, hi = np.log(config.kappa_bounds[0]), np.log(config.kappa_bounds[1])

    def negative_ll(theta: np.ndarray) -> float:
        mu = 1.0 / (1.0 + np.exp(-theta[0]))
        kappa = np.exp(np.clip(theta[1], lo, hi))
        return -float(stats.betabinom.logpmf(k, n, mu * kappa, (1 - mu) * kappa).sum())

    start = np.array([np.log(pooled / (1 - pooled)), np.log(10.0)])
    result = optimize.minimize(negative_ll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8})
    mu = float(1.0 / (1.0 + np.exp(-result.x[0])))
    kappa = float(np.exp(np.clip(result.x[1], lo, hi)))
    return BetaBinomialFit(mu=mu, kappa=kappa, log_likelihood=-float(result.fun), customers=len(n))


@dataclass
class UpliftFit:
    """τ = α + β·depth by weighted least squares, with standard errors."""

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    cells: int
    treated: int
    control: int


def fit_uplift_slope(cells: pd.DataFrame) -> UpliftFit | None:
    """WLS of the treated − control conversion difference on discount depth over campaign cells.

    ``cells``: treated_touches, treated_conversions, control_touches, control_conversions,
    discount_pct, and optionally objective. Rates use a +0.5 / +1 continuity correction for
    the variance only, so a cell with no conversions still has a finite weight.

    With an ``objective`` column each objective gets its own intercept and the slope is
    learned WITHIN objectives: depth is not randomised across campaigns, win-back
    campaigns carry the deepest offers and target lapsed customers who convert least,
    so a pooled regression reads "deeper discount, lower uplift" (measured on the
    simulator: true per-campaign uplift falls with depth across campaigns although each
    person's response rises with it). α is then the touch-weighted mean of the
    intercepts. None when no objective has two depths (the slope is not identified).
    """
    c = cells[(cells["treated_touches"] > 0) & (cells["control_touches"] > 0)]
    objective = (c["objective"].fillna("unknown").astype(str) if "objective" in c.columns
                 else pd.Series("all", index=c.index))
    if len(c) < 2 or not (c.groupby(objective)["discount_pct"].nunique() >= 2).any():
        return None
    nt, nc = c["treated_touches"].to_numpy(float), c["control_touches"].to_numpy(float)
    pt, pc = c["treated_conversions"].to_numpy(float) / nt, c["control_conversions"].to_numpy(float) / nc
    vt = (c["treated_conversions"].to_numpy(float) + 0.5) / (nt + 1)
    vc = (c["control_conversions"].to_numpy(float) + 0.5) / (nc + 1)
    var = vt * (1 - vt) / nt + vc * (1 - vc) / nc
    w = 1.0 / var
    levels = sorted(objective.unique())
    dummies = np.column_stack([(objective == level).to_numpy(float) for level in levels])
    x = np.column_stack([dummies, c["discount_pct"].to_numpy(float)])
    xtw = x.T * w
    cov = np.linalg.pinv(xtw @ x)
    coef = cov @ (xtw @ (pt - pc))
    # α: the intercepts averaged with the objectives' treated touches as weights
    share = np.array([nt[(objective == level).to_numpy()].sum() for level in levels]) / nt.sum()
    alpha = float(share @ coef[:-1])
    alpha_se = float(np.sqrt(share @ cov[:-1, :-1] @ share))
    return UpliftFit(
        alpha=alpha, beta=float(coef[-1]), alpha_se=alpha_se, beta_se=float(np.sqrt(cov[-1, -1])),
        cells=len(c), treated=int(nt.sum()), control=int(nc.sum()),
    )  # fmt: skip


def shrink(
    estimates: np.ndarray, variances: np.ndarray, target: float, target_variance: float,
    heterogeneity_p: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Empirical-Bayes shrinkage of group estimates towards ``target`` (DerSimonian–Laird τ²).

    Returns the posterior means and variances and the between-group variance τ². τ² = 0
    means the groups are indistinguishable from the target given their noise: every group
    then takes the target's estimate and variance, as does a group with no estimate.
    With a handful of noisy groups the DL estimate of τ² is itself mostly noise (one
    outlying segment makes it large), so τ² is set to 0 unless Cochran's Q rejects
    homogeneity at ``heterogeneity_p``.
    """
    est = np.asarray(estimates, float)
    var = np.asarray(variances, float)
    ok = np.isfinite(est) & np.isfinite(var) & (var > 0)
    mean_out = np.full(len(est), target, dtype=float)
    var_out = np.full(len(est), target_variance, dtype=float)
    if ok.sum() < 2:
        return mean_out, var_out, 0.0
    w = 1.0 / var[ok]
    pooled = float((w * est[ok]).sum() / w.sum())
    q = float((w * (est[ok] - pooled) ** 2).sum())
    denom = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (q - (ok.sum() - 1)) / denom) if denom > 0 else 0.0
    if stats.chi2.sf(q, ok.sum() - 1) > heterogeneity_p:
        tau2 = 0.0
    if tau2 == 0.0:
        return mean_out, var_out, 0.0
    mean_out[ok] = (est[ok] / var[ok] + target / tau2) / (1.0 / var[ok] + 1.0 / tau2)
    var_out[ok] = 1.0 / (1.0 / var[ok] + 1.0 / tau2)
    return mean_out, var_out, tau2


def positive_mean(mean: np.ndarray | float, variance: np.ndarray | float) -> np.ndarray:
    """Mean of N(mean, variance) truncated to [0, ∞): the posterior mean under a β ≥ 0 prior.

    Why not clip the estimate at 0: a slope measured as -0.05 ± 0.09 is mostly noise, and
    clipping would turn every such estimate into "discounts never help"; the truncated
    posterior keeps the probability mass that the true slope is positive.
    """
    m = np.atleast_1d(np.asarray(mean, float))
    sd = np.sqrt(np.atleast_1d(np.asarray(variance, float)))
    out = np.maximum(m, 0.0)
    ok = np.isfinite(m) & np.isfinite(sd) & (sd > 0)
    out[ok] = stats.truncnorm.mean((0.0 - m[ok]) / sd[ok], np.inf, loc=m[ok], scale=sd[ok])
    return out


def positive_quantile(mean: np.ndarray | float, variance: np.ndarray | float, q: float) -> np.ndarray:
    """The q-quantile of N(mean, variance) truncated to [0, ∞) (the point value when variance is 0)."""
    m = np.atleast_1d(np.asarray(mean, float))
    sd = np.sqrt(np.atleast_1d(np.asarray(variance, float)))
    out = np.maximum(m, 0.0)
    ok = np.isfinite(m) & np.isfinite(sd) & (sd > 0)
    out[ok] = stats.truncnorm.ppf(q, (0.0 - m[ok]) / sd[ok], np.inf, loc=m[ok], scale=sd[ok])
    return out


@dataclass
class OfferPolicyResult:
    customers: pd.DataFrame
    segments: pd.DataFrame
    population: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)


CUSTOMER_COLUMNS = (
    "customer_id", "segment", "eligible_order_count", "discounted_order_count",
    "average_list_order_value", "list_margin_rate", "expected_purchases",
)  # fmt: skip
CELL_COLUMNS = (
    "segment", "campaign_id", "discount_pct", "treated_touches", "treated_conversions",
    "control_touches", "control_conversions",
)  # fmt: skip (an optional "objective" column gives each campaign objective its own intercept)


def estimate_offer_policy(
    customers: pd.DataFrame, cells: pd.DataFrame, config: OfferConfig | None = None
) -> OfferPolicyResult:
    """Sensitivity, uplift slope and recommended depth for every customer and segment.

    ``customers`` has CUSTOMER_COLUMNS (segment may be null: pooled as "unsegmented";
    expected_purchases is the CLV model's expected purchases in the policy window, null
    when unknown); ``cells`` has CELL_COLUMNS, one row per segment × campaign with the
    treated and control arms' touches and conversions (closed response windows only).
    """
    config = config or OfferConfig()
    missing = [c for c in CUSTOMER_COLUMNS if c not in customers.columns]
    missing += [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(f"missing columns: {missing}")
    cust = customers.copy()
    cust["segment"] = cust["segment"].fillna(UNSEGMENTED).astype(str)
    n = cust["eligible_order_count"].fillna(0).to_numpy(float)
    k = cust["discounted_order_count"].fillna(0).to_numpy(float)

    # 1. take-up: population beta-binomial, segment means, customer posteriors
    population = fit_beta_binomial(k, n, config)
    totals = cust.assign(_k=k, _n=n).groupby("segment")[["_k", "_n"]].sum()
    m = config.segment_prior_orders
    segment_mu = (totals["_k"] + m * population.mu) / (totals["_n"] + m)
    mu_g = cust["segment"].map(segment_mu).to_numpy(float)
    kappa = population.kappa
    a_post, b_post = k + kappa * mu_g, (n - k) + kappa * (1 - mu_g)
    cust["discount_sensitivity"] = a_post / (a_post + b_post)
    cust["discount_sensitivity_sd"] = np.sqrt(a_post * b_post / ((a_post + b_post) ** 2 * (a_post + b_post + 1)))
    cust["sensitivity_evidence_weight"] = n / (n + kappa)
    cust["segment_discount_sensitivity"] = mu_g

    # 2. uplift of purchase probability with depth: population fit, segments shrunk towards it
    segments = sorted(cust["segment"].unique())
    pop_fit = fit_uplift_slope(cells)
    alpha_pop = pop_fit.alpha if pop_fit else 0.0
    beta_pop_raw = pop_fit.beta if pop_fit else 0.0
    alpha_pop_var = pop_fit.alpha_se**2 if pop_fit else 0.0
    beta_pop_var = pop_fit.beta_se**2 if pop_fit else 0.0
    seg_fits = {s: fit_uplift_slope(cells[cells["segment"].astype(str) == s]) for s in segments}
    alpha_raw = np.array([f.alpha if f else np.nan for f in seg_fits.values()])
    beta_raw = np.array([f.beta if f else np.nan for f in seg_fits.values()])
    alpha_var = np.array([f.alpha_se**2 if f else np.nan for f in seg_fits.values()])
    beta_var = np.array([f.beta_se**2 if f else np.nan for f in seg_fits.values()])
    alpha_shrunk, _, alpha_tau2 = shrink(alpha_raw, alpha_var, alpha_pop, alpha_pop_var)
    # population slope: the WLS estimate combined with the N(0, scale²) prior (conjugate normal)
    prior_var = config.slope_prior_scale**2
    if pop_fit and beta_pop_var > 0:
        beta_pop_mean = beta_pop_raw * prior_var / (prior_var + beta_pop_var)
        beta_pop_post_var = prior_var * beta_pop_var / (prior_var + beta_pop_var)
    else:
        beta_pop_mean, beta_pop_post_var = 0.0, prior_var
    beta_shrunk, beta_shrunk_var, beta_tau2 = shrink(beta_raw, beta_var, beta_pop_mean, beta_pop_post_var)
    # a deeper discount cannot make a purchase less likely: posterior means truncated to β ≥ 0
    beta_pop = float(positive_mean(beta_pop_mean, beta_pop_post_var)[0])
    beta_post = positive_mean(beta_shrunk, beta_shrunk_var)
    beta_decision = positive_quantile(beta_shrunk, beta_shrunk_var, config.decision_quantile)
    slope_positive = float(stats.norm.cdf(beta_pop_mean / np.sqrt(beta_pop_post_var)))
    alpha_g = dict(zip(segments, alpha_shrunk, strict=True))
    beta_g = dict(zip(segments, beta_post, strict=True))
    beta_decision_g = dict(zip(segments, beta_decision, strict=True))

    # 3. customer slope and the margin-maximising depth
    mu_safe = np.maximum(mu_g, 1e-6)
    cust["contact_uplift"] = cust["segment"].map(alpha_g).to_numpy(float)
    tilt = cust["discount_sensitivity"].to_numpy(float) / mu_safe
    cust["uplift_per_discount_point"] = cust["segment"].map(beta_g).to_numpy(float) * tilt / 100.0
    cust["decision_uplift_per_discount_point"] = cust["segment"].map(beta_decision_g).to_numpy(float) * tilt / 100.0
    seg_value = cust.groupby("segment")["average_list_order_value"].transform("median")
    seg_margin = cust.groupby("segment")["list_margin_rate"].transform("median")
    value = cust["average_list_order_value"].fillna(seg_value).fillna(0.0).to_numpy(float)
    margin = cust["list_margin_rate"].fillna(seg_margin).fillna(0.0).to_numpy(float)
    expected = cust["expected_purchases"].astype(float)
    # without a CLV estimate: the segment's control-group conversion rate, or the population's
    # when the segment's control arms are too small to say anything
    control_rate = _segment_control_rates(cells, segments, config.min_control_touches)
    population_rate = _population_control_rate(cells)
    fallback = cust["segment"].map(control_rate).fillna(population_rate)
    p_base = np.where(expected.notna(), 1.0 - np.exp(-expected.clip(lower=0).fillna(0)), fallback)
    cust["baseline_purchase_probability"] = p_base
    cust["expected_order_value"] = value
    cust["margin_rate"] = margin
    slope = cust["decision_uplift_per_discount_point"].to_numpy(float) * 100.0
    grid = np.asarray(sorted(set(config.depth_grid)), float)
    prob = np.clip(p_base[:, None] + cust["contact_uplift"].to_numpy(float)[:, None] + slope[:, None] * grid, 0, 1)
    margin_at = prob * value[:, None] * (margin[:, None] - grid)
    best = np.argmax(margin_at, axis=1)  # first maximum: ties go to the smaller depth
    cust["recommended_discount_pct"] = grid[best]
    cust["expected_margin_at_recommended"] = margin_at[np.arange(len(cust)), best]
    cust["expected_margin_without_discount"] = margin_at[:, 0]
    cust["expected_margin_gain"] = cust["expected_margin_at_recommended"] - cust["expected_margin_without_discount"]
    cust["sensitivity_band"] = _bands(cust["discount_sensitivity"])

    seg_rows = []
    for s, fit in seg_fits.items():
        rows = cust[cust["segment"] == s]
        seg_rows.append({
            "segment": s,
            "customers": len(rows),
            "customers_with_evidence": int((rows["eligible_order_count"].fillna(0) > 0).sum()),
            "eligible_orders": int(rows["eligible_order_count"].fillna(0).sum()),
            "discounted_orders": int(rows["discounted_order_count"].fillna(0).sum()),
            "segment_discount_sensitivity": float(segment_mu.get(s, population.mu)),
            "mean_customer_sensitivity": float(rows["discount_sensitivity"].mean()),
            "campaign_cells": fit.cells if fit else 0,
            "treated_touches": fit.treated if fit else 0,
            "control_touches": fit.control if fit else 0,
            "contact_uplift_raw": fit.alpha if fit else np.nan,
            "contact_uplift_raw_se": fit.alpha_se if fit else np.nan,
            "uplift_slope_raw": fit.beta if fit else np.nan,
            "uplift_slope_raw_se": fit.beta_se if fit else np.nan,
            "contact_uplift": float(alpha_g[s]),
            "uplift_slope": float(beta_g[s]),
            "decision_uplift_slope": float(beta_decision_g[s]),
            "control_conversion_rate": float(control_rate.get(s, np.nan)),
            "share_recommended_discount": float((rows["recommended_discount_pct"] > 0).mean()),
            "mean_recommended_discount_pct": float(rows["recommended_discount_pct"].mean()),
            "expected_margin_gain": float(rows["expected_margin_gain"].sum()),
        })  # fmt: skip
    population_metrics = {
        "population_take_up": population.mu,
        "take_up_concentration_kappa": population.kappa,
        "beta_binomial_log_likelihood": population.log_likelihood,
        "customers_with_evidence": float(population.customers),
        "population_contact_uplift": alpha_pop,
        "population_uplift_slope": beta_pop,
        "population_decision_uplift_slope": float(
            positive_quantile(beta_pop_mean, beta_pop_post_var, config.decision_quantile)[0]
        ),
        "population_uplift_slope_raw": beta_pop_raw if pop_fit else float("nan"),
        "population_uplift_slope_se": pop_fit.beta_se if pop_fit else float("nan"),
        "population_uplift_slope_posterior_sd": float(np.sqrt(beta_pop_post_var)),
        # how sure the data make us that discount depth raises purchase probability at all
        # (under the symmetric prior, before the β ≥ 0 constraint)
        "probability_slope_positive": slope_positive,
        "between_segment_slope_variance": beta_tau2,
        "between_segment_contact_variance": alpha_tau2,
        "share_recommended_discount": float((cust["recommended_discount_pct"] > 0).mean()),
        "expected_margin_gain_total": float(cust["expected_margin_gain"].sum()),
    }
    return OfferPolicyResult(customers=cust, segments=pd.DataFrame(seg_rows), population=population_metrics)


def _population_control_rate(cells: pd.DataFrame) -> float:
    touches = float(cells["control_touches"].sum())
    return float(cells["control_conversions"].sum()) / touches if touches > 0 else 0.0


def _segment_control_rates(cells: pd.DataFrame, segments: list[str], minimum: int) -> dict[str, float]:
    """Conversion rate of the control arms per segment: the purchase probability without contact."""
    grouped = cells.assign(segment=cells["segment"].astype(str)).groupby("segment")[
        ["control_touches", "control_conversions"]
    ].sum()
    grouped = grouped[grouped["control_touches"] >= max(minimum, 1)]
    rates = (grouped["control_conversions"] / grouped["control_touches"]).to_dict()
    return {s: float(rates[s]) for s in segments if s in rates}


def _bands(values: pd.Series) -> pd.Series:
    """low / medium / high tertiles (equal values share a band)."""
    if values.nunique() < 3:
        return pd.Series("medium", index=values.index)
    ranks = values.rank(method="average", pct=True)
    return pd.Series(np.select([ranks <= 1 / 3, ranks <= 2 / 3], ["low", "medium"], "high"), index=values.index)


def sensitivity_recovery(estimates: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """How well estimated sensitivities rank the true ones (simulation only).

    ``estimates``: customer_id, discount_sensitivity, eligible_order_count; ``truth``:
    customer_id, true_sensitivity, persona. Spearman rank correlation per customer (all,
    and with at least one / three orders of evidence), across personas (mean estimate
    against mean truth per persona) and within each persona (customers with evidence: is
    individual variation recovered beyond the persona's mean?).
    """
    joined = estimates.merge(truth, on="customer_id")
    out: dict[str, float] = {"customers": float(len(joined))}
    for label, minimum in (("all", 0), ("evidence_1", 1), ("evidence_3", 3)):
        rows = joined[joined["eligible_order_count"].fillna(0) >= minimum]
        out[f"spearman_{label}"] = _spearman(rows["discount_sensitivity"], rows["true_sensitivity"])
        out[f"customers_{label}"] = float(len(rows))
    by_persona = joined.groupby("persona")[["discount_sensitivity", "true_sensitivity"]].mean()
    out["personas"] = float(len(by_persona))
    out["spearman_persona"] = _spearman(by_persona["discount_sensitivity"], by_persona["true_sensitivity"])
    with_evidence = joined[joined["eligible_order_count"].fillna(0) >= 1]
    for persona, rows in with_evidence.groupby("persona"):
        out[f"spearman_within_{persona}"] = _spearman(rows["discount_sensitivity"], rows["true_sensitivity"])
        out[f"customers_within_{persona}"] = float(len(rows))
    return out


def _spearman(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 3:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)
