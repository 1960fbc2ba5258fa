"""Print the fault table of issue #4 (Markdown), computed by running the fault corpus.

    .venv/bin/python -m tests.faults.fault_table [--customers 600] [--seed 11]

Simulates the same small landing zone as the tests, loads the baseline once, then runs every
fault of ``tests/faults/corpus.py`` through the real Dagster materialisation and its checks,
re-delivers the good file, and prints one row per fault: what happened, how many rows were
quarantined because of it, the row accounting of the delivery, and whether the next run passed.
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from orchestration.sample_data.simulator import SimulationConfig, simulate
from tests.faults.corpus import FAULTS, TABLE_HEAD, Deliveries, build_baseline, run_fault, table_row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    # Dagster logs every event of every run; the table is the output here.
    logging.getLogger("dagster").setLevel(logging.ERROR)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="c360-faults-") as tmp:
        root = Path(tmp)
        simulate(SimulationConfig(n_customers=args.customers, seed=args.seed), root / "sim")
        deliveries = Deliveries.from_simulation(root / "sim" / "landing")
        build_baseline(deliveries, root / "baseline")
        rows = []
        for i, fault in enumerate(FAULTS):
            run = run_fault(fault, deliveries, root / "baseline", root / f"case{i:02d}")
            rows.append(table_row(run))
            print(f"{i + 1}/{len(FAULTS)} {fault.name}: {run.outcome}", file=sys.stderr)
    sizes = ", ".join(f"{len(p):,}" for p in deliveries.parts)
    print(
        f"Fault corpus on simulated `shop_orders` ({args.customers} customers, seed {args.seed}): three good "
        f"deliveries loaded first, the fault injected into the fourth (lines per delivery: {sizes}); "
        f"{time.monotonic() - started:.0f} s.\n"
    )
    print(TABLE_HEAD)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
