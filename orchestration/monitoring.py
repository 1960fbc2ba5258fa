"""Model monitoring: feature drift of the segmentation and churn models, and the retraining sensor.

``model_drift`` compares each model's training snapshot (the feature rows it was fitted on,
saved beside the model as ``<model>.reference.parquet``) with today's scoring features
(``marts.customer_features``, buyers) by population stability index per feature. The
``model_drift_retrain`` sensor reads the latest materialisation's ``max_psi`` and asks for a
retraining run when it crosses ``C360_DRIFT_PSI_THRESHOLD`` (default 0.25).
"""

import os
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.ml import drift, plots
from orchestration.ml.features import load_artifact
from orchestration.resources import WAREHOUSE_POOL, ModelStore, WarehouseResource

MODEL_DRIFT = dg.AssetKey(["models", "model_drift"])
SEGMENTATION_MODEL = dg.AssetKey(["models", "segmentation_model"])
CHURN_MODEL = dg.AssetKey(["models", "churn_model"])
CUSTOMER_FEATURES = dg.AssetKey(["marts", "customer_features"])
FEATURE_SNAPSHOTS = dg.AssetKey(["marts", "customer_feature_snapshots"])
MONITORED_MODELS = {"segmentation_model": SEGMENTATION_MODEL, "churn_model": CHURN_MODEL}
THRESHOLD_ENV = "C360_DRIFT_PSI_THRESHOLD"


def drift_threshold() -> float:
    """The PSI above which a model is retrained: ``C360_DRIFT_PSI_THRESHOLD``, default 0.25."""
    return float(os.environ.get(THRESHOLD_ENV, drift.DEFAULT_THRESHOLD))


def _reference(model_store: ModelStore, name: str, con_frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The model's training snapshot; for churn, the 'train' cutoff rows when no snapshot was saved.

    The churn fallback is the same table the model was fitted on, so it is the right
    reference as long as the snapshots mart was not rebuilt since; segmentation has no such
    table (it trains on the current features) and is skipped until it saves a snapshot.
    """
    path = drift.reference_path(Path(model_store.path) / f"{name}.joblib")
    if path.exists():
        return pd.read_parquet(path)
    return con_frame


@dg.asset(
    key=MODEL_DRIFT,
    group_name="models",
    deps=[SEGMENTATION_MODEL, CHURN_MODEL, CUSTOMER_FEATURES],
    # a DuckDB reader blocks a writer: claim the warehouse pool like every other step that opens it
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="Population stability index per model feature between each model's training snapshot and "
    "today's scoring features (buyers in marts.customer_features). max_psi above "
    f"{THRESHOLD_ENV} (default 0.25) makes the model_drift_retrain sensor request a retraining run.",
)
def model_drift(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, model_store: ModelStore
) -> dg.MaterializeResult:
    threshold = drift_threshold()
    with warehouse.connect(read_only=True) as con:
        current = con.execute("select * from marts.customer_features where is_buyer").df()
        churn_train = con.execute("select * from marts.customer_feature_snapshots where snapshot_role = 'train'").df()
    fallbacks = {"segmentation_model": None, "churn_model": churn_train}
    tables = []
    for name in MONITORED_MODELS:
        features = drift_model_features(model_store, name)
        reference = _reference(model_store, name, fallbacks[name])
        if features is None or reference is None or reference.empty:
            context.log.warning(f"{name}: no model or training snapshot yet; drift not measured")
            continue
        table = drift.psi_table(reference, current, features, threshold=threshold)
        table.insert(0, "model", name)
        tables.append(table)
    result = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["model", "feature", "psi"])
    result = result.dropna(subset=["psi"])
    max_psi = float(result["psi"].max()) if not result.empty else 0.0
    over = result[result["psi"] > threshold]
    metadata: dict[str, dg.RawMetadataValue] = {
        "max_psi": dg.MetadataValue.float(max_psi),
        "features_over_threshold": dg.MetadataValue.int(len(over)),
        "psi_threshold": dg.MetadataValue.float(threshold),
        "drifted_features": ", ".join(f"{m}.{f}" for m, f in zip(over["model"], over["feature"], strict=True)),
        "psi": dg.MetadataValue.md(plots.markdown_table(result, "{:.4f}") if not result.empty else "no model measured"),
    }
    for name in MONITORED_MODELS:
        scores = result.loc[result["model"] == name, "psi"]
        if not scores.empty:
            metadata[f"max_psi_{name}"] = dg.MetadataValue.float(float(scores.max()))
    return dg.MaterializeResult(metadata=metadata)


def drift_model_features(model_store: ModelStore, name: str) -> list[str] | None:
    """The feature columns the saved model scores on (None when it has not been trained yet)."""
    path = Path(model_store.path) / f"{name}.joblib"
    if not path.exists():
        return None
    return list(load_artifact(path).features)


# --------------------------------------------------------------------------- retraining sensor

#: segmentation + churn and everything they feed (scores, profiles, reporting marts, publish)
retrain_selection = dg.AssetSelection.assets(SEGMENTATION_MODEL, CHURN_MODEL).downstream()
retrain_job = dg.define_asset_job(
    name="retrain_models",
    selection=retrain_selection,
    description="Retrain the segmentation and churn models and rebuild everything downstream of them.",
    executor_def=dg.in_process_executor,
)


def retrain_request(
    max_psi: float | None, observation_id: str, threshold: float, models_trained_in_same_run: bool = False
) -> dg.RunRequest | dg.SkipReason:
    """The sensor's decision for one drift observation, separated so it can be tested on numbers.

    ``observation_id`` (the materialisation's run id and time) makes the run key: one retraining per
    drift measurement, however often the sensor ticks. When the drift was measured against models
    trained in that same run, retraining again on the same data cannot lower it: the sensor
    skips (and says so) instead of looping retrain -> drift -> retrain.
    """
    if max_psi is None:
        return dg.SkipReason("model_drift has no max_psi yet")
    if models_trained_in_same_run and max_psi > threshold:
        return dg.SkipReason(
            f"max PSI {max_psi:.3f} > {threshold:.3f}, but the models were retrained in the same run: "
            "the training snapshot itself differs from today's features; look at the psi table"
        )
    if max_psi <= threshold:
        return dg.SkipReason(f"max PSI {max_psi:.3f} within threshold {threshold:.3f}")
    return dg.RunRequest(
        run_key=f"drift-{observation_id}",
        tags={"c360/trigger": "model_drift", "c360/max_psi": f"{max_psi:.4f}"},
    )


@dg.asset_sensor(
    asset_key=MODEL_DRIFT,
    job=retrain_job,
    name="model_drift_retrain",
    minimum_interval_seconds=300,
    description=f"Retrain segmentation + churn (and downstream) when model_drift's max_psi exceeds {THRESHOLD_ENV}.",
)
def model_drift_retrain(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.RunRequest | dg.SkipReason:
    materialization = asset_event.asset_materialization
    value = materialization.metadata.get("max_psi") if materialization else None
    max_psi = float(value.value) if value is not None else None
    trained_here = any(
        (latest := context.instance.get_latest_materialization_event(key)) is not None
        and latest.run_id == asset_event.run_id
        for key in MONITORED_MODELS.values()
    )
    return retrain_request(max_psi, f"{asset_event.run_id}-{asset_event.timestamp}", drift_threshold(), trained_here)


monitoring_assets = [model_drift]
monitoring_sensors = [model_drift_retrain]
