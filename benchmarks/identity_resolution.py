"""Identity resolution benchmark: the dbt identity models at scale vs networkx in Python.

    python benchmarks/identity_resolution.py --customers 1000000

Phases, each in its own process so that its peak memory (max RSS) is its own:

1. simulate N customers (skipped when the work folder already has them);
2. ingest every source and build staging with dbt (skipped when already done);
3. the identity build: `dbt run` of models/intermediate/identity and models/marts/identity
   from scratch (the stateful anchors table is dropped first), timed per model from dbt's
   run_results.json; then the component model is run again alone (best of two), since in
   the full build it shares the two cores with the model dbt's other thread runs;
4. the same connected components with networkx: read the very edges the SQL loop used
   (intermediate.int_identifier_edges_filtered) and the linking nodes into Python, build an
   undirected graph, run connected_components. The partition is checked against the SQL one.

The headline ratio compares like with like: networkx (read + build + components) against the
SQL component model (int_identifier_components_labelled: the propagation loop and its output
table). The whole identity build (collection, guards, clusters, ids, marts) is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = ROOT / "dbt_project"
IDENTITY_MODELS = ["path:models/intermediate/identity", "path:models/marts/identity"]
IDENTITY_SEEDS = ["identity_junk_values", "identity_guard_limits"]
COMPONENTS_MODEL = "int_identifier_components_labelled"
#: the project's profile plus a memory cap, so that the benchmark shares the machine politely
BENCH_PROFILE = """\
c360:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{{{{ env_var('C360_WAREHOUSE_PATH') }}}}"
      schema: main
      threads: 2
      settings:
        memory_limit: "{memory_limit}"
        preserve_insertion_order: false
"""


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _child(phase: str, args: argparse.Namespace) -> dict:
    """Run one phase in a fresh interpreter and return the JSON line it prints last."""
    command = [sys.executable, __file__, "--phase", phase, "--workdir", str(args.workdir),
               "--customers", str(args.customers)]  # fmt: skip
    out = subprocess.run(command, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-5000:] + out.stderr[-5000:])
        raise SystemExit(f"phase {phase} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dbt(args: list[str], warehouse: Path, workdir: Path) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(workdir),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "C360_WAREHOUSE_PATH": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-8000:])
        raise SystemExit(f"dbt {args[0]} failed")
    return result


# ----------------------------------------------------------------------------- phases


def phase_simulate(workdir: Path, customers: int) -> dict:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    summary = simulate(SimulationConfig(n_customers=customers, seed=7), workdir / "sim")
    return {"seconds": summary.seconds, "rows": sum(summary.rows.values()), "peak_mb": _peak_mb()}


def phase_prepare(workdir: Path, customers: int) -> dict:
    """Ingest every source, then build staging and the identity seeds (not timed as identity)."""
    import duckdb

    from orchestration.contracts import SOURCES
    from orchestration.ingestion import load_source

    warehouse = workdir / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    start = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set memory_limit = '6GB'")
        for source in SOURCES:
            load_source(con, source, workdir / "sim" / "landing")
    ingest = time.perf_counter() - start
    start = time.perf_counter()
    _dbt(["seed", "--select", *IDENTITY_SEEDS], warehouse, workdir)
    _dbt(["run", "--select", "path:models/staging"], warehouse, workdir)
    return {"ingest_seconds": ingest, "staging_seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}


def phase_identity(workdir: Path, customers: int) -> dict:
    """The identity build from scratch, timed; peak memory is the dbt process's (DuckDB inside)."""
    import duckdb

    warehouse = workdir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        # a first run: no previous customer-id state
        con.execute("drop table if exists intermediate.int_customer_anchors_assigned")
    start = time.perf_counter()
    _dbt(["run", "--select", *IDENTITY_MODELS], warehouse, workdir)
    seconds = time.perf_counter() - start
    results = json.loads((workdir / "target" / "run_results.json").read_text())
    per_model = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in results["results"]}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stats = dict(
            con.execute(
                "select metric_name, metric_value from marts.identity_resolution_report "
                "where report_section = 'summary'"
            ).fetchall()
        )
    peak = _peak_mb(resource.RUSAGE_CHILDREN)
    # the component model again, alone: in the full build it shares the two cores with
    # whatever model dbt's second thread runs, networkx below runs alone
    solo = []
    for _ in range(2):
        _dbt(["run", "--select", COMPONENTS_MODEL], warehouse, workdir)
        results = json.loads((workdir / "target" / "run_results.json").read_text())
        solo.append(results["results"][0]["execution_time"])
    return {"seconds": seconds, "per_model": per_model, "summary": stats, "peak_mb": peak, "components_solo": min(solo)}


def phase_networkx(workdir: Path, customers: int) -> dict:
    """Connected components of the same graph with networkx, checked against the SQL labels."""
    try:
        import networkx as nx
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "networkx"], check=True)
        import networkx as nx
    import duckdb
    import numpy as np

    warehouse = workdir / "warehouse.duckdb"
    start = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        nodes = con.execute(f"select node_id from intermediate.{COMPONENTS_MODEL}").fetchnumpy()["node_id"]
        edges = con.execute(
            "select node_id, neighbour_node_id from intermediate.int_identifier_edges_filtered "
            "where node_id < neighbour_node_id"
        ).fetchnumpy()
    read = time.perf_counter() - start
    start = time.perf_counter()
    graph = nx.Graph()
    graph.add_nodes_from(nodes.tolist())
    graph.add_edges_from(zip(edges["node_id"].tolist(), edges["neighbour_node_id"].tolist(), strict=True))
    build = time.perf_counter() - start
    start = time.perf_counter()
    components = list(nx.connected_components(graph))
    solve = time.perf_counter() - start
    peak = _peak_mb()
    # same partition as SQL? label every node with its component's smallest node id and compare
    label = np.empty(int(nodes.max()) + 1 if len(nodes) else 0, dtype=np.int64)
    for component in components:
        members = np.fromiter(component, dtype=np.int64, count=len(component))
        label[members] = members.min()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sql = con.execute(f"select node_id, component_id from intermediate.{COMPONENTS_MODEL}").fetchnumpy()
    same = bool(np.array_equal(label[sql["node_id"]], sql["component_id"]))
    return {
        "read_seconds": read, "build_seconds": build, "components_seconds": solve,
        "seconds": read + build + solve, "nodes": len(nodes), "edges": len(edges["node_id"]),
        "components": len(components), "same_partition": same, "peak_mb": peak,
    }  # fmt: skip


PHASES = {
    "simulate": phase_simulate,
    "prepare": phase_prepare,
    "identity": phase_identity,
    "networkx": phase_networkx,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="default: /tmp/c360_identity_bench_<customers>")
    parser.add_argument("--fresh", action="store_true", help="re-simulate and re-ingest even if the workdir has data")
    parser.add_argument("--memory-limit", default="10GB", help="DuckDB memory_limit for the dbt runs (default 10GB)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir = args.workdir or Path(f"/tmp/c360_identity_bench_{args.customers}")
    sys.path.insert(0, str(ROOT))

    if args.phase:
        print(json.dumps(PHASES[args.phase](args.workdir, args.customers)))
        return

    if args.fresh and args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "profiles.yml").write_text(BENCH_PROFILE.format(memory_limit=args.memory_limit))
    print(
        f"identity resolution benchmark, {args.customers:,} customers, workdir {args.workdir}, "
        f"DuckDB memory_limit {args.memory_limit}"
    )
    if not (args.workdir / "sim" / "ground_truth" / "records.parquet").exists():
        sim = _child("simulate", args)
        print(f"  simulate     {sim['seconds']:>8.1f} s  {sim['rows']:,} landing rows")
        (args.workdir / "warehouse.duckdb").unlink(missing_ok=True)
    if not (args.workdir / "warehouse.duckdb").exists():
        prep = _child("prepare", args)
        print(f"  ingest       {prep['ingest_seconds']:>8.1f} s   staging {prep['staging_seconds']:.1f} s")

    identity = _child("identity", args)
    summary = identity["summary"]
    print(
        f"\n  graph: {summary.get('identifiers', 0):,.0f} identifiers, {summary.get('graph_edges', 0):,.0f} edges, "
        f"{summary.get('customers', 0):,.0f} customers, {summary.get('convergence_passes', 0):.0f} passes to converge"
    )
    peak = identity["peak_mb"]
    print(f"  dbt identity build, all identity models  {identity['seconds']:>8.1f} s   peak {peak:,.0f} MB")
    for model, seconds in sorted(identity["per_model"].items(), key=lambda kv: -kv[1]):
        print(f"      {model:<42} {seconds:>8.2f} s")
    sql_components = min(identity["components_solo"], identity["per_model"][COMPONENTS_MODEL])
    print(f"      {COMPONENTS_MODEL} alone (best of 2)  {identity['components_solo']:>8.2f} s")

    nx_result = _child("networkx", args)
    print(
        f"\n  networkx connected components            {nx_result['seconds']:>8.1f} s   "
        f"peak {nx_result['peak_mb']:,.0f} MB"
        f"\n      read edges {nx_result['read_seconds']:.1f} s, build graph {nx_result['build_seconds']:.1f} s, "
        f"components {nx_result['components_seconds']:.1f} s; {nx_result['components']:,} components, "
        f"same partition as SQL: {nx_result['same_partition']}"
    )
    ratio = nx_result["seconds"] / sql_components if sql_components else float("inf")
    print(
        f"\n  SQL components ({COMPONENTS_MODEL}, best of 3) {sql_components:.1f} s "
        f"vs networkx {nx_result['seconds']:.1f} s: {ratio:.1f}x faster (target >= 5x)"
    )
    print(
        f"  whole identity build {identity['seconds']:.1f} s vs networkx components alone "
        f"{nx_result['seconds']:.1f} s: {nx_result['seconds'] / identity['seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
