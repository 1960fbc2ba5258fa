"""Markov-chain removal effects on hand-made chains whose answer is known."""

import itertools

import numpy as np
import pandas as pd
import pytest

from orchestration.ml.attribution import CONVERSION, NULL, START, markov_attribution


def transitions_from_paths(paths: list[tuple[list[str], bool, float]]) -> pd.DataFrame:
    """Transition counts as int_attribution_transitions_counted builds them from paths
    (channels, converted, revenue)."""
    rows: list[tuple[str, str, float]] = []
    for channels, converted, revenue in paths:
        states = [START, *channels, CONVERSION if converted else NULL]
        for i, (src, dst) in enumerate(itertools.pairwise(states)):
            last = i == len(states) - 2
            rows.append((src, dst, revenue if (last and converted) else 0.0))
    frame = pd.DataFrame(rows, columns=["from_state", "to_state", "revenue"])
    frame["transition_count"] = 1
    return frame.groupby(["from_state", "to_state"], as_index=False)[["transition_count", "revenue"]].sum()


def credits(result_channels: pd.DataFrame, column: str = "share") -> dict[str, float]:
    return dict(zip(result_channels["channel"], result_channels[column], strict=True))


def test_single_channel_gets_every_conversion() -> None:
    t = transitions_from_paths([(["email"], True, 100.0), (["email"], False, 0.0), (["email"], True, 50.0)])
    result = markov_attribution(t)
    assert result.conversion_probability == pytest.approx(2 / 3)
    row = result.channels.iloc[0]
    assert row["channel"] == "email"
    assert row["removal_effect"] == pytest.approx(1.0)
    assert row["conversions"] == pytest.approx(2.0)
    assert row["revenue"] == pytest.approx(150.0)


def test_symmetric_channels_split_evenly() -> None:
    # a → b → conversion and b → a → conversion, plus one dead end each: by symmetry 50 / 50
    t = transitions_from_paths(
        [(["a", "b"], True, 10.0), (["b", "a"], True, 30.0), (["a"], False, 0.0), (["b"], False, 0.0)]
    )
    result = markov_attribution(t)
    shares = credits(result.channels)
    assert shares["a"] == pytest.approx(0.5)
    assert shares["b"] == pytest.approx(0.5)
    assert result.channels["conversions"].sum() == pytest.approx(2.0)
    assert result.channels["revenue"].sum() == pytest.approx(40.0)


def test_textbook_three_channel_example() -> None:
    # C1 → C2 → C3 → conversion, C1 → null, C2 → C3 → null. By hand: start → C1 2/3,
    # start → C2 1/3, C1 → C2 1/2, C2 → C3 1, C3 → conversion 1/2, so P(conversion) =
    # 2/3 · 1/2 · 1/2 + 1/3 · 1/2 = 1/3. Without C1: 1/3 · 1/2 = 1/6 (RE 1/2); without C2
    # or C3 nothing converts (RE 1). Shares 0.5 / 2.5 = 0.2, 0.4, 0.4.
    t = transitions_from_paths([(["c1", "c2", "c3"], True, 90.0), (["c1"], False, 0.0), (["c2", "c3"], False, 0.0)])
    result = markov_attribution(t)
    assert result.conversion_probability == pytest.approx(1 / 3)
    effects = credits(result.channels, "removal_effect")
    assert effects == pytest.approx({"c1": 0.5, "c2": 1.0, "c3": 1.0})
    assert credits(result.channels) == pytest.approx({"c1": 0.2, "c2": 0.4, "c3": 0.4})
    assert credits(result.channels, "revenue") == pytest.approx({"c1": 18.0, "c2": 36.0, "c3": 36.0})


def test_loops_and_self_transitions_match_the_closed_form() -> None:
    # email → email (repeat) and a loop email ↔ app: the linear solve handles cycles exactly.
    t = pd.DataFrame(
        {
            "from_state": [START, START, "email", "email", "email", "app", "app", "app"],
            "to_state": ["email", "app", "email", "app", NULL, "email", CONVERSION, NULL],
            "transition_count": [3, 1, 1, 1, 2, 1, 1, 1],
            "revenue": [0, 0, 0, 0, 0, 0, 60.0, 0],
        }
    )
    result = markov_attribution(t)
    # By hand: x_e = x_e / 4 + x_a / 4 and x_a = x_e / 3 + 1/3 give x_e = 1/8, x_a = 3/8;
    # from start: 3/4 · 1/8 + 1/4 · 3/8 = 3/16.
    assert result.conversion_probability == pytest.approx(3 / 16)
    effects = credits(result.channels, "removal_effect")
    # without app nothing converts; without email only start → app → conversion: 1/4 · 1/3 = 1/12
    assert effects["app"] == pytest.approx(1.0)
    assert effects["email"] == pytest.approx(1 - (1 / 12) / (3 / 16))
    assert result.channels["revenue"].sum() == pytest.approx(60.0)


def test_no_conversions_credit_nothing() -> None:
    t = transitions_from_paths([(["sms"], False, 0.0), (["push", "sms"], False, 0.0)])
    result = markov_attribution(t)
    assert result.conversion_probability == 0.0
    assert np.all(result.channels[["removal_effect", "share", "conversions", "revenue"]].to_numpy() == 0.0)


def test_rejects_chains_that_are_not_path_counts() -> None:
    with pytest.raises(ValueError, match="no \\(start\\)"):
        markov_attribution(pd.DataFrame({"from_state": ["a"], "to_state": [CONVERSION], "transition_count": [1]}))
    with pytest.raises(ValueError, match="absorbing"):
        markov_attribution(
            pd.DataFrame({"from_state": [START, CONVERSION], "to_state": ["a", "a"], "transition_count": [1, 1]})
        )
