"""Stage 05: Bayesian analysis of A/B tests (conversion and revenue per user) in PyMC.

A marketer ran a test and must decide: ship the variant, keep the control, or keep
testing — with the risk of each choice in probability and money. The flow:

1. **Inputs** (:func:`~workbench.experiments.inputs.load_experiment` picks the route):
   per-user outcomes from ``experiment_assignments`` and the completed orders in the
   window after assignment (:mod:`~workbench.experiments.tables`), or an aggregated
   ``variant, users, conversions[, revenue]`` export (:mod:`~workbench.experiments.export`),
   both an :class:`~workbench.experiments.data.ExperimentData`; optional segment labels
   from the catalog or a file for per-segment effects (:mod:`~workbench.experiments.segments`).
   The stage's parameters are :class:`~workbench.experiments.params.AbTestParams`.
2. **Checks** (:mod:`~workbench.experiments.checks`): sample ratio mismatch, the
   frequentist cross-check (two-proportion z, Welch t) and CUPED variance reduction.
3. **Models** (:mod:`~workbench.experiments.models`): Beta–Binomial conversion, a
   hurdle model of revenue per user, hierarchical per-segment effects; diagnostics.
4. **Decision** (:mod:`~workbench.experiments.decision`): probability to beat control
   and to be best, lift and its HDI, expected loss, ROPE, and the ship / keep control /
   keep testing rule.
5. **Report** (:mod:`~workbench.experiments.report`, :mod:`~workbench.experiments.figures`):
   banners, plain-word interpretation, figures and ``ab_test.json``.

Examples
--------
>>> import pandas as pd
>>> from workbench import experiments
>>> counts = pd.DataFrame({"variant": ["control", "b"], "users": [4000, 4000],
...                        "conversions": [400, 470]})
>>> data = experiments.experiment_from_summary(counts, experiment_id="subject_line")
>>> post = experiments.fit_variants(data, sampling=experiments.Sampling(draws=500, tune=500,
...                                 chains=2))                          # doctest: +SKIP
>>> table = experiments.metric_table(post.conversion, data.control)     # doctest: +SKIP
>>> experiments.decide(table, control=data.control).action              # doctest: +SKIP
'keep_testing'
"""

from workbench.experiments.checks import (
    CupedResult,
    cuped,
    proportion_tests,
    srm_check,
    welch_tests,
)
from workbench.experiments.data import ExperimentData, ExperimentInputError
from workbench.experiments.decision import (
    ACTIONS,
    Decision,
    decide,
    hdi,
    metric_table,
    segment_effects,
)
from workbench.experiments.export import experiment_from_summary, read_summary_csv
from workbench.experiments.figures import (
    cumulative_conversion_figure,
    cuped_figure,
    forest_figure,
    labels,
    lift_figure,
    posterior_figure,
)
from workbench.experiments.inputs import load_experiment
from workbench.experiments.models import (
    Priors,
    SegmentPosterior,
    VariantPosterior,
    beta_hdi,
    beta_posterior,
    conversion_draws,
    exact_diagnostics,
    fit_segments,
    fit_variants,
    order_value_model,
    order_value_stats,
)
from workbench.experiments.params import AbTestParams
from workbench.experiments.report import (
    ab_summary,
    counts_view,
    decision_banner,
    diagnostics_banner,
    headline,
    interpretation,
    metric_view,
    notes_markdown,
    observed_revenue_table,
    segment_view,
    srm_banner,
)
from workbench.experiments.sampler import (
    SAMPLERS,
    Sampling,
    nuts_sampler,
    sample,
    sampling_diagnostics,
)
from workbench.experiments.segments import (
    MISSING_SEGMENT,
    OTHER_SEGMENT,
    SEGMENTS_AS_OF,
    attach_segments,
    first_assignment_day,
    load_segment_labels,
    pre_assignment_labels,
    with_segments,
)
from workbench.experiments.tables import (
    EXPERIMENT_TABLES,
    experiment_from_source,
    experiment_from_tables,
    list_experiments,
    unanalysable_reason,
)

__all__ = [
    "ACTIONS",
    "EXPERIMENT_TABLES",
    "MISSING_SEGMENT",
    "OTHER_SEGMENT",
    "SAMPLERS",
    "SEGMENTS_AS_OF",
    "AbTestParams",
    "CupedResult",
    "Decision",
    "ExperimentData",
    "ExperimentInputError",
    "Priors",
    "Sampling",
    "SegmentPosterior",
    "VariantPosterior",
    "ab_summary",
    "attach_segments",
    "beta_hdi",
    "beta_posterior",
    "conversion_draws",
    "counts_view",
    "cumulative_conversion_figure",
    "cuped",
    "cuped_figure",
    "decide",
    "decision_banner",
    "diagnostics_banner",
    "exact_diagnostics",
    "experiment_from_source",
    "experiment_from_summary",
    "experiment_from_tables",
    "first_assignment_day",
    "fit_segments",
    "fit_variants",
    "forest_figure",
    "headline",
    "hdi",
    "interpretation",
    "labels",
    "lift_figure",
    "list_experiments",
    "load_experiment",
    "load_segment_labels",
    "metric_view",
    "metric_table",
    "notes_markdown",
    "nuts_sampler",
    "observed_revenue_table",
    "order_value_model",
    "order_value_stats",
    "posterior_figure",
    "pre_assignment_labels",
    "proportion_tests",
    "read_summary_csv",
    "sample",
    "sampling_diagnostics",
    "segment_effects",
    "segment_view",
    "srm_banner",
    "srm_check",
    "unanalysable_reason",
    "welch_tests",
    "with_segments",
]
