"""Recovering from runs that died without a word (killed process, power cut, OOM).

A run executed from the CLI (``c360 demo``, ``dagster job execute``) that is killed stays
"started" in the Dagster instance and keeps its slot of the ``warehouse`` concurrency pool,
so the next run would wait for that slot forever. Under ``dagster dev`` the daemon's run
monitoring does this clean-up; without a daemon, ``c360 demo`` calls ``recover`` first.
"""

from __future__ import annotations

import logging
import os

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

log = logging.getLogger(__name__)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs whose process is gone as failed and free their pool slots; returns their ids."""
    recovered = []
    runs = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]))
    for run in runs:
        records = instance.get_records_for_run(run.run_id, limit=1).records
        event = records[0].event_log_entry.dagster_event if records else None
        pid = event.pid if event is not None else None
        if _alive(pid):
            continue
        instance.report_run_failed(run, f"run process {pid} is gone (killed or crashed); marked failed by c360")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning("recovered interrupted run %s (process %s gone): marked failed, pool slots freed", run.run_id, pid)
        recovered.append(run.run_id)
    return recovered
