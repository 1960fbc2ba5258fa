"""Checks that erasure requests were honoured and that erased people stay gone.

Neither blocks: an unreadable request must not stop the warehouse (the data published is no
worse than before the request arrived), but both fail loudly (severity ERROR) because a
request that was not honoured needs a person to act.
"""

import dagster as dg
import duckdb

from orchestration import erasure
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

CUSTOMER_IDENTITIES = dg.AssetKey(["marts", "customer_identities"])


@dg.asset_check(
    asset=dg.AssetKey(list(erasure.ASSET_KEY)), name="requests_applied", blocking=False, pool=WAREHOUSE_POOL,
    description="Every delivered erasure request was read and applied: no request file rejected or refused, "
    "no request row rejected, no request in the latest pass invalid or naming a placeholder, and every request "
    "file's rows accounted for (landed = loaded + rejected + erased).",
)
def requests_applied(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        erasure.ensure_tables(con)
        files = con.execute(
            "select file_name, status, message, rows_landed - rows_loaded - rows_rejected - rows_erased "
            "from raw.load_manifest where source = 'erasure_requests' and is_current and status <> 'duplicate' "
            "order by 1"
        ).fetchall() if _has_manifest(con) else []
        rejected = con.execute(
            "select source_file, source_row, reason from raw.rejected_rows where source = 'erasure_requests' "
            "order by 1, 2"
        ).fetchall() if _has_manifest(con) else []
        unapplied = con.execute(
            "select request_id, status from raw.erasure_log "
            "where processed_at = (select max(processed_at) from raw.erasure_log) "
            "and status in ('invalid', 'junk_value') order by 1"
        ).fetchall()
    problems = [f"{f} {s}: {m}" for f, s, m, _ in files if s in ("rejected_file", "refused")]
    problems += [f"{f} unbalanced by {d} row(s)" for f, s, _, d in files if d and s != "refused"]
    problems += [f"{f} line {line} rejected: {reason}" for f, line, reason in rejected]
    problems += [f"request {r}: {s}" for r, s in unapplied]
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems[:20]) or "every delivered erasure request was applied",
        metadata={"problems": len(problems), "request_files": len(files)},
    )


def _has_manifest(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select exists (select 1 from duckdb_tables() where schema_name = 'raw' and table_name = 'load_manifest')"
    ).fetchone()[0])


@dg.asset_check(
    asset=CUSTOMER_IDENTITIES, name="erased_identifiers_absent", blocking=False, pool=WAREHOUSE_POOL,
    description="No identifier and no customer id in marts.customer_identities matches a tombstone of "
    "raw.erasure_tombstones: erased people did not come back (a re-delivered file, or an identifier column "
    "the loader's suppression does not know yet: orchestration/erasure.py RAW_IDENTIFIERS).",
)
def erased_identifiers_absent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        # hash each row once, then an equality join (an OR join would hash every pair)
        identifiers, customers = con.execute(f"""
            with hashed as (
                select identifier_type, customer_id,
                    {erasure.hash_sql('identifier_type', 'identifier_value')} as identifier_hash
                from marts.customer_identities
                union all
                select '{erasure.CUSTOMER_ID}', customer_id,
                    {erasure.hash_sql(f"'{erasure.CUSTOMER_ID}'", 'customer_id')}
                from (select distinct customer_id from marts.customer_identities)
            )
            select
                count(*) filter (where h.identifier_type <> '{erasure.CUSTOMER_ID}'),
                count(distinct h.customer_id) filter (where h.identifier_type = '{erasure.CUSTOMER_ID}')
            from hashed as h
            inner join raw.erasure_tombstones as t
                on t.identifier_type = h.identifier_type and t.identifier_hash = h.identifier_hash
        """).fetchone()
    passed = not identifiers and not customers
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="no erased identifier or customer id is resolved again" if passed else
        f"{identifiers} erased identifier(s) and {customers} erased customer id(s) are in customer_identities: "
        "a source column carrying them is missing from the loader's suppression, or they were loaded "
        "before the tombstone existed",
        metadata={"erased_identifiers_found": int(identifiers), "erased_customer_ids_found": int(customers)},
    )


erasure_checks = [requests_applied, erased_identifiers_absent]
