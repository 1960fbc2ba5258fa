"""The campaign lift evaluation on hand-made campaigns whose figures are known."""

import math

import numpy as np
import pandas as pd
import pytest

from orchestration.campaign_eval import evaluate_campaign_lift


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    measured = pd.DataFrame(
        {
            "campaign_id": ["A", "B", "C", "P"],
            "sent": [100, 200, 50, 0],
            "control_size": [100, 50, 0, 0],
            "conversions": [30, 40, 5, 0],
            "control_conversions": [20, 5, 0, 0],
            "lift_ci_lower": [-0.02, 0.01, np.nan, np.nan],
            "lift_ci_upper": [0.22, 0.18, np.nan, np.nan],
        }
    )
    truth = pd.DataFrame(
        {
            "campaign_id": ["A", "B", "C", "P"],
            "true_uplift": [0.05, 0.20, 0.01, np.nan],  # P: paid search, no person-level truth
            "n_treated": [100, 196, 50, 0],
            "n_control": [100, 50, 0, 0],
            "conversion_rate_treated": [0.30, 0.20, 0.10, np.nan],
            "conversion_rate_control": [0.20, 0.12, np.nan, np.nan],
        }
    )
    return measured, truth


def test_figures_on_hand_made_campaigns() -> None:
    result = evaluate_campaign_lift(*frames())
    # C has no control group, P no truth: two campaigns are judged
    assert result.campaigns == 2
    # A: lift 0.30 − 0.20 = 0.10, error +0.05, covered; B: 0.20 − 0.10 = 0.10, error −0.10, not covered
    assert result.coverage == pytest.approx(0.5)
    assert result.mean_absolute_error == pytest.approx(0.075)
    assert result.bias == pytest.approx(-0.025)
    se_a = math.sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 100)
    se_b = math.sqrt(0.2 * 0.8 / 200 + 0.1 * 0.9 / 50)
    assert result.expected_sampling_mae == pytest.approx(math.sqrt(2 / math.pi) * (se_a + se_b) / 2)
    assert result.bias_standard_error == pytest.approx(math.sqrt(se_a**2 + se_b**2) / 2)
    # same persons: A measured 0.10 vs observed 0.10; B measured 0.10 vs observed 0.08
    assert result.measurement_mae == pytest.approx(0.01)
    # B found 200 of the simulator's 196 contacted persons (a merge counted as 2 % too many)
    assert result.arm_size_error == pytest.approx((0 + 4 / 196) / 2)
    # the simulator saw 30 + 39 (0.2 × 196, rounded) contacted and 20 + 6 control conversions
    assert result.conversion_capture_treated == pytest.approx(70 / 69)
    assert result.conversion_capture_control == pytest.approx(25 / 26)
    assert list(result.table["campaign_id"]) == ["A", "B"]
    assert "2 campaigns" in result.to_text() and "coverage 50%" in result.to_text()


def test_no_comparable_campaign_is_an_error() -> None:
    measured, truth = frames()
    with pytest.raises(ValueError, match="no campaign"):
        evaluate_campaign_lift(measured[measured["campaign_id"] == "C"], truth)
