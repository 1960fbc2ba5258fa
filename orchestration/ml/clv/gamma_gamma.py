"""Gamma-Gamma model of spend per transaction, and customer lifetime value.

Sources
-------
* P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "RFM and CLV: using iso-value curves for
  customer base analysis", Journal of Marketing Research 42(4), 415-430 (section on the
  spend model; CDNOW estimates p = 6.25, q = 3.74, gamma = 15.44).
* P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma model of monetary value",
  http://brucehardie.com/notes/025/ : likelihood (eq. 3) and conditional mean (eq. 5).

Each transaction value of a customer is Gamma(p, nu) (shape, rate); across customers
nu ~ Gamma(q, v). With x repeat transactions of mean m_x, x m_x ~ Gamma(p x, nu), so

    log f(m_x | x) = lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m_x + px ln x - (px+q) ln(v + x m_x)

and E[M | x, m_x] = p (v + x m_x) / (p x + q - 1), a weighted mean of the population mean
p v / (q - 1) and the customer's own m_x. It only exists when p x + q > 1; for q <= 1 the
population mean is infinite, which is why CLV tools show negative or exploding values then.
Here those cases raise instead.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from orchestration.ml.clv._common import (
    FittedModel,
    FloatArray,
    FrequencyIndex,
    TotalFn,
    as_float_array,
    check_frequency,
    covariance_from_gradient,
    maximise_likelihood,
    unique_row_codes,
    validate_weights,
    warm_start,
    weighted_mean,
    weighted_sum,
    wrap_like,
)
from orchestration.ml.clv.data import DAYS_PER_UNIT

#: Weeks per month (365.25 / 12 / 7), matching summaries built with freq="W".
WEEKS_PER_MONTH = DAYS_PER_UNIT["M"] / DAYS_PER_UNIT["W"]


def _validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike, require_1d: bool
) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if require_1d:
        if x.ndim != 1 or m.ndim != 1 or len(x) != len(m):
            raise ValueError("frequency and monetary_value must be one-dimensional and of the same length")
        if len(x) == 0:
            raise ValueError("cannot fit on empty input")
    else:
        x, m = np.broadcast_arrays(x, m)
    check_frequency(x)
    if (m < 0).any():
        raise ValueError("monetary_value must be non-negative")
    if ((x > 0) & (m <= 0)).any():
        raise ValueError(
            "monetary_value must be positive for customers with repeat purchases (frequency > 0): "
            "the Gamma-Gamma model describes positive spends; drop or fix zero-value customers"
        )
    return x, m


class _SpendStatistics:
    """What the Gamma-Gamma log-likelihood of weighted rows (x, m) depends on.

    With A(u) = lnG(pu+q) - lnG(pu) - lnG(q) + pu ln u and W_u the weight at frequency u,

        log L = sum_u W_u A(u) + q ln(v) sum w + p sum w x ln m - sum w ln m - sum w (p x + q) ln(x m + v),

    so an evaluation needs the gamma functions once per distinct frequency and, per row, one
    logarithm and one division (for the gradient in v).
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.index = FrequencyIndex(x)
        self.w_by_x = np.bincount(self.index.inverse, weights=w)
        self.w_total = float(np.sum(w))
        self.w, self.wx, self.xm = w, w * x, x * m
        log_m = np.log(m)
        self.wx_log_m = weighted_sum(log_m, self.wx)
        self.w_log_m = weighted_sum(log_m, w)

    def total(self, params: FloatArray) -> tuple[float, FloatArray]:
        p, q, v = params
        ux, w_u, w_total = self.index.values, self.w_by_x, self.w_total
        pux = p * ux
        log_ux = np.log(ux)
        psi = digamma(pux + q)
        y = self.xm + v
        log_y = np.log(y)
        inv_y = 1.0 / y
        wx_log_y, w_log_y = weighted_sum(log_y, self.wx), weighted_sum(log_y, self.w)
        log_v = np.log(v)
        ll = (
            weighted_sum(gammaln(pux + q) - gammaln(pux) + pux * log_ux, w_u)
            - w_total * gammaln(q)
            + q * log_v * w_total
            + p * self.wx_log_m
            - self.w_log_m
            - p * wx_log_y
            - q * w_log_y
        )
        grad = np.array(
            [
                weighted_sum(ux * (psi - digamma(pux) + log_ux), w_u) + self.wx_log_m - wx_log_y,
                weighted_sum(psi, w_u) - w_total * digamma(q) + w_total * log_v - w_log_y,
                q * w_total / v - p * weighted_sum(inv_y, self.wx) - q * weighted_sum(inv_y, self.w),
            ]
        )
        return ll, grad


class GammaGamma(FittedModel):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005). Parameters p, q, v."""

    _param_names = ("p", "q", "v")
    _model_name = "Gamma-Gamma"

    @staticmethod
    def _loglik(
        params: FloatArray,
        x: FloatArray,
        m: FloatArray,
        index: FrequencyIndex | None = None,
        log_m: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Per-row log-likelihood and gradient (columns p, q, v); gamma terms once per frequency."""
        p, q, v = params
        if index is None:
            index = FrequencyIndex(x)
        if log_m is None:
            log_m = np.log(m)
        ux = index.values
        pux = p * ux
        log_ux = np.log(ux)
        psi_pxq = digamma(pux + q)
        per_x = np.empty((3, ux.size))
        per_x[0] = gammaln(pux + q) - gammaln(pux) - gammaln(q) + pux * log_ux
        per_x[1] = ux * (psi_pxq - digamma(pux) + log_ux)
        per_x[2] = psi_pxq - digamma(q)
        lt_x, gp_x, gq_x = per_x[:, index.inverse]
        px = p * x
        xm_v = x * m + v
        log_xm_v = np.log(xm_v)
        log_v = np.log(v)
        ll = lt_x + q * log_v + (px - 1) * log_m - (px + q) * log_xm_v
        grad = np.empty((3, x.size))
        grad[0] = gp_x + x * (log_m - log_xm_v)
        grad[1] = gq_x + log_v - log_xm_v
        grad[2] = q / v - (px + q) / xm_v
        return ll, grad.T

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> Self:
        """Maximum likelihood estimates of (p, q, v) from customers with frequency > 0.

        Customers with no repeat purchase carry no spend information and are ignored (their
        monetary_value may be 0). ``monetary_value`` is the mean value of the repeat
        purchases, as produced by summary_from_transactions. ``log_likelihood_`` is the total
        log density of the observed mean spends, in the currency of the input.
        """
        x, m = _validate_spend(frequency, monetary_value, require_1d=True)
        w = validate_weights(weights, len(x))
        keep = x > 0
        if not keep.any():
            raise ValueError("Gamma-Gamma needs at least one customer with frequency > 0")
        keep &= w > 0
        if not keep.any():
            raise ValueError("all customers with frequency > 0 have weight 0")
        x, m, w = x[keep], m[keep], w[keep]
        # Spends are rescaled to mean 1 for the optimiser; (p, q, v) = (1, 2, 1) matches that mean.
        # Rows are not collapsed: spends are continuous, and an evaluation is one pass anyway.
        scale = weighted_mean(m, w)
        ms = m / scale
        x0 = np.array([1.0, 2.0, 1.0])
        names, model = self._param_names, self._model_name

        def subset(rows: NDArray[np.int64]) -> tuple[TotalFn, float]:
            return _SpendStatistics(x[rows], ms[rows], w[rows]).total, float(w[rows].sum())

        x0, curvature = warm_start(subset, len(x), x0, names, model)
        n_customers = float(w.sum())
        res = maximise_likelihood(
            _SpendStatistics(x, ms, w).total, n_customers, x0, names, model, curvature=curvature
        )
        params = np.exp(res.x)
        params[2] *= scale
        total = _SpendStatistics(x, m, w).total
        ll = total(params)[0]
        cov = covariance_from_gradient(total, params, model)
        self._store(params, ll, cov, res)
        self.n_customers_ = float(w.sum())
        self.n_unique_ = len(x)
        return self

    def expected_average_value(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[M | x, m_x] = p (v + x m_x) / (p x + q - 1) (Fader & Hardie 2013, eq. 5).

        For frequency 0 this is the population mean p v / (q - 1). Raises ValueError where the
        conditional mean does not exist (p x + q <= 1, e.g. any frequency-0 customer when q <= 1).
        """
        p, q, v = self._check_fitted()
        x, m = _validate_spend(frequency, monetary_value, require_1d=False)
        denom = p * x + q - 1.0
        if (denom <= 0).any():
            raise ValueError(
                f"expected average value is undefined (infinite) where p*frequency + q <= 1 "
                f"(p={p:.4g}, q={q:.4g}); the population mean spend p*v/(q-1) does not exist when q <= 1"
            )
        m_eff = np.where(x > 0, m, 0.0)
        return wrap_like(p * (v + x * m_eff) / denom, frequency)

    def customer_lifetime_value(
        self,
        transaction_model: FittedModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        horizon_months: int = 12,
        discount_rate_monthly: float = 0.01,
        freq_units_per_month: float = WEEKS_PER_MONTH,
        chunk_size: int = 250_000,
    ) -> FloatArray:
        """Discounted expected value of each customer's purchases over the next ``horizon_months``.

        CLV = E[M | x, m_x] * sum_{k=1..H} (E[Y(k u) | x, t_x, T] - E[Y((k-1) u) | x, t_x, T]) / (1+d)^k

        with u = ``freq_units_per_month`` time units per month (default: weeks per month, for
        summaries in weeks; use 1 for "M" and 365.25/12 for "D") and d the monthly discount
        rate. This is lifetimes' ``customer_lifetime_value`` computed for all months at once, once
        per distinct (frequency, recency, T), in chunks to bound memory.
        """
        if horizon_months < 1 or int(horizon_months) != horizon_months:
            raise ValueError("horizon_months must be a positive integer")
        if discount_rate_monthly <= -1:
            raise ValueError("discount_rate_monthly must be greater than -1")
        if freq_units_per_month <= 0:
            raise ValueError("freq_units_per_month must be positive")
        if not hasattr(transaction_model, "expected_purchases"):
            raise ValueError("transaction_model must be a fitted BetaGeo, ModifiedBetaGeo or ParetoNBD")
        value = np.asarray(self.expected_average_value(frequency, monetary_value), dtype=np.float64)
        x = as_float_array(frequency, "frequency")
        tx = as_float_array(recency, "recency")
        t_end = as_float_array(T, "T")
        x, tx, t_end, value = np.broadcast_arrays(x, tx, t_end, value)
        shape = x.shape
        # discounted expected purchases depend on (frequency, recency, T) only
        codes, first = unique_row_codes([x.ravel(), tx.ravel(), t_end.ravel()])
        ux, utx, u_end = x.ravel()[first], tx.ravel()[first], t_end.ravel()[first]
        months = np.arange(1, int(horizon_months) + 1, dtype=np.float64)
        times = np.concatenate([[0.0], months * freq_units_per_month])[:, None]
        discount = (1.0 + discount_rate_monthly) ** -months
        purchases = np.empty(ux.size)
        for start in range(0, ux.size, chunk_size):
            sl = slice(start, start + chunk_size)
            cum = np.asarray(transaction_model.expected_purchases(times, ux[sl], utx[sl], u_end[sl]))
            purchases[sl] = discount @ np.diff(cum, axis=0)
        out = value.ravel() * purchases[codes]
        return wrap_like(out.reshape(shape), frequency)
