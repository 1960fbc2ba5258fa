"""From a transaction log to the RFM summaries the BTYD models consume.

Conventions (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative
to the Pareto/NBD model", Marketing Science 24(2); the CDNOW data prepared as in their
papers and in the BTYD R package's ``dc.ElogToCbsCbt``):

* Transactions are first collapsed to one purchase per customer and calendar **day** (their
  values summed). BTYD models describe the timing of purchase occasions, and a log only
  knows days, so several orders on one day are one occasion. This holds for every ``freq``:
  ``freq`` only chooses the time unit. (lifetimes instead collapses to one purchase per
  ``freq`` period, so its weekly summaries count purchase weeks, not purchase days.)
* ``frequency``: number of repeat purchase days (distinct purchase days after the first).
* ``recency``: time from the first to the last purchase day (0 when frequency is 0).
* ``T``: time from the first purchase day to ``observation_end`` (inclusive day).
* Times are day differences divided by 1 ("D"), 7 ("W") or 365.25 / 12 ("M") days.
* ``monetary_value``: mean value of the repeat purchase days (first purchase excluded, as
  the Gamma-Gamma model is fitted on repeat transactions), 0 when frequency is 0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Freq = Literal["D", "W", "M"]

#: Length of one time unit in days.
DAYS_PER_UNIT: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}

_SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def _unit(freq: str) -> float:
    try:
        return DAYS_PER_UNIT[freq]
    except KeyError:
        raise ValueError(f"freq must be one of {sorted(DAYS_PER_UNIT)}, got {freq!r}") from None


def _day_numbers(dates: pd.Series, name: str) -> tuple[np.ndarray, object]:
    """Integer day numbers (days since 1970-01-01 in the dates' own wall-clock time)."""
    if pd.api.types.is_numeric_dtype(dates) and not pd.api.types.is_bool_dtype(dates):
        raise ValueError(
            f"column {name!r} is numeric; convert it to datetimes first "
            "(e.g. pd.to_datetime(col.astype(str), format='%Y%m%d'))"
        )
    try:
        parsed = pd.to_datetime(dates)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} cannot be parsed as dates: {exc}") from exc
    if parsed.isna().any():
        raise ValueError(f"column {name!r} has missing dates")
    tz = parsed.dt.tz
    if tz is not None:
        parsed = parsed.dt.tz_localize(None)
    days = parsed.to_numpy().astype("datetime64[D]").astype(np.int64)
    return days, tz


def _timestamp_day(value: object, tz: object, name: str) -> int:
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"{name} is not a valid date")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(tz).tz_localize(None) if tz is not None else ts.tz_localize(None)
    return int(np.datetime64(ts.to_datetime64(), "D").astype(np.int64))


def _daily(
    transactions: pd.DataFrame, customer_col: str, date_col: str, value_col: str | None
) -> tuple[pd.DataFrame, object]:
    """One row per customer and purchase day, with the day's total value."""
    missing = [c for c in (customer_col, date_col, value_col) if c is not None and c not in transactions]
    if missing:
        raise ValueError(f"transactions has no column(s) {missing}")
    if len(transactions) == 0:
        raise ValueError("transactions is empty")
    if transactions[customer_col].isna().any():
        raise ValueError(f"column {customer_col!r} has missing customer ids")
    days, tz = _day_numbers(transactions[date_col], date_col)
    frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy(), "day": days})
    if value_col is not None:
        values = pd.to_numeric(transactions[value_col], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise ValueError(f"column {value_col!r} has missing or non-numeric values")
        frame["value"] = values
    else:
        frame["value"] = 0.0
    daily = frame.groupby(["customer", "day"], sort=True, as_index=False)["value"].sum()
    return daily, tz


def _summarise(daily: pd.DataFrame, end_day: int, unit: float, with_value: bool) -> pd.DataFrame:
    """frequency / recency / T / monetary_value from a sorted per-day table."""
    grouped = daily.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n_days = grouped["day"].size()
    total = grouped["value"].sum()
    first_value = grouped["value"].first()  # rows are sorted by day within customer
    frequency = (n_days - 1).astype(np.int64)
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).astype(np.float64) / unit,
            "T": (end_day - first).astype(np.float64) / unit,
        }
    )
    if with_value:
        repeat_total = total - first_value
        out["monetary_value"] = np.where(frequency > 0, repeat_total / frequency.clip(lower=1), 0.0)
    else:
        out["monetary_value"] = 0.0
    return out


def summary_from_transactions(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    observation_end: object = None,
    freq: Freq = "W",
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T`` and ``monetary_value`` (see module doc).

    Transactions after ``observation_end`` (default: the last date in the log) are ignored;
    the end day is included. The result is indexed by customer id (named ``customer_col``)
    and sorted by it. ``monetary_value`` is 0 for everyone when ``value_col`` is None.
    """
    unit = _unit(freq)
    daily, tz = _daily(transactions, customer_col, date_col, value_col)
    end_day = (
        int(daily["day"].max())
        if observation_end is None
        else _timestamp_day(observation_end, tz, "observation_end")
    )
    daily = daily[daily["day"] <= end_day]
    if len(daily) == 0:
        raise ValueError("no transactions on or before observation_end")
    out = _summarise(daily, end_day, unit, value_col is not None)
    out.index.name = customer_col
    return out[_SUMMARY_COLUMNS]


def calibration_holdout_split(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    calibration_end: object,
    observation_end: object,
    value_col: str | None = None,
    freq: Freq = "W",
) -> pd.DataFrame:
    """Calibration summary up to ``calibration_end`` plus what each customer did afterwards.

    Only customers whose first purchase is on or before ``calibration_end`` are kept (the
    models condition on it). Holdout columns, over the days after ``calibration_end`` up to
    and including ``observation_end``:

    * ``frequency_holdout``: number of purchase days,
    * ``monetary_value_holdout``: mean value per purchase day (0 when none),
    * ``duration_holdout``: length of the holdout period in units of ``freq``.
    """
    unit = _unit(freq)
    daily, tz = _daily(transactions, customer_col, date_col, value_col)
    cal_day = _timestamp_day(calibration_end, tz, "calibration_end")
    end_day = _timestamp_day(observation_end, tz, "observation_end")
    if end_day <= cal_day:
        raise ValueError("observation_end must be after calibration_end")
    cal = daily[daily["day"] <= cal_day]
    if len(cal) == 0:
        raise ValueError("no transactions on or before calibration_end")
    out = _summarise(cal, cal_day, unit, value_col is not None)
    hold = daily[(daily["day"] > cal_day) & (daily["day"] <= end_day)]
    hold = hold[hold["customer"].isin(out.index)]
    hold_grouped = hold.groupby("customer")
    out["frequency_holdout"] = hold_grouped["day"].size().reindex(out.index, fill_value=0).astype(np.int64)
    if value_col is not None:
        out["monetary_value_holdout"] = hold_grouped["value"].mean().reindex(out.index, fill_value=0.0)
    else:
        out["monetary_value_holdout"] = 0.0
    out["duration_holdout"] = (end_day - cal_day) / unit
    out.index.name = customer_col
    return out
