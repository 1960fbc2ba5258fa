"""Crash safety: kill the full build at several points, rerun, and land exactly where a clean run lands.

The run is the real `dagster job execute` of the `full_build` job in a subprocess, killed
with SIGKILL (no clean-up handlers run) right after chosen events: inside an ingestion
step, between two assets, inside the dbt build and inside a Python model. After the kills
a normal run completes, and every table of the warehouse must have the same content as a
warehouse built by one uninterrupted run: nothing duplicated, nothing lost.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
# Columns that record *when* something ran, not what it holds.
VOLATILE = re.compile(
    r"(^_loaded_at$|^loaded_at$|^rejected_at$|^validated_at$|_run_at$|^scored_at$|^built_at$"
    r"|^assigned_at$|^retired_at$"  # identity id bookkeeping: when dbt issued / retired an id
    r"|^generated_at$)"  # when the audience exports were written
)
# Tables that are logs of runs by design (one row per validation or load event).
RUN_LOGS = {("raw", "gx_validation_results")}


def _env(base: Path, landing: Path) -> dict[str, str]:
    home = base / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "orchestration" / "instance" / "dagster.yaml").read_text())
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "C360_DATA_DIR": str(base),
        "C360_LANDING_DIR": str(landing),
        "C360_WAREHOUSE_PATH": str(base / "warehouse.duckdb"),
    }


def _run(env: dict[str, str], kill_after: str | None = None, delay: float = 0.0) -> int:
    """Run full_build; with kill_after, SIGKILL it `delay` s after a log line matching that regex.

    Like `c360 demo`, each run starts with `c360 recover`, which marks a killed predecessor
    failed and frees its pool slot (otherwise the next run waits for that slot forever).
    """
    subprocess.run([str(DAGSTER.with_name("c360")), "recover"], cwd=ROOT, env=env, check=True)
    proc = subprocess.Popen(
        [str(DAGSTER), "job", "execute", "-m", "orchestration.definitions", "-j", "full_build"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    killed = threading.Event()
    assert proc.stdout is not None
    for line in proc.stdout:
        if kill_after and not killed.is_set() and re.search(kill_after, line):
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            killed.set()
    code = proc.wait()
    if kill_after:
        assert killed.is_set(), f"the run ended before {kill_after!r} happened"
    return code


def _fingerprints(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every table (floats rounded)."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where not temporary order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if (schema, table) in RUN_LOGS:
                continue
            cols = con.execute(
                "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ?",
                [schema, table],
            ).fetchall()
            exprs = []
            for name, dtype in cols:
                if VOLATILE.search(name):
                    continue
                quoted = '"' + name.replace('"', '""') + '"'
                # Parallel float sums may differ in the last bits from run to run.
                exprs.append(f"round({quoted}, 6)" if dtype in ("DOUBLE", "FLOAT") else quoted)
            row = ", ".join(f"coalesce(cast({e} as varchar), '∅')" for e in exprs) or "''"
            count, digest = con.execute(
                f'select count(*), coalesce(sum(hash(concat_ws(\'|\', {row}))), 0)::varchar from "{schema}"."{table}"'
            ).fetchone()
            out[f"{schema}.{table}"] = (count, digest)
    return out


def test_killed_runs_converge_to_the_clean_build(simulated: Path, tmp_path: Path):
    landing = simulated / "landing"
    clean = _env(tmp_path / "clean", landing)
    assert _run(clean) == 0
    expected = _fingerprints(tmp_path / "clean" / "warehouse.duckdb")

    crashed = _env(tmp_path / "crashed", landing)
    kill_points = [
        (r'STEP_START - Started execution of step "raw__app_events"', 0.3),  # inside ingestion
        (r'STEP_SUCCESS - Finished execution of step "raw__shop_orders"', 0.0),  # between assets
        (r'STEP_START - Started execution of step "c360_dbt_models', 4.0),  # inside the dbt build
        (r'STEP_START - Started execution of step "models__clv_model"', 0.2),  # inside a Python model
    ]
    for pattern, delay in kill_points:
        assert _run(crashed, kill_after=pattern, delay=delay) != 0
    assert _run(crashed) == 0
    actual = _fingerprints(tmp_path / "crashed" / "warehouse.duckdb")

    assert actual.keys() == expected.keys()
    differing = {t: (actual[t], expected[t]) for t in expected if actual[t] != expected[t]}
    assert not differing, differing
