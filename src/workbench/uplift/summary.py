"""The machine-readable summary of an uplift run (``uplift.json``).

At least ``{"experiment", "control", "arms", "outcome", "models": {"<name>": {"<arm>":
{"qini", "auuc", "uplift_at_30"}}}, "chosen": {"<arm>": "<name>"}, "baseline":
"response"}``, plus the intervals, the gate, the decision per arm, the average effects,
the split sizes, the scores' recommended arms and the parameters. Every value is plain
JSON (``NaN`` becomes ``null``; an arm without a model is ``"chosen": {"<arm>": null}``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from workbench.tracking import safe_key
from workbench.uplift.evaluate import RANDOM, at_k_column
from workbench.uplift.params import BASELINE
from workbench.uplift.scoring import BEST_ARM
from workbench.uplift.source import UpliftInputs
from workbench.uplift.workflow import UpliftResult

__all__ = ["QINI_NORMALISATION", "uplift_summary"]

#: How the Qini coefficient in the summary is normalised, in words.
QINI_NORMALISATION = (
    "scikit-uplift's qini_auc_score (negative_effect=True): area between the model's Qini "
    "curve and the random line, divided by the same area of the perfect ranking (treated "
    "converters first, control converters last); perfect = 1, random = 0 in expectation, "
    "negative = worse than random"
)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def uplift_summary(
    result: UpliftResult,
    *,
    experiment: str = "",
    scores: pd.DataFrame | None = None,
    inputs: UpliftInputs | None = None,
) -> dict[str, Any]:
    """The summary dict of a fitted :class:`~workbench.uplift.workflow.UpliftResult`.

    Parameters
    ----------
    result : UpliftResult
    experiment : str, default ""
        The experiment's id (the table name when empty).
    scores : pandas.DataFrame, optional
        :meth:`UpliftResult.score` output; adds the count of customers per recommended
        arm (``"none"`` for no arm) and the persuadable audience (best arm's expected
        uplift at least ``params.persuadable_uplift``) in total and per arm.
    inputs : UpliftInputs, optional
        Where the experiment came from: adds ``input`` (route, source, the date the
        features were built as of).

    Returns
    -------
    dict
    """
    data, params = result.data, result.params
    metric_columns = ["qini", "qini_low", "qini_high", "qini_gate", "auuc"]
    metric_columns += [at_k_column(k) for k in params.top_fractions]
    models: dict[str, dict[str, Any]] = {}
    for row in result.metrics.itertuples(index=False):
        if row.model == RANDOM:
            continue
        entry = {c: _plain(getattr(row, c)) for c in metric_columns}
        entry.update(beats_random=bool(row.beats_random), beats_baseline=bool(row.beats_baseline))
        models.setdefault(row.model, {})[row.arm] = entry
    effects = {
        r.arm: {k: _plain(getattr(r, k)) for k in ("n_treated", "n_control", "mean_treated",
                                                    "mean_control", "effect", "ci_low", "ci_high")}
        for r in result.effects.itertuples(index=False)
    }  # fmt: skip
    out: dict[str, Any] = {
        "experiment": experiment or data.table,
        "control": data.control,
        "arms": list(data.arms),
        "outcome": data.outcome_column,
        "outcome_kind": data.outcome_kind,
        "treatment_column": data.treatment_column,
        "rows": {
            "total": len(data),
            "train": len(result.train_rows),
            "holdout": len(result.holdout_rows),
            "per_arm": {str(k): int(v) for k, v in data.treatment.value_counts().items()},
        },
        "features": {
            "numeric": data.columns.numeric,
            "categorical": data.columns.categorical,
            "left_out": dict(data.columns.dropped),
        },  # fmt: skip
        "baseline": BASELINE,
        "models": models,
        "chosen": dict(result.chosen),
        "decision": dict(result.decisions),
        "average_effect": effects,
        "qini_normalisation": QINI_NORMALISATION,
        "uplift_at_k_strategy": params.uplift_at_k_strategy,
        "notes": list(data.notes),
        "params": params.as_dict(),
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
    }
    if inputs is not None:
        when = inputs.features_as_of
        out["experiment"] = experiment or inputs.experiment
        out["input"] = {"route": inputs.route, "source": inputs.source,
                        "features_as_of": None if when is None else str(when.date())}  # fmt: skip
    if scores is not None:
        out["scores"] = _score_counts(scores, params.min_uplift, params.persuadable_uplift)
    out["metrics"] = _metrics(out)
    return out


def _score_counts(scores: pd.DataFrame, min_uplift: float, threshold: float) -> dict[str, Any]:
    counts = scores[BEST_ARM].fillna("none").value_counts()
    arms = [c for c in scores.columns if str(c).startswith("uplift_")]
    best = scores[arms].max(axis=1)
    persuadable = scores[BEST_ARM].notna() & (best >= threshold)
    per_arm = scores.loc[persuadable, BEST_ARM].value_counts()
    return {
        "customers": len(scores),
        "best_arm": {str(k): int(v) for k, v in counts.items()},
        "min_uplift": min_uplift,
        "persuadable_uplift": threshold,
        "persuadable": int(persuadable.sum()),
        "persuadable_per_arm": {str(k): int(v) for k, v in per_arm.items()},
    }


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The numbers MLflow logs: per arm the chosen model's and the best response model's
    holdout Qini, the average effect, and the persuadable audience."""
    out: dict[str, float] = {}
    models = summary["models"]
    for arm in summary["arms"]:
        chosen = summary["chosen"].get(arm)
        if chosen is not None:
            out[safe_key(f"{arm}.qini_chosen")] = models[chosen][arm]["qini"]
        response = [m[arm]["qini"] for n, m in models.items()
                    if n.startswith(BASELINE) and arm in m and m[arm]["qini"] is not None]  # fmt: skip
        if response:
            out[safe_key(f"{arm}.qini_response")] = max(response)
        effect = summary["average_effect"][arm]["effect"]
        if effect is not None:
            out[safe_key(f"{arm}.average_effect")] = effect
    scores = summary.get("scores")
    if scores:
        out["persuadable"] = float(scores["persuadable"])
    return out
