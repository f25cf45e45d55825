"""The audit: rules, duplicate customers, clean tables, quarantine and set-aside rows.

``audit`` is the stage as it runs by default (:func:`workbench.audit.run` on DuckDB: every
rule as queries on a DuckDB database file, memory bounded); ``audit_pandas`` the same
rules on pandas frames in memory (``engine="pandas"``), for comparison.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import bench_config, settings_for
from workbench import audit as audit_stage
from workbench import catalog
from workbench.audit import AuditParams
from workbench.schema import parse_as_of

__all__ = ["audit", "audit_pandas"]


def _run(data_dir: Path, work_dir: Path, engine: str) -> dict:
    as_of = parse_as_of(bench_config().as_of)
    stamp = catalog.Stamp("audit", as_of, catalog.fingerprint(data_dir))
    result = audit_stage.run(
        data_dir, as_of, AuditParams(engine=engine), settings=settings_for(work_dir), stamp=stamp
    )
    rows = result.rows
    duplicates = result.duplicates
    return {
        "rows": int(rows["rows_in"].sum()),
        "rows_what": "input rows (all tables)",
        "rows_quarantined": int(rows["rows_quarantined"].sum()),
        "rows_after_as_of": int(rows["rows_after_as_of"].sum()),
        "candidate_pairs": None if duplicates is None else int(len(duplicates.pairs)),
        "duplicate_clusters": None if duplicates is None else int(duplicates.clusters),
        "quality_score": result.summary()["quality_score"],
    }


def audit(data_dir: Path, work_dir: Path) -> dict:
    """Audit the raw demo tables as the stage does by default (DuckDB), writing the clean
    tables, the quarantine and the set-aside rows into ``work_dir``."""
    return _run(data_dir, work_dir, "duckdb")


def audit_pandas(data_dir: Path, work_dir: Path) -> dict:
    """The same audit on pandas frames in memory (``AuditParams(engine="pandas")``)."""
    return _run(data_dir, work_dir, "pandas")
