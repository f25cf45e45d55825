"""What the churn stage tells its reader: the summary (``churn.json``), its headline, and the
sentences the notebook shows between tables.

Every value that comes from the data or the user (a model name, a reason quoting a column
or a category) passes through :mod:`workbench.display` before it reaches Markdown; numbers
are formatted for people.

The summary's numeric leaves become MLflow metrics, so it holds measured numbers only,
each once: the chosen model's holdout metrics at the top level (``roc_auc`` …), the other
model's as ``other_*``, the validation choice under ``selection``, the cross-validation
under ``cv``, the champion's ROC-AUC on this holdout under ``gate``. Settings
(``horizon_days``, ``min_auc_gain`` …) are MLflow parameters, not summary numbers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.churn.evaluate import classification_metrics
from workbench.churn.model import MODEL_LABELS, ChurnModels
from workbench.churn.registry import PromotionDecision
from workbench.churn.scoring import risk_band_shares
from workbench.churn.workflow import ChurnData
from workbench.display import Headline, HeadlineItem, fmt_int, fmt_pct, md_text

__all__ = ["churn_summary", "headline", "comparison_markdown", "gate_markdown", "holdout_table"]

_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def comparison_markdown(models: ChurnModels) -> str:
    """Which model won on validation data and by how much, and how both did on the holdout."""
    choice = models.choice
    holdout = models.holdout_metrics()
    win, other = holdout.loc[choice.winner], holdout.loc[choice.other]
    why = (
        "The trees capture interactions and thresholds (recency relative to the usual gap "
        "between orders) that a linear model on scaled inputs cannot."
        if choice.winner == "xgboost"
        else "The signal in this data is close to linear in the inputs (or the training set "
        "is small), so boosting adds variance rather than accuracy; the logistic pipeline is "
        "registered, and its reasons come from its own coefficients."
    )
    return (
        f"**{_cap(MODEL_LABELS[choice.winner])} is registered.** "
        f"{md_text(choice.sentence())}. On the holdout (never used for a choice): ROC-AUC "
        f"{win['roc_auc']:.3f} vs {other['roc_auc']:.3f}, PR-AUC {win['pr_auc']:.3f} vs "
        f"{other['pr_auc']:.3f}, Brier {win['brier']:.3f} vs {other['brier']:.3f}. {why}"
    )


def gate_markdown(decision: PromotionDecision) -> str:
    """The gate's decision in words (names and reasons escaped)."""
    name = md_text(decision.name)
    head = (
        f"**Version {decision.version} of {name} is champion.**"
        if decision.promoted
        else f"**Version {decision.version} of {name} stays challenger; version "
        f"{decision.champion_version} remains champion.**"
    )
    champ = (
        ""
        if decision.champion_auc is None
        else f" Champion (version {decision.champion_version}) on the same holdout: "
        f"ROC-AUC {decision.champion_auc:.4f}."
    )
    return (
        f"{head} New version's holdout ROC-AUC: {decision.candidate_auc:.4f}.{champ} "
        "Rule: promote when there is no champion, or when the new ROC-AUC beats the "
        f"champion's by at least min_auc_gain ({decision.min_auc_gain:g}); a tie keeps the "
        f"champion. Reason: {md_text(decision.reason)}."
    )


def churn_summary(
    data: ChurnData,
    models: ChurnModels,
    decision: PromotionDecision,
    scores: pd.DataFrame,
    *,
    audience_size: int,
    scored_with: str,
    importance: pd.DataFrame | None = None,
    shap_check: dict[str, float] | None = None,
    seconds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``churn.json``: the stage's measured numbers (see the module notes) and its headline.

    Parameters
    ----------
    data, models, decision
        The stage's steps (:func:`~workbench.churn.workflow.prepare_data`,
        :func:`~workbench.churn.model.train_models`,
        :func:`~workbench.churn.workflow.register_and_gate`).
    scores : DataFrame
        :func:`~workbench.churn.workflow.score_customers` output.
    audience_size : int
        Customers in the win-back audience.
    scored_with : str
        The version that scored the customers.
    importance : DataFrame, optional
        Global SHAP importance of the new version.
    shap_check : dict, optional
        :func:`~workbench.churn.workflow.check_contributions` output.
    seconds : dict, optional
        Seconds per step (not compared between runs).
    """
    chosen, other = models.choice.winner, models.choice.other
    holdout = models.holdout_metrics()
    windows = data.training.windows
    cv: dict[str, Any] = {}
    if not models.cv.empty:
        grouped = models.cv.groupby("model")["roc_auc"]
        cv = {f"{m}_roc_auc_mean": float(v) for m, v in grouped.mean().items()}
        cv.update({f"{m}_roc_auc_std": float(v) for m, v in grouped.std(ddof=0).items()})
        cv["rows"] = models.cv_rows
        cv["note"] = models.cv_note()
    summary: dict[str, Any] = {
        "mode": data.training.mode,
        "source": data.source,
        "snapshot_date": str(windows.snapshot.date()) if windows else None,
        "label_window": [str(windows.snapshot.date()), str(windows.label_end.date())]
        if windows
        else None,
        "eligible_customers": data.training.counts.get("eligible"),
        "train_rows": models.train_rows,
        "holdout_rows": int(len(models.y_holdout)),
        "positive_rate": round(data.training.positive_rate, 6),
        "model": chosen,
        "other_model": other,
        "selection": {
            "on": "validation split",
            "metric": models.choice.metric,
            "rows": models.choice.rows,
            "chosen": models.choice.scores[chosen],
            "other": models.choice.scores[other],
        },
        **{k: float(holdout.loc[chosen, k]) for k in _METRICS},
        **{f"other_{k}": float(holdout.loc[other, k]) for k in _METRICS},
        "cv": cv,
        "best_iteration": models.best_iteration,
        "decision_threshold": round(models.thresholds[chosen], 6),
        "registered_model": decision.name,
        "version": decision.version,
        "alias": decision.alias,
        "promoted": decision.promoted,
        "champion_version": decision.champion_after,
        "gate": {
            "previous_champion": decision.champion_version,
            "champion_auc": decision.champion_auc,
            "reason": decision.reason,
        },
        "scored_customers": int(len(scores)),
        "scored_with": scored_with,
        "risk_bands": risk_band_shares(scores),
        "audience_size": int(audience_size),
        "top_features": [] if importance is None else importance["feature"].head(5).tolist(),
        "shap_check": shap_check or {},
        "seconds": dict(seconds or {}),
    }
    summary["headline"] = headline(summary).as_dict()
    return summary


def headline(summary: dict[str, Any]) -> Headline:
    """The churn headline (:class:`workbench.display.Headline`): ROC-AUC of the chosen model
    vs the other, the champion version and whether it changed, the customers scored, the
    high-risk share and the win-back audience.

    Examples
    --------
    >>> h = headline({"model": "xgboost", "other_model": "baseline", "roc_auc": 0.8891,
    ...               "other_roc_auc": 0.8781, "version": "2", "promoted": False,
    ...               "champion_version": "1", "scored_customers": 13872,
    ...               "risk_bands": {"high": 0.2}, "audience_size": 1234})
    >>> h.text()
    'ROC-AUC XGBoost vs baseline 0.889 vs 0.878 · champion v1 (unchanged) · scored customers 13,872 · high risk 20.0% · win-back audience 1,234'
    """
    chosen, other = summary["model"], summary["other_model"]
    names = {"xgboost": "XGBoost", "baseline": "baseline"}
    auc = f"{summary['roc_auc']:.3f} vs {summary['other_roc_auc']:.3f}"
    champion = str(summary["champion_version"])
    if summary["promoted"]:
        first = not (summary.get("gate") or {}).get("previous_champion")
        change = "new" if first else "promoted"
    else:
        change = "unchanged"
    high = (summary.get("risk_bands") or {}).get("high")
    items = [
        HeadlineItem(f"ROC-AUC {names[chosen]} vs {names[other]}", auc, "text"),
        HeadlineItem("champion", f"v{champion} ({change})", "text"),
        HeadlineItem("scored customers", summary["scored_customers"], "int"),
        HeadlineItem("high risk", high, "pct"),
        HeadlineItem("win-back audience", summary["audience_size"], "int"),
    ]
    if summary["promoted"]:
        gate = f"version {summary['version']} became champion"
    else:
        gate = f"version {summary['version']} stays challenger and v{champion} remains champion"
    sentence = (
        f"{_cap(MODEL_LABELS[chosen])} won on validation data and was registered "
        f"(holdout ROC-AUC {summary['roc_auc']:.3f}; {MODEL_LABELS[other]} "
        f"{summary['other_roc_auc']:.3f}); {gate}; {fmt_int(summary['scored_customers'])} "
        f"customers scored, {fmt_pct(high)} at high risk, "
        f"{fmt_int(summary['audience_size'])} in the win-back audience."
    )
    return Headline(sentence, items, "ok")


def holdout_table(models: ChurnModels) -> pd.DataFrame:
    """Both models' holdout metrics, the chosen one first, with a ``registered`` column."""
    order = [models.choice.winner, models.choice.other]
    rows = [
        {
            "model": MODEL_LABELS[name],
            "registered": name == models.choice.winner,
            "validation_roc_auc": models.choice.scores[name],
            **{
                k: v
                for k, v in classification_metrics(
                    models.y_holdout, models.holdout_scores[name]
                ).items()
                if k in _METRICS
            },
        }
        for name in order
    ]
    return pd.DataFrame(rows)
