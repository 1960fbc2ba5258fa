"""Segmentation, churn, lifecycle and VAP as real Dagster materialisations on a simulated warehouse.

The warehouse is built from a fresh simulation (raw load + the dbt models the model assets
need), then the model assets are materialised with ``dg.materialize``. Results are judged
against the simulator's ground truth, not against the pipeline's own report:

* segments against the personas the simulator drew every person from (adjusted Rand index);
* churn risk against what really happened after the as-of date (the simulator's hold-out
  purchases) and against the true death times.

Size: 4,000 simulated persons (~2,300 buyers). The 600-person session fixture has too few
buyers to estimate a segmentation or a churn model; 4,000 keeps the whole module near one
minute on two cores.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from orchestration.assets.models import model_assets
from orchestration.contracts import SOURCES
from orchestration.ingestion import load_source
from orchestration.resources import ModelStore, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSONS = 4_000
SEED = 5
HORIZON_DAYS = 90  # dbt var churn_horizon_days (default)
DBT_MODELS = "+customer_features +customer_feature_snapshots +lifecycle_stage_transitions +customer_vap"


def _dbt(args: list[str], warehouse: Path, target: Path) -> None:
    """Run the project's dbt on the throwaway warehouse (own target dir: other runs keep theirs)."""
    env = {**os.environ, "C360_WAREHOUSE_PATH": str(warehouse)}
    cmd = [
        str(Path(sys.executable).with_name("dbt")), *args,
        "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target / "target"),
        "--log-path", str(target / "logs"),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:]


def _keys(*names: str) -> list:
    return [a for a in model_assets if any(k.path[-1] in names for k in a.keys)]


class Built:
    """Paths and run results of the module's warehouse."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.warehouse = root / "warehouse.duckdb"
        self.truth = root / "sim" / "ground_truth"
        self.resources = {
            "warehouse": WarehouseResource(path=str(self.warehouse), landing_dir=str(root / "sim" / "landing")),
            "model_store": ModelStore(path=str(root / "models")),
        }
        self.training: dg.ExecuteInJobResult | None = None
        self.reports: dg.ExecuteInJobResult | None = None

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).df()

    def metadata(self, result: dg.ExecuteInJobResult, key: str) -> dict:
        for ev in result.get_asset_materialization_events():
            if ev.asset_key.to_user_string() == key:
                return {k: v.value for k, v in ev.materialization.metadata.items()}
        raise KeyError(key)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    b = Built(tmp_path_factory.mktemp("models"))
    simulate(SimulationConfig(n_customers=PERSONS, seed=SEED), b.root / "sim")
    with duckdb.connect(str(b.warehouse)) as con:
        for source in SOURCES:
            load_source(con, source, b.root / "sim" / "landing")
    _dbt(["seed"], b.warehouse, b.root)
    _dbt(["run", "--select", DBT_MODELS], b.warehouse, b.root)
    b.training = dg.materialize(
        _keys("segmentation_model", "customer_segments", "churn_model", "customer_churn_risk"),
        resources=b.resources,
    )
    # customer_vap reads customer_churn_risk: rebuild it now that the table exists, and test it
    _dbt(["build", "--select", "marts.features marts.lifecycle vap_treatments"], b.warehouse, b.root)
    b.reports = dg.materialize(_keys("lifecycle_report", "vap_report"), resources=b.resources)
    return b


@pytest.fixture(scope="module")
def personas(built: Built) -> pd.DataFrame:
    """customer_id → the persona of the person who placed most of the customer's orders."""
    records = pd.read_parquet(built.truth / "records.parquet", columns=["source", "record_key", "person_id"])
    records = records[records["source"].isin(["shop_orders", "pos_transactions"])].copy()
    records["record_id"] = records["record_key"].str.split("|").str[0]
    records["source_model"] = records["source"].map(
        {"shop_orders": "stg_shop_orders__orders", "pos_transactions": "stg_pos_transactions__transactions"}
    )
    resolved = built.query("select source_model, record_id, customer_id from intermediate.int_records_resolved")
    joined = records.drop_duplicates(["source_model", "record_id"]).merge(resolved, on=["source_model", "record_id"])
    owner = joined.groupby(["customer_id", "person_id"]).size().rename("n").reset_index()
    owner = owner.sort_values("n", ascending=False).drop_duplicates("customer_id")
    persons = pd.read_parquet(built.truth / "persons.parquet", columns=["person_id", "persona", "died_at"])
    return owner.merge(persons, on="person_id")[["customer_id", "person_id", "persona", "died_at"]]


def test_model_assets_materialise_with_metrics_and_plots(built: Built):
    assert built.training is not None and built.training.success
    assert built.reports is not None and built.reports.success
    seg = built.metadata(built.training, "models/segmentation_model")
    for key in ("k", "silhouette", "calinski_harabasz", "seed_ari_mean", "bootstrap_jaccard_min"):
        assert isinstance(seg[key], float), key
    churn = built.metadata(built.training, "models/churn_model")
    for key in ("roc_auc", "pr_auc", "brier", "recency_baseline_roc_auc", "roc_auc_lift_ci_low"):
        assert isinstance(churn[key], float), key
    images = [
        seg["k_selection_chart"], seg["profile_heatmap"], seg["pca"], churn["roc_curves"], churn["calibration"],
        built.metadata(built.reports, "models/lifecycle_report")["funnel"],
        built.metadata(built.reports, "models/vap_report")["grid"],
    ]  # fmt: skip
    assert all("](data:image/png;base64," in md for md in images)


def test_every_buyer_is_segmented_and_profiled(built: Built):
    buyers = built.query("select customer_id from marts.customer_features where is_buyer")
    segments = built.query("select * from marts.customer_segments")
    assert sorted(segments["customer_id"]) == sorted(buyers["customer_id"])
    k = int(built.metadata(built.training, "models/segmentation_model")["k"])
    assert set(segments["segment_id"]) == set(range(1, k + 1))
    assert segments.groupby("segment_id")["segment_name"].nunique().eq(1).all()
    assert segments["segment_name"].nunique() == k
    profiles = built.query("select * from marts.segment_profiles")
    assert set(profiles["segment_id"]) == set(range(1, k + 1))
    sizes = profiles.drop_duplicates("segment_id").set_index("segment_id")
    assert sizes["customer_count"].to_dict() == segments["segment_id"].value_counts().to_dict()
    # revenue share: each segment's share of the buyers' net revenue, from the features mart
    revenue = built.query(
        "select seg.segment_id, sum(f.monetary_total) as revenue from marts.customer_segments as seg "
        "inner join marts.customer_features as f using (customer_id) group by 1"
    ).set_index("segment_id")["revenue"]
    expected_share = (revenue / revenue.sum()).astype(float)
    assert np.allclose(sizes["revenue_share"].sort_index(), expected_share.sort_index())
    # every row's means are defined; the profile covers the category mix besides the model features
    assert profiles[["segment_mean", "population_mean"]].notna().all().all()
    categories = built.query("select distinct category from marts.customer_category_mix")["category"]
    assert {f"category_share_{c}" for c in categories} <= set(profiles["feature"])


def test_segments_recover_the_simulated_personas(built: Built, personas: pd.DataFrame):
    """k = 5 (the buying personas) and ARI vs persona well above chance.

    Why ARI > 0.18. A random segmentation of ~2,300 buyers scores 0 ± 0.01. The ceiling is far
    below 1: personas overlap heavily in what two years of orders reveal — a gradient-boosted
    classifier *trained on the persona labels* with every feature reaches ARI 0.50
    (accuracy 0.74, 5-fold CV, 20,000 persons); any unsupervised method tried (k-means on
    other feature sets, weightings and scalings, PCA, Gaussian mixtures, Ward) stayed at or
    below 0.27. The default features (orchestration.ml.features.SEGMENTATION_FEATURES, which
    says why they are these) give 0.264 / 0.214 / 0.269 / 0.258 at this size for seeds 5-8 and 0.260 / 0.258
    at 20,000 persons, with k = 5 chosen by silhouette and by the elbow every time; the
    previous feature set scored 0.02-0.25 on the same six simulations, with k from 2 to 7.
    0.18 is below the lowest of the six by a margin for sampling noise, and above what the old
    set gave at its worst (0.137 with k = 6, 0.019 with k = 2).
    """
    segments = built.query("select customer_id, segment_id from marts.customer_segments").merge(
        personas, on="customer_id"
    )
    metadata = built.metadata(built.training, "models/segmentation_model")
    assert metadata["k"] == 5 and metadata["elbow_k"] == 5, (metadata["k"], metadata["elbow_k"])
    ari = adjusted_rand_score(segments["persona"], segments["segment_id"])
    assert ari > 0.18, ari
    # the clearest personas sit mostly in one segment each: app-first buyers and the loyalists
    for persona in ("new_app_first", "high_value_loyalist"):
        shares = segments[segments["persona"] == persona]["segment_id"].value_counts(normalize=True)
        assert shares.iloc[0] > 0.6, (persona, shares.to_dict())


def test_churn_model_beats_recency_baseline_on_the_backtest(built: Built):
    m = built.metadata(built.training, "models/churn_model")
    assert m["chosen_model"] in ("hist_gradient_boosting", "logistic_regression")
    assert m["roc_auc"] > 0.78
    assert m["roc_auc_lift_over_baseline"] > 0.015
    assert m["roc_auc_lift_ci_low"] > 0.0  # the whole 95 % interval above the baseline
    assert m["brier_skill_vs_baseline"] > 0.05


def test_churn_risk_predicts_the_real_future(built: Built, personas: pd.DataFrame):
    """Scores as of the as-of date against the simulator's hold-out purchases after it."""
    risk = built.query("select * from marts.customer_churn_risk")
    as_of = pd.Timestamp(risk["as_of_date"].iloc[0])
    holdout = pd.read_parquet(built.truth / "holdout_orders.parquet")
    end = as_of + pd.Timedelta(days=HORIZON_DAYS + 1)  # whole last day
    window = holdout[(holdout["order_status"] == "completed") & (holdout["ordered_at"] < end)]
    bought = set(window["person_id"])
    scored = risk.merge(personas, on="customer_id")
    churned = ~scored["person_id"].isin(bought)
    auc_model = roc_auc_score(churned, scored["churn_probability"])
    recency = built.query("select customer_id, recency_days from marts.customer_features where is_buyer")
    auc_recency = roc_auc_score(churned, scored.merge(recency, on="customer_id")["recency_days"])
    assert auc_model > 0.78, auc_model
    assert auc_model > auc_recency + 0.01, (auc_model, auc_recency)
    # truly dead customers get high scores
    dead = scored["died_at"].notna() & (scored["died_at"] <= as_of)
    assert scored.loc[dead, "churn_probability"].mean() > scored.loc[~dead, "churn_probability"].mean() + 0.2
    assert set(risk["risk_band"]) <= {"low", "medium", "high"}
    assert risk["top_drivers"].notna().mean() > 0.5


def test_lifecycle_stages_follow_their_rules_and_the_truth(built: Built, personas: pd.DataFrame):
    lc = built.query("select * from marts.customer_lifecycle")
    n_customers = built.query("select count(*) as n from marts.dim_customers")["n"].iloc[0]
    assert lc["customer_id"].is_unique and len(lc) <= n_customers
    buyers = lc[lc["order_count"] > 0]
    assert (lc.loc[lc["order_count"] == 0, "lifecycle_stage"] == "prospect").all()
    assert (buyers.loc[buyers["lifecycle_stage"] == "churned", "recency_days"] > 365).all()
    assert buyers.loc[buyers["lifecycle_stage"] == "lapsed", "recency_days"].between(181, 365).all()
    assert (buyers.loc[buyers["lifecycle_stage"] == "new", "tenure_days"] <= 90).all()
    assert (buyers.loc[buyers["lifecycle_stage"] == "loyal", "order_count"] >= 5).all()
    assert set(lc["retention_type"].dropna()) <= {"active", "passive"}
    # against the truth: customers whose person died over a year ago are lapsed or churned
    truth = buyers.merge(personas, on="customer_id")
    as_of = pd.Timestamp(lc["as_of_date"].iloc[0])
    long_dead = truth["died_at"].notna() & (truth["died_at"] < as_of - pd.Timedelta(days=365))
    assert truth.loc[long_dead, "lifecycle_stage"].isin(["lapsed", "churned"]).mean() > 0.9
    alive = truth["died_at"].isna()
    assert truth.loc[alive, "is_current_customer"].mean() > truth.loc[~alive, "is_current_customer"].mean()
    # history: one row per customer and month end, the last snapshot agrees with the rule stage
    last = built.query(
        "select customer_id, lifecycle_stage from marts.lifecycle_history "
        "where snapshot_date = (select max(snapshot_date) from marts.lifecycle_history)"
    )
    merged = last.merge(lc[["customer_id", "rule_stage"]], on="customer_id")
    assert (merged["lifecycle_stage"] == merged["rule_stage"]).all()
    shares = built.query(
        "select from_snapshot_date, from_stage, sum(share_of_from_stage) as total "
        "from marts.lifecycle_stage_transitions group by all"
    )
    assert np.allclose(shares["total"], 1.0)


def test_vap_grid_covers_every_buyer_with_a_treatment(built: Built):
    vap = built.query("select * from marts.customer_vap")
    rfm = built.query("select customer_id from marts.customer_rfm")
    assert sorted(vap["customer_id"]) == sorted(rfm["customer_id"])
    assert vap["treatment"].notna().all()
    assert set(vap["attrition_basis"]) == {"churn_model"}  # the churn table existed
    assert set(vap["potential_basis"]) <= {"predicted_clv_12m", "rfm_expected_value_12m"}
    # tertile bands: each band holds roughly a third of the buyers
    assert vap["value_band"].value_counts(normalize=True).between(0.25, 0.42).all()
    # high attrition follows the model: its customers have the highest probabilities
    by_band = vap.groupby("attrition_band")["churn_probability"].mean()
    assert by_band["high"] > by_band["medium"] > by_band["low"]


def test_rerun_converges_to_the_same_tables(built: Built):
    before = built.query("select * from marts.customer_segments order by customer_id")
    again = dg.materialize(_keys("customer_segments"), resources=built.resources)
    assert again.success
    after = built.query("select * from marts.customer_segments order by customer_id")
    pd.testing.assert_frame_equal(before, after)


def test_lifecycle_and_vap_use_the_clv_table_once_it_exists(built: Built):
    """With marts.customer_clv present, at-risk follows p_alive and potential the predicted CLV.

    The table is a stand-in (p_alive derived from recency, clv_12m from revenue) written here
    so that this test does not depend on the CLV models; it is dropped and the models rebuilt
    afterwards. Runs last in the module because it rewrites shared tables.
    """
    buyers = built.query("select customer_id, recency_days, monetary_total from marts.customer_features where is_buyer")
    clv = pd.DataFrame(
        {
            "customer_id": buyers["customer_id"],
            "p_alive": np.exp(-buyers["recency_days"].astype(float) / 120.0),
            "clv_12m": buyers["monetary_total"].astype(float) * 0.5,
        }
    )
    try:
        with duckdb.connect(str(built.warehouse)) as con:
            con.register("_clv", clv)
            con.execute("create or replace table marts.customer_clv as select * from _clv")
        _dbt(["run", "--select", "customer_lifecycle customer_vap"], built.warehouse, built.root)
        lc = built.query("select * from marts.customer_lifecycle")
        scored = lc[lc["p_alive"].notna() & lc["rule_stage"].isin(["active", "loyal", "at_risk"])]
        assert len(scored) > 0
        assert ((scored["lifecycle_stage"] == "at_risk") == (scored["p_alive"] < 0.5)).all()
        assert set(scored.loc[scored["lifecycle_stage"] == "at_risk", "at_risk_basis"]) == {"p_alive"}
        kept = lc[lc["rule_stage"].isin(["new", "reactivated", "lapsed", "churned", "prospect"])]
        assert (kept["lifecycle_stage"] == kept["rule_stage"]).all()
        vap = built.query("select potential_basis, potential_value, customer_id from marts.customer_vap")
        assert set(vap["potential_basis"]) == {"predicted_clv_12m"}
    finally:
        with duckdb.connect(str(built.warehouse)) as con:
            con.execute("drop table if exists marts.customer_clv")
        _dbt(["run", "--select", "customer_lifecycle customer_vap"], built.warehouse, built.root)


def test_vap_treatment_seed_maps_every_cell_once():
    """27 cells (3 bands ^ 3), each once; every treatment reachable."""
    with open(DBT_PROJECT_DIR / "seeds" / "vap_treatments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cells = Counter((r["value_band"], r["attrition_band"], r["potential_band"]) for r in rows)
    bands = ("low", "medium", "high")
    assert set(cells) == {(v, a, p) for v in bands for a in bands for p in bands}
    assert set(cells.values()) == {1}
    assert {r["treatment"] for r in rows} == {"retain", "grow", "nurture", "win back", "deprioritise"}
    assert all(r["vap_cell"] == "-".join(b[0].upper() for b in cell) for r, cell in zip(rows, cells, strict=True))
