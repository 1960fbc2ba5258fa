"""Jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg

from orchestration import monitoring
from orchestration import sensors as c360_sensors

#: Everything, in dependency order: ingestion → staging → ... → marts.
#: In one process: every step opens the same single-writer DuckDB file, so the warehouse
#: pool serialises them anyway, and a subprocess per step would only add its start-up
#: (seconds each, times ~70 steps). Ad-hoc materialisations from the UI use the default
#: multiprocess executor; the pool keeps those free of lock errors too.
#: The selection includes every asset check of the selected assets: row accounting, the raw
#: and mart GX gates (blocking) and the dbt tests, so a full build is a gated build.
full_build_job = dg.define_asset_job(
    name="full_build",
    selection=dg.AssetSelection.all(),
    description="Load new landing files and rebuild every table downstream of them.",
    executor_def=dg.in_process_executor,
)

#: Copy the current marts to the published warehouse and re-render the report, without
#: rebuilding anything (full_build ends with the same two assets: they depend on every mart).
republish_job = dg.define_asset_job(
    name="republish",
    selection=dg.AssetSelection.assets(["publish"], ["report"]),
    description="Publish the analyst-facing marts (data/published/c360.duckdb) and render the report.",
    executor_def=dg.in_process_executor,
)

jobs = [full_build_job, republish_job, monitoring.retrain_job]
#: stopped by default; start them in the UI (Automation tab) or with `dagster schedule/sensor start`
schedules: list[dg.ScheduleDefinition] = [c360_sensors.daily_build_schedule_for(full_build_job.name)]
sensors: list[dg.SensorDefinition] = [
    c360_sensors.landing_sensor_for(full_build_job.name),
    *monitoring.monitoring_sensors,
]
