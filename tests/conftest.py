"""Shared fixtures: the dbt manifest, and a small simulated landing zone per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.settings import DBT_PROJECT_DIR


def pytest_configure(config: pytest.Config) -> None:
    # Dagster's dbt assets read dbt's manifest when the definitions are imported; make sure
    # it exists and is current, as `make prepare` would.
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".csv")
               and "target" not in p.parts and "logs" not in p.parts]
    if not manifest.exists() or any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources):
        from orchestration.cli import prepare_dbt

        prepare_dbt()


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated data folder (landing + ground truth), shared read-only by tests."""
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(SimulationConfig(n_customers=600, seed=11), out)
    return out


@pytest.fixture(scope="session")
def full_warehouse(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every asset of the code location materialised once on the simulated data.

    Shared by the tests that check the marts and models against the simulator's ground
    truth, so the whole pipeline is built once per session, as `make demo` builds it.
    """
    import dagster as dg

    from orchestration import definitions
    from orchestration.resources import ModelStore, WarehouseResource, default_resources

    root = tmp_path_factory.mktemp("full")
    resources = default_resources()
    resources["warehouse"] = WarehouseResource(
        path=str(root / "warehouse.duckdb"), landing_dir=str(simulated / "landing")
    )
    resources["model_store"] = ModelStore(path=str(root / "models"))
    defs = definitions.defs
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])], resources=resources, raise_on_error=False
    )
    failures = [e.message for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    return root / "warehouse.duckdb"
