"""The churn stage's steps, each one call from the notebook.

1. :func:`prepare_data` — the labelled training set and the customers to score, from the
   canonical tables (point in time) or from a user's table (``features_path``);
2. :func:`workbench.churn.model.train_models` — both models;
   and the choice of the one to register (validation ROC-AUC);
3. :func:`register_and_gate` — log the chosen model, register, challenger alias,
   champion gate, descriptions;
4. :func:`scoring_model` and :func:`score_customers` — the champion back from the
   registry, probabilities, bands and reasons, its contributions computed once;
5. :func:`explain_new_version` and :func:`check_contributions` — the new version's SHAP
   values (reused from scoring when it is the scorer) and their check against the SHAP
   package;
6. :func:`~workbench.churn.report.churn_summary` and
   :func:`~workbench.churn.report.headline` — ``churn.json`` and its headline.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from workbench.canonical import open_tables
from workbench.churn import explain, registry
from workbench.churn.labels import TrainingSet, point_in_time_set, scoring_features
from workbench.churn.model import MODEL_LABELS, ChurnModels, predict_churn
from workbench.churn.params import CHAMPION, ChurnParams
from workbench.churn.scoring import scores_table
from workbench.churn.table import custom_training_set
from workbench.display import fmt_int, fmt_pct
from workbench.features import FEATURE_TABLES, input_manifest
from workbench.schema import check_as_of

__all__ = [
    "ChurnData",
    "prepare_data",
    "check_contributions",
    "register_and_gate",
    "log_explanations",
    "scoring_model",
    "score_customers",
    "explain_new_version",
]

log = logging.getLogger(__name__)


@dataclass
class ChurnData:
    """What the stage trains on and scores.

    Attributes
    ----------
    training : TrainingSet
    scoring : DataFrame
        Customers to score (point in time: features as of ``as_of`` of customers active
        in the lookback window; custom table: every row).
    source : str
        Where the data came from, in words.
    manifest : DataFrame
        Input files with row counts and digests (empty for a custom table frame).
    meanings : dict
        Data-dictionary meaning of each column (for reasons and importance).
    """

    training: TrainingSet
    scoring: pd.DataFrame
    source: str
    manifest: pd.DataFrame = field(default_factory=pd.DataFrame)
    meanings: dict[str, str] = field(default_factory=dict)

    def overview(self) -> pd.DataFrame:
        """The training set in numbers, formatted for reading: a ``what`` and a ``value``
        column (counts with thousands separators, the churn rate as a percentage)."""
        t = self.training
        rows = [("mode", t.mode.replace("_", " ")), ("source", self.source)]
        rows += [(k.replace("_", " "), fmt_int(v)) for k, v in t.counts.items()]
        rows += [
            ("churned (share of eligible)", fmt_pct(t.positive_rate)),
            ("customers to score", fmt_int(len(self.scoring))),
        ]
        return pd.DataFrame(rows, columns=["what", "value"])

    def digests(self) -> dict[str, str]:
        """``{table: sha256}`` of the input files (for tags and the registry review)."""
        if self.manifest.empty:
            return {}
        return {r.table: str(r.digest) for r in self.manifest.itertuples() if r.digest}


def prepare_data(
    source: Any,
    as_of: pd.Timestamp,
    params: ChurnParams | None = None,
    *,
    source_label: str = "",
) -> ChurnData:
    """The training set and the customers to score.

    With ``params.features_path`` the user's table is read (:func:`custom_training_set`,
    with ``params.label_column`` and ``params.id_column``) and ``source`` is ignored;
    otherwise ``source`` (a folder, loaded tables or
    :class:`~workbench.canonical.CanonicalTables`: what the stage's input is) is labelled
    point in time (:func:`point_in_time_set`) and the customers active before ``as_of``
    are scored.

    Parameters
    ----------
    source : folder, LoadedData, mapping of frames or CanonicalTables
        The canonical tables (ignored with ``params.features_path``).
    as_of : Timestamp
        The cut-off, a UTC midnight (:func:`workbench.schema.parse_as_of`).
    params : ChurnParams, optional
    source_label : str, optional
        How the report names the source (e.g. ``clean``); default where it was read.
    """
    params = params or ChurnParams()
    check_as_of(as_of, "prepare_data")
    if params.own_table:
        training = custom_training_set(
            params.features_path, params.label_column, id_column=params.id_column
        )
        columns = [c for c in training.features.columns if c != params.id_column]
        return ChurnData(
            training=training,
            scoring=training.features,
            source=params.features_path,
            meanings=explain.column_meanings(columns, point_in_time=False),
        )
    inputs = open_tables(source, tables=FEATURE_TABLES)
    _quiet(inputs)
    training = point_in_time_set(inputs, as_of, params)
    scoring = scoring_features(inputs, as_of, params)
    return ChurnData(
        training=training,
        scoring=scoring,
        source=source_label or str(getattr(inputs, "source", source)),
        manifest=input_manifest(source, FEATURE_TABLES),
        meanings=explain.column_meanings(list(scoring.columns)),
    )


def _quiet(inputs: Any) -> None:
    """DuckDB draws a progress bar on long queries; notebooks and cron logs need none."""
    if getattr(inputs.con, "name", "") == "duckdb":
        with contextlib.suppress(Exception):  # older engines lack the setting
            inputs.con.raw_sql("SET enable_progress_bar = false")


def check_contributions(
    pipeline: Pipeline, X: pd.DataFrame, *, rows: int = 500, random_state: int = 7
) -> dict[str, float]:
    """Check the model's contributions against the SHAP package on a sample.

    XGBoost: its native contributions against SHAP's own Tree SHAP; the logistic
    baseline: coefficient × standardised value against SHAP's ``LinearExplainer``. Returns
    rows, the largest absolute difference per encoded column, the largest difference
    between ``base value + Σ contributions`` and the model's log-odds, and the seconds
    each took on the sample.
    """
    sample = X.sample(n=min(rows, len(X)), random_state=random_state) if len(X) else X
    if not len(sample):
        return {"rows": 0, "max_abs_diff": 0.0, "additivity_error": 0.0}
    linear = explain.model_kind(pipeline) == "baseline"
    started = time.perf_counter()
    bias: np.ndarray | float
    if linear:
        encoded = np.asarray(pipeline[:-1].transform(sample), dtype=float)
        ours = encoded * np.asarray(pipeline[-1].coef_).ravel()
        bias = float(np.asarray(pipeline[-1].intercept_).ravel()[0])
    else:
        native = explain.encoded_contributions(pipeline, sample)
        ours, bias = native[:, :-1], native[:, -1]
    own_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if linear:
        reference = explain.reference_linear_values(pipeline, sample)
        margin = pipeline.decision_function(sample)
    else:
        reference = explain.reference_shap_values(pipeline, sample)
        margin = pipeline[-1].predict(pipeline[:-1].transform(sample), output_margin=True)
    shap_seconds = time.perf_counter() - started
    return {
        "rows": int(len(sample)),
        "max_abs_diff": float(np.abs(ours - reference).max()),
        "additivity_error": float(np.abs(ours.sum(axis=1) + bias - margin).max()),
        "own_seconds": round(own_seconds, 4),
        "shap_seconds": round(shap_seconds, 4),
    }


def register_and_gate(
    models: ChurnModels,
    data: ChurnData,
    *,
    registered_model: str,
    as_of: pd.Timestamp,
    min_auc_gain: float | None = None,
    params: ChurnParams | None = None,
    source: str = "",
    who: str | None = None,
    mlflow_evaluator: bool | None = None,
) -> registry.PromotionDecision:
    """Log the chosen pipeline (the validation winner, :attr:`ChurnModels.chosen`) to the
    active run, register it, give it the challenger alias and promote it when it beats the
    champion on the holdout by ``min_auc_gain``
    (:func:`~workbench.churn.registry.promote_if_better`).

    The version gets a few short tags, a description (data, ``as_of``, metrics, the gate's
    decision, who) and the registered model a description of what it predicts; the input
    digests and model inputs go to the run as :data:`~workbench.churn.registry.RECORD_ARTIFACT`.

    Parameters
    ----------
    models, data : ChurnModels, ChurnData
    registered_model : str
        The registry name (the notebook passes ``tracking.model_name(settings, ...)``: one
        registry per project).
    as_of : Timestamp
    min_auc_gain, mlflow_evaluator : optional
        Default: the values of ``params``.
    params : ChurnParams, optional
    source : str
        The data source in words (for the description), e.g. the source folder.
    who : str, optional
        Recorded as the creator and the gate's actor (default the current user).
    """
    params = params or ChurnParams()
    gain = params.min_auc_gain if min_auc_gain is None else min_auc_gain
    evaluator = params.mlflow_evaluator if mlflow_evaluator is None else mlflow_evaluator
    as_of = check_as_of(as_of, "register_and_gate")
    who = who or registry.current_user()
    mlflow = registry.mlflow_module()
    holdout = models.holdout_metrics().loc[models.chosen_name]
    digests = data.digests()
    tags = {
        "workbench.as_of": str(as_of.date()),
        "workbench.model_type": models.chosen_name,
        "workbench.holdout_roc_auc": f"{float(holdout['roc_auc']):.6f}",
        "workbench.data_digest": registry.data_digest(digests) or "",
        "workbench.input_tables": len(digests) or "",
        "workbench.created_by": who,
    }
    mlflow.log_dict(
        {
            "model_type": models.chosen_name,
            "selection": {**models.choice.scores, "metric": models.choice.metric},
            "input_digests": digests,
            "inputs": models.columns.inputs,
            "train_rows": models.train_rows,
            "mode": data.training.mode,
        },
        registry.RECORD_ARTIFACT,
    )
    _, version = registry.log_churn_model(
        models.chosen,
        models.X_holdout,
        registered_model=registered_model,
        tags={k: v for k, v in tags.items() if v != ""},
    )
    if version is None:  # only when no registered_model name is given
        raise ValueError("register_and_gate: registered_model must name the registry model")
    client = mlflow.MlflowClient()
    decision = registry.promote_if_better(
        client,
        registered_model,
        version,
        models.X_holdout,
        models.y_holdout,
        min_auc_gain=gain,
        who=who,
        evaluate=registry.evaluate_version if evaluator else registry.score_version,
    )
    registry.describe_version(
        client,
        registered_model,
        version,
        version=registry.version_description(
            model=MODEL_LABELS[models.chosen_name],
            who=who,
            source=source or data.source,
            as_of=as_of,
            train_rows=models.train_rows,
            choice=models.choice.sentence(),
            holdout={k: float(holdout[k]) for k in ("roc_auc", "pr_auc", "top_decile_lift")},
            decision=decision,
        ),
        model=registry.model_description(
            horizon_days=params.horizon_days if data.training.windows else None,
            lookback_days=params.lookback_days if data.training.windows else None,
        ),
    )
    mlflow.set_tags(
        {
            "workbench.registered_version": version,
            "workbench.champion_after": decision.champion_after,
        }
    )
    return decision


def log_explanations(importance: pd.DataFrame) -> None:
    """The new version's global SHAP importance as a run artefact
    (``explanations/shap_importance.json``, read by the registry review)."""
    registry.mlflow_module().log_dict(
        {r.feature: float(r.mean_abs_shap) for r in importance.itertuples()},
        "explanations/shap_importance.json",
    )


def scoring_model(
    registered_model: str, decision: registry.PromotionDecision, columns: list[str]
) -> tuple[Pipeline, str, str]:
    """The champion loaded back by alias — or, when the champion cannot read the frame to
    score (its inputs are missing), the new version. Returns the pipeline, the version
    used and a sentence saying which and why."""
    client = registry.mlflow_module().MlflowClient()
    champion = registry.alias_version(client, registered_model, CHAMPION)
    if champion is not None:
        model = registry.load_model(registered_model, alias=CHAMPION)
        needed = set(model.named_steps["frame"].columns_)
        if needed <= set(columns):
            return (
                model,
                str(champion.version),
                (
                    f"scored with the champion (version {champion.version}) loaded from "
                    f"models:/{registered_model}@{CHAMPION}"
                ),
            )
        missing = sorted(needed - set(columns))
        note = (
            f"the champion (version {champion.version}) needs inputs this data lacks "
            f"({', '.join(missing[:5])}…); scored with the new version {decision.version}"
        )
    else:
        note = f"no champion; scored with the new version {decision.version}"
    log.warning("%s", note)
    return (
        registry.load_model(registered_model, alias=None, version=decision.version),
        decision.version,
        note,
    )


def score_customers(
    model: Pipeline,
    features: pd.DataFrame,
    params: ChurnParams,
    *,
    id_column: str = "customer_id",
    meanings: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, explain.Contributions]:
    """Probabilities, risk bands and top-three reasons of every customer in ``features``,
    from the model given (its contributions give the reasons), ``params.batch_size``
    customers at a time.

    The contributions are computed once and returned: they also give the model's global
    importance and the waterfalls (:func:`explain_new_version` reuses them when the
    scoring model is the new version). The probability is the model's own
    ``predict_proba``.
    """
    started = time.perf_counter()
    contributions = explain.model_contributions(
        model, features, id_column=id_column, batch_size=params.batch_size
    )
    explained = time.perf_counter()
    probability = predict_churn(model, features, batch_size=params.batch_size)
    reasons = explain.top_reasons(contributions, k=3, meanings=meanings)
    table = scores_table(contributions.ids, probability, reasons, edges=params.risk_edges)
    log.info(
        "scored %s customers: contributions %.1f s, probabilities and reasons %.1f s",
        f"{len(table):,}",
        explained - started,
        time.perf_counter() - explained,
    )
    return table, contributions


def explain_new_version(
    models: ChurnModels,
    features: pd.DataFrame,
    params: ChurnParams,
    *,
    decision: registry.PromotionDecision,
    scored_version: str,
    scoring_contributions: explain.Contributions,
    id_column: str = "customer_id",
) -> tuple[explain.Contributions, str]:
    """The new version's contributions for its global importance and plots, and where they
    came from.

    When the new version is the one that scored the customers, its contributions are
    already there (every scored customer) and are reused; otherwise the new version is
    explained on a random sample of ``params.explain_rows`` customers (the importance of
    a sample of 20,000 is within about 1% of the full one).
    """
    if str(scored_version) == str(decision.version):
        return scoring_contributions, (
            f"every scored customer ({len(features):,}); the new version scored them"
        )
    sample = features
    if len(features) > params.explain_rows:
        sample = features.sample(n=params.explain_rows, random_state=params.random_state)
    contributions = explain.model_contributions(
        models.chosen, sample, id_column=id_column, batch_size=params.batch_size
    )
    which = (
        f"a random sample of {len(sample):,} of the {len(features):,} scored customers"
        if len(sample) < len(features)
        else f"all {len(features):,} scored customers"
    )
    return contributions, f"{which} (version {scored_version} scored them)"
