"""The whole pipeline: every stage notebook executed by papermill, as ``workbench run``
does, at the stages' defaults (what a user's ``workbench run`` costs)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import bench_config, settings_for
from workbench.pipeline import run_pipeline

__all__ = ["whole_pipeline", "OVERRIDES"]

#: ``-p`` overrides of the pipeline case: none, so it measures what users run.
OVERRIDES: tuple[str, ...] = ()


def whole_pipeline(data_dir: Path, work_dir: Path) -> dict:
    """``workbench run --data <data_dir> --as-of <as_of>`` (through
    :func:`workbench.pipeline.run_pipeline`, the function behind the command) with
    :data:`OVERRIDES`; data tree, reports and MLflow store in ``work_dir``.

    Raises
    ------
    RuntimeError
        A stage failed: its name and error (the executed notebook is in ``work_dir``).
    """
    config = bench_config()
    settings = settings_for(work_dir)
    result = run_pipeline(
        settings=settings,
        data_dir=Path(data_dir),
        as_of=config.as_of,
        output_dir=settings.reports_dir / "bench-run",
        overrides=list(OVERRIDES),
        progress=False,
    )
    stages = {s.name: {"status": s.status, "seconds": s.seconds} for s in result.stages}
    if not result.ok:
        failed = result.failures()
        detail = failed[0].error if failed else "a stage was skipped"
        raise RuntimeError(f"pipeline failed: {detail}\nstages: {stages}")
    return {
        "rows": config.customers,
        "rows_what": "customers",
        "stage_s": {name: s["seconds"] for name, s in stages.items()},
        "overrides": list(OVERRIDES),
    }
