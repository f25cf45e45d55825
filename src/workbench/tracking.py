"""MLflow helpers: one experiment per stage, a parent run per pipeline run.

Every stage notebook opens a run in the experiment ``workbench/<stage>``, tagged with
the pipeline run that launched it (``mlflow.parentRunId`` and
``workbench.pipeline_run_id``), logs its parameters, the digests of the data it read
(``mlflow.log_input``), its headline numbers as metrics and its summary JSON. The
runner adds the executed notebook and its HTML report to the same run afterwards.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.settings import Settings

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "EXPERIMENT_PREFIX",
    "configure_tracking",
    "experiment_name",
    "model_name",
    "ensure_experiment",
    "start_stage_run",
    "start_pipeline_run",
    "end_pipeline_run",
    "attach_stage_artifacts",
    "flatten_metrics",
    "log_summary",
    "log_dataset",
    "find_stage_run",
    "client",
]

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "workbench"
PIPELINE_EXPERIMENT = "pipeline"
TAG_PIPELINE = "workbench.pipeline_run_id"
TAG_STAGE = "workbench.stage"
TAG_AS_OF = "workbench.as_of"


def _mlflow() -> ModuleType:
    # MLflow prints noisy warnings on import under some environments; keep logs readable.
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

    return mlflow


def configure_tracking(settings: Settings) -> str:
    """Point MLflow (tracking and registry) at the settings' URI and return it."""
    mlflow = _mlflow()
    settings.ensure_dirs()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings.tracking_uri


def client(settings: Settings) -> MlflowClient:
    """An ``MlflowClient`` on the settings' tracking and registry URI."""
    mlflow = _mlflow()
    configure_tracking(settings)
    return mlflow.tracking.MlflowClient(settings.tracking_uri, settings.tracking_uri)


def experiment_name(stage: str, project: str = "") -> str:
    """``workbench/<project>/<stage>`` (``workbench/<stage>`` without a project): the
    experiment that holds a stage's runs."""
    return f"{EXPERIMENT_PREFIX}/{project}/{stage}" if project else f"{EXPERIMENT_PREFIX}/{stage}"


def model_name(settings: Settings, base: str) -> str:
    """``<project>.<base>``: the registered model ``base`` of the settings' project (``base``
    itself without a project).

    Examples
    --------
    >>> from workbench.settings import get_settings
    >>> model_name(get_settings(project="demo-3fa91c"), "churn-classifier")
    'demo-3fa91c.churn-classifier'
    """
    return f"{settings.project}.{base}" if settings.project else base


def ensure_experiment(settings: Settings, stage: str) -> str:
    """Return the id of the stage's experiment, creating it with artefacts under
    ``settings.artifact_root/<stage>``."""
    mlflow = _mlflow()
    configure_tracking(settings)
    name = experiment_name(stage, settings.project)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = _artifact_uri(settings.artifact_root, stage)
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except Exception:
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _artifact_uri(root: str, stage: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{stage}"
    path = Path(root).expanduser().resolve() / stage
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def start_pipeline_run(
    settings: Settings, *, as_of: str, run_name: str, params: Mapping[str, Any]
) -> str:
    """Create the parent run of a pipeline execution (left RUNNING) and return its id."""
    mlflow_client = client(settings)
    experiment_id = ensure_experiment(settings, PIPELINE_EXPERIMENT)
    run = mlflow_client.create_run(
        experiment_id, run_name=run_name, tags={TAG_AS_OF: as_of, "mlflow.runName": run_name}
    )
    for key, value in params.items():
        mlflow_client.log_param(run.info.run_id, key, _param_value(value))
    return run.info.run_id


def end_pipeline_run(
    settings: Settings,
    run_id: str,
    *,
    status: str,
    metrics: Mapping[str, float] | None = None,
    artifacts: Sequence[Path] = (),
) -> None:
    """Log the manifest/index to the parent run and mark it FINISHED or FAILED."""
    mlflow_client = client(settings)
    for key, value in (metrics or {}).items():
        mlflow_client.log_metric(run_id, _metric_name(key), float(value))
    for path in artifacts:
        if Path(path).exists():
            mlflow_client.log_artifact(run_id, str(path))
    mlflow_client.set_terminated(run_id, status=status)


def attach_stage_artifacts(
    settings: Settings, stage: str, pipeline_run_id: str, paths: Sequence[Path], *, failed: bool
) -> str | None:
    """Add the executed notebook and HTML report to the stage's run; close it if it failed."""
    run = find_stage_run(settings, stage, pipeline_run_id)
    if run is None:
        return None
    mlflow_client = client(settings)
    for path in paths:
        if Path(path).exists():
            mlflow_client.log_artifact(run.info.run_id, str(path), artifact_path="report")
    if failed and run.info.status == "RUNNING":
        mlflow_client.set_terminated(run.info.run_id, status="FAILED")
    return run.info.run_id


@contextmanager
def start_stage_run(
    settings: Settings,
    stage: str,
    *,
    as_of: str,
    pipeline_run_id: str = "",
    params: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """Open the stage's MLflow run (a child of the pipeline run when one is given)."""
    mlflow = _mlflow()
    experiment_id = ensure_experiment(settings, stage)
    tags = {TAG_STAGE: stage, TAG_AS_OF: as_of}
    if pipeline_run_id:
        tags[TAG_PIPELINE] = pipeline_run_id
        tags["mlflow.parentRunId"] = pipeline_run_id
    while mlflow.active_run() is not None:  # a notebook re-run must not nest into itself
        mlflow.end_run()
    with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags) as run:
        if params:
            mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        yield run


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


def flatten_metrics(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested summary as MLflow metric names (``a.b.c``).

    Examples
    --------
    >>> flatten_metrics({"tables": {"orders": {"rows_in": 3}}, "ok": True, "name": "x"})
    {'tables.orders.rows_in': 3.0, 'ok': 1.0}
    """
    out: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and math.isfinite(float(value)):  # bools included
            out[name] = float(value)
    return {_metric_name(k): v for k, v in out.items()}


def _metric_name(name: str) -> str:
    # MLflow allows alphanumerics, _ - . space / ; anything else becomes _
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in name)[:250]


def log_summary(summary: Mapping[str, Any], stage: str) -> None:
    """Log a stage summary: numeric leaves as metrics, the whole as ``<stage>.json``."""
    mlflow = _mlflow()
    metrics = flatten_metrics(summary)
    if metrics:
        mlflow.log_metrics(metrics)
    mlflow.log_dict(json.loads(json.dumps(summary, default=str)), f"{stage}.json")


def log_dataset(
    frame: pd.DataFrame, *, name: str, source: str, context: str, digest: str | None = None
) -> None:
    """Record a table the stage read (schema, row count and digest) with ``mlflow.log_input``."""
    mlflow = _mlflow()
    from mlflow.data.pandas_dataset import from_pandas

    sample = frame.head(1000)
    with warnings.catch_warnings():  # a local path matches two equivalent source types
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(sample, source=source, name=name, digest=(digest or "")[-32:] or None)
        mlflow.log_input(dataset, context=context, tags={"rows": str(len(frame))})


def find_stage_run(settings: Settings, stage: str, pipeline_run_id: str) -> Run | None:
    """The stage run launched by a pipeline run, or ``None``."""
    mlflow_client = client(settings)
    experiment = mlflow_client.get_experiment_by_name(experiment_name(stage, settings.project))
    if experiment is None:
        return None
    runs = mlflow_client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{TAG_PIPELINE}` = '{pipeline_run_id}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None
