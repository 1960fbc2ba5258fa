"""A job for the concurrency-pool test: reconstructable, so it can run on the multiprocess executor."""

import dagster as dg

from orchestration.assets.ingestion import ingestion_assets
from orchestration.resources import default_resources


def ingestion_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=ingestion_assets,
        resources=default_resources(),
        jobs=[
            dg.define_asset_job(
                "ingest_all",
                # Three small sources are enough to have steps racing for the file.
                selection=dg.AssetSelection.assets(
                    ["raw", "products"], ["raw", "campaigns"], ["raw", "crm_profiles"]
                ).without_checks(),
                executor_def=dg.multiprocess_executor,
            )
        ],
    )
    return defs.resolve_job_def("ingest_all")
