"""Recommendations: the interaction matrix, the evaluation on the time split and the final
lists for every customer, with the stage's defaults (:class:`RecommendParams`)."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import bench_config, stopwatch
from workbench import recommend
from workbench.loading import load_tables
from workbench.stage import parse_as_of

__all__ = ["recommendations", "interaction_matrix", "stage"]

_TABLES = ["orders", "order_items", "products"]


def recommendations(data_dir: Path, work_dir: Path) -> dict:
    """Load orders, lines and products; tune on the validation window and compare every
    model on the test window (on a sample of at most ``max_evaluation_customers``);
    refit the chosen model on all data and rank ``top_k`` products with reasons for every
    customer with an order. ``compute_s`` excludes loading."""
    params = recommend.RecommendParams()
    as_of = parse_as_of(bench_config().as_of)
    times: dict[str, float] = {}
    with stopwatch(times, "load_s"):
        tables = load_tables(data_dir, tables=_TABLES).tables
    started = time.perf_counter()
    with stopwatch(times, "evaluate_s"):
        evaluation = recommend.evaluate_models(
            tables["orders"], tables["order_items"], as_of, products=tables["products"],
            params=params,
        )  # fmt: skip
    with stopwatch(times, "final_s"):
        lists = recommend.final_recommendations(
            tables["orders"], tables["order_items"], as_of, evaluation.model(),
            products=tables["products"], top_k=params.top_k,
            exclude_purchased=params.exclude_purchased, batch_size=params.batch_size,
        )  # fmt: skip
    fit_s = evaluation.validation.groupby("model")["fit_s"].sum().round(2).to_dict()
    return {
        "rows": int(lists["customer_id"].nunique()),
        "rows_what": "customers with recommendations",
        "compute_s": round(time.perf_counter() - started, 3),
        **times,
        "validation_fit_s": fit_s,
        "chosen": evaluation.chosen,
        "test_ndcg_at_k": round(float(evaluation.table.loc[evaluation.chosen, "ndcg_at_k"]), 4),
        "lift_over_popularity": round(float(evaluation.lift.get("ratio", float("nan"))), 3),
        "evaluated_customers": evaluation.test_customers,
    }


def interaction_matrix(data_dir: Path, work_dir: Path) -> dict:
    """The customers × products matrices from every completed line before ``as_of``
    (``compute_s``: the build alone, without loading)."""
    as_of = parse_as_of(bench_config().as_of)
    tables = load_tables(data_dir, tables=_TABLES).tables
    started = time.perf_counter()
    data = recommend.build_interactions(
        tables["orders"], tables["order_items"], as_of, products=tables["products"]
    )
    return {
        "rows": int(data.purchases.nnz),
        "rows_what": "customer-product pairs",
        "compute_s": round(time.perf_counter() - started, 3),
        "customers": data.n_users,
        "products": data.n_items,
    }


def stage(data_dir: Path, work_dir: Path) -> dict:
    """What the recommendations notebook computes with its defaults: orders before
    ``as_of``, their lines and the products read on the engine
    (:func:`~workbench.recommend.read_inputs`), :func:`~workbench.recommend.run_recommendations`
    (validation search, test comparison with bootstrap intervals, the exclusion check,
    the chosen model refit for every customer with reasons, the summary), the report's
    reason table, and ``recommendations.parquet`` written to ``work_dir``. Figures and
    MLflow are left out; ``compute_s`` excludes reading."""
    params = recommend.RecommendParams()
    as_of = parse_as_of(bench_config().as_of)
    times: dict[str, float] = {}
    with stopwatch(times, "read_s"):
        inputs = recommend.read_inputs(data_dir, as_of)
    started = time.perf_counter()
    with stopwatch(times, "run_s"):
        result = recommend.run_recommendations(
            inputs.orders, inputs.order_items, as_of, products=inputs.products, params=params
        )
    with stopwatch(times, "write_s"):
        recommend.reason_table(result.recommendations)
        result.recommendations.to_parquet(work_dir / recommend.RECOMMENDATIONS_FILE)
    summary = result.summary
    return {
        "rows": int(summary["customers"]),
        "rows_what": "customers with recommendations",
        "compute_s": round(time.perf_counter() - started, 3),
        **times,
        "chosen": summary["chosen"],
        "test_ndcg_at_k": summary["models"][summary["chosen"]]["ndcg_at_k"],
        "lift_over_popularity": summary["lift_over_popularity"],
        "evaluated_customers": summary["evaluated_customers"],
    }
