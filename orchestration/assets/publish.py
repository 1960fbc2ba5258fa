"""The analysts' copy of the warehouse and the one-page report, as the last two assets of a run.

``publish`` depends on every analyst-facing mart (read from the dbt manifest, see
:mod:`orchestration.publish`), so it runs once they are all built and not at all when one of
them failed: analysts keep the last good copy. ``report`` renders ``report.html`` from the
published copy (never from the live warehouse), so the report shows exactly what analysts
can query.

Both carry an automation condition: when marts are rebuilt by something other than
``full_build`` (a sensor-triggered partial run, a rerun from the UI), the automation sensor
republishes once no mart is still being built and none of them failed.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.publish import analyst_tables, load_manifest, open_published, publish, restricted_tables
from orchestration.report import build_report
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR, published_path_for, report_path_for

GROUP = "published"
PUBLISH_KEY = dg.AssetKey(["publish"])
REPORT_KEY = dg.AssetKey(["report"])

# Read once when the code location loads, as the dbt assets read the same manifest.
_MANIFEST = load_manifest(DBT_PROJECT_DIR / "target" / "manifest.json")
PUBLISHED_TABLES = analyst_tables(_MANIFEST)
RESTRICTED_TABLES = restricted_tables(_MANIFEST)

#: rebuild when an upstream asset was updated, but never mid-run and never after a failed upstream step
AFTER_SUCCESSFUL_UPDATES = dg.AutomationCondition.eager() & ~dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.execution_failed()
)


def _markdown_rows(rows: dict[str, int]) -> str:
    lines = ["| table | rows |", "|---|---:|"]
    lines += [f"| marts.{name} | {n:,} |" for name, n in sorted(rows.items())]
    return "\n".join(lines)


@dg.asset(
    key=PUBLISH_KEY,
    group_name=GROUP,
    deps=sorted({dg.AssetKey(list(t.asset_key)) for t in PUBLISHED_TABLES}, key=lambda k: k.to_user_string()),
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    automation_condition=AFTER_SUCCESSFUL_UPDATES,
    description="The analyst-facing marts (no restricted identity tables) copied into published/c360.duckdb, "
    "built as a new file and swapped in atomically: open read-only sessions keep their snapshot and never "
    "block a run.",
)
def publish_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    target = published_path_for(warehouse.path)
    with warehouse.connect(read_only=True) as con:
        result = publish(con, target, PUBLISHED_TABLES, context.run_id, datetime.now(UTC), RESTRICTED_TABLES)
    if result.missing:
        context.log.warning(f"declared but not built yet, left out: {', '.join(result.missing)}")
    if result.unpublished:
        context.log.warning(
            "tables in marts that no dbt model or source declares were NOT published (declare them, with "
            f"meta restricted: true if they are not for analysts): {', '.join(result.unpublished)}"
        )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "tables": dg.MetadataValue.int(len(result.row_counts)),
            "dagster/row_count": dg.MetadataValue.int(sum(result.row_counts.values())),
            "size_mb": dg.MetadataValue.float(round(result.size_bytes / 1e6, 2)),
            "publish_seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            "row_counts": dg.MetadataValue.md(_markdown_rows(result.row_counts)),
            "missing": dg.MetadataValue.text(", ".join(result.missing) or "none"),
            "unpublished": dg.MetadataValue.text(", ".join(result.unpublished) or "none"),
            "query": dg.MetadataValue.md(f"```\nduckdb -readonly {result.path}\n```"),
        }
    )


@dg.asset(
    key=REPORT_KEY,
    group_name=GROUP,
    deps=[PUBLISH_KEY],
    kinds={"html"},
    automation_condition=AFTER_SUCCESSFUL_UPDATES,
    description="One self-contained HTML page (charts embedded as PNG) for marketers, rendered from the "
    "published warehouse: segments, revenue concentration, RFM, migration, CLV, lifecycle, churn, campaigns.",
)
def report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    # No warehouse pool: the report reads only the published copy, which no run locks.
    source = published_path_for(warehouse.path)
    target = report_path_for(warehouse.path)
    with open_published(source) as con:
        result = build_report(con, target)
    context.log.info(f"report written to {target}: {len(result.available)} sections, missing {result.unavailable}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "size_kb": dg.MetadataValue.float(round(result.size_bytes / 1e3, 1)),
            "sections_available": dg.MetadataValue.int(len(result.available)),
            "sections_not_available": dg.MetadataValue.text(", ".join(result.unavailable) or "none"),
        }
    )


publish_assets = [publish_warehouse, report]
