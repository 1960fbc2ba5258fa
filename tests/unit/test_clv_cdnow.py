"""The CLV models on the CDNOW data against the published figures.

The papers fit a 1/10 sample (2,357 customers) of the 23,570 CDNOW customers who first bought
in Q1 1997; the full log is on disk. Calibration: weeks 1-39 (to 1997-09-30), holdout weeks
40-78 (to 1998-06-30), time in weeks, purchases on the same day merged. Published 1/10-sample
estimates:

* BG/NBD (Fader, Hardie & Lee 2005): r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4
* Pareto/NBD (same paper; Fader & Hardie 2005 note): r 0.553, alpha 10.578, s 0.606, beta 11.669, LL -9595.0
* Gamma-Gamma (Fader, Hardie & Lee 2005, JMR), 946 repeat buyers: p 6.25, q 3.74, gamma 15.44

A random 1/10 sample differs from the full cohort by sampling error, so the full-data estimates
are compared with the published ones in units of the *sample's* standard error, approximated
by the full-data standard error times sqrt(N_full / N_sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.ml.clv import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, calibration_holdout_split

CDNOW = Path("/work/shared/data/cdnow/CDNOW_master.txt")
SAMPLE_SIZE = 2357
PUBLISHED = {
    BetaGeo: ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4),
    ParetoNBD: ({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, -9595.0),
}

pytestmark = pytest.mark.skipif(not CDNOW.exists(), reason="CDNOW data not available")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    log = pd.read_csv(CDNOW, sep=r"\s+")
    log["date"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    return calibration_holdout_split(
        log, "customer_id", "date", "1997-09-30", "1998-06-30", value_col="dollar_value", freq="W"
    )


def test_summary_follows_the_papers_conventions(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 23_570
    # T runs from the first purchase day to 1997-09-30: 38.86 weeks for a 1 January buyer
    assert cdnow["T"].max() == pytest.approx(272 / 7)
    assert cdnow["T"].min() >= (272 - 89) / 7  # everyone's first purchase is in Q1 (by 31 March)
    # 946 of the sample's 2,357 (40.1 %) made a repeat purchase in the calibration period
    assert (cdnow["frequency"] > 0).mean() == pytest.approx(946 / 2357, abs=0.01)
    assert (cdnow["duration_holdout"] == 39).all()


@pytest.mark.parametrize("cls", [BetaGeo, ParetoNBD])
def test_transaction_models_match_published_estimates(cls: type, cdnow: pd.DataFrame) -> None:
    model = cls().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    published, published_ll = PUBLISHED[cls]
    inflate = np.sqrt(len(cdnow) / SAMPLE_SIZE)
    for name, value in published.items():
        sample_se = model.standard_errors_[name] * inflate
        assert abs(model.params_[name] - value) < 2.5 * sample_se, (name, model.params_[name], value)
    # the log-likelihood per customer is the paper's LL / 2357 up to sampling noise
    assert model.log_likelihood_ / len(cdnow) == pytest.approx(published_ll / SAMPLE_SIZE, rel=0.01)


def test_modified_beta_geo_fits_cdnow_like_bg_nbd(cdnow: pd.DataFrame) -> None:
    bg = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    mbg = ModifiedBetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert mbg.log_likelihood_ == pytest.approx(bg.log_likelihood_, rel=1e-3)
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert mbg.expected_purchases(39, *args).sum() == pytest.approx(
        bg.expected_purchases(39, *args).sum(), rel=0.1
    )


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_holdout_forecasts(cls: type, cdnow: pd.DataFrame) -> None:
    """Week-78 cumulative repeat purchases are tracked within ~10 %; the holdout alone is under-forecast.

    On the full data we measure the 39-week holdout at 0.86 (BG/NBD), 0.81 (MBG/NBD) and 0.87
    (Pareto/NBD) of the actual 19,684 repeat purchase days, with the in-sample period matched
    almost exactly: CDNOW's late-1997 purchasing was higher than the stationary models expect.
    """
    model = cls().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    T = cdnow["T"].to_numpy()
    actual_cal, actual_hold = cdnow["frequency"].sum(), cdnow["frequency_holdout"].sum()
    in_sample = model.expected_purchases_new_customer(T).sum()
    assert in_sample == pytest.approx(actual_cal, rel=0.02)
    cumulative = model.expected_purchases_new_customer(T + 39).sum()
    assert cumulative == pytest.approx(actual_cal + actual_hold, rel=0.1)
    conditional = model.expected_purchases(cdnow["duration_holdout"], cdnow["frequency"], cdnow["recency"], T)
    assert 0.78 < conditional.sum() / actual_hold < 0.95
    # conditional expectations rank customers: heavier calibration buyers buy more later
    by_freq = (
        pd.DataFrame(
            {"x": cdnow["frequency"].clip(upper=7), "pred": conditional, "actual": cdnow["frequency_holdout"]}
        )
        .groupby("x")
        .mean()
    )
    assert by_freq["pred"].is_monotonic_increasing
    assert np.corrcoef(by_freq["pred"], by_freq["actual"])[0, 1] > 0.98


def test_published_worked_example() -> None:
    """FHL (2005), section 5: E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226 at the published estimates."""
    model = BetaGeo()
    model.params_ = dict(PUBLISHED[BetaGeo][0])
    assert float(model.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)


def test_gamma_gamma_matches_published_estimates(cdnow: pd.DataFrame) -> None:
    repeat = cdnow[(cdnow["frequency"] > 0) & (cdnow["monetary_value"] > 0)]
    assert len(repeat) == pytest.approx(946 * 10, rel=0.01)
    model = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    inflate = np.sqrt(len(repeat) / 946)
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert abs(model.params_[name] - value) < 2.5 * model.standard_errors_[name] * inflate, name
    # the population mean spend p v / (q - 1) is about $35 as in the paper's sample
    mean_spend = float(model.expected_average_value(0, 0.0))
    assert mean_spend == pytest.approx(6.25 * 15.44 / 2.74, rel=0.05)
    bg = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    clv = model.customer_lifetime_value(
        bg,
        repeat["frequency"],
        repeat["recency"],
        repeat["T"],
        repeat["monetary_value"],
        horizon_months=12,
        discount_rate_monthly=0.01,
    )
    assert (clv >= 0).all() and np.isfinite(clv).all()
    # next-year value concentrates on the best calibration customers
    top = repeat["frequency"] >= repeat["frequency"].quantile(0.9)
    assert clv[top].mean() > 4 * clv[~top].mean()
