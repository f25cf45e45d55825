"""What the registry knows about each model version, read from MLflow.

:func:`versions_table` and :func:`model_versions` read every version of a project's
registered models (:func:`registered_models` with the project's ``prefix``): aliases,
``as_of``, headline metric, data fingerprint, who moved an alias and why. The helpers the
review and the promotion share (:data:`TAG`, :func:`json_tag`, :func:`run_artifact` …)
are public here; :mod:`workbench.registry` re-exports what users call.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.churn import registry as churn_registry
from workbench.churn.params import CHALLENGER, CHAMPION
from workbench.display import fmt_int
from workbench.settings import get_settings

__all__ = [
    "ALIASES",
    "IMPORTANCE_ARTIFACT",
    "PRIMARY_METRICS",
    "TAG",
    "RegistryError",
    "VersionInfo",
    "as_float",
    "cell_text",
    "json_tag",
    "listing_records",
    "mask_emails",
    "model_versions",
    "no_progress_bar",
    "project_prefix",
    "registered_models",
    "registry_client",
    "resolve_model_name",
    "run_artifact",
    "versions_table",
    "with_record",
]

log = logging.getLogger(__name__)

#: Aliases a promotion may set.
ALIASES = (CHAMPION, CHALLENGER)
#: Run artefact holding a churn version's global SHAP importance ({feature: mean |SHAP|}).
IMPORTANCE_ARTIFACT = "explanations/shap_importance.json"

TAG = "workbench"
# run metrics shown side by side (those a version's run has, in this order)
_RUN_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "top_decile_lift",
    "other_roc_auc",
    "baseline_roc_auc",
    "positive_rate",
    "train_rows",
    "silhouette",
    "k",
    "stability_ari",
    "hierarchical_ari",
    "persona_ari",
    "clustered",
)
# the headline metric of a version: the first one it has
PRIMARY_METRICS = ("holdout_roc_auc", "roc_auc", "silhouette")
_EMAIL = re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


class RegistryError(ValueError):
    """A model, version, alias or reason the registry cannot act on; the message lists
    what exists."""


@dataclass
class VersionInfo:
    """What the registry knows about one model version.

    Attributes
    ----------
    model, version : str
    aliases : list of str
    status : str
        MLflow's status (``READY`` once the files are in place).
    created : Timestamp
        Registration time (UTC).
    run_id : str
        The run that logged the version.
    as_of : str or None
        Cut-off date of the training data.
    metrics : dict
        ``holdout_roc_auc`` (version tag) and the run metrics of :data:`_RUN_METRICS`.
    input_digests : dict
        ``{table: sha256}`` of the training data (filled from the run's record by
        :func:`with_record` for the versions compared; old versions carry it as a tag).
    inputs : list of str
        Model input columns (when recorded).
    description : str
        The version's description (what, on which data, metrics, the gate's decision).
    model_type : str or None
        ``xgboost`` or ``baseline`` for a churn version.
    set_by, set_at, reason, last_alias : str or None
        The latest alias change of this version (who, when, why, which alias).
    registered_by : str or None
        Who ran the training (``mlflow.user`` of the run).
    gate : dict
        The champion gate's record (``workbench.gate.*``) when the version went through it.
    tags : dict
        Every version tag.
    """

    model: str
    version: str
    aliases: list[str]
    status: str
    created: pd.Timestamp
    run_id: str
    as_of: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    input_digests: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    description: str = ""
    model_type: str | None = None
    set_by: str | None = None
    set_at: str | None = None
    reason: str | None = None
    last_alias: str | None = None
    registered_by: str | None = None
    gate: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def primary_metric(self) -> tuple[str | None, float | None]:
        """(name, value) of the headline metric: holdout ROC-AUC, else silhouette."""
        for name in PRIMARY_METRICS:
            if name in self.metrics:
                return name, self.metrics[name]
        return None, None

    @property
    def data_digest(self) -> str | None:
        """A 12-character fingerprint of all training inputs (same data, same digest): the
        version tag ``workbench.data_digest``, else computed from the input digests."""
        return self.tags.get(f"{TAG}.data_digest") or churn_registry.data_digest(self.input_digests)

    @property
    def input_tables(self) -> int:
        """How many input tables the version was trained on (0: not recorded)."""
        try:
            return int(self.tags[f"{TAG}.input_tables"])
        except (KeyError, ValueError):
            return len(self.input_digests)

    def record(self) -> dict[str, Any]:
        """Plain values (JSON-ready) for ``workbench registry list --json``."""
        out = asdict(self)
        out["created"] = self.created.isoformat()
        out["metric"], out["metric_value"] = self.primary_metric
        out["data_digest"] = self.data_digest
        out.pop("tags")
        for key in ("set_by", "reason"):
            out[key] = mask_emails(out[key])
        out["registered_by"] = mask_emails(out["registered_by"])
        return out


# --------------------------------------------------------------------------- reading


def registry_client(tracking_uri: str | None = None, *, settings: Any = None) -> Any:
    """An ``MlflowClient`` on ``tracking_uri`` (tracking and registry), else on the
    settings' URI, else on the project's (``MLFLOW_TRACKING_URI`` or ``mlruns/``).

    Creates the folder of a SQLite store, nothing else (MLflow's global URI is left as is).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

    uri = tracking_uri or (settings or get_settings()).tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return mlflow.MlflowClient(uri, uri)


def mask_emails(text: str | None) -> str | None:
    """Mask e-mail addresses as ``j***@example.com`` (keeps the first character).

    Examples
    --------
    >>> mask_emails("asked by jane.doe@shop.co.uk")
    'asked by j***@example.com'
    """
    if text is None:
        return None
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@example.com", str(text))


def registered_models(client: Any, *, prefix: str = "") -> list[str]:
    """Names of every registered model, sorted; with ``prefix`` (a project's
    ``"<project>."``) only those that start with it."""
    names: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        names += [m.name for m in page if m.name.startswith(prefix)]
        token = page.token
        if not token:
            return sorted(names)


def project_prefix(project: str) -> str:
    """``"<project>."``: what a project's registered model names start with ("" for none).

    Examples
    --------
    >>> project_prefix("demo-3fa91c"), project_prefix("")
    ('demo-3fa91c.', '')
    """
    return f"{project}." if project else ""


def _check_model(client: Any, name: str) -> None:
    known = registered_models(client)
    if name not in known:
        listed = ", ".join(known) if known else "none (run the churn or segmentation stage first)"
        raise RegistryError(f"no registered model {name!r}; registered models: {listed}")


def _versions(client: Any, name: str) -> list[Any]:
    found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version))


def json_tag(tags: dict[str, str], key: str, default: Any) -> Any:
    try:
        value = json.loads(tags[key])
    except (KeyError, json.JSONDecodeError, TypeError):
        return default
    return value if isinstance(value, type(default)) else default


def cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    number = float(value)
    return fmt_int(number) if number.is_integer() and abs(number) >= 1 else f"{number:.4f}"


def resolve_model_name(name: str, prefix: str) -> str:
    """``name`` in the project of ``prefix``: unchanged when it already starts with it.

    Examples
    --------
    >>> resolve_model_name("churn-classifier", "demo-3fa91c.")
    'demo-3fa91c.churn-classifier'
    >>> resolve_model_name("demo-3fa91c.churn-classifier", "demo-3fa91c.")
    'demo-3fa91c.churn-classifier'
    """
    return name if name.startswith(prefix) else f"{prefix}{name}"


def as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _version_info(client: Any, mv: Any, aliases: dict[str, str]) -> VersionInfo:
    tags = dict(mv.tags or {})
    run = None
    if mv.run_id:
        try:
            run = client.get_run(mv.run_id)
        except Exception as exc:  # a deleted run leaves the version readable
            log.warning(
                "%s version %s: run %s unreadable (%s)", mv.name, mv.version, mv.run_id, exc
            )
    run_metrics = dict(run.data.metrics) if run is not None else {}
    run_tags = dict(run.data.tags) if run is not None else {}
    metrics: dict[str, float] = {}
    holdout = as_float(tags.get(f"{TAG}.holdout_roc_auc"))
    if holdout is not None:
        metrics["holdout_roc_auc"] = holdout
    metrics.update({m: float(run_metrics[m]) for m in _RUN_METRICS if m in run_metrics})
    digests = json_tag(tags, f"{TAG}.input_digests", {})
    if not digests and run is not None and run.inputs is not None:
        digests = {
            d.dataset.name: d.dataset.digest for d in (run.inputs.dataset_inputs or []) if d.dataset
        }
    changes = sorted(
        (value, key.removesuffix(".set_at").removeprefix(f"{TAG}."))
        for key, value in tags.items()
        if key.startswith(f"{TAG}.") and key.endswith(".set_at")
    )
    last_at, last_alias = changes[-1] if changes else (None, None)
    return VersionInfo(
        model=mv.name,
        version=str(mv.version),
        aliases=sorted(a for a, v in aliases.items() if v == str(mv.version)),
        status=str(mv.status),
        created=pd.Timestamp(int(mv.creation_timestamp or 0), unit="ms", tz="UTC"),
        run_id=mv.run_id or "",
        as_of=tags.get(f"{TAG}.as_of") or run_tags.get(f"{TAG}.as_of"),
        metrics=metrics,
        input_digests={str(k): str(v) for k, v in digests.items()},
        inputs=json_tag(tags, f"{TAG}.inputs", []),
        description=str(getattr(mv, "description", "") or ""),
        model_type=tags.get(f"{TAG}.model_type"),
        set_by=tags.get(f"{TAG}.{last_alias}.set_by") if last_alias else None,
        set_at=last_at,
        reason=tags.get(f"{TAG}.{last_alias}.reason") if last_alias else None,
        last_alias=last_alias,
        registered_by=tags.get(f"{TAG}.created_by") or run_tags.get("mlflow.user"),
        gate={
            k.removeprefix(f"{TAG}.gate."): v
            for k, v in tags.items()
            if k.startswith(f"{TAG}.gate.")
        },
        tags=tags,
    )


def run_artifact(client: Any, run_id: str, path: str) -> Any:
    """A JSON artefact of a run, or None when it is not there."""
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as folder, no_progress_bar():
        try:
            local = client.download_artifacts(run_id, path, folder)
            return json.loads(Path(local).read_text())
        except Exception:  # no such artefact (older versions, other models)
            return None


def with_record(client: Any, info: VersionInfo) -> VersionInfo:
    """``info`` with the input digests and model inputs of its run's record
    (:data:`~workbench.churn.registry.RECORD_ARTIFACT`) when its tags do not hold them."""
    if info.input_digests and info.inputs:
        return info
    record = run_artifact(client, info.run_id, churn_registry.RECORD_ARTIFACT)
    if not isinstance(record, dict):
        return info
    digests = record.get("input_digests") or {}
    inputs = record.get("inputs") or []
    return replace(
        info,
        input_digests=info.input_digests or {str(k): str(v) for k, v in digests.items()},
        inputs=info.inputs or [str(c) for c in inputs],
    )


def model_versions(client: Any, name: str) -> list[VersionInfo]:
    """Every version of a registered model, oldest first.

    Raises
    ------
    RegistryError
        No model of that name (the message lists the registered ones).
    """
    _check_model(client, name)
    aliases = {a: str(v) for a, v in (client.get_registered_model(name).aliases or {}).items()}
    return [_version_info(client, mv, aliases) for mv in _versions(client, name)]


def _all_versions(client: Any, model: str | None, prefix: str = "") -> list[VersionInfo]:
    names = [model] if model else registered_models(client, prefix=prefix)
    return [info for name in names for info in model_versions(client, name)]


def versions_table(client: Any, model: str | None = None, *, prefix: str = "") -> pd.DataFrame:
    """One row per version of every registered model (or of ``model``; with ``prefix``, of
    the models whose name starts with it: one project's), newest first.

    Columns: model, version, aliases, as_of, metric, value, created, data (fingerprint of
    the training inputs), tables (how many), set_by, reason, registered_by, run_id.
    E-mail addresses in who/why are masked.
    """
    columns = [
        "model",
        "version",
        "aliases",
        "as_of",
        "metric",
        "value",
        "created",
        "data",
        "tables",
        "set_by",
        "reason",
        "registered_by",
        "run_id",
    ]
    rows = []
    for info in _all_versions(client, model, prefix):
        metric, value = info.primary_metric
        rows.append(
            {
                "model": info.model,
                "version": info.version,
                "aliases": ", ".join(info.aliases),
                "as_of": info.as_of,
                "metric": metric,
                "value": value,
                "created": info.created.floor("s"),
                "data": info.data_digest,
                "tables": info.input_tables,
                "set_by": mask_emails(info.set_by),
                "reason": mask_emails(_reason(info)),
                "registered_by": mask_emails(info.registered_by),
                "run_id": info.run_id,
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame["_v"] = frame["version"].astype(int)
    return (
        frame.sort_values(["model", "_v"], ascending=[True, False])
        .drop(columns="_v")
        .reset_index(drop=True)
    )


def _reason(info: VersionInfo) -> str | None:
    """The reason of the last alias change, marked when the version lost that alias."""
    if not info.reason or info.last_alias in info.aliases:
        return info.reason
    replaced = info.tags.get(f"{TAG}.{info.last_alias}.replaced_by")
    lost = f"was {info.last_alias}" + (f" until v{replaced}" if replaced else "")
    return f"({lost}) {info.reason}"


def listing_records(
    client: Any, model: str | None = None, *, prefix: str = ""
) -> list[dict[str, Any]]:
    """Every version as plain values (``workbench registry list --json``), with the input
    digests of its run's record."""
    return [with_record(client, info).record() for info in _all_versions(client, model, prefix)]


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """MLflow draws a progress bar per artefact download (a widget in notebooks)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
