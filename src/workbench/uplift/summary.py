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

from workbench.uplift.evaluate import RANDOM, at_k_column
from workbench.uplift.params import BASELINE
from workbench.uplift.scoring import BEST_ARM
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
) -> dict[str, Any]:
    """The summary dict of a fitted :class:`~workbench.uplift.workflow.UpliftResult`.

    Parameters
    ----------
    result : UpliftResult
    experiment : str, default ""
        The experiment's id (the table name when empty).
    scores : pandas.DataFrame, optional
        :meth:`UpliftResult.score` output; adds the count of customers per recommended
        arm (``"none"`` for no arm).

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
    if scores is not None:
        counts = scores[BEST_ARM].fillna("none").value_counts()
        out["scores"] = {
            "customers": len(scores),
            "best_arm": {str(k): int(v) for k, v in counts.items()},
            "min_uplift": params.min_uplift,
        }
    return out
