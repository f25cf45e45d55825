"""The churn stage's steps, each one call from the notebook.

1. :func:`prepare_data` — the labelled training set and the customers to score, from the
   canonical tables (point in time) or from a user's table (``features_path``);
2. :func:`workbench.churn.model.train_models` — both models;
3. :func:`check_contributions` — XGBoost's native SHAP values against SHAP's own;
4. :func:`register_and_gate` — log, register, challenger alias, champion gate;
5. :func:`scoring_model` and :func:`score_customers` — the champion back from the
   registry, probabilities, bands and reasons;
6. :func:`churn_summary` — ``churn.json``.
"""

from __future__ import annotations

import contextlib
import json
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
from workbench.churn.model import ChurnModels
from workbench.churn.params import CHAMPION, ChurnParams
from workbench.churn.scoring import risk_band_shares, scores_table
from workbench.churn.table import custom_training_set
from workbench.features import FEATURE_TABLES, input_manifest
from workbench.schema import check_as_of

__all__ = [
    "ChurnData",
    "prepare_data",
    "check_contributions",
    "register_and_gate",
    "scoring_model",
    "score_customers",
    "comparison_markdown",
    "gate_markdown",
    "churn_summary",
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
        """Counts of the training set as a one-column table."""
        t = self.training
        rows = {
            "mode": t.mode,
            "source": self.source,
            **t.counts,
            "positive_rate": round(t.positive_rate, 4),
            "customers_to_score": len(self.scoring),
        }
        return pd.Series(rows, name="value").to_frame()

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
    """Compare XGBoost's native contributions with SHAP's own Tree SHAP on a sample.

    Returns rows, the largest absolute difference, whether both reproduce the model's
    log-odds (native) and the seconds each took on the sample.
    """
    sample = X.sample(n=min(rows, len(X)), random_state=random_state) if len(X) else X
    started = time.perf_counter()
    native = explain.encoded_contributions(pipeline, sample)
    native_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reference = explain.reference_shap_values(pipeline, sample)
    shap_seconds = time.perf_counter() - started
    margin = pipeline[-1].predict(pipeline[:-1].transform(sample), output_margin=True)
    return {
        "rows": int(len(sample)),
        "max_abs_diff": float(np.abs(native[:, :-1] - reference).max()) if len(sample) else 0.0,
        "native_additivity_error": float(np.abs(native.sum(axis=1) - margin).max())
        if len(sample)
        else 0.0,
        "native_seconds": round(native_seconds, 4),
        "shap_seconds": round(shap_seconds, 4),
    }


def register_and_gate(
    models: ChurnModels,
    data: ChurnData,
    *,
    registered_model: str,
    min_auc_gain: float,
    as_of: pd.Timestamp,
    importance: pd.DataFrame | None = None,
    who: str | None = None,
    mlflow_evaluator: bool = False,
) -> registry.PromotionDecision:
    """Log the XGBoost pipeline to the active run, register it, give it the challenger
    alias and promote it when it passes the gate on the holdout
    (:func:`~workbench.churn.registry.promote_if_better`; ``mlflow_evaluator`` scores both
    versions with :func:`mlflow.models.evaluate` instead of the stage's metrics). Records
    the decision as run tags and metrics (``gate.*``) and the SHAP importance as a run
    artefact."""
    mlflow = registry.mlflow_module()
    tags = {
        "workbench.as_of": str(check_as_of(as_of, "register_and_gate").date()),
        "workbench.mode": data.training.mode,
        "workbench.holdout_roc_auc": round(
            float(models.holdout_metrics().loc["xgboost", "roc_auc"]), 6
        ),
        "workbench.train_rows": models.train_rows,
        "workbench.input_digests": json.dumps(data.digests()),
        "workbench.inputs": json.dumps(models.columns.inputs)[:5000],
    }
    if importance is not None:
        top = importance.head(15)
        tags["workbench.shap_importance"] = json.dumps(
            {r.feature: round(float(r.mean_abs_shap), 5) for r in top.itertuples()}
        )
        mlflow.log_dict(
            {r.feature: float(r.mean_abs_shap) for r in importance.itertuples()},
            "explanations/shap_importance.json",
        )
    _, version = registry.log_churn_model(
        models.xgboost, models.X_holdout, registered_model=registered_model, tags=tags
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
        min_auc_gain=min_auc_gain,
        who=who,
        evaluate=registry.evaluate_version if mlflow_evaluator else registry.score_version,
    )
    mlflow.set_tags(
        {
            "gate.decision": "promoted" if decision.promoted else "kept as challenger",
            "gate.reason": decision.reason[:5000],
            "gate.version": decision.version,
            "gate.champion_version": decision.champion_version or "",
        }
    )
    metrics = {
        "gate.candidate_auc": decision.candidate_auc,
        "gate.promoted": float(decision.promoted),
    }
    if decision.champion_auc is not None:
        metrics["gate.champion_auc"] = decision.champion_auc
    mlflow.log_metrics(metrics)
    return decision


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
    from the model given (its native contributions give the reasons)."""
    contributions = explain.native_contributions(model, features, id_column=id_column)
    probability = model.predict_proba(features)[:, 1]
    reasons = explain.top_reasons(contributions, k=3, meanings=meanings)
    table = scores_table(contributions.ids, probability, reasons, edges=params.risk_edges)
    return table, contributions


def comparison_markdown(metrics: pd.DataFrame) -> str:
    """A sentence comparing XGBoost with the baseline on the holdout."""
    x, b = metrics.loc["xgboost"], metrics.loc["baseline"]
    gap = float(x["roc_auc"] - b["roc_auc"])
    if gap > 0.002:
        return (
            f"**XGBoost beats the baseline** on the holdout: ROC-AUC {x['roc_auc']:.3f} vs "
            f"{b['roc_auc']:.3f} (+{gap:.3f}), PR-AUC {x['pr_auc']:.3f} vs {b['pr_auc']:.3f}, "
            f"Brier {x['brier']:.3f} vs {b['brier']:.3f}. The trees capture interactions and "
            "thresholds (recency relative to the usual gap between orders) that a linear "
            "model on scaled inputs cannot."
        )
    return (
        f"**XGBoost does not beat the baseline** here: ROC-AUC {x['roc_auc']:.3f} vs "
        f"{b['roc_auc']:.3f}. The signal in this data is close to linear in the inputs (or "
        "the training set is small), so boosting adds variance rather than accuracy. The "
        "registry still receives the XGBoost pipeline (its SHAP explanations feed the "
        "reasons), and the gate keeps the champion unless the new version is better."
    )


def gate_markdown(decision: registry.PromotionDecision) -> str:
    """The gate's decision in words."""
    head = (
        f"**Version {decision.version} of `{decision.name}` was promoted to champion.**"
        if decision.promoted
        else f"**Version {decision.version} of `{decision.name}` stays challenger.**"
    )
    champ = (
        ""
        if decision.champion_auc is None
        else f" Champion (version {decision.champion_version}) on the same holdout: "
        f"ROC-AUC {decision.champion_auc:.4f}."
    )
    return (
        f"{head} New version's holdout ROC-AUC: {decision.candidate_auc:.4f}.{champ} "
        f"Rule: promote when there is no champion or the new ROC-AUC ≥ champion's + "
        f"min_auc_gain ({decision.min_auc_gain:g}). Reason: {decision.reason}."
    )


def churn_summary(
    data: ChurnData,
    models: ChurnModels,
    decision: registry.PromotionDecision,
    scores: pd.DataFrame,
    *,
    params: ChurnParams,
    audience_size: int,
    scored_with: str,
    importance: pd.DataFrame | None = None,
    shap_check: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``churn.json``: the headline numbers of the stage (numeric leaves become metrics)."""
    metrics = models.holdout_metrics()
    x, b = metrics.loc["xgboost"], metrics.loc["baseline"]
    windows = data.training.windows
    cv = {}
    if not models.cv.empty:
        grouped = models.cv.groupby("model")["roc_auc"]
        cv = {f"{m}_roc_auc_mean": float(v) for m, v in grouped.mean().items()}
        cv.update({f"{m}_roc_auc_std": float(v) for m, v in grouped.std(ddof=0).items()})
    return {
        "mode": data.training.mode,
        "horizon_days": params.horizon_days if windows else None,
        "lookback_days": params.lookback_days if windows else None,
        "snapshot_date": str(windows.snapshot.date()) if windows else None,
        "label_window": [str(windows.snapshot.date()), str(windows.label_end.date())]
        if windows
        else None,
        "eligible_customers": data.training.counts.get("eligible"),
        "train_rows": models.train_rows,
        "holdout_rows": int(len(models.y_holdout)),
        "positive_rate": round(data.training.positive_rate, 6),
        "roc_auc": float(x["roc_auc"]),
        "pr_auc": float(x["pr_auc"]),
        "brier": float(x["brier"]),
        "log_loss": float(x["log_loss"]),
        "top_decile_lift": float(x["top_decile_lift"]),
        "baseline_roc_auc": float(b["roc_auc"]),
        "baseline_pr_auc": float(b["pr_auc"]),
        "baseline_brier": float(b["brier"]),
        "baseline_top_decile_lift": float(b["top_decile_lift"]),
        "xgboost_beats_baseline": bool(x["roc_auc"] > b["roc_auc"]),
        "cv": cv,
        "best_iteration": models.best_iteration,
        "decision_threshold": round(models.thresholds["xgboost"], 6),
        "registered_model": decision.name,
        "version": decision.version,
        "alias": decision.alias,
        "promoted": decision.promoted,
        "champion_version": decision.champion_version,
        "champion_auc": decision.champion_auc,
        "min_auc_gain": decision.min_auc_gain,
        "gate_reason": decision.reason,
        "scored_customers": int(len(scores)),
        "scored_with": scored_with,
        "risk_edges": list(params.risk_edges),
        "risk_bands": risk_band_shares(scores),
        "target_threshold": params.target_threshold,
        "audience_size": int(audience_size),
        "top_features": [] if importance is None else importance["feature"].head(5).tolist(),
        "shap_check": shap_check or {},
    }
