"""Segmentation, churn and lifecycle / VAP reporting as Dagster assets.

Thin wrappers around :mod:`orchestration.ml`: read customer-grain tables, call the pure
library, save the fitted model (joblib, in the model store's folder), write scored tables
in one transaction, and return the numbers and plots a reviewer wants in the UI. Numeric
metadata is plotted by Dagster across materialisations; plots are markdown images.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from orchestration.assets.metadata import float_metadata, png_metadata
from orchestration.ml import churn as churn_lib
from orchestration.ml import drift, plots, segment_profiles
from orchestration.ml import segmentation as seg_lib
from orchestration.ml.features import load_artifact, save_artifact
from orchestration.resources import WAREHOUSE_POOL, ModelStore, WarehouseResource

GROUP = "models"
CUSTOMER_FEATURES = dg.AssetKey(["marts", "customer_features"])
FEATURE_SNAPSHOTS = dg.AssetKey(["marts", "customer_feature_snapshots"])
CATEGORY_MIX = dg.AssetKey(["marts", "customer_category_mix"])
CUSTOMER_LIFECYCLE = dg.AssetKey(["marts", "customer_lifecycle"])
STAGE_TRANSITIONS = dg.AssetKey(["marts", "lifecycle_stage_transitions"])
CUSTOMER_VAP = dg.AssetKey(["marts", "customer_vap"])
STAGE_ORDER = ("prospect", "new", "active", "loyal", "reactivated", "at_risk", "lapsed", "churned")


class SegmentationSettings(dg.Config):
    """How the segmentation is trained (defaults: k-means, k in 2..10 by silhouette)."""

    method: seg_lib.Method = "kmeans"
    k_min: int = 2
    k_max: int = 10
    bootstrap_rounds: int = 10
    stability_seeds: int = 5
    random_state: int = 0


class ChurnSettings(dg.Config):
    """Risk band cut points (probability) and how many drivers to report per customer."""

    band_low_medium: float = 0.33
    band_medium_high: float = 0.66
    top_drivers: int = 3
    random_state: int = 0


def _model_path(store: ModelStore, name: str) -> Path:
    return Path(store.path) / f"{name}.joblib"




def _replace_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Replace several marts tables in ONE transaction: readers see all old or all new.

    Table names come from this module, never from data.
    """
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists marts")
        for name, frame in tables.items():
            con.register("_frame", frame)
            con.execute(f"create or replace table marts.{name} as select * from _frame")
            con.unregister("_frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _buyers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Buyers' features as of the as-of date (customer grain), in a stable order."""
    frame = con.execute("select * from marts.customer_features where is_buyer order by customer_id").df()
    # DuckDB hands DATE back as datetime64; keep it a date in the tables we write
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    return frame


def _with_category_mix(con: duckdb.DuckDBPyConnection, buyers: pd.DataFrame) -> pd.DataFrame:
    """Buyers plus one ``category_share_<category>`` column per category (for segment profiles)."""
    mix = con.execute(
        "select customer_id, category, item_share from marts.customer_category_mix where snapshot_role = 'score'"
    ).df()
    shares = segment_profiles.category_shares(mix, buyers["customer_id"])
    return pd.concat([buyers.reset_index(drop=True), shares], axis=1)


# --------------------------------------------------------------------------- segmentation


@dg.asset(
    key=["models", "segmentation_model"],
    group_name=GROUP,
    deps=[CUSTOMER_FEATURES],
    pool=WAREHOUSE_POOL,
    kinds={"python", "scikitlearn"},
    description="Behavioural segmentation of buyers: log + robust-scaled features, k-means with k chosen by "
    "silhouette (Calinski–Harabasz and the Kneedle elbow reported; Gaussian mixture by BIC or Ward as "
    "alternatives), segments named from their profiles with size and revenue share, stability by ARI across "
    "seeds / bootstraps and per-segment bootstrap Jaccard, PCA view.",
)
def segmentation_model(
    context: dg.AssetExecutionContext,
    config: SegmentationSettings,
    warehouse: WarehouseResource,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        buyers = _buyers(con)
    settings = seg_lib.SegmentationConfig(
        method=config.method,
        k_min=config.k_min,
        k_max=config.k_max,
        bootstrap_rounds=config.bootstrap_rounds,
        stability_seeds=config.stability_seeds,
        random_state=config.random_state,
    )
    result = seg_lib.train_segmentation(buyers, settings)
    model = result.model
    as_of = str(buyers["as_of_date"].iloc[0])
    model.info = {"as_of_date": as_of, "version": f"{settings.method}-k{model.k}-{as_of}"}
    save_artifact(model, _model_path(model_store, "segmentation_model"))
    # the training snapshot that model_drift (orchestration/monitoring.py) measures drift against
    drift.save_reference(buyers, model.features, _model_path(model_store, "segmentation_model"))
    context.log.info(f"segmentation: k={model.k} {model.segment_names}")
    selection = result.selection
    return dg.MaterializeResult(
        metadata={
            **float_metadata(result.metrics),
            "segments": dg.MetadataValue.md(plots.markdown_table(segment_profiles.sizes(result.profiles))),
            "k_selection": dg.MetadataValue.md(plots.markdown_table(selection.table)),
            "k_selection_chart": png_metadata(
                plots.k_selection_chart(selection.table, model.k, selection.elbow_k), "k"
            ),
            "stability": dg.MetadataValue.md(plots.markdown_table(result.stability.table(model.segment_names))),
            "profile_heatmap": png_metadata(
                plots.profile_heatmap(segment_profiles.zscore_matrix(result.profiles), model.segment_names),
                "segment profiles",
            ),
            "pca": png_metadata(
                plots.pca_scatter(
                    result.pca.coords, result.pca.segment_ids, result.pca.explained_variance_ratio, model.segment_names
                ),
                "PCA",
            ),
            "pca_explained_variance": dg.MetadataValue.md(plots.markdown_table(_scree(result.pca.spectrum))),
            "model_version": model.info["version"],
        }
    )


def _scree(spectrum: np.ndarray) -> pd.DataFrame:
    """Explained variance ratio per principal component, and cumulative."""
    return pd.DataFrame(
        {"component": np.arange(1, len(spectrum) + 1), "explained": spectrum, "cumulative": np.cumsum(spectrum)}
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["marts", "customer_segments"],
            deps=[segmentation_model, CUSTOMER_FEATURES],
            description="Segment id, name and distance to the segment centre of every buyer.",
            metadata={"dagster/table_name": "marts.customer_segments"},
            kinds={"python", "duckdb"},
            group_name=GROUP,
        ),
        dg.AssetSpec(
            ["marts", "segment_profiles"],
            deps=[segmentation_model, CUSTOMER_FEATURES, CATEGORY_MIX],
            description="Per segment and feature: the segment's size and revenue share, segment mean, population "
            "mean and z-score (model features), descriptive extras and the product-category mix.",
            metadata={"dagster/table_name": "marts.segment_profiles"},
            kinds={"python", "duckdb"},
            group_name=GROUP,
        ),
    ],
    pool=WAREHOUSE_POOL,
    name="customer_segments",
)
def customer_segments(warehouse: WarehouseResource, model_store: ModelStore) -> Iterator[dg.MaterializeResult]:
    model: seg_lib.SegmentationModel = load_artifact(_model_path(model_store, "segmentation_model"))
    with warehouse.connect(read_only=True) as con:
        buyers = _with_category_mix(con, _buyers(con))
    scored = model.score_frame(buyers)
    segments = pd.concat([buyers[["customer_id", "as_of_date"]], scored], axis=1)
    segments["model_version"] = model.info.get("version", "")
    segments = segments[
        ["customer_id", "segment_id", "segment_name", "distance_to_centre", "as_of_date", "model_version"]
    ]
    profiles = model.profile(buyers, segments["segment_id"].to_numpy())
    with warehouse.connect() as con:
        _replace_tables(con, {"customer_segments": segments, "segment_profiles": profiles})
    sizes = segment_profiles.sizes(profiles)
    yield dg.MaterializeResult(
        asset_key=["marts", "customer_segments"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(segments)),
            "segments": dg.MetadataValue.md(plots.markdown_table(sizes)),
            "largest_segment_share": dg.MetadataValue.float(float(sizes["customer_share"].max())),
            "largest_revenue_share": dg.MetadataValue.float(float(sizes["revenue_share"].max())),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["marts", "segment_profiles"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(profiles)),
            "profile_heatmap": png_metadata(
                plots.profile_heatmap(segment_profiles.zscore_matrix(profiles), model.segment_names),
                "segment profiles",
            ),
            "category_mix": png_metadata(plots.category_mix_chart(profiles, model.segment_names), "category mix"),
        },
    )


# --------------------------------------------------------------------------- churn


@dg.asset(
    key=["models", "churn_model"],
    group_name=GROUP,
    deps=[FEATURE_SNAPSHOTS],
    pool=WAREHOUSE_POOL,
    kinds={"python", "scikitlearn"},
    description="Churn (no order within the horizon) trained on the earlier cutoff of customer_feature_snapshots "
    "and evaluated on the later one: gradient boosting vs logistic regression vs a recency-only baseline; "
    "the winner is refitted on both cutoffs for scoring.",
)
def churn_model(
    context: dg.AssetExecutionContext, config: ChurnSettings, warehouse: WarehouseResource, model_store: ModelStore
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        snapshots = con.execute(
            "select * from marts.customer_feature_snapshots where snapshot_role in ('train', 'test') "
            "order by snapshot_role, cutoff_date, customer_id"  # a total order: row order steers the fit
        ).df()
    train = snapshots[snapshots["snapshot_role"] == "train"].reset_index(drop=True)
    test = snapshots[snapshots["snapshot_role"] == "test"].reset_index(drop=True)
    if train.empty or test.empty:
        raise dg.Failure(
            "customer_feature_snapshots has no buyers at the train or test cutoff: the history is shorter "
            "than 2 x churn_horizon_days before the as-of date (lower the dbt var churn_horizon_days)."
        )
    # the label horizon is the spacing of the cutoffs (dbt var churn_horizon_days)
    horizon = int((pd.Timestamp(test["cutoff_date"].max()) - pd.Timestamp(train["cutoff_date"].max())).days)
    settings = churn_lib.ChurnConfig(
        band_edges=(config.band_low_medium, config.band_medium_high),
        top_drivers=config.top_drivers,
        random_state=config.random_state,
    )
    result = churn_lib.train_churn(train, test, settings, horizon_days=horizon)
    model = result.model
    test_cutoff = pd.Timestamp(test["cutoff_date"].iloc[0]).date().isoformat()
    model.info = {
        "train_cutoffs": sorted(pd.Timestamp(c).date().isoformat() for c in train["cutoff_date"].unique()),
        "test_cutoff": test_cutoff,
        "version": f"{model.name}-{test_cutoff}",
    }
    save_artifact(model, _model_path(model_store, "churn_model"))
    drift.save_reference(train, model.features, _model_path(model_store, "churn_model"))
    summary = churn_lib.summary_metrics(result)
    context.log.info(f"churn: {model.name}, test ROC AUC {summary['roc_auc']:.3f}")
    comparison = result.test_metrics.reset_index()[
        ["model", "roc_auc", "pr_auc", "brier", "threshold", "precision", "recall", "f1", "lift_top_decile", "rows"]
    ]
    aucs = result.test_metrics["roc_auc"].to_dict()
    return dg.MaterializeResult(
        metadata={
            **float_metadata(summary),
            "horizon_days": dg.MetadataValue.int(horizon),
            "train_customers": dg.MetadataValue.int(len(train)),
            "test_customers": dg.MetadataValue.int(len(test)),
            "chosen_model": model.name,
            "backtest": dg.MetadataValue.md(plots.markdown_table(comparison)),
            "roc_curves": png_metadata(plots.roc_chart(result.roc, aucs), "ROC"),
            "calibration": png_metadata(plots.calibration_chart(result.calibration), "calibration"),
            "permutation_importance": png_metadata(plots.importance_chart(result.importance), "importance"),
            "model_version": model.info["version"],
        }
    )


@dg.asset(
    key=["marts", "customer_churn_risk"],
    group_name=GROUP,
    deps=[churn_model, CUSTOMER_FEATURES],
    pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb"},
    description="Churn probability, risk band and top drivers of every buyer as of the as-of date.",
    metadata={"dagster/table_name": "marts.customer_churn_risk"},
)
def customer_churn_risk(warehouse: WarehouseResource, model_store: ModelStore) -> dg.MaterializeResult:
    model: churn_lib.ChurnModel = load_artifact(_model_path(model_store, "churn_model"))
    with warehouse.connect(read_only=True) as con:
        buyers = _buyers(con)
    scores = model.score(buyers)
    table = pd.concat([buyers[["customer_id", "as_of_date"]].reset_index(drop=True), scores], axis=1)
    table["horizon_days"] = model.horizon_days
    table["model_name"] = model.name
    table["model_version"] = model.info.get("version", "")
    with warehouse.connect() as con:
        _replace_tables(con, {"customer_churn_risk": table})
    bands = churn_lib.band_counts(table)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(table)),
            "mean_churn_probability": dg.MetadataValue.float(float(table["churn_probability"].mean())),
            **{f"{band}_risk_customers": dg.MetadataValue.int(n) for band, n in bands.items()},
            "predicted_churners": dg.MetadataValue.int(int(table["is_predicted_churner"].sum())),
        }
    )


# --------------------------------------------------------------------------- reports


@dg.asset(
    key=["models", "lifecycle_report"],
    group_name=GROUP,
    deps=[CUSTOMER_LIFECYCLE, STAGE_TRANSITIONS],
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="Lifecycle funnel, retention type split and the latest month's stage transition matrix "
    "(reads the dbt lifecycle marts; writes no table).",
)
def lifecycle_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        stages = con.execute(
            "select lifecycle_stage, lifecycle_sub_stage, retention_type, count(*) as customers "
            "from marts.customer_lifecycle group by all"
        ).df()
        moves = con.execute(
            "select from_stage, to_stage, share_of_from_stage from marts.lifecycle_stage_transitions "
            "where to_snapshot_date = (select max(to_snapshot_date) from marts.lifecycle_stage_transitions)"
        ).df()
    by_stage = stages.groupby("lifecycle_stage")["customers"].sum()
    funnel = by_stage.reindex([s for s in STAGE_ORDER if s in by_stage.index]).fillna(0)
    sub = stages[stages["lifecycle_stage"] == "prospect"].groupby("lifecycle_sub_stage")["customers"].sum()
    retention = stages.dropna(subset=["retention_type"]).groupby("retention_type")["customers"].sum()
    order = [s for s in STAGE_ORDER if s in set(moves["from_stage"]) | set(moves["to_stage"])]
    matrix = moves.pivot_table(index="from_stage", columns="to_stage", values="share_of_from_stage", fill_value=0.0)
    matrix = matrix.reindex(index=[s for s in order if s in matrix.index], columns=order, fill_value=0.0)
    total = max(int(funnel.sum()), 1)
    return dg.MaterializeResult(
        metadata={
            **{f"{stage}_customers": dg.MetadataValue.int(int(n)) for stage, n in funnel.items()},
            **{f"{stage}_share": dg.MetadataValue.float(float(n) / total) for stage, n in funnel.items()},
            **{f"prospects_{k}": dg.MetadataValue.int(int(v)) for k, v in sub.items()},
            **{f"retention_{k}": dg.MetadataValue.int(int(v)) for k, v in retention.items()},
            "funnel": png_metadata(plots.funnel_chart(funnel), "lifecycle funnel"),
            "transitions": png_metadata(plots.transition_heatmap(matrix), "stage transitions")
            if len(matrix)
            else dg.MetadataValue.md("no transitions yet"),
        }
    )


@dg.asset(
    key=["models", "vap_report"],
    group_name=GROUP,
    deps=[CUSTOMER_VAP],
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="The Value / Attrition / Potential grid and the customers per recommended treatment "
    "(reads marts.customer_vap; writes no table).",
)
def vap_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        cells = con.execute(
            "select value_band, attrition_band, potential_band, treatment, count(*) as customers, "
            "sum(historical_value) as historical_value, sum(potential_value) as potential_value "
            "from marts.customer_vap group by all order by all"
        ).df()
        bases = con.execute(
            "select attrition_basis, potential_basis, count(*) as customers from marts.customer_vap group by all"
        ).df()
    treatments = cells.groupby("treatment")[["customers", "historical_value", "potential_value"]].sum().reset_index()
    per_treatment = dict(zip(treatments["treatment"], treatments["customers"], strict=True))
    return dg.MaterializeResult(
        metadata={
            **{f"{t.replace(' ', '_')}_customers": dg.MetadataValue.int(int(n)) for t, n in per_treatment.items()},
            "grid": png_metadata(plots.vap_grid_chart(cells), "VAP grid"),
            "treatments": dg.MetadataValue.md(plots.markdown_table(treatments, "{:,.0f}")),
            "bases": dg.MetadataValue.md(plots.markdown_table(bases)),
        }
    )


model_assets = [segmentation_model, customer_segments, churn_model, customer_churn_risk, lifecycle_report, vap_report]
