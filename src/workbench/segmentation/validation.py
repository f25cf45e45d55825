"""Can the segments be trusted? Bootstrap stability, a hierarchical second opinion, and
(on the demo data) agreement with the planted personas."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import Pipeline

from workbench.segmentation.model import limit_threads, sample_rows
from workbench.segmentation.params import NO_HISTORY_CLUSTER

__all__ = [
    "StabilityResult",
    "HierarchicalResult",
    "bootstrap_stability",
    "hierarchical_comparison",
    "truth_file",
    "persona_agreement",
]

log = logging.getLogger(__name__)


@dataclass
class StabilityResult:
    """Bootstrap refits and their agreement.

    Attributes
    ----------
    pairs : DataFrame
        k, refit_a, refit_b, common_rows, ari — one row per pair of refits (ARI on the
        customers drawn in both).
    by_k : DataFrame
        k, refits, ari_mean, ari_min, ari_p10, ari_vs_full (mean ARI of each refit with
        the full-data solution on its own rows).
    pool_size : int
        Customers in the pool the bootstrap samples are drawn from.
    """

    pairs: pd.DataFrame
    by_k: pd.DataFrame
    pool_size: int

    def ari(self, k: int) -> float:
        """Mean pairwise ARI at ``k`` (NaN when not computed)."""
        row = self.by_k[self.by_k["k"] == k]
        return float(row["ari_mean"].iloc[0]) if len(row) else float("nan")


def bootstrap_stability(
    X: pd.DataFrame,
    pipelines: dict[int, Pipeline],
    labels: dict[int, np.ndarray],
    *,
    ks: Sequence[int],
    n_bootstrap: int = 10,
    pool_size: int = 20_000,
    random_state: int = 42,
    n_threads: int = 0,
) -> StabilityResult:
    """Refit each k's pipeline on bootstrap samples and compare the refits.

    A seeded pool of at most ``pool_size`` customers is drawn once; each refit clones the
    whole pipeline (imputer, transforms, scaler, k-means with seed ``random_state + b``)
    and fits it on a bootstrap sample (with replacement) of the pool. Two refits are
    compared by the adjusted Rand index on the customers both samples drew (cluster
    numbers need not match: the ARI ignores labels' names). Each refit is also compared
    with the full-data solution on its rows.

    Parameters
    ----------
    X : DataFrame
        The clustering input; not modified.
    pipelines, labels : dict
        k -> fitted pipeline and k -> its labels on ``X`` (:class:`KRangeResult`).
    ks : sequence of int
        The k to check.
    n_bootstrap : int
        Refits per k (at least 2 for a pairwise ARI).
    pool_size, random_state : int
        Pool size and seed.
    n_threads : int
        Thread cap of the refits (0: the libraries' default).

    Returns
    -------
    StabilityResult
    """
    cols = ["k", "refits", "ari_mean", "ari_min", "ari_p10", "ari_vs_full"]
    pool = sample_rows(len(X), pool_size, random_state)
    if n_bootstrap < 2:
        log.info("stability: n_bootstrap=%d, no pairwise comparison", n_bootstrap)
        empty = pd.DataFrame(columns=["k", "refit_a", "refit_b", "common_rows", "ari"])
        return StabilityResult(empty, pd.DataFrame(columns=cols), len(pool))
    X_pool = X.iloc[pool].reset_index(drop=True)
    rng = np.random.default_rng(random_state)
    draws = [rng.integers(0, len(pool), len(pool)) for _ in range(n_bootstrap)]
    members = [np.zeros(len(pool), dtype=bool) for _ in draws]
    for mask, draw in zip(members, draws, strict=True):
        mask[draw] = True
    pair_rows, summary = [], []
    for k in ks:
        predicted, vs_full = [], []
        for b, draw in enumerate(draws):
            refit = clone(pipelines[k]).set_params(kmeans__random_state=random_state + b)
            with limit_threads(n_threads):
                predicted.append(refit.fit(X_pool.iloc[draw]).predict(X_pool))
            own = members[b]
            vs_full.append(adjusted_rand_score(labels[k][pool][own], predicted[-1][own]))
        aris = []
        for a, b in itertools.combinations(range(len(draws)), 2):
            common = members[a] & members[b]
            ari = adjusted_rand_score(predicted[a][common], predicted[b][common])
            aris.append(ari)
            pair_rows.append(
                {"k": k, "refit_a": a, "refit_b": b, "common_rows": int(common.sum()), "ari": ari}
            )
        summary.append(
            {
                "k": k,
                "refits": len(draws),
                "ari_mean": float(np.mean(aris)),
                "ari_min": float(np.min(aris)),
                "ari_p10": float(np.quantile(aris, 0.1)),
                "ari_vs_full": float(np.mean(vs_full)),
            }
        )
        log.info(
            "stability k=%d: mean ARI %.3f (min %.3f) over %d refits",
            k,
            summary[-1]["ari_mean"],
            summary[-1]["ari_min"],
            len(draws),
        )
    return StabilityResult(pd.DataFrame(pair_rows), pd.DataFrame(summary, columns=cols), len(pool))


@dataclass
class HierarchicalResult:
    """Ward clustering of a sample and its agreement with k-means.

    Attributes
    ----------
    linkage : ndarray
        SciPy linkage matrix of the sample.
    sample : ndarray
        Rows of the clustering input in the sample.
    labels : ndarray
        Ward cluster (0-based) of each sampled row, cut at ``k`` clusters.
    kmeans_labels : ndarray
        k-means cluster of each sampled row.
    k : int
    ari : float
        Adjusted Rand index between the two on the sample.
    cut_height : float
        Merge height between the k- and (k-1)-cluster solutions (for the dendrogram).
    """

    linkage: np.ndarray
    sample: np.ndarray
    labels: np.ndarray
    kmeans_labels: np.ndarray
    k: int
    ari: float
    cut_height: float

    def crosstab(self) -> pd.DataFrame:
        """Sampled customers per (k-means cluster, Ward cluster)."""
        return pd.crosstab(
            pd.Series(self.kmeans_labels, name="k-means"), pd.Series(self.labels, name="Ward")
        )


def hierarchical_comparison(
    Z: np.ndarray,
    kmeans_labels: np.ndarray,
    k: int,
    *,
    sample_size: int = 2_000,
    random_state: int = 42,
) -> HierarchicalResult:
    """Ward agglomerative clustering of a seeded sample of the prepared matrix ``Z``, cut
    at ``k`` clusters, and its adjusted Rand index with the k-means labels on that sample.

    Ward merges the pair of clusters that least increases the within-cluster sum of
    squares — the quantity k-means minimises — so it is the natural second opinion: a
    high ARI means the segments do not depend on k-means' starting points.
    """
    rows = sample_rows(len(Z), sample_size, random_state)
    if len(rows) <= k:
        raise ValueError(f"hierarchical_sample: {len(rows)} rows cannot be cut into {k} clusters")
    tree = linkage(Z[rows], method="ward")
    ward = fcluster(tree, t=k, criterion="maxclust") - 1
    heights = tree[:, 2]
    cut = float((heights[-k] + heights[-k + 1]) / 2) if k >= 2 else float(heights[-1])
    ari = float(adjusted_rand_score(kmeans_labels[rows], ward))
    log.info("Ward on %d customers, k=%d: ARI with k-means %.3f", len(rows), k, ari)
    return HierarchicalResult(tree, rows, ward, kmeans_labels[rows], k, ari, cut)


def truth_file(data_dir: str | Path) -> Path | None:
    """``_truth/customers.parquet`` beside the source (the demo data's ground truth), or None."""
    path = Path(data_dir) / "_truth" / "customers.parquet"
    return path if path.exists() else None


def persona_agreement(segments: pd.DataFrame, truth: pd.DataFrame) -> dict[str, object]:
    """Adjusted Rand index of the segments against planted personas (demo data).

    Duplicate accounts (``is_duplicate_of`` set: a second account of a person whose
    behaviour is split across two ids) are excluded. ``ari`` compares the clustered
    customers only; ``ari_all`` also counts "No purchase history" as one more segment.

    Parameters
    ----------
    segments : DataFrame
        customer_id, cluster (``segments.parquet``).
    truth : DataFrame
        customer_id, persona[, is_duplicate_of].

    Returns
    -------
    dict
        ari, ari_all, customers (clustered and compared), excluded_duplicates and
        ``table`` (customers per persona and cluster).
    """
    for name, frame, needed in (
        ("segments", segments, ("customer_id", "cluster")),
        ("truth", truth, ("customer_id", "persona")),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: columns {missing} are missing")
    joined = segments[["customer_id", "cluster"]].merge(
        truth.drop(columns=["cluster"], errors="ignore"), on="customer_id", how="inner"
    )
    dup = (
        joined["is_duplicate_of"].notna()
        if "is_duplicate_of" in joined
        else pd.Series(False, index=joined.index)
    )
    kept = joined[~dup]
    clustered = kept[kept["cluster"] != NO_HISTORY_CLUSTER]
    return {
        "ari": float(adjusted_rand_score(clustered["persona"], clustered["cluster"])),
        "ari_all": float(adjusted_rand_score(kept["persona"], kept["cluster"])),
        "customers": int(len(clustered)),
        "excluded_duplicates": int(dup.sum()),
        "table": pd.crosstab(kept["persona"], kept["cluster"]),
    }
