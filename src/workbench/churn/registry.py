"""The churn model in the MLflow registry: log, register, gate, promote, load by alias.

Aliases
    ``challenger`` marks the newest version that is not champion; ``champion`` marks the
    version that scores customers. Every alias change records who, when and why as tags
    of the model version (``workbench.<alias>.set_by``, ``.set_at``, ``.reason``).

The gate (:func:`promote_if_better`)
    The new version becomes champion when there is no champion, or when its ROC-AUC on
    the holdout **beats** the champion's ROC-AUC *on the same holdout* by at least
    ``min_auc_gain`` (default 0.002, :class:`~workbench.churn.params.ChurnParams`): a tie
    or a smaller gain keeps the champion, and the new version keeps the ``challenger``
    alias. So an identical rerun — the same data, the same seed, the same model — never
    moves ``champion``. Both versions are loaded back from the registry and scored on
    that holdout (:func:`score_version`); MLflow's evaluator (:func:`evaluate_version`)
    gives the same ROC-AUC but spends most of its time drawing five matplotlib plots per
    version that the notebook already shows, so it runs only when asked. The decision,
    both scores and the reason are returned as a :class:`PromotionDecision` and written as
    small version tags (``workbench.gate.*``).

What a version carries
    A description (:func:`version_description`: what was trained on which data as of
    which date, by whom, its metrics and the gate's decision), the registered model a
    description of what it predicts (:func:`model_description`), and a few short tags
    (``workbench.as_of``, ``.model_type``, ``.holdout_roc_auc``, ``.data_digest``,
    ``.input_tables``, ``.created_by``). Larger records — the digest of every input table,
    the model inputs, the SHAP importance — are artefacts of the run that logged the
    version (:data:`RECORD_ARTIFACT`, ``explanations/shap_importance.json``), not tags.

:func:`promote` is the manual promotion (``workbench registry promote``) with the same
who/why record; :func:`promote_if_better` and the notebook use it too.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from workbench.churn.evaluate import classification_metrics
from workbench.churn.params import CHALLENGER, CHAMPION, REGISTERED_MODEL

__all__ = [
    "TRUSTED_TYPES",
    "RECORD_ARTIFACT",
    "PromotionDecision",
    "data_digest",
    "model_description",
    "version_description",
    "describe_version",
    "model_signature",
    "model_input",
    "log_churn_model",
    "set_alias",
    "alias_version",
    "promote",
    "gate_decision",
    "evaluate_version",
    "score_version",
    "promote_if_better",
    "load_model",
    "model_uri",
    "current_user",
    "mlflow_module",
]

log = logging.getLogger(__name__)

#: Non-scikit-learn types inside the logged pipelines that skops may load (``numpy.dtype``:
#: the baseline's imputer records the dtype it was fitted on).
TRUSTED_TYPES = [
    "numpy.dtype",
    "workbench.churn.model.FramePrep",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
]
_TAG = "workbench"
#: Run artefact with the record of a logged version: input digests, model inputs, type.
RECORD_ARTIFACT = "registry/version.json"
_REASON_CHARS = 300


def mlflow_module() -> Any:
    """The ``mlflow`` module, imported on first use (it takes seconds) with synchronous
    logging and without its import warnings."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn

    return mlflow


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow prints registration notes to stderr and logs evaluator chatter at INFO; a
    notebook draws stderr as an error. Route them to this module's log instead."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    buffer = io.StringIO()
    try:
        with redirect_stderr(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        for line in buffer.getvalue().splitlines():
            if line.strip():
                log.info("mlflow: %s", line.strip())


def current_user() -> str:
    """Who is acting: ``WORKBENCH_USER``, else the login name."""
    try:
        return os.environ.get("WORKBENCH_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def model_uri(name: str, *, alias: str | None = None, version: str | int | None = None) -> str:
    """``models:/name@alias`` or ``models:/name/version``.

    Examples
    --------
    >>> model_uri("churn-classifier", alias="champion")
    'models:/churn-classifier@champion'
    """
    if (alias is None) == (version is None):
        raise ValueError("model_uri: give exactly one of alias or version")
    return f"models:/{name}@{alias}" if alias is not None else f"models:/{name}/{version}"


# --------------------------------------------------------------------------- logging


def model_input(pipeline: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs as its signature declares them (numbers as double, categories as
    string): what the *pyfunc* flavour expects. The sklearn flavour
    (:func:`load_model`) takes the raw feature frame directly."""
    return pipeline.named_steps["frame"].transform(frame)


def model_signature(pipeline: Pipeline) -> Any:
    """Signature of the churn pipeline: every input optional (double or string); the
    output is ``predict_proba`` (retained, churned) per row."""
    mlflow_module()
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    prep = pipeline.named_steps["frame"]
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec("double", c, required=False) for c in prep.numeric_
    ]
    inputs += [ColSpec("string", c, required=False) for c in prep.categorical_]
    outputs = Schema([TensorSpec(np.dtype("float32"), (-1, 2), "probabilities")])
    return ModelSignature(inputs=Schema(inputs), outputs=outputs)


def _requirements() -> list[str]:
    """Pinned requirements of the logged model (given explicitly: MLflow's inference
    imports the model in a subprocess and takes ~10 s)."""
    pins = []
    for names in (
        ("scikit-learn",),
        ("xgboost-cpu", "xgboost"),
        ("pandas",),
        ("numpy",),
        ("scipy",),
        ("skops",),
    ):
        for dist in names:
            try:
                pins.append(f"{dist}=={metadata.version(dist)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return pins


def log_churn_model(
    pipeline: Pipeline,
    example: pd.DataFrame,
    *,
    registered_model: str | None = REGISTERED_MODEL,
    artifact_name: str = "churn-model",
    tags: dict[str, Any] | None = None,
) -> tuple[Any, str | None]:
    """Log the fitted pipeline to the active run (sklearn flavour, skops format) with its
    signature and an input example, and register it as a new version.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted XGBoost pipeline.
    example : DataFrame
        A few rows of the raw feature frame; the input example keeps only the model
        inputs (no ids).
    registered_model : str or None
        Registry name; None logs without registering.
    artifact_name : str
        Name of the logged model.
    tags : dict, optional
        Tags set on the new model version (e.g. ``as_of``, holdout AUC, input digests).

    Returns
    -------
    (ModelInfo, version or None)
    """
    mlflow = mlflow_module()
    with _quiet_mlflow():
        info = mlflow.sklearn.log_model(
            pipeline,
            name=artifact_name,
            signature=model_signature(pipeline),
            input_example=model_input(pipeline, example.head(5)),
            registered_model_name=registered_model,
            skops_trusted_types=TRUSTED_TYPES,
            pip_requirements=_requirements(),
            pyfunc_predict_fn="predict_proba",
        )
    version = None if registered_model is None else str(info.registered_model_version)
    if version is not None and tags:
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(registered_model, version, key, str(value)[:5000])
    log.info(
        "logged %s%s",
        info.model_uri,
        f" as {registered_model} version {version}" if version else "",
    )
    return info, version


def load_model(
    name: str = REGISTERED_MODEL, *, alias: str | None = CHAMPION, version: str | int | None = None
) -> Pipeline:
    """Load a registered version (by alias, default ``champion``, or by version) as the
    scikit-learn pipeline: ``load_model().predict_proba(features)[:, 1]`` scores a raw
    feature frame."""
    mlflow = mlflow_module()
    uri = model_uri(name, alias=alias if version is None else None, version=version)
    return mlflow.sklearn.load_model(uri)


# --------------------------------------------------------------------------- descriptions


def data_digest(input_digests: dict[str, str]) -> str | None:
    """A 12-character fingerprint of all training inputs (same files, same fingerprint).

    Examples
    --------
    >>> data_digest({"orders": "sha256:ab"}) == data_digest({"orders": "sha256:ab"})
    True
    >>> data_digest({}) is None
    True
    """
    if not input_digests:
        return None
    text = json.dumps(input_digests, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def model_description(*, horizon_days: int | None = None, lookback_days: int | None = None) -> str:
    """What the registered churn model predicts, in two sentences.

    Examples
    --------
    >>> model_description(horizon_days=90, lookback_days=365)[:60]
    'Churn classifier: the probability that a customer with a com'
    """
    if horizon_days is None:
        what = (
            "Churn classifier: the probability that a customer churns, as labelled in the "
            "customer-level table it was trained on."
        )
    else:
        what = (
            "Churn classifier: the probability that a customer with a completed order in the "
            f"{lookback_days} days before the cut-off places no completed order in the "
            f"{horizon_days} days after it, from the customer's features as of the cut-off."
        )
    return (
        f"{what} Each version is an XGBoost or a logistic-regression pipeline (whichever "
        "scored better on validation data); the 'champion' alias scores customers, the "
        "'challenger' is the newest version that did not beat it."
    )


def version_description(
    *,
    model: str,
    who: str,
    source: str,
    as_of: pd.Timestamp,
    train_rows: int,
    choice: str,
    holdout: dict[str, float],
    decision: PromotionDecision,
) -> str:
    """A version's description: what was trained on which data and when, by whom, its
    holdout metrics and why it was promoted or not."""
    metrics = ", ".join(
        f"{label} {holdout[key]:.3f}"
        for key, label in (
            ("roc_auc", "ROC-AUC"),
            ("pr_auc", "PR-AUC"),
            ("top_decile_lift", "top-decile lift"),
        )
        if key in holdout
    )
    return (
        f"{model[:1].upper()}{model[1:]} pipeline trained by {who} on {source} as of "
        f"{as_of.date()} ({train_rows:,} customers). {choice}. Holdout: {metrics}. "
        f"{decision.sentence()}"
    )[:4000]


def describe_version(
    client: Any, name: str, number: str | int, *, version: str = "", model: str = ""
) -> None:
    """Set the description of version ``number`` (``version``) and, when given, of the
    registered model (``model``)."""
    if version:
        client.update_model_version(name, str(number), description=version)
    if model:
        current = client.get_registered_model(name).description or ""
        if current != model:
            client.update_registered_model(name, description=model)


# --------------------------------------------------------------------------- aliases


def alias_version(client: Any, name: str, alias: str) -> Any:
    """The model version holding ``alias``, or None (also when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(
    client: Any, name: str, alias: str, version: str | int, *, who: str | None = None, why: str = ""
) -> None:
    """Point ``alias`` at ``version`` and record who, when and why as version tags."""
    version = str(version)
    client.set_registered_model_alias(name, alias, version)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in (("set_by", who or current_user()), ("set_at", stamp), ("reason", why)):
        client.set_model_version_tag(name, version, f"{_TAG}.{alias}.{key}", str(value)[:5000])
    log.info("%s: alias %r -> version %s (%s)", name, alias, version, why)


def promote(
    client: Any, name: str, version: str | int, *, who: str | None = None, why: str = ""
) -> dict[str, Any]:
    """Make ``version`` the champion (recording who/why); the challenger alias is removed
    when it pointed at this version. Returns ``{"version", "previous_champion"}``.

    This is the manual promotion the CLI (``workbench registry promote``) calls; the gate
    of :func:`promote_if_better` calls it when the new version wins.
    """
    version = str(version)
    client.get_model_version(name, version)  # fails clearly when the version does not exist
    previous = alias_version(client, name, CHAMPION)
    set_alias(client, name, CHAMPION, version, who=who, why=why or "promoted manually")
    if previous is not None and str(previous.version) != version:
        client.set_model_version_tag(
            name, str(previous.version), f"{_TAG}.{CHAMPION}.replaced_by", version
        )
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    return {
        "version": version,
        "previous_champion": None if previous is None else str(previous.version),
    }


# --------------------------------------------------------------------------- the gate


@dataclass
class PromotionDecision:
    """What the gate decided for a new version, and why."""

    name: str
    version: str
    promoted: bool
    alias: str
    candidate_auc: float
    champion_version: str | None
    champion_auc: float | None
    min_auc_gain: float
    reason: str
    who: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def champion_after(self) -> str:
        """The version holding ``champion`` after the gate."""
        return (
            self.version
            if self.promoted or self.champion_version is None
            else str(self.champion_version)
        )

    @property
    def champion_changed(self) -> bool:
        """True when the gate moved ``champion`` (a first champion counts as a change)."""
        return self.promoted

    def sentence(self) -> str:
        """The decision in plain words (no markup)."""
        if self.promoted and self.champion_version is None:
            return f"Version {self.version} is the first champion of {self.name}."
        if self.promoted:
            return (
                f"Version {self.version} replaced version {self.champion_version} as champion: "
                f"{self.reason}."
            )
        return (
            f"Version {self.version} stays challenger; version {self.champion_version} "
            f"remains champion: {self.reason}."
        )

    def table(self) -> pd.DataFrame:
        """Candidate and champion side by side (version, holdout ROC-AUC, alias after)."""
        rows = [
            {
                "role": "new version",
                "version": self.version,
                "holdout_roc_auc": self.candidate_auc,
                "alias": self.alias,
            }
        ]
        if self.champion_version is not None:
            rows.append(
                {
                    "role": "previous champion",
                    "version": self.champion_version,
                    "holdout_roc_auc": self.champion_auc,
                    "alias": "(replaced)" if self.promoted else CHAMPION,
                }
            )
        return pd.DataFrame(rows)


def gate_decision(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    *,
    min_auc_gain: float = 0.002,
    metric: str = "roc_auc",
) -> tuple[bool, str]:
    """Whether a candidate beats the champion on ``metric`` by at least ``min_auc_gain``,
    and why.

    The candidate wins when there is no champion, or when its value exceeds the
    champion's (strictly) and the gain is at least ``min_auc_gain``; a tie keeps the
    champion whatever the gain asked. Gains are compared after rounding to 10 decimals,
    so float noise in a subtraction cannot decide.

    Examples
    --------
    >>> gate_decision({"roc_auc": 0.81}, {"roc_auc": 0.80}, min_auc_gain=0.005)[0]
    True
    >>> gate_decision({"roc_auc": 0.8913}, {"roc_auc": 0.8913}, min_auc_gain=0.0)[0]
    False
    >>> gate_decision({"roc_auc": 0.802}, {"roc_auc": 0.80}, min_auc_gain=0.002)[0]
    True
    >>> gate_decision({"roc_auc": 0.7}, None)
    (True, 'no champion yet')
    """
    if not 0 <= min_auc_gain < 1:
        raise ValueError(f"min_auc_gain must be in [0, 1), got {min_auc_gain!r}")
    if champion is None:
        return True, "no champion yet"
    new, old = float(candidate[metric]), float(champion[metric])
    gain = round(new - old, 10)
    if gain > 0 and gain >= round(min_auc_gain, 10):
        return True, (
            f"{metric} {new:.4f} beats the champion ({old:.4f}) by {gain:.4f}, at least "
            f"min_auc_gain {min_auc_gain:g}, on the same holdout"
        )
    if gain == 0:
        why = f"ties with the champion ({old:.4f})"
    elif gain > 0:
        why = (
            f"beats the champion ({old:.4f}) by only {gain:.4f}, less than min_auc_gain "
            f"{min_auc_gain:g},"
        )
    else:
        why = f"is {-gain:.4f} below the champion ({old:.4f})"
    return False, f"{metric} {new:.4f} {why} on the same holdout"


def score_version(
    name: str, version: str | int, X: pd.DataFrame, y: pd.Series, *, prefix: str = ""
) -> dict[str, float]:
    """Load ``models:/name/version`` from the registry, score ``X`` and return the holdout
    metrics of :func:`workbench.churn.evaluate.classification_metrics`. The default
    evaluation of the gate. Nothing is logged (the stage's summary carries the numbers
    once); ``prefix`` is accepted for the same call as :func:`evaluate_version`."""
    model = load_model(name, alias=None, version=version)
    return classification_metrics(y, model.predict_proba(X)[:, 1])


def evaluate_version(
    name: str, version: str | int, X: pd.DataFrame, y: pd.Series, *, prefix: str = ""
) -> dict[str, float]:
    """Evaluate ``models:/name/version`` on ``(X, y)`` with :func:`mlflow.models.evaluate`
    (MLflow's classifier metrics plus ROC, PR, lift, calibration and confusion plots,
    logged to the active run with ``prefix``); returns the metrics without the prefix.

    Same ROC-AUC as :func:`score_version`, but MLflow draws five matplotlib images per
    version (about 3 s each evaluation on an idle 2-core machine, 12 s on a busy one), so
    the gate uses it only when asked (``evaluate=evaluate_version``).
    """
    mlflow = mlflow_module()
    data = X.assign(**{"__churned__": np.asarray(y, dtype=bool)})
    with _quiet_mlflow():
        result = mlflow.models.evaluate(
            model=model_uri(name, version=version),
            data=data,
            targets="__churned__",
            model_type="classifier",
            evaluator_config={
                "log_model_explainability": False,
                "metric_prefix": prefix,
                "pos_label": True,
                "label_list": [False, True],
            },
        )
    return {k.removeprefix(prefix): float(v) for k, v in result.metrics.items()}


def promote_if_better(
    client: Any,
    name: str,
    version: str | int,
    X_holdout: pd.DataFrame,
    y_holdout: pd.Series,
    *,
    min_auc_gain: float = 0.002,
    who: str | None = None,
    evaluate: Callable[..., dict[str, float]] = score_version,
) -> PromotionDecision:
    """Give ``version`` the challenger alias, then promote it to champion when it passes
    the gate (see the module docstring). The decision is written as version tags
    (``workbench.gate.*``) and returned.

    Parameters
    ----------
    client : MlflowClient
    name, version : str
        The registered model and the new version.
    X_holdout, y_holdout : DataFrame, Series
        The holdout both versions are scored on (raw feature frame, labels); the id
        column may stay (the models ignore it).
    min_auc_gain : float
        Required improvement of ROC-AUC over the champion (:func:`gate_decision`: a tie
        never promotes).
    who : str, optional
        Recorded as the actor (default :func:`current_user`).
    evaluate : callable
        ``evaluate(name, version, X, y, prefix=...) -> metrics`` with ``roc_auc``; default
        :func:`score_version` (both versions loaded from the registry, scored with the
        stage's metrics); :func:`evaluate_version` runs MLflow's evaluator instead.
    """
    version, who = str(version), who or current_user()
    set_alias(client, name, CHALLENGER, version, who=who, why="new version, before the gate")
    champion = alias_version(client, name, CHAMPION)
    candidate = evaluate(name, version, X_holdout, y_holdout, prefix="gate_candidate_")
    champion_version = None if champion is None else str(champion.version)
    champion_metrics = None
    if champion_version == version:
        passed, reason = True, "this version is already the champion"
    elif champion is not None:
        try:
            champion_metrics = evaluate(
                name, champion_version, X_holdout, y_holdout, prefix="gate_champion_"
            )
        except Exception as exc:  # the champion was trained on other inputs
            passed, reason = (
                False,
                (
                    f"the champion (version {champion_version}) cannot score "
                    f"this holdout ({type(exc).__name__}: {exc}); promote "
                    "manually if the new inputs are intended"
                ),
            )
        else:
            passed, reason = gate_decision(candidate, champion_metrics, min_auc_gain=min_auc_gain)
    else:
        passed, reason = gate_decision(candidate, None, min_auc_gain=min_auc_gain)
    if passed and champion_version != version:
        promote(client, name, version, who=who, why=f"gate passed: {reason}")
    decision = PromotionDecision(
        name=name,
        version=version,
        promoted=passed and champion_version != version,
        alias=CHAMPION if passed else CHALLENGER,
        candidate_auc=float(candidate["roc_auc"]),
        champion_version=champion_version,
        champion_auc=None if champion_metrics is None else float(champion_metrics["roc_auc"]),
        min_auc_gain=float(min_auc_gain),
        reason=reason,
        who=who,
    )
    for key, value in decision.as_dict().items():
        if key not in ("name", "version", "alias") and value is not None:
            text = f"{value:.6f}" if isinstance(value, float) else str(value)
            client.set_model_version_tag(name, version, f"{_TAG}.gate.{key}", text[:_REASON_CHARS])
    log.info(
        "%s version %s: %s (%s)",
        name,
        version,
        "promoted to champion" if decision.promoted else f"alias {decision.alias}",
        reason,
    )
    return decision
