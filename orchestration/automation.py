"""Jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg

#: Everything, in dependency order: ingestion → staging → ... → marts.
#: In one process: every step opens the same single-writer DuckDB file, so the warehouse
#: pool serialises them anyway, and a subprocess per step would only add its start-up
#: (seconds each, times ~70 steps). Ad-hoc materialisations from the UI use the default
#: multiprocess executor; the pool keeps those free of lock errors too.
full_build_job = dg.define_asset_job(
    name="full_build",
    selection=dg.AssetSelection.all(),
    description="Load new landing files and rebuild every table downstream of them.",
    executor_def=dg.in_process_executor,
)

jobs = [full_build_job]
schedules: list[dg.ScheduleDefinition] = []
sensors: list[dg.SensorDefinition] = []
