"""Behavioural segmentation: choose k, fit, name the segments, and measure their stability.

The field-notes recipe, made repeatable:

* features are log-transformed and robust-scaled by the pipeline in :mod:`features`, which
  is fitted with the model and pickled with it;
* k-means k is chosen over a range by the **silhouette** (computed on a sample: it is
  O(n²)); Calinski–Harabasz, Davies–Bouldin and the Kneedle **elbow** of the inertia
  (convex, decreasing) are reported as diagnostics, because they often disagree and a
  reader should see by how much;
* a Gaussian mixture (components × covariance type by **BIC**) and Ward hierarchical
  clustering (cut at the silhouette-best k) are configurable alternatives;
* segments get a **size, revenue share and profile** (:mod:`segment_profiles`) and a
  readable **name** from it (:mod:`segment_naming`);
* **stability** (:mod:`segment_stability`): adjusted Rand index across seeds and bootstrap
  refits, and per-segment bootstrap Jaccard.

Large inputs: k selection runs on a sample, the final model is fitted on at most
``fit_sample`` rows and then assigns every customer, so cost is bounded whatever the
customer count. Pure: pandas / numpy / scipy / scikit-learn only.
"""

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from kneed import KneeLocator
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline

from orchestration.ml.features import PROFILE_EXTRA_FEATURES, SEGMENTATION_FEATURES, build_feature_pipeline
from orchestration.ml.segment_naming import names_from_profiles
from orchestration.ml.segment_profiles import CATEGORY_SHARE_PREFIX, profile_segments
from orchestration.ml.segment_stability import StabilityReport, stability

log = logging.getLogger(__name__)

Method = Literal["kmeans", "gmm", "ward"]
METHODS: tuple[Method, ...] = ("kmeans", "gmm", "ward")
SELECTION_COLUMNS = ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]


@dataclass(frozen=True)
class SegmentationConfig:
    """Everything that decides a segmentation; the defaults suit 10³–10⁶ buyers on 2 cores."""

    features: tuple[str, ...] = SEGMENTATION_FEATURES
    method: Method = "kmeans"
    k_min: int = 2
    k_max: int = 10
    #: rows used to choose k (fits per k); silhouette on a further sub-sample
    selection_sample: int = 20_000
    silhouette_sample: int = 5_000
    #: the final k-means / mixture is fitted on at most this many rows, then assigns all
    fit_sample: int = 200_000
    #: Ward needs the O(n²) distance matrix: it runs on this many rows, the rest go to the nearest centroid
    ward_sample: int = 5_000
    n_init: int = 10
    gmm_covariance_types: tuple[str, ...] = ("full", "diag")
    #: variance floor added to the mixture covariances, in scaled units (a feature's 10-90 % range is 1,
    #: so its variance is about 0.15). Discrete features (counts, is_member, capped "never" values) let
    #: components collapse onto single values, which BIC rewards with ever more components: at 0.01 BIC
    #: chose 6 components for 4 planted groups and the maximum (8) on simulated buyers; at 0.05 it
    #: chooses 4 and 5 (the number of buying personas)
    gmm_reg_covar: float = 0.05
    stability_seeds: int = 5
    bootstrap_rounds: int = 10
    stability_sample: int = 5_000
    #: |z| above which a profile trait enters a segment's name
    name_threshold: float = 0.5
    random_state: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}..{self.k_max}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")

    @property
    def min_customers(self) -> int:
        return max(50, 5 * self.k_max)


class CentroidAssigner:
    """Assigns rows to the nearest centre: how Ward clusters fitted on a sample label everyone.

    Ward merges minimise the within-cluster sum of squares, so the nearest cluster mean is
    the assignment consistent with its objective.
    """

    def __init__(self, centers: np.ndarray) -> None:
        self.cluster_centers_ = np.asarray(centers, dtype=np.float64)

    def predict(self, X: np.ndarray, chunk: int = 200_000) -> np.ndarray:
        out = np.empty(len(X), dtype=np.int64)
        c2 = (self.cluster_centers_**2).sum(axis=1)
        for start in range(0, len(X), chunk):
            block = X[start : start + chunk]
            out[start : start + chunk] = (c2[None, :] - 2.0 * block @ self.cluster_centers_.T).argmin(axis=1)
        return out


@dataclass
class SegmentationModel:
    """A fitted segmentation: feature pipeline + clusterer + segment ids and names.

    Pickled as a whole (``features.save_artifact``) so scoring applies exactly the training
    transforms. Raw cluster labels are renumbered 1..k by decreasing training size, so
    segment 1 is always the largest.
    """

    pipeline: Pipeline
    method: Method
    clusterer: Any
    k: int
    #: raw label → segment id (1..k)
    relabel: np.ndarray
    segment_names: dict[int, str] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    n_train: int = 0
    #: free-form facts about the training run (as-of date, version), kept with the model
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Cluster centres in the scaled space, in raw-label order (mixture means for GMM)."""
        est = self.clusterer
        return np.asarray(est.means_ if self.method == "gmm" else est.cluster_centers_, dtype=np.float64)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The scaled model matrix of a customer frame."""
        return self.pipeline.transform(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Segment id (1..k) of every row of ``frame``."""
        return self.predict_matrix(self.transform(frame))

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        return self.relabel[np.asarray(self.clusterer.predict(X), dtype=np.int64)]

    def names_of(self, segment_ids: np.ndarray) -> np.ndarray:
        """Segment name of every id (vectorised: one lookup table, not a loop over rows)."""
        table = np.array([self.segment_names.get(s, f"Segment {s}") for s in range(self.k + 1)], dtype=object)
        return table[np.asarray(segment_ids, dtype=np.int64)]

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """segment_id, segment_name and distance_to_centre (scaled space) for every row."""
        X = self.transform(frame)
        raw = np.asarray(self.clusterer.predict(X), dtype=np.int64)
        seg = self.relabel[raw]
        dist = np.sqrt(((X - self.centers[raw]) ** 2).sum(axis=1))
        return pd.DataFrame({"segment_id": seg, "segment_name": self.names_of(seg), "distance_to_centre": dist})

    def profile(self, frame: pd.DataFrame, segment_ids: np.ndarray) -> pd.DataFrame:
        """Long profile (segment × feature) of ``frame``: the model features, the extra
        descriptive columns and any ``category_share_*`` columns present (natural units)."""
        prepared = self.pipeline.named_steps["prepare"].transform(frame)
        categories = sorted(c for c in frame.columns if c.startswith(CATEGORY_SHARE_PREFIX))
        return profile_segments(
            frame, segment_ids, prepared, self.features, self.segment_names, [*PROFILE_EXTRA_FEATURES, *categories]
        )


@dataclass
class PcaView:
    """A 2-D picture of the clusters and how much of the variance it shows."""

    coords: np.ndarray
    segment_ids: np.ndarray
    explained_variance_ratio: np.ndarray
    #: explained variance ratio of every component (scree)
    spectrum: np.ndarray


@dataclass
class Selection:
    """The candidates tried and the winner."""

    #: per candidate: k (× covariance type for mixtures) with the scores used to choose
    table: pd.DataFrame
    k: int
    elbow_k: int | None = None
    covariance_type: str = "full"

    @property
    def chosen(self) -> pd.Series:
        rows = self.table[self.table["k"] == self.k]
        if "covariance_type" in rows:
            rows = rows[rows["covariance_type"] == self.covariance_type]
        return rows.iloc[0]


@dataclass
class SegmentationResult:
    model: SegmentationModel
    selection: Selection
    stability: StabilityReport
    #: long profile: segment_id, segment_name, sizes, revenue, feature, segment_mean, population_mean, z_score
    profiles: pd.DataFrame
    pca: PcaView
    #: segment id of every training row
    labels: np.ndarray
    metrics: dict[str, float]


def _sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _ward_labels(tree: np.ndarray, k: int) -> np.ndarray:
    return fcluster(tree, t=k, criterion="maxclust") - 1


def fit_clusterer(
    X: np.ndarray, method: Method, k: int, seed: int, config: SegmentationConfig, covariance_type: str = "full"
) -> Any:
    """One clusterer with ``predict``; Ward is reduced to its cluster means."""
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=config.n_init, random_state=seed).fit(X)
    if method == "gmm":
        return GaussianMixture(
            n_components=k, covariance_type=covariance_type, n_init=1, random_state=seed, reg_covar=config.gmm_reg_covar
        ).fit(X)
    labels = _ward_labels(linkage(X, method="ward"), k)
    return CentroidAssigner(np.vstack([X[labels == c].mean(axis=0) for c in np.unique(labels)]))


def _scores(X: np.ndarray, labels: np.ndarray, config: SegmentationConfig) -> dict[str, float]:
    sample = min(config.silhouette_sample, len(X))
    return {
        "silhouette": float(silhouette_score(X, labels, sample_size=sample, random_state=config.random_state)),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


def elbow(ks: np.ndarray, inertia: np.ndarray) -> int | None:
    """Kneedle elbow of a decreasing, convex inertia curve (kneed), or None."""
    if len(ks) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns "no knee found" instead of returning quietly
        knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def _best_by_silhouette(table: pd.DataFrame) -> int:
    """Max silhouette; ties go to fewer segments."""
    return int(table.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]["k"])


def select_k_kmeans(X: np.ndarray, config: SegmentationConfig) -> Selection:
    """Fit k-means for every k; silhouette, Calinski–Harabasz, Davies–Bouldin, inertia + Kneedle elbow."""
    rows = []
    for k in range(config.k_min, min(config.k_max, len(X) - 1) + 1):
        km = KMeans(n_clusters=k, n_init=config.n_init, random_state=config.random_state).fit(X)
        rows.append({"k": k, "inertia": float(km.inertia_), **_scores(X, km.labels_, config)})
    table = pd.DataFrame(rows)[SELECTION_COLUMNS]
    return Selection(table, _best_by_silhouette(table), elbow(table["k"].to_numpy(), table["inertia"].to_numpy()))


def select_k_ward(X: np.ndarray, config: SegmentationConfig) -> Selection:
    """One Ward tree, cut at every k; the within-cluster sum of squares plays the inertia."""
    tree = linkage(X, method="ward")
    rows = []
    for k in range(config.k_min, config.k_max + 1):
        labels = _ward_labels(tree, k)
        if len(np.unique(labels)) < 2:
            continue
        wss = sum(((X[labels == c] - X[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
        rows.append({"k": k, "inertia": float(wss), **_scores(X, labels, config)})
    table = pd.DataFrame(rows)[SELECTION_COLUMNS]
    return Selection(table, _best_by_silhouette(table), elbow(table["k"].to_numpy(), table["inertia"].to_numpy()))


def select_gmm(X: np.ndarray, config: SegmentationConfig) -> Selection:
    """BIC of every (components, covariance type); the lowest wins (silhouette etc. reported)."""
    rows = []
    for cov in config.gmm_covariance_types:
        for k in range(config.k_min, config.k_max + 1):
            gm = fit_clusterer(X, "gmm", k, config.random_state, config, cov)
            labels = gm.predict(X)
            scores = _scores(X, labels, config) if len(np.unique(labels)) > 1 else {}
            rows.append({"k": k, "covariance_type": cov, "bic": float(gm.bic(X)), **scores})
    table = pd.DataFrame(rows)
    best = table.sort_values(["bic", "k"]).iloc[0]
    return Selection(table, int(best["k"]), None, str(best["covariance_type"]))


def select(X: np.ndarray, config: SegmentationConfig) -> Selection:
    """The selection procedure of the configured method."""
    if config.method == "gmm":
        return select_gmm(X, config)
    if config.method == "ward":
        return select_k_ward(X, config)
    return select_k_kmeans(X, config)


def pca_view(X: np.ndarray, segment_ids: np.ndarray, random_state: int = 0) -> PcaView:
    pca = PCA(n_components=min(X.shape[1], 10), random_state=random_state).fit(X)
    coords = pca.transform(X)[:, :2]
    return PcaView(coords, segment_ids, pca.explained_variance_ratio_[:2].copy(), pca.explained_variance_ratio_.copy())


def _fit_model(
    frame: pd.DataFrame, config: SegmentationConfig, rng: np.random.Generator
) -> tuple[SegmentationModel, Selection, np.ndarray, np.ndarray]:
    """Fit the pipeline, choose k, fit the clusterer; returns model, selection, matrix and segment ids."""
    n = len(frame)
    pipeline = build_feature_pipeline(config.features)
    fit_idx = _sample_index(n, config.fit_sample, rng)
    pipeline.fit(frame.iloc[fit_idx])
    X = pipeline.transform(frame)
    sel_rows = X[_sample_index(n, config.ward_sample if config.method == "ward" else config.selection_sample, rng)]
    selection = select(sel_rows, config)
    log.info("segmentation: %s chose k=%d (elbow %s) on %d rows", config.method, selection.k, selection.elbow_k, n)
    fit_rows = sel_rows if config.method == "ward" else X[fit_idx]
    clusterer = fit_clusterer(
        fit_rows, config.method, selection.k, config.random_state, config, selection.covariance_type
    )
    raw = np.asarray(clusterer.predict(X), dtype=np.int64)
    relabel = np.empty(selection.k, dtype=np.int64)
    relabel[np.argsort(-np.bincount(raw, minlength=selection.k), kind="stable")] = np.arange(1, selection.k + 1)
    model = SegmentationModel(pipeline, config.method, clusterer, selection.k, relabel, {}, config.features, n)
    return model, selection, X, relabel[raw]


def _metrics(
    selection: Selection, stab: StabilityReport, pca: PcaView, profiles: pd.DataFrame, n: int
) -> dict[str, float]:
    """Flat numbers for Dagster's metadata plots (NaN where a method has no such score)."""
    chosen = selection.chosen
    sizes = profiles.drop_duplicates("segment_id")

    def score(name: str) -> float:
        return float(chosen[name]) if name in chosen.index else float("nan")

    return {
        "k": float(selection.k),
        "elbow_k": float(selection.elbow_k) if selection.elbow_k is not None else float("nan"),
        "silhouette": score("silhouette"),
        "calinski_harabasz": score("calinski_harabasz"),
        "davies_bouldin": score("davies_bouldin"),
        "bic": score("bic"),
        "seed_ari_mean": stab.mean_seed_ari,
        "bootstrap_ari_mean": stab.mean_bootstrap_ari,
        "bootstrap_jaccard_min": stab.min_jaccard,
        "pca_explained_variance_2d": float(pca.explained_variance_ratio.sum()),
        "smallest_segment_share": float(sizes["customer_share"].min()),
        "largest_revenue_share": float(sizes["revenue_share"].max()),
        "customers": float(n),
    }


def train_segmentation(frame: pd.DataFrame, config: SegmentationConfig | None = None) -> SegmentationResult:
    """Choose k, fit the model, name and profile the segments, and measure stability.

    ``frame``: one row per customer with the configured feature columns (e.g. the buyers of
    ``marts.customer_features``). Returns the fitted model and everything a reviewer needs to
    judge it.
    """
    config = config or SegmentationConfig()
    if len(frame) < config.min_customers:
        raise ValueError(f"need at least {config.min_customers} customers to segment, got {len(frame)}")
    rng = np.random.default_rng(config.random_state)
    model, selection, X, labels = _fit_model(frame, config, rng)

    profiles = model.profile(frame, labels)
    model.segment_names = names_from_profiles(profiles, config.name_threshold)
    profiles["segment_name"] = profiles["segment_id"].map(model.segment_names)

    stab_idx = _sample_index(len(frame), config.stability_sample, rng)

    def refit(rows: np.ndarray, seed: int) -> Any:
        return fit_clusterer(rows, config.method, model.k, seed, config, selection.covariance_type)

    # Ward is deterministic: other seeds cannot change it
    seeds = 0 if config.method == "ward" else config.stability_seeds
    stab = stability(X[stab_idx], labels[stab_idx], refit, seeds, config.bootstrap_rounds, config.random_state)
    pca = pca_view(X[stab_idx], labels[stab_idx], config.random_state)
    metrics = _metrics(selection, stab, pca, profiles, len(frame))
    return SegmentationResult(model, selection, stab, profiles, pca, labels, metrics)


def agreement(labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Agreement of segments with a known grouping (e.g. simulator personas): ARI and AMI."""
    return {
        "ari": float(adjusted_rand_score(reference, labels)),
        "ami": float(adjusted_mutual_info_score(reference, labels)),
    }


def crosstab(labels: np.ndarray, reference: np.ndarray, names: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Segment × reference counts, for reading which persona each segment captured."""
    names = names or {}
    seg = pd.Series(labels).map(lambda s: names.get(int(s), f"Segment {int(s)}"))
    return pd.crosstab(seg.rename("segment"), pd.Series(reference).rename("reference"))
