"""RFM benchmark: the dbt model customer_rfm vs the pandas groupby a user would otherwise write.

    python benchmarks/rfm.py --customers 1000000

Orders are synthetic (numpy): simulating and ingesting a 1M-customer warehouse only to
get an order table would take minutes and measure other things (see ingestion.py). Each
customer gets Geometric(1 / mean) orders (at least one) (mean ``--orders-per-customer``) spread over two years,
lognormal amounts and 92 / 5 / 3 % completed / returned / cancelled, written as
``marts.fct_orders`` with the columns customer_rfm reads. Then, each in its own process so
that its peak memory (max RSS) is its own:

- dbt: ``dbt run --select customer_rfm`` (the rule seeds are loaded beforehand). Reported:
  the model's own build time from dbt's run_results (the SQL, as the warehouse runs it) and
  the wall time of the whole dbt command (project load and connection included).
- dbt's SQL alone: the statement dbt ran (target/run), executed in a bare DuckDB
  process, i.e. the model without dbt's start-up and bookkeeping.
- pandas (the baseline of the ratio): read the orders from the same warehouse into a
  DataFrame, groupby customer, score with the same rule (percent rank, ties share the
  lowest score), merge the rule seeds — vectorised, no per-customer Python. Reported: load
  and compute times, and their total.
- pandas as tutorials write it (lambda per customer for recency, nunique, qcut): timed
  once for reference (skip with --no-tutorial).

Wall and CPU seconds are both printed: on a busy machine wall time mostly measures the
other processes, CPU seconds the work.

Both runs use the same as-of date; the benchmark checks that they give the same scores
and segments for every customer before it prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = ROOT / "dbt_project"
AS_OF = "2026-06-30"
HISTORY_DAYS = 730


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process (all threads), less sensitive than wall time to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(phase: str, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            phase,
            "--workdir",
            args.workdir,
            "--customers",
            str(args.customers),
            "--orders-per-customer",
            str(args.orders_per_customer),
            "--seed",
            str(args.seed),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dbt_args(workdir: Path) -> list[str]:
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
    ]


def phase_prepare(workdir: Path, customers: int, orders_per_customer: float, seed: int) -> dict:
    """Write synthetic orders as marts.fct_orders and load the RFM rule seeds."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    per_customer = rng.geometric(1 / orders_per_customer, customers)  # 1, 2, ... with mean orders_per_customer
    n = int(per_customer.sum())
    customer = np.repeat(np.arange(customers), per_customer)
    ids = pa.array([f"cus_{x:024x}" for x in rng.integers(0, 2**63, customers, dtype=np.int64)])
    first_day = np.datetime64(AS_OF) - np.timedelta64(HISTORY_DAYS - 1, "D")
    day = rng.integers(0, HISTORY_DAYS, n)
    status = rng.choice(np.array(["completed", "returned", "cancelled"]), n, p=[0.92, 0.05, 0.03])
    net = np.round(rng.lognormal(5.0, 0.8, n), 2)
    orders = pa.table(
        {
            "order_id": pa.array(np.arange(n)).cast(pa.string()),
            "customer_id": ids.take(pa.array(customer)),
            "ordered_on": pa.array(first_day + day.astype("timedelta64[D]")),
            "order_status": pa.array(status),
            "net_amount": pa.array(net),
        }
    )
    db = workdir / "rfm.duckdb"
    db.unlink(missing_ok=True)
    with duckdb.connect(str(db)) as con:
        con.register("orders_arrow", orders)
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_orders as select order_id, customer_id, 'shop' as order_source, "
            "'web' as channel, 'sale' as order_type, order_status, order_status = 'completed' as is_completed, "
            "cast(net_amount as decimal(18, 2)) as net_amount, "
            "cast(case when order_status = 'completed' then net_amount else 0 end as decimal(18, 2)) "
            "as revenue_amount, cast(ordered_on as timestamp) + interval 12 hour as ordered_at, "
            "cast(ordered_on as date) as ordered_on from orders_arrow"
        )
    env = {**os.environ, "C360_WAREHOUSE_PATH": str(db)}
    subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "seed",
            "--select",
            "rfm_segment_rules",
            "rfm_group_rules",
            *_dbt_args(workdir),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=DBT_PROJECT_DIR,
    )
    return {"orders": n, "customers": customers, "seconds": time.perf_counter() - start}


def phase_dbt(workdir: Path) -> dict:
    """``dbt run --select customer_rfm`` in this process, so that max RSS includes DuckDB's work."""
    os.environ["C360_WAREHOUSE_PATH"] = str(workdir / "rfm.duckdb")
    from dbt.cli.main import dbtRunner

    start, cpu = time.perf_counter(), _cpu_seconds()
    result = dbtRunner().invoke(
        ["run", "--select", "customer_rfm", "--vars", json.dumps({"as_of_date": AS_OF}), "--quiet", *_dbt_args(workdir)]
    )
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if not result.success:
        raise SystemExit(f"dbt run failed: {result.exception}")
    (node,) = result.result.results
    return {"model_seconds": node.execution_time, "wall_seconds": wall, "cpu_seconds": cpu, "peak_mb": _peak_mb()}


def phase_sql(workdir: Path) -> dict:
    """The SQL dbt ran for customer_rfm (target/run), executed alone: the model without dbt's overhead."""
    import duckdb

    compiled = next((workdir / "target" / "run").rglob("customer_rfm.sql")).read_text()
    with duckdb.connect(str(workdir / "rfm.duckdb")) as con:
        start, cpu = time.perf_counter(), _cpu_seconds()
        con.execute(compiled)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        con.execute('drop table if exists "rfm"."marts"."customer_rfm__dbt_tmp"')
    return {"seconds": wall, "cpu_seconds": cpu, "peak_mb": _peak_mb()}


def phase_pandas(workdir: Path) -> dict:
    """The same RFM as a pandas user would write it: load the orders, groupby, rank, merge."""
    import duckdb
    import numpy as np
    import pandas as pd

    start, cpu = time.perf_counter(), _cpu_seconds()
    with duckdb.connect(str(workdir / "rfm.duckdb"), read_only=True) as con:
        orders = con.sql("select customer_id, ordered_on, is_completed, revenue_amount from marts.fct_orders").df()
    loaded = time.perf_counter()

    as_of = pd.Timestamp(AS_OF)
    orders["ordered_on"] = pd.to_datetime(orders["ordered_on"])
    orders = orders[orders["ordered_on"] <= as_of]
    completed = orders[orders["is_completed"]]
    by_customer = completed.groupby("customer_id")
    rfm = pd.DataFrame(
        {
            "last_order_on": by_customer["ordered_on"].max(),
            "frequency": by_customer.size(),
        }
    )
    rfm["monetary_total"] = orders.groupby("customer_id")["revenue_amount"].sum().round(2).reindex(rfm.index)
    rfm["recency_days"] = (as_of - rfm["last_order_on"]).dt.days

    def score(values: pd.Series, higher_is_better: bool) -> pd.Series:
        rank = values.rank(method="min", ascending=higher_is_better)
        return np.minimum(5, 1 + np.floor(5 * (rank - 1) / max(len(values) - 1, 1))).astype(int)

    rfm["r_score"] = score(rfm["recency_days"], higher_is_better=False)
    rfm["f_score"] = score(rfm["frequency"], higher_is_better=True)
    rfm["m_score"] = score(rfm["monetary_total"], higher_is_better=True)
    rules = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "rfm_segment_rules.csv")
    groups = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "rfm_group_rules.csv")
    rfm = (
        rfm.reset_index()
        .merge(rules, on=["r_score", "f_score", "m_score"], how="left")
        .merge(groups[["rfm_segment", "rfm_group"]], on="rfm_segment", how="left")
    )
    done = time.perf_counter()
    rfm[["customer_id", "r_score", "f_score", "m_score", "rfm_segment"]].to_parquet(workdir / "pandas_rfm.parquet")
    return {
        "load_seconds": loaded - start,
        "compute_seconds": done - loaded,
        "seconds": done - start,
        "cpu_seconds": _cpu_seconds() - cpu,
        "customers": len(rfm),
        "peak_mb": _peak_mb(),
    }


def phase_tutorial(workdir: Path) -> dict:
    """RFM as most tutorials write it: a lambda per customer for recency, nunique, qcut.

    Not the same tie rule (qcut on rank(method="first") splits ties by row order), so it is
    timed only, not compared.
    """
    import duckdb
    import pandas as pd

    start, cpu = time.perf_counter(), _cpu_seconds()
    with duckdb.connect(str(workdir / "rfm.duckdb"), read_only=True) as con:
        orders = con.sql(
            "select order_id, customer_id, ordered_on, is_completed, revenue_amount from marts.fct_orders"
        ).df()
    as_of = pd.Timestamp(AS_OF)
    orders["ordered_on"] = pd.to_datetime(orders["ordered_on"])
    orders = orders[(orders["ordered_on"] <= as_of) & orders["is_completed"]]
    rfm = orders.groupby("customer_id").agg(
        recency=("ordered_on", lambda x: (as_of - x.max()).days),
        frequency=("order_id", "nunique"),
        monetary=("revenue_amount", "sum"),
    )
    rfm["r_score"] = pd.qcut(rfm["recency"].rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
    rfm["f_score"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    rfm["m_score"] = pd.qcut(rfm["monetary"], 5, labels=[1, 2, 3, 4, 5]).astype(int)
    rules = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "rfm_segment_rules.csv")
    rfm = rfm.reset_index().merge(rules, on=["r_score", "f_score", "m_score"], how="left")
    return {"seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu, "peak_mb": _peak_mb()}


def phase_compare(workdir: Path) -> dict:
    """Share of customers with identical scores and segment in both results."""
    import duckdb

    with duckdb.connect(str(workdir / "rfm.duckdb"), read_only=True) as con:
        row = con.execute(
            "select count(*), count(p.customer_id), avg(case when d.r_score = p.r_score and d.f_score = p.f_score "
            "and d.m_score = p.m_score and d.rfm_segment = p.rfm_segment then 1.0 else 0.0 end) "
            "from marts.customer_rfm d left join read_parquet(?) p using (customer_id)",
            [str(workdir / "pandas_rfm.parquet")],
        ).fetchone()
    return {"dbt_customers": row[0], "matched_customers": row[1], "agreement": row[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=5.0, help="mean orders per customer")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; the fastest is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / ".bench" / "rfm"))
    parser.add_argument("--skip-prepare", action="store_true", help="reuse the orders already in --workdir")
    parser.add_argument("--no-tutorial", action="store_true", help="skip the slow tutorial-style pandas run")
    parser.add_argument(
        "--phase", choices=["prepare", "dbt", "sql", "pandas", "tutorial", "compare"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    workdir = Path(args.workdir)
    if args.phase:
        result = {
            "prepare": lambda: phase_prepare(workdir, args.customers, args.orders_per_customer, args.seed),
            "dbt": lambda: phase_dbt(workdir),
            "sql": lambda: phase_sql(workdir),
            "pandas": lambda: phase_pandas(workdir),
            "tutorial": lambda: phase_tutorial(workdir),
            "compare": lambda: phase_compare(workdir),
        }[args.phase]()
        print(json.dumps(result))
        return

    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    if args.skip_prepare and (workdir / "rfm.duckdb").exists():
        print(f"orders    reusing the orders in {workdir}")
    else:
        prep = _child("prepare", args)
        print(
            f"orders    {prep['orders']:>12,} synthetic orders of {prep['customers']:,} customers "
            f"({prep['seconds']:.1f} s to generate)"
        )
    # interleaved, so that both sides see the same machine load
    dbt_runs, sql_runs, pandas_runs = [], [], []
    for _ in range(args.repeats):
        dbt_runs.append(_child("dbt", args))
        sql_runs.append(_child("sql", args))
        pandas_runs.append(_child("pandas", args))
    check = _child("compare", args)
    tutorial = None if args.no_tutorial else _child("tutorial", args)

    def best(runs: list[dict], key: str) -> float:
        return min(r[key] for r in runs)

    def peak(runs: list[dict]) -> float:
        return max(r["peak_mb"] for r in runs)

    model = best(dbt_runs, "model_seconds")
    sql, sql_cpu = best(sql_runs, "seconds"), best(sql_runs, "cpu_seconds")
    pandas, pandas_cpu = best(pandas_runs, "seconds"), best(pandas_runs, "cpu_seconds")
    pandas_run = min(pandas_runs, key=lambda r: r["seconds"])
    dbt_wall = best(dbt_runs, "wall_seconds")
    print(
        f"dbt       customer_rfm model {model:6.2f} s (dbt run_results); its SQL alone {sql:.2f} s, "
        f"{sql_cpu:.2f} CPU-s; whole dbt command {dbt_wall:.2f} s; "
        f"peak {peak(dbt_runs):,.0f} MB (dbt process), {peak(sql_runs):,.0f} MB (SQL alone)"
    )
    print(
        f"pandas    {pandas:6.2f} s (load {pandas_run['load_seconds']:.2f} s + groupby / rank / merge "
        f"{pandas_run['compute_seconds']:.2f} s), {pandas_cpu:.2f} CPU-s; peak {peak(pandas_runs):,.0f} MB"
    )
    print(
        f"check     {check['agreement'] * 100:.3f}% of {check['dbt_customers']:,} customers have the same scores "
        f"and segment in both"
    )
    print(
        f"ratio     customer_rfm is {pandas / model:.1f}x faster than pandas ({pandas / sql:.1f}x for its SQL "
        f"alone, {pandas_cpu / sql_cpu:.1f}x less CPU; whole dbt command {pandas / dbt_wall:.1f}x)"
        f"; peak memory {peak(pandas_runs) / peak(sql_runs):.1f}x lower ({peak(pandas_runs) / peak(dbt_runs):.1f}x "
        f"with dbt itself)"
    )
    if tutorial is not None:
        print(
            f"tutorial  {tutorial['seconds']:6.2f} s, {tutorial['cpu_seconds']:.2f} CPU-s, peak "
            f"{tutorial['peak_mb']:,.0f} MB: pandas as RFM tutorials write it (lambda per customer, nunique, "
            f"qcut; one run) -> customer_rfm is {tutorial['seconds'] / model:.0f}x faster"
        )
    print(f"machine   {os.cpu_count()} cores, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
