"""Seasonal calendar and the "operational time" warp used by every stochastic process.

Why a time warp: BG/NBD assumes a homogeneous Poisson purchase process with rate λ while
the customer is alive. Real retail in China is anything but homogeneous (618, Singles' Day,
Black Friday, the December gift season, the Chinese-New-Year lull). Instead of thinning or
modulating the process, which would make the per-person λ only approximately meaningful,
we simulate each process in *operational time* τ(t) = ∫ s(u) du / 7, where s is the daily
seasonal intensity normalised to mean 1. In τ the process is exactly BG/NBD with rate λ per
(operational) week; mapping event times back through τ⁻¹ places them on the calendar with
the seasonal shape. Because s is piecewise constant per local day, τ is piecewise linear and
``np.interp`` inverts it exactly, so daily counts are exact and λ keeps its meaning as
"purchases per average week".

Days are China-local (UTC+8) calendar days, because 11.11 is a local event; every timestamp
the simulator writes is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

#: China Standard Time offset from UTC, in seconds.
LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400
WEEK_DAYS = 7.0

#: Relative traffic by local hour (0..23): quiet nights, lunch bump, evening peak.
HOURLY_WEIGHTS = np.array(
    [
        0.9, 0.5, 0.3, 0.2, 0.15, 0.15, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6,
        1.9, 1.7, 1.4, 1.4, 1.5, 1.5, 1.6, 1.9, 2.4, 2.7, 2.5, 1.7,
    ]
)  # fmt: skip

MONTH_FACTORS = np.array([0.95, 0.80, 0.95, 0.95, 1.00, 1.10, 0.90, 0.90, 0.95, 1.00, 1.25, 1.20])


def to_epoch(d: date) -> int:
    """UTC midnight of a calendar date, in epoch seconds."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _black_friday(year: int) -> date:
    """Fourth Friday of November."""
    first = date(year, 11, 1)
    offset = (4 - first.weekday()) % 7  # weekday(): Monday=0 .. Friday=4
    return first + timedelta(days=offset + 21)


def base_intensity(days: list[date]) -> np.ndarray:
    """Unnormalised retail intensity per local day: month level times event spikes.

    Peaks: 618 (June 18), Singles' Day (pre-sale from Oct 31, spike on 11.11), Black Friday
    to Cyber Monday, the December gift season, Valentine's Day; a dip around Chinese New Year
    is carried by the February month factor.
    """
    out = np.empty(len(days))
    for i, d in enumerate(days):  # a few thousand days at most: a plain loop is clearer here
        s = MONTH_FACTORS[d.month - 1]
        md = (d.month, d.day)
        if d.month == 6 and 1 <= d.day <= 17:
            s *= 1.2
        if md == (6, 18):
            s *= 2.5
        if md == (10, 31) or (d.month == 11 and 1 <= d.day <= 10):
            s *= 1.3
        if md == (11, 11):
            s *= 6.0
        if md == (11, 12):
            s *= 1.5
        bf = _black_friday(d.year)
        if d == bf:
            s *= 3.0
        elif bf < d <= bf + timedelta(days=3):
            s *= 1.8
        if d.month == 12 and 10 <= d.day <= 24:
            s *= 1.5
        if md == (2, 14):
            s *= 1.8
        out[i] = s
    return out


class SeasonalClock:
    """Maps UTC epoch seconds to operational weeks and back for one seasonal amplitude.

    ``amplitude`` scales how strongly a persona reacts to the calendar: 0 is flat, 1 is the
    base shape, above 1 exaggerates peaks (bargain hunters on 11.11, gift buyers in December).
    The intensity is normalised to mean 1 over the grid so λ stays "per average week".
    """

    def __init__(self, first_day: date, last_day: date, amplitude: float) -> None:
        n_days = (last_day - first_day).days + 1
        days = [first_day + timedelta(days=i) for i in range(n_days)]
        base = base_intensity(days)
        months = np.array([d.month for d in days]) - 1
        #: local days with a sale event (spike above the month level): more discounts then
        self.promo_day = base / MONTH_FACTORS[months] >= 1.2
        s = np.clip(1.0 + amplitude * (base - 1.0), 0.1, None)
        s = s / s.mean()
        self.intensity = s
        self.first_day = first_day
        #: UTC seconds at which each local day starts (n_days + 1 edges).
        self.edges = to_epoch(first_day) - LOCAL_OFFSET_S + DAY_S * np.arange(n_days + 1, dtype=np.float64)
        #: cumulative operational time in weeks at each edge
        self.cum_weeks = np.concatenate([[0.0], np.cumsum(s)]) / WEEK_DAYS
        hours = np.concatenate([[0.0], np.cumsum(HOURLY_WEIGHTS)])
        self._hour_cdf = hours / hours[-1]
        self._hour_grid = np.arange(25, dtype=np.float64) / 24.0

    def to_op(self, ts: np.ndarray) -> np.ndarray:
        """Operational time (weeks) of UTC epoch seconds. Clamped to the grid."""
        return np.interp(np.asarray(ts, dtype=np.float64), self.edges, self.cum_weeks)

    def from_op(self, tau: np.ndarray, diurnal: bool = True) -> np.ndarray:
        """Inverse of :meth:`to_op`, returning int64 UTC seconds.

        With ``diurnal`` the position inside the local day (uniform after the inversion,
        since the intensity is constant within a day) is remapped through the hourly traffic
        profile. The remap is monotone within the day, so daily counts and event order stay
        exactly those of the operational-time process.
        """
        t = np.interp(np.asarray(tau, dtype=np.float64), self.cum_weeks, self.edges)
        if diurnal:
            day = np.floor((t - self.edges[0]) / DAY_S)
            frac = (t - self.edges[0]) / DAY_S - day
            frac = np.interp(frac, self._hour_cdf, self._hour_grid)
            t = self.edges[0] + (day + np.minimum(frac, 0.999_99)) * DAY_S
        return np.floor(t).astype(np.int64)

    def is_promo(self, ts: np.ndarray) -> np.ndarray:
        """Whether each UTC timestamp falls on a local sale-event day."""
        day = ((np.asarray(ts) - self.edges[0]) // DAY_S).astype(np.int64)
        return self.promo_day[np.clip(day, 0, len(self.promo_day) - 1)]
