"""Landing-file writer: turns clean per-chunk tables into realistically imperfect CSV deliveries.

What it adds on top of the valid records, each recorded in ground truth:

* exact duplicate deliveries of event / order rows (same bytes, same natural key), placed a
  little later in the same file, as a retrying exporter would;
* late rows: a share of rows (whole orders for order sources) is held back and delivered at
  the end of the *next* chunk's file; the last chunk's late rows form one extra trailing file;
* malformed lines spliced between valid ones: too few fields, too many fields, an uncastable
  value in a typed column, an empty required key. They get fresh natural keys, so they never
  collide with a valid record, and every one is a single line.

Big files go through ``pyarrow.csv`` with quoting disabled: the generators guarantee that no
value contains a comma, quote or newline, so "quote only when needed" means "never", and
pyarrow raises if that guarantee is ever broken. Small files whose values do need quotes
(product and campaign names) go through the ``csv`` module with minimal quoting.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from orchestration.contracts import SOURCES

_ARROW_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")

MALFORMED_KINDS: tuple[str, ...] = ("too_few_fields", "too_many_fields", "bad_value", "empty_key")

_BAD_VALUES: dict[str, tuple[str, ...]] = {
    "INTEGER": ("two", "3x", "N/A"),
    "TIMESTAMP": ("2025-13-45 99:00:00", "yesterday"),
    "DECIMAL(18,2)": ("12,50", "abc", "¥99"),
    "DATE": ("2025-02-30", "31/12/2024"),
    "BOOLEAN": ("maybe", "Y/N"),
    "DOUBLE": ("ten percent",),
}

#: low-cardinality columns are dictionary-encoded: the table has one row per landing record
#: (tens of millions at 1M persons), and Parquet / DuckDB still read them as strings
DICT_STRING = pa.dictionary(pa.int32(), pa.string())
RECORD_SCHEMA = pa.schema(
    [
        ("source", DICT_STRING),
        ("record_key", pa.string()),
        ("person_id", pa.int64()),
        ("file_name", DICT_STRING),
    ]
)
MALFORMED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("line_number", pa.int64()),
        ("kind", pa.string()),
        ("record_key", pa.string()),
    ]
)


@dataclass
class SourceBatch:
    """One chunk's valid rows of one source, ready to be delivered.

    ``table`` has exactly the contract columns in contract order and is sorted by event time.
    ``group`` ties rows that must arrive together when late (lines of one order); ``fresh_ids``
    mints natural-key ids that no valid row uses, for malformed lines.
    """

    source: str
    table: pa.Table
    person: np.ndarray
    fresh_ids: Callable[[int], list[str]]
    group: np.ndarray | None = None
    duplicable: bool = False
    python_quoting: bool = False


@dataclass
class FileStats:
    """Line counts of one landing file (data rows exclude the header)."""

    source: str
    file_name: str
    data_rows: int = 0
    malformed_rows: int = 0
    duplicate_rows: int = 0
    late_rows: int = 0


@dataclass
class Delivery:
    """What writing one chunk's file produced."""

    stats: FileStats
    records: pa.Table
    malformed: pa.Table
    late_bytes: bytes
    late_count: int


@dataclass(frozen=True)
class DeliveryRates:
    """Imperfection rates (shares of rows)."""

    malformed: float
    duplicate: float
    late: float


def file_name(source: str, part: int) -> str:
    """``<source>_part<NNNN>.csv``."""
    return f"{source}_part{part:04d}.csv"


def header_line(source: str) -> bytes:
    """Unquoted header with the contract column names in contract order."""
    return (",".join(SOURCES[source].column_names) + "\n").encode()


def _strings(table: pa.Table) -> list[list[str]]:
    """Rows of a (small) table rendered as the CSV writer renders them; null -> ''."""
    cols = []
    for col in table.columns:
        s = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
        cols.append(pc.fill_null(s, "").to_pylist())
    return [list(r) for r in zip(*cols, strict=True)] if cols else []


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def render(table: pa.Table, python_quoting: bool) -> bytes:
    """CSV body (no header) of a table."""
    if python_quoting:
        return _csv_bytes(_strings(table))
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, _ARROW_OPTIONS)
    return buf.getvalue().to_pybytes()


def record_keys(table: pa.Table, source: str) -> pa.Array:
    """Natural key values joined by ``|`` (timestamps as ``YYYY-MM-DD HH:MM:SS``)."""
    parts = [pc.cast(table[k], pa.string()) for k in SOURCES[source].natural_key]
    if len(parts) == 1:
        return parts[0].combine_chunks() if isinstance(parts[0], pa.ChunkedArray) else parts[0]
    return pc.binary_join_element_wise(*parts, "|").combine_chunks()


def constant(value: str, n: int) -> pa.Array:
    """A dictionary-encoded column holding one value."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def _records(keys: pa.Array, idx: np.ndarray, source: str, person: np.ndarray, fname: str) -> pa.Table:
    n = len(idx)
    return pa.table(
        {
            "source": constant(source, n),
            "record_key": keys.take(pa.array(idx)),
            "person_id": pa.array(person[idx], pa.int64()),
            "file_name": constant(fname, n),
        },
        schema=RECORD_SCHEMA,
    )


def _malformed_lines(
    batch: SourceBatch, candidates: np.ndarray, rng: np.random.Generator, count: int
) -> tuple[list[bytes], list[str], list[str]]:
    """Build ``count`` single-line malformed rows from random valid rows (``candidates``)."""
    contract = SOURCES[batch.source]
    names = contract.column_names
    key_pos = [names.index(k) for k in contract.natural_key]
    typed = [i for i, c in enumerate(contract.columns) if c.type != "VARCHAR" and i not in key_pos[:1]]
    templates = _strings(batch.table.take(pa.array(candidates[rng.integers(0, len(candidates), count)])))
    fresh = batch.fresh_ids(count)
    lines, kinds, keys = [], [], []
    for j, fields in enumerate(templates):
        fields[key_pos[0]] = fresh[j]
        kind = MALFORMED_KINDS[int(rng.integers(0, len(MALFORMED_KINDS)))]
        if kind == "bad_value" and not typed:
            kind = "too_many_fields"
        key = "|".join(fields[i] for i in key_pos)
        if kind == "too_few_fields":
            fields = fields[: max(1, len(fields) - int(rng.integers(1, 3)))]
        elif kind == "too_many_fields":
            fields = fields + ["extra"] * int(rng.integers(1, 3))
        elif kind == "bad_value":
            col = typed[int(rng.integers(0, len(typed)))]
            options = _BAD_VALUES[contract.columns[col].type]
            fields[col] = options[int(rng.integers(0, len(options)))]
            key = "|".join(fields[i] for i in key_pos)
        else:  # empty_key
            fields[key_pos[int(rng.integers(0, len(key_pos)))]] = ""
            key = "|".join(fields[i] for i in key_pos)
        lines.append(_csv_bytes([fields]))
        kinds.append(kind)
        keys.append(key)
    return lines, kinds, keys


def _line_starts(body: bytes, n_rows: int, block: int = 1 << 26) -> np.ndarray:
    """Byte offset where each of ``n_rows`` lines starts, plus the end offset (n_rows + 1 values).

    Values never contain newlines, so every ``\\n`` ends a row; scanned in blocks to keep the
    temporary boolean mask small.
    """
    view = np.frombuffer(body, dtype=np.uint8)
    ends = [np.flatnonzero(view[i : i + block] == 10) + (i + 1) for i in range(0, len(view), block)]
    starts = np.concatenate([np.zeros(1, np.int64), *ends]).astype(np.int64)
    if len(starts) != n_rows + 1:
        raise ValueError(f"rendered {len(starts) - 1} lines for {n_rows} rows: a value contains a newline")
    return starts


def _splice(
    body: bytes, starts: np.ndarray, plan: np.ndarray, insert_at: np.ndarray, extra: list[bytes]
) -> list[memoryview | bytes]:
    """Pieces of output: rendered rows in ``plan`` order, ``extra`` lines before ``insert_at``.

    Consecutive row indices form one byte range, so the Python loop runs once per break in
    the plan (late rows, duplicates, malformed lines), not once per row.
    """
    m = len(plan)
    if m == 0:
        return list(extra)
    view = memoryview(body)
    brk = np.ones(m, dtype=bool)
    brk[1:] = plan[1:] != plan[:-1] + 1
    brk[insert_at[insert_at < m]] = True
    run_start = np.flatnonzero(brk)
    run_end = np.append(run_start[1:], m)
    lo = starts[plan[run_start]]
    hi = starts[plan[run_end - 1] + 1]
    pieces: list[memoryview | bytes] = []
    j = 0
    inserts = insert_at.tolist()
    for a, b_lo, b_hi in zip(run_start.tolist(), lo.tolist(), hi.tolist(), strict=True):
        while j < len(inserts) and inserts[j] <= a:
            pieces.append(extra[j])
            j += 1
        pieces.append(view[b_lo:b_hi])
    pieces.extend(extra[j:])
    return pieces


def deliver(
    batch: SourceBatch,
    out_dir: Path,
    part: int,
    rng: np.random.Generator,
    rates: DeliveryRates,
    late_allowed: bool = True,
) -> Delivery:
    """Write ``batch`` as file ``part`` (without the previous chunk's late rows, appended later)."""
    source = batch.source
    fname = file_name(source, part)
    next_name = file_name(source, part + 1)
    table = batch.table
    n = table.num_rows

    # late rows: whole groups travel to the next file
    late = np.zeros(n, dtype=bool)
    if late_allowed and rates.late > 0 and n:
        group = batch.group if batch.group is not None else np.arange(n)
        _, inverse = np.unique(group, return_inverse=True)
        late = (rng.random(int(inverse.max()) + 1) < rates.late)[inverse]
    own_idx = np.flatnonzero(~late)
    late_idx = np.flatnonzero(late)

    # duplicates: an exact copy a little later in the same file
    m = len(own_idx)
    dup_pos = np.empty(0, dtype=np.int64)
    if batch.duplicable and rates.duplicate > 0 and m:
        dup_pos = np.flatnonzero(rng.random(m) < rates.duplicate)
    keys = np.concatenate([np.arange(m, dtype=np.float64), dup_pos + rng.uniform(0.5, 300.5, len(dup_pos))])
    order = np.argsort(keys, kind="stable")
    final_idx = np.concatenate([own_idx, own_idx[dup_pos]])[order]
    n_final = len(final_idx)

    # malformed lines
    n_bad = int(rng.binomial(n_final, rates.malformed)) if rates.malformed > 0 and n_final else 0
    bad_lines: list[bytes] = []
    kinds: list[str] = []
    bad_keys: list[str] = []
    if n_bad:
        bad_lines, kinds, bad_keys = _malformed_lines(batch, final_idx, rng, n_bad)
    insert_at = np.sort(rng.integers(0, n_final + 1, n_bad))

    # render every valid row once, then lay the file out by copying byte ranges of rows
    body = render(table, batch.python_quoting)
    starts = _line_starts(body, n)
    path = out_dir / source / fname
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(header_line(source))
        f.writelines(_splice(body, starts, final_idx, insert_at, bad_lines))
    late_bytes = b"".join(_splice(body, starts, late_idx, np.empty(0, np.int64), []))
    del body

    # line numbers: header is line 1; a malformed line inserted before valid row `pos` after
    # j earlier malformed lines sits at data index pos + j
    line_numbers = insert_at + np.arange(n_bad) + 2
    malformed = pa.table(
        {
            "source": pa.array([source] * n_bad, pa.string()),
            "file_name": pa.array([fname] * n_bad, pa.string()),
            "line_number": pa.array(line_numbers, pa.int64()),
            "kind": pa.array(kinds, pa.string()),
            "record_key": pa.array(bad_keys, pa.string()),
        },
        schema=MALFORMED_SCHEMA,
    )
    keys = record_keys(table, source)
    records = pa.concat_tables(
        [
            _records(keys, own_idx, source, batch.person, fname),
            _records(keys, late_idx, source, batch.person, next_name),
        ]
    )
    stats = FileStats(
        source=source,
        file_name=fname,
        data_rows=n_final + n_bad,
        malformed_rows=n_bad,
        duplicate_rows=len(dup_pos),
    )
    return Delivery(stats, records, malformed, late_bytes, len(late_idx))
