"""Closed forms of the CLV models against brute-force integration over the latent rates.

The likelihoods, P(alive), conditional expectations and PMFs are integrals over the
individual-level parameters (lambda, p) or (lambda, mu); here they are evaluated directly with
scipy.integrate and compared to the library's closed forms. The substitutions
lambda = w^(1/r) and p = u^(1/a) remove the integrable singularities of the gamma and beta
densities at 0 so that adaptive quadrature reaches ~1e-9 relative accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, special, stats

from orchestration.ml.clv import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD
from orchestration.ml.clv._series import ratio_series_with_gradient, shifted_tail_series
from orchestration.ml.clv.pareto_nbd import _pareto_loglik, _ParetoData

BG_PARAMS = {"r": 0.7, "alpha": 3.0, "a": 0.8, "b": 2.5}
PNBD_PARAMS = {"r": 0.6, "alpha": 4.0, "s": 0.7, "beta": 6.0}
CASES = [(0, 0.0, 5.0), (1, 2.0, 5.0), (3, 4.0, 6.0), (2, 6.0, 6.0)]  # (x, t_x, T), incl. t_x == T


def _fitted(cls: type, params: dict[str, float]) -> object:
    model = cls()
    model.params_ = dict(params)
    return model


def _gamma_expect(f: Callable[[float], float], r: float, alpha: float) -> float:
    """E[f(lambda)] for lambda ~ Gamma(r, rate alpha), via lambda = w^(1/r)."""
    const = np.exp(r * np.log(alpha) - special.gammaln(r)) / r

    def integrand(w: float) -> float:
        lam = w ** (1.0 / r)
        return f(lam) * np.exp(-alpha * lam)

    upper = (60.0 / alpha) ** r  # beyond this the density is below e^-60
    val, _ = integrate.quad(integrand, 0.0, upper, epsabs=0, epsrel=1e-11, limit=400)
    return const * val


def _beta_gamma_expect(
    f: Callable[[float, float], float], r: float, alpha: float, a: float, b: float
) -> float:
    """E[f(lambda, p)] for lambda ~ Gamma(r, alpha), p ~ Beta(a, b) (b > 1), via p = u^(1/a)."""
    const = 1.0 / (a * special.beta(a, b))

    def outer(u: float) -> float:
        p = u ** (1.0 / a)
        return (1 - p) ** (b - 1) * _gamma_expect(lambda lam: f(lam, p), r, alpha)

    val, _ = integrate.quad(outer, 0.0, 1.0, epsabs=0, epsrel=1e-10, limit=200)
    return const * val


def _two_gamma_expect(
    f: Callable[[float, float], float], r: float, alpha: float, s: float, beta: float
) -> float:
    def outer(w: float) -> float:
        mu = w ** (1.0 / s)
        return np.exp(-beta * mu) * _gamma_expect(lambda lam: f(lam, mu), r, alpha)

    upper = (60.0 / beta) ** s
    val, _ = integrate.quad(outer, 0.0, upper, epsabs=0, epsrel=1e-10, limit=200)
    return np.exp(s * np.log(beta) - special.gammaln(s)) / s * val


# ------------------------------------------------------------------------------ BG / MBG


def _bg_terms(x: int, tx: float, T: float, modified: bool) -> tuple[Callable, Callable]:
    """(alive-at-T term, dropped-out term) of the individual-level likelihood."""
    k = 1 if modified else 0

    def alive(lam: float, p: float) -> float:
        return (1 - p) ** (x + k) * lam**x * np.exp(-lam * T)

    def dead(lam: float, p: float) -> float:
        if x == 0 and not modified:
            return 0.0
        return p * (1 - p) ** (x - 1 + k) * lam**x * np.exp(-lam * tx)

    return alive, dead


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
@pytest.mark.parametrize(("x", "tx", "T"), CASES)
def test_beta_geo_likelihood_and_predictions_match_integration(
    cls: type, x: int, tx: float, T: float
) -> None:
    model = _fitted(cls, BG_PARAMS)
    p = BG_PARAMS
    alive, dead = _bg_terms(x, tx, T, cls is ModifiedBetaGeo)
    num_alive = _beta_gamma_expect(alive, p["r"], p["alpha"], p["a"], p["b"])
    num_dead = _beta_gamma_expect(dead, p["r"], p["alpha"], p["a"], p["b"])
    lik = num_alive + num_dead
    assert np.log(lik) == pytest.approx(float(model.log_likelihood([x], [tx], [T])[0]), abs=1e-8)
    assert float(model.probability_alive(x, tx, T)) == pytest.approx(num_alive / lik, rel=1e-8)

    t = 7.5
    num_future = _beta_gamma_expect(
        lambda lam, q: alive(lam, q) * (-np.expm1(-lam * q * t)) / q, p["r"], p["alpha"], p["a"], p["b"]
    )
    assert float(model.expected_purchases(t, x, tx, T)) == pytest.approx(num_future / lik, rel=1e-8)

    for n in (0, 1, 3):

        def pmf_alive(lam: float, q: float, n: int = n) -> float:
            mean = lam * t
            poisson_n = (
                math.exp(n * math.log(mean) - mean - math.lgamma(n + 1)) if mean > 0 else float(n == 0)
            )
            # P(Poisson(mean) >= n) is the regularised lower incomplete gamma function P(n, mean)
            leave = q * (1 - q) ** (n - 1) * special.gammainc(n, mean) if n > 0 else 0.0
            stay = (1 - q) ** n * poisson_n
            return alive(lam, q) * (stay + leave)

        num = _beta_gamma_expect(pmf_alive, p["r"], p["alpha"], p["a"], p["b"]) / lik
        if n == 0:
            num += num_dead / lik
        got = float(model.conditional_probability_n_purchases(n, t, x, tx, T))
        assert got == pytest.approx(num, rel=1e-7)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_beta_geo_new_customer_expectation_matches_integration(cls: type) -> None:
    model = _fitted(cls, BG_PARAMS)
    p = BG_PARAMS
    k = 1 if cls is ModifiedBetaGeo else 0
    for t in (0.5, 10.0, 80.0):
        num = _beta_gamma_expect(
            lambda lam, q, t=t: (1 - q) ** k * -np.expm1(-lam * q * t) / q, p["r"], p["alpha"], p["a"], p["b"]
        )
        assert float(model.expected_purchases_new_customer(t)) == pytest.approx(num, rel=1e-8)
    # P(X(t) = n) sums to one and its mean is E[X(t)]
    n = np.arange(0, 400)
    pmf = model.probability_n_purchases(n, 10.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    assert (n * pmf).sum() == pytest.approx(float(model.expected_purchases_new_customer(10.0)), rel=1e-9)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
@pytest.mark.parametrize("a", [0.3, 1.0, 1.0 + 1e-9, 2.7])
def test_beta_geo_conditional_pmf_is_consistent_with_expectation(cls: type, a: float) -> None:
    """Sum of the PMF is 1 and its mean equals the series-based conditional expectation (a = 1 included)."""
    model = _fitted(cls, {**BG_PARAMS, "a": a})
    n = np.arange(0, 600)[:, None]
    x, tx, T = np.array([0, 2, 15]), np.array([0.0, 3.0, 20.0]), np.array([10.0, 10.0, 30.0])
    for t in (1.0, 25.0):
        pmf = model.conditional_probability_n_purchases(n, t, x, tx, T)
        np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-10)
        np.testing.assert_allclose((n * pmf).sum(axis=0), model.expected_purchases(t, x, tx, T), rtol=1e-9)


# ------------------------------------------------------------------------------ Pareto/NBD


def _pnbd_alive(x: int, T: float) -> Callable[[float, float], float]:
    return lambda lam, mu: lam**x * np.exp(-(lam + mu) * T)


def _pnbd_dead(x: int, tx: float, T: float) -> Callable[[float, float], float]:
    # integral over the death time tau in (t_x, T] of lam^x e^(-lam tau) mu e^(-mu tau)
    def f(lam: float, mu: float) -> float:
        rate = lam + mu
        return lam**x * mu * np.exp(-rate * tx) * -np.expm1(-rate * (T - tx)) / rate

    return f


@pytest.mark.parametrize(
    "params",
    [PNBD_PARAMS, {**PNBD_PARAMS, "alpha": 9.0}, {**PNBD_PARAMS, "beta": PNBD_PARAMS["alpha"]}],
    ids=["alpha<beta", "alpha>beta", "alpha==beta"],
)
@pytest.mark.parametrize(("x", "tx", "T"), CASES)
def test_pareto_likelihood_and_predictions_match_integration(
    params: dict[str, float], x: int, tx: float, T: float
) -> None:
    model = _fitted(ParetoNBD, params)
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    num_alive = _two_gamma_expect(_pnbd_alive(x, T), r, alpha, s, beta)
    num_dead = _two_gamma_expect(_pnbd_dead(x, tx, T), r, alpha, s, beta)
    lik = num_alive + num_dead
    assert np.log(lik) == pytest.approx(float(model.log_likelihood([x], [tx], [T])[0]), abs=1e-8)
    assert float(model.probability_alive(x, tx, T)) == pytest.approx(num_alive / lik, rel=1e-8)
    t = 7.5
    alive = _pnbd_alive(x, T)
    num_future = _two_gamma_expect(
        lambda lam, mu: alive(lam, mu) * lam * -np.expm1(-mu * t) / mu, r, alpha, s, beta
    )
    assert float(model.expected_purchases(t, x, tx, T)) == pytest.approx(num_future / lik, rel=1e-8)


def test_pareto_new_customer_expectation_and_pmf() -> None:
    model = _fitted(ParetoNBD, PNBD_PARAMS)
    p = PNBD_PARAMS
    for t in (0.5, 10.0, 80.0):
        num = _two_gamma_expect(
            lambda lam, mu, t=t: lam * -np.expm1(-mu * t) / mu, p["r"], p["alpha"], p["s"], p["beta"]
        )
        assert float(model.expected_purchases_new_customer(t)) == pytest.approx(num, rel=1e-8)
    # s == 1 is a removable singularity of the closed form
    at_one = _fitted(ParetoNBD, {**PNBD_PARAMS, "s": 1.0})
    near_one = _fitted(ParetoNBD, {**PNBD_PARAMS, "s": 1.0 + 1e-7})
    assert float(at_one.expected_purchases_new_customer(10.0)) == pytest.approx(
        float(near_one.expected_purchases_new_customer(10.0)), rel=1e-6
    )
    n = np.arange(0, 400)[:, None]
    x, tx, T = np.array([0, 2, 15]), np.array([0.0, 3.0, 20.0]), np.array([10.0, 10.0, 30.0])
    pmf = model.conditional_probability_n_purchases(n, 12.0, x, tx, T)
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-8)
    np.testing.assert_allclose((n * pmf).sum(axis=0), model.expected_purchases(12.0, x, tx, T), rtol=1e-7)


# ------------------------------------------------------------------------------ Gamma-Gamma


def test_gamma_gamma_likelihood_and_mean_match_integration() -> None:
    p, q, v = 6.0, 3.7, 15.0
    model = _fitted(GammaGamma, {"p": p, "q": q, "v": v})
    for x, m in [(1, 20.0), (4, 35.5), (30, 12.0)]:
        # density of the mean of x Gamma(p, nu) values, mixed over nu ~ Gamma(q, v)
        def dens(nu: float, x: int = x, m: float = m) -> float:
            return x * stats.gamma.pdf(x * m, p * x, scale=1 / nu) * stats.gamma.pdf(nu, q, scale=1 / v)

        num, _ = integrate.quad(dens, 0, np.inf, epsrel=1e-11, limit=400)
        ll, _ = GammaGamma._loglik(np.array([p, q, v]), np.array([float(x)]), np.array([m]))
        assert ll[0] == pytest.approx(np.log(num), abs=1e-8)

        # E[M | x, m] = E[p / nu | data]; the posterior of nu is Gamma(px + q, v + x m)
        def post_mean(nu: float, x: int = x, m: float = m) -> float:
            return p / nu * dens(nu)

        mean, _ = integrate.quad(post_mean, 0, np.inf, epsrel=1e-11, limit=400)
        assert float(model.expected_average_value(x, m)) == pytest.approx(mean / num, rel=1e-8)


# ------------------------------------------------------------------------------ gradients


def _finite_difference(fun: Callable[[np.ndarray], float], params: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.empty(len(params))
    for j in range(len(params)):
        e = np.zeros(len(params))
        e[j] = h * params[j]
        grad[j] = (fun(params + e) - fun(params - e)) / (2 * e[j])
    return grad


RFT = (
    np.array([0, 1, 2, 7, 40, 10_000, 3, 1]),
    np.array([0, 1.5, 20.0, 25.0, 30.0, 38.0, 30.0, 30.0]),
    np.array([5.0, 30.0, 30.0, 25.0, 38.0, 38.0, 30.0 + 1e-9, 30.0]),
)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_beta_geo_gradient_matches_finite_differences(cls: type) -> None:
    x, tx, T = RFT
    params = np.array([0.3, 4.0, 0.8, 2.4])
    _, grad = cls._loglik(params, x, tx, T)
    fd = _finite_difference(lambda q: float(cls._loglik(q, x, tx, T)[0].sum()), params)
    np.testing.assert_allclose(grad.sum(axis=0), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("params", [(0.55, 10.6, 0.6, 11.7), (0.55, 12.0, 0.6, 3.0), (1.3, 5.0, 2.0, 5.0)])
def test_pareto_gradient_matches_finite_differences(params: tuple[float, ...]) -> None:
    x, tx, T = RFT
    data = _ParetoData(x.astype(float), tx, T)
    p = np.array(params)
    ll, grad = _pareto_loglik(p, data)
    assert np.isfinite(ll).all()
    fd = _finite_difference(lambda q: float(_pareto_loglik(q, data)[0].sum()), p)
    np.testing.assert_allclose(grad.sum(axis=0), fd, rtol=1e-6, atol=1e-5)


def test_gamma_gamma_gradient_matches_finite_differences() -> None:
    x = np.array([1.0, 2.0, 5.0, 80.0])
    m = np.array([10.0, 35.0, 12.5, 20.0])
    params = np.array([6.0, 3.7, 15.0])
    _, grad = GammaGamma._loglik(params, x, m)
    fd = _finite_difference(lambda q: float(GammaGamma._loglik(q, x, m)[0].sum()), params)
    np.testing.assert_allclose(grad.sum(axis=0), fd, rtol=1e-6)


# ------------------------------------------------------------------------------ series


def test_series_match_direct_hypergeometric() -> None:
    a1 = np.array([0.5, 3.0, 40.0])
    c = np.array([2.0, 3.5, 45.0])
    z = np.array([0.0, 0.3, 0.95])
    log_s, d_a1, d_c, d_z = ratio_series_with_gradient(a1, c, z)
    np.testing.assert_allclose(np.exp(log_s), special.hyp2f1(1.0, a1, c, z), rtol=1e-12)
    h = 1e-6
    for arr, deriv in ((a1, d_a1), (c, d_c), (z, d_z)):
        up, down = arr.copy(), arr.copy()
        up += h
        down -= h
        down = np.maximum(down, 0)
        args_up = [up if arr is v else v for v in (a1, c, z)]
        args_down = [down if arr is v else v for v in (a1, c, z)]
        fd = (ratio_series_with_gradient(*args_up)[0] - ratio_series_with_gradient(*args_down)[0]) / (
            up - down
        )
        np.testing.assert_allclose(deriv, fd, rtol=1e-6, atol=1e-8)
    # (2F1(a1, a-1; c; z) - 1) / (a - 1), here with a != 1 so scipy can be used as reference
    a1, a, c, z = (
        np.array([1.9, -1.5, 0.2]),
        np.array([0.79, 2.5, 1.3]),
        np.array([2.2, 1.0, 8.0]),
        np.array([0.5, 0.9, 0.2]),
    )
    expected = (special.hyp2f1(a1, a - 1, c, z) - 1) / (a - 1)
    np.testing.assert_allclose(shifted_tail_series(a1, a, c, z), expected, rtol=1e-11)


def test_gamma_gamma_sufficient_statistics_equal_the_per_row_sum() -> None:
    from orchestration.ml.clv.gamma_gamma import _SpendStatistics

    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, 500).astype(float)
    m = rng.gamma(3.0, 10.0, 500)
    w = rng.integers(1, 4, 500).astype(float)
    params = np.array([5.0, 3.2, 14.0])
    ll_rows, grad_rows = GammaGamma._loglik(params, x, m)
    total, grad = _SpendStatistics(x, m, w).total(params)
    assert total == pytest.approx(float(w @ ll_rows), rel=1e-12)
    np.testing.assert_allclose(grad, w @ grad_rows, rtol=1e-10)
