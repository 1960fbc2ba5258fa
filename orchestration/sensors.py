"""Sensors and schedules: new landing files, a daily full build, freshness of the analyst-facing marts.

The landing sensor only *looks* at the folder (name, size, mtime per file): hashing every
file on every tick would read gigabytes every 30 seconds. The ingestion assets still decide
by sha256 against ``raw.load_manifest`` what to load, so a touched-but-identical file costs
one cheap run that loads nothing, never a duplicate load.
"""

import hashlib
import json
import os
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from orchestration.settings import Paths

LANDING_SENSOR_INTERVAL_SECONDS = 30
#: the marts analysts query first; stale ones show as degraded / failing freshness in the UI
FRESHNESS_MARTS = [
    dg.AssetKey(["marts", name])
    for name in ("dim_customers", "customer_rfm", "customer_clv", "customer_segments", "customer_churn_risk")
]


def landing_state(landing_dir: Path) -> dict[str, str]:
    """Per landed file (``<source>/<name>``, hidden files left out): ``size:mtime_ns``."""
    if not landing_dir.is_dir():
        return {}
    state = {}
    for path in sorted(landing_dir.glob("*/*")):
        if path.is_file() and not path.name.startswith("."):
            st = path.stat()
            state[path.relative_to(landing_dir).as_posix()] = f"{st.st_size}:{st.st_mtime_ns}"
    return state


def landing_digest(state: dict[str, str]) -> str:
    """A short, order-independent fingerprint of the landing folder: the cursor and the run key."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def landing_sensor_for(job_name: str) -> dg.SensorDefinition:
    """The landing sensor, targeting the job ``job_name`` (the full build: every table downstream of raw)."""

    @dg.sensor(
        name="landing_files_sensor",
        job_name=job_name,
        minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
        description="Requests a full build when files in the landing folder (C360_LANDING_DIR) are added, "
        "changed or removed. The same landing state never triggers twice (run key = its digest).",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        # read the folder at tick time, not import time: C360_LANDING_DIR may differ per deployment
        landing_dir = Paths.from_env().landing_dir
        state = landing_state(landing_dir)
        if not state:
            return dg.SkipReason(f"no files in {landing_dir}")
        digest = landing_digest(state)
        if digest == context.cursor:
            return dg.SkipReason(f"landing folder unchanged ({len(state)} files, state {digest})")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"landing-{digest}",
                    tags={"c360/trigger": "landing_files", "c360/landing_state": digest},
                )
            ],
            cursor=digest,
        )

    return landing_files_sensor


def daily_build_schedule_for(job_name: str) -> dg.ScheduleDefinition:
    """The daily full build, at ``C360_DAILY_BUILD_CRON`` (default 03:00) in ``C360_SCHEDULE_TIMEZONE`` (UTC).

    Stopped by default: a fresh clone should not start building on its own. Turn it on in the
    UI (Automation → daily_full_build → toggle) or ``dagster schedule start daily_full_build``.
    """
    return dg.ScheduleDefinition(
        name="daily_full_build",
        job_name=job_name,
        cron_schedule=os.environ.get("C360_DAILY_BUILD_CRON", "0 3 * * *"),
        execution_timezone=os.environ.get("C360_SCHEDULE_TIMEZONE", "UTC"),
        description="Rebuild everything daily, even when no file landed (as-of dates move, models rescore).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def freshness_hours() -> float:
    """How old a mart may get before its freshness check warns: ``C360_MART_FRESHNESS_HOURS``, default 26.

    26 = the daily build's period plus two hours of slack for a slow or retried build.
    """
    return float(os.environ.get("C360_MART_FRESHNESS_HOURS", "26"))


def mart_freshness_policy() -> dg.FreshnessPolicy:
    """Fail when a key mart was last materialised more than ``freshness_hours()`` ago; warn at 3/4 of that."""
    hours = freshness_hours()
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours * 0.75))


def with_mart_freshness(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the freshness policy attached to the key marts.

    Attached here rather than in each asset's decorator because those marts are built in four
    different modules (dbt, CLV, models); one place keeps the analysts' promise in one place.
    Freshness policies (Dagster 1.12+, they supersede freshness checks and need no sensor) are
    evaluated by the daemon when the instance has ``freshness: enabled: true`` (our dagster.yaml).
    """
    policy = mart_freshness_policy()
    # map_resolved_asset_specs is "preview" in 1.13 but is the documented way to set attributes on
    # specs built elsewhere (dbt included); silence its warning so every code-server load is clean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(
            func=lambda spec: spec.replace_attributes(freshness_policy=policy), selection=FRESHNESS_MARTS
        )
