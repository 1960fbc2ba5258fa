"""The published warehouse: the analyst-facing marts as their own DuckDB file, swapped in atomically.

Why a separate file: DuckDB allows one writing process per file and a reader blocks a
writer, so an analyst with a session open on ``warehouse.duckdb`` would make the next run
fail (or wait) on a lock. Analysts get ``published/c360.duckdb`` instead, which no run ever
writes in place:

1. the marts are copied into a NEW file beside the target (same folder, so the same file
   system), checkpointed, fsynced and made read-only on disk;
2. ``os.replace`` renames it over the target: one atomic ``rename(2)``.

What an open session sees (Linux / macOS): a DuckDB connection holds an open file
descriptor on the *inode* it opened and reads through it, and its advisory lock is on that
inode too. Renaming a new file over the path leaves that inode alive (unlinked) until the
last descriptor closes, so an analyst's open session keeps reading the complete old
snapshot, is never blocked, and never blocks the publish; any connection opened after the
rename gets the new file. Nobody can see a half-built state because the path only ever
names a finished file. (Windows cannot rename over an open file; c360 does not support it.)

One trap inside a single process: ``duckdb.connect(path)`` reuses an already open database
instance for the same path, so a second ``connect`` in a process that still holds the old
one would see the OLD snapshot. :func:`open_published` attaches the file to a fresh
in-memory database instead, which always opens the path anew.

Which tables: dbt models under ``models/marts/`` and the Python-written marts tables that
are declared as dbt sources (with their Dagster asset key in ``meta``), minus anything whose
dbt ``meta`` says ``restricted: true`` or ``contains_pii: true`` (the identity tables).
The dbt descriptions travel with them as DuckDB comments, so any SQL client shows them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

#: the one schema analysts see; the same name as in the warehouse, so queries work on both
SCHEMA = "marts"
#: the published copy's catalogue of itself: ``about.tables`` and ``about.columns``
ABOUT_SCHEMA = "about"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_ALIAS = "c360_publishing"


@dataclass(frozen=True)
class PublishedTable:
    """One analyst-facing table: its name in ``marts``, the asset that writes it, its docs."""

    name: str
    asset_key: tuple[str, ...]
    description: str
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    """What a publish produced: the file, rows per table, and what it left out and why."""

    path: Path
    row_counts: dict[str, int]
    missing: list[str]
    unpublished: list[str]
    size_bytes: int
    seconds: float


def is_restricted(meta: Mapping[str, Any] | None) -> bool:
    """Restricted tables (raw identifiers, PII) never leave the warehouse."""
    meta = meta or {}
    return bool(meta.get("restricted")) or bool(meta.get("contains_pii"))


def load_manifest(path: Path) -> dict[str, Any]:
    """dbt's ``target/manifest.json`` (written by ``dbt parse``; ``c360 prepare`` runs it)."""
    with path.open(encoding="utf-8") as f:
        manifest: dict[str, Any] = json.load(f)
    return manifest


def _meta(props: Mapping[str, Any]) -> dict[str, Any]:
    # dbt keeps ``meta`` both on the node and under ``config``; either may carry the flag.
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def _columns(props: Mapping[str, Any]) -> dict[str, str]:
    return {name: (col.get("description") or "").strip() for name, col in (props.get("columns") or {}).items()}


def _is_marts_table(props: Mapping[str, Any]) -> bool:
    fqn = props.get("fqn") or []
    materialized = (props.get("config") or {}).get("materialized")
    return (
        props.get("resource_type") == "model"
        and len(fqn) > 2
        and fqn[1] == SCHEMA
        and props.get("schema") == SCHEMA
        and materialized != "ephemeral"
    )


def _python_marts(manifest: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """Tables in ``marts`` that Python assets write, as declared dbt sources with an asset key."""
    for props in manifest.get("sources", {}).values():
        if props.get("schema") == SCHEMA and (_meta(props).get("dagster") or {}).get("asset_key"):
            yield props["name"], props


def analyst_tables(manifest: Mapping[str, Any]) -> list[PublishedTable]:
    """Every analyst-facing marts table of the dbt project, sorted by name.

    dbt models under ``models/marts`` get the asset key the dbt translator gives them
    (``["marts", name]``); Python-written tables get the key in their source ``meta``.
    A table declared both ways (it cannot be, but sources are merged across files) is
    taken from the model.
    """
    tables: dict[str, PublishedTable] = {}
    for name, props in _python_marts(manifest):
        meta = _meta(props)
        if not is_restricted(meta):
            key = tuple(meta["dagster"]["asset_key"])
            description = (props.get("description") or "").strip()
            tables[name] = PublishedTable(name, key, description, _columns(props))
    for props in manifest.get("nodes", {}).values():
        if _is_marts_table(props) and not is_restricted(_meta(props)):
            name = props["name"]
            description = (props.get("description") or "").strip()
            tables[name] = PublishedTable(name, (SCHEMA, name), description, _columns(props))
    for name in tables:
        if not _NAME.match(name):
            raise ValueError(f"not a plain table name: {name!r}")
    return [tables[n] for n in sorted(tables)]


def restricted_tables(manifest: Mapping[str, Any]) -> list[str]:
    """Marts tables that the dbt ``meta`` marks restricted (never published)."""
    names = {props["name"] for props in manifest.get("nodes", {}).values()
             if _is_marts_table(props) and is_restricted(_meta(props))}
    names |= {name for name, props in _python_marts(manifest) if is_restricted(_meta(props))}
    return sorted(names)


def _sql_string(text: str) -> str:
    """A SQL string literal (``COMMENT ON`` takes no parameters); the text is our own dbt docs."""
    return "'" + text.replace("'", "''") + "'"


def _remove_stale_builds(target: Path) -> None:
    """Delete half-built copies left by a publish that crashed (its process is gone).

    Build files are named ``.<target>.<pid>.<random>.tmp``; one whose pid is still alive
    belongs to a publish in progress (another deployment, say) and is left alone.
    """
    for path in target.parent.glob(f".{target.name}.*.tmp*"):
        parts = path.name[len(target.name) + 2 :].split(".")
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        if pid is not None and pid != os.getpid() and _alive(pid):
            continue
        log.info("removing stale publish build %s", path)
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tables(
    con: duckdb.DuckDBPyConnection,
    tables: list[PublishedTable],
    present: set[str],
    published_at: datetime,
    run_id: str,
) -> dict[str, int]:
    """Copy the present tables into the attached build file, with comments and the ``about`` schema."""
    counts: dict[str, int] = {}
    con.execute(f"create schema {_ALIAS}.{SCHEMA}")
    con.execute(f"create schema {_ALIAS}.{ABOUT_SCHEMA}")
    about_tables: list[tuple[Any, ...]] = []
    about_columns: list[tuple[Any, ...]] = []
    for table in tables:
        if table.name not in present:
            continue
        qualified = f"{_ALIAS}.{SCHEMA}.{table.name}"
        # names are checked plain identifiers from the dbt manifest, never data
        con.execute(f"create table {qualified} as select * from {SCHEMA}.{table.name}")
        rows = con.execute(f"select count(*) from {qualified}").fetchone()
        counts[table.name] = int(rows[0]) if rows else 0
        if table.description:
            con.execute(f"comment on table {qualified} is {_sql_string(table.description)}")
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
            [_ALIAS, SCHEMA, table.name],
        ).fetchall()
        for column, data_type in columns:
            text = table.columns.get(column, "")
            if text:
                quoted = '"' + column.replace('"', '""') + '"'
                con.execute(f"comment on column {qualified}.{quoted} is {_sql_string(text)}")
            about_columns.append((table.name, column, data_type, text or None))
        about_tables.append(
            (table.name, table.description or None, counts[table.name], len(columns), "/".join(table.asset_key))
        )
    con.execute(
        f"create table {_ALIAS}.{ABOUT_SCHEMA}.tables (table_name varchar, description varchar, row_count bigint, "
        "column_count integer, dagster_asset_key varchar, published_at timestamptz, dagster_run_id varchar)"
    )
    con.executemany(
        f"insert into {_ALIAS}.{ABOUT_SCHEMA}.tables values (?, ?, ?, ?, ?, ?, ?)",
        [(*row, published_at, run_id) for row in about_tables],
    )
    con.execute(
        f"create table {_ALIAS}.{ABOUT_SCHEMA}.columns "
        "(table_name varchar, column_name varchar, data_type varchar, description varchar)"
    )
    if about_columns:
        con.executemany(f"insert into {_ALIAS}.{ABOUT_SCHEMA}.columns values (?, ?, ?, ?)", about_columns)
    con.execute(f"comment on table {_ALIAS}.{ABOUT_SCHEMA}.tables is "
                f"{_sql_string('The published tables: description, rows, when and by which Dagster run.')}")
    con.execute(f"comment on table {_ALIAS}.{ABOUT_SCHEMA}.columns is "
                f"{_sql_string('Every published column with its type and description.')}")
    return counts


def publish(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    tables: list[PublishedTable],
    run_id: str,
    published_at: datetime,
    restricted: Iterable[str] = (),
) -> PublishResult:
    """Copy ``tables`` from the warehouse open on ``con`` into ``target``, replacing it atomically.

    ``con`` is a (read-only) connection on the warehouse; the caller holds whatever lock or
    pool slot protects it. A table that is declared but not built yet is left out and
    reported in ``missing`` (a new mart before its first run), not treated as an error;
    tables found in ``marts`` but not declared are left out and reported in
    ``unpublished``, because nothing says they are safe for analysts (the ``restricted``
    ones are left out silently: that is their purpose).
    """
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    build = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    present = {
        name for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() and schema_name = ?",
            [SCHEMA],
        ).fetchall()
    } | {
        name for (name,) in con.execute(
            "select view_name from duckdb_views() where database_name = current_database() and schema_name = ?",
            [SCHEMA],
        ).fetchall()
    }
    declared = {t.name for t in tables}
    try:
        # READ_WRITE explicitly: a database attached to a read-only connection is read-only by default
        con.execute(f"attach {_sql_string(str(build))} as {_ALIAS} (read_write)")
        try:
            counts = _copy_tables(con, tables, present, published_at, run_id)
            # everything into the main file: the finished copy must not depend on a .wal
            con.execute(f"checkpoint {_ALIAS}")
        finally:
            con.execute(f"detach {_ALIAS}")
        wal = build.with_name(build.name + ".wal")
        if wal.exists():
            raise RuntimeError(f"the published build still has a write-ahead log after checkpoint: {wal}")
        _fsync(build)
        # read-only on disk: a read-write session (which would leave a .wal behind that the
        # next copy could mistake for its own) is refused, except for root
        build.chmod(0o444)
        # a .wal next to the target can only come from a read-write session on the old copy;
        # it belongs to the old file and must not be replayed into the new one
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        os.replace(build, target)
        _fsync(target.parent)
    finally:
        # after a failure: no half-built copy left behind (after success both are gone already)
        build.unlink(missing_ok=True)
        build.with_name(build.name + ".wal").unlink(missing_ok=True)
    result = PublishResult(
        path=target,
        row_counts=counts,
        missing=sorted(declared - present),
        unpublished=sorted(present - declared - set(restricted)),
        size_bytes=target.stat().st_size,
        seconds=time.monotonic() - started,
    )
    log.info("published %d tables to %s in %.1f s", len(counts), target, result.seconds)
    return result


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection on the CURRENT published file, even inside a process that has the old one open.

    ``duckdb.connect(path)`` would hand back the database instance this process already
    opened for that path (the old inode, after a publish); attaching the path to a new
    in-memory database opens it afresh. ``use`` makes ``marts.x`` resolve as it does in
    the duckdb CLI.
    """
    if not path.exists():
        raise FileNotFoundError(f"no published warehouse at {path}: materialise the publish asset first")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_sql_string(str(path))} as published (read_only)")
        con.execute("use published")
    except Exception:
        con.close()
        raise
    return con
