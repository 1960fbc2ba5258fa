"""Ingestion + staging as real Dagster materialisations on a throwaway warehouse.

Row counts are asserted against what the simulator says it wrote (its ground truth),
not against what the pipeline reports about itself.
"""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster import ExecuteInProcessResult

from orchestration.assets.dbt import c360_dbt_models
from orchestration.assets.ingestion import ingestion_assets
from orchestration.checks.ingestion import ingestion_checks
from orchestration.contracts import SOURCES
from orchestration.resources import WarehouseResource, default_resources

pytestmark = pytest.mark.integration


def _materialize(warehouse: Path, landing: Path) -> ExecuteInProcessResult:
    resources = default_resources()
    resources["warehouse"] = WarehouseResource(path=str(warehouse), landing_dir=str(landing))
    return dg.materialize(
        [*ingestion_assets, c360_dbt_models, *ingestion_checks],
        selection=dg.AssetSelection.groups("raw", "staging"),
        resources=resources,
    )


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExecuteInProcessResult]:
    warehouse = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    result = _materialize(warehouse, simulated / "landing")
    return warehouse, result


def test_run_succeeds_with_checks_passing(built):
    _, result = built
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    ours = [e for e in evaluations if e.check_name in ("row_accounting", "files_trusted")]
    assert len(ours) == 2 * len(SOURCES)
    dbt_tests = [e for e in evaluations if e not in ours]
    assert len(dbt_tests) > 100  # dbt's tests on staging arrive as asset checks
    failed = [(e.check_name, e.description) for e in evaluations if not e.passed]
    # Only warn-severity dbt tests may fail on noisy data (e.g. orders for unknown products).
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations if not e.passed), failed


def test_raw_rows_match_what_the_simulator_wrote(built, simulated: Path):
    warehouse, _ = built
    files = pd.read_parquet(simulated / "ground_truth" / "files.parquet")
    expected = files.groupby("source")[["data_rows", "malformed_rows"]].sum()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for source in SOURCES:
            loaded = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
            rejected = con.execute(
                "select count(*) from raw.rejected_rows where source = ?", [source]
            ).fetchone()[0]
            truth = expected.loc[source]
            assert loaded + rejected == truth.data_rows, source
            assert rejected == truth.malformed_rows, source
        per_file = con.execute(
            "select file_name, rows_landed from raw.load_manifest where is_current order by 1"
        ).df()
    truth_files = files.set_index("file_name")["data_rows"]
    assert dict(zip(per_file.file_name, per_file.rows_landed, strict=True)) == truth_files.to_dict()


def test_staging_deduplicates_to_the_true_records(built, simulated: Path):
    warehouse, _ = built
    records = pd.read_parquet(simulated / "ground_truth" / "records.parquet")
    keys = records.groupby("source")["record_key"].nunique()
    orders = records.loc[records.source == "shop_orders", "record_key"].str.split("|").str[0].nunique()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        def n(table: str) -> int:
            return con.execute(f"select count(*) from staging.{table}").fetchone()[0]

        assert n("stg_shop_orders__order_lines") == keys["shop_orders"]
        assert n("stg_shop_orders__orders") == orders
        assert n("stg_web_events__events") == keys["web_events"]
        assert n("stg_email_engagement__events") == keys["email_engagement"]
        files = pd.read_parquet(simulated / "ground_truth" / "files.parquet").set_index("source")
        assert n("stg_products__products") == files.loc["products", "data_rows"]  # no noise in the catalogue
        assert n("stg_crm_profiles__members") == records.loc[
            records.source == "crm_profiles", "record_key"
        ].str.split("|").str[0].nunique()


def test_rerun_loads_nothing_twice(built, simulated: Path):
    warehouse, _ = built
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute("select count(*) from raw.shop_orders").fetchone()[0]
    result = _materialize(warehouse, simulated / "landing")
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.shop_orders").fetchone()[0] == before
        files = con.execute("select count(*) from raw.load_manifest").fetchone()[0]
    assert files == sum(1 for _ in (simulated / "landing").glob("*/*"))
