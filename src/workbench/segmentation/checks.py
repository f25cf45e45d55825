"""The trust checks of a segmentation, each run with the parameters it was made with.

One call each from the notebook: :func:`stability_check` (bootstrap refits compared by
the ARI; ``None`` when ``n_bootstrap`` is below 2), :func:`hierarchical_check` (Ward
clustering of a sample against k-means) and :func:`persona_check` (the demo data's
planted personas; ``None`` when the source has no ground truth). The functions they
wrap (:func:`~workbench.segmentation.bootstrap_stability`,
:func:`~workbench.segmentation.hierarchical_comparison`,
:func:`~workbench.segmentation.persona_agreement`) take every setting explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from workbench.segmentation.core import SegmentationResult
from workbench.segmentation.validation import (
    HierarchicalResult,
    StabilityResult,
    bootstrap_stability,
    hierarchical_comparison,
    persona_agreement,
    truth_file,
)

__all__ = ["stability_check", "hierarchical_check", "persona_check"]


def stability_check(result: SegmentationResult) -> StabilityResult | None:
    """Bootstrap stability of ``result`` at the k its parameters name
    (:meth:`~workbench.segmentation.SegmentationParams.stability_ks`), or ``None`` when
    ``n_bootstrap`` is below 2 (the check is off)."""
    p = result.params
    if p.n_bootstrap < 2:
        return None
    return bootstrap_stability(
        result.inputs.X,
        result.fits.pipelines,
        result.fits.labels,
        ks=p.stability_ks(result.k),
        n_bootstrap=p.n_bootstrap,
        pool_size=p.stability_sample,
        random_state=p.random_state,
        n_threads=p.n_threads,
    )


def hierarchical_check(result: SegmentationResult) -> HierarchicalResult:
    """Ward clustering of a sample of ``hierarchical_sample`` customers, cut at the chosen
    k and compared with the k-means labels."""
    p = result.params
    return hierarchical_comparison(
        result.fits.Z,
        result.labels,
        result.k,
        sample_size=p.hierarchical_sample,
        random_state=p.random_state,
    )


def persona_check(segments: pd.DataFrame, data_dir: str | Path) -> dict[str, Any] | None:
    """Agreement of ``segments`` with the planted personas of the demo data found beside
    the source (:func:`~workbench.segmentation.truth_file`), or ``None`` without them."""
    path = truth_file(data_dir)
    if path is None:
        return None
    return persona_agreement(segments, pd.read_parquet(path))
