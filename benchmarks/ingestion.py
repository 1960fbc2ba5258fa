"""Ingestion benchmark: simulate N customers, ingest every source, compare with a bare DuckDB read.

    python benchmarks/ingestion.py --customers 1000000

Each phase runs in its own process so that its peak memory (max RSS) is its own. The floor
is DuckDB reading the same files straight into tables (`create table as select * from
read_csv([...])`, types auto-detected): what loading costs with no checksums, no row
accounting, no rejects and no typing against the contract.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(phase: str, workdir: Path, customers: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--workdir", str(workdir), "--customers", str(customers)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_simulate(workdir: Path, customers: int) -> dict:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    summary = simulate(SimulationConfig(n_customers=customers, seed=7), workdir)
    return {"seconds": summary.seconds, "rows": sum(summary.rows.values()), "peak_mb": _peak_mb()}


def phase_ingest(workdir: Path, customers: int) -> dict:
    import duckdb

    from orchestration.contracts import SOURCES
    from orchestration.ingestion import load_source

    db = workdir / "ingest.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("set memory_limit = '6GB'")
    start = time.perf_counter()
    loaded = rejected = 0
    per_source = {}
    for source in SOURCES:
        t = time.perf_counter()
        result = load_source(con, source, workdir / "landing")
        loaded += result.rows_loaded
        rejected += result.rows_rejected
        per_source[source] = round(time.perf_counter() - t, 2)
    seconds = time.perf_counter() - start
    con.close()
    return {"seconds": seconds, "rows": loaded + rejected, "loaded": loaded, "rejected": rejected,
            "per_source": per_source, "peak_mb": _peak_mb()}


def phase_floor(workdir: Path, customers: int) -> dict:
    import duckdb

    from orchestration.contracts import SOURCES

    db = workdir / "floor.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("set memory_limit = '6GB'")
    start = time.perf_counter()
    rows = 0
    for source in SOURCES:
        files = sorted(str(p) for p in (workdir / "landing" / source).glob("*.csv"))
        if not files:
            continue
        con.execute(
            f"create table {source} as select * from read_csv($files, header = true, ignore_errors = true, "
            "union_by_name = true)",
            {"files": files},
        )
        rows += con.execute(f"select count(*) from {source}").fetchone()[0]
    seconds = time.perf_counter() - start
    con.close()
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--workdir", default=str(ROOT / ".bench" / "ingestion"))
    parser.add_argument("--skip-simulate", action="store_true", help="reuse the files already in --workdir")
    parser.add_argument("--phase", choices=["simulate", "ingest", "floor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    if args.phase:
        fn = {"simulate": phase_simulate, "ingest": phase_ingest, "floor": phase_floor}[args.phase]
        print(json.dumps(fn(workdir, args.customers)))
        return

    workdir.mkdir(parents=True, exist_ok=True)
    if not args.skip_simulate:
        sim = _child("simulate", workdir, args.customers)
        print(f"simulate  {args.customers:>10,} customers  {sim['rows']:>12,} rows  {sim['seconds']:8.1f} s  "
              f"peak {sim['peak_mb']:,.0f} MB")
    size = sum(p.stat().st_size for p in (workdir / "landing").rglob("*") if p.is_file()) / 2**20
    ing = _child("ingest", workdir, args.customers)
    floor = _child("floor", workdir, args.customers)
    print(f"ingest    {ing['rows']:>12,} rows ({ing['rejected']:,} rejected)  {ing['seconds']:8.1f} s  "
          f"{ing['rows'] / ing['seconds']:>12,.0f} rows/s  peak {ing['peak_mb']:,.0f} MB  ({size:,.0f} MB of files)")
    print(f"floor     {floor['rows']:>12,} rows  {floor['seconds']:8.1f} s  "
          f"{floor['rows'] / floor['seconds']:>12,.0f} rows/s  peak {floor['peak_mb']:,.0f} MB  (bare read_csv)")
    print(f"ratio     c360 ingestion takes {ing['seconds'] / floor['seconds']:.2f}x the bare DuckDB read "
          f"({(floor['seconds'] / ing['seconds']) * 100:.0f}% of floor throughput)")
    print("per source (s): " + ", ".join(f"{k} {v}" for k, v in ing["per_source"].items()))


if __name__ == "__main__":
    main()
