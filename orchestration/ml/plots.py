"""Figures for the Dagster UI: matplotlib → PNG bytes → markdown with an embedded image.

Dagster renders ``MetadataValue.md`` in the asset's materialisation page, and a markdown
image with a ``data:image/png;base64`` URL needs no file server, so plots travel with the
run record. Uses the object-oriented ``Figure`` API (no pyplot, no global backend state),
so it is safe in worker processes and threads. Pure: returns bytes / strings only.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: a qualitative palette that stays readable for up to 10 segments
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """Render a figure to PNG bytes (small dpi: metadata is stored in the run database)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.3f}", max_rows: int = 50) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency)."""
    frame = frame.head(max_rows)
    cols = [str(c) for c in frame.columns]

    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else float_format.format(v)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def k_selection_chart(selection: pd.DataFrame, chosen_k: int, elbow_k: int | None = None) -> bytes:
    """Silhouette, Calinski–Harabasz and inertia (with the Kneedle elbow) against k.

    For a Gaussian mixture selection (has a ``bic`` column) plots BIC per covariance type.
    """
    if "bic" in selection.columns:
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        for cov, part in selection.groupby("covariance_type"):
            ax.plot(part["k"], part["bic"], marker="o", label=str(cov))
        ax.axvline(chosen_k, color="grey", linestyle="--", label=f"chosen k={chosen_k}")
        ax.set_xlabel("components")
        ax.set_ylabel("BIC (lower is better)")
        ax.legend()
        return figure_png(fig)
    fig = Figure(figsize=(12, 3.5))
    axes = fig.subplots(1, 3)
    panels = [
        ("silhouette", "silhouette (higher is better)"),
        ("calinski_harabasz", "Calinski–Harabasz (higher is better)"),
        ("inertia", "inertia / within-cluster SS"),
    ]
    for ax, (col, title) in zip(axes, panels, strict=True):
        ax.plot(selection["k"], selection[col], marker="o", color=PALETTE[0])
        ax.axvline(chosen_k, color=PALETTE[2], linestyle="--", label=f"chosen k={chosen_k}")
        if col == "inertia" and elbow_k is not None:
            ax.axvline(elbow_k, color=PALETTE[4], linestyle=":", label=f"elbow k={elbow_k}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("k")
        ax.legend(fontsize=8)
    return figure_png(fig)


def profile_heatmap(zscores: pd.DataFrame, names: Mapping[int, str]) -> bytes:
    """Segments × features, coloured by z-score against the population (clipped at ±2)."""
    z = zscores.to_numpy(dtype=float)
    fig = Figure(figsize=(max(6, 0.55 * z.shape[1] + 3), 0.55 * z.shape[0] + 2))
    ax = fig.subplots()
    im = ax.imshow(np.clip(z, -2, 2), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(range(z.shape[1]), [str(c) for c in zscores.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(z.shape[0]), [f"{s}: {names.get(int(s), s)}" for s in zscores.index], fontsize=8)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if np.isfinite(z[i, j]):
                ax.text(j, i, f"{z[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="z-score vs population")
    return figure_png(fig)


def category_mix_chart(profiles: pd.DataFrame, names: Mapping[int, str], prefix: str = "category_share_") -> bytes:
    """Segments × product categories: the mean share of each category in a segment's items.

    ``profiles``: the long profile table; its rows whose feature starts with ``prefix``.
    """
    rows = profiles[profiles["feature"].str.startswith(prefix)]
    fig = Figure(figsize=(7, 0.5 * max(rows["segment_id"].nunique(), 1) + 2))
    ax = fig.subplots()
    if rows.empty:
        ax.text(0.5, 0.5, "no product categories", ha="center", va="center")
        ax.set_axis_off()
        return figure_png(fig)
    grid = rows.pivot(index="segment_id", columns="feature", values="segment_mean").fillna(0.0)
    m = grid.to_numpy(dtype=float)
    im = ax.imshow(m, cmap="Greens", vmin=0, vmax=max(float(m.max()), 0.01), aspect="auto")
    ax.set_xticks(range(m.shape[1]), [c.removeprefix(prefix) for c in grid.columns], rotation=45, ha="right")
    ax.set_yticks(range(m.shape[0]), [f"{s}: {names.get(int(s), s)}" for s in grid.index], fontsize=8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.0%}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="mean share of the segment's items")
    return figure_png(fig)


def pca_scatter(
    coords: np.ndarray, segment_ids: np.ndarray, explained: Sequence[float], names: Mapping[int, str]
) -> bytes:
    """The first two principal components, coloured by segment."""
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    for i, s in enumerate(np.unique(segment_ids)):
        m = segment_ids == s
        ax.scatter(coords[m, 0], coords[m, 1], s=4, alpha=0.5, color=PALETTE[i % len(PALETTE)],
                   label=f"{s}: {names.get(int(s), s)}")  # fmt: skip
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.legend(fontsize=7, markerscale=3, loc="best")
    return figure_png(fig)


def funnel_chart(counts: pd.Series, title: str = "customers by lifecycle stage") -> bytes:
    """Horizontal bars in the given (funnel) order with counts and shares."""
    fig = Figure(figsize=(7, 0.45 * len(counts) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts.to_numpy(), color=[PALETTE[i % len(PALETTE)] for i in range(len(counts))])
    total = max(int(counts.sum()), 1)
    for yi, v in zip(y, counts.to_numpy(), strict=True):
        ax.text(v, yi, f" {int(v):,} ({v / total:.0%})", va="center", fontsize=8)
    ax.set_yticks(y, [str(i) for i in counts.index])
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, counts.max() * 1.3 if len(counts) else 1)
    return figure_png(fig)


def transition_heatmap(matrix: pd.DataFrame, title: str = "stage transitions (row share)") -> bytes:
    """A row-normalised from × to matrix."""
    m = matrix.to_numpy(dtype=float)
    fig = Figure(figsize=(0.7 * m.shape[1] + 3, 0.5 * m.shape[0] + 2))
    ax = fig.subplots()
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(m.shape[1]), [str(c) for c in matrix.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(m.shape[0]), [str(i) for i in matrix.index], fontsize=8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] > 0:
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > 0.6 else "black")  # fmt: skip
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title(title, fontsize=10)
    return figure_png(fig)


def roc_chart(rocs: Mapping[str, pd.DataFrame], aucs: Mapping[str, float]) -> bytes:
    """ROC curves of several models on one set of axes."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for i, (name, pts) in enumerate(rocs.items()):
        ax.plot(pts["fpr"], pts["tpr"], color=PALETTE[i % len(PALETTE)], label=f"{name} (AUC {aucs[name]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=8, loc="lower right")
    return figure_png(fig)


def calibration_chart(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """Observed rate against mean predicted probability per bin (the diagonal is perfect)."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for i, (name, t) in enumerate(tables.items()):
        ax.plot(t["mean_predicted"], t["observed_rate"], marker="o", color=PALETTE[i % len(PALETTE)], label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed churn rate")
    ax.legend(fontsize=8, loc="upper left")
    return figure_png(fig)


def importance_chart(importance: pd.DataFrame, top: int = 15) -> bytes:
    """Permutation importance (drop in ROC AUC) with its spread over repeats."""
    imp = importance.head(top).iloc[::-1]
    fig = Figure(figsize=(6, 0.35 * len(imp) + 1.5))
    ax = fig.subplots()
    ax.barh(imp["feature"], imp["importance"], xerr=imp["std"], color=PALETTE[0])
    ax.set_xlabel("drop in ROC AUC when shuffled")
    return figure_png(fig)


def _compact(value: float) -> str:
    """1234 → 1.2k, 2_500_000 → 2.5M (for cell labels)."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def vap_grid_chart(cells: pd.DataFrame, bands: Sequence[str] = ("low", "medium", "high")) -> bytes:
    """Value × attrition heat maps, one panel per potential band, with customers and value per cell.

    ``cells``: columns value_band, attrition_band, potential_band, customers and, when present,
    historical_value (summed per cell; shown under the count). Colour: customers.
    """
    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, len(bands))
    vmax = max(int(cells["customers"].max()), 1) if len(cells) else 1
    has_value = "historical_value" in cells.columns

    def grid_of(part: pd.DataFrame, column: str) -> pd.DataFrame:
        return (
            part.pivot_table(index="value_band", columns="attrition_band", values=column, aggfunc="sum")
            .reindex(index=list(bands)[::-1], columns=list(bands))
            .fillna(0)
        )

    for ax, pot in zip(axes, bands, strict=True):
        part = cells[cells["potential_band"] == pot]
        counts = grid_of(part, "customers")
        values = grid_of(part, "historical_value") if has_value else None
        ax.imshow(counts.to_numpy(), cmap="Oranges", vmin=0, vmax=vmax)
        ax.set_xticks(range(len(bands)), list(bands))
        ax.set_yticks(range(len(bands)), list(bands)[::-1])
        ax.set_xlabel("attrition (churn risk)")
        if ax is axes[0]:
            ax.set_ylabel("value (historical revenue)")
        ax.set_title(f"potential: {pot}", fontsize=10)
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                label = f"{int(counts.iat[i, j]):,}"
                if values is not None:
                    label += f"\n{_compact(float(values.iat[i, j]))} value"
                ax.text(j, i, label, ha="center", va="center", fontsize=8)
    fig.suptitle("customers (colour, first line) and historical value per VAP cell", fontsize=10)
    return figure_png(fig)
