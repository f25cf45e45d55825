"""Segmentation: k-means for k = 2..10 with sampled silhouette, the Ward comparison and
bootstrap stability, on the feature table (the stage's defaults)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from benchmarks.cases.features import FEATURE_TABLE
from benchmarks.common import shared_dir, stopwatch
from workbench.segmentation import (
    SegmentationParams,
    bootstrap_stability,
    hierarchical_comparison,
    segment_customers,
)

__all__ = ["segment"]


def segment(data_dir: Path, work_dir: Path) -> dict:
    """Read the feature table (made by ``prepare_feature_table``), cluster, compare with
    Ward and refit on bootstrap samples, as the notebook does with its defaults.

    ``compute_s`` excludes reading the table.
    """
    params = SegmentationParams()
    times: dict[str, float] = {}
    table = pd.read_parquet(shared_dir(work_dir) / FEATURE_TABLE)
    started = time.perf_counter()
    with stopwatch(times, "k_range_s"):
        result = segment_customers(table, params)
    with stopwatch(times, "ward_s"):
        ward = hierarchical_comparison(
            result.fits.Z,
            result.labels,
            result.k,
            sample_size=params.hierarchical_sample,
            random_state=params.random_state,
        )
    with stopwatch(times, "stability_s"):
        stability = bootstrap_stability(
            result.inputs.X,
            result.fits.pipelines,
            result.fits.labels,
            ks=params.stability_ks(result.k),
            n_bootstrap=params.n_bootstrap,
            pool_size=params.stability_sample,
            random_state=params.random_state,
            n_threads=params.n_threads,
        )
    return {
        "rows": int(len(result.inputs.X)),
        "rows_what": "customers clustered",
        "compute_s": round(time.perf_counter() - started, 3),
        **times,
        "k": int(result.k),
        "k_range": [params.k_min, params.k_max],
        "hierarchical_ari": round(float(ward.ari), 3),
        "stability_ari": round(stability.ari(result.k), 3),
    }
