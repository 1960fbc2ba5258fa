"""The ``c360`` command: simulate data, prepare dbt, run the demo, summarise the warehouse."""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Paths

log = logging.getLogger("c360")


def cmd_simulate(args: argparse.Namespace) -> int:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    out = Path(args.out) if args.out else Paths.from_env().data_dir
    config = SimulationConfig(n_customers=args.customers, seed=args.seed,
                              erasure_requests=getattr(args, "erasure_requests", 0))
    summary = simulate(config, out)
    print(f"simulated {summary.persons:,} persons in {summary.seconds:.1f} s into {out}")
    for source, n in sorted(summary.rows.items()):
        print(f"  {source:<22} {n:>12,} rows  ({summary.malformed.get(source, 0):,} malformed)")
    return 0


def cmd_request_erasure(args: argparse.Namespace) -> int:
    """Drop an erasure request into the landing zone; the next run applies it."""
    import csv
    from datetime import UTC, datetime

    from orchestration.contracts import ERASURE_REQUESTS

    landing = Path(args.landing) if args.landing else Paths.from_env().landing_dir
    now = datetime.now(UTC).replace(tzinfo=None)
    request_id = args.request_id or f"ER-{now:%Y%m%d%H%M%S%f}"
    folder = landing / ERASURE_REQUESTS.name
    folder.mkdir(parents=True, exist_ok=True)
    # the loader refuses file names with anything but letters, digits, dot, dash, underscore
    path = folder / f"erasure_requests_{re.sub(r'[^A-Za-z0-9._-]', '_', request_id)}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ERASURE_REQUESTS.column_names)
        writer.writerow([request_id, f"{now:%Y-%m-%d %H:%M:%S}", args.identifier_type, args.value])
    print(f"request {request_id} written to {path}; the next run (make demo, or full_build in the UI) applies it")
    return 0


def prepare_dbt() -> None:
    """Parse the dbt project so Dagster can read its manifest (``target/manifest.json``)."""
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        check=True,
        cwd=DBT_PROJECT_DIR,
    )


def cmd_load_cdnow(args: argparse.Namespace) -> int:
    from orchestration.datasets.cdnow import DEFAULT_SOURCE, write_cdnow_landing

    landing = Path(args.out) / "landing" if args.out else Paths.from_env().landing_dir
    orders = write_cdnow_landing(Path(args.source) if args.source else DEFAULT_SOURCE, landing)
    print(f"wrote {orders:,} CDNOW orders as shop_orders landing files under {landing}")
    return 0


def cmd_evaluate_identity(args: argparse.Namespace) -> int:
    from orchestration.identity_eval import run_evaluate_identity

    paths = Paths.from_env()
    warehouse = Path(args.warehouse) if args.warehouse else paths.warehouse_path
    ground_truth = Path(args.ground_truth) if args.ground_truth else paths.ground_truth_dir
    return run_evaluate_identity(warehouse, ground_truth)


def cmd_evaluate_campaigns(args: argparse.Namespace) -> int:
    from orchestration.campaign_eval import run_evaluate_campaigns

    paths = Paths.from_env()
    warehouse = Path(args.warehouse) if args.warehouse else paths.warehouse_path
    ground_truth = Path(args.ground_truth) if args.ground_truth else paths.ground_truth_dir
    return run_evaluate_campaigns(warehouse, ground_truth)


def cmd_prepare(_: argparse.Namespace) -> int:
    prepare_dbt()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    paths = Paths.from_env()
    if not any(paths.landing_dir.glob("*/*")) or args.resimulate:
        ns = argparse.Namespace(customers=args.customers, seed=args.seed, out=str(paths.data_dir))
        cmd_simulate(ns)
    prepare_dbt()
    cmd_recover(args)
    dagster = Path(sys.executable).with_name("dagster")
    run = subprocess.run(
        [str(dagster), "job", "execute", "-m", "orchestration.definitions", "-j", "full_build"],
        cwd=PROJECT_ROOT,
    )
    cmd_summary(args)
    if run.returncode != 0:
        print("\nThe run failed: see the log above, or open the run in the Dagster UI (make ui).")
    return run.returncode


def cmd_recover(_: argparse.Namespace) -> int:
    """Mark runs killed mid-way as failed and free their warehouse pool slots."""
    import dagster as dg

    from orchestration.recovery import recover_interrupted_runs

    with dg.DagsterInstance.get() as instance:
        for run_id in recover_interrupted_runs(instance):
            print(f"recovered interrupted run {run_id}")
    return 0


def cmd_summary(_: argparse.Namespace) -> int:
    import duckdb

    paths = Paths.from_env()
    if not paths.warehouse_path.exists():
        print(f"no warehouse at {paths.warehouse_path}")
        return 1
    with duckdb.connect(str(paths.warehouse_path), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name, estimated_size from duckdb_tables() "
            "where database_name = current_database() order by 1, 2"
        ).fetchall()
        print(f"\nWarehouse: {paths.warehouse_path}")
        by_schema: dict[str, list[tuple[str, int]]] = {}
        for schema, table, _ in tables:
            n = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            by_schema.setdefault(schema, []).append((table, n))
        for schema, rows in by_schema.items():
            print(f"\n  {schema}: {len(rows)} tables, {sum(n for _, n in rows):,} rows")
            for table, n in rows:
                print(f"    {table:<44} {n:>12,}")
        if "raw" in by_schema:
            landed, loaded, rejected, erased = con.execute(
                "select sum(rows_landed), sum(rows_loaded), sum(rows_rejected), sum(rows_erased) "
                "from raw.load_manifest where is_current and status not in ('duplicate', 'refused')"
            ).fetchone()
            print(f"\n  landed {landed or 0:,} rows = loaded {loaded or 0:,} + rejected {rejected or 0:,}"
                  f" + erased {erased or 0:,}")
    print(
        "\nNext:\n"
        "  make ui        # Dagster UI on http://127.0.0.1:3000 (lineage, runs, checks)\n"
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{paths.warehouse_path}', read_only=True)"
        ".sql('select * from staging.stg_shop_orders__orders limit 5'))\"\n"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render the one-page HTML report from the published warehouse (what the `report` asset does)."""
    from orchestration.publish import open_published
    from orchestration.report import build_report

    paths = Paths.from_env()
    source = Path(args.published) if args.published else paths.published_path
    target = Path(args.out) if args.out else paths.report_path
    if not source.exists():
        print(f"no published warehouse at {source}: run `make demo` (or materialise the `publish` asset) first")
        return 1
    with open_published(source) as con:
        result = build_report(con, target)
    print(f"report: {result.path} ({result.size_bytes / 1e3:,.0f} kB); not available yet: "
          f"{', '.join(result.unavailable) or 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("C360_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="c360", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("simulate", help="write simulated landing files and ground truth")
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=None, help="output folder (default: $C360_DATA_DIR or ./data)")
    p.add_argument("--erasure-requests", type=int, default=0, help="persons asking to be forgotten (default 0)")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("request-erasure", help="land a right-to-erasure request for one identifier of a person")
    p.add_argument("--identifier-type", required=True,
                   help="email, phone, member_id, account_id, loyalty_card_number, device_id, cookie_id or open_id")
    p.add_argument("--value", required=True, help="the identifier, as the person gave it")
    p.add_argument("--request-id", default=None, help="your ticket id (default: ER-<timestamp>)")
    p.add_argument("--landing", default=None, help="landing folder (default: $C360_LANDING_DIR or data/landing)")
    p.set_defaults(func=cmd_request_erasure)
    p = sub.add_parser("load-cdnow", help="write the real CDNOW transactions as shop_orders landing files")
    p.add_argument("--source", default=None, help="CDNOW_master.txt (default: ../shared/data/cdnow/)")
    p.add_argument("--out", default=None, help="data folder (default: $C360_DATA_DIR or ./data)")
    p.set_defaults(func=cmd_load_cdnow)
    p = sub.add_parser("prepare", help="parse the dbt project (writes the manifest Dagster reads)")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("demo", help="simulate (if no landing data), then materialise everything")
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resimulate", action="store_true")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("evaluate-identity", help="identity resolution vs simulated ground truth (precision, recall)")
    p.add_argument("--warehouse", default=None, help="DuckDB file (default: $C360_WAREHOUSE_PATH or data/)")
    p.add_argument("--ground-truth", default=None, help="simulator ground_truth folder (default: data/ground_truth)")
    p.set_defaults(func=cmd_evaluate_identity)
    p = sub.add_parser("evaluate-campaigns", help="measured campaign lift vs simulated true uplift (CI coverage, MAE)")
    p.add_argument("--warehouse", default=None, help="DuckDB file (default: $C360_WAREHOUSE_PATH or data/)")
    p.add_argument("--ground-truth", default=None, help="simulator ground_truth folder (default: data/ground_truth)")
    p.set_defaults(func=cmd_evaluate_campaigns)
    p = sub.add_parser("recover", help="mark killed runs failed and free their pool slots")
    p.set_defaults(func=cmd_recover)
    p = sub.add_parser("summary", help="rows per layer of the warehouse")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("report", help="render the one-page HTML report from the published warehouse")
    p.add_argument("--published", default=None, help="published DuckDB file (default: data/published/c360.duckdb)")
    p.add_argument("--out", default=None, help="HTML file (default: beside the published file, report.html)")
    p.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
