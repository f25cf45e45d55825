"""The feature build on each engine: DuckDB in process beside Spark in local mode.

Both cases read the size's canonical Parquet tables with the engine, build the feature
table (the same Ibis expressions; the per-customer derivations in pandas) and write it as
Parquet into ``work_dir`` — by pandas after DuckDB (one file), by Spark itself after
Spark (a folder of parts, as it would write to a lake). What users pay for Spark on one
machine is the difference: the session start (``session_s``) and the per-query overhead
of a distributed engine. The Spark session follows the workbench's settings
(:func:`workbench.engines.spark_conf`: ``local[2]`` and a 2 GB driver unless
``WORKBENCH_SPARK_MASTER`` / ``WORKBENCH_SPARK_CONF`` say otherwise).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import bench_config, stopwatch
from workbench import engines
from workbench.features import build_features
from workbench.schema import parse_as_of

__all__ = ["features_duckdb_engine", "features_spark_engine"]


def _build_and_write(data_dir: Path, work_dir: Path, con, times: dict[str, float]) -> dict:
    with stopwatch(times, "compute_s"):
        features = build_features(data_dir, parse_as_of(bench_config().as_of), con=con)
    with stopwatch(times, "write_s"):
        target = engines.write_parquet(features, Path(work_dir) / "customer_features.parquet", con)
    return {
        "rows": int(len(features)),
        "rows_what": "customers",
        "columns": int(features.shape[1]),
        "engine_s": features.attrs.get("section_seconds", {}),
        "monetary_total_sum": round(float(features["monetary_total"].sum()), 2),
        "written": str(target),
    }


def features_duckdb_engine(data_dir: Path, work_dir: Path) -> dict:
    """Feature build on in-memory DuckDB, the table written by pandas (one Parquet file)."""
    times: dict[str, float] = {}
    con = engines.connect("duckdb")
    try:
        out = _build_and_write(data_dir, work_dir, con, times)
    finally:
        engines.close(con)
    return {**out, **times, "engine": "duckdb"}


def features_spark_engine(data_dir: Path, work_dir: Path) -> dict:
    """Feature build on a Spark session (local mode by default), the table written by
    Spark (a folder of Parquet parts); ``session_s`` is the session's start."""
    times: dict[str, float] = {}
    master = engines.spark_conf()["spark.master"]
    started = time.perf_counter()
    con = engines.connect("spark", app_name="workbench-bench")
    times["session_s"] = round(time.perf_counter() - started, 3)
    try:
        out = _build_and_write(data_dir, work_dir, con, times)
    finally:
        engines.close(con)
    return {**out, **times, "engine": "spark", "master": master}
