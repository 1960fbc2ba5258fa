"""Marketing evaluation as Dagster assets: Markov attribution and the marketing report.

The event-grain work (paths, transition counts, rule-based attribution, campaign lift,
segment profitability) is dbt (models/intermediate/marketing, models/marts/marketing).
Python does what SQL does badly: the absorbing-chain linear algebra of the Markov removal
effect (orchestration/ml/attribution.py), on the transition counts only (a few dozen
rows). Its table, marts.channel_markov_attribution, is a dbt source read by
marts.channel_attribution, so Dagster runs dbt → this asset → dbt.
"""

import math

import dagster as dg
import pandas as pd

from orchestration.ml import plots
from orchestration.ml.attribution import markov_attribution
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.warehouse import replace_table

GROUP = "models"
TRANSITIONS = dg.AssetKey(["intermediate", "int_attribution_transitions_counted"])
CHANNEL_ATTRIBUTION = dg.AssetKey(["marts", "channel_attribution"])
CAMPAIGN_PERFORMANCE = dg.AssetKey(["marts", "campaign_performance"])
SEGMENT_PROFITABILITY = dg.AssetKey(["marts", "segment_profitability"])
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")


@dg.asset(
    key=["marts", "channel_markov_attribution"],
    group_name=GROUP,
    deps=[TRANSITIONS],
    pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb"},
    description="Data-driven attribution: removal effect of every channel in the first-order Markov chain of "
    "customer paths (converting and not), and the touched conversions and revenue credited in proportion.",
    metadata={"dagster/table_name": "marts.channel_markov_attribution"},
)
def channel_markov_attribution(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        transitions = con.execute(
            "select from_state, to_state, transition_count, revenue "
            "from intermediate.int_attribution_transitions_counted order by from_state, to_state"
        ).df()
    if transitions.empty:
        # no touchpoints at all (e.g. a source without engagement data): nothing to credit
        columns = {"channel": "str", "removal_effect": "float", "conversions": "float", "revenue": "float"}
        table = pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
        probability = float("nan")
    else:
        result = markov_attribution(transitions)
        table = result.channels[["channel", "removal_effect", "conversions", "revenue"]]
        probability = result.conversion_probability
    with warehouse.connect() as con:
        rows = replace_table(con, "marts", "channel_markov_attribution", table)
    context.log.info(f"Markov attribution over {len(table)} channels, P(conversion) = {probability:.4f}")
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "removal_effects": dg.MetadataValue.md(plots.markdown_table(table.sort_values("channel"))),
    }
    if not math.isnan(probability):
        metadata["conversion_probability"] = dg.MetadataValue.float(probability)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["models", "marketing_report"],
    group_name=GROUP,
    deps=[CHANNEL_ATTRIBUTION, CAMPAIGN_PERFORMANCE, SEGMENT_PROFITABILITY],
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    description="The attribution models side by side, campaign lift against control groups and segment "
    "profitability, as tables in the UI (reads the marketing marts; writes no table).",
)
def marketing_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        credits = con.execute("select attribution_model, channel, conversions from marts.channel_attribution").df()
        campaigns = con.execute(
            "select campaign_id, channel, sent, control_size, conversion_rate, control_conversion_rate, lift, "
            "lift_ci_lower, lift_ci_upper, roi from marts.campaign_performance "
            "where segmentation = 'all' order by campaign_id"
        ).df()
        segments = con.execute(
            "select segment, customers, orders, revenue, gross_profit, marketing_cost, net_profit, roi "
            "from marts.segment_profitability where segmentation = 'rfm_segment' order by net_profit desc"
        ).df()
    comparison = credits.pivot_table(index="channel", columns="attribution_model", values="conversions", fill_value=0.0)
    comparison = comparison.reindex(columns=[m for m in ATTRIBUTION_MODELS if m in comparison.columns])
    significant = campaigns[(campaigns["lift_ci_lower"] > 0) | (campaigns["lift_ci_upper"] < 0)]
    return dg.MaterializeResult(
        metadata={
            "attribution_conversions": dg.MetadataValue.md(plots.markdown_table(comparison.reset_index(), "{:,.1f}")),
            "campaign_lift": dg.MetadataValue.md(plots.markdown_table(campaigns, "{:.3f}", max_rows=100)),
            "rfm_segment_profitability": dg.MetadataValue.md(plots.markdown_table(segments, "{:,.1f}")),
            "campaigns_measured": dg.MetadataValue.int(len(campaigns)),
            "campaigns_with_significant_lift": dg.MetadataValue.int(len(significant)),
        }
    )


marketing_assets = [channel_markov_attribution, marketing_report]
