"""The single customer view, order / engagement facts and RFM on a simulated warehouse.

A small simulated landing zone is ingested and the whole dbt project is built on a
throwaway warehouse; the marts are then checked against the simulator's ground truth
(orders, revenue, personas) and against the invariants the models promise (one row per
customer, revenue adds up, scores 1-5 in near-equal quintiles, segments only from the
rule seed, monotone history, transition counts).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.contracts import SOURCES
from orchestration.ingestion import load_source
from orchestration.settings import DBT_PROJECT_DIR

pytestmark = pytest.mark.integration

#: the models and seeds of the customer / order / engagement / RFM marts
CUSTOMER_MART_SELECTION = [
    "path:models/intermediate/customers",
    "path:models/marts/customers",
    "path:models/marts/orders",
    "path:models/marts/engagement",
    "path:models/marts/rfm",
    "rfm_segment_rules",
    "rfm_group_rules",
]


@dataclass(frozen=True)
class BuiltWarehouse:
    """A warehouse built from simulated data, with the dbt artefacts of the build."""

    path: Path
    target_dir: Path
    run_results: dict

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True)


def run_dbt(args: list[str], warehouse: Path, target_dir: Path) -> subprocess.CompletedProcess:
    """Run dbt on the project against ``warehouse``, keeping artefacts out of the shared target/."""
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [
            str(dbt),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target_dir),
            "--log-path",
            str(target_dir / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "C360_WAREHOUSE_PATH": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
    )


def build_customer_marts_warehouse(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """Ingest the simulated landing zone and build every dbt model (once per test session).

    Shared by the privacy test. Built under the session's base temp dir and reused when it
    is there already, so the two test modules pay for one build.
    """
    root = tmp_path_factory.getbasetemp() / "customer_marts"
    warehouse, target_dir = root / "warehouse.duckdb", root / "target"
    done = root / "built.json"
    if done.exists():
        return BuiltWarehouse(warehouse, target_dir, json.loads(done.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        for source in SOURCES:
            load_source(con, source, simulated / "landing")
    statuses: dict[str, str] = {}
    for command in (["seed"], ["run"]):
        result = run_dbt(command, warehouse, target_dir)
        run_results = json.loads((target_dir / "run_results.json").read_text())
        statuses |= {r["unique_id"].split(".")[-1]: r["status"] for r in run_results["results"]}
    # the whole project is built so that the privacy scan sees every mart; the nodes this
    # suite is about must have succeeded
    ours = [
        "rfm_segment_rules",
        "rfm_group_rules",
        "fct_orders",
        "fct_engagement",
        "dim_customers",
        "customer_rfm",
        "rfm_history",
        "rfm_segment_transitions",
    ]
    assert all(statuses.get(node) == "success" for node in ours), (
        {n: statuses.get(n) for n in ours},
        result.stdout[-3000:],
    )
    done.write_text(json.dumps(run_results))
    return BuiltWarehouse(warehouse, target_dir, run_results)


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    return build_customer_marts_warehouse(simulated, tmp_path_factory)


@pytest.fixture(scope="module")
def marts(built: BuiltWarehouse) -> dict[str, pd.DataFrame]:
    with built.connect() as con:
        return {
            name: con.sql(f"select * from marts.{name}").df()
            for name in ("fct_orders", "dim_customers", "customer_rfm", "rfm_history", "rfm_segment_transitions")
        }


@pytest.fixture(scope="module")
def truth(simulated: Path) -> dict[str, pd.DataFrame]:
    gt = simulated / "ground_truth"
    return {name: pd.read_parquet(gt / f"{name}.parquet") for name in ("orders", "persons", "records")}


def _seed(name: str) -> pd.DataFrame:
    return pd.read_csv(DBT_PROJECT_DIR / "seeds" / f"{name}.csv")


def test_dbt_tests_and_unit_tests_of_the_customer_marts_pass(built: BuiltWarehouse):
    result = run_dbt(["test", "--select", *CUSTOMER_MART_SELECTION], built.path, built.target_dir / "test")
    assert result.returncode == 0, result.stdout[-5000:]
    assert "unit_test" in result.stdout or "customer_rfm_scores_ties_and_segments" in result.stdout


def test_fct_orders_has_one_row_per_order_in_the_landing_files(built: BuiltWarehouse, marts, truth):
    orders = marts["fct_orders"]
    assert orders.order_id.is_unique
    with built.connect() as con:
        shop = set(con.sql("select distinct order_id from raw.shop_orders").df().order_id)
        sales = set(
            con.sql("select distinct transaction_id from raw.pos_transactions where transaction_type = 'sale'")
            .df()
            .transaction_id
        )
        returns = set(
            con.sql("select distinct transaction_id from raw.pos_transactions where transaction_type = 'return'")
            .df()
            .transaction_id
        )
    unmatched_returns = set(orders.loc[orders.order_type == "return", "order_id"])
    assert unmatched_returns <= returns
    assert set(orders.order_id) == shop | sales | unmatched_returns
    # every order the simulator delivered (the valid rows of the landing files) is there
    assert set(truth["orders"].order_id) <= set(orders.order_id)
    # store return baskets are folded into the sale they give back
    assert len(unmatched_returns) <= 0.1 * len(returns)


def test_order_status_and_revenue_match_ground_truth(marts, truth):
    orders = marts["fct_orders"].set_index("order_id")
    gt = truth["orders"].set_index("order_id")
    common = gt.index.intersection(orders.index)
    agree = (orders.loc[common, "order_status"] == gt.loc[common, "order_status"]).mean()
    # a store order returned after the end of the data stays completed: nothing else may differ
    assert agree > 0.995, agree
    revenue = float(orders.revenue_amount.sum())
    true_revenue = float(truth["persons"].revenue_observed.sum())
    assert revenue == pytest.approx(true_revenue, rel=0.01)


def test_dim_customers_has_one_row_per_resolved_customer(built: BuiltWarehouse, marts):
    dim = marts["dim_customers"]
    assert dim.customer_id.is_unique
    with built.connect() as con:
        query = "select count(distinct customer_id) from intermediate.int_records_resolved"
        resolved = con.execute(query).fetchone()[0]
    assert len(dim) == resolved


def test_customer_revenue_adds_up_to_order_revenue(marts):
    dim, orders = marts["dim_customers"], marts["fct_orders"]
    resolved_orders = orders[orders.customer_id.notna()]
    assert float(dim.total_revenue.sum()) == pytest.approx(float(resolved_orders.revenue_amount.sum()), abs=0.01)
    assert int(dim.order_count.sum()) == int(resolved_orders.is_completed.sum())
    per_customer = resolved_orders.groupby("customer_id").revenue_amount.sum()
    merged = dim.set_index("customer_id").total_revenue.reindex(per_customer.index)
    assert (merged.astype(float) - per_customer.astype(float)).abs().max() < 0.01


def test_dim_customers_derives_demographics_and_consent(built: BuiltWarehouse, marts):
    dim = marts["dim_customers"]
    with built.connect() as con:
        births = con.sql("select customer_id, birth_date from intermediate.int_customer_profiles_selected").df()
    members = dim[dim.is_member].merge(births, on="customer_id", validate="one_to_one")
    assert len(members) == len(births)
    born = members[members.birth_date.notna()]
    assert members.age_band.notna().eq(members.birth_date.notna()).all()
    as_of = pd.to_datetime(born.as_of_date)
    age = ((as_of - pd.to_datetime(born.birth_date)).dt.days // 365.25).astype(int)
    bands = pd.cut(
        age, [-1, 17, 24, 34, 44, 54, 64, 200], labels=["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    ).astype(str)
    assert (bands.to_numpy() == born.age_band.to_numpy()).mean() > 0.99  # 365.25-day years vs birthdays
    year = pd.to_datetime(born.birth_date).dt.year
    generation = pd.cut(
        year,
        [0, 1945, 1964, 1980, 1996, 2012, 3000],
        labels=["Silent Generation", "Baby Boomers", "Gen X", "Millennials", "Gen Z", "Gen Alpha"],
    )
    assert (generation.astype(str).to_numpy() == born.generation.to_numpy()).all()
    # an unsubscribe after the consent revokes it
    revoked = dim[
        dim.email_unsubscribed_at.notna()
        & dim.email_consent_at.notna()
        & (dim.email_unsubscribed_at > dim.email_consent_at)
    ]
    assert not revoked.has_email_consent.any()
    assert not dim.loc[~dim.is_member, ["has_email_consent", "has_sms_consent", "has_push_consent"]].any().any()
    buyers = dim[dim.is_buyer]
    shares = buyers.online_order_share + buyers.store_order_share
    assert (shares.round(9) == 1).all()
    assert buyers.preferred_shopping_channel.notna().all()
    assert dim.email_open_rate.dropna().between(0, 1).all()
    assert dim.cart_abandonment_rate.dropna().between(0, 1).all()
    assert (dim.web_sessions_last_30_days <= dim.web_sessions_last_90_days).all()


def test_rfm_scores_are_quintiles_with_equal_scores_for_equal_values(marts):
    rfm = marts["customer_rfm"]
    assert len(rfm) > 100
    for score in ("r_score", "f_score", "m_score"):
        assert set(rfm[score]) <= {1, 2, 3, 4, 5}
    # recency and monetary have few ties: near-equal fifths
    for score in ("r_score", "m_score"):
        shares = rfm[score].value_counts(normalize=True).reindex(range(1, 6), fill_value=0)
        assert shares.between(0.12, 0.28).all(), (score, shares.to_dict())
    # frequency is dominated by one-order customers: they all share the lowest score
    for column, score in (("recency_days", "r_score"), ("frequency", "f_score"), ("monetary_total", "m_score")):
        assert (rfm.groupby(column)[score].nunique() == 1).all(), column
    assert set(rfm.loc[rfm.frequency == rfm.frequency.min(), "f_score"]) == {1}
    assert (rfm.sort_values("monetary_total").m_score.diff().dropna() >= 0).all()
    assert (rfm.sort_values("recency_days").r_score.diff().dropna() <= 0).all()


def test_rfm_segments_come_from_the_rule_seeds(marts):
    rfm = marts["customer_rfm"]
    rules = _seed("rfm_segment_rules")
    groups = _seed("rfm_group_rules")
    # the seed maps every cell exactly once and reaches every segment
    assert len(rules) == 125 and not rules.duplicated(["r_score", "f_score", "m_score"]).any()
    assert set(rules.rfm_segment) == set(groups.rfm_segment)
    expected = rfm.merge(rules, on=["r_score", "f_score", "m_score"], suffixes=("", "_rule"))
    assert len(expected) == len(rfm)
    assert (expected.rfm_segment == expected.rfm_segment_rule).all()
    assert set(rfm.rfm_segment) <= set(groups.rfm_segment)
    group_of = dict(zip(groups.rfm_segment, groups.rfm_group, strict=True))
    assert (rfm.rfm_segment.map(group_of) == rfm.rfm_group).all()


def test_rfm_history_is_monthly_and_ends_at_customer_rfm(marts):
    history, rfm = marts["rfm_history"], marts["customer_rfm"]
    dates = pd.Series(sorted(pd.to_datetime(history.snapshot_date.unique())))
    assert dates.is_monotonic_increasing and dates.is_unique
    assert (dates.iloc[:-1].dt.is_month_end).all()
    assert ((dates.dt.to_period("M").diff().dropna()).apply(lambda d: d.n) == 1).all()
    # customers never leave the history once they have bought, and frequency never falls
    counts = history.groupby("snapshot_date").size().sort_index()
    assert counts.is_monotonic_increasing
    per_customer = history.sort_values("snapshot_date").groupby("customer_id")
    assert (per_customer.frequency.diff().dropna() >= 0).all()
    # the last snapshot is customer_rfm
    last = history[pd.to_datetime(history.snapshot_date) == dates.iloc[-1]].set_index("customer_id").sort_index()
    current = rfm.set_index("customer_id").sort_index()
    assert pd.to_datetime(current.as_of_date).eq(dates.iloc[-1]).all()
    columns = ["recency_days", "frequency", "monetary_total", "r_score", "f_score", "m_score", "rfm_segment"]
    pd.testing.assert_frame_equal(last[columns], current[columns], check_dtype=False)


def test_rfm_transitions_count_the_customers_present_in_both_months(marts):
    history, transitions = marts["rfm_history"], marts["rfm_segment_transitions"]
    dates = sorted(history.snapshot_date.unique())
    members = {d: set(history.loc[history.snapshot_date == d, "customer_id"]) for d in dates}
    moved = transitions.groupby("from_snapshot_date").customer_count.sum()
    for before, after in itertools.pairwise(dates):
        assert moved.get(before, 0) == len(members[before] & members[after]), before
    shares = transitions.groupby(["from_snapshot_date", "from_rfm_segment"]).share_of_from_segment.sum()
    assert (shares.round(9) == 1).all()


def test_personas_rank_as_the_simulator_made_them(marts, truth):
    """Persona-level sanity: who the simulator made valuable is valuable in the marts."""
    records = truth["records"]
    order_records = records[records.source.isin(["shop_orders", "pos_transactions"])]
    order_person = (
        order_records.assign(order_id=order_records.record_key.str.split("|").str[0])
        .drop_duplicates("order_id")
        .set_index("order_id")
        .person_id
    )
    orders = marts["fct_orders"]
    orders = orders[orders.customer_id.notna()].assign(person_id=lambda d: d.order_id.map(order_person))
    # each customer's persona: the person behind most of the customer's orders
    customer_person = orders.groupby("customer_id").person_id.agg(lambda s: s.mode().iloc[0])
    persona = truth["persons"].set_index("person_id").persona
    rfm = marts["customer_rfm"].assign(persona=lambda d: d.customer_id.map(customer_person).map(persona))
    by_persona = rfm.groupby("persona").agg(
        monetary=("monetary_total", lambda s: s.astype(float).mean()),
        frequency=("frequency", "mean"),
        recency=("recency_days", "mean"),
        f_score=("f_score", "mean"),
    )
    assert by_persona.loc["high_value_loyalist", "monetary"] > 2 * by_persona.loc["bargain_hunter", "monetary"]
    assert by_persona.loc["high_value_loyalist", "frequency"] > by_persona.loc["occasional_gift_buyer", "frequency"]
    assert by_persona.loc["high_value_loyalist", "f_score"] == by_persona.f_score.max()
    assert by_persona.loc["lapsing_customer", "recency"] > by_persona.loc["high_value_loyalist", "recency"]
    gold = rfm[rfm.rfm_group == "Gold"].persona.value_counts(normalize=True)
    assert gold.get("high_value_loyalist", 0) > truth["persons"].persona.eq("high_value_loyalist").mean()
    # prospects never buy: none of them is scored
    assert "prospect" not in set(rfm.persona.dropna())
