"""Under the multiprocess executor, ingestion steps share one DuckDB file without a lock error."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

pytestmark = pytest.mark.integration

INSTANCE_YAML = Path(__file__).resolve().parents[2] / "orchestration" / "instance" / "dagster.yaml"


def test_parallel_steps_are_serialised_by_the_warehouse_pool(simulated: Path, tmp_path: Path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("C360_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("C360_LANDING_DIR", str(simulated / "landing"))
    settings = yaml.safe_load(INSTANCE_YAML.read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
    with dg.instance_for_test(temp_dir=str(home), overrides={"concurrency": settings["concurrency"]}) as instance:
        job = dg.reconstructable(_job)
        result = dg.execute_job(job, instance=instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        blocked = [e for e in result.all_events if "blocked by limit for pool warehouse" in (e.message or "")]
        assert blocked, "the pool should have held steps back"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = {
            s: con.execute(f"select count(*) from raw.{s}").fetchone()[0]
            for s in ("products", "campaigns", "crm_profiles")
        }
    assert all(n > 0 for n in loaded.values()), loaded


def _job() -> dg.JobDefinition:
    from tests.integration._pool_job import ingestion_job

    return ingestion_job()
