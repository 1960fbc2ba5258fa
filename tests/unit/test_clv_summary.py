"""RFM summaries for the BTYD models: same-day purchases merged, units, calibration / holdout split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.ml.clv import calibration_holdout_split, summary_from_transactions


@pytest.fixture
def log() -> pd.DataFrame:
    rows = [
        ("A", "2024-01-01 09:00", 10.0),
        ("A", "2024-01-01 17:30", 5.0),  # same day as the first purchase: merged into it
        ("A", "2024-01-08 12:00", 20.0),
        ("A", "2024-01-15 10:00", 30.0),
        ("A", "2024-01-15 18:00", 10.0),  # same day: one purchase occasion worth 40
        ("B", "2024-01-10 08:00", 7.0),
        ("C", "2024-02-20 08:00", 9.0),  # after observation_end: not a customer yet
    ]
    return pd.DataFrame(rows, columns=["customer", "ts", "amount"]).assign(
        ts=lambda d: pd.to_datetime(d["ts"])
    )


def test_weekly_summary_counts_purchase_days(log: pd.DataFrame) -> None:
    out = summary_from_transactions(log, "customer", "ts", "amount", observation_end="2024-01-29")
    assert list(out.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert out.index.name == "customer" and list(out.index) == ["A", "B"]
    a, b = out.loc["A"], out.loc["B"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 2.0, 4.0)  # days 0, 7, 14; end day 28
    assert a["monetary_value"] == pytest.approx(30.0)  # mean of the repeat days (20, 40)
    assert (b["frequency"], b["recency"], b["monetary_value"]) == (0, 0.0, 0.0)
    assert b["T"] == pytest.approx(19 / 7)
    assert out["frequency"].dtype == np.int64


@pytest.mark.parametrize(("freq", "days"), [("D", 1.0), ("W", 7.0), ("M", 365.25 / 12)])
def test_units(log: pd.DataFrame, freq: str, days: float) -> None:
    out = summary_from_transactions(log, "customer", "ts", "amount", observation_end="2024-01-29", freq=freq)
    assert out.loc["A", "recency"] == pytest.approx(14 / days)
    assert out.loc["A", "T"] == pytest.approx(28 / days)
    assert out.loc["A", "frequency"] == 2  # the unit never changes the purchase count


def test_default_observation_end_is_last_date_and_values_optional(log: pd.DataFrame) -> None:
    out = summary_from_transactions(log, "customer", "ts")
    assert list(out.index) == ["A", "B", "C"]
    assert out.loc["C", "T"] == 0.0
    assert out.loc["A", "T"] == pytest.approx(
        (pd.Timestamp("2024-02-20") - pd.Timestamp("2024-01-01")).days / 7
    )
    assert (out["monetary_value"] == 0).all()


def test_timezone_aware_dates_use_local_days(log: pd.DataFrame) -> None:
    shifted = log.assign(ts=log["ts"].dt.tz_localize("America/New_York"))
    out = summary_from_transactions(shifted, "customer", "ts", "amount", observation_end="2024-01-29")
    expected = summary_from_transactions(log, "customer", "ts", "amount", observation_end="2024-01-29")
    pd.testing.assert_frame_equal(out, expected)


def test_calibration_holdout_split(log: pd.DataFrame) -> None:
    out = calibration_holdout_split(log, "customer", "ts", "2024-01-08", "2024-01-29", value_col="amount")
    assert list(out.index) == ["A"]  # B's first purchase is after calibration_end
    a = out.loc["A"]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 1.0, 1.0, 20.0)
    assert a["frequency_holdout"] == 1  # two orders on 2024-01-15 are one purchase day
    assert a["monetary_value_holdout"] == pytest.approx(40.0)
    assert a["duration_holdout"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freq": "Y"}, "freq must be one of"),
        ({"customer_col": "nope"}, "no column"),
        ({"value_col": "bad"}, "missing or non-numeric"),
        ({"date_col": "day_int"}, "numeric"),
        ({"observation_end": "2023-01-01"}, "no transactions"),
    ],
)
def test_summary_input_errors(log: pd.DataFrame, kwargs: dict, message: str) -> None:
    frame = log.assign(bad=["x", 1, 2, 3, 4, 5, 6], day_int=20240101)
    args = {"customer_col": "customer", "date_col": "ts", "value_col": "amount", **kwargs}
    with pytest.raises(ValueError, match=message):
        summary_from_transactions(frame, **args)


def test_split_requires_ordered_dates(log: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="after calibration_end"):
        calibration_holdout_split(log, "customer", "ts", "2024-01-29", "2024-01-08")
