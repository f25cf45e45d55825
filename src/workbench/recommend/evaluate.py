"""Every model on the same time split: tuned on the validation window, judged on the test.

1. Fit each model family on the data before the validation window for every point of
   its grid (:data:`DEFAULT_GRIDS`) and keep the hyperparameters with the best mean
   NDCG@K on the validation customers. The blend mixes the best buy-again with the best
   collaborative model (item-kNN, ALS or BPR, by validation NDCG) and tunes its weight.
2. The **chosen** model is the family with the best validation NDCG@K — the test window
   never chooses anything.
3. Refit every family with its hyperparameters on everything before the test window and
   judge it on the test customers (both steps on a seeded sample of at most
   ``max_evaluation_customers`` customers, so the cost stops growing with the base): per-customer metrics, bootstrap intervals (the same
   resampled customers for every model), coverage, re-purchase share, and the chosen
   model's NDCG@K against popularity's (paired bootstrap).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.recommend.collaborative import ALS, BPR, ItemKNN
from workbench.recommend.interactions import Interactions, build_interactions
from workbench.recommend.metrics import (
    METRICS,
    catalogue_coverage,
    comparison_table,
    metrics_from_arrays,
    paired_bootstrap,
    repurchase_share,
)
from workbench.recommend.models import (
    Blend,
    BuyAgain,
    CategoryPopularity,
    Popularity,
    Recommender,
)
from workbench.recommend.params import RecommendParams
from workbench.recommend.split import (
    EvaluationSet,
    TimeSplit,
    evaluation_set,
    subsample_customers,
    time_split,
)

__all__ = [
    "MODELS",
    "COLLABORATIVE",
    "DEFAULT_GRIDS",
    "Evaluation",
    "make_model",
    "evaluate_model",
    "tune_models",
    "evaluate_models",
]

log = logging.getLogger(__name__)

#: Model families, in report order, and their classes.
MODELS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "popularity_in_category": CategoryPopularity,
    "buy_again": BuyAgain,
    "item_knn": ItemKNN,
    "als": ALS,
    "bpr": BPR,
    "blend": Blend,
}
#: Families the blend may take as its collaborative part.
COLLABORATIVE = ("item_knn", "als", "bpr")


def _grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


#: Hyperparameters searched on the validation window (the blend's ``weight`` grid mixes
#: the best buy-again and the best collaborative model).
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": _grid(recent_days=[None, 30, 90, 365]),
    "popularity_in_category": _grid(recent_days=[None, 30, 90, 365]),
    "buy_again": _grid(half_life_days=[30, 90, 180, 365, None], frequency_power=[0.5, 1.0]),
    "item_knn": _grid(similarity=["cosine", "bm25"], neighbours=[20, 50, 100]),
    "als": _grid(factors=[4, 16, 64], regularization=[1.0], alpha=[0.3, 1.0], bm25=[True]),
    "bpr": _grid(factors=[32], learning_rate=[0.003, 0.01], regularization=[0.01]),
    "blend": _grid(weight=[0.1, 0.2, 0.35, 0.5, 0.7]),
}


def make_model(
    name: str,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    n_threads: int = 1,
    random_state: int = 7,
    best: Mapping[str, Mapping[str, Any]] | None = None,
) -> Recommender:
    """An unfitted model of family ``name`` with ``hyperparameters``.

    ``n_threads`` and ``random_state`` go to the models that take them (BPR always gets
    one thread: its parallel SGD is not repeatable). For ``blend``,
    ``hyperparameters`` holds ``weight`` and ``collaborative`` (a family name); its parts
    use the hyperparameters in ``best`` (family -> hyperparameters).

    Examples
    --------
    >>> make_model("buy_again", {"half_life_days": 30}).half_life_days
    30
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the models are: {', '.join(MODELS)}")
    values = dict(hyperparameters or {})
    if name == "blend":
        best = best or {}
        cf = values.pop("collaborative", "als")
        if cf not in COLLABORATIVE:
            raise ValueError(
                f"blend: collaborative must be one of {', '.join(COLLABORATIVE)}, got {cf!r}"
            )
        return Blend(
            buy_again=make_model("buy_again", best.get("buy_again")),
            collaborative=make_model(
                cf, best.get(cf), n_threads=n_threads, random_state=random_state
            ),
            **values,
        )
    cls = MODELS[name]
    accepted = cls._get_param_names()
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name}: unknown hyperparameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted)}"
        )
    # BPR's parallel SGD is not repeatable: one thread, whatever the others get
    threads = 1 if name == "bpr" else n_threads
    for key, value in (("n_threads", threads), ("random_state", random_state)):
        if key in accepted:
            values.setdefault(key, value)
    return cls(**values)


def evaluate_model(
    model: Recommender, data: EvaluationSet, k: int, exclude_purchased: bool, batch_size: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A fitted model judged on ``data``: per-customer metrics and list measures.

    Returns
    -------
    per_customer : pandas.DataFrame
        ``customer_id, n_relevant, hits`` and :data:`METRICS`.
    measures : dict
        ``coverage`` (share of the catalogue shown to someone) and ``repurchase_share``.
    """
    items, _ = model.recommend(data.rows, k=k, exclude_purchased=exclude_purchased,
                               batch_size=batch_size)  # fmt: skip
    per_customer = metrics_from_arrays(items, data.relevant, k)
    per_customer.insert(0, "customer_id", data.customer_ids.to_numpy())
    measures = {
        "coverage": catalogue_coverage(items, data.train.n_items),
        "repurchase_share": repurchase_share(items, data.train.purchases[data.rows]),
    }
    return per_customer, measures


def _params_text(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, default=str)


def tune_models(
    data: EvaluationSet,
    params: RecommendParams,
    grids: Mapping[str, list[dict[str, Any]]] | None = None,
    models: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Search every family's grid on the validation window.

    Returns
    -------
    results : pandas.DataFrame
        One row per (model, hyperparameters): ``model, hyperparameters`` (JSON text),
        mean :data:`METRICS`, ``coverage, repurchase_share, fit_s``.
    best : dict
        Family -> its best hyperparameters (by mean NDCG@K; the first grid point wins
        ties). The blend's include ``collaborative``.
    """
    grids = {**DEFAULT_GRIDS, **(grids or {})}
    names = list(models or MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(unknown)}; the models are: {', '.join(MODELS)}"
        )
    rows: list[dict[str, Any]] = []
    best: dict[str, dict[str, Any]] = {}
    score: dict[str, float] = {}
    for name in [n for n in names if n != "blend"] + (["blend"] if "blend" in names else []):
        grid = grids.get(name) or [{}]
        if name == "blend":
            candidates = [c for c in COLLABORATIVE if c in score]
            if "buy_again" not in best or not candidates:
                log.warning("blend skipped: it needs buy_again and a collaborative model")
                continue
            cf = max(candidates, key=lambda c: score[c])  # first listed wins ties
            grid = [{**point, "collaborative": cf} for point in grid]
        for point in grid:
            model = make_model(name, point, n_threads=params.n_threads,
                               random_state=params.random_state, best=best)  # fmt: skip
            started = time.perf_counter()
            model.fit(data.train)
            fit_s = time.perf_counter() - started
            per_customer, measures = evaluate_model(
                model, data, params.k, params.exclude_purchased, params.batch_size
            )
            means = per_customer[list(METRICS)].mean()
            rows.append({"model": name, "hyperparameters": _params_text(point), **means,
                         **measures, "fit_s": fit_s})  # fmt: skip
            if name not in score or means["ndcg_at_k"] > score[name]:
                score[name], best[name] = float(means["ndcg_at_k"]), dict(point)
        log.info("validation: %s best %s (NDCG@%s %.4f)", name, best[name], params.k, score[name])
    return pd.DataFrame(rows), best


@dataclass
class Evaluation:
    """Everything the evaluation found.

    Attributes
    ----------
    split : TimeSplit
    params : RecommendParams
    validation : pandas.DataFrame
        Every grid point's validation metrics (:func:`tune_models`).
    best : dict
        Family -> chosen hyperparameters.
    chosen : str
        The family with the best validation NDCG@K.
    table : pandas.DataFrame
        Test-window comparison, indexed by model: ``customers``, each metric's mean
        with ``_low``/``_high`` bootstrap bounds, ``coverage``, ``repurchase_share``,
        ``validation_ndcg_at_k``, ``hyperparameters``.
    per_customer : pandas.DataFrame
        ``model, customer_id, n_relevant, hits`` and metrics on the test window.
    lift : dict
        Chosen model's NDCG@K against popularity's (:func:`paired_bootstrap`), or
        empty when popularity was not evaluated.
    validation_customers, test_customers, n_products : int
    """

    split: TimeSplit
    params: RecommendParams
    validation: pd.DataFrame
    best: dict[str, dict[str, Any]]
    chosen: str
    table: pd.DataFrame
    per_customer: pd.DataFrame
    lift: dict[str, float] = field(default_factory=dict)
    validation_customers: int = 0
    test_customers: int = 0
    n_products: int = 0

    def model(self, name: str | None = None) -> Recommender:
        """An unfitted model of ``name`` (default: the chosen one) with its tuned
        hyperparameters — what the final recommendations refit on all data."""
        name = name or self.chosen
        if name not in self.best:
            raise ValueError(f"model {name!r} was not evaluated; evaluated: {', '.join(self.best)}")
        return make_model(name, self.best[name], n_threads=self.params.n_threads,
                          random_state=self.params.random_state, best=self.best)  # fmt: skip


def evaluate_models(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
    params: RecommendParams | None = None,
    grids: Mapping[str, list[dict[str, Any]]] | None = None,
    models: Sequence[str] | None = None,
) -> Evaluation:
    """Tune on the validation window, choose, and compare every model on the test window.

    Parameters
    ----------
    orders, order_items : pandas.DataFrame
        Canonical tables (clean: the audit's output).
    as_of : pandas.Timestamp
        End of the test window (UTC); nothing at or after it is read.
    products, web_events : pandas.DataFrame, optional
        Catalogue and categories; product views (used when ``params.view_weight > 0``).
    params : RecommendParams, optional
    grids : dict, optional
        Family -> list of hyperparameter dicts, replacing :data:`DEFAULT_GRIDS` entries.
    models : sequence of str, optional
        Families to run (default: all of :data:`MODELS`).

    Returns
    -------
    Evaluation
    """
    params = params or RecommendParams()
    split = time_split(as_of, params.test_days, params.validation_days)

    def build(cutoff: pd.Timestamp) -> Interactions:
        return build_interactions(orders, order_items, cutoff, products=products,
                                  web_events=web_events, weighting=params.weighting,
                                  view_weight=params.view_weight)  # fmt: skip

    val_train = build(split.validation_start)
    val_train = subsample_customers(val_train, params.max_evaluation_customers,
                                    params.random_state)  # fmt: skip
    val_set = evaluation_set(orders, order_items, val_train, split.validation_start,
                             split.test_start)  # fmt: skip
    _require_customers(val_set, "validation", split)
    validation, best = tune_models(val_set, params, grids, models)
    validation_customers = val_set.n_customers
    del val_train, val_set
    val_ndcg = validation.groupby("model", sort=False)["ndcg_at_k"].max()
    chosen = str(val_ndcg.idxmax())
    test_train = build(split.test_start)
    n_products = test_train.n_items
    test_train = subsample_customers(test_train, params.max_evaluation_customers,
                                     params.random_state)  # fmt: skip
    test_set = evaluation_set(orders, order_items, test_train, split.test_start, split.as_of)
    _require_customers(test_set, "test", split)
    frames, measures = [], {}
    for name in best:
        model = make_model(name, best[name], n_threads=params.n_threads,
                           random_state=params.random_state, best=best).fit(test_train)  # fmt: skip
        per_customer, measures[name] = evaluate_model(
            model, test_set, params.k, params.exclude_purchased, params.batch_size
        )
        frames.append(per_customer.assign(model=name))
    per_customer = pd.concat(frames, ignore_index=True)
    extra = pd.DataFrame.from_dict(measures, orient="index")
    extra["validation_ndcg_at_k"] = val_ndcg
    extra["hyperparameters"] = [_params_text(best[n]) for n in extra.index]
    table = comparison_table(per_customer, extra, params.n_bootstrap, params.ci_level,
                             params.random_state)  # fmt: skip
    lift: dict[str, float] = {}
    if "popularity" in best:
        ndcg = per_customer.pivot(index="customer_id", columns="model", values="ndcg_at_k")
        lift = paired_bootstrap(ndcg[chosen].to_numpy(), ndcg["popularity"].to_numpy(),
                                params.n_bootstrap, params.ci_level, params.random_state)  # fmt: skip
    log.info("chosen on validation: %s; test NDCG@%s %.4f", chosen, params.k,
             table.loc[chosen, "ndcg_at_k"])  # fmt: skip
    return Evaluation(
        split=split,
        params=params,
        validation=validation,
        best=best,
        chosen=chosen,
        table=table,
        per_customer=per_customer,
        lift=lift,
        validation_customers=validation_customers,
        test_customers=test_set.n_customers,
        n_products=n_products,
    )


def _require_customers(data: EvaluationSet, window: str, split: TimeSplit) -> None:
    if data.n_customers == 0:
        raise ValueError(
            f"recommendations: no customer bought both before and in the {window} window "
            f"[{data.start.date()}, {data.end.date()}); the history before "
            f"{split.as_of.date()} is too short for test_days={split.test_days} and "
            f"validation_days={split.validation_days} — shorten them or move as_of"
        )
