"""Loss-free loading of landing files into ``raw.<source>`` tables.

Every data row of every landed file ends up in exactly one of two places: the typed raw
table of its source (with lineage columns) or ``raw.rejected_rows`` with the reason it
could not be loaded. ``raw.load_manifest`` records, per delivered file, its checksum and
the counts, so that ``rows_landed = rows_loaded + rows_rejected`` can be checked for every
file and a file delivered twice is not loaded twice.

Rows of a person who asked to be forgotten (``raw.erasure_tombstones``, see
``orchestration.erasure``) never land: they are counted as ``rows_erased`` instead, so
``rows_landed = rows_loaded + rows_rejected + rows_erased`` holds for every file.

Parsing is DuckDB's own CSV reader (``store_rejects`` keeps structurally broken lines
with their line number and text); typing is ``try_cast`` against the source contract so
that one bad value rejects its row, not the file. Each file is loaded in one transaction:
a crash leaves the file either fully loaded and recorded, or not at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration import erasure
from orchestration.contracts import LANDING_SOURCES, SourceContract
from orchestration.ingestion.readers import columns_of, csv_header, file_checksum, stage_text

log = logging.getLogger(__name__)

LINEAGE_COLUMNS = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_loaded_at": "TIMESTAMP",
    "_file_checksum": "VARCHAR",
}
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".jsonl")
# Landing file names are plain: letters, digits, dot, dash, underscore. Anything else
# (path separators, "..", quotes, shell or SQL metacharacters) is refused unread.
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
SAFE_COLUMN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

MANIFEST_DDL = """
create table if not exists raw.load_manifest (
    source varchar not null,
    file_name varchar not null,
    file_checksum varchar,
    file_bytes bigint,
    status varchar not null,
    rows_landed bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    duplicate_of varchar,
    message varchar,
    is_current boolean not null,
    loaded_at timestamp not null,
    rows_erased bigint not null default 0
)
"""
# Warehouses created before erasure existed get the column with its default (0 for every file).
MANIFEST_ERASED_COLUMN = "alter table raw.load_manifest add column if not exists rows_erased bigint default 0"
MANIFEST_COLUMNS = (
    "source, file_name, file_checksum, file_bytes, status, rows_landed, rows_loaded, rows_rejected, "
    "duplicate_of, message, is_current, loaded_at, rows_erased"
)
REJECTS_DDL = """
create table if not exists raw.rejected_rows (
    source varchar not null,
    source_file varchar not null,
    file_checksum varchar,
    source_row bigint,
    error_type varchar not null,
    reason varchar not null,
    raw_text varchar,
    rejected_at timestamp not null
)
"""


@dataclass
class FileLoad:
    """The outcome of one landed file."""

    file_name: str
    status: str
    rows_landed: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""
    duplicate_of: str | None = None
    #: rows of erased persons dropped at load (not in raw, not in rejects)
    rows_erased: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_landed == self.rows_loaded + self.rows_rejected + self.rows_erased


@dataclass
class SourceLoad:
    """The outcome of one ingestion pass over a source's landing folder."""

    source: str
    files: list[FileLoad] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_landed(self) -> int:
        return sum(f.rows_landed for f in self.files)

    @property
    def rows_erased(self) -> int:
        return sum(f.rows_erased for f in self.files)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, sources: Iterable[str] | None = None) -> None:
    """Create the raw schema, the manifest, the rejects table and one table per contract.

    Tables come from the contracts, never from files, so a malformed delivery cannot
    change the warehouse's shape, and staging can build before the first delivery.
    """
    con.execute("create schema if not exists raw")
    con.execute(MANIFEST_DDL)
    con.execute(MANIFEST_ERASED_COLUMN)
    con.execute(REJECTS_DDL)
    # the loader reads the tombstones; creating them here lets every raw layer be checked
    erasure.ensure_tables(con)
    for name in sources or LANDING_SOURCES:
        contract = LANDING_SOURCES[name]
        cols = [f'"{c.name}" {c.type}' for c in contract.columns]
        cols += [f"{n} {t}" for n, t in LINEAGE_COLUMNS.items()]
        con.execute(f"create table if not exists raw.{contract.name} ({', '.join(cols)})")


def landing_files(landing_dir: Path, source: str) -> list[Path]:
    """Every regular file in the source's landing folder, in name order."""
    folder = landing_dir / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_source(con: duckdb.DuckDBPyConnection, source: str, landing_dir: Path) -> SourceLoad:
    """Load every new or changed file of one source; unchanged files are skipped."""
    contract = LANDING_SOURCES[source]
    ensure_raw_tables(con, [source])
    result = SourceLoad(source)
    present = [p.name for p in landing_files(landing_dir, source)]
    # A refused file that has since been removed or renamed no longer blocks the source.
    con.execute(
        "update raw.load_manifest set is_current = false where source = ? and status = 'refused' "
        "and is_current and not list_contains(?, file_name)",
        [source, present],
    )
    for path in landing_files(landing_dir, source):
        outcome = load_file(con, contract, path, landing_dir / source)
        if outcome is not None:
            result.files.append(outcome)
    return result


def load_file(
    con: duckdb.DuckDBPyConnection, contract: SourceContract, path: Path, folder: Path
) -> FileLoad | None:
    """Load one file in a single transaction; returns None when it was already loaded as is."""
    name = path.name
    if not SAFE_FILE_NAME.match(name) or path.resolve().parent != folder.resolve():
        return _refuse_file(con, contract, name, "unsafe_file_name", f"file name {name!r} is not allowed")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return _refuse_file(
            con, contract, name, "unsupported_format",
            f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    digest, size = file_checksum(path)
    current = con.execute(
        "select file_checksum from raw.load_manifest where source = ? and file_name = ? and is_current",
        [contract.name, name],
    ).fetchone()
    if current is not None and current[0] == digest:
        return None
    twin = con.execute(
        "select file_name, rows_landed, rows_loaded, rows_rejected, rows_erased from raw.load_manifest "
        "where source = ? and file_checksum = ? and is_current and status not in ('duplicate', 'refused') "
        "and file_name <> ?",
        [contract.name, digest, name],
    ).fetchone()

    con.execute("begin transaction")
    try:
        replaced = current is not None
        if replaced:
            # A corrected re-delivery: its earlier version's rows and rejects go, the new ones come.
            con.execute(f"delete from raw.{contract.name} where _source_file = ?", [name])
            con.execute(
                "delete from raw.rejected_rows where source = ? and source_file = ?", [contract.name, name]
            )
            con.execute(
                "update raw.load_manifest set is_current = false where source = ? and file_name = ?",
                [contract.name, name],
            )
        if twin is not None:
            # The same bytes under another name: its rows are already loaded once.
            outcome = FileLoad(
                name, "duplicate", twin[1], twin[2], twin[3],
                f"identical to {twin[0]} (sha256 {digest[:12]}…); not loaded again", twin[0], twin[4],
            )
        else:
            outcome = _load_rows(con, contract, path, digest)
            if replaced:
                outcome.message = ("replaces an earlier delivery; " + outcome.message).rstrip("; ")
                if outcome.status == "loaded":
                    outcome.status = "replaced"
        _record(con, contract.name, outcome, digest, size)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    log.info("%s/%s: %s (%s)", contract.name, name, outcome.status, outcome.message)
    return outcome


def _load_rows(con: duckdb.DuckDBPyConnection, contract: SourceContract, path: Path, checksum: str) -> FileLoad:
    """Stage the file as text, then move typed rows to raw and the rest to rejects."""
    name = path.name
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        return FileLoad(name, "empty", message="the file is empty")
    if suffix == ".csv":
        header, problem = csv_header(path)
        if problem:
            return _reject_whole_file(con, contract, path, checksum, "bad_header", problem)
    else:
        header = columns_of(con, path, suffix)
    # Column names come from the file, so only plain identifiers are ever written into SQL;
    # anything else is kept under a positional name (it cannot match the contract anyway).
    header = [h.strip().lower() for h in header]
    header = [h if SAFE_COLUMN.match(h) else f"column_{i + 1}" for i, h in enumerate(header)]
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        return _reject_whole_file(
            con, contract, path, checksum, "bad_header", f"duplicate column names {dupes}"
        )
    missing_required = [c for c in contract.required_columns if c not in header]
    if missing_required:
        return _reject_whole_file(
            con, contract, path, checksum, "missing_column",
            f"missing required column(s) {', '.join(missing_required)}",
        )
    notes = []
    extra = [h for h in header if h not in contract.column_names]
    if extra:
        notes.append(f"unexpected column(s) ignored: {', '.join(extra)}")
    absent = [c for c in contract.column_names if c not in header]
    if absent:
        notes.append(f"optional column(s) absent, loaded as null: {', '.join(absent)}")

    stage_text(con, path, suffix, header)
    positions = {h: i for i, h in enumerate(header)}
    checks, typed = [], []
    for col in contract.columns:
        if col.name not in positions:
            typed.append(f'null::{col.type} as "{col.name}"')
            continue
        src = f"c{positions[col.name]}"
        value = src if col.type == "VARCHAR" else f"try_cast(trim({src}) as {col.type})"
        typed.append(f'{value} as "{col.name}"')
        if col.required:
            checks.append(
                f"case when nullif(trim({src}), '') is null then 'required column {col.name} is empty' end"
            )
        if col.type != "VARCHAR":
            checks.append(
                f"case when nullif(trim({src}), '') is not null and try_cast(trim({src}) as {col.type}) is null "
                f"then 'column {col.name}: ' || {src} || ' is not a valid {col.type}' end"
            )
    reason = f"concat_ws('; ', {', '.join(checks)})" if checks else "''"
    text = "to_json(struct_pack(" + ", ".join(f'"{h}" := c{i}' for i, h in enumerate(header)) + "))"
    con.execute(
        f"create or replace temp table _checked as select _row, {reason} as _reason, "
        f"{', '.join(typed)}, {text} as _text from _staged"
    )
    # Rows of erased persons are dropped here, before they reach raw or the rejects.
    con.execute("create or replace temp table _erased_rows (_row bigint)")
    con.execute("create or replace temp table _erased_lines (line bigint)")
    if erasure.has_tombstones(con):
        con.execute(f"insert into _erased_rows {erasure.tombstoned_rows_sql(contract, '_checked', ['_row'])}")
        con.execute(
            f"insert into _erased_lines {erasure.tombstoned_text_sql('_structural', 'line', 'raw_text')}"
        )
        con.execute("delete from _checked where _row in (select _row from _erased_rows)")
        con.execute("delete from _structural where line in (select line from _erased_lines)")
    erased = con.execute(
        "select (select count(*) from _erased_rows) + (select count(*) from _erased_lines)"
    ).fetchone()[0]
    cols = ", ".join(f'"{c}"' for c in contract.column_names)
    con.execute(
        f"insert into raw.{contract.name} ({cols}, _source_file, _source_row, _loaded_at, _file_checksum) "
        f"select {cols}, ?, _row, current_timestamp::timestamp, ? from _checked where _reason = '' order by _row",
        [name, checksum],
    )
    loaded = con.execute("select count(*) from _checked where _reason = ''").fetchone()[0]
    con.execute(
        "insert into raw.rejected_rows select ?, ?, ?, _row, 'invalid_value', _reason, _text, "
        "current_timestamp::timestamp from _checked where _reason <> ''",
        [contract.name, name, checksum],
    )
    con.execute(
        "insert into raw.rejected_rows select ?, ?, ?, line, error_type, reason, raw_text, "
        "current_timestamp::timestamp from _structural",
        [contract.name, name, checksum],
    )
    invalid = con.execute("select count(*) from _checked where _reason <> ''").fetchone()[0]
    structural = con.execute("select count(*) from _structural").fetchone()[0]
    rejected = invalid + structural
    # A file whose every row was erased holds nothing to validate: 'erased', not 'loaded'.
    status = "erased" if erased and not loaded else "loaded"
    outcome = FileLoad(name, status, loaded + rejected + erased, loaded, rejected, "; ".join(notes),
                       rows_erased=erased)
    if rejected:
        notes.append(f"{rejected} row(s) rejected, see raw.rejected_rows")
    if erased:
        notes.append(f"{erased} row(s) of erased persons dropped")
    outcome.message = "; ".join(notes)
    return outcome


def _reject_whole_file(
    con: duckdb.DuckDBPyConnection, contract: SourceContract, path: Path, checksum: str, kind: str, reason: str
) -> FileLoad:
    """A file that cannot be trusted: every one of its lines goes to rejects with the reason.

    Lines are read as latin-1 so that any byte sequence, even in the wrong encoding, is
    kept as text rather than lost.
    """
    con.execute(
        "create or replace temp table _whole as select ordinality as line, l from read_csv($path, "
        "header = false, auto_detect = false, delim = chr(30), quote = '', escape = '', "
        "columns = {'l': 'VARCHAR'}, encoding = 'latin-1') with ordinality",
        {"path": str(path)},
    )
    con.execute("delete from _whole where line = 1 or coalesce(l, '') = ''")
    erased = 0
    if erasure.has_tombstones(con):
        erased = con.execute(
            f"delete from _whole where line in ({erasure.tombstoned_text_sql('_whole', 'line', 'l')})"
        ).fetchone()[0]
    con.execute(
        "insert into raw.rejected_rows select ?, ?, ?, line, ?, ?, l, current_timestamp::timestamp from _whole",
        [contract.name, path.name, checksum, kind, reason],
    )
    n = con.execute("select count(*) from _whole").fetchone()[0]
    return FileLoad(path.name, "rejected_file", n + erased, 0, n, reason, rows_erased=erased)


def _refuse_file(
    con: duckdb.DuckDBPyConnection, contract: SourceContract, name: str, kind: str, reason: str
) -> FileLoad | None:
    """Record a file we will not open at all (unsafe name, unknown format), once."""
    seen = con.execute(
        "select 1 from raw.load_manifest where source = ? and file_name = ? and status = 'refused'",
        [contract.name, name],
    ).fetchone()
    if seen:
        return None
    outcome = FileLoad(name, "refused", message=reason)
    _record(con, contract.name, outcome, None, None)
    log.warning("%s/%s refused: %s", contract.name, name, reason)
    return outcome


def _record(
    con: duckdb.DuckDBPyConnection, source: str, o: FileLoad, checksum: str | None, size: int | None
) -> None:
    if not o.balanced:
        raise RuntimeError(
            f"row accounting broken for {source}/{o.file_name}: landed {o.rows_landed} != "
            f"loaded {o.rows_loaded} + rejected {o.rows_rejected} + erased {o.rows_erased}"
        )
    con.execute(
        f"insert into raw.load_manifest ({MANIFEST_COLUMNS}) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, current_timestamp::timestamp, ?)",
        [source, o.file_name, checksum, size, o.status, o.rows_landed, o.rows_loaded, o.rows_rejected,
         o.duplicate_of, o.message, o.rows_erased],
    )
