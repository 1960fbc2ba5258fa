"""The report's sections: what each one needs from the published marts, its query and its chart.

Every section declares the tables and columns it needs. The report checks them against the
published catalogue first and renders a "not available yet" note for a section whose
tables are not there (the marketing marts, say, before their first run), so a missing
table never fails the report, while a real error in a query still does.

Queries aggregate in DuckDB and bring back small frames (at most one value per customer,
for the distributions); charts use matplotlib's object API (no pyplot global state) and
the project palette from :mod:`orchestration.ml.plots`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from orchestration.ml import plots
from orchestration.report import html

PALETTE = plots.PALETTE
STAGE_ORDER = ("prospect", "new", "active", "loyal", "reactivated", "at_risk", "lapsed", "churned")
BAND_ORDER = ("low", "medium", "high")
ISSUE_7 = "It is built by the marketing evaluation (issue #7) and appears here after its first run."

#: published columns per table: {table: {column, ...}} (schema ``marts``)
Catalog = Mapping[str, set[str]]


@dataclass(frozen=True)
class Section:
    """One report section: an anchor, a title, why it matters, what it needs, how it renders."""

    anchor: str
    title: str
    intro: str
    needs: Mapping[str, Sequence[str]]
    render: Callable[[duckdb.DuckDBPyConnection, Catalog], str]
    missing_hint: str = "Run the pipeline (make demo) to build it."
    optional: Mapping[str, Sequence[str]] = field(default_factory=dict)


def missing_needs(needs: Mapping[str, Sequence[str]], catalog: Catalog) -> list[str]:
    """What of ``needs`` the published catalogue lacks: ``marts.t`` or ``marts.t.column``."""
    out = []
    for table, columns in needs.items():
        if table not in catalog:
            out.append(f"marts.{table}")
        else:
            out += [f"marts.{table}.{c}" for c in columns if c not in catalog[table]]
    return out


def has(catalog: Catalog, table: str, *columns: str) -> bool:
    return table in catalog and all(c in catalog[table] for c in columns)


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> pd.DataFrame:
    return con.execute(sql, list(params or [])).df()


def _png(fig: Figure) -> bytes:
    return plots.figure_png(fig, dpi=100)


def _money(v: float) -> str:
    for unit, div in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:,.1f}{unit}"
    return f"{v:,.0f}"


# --------------------------------------------------------------------------- overview


def _overview(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    row = _df(
        con,
        "select count(*) filter (where is_identified) as identified, count(*) filter (where is_buyer) as buyers, "
        "coalesce(sum(order_count), 0) as orders, coalesce(sum(total_revenue), 0)::double as revenue, "
        "max(as_of_date) as as_of_date from marts.dim_customers",
    ).iloc[0]
    aov = row["revenue"] / row["orders"] if row["orders"] else float("nan")
    items = [
        ("identified customers", f"{int(row['identified']):,}"),
        ("buyers", f"{int(row['buyers']):,}"),
        ("orders", f"{int(row['orders']):,}"),
        ("net revenue", _money(row["revenue"])),
        ("revenue per order", f"{aov:,.0f}" if np.isfinite(aov) else "–"),
        ("as of", str(pd.Timestamp(row["as_of_date"]).date()) if pd.notna(row["as_of_date"]) else "–"),
    ]
    return html.kpis(items)


# --------------------------------------------------------------------------- segments


def _share_bars(frame: pd.DataFrame, label: str, title: str) -> bytes:
    """Share of customers beside share of revenue (and of 12-month CLV when known), per segment."""
    frame = frame.iloc[::-1]
    y = np.arange(len(frame))
    series = [("customers", "customer_share", PALETTE[0]), ("revenue", "revenue_share", PALETTE[1])]
    if "clv_12m_share" in frame:
        series.append(("expected 12-month CLV", "clv_12m_share", PALETTE[4]))
    height = 0.8 / len(series)
    fig = Figure(figsize=(10, 0.3 * len(frame) * len(series) / 2 + 1.4))
    ax = fig.subplots()
    for i, (name, col, color) in enumerate(series):
        ax.barh(y + (i - (len(series) - 1) / 2) * height, frame[col], height=height, color=color, label=name)
    ax.set_yticks(y, frame[label].astype(str))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("share of all buyers")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def _segment_table(frame: pd.DataFrame, label: str) -> str:
    cols = [label, "customers", "customer_share", "revenue", "revenue_share", "revenue_per_customer"]
    fmt = {"customers": "{:,.0f}", "customer_share": "{:.1%}", "revenue": "{:,.0f}", "revenue_share": "{:.1%}",
           "revenue_per_customer": "{:,.0f}", "clv_12m": "{:,.0f}", "clv_12m_share": "{:.1%}"}
    if "clv_12m" in frame:
        cols += ["clv_12m", "clv_12m_share"]
    return html.table(frame[cols], fmt)


def _with_shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["customer_share"] = frame["customers"] / max(frame["customers"].sum(), 1)
    frame["revenue_share"] = frame["revenue"] / (frame["revenue"].sum() or 1.0)
    frame["revenue_per_customer"] = frame["revenue"] / frame["customers"].clip(lower=1)
    if "clv_12m" in frame:
        frame["clv_12m_share"] = frame["clv_12m"] / (frame["clv_12m"].sum() or 1.0)
    return frame


def _segments(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    clv = has(catalog, "customer_clv", "customer_id", "clv_12m")
    clv_join = "left join marts.customer_clv as clv using (customer_id)" if clv else ""
    clv_col = ", sum(clv.clv_12m) as clv_12m" if clv else ""
    rfm = _with_shares(_df(
        con,
        "select rfm.rfm_segment, min(rfm.segment_order) as segment_order, count(*) as customers, "
        f"sum(rfm.monetary_total)::double as revenue{clv_col} "
        f"from marts.customer_rfm as rfm {clv_join} group by rfm.rfm_segment order by segment_order",
    ))
    parts = [
        html.image(_share_bars(rfm, "rfm_segment", "RFM segments: share of buyers vs share of value"), "RFM segments"),
        _segment_table(rfm, "rfm_segment"),
    ]
    if has(catalog, "customer_segments", "customer_id", "segment_id", "segment_name"):
        behaviour = _with_shares(_df(
            con,
            "select seg.segment_name, min(seg.segment_id) as segment_id, count(*) as customers, "
            f"coalesce(sum(rfm.monetary_total), 0)::double as revenue{clv_col} "
            "from marts.customer_segments as seg left join marts.customer_rfm as rfm using (customer_id) "
            f"{clv_join} group by seg.segment_name order by segment_id",
        ))
        parts += [
            html.image(_share_bars(behaviour, "segment_name", "Behavioural segments (k-means)"), "segments"),
            _segment_table(behaviour, "segment_name"),
        ]
    else:
        parts.append(html.not_available("Behavioural segments need marts.customer_segments."))
    return "".join(parts)


# --------------------------------------------------------------------------- Pareto


PARETO_SQL = """
with buyers as (
    select monetary_total::double as revenue from marts.customer_rfm where monetary_total > 0
),
ranked as (
    select
        row_number() over (order by revenue desc) as position,
        count(*) over () as buyers,
        sum(revenue) over (order by revenue desc rows between unbounded preceding and current row)
            / sum(revenue) over () as cumulative_share
    from buyers
)
select ceil(1000.0 * position / buyers) / 1000 as customer_share, max(cumulative_share) as revenue_share
from ranked
group by 1
order by 1
"""


def _gini(curve: pd.DataFrame) -> float:
    """Gini of revenue from the concentration curve (1 = one customer has it all)."""
    x = np.concatenate([[0.0], curve["customer_share"].to_numpy(float)])
    y = np.concatenate([[0.0], curve["revenue_share"].to_numpy(float)])
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))  # area under the descending curve
    return 2 * area - 1


def _pareto(con: duckdb.DuckDBPyConnection, _: Catalog) -> str:
    curve = _df(con, PARETO_SQL)
    if curve.empty:
        return html.not_available("No buyer has positive revenue yet.")

    def share_at(p: float) -> float:
        return float(np.interp(p, curve["customer_share"], curve["revenue_share"]))

    marks = (0.01, 0.1, 0.2, 0.5)
    fig = Figure(figsize=(10, 4.6))
    ax = fig.subplots()
    x = np.concatenate([[0.0], curve["customer_share"]])
    y = np.concatenate([[0.0], curve["revenue_share"]])
    ax.plot(x, y, color=PALETTE[0], linewidth=2, label="cumulative share of revenue")
    ax.fill_between(x, x, y, color=PALETTE[0], alpha=0.12)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="every customer equal")
    for p in marks:
        s = share_at(p)
        ax.plot([p], [s], "o", color=PALETTE[2])
        ax.annotate(f"top {p:.0%}: {s:.0%}", (p, s), textcoords="offset points", xytext=(8, -14), fontsize=9)
    ax.set_xlabel("share of buyers, best first")
    ax.set_ylabel("share of revenue")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Revenue concentration (Pareto curve)", fontsize=11)
    items = [(f"revenue from the top {p:.0%} of buyers", f"{share_at(p):.0%}") for p in marks]
    items.append(("Gini coefficient of revenue", f"{_gini(curve):.2f}"))
    return html.kpis(items) + html.image(_png(fig), "Pareto curve")


# --------------------------------------------------------------------------- RFM heat map


def _rfm_heatmap(con: duckdb.DuckDBPyConnection, _: Catalog) -> str:
    cells = _df(
        con,
        "select r_score, f_score, count(*) as customers, avg(monetary_total)::double as mean_monetary, "
        "sum(monetary_total)::double as revenue from marts.customer_rfm group by all",
    )
    scores = [1, 2, 3, 4, 5]
    mean = cells.pivot(index="f_score", columns="r_score", values="mean_monetary").reindex(
        index=scores[::-1], columns=scores)
    count = cells.pivot(index="f_score", columns="r_score", values="customers").reindex(
        index=scores[::-1], columns=scores).fillna(0)
    fig = Figure(figsize=(10, 6))
    ax = fig.subplots()
    shown = np.ma.masked_invalid(mean.to_numpy(float))
    im = ax.imshow(shown, cmap="YlGnBu", aspect="auto")
    for i in range(len(scores)):
        for j in range(len(scores)):
            n = int(count.iloc[i, j])
            if n:
                v = mean.iloc[i, j]
                # white text where the colour map is dark (its upper part), black elsewhere
                dark = im.norm(v) > 0.55
                ax.text(j, i, f"{n:,} customers\navg {v:,.0f}", ha="center", va="center", fontsize=8.5,
                        color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(5), [f"R{s}" for s in scores])
    ax.set_yticks(range(5), [f"F{s}" for s in scores[::-1]])
    ax.set_xlabel("recency score (5 = bought most recently)")
    ax.set_ylabel("frequency score (5 = most orders)")
    fig.colorbar(im, ax=ax, label="mean monetary value (net revenue per customer)")
    ax.set_title("RFM: recency × frequency, coloured by monetary value", fontsize=11)
    best = cells.sort_values("revenue", ascending=False).head(1)
    note = ""
    if len(best):
        b = best.iloc[0]
        total = cells["revenue"].sum() or 1.0
        note = html.paragraph(
            f"The richest cell is R{int(b['r_score'])} × F{int(b['f_score'])}: {int(b['customers']):,} customers "
            f"with {b['revenue'] / total:.0%} of all revenue. Frequency scores tie when many customers have "
            "the same order count (all one-time buyers share one score), so some rows can be empty."
        )
    return html.image(_png(fig), "RFM heat map") + note


# --------------------------------------------------------------------------- migration


def _migration(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    latest = _df(
        con,
        "select from_snapshot_date, to_snapshot_date, from_rfm_segment, to_rfm_segment, customer_count, "
        "share_of_from_segment, is_same_segment from marts.rfm_segment_transitions "
        "where to_snapshot_date = (select max(to_snapshot_date) from marts.rfm_segment_transitions)",
    )
    if latest.empty:
        return html.not_available("marts.rfm_segment_transitions has no transitions yet (one month of history).")
    order_sql = "select rfm_segment, min(segment_order) from marts.customer_rfm group by 1 order by 2"
    order = [s for (s, _) in con.execute(order_sql).fetchall()] if has(catalog, "customer_rfm", "segment_order") else []
    seen = set(latest["from_rfm_segment"]) | set(latest["to_rfm_segment"])
    order = [s for s in order if s in seen] + sorted(seen - set(order))
    matrix = latest.pivot_table(index="from_rfm_segment", columns="to_rfm_segment", values="share_of_from_segment",
                                aggfunc="sum", fill_value=0.0)  # fmt: skip
    matrix = matrix.reindex(index=[s for s in order if s in matrix.index], columns=order, fill_value=0.0)
    period = f"{latest['from_snapshot_date'].iloc[0]:%Y-%m-%d} → {latest['to_snapshot_date'].iloc[0]:%Y-%m-%d}"
    png = plots.transition_heatmap(matrix, title=f"RFM segment migration {period} (share of each from-segment)")
    stayed = latest.loc[latest["is_same_segment"], "customer_count"].sum() / max(latest["customer_count"].sum(), 1)
    moves = (
        latest[~latest["is_same_segment"]]
        .sort_values("customer_count", ascending=False)
        .head(10)[["from_rfm_segment", "to_rfm_segment", "customer_count", "share_of_from_segment"]]
    )
    trend = _df(
        con,
        "select to_snapshot_date, sum(customer_count) filter (where is_same_segment) / sum(customer_count) as stayed "
        "from marts.rfm_segment_transitions group by 1 order by 1",
    )
    fig = Figure(figsize=(10, 2.6))
    ax = fig.subplots()
    ax.plot(pd.to_datetime(trend["to_snapshot_date"]), trend["stayed"], color=PALETTE[0], marker=".")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("stayed in segment")
    ax.set_title("Month-to-month segment stability", fontsize=10)
    return (
        html.paragraph(f"{stayed:.0%} of customers stayed in their segment over {period}; the largest moves:")
        + html.table(moves, {"customer_count": "{:,.0f}", "share_of_from_segment": "{:.1%}"})
        + html.image(png, "segment migration")
        + html.image(_png(fig), "segment stability")
    )


# --------------------------------------------------------------------------- CLV


def _clv(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    values = _df(con, "select clv_12m, p_alive from marts.customer_clv where clv_12m is not null")
    deciles = _df(
        con,
        "select clv_decile, count(*) as customers, sum(clv_12m) as clv_12m, avg(p_alive) as mean_p_alive "
        "from marts.customer_clv group by 1 order by 1",
    )
    clv = values["clv_12m"].to_numpy(float)
    cap = float(np.quantile(clv, 0.99)) if len(clv) else 1.0
    fig = Figure(figsize=(11, 3.8))
    left, right = fig.subplots(1, 2)
    left.hist(np.clip(clv, 0, cap), bins=40, color=PALETTE[0])
    left.axvline(float(np.mean(clv)) if len(clv) else 0, color=PALETTE[2], linestyle="--", label="mean")
    left.axvline(float(np.median(clv)) if len(clv) else 0, color=PALETTE[4], linestyle=":", label="median")
    left.xaxis.set_major_formatter(lambda v, _: _money(v))
    left.set_xlabel("expected 12-month CLV (top 1 % clipped)")
    left.set_ylabel("customers")
    left.legend(fontsize=8)
    left.set_title("Distribution of predicted CLV", fontsize=10)
    share = deciles["clv_12m"] / (deciles["clv_12m"].sum() or 1.0)
    right.bar(deciles["clv_decile"].astype(int), share, color=PALETTE[1])
    right.set_xticks(deciles["clv_decile"].astype(int))
    right.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    right.set_xlabel("CLV decile (10 = most valuable)")
    right.set_ylabel("share of expected 12-month value")
    right.set_title("Value by CLV decile", fontsize=10)
    parts = [
        html.kpis([
            ("customers scored", f"{len(clv):,}"),
            ("expected 12-month value", _money(float(clv.sum()))),
            ("mean CLV (12 months)", f"{float(np.mean(clv)) if len(clv) else 0:,.0f}"),
            ("top decile share", f"{float(share.iloc[-1]) if len(share) else 0:.0%}"),
            ("mean P(alive)", f"{float(values['p_alive'].mean()) if len(values) else 0:.0%}"),
        ]),
        html.image(_png(fig), "CLV distribution"),
    ]
    parts.append(_clv_calibration(con, catalog))
    return "".join(parts)


CALIBRATION_TABLE = "clv_holdout_calibration"


def _clv_calibration(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    """Predicted vs actual purchases in the hold-out period, by purchases in the calibration period."""
    if not has(catalog, CALIBRATION_TABLE, "frequency", "predicted", "actual"):
        return html.not_available(
            f"Calibration needs marts.{CALIBRATION_TABLE} (predicted and actual hold-out purchases by calibration "
            "frequency). Until it is published, the hold-out figures are in the Dagster UI on the asset "
            "models/clv_holdout_evaluation."
        )
    cal = _df(con, f"select frequency, customers, predicted, actual from marts.{CALIBRATION_TABLE} order by 1")
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    ax.plot(cal["frequency"], cal["actual"], marker="o", color=PALETTE[0], label="actual")
    ax.plot(cal["frequency"], cal["predicted"], marker="s", color=PALETTE[1], label="predicted (BG/NBD)")
    ax.set_xlabel("purchases in the calibration period (7 = 7 or more)")
    ax.set_ylabel("mean purchases in the hold-out period")
    ax.legend(fontsize=8)
    ax.set_title("CLV calibration: predicted vs actual in the hold-out period", fontsize=10)
    return html.image(_png(fig), "CLV calibration") + html.table(
        cal, {"customers": "{:,.0f}", "predicted": "{:.3f}", "actual": "{:.3f}"})


# --------------------------------------------------------------------------- lifecycle


def _lifecycle(con: duckdb.DuckDBPyConnection, _: Catalog) -> str:
    stages = _df(con, "select lifecycle_stage, count(*) as customers from marts.customer_lifecycle group by 1")
    by_stage = stages.set_index("lifecycle_stage")["customers"]
    known = [s for s in STAGE_ORDER if s in by_stage.index]
    funnel = by_stage.reindex(known + sorted(set(by_stage.index) - set(known))).fillna(0)
    png = plots.funnel_chart(funnel, title="Customers by lifecycle stage")
    return html.image(png, "lifecycle funnel")


# --------------------------------------------------------------------------- churn


def _churn(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    clv = has(catalog, "customer_clv", "customer_id", "clv_12m")
    value = "coalesce(sum(clv.clv_12m), 0)" if clv else "0"
    join = "left join marts.customer_clv as clv using (customer_id)" if clv else ""
    bands = _df(
        con,
        f"select risk.risk_band, count(*) as customers, avg(risk.churn_probability) as mean_churn_probability, "
        f"coalesce(sum(rfm.monetary_total), 0)::double as past_revenue, {value}::double as clv_12m "
        f"from marts.customer_churn_risk as risk left join marts.customer_rfm as rfm using (customer_id) {join} "
        "group by 1",
    )
    order = [b for b in BAND_ORDER if b in set(bands["risk_band"])]
    bands = bands.set_index("risk_band").reindex(order + sorted(set(bands["risk_band"]) - set(order))).reset_index()
    colors = {"low": PALETTE[4], "medium": PALETTE[5], "high": PALETTE[2]}
    probabilities = _df(con, "select churn_probability from marts.customer_churn_risk")["churn_probability"]
    fig = Figure(figsize=(11, 3.6))
    left, right = fig.subplots(1, 2)
    left.bar(bands["risk_band"], bands["customers"],
             color=[colors.get(b, PALETTE[0]) for b in bands["risk_band"]])  # fmt: skip
    for i, n in enumerate(bands["customers"]):
        left.text(i, n, f"{int(n):,}", ha="center", va="bottom", fontsize=9)
    left.set_ylabel("buyers")
    left.set_title("Buyers per churn risk band", fontsize=10)
    right.hist(probabilities, bins=30, color=PALETTE[0])
    right.set_xlabel("churn probability")
    right.set_ylabel("buyers")
    right.set_title("Distribution of churn probability", fontsize=10)
    fmt = {"customers": "{:,.0f}", "mean_churn_probability": "{:.1%}", "past_revenue": "{:,.0f}",
           "clv_12m": "{:,.0f}"}
    table = bands if clv else bands.drop(columns=["clv_12m"])
    high = bands[bands["risk_band"] == "high"]
    note = ""
    if len(high):
        h = high.iloc[0]
        note = html.paragraph(
            f"{int(h['customers']):,} buyers are at high risk; together they spent {_money(h['past_revenue'])}"
            + (f" and are expected to bring {_money(h['clv_12m'])} over the next 12 months." if clv else ".")
            + " The list is in marts.customer_churn_risk (see the README for the query)."
        )
    return html.image(_png(fig), "churn risk bands") + html.table(table, fmt) + note


# --------------------------------------------------------------------------- campaigns


def _roi_bars(frame: pd.DataFrame, label: str, title: str, ax: Axes) -> None:
    frame = frame.sort_values("roi")
    colors = [PALETTE[4] if r >= 0 else PALETTE[2] for r in frame["roi"]]
    ax.barh(frame[label].astype(str), frame["roi"], color=colors)
    ax.axvline(0, color="grey", linewidth=0.8)
    # a ratio, not a percentage: cheap channels reach ROIs of several hundred times their cost
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}×")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("ROI = (incremental gross profit − cost) / cost")


#: ROI is recomputed from summed profit and cost: averaging per-row ROIs would weight a tiny
#: campaign like a big one. One segmentation at a time: every contact appears once per
#: segmentation (and once more in the campaign-level rows, segmentation = 'all').
CAMPAIGN_ROI_SQL = """
select {label} as {alias}, sum(sent) as sent, sum(revenue) as revenue,
    sum(incremental_revenue) as incremental_revenue, sum(incremental_gross_profit) as incremental_gross_profit,
    sum(cost) as cost, (sum(incremental_gross_profit) - sum(cost)) / nullif(sum(cost), 0) as roi
from marts.campaign_performance
where segmentation = ?
group by 1
"""


def _campaigns(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str:
    by_channel = _df(con, CAMPAIGN_ROI_SQL.format(label="channel", alias="channel"), ["all"])
    by_segment = _df(con, CAMPAIGN_ROI_SQL.format(label="segment", alias="segment"), ["rfm_segment"])
    by_channel, by_segment = by_channel.dropna(subset=["roi"]), by_segment.dropna(subset=["roi"])
    panels = [(label, frame, title) for label, frame, title in (
        ("channel", by_channel, "Campaign ROI by channel"),
        ("segment", by_segment, "Campaign ROI by RFM segment (before the touch)"),
    ) if len(frame)]  # fmt: skip
    if not panels:
        return html.not_available("marts.campaign_performance has no campaign with a cost yet.")
    fig = Figure(figsize=(11, 0.3 * max(len(p[1]) for p in panels) + 2.2))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (label, frame, title) in zip(axes, panels, strict=True):
        _roi_bars(frame, label, title, ax)
    fig.subplots_adjust(wspace=0.45)
    fmt = {"sent": "{:,.0f}", "revenue": "{:,.0f}", "incremental_revenue": "{:,.0f}",
           "incremental_gross_profit": "{:,.0f}", "cost": "{:,.0f}", "roi": "{:,.1f}×"}
    parts = [
        html.image(_png(fig), "campaign ROI"),
        html.table(by_channel.sort_values("roi", ascending=False), fmt),
        _lift_chart(con),
    ]
    if has(catalog, "segment_profitability", "segmentation", "segment", "customers", "revenue", "net_profit", "roi"):
        parts.append(_segment_profitability(con))
    return "".join(parts)


def _lift_chart(con: duckdb.DuckDBPyConnection) -> str:
    """Each campaign's measured lift with its interval (campaign-level rows; intervals are never averaged)."""
    frame = _df(
        con,
        "select campaign_id || ' / ' || channel as label, sent, lift, lift_ci_lower, lift_ci_upper "
        "from marts.campaign_performance where segmentation = 'all' and lift is not null "
        "order by sent desc limit 25",
    )
    frame = frame.dropna()
    if frame.empty:
        return ""
    frame = frame.iloc[::-1]
    fig = Figure(figsize=(10, 0.3 * len(frame) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(frame))
    err = [frame["lift"] - frame["lift_ci_lower"], frame["lift_ci_upper"] - frame["lift"]]
    ax.errorbar(frame["lift"], y, xerr=err, fmt="o", color=PALETTE[0], ecolor=PALETTE[9], capsize=3)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, frame["label"].astype(str), fontsize=8)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:+.1%}")
    ax.set_xlabel("conversion rate of contacted − control customers (confidence interval)")
    ax.set_title(f"Incremental lift over the randomised control group ({len(frame)} largest campaigns)",
                 fontsize=10)  # fmt: skip
    return html.image(_png(fig), "campaign lift")


def _segment_profitability(con: duckdb.DuckDBPyConnection) -> str:
    frame = _df(con, "select segment, customers, revenue, net_profit, roi from marts.segment_profitability "
                     "where segmentation = 'rfm_segment' order by net_profit desc nulls last")  # fmt: skip
    return html.paragraph(
        "Profit of each RFM segment after all marketing cost allocated (marts.segment_profitability also has "
        "the five groups, behavioural segments, lifecycle stages and VAP cells):"
    ) + html.table(frame, {"customers": "{:,.0f}", "revenue": "{:,.0f}", "net_profit": "{:,.0f}", "roi": "{:,.1f}×"})


# --------------------------------------------------------------------------- attribution


#: the models side by side, from the simple rules to the data-driven one
ATTRIBUTION_ORDER = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")


def _attribution(con: duckdb.DuckDBPyConnection, _: Catalog) -> str:
    long = _df(con, "select attribution_model, channel, sum(revenue)::double as revenue "
                    "from marts.channel_attribution group by 1, 2")  # fmt: skip
    if long.empty:
        return html.not_available("marts.channel_attribution has no conversions yet.")
    revenue = long.pivot_table(index="channel", columns="attribution_model", values="revenue", aggfunc="sum",
                               fill_value=0.0)  # fmt: skip
    models = [m for m in ATTRIBUTION_ORDER if m in revenue.columns]
    revenue = revenue[models + sorted(set(revenue.columns) - set(models))]
    # channels ordered by what the data-driven model credits them (else the last model shown)
    revenue = revenue.sort_values("markov" if "markov" in revenue else revenue.columns[-1], ascending=False)
    share = revenue / revenue.sum(axis=0).replace(0, np.nan)
    fig = Figure(figsize=(11, 4.2))
    ax = fig.subplots()
    n = len(share.columns)
    x = np.arange(len(share.index))
    width = 0.8 / max(n, 1)
    for i, col in enumerate(share.columns):
        ax.bar(x + (i - (n - 1) / 2) * width, share[col].fillna(0), width=width, color=PALETTE[i % len(PALETTE)],
               label=str(col).replace("_", " "))  # fmt: skip
    ax.set_xticks(x, share.index.astype(str), rotation=20, ha="right")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("share of attributed revenue")
    ax.legend(fontsize=8, ncols=min(n, 6))
    ax.set_title("Revenue credited to each channel, by attribution model", fontsize=10)
    table = share.reset_index()
    table.columns = [str(c).replace("_", " ") for c in table.columns]
    return html.image(_png(fig), "attribution") + html.table(table, {c: "{:.1%}" for c in table.columns[1:]})


# --------------------------------------------------------------------------- the list


SECTIONS: tuple[Section, ...] = (
    Section("overview", "At a glance", "The customer base as of the latest data.",
            {"dim_customers": ["is_identified", "is_buyer", "order_count", "total_revenue", "as_of_date"]},
            _overview),
    Section("segments", "Segment sizes and value",
            "Each segment's share of buyers beside its share of revenue to date (and of expected 12-month value): "
            "segments whose value bar is longer than their customer bar are worth more than their size suggests.",
            {"customer_rfm": ["customer_id", "rfm_segment", "segment_order", "monetary_total"]}, _segments),
    Section("pareto", "Revenue concentration",
            "Buyers sorted from the most to the least valuable: how much of all revenue the best x % bring.",
            {"customer_rfm": ["monetary_total"]}, _pareto),
    Section("rfm", "RFM heat map",
            "Buyers by recency and frequency score; the colour is their mean monetary value. Top right are the "
            "champions, bottom left the lost one-time buyers.",
            {"customer_rfm": ["r_score", "f_score", "monetary_total"]}, _rfm_heatmap),
    Section("migration", "Segment migration",
            "How customers moved between RFM segments from one month-end to the next (row shares).",
            {"rfm_segment_transitions": ["from_snapshot_date", "to_snapshot_date", "from_rfm_segment",
                                         "to_rfm_segment", "customer_count", "share_of_from_segment",
                                         "is_same_segment"]},
            _migration),
    Section("clv", "Customer lifetime value",
            "Expected discounted value of each customer over the next 12 months (BG/NBD + Gamma-Gamma), how it "
            "is spread, and how well the model predicted a period it had not seen.",
            {"customer_clv": ["clv_12m", "p_alive", "clv_decile"]}, _clv),
    Section("lifecycle", "Lifecycle funnel", "Customers per lifecycle stage, from prospect to churned.",
            {"customer_lifecycle": ["lifecycle_stage"]}, _lifecycle),
    Section("churn", "Churn risk",
            "Buyers by predicted churn risk band (no order in the horizon) and what they are worth.",
            {"customer_churn_risk": ["customer_id", "risk_band", "churn_probability"],
             "customer_rfm": ["customer_id", "monetary_total"]},
            _churn),
    Section("campaigns", "Campaign ROI",
            "Return on campaign spend by channel and by segment, and the incremental lift over each campaign's "
            "randomised control group.",
            {"campaign_performance": ["campaign_id", "segmentation", "segment", "channel", "sent", "revenue",
                                      "incremental_revenue", "incremental_gross_profit", "cost", "lift",
                                      "lift_ci_lower", "lift_ci_upper"]},
            _campaigns, missing_hint=ISSUE_7),
    Section("attribution", "Attribution by channel",
            "Revenue credited to each channel by first-touch, last-touch, linear, time-decay, position-based and "
            "data-driven (Markov) attribution, side by side.",
            {"channel_attribution": ["attribution_model", "channel", "revenue"]}, _attribution,
            missing_hint=ISSUE_7),
)
