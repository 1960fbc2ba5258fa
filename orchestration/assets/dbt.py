"""The dbt project as Dagster assets: staging → intermediate → marts, grouped by folder."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration import erasure
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class C360DbtTranslator(DagsterDbtTranslator):
    """Keys and groups follow the dbt folder layout (``models/<layer>/...``), not model names.

    Models get ``[<layer>, <model>]`` keys so the UI shows staging / intermediate / marts as
    groups; sources keep the keys their ``meta.dagster.asset_key`` names (the ingestion assets).
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([_layer(dbt_resource_props), dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        # Staging reads raw only after erasure requests are applied (orchestration/erasure.py):
        # no run may stage a row of a person it was asked to forget.
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and _layer(props) == "staging":
            spec = spec.merge_attributes(deps=[dg.AssetKey(list(erasure.ASSET_KEY))])
        return spec


def _layer(props: Mapping[str, Any]) -> str:
    fqn = props.get("fqn", [])
    if props["resource_type"] == "seed":
        return "seeds"
    return fqn[1] if len(fqn) > 2 else "dbt"


translator = C360DbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
    name="c360_dbt_models",
)
def c360_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dbt reads the warehouse path from the environment (profiles.yml); pass the resource's
    # configured path so that Dagster and dbt can never point at different files.
    os.environ["C360_WAREHOUSE_PATH"] = warehouse.path
    # Dagster may run the project in several steps (Python assets sit between dbt models).
    # "cautious" keeps a step from running a test whose other parent is not built yet,
    # e.g. a relationships test from a mart to a seed in the step that only loads seeds.
    yield from dbt.cli(["build", "--indirect-selection", "cautious"], context=context).stream()
