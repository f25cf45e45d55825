"""One call from the feature table to named segments for every customer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from workbench.segmentation.model import KChoice, KRangeResult, choose_k, fit_k_range
from workbench.segmentation.params import NO_HISTORY, NO_HISTORY_CLUSTER, SegmentationParams
from workbench.segmentation.prepare import SegmentationInput, prepare_inputs
from workbench.segmentation.profiles import cluster_names, cluster_sizes, standardised_differences

__all__ = ["SegmentationResult", "segment_customers", "segments_table"]

log = logging.getLogger(__name__)


@dataclass
class SegmentationResult:
    """Everything :func:`segment_customers` produced.

    Attributes
    ----------
    params : SegmentationParams
    inputs : SegmentationInput
        Who and what was clustered, with the column report and notes.
    fits : KRangeResult
        Pipelines, labels and scores for every k.
    choice : KChoice
        The chosen k, ``chosen_by`` and the reason.
    sizes : DataFrame
        Customers, revenue and their shares per cluster of the chosen k.
    differences : DataFrame
        Standardised differences per cluster and prepared feature.
    names : dict
        Cluster id -> name (unique).
    segments : DataFrame
        customer_id, cluster, cluster_name for every customer of the feature table.
    """

    params: SegmentationParams
    inputs: SegmentationInput
    fits: KRangeResult
    choice: KChoice
    sizes: pd.DataFrame
    differences: pd.DataFrame
    names: dict[int, str]
    segments: pd.DataFrame

    @property
    def k(self) -> int:
        return self.choice.k

    @property
    def pipeline(self) -> Pipeline:
        """The fitted pipeline of the chosen k."""
        return self.fits.pipelines[self.k]

    @property
    def labels(self) -> np.ndarray:
        """Cluster of every clustered customer (rows of ``inputs.X``)."""
        return self.fits.labels[self.k]

    @property
    def silhouette_by_k(self) -> dict[int, float]:
        return {int(r.k): float(r.silhouette) for r in self.fits.scores.itertuples()}


def segments_table(
    all_customer_ids: pd.Series,
    customer_ids: pd.Series,
    labels: np.ndarray,
    names: dict[int, str],
) -> pd.DataFrame:
    """customer_id, cluster, cluster_name for every customer; those not clustered get
    cluster -1 and "No purchase history".

    Examples
    --------
    >>> segments_table(pd.Series(["a", "b", "c"]), pd.Series(["a", "c"]), np.array([1, 0]),
    ...                {0: "Big", 1: "Small"})["cluster_name"].tolist()
    ['Small', 'No purchase history', 'Big']
    """
    assigned = pd.Series(np.asarray(labels, dtype="int64"), index=customer_ids.astype("str"))
    if assigned.index.has_duplicates:
        raise ValueError("customer_ids: a customer appears twice in the clustering input")
    ids = all_customer_ids.astype("str").reset_index(drop=True)
    cluster = ids.map(assigned).fillna(NO_HISTORY_CLUSTER).astype("int64")
    lookup = {**names, NO_HISTORY_CLUSTER: NO_HISTORY}
    return pd.DataFrame(
        {
            "customer_id": ids,
            "cluster": cluster,
            "cluster_name": cluster.map(lookup).astype("str"),
        }
    )


def segment_customers(
    features: pd.DataFrame, params: SegmentationParams | None = None
) -> SegmentationResult:
    """Cluster the customers of a feature table and name the segments.

    Prepares the input (:func:`prepare_inputs`), fits the pipeline for every k
    (:func:`fit_k_range`), chooses k (:func:`choose_k`), profiles and names the clusters.
    Stability and the hierarchical comparison are separate calls
    (:func:`bootstrap_stability`, :func:`hierarchical_comparison`).

    Parameters
    ----------
    features : DataFrame
        One row per customer (``build_features`` output); not modified.
    params : SegmentationParams, optional

    Returns
    -------
    SegmentationResult

    Examples
    --------
    >>> table = build_features("data/raw", parse_as_of("2026-06-30"))  # doctest: +SKIP
    >>> result = segment_customers(table)                               # doctest: +SKIP
    >>> result.k, result.choice.chosen_by, result.names                 # doctest: +SKIP
    """
    params = params or SegmentationParams()
    inputs = prepare_inputs(features, params)
    log.info(
        "clustering %s customers on %d features: %s",
        f"{len(inputs.X):,}",
        len(inputs.columns),
        ", ".join(inputs.columns),
    )
    fits = fit_k_range(inputs.X, inputs.transforms, params)
    choice = choose_k(
        fits.scores, params.min_cluster_share, params.k, tolerance=params.silhouette_tolerance
    )
    log.info("chosen k=%d by %s: %s", choice.k, choice.chosen_by, choice.reason)
    labels = fits.labels[choice.k]
    sizes = cluster_sizes(labels, inputs.revenue)
    differences = standardised_differences(fits.Z, labels, fits.feature_names)[inputs.columns]
    names = cluster_names(
        differences, dict(zip(sizes["cluster"], sizes["value_index"], strict=True))
    )
    sizes.insert(1, "name", sizes["cluster"].map(names))
    segments = segments_table(inputs.all_customer_ids, inputs.customer_ids, labels, names)
    return SegmentationResult(params, inputs, fits, choice, sizes, differences, names, segments)
