"""Jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg

#: Everything, in dependency order: ingestion → staging → ... → marts.
full_build_job = dg.define_asset_job(
    name="full_build",
    selection=dg.AssetSelection.all(),
    description="Load new landing files and rebuild every table downstream of them.",
)

jobs = [full_build_job]
schedules: list[dg.ScheduleDefinition] = []
sensors: list[dg.SensorDefinition] = []
