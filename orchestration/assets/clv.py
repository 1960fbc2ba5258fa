"""CLV as Dagster assets: fit BG/NBD + Gamma-Gamma, score every customer, evaluate on a hold-out."""

import base64

import dagster as dg

from orchestration.ml.clv_pipeline import (
    fit_clv_models,
    holdout_evaluation,
    plot_calibration_holdout,
    plot_model_matrices,
    score_customers,
)
from orchestration.resources import WAREHOUSE_POOL, ModelStore, WarehouseResource
from orchestration.warehouse import replace_table

SUMMARY = dg.AssetKey(["intermediate", "int_customer_purchases_summarised"])
SUMMARY_SQL = "select * from intermediate.int_customer_purchases_summarised order by customer_id"


def _image(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


@dg.asset(
    key=["models", "clv_model"], group_name="clv", deps=[SUMMARY], pool=WAREHOUSE_POOL, kinds={"python", "scipy"},
    description="BG/NBD purchase model and Gamma-Gamma spend model fitted by maximum likelihood on every "
    "customer's (frequency, recency, T, monetary value) as of the observation end.",
)
def clv_model(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, model_store: ModelStore
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        summary = con.execute(SUMMARY_SQL).df()
    models = fit_clv_models(summary)
    model_store.save("clv_model", models)
    figures = models.metadata()
    context.log.info(f"CLV models fitted on {models.n_customers} customers in {models.fit_seconds:.2f} s")
    t_median = float(summary["t_weeks"].median())
    return dg.MaterializeResult(
        metadata={
            **{k: dg.MetadataValue.float(v) for k, v in figures.items()},
            "matrices": dg.MetadataValue.md(_image(plot_model_matrices(models, max_t=t_median), "BG/NBD matrices")),
        }
    )


@dg.asset(
    key=["marts", "customer_clv"], group_name="clv", deps=[clv_model, SUMMARY], pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb"},
    description="Per customer: probability alive, expected purchases in the next 30 / 90 / 365 days, "
    "expected order value, discounted 12- and 36-month CLV (1 % a month) and CLV decile (10 = best).",
    metadata={"dagster/table_name": "marts.customer_clv"},
)
def customer_clv(warehouse: WarehouseResource, model_store: ModelStore) -> dg.MaterializeResult:
    models = model_store.load("clv_model")
    with warehouse.connect(read_only=True) as con:
        summary = con.execute(SUMMARY_SQL).df()
    scores = score_customers(models, summary)
    with warehouse.connect() as con:
        rows = replace_table(con, "marts", "customer_clv", scores)
    top = scores[scores["clv_decile"] == 10]["clv_12m"].sum() / max(scores["clv_12m"].sum(), 1e-9)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "mean_clv_12m": dg.MetadataValue.float(float(scores["clv_12m"].mean())),
            "mean_p_alive": dg.MetadataValue.float(float(scores["p_alive"].mean())),
            "top_decile_share_of_clv_12m": dg.MetadataValue.float(float(top)),
        }
    )


@dg.asset(
    key=["models", "clv_holdout_evaluation"], group_name="clv", deps=[SUMMARY], pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="The CLV models refitted on a calibration period and scored on the later hold-out "
    "period: MAE of purchases, Spearman correlation of predicted value with realised revenue, and "
    "the share of hold-out revenue captured by the top predicted decile. Writes the calibration table "
    "marts.clv_holdout_calibration (mean predicted vs actual hold-out purchases by calibration frequency).",
    metadata={"dagster/table_name": "marts.clv_holdout_calibration"},
)
def clv_holdout_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        summary = con.execute(SUMMARY_SQL).df()
    metrics, by_frequency = holdout_evaluation(summary)
    context.log.info(f"hold-out evaluation: {metrics}")
    # The calibration table is also a (tiny) mart, so the published warehouse and the report carry it.
    with warehouse.connect() as con:
        replace_table(con, "marts", "clv_holdout_calibration", by_frequency)
    return dg.MaterializeResult(
        metadata={
            **{k: dg.MetadataValue.float(float(v)) for k, v in metrics.items()},
            "calibration_vs_holdout": dg.MetadataValue.md(
                _image(plot_calibration_holdout(by_frequency), "calibration vs hold-out")
                + "\n\n" + by_frequency.to_markdown(index=False, floatfmt=".3f")
            ),
        }
    )


clv_assets = [clv_model, customer_clv, clv_holdout_evaluation]
