"""The retrain signal: a stated rule over realised performance and the drift of the model's
most important inputs (see :class:`~workbench.monitoring.RetrainRule`).

The signal is advice shown at the top of the report and in ``monitoring.json``; it never
changes a run's exit code and never retrains anything by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from workbench.monitoring.params import DriftThresholds, RetrainRule

__all__ = ["retrain_signal"]


def _entry(item: Any) -> Mapping[str, Any]:
    return item.as_dict() if hasattr(item, "as_dict") else item


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def _auc_rule(
    realised: Sequence[Any], rule: RetrainRule, reasons: list[str], notes: list[str]
) -> None:
    if not realised:
        notes.append("no churn scores have matured yet: the realised ROC-AUC was not checked")
        return
    entries = [_entry(r) for r in realised]
    for key in ("as_of", "roc_auc"):
        if any(key not in e for e in entries):
            raise ValueError(
                f"retrain_signal: every realised entry needs {key!r} (use RealisedChurn.as_dict())"
            )
    latest = max(entries, key=lambda e: pd.Timestamp(e["as_of"]))
    when = str(latest["as_of"])
    auc, holdout = _number(latest["roc_auc"]), _number(latest.get("holdout_roc_auc"))
    churned = _number(latest.get("churned"))
    retained = _number(latest.get("customers")) - churned
    if math.isnan(holdout):
        notes.append(
            f"the scores as of {when} carry no holdout ROC-AUC: the AUC rule was not checked"
        )
        return
    if math.isnan(auc):
        notes.append(f"the scores as of {when} have one realised outcome only: no ROC-AUC")
        return
    if not (churned >= rule.min_class_size and retained >= rule.min_class_size):
        notes.append(
            f"the scores as of {when} have {churned:.0f} churned and {retained:.0f} retained "
            f"customers (fewer than {rule.min_class_size} in a class): their realised ROC-AUC "
            f"{auc:.3f} is too noisy for the AUC rule"
        )
        return
    drop = round(holdout - auc, 9)  # so a drop of exactly auc_drop does not trigger
    if drop > rule.auc_drop:
        reasons.append(
            f"the churn scores made as of {when} reached a realised ROC-AUC of {auc:.3f}, "
            f"{drop:.3f} below the model's holdout ROC-AUC of {holdout:.3f} (rule: more than "
            f"{rule.auc_drop:g})"
        )


def _feature_rule(
    drift: pd.DataFrame | None,
    top_features: Sequence[str],
    rule: RetrainRule,
    thresholds: DriftThresholds,
    reasons: list[str],
    notes: list[str],
) -> None:
    top = [str(f) for f in list(top_features)[: rule.top_features]]
    if not top:
        notes.append(
            "no SHAP ranking of the model's inputs: the feature drift rule was not checked"
        )
        return
    if drift is None:
        notes.append("no drift table: the feature drift rule was not checked")
        return
    missing = [c for c in ("column", "psi", "p_value", "status", "current_rows") if c not in drift]
    if missing:
        raise ValueError(
            f"retrain_signal: the drift table has no column(s) {', '.join(missing)}; build it "
            "with workbench.monitoring.drift_table"
        )
    rows = drift.set_index(drift["column"].astype("str"))
    for rank, feature in enumerate(top, start=1):
        if feature not in rows.index:
            notes.append(f"top feature {feature} (SHAP rank {rank}) was not compared for drift")
            continue
        row = rows.loc[feature]
        if row["status"] == "absent" and not row["current_rows"]:
            reasons.append(
                f"top feature {feature} (SHAP rank {rank}) is missing from the current data"
            )
            continue
        value, p = _number(row["psi"]), _number(row["p_value"])
        if value >= rule.psi and p < thresholds.alpha:
            reasons.append(
                f"top feature {feature} (SHAP rank {rank}) drifted: PSI {value:.3f} >= "
                f"{rule.psi:g} (p = {p:.2g})"
            )


def retrain_signal(
    *,
    realised: Sequence[Any] = (),
    drift: pd.DataFrame | None = None,
    top_features: Sequence[str] = (),
    rule: RetrainRule | None = None,
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """Whether to retrain the churn model, and why, by the rule of :class:`RetrainRule`.

    Parameters
    ----------
    realised : sequence of RealisedChurn or dict
        Realised performance of earlier runs' scores (:meth:`RealisedChurn.as_dict`:
        ``as_of``, ``roc_auc``, ``holdout_roc_auc``, ``customers``, ``churned``); the
        most recent one is judged — older scores came from models since replaced.
    drift : DataFrame, optional
        :func:`~workbench.monitoring.drift_table` of the feature table against the reference.
    top_features : sequence of str
        The model's inputs by mean |SHAP|, most important first (``churn.json``'s
        ``top_features``).
    rule : RetrainRule, optional
    thresholds : DriftThresholds, optional
        Its ``alpha`` is the noise gate of the PSI rule.

    Returns
    -------
    dict
        ``recommended`` (bool), ``reasons`` (one sentence per rule that fired), ``notes``
        (rules that could not be checked, and why) and ``rule`` (the rule in words).

    Examples
    --------
    >>> realised = [{"as_of": "2026-03-31", "roc_auc": 0.78, "holdout_roc_auc": 0.84,
    ...              "customers": 5000, "churned": 1500}]
    >>> signal = retrain_signal(realised=realised)
    >>> signal["recommended"], signal["reasons"][0][:60]
    (True, 'the churn scores made as of 2026-03-31 reached a realised RO')
    """
    rule = rule or RetrainRule()
    thresholds = thresholds or DriftThresholds()
    reasons: list[str] = []
    notes: list[str] = []
    _auc_rule(realised, rule, reasons, notes)
    _feature_rule(drift, top_features, rule, thresholds, reasons, notes)
    return {
        "recommended": bool(reasons),
        "reasons": reasons,
        "notes": notes,
        "rule": rule.describe(),
    }
