"""Measured campaign lift (``marts.campaign_performance``) against the simulator's true uplift.

The simulator randomises each person-level campaign's audience into contacted and control
customers and knows, for every targeted person, whether the campaign caused their order in
the response window. Its ``ground_truth/campaigns.parquet`` holds, per campaign:

* ``true_uplift``: the sample average treatment effect on the targeted population (share of
  targeted persons whose conversion happens only because of the campaign) — the quantity
  the treated − control difference in conversion rates estimates without bias;
* ``n_treated`` / ``n_control`` and ``conversion_rate_treated`` / ``conversion_rate_control``:
  the same difference as the simulator observes it on its own persons and orders.

Two distances are reported, because they fail for different reasons:

* measured lift vs **true uplift**: includes sampling error (control groups of a few dozen
  people give intervals of ±10 points); judged by the share of 95 % intervals that cover
  the truth (≈ 95 % expected) and by the mean error against what sampling alone explains;
* measured lift vs the **simulator's observed lift** (same persons, same orders): no
  sampling error, only measurement — identity resolution splitting or merging recipients,
  orders the warehouse cannot tie to the recipient, window boundaries. This should be
  close to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

MEASURED_SQL = """
select
    campaign_id,
    sum(sent) as sent,
    sum(control_size) as control_size,
    sum(conversions) as conversions,
    sum(control_conversions) as control_conversions,
    -- campaigns use one channel; summing keeps one row per campaign if one ever uses two
    min(lift_ci_lower) filter (where sent = max_sent) as lift_ci_lower,
    max(lift_ci_upper) filter (where sent = max_sent) as lift_ci_upper
from (
    select *, max(sent) over (partition by campaign_id) as max_sent
    from marts.campaign_performance
    where segmentation = 'all'
) as campaign_rows
group by campaign_id
order by campaign_id
"""


@dataclass(frozen=True)
class LiftEvaluation:
    """How close measured campaign lift is to the simulator's truth."""

    campaigns: int
    coverage: float  # share of campaigns whose confidence interval contains the true uplift
    mean_absolute_error: float  # mean |measured lift − true uplift|
    expected_sampling_mae: float  # mean |error| sampling alone gives: sqrt(2/π) · standard error
    bias: float  # mean (measured lift − true uplift)
    bias_standard_error: float  # its standard error from the campaigns' sampling errors
    measurement_mae: float  # mean |measured lift − simulator's observed lift on the same persons|
    arm_size_error: float  # mean |sent / simulator's treated − 1| (identity resolution loss / gain)
    #: measured conversions / the simulator's conversions of the same persons, pooled over the
    #: campaigns, per arm: the share of responses the warehouse sees (orders it cannot tie to
    #: anybody, e.g. anonymous store baskets, are lost in both arms alike)
    conversion_capture_treated: float
    conversion_capture_control: float
    table: pd.DataFrame  # one row per campaign

    def to_text(self) -> str:
        return (
            f"campaign lift vs simulated truth over {self.campaigns} campaigns: "
            f"CI coverage {self.coverage:.0%} (nominal 95%), "
            f"MAE {self.mean_absolute_error:.4f} (sampling alone ≈ {self.expected_sampling_mae:.4f}), "
            f"bias {self.bias:+.4f} ± {self.bias_standard_error:.4f}, "
            f"measurement MAE vs simulator's observed lift {self.measurement_mae:.4f}, "
            f"arm size error {self.arm_size_error:.2%}, conversions seen {self.conversion_capture_treated:.1%} "
            f"(contacted) / {self.conversion_capture_control:.1%} (control)"
        )


def evaluate_campaign_lift(measured: pd.DataFrame, truth: pd.DataFrame) -> LiftEvaluation:
    """Compare per-campaign lift and interval with the true uplift.

    ``measured``: campaign_id, sent, control_size, conversions, control_conversions,
    lift_ci_lower, lift_ci_upper (one row per campaign). ``truth``: the simulator's
    campaigns.parquet columns. Campaigns without a true uplift (paid search, display: no
    person-level audience) or without a measured control group are left out.
    """
    frame = measured.merge(truth, on="campaign_id", how="inner", validate="one_to_one")
    frame = frame[frame["true_uplift"].notna() & (frame["control_size"] > 0) & (frame["sent"] > 0)].copy()
    if frame.empty:
        raise ValueError("no campaign has both a measured control group and a true uplift")
    p1 = frame["conversions"] / frame["sent"]
    p2 = frame["control_conversions"] / frame["control_size"]
    frame["lift"] = p1 - p2
    frame["standard_error"] = np.sqrt(p1 * (1 - p1) / frame["sent"] + p2 * (1 - p2) / frame["control_size"])
    frame["error"] = frame["lift"] - frame["true_uplift"]
    frame["is_covered"] = (frame["lift_ci_lower"] <= frame["true_uplift"]) & (
        frame["true_uplift"] <= frame["lift_ci_upper"]
    )
    frame["observed_lift"] = frame["conversion_rate_treated"] - frame["conversion_rate_control"]
    true_treated = (frame["conversion_rate_treated"] * frame["n_treated"]).round().sum()
    true_control = (frame["conversion_rate_control"] * frame["n_control"]).round().sum()
    n = len(frame)
    table = frame[
        [
            "campaign_id",
            "sent",
            "n_treated",
            "control_size",
            "n_control",
            "lift",
            "lift_ci_lower",
            "lift_ci_upper",
            "true_uplift",
            "observed_lift",
            "is_covered",
        ]
    ].reset_index(drop=True)
    return LiftEvaluation(
        campaigns=n,
        coverage=float(frame["is_covered"].mean()),
        mean_absolute_error=float(frame["error"].abs().mean()),
        expected_sampling_mae=float(math.sqrt(2 / math.pi) * frame["standard_error"].mean()),
        bias=float(frame["error"].mean()),
        bias_standard_error=float(math.sqrt(float((frame["standard_error"] ** 2).sum())) / n),
        measurement_mae=float((frame["lift"] - frame["observed_lift"]).abs().mean()),
        arm_size_error=float((frame["sent"] / frame["n_treated"] - 1).abs().mean()),
        conversion_capture_treated=float(frame["conversions"].sum() / true_treated) if true_treated else math.nan,
        conversion_capture_control=float(frame["control_conversions"].sum() / true_control)
        if true_control
        else math.nan,
        table=table,
    )


def load_measured(warehouse: Path) -> pd.DataFrame:
    """Campaign-level rows of marts.campaign_performance (read-only)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(MEASURED_SQL).df()


def load_truth(ground_truth: Path) -> pd.DataFrame:
    """The simulator's per-campaign truth (ground_truth/campaigns.parquet)."""
    return pd.read_parquet(ground_truth / "campaigns.parquet")


def run_evaluate_campaigns(warehouse: Path, ground_truth: Path) -> int:
    """CLI entry (``c360 evaluate-campaigns``): print the summary line and the per-campaign table.

    The exit code does not depend on the figures: targets belong to tests, not to a report.
    """
    result = evaluate_campaign_lift(load_measured(warehouse), load_truth(ground_truth))
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.precision", 3):
        print(result.table.to_string(index=False))
    print(result.to_text())
    return 0
