"""Fitting, scoring and evaluating CLV models on a customer-grain purchase summary.

The summary comes from dbt (``int_customer_purchases_summarised``): one row per customer
with frequency, recency and T in weeks and the mean repeat-purchase value, as of the
observation end and as of an earlier calibration end. Everything here is pure pandas /
numpy on that frame, so the Dagster assets stay thin and this is testable on its own.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from orchestration.ml.clv import WEEKS_PER_MONTH, BetaGeo, GammaGamma

DAYS_PER_WEEK = 7.0
#: below this many repeat customers the Gamma-Gamma spend model is not identified well;
#: the expected order value then falls back to the observed mean.
MIN_REPEAT_CUSTOMERS = 30


@dataclass
class ClvModels:
    """A fitted BG/NBD transaction model and (when identifiable) a Gamma-Gamma spend model."""

    transaction: BetaGeo
    spend: GammaGamma | None
    mean_order_value: float
    n_customers: int
    n_repeat_customers: int
    fit_seconds: float
    columns: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, float]:
        """Flat numeric figures worth tracking across runs."""
        out: dict[str, float] = {f"bgnbd_{k}": float(v) for k, v in self.transaction.params_.items()}
        out["bgnbd_log_likelihood"] = float(self.transaction.log_likelihood_)
        out.update({f"bgnbd_se_{k}": float(v) for k, v in self.transaction.standard_errors_.items()})
        if self.spend is not None:
            out.update({f"gamma_gamma_{k}": float(v) for k, v in self.spend.params_.items()})
            out["gamma_gamma_log_likelihood"] = float(self.spend.log_likelihood_)
        out.update(
            n_customers=float(self.n_customers), n_repeat_customers=float(self.n_repeat_customers),
            fit_seconds=round(self.fit_seconds, 3), mean_order_value=round(self.mean_order_value, 2),
        )
        return out


def fit_clv_models(
    summary: pd.DataFrame,
    frequency: str = "frequency",
    recency: str = "recency_weeks",
    T: str = "t_weeks",
    monetary: str = "monetary_value",
) -> ClvModels:
    """Fit BG/NBD on everyone and Gamma-Gamma on repeat customers with positive spend."""
    data = summary.dropna(subset=[frequency, recency, T])
    if data.empty:
        raise ValueError("no customers with purchases to fit CLV models on")
    start = time.perf_counter()
    transaction = BetaGeo().fit(data[frequency], data[recency], data[T])
    repeat = data[(data[frequency] > 0) & (data[monetary] > 0)]
    spend = None
    if len(repeat) >= MIN_REPEAT_CUSTOMERS:
        spend = GammaGamma().fit(repeat[frequency], repeat[monetary])
    mean_value = float(repeat[monetary].mean()) if len(repeat) else 0.0
    return ClvModels(
        transaction, spend, mean_value, len(data), len(repeat), time.perf_counter() - start,
        {"frequency": frequency, "recency": recency, "T": T, "monetary": monetary},
    )


def expected_order_value(models: ClvModels, frequency: pd.Series, monetary: pd.Series) -> np.ndarray:
    """Gamma-Gamma's conditional mean order value; the population mean for one-time buyers."""
    if models.spend is None:
        return np.where(frequency > 0, monetary, models.mean_order_value).astype(float)
    p, q, v = (models.spend.params_[k] for k in ("p", "q", "v"))
    population_mean = p * v / (q - 1) if q > 1 else models.mean_order_value
    repeat = (frequency > 0) & (monetary > 0)
    out = np.full(len(frequency), population_mean, dtype=float)
    if repeat.any():
        out[repeat.to_numpy()] = models.spend.expected_average_value(frequency[repeat], monetary[repeat])
    return out


def score_customers(
    models: ClvModels, summary: pd.DataFrame, discount_rate_monthly: float = 0.01
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases in 30 / 90 / 365 days, order value, CLV, decile."""
    c = models.columns
    x, tx, t = summary[c["frequency"]], summary[c["recency"]], summary[c["T"]]
    value = expected_order_value(models, x, summary[c["monetary"]])
    bg = models.transaction
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    out["p_alive"] = np.asarray(bg.probability_alive(x, tx, t))
    for days in (30, 90, 365):
        out[f"expected_purchases_{days}d"] = np.asarray(bg.expected_purchases(days / DAYS_PER_WEEK, x, tx, t))
    out["expected_order_value"] = value
    for months in (12, 36):
        out[f"clv_{months}m"] = _discounted_clv(bg, x, tx, t, value, months, discount_rate_monthly)
    # Decile 10 holds the most valuable tenth; ranks break ties by order of appearance.
    ranks = out["clv_12m"].rank(method="first")
    out["clv_decile"] = np.ceil(ranks / len(out) * 10).clip(1, 10).astype(int)
    return out


def _discounted_clv(
    bg: BetaGeo, x: pd.Series, tx: pd.Series, t: pd.Series, value: np.ndarray, months: int, rate: float
) -> np.ndarray:
    """Sum over months of expected purchases in the month × expected order value, discounted."""
    total = np.zeros(len(x))
    previous = np.zeros(len(x))
    for k in range(1, months + 1):
        cumulative = np.asarray(bg.expected_purchases(k * WEEKS_PER_MONTH, x, tx, t))
        total += (cumulative - previous) * value / (1.0 + rate) ** k
        previous = cumulative
    return total


def holdout_evaluation(summary: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Fit on the calibration period, predict the hold-out period, compare with what happened.

    Returns headline figures (MAE of purchases, Spearman of predicted value with realised
    revenue, share of hold-out revenue in the top predicted decile) and the classic
    calibration-vs-hold-out table: mean predicted and actual hold-out purchases by
    calibration frequency.
    """
    cal = summary[summary["is_in_calibration"].astype(bool)].copy()
    if cal.empty:
        raise ValueError("no customers first bought before the calibration end")
    models = fit_clv_models(
        cal, "frequency_calibration", "recency_calibration_weeks", "t_calibration_weeks",
        "monetary_value_calibration",
    )
    weeks = float((pd.to_datetime(cal["as_of_date"]) - pd.to_datetime(cal["calibration_end_date"])).dt.days.iloc[0])
    weeks /= DAYS_PER_WEEK
    x, tx, t = cal["frequency_calibration"], cal["recency_calibration_weeks"], cal["t_calibration_weeks"]
    predicted = np.asarray(models.transaction.expected_purchases(weeks, x, tx, t))
    value = expected_order_value(models, x, cal["monetary_value_calibration"])
    predicted_value = predicted * value
    actual = cal["frequency_holdout"].to_numpy(dtype=float)
    revenue = cal["revenue_holdout"].to_numpy(dtype=float)
    top = predicted_value >= np.quantile(predicted_value, 0.9)
    rho = spearmanr(predicted_value, revenue).statistic if revenue.std() > 0 else float("nan")
    metrics = {
        "holdout_weeks": round(weeks, 2),
        "customers_evaluated": len(cal),
        "mae_purchases": float(np.mean(np.abs(predicted - actual))),
        "predicted_purchases_total": float(predicted.sum()),
        "actual_purchases_total": float(actual.sum()),
        "spearman_value_vs_revenue": float(rho),
        "top_decile_revenue_share": float(revenue[top].sum() / revenue.sum()) if revenue.sum() > 0 else 0.0,
    }
    by_frequency = (
        pd.DataFrame({"frequency": x.clip(upper=7).astype(int), "predicted": predicted, "actual": actual})
        .groupby("frequency").agg(customers=("actual", "size"), predicted=("predicted", "mean"),
                                  actual=("actual", "mean")).reset_index()
    )
    return metrics, by_frequency


def _png(fig: object) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def plot_model_matrices(models: ClvModels, max_frequency: int = 20, max_t: float | None = None) -> bytes:
    """Expected purchases next 52 weeks and P(alive) over frequency × recency, at the median T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bg = models.transaction
    t = max_t or 52.0
    freq = np.arange(0, max_frequency + 1)
    rec = np.linspace(t / 40, t, 40)
    f_grid, r_grid = np.meshgrid(freq, rec)
    # A customer with no repeat purchase has recency 0 by definition (first column).
    r_grid = np.where(f_grid == 0, 0.0, r_grid)
    args = (f_grid.ravel(), r_grid.ravel(), np.full(f_grid.size, t))
    exp = np.asarray(bg.expected_purchases(52.0, *args)).reshape(f_grid.shape)
    alive = np.asarray(bg.probability_alive(*args)).reshape(f_grid.shape)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, data, title in ((axes[0], exp, "Expected purchases, next 52 weeks"),
                            (axes[1], alive, "Probability alive")):
        im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis",
                       extent=(freq[0] - 0.5, freq[-1] + 0.5, rec[0], rec[-1]))
        ax.set_xlabel("frequency (repeat purchases)")
        ax.set_ylabel("recency (weeks)")
        ax.set_title(f"{title} (T = {t:.0f} weeks)")
        fig.colorbar(im, ax=ax)
    return _png(fig)


def plot_calibration_holdout(by_frequency: pd.DataFrame) -> bytes:
    """Mean predicted vs actual hold-out purchases by calibration-period frequency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(by_frequency["frequency"], by_frequency["actual"], "o-", label="actual")
    ax.plot(by_frequency["frequency"], by_frequency["predicted"], "s--", label="predicted (BG/NBD)")
    ax.set_xlabel("purchases in calibration period (7 = 7+)")
    ax.set_ylabel("mean purchases in hold-out period")
    ax.legend()
    ax.set_title("Calibration vs hold-out")
    return _png(fig)
