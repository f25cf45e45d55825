"""The stage in one call: evaluate on the time split, refit the chosen model, summarise."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.recommend.evaluate import Evaluation, evaluate_models
from workbench.recommend.final import final_recommendations
from workbench.recommend.params import RecommendParams
from workbench.recommend.summary import recommendations_summary

__all__ = ["RecommendationsResult", "run_recommendations"]

log = logging.getLogger(__name__)


@dataclass
class RecommendationsResult:
    """What the stage produces.

    Attributes
    ----------
    evaluation : Evaluation
        Validation search, choice and test-window comparison.
    recommendations : pandas.DataFrame
        ``customer_id, rank, product_id, score, reason`` for every customer with an
        order before ``as_of``.
    summary : dict
        The content of ``recommendations.json``.
    """

    evaluation: Evaluation
    recommendations: pd.DataFrame
    summary: dict[str, Any]


def run_recommendations(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
    params: RecommendParams | None = None,
    grids: Mapping[str, list[dict[str, Any]]] | None = None,
    models: Sequence[str] | None = None,
) -> RecommendationsResult:
    """Evaluate every model, refit the chosen one on all data before ``as_of`` and
    recommend ``params.top_k`` products to every customer with an order before it.

    Parameters are those of :func:`~workbench.recommend.evaluate.evaluate_models`; the
    final lists use the same signals (weighting, views) and exclusion rule.

    Examples
    --------
    >>> from workbench.simulate import simulate                       # doctest: +SKIP
    >>> tables = simulate(customers=5_000, seed=7).tables              # doctest: +SKIP
    >>> result = run_recommendations(tables["orders"], tables["order_items"],
    ...     pd.Timestamp("2026-06-30", tz="UTC"), products=tables["products"])  # doctest: +SKIP
    >>> result.summary["chosen"]                                       # doctest: +SKIP
    'item_knn'
    """
    params = params or RecommendParams()
    evaluation = evaluate_models(
        orders,
        order_items,
        as_of,
        products=products,
        web_events=web_events,
        params=params,
        grids=grids,
        models=models,
    )
    recommendations = final_recommendations(
        orders,
        order_items,
        as_of,
        evaluation.model(),
        products=products,
        web_events=web_events,
        top_k=params.top_k,
        exclude_purchased=params.exclude_purchased,
        weighting=params.weighting,
        view_weight=params.view_weight,
        batch_size=params.batch_size,
    )
    summary = recommendations_summary(evaluation, recommendations)
    return RecommendationsResult(evaluation, recommendations, summary)
