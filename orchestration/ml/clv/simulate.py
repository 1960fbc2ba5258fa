"""Exact simulators of the BTYD generative processes, for tests, benchmarks and teaching.

All are vectorised and exact (no time stepping): the Poisson purchase events in an interval
are uniformly distributed, so the number falling in the calibration period is binomial and
the last one's time is an order statistic (a beta-distributed fraction of the period).
Each returns a DataFrame with ``frequency``, ``recency``, ``T`` and, when ``holdout > 0``,
``frequency_holdout`` (purchases in (T, T + holdout]) plus the latent per-customer draws and
``alive_at_T``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def _split_events(
    rng: np.random.Generator, k_total: np.ndarray, active: np.ndarray, T: np.ndarray, made: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibration frequency, recency and holdout count from events uniform on [0, active].

    ``k_total`` events happen on [0, active]; the customer makes the first ``made`` of them
    (``made`` <= ``k_total``). Returns x (made in [0, T]), t_x and the holdout count.
    """
    cal_len = np.minimum(T, active)
    frac = np.divide(cal_len, active, out=np.ones_like(active), where=active > 0)
    k_cal = rng.binomial(k_total, np.clip(frac, 0.0, 1.0))
    x = np.minimum(k_cal, made)
    # x-th order statistic of k_cal uniforms on [0, cal_len]: Beta(x, k_cal - x + 1).
    has = x > 0
    tx = np.zeros(len(x))
    tx[has] = cal_len[has] * rng.beta(x[has], k_cal[has] - x[has] + 1)
    return x, tx, made - x


def simulate_beta_geo(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,
    holdout: float = 0.0,
    modified: bool = False,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate BG/NBD (or MBG/NBD when ``modified``) customers observed for ``T`` after their first purchase.

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b). The customer dies right after the N-th
    repeat purchase, N ~ Geometric(p) on {1, 2, ...} (MBG: on {0, 1, ...}, 0 meaning death
    right after the first purchase).
    """
    rng = np.random.default_rng(seed)
    t_end = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    n_life = rng.geometric(np.clip(p, 1e-300, 1.0)) - (1 if modified else 0)
    horizon = t_end + holdout
    k_total = rng.poisson(lam * horizon)
    made = np.minimum(k_total, n_life)
    x, tx, x_hold = _split_events(rng, k_total, horizon, t_end, made)
    out = pd.DataFrame({"frequency": x, "recency": tx, "T": t_end, "lambda": lam, "p": p})
    out["alive_at_T"] = x < n_life  # death comes right after the n_life-th repeat purchase
    if holdout > 0:
        out["frequency_holdout"] = x_hold
    return out


def simulate_pareto_nbd(
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: ArrayLike,
    holdout: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate Pareto/NBD customers: lambda ~ Gamma(r, alpha), lifetime ~ Exp(mu), mu ~ Gamma(s, beta)."""
    rng = np.random.default_rng(seed)
    t_end = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0 / np.maximum(mu, 1e-300))
    active = np.minimum(lifetime, t_end + holdout)
    k_total = rng.poisson(lam * active)
    x, tx, x_hold = _split_events(rng, k_total, active, t_end, k_total)
    out = pd.DataFrame(
        {"frequency": x, "recency": tx, "T": t_end, "lambda": lam, "mu": mu, "lifetime": lifetime}
    )
    out["alive_at_T"] = lifetime > t_end
    if holdout > 0:
        out["frequency_holdout"] = x_hold
    return out


def simulate_gamma_gamma(
    frequency: ArrayLike, p: float, q: float, v: float, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Mean spend of ``frequency`` transactions per customer (0 where frequency is 0).

    nu ~ Gamma(q, rate v); each transaction ~ Gamma(p, rate nu), so their sum is Gamma(p x, nu).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / v, x.shape)
    out = np.zeros(x.shape)
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / nu[pos]) / x[pos]
    return out
