"""Review the MLflow model registry: versions, aliases, metrics, explanations, data; promote.

Every registered model (``churn-classifier``, ``customer-segmenter`` and any other) is
listed with its versions, their aliases (``champion``, ``challenger``), the date their
training data was cut at (``as_of``), their headline metric and the data they were
trained on. Where the facts come from:

========================  ==================================================================
what                      where
========================  ==================================================================
aliases, created          the model version
description               the model version's description (data, as_of, metrics, decision)
``as_of``                 version tag ``workbench.as_of``, else the run tag of the same name
metrics                   version tag ``workbench.holdout_roc_auc`` and the metrics of the
                          run that logged the version (``roc_auc``, ``silhouette`` …)
training data             version tag ``workbench.data_digest`` (one fingerprint) and, for the
                          versions compared, the run artefact ``registry/version.json``
                          (``{table: sha256}``); older versions: the JSON version tag
                          ``workbench.input_digests``; else the datasets logged to the run
SHAP importance           run artefact ``explanations/shap_importance.json``, else the
                          version tag ``workbench.shap_importance`` (top 15)
who / why                 version tags ``workbench.<alias>.set_by`` / ``.set_at`` / ``.reason``
                          and ``workbench.created_by``
the gate                  version tags ``workbench.gate.*`` (both AUCs on the same holdout)
========================  ==================================================================

**One registry per project.** Registered models are named ``<project>.<model>``
(``tracking.model_name``); the review lists the models of the current project only
(``prefix``), so two data sources never share versions, aliases or gates.

Promotion (:func:`promote_version`) is the one entry point of ``workbench registry
promote`` and of the registry-review notebook: it checks the model and version exist and
that a reason is given, then calls the churn package's
:func:`~workbench.churn.registry.promote` (alias ``champion``: the previous champion is
tagged ``replaced_by``, the challenger alias leaves the promoted version) or
:func:`~workbench.churn.registry.set_alias` (alias ``challenger``), which record who, when
and why as version tags. E-mail addresses in who/why are masked before they are written.

Examples
--------
>>> from workbench import registry
>>> client = registry.registry_client("sqlite:///mlruns/mlflow.db")        # doctest: +SKIP
>>> registry.versions_table(client)                                        # doctest: +SKIP
>>> registry.promote_version(client, "churn-classifier", "3",
...                          reason="wins on the June holdout")            # doctest: +SKIP
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
from workbench.churn.params import CHALLENGER, CHAMPION, REGISTERED_MODEL
from workbench.display import Headline, HeadlineItem, fmt_int, md_text
from workbench.registry_figures import history_figure, importance_figure, metrics_figure
from workbench.segmentation import MODEL_NAME as SEGMENT_MODEL
from workbench.settings import get_settings

__all__ = [
    "ALIASES",
    "IMPORTANCE_ARTIFACT",
    "RegistryError",
    "RegistryReviewParams",
    "VersionInfo",
    "PromotionRecord",
    "registry_client",
    "registered_models",
    "model_versions",
    "versions_table",
    "listing_records",
    "review_versions",
    "compare_versions",
    "importance_comparison",
    "training_data",
    "gate_table",
    "ModelReview",
    "review_model",
    "promote_version",
    "mask_emails",
    "metrics_figure",
    "importance_figure",
    "history_figure",
    "registry_summary",
    "headline",
    "project_prefix",
    "resolve_model_name",
    "with_record",
]

log = logging.getLogger(__name__)

#: Aliases a promotion may set.
ALIASES = (CHAMPION, CHALLENGER)
#: Run artefact holding a churn version's global SHAP importance ({feature: mean |SHAP|}).
IMPORTANCE_ARTIFACT = "explanations/shap_importance.json"

_TAG = "workbench"
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
_PRIMARY = ("holdout_roc_auc", "roc_auc", "silhouette")
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
        for name in _PRIMARY:
            if name in self.metrics:
                return name, self.metrics[name]
        return None, None

    @property
    def data_digest(self) -> str | None:
        """A 12-character fingerprint of all training inputs (same data, same digest): the
        version tag ``workbench.data_digest``, else computed from the input digests."""
        return self.tags.get(f"{_TAG}.data_digest") or churn_registry.data_digest(
            self.input_digests
        )

    @property
    def input_tables(self) -> int:
        """How many input tables the version was trained on (0: not recorded)."""
        try:
            return int(self.tags[f"{_TAG}.input_tables"])
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


@dataclass
class PromotionRecord:
    """What a promotion did."""

    model: str
    version: str
    alias: str
    previous: str | None
    who: str
    why: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """The promotion in words."""
        if not self.changed:
            return (
                f"{self.model} version {self.version} already holds {self.alias}: nothing changed."
            )
        before = f" (was version {self.previous})" if self.previous else ""
        return (
            f"{self.model}: {self.alias} -> version {self.version}{before}, "
            f"by {self.who}: {self.why}"
        )


@dataclass(frozen=True)
class RegistryReviewParams:
    """What the registry review shows and the promotion it may make (notebook 06).

    Attributes
    ----------
    churn_model : str, default "churn-classifier"
        Registered churn model to review.
    segment_model : str, default "customer-segmenter"
        Registered segmentation model to review.
    top_features : int, default 15
        Inputs per version in the SHAP importance comparison.
    promote_model : str, default ""
        Registered model to promote; "" means no promotion (a scheduled run never promotes).
    promote_version : str, default ""
        Version to promote, e.g. "3" (a number is taken as its text).
    promote_alias : {"champion", "challenger"}, default "champion"
        Alias to give it.
    promote_reason : str, default ""
        Why; required with ``promote_model`` (recorded as a tag).
    promote_user : str, default ""
        Who promotes; "" means ``WORKBENCH_USER`` or the login name.

    Examples
    --------
    >>> RegistryReviewParams(promote_model="churn-classifier", promote_version=3,
    ...                      promote_reason="wins on the June holdout").promote_version
    '3'
    >>> RegistryReviewParams(promote_model="churn-classifier", promote_version="3")
    Traceback (most recent call last):
    ...
    ValueError: RegistryReviewParams: promote_reason must say why (it is recorded), got ''
    """

    churn_model: str = REGISTERED_MODEL
    segment_model: str = SEGMENT_MODEL
    top_features: int = 15
    promote_model: str = ""
    promote_version: str = ""
    promote_alias: str = CHAMPION
    promote_reason: str = ""
    promote_user: str = ""

    def __post_init__(self) -> None:
        version = self.promote_version
        if isinstance(version, int) and not isinstance(version, bool):
            object.__setattr__(self, "promote_version", str(version))
        for name in (
            "churn_model",
            "segment_model",
            "promote_model",
            "promote_version",
            "promote_alias",
            "promote_reason",
            "promote_user",
        ):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"RegistryReviewParams: {name} must be a string, got {value!r}")
            object.__setattr__(self, name, value.strip())
        for name in ("churn_model", "segment_model"):
            if not getattr(self, name):
                raise ValueError(
                    f"RegistryReviewParams: {name} must name a registered model, got ''"
                )
        top = self.top_features
        if not isinstance(top, int) or isinstance(top, bool) or top <= 0:
            raise ValueError(
                f"RegistryReviewParams: top_features must be a positive int, got {top!r}"
            )
        if self.promote_alias not in ALIASES:
            raise ValueError(
                f"RegistryReviewParams: promote_alias must be one of {', '.join(ALIASES)}, "
                f"got {self.promote_alias!r}"
            )
        if not self.promote_model:
            if self.promote_version:
                raise ValueError(
                    "RegistryReviewParams: promote_model must name the model whose version "
                    f"{self.promote_version!r} to promote, got ''"
                )
            return
        if not self.promote_version:
            raise ValueError(
                "RegistryReviewParams: promote_version must be the version of "
                f"{self.promote_model!r} to promote, e.g. '3'; got ''"
            )
        if not self.promote_reason:
            raise ValueError(
                "RegistryReviewParams: promote_reason must say why (it is recorded), got ''"
            )

    @property
    def promoter(self) -> str | None:
        """Who promotes (None: ``WORKBENCH_USER`` or the login name)."""
        return self.promote_user or None

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)


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


def _json_tag(tags: dict[str, str], key: str, default: Any) -> Any:
    try:
        value = json.loads(tags[key])
    except (KeyError, json.JSONDecodeError, TypeError):
        return default
    return value if isinstance(value, type(default)) else default


def _cell_text(value: Any) -> str:
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


def _float(value: Any) -> float | None:
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
    holdout = _float(tags.get(f"{_TAG}.holdout_roc_auc"))
    if holdout is not None:
        metrics["holdout_roc_auc"] = holdout
    metrics.update({m: float(run_metrics[m]) for m in _RUN_METRICS if m in run_metrics})
    digests = _json_tag(tags, f"{_TAG}.input_digests", {})
    if not digests and run is not None and run.inputs is not None:
        digests = {
            d.dataset.name: d.dataset.digest for d in (run.inputs.dataset_inputs or []) if d.dataset
        }
    changes = sorted(
        (value, key.removesuffix(".set_at").removeprefix(f"{_TAG}."))
        for key, value in tags.items()
        if key.startswith(f"{_TAG}.") and key.endswith(".set_at")
    )
    last_at, last_alias = changes[-1] if changes else (None, None)
    return VersionInfo(
        model=mv.name,
        version=str(mv.version),
        aliases=sorted(a for a, v in aliases.items() if v == str(mv.version)),
        status=str(mv.status),
        created=pd.Timestamp(int(mv.creation_timestamp or 0), unit="ms", tz="UTC"),
        run_id=mv.run_id or "",
        as_of=tags.get(f"{_TAG}.as_of") or run_tags.get(f"{_TAG}.as_of"),
        metrics=metrics,
        input_digests={str(k): str(v) for k, v in digests.items()},
        inputs=_json_tag(tags, f"{_TAG}.inputs", []),
        description=str(getattr(mv, "description", "") or ""),
        model_type=tags.get(f"{_TAG}.model_type"),
        set_by=tags.get(f"{_TAG}.{last_alias}.set_by") if last_alias else None,
        set_at=last_at,
        reason=tags.get(f"{_TAG}.{last_alias}.reason") if last_alias else None,
        last_alias=last_alias,
        registered_by=tags.get(f"{_TAG}.created_by") or run_tags.get("mlflow.user"),
        gate={
            k.removeprefix(f"{_TAG}.gate."): v
            for k, v in tags.items()
            if k.startswith(f"{_TAG}.gate.")
        },
        tags=tags,
    )


def _run_artifact(client: Any, run_id: str, path: str) -> Any:
    """A JSON artefact of a run, or None when it is not there."""
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as folder, _no_progress_bar():
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
    record = _run_artifact(client, info.run_id, churn_registry.RECORD_ARTIFACT)
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
    replaced = info.tags.get(f"{_TAG}.{info.last_alias}.replaced_by")
    lost = f"was {info.last_alias}" + (f" until v{replaced}" if replaced else "")
    return f"({lost}) {info.reason}"


def listing_records(
    client: Any, model: str | None = None, *, prefix: str = ""
) -> list[dict[str, Any]]:
    """Every version as plain values (``workbench registry list --json``), with the input
    digests of its run's record."""
    return [with_record(client, info).record() for info in _all_versions(client, model, prefix)]


# --------------------------------------------------------------------------- side by side


def review_versions(
    client: Any, name: str, versions: list[str] | None = None
) -> list[tuple[str, VersionInfo]]:
    """The versions to compare, each with its role.

    Default: the champion and the challenger; without a challenger, the champion and the
    champion it replaced; without any alias, the latest two versions. ``versions``
    chooses explicitly (role = the version's aliases, or ``version N``).
    """
    chosen = _choose(name, model_versions(client, name), versions)
    return [(role, with_record(client, info)) for role, info in chosen]


def _choose(
    name: str, all_versions: list[VersionInfo], versions: list[str] | None
) -> list[tuple[str, VersionInfo]]:
    infos = {v.version: v for v in all_versions}
    if versions:
        missing = [str(v) for v in versions if str(v) not in infos]
        if missing:
            raise RegistryError(
                f"{name} has no version {', '.join(missing)}; versions: {', '.join(infos)}"
            )
        return [
            (", ".join(infos[str(v)].aliases) or f"version {v}", infos[str(v)]) for v in versions
        ]
    by_alias = {a: info for info in infos.values() for a in info.aliases}
    chosen: list[tuple[str, VersionInfo]] = []
    if CHAMPION in by_alias:
        champion = by_alias[CHAMPION]
        chosen.append((CHAMPION, champion))
        if CHALLENGER in by_alias:
            chosen.append((CHALLENGER, by_alias[CHALLENGER]))
        else:
            replaced = [
                v
                for v in infos.values()
                if v.tags.get(f"{_TAG}.{CHAMPION}.replaced_by") == champion.version
            ]
            if replaced:
                chosen.append(("previous champion", replaced[-1]))
        return chosen
    if CHALLENGER in by_alias:
        return [(CHALLENGER, by_alias[CHALLENGER])]
    latest = list(infos.values())[-2:][::-1]
    return [(role, info) for role, info in zip(("latest", "previous"), latest, strict=False)]


def _label(role: str, info: VersionInfo) -> str:
    return f"{role} (v{info.version})" if not role.startswith("version") else role


def compare_versions(client: Any, name: str, versions: list[str] | None = None) -> pd.DataFrame:
    """Metrics of the reviewed versions side by side (rows = metrics, columns = versions
    labelled ``champion (v3)`` …), with ``as_of`` and the training-data fingerprint.

    Each version's metrics were measured on its own run's holdout; :func:`gate_table`
    holds the comparison on the *same* holdout made when the newer one was registered.
    """
    return _comparison(name, review_versions(client, name, versions))


def _comparison(name: str, chosen: list[tuple[str, VersionInfo]]) -> pd.DataFrame:
    data: dict[str, dict[str, Any]] = {}
    for role, info in chosen:
        data[_label(role, info)] = {
            "as_of": info.as_of,
            "data": info.data_digest,
            **{k: round(v, 6) for k, v in info.metrics.items()},
        }
    frame = pd.DataFrame(data)
    frame.index.name = "metric"
    frame.attrs["model"] = name
    return frame


@contextmanager
def _no_progress_bar() -> Iterator[None]:
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


def _importance(client: Any, info: VersionInfo) -> pd.Series:
    values = _run_artifact(client, info.run_id, IMPORTANCE_ARTIFACT)
    if not isinstance(values, dict) or not values:
        values = _json_tag(info.tags, f"{_TAG}.shap_importance", {})
    return pd.Series({str(k): float(v) for k, v in values.items()}, dtype="float64")


def importance_comparison(
    client: Any, name: str, versions: list[str] | None = None, *, top: int = 15
) -> pd.DataFrame:
    """Global SHAP importance (mean |SHAP|, log-odds) of the reviewed versions side by side.

    Columns: feature, one column per version (NaN where a version lacks the input) and
    ``rank_<label>`` per version; the union of each version's ``top`` inputs, ordered by
    the first version. Empty when no version recorded SHAP importance (e.g. the segmenter).
    """
    return _importance_table(client, review_versions(client, name, versions), top)


def _importance_table(client: Any, chosen: list[tuple[str, VersionInfo]], top: int) -> pd.DataFrame:
    series = {_label(role, info): _importance(client, info) for role, info in chosen}
    series = {k: v for k, v in series.items() if not v.empty}
    if not series:
        return pd.DataFrame(columns=["feature"])
    keep: list[str] = []
    for values in series.values():
        keep += [f for f in values.sort_values(ascending=False).index[:top] if f not in keep]
    frame = pd.DataFrame({label: values.reindex(keep) for label, values in series.items()})
    for label, values in series.items():
        ranks = values.rank(ascending=False, method="min")
        frame[f"rank_{label}"] = ranks.reindex(keep).astype("Int64")
    first = next(iter(series))
    frame = frame.sort_values(first, ascending=False, na_position="last")
    frame.index.name = "feature"
    return frame.reset_index()


def training_data(client: Any, name: str, versions: list[str] | None = None) -> pd.DataFrame:
    """The data each reviewed version was trained on: ``as_of`` and one row per input
    table with the first 12 characters of its SHA-256 digest, plus ``same`` (True when
    every version read the same file)."""
    return _data_table(review_versions(client, name, versions))


def _data_table(chosen: list[tuple[str, VersionInfo]]) -> pd.DataFrame:
    tables = sorted({t for _, info in chosen for t in info.input_digests})
    rows = [
        {"input": "as_of", **{_label(r, i): i.as_of for r, i in chosen}},
        *[
            {
                "input": table,
                **{_label(r, i): _short_digest(i.input_digests.get(table)) for r, i in chosen},
            }
            for table in tables
        ],
    ]
    frame = pd.DataFrame(rows)
    labels = [_label(r, i) for r, i in chosen]
    frame["same"] = frame[labels].nunique(axis=1, dropna=False).eq(1) if labels else True
    return frame


def _short_digest(digest: str | None) -> str | None:
    """The first 12 hex characters of a digest (``sha256:`` prefix dropped)."""
    if not digest:
        return None
    return str(digest).split(":", 1)[-1][:12]


def gate_table(client: Any, name: str) -> pd.DataFrame:
    """The champion gate's record of every version that went through it: version,
    promoted, candidate_auc, champion_version, champion_auc (on the same holdout),
    min_auc_gain, reason, who."""
    return _gate_rows(model_versions(client, name))


def _gate_rows(infos: list[VersionInfo]) -> pd.DataFrame:
    columns = [
        "version",
        "promoted",
        "candidate_auc",
        "champion_version",
        "champion_auc",
        "min_auc_gain",
        "reason",
        "who",
    ]
    rows = []
    for info in infos:
        if not info.gate:
            continue
        gate = info.gate
        rows.append(
            {
                "version": info.version,
                "promoted": gate.get("promoted") == "True",
                "candidate_auc": _float(gate.get("candidate_auc")),
                "champion_version": gate.get("champion_version"),
                "champion_auc": _float(gate.get("champion_auc")),
                "min_auc_gain": _float(gate.get("min_auc_gain")),
                "reason": mask_emails(gate.get("reason")),
                "who": mask_emails(gate.get("who")),
            }
        )
    return pd.DataFrame(rows, columns=columns)


@dataclass
class ModelReview:
    """The review of one registered model: the versions compared and every table.

    Attributes
    ----------
    name : str
    roles : list of (role, version)
        E.g. ``[("champion", "3"), ("challenger", "4")]`` (see :func:`review_versions`).
    comparison, importance, data, gate : DataFrame
        :func:`compare_versions`, :func:`importance_comparison`, :func:`training_data`,
        :func:`gate_table` (empty when not available).
    note : str
        Why the model cannot be reviewed ("" when it can).
    """

    name: str
    roles: list[tuple[str, str]]
    comparison: pd.DataFrame
    importance: pd.DataFrame
    data: pd.DataFrame
    gate: pd.DataFrame
    note: str = ""

    @property
    def available(self) -> bool:
        """True when the model is registered and has a version."""
        return bool(self.roles)

    @property
    def same_data(self) -> bool | None:
        """Whether the compared versions read the same input files (None: unknown)."""
        rows = self.data[self.data["input"] != "as_of"] if not self.data.empty else self.data
        if rows.empty:
            return None
        return bool(rows["same"].all())

    def markdown(self) -> str:
        """The comparison in a few sentences (Markdown; names and dates escaped)."""
        if not self.available:
            return md_text(self.note)
        parts = []
        for label in self.comparison.columns:
            column = self.comparison[label]
            metric = next((m for m in _PRIMARY if m in column.index and pd.notna(column[m])), None)
            value = f"{metric} {float(column[metric]):.4f}" if metric else "no metric"
            parts.append(
                f"**{md_text(label)}**: {md_text(value)}, trained as of "
                f"{md_text(column.get('as_of') or '–')}"
            )
        same = {
            True: "They were trained on the same input files.",
            False: "They were trained on different input files (see the digests below).",
            None: "Their training inputs were not recorded.",
        }[self.same_data if len(self.roles) > 1 else None]
        text = f"**{md_text(self.name)}** — " + "; ".join(parts) + "."
        return text + (f" {same}" if len(self.roles) > 1 else "")

    def comparison_table(self) -> pd.DataFrame:
        """:attr:`comparison` as text for a report: one row per metric, metrics with 4
        decimals (counts as whole numbers), missing values as "–"."""
        frame = self.comparison.astype("object")
        out = frame.apply(lambda column: column.map(_cell_text))
        return out.rename_axis("metric").reset_index()


def review_model(
    client: Any, name: str, versions: list[str] | None = None, *, top: int = 15
) -> ModelReview:
    """Everything the registry review shows about ``name``; an unregistered model gives an
    empty review whose ``note`` says so (and lists the registered models)."""
    empty = pd.DataFrame()
    try:
        infos = model_versions(client, name)
        chosen = [
            (role, with_record(client, info)) for role, info in _choose(name, infos, versions)
        ]
    except RegistryError as exc:
        return ModelReview(name, [], empty, empty, empty, empty, note=str(exc))
    if not chosen:
        return ModelReview(name, [], empty, empty, empty, empty, note=f"{name} has no versions")
    return ModelReview(
        name=name,
        roles=[(role, info.version) for role, info in chosen],
        comparison=_comparison(name, chosen),
        importance=_importance_table(client, chosen, top),
        data=_data_table(chosen),
        gate=_gate_rows(infos),
    )


# --------------------------------------------------------------------------- promotion


def promote_version(
    client: Any,
    name: str,
    version: str | int,
    *,
    reason: str,
    alias: str = CHAMPION,
    user: str | None = None,
) -> PromotionRecord:
    """Point ``alias`` (``champion`` or ``challenger``) at ``version``, recording who and why.

    Uses the churn package's :func:`~workbench.churn.registry.promote` for ``champion``
    and :func:`~workbench.churn.registry.set_alias` for ``challenger`` — the same code the
    churn stage's gate runs — for any registered model.

    Parameters
    ----------
    client : MlflowClient
    name, version : str
        The registered model and the version to promote.
    reason : str
        Why (required; written as ``workbench.<alias>.reason``).
    alias : {"champion", "challenger"}
    user : str, optional
        Who (default :func:`workbench.churn.registry.current_user`). E-mail addresses in
        ``user`` and ``reason`` are masked.

    Raises
    ------
    RegistryError
        Unknown model or version (the message lists what exists), an alias other than
        champion/challenger, an empty reason, or making the champion also challenger.
    """
    version = str(version).strip()
    if alias not in ALIASES:
        raise RegistryError(f"alias must be one of {', '.join(ALIASES)}; got {alias!r}")
    why = mask_emails((reason or "").strip()) or ""
    if not why:
        raise RegistryError("a reason is required: say why this version should be " + alias)
    infos = {v.version: v for v in model_versions(client, name)}
    if version not in infos:
        listed = ", ".join(
            f"{v}" + (f" ({', '.join(i.aliases)})" if i.aliases else "") for v, i in infos.items()
        )
        raise RegistryError(f"{name} has no version {version!r}; versions: {listed or 'none'}")
    who = mask_emails(user or churn_registry.current_user()) or "unknown"
    holder = churn_registry.alias_version(client, name, alias)
    previous = None if holder is None else str(holder.version)
    if previous == version:
        record = PromotionRecord(name, version, alias, previous, who, why, changed=False)
        log.info("%s", record.sentence())
        return record
    if alias == CHAMPION:
        moved = churn_registry.promote(client, name, version, who=who, why=why)
        previous = moved["previous_champion"]
    else:
        if CHAMPION in infos[version].aliases:
            raise RegistryError(
                f"{name} version {version} is the champion; promote another version to "
                "champion first if it should become the challenger"
            )
        churn_registry.set_alias(client, name, alias, version, who=who, why=why)
    record = PromotionRecord(name, version, alias, previous, who, why, changed=True)
    log.info("%s", record.sentence())
    return record


# --------------------------------------------------------------------------- summary


def registry_summary(
    versions: pd.DataFrame, promotion: PromotionRecord | None = None, *, prefix: str = ""
) -> dict[str, Any]:
    """``registry_review.json``: per model the number of versions, the champion and the
    challenger (version, metric, value, as_of), the latest version, the promotion made (if
    any), and the headline (:func:`headline`).

    Models are keyed by their name without the project ``prefix`` (``churn-classifier``);
    ``registered_as`` keeps the full registry name.
    """
    models: dict[str, Any] = {}
    for model, part in versions.groupby("model", sort=True):
        entry: dict[str, Any] = {"registered_as": str(model), "versions": int(len(part))}
        for alias in ALIASES:
            holder = part[part["aliases"].str.split(", ").map(lambda a, x=alias: x in a)]
            entry[alias] = None if holder.empty else _alias_entry(holder.iloc[0])
        newest = part.assign(_v=part["version"].astype(int)).sort_values("_v").iloc[-1]
        entry["latest"] = str(newest["version"])
        models[str(model).removeprefix(prefix)] = entry
    summary: dict[str, Any] = {
        "project": prefix.removesuffix("."),
        "registered_models": len(models),
        "versions": int(len(versions)),
        "models": models,
        "promoted": bool(promotion is not None and promotion.changed),
        "promotion": None if promotion is None else promotion.as_dict(),
    }
    summary["headline"] = headline(summary).as_dict()
    return summary


def _alias_entry(row: pd.Series) -> dict[str, Any]:
    return {
        "version": str(row["version"]),
        "metric": row["metric"],
        "value": None if pd.isna(row["value"]) else float(row["value"]),
        "as_of": row["as_of"],
    }


def _holder_text(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "none"
    value = entry.get("value")
    metric = {"holdout_roc_auc": "ROC-AUC", "roc_auc": "ROC-AUC"}.get(entry.get("metric") or "")
    metric = metric or str(entry.get("metric") or "")
    shown = f" · {metric} {value:.3f}" if value is not None and metric else ""
    return f"v{entry['version']}{shown}"


def headline(summary: dict[str, Any]) -> Headline:
    """The registry headline: champion and challenger of each model (the latest version of
    a model without aliases), at most six items.

    Examples
    --------
    >>> s = {"models": {"churn-classifier": {"champion": {"version": "3", "metric":
    ...      "holdout_roc_auc", "value": 0.8891}, "challenger": {"version": "4", "metric":
    ...      "holdout_roc_auc", "value": 0.8890}, "latest": "4", "versions": 4}},
    ...      "versions": 4, "promoted": False}
    >>> headline(s).text()
    'churn-classifier champion v3 · ROC-AUC 0.889 · churn-classifier challenger v4 · ROC-AUC 0.889'
    """
    items: list[HeadlineItem] = []
    parts: list[str] = []
    for name, entry in summary.get("models", {}).items():
        if entry.get(CHAMPION) or entry.get(CHALLENGER):
            champion, challenger = (
                _holder_text(entry.get(CHAMPION)),
                _holder_text(entry.get(CHALLENGER)),
            )
            items += [
                HeadlineItem(f"{name} champion", champion, "text"),
                HeadlineItem(f"{name} challenger", challenger, "text"),
            ]
            parts.append(f"{name}: champion {champion}, challenger {challenger}")
        else:
            items.append(HeadlineItem(f"{name} latest", f"v{entry.get('latest')}", "text"))
            parts.append(f"{name}: {entry.get('versions')} version(s), no alias")
    if not parts:
        return Headline("No model is registered in this project yet.", (), "warning")
    promoted = summary.get("promotion") if summary.get("promoted") else None
    tail = (
        f" Promoted {promoted['model']} v{promoted['version']} to {promoted['alias']}."
        if promoted
        else ""
    )
    return Headline("; ".join(parts) + "." + tail, tuple(items[:6]), "ok")
