"""What each segment is: size, revenue share and a feature profile against all buyers.

The profile is long (segment × feature) so that it lands in one table however many
features there are (``marts.segment_profiles``): the segment mean and the population mean in
natural units (days, currency, shares) and a z-score in the model's transformed space (after
the log), so that a handful of huge spenders cannot make every segment look "low value".
Columns that are not model features (revenue, return rate, category shares, ...) are profiled
in natural units only.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: prefix of the wide category-share columns made by :func:`category_shares`
CATEGORY_SHARE_PREFIX = "category_share_"

#: column whose sum is a segment's revenue
REVENUE_COLUMN = "monetary_total"


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (without numpy's empty-slice warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column].astype("float64"), errors="coerce").to_numpy()


def segment_summary(frame: pd.DataFrame, labels: np.ndarray, names: Mapping[int, str] | None = None) -> pd.DataFrame:
    """One row per segment: customers, their share, revenue (``monetary_total``) and its share.

    Revenue share beside customer share is what tells a marketer where the money is (a
    segment with 9 % of buyers and 40 % of revenue). Revenue is NaN when the frame has no
    ``monetary_total``.
    """
    names = names or {}
    labels = np.asarray(labels)
    revenue = _numeric(frame, REVENUE_COLUMN) if REVENUE_COLUMN in frame else np.full(len(labels), np.nan)
    table = (
        pd.DataFrame({"segment_id": labels, "revenue": np.nan_to_num(revenue), "has_revenue": np.isfinite(revenue)})
        .groupby("segment_id")
        .agg(customer_count=("revenue", "size"), revenue=("revenue", "sum"), priced=("has_revenue", "any"))
        .reset_index()
    )
    table["revenue"] = table["revenue"].where(table["priced"])
    total = table["revenue"].sum()
    table["customer_share"] = table["customer_count"] / max(len(labels), 1)
    table["revenue_share"] = table["revenue"] / total if total > 0 else np.nan
    table["revenue_per_customer"] = table["revenue"] / table["customer_count"]
    table.insert(1, "segment_name", [names.get(int(s), f"Segment {int(s)}") for s in table["segment_id"]])
    return table[
        [
            "segment_id",
            "segment_name",
            "customer_count",
            "customer_share",
            "revenue",
            "revenue_share",
            "revenue_per_customer",
        ]
    ]


def profile_segments(
    frame: pd.DataFrame,
    labels: np.ndarray,
    prepared: np.ndarray,
    features: Sequence[str],
    names: Mapping[int, str] | None = None,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Long profile table: one row per segment × feature, with the segment's size and revenue.

    ``prepared``: the model features after the feature preparer (log, fill), before scaling.
    ``segment_mean`` / ``population_mean`` are in natural units; ``z_score`` is the segment
    mean minus the population mean in the prepared space over the population standard
    deviation there. ``extra_columns`` present in ``frame`` are profiled in natural units only.
    A feature that no customer of a segment has (the mean gap of single-order buyers, the
    satisfaction of a segment without tickets) has no mean: its row is left out, so every
    row's means are defined.
    """
    labels = np.asarray(labels)
    summary = segment_summary(frame, labels, names).set_index("segment_id")
    pop_mean_t = prepared.mean(axis=0)
    pop_std_t = prepared.std(axis=0)
    pop_std_t = np.where(pop_std_t > 0, pop_std_t, 1.0)
    extras = [c for c in extra_columns if c in frame.columns and c not in features]
    columns = [*features, *extras]
    natural = {c: _numeric(frame, c) for c in columns if c in frame.columns}
    population = {c: _nanmean(v) for c, v in natural.items()}
    rows = []
    for s, seg in summary.iterrows():
        m = labels == s
        seg_t = prepared[m].mean(axis=0)
        for j, col in enumerate(columns):
            in_model = j < len(features)
            rows.append(
                {
                    "segment_id": int(s),
                    **seg.to_dict(),
                    "feature": col,
                    "is_model_feature": in_model,
                    "segment_mean": _nanmean(natural[col][m]) if col in natural else float("nan"),
                    "population_mean": population.get(col, float("nan")),
                    "z_score": float((seg_t[j] - pop_mean_t[j]) / pop_std_t[j]) if in_model else float("nan"),
                }
            )
    return pd.DataFrame(rows).dropna(subset=["segment_mean", "population_mean"]).reset_index(drop=True)


def zscore_matrix(profiles: pd.DataFrame) -> pd.DataFrame:
    """segment × feature z-scores (model features only), for naming and the heat map."""
    model_rows = profiles[profiles["is_model_feature"]]
    z = model_rows.pivot(index="segment_id", columns="feature", values="z_score")
    return z[list(dict.fromkeys(model_rows["feature"]))]


def sizes(profiles: pd.DataFrame) -> pd.DataFrame:
    """The per-segment columns of a profile table (one row per segment)."""
    cols = ["segment_id", "segment_name", "customer_count", "customer_share", "revenue", "revenue_share"]
    return profiles[cols].drop_duplicates("segment_id").sort_values("segment_id").reset_index(drop=True)


def category_shares(mix: pd.DataFrame, customer_ids: pd.Series) -> pd.DataFrame:
    """Wide product-category mix (``category_share_<category>``) for ``customer_ids``, in their order.

    ``mix``: long rows customer_id, category, item_share (``marts.customer_category_mix``).
    A category a customer never bought is a share of 0; a customer with no categorised items
    gets NaN everywhere (unknown, not "none").
    """
    wide = mix.pivot_table(index="customer_id", columns="category", values="item_share", aggfunc="sum", fill_value=0.0)
    wide.columns = [f"{CATEGORY_SHARE_PREFIX}{c}" for c in wide.columns]
    return wide.reindex(pd.Index(customer_ids, name="customer_id")).reset_index(drop=True)
