"""Stage recommendations: products per customer from purchase history, judged on a time
split against popularity and buy-again.

The flow (each step a module):

1. **Interactions** (:mod:`~workbench.recommend.interactions`): completed order lines
   strictly before a cut-off, one per order holding a product (or units), plus product
   views as a weaker signal, as a sparse customers × products matrix with id maps.
2. **Split** (:mod:`~workbench.recommend.split`): train before ``as_of - test_days``,
   test on purchases in ``[as_of - test_days, as_of)`` of customers active in both; a
   validation window before it chooses hyperparameters and the model.
3. **Models** (:mod:`~workbench.recommend.models`,
   :mod:`~workbench.recommend.collaborative`): popularity (overall and in the customer's
   top category), buy-again, item-kNN (cosine, BM25), ALS and BPR from ``implicit``, and
   a blend of buy-again with the best collaborative model — one interface (``fit``,
   ``score``, ``recommend``) with batched ranking, exclusion and a stated tie rule
   (:mod:`~workbench.recommend.ranking`).
4. **Evaluation** (:mod:`~workbench.recommend.metrics`, :mod:`~workbench.recommend.evaluate`):
   Precision/Recall/NDCG/MAP@K per customer with bootstrap intervals, coverage, share of
   re-purchases, every model side by side; lift of the chosen model over popularity.
5. **Final lists** (:mod:`~workbench.recommend.final`): the chosen model refit on all data
   before ``as_of`` for every customer with an order before it, with a reason per product;
   :mod:`~workbench.recommend.summary` builds ``recommendations.json``.
6. **Stage** (:mod:`~workbench.recommend.inputs`, :mod:`~workbench.recommend.report`,
   :mod:`~workbench.recommend.truth`, :mod:`~workbench.recommend.connect`): what the
   notebook reads and whether it applies, the report's tables, sentences and headline,
   the check against the demo's planted tastes, and one customer's list for the
   customer 360 view.

:func:`run_recommendations` strings the steps together (with :func:`exclusion_effect`,
the evidence for ``exclude_purchased``); :func:`unevaluated_recommendations` gives lists
when the history is too short for the time split.

Examples
--------
>>> from workbench import recommend
>>> params = recommend.RecommendParams(test_days=30)
>>> result = recommend.run_recommendations(orders, order_items, as_of,
...                                        products=products, params=params)  # doctest: +SKIP
>>> result.evaluation.table.loc[:, ["ndcg_at_k", "ndcg_at_k_low", "ndcg_at_k_high"]]  # doctest: +SKIP
"""

from workbench.recommend.collaborative import ALS, BPR, SIMILARITIES, ItemKNN, bm25_items
from workbench.recommend.connect import CUSTOMER_COLUMNS, customer_recommendations
from workbench.recommend.evaluate import (
    COLLABORATIVE,
    DEFAULT_GRIDS,
    MODELS,
    Evaluation,
    evaluate_model,
    evaluate_models,
    make_model,
    tune_models,
)
from workbench.recommend.final import (
    FINAL_COLUMNS,
    basket_cooccurrence,
    explain,
    final_recommendations,
)
from workbench.recommend.inputs import (
    RECOMMEND_TABLES,
    RecommendInputs,
    applicable,
    evaluation_problem,
    input_overview,
    read_inputs,
)
from workbench.recommend.interactions import (
    Interactions,
    Lines,
    build_interactions,
    completed_lines,
    interactions_from_lines,
    line_codes,
    purchases_in_window,
    require_columns,
)
from workbench.recommend.metrics import (
    METRICS,
    bootstrap_ci,
    catalogue_coverage,
    comparison_table,
    metrics_from_arrays,
    paired_bootstrap,
    ranking_metrics,
    repurchase_share,
)
from workbench.recommend.models import (
    Blend,
    BuyAgain,
    CategoryPopularity,
    Popularity,
    Recommender,
    buyers_per_item,
    top_categories,
)
from workbench.recommend.params import RECOMMENDATIONS_FILE, WEIGHTINGS, RecommendParams
from workbench.recommend.ranking import top_k
from workbench.recommend.report import (
    KINDS,
    MODEL_LABELS,
    choice_markdown,
    example_lists,
    exclusion_markdown,
    headline,
    model_figure,
    model_table,
    reason_table,
)
from workbench.recommend.split import (
    EvaluationSet,
    TimeSplit,
    evaluation_set,
    subsample_customers,
    time_split,
)
from workbench.recommend.summary import recommendations_summary
from workbench.recommend.truth import AFFINITY_FILE, affinity_recovery, read_planted_affinity
from workbench.recommend.workflow import (
    RecommendationsResult,
    exclusion_effect,
    run_recommendations,
    unevaluated_recommendations,
)

__all__ = [
    "AFFINITY_FILE",
    "ALS",
    "BPR",
    "COLLABORATIVE",
    "CUSTOMER_COLUMNS",
    "DEFAULT_GRIDS",
    "FINAL_COLUMNS",
    "KINDS",
    "METRICS",
    "MODELS",
    "MODEL_LABELS",
    "RECOMMENDATIONS_FILE",
    "RECOMMEND_TABLES",
    "SIMILARITIES",
    "WEIGHTINGS",
    "Blend",
    "BuyAgain",
    "CategoryPopularity",
    "Evaluation",
    "EvaluationSet",
    "Interactions",
    "ItemKNN",
    "Lines",
    "Popularity",
    "RecommendInputs",
    "RecommendParams",
    "RecommendationsResult",
    "Recommender",
    "TimeSplit",
    "affinity_recovery",
    "applicable",
    "basket_cooccurrence",
    "bm25_items",
    "bootstrap_ci",
    "build_interactions",
    "buyers_per_item",
    "catalogue_coverage",
    "choice_markdown",
    "comparison_table",
    "completed_lines",
    "customer_recommendations",
    "evaluate_model",
    "evaluate_models",
    "evaluation_problem",
    "evaluation_set",
    "example_lists",
    "exclusion_effect",
    "exclusion_markdown",
    "explain",
    "final_recommendations",
    "headline",
    "input_overview",
    "interactions_from_lines",
    "line_codes",
    "make_model",
    "model_figure",
    "model_table",
    "metrics_from_arrays",
    "paired_bootstrap",
    "purchases_in_window",
    "ranking_metrics",
    "read_inputs",
    "read_planted_affinity",
    "reason_table",
    "recommendations_summary",
    "repurchase_share",
    "require_columns",
    "run_recommendations",
    "subsample_customers",
    "time_split",
    "top_categories",
    "top_k",
    "tune_models",
    "unevaluated_recommendations",
]
