"""Reading landing files of each format into text-typed staging tables.

Every format is reduced to the same shape: a temp table ``_staged(_row, c0..cN)`` of
text values with the physical row (line) number, and ``_structural(line, error_type,
reason, raw_text)`` for records that could not even be split into fields. Typing and
row-level validation then happen once, in SQL, whatever the format.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import duckdb

CHUNK = 1 << 20


def stage_text(con: duckdb.DuckDBPyConnection, path: Path, suffix: str, header: list[str]) -> None:
    """Fill temp tables ``_staged(_row, c0..cN as text)`` and ``_structural(line, ...)``."""
    cols = ", ".join(f"c{i}" for i in range(len(header)))
    if suffix == ".csv":
        spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
        con.execute("drop table if exists _rej_errors")
        con.execute("drop table if exists _rej_scans")
        con.execute(
            f"create or replace temp table _raw_csv as select {cols}, ordinality as _ord "
            f"from read_csv($path, header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {spec}, store_rejects = true, rejects_table = '_rej_errors', "
            f"rejects_scan = '_rej_scans', rejects_limit = 0) with ordinality",
            {"path": str(path)},
        )
        # One line may raise several errors; it is one rejected row with all its reasons.
        con.execute(
            "create or replace temp table _structural as select line, "
            "lower(replace(min(error_type), ' ', '_')) as error_type, "
            "case min(error_type) when 'MISSING COLUMNS' then 'the line has fewer fields than the header' "
            "when 'TOO MANY COLUMNS' then 'the line has more fields than the header' "
            "when 'INVALID ENCODING' then 'the line is not valid UTF-8 (wrong encoding?)' "
            "when 'UNQUOTED VALUE' then 'a quoted field is not closed properly' "
            "else min(error_message) end as reason, "
            "any_value(trim(csv_line, chr(10) || chr(13))) as raw_text "
            "from _rej_errors group by line"
        )
        blanks = blank_lines(path)
        if con.execute("select count(*) from _structural").fetchone()[0] == 0 and not blanks:
            con.execute(f"create or replace temp table _staged as select _ord + 1 as _row, {cols} from _raw_csv")
        else:
            # Accepted records are numbered 1..n in file order; map them back to their physical
            # line by skipping the header, rejected lines and blank lines (which DuckDB skips).
            con.execute("create or replace temp table _skipped(line bigint)")
            con.execute("insert into _skipped select line from _structural")
            if blanks:
                con.executemany("insert into _skipped values (?)", [[b] for b in blanks])
            con.execute(
                "create or replace temp table _line_map as select line, row_number() over (order by line) as _ord "
                "from (select range as line from range(2, (select count(*) from _raw_csv) "
                "+ (select count(*) from _skipped) + 2)) where line not in (select line from _skipped)"
            )
            con.execute(
                f"create or replace temp table _staged as select m.line as _row, {cols} "
                f"from _raw_csv r join _line_map m using (_ord)"
            )
        return
    if suffix == ".parquet":
        casts = ", ".join(f'"{h}"::varchar as c{i}' for i, h in enumerate(columns_of(con, path, suffix)))
        con.execute(
            f"create or replace temp table _staged as select file_row_number + 1 as _row, {casts} "
            f"from read_parquet($path, file_row_number = true)",
            {"path": str(path)},
        )
        con.execute("create or replace temp table _structural (line bigint, error_type varchar, "
                    "reason varchar, raw_text varchar)")
        return
    # JSON lines: read each physical line as text (so line numbers are exact), parse in SQL.
    con.execute(
        "create or replace temp table _lines as select ordinality as line, l from read_csv($path, "
        "header = false, auto_detect = false, delim = chr(30), quote = '', escape = '', "
        "columns = {'l': 'VARCHAR'}) with ordinality",
        {"path": str(path)},
    )
    fields = ", ".join(f"l::json ->> '{h}' as c{i}" for i, h in enumerate(header))
    con.execute(
        f"create or replace temp table _staged as select line as _row, {fields} from _lines "
        f"where coalesce(case when json_valid(l) then json_type(l) = 'OBJECT' end, false)"
    )
    con.execute(
        "create or replace temp table _structural as select line, 'invalid_json' as error_type, "
        "'line is not a JSON object' as reason, l as raw_text from _lines "
        "where not coalesce(case when json_valid(l) then json_type(l) = 'OBJECT' end, false)"
    )


def columns_of(con: duckdb.DuckDBPyConnection, path: Path, suffix: str) -> list[str]:
    if suffix == ".parquet":
        rows = con.execute(
            "select name from parquet_schema($path) where name <> 'schema' and num_children is null",
            {"path": str(path)},
        ).fetchall()
        return [r[0] for r in rows]
    # JSON lines: the union of keys over the file.
    rows = con.execute(
        "select distinct unnest(json_keys(l::json)) as k from read_csv($path, header = false, "
        "auto_detect = false, delim = chr(30), quote = '', escape = '', columns = {'l': 'VARCHAR'}) "
        "where coalesce(case when json_valid(l) then json_type(l) = 'OBJECT' end, false) order by k",
        {"path": str(path)},
    ).fetchall()
    return [r[0] for r in rows]


def csv_header(path: Path) -> tuple[list[str], str]:
    """Read and parse the header line; returns (columns, problem or '')."""
    with path.open("rb") as f:
        first = f.readline()
    first = first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return [], "the header line is not valid UTF-8 (wrong encoding?)"
    if not text.strip():
        return [], "the first line (header) is empty"
    return next(csv.reader(io.StringIO(text))), ""


def file_checksum(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def blank_lines(path: Path) -> list[int]:
    """Physical numbers of empty lines after the header (DuckDB skips them silently)."""
    blanks: list[int] = []
    line, prev_nl = 1, False
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            data = chunk.replace(b"\r", b"")
            if b"\n\n" not in data and not (prev_nl and data.startswith(b"\n")):
                line += data.count(b"\n")
                prev_nl = data.endswith(b"\n")
                continue
            for byte in data:
                if byte == 10:
                    line += 1
                    if prev_nl:
                        blanks.append(line - 1)
                    prev_nl = True
                else:
                    prev_nl = False
    return [b for b in blanks if b > 1]
