"""Benchmark: segmentation and churn training / scoring time and peak memory at scale.

    python benchmarks/models.py [--customers 1000000] [--seed 0] [--stages seg_train,seg_score,...]
                                [--warehouse data/warehouse.duckdb]

Customer-grain features stand in for ``marts.customer_features`` and
``marts.customer_feature_snapshots`` (the models only ever see customer-grain rows, so the
dbt side is not part of this benchmark): by default synthetic (every column of
orchestration.ml.features.FEATURES, five behavioural groups with a latent alive / dead
state); with ``--warehouse`` rows resampled with replacement from a simulated warehouse,
which keeps the real feature distribution (k-means needs more iterations on it than on
synthetic blobs, so those timings are the ones to quote).

Each stage runs in a fresh process (spawn) so that its peak resident memory (``ru_maxrss``
of the child, interpreter and libraries included) is its own:

* ``seg_train``  — train_segmentation with the default config (k 2..10 by silhouette on a
  20k sample, final k-means on ≤ 200k rows, stability, profiles, PCA) on N buyers;
* ``seg_score``  — load the saved model, score_frame and the segment profile on N buyers
  (what the customer_segments asset computes);
* ``churn_train`` — train_churn with the default config on 3 training cutoffs (1.5 N rows,
  sampled to 400k for fitting) and a test cutoff of N rows (all three candidates predicted
  on every test row, bootstrap CI, permutation importance on 5k rows);
* ``churn_score`` — load the saved model, score N buyers with risk bands and top drivers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestration.ml import churn, segmentation  # noqa: E402
from orchestration.ml.features import FEATURES, load_artifact, save_artifact  # noqa: E402

STAGES = ("seg_train", "seg_score", "churn_train", "churn_score")


def synthetic_features(n: int, seed: int) -> pd.DataFrame:
    """n buyers with every feature column; five groups differing in value, rhythm, channel and engagement."""
    rng = np.random.default_rng(seed)
    g = rng.choice(5, size=n, p=[0.1, 0.25, 0.2, 0.2, 0.25])
    alive = rng.random(n) < np.array([0.9, 0.6, 0.6, 0.7, 0.3])[g]
    rate = rng.gamma(2.0, np.array([1 / 30, 1 / 100, 1 / 300, 1 / 120, 1 / 150])[g] / 2.0)  # orders / day
    tenure = rng.uniform(30, 730, n)
    dead_for = np.where(alive, 0.0, rng.uniform(0, tenure))
    orders = 1 + rng.poisson(rate * (tenure - dead_for))
    recency = np.minimum(tenure, dead_for + rng.exponential(1 / rate))
    aov = np.exp(rng.normal(np.log(np.array([450, 150, 500, 200, 220])[g]), 0.35))
    mix = np.array(
        [[0.35, 0.35, 0.05, 0.25], [0.3, 0.3, 0.3, 0.1], [0.4, 0.1, 0.25, 0.25], [0.08, 0.82, 0.05, 0.05],
         [0.4, 0.2, 0.2, 0.2]]
    )[g]  # fmt: skip
    shares = rng.gamma(mix * 8 + 1e-3)
    shares /= shares.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.arange(n).astype(str)),
            "is_buyer": True,
            "recency_days": recency.round(),
            "order_count": orders,
            "monetary_total": orders * aov,
            "average_order_value": aov,
            "tenure_days": tenure.round(),
            "mean_interpurchase_days": np.where(orders > 1, (tenure - recency) / np.maximum(orders - 1, 1), np.nan),
            "interpurchase_cv": np.where(orders > 2, rng.gamma(4, 0.2, n), np.nan),
            "orders_per_year": orders * 365.25 / np.maximum(tenure, 30),
            "orders_last_90_days": rng.poisson(np.where(alive, rate * 90, 0)),
            "orders_last_365_days": rng.poisson(np.where(alive, rate * 365, rate * np.clip(365 - dead_for, 0, None))),
            "revenue_last_365_days": rng.poisson(np.where(alive, rate * 365, 0)) * aov,
            "web_order_share": shares[:, 0],
            "app_order_share": shares[:, 1],
            "marketplace_order_share": shares[:, 2],
            "store_order_share": shares[:, 3],
            "discount_share": rng.beta(np.array([1.5, 6, 2, 3, 2.5])[g], 30),
            "coupon_order_share": rng.beta(np.array([1.5, 6, 2, 3, 2.5])[g], 6),
            "return_rate": rng.beta(1, 15, n),
            "email_open_rate": rng.beta(np.array([4.5, 3, 2, 1.2, 1.5])[g], 6),
            "email_click_rate": rng.beta(1, 12, n),
            "push_open_rate": rng.beta(1.5, 6, n),
            "sms_click_rate": rng.beta(0.5, 12, n),
            "web_sessions_last_90_days": rng.poisson(np.where(alive, np.array([1.3, 1.0, 0.5, 0.1, 0.6])[g], 0)),
            "app_sessions_last_90_days": rng.poisson(np.where(alive, np.array([1.5, 0.8, 0.1, 3.0, 0.4])[g], 0)),
            "product_views_last_30_days": rng.poisson(np.where(alive, 2.0, 0.1)),
            "cart_abandonment_rate": rng.beta(2, 5, n),
            "days_since_last_engagement": np.where(alive, rng.exponential(20, n), dead_for + rng.exponential(45, n)),
            "days_since_last_web_session": rng.exponential(150, n),
            "days_since_last_app_session": rng.exponential(150, n),
            "days_since_last_email_open": np.where(rng.random(n) < 0.4, rng.exponential(200, n), np.nan),
            "days_since_last_sms_click": np.where(rng.random(n) < 0.05, rng.exponential(200, n), np.nan),
            "days_since_last_push_open": np.where(rng.random(n) < 0.2, rng.exponential(120, n), np.nan),
            "days_since_last_social_interaction": np.where(rng.random(n) < 0.1, rng.exponential(150, n), np.nan),
            "social_interactions_last_365_days": rng.poisson(0.2, n),
            "ticket_count": rng.poisson(0.3, n),
            "mean_csat_score": np.where(rng.random(n) < 0.2, rng.integers(1, 6, n), np.nan),
            "is_member": rng.random(n) < np.array([0.95, 0.5, 0.3, 0.55, 0.45])[g],
            "favourite_category_share": rng.uniform(0.2, 1.0, n),
            "distinct_category_count": rng.integers(1, 9, n),
            "as_of_date": pd.Timestamp("2026-06-30"),
        }
    )
    frame["recency_to_interpurchase_ratio"] = frame["recency_days"] / frame["mean_interpurchase_days"]
    buys_again = alive & (rng.random(n) < 1 - np.exp(-rate * 90))
    frame["is_churned"] = ~buys_again
    missing = set(FEATURES) - set(frame.columns)
    assert not missing, missing
    return frame


def resampled_features(warehouse: str, n: int, seed: int, role: str) -> pd.DataFrame:
    """n rows drawn with replacement from a real warehouse's customer-grain features.

    ``role``: ``score`` (buyers of marts.customer_features), ``train`` or ``test`` (rows of
    marts.customer_feature_snapshots). Keeps the real feature distribution, so k-means and the
    gradient boosting converge as they would on production data (synthetic blobs are easier).
    """
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as con:
        if role == "score":
            frame = con.execute("select * from marts.customer_features where is_buyer").df()
        else:
            frame = con.execute("select * from marts.customer_feature_snapshots where snapshot_role = ?", [role]).df()
    rng = np.random.default_rng(seed)
    out = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
    out["customer_id"] = np.char.add("C", np.arange(n).astype(str))
    return out


def _data(args: tuple[int, int, str | None], role: str, offset: int, size: int | None = None) -> pd.DataFrame:
    n, seed, warehouse = args
    rows = size or n
    if warehouse:
        return resampled_features(warehouse, rows, seed + offset, role)
    return synthetic_features(rows, seed + offset)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _run_stage(stage: str, n: int, seed: int, warehouse: str | None, workdir: str, queue: mp.Queue) -> None:
    work = Path(workdir)
    src = (n, seed, warehouse)
    out: dict[str, object] = {"stage": stage, "customers": n, "data": "resampled" if warehouse else "synthetic"}
    if stage == "seg_train":
        frame = _data(src, "score", 0)
        start = time.perf_counter()
        result = segmentation.train_segmentation(frame)
        out["seconds"] = time.perf_counter() - start
        save_artifact(result.model, work / "segmentation.joblib")
        out.update(
            {k: result.metrics[k] for k in ("k", "elbow_k", "silhouette", "seed_ari_mean", "bootstrap_ari_mean")}
        )
    elif stage == "seg_score":
        frame = _data(src, "score", 1)
        model = load_artifact(work / "segmentation.joblib")
        start = time.perf_counter()
        scored = model.score_frame(frame)
        model.profile(frame, scored["segment_id"].to_numpy())
        out["seconds"] = time.perf_counter() - start
        out["segments"] = int(scored["segment_id"].nunique())
    elif stage == "churn_train":
        train = pd.concat([_data(src, "train", 10 + i, n // 2) for i in range(3)], ignore_index=True)
        test = _data(src, "test", 20)
        start = time.perf_counter()
        result = churn.train_churn(train, test, horizon_days=90)
        out["seconds"] = time.perf_counter() - start
        save_artifact(result.model, work / "churn.joblib")
        metrics = churn.summary_metrics(result)
        out.update({"train_rows": len(train), "test_rows": len(test), "chosen": result.chosen})
        out.update({k: metrics[k] for k in ("roc_auc", "recency_baseline_roc_auc", "brier")})
    elif stage == "churn_score":
        frame = _data(src, "score", 30)
        model = load_artifact(work / "churn.joblib")
        start = time.perf_counter()
        scores = model.score(frame)
        out["seconds"] = time.perf_counter() - start
        out["high_risk_share"] = float((scores["risk_band"] == "high").mean())
    out["peak_rss_mb"] = _peak_mb()
    queue.put(out)


def _wait(proc: mp.process.BaseProcess, queue: mp.Queue) -> dict[str, object]:
    """The stage's result, or an error record if the child died without one (no hang)."""
    while True:
        try:
            return queue.get(timeout=5)
        except Empty:
            if not proc.is_alive():
                return {"error": f"stage process exited with code {proc.exitcode}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument(
        "--warehouse",
        default=None,
        help="resample rows of this (simulated) warehouse's customer_features / feature snapshots "
        "instead of synthetic blobs",
    )
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for stage in args.stages.split(","):
            queue: mp.Queue = ctx.Queue()
            stage_args = (stage, args.customers, args.seed, args.warehouse, workdir, queue)
            proc = ctx.Process(target=_run_stage, args=stage_args)
            proc.start()
            res = _wait(proc, queue)
            proc.join()
            results.append(res)
            print(json.dumps(res, default=str), flush=True)  # a CLI: stdout is the report
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
