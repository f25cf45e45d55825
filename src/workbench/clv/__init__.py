"""Stage clv: customer lifetime value with BG/NBD, Pareto/NBD and Gamma–Gamma, checked on a holdout.

The flow (each step a module):

0. **Input** (:mod:`~workbench.clv.inputs`): the completed orders before ``as_of`` read on
   the engine (:func:`read_orders`), whether the stage applies (:func:`applicable`) and
   the input in numbers.
1. **Summary** (:mod:`~workbench.clv.summary`): completed orders before ``as_of``, same-day
   orders merged into one transaction, per customer ``frequency`` (repeat transactions),
   ``recency``, ``T`` (weeks or days) and ``monetary_value`` (mean repeat-transaction
   value); the calibration/holdout split at ``as_of - horizon_days``.
2. **Models** (:mod:`~workbench.clv.formulas`, :mod:`~workbench.clv.fit`): BG/NBD,
   Pareto/NBD and the modified BG/NBD for the purchase process, Gamma–Gamma for spend;
   closed-form maximum likelihood on sufficient statistics by default, pymc-marketing's
   MAP or NUTS as options.
3. **Predictions** (:mod:`~workbench.clv.predict`): P(alive), expected purchases over
   ``horizon_days``, expected order value, discounted CLV with margin, credible bounds
   with MCMC, CLV tiers.
4. **Validation** (:mod:`~workbench.clv.validate`): the holdout check against a naive
   baseline, conditional expectations, tracking series, model comparison and the rule that
   picks the model; the Gamma–Gamma independence check.
5. **Figures and summary** (:mod:`~workbench.clv.figures`, :mod:`~workbench.clv.report`):
   :func:`run_clv` is the stage in one call, :func:`clv_summary` its ``clv.json`` and
   :func:`headline` the report card's sentence and numbers.
6. **Readout** (:mod:`~workbench.clv.readout`): the report's tables and sentences.
7. **Connections** (:mod:`~workbench.clv.connect`): CLV × churn probability by risk band
   (:func:`value_at_risk`) and one customer's numbers (:func:`customer_view`), for the
   churn report and the customer 360 view.

Examples
--------
>>> from workbench import clv
>>> result = clv.run_clv(orders, as_of, clv.ClvParams())                  # doctest: +SKIP
>>> clv.headline(clv.clv_summary(result)).text()                          # doctest: +SKIP
>>> summary = clv.rfm_summary(orders, as_of)                              # doctest: +SKIP
>>> purchase = clv.fit_purchase_model(summary, "bg_nbd")                  # doctest: +SKIP
>>> spend = clv.fit_gamma_gamma(summary)                                  # doctest: +SKIP
>>> clv.predict_customers(summary, purchase, spend).head()                # doctest: +SKIP
"""

from workbench.clv.connect import CUSTOMER_FIELDS, customer_view, value_at_risk
from workbench.clv.figures import (
    clv_distribution_figure,
    conditional_expectations_figure,
    expected_purchases_matrix_figure,
    gamma_gamma_check_figure,
    p_alive_matrix_figure,
    tracking_figure,
)
from workbench.clv.fit import (
    FittedModel,
    default_priors,
    describe_priors,
    fit_gamma_gamma,
    fit_purchase_model,
    spend_customers,
    sufficient_statistics,
)
from workbench.clv.formulas import (
    PARAM_NAMES,
    PURCHASE_MODELS,
    expected_order_value,
    expected_purchases,
    expected_purchases_if_alive,
    expected_purchases_new,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_gradient,
    p_alive,
    purchase_log_likelihood,
    purchase_log_likelihood_gradient,
)
from workbench.clv.inputs import CLV_TABLES, applicable, input_overview, read_orders
from workbench.clv.params import METHODS, MODEL_LABELS, TIERS, TIME_UNITS, ClvParams
from workbench.clv.predict import (
    PREDICTION_COLUMNS,
    clv_tiers,
    discount_grid,
    history_matrix,
    naive_customers,
    naive_order_values,
    new_customer_value,
    predict_customers,
    tier_table,
)
from workbench.clv.readout import (
    KINDS,
    choice_markdown,
    comparison_table,
    holdout_markdown,
    parameter_table,
    spend_markdown,
    tiers_table,
    top_customers,
)
from workbench.clv.report import ClvResult, clv_summary, headline, run_clv
from workbench.clv.summary import (
    ORDER_COLUMNS,
    SUMMARY_COLUMNS,
    CalibrationHoldout,
    calibration_holdout,
    order_values,
    rfm_summary,
    transactions,
)
from workbench.clv.synthetic import draw_summary
from workbench.clv.validate import (
    choose_model,
    compare_models,
    conditional_expectations,
    gamma_gamma_check,
    holdout_metrics,
    holdout_possible,
    holdout_predictions,
    naive_predictions,
    tracking_series,
)

__all__ = [
    "CLV_TABLES",
    "CUSTOMER_FIELDS",
    "KINDS",
    "METHODS",
    "MODEL_LABELS",
    "ORDER_COLUMNS",
    "PARAM_NAMES",
    "PREDICTION_COLUMNS",
    "PURCHASE_MODELS",
    "SUMMARY_COLUMNS",
    "TIERS",
    "TIME_UNITS",
    "CalibrationHoldout",
    "ClvParams",
    "ClvResult",
    "FittedModel",
    "applicable",
    "calibration_holdout",
    "choice_markdown",
    "choose_model",
    "clv_distribution_figure",
    "clv_summary",
    "clv_tiers",
    "compare_models",
    "comparison_table",
    "conditional_expectations",
    "conditional_expectations_figure",
    "customer_view",
    "default_priors",
    "describe_priors",
    "discount_grid",
    "draw_summary",
    "expected_order_value",
    "expected_purchases",
    "expected_purchases_if_alive",
    "expected_purchases_matrix_figure",
    "expected_purchases_new",
    "fit_gamma_gamma",
    "fit_purchase_model",
    "gamma_gamma_check",
    "gamma_gamma_check_figure",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_log_likelihood_gradient",
    "headline",
    "history_matrix",
    "holdout_markdown",
    "holdout_metrics",
    "holdout_possible",
    "holdout_predictions",
    "input_overview",
    "naive_customers",
    "naive_order_values",
    "naive_predictions",
    "new_customer_value",
    "order_values",
    "p_alive",
    "p_alive_matrix_figure",
    "parameter_table",
    "predict_customers",
    "purchase_log_likelihood",
    "purchase_log_likelihood_gradient",
    "read_orders",
    "rfm_summary",
    "run_clv",
    "spend_customers",
    "spend_markdown",
    "sufficient_statistics",
    "tier_table",
    "tiers_table",
    "top_customers",
    "tracking_figure",
    "tracking_series",
    "transactions",
    "value_at_risk",
]
