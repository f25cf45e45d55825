"""The clustering pipeline, its scores for every k, and the rule that chooses k."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_samples
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from workbench.segmentation.params import SILHOUETTE_TOLERANCE, SegmentationParams

__all__ = [
    "KChoice",
    "KRangeResult",
    "make_pipeline",
    "sample_rows",
    "sampled_silhouette",
    "fit_k_range",
    "choose_k",
    "limit_threads",
]

log = logging.getLogger(__name__)


@contextmanager
def limit_threads(n_threads: int) -> Iterator[None]:
    """Cap OpenMP/BLAS threads at ``n_threads`` inside the block (0: leave the default)."""
    if n_threads > 0:
        with threadpool_limits(limits=n_threads):
            yield
    else:
        yield


def _clip(low: float, high: float | None) -> FunctionTransformer:
    # numpy functions (not workbench ones) so the logged model loads without this package
    return FunctionTransformer(
        np.clip, kw_args={"a_min": low, "a_max": high}, feature_names_out="one-to-one"
    )


def _steps(transform: str) -> list[tuple[str, object]]:
    impute = ("impute", SimpleImputer(strategy="median"))
    if transform == "log1p":
        return [
            impute,
            ("floor", _clip(0.0, None)),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
        ]
    if transform == "sqrt":
        return [
            impute,
            ("clip", _clip(0.0, 1.0)),
            ("sqrt", FunctionTransformer(np.sqrt, feature_names_out="one-to-one")),
        ]
    if transform == "clip01":
        return [impute, ("clip", _clip(0.0, 1.0))]
    if transform == "none":
        return [impute]
    raise ValueError(f"transform {transform!r}: expected one of log1p, sqrt, clip01, none")


def make_pipeline(
    transforms: Mapping[str, str],
    n_clusters: int,
    *,
    n_init: int = 4,
    max_iter: int = 300,
    random_state: int = 42,
) -> Pipeline:
    """An unfitted ``Pipeline``: per-column impute + transform, scale, k-means.

    Parameters
    ----------
    transforms : mapping
        Column -> transform (see :func:`workbench.segmentation.transform_for`): the
        columns the pipeline selects by name from its input frame (other columns are
        ignored; the prepared output is grouped by transform).
    n_clusters : int
        k of the k-means step.
    n_init, max_iter, random_state : int
        Passed to :class:`sklearn.cluster.KMeans`.

    Examples
    --------
    >>> pipe = make_pipeline({"avg_order_value": "log1p", "email_open_rate": "clip01"}, 3)
    >>> [name for name, _ in pipe.steps]
    ['prepare', 'scale', 'kmeans']
    """
    groups: dict[str, list[str]] = {}
    for column, transform in transforms.items():
        groups.setdefault(transform, []).append(column)
    prepare = ColumnTransformer(
        [(name, Pipeline(_steps(name)), cols) for name, cols in groups.items()],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    kmeans = KMeans(
        n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, random_state=random_state
    )
    return Pipeline([("prepare", prepare), ("scale", StandardScaler()), ("kmeans", kmeans)])


def sample_rows(n: int, size: int, random_state: int) -> np.ndarray:
    """Sorted positions of a seeded sample without replacement (all rows when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))


def sampled_silhouette(
    Z: np.ndarray, labels: np.ndarray, sample_size: int, random_state: int
) -> float:
    """Mean silhouette on a seeded sample of at most ``sample_size`` rows.

    Examples
    --------
    >>> noise = np.random.default_rng(0).random((100, 2))
    >>> Z = np.r_[np.zeros((50, 2)), np.ones((50, 2)) * 10] + noise
    >>> labels = np.repeat([0, 1], 50)
    >>> round(sampled_silhouette(Z, labels, 60, random_state=0), 2)
    0.96
    """
    rows = sample_rows(len(Z), sample_size, random_state)
    if not _scorable(labels[rows]):
        return float("nan")
    return float(silhouette_samples(Z[rows], labels[rows]).mean())


def _scorable(labels: np.ndarray) -> bool:
    """Silhouette needs 2 <= number of clusters <= rows - 1."""
    return 2 <= len(np.unique(labels)) <= len(labels) - 1


@dataclass
class KRangeResult:
    """The pipelines fitted for every k and their scores.

    Attributes
    ----------
    scores : DataFrame
        One row per k: silhouette (on the sample), inertia, calinski_harabasz,
        davies_bouldin, smallest_cluster, min_cluster_share, n_iter, seconds.
    pipelines : dict
        k -> fitted ``Pipeline``. They share the fitted prepare and scale steps (those do
        not depend on k); cluster ids are ordered by size, 0 the largest.
    labels : dict
        k -> cluster of every row of the input.
    Z : ndarray
        The prepared, scaled matrix the k-means steps saw.
    sample : ndarray
        Rows of the silhouette sample (the same for every k).
    silhouettes : dict
        k -> silhouette value of every sampled row.
    """

    scores: pd.DataFrame
    pipelines: dict[int, Pipeline]
    labels: dict[int, np.ndarray]
    Z: np.ndarray
    sample: np.ndarray
    silhouettes: dict[int, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)


def _order_by_size(kmeans: KMeans, labels: np.ndarray) -> np.ndarray:
    """Renumber clusters by size (0 = largest, ties by old id) in the fitted k-means too,
    so ``predict`` and the labels agree."""
    sizes = np.bincount(labels, minlength=kmeans.n_clusters)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    kmeans.cluster_centers_ = kmeans.cluster_centers_[order]
    kmeans.labels_ = rank[kmeans.labels_]
    return rank[labels]


def fit_k_range(
    X: pd.DataFrame,
    transforms: Mapping[str, str],
    params: SegmentationParams | None = None,
    ks: Sequence[int] | None = None,
) -> KRangeResult:
    """Fit the pipeline for each k and score it.

    Parameters
    ----------
    X : DataFrame
        Clustering input (:attr:`SegmentationInput.X`); not modified.
    transforms : mapping
        Column -> transform.
    params : SegmentationParams, optional
        ``n_init``, ``max_iter``, ``silhouette_sample``, ``random_state`` and
        ``n_threads`` are read.
    ks : sequence of int, optional
        Cluster counts; default ``params.k_values()``.

    Returns
    -------
    KRangeResult

    Raises
    ------
    ValueError
        A k is not smaller than the number of rows.
    """
    params = params or SegmentationParams()
    ks = list(ks or params.k_values())
    too_big = [k for k in ks if k >= len(X)]
    if too_big:
        raise ValueError(
            f"k: {too_big} cluster(s) requested but only {len(X)} customers to cluster; lower "
            "k_max (and k)"
        )
    base = make_pipeline(
        transforms,
        ks[0],
        n_init=params.n_init,
        max_iter=params.max_iter,
        random_state=params.random_state,
    )
    prepare = base[:-1].fit(X)
    Z = np.ascontiguousarray(prepare.transform(X), dtype=np.float64)
    sample = sample_rows(len(Z), params.silhouette_sample, params.random_state)
    with limit_threads(params.n_threads):
        rows, pipelines, labels, silhouettes = _fit_each(base, prepare, Z, sample, ks)
    return KRangeResult(
        scores=pd.DataFrame(rows),
        pipelines=pipelines,
        labels=labels,
        Z=Z,
        sample=sample,
        silhouettes=silhouettes,
        feature_names=list(prepare.get_feature_names_out()),
    )


def _fit_each(
    base: Pipeline, prepare: Pipeline, Z: np.ndarray, sample: np.ndarray, ks: Sequence[int]
) -> tuple[list[dict], dict[int, Pipeline], dict[int, np.ndarray], dict[int, np.ndarray]]:
    rows, pipelines, labels, silhouettes = [], {}, {}, {}
    for k in ks:
        started = time.perf_counter()
        kmeans = clone(base.named_steps["kmeans"]).set_params(n_clusters=k).fit(Z)
        found = _order_by_size(kmeans, kmeans.labels_)
        sizes = np.bincount(found, minlength=k)
        values = (
            silhouette_samples(Z[sample], found[sample])
            if _scorable(found[sample])
            else np.full(len(sample), np.nan)
        )
        rows.append(
            {
                "k": k,
                "silhouette": float(values.mean()),
                "inertia": float(kmeans.inertia_),
                "calinski_harabasz": float(calinski_harabasz_score(Z, found)),
                "davies_bouldin": float(davies_bouldin_score(Z, found)),
                "smallest_cluster": int(sizes.min()),
                "min_cluster_share": float(sizes.min() / len(Z)),
                "n_iter": int(kmeans.n_iter_),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        pipelines[k] = Pipeline([*prepare.steps, ("kmeans", kmeans)])
        labels[k], silhouettes[k] = found, values
        log.info(
            "k=%d: silhouette %.3f, smallest cluster %.1f%% (%.1f s)",
            k,
            rows[-1]["silhouette"],
            100 * rows[-1]["min_cluster_share"],
            rows[-1]["seconds"],
        )
    return rows, pipelines, labels, silhouettes


@dataclass(frozen=True)
class KChoice:
    """The chosen k, how (``rule`` or ``parameter``) and why, in a sentence.

    ``best_k`` is the eligible k with the best silhouette and ``ties`` every eligible k
    whose silhouette is within the tolerance of it (both empty when the parameter chose).
    """

    k: int
    chosen_by: str
    reason: str
    best_k: int = 0
    ties: tuple[int, ...] = ()


def choose_k(
    scores: pd.DataFrame,
    min_cluster_share: float = 0.05,
    k: int = 0,
    *,
    tolerance: float = SILHOUETTE_TOLERANCE,
) -> KChoice:
    """Pick k: the parameter when set, else by the rule.

    The rule: among the solutions whose smallest cluster holds at least
    ``min_cluster_share`` of the customers, the *smallest* k whose silhouette is within
    ``tolerance`` of the best. Silhouettes that close are a tie — the score moves that
    much between k-means seeds and silhouette samples — and among equally good
    solutions fewer segments are easier to act on and come back more reliably when the
    data are resampled. ``tolerance=0`` takes the best silhouette (exact ties to the
    smaller k). When no solution meets the minimum share, the rule applies to all of
    them and the reason says so.

    Parameters
    ----------
    scores : DataFrame
        Columns ``k``, ``silhouette`` and ``min_cluster_share`` (:attr:`KRangeResult.scores`).
    min_cluster_share : float
        Smallest acceptable cluster share.
    k : int
        0 applies the rule; otherwise it must be one of ``scores.k``.
    tolerance : float, default :data:`~workbench.segmentation.SILHOUETTE_TOLERANCE`
        Silhouette difference from the best that still counts as a tie.

    Examples
    --------
    >>> scores = pd.DataFrame({"k": [2, 3, 4, 5], "silhouette": [0.30, 0.45, 0.455, 0.50],
    ...                        "min_cluster_share": [0.40, 0.20, 0.10, 0.02]})
    >>> choice = choose_k(scores, 0.05)
    >>> choice.k, choice.best_k, choice.ties
    (3, 4, (3, 4))
    >>> choose_k(scores, 0.05, tolerance=0).k
    4
    >>> choose_k(scores, 0.05, k=5).chosen_by
    'parameter'
    """
    missing = {"k", "silhouette", "min_cluster_share"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores: columns {sorted(missing)} are missing")
    if not 0 <= tolerance < 0.5:
        raise ValueError(f"choose_k: tolerance must be in [0, 0.5), got {tolerance!r}")
    if k:
        if k not in set(scores["k"]):
            raise ValueError(f"k={k} was not fitted; fitted k: {sorted(scores['k'].tolist())}")
        return KChoice(int(k), "parameter", f"k = {k} was set by the parameter k.")
    scored = scores.dropna(subset=["silhouette"]).sort_values("k")
    if scored.empty:
        raise ValueError("scores: no k has a silhouette score")
    eligible = scored[scored["min_cluster_share"] >= min_cluster_share]
    pool = eligible if len(eligible) else scored
    best = pool.loc[pool["silhouette"].idxmax()]  # idxmax keeps the first (smallest k) on ties
    tied = pool[pool["silhouette"] >= best["silhouette"] - tolerance]
    chosen = tied.iloc[0]  # sorted by k: the smallest
    ties = tuple(int(v) for v in tied["k"])
    k_chosen, k_best = int(chosen["k"]), int(best["k"])
    among = (
        f"among the {len(eligible)} solution(s) whose smallest cluster holds at least "
        f"{min_cluster_share:.0%} of the customers"
        if len(eligible)
        else "among all solutions"
    )
    if k_chosen != k_best:
        reason = (
            f"k = {k_chosen} is the smallest k whose silhouette ({chosen['silhouette']:.3f}) "
            f"is within {tolerance:g} of the best ({best['silhouette']:.3f} at k = {k_best}) "
            f"{among}; silhouettes that close are a tie, and the fewer segments win."
        )
    else:
        reason = f"k = {k_chosen} has the best silhouette ({best['silhouette']:.3f}) {among}" + (
            f", and no smaller k is within {tolerance:g} of it." if tolerance > 0 else "."
        )
    if not len(eligible):
        reason = (
            f"No solution has a smallest cluster of at least {min_cluster_share:.0%} of the "
            f"customers: {reason}"
        )
        log.warning("choose_k: %s", reason)
    return KChoice(int(chosen["k"]), "rule", reason, int(best["k"]), ties)
