"""Gauss hypergeometric series evaluated after transformations that make them well behaved.

scipy.special.hyp2f1 is not usable for BTYD quantities as written in the papers: for large
frequencies the parameters are large and it returns NaN (e.g. hyp2f1(0.5, -0.2, 10000.3,
0.999)), and the textbook Pareto/NBD expression subtracts two such values. The models
therefore only call the two series below, whose terms are bounded and decay at least
geometrically with ratio ``z < 1``; they are summed vectorised, dropping converged elements.
"""

from __future__ import annotations

import warnings

import numpy as np

from orchestration.ml.clv._common import FloatArray

MAX_TERMS = 100_000
_CHECK_EVERY = 4


def ratio_series_with_gradient(
    a1: FloatArray, c: FloatArray, z: FloatArray, tol: float = 1e-17
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """S = sum_{n>=0} (a1)_n / (c)_n z^n = 2F1(1, a1; c; z) for 0 < a1 < c, 0 <= z < 1.

    All terms are positive and each is at most ``z`` times the previous one, so there is no
    cancellation. Returns (log S, d log S / d a1, d log S / d c, d log S / d z).

    The derivatives use d u_n / d a1 = u_n sum_{k<n} 1/(a1+k) and similarly for c. The loop
    stops for an element when the remaining tail, bounded by u_n (n+1) / (1-z)^2 relative to
    S, is below ``tol``.
    """
    a1, c, z = np.broadcast_arrays(np.asarray(a1, float), np.asarray(c, float), np.asarray(z, float))
    shape = a1.shape
    a1, c, z = a1.ravel(), c.ravel(), z.ravel()
    size = a1.size
    out_s = np.ones(size)
    out_sa = np.zeros(size)
    out_sc = np.zeros(size)
    out_sz = np.zeros(size)

    idx = np.arange(size)
    a_, c_, z_ = a1.copy(), c.copy(), z.copy()
    one_minus_z_sq = (1.0 - z_) ** 2
    u = np.ones(size)
    s = np.ones(size)
    sa = np.zeros(size)
    sc = np.zeros(size)
    sz = np.zeros(size)
    ha = np.zeros(size)
    hc = np.zeros(size)
    n = 0
    while idx.size:
        ra = a_ + n
        rc = c_ + n
        v = u * ra / rc  # u_{n+1} / z
        ha += 1.0 / ra
        hc += 1.0 / rc
        sz += (n + 1) * v
        u = v * z_
        s += u
        sa += u * ha
        sc -= u * hc
        n += 1
        if n % _CHECK_EVERY and n < MAX_TERMS:
            continue
        done = u * (n + 1) <= tol * s * one_minus_z_sq
        if n >= MAX_TERMS:
            if not done.all():
                warnings.warn(
                    f"hypergeometric series stopped after {MAX_TERMS} terms for {int((~done).sum())} "
                    "element(s) with z close to 1; results may be slightly inaccurate",
                    RuntimeWarning,
                    stacklevel=3,
                )
            done[:] = True
        if done.any():
            fin = idx[done]
            out_s[fin], out_sa[fin], out_sc[fin], out_sz[fin] = s[done], sa[done], sc[done], sz[done]
            keep = ~done
            idx = idx[keep]
            a_, c_, z_, one_minus_z_sq = a_[keep], c_[keep], z_[keep], one_minus_z_sq[keep]
            u, s, sa, sc, sz, ha, hc = u[keep], s[keep], sa[keep], sc[keep], sz[keep], ha[keep], hc[keep]
    return (
        np.log(out_s).reshape(shape),
        (out_sa / out_s).reshape(shape),
        (out_sc / out_s).reshape(shape),
        (out_sz / out_s).reshape(shape),
    )


def shifted_tail_series(
    a1: FloatArray, a: FloatArray, c: FloatArray, z: FloatArray, tol: float = 1e-17
) -> FloatArray:
    """T = sum_{n>=1} (a1)_n (a)_{n-1} / ((c)_n n!) z^n, for c > 0, c - a1 > 0, a > 0, 0 <= z < 1.

    This is (2F1(a1, a-1; c; z) - 1) / (a-1) written without the division, so it is regular
    at a = 1. Because c - a1 > 0 and a > 0 the term ratio (a1+n)(a+n-1) / ((c+n)(n+1)) z is
    eventually positive and below z, so the tail has one sign and is bounded geometrically.
    """
    a1, a, c, z = np.broadcast_arrays(*(np.asarray(v, float) for v in (a1, a, c, z)))
    shape = a1.shape
    a1, a, c, z = a1.ravel(), a.ravel(), c.ravel(), z.ravel()
    size = a1.size
    out = np.zeros(size)
    idx = np.arange(size)
    a1_, a_, c_, z_ = a1.copy(), a.copy(), c.copy(), z.copy()
    term = a1_ / c_ * z_
    total = term.copy()
    n = 1
    while idx.size:
        term = term * (a1_ + n) * (a_ + n - 1) / ((c_ + n) * (n + 1)) * z_
        total += term
        n += 1
        if n % _CHECK_EVERY and n < MAX_TERMS:
            continue
        # The term ratio is 1 + O(1/n) times z and, for large n, approaches z monotonically, so
        # once positive the tail is bounded by a geometric series with ratio max(ratio, z).
        ratio = (a1_ + n) * (a_ + n - 1) / ((c_ + n) * (n + 1)) * z_
        rho = np.maximum(ratio, z_)
        settled = (a1_ + n > 0) & (rho < 1)
        with np.errstate(divide="ignore"):
            tail = np.abs(term) * rho / (1 - rho)
        done = settled & (tail <= tol * np.maximum(np.abs(total), 1e-300))
        done |= term == 0
        if n >= MAX_TERMS:
            if not done.all():
                warnings.warn(
                    f"hypergeometric series stopped after {MAX_TERMS} terms for {int((~done).sum())} "
                    "element(s) with z close to 1; results may be slightly inaccurate",
                    RuntimeWarning,
                    stacklevel=3,
                )
            done[:] = True
        if done.any():
            out[idx[done]] = total[done]
            keep = ~done
            idx = idx[keep]
            a1_, a_, c_, z_ = a1_[keep], a_[keep], c_[keep], z_[keep]
            term, total = term[keep], total[keep]
    return out.reshape(shape)
