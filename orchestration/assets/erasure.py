"""Erasure as Dagster assets: the request source, and the step that forgets people before staging.

``raw/erasure_requests`` loads request files like any landing source; ``raw/erasures``
applies them (orchestration/erasure.py) and every staging model depends on it (see the
translator in assets/dbt.py), so a run never publishes a person it was asked to forget.
"""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset functions.
import os
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration import erasure
from orchestration.assets.ingestion import build_ingestion_asset
from orchestration.checks.gx_checks import docs_dir_for
from orchestration.contracts import ERASURE_REQUESTS, SOURCES
from orchestration.ingestion import ensure_raw_tables, load_source
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

erasure_requests = build_ingestion_asset(ERASURE_REQUESTS)


def exports_dir_for(warehouse: WarehouseResource) -> Path:
    """The resource says where exports go; a warehouse without one (a test's throwaway file)
    keeps them beside itself. Not read from the environment: the dbt step rewrites
    C360_WAREHOUSE_PATH in this process."""
    return Path(warehouse.exports_dir) if warehouse.exports_dir else Path(warehouse.path).parent / "exports"


def _requests_table(outcome: erasure.ErasureOutcome) -> str:
    rows = ["| request | identifier type | outcome | customers | identifiers | records |",
            "|---|---|---|---:|---:|---:|"]
    rows += [f"| {r.request_id} | {r.identifier_type} | {r.status} | {r.customers} | {r.identifiers} | {r.records} |"
             for r in outcome.requests[:200]]
    return "\n".join(rows)


@dg.asset(
    key=list(erasure.ASSET_KEY),
    group_name="raw",
    deps=[erasure_requests],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python", "dbt"},
    # Among steps ready at the same time, run after the other ingestion steps: the scope should
    # see this run's deliveries (it loads any file still pending itself, so this is only tidiness).
    op_tags={"dagster/priority": "-10"},
    description="Applies right-to-erasure requests before anything is staged: resolves who the person is "
    "on today's raw layer (dbt identity models in scratch schemas), deletes every raw and rejected row of "
    "theirs (counted as erased in raw.load_manifest), stores salted hashes of their identifiers and "
    "customer ids in raw.erasure_tombstones so re-delivered rows are dropped at load, forgets their "
    "customer ids, logs each request in raw.erasure_log and scrubs export files.",
    metadata={"dagster/table_name": "raw.erasure_log"},
)
def erasures(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dbt: DbtCliResource
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        erasure.ensure_tables(con)
        erasure.drop_scope_schemas(con)  # leftovers of a pass that crashed
        pending = erasure.pending_requests(con)
        if pending:
            # The scope is resolved on every delivered row: files this run has not loaded yet
            # (their ingestion step comes later, or is not in this run) are loaded now. A file
            # already loaded is skipped, so this is normally a checksum per file and nothing else.
            for source in SOURCES:
                load_source(con, source, Path(warehouse.landing_dir))
            ensure_raw_tables(con)  # every source dbt may read exists, even if never delivered
    outcome: erasure.ErasureOutcome | None = None
    if pending:
        context.log.info(f"{pending} erasure request row(s): resolving identities on the current raw layer")
        os.environ["C360_WAREHOUSE_PATH"] = warehouse.path  # dbt's profile reads it
        dbt.cli(erasure.scope_dbt_args(), manifest=DBT_PROJECT_DIR / "target" / "manifest.json").wait()
        with warehouse.connect() as con:
            try:
                erasure.resolve_scope(con)
                outcome = erasure.apply_scope(con)
            finally:
                erasure.drop_scope_schemas(con)
    with warehouse.connect() as con:
        # every run: a crash between the erasure and the scrub must not leave rows in exports
        exported = erasure.scrub_exports(con, exports_dir_for(warehouse))
        tombstones, logged = con.execute(
            "select (select count(*) from raw.erasure_tombstones), (select count(*) from raw.erasure_log)"
        ).fetchone()
    documents = erasure.scrub_documents(docs_dir_for(warehouse), outcome.erased_values) if outcome else []
    metadata: dict[str, dg.RawMetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(int(logged)),
        "requests_applied_this_run": len(outcome.requests) if outcome else 0,
        "tombstones": int(tombstones),
        "export_rows_removed": sum(exported.values()),
    }
    if outcome:
        for r in outcome.requests:
            if r.status in ("invalid", "junk_value"):
                context.log.error(f"erasure request {r.request_id} not applied: {r.message}")
        metadata |= {
            "requests": dg.MetadataValue.md(_requests_table(outcome)),
            "raw_rows_erased": dg.MetadataValue.json(outcome.raw_rows),
            "rejected_rows_erased": outcome.rejected_rows,
            "files_touched": outcome.files_touched,
            "tombstones_added": outcome.tombstones_added,
            "customer_ids_forgotten": outcome.customer_ids_forgotten,
            "documents_removed": len(documents),
        }
        context.log.info(
            f"erased {outcome.rows_erased} row(s) in {outcome.files_touched} file(s) for "
            f"{len(outcome.requests)} request(s); {outcome.tombstones_added} tombstone(s) added"
        )
    return dg.MaterializeResult(metadata=metadata)


erasure_assets = [erasure_requests, erasures]
