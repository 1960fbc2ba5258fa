"""Bad data stops where it arrives: GX gates on raw sources, materialised with Dagster.

Each test lands hand-written files (built from the contract), materialises the source's
ingestion asset, a downstream stand-in and the source's checks against a throwaway
warehouse, and asserts what a data engineer would see: a blocking check that fails with a
description naming source, file, column and values, and a downstream asset that did not
run; or a warning that shows without stopping anything. Fixing the file lets the next run
through.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration.assets.ingestion import build_ingestion_asset
from orchestration.checks.gx_checks import build_gx_checks
from orchestration.checks.ingestion import build_ingestion_checks
from orchestration.contracts import SOURCES
from orchestration.resources import WarehouseResource
from orchestration.settings import EXPECTATIONS_DIR

pytestmark = pytest.mark.integration

GOOD: dict[str, dict[str, str]] = {
    "shop_orders": dict(
        order_id="O{i}", line_number="1", ordered_at="2024-03-01 10:00:00", sales_channel="web", account_id="A{i}",
        account_email=" Customer{i}@Example.com", phone="+86 138 0013 {i:04d}", device_id="D{i}", product_id="P1",
        quantity="2", unit_price="10.50", discount_amount="0.00", coupon_code="", currency="CNY",
        order_status="completed", campaign_id="",
    ),
    "service_tickets": dict(
        ticket_id="T{i}", opened_at="2024-03-01 10:00:00", closed_at="2024-03-01 12:00:00", contact_channel="chat",
        email="c{i}@example.cn", phone="1380013{i:04d}", topic="delivery", resolution="refund", csat="4", nps="9",
    ),
    "products": dict(
        product_id="P{i}", product_name="Tea {i}", category="food", list_price="10.00", unit_cost="4.00",
        currency="CNY",
    ),
}
FUTURE = (datetime.now() + timedelta(days=60)).strftime("%Y-%m-%d %H:%M:%S")


def line(source: str, i: int, **overrides: str) -> str:
    values = {c: v.format(i=i) for c, v in GOOD[source].items()} | overrides
    return ",".join(values[c] for c in SOURCES[source].column_names)


def lines(source: str, start: int, n: int) -> list[str]:
    return [line(source, i) for i in range(start, start + n)]


class Gate:
    """A landing folder and warehouse in tmp, and one way to run a source through its gates."""

    def __init__(self, tmp: Path) -> None:
        self.landing = tmp / "landing"
        self.warehouse = WarehouseResource(path=str(tmp / "warehouse.duckdb"), landing_dir=str(self.landing))

    def deliver(self, source: str, name: str, rows: list[str]) -> None:
        folder = self.landing / source
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("\n".join([",".join(SOURCES[source].column_names), *rows]) + "\n")

    def run(self, source: str) -> dg.ExecuteInProcessResult:
        @dg.asset(name=f"after_{source}", deps=[dg.AssetKey(["raw", source])])
        def downstream() -> None:
            """Stands in for staging: it must only run on data that passed the critical gate."""

        return dg.materialize(
            [build_ingestion_asset(SOURCES[source]), downstream, *build_ingestion_checks(source),
             *build_gx_checks(source)],
            resources={"warehouse": self.warehouse},
            raise_on_error=False,
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(self.warehouse.path, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def ran_downstream(result: dg.ExecuteInProcessResult, source: str) -> bool:
    return dg.AssetKey(f"after_{source}") in {e.asset_key for e in result.get_asset_materialization_events()}


def assert_clean(result: dg.ExecuteInProcessResult, source: str) -> None:
    evaluations = checks(result)
    assert set(evaluations) == {"row_accounting", "files_trusted", "gx_critical", "gx_warnings"}
    assert all(e.passed for e in evaluations.values()), {n: e.description for n, e in evaluations.items()}
    assert result.success and ran_downstream(result, source)


def test_good_delivery_passes_and_unchanged_files_are_not_validated_again(gate: Gate) -> None:
    gate.deliver("shop_orders", "orders_0001.csv", lines("shop_orders", 0, 30))
    first = gate.run("shop_orders")
    assert_clean(first, "shop_orders")
    critical = checks(first)["gx_critical"]
    assert critical.metadata["files_validated"].value == 1
    assert critical.metadata["expectations_failed"].value == 0
    suite = json.loads((EXPECTATIONS_DIR / "raw.shop_orders.json").read_text())
    assert critical.metadata["expectations_evaluated"].value == len(suite["expectations"])
    docs = critical.metadata["data_docs"].value
    assert docs.startswith("file://") and Path(docs.removeprefix("file://")).is_file()

    gate.deliver("shop_orders", "orders_0002.csv", lines("shop_orders", 30, 30))
    second = gate.run("shop_orders")
    assert_clean(second, "shop_orders")
    meta = checks(second)["gx_critical"].metadata
    assert (meta["files_validated"].value, meta["files_validated_this_run"].value) == (2, 1)
    assert gate.query("select file_name, rows_validated from raw.gx_validation_results order by 1") == [
        ("orders_0001.csv", 30), ("orders_0002.csv", 30)]

    third = gate.run("shop_orders")  # nothing new: every verdict comes from the cache
    assert_clean(third, "shop_orders")
    assert checks(third)["gx_critical"].metadata["files_validated_this_run"].value == 0


CRITICAL = [
    # source, faulty rows appended to a good file, column, what the description must quote
    ("shop_orders", [line("shop_orders", 90, unit_price="-12.00")], "unit_price", "-12.0"),
    ("shop_orders", [line("shop_orders", 90, quantity="0")], "quantity", "e.g. 0"),
    ("shop_orders", [line("shop_orders", 90, currency="XBT")], "currency", "'XBT'"),
    ("shop_orders", [line("shop_orders", 90, ordered_at=FUTURE)], "ordered_at", FUTURE[:10]),
    ("shop_orders", [line("shop_orders", 90, ordered_at="2012-07-01 09:00:00")], "ordered_at", "2012-07-01"),
    ("shop_orders", [line("shop_orders", 90), line("shop_orders", 90, quantity="3", unit_price="99.00")],
     "order_id, line_number", "order_id='O90', line_number=1: quantity 2 ≠ 3; unit_price 10.5 ≠ 99.0"),
    ("service_tickets", [line("service_tickets", 90, csat="7")], "csat", "e.g. 7"),
]


@pytest.mark.parametrize(("source", "bad_rows", "column", "quoted"), CRITICAL,
                         ids=["negative_price", "zero_quantity", "unknown_currency", "future_date", "ancient_date",
                              "conflicting_duplicate_order", "csat_out_of_range"])
def test_critical_fault_stops_downstream_until_the_file_is_fixed(
    gate: Gate, source: str, bad_rows: list[str], column: str, quoted: str
) -> None:
    gate.deliver(source, "part_0001.csv", lines(source, 0, 20))
    gate.deliver(source, "part_0002.csv", [*lines(source, 20, 20), *bad_rows])
    blocked = gate.run(source)

    critical = checks(blocked)["gx_critical"]
    assert not critical.passed and critical.severity == dg.AssetCheckSeverity.ERROR
    for part in (f"raw.{source}", "part_0002.csv", f"{column}: expected", quoted, "(rows 22"):
        assert part in critical.description, (part, critical.description)
    assert "part_0001.csv:" not in critical.description
    assert critical.metadata["files_failed"].value == 1
    assert "part_0002.csv" in critical.metadata["failures"].value
    assert not blocked.success
    assert not ran_downstream(blocked, source) and blocked.is_node_untouched(f"after_{source}")
    assert checks(blocked)["row_accounting"].passed  # the data is all there; it is just wrong

    gate.deliver(source, "part_0002.csv", lines(source, 20, 21))  # corrected re-delivery, same name
    fixed = gate.run(source)
    assert_clean(fixed, source)
    assert checks(fixed)["gx_critical"].metadata["files_validated_this_run"].value == 1


WARNINGS = [
    ([line("shop_orders", 5)], "expect_compound_columns_to_be_unique", "order_id, line_number"),
    ([line("shop_orders", 90, unit_price="0.00")], "expect_column_values_to_not_be_in_set", "unit_price"),
    ([line("shop_orders", 90, phone="138-0013")], "expect_column_values_to_match_regex", "phone"),
    ([line("shop_orders", 90, account_email="nobody at example")], "expect_column_values_to_match_regex",
     "account_email"),
]


@pytest.mark.parametrize(("bad_rows", "expectation", "column"), WARNINGS,
                         ids=["exact_duplicate_row", "zero_price", "short_phone", "malformed_email"])
def test_warning_is_shown_without_stopping_anything(
    gate: Gate, bad_rows: list[str], expectation: str, column: str
) -> None:
    gate.deliver("shop_orders", "orders_0001.csv", [*lines("shop_orders", 0, 20), *bad_rows])
    result = gate.run("shop_orders")
    evaluations = checks(result)
    assert evaluations["gx_critical"].passed
    warning = evaluations["gx_warnings"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert f"{column}: expected" in warning.description and "orders_0001.csv" in warning.description
    assert expectation in warning.metadata["failures"].value
    assert result.success and ran_downstream(result, "shop_orders")


def test_rows_without_keys_are_rejected_at_ingestion_and_the_run_goes_on(gate: Gate) -> None:
    gate.deliver("shop_orders", "orders_0001.csv",
                 [*lines("shop_orders", 0, 20), line("shop_orders", 90, order_id=""), line("shop_orders", 91,
                                                                                          line_number="")])
    result = gate.run("shop_orders")
    assert_clean(result, "shop_orders")
    assert gate.query("select source_row, reason from raw.rejected_rows order by 1") == [
        (22, "required column order_id is empty"), (23, "required column line_number is empty")]
    assert gate.query("select count(*) from raw.shop_orders") == [(20,)]


def test_sudden_volume_collapse_stops_downstream_until_redelivered(gate: Gate) -> None:
    for day in range(1, 6):
        gate.deliver("shop_orders", f"orders_2024030{day}.csv", lines("shop_orders", day * 100, 40))
    assert_clean(gate.run("shop_orders"), "shop_orders")

    gate.deliver("shop_orders", "orders_20240306.csv", lines("shop_orders", 600, 4))  # a 90 % drop
    blocked = gate.run("shop_orders")
    critical = checks(blocked)["gx_critical"]
    assert not critical.passed and not ran_downstream(blocked, "shop_orders")
    for part in ("orders_20240306.csv", "row count ≥ 20", "median 40 of the previous 5 file(s)", "observed 4"):
        assert part in critical.description, (part, critical.description)

    gate.deliver("shop_orders", "orders_20240306.csv", lines("shop_orders", 600, 38))
    assert_clean(gate.run("shop_orders"), "shop_orders")


def test_late_rows_file_landing_with_its_history_is_not_a_volume_collapse(gate: Gate) -> None:
    """Files of one load are not held against each other; a later small file is held against them."""
    gate.deliver("shop_orders", "orders_part0000.csv", lines("shop_orders", 0, 60))
    gate.deliver("shop_orders", "orders_part0001.csv", lines("shop_orders", 100, 2))  # the late rows
    assert_clean(gate.run("shop_orders"), "shop_orders")

    gate.deliver("shop_orders", "orders_part0002.csv", lines("shop_orders", 200, 3))
    critical = checks(gate.run("shop_orders"))["gx_critical"]
    assert not critical.passed
    assert "orders_part0002.csv: (table): expected row count ≥ 16" in critical.description  # median(60, 2) = 31
    assert "orders_part0001.csv" not in critical.description


def test_values_that_look_like_sql_are_just_data(gate: Gate) -> None:
    evil = "'); drop table raw.products; --"
    gate.deliver("products", "products_0001.csv", [
        *lines("products", 0, 5), line("products", 9, product_name=evil, category="1 OR 1=1")])
    assert_clean(gate.run("products"), "products")
    assert gate.query("select product_name, category from raw.products where product_id = 'P9'") == [
        (evil, "1 OR 1=1")]
    assert gate.query("select count(*) from raw.gx_validation_results") == [(1,)]


def test_a_source_with_no_delivery_does_not_pass_silently(gate: Gate) -> None:
    result = gate.run("products")
    critical = checks(result)["gx_critical"]
    assert not critical.passed and not ran_downstream(result, "products")
    assert "no current file with loadable rows in landing/products/" in critical.description
    assert "row count ≥ 1" in critical.description


def test_a_source_this_deployment_does_not_expect_passes_when_absent(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. the CDNOW demo: shop orders only, no engagement feeds
    monkeypatch.setenv("C360_EXPECTED_SOURCES", "shop_orders")
    result = gate.run("products")
    critical = checks(result)["gx_critical"]
    assert critical.passed and ran_downstream(result, "products")
    assert "none expected" in critical.description
    # once a file arrives anyway, it is validated like any other
    gate.deliver("products", "products_0001.csv", [line("products", 1, list_price="-5")])
    assert not checks(gate.run("products"))["gx_critical"].passed


def test_an_unknown_expected_source_is_an_error_not_a_silent_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.settings import expected_sources

    monkeypatch.setenv("C360_EXPECTED_SOURCES", "shop_orders,shop_ordrs")
    with pytest.raises(ValueError, match="shop_ordrs"):
        expected_sources(list(SOURCES))
