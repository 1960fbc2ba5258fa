"""Shared machinery of the CLV models: input validation, de-duplication, maximum likelihood.

Every model maximises a total log-likelihood over *unique* rows of its sufficient statistics,
weighted by how many customers share them. The optimiser works on log-parameters (so the
problem is unconstrained apart from wide safety bounds) with analytic gradients: L-BFGS-B,
or, for large inputs, BFGS started from a fit on a random subset and that subset's curvature.
Standard errors come from a central-difference Hessian of the analytic gradient.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from threadpoolctl import ThreadpoolController

FloatArray = NDArray[np.float64]

#: Bounds on the log-parameters: exp(±30) is far beyond any sensible model but keeps gammaln finite.
LOG_BOUND = 30.0


class ConvergenceError(RuntimeError):
    """The optimiser did not reach a maximum of the likelihood."""


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def as_float_array(values: ArrayLike, name: str) -> FloatArray:
    """Convert to a float64 array or raise a ValueError naming the argument."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def check_frequency(frequency: FloatArray, name: str = "frequency") -> None:
    if (frequency < 0).any():
        raise ValueError(f"{name} must be non-negative")
    if (frequency != np.floor(frequency)).any():
        raise ValueError(f"{name} must be integer-valued (number of repeat purchases)")


def validate_rft(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    positive_recency_when_repeat: bool,
    require_1d: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (frequency, recency, T) and broadcast them to a common shape.

    Rules (the BTYD definitions): frequency is a non-negative integer; 0 <= recency <= T;
    recency is 0 when frequency is 0 (no repeat purchase); for the BG/NBD family recency must
    be positive when frequency is positive (a repeat purchase happens after the first one and
    the model's likelihood has a term in ``alpha + recency`` that assumes it).
    """
    x = as_float_array(frequency, "frequency")
    tx = as_float_array(recency, "recency")
    t_end = as_float_array(T, "T")
    if require_1d:
        if x.ndim != 1 or tx.ndim != 1 or t_end.ndim != 1:
            raise ValueError("frequency, recency and T must be one-dimensional")
        if not (len(x) == len(tx) == len(t_end)):
            raise ValueError(
                f"frequency, recency and T must have the same length, got {len(x)}, {len(tx)}, {len(t_end)}"
            )
        if len(x) == 0:
            raise ValueError("cannot fit on empty input")
    else:
        try:
            x, tx, t_end = np.broadcast_arrays(x, tx, t_end)
        except ValueError as exc:
            raise ValueError(f"frequency, recency and T have incompatible shapes: {exc}") from exc
        if x.size == 0:
            raise ValueError("empty input")
    check_frequency(x)
    if (tx < 0).any():
        raise ValueError("recency must be non-negative")
    if (t_end < 0).any():
        raise ValueError("T must be non-negative")
    tol = 1e-9 * np.maximum(1.0, t_end)
    if (tx > t_end + tol).any():
        raise ValueError("recency must not exceed T (time of last purchase is after the end of observation)")
    tx = np.minimum(tx, t_end)
    if ((x == 0) & (tx != 0)).any():
        raise ValueError("recency must be 0 for customers with frequency 0 (no repeat purchase)")
    if positive_recency_when_repeat and ((x > 0) & (tx == 0)).any():
        raise ValueError(
            "recency must be positive when frequency is positive: a repeat purchase cannot happen "
            "at the time of the first purchase (purchases on the same day count once)"
        )
    return x, tx, t_end


def validate_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = as_float_array(weights, "weights")
    if w.ndim != 1 or len(w) != n:
        raise ValueError(f"weights must be one-dimensional with length {n}")
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    if w.sum() <= 0:
        raise ValueError("weights must have a positive sum")
    return w


def unique_row_codes(columns: Sequence[FloatArray]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Group code of every row of ``columns`` (in order of first appearance) and each group's first row.

    Each column is hashed with pd.factorize and the codes are combined column by column
    (re-factorised at each step so the combined key stays small): several times faster than
    np.unique(axis=0) or a multi-column groupby.
    """
    codes = pd.factorize(columns[0])[0].astype(np.int64)
    for col in columns[1:]:
        col_codes, uniques = pd.factorize(col)
        codes = pd.factorize(codes * len(uniques) + col_codes)[0].astype(np.int64)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = np.empty(n_groups, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def aggregate_unique(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows of ``columns`` and sum their weights (rows with weight 0 dropped).

    BTYD likelihoods depend on a customer only through a few sufficient statistics, so a
    million customers usually reduce to a few hundred thousand unique rows or fewer.
    """
    keep = weights > 0
    if not keep.all():
        columns, weights = [col[keep] for col in columns], weights[keep]
    codes, first = unique_row_codes(columns)
    summed = np.bincount(codes, weights=weights, minlength=len(first))
    return [np.asarray(col, dtype=np.float64)[first] for col in columns], summed


class FrequencyIndex:
    """Distinct frequencies of a set of rows and each row's position among them.

    Gamma and digamma terms of the BTYD likelihoods depend on the frequency alone, and a
    customer base has a few hundred distinct frequencies however many rows it has.
    """

    def __init__(self, frequency: FloatArray) -> None:
        self.values, inverse = np.unique(frequency, return_inverse=True)
        self.inverse = inverse.ravel()


def wrap_like(result: FloatArray, template: object) -> FloatArray | pd.Series:
    """Return a Series with the template's index when the template is a Series of the same length."""
    if isinstance(template, pd.Series) and result.shape == (len(template),):
        return pd.Series(result, index=template.index)
    return result


# --------------------------------------------------------------------------------------------
# maximum likelihood
# --------------------------------------------------------------------------------------------

#: Per-row log-likelihood and its gradient with respect to the natural parameters, shape (n, k).
LoglikFn = Callable[[FloatArray], tuple[FloatArray, FloatArray]]
#: Total (weighted) log-likelihood and its gradient with respect to the natural parameters.
TotalFn = Callable[[FloatArray], tuple[float, FloatArray]]


def weighted_total(loglik: LoglikFn, weights: FloatArray) -> TotalFn:
    """Turn a per-row log-likelihood into a weighted total."""

    def total(params: FloatArray) -> tuple[float, FloatArray]:
        ll, grad = loglik(params)
        return weighted_sum(ll, weights), weighted_column_sums(grad, weights)

    return total


def _objective(total_fn: TotalFn, n_customers: float) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Mean negative log-likelihood per customer and its gradient in log-parameter space."""

    def fun(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        ll, grad = total_fn(params)
        value = -ll / n_customers
        g = -grad * params / n_customers
        if not np.isfinite(value) or not np.isfinite(g).all():
            # Let the line search back off instead of propagating NaN into the optimiser state.
            return np.inf, np.zeros_like(log_params)
        return value, g

    return fun


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while fitting.

    scipy's L-BFGS-B calls BLAS on its small curvature matrices, which wakes OpenBLAS worker
    threads that then busy-wait; on a 2-core machine that doubled the wall time of a
    million-customer fit. Nothing in these models benefits from threaded BLAS.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def maximise_likelihood(
    total_fn: TotalFn,
    n_customers: float,
    x0: FloatArray,
    names: Sequence[str],
    model: str,
    check: bool = True,
    curvature: FloatArray | None = None,
) -> optimize.OptimizeResult:
    """Maximise a total log-likelihood over log-parameters, from natural ``x0``.

    The objective is the mean per customer (``n_customers`` = sum of weights), so tolerances
    do not depend on the size of the data. With ``curvature`` (the Hessian of that mean
    objective at a nearby point, e.g. from a subset fit) BFGS starts from its inverse and
    converges in a few steps; otherwise, or if that fails, L-BFGS-B with wide bounds is used.

    Raises ConvergenceError with scipy's message when the optimiser stops away from a
    stationary point. L-BFGS-B often ends with "ABNORMAL" line-search terminations once the
    objective is flat to machine precision; those are accepted when the gradient is tiny.
    With ``check=False`` (warm starts) the result is returned as it is.
    """
    fun = _objective(total_fn, n_customers)
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(x0)
    options = {"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 10}
    start = np.log(x0)
    with single_threaded_blas():
        res = None
        if curvature is not None:
            hess_inv = np.linalg.inv(curvature)
            hess_inv = (hess_inv + hess_inv.T) / 2
            res = optimize.minimize(
                fun,
                start,
                jac=True,
                method="BFGS",
                options={"gtol": 1e-9, "maxiter": 200, "hess_inv0": hess_inv},
            )
            if not res.success and np.isfinite(res.x).all() and (np.abs(res.x) < LOG_BOUND).all():
                start = res.x
        if res is None or not res.success:
            res = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
        for _ in range(3):
            if res.success or not check:
                break
            # Restarting discards a stale curvature memory, which usually unblocks the line search.
            res = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    if not check:
        return res
    value, grad = fun(res.x)
    grad_ok = np.isfinite(value) and float(np.max(np.abs(grad))) < 1e-5
    if not (res.success or grad_ok):
        raise ConvergenceError(
            f"{model} fit did not converge: scipy L-BFGS-B says {res.message!r} "
            f"(mean log-likelihood {-value:.6g}, max |gradient| {np.max(np.abs(grad)):.3g})"
        )
    at_bound = np.abs(res.x) >= LOG_BOUND - 1e-6
    if at_bound.any():
        stuck = ", ".join(n for n, b in zip(names, at_bound, strict=True) if b)
        warnings.warn(
            f"{model}: parameter(s) {stuck} ran to the edge of the search space (exp(±{LOG_BOUND:g})); "
            "the data do not identify them and their standard errors are meaningless",
            RuntimeWarning,
            stacklevel=3,
        )
    return res


#: Above twice this many unique rows, fits start from a fit on a random subset of this size.
WARM_START_ROWS = 20_000


def warm_start(
    make: Callable[[NDArray[np.int64]], tuple[TotalFn, float]],
    n_rows: int,
    x0: FloatArray,
    names: Sequence[str],
    model: str,
) -> tuple[FloatArray, FloatArray | None]:
    """Starting values and curvature from a fit on a random subset of rows, when there are many rows.

    ``make(rows)`` returns the total log-likelihood of those rows and their total weight.
    Returns the subset's estimates and the Hessian of its mean negative log-likelihood in
    log-parameters (None when there is no warm start or it is not positive definite), with
    which the full-data fit needs a handful of evaluations instead of a few dozen. The
    subset has a fixed seed, so fits stay deterministic; the full-data fit is checked as usual.
    """
    if n_rows <= 2 * WARM_START_ROWS:
        return x0, None
    rows = np.sort(np.random.default_rng(0).choice(n_rows, WARM_START_ROWS, replace=False))
    total_fn, n_customers = make(rows)
    res = maximise_likelihood(total_fn, n_customers, x0, names, model, check=False)
    start = np.exp(res.x)
    if not np.isfinite(start).all():
        return x0, None
    curvature = _log_hessian(total_fn, start) / n_customers
    try:
        np.linalg.cholesky(curvature)
    except np.linalg.LinAlgError:
        return start, None
    return start, curvature


def _log_hessian(total_fn: TotalFn, params: FloatArray, step: float = 1e-5) -> FloatArray:
    """Hessian of the negative total log-likelihood in log-parameters (central differences)."""
    k = len(params)
    log_params = np.log(params)

    def grad_log(lp: FloatArray) -> FloatArray:
        p = np.exp(lp)
        return -total_fn(p)[1] * p

    hess = np.empty((k, k))
    with single_threaded_blas():
        for j in range(k):
            e = np.zeros(k)
            e[j] = step
            hess[:, j] = (grad_log(log_params + e) - grad_log(log_params - e)) / (2 * step)
    return (hess + hess.T) / 2


def covariance_from_gradient(
    total_fn: TotalFn, params: FloatArray, model: str, step: float = 1e-5
) -> FloatArray:
    """Covariance of the natural parameters: inverse Hessian of the total negative log-likelihood.

    The Hessian is taken in log-parameter space by central differences of the analytic
    gradient, inverted, and mapped to the natural scale by the delta method
    (cov_theta = diag(theta) cov_log diag(theta)), which equals the inverse natural-scale
    Hessian at a stationary point.
    """
    k = len(params)
    hess = _log_hessian(total_fn, params, step)
    try:
        chol = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        warnings.warn(
            f"{model}: the Hessian of the negative log-likelihood is not positive definite at the "
            "optimum; standard errors are NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.full((k, k), np.nan)
    inv_chol = np.linalg.inv(chol)
    cov_log = inv_chol.T @ inv_chol
    return cov_log * np.outer(params, params)


class FittedModel:
    """Common attributes of fitted models (scikit-learn style trailing underscores)."""

    _param_names: tuple[str, ...] = ()
    _model_name: str = ""

    params_: dict[str, float]
    log_likelihood_: float
    standard_errors_: dict[str, float]
    covariance_: pd.DataFrame
    n_customers_: float
    n_unique_: int
    optimizer_result_: optimize.OptimizeResult

    def _check_fitted(self) -> FloatArray:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit() first")
        return np.array([self.params_[n] for n in self._param_names])

    def _store(self, params: FloatArray, ll: float, cov: FloatArray, res: optimize.OptimizeResult) -> None:
        names = list(self._param_names)
        self.params_ = {n: float(v) for n, v in zip(names, params, strict=True)}
        self.log_likelihood_ = float(ll)
        self.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = {n: float(np.sqrt(cov[i, i])) for i, n in enumerate(names)}
        self.optimizer_result_ = res

    @property
    def summary_(self) -> pd.DataFrame:
        """Estimates, standard errors and Wald 95 % intervals."""
        self._check_fitted()
        est = pd.Series(self.params_)
        se = pd.Series(self.standard_errors_)
        return pd.DataFrame(
            {"estimate": est, "standard_error": se, "lower_95": est - 1.96 * se, "upper_95": est + 1.96 * se}
        )

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}()"
        inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({inner}, log_likelihood={self.log_likelihood_:.2f})"


# The reductions below avoid BLAS on purpose: a BLAS dot / gemv on 10^5-10^6 rows wakes
# OpenBLAS worker threads that then spin, which on small machines costs more CPU than the sum.


def weighted_sum(values: FloatArray, weights: FloatArray) -> float:
    return float(np.sum(values * weights))


def weighted_column_sums(matrix: FloatArray, weights: FloatArray) -> FloatArray:
    """weights @ matrix for an (n, k) matrix, without BLAS."""
    return np.sum(matrix * weights[:, None], axis=0)


def weighted_mean(values: FloatArray, weights: FloatArray) -> float:
    return weighted_sum(values, weights) / float(np.sum(weights))
