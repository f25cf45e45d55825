"""The stage in one call: evaluate on the time split, refit the chosen model, summarise."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.recommend.evaluate import Evaluation, evaluate_model, evaluate_models
from workbench.recommend.final import final_recommendations
from workbench.recommend.interactions import build_interactions
from workbench.recommend.models import BuyAgain
from workbench.recommend.params import RecommendParams
from workbench.recommend.split import evaluation_set, subsample_customers
from workbench.recommend.summary import recommendations_summary

__all__ = [
    "RecommendationsResult",
    "run_recommendations",
    "exclusion_effect",
    "unevaluated_recommendations",
]

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
    exclusion : pandas.DataFrame or None
        :func:`exclusion_effect` (None when not checked).
    """

    evaluation: Evaluation
    recommendations: pd.DataFrame
    summary: dict[str, Any]
    exclusion: pd.DataFrame | None = None


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
    check_exclusion: bool = True,
) -> RecommendationsResult:
    """Evaluate every model, refit the chosen one on all data before ``as_of`` and
    recommend ``params.top_k`` products to every customer with an order before it.

    Parameters are those of :func:`~workbench.recommend.evaluate.evaluate_models`; the
    final lists use the same signals (weighting, views) and exclusion rule.
    ``check_exclusion`` also judges the chosen model and popularity with the other
    ``exclude_purchased`` setting (:func:`exclusion_effect`; in the summary as
    ``exclusion_check``).

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
    exclusion = None
    if check_exclusion:
        exclusion = exclusion_effect(orders, order_items, evaluation, products=products,
                                     web_events=web_events)  # fmt: skip
        summary["exclusion_check"] = {
            "repeat_share_of_test_purchases": _rounded(exclusion.attrs["repeat_share"]),
            **{
                str(row["model"]): {
                    "ndcg_repeats_allowed": _rounded(row["NDCG, repeats allowed"]),
                    "ndcg_bought_excluded": _rounded(row["NDCG, bought products excluded"]),
                }
                for _, row in exclusion.iterrows()
            },
        }
    return RecommendationsResult(evaluation, recommendations, summary, exclusion)


def _rounded(value: Any) -> float | None:
    value = float(value)
    return None if value != value else round(value, 6)


def exclusion_effect(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    evaluation: Evaluation,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The chosen model and popularity on the test window with already-bought products
    allowed and excluded — the evidence behind ``exclude_purchased``.

    Each model is fitted once on everything before the test window (the evaluation's
    customer sample) and ranks twice.

    Returns
    -------
    pandas.DataFrame
        ``model, NDCG, repeats allowed, NDCG, bought products excluded`` (mean NDCG@K
        over the test customers), the chosen model first. ``attrs["repeat_share"]``: the
        share of the test window's (customer, product) purchases the customer had bought
        before the window.
    """
    params, split = evaluation.params, evaluation.split
    train = build_interactions(orders, order_items, split.test_start, products=products,
                               web_events=web_events, weighting=params.weighting,
                               view_weight=params.view_weight)  # fmt: skip
    train = subsample_customers(train, params.max_evaluation_customers, params.random_state)
    data = evaluation_set(orders, order_items, train, split.test_start, split.as_of)
    names = [evaluation.chosen] + (["popularity"] if "popularity" in evaluation.best else [])
    rows = []
    for name in dict.fromkeys(names):
        model = evaluation.model(name).fit(train)
        entry: dict[str, Any] = {"model": name}
        for exclude, column in ((False, "NDCG, repeats allowed"),
                                (True, "NDCG, bought products excluded")):  # fmt: skip
            per_customer, _ = evaluate_model(model, data, params.k, exclude, params.batch_size)
            entry[column] = float(per_customer["ndcg_at_k"].mean())
        rows.append(entry)
    out = pd.DataFrame(rows)
    bought = train.purchases[data.rows]
    relevant = data.relevant[:, : train.n_items]
    repeat = relevant.multiply(bought > 0).nnz
    out.attrs["repeat_share"] = repeat / data.relevant.nnz if data.relevant.nnz else float("nan")
    log.info("exclusion check: %s", out.to_dict("records"))
    return out


def unevaluated_recommendations(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    as_of: pd.Timestamp,
    reason: str,
    *,
    products: pd.DataFrame | None = None,
    params: RecommendParams | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Lists when the history is too short for the time split: buy-again with its default
    hyperparameters (each customer's own products by frequency and recency, the rest by
    popularity) — no model is chosen or judged, and the summary says why.

    Returns
    -------
    recommendations : pandas.DataFrame
        As :func:`~workbench.recommend.final.final_recommendations`.
    summary : dict
        The keys of :func:`~workbench.recommend.summary.recommendations_summary` with
        ``models`` empty, ``chosen = "buy_again"``, ``chosen_by`` the reason and
        ``lift_over_popularity`` None.
    """
    params = params or RecommendParams()
    recommendations = final_recommendations(
        orders, order_items, as_of, BuyAgain(), products=products, top_k=params.top_k,
        exclude_purchased=params.exclude_purchased, weighting=params.weighting,
        batch_size=params.batch_size,
    )  # fmt: skip
    products_known = recommendations.attrs.get("products")
    summary: dict[str, Any] = {
        "as_of": str(as_of.date()),
        "test_days": params.test_days,
        "validation_days": params.validation_days,
        "k": params.k,
        "top_k": params.top_k,
        "customers": int(recommendations["customer_id"].nunique()),
        "cold_customers": recommendations.attrs.get("cold_customers"),
        "products": products_known,
        "evaluated_customers": 0,
        "validation_customers": 0,
        "exclude_purchased": params.exclude_purchased,
        "weighting": params.weighting,
        "view_weight": params.view_weight,
        "models": {},
        "chosen": "buy_again",
        "chosen_by": f"not evaluated: {reason}; buy-again with default settings",
        "lift_over_popularity": None,
    }
    return recommendations, summary
