"""The c360 code location: assets, checks, resources, jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.clv import clv_assets
from orchestration.assets.dbt import c360_dbt_models
from orchestration.assets.ingestion import ingestion_assets
from orchestration.assets.models import model_assets
from orchestration.automation import jobs, schedules, sensors
from orchestration.checks.gx_checks import gx_checks
from orchestration.checks.ingestion import ingestion_checks
from orchestration.resources import default_resources

defs = dg.Definitions(
    assets=[*ingestion_assets, c360_dbt_models, *clv_assets, *model_assets],
    asset_checks=[*ingestion_checks, *gx_checks],
    resources=default_resources(),
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
)
