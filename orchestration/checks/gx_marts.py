"""Great Expectations gates on the analyst-facing marts: blocking on critical failures, reporting warnings.

Every gated mart has ``expectations/marts.<mart>.json`` (same format and severity
convention as the raw suites) and one Dagster multi-asset check with two results:
``gx_critical`` (blocking: a failure stops everything downstream of the mart in the run)
and ``gx_warnings`` (reported, never blocking). Both come from one validation, so a mart
is read once per check run.

Bounded cost at any size. GX validates a pandas batch; at 1M customers the event-grain
marts hold tens of millions of rows, so a mart bigger than ``batch.max_rows`` (suite meta)
is validated as a reproducible random sample of that many rows *plus every row that SQL,
over the whole table, finds breaking a rule it can express* (nulls, ranges, value sets,
column pairs, key uniqueness, relationships), up to ``batch.suspect_rows``. So a single bad
row among 50M is still caught and shown by GX, while memory stays bounded. Rules SQL cannot
express here (types, regexes, ``mostly`` shares) are judged on the sample, where a random
sample is exactly what a ``mostly`` share needs.

Relationships (every ``fct_orders.customer_id`` in ``dim_customers``) are declared in the
suite meta (``c360.relationships``) and computed in DuckDB with an anti-join: the batch gets a
derived column ``_<column>_missing_from_<parent>`` holding the offending value, and the suite
expects it to be null, so GX reports the count and sample of unknown ids. GX 1.24's own
answer, ``UnexpectedRowsExpectation``, needs a SQL data source, which has no DuckDB dialect
here and was seen failing (DESIGN.md); a value set fed with the parent's keys would write a
million ids into every validation result and Data Docs page.

Volume: ``_table_row_count`` (the whole table's count, also a derived column) must not drop
more than ``volume.max_drop_share`` below the last *accepted* build (critical expectations
passed), kept in ``raw.gx_mart_baselines``: a collapsed mart stays blocked until it is fixed,
however often it is rebuilt. Value sets can come from the dbt seeds and vars
(``c360.parameters``), so ``rfm_segment`` is checked against ``rfm_group_rules`` as dbt uses it.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation of a
# check at definition time and does not resolve string annotations there.
import csv
import dataclasses
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
import pandas as pd
import yaml

from orchestration.checks.gx_checks import describe_failures, docs_dir_for, markdown_table
from orchestration.contracts import SOURCES
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR, expected_sources

if TYPE_CHECKING:
    from orchestration.checks.gx import BatchResult, Suite

log = logging.getLogger(__name__)

#: Analyst-facing marts with a suite and a gate. The restricted identity tables
#: (customer_identities, customer_id_history, identity_resolution_report) are not gated here:
#: they hold raw identifiers and are covered by dbt tests and the identity evaluation.
GATED_MARTS: tuple[str, ...] = (
    "dim_customers",
    "fct_orders",
    "fct_engagement",
    "customer_rfm",
    "rfm_history",
    "customer_clv",
    "customer_historical_clv",
    "clv_by_acquisition_channel",
    "customer_features",
    "customer_segments",
    "segment_profiles",
    "customer_churn_risk",
    "customer_lifecycle",
    "lifecycle_history",
    "customer_vap",
)
SCHEMA = "marts"
DEFAULT_MAX_ROWS = 200_000
DEFAULT_SUSPECT_ROWS = 10_000
SAMPLE_SEED = 42
ROW_COUNT = "_table_row_count"
KEY = "_key"
BASELINES_DDL = """
create table if not exists raw.gx_mart_baselines (
    mart varchar not null,
    accepted_rows bigint not null,
    validated_at timestamp not null
)
"""
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# The only row_condition form translated to SQL: column=="value" (pandas query syntax).
_EQUALS = re.compile(r'^\s*([a-z_][a-z0-9_]*)\s*==\s*"([^"\\]*)"\s*$')


def _q(name: str) -> str:
    """A quoted identifier; names come from suites and the catalogue, never from data, and are checked."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class Relationship:
    """``column`` of the mart must exist in ``parent.field`` (nulls allowed: 'no customer' is not 'unknown')."""

    column: str
    parent: str
    field: str

    @property
    def derived(self) -> str:
        return f"_{self.column}_missing_from_{self.parent}"

    @classmethod
    def from_meta(cls, spec: Mapping[str, Any]) -> "Relationship":
        schema, _, table = str(spec["to"]).rpartition(".")
        if schema not in ("", SCHEMA):
            raise ValueError(f"relationship to {spec['to']}: only {SCHEMA}.<table> parents are supported")
        return cls(spec["column"], table, spec.get("field", spec["column"]))


@dataclass
class MartValidation:
    """One mart's verdict and how much of it GX saw."""

    mart: str
    result: "BatchResult"
    table_rows: int
    rows_validated: int
    sampled: bool
    suspect_rows: int
    baseline: int | None

    def coverage(self) -> str:
        if not self.sampled:
            return f"every row validated ({self.table_rows:,})"
        return (
            f"{self.rows_validated:,} of {self.table_rows:,} rows validated: a random sample plus the "
            f"{self.suspect_rows:,} row(s) SQL found breaking a rule over the whole table"
        )


# ── suite parameters ─────────────────────────────────────────────────────────────────────────


def seed_values(seed: str, column: str, seeds_dir: Path = DBT_PROJECT_DIR / "seeds") -> list[Any]:
    """Distinct values of a seed column, in file order (integers as integers)."""
    with (seeds_dir / f"{seed}.csv").open(newline="") as f:
        values = [row[column] for row in csv.DictReader(f)]
    return list(dict.fromkeys(int(v) if v.lstrip("-").isdigit() else v for v in values))


def dbt_var_keys(name: str, project_file: Path = DBT_PROJECT_DIR / "dbt_project.yml") -> list[str]:
    """The keys of a dict-valued dbt var (e.g. the currencies ``currency_rates`` can convert)."""
    value = yaml.safe_load(project_file.read_text())["vars"][name]
    if not isinstance(value, dict):
        raise ValueError(f"dbt var {name} is not a mapping")
    return sorted(value)


def suite_parameters(suite: "Suite", now: datetime) -> dict[str, Any]:
    """Time bounds (not before the business began, not in the future) and value sets from seeds / vars."""
    from orchestration.checks import gx as gxlib

    params: dict[str, Any] = gxlib.time_parameters(suite, now)
    for name, spec in (suite.settings.get("parameters") or {}).items():
        if "seed" in spec:
            params[name] = seed_values(spec["seed"], spec["column"])
        elif "dbt_var" in spec:
            params[name] = dbt_var_keys(spec["dbt_var"])
        else:
            raise ValueError(f"suite {suite.name}: parameter {name} needs a seed or a dbt_var")
    return params


def volume_floor(previous: int | None, suite: "Suite") -> dict[str, Any] | None:
    """``_table_row_count`` ≥ (1 - max_drop_share) x the last accepted build's rows."""
    volume = suite.settings.get("volume") or {}
    share = volume.get("max_drop_share")
    if share is None or not previous:
        return None
    floor = math.ceil(round(previous * (1 - float(share)), 6))
    if floor <= 1:  # "at least one row" is in the suite already
        return None
    return {
        "type": "expect_column_min_to_be_between",
        "kwargs": {"column": ROW_COUNT, "min_value": floor},
        "meta": {
            "severity": volume.get("severity", "critical"),
            "rule": f"row count ≥ {floor:,}, i.e. at most {float(share):.0%} below the {previous:,} rows of the "
            "last accepted build",
            "why": volume.get("why", "a mart that collapses between builds usually lost an upstream source"),
        },
    }


# ── the batch: whole table, or a sample plus every row SQL finds suspect ─────────────────────


def _resolve(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _condition_sql(kwargs: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
    """SQL for a row_condition of the form col=="value"; None when there is one we cannot translate."""
    condition = kwargs.get("row_condition")
    if not condition:
        return "true", []
    match = _EQUALS.match(condition)
    return (f"{_q(match.group(1))} = ?", [match.group(2)]) if match else None


def _bound(value: Any) -> str:
    # ISO strings are time bounds (suite parameters); compare them as timestamps.
    return "cast(? as timestamp)" if isinstance(value, str) else "?"


def suspect_predicates(suite: "Suite", params: Mapping[str, Any], columns: set[str]) -> list[tuple[str, list[Any]]]:
    """Row predicates (SQL, arguments) equivalent to the suite's row-level rules that SQL can express.

    Used only to find the rows a sample would miss; GX still judges them. Expectations with a
    ``mostly`` share are left to the random sample, which estimates a share without bias.
    """
    out: list[tuple[str, list[Any]]] = []
    for exp in suite.expectations:
        kw, kind = exp["kwargs"], exp["type"]
        named = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        if kw.get("mostly") is not None or not named or not set(named) <= columns:
            continue
        condition = _condition_sql(kw)
        if condition is None:
            continue
        where, args = condition
        c = _q(named[0])
        if kind == "expect_column_values_to_not_be_null":
            pred, pargs = f"{c} is null", []
        elif kind == "expect_column_values_to_be_null":
            pred, pargs = f"{c} is not null", []
        elif kind == "expect_column_values_to_be_in_set":
            pred, pargs = f"{c} is not null and not list_contains(?, {c})", [_resolve(kw["value_set"], params)]
        elif kind == "expect_column_values_to_be_between":
            parts, pargs = [], []
            lo, hi = _resolve(kw.get("min_value"), params), _resolve(kw.get("max_value"), params)
            if lo is not None:
                parts.append(f"{c} {'<=' if kw.get('strict_min') else '<'} {_bound(lo)}")
                pargs.append(lo)
            if hi is not None:
                parts.append(f"{c} {'>=' if kw.get('strict_max') else '>'} {_bound(hi)}")
                pargs.append(hi)
            if not parts:
                continue
            pred = " or ".join(parts)
        elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
            a, b = _q(kw["column_A"]), _q(kw["column_B"])
            pred, pargs = (f"{a} < {b}" if kw.get("or_equal") else f"{a} <= {b}"), []
        else:
            continue
        out.append((f"({where}) and ({pred})", args + pargs))
    return out


def unique_keys(suite: "Suite", columns: set[str]) -> list[list[str]]:
    """Column sets the suite expects to be unique (their duplicates are found over the whole table)."""
    keys = []
    for exp in suite.expectations:
        kw = exp["kwargs"]
        if exp["type"] == "expect_column_values_to_be_unique":
            keys.append([kw["column"]])
        elif exp["type"] == "expect_compound_columns_to_be_unique":
            keys.append(list(kw["column_list"]))
    return [k for k in keys if set(k) <= columns]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "and table_catalog = current_database() order by ordinal_position",
            [SCHEMA, table],
        ).fetchall()
    ]


def read_batch(
    con: duckdb.DuckDBPyConnection,
    suite: "Suite",
    mart: str,
    params: Mapping[str, Any],
    max_rows: int,
    suspect_cap: int,
) -> tuple[pd.DataFrame, int, bool, int]:
    """The rows GX validates: (frame, rows in the table, sampled?, suspect rows found by SQL).

    The frame carries the mart's columns, the relationship columns ``_<col>_missing_from_<parent>``,
    ``_table_row_count`` and ``_key`` (the key values GX names for offending rows).
    """
    columns = _columns(con, mart)
    if not columns:
        # Not built (or dropped): an empty frame lets GX say which columns and rows are missing.
        return pd.DataFrame(), 0, False, 0
    settings = suite.settings
    rels = [Relationship.from_meta(r) for r in settings.get("relationships") or []]
    selects, joins, derived = ["t.rowid as _gate_rowid", "t.*"], [], set()
    for i, rel in enumerate(rels):
        if rel.column not in columns:
            continue  # the column's own expect_column_to_exist fails, and so does the one on the derived column
        col = f"t.{_q(rel.column)}"
        if rel.field in _columns(con, rel.parent):
            joins.append(
                f"left join (select distinct {_q(rel.field)} as k from {SCHEMA}.{_q(rel.parent)}) p{i} "
                f"on {col} = p{i}.k"
            )
            missing = f"case when {col} is not null and p{i}.k is null then {col} end"
        else:
            missing = col  # no parent table (yet): every value is unknown to it
        selects.append(f"{missing} as {_q(rel.derived)}")
        derived.add(rel.derived)
    key = [k for k in settings.get("key") or [] if k in columns] or [columns[0]]
    selects.append("concat_ws(' / ', " + ", ".join(f"t.{_q(k)}::varchar" for k in key) + f") as {KEY}")
    con.execute(
        f"create or replace temp view _gate_rows as select {', '.join(selects)} "
        f"from {SCHEMA}.{_q(mart)} t {' '.join(joins)}"
    )
    total = con.execute(f"select count(*) from {SCHEMA}.{_q(mart)}").fetchone()[0]
    order = ", ".join(_q(k) for k in key)
    if total <= max_rows:
        frame = con.execute(
            f"select * exclude (_gate_rowid), ?::bigint as {ROW_COUNT} from _gate_rows order by {order}", [total]
        ).df()
        return frame, total, False, 0

    # One scan for every row rule (OR-ed), one aggregate per unique key: the cost follows the
    # table size, not the number of expectations.
    predicates = suspect_predicates(suite, params, set(columns) | derived)
    finders = []
    if predicates:
        where = " or ".join(f"({pred})" for pred, _ in predicates)
        finders.append(
            (f"select _gate_rowid from _gate_rows where {where}", [a for _, args in predicates for a in args])
        )
    for cols in unique_keys(suite, set(columns)):
        on = " and ".join(f"v.{_q(c)} = d.{_q(c)}" for c in cols)
        listed = ", ".join(_q(c) for c in cols)
        finders.append(
            (
                f"select v._gate_rowid from _gate_rows v semi join (select {listed} from "
                f"{SCHEMA}.{_q(mart)} group by all having count(*) > 1) d on {on}",
                [],
            )
        )
    con.execute("create or replace temp table _gate_suspects (_gate_rowid bigint)")
    for sql, args in finders:
        con.execute(f"insert into _gate_suspects {sql}", args)
    suspects = con.execute("select count(distinct _gate_rowid) from _gate_suspects").fetchone()[0]
    con.execute(
        f"create or replace temp table _gate_pick as "
        f"(select distinct _gate_rowid from _gate_suspects order by 1 limit {int(suspect_cap)}) union "
        f"(select rowid from {SCHEMA}.{_q(mart)} using sample reservoir({int(max_rows)} rows) "
        f"repeatable ({SAMPLE_SEED}))"
    )
    frame = con.execute(
        f"select * exclude (_gate_rowid), ?::bigint as {ROW_COUNT} from _gate_rows "
        f"where _gate_rowid in (select _gate_rowid from _gate_pick) order by {order}",
        [total],
    ).df()
    for temp in ("_gate_suspects", "_gate_pick"):
        con.execute(f"drop table if exists {temp}")
    return frame, total, True, suspects


# ── validation ───────────────────────────────────────────────────────────────────────────────


def last_accepted(con: duckdb.DuckDBPyConnection, mart: str) -> int | None:
    row = con.execute("select accepted_rows from raw.gx_mart_baselines where mart = ?", [mart]).fetchone()
    return None if row is None else int(row[0])


def _accept(con: duckdb.DuckDBPyConnection, mart: str, rows: int) -> None:
    """Remember a build that passed every critical expectation: the next build's volume is held against it."""
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.gx_mart_baselines where mart = ?", [mart])
        con.execute("insert into raw.gx_mart_baselines values (?, ?, current_timestamp::timestamp)", [mart, rows])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def without_volume_if_unfed(suite: "Suite") -> "Suite":
    """Drop the "not empty" rule of a mart none of whose sources this deployment expects.

    A suite's ``meta.c360.fed_by`` lists the raw sources that fill the mart. When none of them
    is in C360_EXPECTED_SOURCES (e.g. no engagement feed in the CDNOW demo), an empty mart is
    the truth, not an incident; the other expectations still apply to whatever rows exist.
    """
    fed_by = suite.settings.get("fed_by")
    if not fed_by or set(fed_by) & expected_sources(list(SOURCES)):
        return suite
    kept = tuple(e for e in suite.expectations if e["type"] != "expect_table_row_count_to_be_between")
    meta = {**suite.meta, "c360": {**suite.settings, "volume": None}}
    return dataclasses.replace(suite, expectations=kept, meta=meta)


def validate_mart(
    con: duckdb.DuckDBPyConnection,
    mart: str,
    docs_dir: Path | None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    max_rows: int | None = None,
    now: datetime | None = None,
) -> MartValidation:
    """Validate one mart with its suite (plus the volume rule) and record an accepted build."""
    # GX takes ~2 s to import: loading it here keeps it out of every Dagster code-location load.
    from orchestration.checks import gx as gxlib

    con.execute("create schema if not exists raw")
    con.execute(BASELINES_DDL)
    suite = without_volume_if_unfed(gxlib.load_suite(expectations_dir / f"{SCHEMA}.{mart}.json"))
    now = now or datetime.now()
    params = suite_parameters(suite, now)
    batch = suite.settings.get("batch") or {}
    frame, total, sampled, suspects = read_batch(
        con,
        suite,
        mart,
        params,
        max_rows=int(max_rows or batch.get("max_rows", DEFAULT_MAX_ROWS)),
        suspect_cap=int(batch.get("suspect_rows", DEFAULT_SUSPECT_ROWS)),
    )
    previous = last_accepted(con, mart)
    floor = volume_floor(previous, suite)
    full_suite = suite.with_expectations([floor]) if floor else suite
    result = gxlib.validate_dataframe(
        frame,
        full_suite,
        batch_name=f"{SCHEMA}.{mart}.{now:%Y%m%dT%H%M%S}",  # no "@": Data Docs URL-encode it
        parameters=params,
        docs_dir=docs_dir,
        index_column=KEY,
    )
    if not result.failed("critical"):
        _accept(con, mart, total)
    log.info(
        "%s.%s: %d rows, %d validated, %d failed expectation(s)", SCHEMA, mart, total, len(frame), len(result.failures)
    )
    return MartValidation(mart, result, total, len(frame), sampled, suspects, previous)


def check_result(validation: MartValidation, severity: str, docs_dir: Path) -> dg.AssetCheckResult:
    """One check result: which expectations failed, how many rows, sample values and keys, Data Docs links."""
    asset = f"{SCHEMA}.{validation.mart}"
    result = validation.result
    failed = result.failed(severity)
    description = describe_failures(asset, [result], severity, unit="build") + f"; {validation.coverage()}"
    metadata: dict[str, Any] = {
        "failures": dg.MetadataValue.md(markdown_table([result], severity, unit="build")),
        "expectations_evaluated": dg.MetadataValue.int(result.evaluated),
        "expectations_failed": dg.MetadataValue.int(len(failed)),
        "unexpected_rows": dg.MetadataValue.int(sum(f.unexpected_count or 0 for f in failed)),
        "rows_in_table": dg.MetadataValue.int(validation.table_rows),
        "rows_validated": dg.MetadataValue.int(validation.rows_validated),
        "sampled": dg.MetadataValue.bool(validation.sampled),
        "suspect_rows_found_by_sql": dg.MetadataValue.int(validation.suspect_rows),
        "suite": dg.MetadataValue.path(str(EXPECTATIONS_DIR / f"{SCHEMA}.{validation.mart}.json")),
        "data_docs_index": dg.MetadataValue.url((docs_dir / "index.html").as_uri()),
    }
    if validation.baseline is not None:
        metadata["last_accepted_rows"] = dg.MetadataValue.int(validation.baseline)
    if result.docs_url:
        metadata["data_docs"] = dg.MetadataValue.url(result.docs_url)
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey([SCHEMA, validation.mart]),
        check_name="gx_critical" if severity == "critical" else "gx_warnings",
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if severity == "critical" else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def build_mart_gx_checks(mart: str) -> dg.AssetChecksDefinition:
    """Both GX checks of one mart, from one validation (a multi-asset check: the mart is read once)."""
    key = dg.AssetKey([SCHEMA, mart])
    suite_file = f"expectations/{SCHEMA}.{mart}.json"

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                "gx_critical",
                asset=key,
                blocking=True,
                description=f"Critical expectations of {suite_file} (schema and types, keys, relationships, "
                "ranges, value sets from the seeds, time bounds, volume against the last accepted build). "
                "A failure stops everything downstream of this mart in the run.",
            ),
            dg.AssetCheckSpec(
                "gx_warnings",
                asset=key,
                description=f"Warning expectations of {suite_file} (descriptive enumerations, formats, "
                "plausibility): reported, never blocking.",
            ),
        ],
        name=f"{SCHEMA}_{mart}_gx",
        pool=WAREHOUSE_POOL,
    )
    def _gx(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        docs_dir = docs_dir_for(warehouse)
        with warehouse.connect() as con:
            validation = validate_mart(con, mart, docs_dir)
        for severity in ("critical", "warning"):
            result = check_result(validation, severity, docs_dir)
            if not result.passed:
                context.log.warning(result.description)
            yield result

    return _gx


mart_gx_checks = [build_mart_gx_checks(mart) for mart in GATED_MARTS]
