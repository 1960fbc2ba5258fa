"""The fault corpus of issue #4: every fault either quarantined with its reason or blocked with a clear message.

Each case starts from a copy of one baseline warehouse (three good simulated deliveries
already loaded and validated), delivers the fault as the fourth delivery, and runs the real
Dagster materialisation of ``raw/shop_orders`` with ``row_accounting``, ``files_trusted``,
``gx_critical`` and ``gx_warnings`` and a downstream stand-in. Then the good fourth file is
re-delivered and the next run must pass. ``python -m tests.faults.fault_table`` prints the
resulting table.
"""

import re
from pathlib import Path

import dagster as dg
import pytest

from tests.faults.corpus import (
    BLOCKING,
    FAULTS,
    PARTS,
    SOURCE,
    SQL_VALUES,
    TARGET,
    Deliveries,
    Fault,
    FaultRun,
    build_baseline,
    run_fault,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deliveries(simulated: Path) -> Deliveries:
    return Deliveries.from_simulation(simulated / "landing")


@pytest.fixture(scope="module")
def baseline(deliveries: Deliveries, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One warehouse with the first three deliveries loaded and validated, copied by every case."""
    base = tmp_path_factory.mktemp("fault-baseline")
    build_baseline(deliveries, base)
    return base


def _slug(fault: Fault) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fault.name.lower().split(" (")[0]).strip("_")


def _lines_accounted(run: FaultRun) -> None:
    """Nothing lost: every physical line of the delivery is a loaded row or inside a quarantined record."""
    obs = run.faulty
    if not any(f[1] in ("loaded", "replaced", "rejected_file") for f in obs.files):
        return  # refused unread, empty, or a duplicate whose rows belong to its twin
    in_rejects = sum(text.count("\n") + 1 for *_, text in obs.rejects)
    assert sum(obs.loaded.values()) + in_rejects == run.physical_lines, (obs.loaded, in_rejects, run.physical_lines)


@pytest.mark.parametrize("fault", FAULTS, ids=[_slug(f) for f in FAULTS])
def test_fault_is_quarantined_or_blocked_and_a_good_redelivery_passes(
    fault: Fault, deliveries: Deliveries, baseline: Path, tmp_path: Path
) -> None:
    run = run_fault(fault, deliveries, baseline, tmp_path / "case")
    obs = run.faulty

    # Never a crash: the ingestion step materialised, and only checks that failed failed their steps.
    assert obs.ingested, obs.failed_steps
    failed_checks = {n for n, e in obs.evaluations.items() if not e.passed and n in BLOCKING}
    assert all(any(step.endswith(f"_{c}") for c in failed_checks) for step in obs.failed_steps), obs.failed_steps
    # Nothing lost: landed = loaded + rejected for every current file, in the manifest and in the tables.
    assert obs.accounted and obs.evaluations["row_accounting"].passed
    assert all(landed == loaded + rejected for _, _, landed, loaded, rejected, _ in obs.files)
    _lines_accounted(run)

    assert run.outcome == fault.outcome, (run.outcome, run.message)
    for words in fault.says:
        assert words in run.message, (words, run.message)
    if fault.outcome == "blocked":
        evaluation = obs.evaluations[fault.check or ""]
        assert obs.blocked_by == fault.check and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert not obs.downstream_ran
    else:
        assert obs.blocked_by is None and obs.downstream_ran, run.message
    if fault.outcome == "warned":
        warning = obs.evaluations["gx_warnings"]
        assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    if fault.injected_rejects is not None:
        assert run.injected_rejects == fault.injected_rejects, obs.rejects

    # After the good fourth delivery, the next run goes through, with exactly the good file's rows.
    fixed = run.fixed
    assert fixed.clean, {n: e.description for n, e in fixed.evaluations.items()}
    assert fixed.loaded[TARGET] == run.good_loaded
    assert sum(1 for r in fixed.rejects if r[0] == TARGET) == run.good_rejects


def test_same_file_twice_is_not_loaded_twice(deliveries: Deliveries, baseline: Path, tmp_path: Path) -> None:
    run = run_fault(next(f for f in FAULTS if f.outcome == "duplicate"), deliveries, baseline, tmp_path / "case")
    ((_, status, _, loaded, _, _),) = run.faulty.files
    assert status == "duplicate" and run.faulty.loaded.get(TARGET, 0) == 0  # its rows are its twin's
    twin = f"{SOURCE}_part{PARTS - 2:04d}.csv"
    assert run.gate.query(f"select count(*) from raw.{SOURCE} where _source_file = ?", [twin]) == [(loaded,)]


def test_corrected_redelivery_replaces_the_earlier_version(
    deliveries: Deliveries, baseline: Path, tmp_path: Path
) -> None:
    run = run_fault(next(f for f in FAULTS if f.outcome == "replaced"), deliveries, baseline, tmp_path / "case")
    corrected = f"{SOURCE}_part{PARTS - 2:04d}.csv"
    ((_, status, landed, loaded, rejected, _),) = run.faulty.files
    assert status == "replaced" and landed == len(deliveries.parts[PARTS - 2]) - 1  # one line withdrawn
    # Only the corrected version's rows and rejects remain, through the next run too.
    assert run.gate.query(f"select count(*) from raw.{SOURCE} where _source_file = ?", [corrected]) == [(loaded,)]
    assert run.gate.query("select count(*) from raw.rejected_rows where source_file = ?", [corrected]) == [(rejected,)]


def test_sql_looking_values_and_unseen_identifiers_are_stored_as_data(
    deliveries: Deliveries, baseline: Path, tmp_path: Path
) -> None:
    sql = run_fault(next(f for f in FAULTS if "SQL" in f.name), deliveries, baseline, tmp_path / "sql")
    (row,) = sql.faulty.fault_rows
    assert {k: row[k] for k in SQL_VALUES} == SQL_VALUES
    assert sql.gate.query("select count(*) > 0 from raw.load_manifest") == [(True,)]
    unseen = run_fault(next(f for f in FAULTS if "never seen" in f.name), deliveries, baseline, tmp_path / "new")
    assert [r["account_id"] for r in unseen.faulty.fault_rows] == [f"NEVER-SEEN-{i}" for i in (1, 2, 3)]
