"""CLV assets on the simulated warehouse, judged against the simulator's ground truth."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scored(full_warehouse: Path, simulated: Path) -> pd.DataFrame:
    """customer_clv joined to the true person behind each customer (majority of its orders)."""
    truth = simulated / "ground_truth"
    records = pd.read_parquet(truth / "records.parquet")
    orders = records[records.source == "shop_orders"].assign(
        order_id=lambda d: d.record_key.astype(str).str.split("|").str[0]
    )[["order_id", "person_id"]].drop_duplicates()
    with duckdb.connect(str(full_warehouse), read_only=True) as con:
        clv = con.execute("select * from marts.customer_clv").df()
        owners = con.execute("select order_id, customer_id from marts.fct_orders").df()
    people = owners.merge(orders, on="order_id").groupby("customer_id")["person_id"].agg(lambda s: s.mode()[0])
    persons = pd.read_parquet(truth / "persons.parquet").set_index("person_id")
    holdout = pd.read_parquet(truth / "holdout_orders.parquet")
    holdout_days = holdout.assign(day=pd.to_datetime(holdout.ordered_at).dt.date).groupby("person_id")["day"].nunique()
    out = clv.join(people, on="customer_id", how="inner")
    out["died_at"] = out.person_id.map(persons["died_at"])
    out["holdout_purchase_days"] = out.person_id.map(holdout_days).fillna(0)
    return out


def test_one_row_per_buying_customer_with_sane_values(full_warehouse: Path, scored: pd.DataFrame):
    with duckdb.connect(str(full_warehouse), read_only=True) as con:
        clv = con.execute("select * from marts.customer_clv").df()
        buyers = con.execute("select count(*) from intermediate.int_customer_purchases_summarised").fetchone()[0]
    assert len(clv) == buyers and clv.customer_id.is_unique
    assert clv.p_alive.between(0, 1).all()
    assert (clv.expected_purchases_30d <= clv.expected_purchases_90d).all()
    assert (clv.expected_purchases_90d <= clv.expected_purchases_365d).all()
    assert (clv.clv_12m <= clv.clv_36m + 1e-9).all() and (clv.clv_12m >= 0).all()
    assert sorted(clv.clv_decile.unique()) == list(range(1, 11))


def test_p_alive_separates_truly_alive_from_dead(scored: pd.DataFrame):
    # Truth: a person is alive at the observation end if they had not died by then.
    alive = scored.died_at.isna() | (pd.to_datetime(scored.died_at) > pd.Timestamp("2026-06-30"))
    auc = roc_auc_score(alive, scored.p_alive)
    assert auc > 0.75, auc


def test_predicted_purchases_rank_true_future_purchases(scored: pd.DataFrame):
    # The hold-out orders (after the observation end) were never shown to the pipeline.
    rho = spearmanr(scored.expected_purchases_90d, scored.holdout_purchase_days).statistic
    assert rho > 0.5, rho
    top = scored.clv_decile == 10
    share = scored.loc[top, "holdout_purchase_days"].sum() / max(scored.holdout_purchase_days.sum(), 1)
    assert share > 0.2, share  # the top tenth by predicted CLV makes well over a tenth of future purchases
    assert np.isfinite(scored.clv_36m).all()


def test_value_by_acquisition_channel(full_warehouse: Path):
    with duckdb.connect(str(full_warehouse), read_only=True) as con:
        channels = con.execute("select * from marts.clv_by_acquisition_channel").df()
        revenue = con.execute("select sum(total_revenue) from marts.customer_historical_clv").fetchone()[0]
    assert channels.total_revenue.sum() == pytest.approx(revenue)
    paid = channels.set_index("acquisition_channel")
    assert paid.loc["paid_search", "acquisition_cost_per_customer"] > 0
    assert paid.loc["organic", "acquisition_cost_per_customer"] == 0
