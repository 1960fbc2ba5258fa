"""Automation with real Dagster: the landing sensor, the drift asset and retraining sensor, the wiring.

No Dagster mocks: sensors are evaluated with ``build_sensor_context`` on an ephemeral
instance, the drift asset is materialised with ``dg.materialize`` on a throwaway warehouse,
and the retraining sensor reads that materialisation from the instance's event log.
"""

import os
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import joblib
import numpy as np
import pandas as pd
import pytest

from orchestration import monitoring, sensors
from orchestration.ml import drift
from orchestration.resources import ModelStore, WarehouseResource

# --------------------------------------------------------------------------- landing sensor


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    """One evaluation, as the daemon does it: the previous tick's cursor in, run requests and cursor out."""
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_landing_sensor_requests_one_run_per_landing_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    monkeypatch.setenv("C360_LANDING_DIR", str(landing))
    sensor = sensors.landing_sensor_for("full_build")
    instance = dg.DagsterInstance.ephemeral()

    empty = _tick(sensor, instance, None)
    assert empty.run_requests == [] and "no files" in (empty.skip_message or "")

    (landing / "shop_orders").mkdir(parents=True)
    orders = landing / "shop_orders" / "orders_2024_01.csv"
    orders.write_text("order_id,customer_email\n1,a@example.com\n")
    first = _tick(sensor, instance, empty.cursor)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_key == f"landing-{first.cursor}"
    assert request.tags["c360/trigger"] == "landing_files"

    # the same landing state: skipped, cursor kept
    again = _tick(sensor, instance, first.cursor)
    assert again.run_requests == [] and "unchanged" in (again.skip_message or "")
    assert again.cursor in (None, first.cursor)

    # a corrected re-delivery (new size and mtime) is a new state: a new run with a new key
    orders.write_text("order_id,customer_email\n1,a@example.com\n2,b@example.com\n")
    os.utime(orders, ns=(orders.stat().st_atime_ns, orders.stat().st_mtime_ns + 1_000_000_000))
    changed = _tick(sensor, instance, first.cursor)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != request.run_key

    # hidden files (editors' and uploaders' temporaries) are not deliveries
    (landing / "shop_orders" / ".orders.csv.part").write_text("partial")
    assert _tick(sensor, instance, changed.cursor).run_requests == []


# --------------------------------------------------------------------------- drift asset and retraining sensor

FEATURES = ("recency_days", "frequency")


def _frame(rng: np.random.Generator, recency_scale: float, n: int = 2_000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "is_buyer": True,
            "recency_days": rng.exponential(recency_scale, n),
            "frequency": rng.poisson(3, n),
        }
    )


def _materialize_drift(tmp_path: Path, instance: dg.DagsterInstance, today_recency_scale: float) -> tuple[float, int]:
    """A throwaway warehouse + models trained on recency ~ Exp(30): (max_psi, features over threshold)."""
    rng = np.random.default_rng(11)
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    train = _frame(rng, 30.0)
    for name in monitoring.MONITORED_MODELS:
        # the asset only needs the model's feature list; the real models are dataclasses with .features
        joblib.dump(SimpleNamespace(features=FEATURES), models / f"{name}.joblib")
        drift.save_reference(train, FEATURES, models / f"{name}.joblib")
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.register("today", _frame(rng, today_recency_scale))
        con.register("train", train)
        con.execute("create or replace table marts.customer_features as select * from today")
        con.execute(
            "create or replace table marts.customer_feature_snapshots as select *, 'train' as snapshot_role from train"
        )
    result = dg.materialize(
        [monitoring.model_drift],
        instance=instance,
        resources={
            "warehouse": WarehouseResource(path=str(warehouse), landing_dir=str(tmp_path / "landing")),
            "model_store": ModelStore(path=str(models)),
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("models__model_drift")[0].metadata
    return float(metadata["max_psi"].value), int(metadata["features_over_threshold"].value)


def test_drift_asset_and_retraining_sensor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(monitoring.THRESHOLD_ENV, raising=False)
    instance = dg.DagsterInstance.ephemeral()
    sensor = monitoring.model_drift_retrain

    # today looks like training: low PSI, the sensor skips
    max_psi, over = _materialize_drift(tmp_path, instance, today_recency_scale=30.0)
    assert max_psi < 0.1 and over == 0
    calm = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert calm.run_requests == [] and "within threshold" in (calm.skip_message or "")

    # recency triples: both models' recency drifts; the next tick requests one retraining run
    max_psi, over = _materialize_drift(tmp_path, instance, today_recency_scale=90.0)
    assert max_psi > 0.25 and over == 2  # recency_days of segmentation_model and of churn_model
    drifted = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=calm.cursor))
    assert len(drifted.run_requests) == 1
    assert drifted.run_requests[0].run_key.startswith("drift-")
    assert float(drifted.run_requests[0].tags["c360/max_psi"]) == pytest.approx(max_psi, abs=1e-4)

    # the same observation is not acted on twice
    assert sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=drifted.cursor)).run_requests == []

    # the threshold is configurable: raised above the observed PSI, the same numbers skip
    monkeypatch.setenv(monitoring.THRESHOLD_ENV, str(max_psi + 1))
    assert isinstance(monitoring.retrain_request(max_psi, "x", monitoring.drift_threshold()), dg.SkipReason)
    # drift measured right after a retraining in the same run: no retrain loop
    monkeypatch.delenv(monitoring.THRESHOLD_ENV)
    assert isinstance(monitoring.retrain_request(max_psi, "x", 0.25, models_trained_in_same_run=True), dg.SkipReason)
    assert isinstance(monitoring.retrain_request(max_psi, "x", 0.25), dg.RunRequest)


# --------------------------------------------------------------------------- wiring


def test_definitions_wire_the_automation() -> None:
    from orchestration.definitions import defs

    assert {s.name for s in defs.sensors} >= {"landing_files_sensor", "model_drift_retrain"}
    schedule = defs.resolve_schedule_def("daily_full_build")
    assert schedule.cron_schedule == "0 3 * * *" and schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    graph = defs.resolve_asset_graph()
    for key in sensors.FRESHNESS_MARTS:
        assert graph.get(key).freshness_policy is not None, key
    retrain = defs.resolve_job_def("retrain_models").asset_layer.selected_asset_keys
    assert {
        monitoring.SEGMENTATION_MODEL,
        monitoring.CHURN_MODEL,
        dg.AssetKey(["marts", "customer_churn_risk"]),
    } <= retrain
    assert dg.AssetKey(["raw", "shop_orders"]) not in retrain
