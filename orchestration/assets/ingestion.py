"""One ingestion asset per landing source: new files in, typed rows to raw, bad rows to rejects."""

from pathlib import Path

import dagster as dg

from orchestration.contracts import SOURCES, SourceContract
from orchestration.ingestion import SourceLoad, load_source
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource


def _files_table(result: SourceLoad) -> str:
    rows = ["| file | status | landed | loaded | rejected | erased | note |", "|---|---|---:|---:|---:|---:|---|"]
    rows += [
        f"| {f.file_name} | {f.status} | {f.rows_landed} | {f.rows_loaded} | {f.rows_rejected} | {f.rows_erased} "
        f"| {f.message} |"
        for f in result.files[:200]
    ]
    return "\n".join(rows)


def build_ingestion_asset(contract: SourceContract) -> dg.AssetsDefinition:
    @dg.asset(
        name=contract.name,
        key_prefix="raw",
        group_name="raw",
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
        description=f"{contract.description} Every landed row of data/landing/{contract.name}/, "
        "typed against the source contract; rows that fail are kept in raw.rejected_rows.",
        metadata={"dagster/table_name": f"raw.{contract.name}"},
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            result = load_source(con, contract.name, Path(warehouse.landing_dir))
            total = con.execute(f"select count(*) from raw.{contract.name}").fetchone()[0]
            rejects = con.execute(
                "select count(*) from raw.rejected_rows where source = ?", [contract.name]
            ).fetchone()[0]
        for f in result.files:
            if f.status in ("rejected_file", "refused"):
                context.log.error(f"{contract.name}/{f.file_name}: {f.status}: {f.message}")
            elif f.rows_rejected:
                context.log.warning(f"{contract.name}/{f.file_name}: {f.rows_rejected} row(s) rejected")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "files_processed": len(result.files),
                "rows_landed_this_run": result.rows_landed,
                "rows_loaded_this_run": result.rows_loaded,
                "rows_rejected_this_run": result.rows_rejected,
                "rows_erased_this_run": result.rows_erased,
                "rejected_rows_total": rejects,
                "files": dg.MetadataValue.md(_files_table(result) if result.files else "no new files"),
            }
        )

    return _ingest


ingestion_assets = [build_ingestion_asset(c) for c in SOURCES.values()]
