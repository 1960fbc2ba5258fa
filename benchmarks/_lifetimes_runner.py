"""Fit lifetimes 0.11.3 on the benchmark data; run by clv_fit.py inside .bench/lifetimes-venv.

Usage: python _lifetimes_runner.py DATA.npz [--pareto]. Prints one JSON object on stdout with
fit times (wall and CPU seconds), fitted parameters and lifetimes' own reported log-likelihood (a mean per
customer on lifetimes' internally rescaled time, so not comparable with the papers' totals).
This file must not import anything from c360: it runs with lifetimes' old numpy / pandas.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

warnings.simplefilter("ignore")


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    model = fn()
    return model, {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def _reported_ll(model) -> float:
    return float(-model._negative_log_likelihood_)


def main() -> None:
    path = sys.argv[1]
    with_pareto = "--pareto" in sys.argv[2:]
    data = np.load(path)
    x, tx, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    out: dict[str, dict] = {}

    bg, seconds = _timed(lambda: BetaGeoFitter().fit(x, tx, T))
    out["bgnbd_all_rows"] = {
        **seconds,
        "params": bg.params_.to_dict(),
        "reported_ll": _reported_ll(bg),
    }

    # the same fit on unique (frequency, recency, T) triples with counts as weights
    triples = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts().reset_index(name="w")
    bgw, seconds = _timed(
        lambda: BetaGeoFitter().fit(triples["x"], triples["tx"], triples["T"], weights=triples["w"])
    )
    out["bgnbd_weighted"] = {
        **seconds,
        "params": bgw.params_.to_dict(),
        "reported_ll": _reported_ll(bgw),
        "rows": len(triples),
    }

    repeat = x > 0
    gg, seconds = _timed(lambda: GammaGammaFitter().fit(x[repeat], m[repeat]))
    out["gamma_gamma"] = {**seconds, "params": gg.params_.to_dict(), "reported_ll": _reported_ll(gg)}

    if with_pareto:
        pn, seconds = _timed(
            lambda: ParetoNBDFitter().fit(triples["x"], triples["tx"], triples["T"], weights=triples["w"])
        )
        out["pareto_weighted"] = {
            **seconds,
            "params": pn.params_.to_dict(),
            "reported_ll": _reported_ll(pn),
        }

    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
