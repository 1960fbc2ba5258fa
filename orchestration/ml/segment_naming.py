"""Readable segment names from profiles: "High-value frequent app shoppers", not "cluster 3".

A name is built from the segment's z-scores against all buyers (see
:mod:`orchestration.ml.segment_profiles`) with a small grammar —
``[Lapsed|New] [High-value|Low-value|Discount-driven] [frequent|occasional] [<channel>]
shoppers|buyers`` — plus the most pronounced remaining trait, and made unique by appending
distinguishing traits when two segments would otherwise share a name.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: channel-share feature → the word used in names
CHANNEL_WORDS: dict[str, str] = {
    "app_order_share": "app",
    "web_order_share": "web",
    "store_order_share": "in-store",
    "marketplace_order_share": "marketplace",
}

#: traits a channel word already implies ("app shoppers" use the app)
_CHANNEL_RELATED: dict[str, tuple[str, ...]] = {
    "app_order_share": ("app_sessions_last_90_days",),
    "web_order_share": ("web_sessions_last_90_days",),
}

#: readable phrases for traits used to break ties between otherwise equal names
_TRAIT_PHRASES: dict[str, tuple[str, str]] = {
    "days_since_last_email_open": ("e-mail silent", "e-mail engaged"),
    "email_open_rate": ("e-mail engaged", "e-mail silent"),
    "email_click_rate": ("e-mail clickers", "non-clickers"),
    "web_sessions_last_90_days": ("frequent web visitors", "rare web visitors"),
    "app_sessions_last_90_days": ("active app users", "no app use"),
    "return_rate": ("high returns", "few returns"),
    "is_member": ("members", "non-members"),
    "tenure_days": ("long-standing", "recently acquired"),
    "recency_days": ("not seen lately", "recently active"),
    "average_order_value": ("big baskets", "small baskets"),
    "order_count": ("many orders", "few orders"),
    "mean_interpurchase_days": ("long gaps", "short gaps"),
    "discount_share": ("discount users", "full price"),
    "coupon_order_share": ("coupon users", "no coupons"),
}


#: revenue per customer, relative to all buyers, from which a segment is "high-" / "low-value"
HIGH_VALUE_INDEX = 2.0
LOW_VALUE_INDEX = 0.5


def _base_name(
    z: pd.Series, shares: pd.Series | None, threshold: float, value_index: float = 1.0
) -> tuple[str, set[str]]:
    """The grammar's words for one segment, and the features they already express.

    ``value_index``: the segment's revenue per customer over all buyers' (revenue share /
    customer share); value is named from it or from the order-value z-score.
    """

    def zv(col: str) -> float:
        return float(z[col]) if col in z.index and np.isfinite(z[col]) else 0.0

    used: set[str] = set()
    prefix = ""
    if zv("recency_days") > 1.5 * threshold:
        prefix = "Lapsed"
        used.add("recency_days")
    elif zv("tenure_days") < -1.5 * threshold:
        prefix = "New"
        used.add("tenure_days")
    value = ""
    value_z = max(zv("average_order_value"), zv("monetary_total"))
    if value_z > threshold or value_index >= HIGH_VALUE_INDEX:
        value = "high-value"
        used.update({"average_order_value", "monetary_total"})
    elif max(zv("discount_share"), zv("coupon_order_share")) > threshold:
        value = "discount-driven"
        used.update({"discount_share", "coupon_order_share"})
    elif value_z < -threshold or value_index <= LOW_VALUE_INDEX:
        value = "low-value"
        used.update({"average_order_value", "monetary_total"})
    freq = ""
    if abs(zv("order_count")) > threshold:
        freq = "frequent" if zv("order_count") > 0 else "occasional"
        used.add("order_count")
    channel = ""
    if shares is not None and len(shares):
        top = str(shares.idxmax())
        if shares[top] >= 0.5 and zv(top) > 0:
            channel = CHANNEL_WORDS.get(top, "")
            used.update({top, *_CHANNEL_RELATED.get(top, ())})
    noun = "shoppers" if freq == "frequent" or (value == "high-value" and not freq) else "buyers"
    words = [w for w in (prefix, value, freq, channel, noun) if w]
    if len(words) == 1:
        words.insert(0, "average")
    return " ".join(words), used


def name_segments(
    zscores: pd.DataFrame,
    channel_means: pd.DataFrame | None = None,
    threshold: float = 0.5,
    value_index: Mapping[int, float] | None = None,
) -> dict[int, str]:
    """Readable, unique names from each segment's z-scores against the population.

    Grammar: ``[Lapsed|New] [High-value|Low-value|Discount-driven] [frequent|occasional]
    [<channel>] shoppers|buyers``. A channel is named when the segment's mean share of it is
    at least 50 % and above the population (``channel_means``: segment × channel-share
    columns in natural units). Value comes from the order-value z-score or from
    ``value_index`` (segment → revenue per customer over all buyers': at least 2 is
    high-value, at most 0.5 low-value). The strongest remaining trait, when pronounced (|z|
    at least twice the threshold), is what a marketer would notice first: it is appended
    ("…, active app users"). When two segments still share a name, distinguishing traits are
    appended.
    """
    names: dict[int, str] = {}
    used_by: dict[int, set[str]] = {}
    for seg in zscores.index:
        shares = channel_means.loc[seg] if channel_means is not None and seg in channel_means.index else None
        index = (value_index or {}).get(int(seg), 1.0)
        text, used = _base_name(zscores.loc[seg], shares, threshold, index if np.isfinite(index) else 1.0)
        trait = _strongest_trait(zscores.loc[seg], used, 2 * threshold)
        if trait is not None:
            text += f", {trait[1]}"
            used.add(trait[0])
        names[int(seg)] = text[0].upper() + text[1:]
        used_by[int(seg)] = used
    return _make_unique(names, zscores, used_by)


def _strongest_trait(row: pd.Series, used: set[str], min_abs_z: float) -> tuple[str, str] | None:
    """(feature, phrase) of the largest |z| among unused phrase-able features, if large enough."""
    best: tuple[float, str, str] | None = None
    for col, (up, down) in _TRAIT_PHRASES.items():
        if col in used or col not in row.index or not np.isfinite(row[col]):
            continue
        if abs(row[col]) >= min_abs_z and (best is None or abs(row[col]) > best[0]):
            best = (abs(row[col]), col, up if row[col] > 0 else down)
    return None if best is None else (best[1], best[2])


def _make_unique(names: dict[int, str], zscores: pd.DataFrame, used_by: Mapping[int, set[str]]) -> dict[int, str]:
    """Append the strongest not-yet-used trait to names shared by several segments."""
    out = dict(names)
    for name in set(names.values()):
        segs = [s for s, n in names.items() if n == name]
        if len(segs) < 2:
            continue
        taken: set[str] = set()
        for seg in segs:
            row = zscores.loc[seg].drop(labels=list(used_by.get(seg, set())), errors="ignore")
            row = row[[c in _TRAIT_PHRASES for c in row.index]]
            order = row.abs().sort_values(ascending=False).index
            suffix = ""
            for col in order:
                phrase = _TRAIT_PHRASES[col][0 if row[col] > 0 else 1]
                if phrase not in taken:
                    suffix = phrase
                    taken.add(phrase)
                    break
            out[seg] = f"{name}, {suffix}" if suffix else f"{name} #{seg}"
    # last resort: still duplicated (identical suffixes) → number them
    seen: dict[str, int] = {}
    for seg in sorted(out):
        seen[out[seg]] = seen.get(out[seg], 0) + 1
        if seen[out[seg]] > 1:
            out[seg] = f"{out[seg]} #{seg}"
    return out


def names_from_profiles(profiles: pd.DataFrame, threshold: float = 0.5) -> dict[int, str]:
    """Names for the segments of a long profile table (:func:`segment_profiles.profile_segments`)."""
    model_rows = profiles[profiles["is_model_feature"]]
    zscores = model_rows.pivot(index="segment_id", columns="feature", values="z_score")
    channel_rows = profiles[profiles["feature"].isin(list(CHANNEL_WORDS))]
    channel_means = (
        channel_rows.pivot(index="segment_id", columns="feature", values="segment_mean") if len(channel_rows) else None
    )
    sizes = profiles.drop_duplicates("segment_id").set_index("segment_id")
    value_index = (sizes["revenue_share"] / sizes["customer_share"]).to_dict()
    return name_segments(zscores, channel_means, threshold, value_index)
