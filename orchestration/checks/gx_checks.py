"""Great Expectations gates on every raw source: blocking on critical failures, reporting warnings.

Each raw source gets two asset checks backed by ``expectations/raw.<source>.json``:

- ``gx_critical`` (blocking): fails when any critical expectation fails in any current
  landed file, and Dagster then skips everything downstream of the source in that run;
- ``gx_warnings`` (non-blocking, severity WARN): shows warning failures without stopping.

Validation is bounded: one batch per current landed file (the rows of ``raw.<source>``
whose ``_source_file`` is that file), never the whole table. A verdict is cached in
``raw.gx_validation_results`` under (source, file, file checksum, suite hash), so an
unchanged file is not validated again and the cost of a run follows the new deliveries,
not the history. Both checks share that cache: whichever runs first validates, the other
reads.

Two expectations are built at run time from the warehouse, both configured in the suite's
``meta.c360``: timestamp bounds (suite parameters: not before the business began, not
after the file arrived) and a volume floor. The floor compares each file that is new to
the gate with the median of the files it had already seen (at most ``max_drop_share``
below it); files that arrive in the same load are not compared with each other, so a
history landed at once (with its small trailing file of late rows) is not judged against
itself. The baseline is stored with the file's verdict, so a truncated file stays blocked
until it is re-delivered.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation of a
# check at definition time and does not resolve string annotations there.
import logging
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import dagster as dg
import duckdb

from orchestration.contracts import SOURCES
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import EXPECTATIONS_DIR, Paths, expected_sources

if TYPE_CHECKING:
    from orchestration.checks.gx import BatchResult, Suite

log = logging.getLogger(__name__)

RESULTS_DDL = """
create table if not exists raw.gx_validation_results (
    source varchar not null,
    file_name varchar not null,
    file_checksum varchar,
    suite_hash varchar not null,
    rows_validated bigint not null,
    expectations_evaluated integer not null,
    critical_failed integer not null,
    warnings_failed integer not null,
    result json not null,
    docs_url varchar,
    volume_baseline double,
    volume_baseline_files integer,
    validated_at timestamp not null
)
"""
#: Manifest statuses whose rows (possibly none) are in raw. Rejected and refused files are
#: the ``files_trusted`` check's business; a duplicate file's rows belong to its twin.
VALIDATED_STATUSES = ["loaded", "replaced", "empty"]
NO_FILE = "no-current-file"


@dataclass(frozen=True)
class LandedFile:
    """A current delivery of a source, as the load manifest records it."""

    name: str
    checksum: str | None
    rows_loaded: int
    loaded_at: datetime


@dataclass
class SourceValidation:
    """Every current file's verdict for one source; ``fresh`` counts those validated just now."""

    source: str
    results: list["BatchResult"]
    fresh: int


@dataclass(frozen=True)
class Baseline:
    """What a file's volume is held against: the median row count of the files seen before it."""

    median: float
    files: int


class Verdict(NamedTuple):
    """A cached validation of one file: valid while checksum and suite hash still match."""

    checksum: str | None
    suite_hash: str
    result: str
    baseline: Baseline | None


def current_files(con: duckdb.DuckDBPyConnection, source: str) -> list[LandedFile]:
    """Current deliveries, oldest first."""
    rows = con.execute(
        "select file_name, file_checksum, rows_loaded, loaded_at from raw.load_manifest "
        "where source = ? and is_current and list_contains(?, status) order by loaded_at, file_name",
        [source, VALIDATED_STATUSES],
    ).fetchall()
    return [LandedFile(*row) for row in rows]


def baseline(seen: list[LandedFile], suite: "Suite") -> Baseline | None:
    """The median rows of the last ``history_files`` files the gate had already seen (oldest first)."""
    previous = seen[-int((suite.settings.get("volume") or {}).get("history_files", 10)):]
    return Baseline(float(statistics.median(f.rows_loaded for f in previous)), len(previous)) if previous else None


def volume_floor(base: Baseline | None, suite: "Suite") -> dict[str, Any] | None:
    """A row-count expectation: not below (1 - max_drop_share) x the baseline median."""
    volume = suite.settings.get("volume") or {}
    share = volume.get("max_drop_share")
    if share is None or base is None:
        return None
    floor = math.ceil(round(base.median * (1 - float(share)), 6))  # 100 x 0.05 is 5.000000000000004
    if floor <= 1:  # "at least one row" is in the suite already
        return None
    rule = (f"row count ≥ {floor}, i.e. at most {float(share):.0%} below the median {base.median:g} "
            f"of the previous {base.files} file(s)")
    return {
        "type": "expect_table_row_count_to_be_between",
        "kwargs": {"min_value": floor},
        "meta": {"severity": volume.get("severity", "critical"), "rule": rule,
                 "why": volume.get("why", "a sudden collapse in volume is usually a truncated export")},
    }


def validate_source(
    con: duckdb.DuckDBPyConnection, source: str, docs_dir: Path | None, expectations_dir: Path = EXPECTATIONS_DIR
) -> SourceValidation:
    """Validate each current file of a source that has no cached verdict for its checksum and suite."""
    # GX takes ~2 s to import: loading it here keeps it out of every Dagster code-location load.
    from orchestration.checks import gx as gxlib

    con.execute(RESULTS_DDL)
    suite = gxlib.load_suite(expectations_dir / f"raw.{source}.json")
    columns = ", ".join(f'"{c}"' for c in SOURCES[source].column_names) + ", _source_row"
    files = current_files(con, source)
    if not files:
        # Nothing delivered yet: validate the empty table so "row count ≥ 1" says so in GX's words.
        empty = con.execute(f"select {columns} from raw.{source} limit 0").df()
        params = gxlib.time_parameters(suite, datetime.now())
        return SourceValidation(source, [gxlib.validate_dataframe(
            empty, suite, batch_name=NO_FILE, parameters=params, docs_dir=docs_dir)], 1)

    cached = {
        name: Verdict(checksum, digest, result, Baseline(median, n) if median is not None else None)
        for name, checksum, digest, result, median, n in con.execute(
            "select file_name, file_checksum, suite_hash, result, volume_baseline, volume_baseline_files "
            "from raw.gx_validation_results where source = ?",
            [source],
        ).fetchall()
    }
    seen = [f for f in files if f.name in cached and cached[f.name].checksum == f.checksum]
    new_baseline = baseline(seen, suite)  # for files the gate has not seen in this version yet
    results: list[BatchResult] = []
    fresh = 0
    for f in files:
        hit = cached[f.name] if f in seen else None
        base = hit.baseline if hit else new_baseline
        floor = volume_floor(base, suite)
        file_suite = suite.with_expectations([floor]) if floor else suite
        params = gxlib.time_parameters(file_suite, f.loaded_at)
        digest = file_suite.digest(params)
        if hit is not None and hit.suite_hash == digest:
            results.append(gxlib.BatchResult.from_json(hit.result))
            continue
        batch = con.execute(
            f"select {columns} from raw.{source} where _source_file = ? order by _source_row", [f.name]
        ).df()
        result = gxlib.validate_dataframe(batch, file_suite, batch_name=f.name, parameters=params, docs_dir=docs_dir)
        _store(con, source, f, digest, result, base)
        results.append(result)
        fresh += 1
    # Verdicts on files that are no longer current (replaced, rejected since) are dropped: the
    # table holds one row per current file, however long the history.
    con.execute(
        "delete from raw.gx_validation_results where source = ? and not list_contains(?, file_name)",
        [source, [f.name for f in files]],
    )
    log.info("%s: %d file(s), %d validated now, %d from cache", source, len(files), fresh, len(files) - fresh)
    return SourceValidation(source, results, fresh)


def _store(
    con: duckdb.DuckDBPyConnection, source: str, f: LandedFile, digest: str, result: "BatchResult",
    base: Baseline | None,
) -> None:
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.gx_validation_results where source = ? and file_name = ?", [source, f.name])
        con.execute(
            "insert into raw.gx_validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "current_timestamp::timestamp)",
            [source, f.name, f.checksum, digest, result.rows, result.evaluated, len(result.failed("critical")),
             len(result.failed("warning")), result.to_json(), result.docs_url,
             base.median if base else None, base.files if base else None],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def docs_dir_for(warehouse: WarehouseResource) -> Path:
    """Data Docs live with the warehouse they describe.

    The configured warehouse uses the configured ``Paths.gx_docs_dir``; any other warehouse
    (a test's throwaway file, an ad-hoc copy) keeps its docs beside itself, so validating it
    never writes into the project's data folder.
    """
    paths = Paths.from_env()
    path = Path(warehouse.path).resolve()
    return paths.gx_docs_dir if path == paths.warehouse_path else path.parent / "gx_docs"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: Iterable["BatchResult"], severity: str, limit: int = 100, unit: str = "file") -> str:
    """A row per failed expectation per file (or other batch ``unit``): what, where, how many, sample values, why."""
    rows_label = "rows" if unit == "file" else "keys"
    head = [f"| {unit} | column | expectation | severity | unexpected | sample values | {rows_label} | why |",
            "|---|---|---|---|---:|---|---|---|"]
    lines = []
    for r in results:
        for f in r.failed(severity):
            if f.error:
                count, sample = "error", f.error
            else:
                count = f"{f.unexpected_count} / {f.element_count}" if f.unexpected_count is not None else (
                    f.observed or "")
                sample = ", ".join(f.sample)
            cells = (f"[{r.batch}]({r.docs_url})" if r.docs_url else r.batch, f.column,
                     f"{f.expectation} ({f.rule})", f.severity, count, sample, ", ".join(map(str, f.rows)), f.why)
            lines.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
    if not lines:
        return f"no {severity} expectation failed"
    more = [f"\n… and {len(lines) - limit} more"] if len(lines) > limit else []
    return "\n".join(head + lines[:limit] + more)


def describe_failures(
    asset: str, results: list["BatchResult"], severity: str, max_chars: int = 1800, unit: str = "file"
) -> str:
    """The check description: which asset, file (or other batch ``unit``) and column, what was expected, samples."""
    bad = [r for r in results if r.failed(severity)]
    if not bad:
        return (f"{asset}: no {severity} expectation failed "
                f"({sum(r.evaluated for r in results)} expectation results over {len(results)} {unit}(s))")
    n = sum(len(r.failed(severity)) for r in bad)
    parts = [f"{asset}: {n} {severity} expectation(s) failed in {len(bad)} of {len(results)} {unit}(s)."]
    for r in bad:
        parts.append(f"{r.batch}: " + "; ".join(f.summary() for f in r.failed(severity)) + ".")
    text = " ".join(parts)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def check_result(validation: SourceValidation, severity: str, docs_dir: Path) -> dg.AssetCheckResult:
    """Turn a source's verdicts into one check result: description, markdown table, counts, links."""
    asset = f"raw.{validation.source}"
    results = validation.results
    failed = [(r, f) for r in results for f in r.failed(severity)]
    description = describe_failures(asset, results, severity)
    if results and results[0].batch == NO_FILE:
        description = (f"no current file with loadable rows in landing/{validation.source}/ (nothing delivered "
                       "yet, or every file rejected whole: see files_trusted). " + description)
    elif not failed:
        description += (f"; {validation.fresh} file(s) validated in this run, "
                        f"{len(results) - validation.fresh} unchanged since their cached validation")
    metadata: dict[str, Any] = {
        "failures": dg.MetadataValue.md(markdown_table(results, severity)),
        "expectations_evaluated": dg.MetadataValue.int(sum(r.evaluated for r in results)),
        "expectations_failed": dg.MetadataValue.int(len(failed)),
        "files_validated": dg.MetadataValue.int(sum(r.batch != NO_FILE for r in results)),
        "files_validated_this_run": dg.MetadataValue.int(validation.fresh),
        "files_failed": dg.MetadataValue.int(len({r.batch for r, _ in failed})),
        "rows_validated": dg.MetadataValue.int(sum(r.rows for r in results)),
        "suite": dg.MetadataValue.path(str(EXPECTATIONS_DIR / f"raw.{validation.source}.json")),
        "data_docs_index": dg.MetadataValue.url((docs_dir / "index.html").as_uri()),
    }
    page = next((r.docs_url for r, _ in failed if r.docs_url), None) or (results[-1].docs_url if results else None)
    if page:
        metadata["data_docs"] = dg.MetadataValue.url(page)
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if severity == "critical" else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def build_gx_checks(source: str) -> list[dg.AssetChecksDefinition]:
    """The two GX checks of one raw source."""
    key = dg.AssetKey(["raw", source])
    suite_file = f"expectations/raw.{source}.json"

    def run(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, severity: str) -> dg.AssetCheckResult:
        docs_dir = docs_dir_for(warehouse)
        with warehouse.connect() as con:
            if source not in expected_sources(list(SOURCES)) and not current_files(con, source):
                return dg.AssetCheckResult(
                    passed=True,
                    severity=dg.AssetCheckSeverity.ERROR if severity == "critical" else dg.AssetCheckSeverity.WARN,
                    description=f"raw.{source}: no delivery, and none expected (not in C360_EXPECTED_SOURCES)",
                    metadata={"expected_source": dg.MetadataValue.bool(False)},
                )
            validation = validate_source(con, source, docs_dir)
        result = check_result(validation, severity, docs_dir)
        if not result.passed:
            context.log.warning(result.description)
        return result

    @dg.asset_check(
        asset=key, name="gx_critical", blocking=True, pool=WAREHOUSE_POOL,
        description=f"Critical expectations of {suite_file} on every current landed file (schema and types, "
        "keys, conflicting duplicates, value ranges, currencies, enumerations, time bounds, volume). "
        "A failure stops everything downstream of this source in the run.",
    )
    def gx_critical(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return run(context, warehouse, "critical")

    @dg.asset_check(
        asset=key, name="gx_warnings", blocking=False, pool=WAREHOUSE_POOL,
        description=f"Warning expectations of {suite_file} (exact duplicate rows, contact formats, descriptive "
        "enumerations, optional dates): reported, never blocking.",
    )
    def gx_warnings(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return run(context, warehouse, "warning")

    return [gx_critical, gx_warnings]


gx_checks = [check for source in SOURCES for check in build_gx_checks(source)]
