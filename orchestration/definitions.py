"""The c360 code location: assets, checks, resources, jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.activation import activation_assets
from orchestration.assets.clv import clv_assets
from orchestration.assets.dbt import c360_dbt_models
from orchestration.assets.erasure import erasure_assets
from orchestration.assets.ingestion import ingestion_assets
from orchestration.assets.marketing import marketing_assets
from orchestration.assets.models import model_assets
from orchestration.assets.publish import publish_assets
from orchestration.automation import jobs, schedules, sensors
from orchestration.checks.erasure import erasure_checks
from orchestration.checks.gx_checks import gx_checks
from orchestration.checks.gx_marts import mart_gx_checks
from orchestration.checks.ingestion import ingestion_checks
from orchestration.monitoring import monitoring_assets
from orchestration.resources import default_resources
from orchestration.sensors import with_mart_freshness

defs = with_mart_freshness(
    dg.Definitions(
        assets=[
            *ingestion_assets,
            *erasure_assets,
            c360_dbt_models,
            *clv_assets,
            *model_assets,
            *activation_assets,
            *marketing_assets,
            *publish_assets,
            *monitoring_assets,
        ],
        asset_checks=[*ingestion_checks, *gx_checks, *mart_gx_checks, *erasure_checks],
        resources=default_resources(),
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
    )
)
