"""Blocking checks on the raw layer that need no expectations suite: nothing lost, no untrusted file.

A whole file that could not be trusted (missing required columns, unreadable header,
refused name) blocks everything downstream of its source until it is re-delivered in
good shape; the check says which file and why.
"""


import dagster as dg

from orchestration.contracts import SOURCES
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource


def build_ingestion_checks(source: str) -> list[dg.AssetChecksDefinition]:
    key = dg.AssetKey(["raw", source])

    @dg.asset_check(
        asset=key, name="row_accounting", blocking=True, pool=WAREHOUSE_POOL,
        description="Every landed row is loaded, rejected or erased (a person who asked to be forgotten): "
        "landed = loaded + rejected + erased per current file, and the raw table and rejects table hold "
        "exactly the loaded and rejected rows.",
    )
    def row_accounting(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            rows = con.execute(
                f"""
                with manifest as (
                    select file_name, rows_landed, rows_loaded, rows_rejected, rows_erased
                    from raw.load_manifest
                    where source = $source and is_current and status not in ('duplicate', 'refused')
                ),
                loaded as (select _source_file as file_name, count(*) as n from raw.{source} group by 1),
                rejected as (
                    select source_file as file_name, count(*) as n from raw.rejected_rows
                    where source = $source group by 1
                )
                select m.file_name, m.rows_landed, m.rows_loaded, m.rows_rejected,
                    coalesce(l.n, 0) as in_raw, coalesce(r.n, 0) as in_rejects
                from manifest m
                left join loaded l using (file_name)
                left join rejected r using (file_name)
                where m.rows_landed <> m.rows_loaded + m.rows_rejected + m.rows_erased
                    or coalesce(l.n, 0) <> m.rows_loaded or coalesce(r.n, 0) <> m.rows_rejected
                order by 1
                """,
                {"source": source},
            ).fetchall()
        broken = [
            f"{f}: landed {a}, loaded {b} (raw holds {d}), rejected {c} (rejects hold {e})"
            for f, a, b, c, d, e in rows
        ]
        return dg.AssetCheckResult(
            passed=not broken,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(broken[:20]) or "every landed row is accounted for",
            metadata={"files_out_of_balance": len(broken)},
        )

    @dg.asset_check(
        asset=key, name="files_trusted", blocking=True, pool=WAREHOUSE_POOL,
        description="No current landing file was rejected whole (missing required column, unreadable "
        "header) or refused (unsafe name, unknown format).",
    )
    def files_trusted(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            bad = con.execute(
                "select file_name, status, message, rows_rejected from raw.load_manifest "
                "where source = ? and is_current and status in ('rejected_file', 'refused') order by 1",
                [source],
            ).fetchall()
        text = "; ".join(f"data/landing/{source}/{f} {s}: {m} ({n} rows quarantined)" for f, s, m, n in bad)
        return dg.AssetCheckResult(
            passed=not bad,
            description=text or "all current files were readable against the contract",
            metadata={"untrusted_files": len(bad)},
        )

    return [row_accounting, files_trusted]


ingestion_checks = [check for source in SOURCES for check in build_ingestion_checks(source)]
