"""The audit: rules, duplicate customers, clean tables and quarantine (``run_audit``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import bench_config, settings_for
from workbench.audit import run_audit
from workbench.schema import parse_as_of

__all__ = ["audit"]


def audit(data_dir: Path, work_dir: Path) -> dict:
    """Audit the raw demo tables as the stage does, writing clean and quarantined tables
    into ``work_dir`` (default :class:`~workbench.audit.AuditConfig`)."""
    as_of = parse_as_of(bench_config().as_of)
    result = run_audit(data_dir, as_of, settings=settings_for(work_dir))
    rows = result.rows
    duplicates = result.duplicates
    return {
        "rows": int(rows["rows_in"].sum()),
        "rows_what": "input rows (all tables)",
        "rows_quarantined": int(rows["rows_quarantined"].sum()),
        "candidate_pairs": None if duplicates is None else int(len(duplicates.pairs)),
        "duplicate_clusters": None if duplicates is None else int(duplicates.clusters),
    }
