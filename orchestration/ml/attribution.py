"""Data-driven attribution: removal effects of a first-order Markov chain over customer paths.

Customer paths (touchpoint channels before a conversion, or before nothing) are read as a
Markov chain ``(start) → channel → … → (conversion) | (null)`` whose transition
probabilities are the observed transition counts, row-normalised. The chain's probability
of ending in ``(conversion)`` from ``(start)`` is what all the paths together achieve. The
*removal effect* of a channel is the share of that probability lost when the channel is
removed (every visit to it goes to ``(null)`` instead)::

    RE(c) = 1 − P(conversion | c removed) / P(conversion)

and each channel is credited conversions and revenue in proportion RE(c) / Σ RE
(Anderl et al. 2016; the R package ChannelAttribution does the same with simulated paths).

Why Python and not SQL: the absorption probabilities are the solution of a linear system
``(I − Q) x = r`` over the transient states (start + channels, about ten), once for the full
chain and once per removed channel. numpy solves each exactly in microseconds, and the
function is testable on hand-made chains whose answer is known. SQL could only approximate
it by pushing probability mass through the matrix for a fixed number of steps in a
recursive CTE (with a convergence check) — slower to converge on paths with loops, and
recursive CTEs do not exist on every adapter the project targets (Spark). The event-grain
work (building paths, counting transitions) stays in dbt: this module only ever sees the
transition counts, a table of a few dozen rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


@dataclass(frozen=True)
class MarkovAttribution:
    """The fitted chain's conversion probability and the credit of every channel."""

    conversion_probability: float
    #: one row per channel: removal_effect, share, conversions, revenue,
    #: conversion_probability_without (P(conversion) with the channel removed)
    channels: pd.DataFrame


def _transition_matrix(transitions: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Transient states (start first), the transient-to-transient probabilities Q and the
    probability r of stepping into (conversion) from each transient state."""
    counts = transitions.groupby(["from_state", "to_state"], sort=True)["transition_count"].sum()
    sources = set(counts.index.get_level_values("from_state"))
    if START not in sources:
        raise ValueError(f"the transitions have no {START} state: no path to attribute")
    absorbing = {CONVERSION, NULL}
    if sources & absorbing:
        raise ValueError("absorbing states (conversion, null) must have no outgoing transitions")
    channels = sorted(sources - {START})
    states = [START, *channels]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    q = np.zeros((n, n))
    r = np.zeros(n)
    for (src, dst), count in counts.items():
        if count < 0:
            raise ValueError(f"negative transition count {src} → {dst}")
        if dst == CONVERSION:
            r[index[src]] += count
        elif dst in index:
            q[index[src], index[dst]] += count
        # any other target (null, or a state never left) absorbs without converting
    totals = counts.groupby(level="from_state").sum().reindex(states).to_numpy(dtype=float)
    if np.any(totals <= 0):
        raise ValueError("every transient state needs at least one outgoing transition")
    return states, q / totals[:, None], r / totals


def _conversion_probability(q: np.ndarray, r: np.ndarray) -> float:
    """P(absorbed in conversion | start) = x[0] with (I − Q) x = r."""
    n = len(r)
    try:
        x = np.linalg.solve(np.eye(n) - q, r)
    except np.linalg.LinAlgError as exc:  # a closed loop with no way out: not a path chain
        raise ValueError("the chain has states that never reach conversion or null") from exc
    return float(x[0])


def markov_attribution(transitions: pd.DataFrame) -> MarkovAttribution:
    """Removal effects and credited conversions / revenue per channel.

    ``transitions``: one row per (from_state, to_state) with ``transition_count`` and
    ``revenue`` (the revenue of the converting paths behind a transition into
    ``(conversion)``; 0 elsewhere), as in ``intermediate.int_attribution_transitions_counted``.
    The credited totals are the conversions (transitions into ``(conversion)``) and their
    revenue; with no conversion at all every channel gets 0.
    """
    frame = transitions.copy()
    if "revenue" not in frame:
        frame["revenue"] = 0.0
    into_conversion = frame["to_state"] == CONVERSION
    total_conversions = float(frame.loc[into_conversion, "transition_count"].sum())
    total_revenue = float(frame.loc[into_conversion, "revenue"].fillna(0).sum())
    states, q, r = _transition_matrix(frame)
    base = _conversion_probability(q, r)
    channels = states[1:]
    without = []
    for i in range(1, len(states)):
        q_removed, r_removed = q.copy(), r.copy()
        q_removed[i, :] = 0.0  # a visit to the removed channel goes nowhere: (null)
        r_removed[i] = 0.0
        without.append(_conversion_probability(q_removed, r_removed))
    without_arr = np.array(without)
    # clip float noise: removing a state can never raise the conversion probability
    effect = np.clip(1.0 - without_arr / base, 0.0, 1.0) if base > 0 else np.zeros(len(channels))
    total_effect = effect.sum()
    share = effect / total_effect if total_effect > 0 else np.zeros(len(channels))
    table = pd.DataFrame(
        {
            "channel": channels,
            "removal_effect": effect,
            "share": share,
            "conversions": share * total_conversions,
            "revenue": share * total_revenue,
            "conversion_probability_without": without_arr,
        }
    )
    return MarkovAttribution(conversion_probability=base, channels=table)
