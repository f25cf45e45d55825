"""MLflow helpers: experiments per project and stage, a parent run per pipeline run.

Names
    Every experiment is ``workbench/<project>/<stage>`` (:func:`experiment_name`; the
    pipeline's parent runs go to ``workbench/<project>/pipeline``) and every registered
    model ``<project>.<model>`` (:func:`model_name`), so two data sources never share
    versions, aliases or a champion gate. Experiments carry the tag
    ``mlflow.experimentKind = custom_model_development``, which MLflow 3's UI reads to open
    them in its classic (model training) view instead of the GenAI one.
Runs
    A stage run is named ``<stage> · <as_of> · <source>``, has its notebook as its source
    (``mlflow.source.name`` / ``mlflow.source.type = NOTEBOOK``), is tagged with the
    pipeline run that launched it (``mlflow.parentRunId``, ``workbench.pipeline_run_id``)
    and logs the stage's parameters as params, the data it read as inputs
    (``mlflow.log_input``, see :func:`log_dataset` and :func:`log_file_input`) and its
    summary JSON. The runner adds the executed notebook and its HTML report afterwards.
Params and metrics
    Settings are params; only measured numbers are metrics. :func:`summary_metrics`
    decides: the numbers under ``summary["metrics"]`` when the stage puts them there,
    otherwise every numeric leaf of the summary except booleans, the ``headline``, and
    leaves named like one of the stage's parameters (``horizon_days`` stays a param).
Keys from data
    A metric or param key built from data (a variant, segment or category name) goes
    through :func:`safe_key`; the original name stays in the summary JSON.

One :class:`~mlflow.tracking.MlflowClient` per tracking URI is kept for the process
(:func:`client`), so a stage does not pay for a new store (SQLAlchemy engine, schema
check) at every call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.settings import Settings, get_settings, source_label

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "ensure_store",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "EXPERIMENT_PREFIX",
    "MAX_KEY_LENGTH",
    "PIPELINE_EXPERIMENT",
    "TAG_STATUS",
    "attach_stage_artifacts",
    "client",
    "configure_tracking",
    "end_open_runs",
    "end_pipeline_run",
    "ensure_experiment",
    "experiment_name",
    "find_stage_run",
    "flatten_metrics",
    "log_dataset",
    "log_file_input",
    "log_summary",
    "model_name",
    "run_name",
    "safe_key",
    "start_pipeline_run",
    "start_stage_run",
    "summary_metrics",
    "tag_active_run",
]

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "workbench"
PIPELINE_EXPERIMENT = "pipeline"
#: The experiment tag MLflow 3's UI reads to choose between its GenAI and classic views
#: (``mlflow/server/js``: ``ExperimentKind.CUSTOM_MODEL_DEVELOPMENT``).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: The longest key :func:`safe_key` returns (MLflow allows 250).
MAX_KEY_LENGTH = 200
TAG_PIPELINE = "workbench.pipeline_run_id"
TAG_STAGE = "workbench.stage"
TAG_AS_OF = "workbench.as_of"
TAG_PROJECT = "workbench.project"
TAG_SOURCE = "workbench.source"
#: ok, not_applicable, failed or killed: how the stage ended, as the runner saw it.
TAG_STATUS = "workbench.status"

#: Summary sections that never hold measured numbers.
_NOT_MEASURED = frozenset({"headline", "params", "parameters", "settings", "status"})
_UNSAFE = re.compile(r"[^\w.\- /]")
_MODEL_BASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_clients: dict[str, Any] = {}
_experiments: dict[tuple[str, str], str] = {}


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
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings.tracking_uri


def client(settings: Settings) -> MlflowClient:
    """The process's ``MlflowClient`` on the settings' tracking and registry URI (one per
    URI: the store behind it is created once)."""
    mlflow = _mlflow()
    configure_tracking(settings)
    found = _clients.get(settings.tracking_uri)
    if found is None:
        found = mlflow.tracking.MlflowClient(settings.tracking_uri, settings.tracking_uri)
        _clients[settings.tracking_uri] = found
    return found


def ensure_store(settings: Settings) -> None:
    """Create a new SQLite tracking store in this process, before any other process opens it.

    MLflow creates a SQLite store by running its schema migrations; two processes doing
    that at once on a new file (the runner and a kernel warming up) leave it half
    migrated ("No such constraint: 'uq_experiments_name'", then "duplicate column name"
    on every later run). An existing store is left alone (no cost).
    """
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        client(settings).search_experiments(max_results=1)


# --------------------------------------------------------------------------- names


def experiment_name(stage: str, settings: Settings | None = None) -> str:
    """``workbench/<project>/<stage>``: the experiment that holds a stage's runs.

    ``settings`` defaults to :func:`~workbench.settings.get_settings` (whose project comes
    from ``WORKBENCH_PROJECT``, which ``workbench run`` sets for its kernels); pass the
    stage's settings where you have them.

    Examples
    --------
    >>> from workbench.settings import get_settings
    >>> experiment_name("churn", get_settings(root="/tmp/p", project="shop-3fa91c"))
    'workbench/shop-3fa91c/churn'
    """
    project = (settings or get_settings()).project
    return f"{EXPERIMENT_PREFIX}/{project}/{stage}"


def model_name(settings: Settings, base: str) -> str:
    """The registered model name of ``base`` in the settings' project: ``<project>.<base>``.

    Parameters
    ----------
    settings : Settings
        Whose :attr:`~workbench.settings.Settings.project` scopes the name.
    base : str
        The model's own name (``churn-classifier``): letters, digits, ``.``, ``_``, ``-``.

    Raises
    ------
    ValueError
        ``base`` holds a character a registered model name (or a ``models:/`` URI)
        cannot, such as ``/``, ``:``, ``@`` or a space.

    Examples
    --------
    >>> from workbench.settings import get_settings
    >>> model_name(get_settings(root="/tmp/p", project="demo-3fa91c"), "churn-classifier")
    'demo-3fa91c.churn-classifier'
    """
    if not _MODEL_BASE.match(base or ""):
        raise ValueError(
            f"model_name: base must be letters, digits, '.', '_' or '-' (starting with a "
            f"letter or digit), got {base!r}"
        )
    return f"{settings.project}.{base}"


def safe_key(name: str) -> str:
    """``name`` as an MLflow metric or param key: allowed characters only, capped length.

    MLflow keys may hold letters, digits, ``_ - . /`` and spaces, must not look like a
    path that normalises to something else (``a//b``, ``a/./b``, ``/a``, ``a/``) and are at
    most 250 characters. Every other character becomes ``_``, empty path segments go,
    ``.``/``..`` segments become ``_``, and the result is cut to :data:`MAX_KEY_LENGTH`. A
    name that had to change gets ``-`` and 8 hex characters of a hash of the original, so
    two different names never share a key. The original name belongs in the summary JSON.

    Examples
    --------
    >>> safe_key("segment.Champions.lift")
    'segment.Champions.lift'
    >>> safe_key("variant.a//b.users")
    'variant.a/b.users-66626d6e'
    >>> safe_key('<img src=x onerror="alert(1)">')
    '_img src_x onerror__alert_1___-bd32843d'
    """
    text = str(name)
    cleaned = _UNSAFE.sub("_", text)
    segments = [s.strip() for s in cleaned.split("/")]
    cleaned = "/".join("_" if s in (".", "..") else s for s in segments if s)
    cleaned = cleaned or "_"
    if cleaned == text and len(text) <= MAX_KEY_LENGTH:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: MAX_KEY_LENGTH - 9].rstrip('/ ')}-{digest}"


def run_name(stage: str, as_of: str, source: str | Path) -> str:
    """``<stage> · <as_of> · <source name>``: what the MLflow run list shows.

    Examples
    --------
    >>> run_name("churn", "2026-06-30", "/srv/shop/raw")
    'churn · 2026-06-30 · shop'
    """
    return f"{stage} · {as_of} · {source_label(source)}"


# --------------------------------------------------------------------------- experiments


def ensure_experiment(settings: Settings, stage: str) -> str:
    """The id of the stage's experiment in the settings' project, created when missing
    (artefacts under ``<artifact_root>/<project>/<stage>``) and tagged for the classic view."""
    mlflow_client = client(settings)
    name = experiment_name(stage, settings)
    cached = _experiments.get((settings.tracking_uri, name))
    if cached is not None:
        return cached
    found = mlflow_client.get_experiment_by_name(name)
    if found is None:
        location = _artifact_uri(settings.artifact_root, f"{settings.project}/{stage}")
        try:
            experiment_id = mlflow_client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            )
        except Exception:
            found = mlflow_client.get_experiment_by_name(name)
            if found is None:
                raise
            experiment_id = found.experiment_id
    else:
        experiment_id = found.experiment_id
    if found is not None and found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        mlflow_client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    _experiments[(settings.tracking_uri, name)] = experiment_id
    return experiment_id


def _artifact_uri(root: str, where: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{where}"
    path = Path(root).expanduser().resolve() / where
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


# --------------------------------------------------------------------------- pipeline runs


def start_pipeline_run(
    settings: Settings,
    *,
    as_of: str,
    run_name: str,
    params: Mapping[str, Any],
    source: str | Path | None = None,
) -> str:
    """Create the parent run of a pipeline execution (left RUNNING) and return its id."""
    mlflow_client = client(settings)
    experiment_id = ensure_experiment(settings, PIPELINE_EXPERIMENT)
    tags = {TAG_AS_OF: as_of, TAG_PROJECT: settings.project, "mlflow.runName": run_name}
    if source is not None:
        tags[TAG_SOURCE] = str(source)
    run = mlflow_client.create_run(experiment_id, run_name=run_name, tags=tags)
    for key, value in params.items():
        mlflow_client.log_param(run.info.run_id, safe_key(key), _param_value(value))
    return run.info.run_id


def end_pipeline_run(
    settings: Settings,
    run_id: str,
    *,
    status: str,
    metrics: Mapping[str, float] | None = None,
    artifacts: Sequence[Path] = (),
    tags: Mapping[str, str] | None = None,
) -> None:
    """Log the manifest/index to the parent run and mark it FINISHED, FAILED or KILLED."""
    mlflow_client = client(settings)
    for key, value in (metrics or {}).items():
        mlflow_client.log_metric(run_id, safe_key(key), float(value))
    for key, text in (tags or {}).items():
        mlflow_client.set_tag(run_id, safe_key(key), str(text)[:5000])
    for path in artifacts:
        if Path(path).exists():
            mlflow_client.log_artifact(run_id, str(path))
    mlflow_client.set_terminated(run_id, status=status)


def end_open_runs(settings: Settings, pipeline_run_id: str, *, status: str = "KILLED") -> int:
    """Mark every run of a pipeline run that is still RUNNING — its stages' runs and the
    parent itself — as ``status``; returns how many were ended. The runner calls it when
    it is stopped (SIGTERM, Ctrl-C): a killed kernel cannot end its own run."""
    mlflow_client = client(settings)
    ended = 0
    prefix = f"{EXPERIMENT_PREFIX}/{settings.project}/"
    experiments = [
        e.experiment_id
        for e in mlflow_client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    ]
    if experiments:
        runs = mlflow_client.search_runs(
            experiments,
            filter_string=f"tags.`{TAG_PIPELINE}` = '{pipeline_run_id}' "
            "and attributes.status = 'RUNNING'",
            max_results=1000,
        )
        for run in runs:
            mlflow_client.set_tag(run.info.run_id, TAG_STATUS, status.lower())
            mlflow_client.set_terminated(run.info.run_id, status=status)
            ended += 1
    parent = mlflow_client.get_run(pipeline_run_id)
    if parent.info.status == "RUNNING":
        mlflow_client.set_terminated(pipeline_run_id, status=status)
        ended += 1
    return ended


def attach_stage_artifacts(
    settings: Settings,
    stage: str,
    pipeline_run_id: str,
    paths: Sequence[Path],
    *,
    failed: bool,
    status: str | None = None,
) -> str | None:
    """Add the executed notebook and HTML report to the stage's run; close it if it failed.

    ``status`` (the runner's view: ok, not_applicable, failed) is recorded as the tag
    :data:`TAG_STATUS`.
    """
    run = find_stage_run(settings, stage, pipeline_run_id)
    if run is None:
        return None
    mlflow_client = client(settings)
    for path in paths:
        if Path(path).exists():
            mlflow_client.log_artifact(run.info.run_id, str(path), artifact_path="report")
    if status:
        mlflow_client.set_tag(run.info.run_id, TAG_STATUS, status)
    if failed and run.info.status == "RUNNING":
        mlflow_client.set_terminated(run.info.run_id, status="FAILED")
    return run.info.run_id


def find_stage_run(settings: Settings, stage: str, pipeline_run_id: str) -> Run | None:
    """The stage run launched by a pipeline run, or ``None``."""
    mlflow_client = client(settings)
    experiment = mlflow_client.get_experiment_by_name(experiment_name(stage, settings))
    if experiment is None:
        return None
    runs = mlflow_client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{TAG_PIPELINE}` = '{pipeline_run_id}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


# --------------------------------------------------------------------------- stage runs


@contextmanager
def start_stage_run(
    settings: Settings,
    stage: str,
    *,
    as_of: str,
    pipeline_run_id: str = "",
    params: Mapping[str, Any] | None = None,
    source: str | Path | None = None,
    notebook: str | Path | None = None,
) -> Iterator[Any]:
    """Open the stage's MLflow run (a child of the pipeline run when one is given).

    The run is named :func:`run_name` (``source`` is the data source it reads), has
    ``notebook`` as its source (``mlflow.source.type = NOTEBOOK``) and logs ``params``
    under :func:`safe_key` keys.
    """
    mlflow = _mlflow()
    experiment_id = ensure_experiment(settings, stage)
    tags = {TAG_STAGE: stage, TAG_AS_OF: as_of, TAG_PROJECT: settings.project}
    if source is not None:
        tags[TAG_SOURCE] = str(source)
    if notebook is not None:
        tags["mlflow.source.name"] = str(notebook)
        tags["mlflow.source.type"] = "NOTEBOOK"
    if pipeline_run_id:
        tags[TAG_PIPELINE] = pipeline_run_id
        tags["mlflow.parentRunId"] = pipeline_run_id
    while mlflow.active_run() is not None:  # a notebook re-run must not nest into itself
        mlflow.end_run()
    name = run_name(stage, as_of, source) if source is not None else stage
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        if params:
            mlflow.log_params({safe_key(k): _param_value(v) for k, v in params.items()})
        yield run


def tag_active_run(tags: Mapping[str, str]) -> None:
    """Set tags on the active run (nothing when no run is active)."""
    mlflow = _mlflow()
    if mlflow.active_run() is not None:
        mlflow.set_tags({safe_key(k): str(v)[:5000] for k, v in tags.items()})


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


# --------------------------------------------------------------------------- summaries


def flatten_metrics(
    summary: Mapping[str, Any], prefix: str = "", *, exclude: Iterable[str] = ()
) -> dict[str, float]:
    """Finite numeric leaves of a nested summary as MLflow metric keys (``a.b.c``).

    Booleans are facts, not measurements, and are left out; so is every leaf whose own key
    is in ``exclude`` (the stage's parameter names). Keys pass through :func:`safe_key`;
    two paths that would share a key are told apart by it.

    Examples
    --------
    >>> flatten_metrics({"tables": {"orders": {"rows_in": 3}}, "ok": True, "name": "x"})
    {'tables.orders.rows_in': 3.0}
    >>> flatten_metrics({"horizon_days": 90, "roc_auc": 0.81}, exclude=["horizon_days"])
    {'roc_auc': 0.81}
    """
    skipped = frozenset(exclude)
    leaves: list[tuple[tuple[str, ...], float]] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            if isinstance(value, Mapping):
                walk(value, here)
            elif isinstance(value, bool) or str(key) in skipped:
                continue
            elif isinstance(value, int | float) and math.isfinite(float(value)):
                leaves.append((here, float(value)))

    walk(summary, tuple(p for p in prefix.split(".") if p))
    out: dict[str, float] = {}
    for path, value in leaves:
        key = safe_key(".".join(path))
        if key in out:  # "a.b" as one key and as a nested path
            key = safe_key("\x00".join(path))
        out[key] = value
    return out


def summary_metrics(summary: Mapping[str, Any], params: Iterable[str] = ()) -> dict[str, float]:
    """The measured numbers of a stage summary, as MLflow metrics.

    ``summary["metrics"]`` (a mapping) when the stage provides it: its numeric leaves and
    nothing else. Otherwise every numeric leaf except the ``headline``, ``params``,
    ``parameters``, ``settings`` and ``status`` sections, booleans, and leaves named like
    one of ``params`` (the stage's settings, which are logged as params).

    Examples
    --------
    >>> summary_metrics({"metrics": {"roc_auc": 0.8}, "horizon_days": 90})
    {'roc_auc': 0.8}
    >>> summary_metrics({"roc_auc": 0.8, "horizon_days": 90, "headline": {"n": 1}},
    ...                 params=["horizon_days"])
    {'roc_auc': 0.8}
    """
    metrics = summary.get("metrics")
    if isinstance(metrics, Mapping):
        return flatten_metrics(metrics)
    measured = {k: v for k, v in summary.items() if k not in _NOT_MEASURED}
    return flatten_metrics(measured, exclude=params)


def log_summary(summary: Mapping[str, Any], stage: str, params: Iterable[str] = ()) -> None:
    """Log a stage summary to the active run: :func:`summary_metrics` as metrics, the
    whole (original names included) as ``<stage>.json``."""
    mlflow = _mlflow()
    metrics = summary_metrics(summary, params)
    if metrics:
        mlflow.log_metrics(metrics)
    mlflow.log_dict(json.loads(json.dumps(summary, default=str)), f"{stage}.json")


# --------------------------------------------------------------------------- inputs


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


def log_file_input(
    path: str | Path,
    *,
    name: str,
    context: str,
    digest: str | None = None,
    rows: int | None = None,
) -> None:
    """Record a file or URI the stage reads without reading its data (``mlflow.log_input``
    of a metadata-only dataset; a Parquet file's schema comes from its footer)."""
    mlflow = _mlflow()
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    text = str(path)
    schema = _parquet_schema(Path(text)) if text.endswith(".parquet") else None
    if rows is None and text.endswith(".parquet"):
        rows = _parquet_rows(Path(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dataset = MetaDataset(  # type: ignore[abstract]  # profile is optional at run time
            resolve_dataset_source(text),
            name=name,
            digest=(digest or "")[-32:] or None,
            schema=schema,
        )
        tags = {"rows": str(rows)} if rows is not None else None
        mlflow.log_input(dataset, context=context, tags=tags)


def _parquet_rows(path: Path) -> int | None:
    try:
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    except Exception:
        return None


def _parquet_schema(path: Path) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from mlflow.types import ColSpec, DataType, Schema
    except ImportError:
        return None
    try:
        arrow = pq.read_schema(path)
    except Exception:
        return None

    def kind(t: Any) -> Any:
        if pa.types.is_boolean(t):
            return DataType.boolean
        if pa.types.is_integer(t):
            return DataType.long
        if pa.types.is_floating(t):
            return DataType.double
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return DataType.datetime
        if pa.types.is_binary(t):
            return DataType.binary
        return DataType.string

    return Schema([ColSpec(kind(f.type), f.name) for f in arrow])
