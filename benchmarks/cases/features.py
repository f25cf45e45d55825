"""The feature build (``build_features``) and its RFM part alone (``rfm_features``), both
Ibis expressions on DuckDB reading the canonical Parquet files directly.

Each case also reports ``cpu_s``: the CPU time of the case process during the call (every
thread: DuckDB's and Arrow's too). On a machine shared with other jobs the wall time
depends on their load; the CPU time much less, so ratios of ``cpu_s`` say how the work
itself compares.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import bench_config, shared_dir
from workbench.features import build_features, rfm_features
from workbench.schema import parse_as_of

__all__ = ["build_features_case", "rfm_engine", "prepare_feature_table", "FEATURE_TABLE"]

#: The feature table the segmentation case reads (in the size's shared folder).
FEATURE_TABLE = "customer_features.parquet"


def build_features_case(data_dir: Path, work_dir: Path) -> dict:
    """Every feature section (RFM, lifecycle, e-mail, web, affinity, profile) as of the
    cut-off, returned as one pandas frame (nothing written)."""
    started = time.process_time()
    features = build_features(data_dir, parse_as_of(bench_config().as_of))
    return {
        "rows": int(len(features)),
        "rows_what": "customers",
        "cpu_s": round(time.process_time() - started, 3),
        "columns": int(features.shape[1]),
        "engine_s": features.attrs.get("section_seconds", {}),
        "monetary_total_sum": round(float(features["monetary_total"].sum()), 2),
    }


def rfm_engine(data_dir: Path, work_dir: Path) -> dict:
    """Only the RFM columns, on the engine: the like-for-like counterpart of the pandas
    baseline (same rows, same values, scores and segments included)."""
    started = time.process_time()
    rfm = rfm_features(data_dir, parse_as_of(bench_config().as_of))
    return {
        "rows": int(len(rfm)),
        "rows_what": "customers with a completed order",
        "cpu_s": round(time.process_time() - started, 3),
        "monetary_total_sum": round(float(rfm["monetary_total"].sum()), 2),
    }


def prepare_feature_table(data_dir: Path, work_dir: Path) -> dict:
    """Build and save the feature table into the shared folder, unless it is there
    (not measured: the segmentation case needs it)."""
    target = shared_dir(work_dir) / FEATURE_TABLE
    if target.exists():
        return {"prepared": False}
    features = build_features(data_dir, parse_as_of(bench_config().as_of))
    target.parent.mkdir(parents=True, exist_ok=True)
    features.to_parquet(target, index=False)
    return {"prepared": True, "rows": int(len(features))}
