"""The ``c360`` command: simulate data, prepare dbt, run the demo, summarise the warehouse."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Paths

log = logging.getLogger("c360")


def cmd_simulate(args: argparse.Namespace) -> int:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    out = Path(args.out) if args.out else Paths.from_env().data_dir
    summary = simulate(SimulationConfig(n_customers=args.customers, seed=args.seed), out)
    print(f"simulated {summary.persons:,} persons in {summary.seconds:.1f} s into {out}")
    for source, n in sorted(summary.rows.items()):
        print(f"  {source:<22} {n:>12,} rows  ({summary.malformed.get(source, 0):,} malformed)")
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
            landed, loaded, rejected = con.execute(
                "select sum(rows_landed), sum(rows_loaded), sum(rows_rejected) from raw.load_manifest "
                "where is_current and status not in ('duplicate', 'refused')"
            ).fetchone()
            print(f"\n  landed {landed or 0:,} rows = loaded {loaded or 0:,} + rejected {rejected or 0:,}")
    print(
        "\nNext:\n"
        "  make ui        # Dagster UI on http://127.0.0.1:3000 (lineage, runs, checks)\n"
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{paths.warehouse_path}', read_only=True)"
        ".sql('select * from staging.stg_shop_orders__orders limit 5'))\"\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("C360_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="c360", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("simulate", help="write simulated landing files and ground truth")
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=None, help="output folder (default: $C360_DATA_DIR or ./data)")
    p.set_defaults(func=cmd_simulate)
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
    p = sub.add_parser("recover", help="mark killed runs failed and free their pool slots")
    p.set_defaults(func=cmd_recover)
    p = sub.add_parser("summary", help="rows per layer of the warehouse")
    p.set_defaults(func=cmd_summary)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
