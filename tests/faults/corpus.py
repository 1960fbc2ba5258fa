"""The fault corpus: each fault of issue #4 injected, one at a time, into good simulated landing data.

Shared by the parametrised test (``test_fault_corpus.py``) and the table printer
(``fault_table.py``), so the table in the issue is what the tests assert.

The data: the simulator's ``shop_orders`` lines (with their own imperfections: a few
malformed lines and re-delivered rows, as channels really send them) are re-cut into four
deliveries of equal size. The first three are loaded once into a baseline warehouse (that
also gives the volume gate its history); every fault starts from a copy of it, turns the
fourth delivery into the faulty one, runs the real Dagster materialisation of
``raw/shop_orders`` with its four checks and a downstream stand-in, then re-delivers the
good fourth file and runs again.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration.checks.gx import BatchResult
from orchestration.contracts import SOURCES
from tests.integration.test_raw_gates import Gate, checks, ran_downstream

SOURCE = "shop_orders"
COLUMNS = SOURCES[SOURCE].column_names
PARTS = 4
TARGET = f"{SOURCE}_part{PARTS - 1:04d}.csv"  # the delivery each fault is injected into
BLOCKING = ("row_accounting", "files_trusted", "gx_critical")
FUTURE = (datetime.now() + timedelta(days=60)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Deliveries:
    """The good data: a header line and the data lines of each delivery (text, no line ends)."""

    header: str
    parts: tuple[tuple[str, ...], ...]

    @classmethod
    def from_simulation(cls, landing: Path, parts: int = PARTS) -> Deliveries:
        files = sorted((landing / SOURCE).glob("*.csv"))
        lines: list[str] = []
        header = ""
        for path in files:
            header, *body = path.read_text().splitlines()
            lines += [line for line in body if line.strip()]
        size = -(-len(lines) // parts)
        return cls(header, tuple(tuple(lines[i * size : (i + 1) * size]) for i in range(parts)))

    def body(self, part: int) -> bytes:
        return "\n".join([self.header, *self.parts[part]]).encode() + b"\n"

    @property
    def target(self) -> tuple[str, ...]:
        return self.parts[-1]

    def template(self) -> dict[str, str]:
        """A well-formed row of the target delivery, as column → value."""
        for line in self.target:
            values = line.split(",")
            row = dict(zip(COLUMNS, values, strict=False))
            if len(values) == len(COLUMNS) and row["quantity"].isdigit() and row["order_id"]:
                return row
        raise AssertionError("no well-formed shop_orders line in the simulated data")

    def row(self, i: int, **overrides: str) -> str:
        """A fresh order (its own order id, never used by the simulator) with some values overridden."""
        values = self.template() | {"order_id": f"FAULT{i:05d}", "line_number": "1"} | overrides
        return ",".join(values[c] for c in COLUMNS)

    def with_rows(self, *rows: str) -> bytes:
        return "\n".join([self.header, *self.target, *rows]).encode() + b"\n"


# ── faults ───────────────────────────────────────────────────────────────────────────────────
# inject(d, folder) writes the faulty delivery into the landing folder of the source and
# returns the names of the files it delivered.

Inject = Callable[[Deliveries, Path], list[str]]


def _write(folder: Path, name: str, data: bytes) -> list[str]:
    (folder / name).write_bytes(data)
    return [name]


def appended(*rows: Callable[[Deliveries], str]) -> Inject:
    """The good target delivery plus some faulty rows."""
    return lambda d, folder: _write(folder, TARGET, d.with_rows(*(r(d) for r in rows)))


def _drop_column(d: Deliveries, folder: Path, column: str) -> list[str]:
    i = COLUMNS.index(column)
    lines = [d.header, *d.target]
    cut = [",".join(v for j, v in enumerate(line.split(",")) if j != i) for line in lines]
    return _write(folder, TARGET, "\n".join(cut).encode() + b"\n")


def _extra_column(d: Deliveries, folder: Path) -> list[str]:
    lines = [d.header + ",loyalty_tier", *(line + ",gold" for line in d.target)]
    return _write(folder, TARGET, "\n".join(lines).encode() + b"\n")


def _truncated(d: Deliveries, folder: Path) -> list[str]:
    """The export died 70 % of the way through: the last line stops after its third field."""
    keep = int(len(d.target) * 0.7)
    cut = ",".join(d.target[keep].split(",")[:3])
    return _write(folder, TARGET, "\n".join([d.header, *d.target[:keep], cut]).encode())


def _latin1(d: Deliveries, folder: Path) -> list[str]:
    rows = [d.row(i, coupon_code=code) for i, code in enumerate(("ÉTÉ10", "NOËL15"))]
    return _write(folder, TARGET, "\n".join([d.header, *d.target, *rows]).encode("latin-1") + b"\n")


def _utf16(d: Deliveries, folder: Path) -> list[str]:
    return _write(folder, TARGET, ("\n".join([d.header, *d.target]) + "\n").encode("utf-16"))


def _same_file_twice(d: Deliveries, folder: Path) -> list[str]:
    # The third delivery's exact bytes again, under the next file name.
    return _write(folder, TARGET, d.body(PARTS - 2))


def _corrected(d: Deliveries, folder: Path) -> list[str]:
    """The already loaded third delivery again under its name, corrected: one line withdrawn, prices fixed."""
    i = COLUMNS.index("unit_price")
    corrected = []
    for line in d.parts[PARTS - 2][1:]:
        values = line.split(",")
        if len(values) == len(COLUMNS) and values[i].replace(".", "", 1).isdigit():
            values[i] = f"{float(values[i]) + 1:.2f}"
        corrected.append(",".join(values))
    return _write(folder, f"{SOURCE}_part{PARTS - 2:04d}.csv", "\n".join([d.header, *corrected]).encode() + b"\n")


def _volume_drop(d: Deliveries, folder: Path) -> list[str]:
    keep = max(1, len(d.target) // 10)
    return _write(folder, TARGET, "\n".join([d.header, *d.target[:keep]]).encode() + b"\n")


def _unsafe_name(d: Deliveries, folder: Path) -> list[str]:
    return _write(folder, "shop_orders_..\\..\\..\\etc\\cron.d\\part0003.csv", d.body(PARTS - 1))


def _symlink_out(d: Deliveries, folder: Path) -> list[str]:
    outside = folder.parent.parent / "outside.csv"
    outside.write_bytes(d.body(PARTS - 1))
    (folder / TARGET).symlink_to(Path("..") / ".." / "outside.csv")
    return [TARGET]


def _unseen(d: Deliveries, i: int) -> str:
    """An order whose every identifier appears in no source at all."""
    return d.row(
        i,
        account_id=f"NEVER-SEEN-{i}",
        account_email=f"never.seen.{i}@example.org",
        phone=f"+86 199 0000 {i:04d}",
        device_id=f"NEVER-DEVICE-{i}",
    )


SQL_VALUES = {
    "coupon_code": "'); drop table raw.shop_orders; --",
    "account_id": "1 OR 1=1",
    "campaign_id": "x'; delete from raw.load_manifest where '1'='1",
}


@dataclass(frozen=True)
class Fault:
    """One fault, the outcome the docs promise, and how to recognise it."""

    name: str
    inject: Inject
    outcome: str  # quarantined | blocked | warned | loaded | duplicate | replaced
    check: str | None = None  # the check that blocks or warns
    says: tuple[str, ...] = ()  # words the check description, or the reject reasons, must contain
    injected_rejects: int | None = None  # rows the fault adds to raw.rejected_rows (beyond the good file's)
    note: str = ""  # what "loaded" means for this fault, for the table


FAULTS: tuple[Fault, ...] = (
    Fault(
        "malformed CSV lines (too few / too many fields, unclosed quote at the end)",
        appended(
            lambda d: "FAULT00001,1,2024-03-01 10:00:00",
            lambda d: d.row(2) + ",surplus,fields",
            lambda d: d.row(3, account_id='"A-unclosed'),
        ),
        "quarantined",
        says=("fewer fields than the header", "more fields than the header", "quoted field is not closed"),
        injected_rejects=3,
    ),
    Fault(
        "malformed CSV: unclosed quote mid-file (swallows the lines after it)",
        lambda d, folder: _write(
            folder,
            TARGET,
            "\n".join([d.header, *d.target[:-3], d.row(1, account_id='"A-unclosed'), *d.target[-3:]]).encode() + b"\n",
        ),
        "quarantined",
        says=("quoted field is not closed",),
        injected_rejects=1,
    ),
    Fault(
        "wrong types (quantity 'two', price 'ten', date 'yesterday')",
        appended(
            lambda d: d.row(1, quantity="two"),
            lambda d: d.row(2, unit_price="ten"),
            lambda d: d.row(3, ordered_at="yesterday"),
        ),
        "quarantined",
        says=("quantity: two is not a valid INTEGER", "is not a valid DECIMAL", "is not a valid TIMESTAMP"),
        injected_rejects=3,
    ),
    Fault(
        "missing required column (order_id)",
        lambda d, f: _drop_column(d, f, "order_id"),
        "blocked",
        "files_trusted",
        ("missing required column(s) order_id", TARGET),
    ),
    Fault(
        "unexpected extra column (loyalty_tier)",
        lambda d, f: _extra_column(d, f),
        "loaded",
        says=("unexpected column(s) ignored: loyalty_tier",),
    ),
    Fault(
        "negative amount (unit_price -12.00)",
        appended(lambda d: d.row(1, unit_price="-12.00")),
        "blocked",
        "gx_critical",
        ("unit_price: expected ≥ 0", "-12.0", TARGET),
    ),
    Fault(
        "zero amount (unit_price 0.00)",
        appended(lambda d: d.row(1, unit_price="0.00")),
        "warned",
        "gx_warnings",
        ("unit_price: expected none of 0",),
    ),
    Fault(
        "zero quantity",
        appended(lambda d: d.row(1, quantity="0")),
        "blocked",
        "gx_critical",
        ("quantity: expected > 0",),
    ),
    Fault(
        "unknown currency (XBT)",
        appended(lambda d: d.row(1, currency="XBT")),
        "blocked",
        "gx_critical",
        ("currency: expected one of", "'XBT'"),
    ),
    Fault(
        "future date (+60 days)",
        appended(lambda d: d.row(1, ordered_at=FUTURE)),
        "blocked",
        "gx_critical",
        ("ordered_at: expected", FUTURE[:10]),
    ),
    Fault(
        "ancient date (2009, before the business began)",
        appended(lambda d: d.row(1, ordered_at="2009-07-01 09:00:00")),
        "blocked",
        "gx_critical",
        ("ordered_at: expected", "2009-07-01"),
    ),
    Fault(
        "duplicate order id with different contents",
        appended(lambda d: d.row(1, quantity="2"), lambda d: d.row(1, quantity="3")),
        "blocked",
        "gx_critical",
        ("order_id='FAULT00001', line_number=1: quantity 2 ≠ 3",),
    ),
    Fault(
        "empty file (0 bytes)",
        lambda d, f: _write(f, TARGET, b""),
        "blocked",
        "gx_critical",
        (TARGET, "row count ≥ 1", "observed 0"),
    ),
    Fault(
        "truncated file (cut mid-line at 70 %)",
        _truncated,
        "quarantined",
        says=("fewer fields than the header",),
        injected_rejects=1,
    ),
    Fault(
        "wrong encoding: latin-1 accents in a UTF-8 feed",
        _latin1,
        "quarantined",
        says=("not valid UTF-8",),
        injected_rejects=2,
    ),
    Fault(
        "wrong encoding: whole file in UTF-16",
        _utf16,
        "blocked",
        "files_trusted",
        ("header line is not valid UTF-8", TARGET),
    ),
    Fault(
        "same file delivered twice (other name, same bytes)",
        _same_file_twice,
        "duplicate",
        says=(f"identical to {SOURCE}_part{PARTS - 2:04d}.csv",),
    ),
    Fault(
        "corrected re-delivery (same name, new content)", _corrected, "replaced", says=("replaces an earlier delivery",)
    ),
    Fault("90 % drop in volume", _volume_drop, "blocked", "gx_critical", (TARGET, "at most 50% below the median")),
    Fault(
        "null keys (empty order_id / line_number)",
        appended(lambda d: d.row(1, order_id=""), lambda d: d.row(2, line_number="")),
        "quarantined",
        says=("required column order_id is empty", "required column line_number is empty"),
        injected_rejects=2,
    ),
    Fault(
        "orders for identifiers never seen anywhere",
        appended(*(partial(_unseen, i=i) for i in range(1, 4))),
        "loaded",
        note="a first order from a new person is not an error: identity resolution gives them a new customer_id, "
        "and the marts.fct_orders gate checks that every order's customer_id exists in dim_customers",
    ),
    Fault("path traversal in the file name", _unsafe_name, "blocked", "files_trusted", ("refused", "is not allowed")),
    Fault(
        "symlink pointing outside the landing folder",
        _symlink_out,
        "blocked",
        "files_trusted",
        ("refused", "is not allowed"),
    ),
    Fault(
        "values that look like SQL",
        appended(lambda d: d.row(1, **SQL_VALUES)),
        "loaded",
        note="stored verbatim as text (every statement is parameterised; no table was touched)",
    ),
)


# ── running a fault ──────────────────────────────────────────────────────────────────────────


@dataclass
class Observation:
    """What one run did to the delivered files."""

    evaluations: dict[str, dg.AssetCheckEvaluation]
    downstream_ran: bool
    ingested: bool
    failed_steps: list[str]
    files: list[tuple[str, str, int, int, int, str]]  # current manifest rows of the delivered files
    rejects: list[tuple[str, int, str, str]]  # (file, line, reason, raw text) of the delivered files
    loaded: dict[str, int]  # raw rows per delivered file
    warnings: dict[tuple[str, str], str]  # (column, expectation) → summary, warnings on the delivered files
    fault_rows: list[dict[str, Any]]  # raw rows of the orders the fault added (order ids FAULT…)
    accounted: bool  # landed = loaded + rejected for every current file, and raw / rejects agree

    @property
    def quarantined(self) -> int:
        return len(self.rejects)

    @property
    def blocked_by(self) -> str | None:
        return next((n for n in BLOCKING if n in self.evaluations and not self.evaluations[n].passed), None)

    @property
    def clean(self) -> bool:
        return self.blocked_by is None and self.downstream_ran and self.accounted and not self.failed_steps


@dataclass
class FaultRun:
    fault: Fault
    delivered: list[str]
    faulty: Observation
    fixed: Observation
    good_rejects: int  # rejects of the good target delivery (the simulator's own malformed lines)
    good_loaded: int
    physical_lines: int  # non-blank data lines of the faulty delivery(ies)
    gate: Gate  # the fault's own landing folder and warehouse, to look inside

    @property
    def injected_rejects(self) -> int:
        """Rows quarantined because of the fault: a loaded file's rejects beyond the good file's own
        (the simulator's malformed lines), or every row of a file rejected whole."""
        if {f[1] for f in self.faulty.files} & {"loaded", "replaced"}:
            return self.faulty.quarantined - self.good_rejects
        return self.faulty.quarantined

    @property
    def new_warnings(self) -> list[str]:
        """Warnings the fault raised (the good simulated data has its own, e.g. exact re-delivered rows)."""
        return [text for key, text in self.faulty.warnings.items() if key not in self.fixed.warnings]

    @property
    def outcome(self) -> str:
        statuses = {f[1] for f in self.faulty.files}
        if self.faulty.blocked_by:
            return "blocked"
        if self.new_warnings:
            return "warned"
        if self.injected_rejects > 0:
            return "quarantined"
        if statuses & {"duplicate", "replaced"}:
            return "duplicate" if "duplicate" in statuses else "replaced"
        return "loaded"

    @property
    def message(self) -> str:
        """What a person reads: the blocking check's description, the new warnings, reject reasons, or notes."""
        obs = self.faulty
        if obs.blocked_by:
            return obs.evaluations[obs.blocked_by].description or ""
        if self.new_warnings:
            return "; ".join(self.new_warnings)
        if self.injected_rejects > 0:
            # The good delivery's own malformed lines are quarantined too; name only the fault's reasons.
            good = {text for file, _, _, text in self.fixed.rejects if file == TARGET}
            return "; ".join(sorted({reason for _, _, reason, text in obs.rejects if text not in good}))
        notes = [re.sub(r"(; )?\d+ row\(s\) rejected, see raw.rejected_rows", "", m) for *_, m in obs.files]
        return "; ".join(n for n in [*notes, self.fault.note] if n)


def physical_lines(data: bytes) -> int:
    """Non-blank lines after the header, read byte-preservingly (latin-1), as a person would count them."""
    lines = data.decode("latin-1").split("\n")[1:]
    return sum(1 for line in lines if line.strip("\r"))


def build_baseline(deliveries: Deliveries, base: Path) -> Gate:
    """Load the first deliveries into a fresh warehouse; they must pass every blocking gate."""
    gate = Gate(base)
    folder = gate.landing / SOURCE
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(PARTS - 1):
        (folder / f"{SOURCE}_part{part:04d}.csv").write_bytes(deliveries.body(part))
    result = gate.run(SOURCE)
    evaluations = checks(result)
    assert all(evaluations[n].passed for n in BLOCKING), {n: e.description for n, e in evaluations.items()}
    assert result.success and ran_downstream(result, SOURCE)
    return gate


def _observe(gate: Gate, result: dg.ExecuteInProcessResult, files: list[str]) -> Observation:
    failed_steps = sorted({e.step_key or "" for e in result.all_events if e.is_step_failure})
    ingested = dg.AssetKey(["raw", SOURCE]) in {e.asset_key for e in result.get_asset_materialization_events()}
    manifest = gate.query(
        "select file_name, status, rows_landed, rows_loaded, rows_rejected, coalesce(message, '') "
        "from raw.load_manifest where source = ? and is_current and list_contains(?, file_name) order by 1",
        [SOURCE, files],
    )
    rejects = gate.query(
        "select source_file, source_row, reason, coalesce(raw_text, '') from raw.rejected_rows "
        "where source = ? and list_contains(?, source_file) order by 1, 2",
        [SOURCE, files],
    )
    loaded = dict(
        gate.query(
            f"select _source_file, count(*) from raw.{SOURCE} where list_contains(?, _source_file) group by 1", [files]
        )
    )
    with duckdb.connect(gate.warehouse.path, read_only=True) as con:
        added = con.execute(
            f"select {', '.join(COLUMNS)} from raw.{SOURCE} where order_id like 'FAULT%' "
            "and list_contains(?, _source_file) order by order_id",
            [files],
        ).df()
    warnings: dict[tuple[str, str], str] = {}
    for (text,) in gate.query(
        "select result from raw.gx_validation_results where source = ? and list_contains(?, file_name)",
        [SOURCE, files],
    ):
        for failure in BatchResult.from_json(text).failed("warning"):
            warnings[(failure.column, failure.expectation)] = failure.summary()
    # Row accounting over every current file of the source, straight from the tables.
    broken = gate.query(
        f"""
        select m.file_name from raw.load_manifest m
        left join (select _source_file as f, count(*) as n from raw.{SOURCE} group by 1) l on l.f = m.file_name
        left join (select source_file as f, count(*) as n from raw.rejected_rows where source = $1 group by 1) r
            on r.f = m.file_name
        where m.source = $1 and m.is_current and m.status not in ('duplicate', 'refused')
            and (m.rows_landed <> m.rows_loaded + m.rows_rejected or coalesce(l.n, 0) <> m.rows_loaded
                 or coalesce(r.n, 0) <> m.rows_rejected)
        """,
        [SOURCE],
    )
    return Observation(
        checks(result),
        ran_downstream(result, SOURCE),
        ingested,
        failed_steps,
        manifest,
        rejects,
        loaded,
        warnings,
        added.to_dict("records"),
        not broken,
    )


def run_fault(fault: Fault, deliveries: Deliveries, baseline: Path, work: Path) -> FaultRun:
    """Copy the baseline, deliver the fault, run; re-deliver the good file, run again."""
    shutil.copytree(baseline, work, symlinks=True)
    gate = Gate(work)
    folder = gate.landing / SOURCE
    history = {p.name for p in folder.iterdir()}
    delivered = fault.inject(deliveries, folder)
    lines = sum(physical_lines((folder / n).read_bytes()) for n in delivered if (folder / n).is_file())
    faulty = _observe(gate, gate.run(SOURCE), delivered)

    # The fix: new faulty files go away (a corrected earlier delivery stays corrected), and the
    # good fourth delivery arrives under its own name.
    for name in delivered:
        if name not in history:
            (folder / name).unlink()
    (folder / TARGET).write_bytes(deliveries.body(PARTS - 1))
    fixed = _observe(gate, gate.run(SOURCE), sorted({*delivered, TARGET}))
    good = next(f for f in fixed.files if f[0] == TARGET)
    return FaultRun(
        fault, delivered, faulty, fixed, good_rejects=good[4], good_loaded=good[3], physical_lines=lines, gate=gate
    )


def table_row(run: FaultRun) -> str:
    """``| fault | outcome | rows quarantined | landed = loaded + rejected | after re-delivery |``."""
    obs, outcome = run.faulty, run.outcome
    if outcome == "blocked":
        text = run.message.split(". ", 1)[-1] if obs.blocked_by == "gx_critical" else run.message
        said = f"**blocked** by `{obs.blocked_by}`: {_short(text)}"
    elif outcome == "warned":
        said = f"loaded, **warning** in `gx_warnings`: {_short(run.message)}; run continues"
    elif outcome == "quarantined":
        said = f"**quarantined** in raw.rejected_rows ({_short(run.message)}); run continues"
    elif outcome == "duplicate":
        said = f"**not loaded again**: {_short(run.message)}; run continues"
    elif outcome == "replaced":
        said = "**replaced**: the earlier version's rows and rejects removed, the correction loaded; run continues"
    else:
        said = f"**loaded** as data{': ' + _short(run.message) if run.message else ''}; run continues"
    refused = all(f[1] == "refused" for f in obs.files)
    landed, loaded, rejected = (sum(f[i] for f in obs.files) for i in (2, 3, 4))
    balance = "refused unread: 0 rows" if refused else f"{landed:,} = {loaded:,} + {rejected:,}"
    fixed = "passes" if run.fixed.clean else "**still failing**"
    name = run.fault.name.replace("|", "\\|")
    return f"| {name} | {said} | {max(run.injected_rejects, 0):,} | {balance} | {fixed} |"


TABLE_HEAD = (
    "| fault | outcome | rows quarantined by the fault | landed = loaded + rejected | after the good file is "
    "re-delivered |\n|---|---|---:|---|---|"
)


def _short(text: str, limit: int = 180) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
