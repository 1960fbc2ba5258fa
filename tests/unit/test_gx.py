"""The raw-layer expectation suites: each kind of rule catches its fault and passes good data.

Batches are built the way the gate builds them: rows inserted into a contract-shaped
raw table in an in-memory DuckDB and read back with ``.df()``, so the pandas dtypes GX
sees here are the ones it sees in production.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from orchestration.checks.gx import (
    BatchResult,
    Suite,
    load_suite,
    time_parameters,
    validate_dataframe,
)
from orchestration.checks.gx_checks import (
    Baseline,
    LandedFile,
    baseline,
    describe_failures,
    markdown_table,
    volume_floor,
)
from orchestration.contracts import SOURCES
from orchestration.ingestion.loader import ensure_raw_tables
from orchestration.settings import EXPECTATIONS_DIR

ARRIVED = datetime(2024, 6, 30, 12, 0)

GOOD: dict[str, dict[str, Any]] = {
    "shop_orders": dict(
        order_id="O1", line_number=1, ordered_at="2024-03-01 10:00:00", sales_channel="web", account_id="A1",
        account_email=" Jane.Doe@Example.COM ", phone="+86 138 0013 8000", device_id="D1", product_id="P1",
        quantity=2, unit_price=10.5, discount_amount=0, coupon_code=None, currency="CNY", order_status="completed",
        campaign_id=None,
    ),
    "service_tickets": dict(
        ticket_id="T1", opened_at="2024-03-01 10:00:00", closed_at="2024-03-02 10:00:00", contact_channel="chat",
        email="a@b.cn", phone="13800138000", topic="delivery", resolution="refund", csat=4, nps=9,
    ),
    "web_events": dict(
        event_id="E1", occurred_at="2024-03-01 10:00:00", cookie_id="C1", account_email=None, session_id="S1",
        event_type="page_view", product_id=None, campaign_id=None, referrer_channel="search",
    ),
    "products": dict(
        product_id="P1", product_name="Tea", category="food", list_price=10.0, unit_cost=4.0, currency="CNY",
    ),
    "campaigns": dict(
        campaign_id="K1", campaign_name="Spring", channel="email", objective="retention", target_segment=None,
        started_at="2024-03-01 00:00:00", ended_at="2024-03-08 00:00:00", cost=1200.0, currency="CNY",
        discount_pct=10.0,
    ),
}


def rows_for(source: str, n: int = 5, **overrides: Any) -> list[dict[str, Any]]:
    """``n`` good rows with distinct natural keys; ``overrides`` apply to the last one."""
    key = SOURCES[source].natural_key[0]
    rows = [{**GOOD[source], key: f"{GOOD[source][key]}-{i}"} for i in range(n)]
    rows[-1].update(overrides)
    return rows


def frame(source: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the gate would read them from raw.<source> (DuckDB types → pandas dtypes)."""
    con = duckdb.connect()
    ensure_raw_tables(con, [source])
    cols = SOURCES[source].column_names
    if rows:
        con.executemany(
            f"insert into raw.{source} ({', '.join(cols)}, _source_row) "
            f"values ({', '.join('?' * (len(cols) + 1))})",
            [[r.get(c) for c in cols] + [i + 2] for i, r in enumerate(rows)],
        )
    out = con.execute(f"select {', '.join(cols)}, _source_row from raw.{source} order by _source_row").df()
    con.close()
    return out


def validate(source: str, rows: list[dict[str, Any]], suite: Suite | None = None) -> BatchResult:
    suite = suite or load_suite(EXPECTATIONS_DIR / f"raw.{source}.json")
    params = time_parameters(suite, ARRIVED)
    return validate_dataframe(frame(source, rows), suite, batch_name="f.csv", parameters=params)


def failed(result: BatchResult, severity: str) -> set[tuple[str, str]]:
    return {(f.expectation, f.column) for f in result.failed(severity)}


# ── suites ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_has_a_suite_naming_only_contract_columns(source: str) -> None:
    path = EXPECTATIONS_DIR / f"raw.{source}.json"
    suite = load_suite(path)
    contract = SOURCES[source]
    assert suite.name == f"raw.{source}"
    assert suite.columns() <= set(contract.column_names), suite.columns() - set(contract.column_names)
    assert suite.settings["asset_key"] == ["raw", source]
    assert {"earliest", "future_tolerance_hours"} <= set(suite.settings["time_bounds"])
    assert 0 < suite.settings["volume"]["max_drop_share"] < 1
    kinds = {(e["type"], e["meta"]["severity"]) for e in suite.expectations}
    assert ("expect_natural_key_duplicates_to_be_identical", "critical") in kinds
    assert ("expect_table_row_count_to_be_between", "critical") in kinds
    unique = "expect_column_values_to_be_unique" if len(contract.natural_key) == 1 else (
        "expect_compound_columns_to_be_unique")
    assert (unique, "warning") in kinds
    for col in contract.columns:
        named = {e["type"] for e in suite.expectations if e["kwargs"].get("column") == col.name}
        assert {"expect_column_to_exist", "expect_column_values_to_be_in_type_list"} <= named, col.name
        if col.required:
            assert "expect_column_values_to_not_be_null" in named, col.name


def test_only_suite_files_for_contract_sources_exist() -> None:
    assert {p.name for p in EXPECTATIONS_DIR.glob("raw.*.json")} == {f"raw.{s}.json" for s in SOURCES}


def test_suite_without_severity_or_with_unknown_expectation_is_refused(tmp_path: Path) -> None:
    base = {"name": "raw.x", "expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "meta": {"severity": "critical", "why": "w"}}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(base))
    assert len(load_suite(path).expectations) == 1
    base["expectations"][0]["meta"] = {"severity": "fatal", "why": "w"}
    path.write_text(json.dumps(base))
    with pytest.raises(ValueError, match="severity"):
        load_suite(path)
    # GX itself only logs and drops an unknown expectation; the loader must not let that pass.
    base["expectations"][0] = {"type": "expect_column_to_be_lovely", "kwargs": {"column": "a"},
                               "meta": {"severity": "warning", "why": "w"}}
    path.write_text(json.dumps(base))
    with pytest.raises(ValueError, match="expect_column_to_be_lovely"):
        load_suite(path)


# ── each kind of expectation ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("source", sorted(GOOD))
def test_good_data_passes_every_expectation(source: str) -> None:
    result = validate(source, rows_for(source))
    assert result.failures == [], [f.summary() for f in result.failures]
    assert result.evaluated == len(load_suite(EXPECTATIONS_DIR / f"raw.{source}.json").expectations)


FAULTS = [
    # source, override on one row, (expectation, column) that must fail, severity, value in the sample
    ("shop_orders", {"unit_price": -1.0}, ("expect_column_values_to_be_between", "unit_price"), "critical", "-1.0"),
    ("shop_orders", {"quantity": 0}, ("expect_column_values_to_be_between", "quantity"), "critical", "0"),
    ("shop_orders", {"discount_amount": -3}, ("expect_column_values_to_be_between", "discount_amount"),
     "critical", "-3.0"),
    ("shop_orders", {"currency": "XBT"}, ("expect_column_values_to_be_in_set", "currency"), "critical", "'XBT'"),
    ("shop_orders", {"ordered_at": "2031-01-01 00:00:00"}, ("expect_column_values_to_be_between", "ordered_at"),
     "critical", "2031-01-01"),
    ("shop_orders", {"ordered_at": "2009-05-01 00:00:00"}, ("expect_column_values_to_be_between", "ordered_at"),
     "critical", "2009-05-01"),
    ("shop_orders", {"order_status": "shipped"}, ("expect_column_values_to_match_regex", "order_status"),
     "critical", "'shipped'"),
    ("shop_orders", {"order_id": None}, ("expect_column_values_to_not_be_null", "order_id"), "critical", None),
    ("shop_orders", {"unit_price": 0}, ("expect_column_values_to_not_be_in_set", "unit_price"), "warning", "0.0"),
    ("shop_orders", {"account_email": "jane.doe(at)example"}, ("expect_column_values_to_match_regex",
                                                                "account_email"), "warning", "jane.doe"),
    ("shop_orders", {"phone": "138 0013"}, ("expect_column_values_to_match_regex", "phone"), "warning", "'138 0013'"),
    ("shop_orders", {"sales_channel": "fax"}, ("expect_column_values_to_match_regex", "sales_channel"),
     "warning", "'fax'"),
    ("service_tickets", {"csat": 6}, ("expect_column_values_to_be_between", "csat"), "critical", "6"),
    ("service_tickets", {"nps": -1}, ("expect_column_values_to_be_between", "nps"), "critical", "-1"),
    ("service_tickets", {"closed_at": "2024-02-01 00:00:00"},
     ("expect_column_pair_values_a_to_be_greater_than_b", "closed_at, opened_at"), "warning", None),
    ("web_events", {"event_type": "hover"}, ("expect_column_values_to_match_regex", "event_type"), "critical",
     "'hover'"),
    ("products", {"unit_cost": -0.5}, ("expect_column_values_to_be_between", "unit_cost"), "critical", "-0.5"),
    ("campaigns", {"cost": -100.0}, ("expect_column_values_to_be_between", "cost"), "critical", "-100.0"),
    ("campaigns", {"discount_pct": 150.0}, ("expect_column_values_to_be_between", "discount_pct"), "warning",
     "150.0"),
]


@pytest.mark.parametrize(("source", "override", "rule", "severity", "shown"), FAULTS,
                         ids=[f"{f[0]}-{next(iter(f[1]))}={next(iter(f[1].values()))}" for f in FAULTS])
def test_each_fault_is_caught_with_its_severity_row_and_value(
    source: str, override: dict[str, Any], rule: tuple[str, str], severity: str, shown: str | None
) -> None:
    result = validate(source, rows_for(source, **override))
    assert rule in failed(result, severity), [f.summary() for f in result.failures]
    other = "warning" if severity == "critical" else "critical"
    assert rule not in failed(result, other)
    failure = next(f for f in result.failed(severity) if (f.expectation, f.column) == rule)
    assert failure.why
    if shown is not None:
        assert any(shown in s for s in failure.sample), failure.sample
        assert failure.rows == [6]  # the last of five rows, line 6 of its file
    if severity == "warning":
        assert result.failed("critical") == [], "a warning-only fault must not block"


def test_raw_spelling_of_identifiers_and_enumerations_is_tolerated() -> None:
    result = validate("shop_orders", rows_for(
        "shop_orders", account_email="  JANE@EXAMPLE.CN\t", phone="0086-138-0013-8000", order_status=" Completed "))
    assert result.failures == []


def test_conflicting_duplicate_is_critical_but_exact_duplicate_only_warns() -> None:
    rows = rows_for("shop_orders")
    exact = validate("shop_orders", [*rows, dict(rows[1])])
    assert failed(exact, "critical") == set()
    assert failed(exact, "warning") == {("expect_compound_columns_to_be_unique", "order_id, line_number")}

    conflict = validate("shop_orders", [*rows, {**rows[1], "quantity": 7}])
    assert ("expect_natural_key_duplicates_to_be_identical", "order_id, line_number") in failed(conflict, "critical")
    failure = conflict.failed("critical")[0]
    assert failure.sample == ["order_id='O1-1', line_number=1: quantity 2 ≠ 7"]
    assert failure.rows == [3, 7] and failure.unexpected_count == 2


def test_schema_drift_missing_column_and_wrong_type_are_critical() -> None:
    df = frame("products", rows_for("products"))
    suite = load_suite(EXPECTATIONS_DIR / "raw.products.json")
    params = time_parameters(suite, ARRIVED)
    missing = validate_dataframe(df.drop(columns=["category"]), suite, batch_name="f.csv", parameters=params)
    assert ("expect_column_to_exist", "category") in failed(missing, "critical")
    wrong = validate_dataframe(df.assign(list_price=df["list_price"].astype(str)), suite, batch_name="f.csv",
                               parameters=params)
    assert ("expect_column_values_to_be_in_type_list", "list_price") in failed(wrong, "critical")


def test_empty_batch_fails_the_row_count() -> None:
    result = validate("products", [])
    assert failed(result, "critical") == {("expect_table_row_count_to_be_between", "(table)")}
    assert result.failed("critical")[0].observed == "0"


def test_sql_looking_values_are_just_data() -> None:
    result = validate("products", rows_for("products", product_name="'); drop table raw.products; --",
                                           category="1 OR 1=1"))
    assert result.failures == []


# ── run-time expectations ─────────────────────────────────────────────────────────────────────


def test_time_bounds_come_from_suite_meta_and_arrival() -> None:
    suite = load_suite(EXPECTATIONS_DIR / "raw.shop_orders.json")
    assert time_parameters(suite, ARRIVED) == {
        "earliest_timestamp": "2015-01-01T00:00:00", "latest_timestamp": "2024-07-01T12:00:00"}
    later = Suite(suite.name, suite.expectations, {"c360": {"time_bounds": {
        "earliest": "2020-01-01", "future_tolerance_hours": 0}}})
    assert validate("shop_orders", rows_for("shop_orders", ordered_at="2019-12-31 23:00:00"), later).failed("critical")
    assert validate("shop_orders", rows_for("shop_orders", ordered_at="2024-06-30 12:00:00"), later).failures == []
    assert validate("shop_orders", rows_for("shop_orders", ordered_at="2024-06-30 12:00:01"), later).failed("critical")


def _files(*rows: int) -> list[LandedFile]:
    return [LandedFile(f"f{i}.csv", str(i), n, datetime(2024, 1, 1 + i)) for i, n in enumerate(rows)]


def test_volume_floor_is_the_median_of_files_seen_before_less_the_allowed_drop() -> None:
    suite = load_suite(EXPECTATIONS_DIR / "raw.shop_orders.json")
    base = baseline(_files(100, 90, 110, 5000), suite)
    assert base == Baseline(median=105.0, files=4)
    floor = volume_floor(base, suite)
    assert floor is not None and floor["kwargs"] == {"min_value": 53}
    assert floor["meta"]["severity"] == "critical" and "median 105 of the previous 4 file(s)" in floor["meta"]["rule"]
    assert baseline([], suite) is None and volume_floor(None, suite) is None  # nothing seen yet
    short_memory = Suite(suite.name, suite.expectations, {"c360": {"volume": {"history_files": 2,
                                                                             "max_drop_share": 0.95}}})
    assert baseline(_files(1000, 100, 100), short_memory) == Baseline(100.0, 2)
    assert volume_floor(Baseline(100.0, 2), short_memory)["kwargs"] == {"min_value": 5}
    assert volume_floor(Baseline(100.0, 2), Suite(suite.name, suite.expectations, {"c360": {}})) is None

    with_floor = suite.with_expectations([floor])
    assert with_floor.digest() != suite.digest()
    dropped = validate("shop_orders", rows_for("shop_orders", n=10), with_floor)
    assert failed(dropped, "critical") == {("expect_table_row_count_to_be_between", "(table)")}
    assert "at most 50% below the median 105" in dropped.failed("critical")[0].summary()


# ── reporting ─────────────────────────────────────────────────────────────────────────────────


def test_severity_split_and_the_words_a_person_reads(tmp_path: Path) -> None:
    suite = load_suite(EXPECTATIONS_DIR / "raw.shop_orders.json")
    rows = rows_for("shop_orders", currency="XBT", phone="12")
    result = validate_dataframe(frame("shop_orders", rows), suite, batch_name="orders_0001.csv",
                                parameters=time_parameters(suite, ARRIVED), docs_dir=tmp_path / "docs")
    assert failed(result, "critical") == {("expect_column_values_to_be_in_set", "currency")}
    assert failed(result, "warning") == {("expect_column_values_to_match_regex", "phone")}
    text = describe_failures("raw.shop_orders", [result], "critical")
    for part in ("raw.shop_orders", "orders_0001.csv", "currency", "'XBT'", "rows 6", "1 of 5"):
        assert part in text
    assert "phone" not in text
    table = markdown_table([result], "warning")
    assert "| phone |" in table and "'12'" in table and "identity stitching" in table
    assert markdown_table([result], "nonsense") == "no nonsense expectation failed"
    assert result.docs_url and result.docs_url.startswith("file://")
    page = Path(result.docs_url.removeprefix("file://"))
    assert page.is_file() and "orders_0001.csv" in str(page)
    assert BatchResult.from_json(result.to_json()) == result


def test_data_docs_pages_of_earlier_batches_survive_later_validations(tmp_path: Path) -> None:
    """GX's index build deletes pages unknown to its context; each batch has its own context."""
    suite = load_suite(EXPECTATIONS_DIR / "raw.products.json")
    params = time_parameters(suite, ARRIVED)
    docs = tmp_path / "docs"
    first = validate_dataframe(frame("products", rows_for("products", unit_cost=-1.0)), suite, batch_name="p_1.csv",
                               parameters=params, docs_dir=docs)
    second = validate_dataframe(frame("products", rows_for("products")), suite, batch_name="p_2.csv",
                                parameters=params, docs_dir=docs)
    pages = [Path(r.docs_url.removeprefix("file://")) for r in (first, second)]
    assert all(p.is_file() for p in pages)
    index = (docs / "index.html").read_text()
    assert "p_1.csv" in index and "p_2.csv" in index
    assert index.count("ge-failed-icon") == 1 and index.count("ge-success-icon") == 1
