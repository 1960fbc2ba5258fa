"""Activation as Dagster assets: response propensity, offer policy, audiences and their exports.

Thin wrappers: the models live in :mod:`orchestration.ml.response` and
:mod:`orchestration.ml.offers`, the audience rules and exports in
:mod:`orchestration.audiences`. The dbt side (models/intermediate/activation and
models/marts/activation) prepares the customer-grain inputs and turns the scores into
``marts.customer_next_best_action``; the suppression list arrives as the control source
``raw/suppressions``.
"""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset functions.
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration import audiences as audiences_lib
from orchestration.assets.erasure import exports_dir_for
from orchestration.assets.ingestion import build_ingestion_asset
from orchestration.assets.metadata import float_metadata
from orchestration.contracts import SUPPRESSIONS
from orchestration.ml import offers as offers_lib
from orchestration.ml import plots
from orchestration.ml import response as response_lib
from orchestration.resources import WAREHOUSE_POOL, ModelStore, WarehouseResource
from orchestration.warehouse import replace_table

GROUP = "activation"
RESPONSE_POINTS = dg.AssetKey(["intermediate", "int_response_points_featurised"])
TOUCHES_LABELLED = dg.AssetKey(["intermediate", "int_campaign_touches_labelled"])
CUSTOMER_DISCOUNTS = dg.AssetKey(["intermediate", "int_customer_discounts_aggregated"])
CUSTOMER_SEGMENTS = dg.AssetKey(["marts", "customer_segments"])
CUSTOMER_CLV = dg.AssetKey(["marts", "customer_clv"])
DIM_CUSTOMERS = dg.AssetKey(["marts", "dim_customers"])
#: everything an audience rule, a payload or an exclusion may read
AUDIENCE_INPUTS = [
    dg.AssetKey(["marts", name])
    for name in (
        "dim_customers", "customer_rfm", "customer_vap", "customer_lifecycle", "customer_churn_risk", "customer_clv",
        "customer_segments", "customer_features", "customer_next_best_action", "customer_offer_policy",
        "customer_channel_eligibility", "customer_channel_addresses",
    )
]  # fmt: skip

suppressions = build_ingestion_asset(SUPPRESSIONS)



# --------------------------------------------------------------------------- response propensity


class ResponseSettings(dg.Config):
    """Time split and evaluation of the response model (see orchestration/ml/response.py)."""

    test_fraction: float = 0.3
    validation_fraction: float = 0.25
    min_class_count: int = 20
    bootstrap_rounds: int = 200
    random_state: int = 0
    #: at most this many closed touches are read for training: a deterministic sample of
    #: whole customers (by hash) beyond it, so memory stays bounded at any size
    max_training_touches: int = 1_000_000


@dg.asset(
    key=["models", "response_model"],
    group_name=GROUP,
    deps=[RESPONSE_POINTS],
    pool=WAREHOUSE_POOL,
    kinds={"python", "scikitlearn"},
    description="Response propensity (click or order within a campaign's response window), one model pooled over "
    "email / sms / push / social with the channel as a feature; time-split evaluation per channel against the "
    "base rate and the recency rule; refitted on every closed touch for scoring.",
)
def response_model(
    context: dg.AssetExecutionContext, config: ResponseSettings, warehouse: WarehouseResource, model_store: ModelStore
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        closed = con.execute(
            "select count(*) from intermediate.int_response_points_featurised "
            "where point_type = 'touch' and is_window_closed"
        ).fetchone()[0]
        # per-mille of customers kept: all of a customer's touches or none (their history stays whole)
        keep = min(1000, -(-1000 * config.max_training_touches // max(int(closed), 1)))
        points = con.execute(
            "select * from intermediate.int_response_points_featurised where point_type = 'touch' "
            "and is_window_closed and hash(customer_id) % 1000 < ? order by point_at, point_id",
            [keep],
        ).df()
    settings = response_lib.ResponseConfig(
        test_fraction=config.test_fraction,
        validation_fraction=config.validation_fraction,
        min_class_count=config.min_class_count,
        bootstrap_rounds=config.bootstrap_rounds,
        random_state=config.random_state,
    )
    result = response_lib.train_response_model(points, settings)
    model = result.model
    cutoff = result.test_cutoff.date().isoformat() if result.test_cutoff is not None else "none"
    model.info = {"test_cutoff": cutoff, "version": f"{model.name}-{len(points)}-{cutoff}"}
    model_store.save("response_model", model)
    table = result.metrics.drop(columns=[c for c in ("note",) if c in result.metrics.columns])
    context.log.info(f"response model: {model.name}, test cutoff {cutoff}")
    metadata: dict[str, Any] = {
        **float_metadata(response_lib.summary_metrics(result.metrics)),
        **float_metadata({f"validation_roc_auc_{k}": v for k, v in result.validation.items()}),
        "chosen_model": model.name,
        "test_cutoff": cutoff,
        "training_touches": dg.MetadataValue.int(model.trained_on),
        "closed_touches": dg.MetadataValue.int(int(closed)),
        "training_sample_share": dg.MetadataValue.float(keep / 1000),
        "evaluation": dg.MetadataValue.md(plots.markdown_table(table)),
        "model_version": model.info["version"],
    }
    if result.roc:
        aucs = {c: float(result.metrics.set_index("channel").loc[c, "roc_auc"]) for c in result.roc}
        metadata["roc_curves"] = dg.MetadataValue.md(plots.png_markdown(plots.roc_chart(result.roc, aucs), "ROC"))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["marts", "customer_channel_propensity"],
    group_name=GROUP,
    deps=[response_model, RESPONSE_POINTS],
    pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb"},
    description="Probability to respond per customer x channel as of the as-of date (consent not applied: "
    "see marts.customer_next_best_action).",
    metadata={"dagster/table_name": "marts.customer_channel_propensity"},
)
def customer_channel_propensity(warehouse: WarehouseResource, model_store: ModelStore) -> dg.MaterializeResult:
    model: response_lib.ResponseModel = model_store.load("response_model")
    parts = []
    with warehouse.connect(read_only=True) as con:
        # customers x 4 channels: scored in chunks so the feature frame never holds them all
        cursor = con.execute(
            "select * from intermediate.int_response_points_featurised where point_type = 'score' "
            "order by customer_id, channel"
        )
        while not (chunk := cursor.fetch_df_chunk(50)).empty:  # 50 vectors = 102,400 rows
            scored = model.score(chunk)
            scored["as_of_date"] = (pd.to_datetime(chunk["point_at"]) - pd.Timedelta(days=1)).dt.date.iloc[0]
            parts.append(scored)
    if not parts:
        raise dg.Failure("int_response_points_featurised has no score points: no customer to score")
    table = response_lib.rank_channels(pd.concat(parts, ignore_index=True))
    table["model_version"] = model.info.get("version", "")
    with warehouse.connect() as con:
        rows = replace_table(con, "marts", "customer_channel_propensity", table)
    firsts = table[table["channel_rank"] == 1]["channel"].value_counts()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            **float_metadata({f"mean_{c}_propensity": table.loc[table["channel"] == c, "response_propensity"].mean()
                       for c in response_lib.CHANNELS}),
            **{f"top_channel_{c}_customers": dg.MetadataValue.int(int(n)) for c, n in firsts.items()},
        }
    )


# --------------------------------------------------------------------------- offer policy


class OfferSettings(dg.Config):
    """Depth grid and pooling of the offer policy (see orchestration/ml/offers.py)."""

    depth_grid: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30])
    segment_prior_orders: float = 50.0
    min_control_touches: int = 30
    slope_prior_scale: float = 0.3
    decision_quantile: float = 0.25


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["marts", "customer_offer_policy"],
            deps=[CUSTOMER_DISCOUNTS, TOUCHES_LABELLED, CUSTOMER_SEGMENTS, CUSTOMER_CLV, DIM_CUSTOMERS],
            description="Discount sensitivity of every buyer (beta-binomial take-up, shrunk population → segment → "
            "customer), uplift of purchase probability per point of discount (randomised control groups, shrunk, "
            "β ≥ 0) and the discount depth that maximises expected margin.",
            metadata={"dagster/table_name": "marts.customer_offer_policy"},
            kinds={"python", "duckdb"},
            group_name=GROUP,
        ),
        dg.AssetSpec(
            ["marts", "segment_offer_policy"],
            deps=[CUSTOMER_DISCOUNTS, TOUCHES_LABELLED, CUSTOMER_SEGMENTS, CUSTOMER_CLV, DIM_CUSTOMERS],
            description="Per behavioural segment: pooled discount take-up, raw and shrunk contact uplift and discount "
            "slope with standard errors, share of customers a discount is recommended for.",
            metadata={"dagster/table_name": "marts.segment_offer_policy"},
            kinds={"python", "duckdb"},
            group_name=GROUP,
        ),
    ],
    pool=WAREHOUSE_POOL,
    name="offer_policy",
)
def offer_policy(config: OfferSettings, warehouse: WarehouseResource) -> Any:
    with warehouse.connect(read_only=True) as con:
        # buyers (customer grain) with their segment and CLV expected purchases over the policy window
        customers = con.execute(
            """
            select d.customer_id, s.segment_name as segment, d.eligible_order_count, d.discounted_order_count,
                d.average_list_order_value, d.list_margin_rate, c.expected_purchases_30d as expected_purchases,
                (select max(as_of_date) from marts.dim_customers) as as_of_date
            from intermediate.int_customer_discounts_aggregated as d
            left join marts.customer_segments as s using (customer_id)
            left join marts.customer_clv as c using (customer_id)
            order by d.customer_id
            """
        ).df()
        # randomised evidence: per segment x campaign, treated and control arms of buyers' closed touches
        cells = con.execute(
            """
            select coalesce(s.segment_name, ?) as segment, t.campaign_id, max(t.objective) as objective,
                max(t.discount_pct) as discount_pct,
                count(*) filter (where not t.is_control) as treated_touches,
                count(*) filter (where not t.is_control and t.is_converted) as treated_conversions,
                count(*) filter (where t.is_control) as control_touches,
                count(*) filter (where t.is_control and t.is_converted) as control_conversions
            from intermediate.int_campaign_touches_labelled as t
            inner join intermediate.int_customer_discounts_aggregated as d using (customer_id)
            left join marts.customer_segments as s using (customer_id)
            where t.is_window_closed
            group by all
            order by 1, 2
            """,
            [offers_lib.UNSEGMENTED],
        ).df()
    if customers.empty:
        raise dg.Failure("no buyer in intermediate.int_customer_discounts_aggregated: nothing to set a policy for")
    settings = offers_lib.OfferConfig(
        depth_grid=tuple(config.depth_grid),
        segment_prior_orders=config.segment_prior_orders,
        min_control_touches=config.min_control_touches,
        slope_prior_scale=config.slope_prior_scale,
        decision_quantile=config.decision_quantile,
    )
    result = offers_lib.estimate_offer_policy(customers, cells, settings)
    policy = result.customers.drop(columns=["expected_purchases"]).rename(columns={"segment": "segment_name"})
    policy["as_of_date"] = pd.to_datetime(policy["as_of_date"]).dt.date
    segments = result.segments.copy()
    with warehouse.connect() as con:
        con.execute("begin transaction")
        try:
            for name, frame in (("customer_offer_policy", policy), ("segment_offer_policy", segments)):
                con.register("_frame", frame)
                con.execute(f"create or replace table marts.{name} as select * from _frame")
                con.unregister("_frame")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    depths = policy["recommended_discount_pct"].value_counts().sort_index()
    yield dg.MaterializeResult(
        asset_key=["marts", "customer_offer_policy"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(policy)),
            **float_metadata(result.population),
            "recommended_depths": dg.MetadataValue.md(
                plots.markdown_table(depths.rename_axis("discount_pct").rename("customers").reset_index())
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["marts", "segment_offer_policy"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(segments)),
            "segments": dg.MetadataValue.md(plots.markdown_table(segments)),
        },
    )


# --------------------------------------------------------------------------- audiences and exports


class AudienceSettings(dg.Config):
    """Which audience file to build (empty: C360_AUDIENCES_PATH, else config/audiences.yaml)."""

    audiences_path: str = ""


@dg.asset(
    key=["activation", "audiences"],
    group_name=GROUP,
    deps=AUDIENCE_INPUTS,
    pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb", "csv"},
    description="Audiences from the YAML rules (config/audiences.yaml): audiences.audience_<name> tables, restricted "
    "export files <exports>/<channel>/audience_<name>.csv with customer id and channel address, and a manifest "
    "with exported and excluded counts by reason. Never exports a customer without consent, after an unsubscribe, "
    "an erasure or a suppression.",
    metadata={"dagster/table_name": "audiences.export_manifest"},
)
def audiences(
    context: dg.AssetExecutionContext, config: AudienceSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    path = audiences_lib.audiences_path(config.audiences_path or None)
    definitions = audiences_lib.load_audiences(path)
    exports_dir = exports_dir_for(warehouse)  # the folder the erasure step scrubs: both always agree
    with warehouse.connect() as con:
        run = audiences_lib.build_audiences(con, definitions, exports_dir)
    for outcome in run.outcomes:
        context.log.info(
            f"audience {outcome.name} ({outcome.channel}): {outcome.matched} matched, {outcome.exported} exported, "
            f"excluded {outcome.excluded}"
        )
    rows = [
        {"audience": o.name, "channel": o.channel, "matched": o.matched, "exported": o.exported,
         **{r: o.excluded.get(r, 0) for r in audiences_lib.EXCLUSION_REASONS}}
        for o in run.outcomes
    ]  # fmt: skip
    excluded = run.excluded
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(run.outcomes)),
            "audiences_file": str(path),
            "exports_dir": dg.MetadataValue.path(str(exports_dir)),
            "manifest": dg.MetadataValue.path(str(run.manifest_path)) if run.manifest_path else "none",
            "exported_customers": dg.MetadataValue.int(run.exported),
            **{f"excluded_{r}": dg.MetadataValue.int(excluded.get(r, 0)) for r in audiences_lib.EXCLUSION_REASONS},
            "rows_scrubbed_for_erasure": dg.MetadataValue.int(run.scrubbed_rows),
            "stale_files_removed": dg.MetadataValue.int(len(run.stale_files_removed)),
            "audiences": dg.MetadataValue.md(plots.markdown_table(pd.DataFrame(rows), "{:,.0f}") if rows else "none"),
        }
    )


activation_assets = [suppressions, response_model, customer_channel_propensity, offer_policy, audiences]
