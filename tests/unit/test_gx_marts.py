"""The mart suites and the mart gate's batch: every rule bites, on a sample too, and the cost stays bounded.

Marts here are small tables in an in-memory DuckDB built by hand, so each rule is seen
failing on exactly the row that breaks it; ``max_rows`` is set below the table size to
exercise the sampled path that 1M-customer marts take.
"""

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.checks.gx import load_suite
from orchestration.checks.gx_marts import (
    GATED_MARTS,
    ROW_COUNT,
    Relationship,
    dbt_var_keys,
    seed_values,
    validate_mart,
)
from orchestration.settings import EXPECTATIONS_DIR

NOW = datetime(2026, 7, 1, 12, 0)


@pytest.mark.parametrize("mart", GATED_MARTS)
def test_every_gated_mart_has_a_suite_in_the_raw_format(mart: str) -> None:
    suite = load_suite(EXPECTATIONS_DIR / f"marts.{mart}.json")  # refuses a missing severity or why
    settings = suite.settings
    assert suite.name == f"marts.{mart}" and settings["asset_key"] == ["marts", mart]
    assert 0 < settings["volume"]["max_drop_share"] < 1 and settings["volume"]["severity"] in ("critical", "warning")
    kinds = {(e["type"], e["meta"]["severity"]) for e in suite.expectations}
    assert ("expect_table_row_count_to_be_between", "critical") in kinds
    unique = {(e["type"], e["meta"]["severity"]) for e in suite.expectations if "unique" in e["type"]}
    assert unique and {s for _, s in unique} == {"critical"}
    for key in settings["key"]:
        named = {e["type"] for e in suite.expectations if e["kwargs"].get("column") == key}
        assert {"expect_column_to_exist", "expect_column_values_to_not_be_null"} <= named, key
    for rel in settings.get("relationships", []):
        derived = Relationship.from_meta(rel).derived
        assert any(
            e["kwargs"].get("column") == derived and e["meta"]["severity"] == "critical" for e in suite.expectations
        ), derived


def test_only_gated_marts_and_raw_sources_have_suites() -> None:
    assert {p.name for p in EXPECTATIONS_DIR.glob("marts.*.json")} == {f"marts.{m}.json" for m in GATED_MARTS}


def test_value_sets_come_from_the_seeds_and_dbt_vars() -> None:
    assert seed_values("rfm_group_rules", "rfm_segment")[:2] == ["Champions", "Loyal Customers"]
    assert len(seed_values("rfm_group_rules", "rfm_segment")) == 11
    assert "H-H-H" in seed_values("vap_treatments", "vap_cell")
    assert dbt_var_keys("currency_rates") == ["CNY", "USD"]


# ── the gate on hand-built marts ──────────────────────────────────────────────────────────────


def _warehouse(rows: int = 40) -> duckdb.DuckDBPyConnection:
    """dim_customers (rows customers) and fct_orders (two orders each), shaped as the real marts."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(f"""
        create table marts.dim_customers as
        select 'cus_' || lpad(i::varchar, 24, '0') as customer_id, date '2026-06-30' as as_of_date
        from range({rows}) t(i)
    """)
    con.execute(f"""
        create table marts.fct_orders as
        select 'O' || lpad(i::varchar, 6, '0') as order_id,
            'cus_' || lpad((i // 2)::varchar, 24, '0') as customer_id,
            'shop' as order_source, 'web' as channel, 'sale' as order_type, 'completed' as order_status,
            'CNY' as currency, 100.0::decimal(18, 2) as net_amount, 100.0::decimal(18, 2) as revenue_amount,
            timestamp '2026-01-01 10:00:00' + to_days(i::integer) as ordered_at
        from range({rows * 2}) t(i)
    """)
    return con


def _mini_suite(tmp_path: Path, **meta: object) -> Path:
    """A cut-down fct_orders suite: its key, relationship, a range, a value set from a dbt var, time bounds."""
    full = load_suite(EXPECTATIONS_DIR / "marts.fct_orders.json")
    derived = "_customer_id_missing_from_dim_customers"
    keep = {"order_id", "customer_id", "net_amount", "currency", "ordered_at", derived}
    exps = [
        e
        for e in full.expectations
        if (e["kwargs"].get("column") in keep or e["type"].startswith("expect_table"))
        and "row_condition" not in e["kwargs"]
        and e["type"] != "expect_column_to_exist"
        and not e["kwargs"].get("mostly")
    ]
    c360 = {**full.settings, **meta}
    (tmp_path / "marts.fct_orders.json").write_text(
        json.dumps({"name": "marts.fct_orders", "meta": {"c360": c360}, "expectations": exps})
    )
    return tmp_path


def _failed(con: duckdb.DuckDBPyConnection, suites: Path, max_rows: int | None = None) -> dict[str, str]:
    v = validate_mart(con, "fct_orders", None, suites, max_rows=max_rows, now=NOW)
    return {f"{f.column}:{f.expectation}": f.summary() for f in v.result.failed("critical")}


def test_good_mart_passes_whole_and_sampled(tmp_path: Path) -> None:
    con, suites = _warehouse(), _mini_suite(tmp_path)
    assert _failed(con, suites) == {}
    v = validate_mart(con, "fct_orders", None, suites, max_rows=10, now=NOW)
    assert v.sampled and v.table_rows == 80 and v.rows_validated == 10 and v.suspect_rows == 0
    assert not v.result.failures


@pytest.mark.parametrize("max_rows", [None, 5], ids=["whole_table", "sampled"])
def test_a_single_bad_row_is_caught_even_in_a_sample(tmp_path: Path, max_rows: int | None) -> None:
    con, suites = _warehouse(), _mini_suite(tmp_path)
    con.execute("update marts.fct_orders set customer_id = 'cus_unknown' where order_id = 'O000011'")
    con.execute("update marts.fct_orders set net_amount = -5 where order_id = 'O000012'")
    con.execute("update marts.fct_orders set currency = 'XBT' where order_id = 'O000013'")
    con.execute("update marts.fct_orders set ordered_at = timestamp '2031-01-01' where order_id = 'O000014'")
    con.execute("update marts.fct_orders set order_id = 'O000016' where order_id = 'O000015'")  # duplicate key
    failed = _failed(con, suites, max_rows)
    assert "'cus_unknown'" in failed["_customer_id_missing_from_dim_customers:expect_column_values_to_be_null"]
    assert "(keys O000011)" in failed["_customer_id_missing_from_dim_customers:expect_column_values_to_be_null"]
    assert "-5.0 (keys O000012)" in failed["net_amount:expect_column_values_to_be_between"]
    assert "one of CNY, USD" in failed["currency:expect_column_values_to_be_in_set"]
    assert "2031-01-01" in failed["ordered_at:expect_column_values_to_be_between"]
    assert "'O000016'" in failed["order_id:expect_column_values_to_be_unique"]


def test_volume_is_held_against_the_last_accepted_build(tmp_path: Path) -> None:
    con, suites = _warehouse(), _mini_suite(tmp_path)
    first = validate_mart(con, "fct_orders", None, suites, now=NOW)
    assert first.baseline is None and not first.result.failures
    con.execute("delete from marts.fct_orders where order_id >= 'O000008'")  # 80 → 8 rows
    for _ in range(2):  # a rebuild does not make the collapse the new normal
        failed = _failed(con, suites, max_rows=5)
        assert "row count ≥ 40" in failed[f"{ROW_COUNT}:expect_column_min_to_be_between"]
        assert "observed 8" in failed[f"{ROW_COUNT}:expect_column_min_to_be_between"]
    con.execute(
        "insert into marts.fct_orders select f.* replace ('X' || r.i || f.order_id as order_id) "
        "from marts.fct_orders f, range(5) r(i)"
    )  # rebuilt at 48 rows: within 50 % of 80 again
    assert _failed(con, suites) == {}
    assert validate_mart(con, "fct_orders", None, suites, now=NOW).baseline == 48


def test_missing_mart_fails_with_words_not_a_stack_trace(tmp_path: Path) -> None:
    con, suites = _warehouse(), _mini_suite(tmp_path)
    con.execute("drop table marts.fct_orders")
    v = validate_mart(con, "fct_orders", None, suites, now=NOW)
    assert v.table_rows == 0 and v.result.failed("critical")
    assert any("row count ≥ 1" in f.summary() for f in v.result.failed("critical"))


def test_an_unfed_mart_may_be_empty_but_a_fed_one_may_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.checks.gx_marts import without_volume_if_unfed

    suite = load_suite(EXPECTATIONS_DIR / "marts.fct_engagement.json")
    row_count = "expect_table_row_count_to_be_between"
    assert any(e["type"] == row_count for e in suite.expectations)
    # every source expected (the default): the engagement mart must not be empty
    monkeypatch.delenv("C360_EXPECTED_SOURCES", raising=False)
    assert without_volume_if_unfed(suite) is suite
    # no engagement feed in this deployment (the CDNOW demo): emptiness is the truth
    monkeypatch.setenv("C360_EXPECTED_SOURCES", "shop_orders,products")
    relaxed = without_volume_if_unfed(suite)
    assert not any(e["type"] == row_count for e in relaxed.expectations)
    assert len(relaxed.expectations) == len(suite.expectations) - 1
    assert relaxed.settings["volume"] is None
