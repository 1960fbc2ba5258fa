"""Pareto/NBD transaction model.

Sources
-------
* D. C. Schmittlein, D. G. Morrison, R. Colombo (1987), "Counting your customers: who are
  they and what will they do next?", Management Science 33(1), 1-24.
* P. S. Fader, B. G. S. Hardie (2005), "A note on deriving the Pareto/NBD model and related
  expressions", http://brucehardie.com/notes/009/ : likelihood (eqs. 16-22), P(alive)
  (eq. 23), E[X(t)] (eq. 17 of the original paper), E[Y(t) | x, t_x, T] (eq. 26).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); the lifetime is
exponential with rate mu ~ Gamma(s, beta). Following the note, integrating over the unknown
death time tau in (t_x, T],

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s I ],
    I = integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau = G(t_x) - G(T),
    G(y) = integral_y^inf (alpha+tau)^-p (beta+tau)^-q dtau,   p = r+x, q = s+1.

The note writes G with 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+y)) (or the mirror
image when alpha < beta) and subtracts two of them, which loses all precision when
t_x -> T and overflows for large x. Here G uses Euler's transformation of that function,

    alpha >= beta:  G = A^-p B^-s / (p+s) * 2F1(1, p; p+s+1; (alpha-beta)/A),
    alpha <  beta:  G = B^-(s+1) A^-(p-1) / (p+s) * 2F1(1, s+1; p+s+1; (beta-alpha)/B),

with A = alpha + y, B = beta + y: series of positive terms with ratio below z < 1, summed in
``ratio_series_with_gradient`` together with their parameter derivatives. log I is then
log G(t_x) + log(1 - G(T)/G(t_x)) (exactly -inf when t_x = T, where the second term of L
vanishes), so recency == T, alpha == beta and frequencies in the tens of thousands are all
finite. Gradients are analytic.
"""

from __future__ import annotations

import copy
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln

from orchestration.ml.clv._common import (
    FittedModel,
    FloatArray,
    FrequencyIndex,
    TotalFn,
    aggregate_unique,
    as_float_array,
    check_frequency,
    covariance_from_gradient,
    maximise_likelihood,
    unique_row_codes,
    validate_rft,
    validate_weights,
    warm_start,
    weighted_mean,
    weighted_total,
    wrap_like,
)
from orchestration.ml.clv._series import ratio_series_with_gradient


def log_tail_integral(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log G(y) for p = r + x, q = s + 1 and its gradient (columns r, alpha, s, beta)."""
    p = r + x
    A = alpha + y
    B = beta + y
    log_a = np.log(A)
    log_b = np.log(B)
    grad = np.empty((4, x.size))
    inv_ps = 1.0 / (p + s)
    if alpha >= beta:
        z = (alpha - beta) / A
        log_s, d_a1, d_c, d_z = ratio_series_with_gradient(p, p + s + 1.0, z)
        log_g = -p * log_a - s * log_b - np.log(p + s) + log_s
        grad[0] = -log_a - inv_ps + d_a1 + d_c
        grad[1] = -p / A + d_z * B / A**2
        grad[2] = -log_b - inv_ps + d_c
        grad[3] = -s / B - d_z / A
    else:
        w = (beta - alpha) / B
        log_s, d_a1, d_c, d_z = ratio_series_with_gradient(np.full_like(p, s + 1.0), p + s + 1.0, w)
        log_g = -(s + 1.0) * log_b - (p - 1.0) * log_a - np.log(p + s) + log_s
        grad[0] = -log_a - inv_ps + d_c
        grad[1] = -(p - 1.0) / A - d_z / B
        grad[2] = -log_b - inv_ps + d_a1 + d_c
        grad[3] = -(s + 1.0) / B + d_z * A / B**2
    return log_g, grad.T


class _ParetoData:
    """Rows plus what is shared between rows: distinct (x, y) pairs for G and distinct frequencies."""

    def __init__(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> None:
        self.x, self.tx, self.T = x, tx, T
        n = x.size
        both_x, both_y = np.concatenate([x, x]), np.concatenate([tx, T])
        codes, first = unique_row_codes([both_x, both_y])
        self.ux, self.uy = both_x[first], both_y[first]
        self.i_tx, self.i_T = codes[:n], codes[n:]
        self.at_end = tx == T
        self.freq = FrequencyIndex(x)

    def rescaled(self, scale: float) -> _ParetoData:
        """The same rows with times divided by ``scale`` (the groupings are unchanged)."""
        out = copy.copy(self)
        out.tx, out.T, out.uy = self.tx / scale, self.T / scale, self.uy / scale
        return out


def _pareto_loglik(params: FloatArray, data: _ParetoData) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and gradient (columns r, alpha, s, beta)."""
    r, alpha, s, beta = params
    x, T = data.x, data.T
    rx = r + x
    log_g, g_grad = log_tail_integral(r, alpha, s, beta, data.ux, data.uy)
    g_grad = g_grad.T  # (4, unique pairs), contiguous
    lg_tx, lg_T = log_g[data.i_tx], log_g[data.i_T]
    gr_tx, gr_T = g_grad[:, data.i_tx], g_grad[:, data.i_T]
    delta = np.minimum(lg_T - lg_tx, 0.0)
    inner = data.at_end | (delta == 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        one_minus = -np.expm1(delta)
        log_i = np.where(inner, -np.inf, lg_tx + np.log(one_minus))
        # d log I = (dlogG(t_x) - e^delta dlogG(T)) / (1 - e^delta)
        d_log_i = (gr_tx - np.exp(delta) * gr_T) / one_minus
    d_log_i[:, inner] = 0.0
    ux = data.freq.values
    per_x = np.empty((2, ux.size))
    per_x[0] = gammaln(r + ux) - gammaln(r)
    per_x[1] = digamma(r + ux) - digamma(r)
    lt_x, gr_x = per_x[:, data.freq.inverse]
    log_alpha, log_beta = np.log(alpha), np.log(beta)
    log_at = np.log(alpha + T)
    log_bt = np.log(beta + T)
    e1 = -rx * log_at - s * log_bt
    e2 = np.log(s) + log_i
    v = expit(e2 - e1)  # posterior probability of death before T
    ll = lt_x + r * log_alpha + s * log_beta + np.logaddexp(e1, e2)
    alive = 1.0 - v
    grad = np.empty((4, x.size))
    grad[0] = gr_x + log_alpha - alive * log_at + v * d_log_i[0]
    grad[1] = r / alpha - alive * rx / (alpha + T) + v * d_log_i[1]
    grad[2] = log_beta - alive * log_bt + v * (1.0 / s + d_log_i[2])
    grad[3] = s / beta - alive * s / (beta + T) + v * d_log_i[3]
    return ll, grad.T


class ParetoNBD(FittedModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987). Parameters r, alpha, s, beta."""

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> Self:
        """Maximum likelihood estimates of (r, alpha, s, beta); see BetaGeo.fit for conventions."""
        x, tx, t_end = validate_rft(
            frequency, recency, T, positive_recency_when_repeat=False, require_1d=True
        )
        w = validate_weights(weights, len(x))
        (x, tx, t_end), w = aggregate_unique([x, tx, t_end], w)
        scale = weighted_mean(t_end, w) or 1.0
        data = _ParetoData(x, tx, t_end)
        scaled = data.rescaled(scale)
        mean_x = weighted_mean(x, w)
        x0 = np.array([1.0, 1.0 / max(mean_x, 0.05), 1.0, 1.0])

        def subset(rows: NDArray[np.int64]) -> tuple[TotalFn, float]:
            sub = _ParetoData(x[rows], tx[rows], t_end[rows]).rescaled(scale)
            return weighted_total(lambda p: _pareto_loglik(p, sub), w[rows]), float(w[rows].sum())

        names, model = self._param_names, self._model_name
        x0, curvature = warm_start(subset, len(x), x0, names, model)
        n_customers = float(w.sum())
        res = maximise_likelihood(
            weighted_total(lambda p: _pareto_loglik(p, scaled), w),
            n_customers,
            x0,
            names,
            model,
            curvature=curvature,
        )
        params = np.exp(res.x)
        params[[1, 3]] *= scale
        total = weighted_total(lambda p: _pareto_loglik(p, data), w)
        ll = total(params)[0]
        cov = covariance_from_gradient(total, params, model)
        self._store(params, ll, cov, res)
        self.n_customers_ = float(w.sum())
        self.n_unique_ = len(x)
        return self

    def _validate(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
        return validate_rft(frequency, recency, T, positive_recency_when_repeat=False, require_1d=False)

    def _log_odds_dead(self, params: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        shape = x.shape
        data = _ParetoData(x.ravel(), tx.ravel(), T.ravel())
        r, alpha, s, beta = params
        log_g, _ = log_tail_integral(r, alpha, s, beta, data.ux, data.uy)
        lg_tx, lg_T = log_g[data.i_tx], log_g[data.i_T]
        delta = np.minimum(lg_T - lg_tx, 0.0)
        with np.errstate(divide="ignore"):
            log_i = np.where(data.at_end | (delta == 0), -np.inf, lg_tx + np.log(-np.expm1(delta)))
        e1 = -(r + data.x) * np.log(alpha + data.T) - s * np.log(beta + data.T)
        return (np.log(s) + log_i - e1).reshape(shape)

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        params = self._check_fitted()
        x, tx, t_end = self._validate(frequency, recency, T)
        ll, _ = _pareto_loglik(params, _ParetoData(x.ravel(), tx.ravel(), t_end.ravel()))
        return wrap_like(ll.reshape(x.shape), frequency)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T) (Fader & Hardie 2005 note, eq. 23)."""
        params = self._check_fitted()
        x, tx, t_end = self._validate(frequency, recency, T)
        return wrap_like(expit(-self._log_odds_dead(params, x, tx, t_end)), frequency)

    @staticmethod
    def _alive_expectation(
        t: FloatArray, R: FloatArray, A: FloatArray, s: float, B: FloatArray
    ) -> FloatArray:
        """E[purchases in (0, t]] given alive, lambda ~ Gamma(R, A), mu ~ Gamma(s, B).

        = (R / A) * E[(1 - exp(-mu t)) / mu] = (R / A) * B / (s-1) * [1 - (B / (B+t))^(s-1)],
        written as (R B / A) * (1 - exp(-(s-1) u)) / (s-1) with u = log(1 + t/B): regular at s = 1.
        """
        u = np.log1p(np.asarray(t, dtype=np.float64) / B)
        k = s - 1.0
        h = u if k == 0 else -np.expm1(-k * u) / k
        return R * B / A * h

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 26).

        = P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T) / (beta+T+t))^(s-1)].
        """
        r, alpha, s, beta = params = self._check_fitted()
        x, tx, t_end = self._validate(frequency, recency, T)
        t_arr = self._check_t(t)
        p_alive = expit(-self._log_odds_dead(params, x, tx, t_end))
        return wrap_like(
            p_alive * self._alive_expectation(t_arr, r + x, alpha + t_end, s, beta + t_end), frequency
        )

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta / (beta+t))^(s-1)] (SMC 1987)."""
        r, alpha, s, beta = self._check_fitted()
        return self._alive_expectation(
            self._check_t(t), np.float64(r), np.float64(alpha), s, np.float64(beta)
        )

    def conditional_probability_n_purchases(
        self,
        n: ArrayLike,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        quadrature_nodes: int = 64,
    ) -> FloatArray:
        """P(Y(t) = n | x, t_x, T) by one-dimensional quadrature over the death time.

        Given alive at T, lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T) independently;
        P(n) = P(alive) [ E e^(-mu t) NB(n; t) + integral_0^t E(mu e^(-mu tau)) NB(n; tau) dtau ]
        + [n = 0] P(dead), with NB(n; tau) the negative binomial P(n events in tau). The
        integral is done with Gauss-Legendre nodes in u = log(1 + tau / (beta+T)).
        """
        r, alpha, s, beta = params = self._check_fitted()
        x, tx, t_end = self._validate(frequency, recency, T)
        n_arr = as_float_array(n, "n")
        check_frequency(n_arr, "n")
        t_arr = self._check_t(t)
        p_alive = expit(-self._log_odds_dead(params, x, tx, t_end))
        R, A, B = r + x, alpha + t_end, beta + t_end
        R, A, B, n_arr, t_arr, p_alive = np.broadcast_arrays(R, A, B, n_arr, t_arr, p_alive)

        def log_nb(k: FloatArray, tau: FloatArray) -> FloatArray:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_frac = np.where(k > 0, k * np.log(tau / (A + tau)), 0.0)
            return gammaln(R + k) - gammaln(R) - gammaln(k + 1) + R * np.log(A / (A + tau)) + log_frac

        survive = np.exp(s * (np.log(B) - np.log(B + t_arr)) + log_nb(n_arr, t_arr))
        nodes, weights = np.polynomial.legendre.leggauss(quadrature_nodes)
        u_max = np.log1p(t_arr / B)
        integral = np.zeros_like(survive)
        for node, weight in zip(nodes, weights, strict=True):
            u = (node + 1) / 2 * u_max
            tau = B * np.expm1(u)
            # E[mu e^(-mu tau)] dtau with dtau = (B + tau) du: s (B / (B + tau))^s du
            dens = s * np.exp(s * (np.log(B) - np.log(B + tau)))
            integral += weight / 2 * u_max * dens * np.exp(log_nb(n_arr, tau))
        out = np.where(n_arr == 0, 1.0 - p_alive, 0.0) + p_alive * (survive + integral)
        return wrap_like(out, frequency)

    @staticmethod
    def _check_t(t: ArrayLike) -> FloatArray:
        t_arr = as_float_array(t, "t")
        if (t_arr < 0).any():
            raise ValueError("t must be non-negative")
        return t_arr
