"""Bad data stops at the marts too: GX gates on the analyst-facing marts, materialised with Dagster.

The session's ``full_warehouse`` (every asset and check of the code location, built on
simulated data as ``make demo`` builds it) must have passed every mart gate. Each fault test
then breaks one mart in a copy of that warehouse, runs the mart's real gate with a stand-in
for the asset that built it and a downstream asset, and asserts what a data engineer sees:
a blocking check naming the mart, the column, the rule and the offending values and keys,
with a Data Docs link, and a downstream asset that did not run; or a warning that stops
nothing. Repairing the table lets the next run through.
"""

import shutil
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import duckdb
import pytest

from orchestration.checks.gx_marts import GATED_MARTS, build_mart_gx_checks, validate_mart
from orchestration.resources import WarehouseResource

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(full_warehouse: Path, tmp_path: Path) -> WarehouseResource:
    shutil.copy(full_warehouse, tmp_path / "warehouse.duckdb")
    return WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), landing_dir=str(tmp_path / "landing"))


def sql(warehouse: WarehouseResource, statement: str) -> list[tuple]:
    with duckdb.connect(warehouse.path) as con:
        return con.execute(statement).fetchall()


def gate(warehouse: WarehouseResource, mart: str) -> dg.ExecuteInProcessResult:
    key = dg.AssetKey(["marts", mart])

    @dg.asset(key=key)
    def built() -> None:
        """Stands in for the dbt model or Python asset: the table is already in the warehouse."""

    @dg.asset(name=f"after_{mart}", deps=[key])
    def downstream() -> None:
        """Stands in for the models and marts built from this mart."""

    return dg.materialize(
        [built, downstream, build_mart_gx_checks(mart)], resources={"warehouse": warehouse}, raise_on_error=False
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def ran_downstream(result: dg.ExecuteInProcessResult, mart: str) -> bool:
    return dg.AssetKey(f"after_{mart}") in {e.asset_key for e in result.get_asset_materialization_events()}


def assert_passes(warehouse: WarehouseResource, mart: str) -> None:
    result = gate(warehouse, mart)
    found = evaluations(result)
    assert set(found) == {"gx_critical", "gx_warnings"}
    assert all(e.passed for e in found.values()), {n: e.description for n, e in found.items()}
    assert result.success and ran_downstream(result, mart)


def assert_blocked(warehouse: WarehouseResource, mart: str, *words: str) -> dg.AssetCheckEvaluation:
    result = gate(warehouse, mart)
    critical = evaluations(result)["gx_critical"]
    assert not critical.passed and critical.severity == dg.AssetCheckSeverity.ERROR
    for part in (f"marts.{mart}", *words):
        assert part in (critical.description or ""), (part, critical.description)
    docs = critical.metadata["data_docs"].value
    assert docs.startswith("file://") and Path(unquote(docs.removeprefix("file://"))).is_file()
    assert not result.success and not ran_downstream(result, mart)
    return critical


def test_every_mart_passed_its_gate_in_the_full_build(full_warehouse: Path, tmp_path: Path) -> None:
    """The full build ran every mart gate and accepted every mart: no false critical failure on good data."""
    with duckdb.connect(str(full_warehouse), read_only=True) as con:
        accepted = dict(con.execute("select mart, accepted_rows from raw.gx_mart_baselines").fetchall())
        counts = {m: con.execute(f"select count(*) from marts.{m}").fetchone()[0] for m in GATED_MARTS}
    assert accepted == counts
    shutil.copy(full_warehouse, tmp_path / "w.duckdb")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        for mart in GATED_MARTS:
            result = validate_mart(con, mart, None).result
            assert not result.failed("critical"), (mart, [f.summary() for f in result.failed("critical")])


def test_order_of_an_unknown_customer_blocks_downstream_until_repaired(warehouse: WarehouseResource) -> None:
    sql(
        warehouse,
        "insert into marts.fct_orders select * replace ('GHOST-1' as order_id, "
        "'cus_ghost00000000000000000000' as customer_id) from marts.fct_orders limit 1",
    )
    critical = assert_blocked(
        warehouse,
        "fct_orders",
        "_customer_id_missing_from_dim_customers",
        "every customer_id to exist in marts.dim_customers.customer_id",
        "'cus_ghost00000000000000000000'",
        "(keys GHOST-1)",
    )
    assert critical.metadata["unexpected_rows"].value == 1
    assert "cus_ghost" in critical.metadata["failures"].value

    sql(warehouse, "delete from marts.fct_orders where order_id = 'GHOST-1'")
    assert_passes(warehouse, "fct_orders")


def test_probability_outside_0_1_in_a_python_written_mart_blocks(warehouse: WarehouseResource) -> None:
    (customer,) = sql(warehouse, "select min(customer_id) from marts.customer_churn_risk")[0]
    sql(warehouse, f"update marts.customer_churn_risk set churn_probability = 1.2 where customer_id = '{customer}'")
    assert_blocked(
        warehouse, "customer_churn_risk", "churn_probability: expected ≥ 0.0 and ≤ 1.0", "1.2", f"(keys {customer})"
    )


def test_segment_name_not_in_the_rule_seed_blocks(warehouse: WarehouseResource) -> None:
    sql(warehouse, "update marts.customer_rfm set rfm_segment = 'Sleepy' where r_score = 1")
    assert_blocked(warehouse, "customer_rfm", "rfm_segment: expected one of Champions", "'Sleepy'")


def test_collapse_against_the_last_accepted_build_blocks(warehouse: WarehouseResource) -> None:
    (before,) = sql(warehouse, "select accepted_rows from raw.gx_mart_baselines where mart = 'customer_clv'")[0]
    sql(warehouse, "delete from marts.customer_clv where clv_decile > 1")
    (after,) = sql(warehouse, "select count(*) from marts.customer_clv")[0]
    assert_blocked(
        warehouse,
        "customer_clv",
        "_table_row_count",
        f"{before:,} rows of the last accepted build",
        f"observed {after}",
    )


def test_a_warning_is_shown_without_stopping_anything(warehouse: WarehouseResource) -> None:
    sql(warehouse, "update marts.dim_customers set gender = 'robot' where gender = 'other'")
    result = gate(warehouse, "dim_customers")
    found = evaluations(result)
    assert found["gx_critical"].passed
    warning = found["gx_warnings"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "gender: expected one of female, male, other, unknown" in (warning.description or "")
    assert "'robot'" in (warning.description or "")
    assert result.success and ran_downstream(result, "dim_customers")
