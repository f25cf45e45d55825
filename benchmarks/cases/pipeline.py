"""The whole pipeline: every stage notebook executed by papermill, as ``workbench run``
does, at the stages' defaults (what a user's ``workbench run`` costs); and the fixed cost
of a stage — what a stage costs beyond its own computation (kernel, imports, MLflow,
the runner's bookkeeping and report)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from benchmarks.common import bench_config, settings_for
from workbench.pipeline import run_pipeline

__all__ = [
    "FIXED_COST_STAGES",
    "OVERRIDES",
    "report_folder_size",
    "stage_fixed_cost",
    "stage_fixed_cost_fresh_kernels",
    "whole_pipeline",
]

#: ``-p`` overrides of the pipeline case: none, so it measures what users run.
OVERRIDES: tuple[str, ...] = ()
#: How many stages the fixed-cost cases run (the first pays for the kernel and imports).
FIXED_COST_STAGES = 4

_PARAMETERS = """data_dir = ""  # the source
as_of = "2026-06-30"
output_dir = ""
pipeline_run_id = ""
tracking_uri = ""
data_root = ""
"""
# A stage that does what every stage does and nothing else: the setup cell of the real
# notebooks (pandas, the workbench, Plotly, Stage.start with its MLflow run), reading the
# orders (about a second of computation at 10,000 customers) and stage.finish.
_BODY = """import pandas as pd

from workbench import plots
from workbench.stage import Stage

stage = Stage.start("{name}", globals())
orders = stage.load(["orders"], input="raw")["orders"]
stage.finish({{"orders": len(orders)}})
"""


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
        **report_folder_size(result.output_dir),
    }


def report_folder_size(folder: Path) -> dict:
    """Bytes of a run's report folder (``report_mb``, 10^6 bytes) and of its largest files
    (``largest_mb``: name -> MB, the five largest)."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    sizes = sorted(((p.stat().st_size, p.name) for p in files), reverse=True)
    return {
        "report_mb": round(sum(size for size, _ in sizes) / 1e6, 2),
        "largest_mb": {name: round(size / 1e6, 2) for size, name in sizes[:5]},
    }


def _fixed_cost(data_dir: Path, work_dir: Path, *, shared_kernel: bool) -> dict:
    config = bench_config()
    root = Path(work_dir).resolve() / "project"
    shutil.rmtree(root, ignore_errors=True)
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'fixed-cost'\n")
    for number in range(FIXED_COST_STAGES):
        name = f"stage{number}"
        parameters = nbformat.v4.new_code_cell(_PARAMETERS)
        parameters.metadata["tags"] = ["parameters"]
        body = nbformat.v4.new_code_cell(_BODY.format(name=name))
        nb = nbformat.v4.new_notebook(cells=[parameters, body])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}  # fmt: skip
        nbformat.write(nb, str(root / "notebooks" / f"{number:02d}_{name}.ipynb"))
    settings = settings_for(work_dir).with_overrides(root=root)
    result = run_pipeline(
        settings=settings,
        data_dir=Path(data_dir),
        as_of=config.as_of,
        output_dir=settings.reports_dir / "fixed-cost",
        progress=False,
        shared_kernel=shared_kernel,
    )
    if not result.ok:
        raise RuntimeError(f"fixed-cost stages failed: {[s.error for s in result.stages]}")
    seconds = [s.seconds or 0.0 for s in result.stages]
    later = seconds[1:]
    return {
        "rows": config.customers,
        "rows_what": "customers",
        "stage_s": [round(s, 2) for s in seconds],
        "first_stage_s": round(seconds[0], 2),
        "next_stage_s": round(sum(later) / len(later), 2),
        "compute_s": round(sum(later) / len(later), 2),
        "shared_kernel": shared_kernel,
    }


def stage_fixed_cost(data_dir: Path, work_dir: Path) -> dict:
    """:data:`FIXED_COST_STAGES` minimal stages through ``workbench run`` (one shared
    kernel, as the runner does): ``next_stage_s`` — the mean of the stages after the first
    — is the fixed cost of a stage in a pipeline; ``first_stage_s`` adds the kernel start
    and the imports every run pays once."""
    return _fixed_cost(data_dir, work_dir, shared_kernel=True)


def stage_fixed_cost_fresh_kernels(data_dir: Path, work_dir: Path) -> dict:
    """The same stages with a fresh kernel for each (how the runner worked before)."""
    return _fixed_cost(data_dir, work_dir, shared_kernel=False)
