"""Benchmark: fitting BG/NBD, Gamma-Gamma (and Pareto/NBD) with c360 vs lifetimes 0.11.3.

    python benchmarks/clv_fit.py [--customers 1000000] [--seed 0] [--lifetimes-pareto] [--skip-lifetimes]

1. Simulates a Q1-acquisition cohort observed for 39 weeks (CDNOW-like): BG/NBD purchases
   at the published CDNOW parameters, recency and T in whole days (expressed in weeks), and
   Gamma-Gamma spends for repeat customers.
2. Fits BG/NBD, Gamma-Gamma and Pareto/NBD with orchestration.ml.clv (best of 3 for the fast
   fits; the time includes collapsing customers to unique (frequency, recency, T) triples).
3. Fits lifetimes 0.11.3 in its own virtual environment (.bench/lifetimes-venv, created with
   python3.11 -m venv on first use and reused afterwards, since lifetimes needs numpy 1.26 /
   pandas 1.5) on the same data: BG/NBD on all rows as a user would, and on unique triples
   with weights; Gamma-Gamma on repeat customers; Pareto/NBD only with --lifetimes-pareto
   (it takes minutes).
4. Prints times, speed ratios, parameters side by side and the total log-likelihood of every
   parameter set evaluated with c360's likelihood (lifetimes reports a per-customer mean on
   rescaled time, which is not comparable).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestration.ml.clv import (  # noqa: E402
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    simulate_beta_geo,
    simulate_gamma_gamma,
)
from orchestration.ml.clv._common import aggregate_unique  # noqa: E402
from orchestration.ml.clv.pareto_nbd import _pareto_loglik, _ParetoData  # noqa: E402

BENCH_DIR = ROOT / ".bench"
VENV_DIR = BENCH_DIR / "lifetimes-venv"
REQUIREMENTS = [
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "pandas==1.5.3",
    "scipy==1.11.4",
    "matplotlib==3.7.5",
    "autograd",
]
RUNNER = Path(__file__).resolve().parent / "_lifetimes_runner.py"

TRUE_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
CALIBRATION_DAYS = 272  # 1 January to 30 September


def simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, 90, n)
    t_days = CALIBRATION_DAYS - first_day
    sim = simulate_beta_geo(n, **TRUE_BG, T=t_days / 7.0, seed=rng)
    x = sim["frequency"].to_numpy()
    # purchases are recorded by day: a repeat purchase is on day 1 or later
    tx_days = np.where(x > 0, np.clip(np.ceil(sim["recency"].to_numpy() * 7.0 - 1e-9), 1, t_days), 0)
    spend = simulate_gamma_gamma(x, **TRUE_GG, seed=rng)
    return {
        "frequency": x.astype(np.int64),
        "recency": tx_days / 7.0,
        "T": t_days / 7.0,
        "monetary_value": spend,
    }


def ensure_lifetimes_venv() -> Path:
    """Create (once) the virtual environment with lifetimes and its old dependencies."""
    python = VENV_DIR / "bin" / "python"
    marker = VENV_DIR / ".c360-requirements"
    spec = "\n".join(REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == spec:
        return python
    interpreter = shutil.which("python3.11")
    if interpreter is None:
        raise SystemExit("python3.11 is needed to build the lifetimes environment")
    print(f"creating {VENV_DIR} (first run only) ...", flush=True)
    subprocess.run([interpreter, "-m", "venv", "--clear", str(VENV_DIR)], check=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    marker.write_text(spec)
    return python


def timed(repeats: int, fit: Callable[[], object]) -> dict:
    """Best-of-``repeats`` wall and CPU seconds (the machine may be shared) and the fitted params."""
    wall, cpu, model = np.inf, np.inf, None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        model = fit()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return {"seconds": wall, "cpu_seconds": cpu, "params": model.params_}


def total_ll_bg(params: dict[str, float], triples: list[np.ndarray], w: np.ndarray) -> float:
    theta = np.array([params[k] for k in ("r", "alpha", "a", "b")])
    return float(w @ BetaGeo._loglik(theta, *triples)[0])


def total_ll_gg(params: dict[str, float], x: np.ndarray, m: np.ndarray) -> float:
    theta = np.array([params[k] for k in ("p", "q", "v")])
    return float(GammaGamma._loglik(theta, x, m)[0].sum())


def total_ll_pareto(params: dict[str, float], triples: list[np.ndarray], w: np.ndarray) -> float:
    theta = np.array([params[k] for k in ("r", "alpha", "s", "beta")])
    return float(w @ _pareto_loglik(theta, _ParetoData(*triples))[0])


def table(title: str, columns: list[str], rows: list[tuple[str, list[str]]]) -> None:
    cells = [c for _, row in rows for c in row]
    width = max(len(c) for c in [*columns, *cells]) + 3
    label = max(len(r[0]) for r in rows) + 2
    print(f"\n{title}")
    print(" " * label + "".join(c.rjust(width) for c in columns))
    for name, row in rows:
        print(name.ljust(label) + "".join(c.rjust(width) for c in row))


def time_rows(fits: list[dict]) -> list[tuple[str, list[str]]]:
    """Wall and CPU seconds for each column (blank for the truth column)."""
    return [
        (label, [f"{f[key]:.3f}" if key in f else "" for f in fits])
        for label, key in (("fit time, wall (s)", "seconds"), ("fit time, CPU (s)", "cpu_seconds"))
    ]


def _ratio(theirs: dict, ours: dict) -> str:
    return f"{theirs['seconds'] / ours['seconds']:.1f}x | {theirs['cpu_seconds'] / ours['cpu_seconds']:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-lifetimes", action="store_true", help="only time c360")
    parser.add_argument(
        "--lifetimes-pareto", action="store_true", help="also fit lifetimes' Pareto/NBD (slow)"
    )
    args = parser.parse_args()

    BENCH_DIR.mkdir(exist_ok=True)
    start = time.perf_counter()
    data = simulate(args.customers, args.seed)
    x, tx, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    repeat = x > 0
    triples, weights = aggregate_unique([x.astype(float), tx, T], np.ones(len(x)))
    print(
        f"simulated {len(x):,} customers in {time.perf_counter() - start:.1f} s: "
        f"{len(weights):,} unique (frequency, recency, T), {repeat.sum():,} repeat customers, "
        f"mean frequency {x.mean():.3f}"
    )

    ours = {
        "bg": timed(3, lambda: BetaGeo().fit(x, tx, T)),
        "bg_weighted": timed(3, lambda: BetaGeo().fit(*triples, weights=weights)),
        "gg": timed(3, lambda: GammaGamma().fit(x[repeat], m[repeat])),
        "pareto": timed(1, lambda: ParetoNBD().fit(x, tx, T)),
    }
    print(
        "c360 wall / CPU seconds: "
        + ", ".join(f"{k} {v['seconds']:.3f} / {v['cpu_seconds']:.3f}" for k, v in ours.items())
    )

    lt: dict[str, dict] = {}
    if not args.skip_lifetimes:
        python = ensure_lifetimes_venv()
        path = BENCH_DIR / f"clv_data_{args.customers}_{args.seed}.npz"
        np.savez(path, **data)
        cmd = [str(python), str(RUNNER), str(path)] + (["--pareto"] if args.lifetimes_pareto else [])
        print("running lifetimes 0.11.3 ...", flush=True)
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        lt = json.loads(done.stdout)

    truth_bg = {"params": TRUE_BG}
    # c360 and lifetimes each on all rows (a user's call) and on unique triples with weights
    fits = [truth_bg, ours["bg"], ours["bg_weighted"], lt.get("bgnbd_all_rows"), lt.get("bgnbd_weighted")]
    cols = ["truth", "c360", "c360 weighted", "lifetimes", "lifetimes weighted"]
    fits, cols = [f for f in fits if f], [c for f, c in zip(fits, cols, strict=True) if f]
    rows = [(k, [f"{f['params'][k]:.5f}" for f in fits]) for k in ("r", "alpha", "a", "b")]
    rows.append(
        ("total LL (c360 likelihood)", [f"{total_ll_bg(f['params'], triples, weights):.3f}" for f in fits])
    )
    rows += time_rows(fits)
    if lt:  # lifetimes on all rows against c360 on all rows, weighted against weighted
        rows.append(
            (
                "lifetimes / c360, wall | CPU",
                [
                    "",
                    "",
                    "",
                    _ratio(lt["bgnbd_all_rows"], ours["bg"]),
                    _ratio(lt["bgnbd_weighted"], ours["bg_weighted"]),
                ],
            )
        )
        rows.append(
            (
                "lifetimes reported LL",
                ["", "", "", *(f"{lt[k]['reported_ll']:.6f}" for k in ("bgnbd_all_rows", "bgnbd_weighted"))],
            )
        )
    table(f"BG/NBD on {len(x):,} customers ({len(weights):,} unique triples)", cols, rows)

    fits = [f for f in ({"params": TRUE_GG}, ours["gg"], lt.get("gamma_gamma")) if f]
    cols = ["truth", "c360", "lifetimes"][: len(fits)]
    rows = [(k, [f"{f['params'][k]:.5f}" for f in fits]) for k in ("p", "q", "v")]
    rows.append(
        (
            "total LL (c360 likelihood)",
            [f"{total_ll_gg(f['params'], x[repeat], m[repeat]):.3f}" for f in fits],
        )
    )
    rows += time_rows(fits)
    if lt:
        rows.append(("lifetimes / c360, wall | CPU", ["", "", _ratio(lt["gamma_gamma"], ours["gg"])]))
    table(f"Gamma-Gamma on {repeat.sum():,} repeat customers", cols, rows)

    fits = [f for f in (ours["pareto"], lt.get("pareto_weighted")) if f]
    cols = ["c360", "lifetimes weighted"][: len(fits)]
    rows = [(k, [f"{f['params'][k]:.5f}" for f in fits]) for k in ("r", "alpha", "s", "beta")]
    rows.append(
        (
            "total LL (c360 likelihood)",
            [f"{total_ll_pareto(f['params'], triples, weights):.3f}" for f in fits],
        )
    )
    rows += time_rows(fits)
    if "pareto_weighted" in lt:
        rows.append(("lifetimes / c360, wall | CPU", ["", _ratio(lt["pareto_weighted"], ours["pareto"])]))
    table(f"Pareto/NBD on the same (BG/NBD-generated) data, {len(x):,} customers", cols, rows)


if __name__ == "__main__":
    main()
