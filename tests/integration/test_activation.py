"""Response propensity, next best action, offer policy and audiences on a simulated warehouse.

Built once per module: a fresh simulation, then every asset upstream of the audiences asset
materialised with ``dg.materialize`` (ingestion, erasure, dbt, CLV, segmentation, churn,
response model, offer policy, next best action, audiences). Judged against the simulator's
ground truth where it has one (each person's true discount sensitivity and persona) and
against the warehouse's own consent tables for the exports.

Size: 3,000 persons (~1,650 buyers, ~16,000 campaign touches). The 600-person session
fixture has too few responses on SMS and push to evaluate them on a time split.
"""

import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration import definitions
from orchestration.ml import offers
from orchestration.resources import ModelStore, WarehouseResource, default_resources

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSONS = 3_000
SEED = 7
AUDIENCES = dg.AssetKey(["activation", "audiences"])


class Built:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.warehouse = root / "warehouse.duckdb"
        self.truth = root / "sim" / "ground_truth"
        self.exports = root / "exports"
        self.result: dg.ExecuteInProcessResult | None = None

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).df()

    def metadata(self, key: str) -> dict:
        assert self.result is not None
        for ev in self.result.get_asset_materialization_events():
            if ev.asset_key.to_user_string() == key:
                return {k: v.value for k, v in ev.materialization.metadata.items()}
        raise KeyError(key)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    b = Built(tmp_path_factory.mktemp("activation"))
    simulate(SimulationConfig(n_customers=PERSONS, seed=SEED), b.root / "sim")
    resources = default_resources()
    resources["warehouse"] = WarehouseResource(path=str(b.warehouse), landing_dir=str(b.root / "sim" / "landing"))
    resources["model_store"] = ModelStore(path=str(b.root / "models"))
    b.result = dg.materialize(
        list(definitions.defs.assets),
        selection=dg.AssetSelection.assets(AUDIENCES).upstream().required_multi_asset_neighbors(),
        resources=resources,
        raise_on_error=False,
    )
    failures = [e.message for e in b.result.all_events if e.is_step_failure]
    assert b.result.success, failures
    return b


@pytest.fixture(scope="module")
def truth(built: Built) -> pd.DataFrame:
    """customer_id → the person who placed most of the customer's orders, their persona and sensitivity."""
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
    persons = pd.read_parquet(built.truth / "persons.parquet", columns=["person_id", "persona", "discount_sensitivity"])
    return owner.merge(persons, on="person_id").rename(columns={"discount_sensitivity": "true_sensitivity"})


def test_response_model_beats_the_base_rate_on_later_touches(built: Built):
    """Time-split test AUC per channel with enough test responses, against the base rate (AUC 0.5).

    Measured at this size (seed 7): see the README; the pooled model also matches or beats
    the "contact recent buyers" rule overall. Channels with fewer than 30 test responses
    (social has three campaigns) are reported, not asserted.
    """
    m = built.metadata("models/response_model")
    assert m["chosen_model"] in ("logistic_regression", "hist_gradient_boosting")
    assert m["all_roc_auc"] > 0.7 and m["all_roc_auc_ci_low"] > 0.65
    assert m["all_brier_skill"] > 0.05
    assert m["all_roc_auc"] > m["all_recency_roc_auc"] - 0.01
    asserted = 0
    for channel in ("email", "sms", "push", "social"):
        if m.get(f"{channel}_test_responses", 0) >= 30:
            asserted += 1
            assert m[f"{channel}_roc_auc"] > 0.65, channel
            assert m[f"{channel}_roc_auc_ci_low"] > m[f"{channel}_base_rate_roc_auc"], channel
    assert asserted >= 2  # e-mail and at least one more channel are evaluated
    assert "](data:image/png;base64," in m["roc_curves"]


def test_next_best_channel_is_the_most_likely_contactable_one(built: Built):
    nba = built.query("select * from marts.customer_next_best_action")
    scores = built.query(
        "select e.customer_id, e.channel, e.is_contactable, p.response_propensity "
        "from marts.customer_channel_eligibility as e left join marts.customer_channel_propensity as p "
        "using (customer_id, channel)"
    )
    identified = built.query("select customer_id from marts.dim_customers where is_identified")
    assert sorted(nba["customer_id"]) == sorted(identified["customer_id"])
    eligible = scores[scores["is_contactable"]].sort_values(["customer_id", "response_propensity", "channel"],
                                                            ascending=[True, False, True])
    expected = eligible.drop_duplicates("customer_id").set_index("customer_id")["channel"]
    contact = nba[nba["action_status"] == "contact"].set_index("customer_id")["best_channel"]
    assert contact.sort_index().equals(expected.reindex(contact.index).sort_index())
    # nobody gets a channel they may not be contacted on; nobody contactable is left out
    assert set(nba.loc[nba["action_status"] == "not_contactable", "customer_id"]).isdisjoint(expected.index)
    assert len(contact) == len(expected) and len(contact) > 100
    assert contact.nunique() >= 3
    vap = built.query("select customer_id, treatment from marts.customer_vap").set_index("customer_id")["treatment"]
    with_vap = nba.dropna(subset=["treatment"]).set_index("customer_id")["treatment"]
    assert with_vap.equals(vap.reindex(with_vap.index))


def test_discount_sensitivity_is_recovered(built: Built, truth: pd.DataFrame):
    """Rank correlation of estimated and true sensitivity: per person, across and within personas.

    Why 0.45 per person: a buyer's evidence is a handful of orders after the first (median
    ~3), each discounted with probability 0.04 + 0.45 x sensitivity (x 1.8 on promotion
    days), plus campaign offers that ignore it. Measured 0.585 here (0.56 at 2,000 persons,
    seed 42). Across personas: bargain hunters (true mean 0.75) must come first and
    high-value loyalists (0.20) last; the other three lie within 0.16 of each other and
    their buyers have 1.5-3 orders each, so they may swap (measured Spearman over the 5
    persona means: 0.6 here, 0.7 at seed 42). Within each persona the estimate must still
    rank individuals (measured 0.24-0.59): sensitivity is recovered beyond persona means.
    """
    policy = built.query("select * from marts.customer_offer_policy")
    recovery = offers.sensitivity_recovery(policy, truth)
    assert recovery["customers_evidence_1"] > 500
    assert recovery["spearman_evidence_1"] > 0.45, recovery
    assert recovery["spearman_evidence_3"] > recovery["spearman_evidence_1"]
    assert recovery["spearman_persona"] >= 0.5, recovery
    by_persona = policy.merge(truth, on="customer_id").groupby("persona")["discount_sensitivity"].mean()
    assert by_persona.idxmax() == "bargain_hunter" and by_persona.idxmin() == "high_value_loyalist"
    within = {k: v for k, v in recovery.items() if k.startswith("spearman_within_")}
    assert len(within) == 5 and min(within.values()) > 0.15, within


def test_offer_policy_covers_every_buyer_and_never_loses_margin(built: Built):
    policy = built.query("select * from marts.customer_offer_policy")
    buyers = built.query("select customer_id from intermediate.int_customer_discounts_aggregated")
    assert sorted(policy["customer_id"]) == sorted(buyers["customer_id"])
    assert policy["recommended_discount_pct"].isin([0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30]).all()
    assert (policy["expected_margin_gain"] >= -1e-9).all()
    assert policy["discount_sensitivity"].between(0, 1).all()
    # discounts go where there is little to cannibalise: lower baseline purchase probability
    discounted = policy["recommended_discount_pct"] > 0
    if discounted.any() and (~discounted).any():
        assert (policy.loc[discounted, "baseline_purchase_probability"].mean()
                < policy.loc[~discounted, "baseline_purchase_probability"].mean())
    segments = built.query("select * from marts.segment_offer_policy")
    assert segments["customers"].sum() == len(policy)


def test_exports_hold_only_contactable_customers_and_the_manifest_adds_up(built: Built):
    exports = built.warehouse.parent / "exports"
    manifest = json.loads((exports / "manifest.json").read_text())
    assert {a["name"] for a in manifest["audiences"]} >= {"at_risk_high_value_winback", "champions_best_channel"}
    eligibility = built.query("select customer_id, channel, is_contactable from marts.customer_channel_eligibility")
    contactable = set(map(tuple, eligibility.loc[eligibility["is_contactable"], ["customer_id", "channel"]].values))
    addresses = built.query("select customer_id, channel, address from marts.customer_channel_addresses")
    address_of = {(c, ch): a for c, ch, a in addresses.itertuples(index=False)}
    exported = 0
    for audience in manifest["audiences"]:
        assert audience["matched"] == audience["exported"] + sum(audience["excluded"].values())
        table = built.query(f"select * from audiences.audience_{audience['name']}")
        assert len(table) == audience["matched"] and table["is_exported"].sum() == audience["exported"]
        assert sum(f["rows"] for f in audience["files"]) == audience["exported"]
        for f in audience["files"]:
            rows = pd.read_csv(exports / f["path"], dtype=str)
            assert oct(os.stat(exports / f["path"]).st_mode & 0o777) == "0o600"
            for customer_id, channel, address in rows[["customer_id", "channel", "address"]].itertuples(index=False):
                assert (customer_id, channel) in contactable
                assert address_of[(customer_id, channel)] == address
            exported += len(rows)
    assert exported > 50
