"""The stage's headline numbers as a JSON-able dict (``recommendations.json``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from workbench.recommend.evaluate import Evaluation
from workbench.recommend.metrics import METRICS

__all__ = ["recommendations_summary"]


def _number(value: Any) -> float | None:
    """A float for JSON, ``None`` for NaN or missing."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)


def recommendations_summary(
    evaluation: Evaluation,
    recommendations: pd.DataFrame,
    cold_customers: int | None = None,
) -> dict[str, Any]:
    """The summary of the stage: split, evaluated models, choice, output size.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`~workbench.recommend.evaluate.evaluate_models`.
    recommendations : pandas.DataFrame
        The final lists (:func:`~workbench.recommend.final.final_recommendations`).
    cold_customers : int, optional
        Customers who got the popularity fallback (default: what
        ``final_recommendations`` recorded in ``recommendations.attrs``).

    Returns
    -------
    dict
        ``as_of, test_days, validation_days, k, top_k, customers, products,
        evaluated_customers, validation_customers, exclude_purchased, weighting,
        view_weight, models, chosen, chosen_by, lift_over_popularity`` (+ its interval)
        and ``cold_customers``. ``models`` maps each model to its test-window
        ``precision_at_k, recall_at_k, ndcg_at_k, map_at_k`` (each with ``_low`` and
        ``_high`` bootstrap bounds), ``coverage``, ``repurchase_share``,
        ``validation_ndcg_at_k`` and ``hyperparameters``. ``lift_over_popularity`` is
        the chosen model's NDCG@K divided by popularity's on the same customers.
        Missing values are ``None``; the dict passes ``json.dumps(..., allow_nan=False)``.
    """
    params = evaluation.params
    if cold_customers is None:
        cold_customers = recommendations.attrs.get("cold_customers")
    models: dict[str, dict[str, Any]] = {}
    for name, row in evaluation.table.iterrows():
        entry: dict[str, Any] = {}
        for metric in METRICS:
            for suffix in ("", "_low", "_high"):
                entry[metric + suffix] = _number(row.get(metric + suffix))
        for extra in ("coverage", "repurchase_share", "validation_ndcg_at_k"):
            entry[extra] = _number(row.get(extra))
        entry["hyperparameters"] = json.loads(row.get("hyperparameters") or "{}")
        models[str(name)] = entry
    lift = evaluation.lift
    summary = {
        **evaluation.split.as_dict(),
        "k": params.k,
        "top_k": params.top_k,
        "customers": int(recommendations["customer_id"].nunique()),
        "cold_customers": cold_customers,
        "products": int(evaluation.n_products),
        "evaluated_customers": int(evaluation.test_customers),
        "validation_customers": int(evaluation.validation_customers),
        "exclude_purchased": params.exclude_purchased,
        "weighting": params.weighting,
        "view_weight": params.view_weight,
        "models": models,
        "chosen": evaluation.chosen,
        "chosen_by": f"mean NDCG@{params.k} on the validation window",
        "lift_over_popularity": _number(lift.get("ratio")),
        "lift_over_popularity_low": _number(lift.get("ratio_low")),
        "lift_over_popularity_high": _number(lift.get("ratio_high")),
    }
    json.dumps(summary, allow_nan=False)  # fail here, not in the writer, if a NaN slipped in
    return summary
