"""Stage 03: customer segments from the feature table — k-means with silhouette analysis,
a hierarchical second opinion, named profiles and bootstrap stability.

Method
    The clustering input is a set of behavioural feature columns (``features``; default
    :data:`DEFAULT_FEATURES`) of the customers with a completed order before ``as_of``
    (the others get cluster -1, "No purchase history", and stay in ``segments.parquet``).
    A scikit-learn ``Pipeline`` imputes missing values with the median, transforms each
    column (``log1p`` for heavy-tailed money, counts and durations, square root for the
    shares of category spend, rates clipped to [0, 1]; :func:`transform_for`), scales them
    and runs k-means, for every k of a range.
Choosing k
    Best silhouette (on a seeded sample when there are many customers) among the
    solutions whose smallest cluster holds at least ``min_cluster_share`` of the
    customers; the parameter ``k`` overrides the rule. Inertia (elbow), Calinski–Harabasz
    and Davies–Bouldin are shown beside it.
Trust
    Bootstrap refits compared by the adjusted Rand index (ARI) on the customers two
    samples share; Ward clustering of a sample compared with k-means by the ARI.
Names
    From each cluster's most distinctive features (standardised differences from the
    overall mean) and its revenue index, e.g. "High value · frequent · e-mail engaged".

Main entry points: :func:`segment_customers` (or the steps
:func:`prepare_inputs`, :func:`fit_k_range`, :func:`choose_k`), the trust checks with the
result's own parameters (:func:`stability_check`, :func:`hierarchical_check`,
:func:`persona_check`; or :func:`bootstrap_stability`, :func:`hierarchical_comparison`,
:func:`persona_agreement` with every setting explicit), :func:`cluster_overview`,
:func:`segments_output`, :func:`log_segmenter`, :func:`segmentation_summary`; figures in
:mod:`workbench.segmentation.figures`.
"""

from __future__ import annotations

from workbench.segmentation.checks import hierarchical_check, persona_check, stability_check
from workbench.segmentation.core import SegmentationResult, segment_customers, segments_table
from workbench.segmentation.figures import (
    dendrogram_figure,
    profile_heatmap,
    projection_figure,
    scores_figure,
    silhouette_figure,
    sizes_figure,
    stability_figure,
)
from workbench.segmentation.model import (
    KChoice,
    KRangeResult,
    choose_k,
    fit_k_range,
    make_pipeline,
    sample_rows,
    sampled_silhouette,
)
from workbench.segmentation.outputs import (
    MODEL_NAME,
    headline,
    log_segmenter,
    segmentation_summary,
    segments_output,
)
from workbench.segmentation.params import (
    DEFAULT_FEATURES,
    NO_HISTORY,
    NO_HISTORY_CLUSTER,
    SILHOUETTE_TOLERANCE,
    SegmentationParams,
)
from workbench.segmentation.prepare import (
    TRANSFORMS,
    SegmentationInput,
    prepare_inputs,
    resolve_columns,
    transform_for,
)
from workbench.segmentation.profiles import (
    ClusterDetail,
    cluster_detail,
    cluster_details,
    cluster_names,
    cluster_overview,
    cluster_sizes,
    feature_means,
    standardised_differences,
)
from workbench.segmentation.validation import (
    HierarchicalResult,
    StabilityResult,
    bootstrap_stability,
    hierarchical_comparison,
    persona_agreement,
    truth_file,
)

__all__ = [
    "DEFAULT_FEATURES",
    "MODEL_NAME",
    "NO_HISTORY",
    "NO_HISTORY_CLUSTER",
    "SILHOUETTE_TOLERANCE",
    "TRANSFORMS",
    "ClusterDetail",
    "HierarchicalResult",
    "KChoice",
    "KRangeResult",
    "SegmentationInput",
    "SegmentationParams",
    "SegmentationResult",
    "StabilityResult",
    "bootstrap_stability",
    "choose_k",
    "cluster_detail",
    "cluster_details",
    "cluster_names",
    "cluster_overview",
    "cluster_sizes",
    "dendrogram_figure",
    "feature_means",
    "fit_k_range",
    "headline",
    "hierarchical_check",
    "hierarchical_comparison",
    "log_segmenter",
    "make_pipeline",
    "persona_agreement",
    "persona_check",
    "prepare_inputs",
    "profile_heatmap",
    "projection_figure",
    "resolve_columns",
    "sample_rows",
    "sampled_silhouette",
    "segments_output",
    "scores_figure",
    "segment_customers",
    "segmentation_summary",
    "segments_table",
    "silhouette_figure",
    "sizes_figure",
    "stability_check",
    "stability_figure",
    "standardised_differences",
    "transform_for",
    "truth_file",
]
