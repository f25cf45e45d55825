"""Run the stage notebooks in order with papermill: ``workbench run``.

A stage is a notebook ``notebooks/NN_name.ipynb``; its name is the file name without
the number. :func:`run_pipeline` checks every parameter before any notebook runs
(papermill alone only warns about unknown names), decides for each stage whether it
runs, is *not applicable* or is skipped, executes the notebooks on one shared kernel,
writes for each the executed notebook, a standalone HTML copy and ``<stage>.json`` (the
stage writes it), then ``index.html`` and ``manifest.json``, and logs the run to MLflow.

Stages declare in their notebook metadata what they depend on and what they need::

    {"workbench": {"depends_on": ["features"],
                   "needs": {"tables": ["experiment_assignments"],
                             "unless_params": ["summary_path"]}}}

Statuses: ``ok``; ``not_applicable`` (its inputs are absent: a needed table, or the
notebook said so with ``stage.not_applicable(reason)``, or a stage it depends on was not
applicable); ``failed``; ``skipped`` (a stage it depends on failed). A failure only skips
its dependents; independent stages still run.

Exit codes of ``workbench run`` (see :class:`ExitCode`): 0 nothing failed (stages that
were not applicable included), 1 a stage failed, 2 bad arguments or parameters, 3 another
run holds the lock, 4 the input data cannot be read, 128 + the signal's number when
stopped (130 Ctrl-C, 143 SIGTERM).

The package: :mod:`~workbench.pipeline.stages` (discovery, ``-p`` overrides),
:mod:`~workbench.pipeline.applicability` (which tables a source holds),
:mod:`~workbench.pipeline.kernel` (the shared kernel, per-cell progress),
:mod:`~workbench.pipeline.run` (the run itself, locks, signals, retention),
:mod:`~workbench.pipeline.index` (the run's ``index.html``) and
:mod:`~workbench.pipeline.backtest` (``workbench backtest``: the pipeline over a series of
dates and the report of its metrics over time).
"""

from __future__ import annotations

from workbench.pipeline.applicability import needs_sentence, present_tables, unmet_needs
from workbench.pipeline.backtest import BacktestResult, BacktestStep, run_backtest
from workbench.pipeline.index import STATUS_LABELS, headline_of, write_index
from workbench.pipeline.kernel import KernelSession
from workbench.pipeline.run import (
    STATUSES,
    ExitCode,
    LockedError,
    PipelineResult,
    RunInterrupted,
    StageFailed,
    StageResult,
    apply_retention,
    default_output_dir,
    input_digests,
    run_lock,
    run_pipeline,
)
from workbench.pipeline.stages import (
    INJECTED,
    Needs,
    ParameterError,
    StageNotebook,
    discover_stages,
    parse_overrides,
    select_stages,
)

__all__ = [
    "BacktestResult",
    "BacktestStep",
    "run_backtest",
    "INJECTED",
    "STATUSES",
    "STATUS_LABELS",
    "ExitCode",
    "KernelSession",
    "LockedError",
    "Needs",
    "ParameterError",
    "PipelineResult",
    "RunInterrupted",
    "StageFailed",
    "StageNotebook",
    "StageResult",
    "apply_retention",
    "default_output_dir",
    "discover_stages",
    "headline_of",
    "input_digests",
    "needs_sentence",
    "parse_overrides",
    "present_tables",
    "run_lock",
    "run_pipeline",
    "select_stages",
    "unmet_needs",
    "write_index",
]
