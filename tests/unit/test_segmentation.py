"""Segmentation library on synthetic buyers with a known cluster structure.

Four planted groups with the behaviour their names describe (high-value frequent app
shoppers, discount-driven web buyers, lapsed store buyers, new marketplace buyers): the
model must find k = 4, recover the groups, name them after what makes them different,
and call them stable — and call structureless data unstable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from orchestration.ml import plots, segment_naming, segment_profiles, segment_stability
from orchestration.ml import segmentation as seg
from orchestration.ml.features import (
    DAYS_CAP,
    SEGMENTATION_FEATURES,
    FeaturePreparer,
    build_feature_pipeline,
    load_artifact,
    save_artifact,
)

GROUPS = ("high-value app", "discount web", "lapsed store", "new marketplace")


def planted_buyers(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Buyers from four groups; returns the feature frame and the true group of each row."""
    rng = np.random.default_rng(seed)
    g = rng.choice(4, size=n, p=[0.2, 0.3, 0.3, 0.2])

    def lognormal(means: list[float], sigma: float = 0.3) -> np.ndarray:
        return np.exp(rng.normal(np.log(np.asarray(means)[g]), sigma))

    df = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "recency_days": lognormal([15, 60, 400, 20]),
            "order_count": np.maximum(1, rng.poisson(np.array([20, 3, 2, 2])[g])),
            "average_order_value": lognormal([400, 80, 150, 120]),
            "tenure_days": lognormal([900, 500, 800, 40]),
        }
    )
    df["mean_interpurchase_days"] = np.where(df.order_count > 1, df.tenure_days / (df.order_count - 1), np.nan)
    mixes = np.array([[0.2, 0.7, 0.05, 0.05], [0.7, 0.1, 0.1, 0.1], [0.1, 0.05, 0.05, 0.8], [0.1, 0.1, 0.7, 0.1]])
    shares = np.vstack([rng.dirichlet(mixes[k] * 20) for k in g])
    for j, col in enumerate(["web_order_share", "app_order_share", "marketplace_order_share", "store_order_share"]):
        df[col] = shares[:, j]
    df["discount_share"] = np.clip(rng.normal(np.array([0.02, 0.3, 0.05, 0.08])[g], 0.04), 0, 1)
    df["coupon_order_share"] = np.clip(rng.normal(np.array([0.05, 0.6, 0.1, 0.1])[g], 0.1), 0, 1)
    df["return_rate"] = rng.beta(1, 15, n)
    df["email_open_rate"] = np.clip(rng.normal(np.array([0.5, 0.3, 0.1, 0.2])[g], 0.1), 0, 1)
    df["email_click_rate"] = np.clip(df.email_open_rate * rng.uniform(0.1, 0.5, n), 0, 1)
    df["days_since_last_email_open"] = lognormal([7, 30, 300, 60], 0.5)
    df["web_sessions_last_90_days"] = rng.poisson(np.array([3, 5, 0.2, 1])[g])
    df["app_sessions_last_90_days"] = rng.poisson(np.array([10, 0.5, 0.1, 2])[g])
    df["is_member"] = rng.random(n) < np.array([0.9, 0.4, 0.3, 0.3])[g]
    df["monetary_total"] = df.order_count * df.average_order_value
    return df, g


LIGHT = {"k_min": 2, "k_max": 7, "n_init": 3, "stability_seeds": 2, "bootstrap_rounds": 3, "stability_sample": 800}


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray]:
    return planted_buyers()


@pytest.fixture(scope="module")
def kmeans_result(planted: tuple[pd.DataFrame, np.ndarray]) -> seg.SegmentationResult:
    frame, _ = planted
    return seg.train_segmentation(frame, seg.SegmentationConfig(**LIGHT))


def _segment_of(result: seg.SegmentationResult, truth: np.ndarray, group: int) -> int:
    """The segment holding most of a planted group."""
    return int(pd.Series(result.labels[truth == group]).mode().iloc[0])


def test_kmeans_finds_the_planted_k_and_groups(kmeans_result, planted):
    _, truth = planted
    assert kmeans_result.model.k == 4
    assert kmeans_result.selection.elbow_k == 4
    assert adjusted_rand_score(truth, kmeans_result.labels) > 0.95
    sel = kmeans_result.selection.table
    assert list(sel["k"]) == list(range(2, 8))
    # silhouette and Calinski–Harabasz agree on this well-separated data
    assert int(sel.loc[sel["calinski_harabasz"].idxmax(), "k"]) == 4


def test_segment_ids_are_ordered_by_size(kmeans_result):
    sizes = pd.Series(kmeans_result.labels).value_counts()
    assert list(sizes.index) == sorted(sizes.index)  # 1 = largest
    assert set(sizes.index) == {1, 2, 3, 4}


def test_names_describe_what_makes_each_group_different(kmeans_result, planted):
    _, truth = planted
    names = kmeans_result.model.segment_names
    assert len(set(names.values())) == len(names)
    assert names[_segment_of(kmeans_result, truth, 0)].startswith("High-value frequent app shoppers")
    assert names[_segment_of(kmeans_result, truth, 1)].startswith("Discount-driven")
    assert names[_segment_of(kmeans_result, truth, 2)].startswith("Lapsed")
    assert "in-store" in names[_segment_of(kmeans_result, truth, 2)]
    assert names[_segment_of(kmeans_result, truth, 3)].startswith("New")
    assert "marketplace" in names[_segment_of(kmeans_result, truth, 3)]


def test_value_in_names_follows_revenue_per_customer():
    """A segment with three times the average revenue per customer is high-value even when its
    order value is ordinary (it buys often); half the average or less is low-value."""
    z = pd.DataFrame({"average_order_value": [0.1, 0.0, -0.1], "order_count": [1.2, 0.0, -0.2]}, index=[1, 2, 3])
    names = segment_naming.name_segments(z, value_index={1: 3.0, 2: 1.0, 3: 0.4})
    assert names[1].startswith("High-value frequent")
    assert names[2] == "Average buyers"
    assert names[3].startswith("Low-value")


def test_profiles_carry_the_planted_differences(kmeans_result, planted):
    _, truth = planted
    z = segment_profiles.zscore_matrix(kmeans_result.profiles)
    high_value = _segment_of(kmeans_result, truth, 0)
    discount = _segment_of(kmeans_result, truth, 1)
    assert z.loc[high_value, "average_order_value"] > 1.0
    assert z.loc[discount, "discount_share"] > 1.0
    profile = kmeans_result.profiles
    row = profile[(profile.segment_id == high_value) & (profile.feature == "order_count")].iloc[0]
    assert row.segment_mean > 2 * row.population_mean  # natural units, not z
    # extra (non-model) columns are profiled in natural units only
    assert "monetary_total" in set(profile.feature)
    assert profile.loc[profile.feature == "monetary_total", "z_score"].isna().all()


def test_sizes_and_revenue_shares_add_up(kmeans_result, planted):
    frame, truth = planted
    sizes = segment_profiles.sizes(kmeans_result.profiles)
    assert sizes["customer_count"].sum() == len(frame)
    assert sizes["customer_share"].sum() == pytest.approx(1.0)
    assert sizes["revenue_share"].sum() == pytest.approx(1.0)
    assert sizes["revenue"].sum() == pytest.approx(frame["monetary_total"].sum())
    # the high-value frequent group holds far more of the revenue than of the customers
    hv = sizes.set_index("segment_id").loc[_segment_of(kmeans_result, truth, 0)]
    assert hv["revenue_share"] > 2 * hv["customer_share"]
    assert kmeans_result.metrics["largest_revenue_share"] == pytest.approx(sizes["revenue_share"].max())


def test_profile_leaves_out_undefined_means_and_profiles_category_mix():
    frame = pd.DataFrame(
        {
            "order_count": [1, 1, 5, 6],
            "mean_interpurchase_days": [np.nan, np.nan, 20.0, 30.0],  # undefined for single-order buyers
            "monetary_total": [10.0, 30.0, 100.0, 60.0],
        }
    )
    mix = pd.DataFrame(
        {
            "customer_id": ["a", "a", "c", "d"],
            "category": ["toys", "food", "food", "toys"],
            "item_share": [0.25, 0.75, 1, 1],
        }
    )
    frame = pd.concat([frame, segment_profiles.category_shares(mix, pd.Series(["a", "b", "c", "d"]))], axis=1)
    assert frame["category_share_food"].tolist()[:1] == [0.75] and np.isnan(frame.loc[1, "category_share_food"])
    labels = np.array([1, 1, 2, 2])
    features = ("order_count", "mean_interpurchase_days")
    prepared = build_feature_pipeline(features, scale=False).fit_transform(frame)
    profiles = segment_profiles.profile_segments(
        frame, labels, prepared, features, {1: "One-off", 2: "Regulars"}, ["category_share_food", "monetary_total"]
    )
    assert profiles[["segment_mean", "population_mean"]].notna().all().all()
    assert not ((profiles.segment_id == 1) & (profiles.feature == "mean_interpurchase_days")).any()
    food = profiles.set_index(["segment_id", "feature"]).loc[(2, "category_share_food"), "segment_mean"]
    assert food == pytest.approx(0.5)
    sizes = segment_profiles.sizes(profiles).set_index("segment_id")
    assert sizes.loc[2, "revenue_share"] == pytest.approx(0.8)
    assert sizes.loc[1, "segment_name"] == "One-off"


def test_well_separated_segments_are_stable(kmeans_result):
    stab = kmeans_result.stability
    assert stab.mean_seed_ari > 0.95
    assert stab.mean_bootstrap_ari > 0.95
    assert stab.min_jaccard > 0.85
    assert set(stab.table()["verdict"]) == {"highly stable"}


def test_structureless_data_is_reported_unstable():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(600, 3)), columns=["discount_share", "email_open_rate", "return_rate"])
    frame = frame.abs().clip(0, 1)
    config = seg.SegmentationConfig(
        features=tuple(frame.columns), k_min=5, k_max=5, n_init=2, stability_seeds=2, bootstrap_rounds=4
    )
    result = seg.train_segmentation(frame, config)
    assert result.stability.min_jaccard < 0.85
    assert result.metrics["silhouette"] < 0.4


@pytest.mark.parametrize("method", ["gmm", "ward"])
def test_alternative_methods_recover_the_groups(method, planted):
    frame, truth = planted
    # full covariances: with diagonal ones BIC prefers 7 components here, splitting groups
    # along the binary is_member and Poisson session counts a diagonal Gaussian cannot fit
    config = seg.SegmentationConfig(method=method, gmm_covariance_types=("full",), **LIGHT)
    result = seg.train_segmentation(frame, config)
    assert result.model.k == 4
    assert adjusted_rand_score(truth, result.labels) > 0.9
    if method == "gmm":
        assert "bic" in result.selection.table.columns
        best = result.selection.table.sort_values("bic").iloc[0]
        assert int(best["k"]) == 4
    # every row gets a segment, and scoring agrees with training
    assert (result.model.predict(frame) == result.labels).all()


def test_saved_model_scores_identically_whatever_the_column_order(kmeans_result, planted, tmp_path):
    frame, _ = planted
    path = save_artifact(kmeans_result.model, tmp_path / "segmentation_model.joblib")
    loaded = load_artifact(path)
    shuffled = frame[frame.columns[::-1]].assign(unrelated=1.0)
    assert (loaded.predict(shuffled) == kmeans_result.labels).all()
    scored = loaded.score_frame(frame)
    assert list(scored.columns) == ["segment_id", "segment_name", "distance_to_centre"]
    assert (scored["distance_to_centre"] >= 0).all()


def test_pca_view_explains_part_of_the_variance(kmeans_result):
    pca = kmeans_result.pca
    assert pca.coords.shape[1] == 2
    assert 0 < pca.explained_variance_ratio.sum() <= 1
    assert pca.explained_variance_ratio[0] >= pca.explained_variance_ratio[1]


def test_agreement_and_crosstab():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert seg.agreement(np.array([5, 5, 7, 7, 9, 9]), truth)["ari"] == pytest.approx(1.0)
    table = seg.crosstab(np.array([1, 1, 2, 2, 2, 2]), truth, {1: "A", 2: "B"})
    assert table.loc["B"].sum() == 4


def test_jaccard_bands_follow_the_field_notes():
    assert [segment_stability.jaccard_band(v) for v in (0.5, 0.6, 0.74, 0.75, 0.85, 0.99)] == [
        "unstable", "doubtful", "doubtful", "stable", "highly stable", "highly stable",
    ]  # fmt: skip


def test_config_rejects_impossible_ranges():
    with pytest.raises(ValueError):
        seg.SegmentationConfig(k_min=5, k_max=3)
    with pytest.raises(ValueError):
        seg.SegmentationConfig(method="dbscan")  # type: ignore[arg-type]


def test_too_few_customers_is_an_error(planted):
    frame, _ = planted
    with pytest.raises(ValueError, match="at least"):
        seg.train_segmentation(frame.head(20), seg.SegmentationConfig(**LIGHT))


# ----------------------------------------------------------------------------- features


def test_preparer_logs_clips_and_fills_by_rule():
    frame = pd.DataFrame(
        {
            "order_count": [0, 9, None],  # log, missing = none
            "discount_share": [-0.2, 1.5, None],  # rate, clipped to [0, 1]
            "days_since_last_web_session": [0, 30, None],  # log, missing = never (cap)
            "mean_interpurchase_days": [10.0, 30.0, None],  # log, missing = training median
        }
    )
    prep = FeaturePreparer(tuple(frame.columns)).fit(frame)
    out = prep.transform(frame)
    assert out[:, 0].tolist() == pytest.approx([0.0, np.log(10), 0.0])
    assert out[:, 1].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert out[:, 2].tolist() == pytest.approx([0.0, np.log1p(30), np.log1p(DAYS_CAP)])
    assert out[2, 3] == pytest.approx(np.log1p(20.0))


def test_preparer_applies_training_medians_when_scoring():
    train = pd.DataFrame({"mean_interpurchase_days": [10.0, 20.0, 30.0]})
    score = pd.DataFrame({"mean_interpurchase_days": [None, 1000.0]})
    prep = FeaturePreparer(("mean_interpurchase_days",)).fit(train)
    assert prep.transform(score)[0, 0] == pytest.approx(np.log1p(20.0))


def test_preparer_refuses_missing_and_unknown_columns():
    with pytest.raises(KeyError, match="lacks"):
        FeaturePreparer(("order_count",)).fit(pd.DataFrame({"x": [1]}))
    with pytest.raises(KeyError, match="no FeatureSpec"):
        FeaturePreparer(("not_a_feature",)).fit(pd.DataFrame({"not_a_feature": [1]}))


def test_pipeline_accepts_nullable_and_decimal_columns():
    frame = pd.DataFrame(
        {
            "order_count": pd.array([1, None, 3], dtype="Int64"),
            "average_order_value": pd.array([10.5, 20.0, None], dtype="Float64"),
            "is_member": pd.array([True, None, False], dtype="boolean"),
        }
    )
    out = build_feature_pipeline(tuple(frame.columns)).fit_transform(frame)
    assert np.isfinite(out).all()
    assert set(SEGMENTATION_FEATURES) >= set(frame.columns)


# ----------------------------------------------------------------------------- plots


def test_plots_render_png_and_markdown(kmeans_result):
    names = kmeans_result.model.segment_names
    pngs = [
        plots.k_selection_chart(kmeans_result.selection.table, kmeans_result.model.k, kmeans_result.selection.elbow_k),
        plots.profile_heatmap(segment_profiles.zscore_matrix(kmeans_result.profiles), names),
        plots.pca_scatter(
            kmeans_result.pca.coords, kmeans_result.pca.segment_ids, kmeans_result.pca.explained_variance_ratio, names
        ),
        plots.funnel_chart(pd.Series({"prospect": 10, "new": 5, "active": 3})),
        plots.vap_grid_chart(
            pd.DataFrame(
                {
                    "value_band": ["high"],
                    "attrition_band": ["low"],
                    "potential_band": ["high"],
                    "customers": [7],
                    "historical_value": [12_345.0],
                }
            )
        ),
        plots.category_mix_chart(kmeans_result.profiles, names),
    ]
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    md = plots.png_markdown(pngs[0], "k")
    assert md.startswith("![k](data:image/png;base64,")
    table = plots.markdown_table(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x|y", "z"]}))
    assert table.splitlines()[2] == "| 1.235 | x\\|y |"
