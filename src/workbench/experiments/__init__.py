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
    lift_figure,
    posterior_figure,
)
from workbench.experiments.inputs import load_experiment
from workbench.experiments.models import (
    Priors,
    Sampling,
    SegmentPosterior,
    VariantPosterior,
    beta_hdi,
    beta_posterior,
    fit_segments,
    fit_variants,
    sampling_diagnostics,
)
from workbench.experiments.params import AbTestParams
from workbench.experiments.report import (
    ab_summary,
    decision_banner,
    diagnostics_banner,
    interpretation,
    notes_markdown,
    observed_revenue_table,
    srm_banner,
)
from workbench.experiments.segments import (
    MISSING_SEGMENT,
    attach_segments,
    load_segment_labels,
    with_segments,
)
from workbench.experiments.tables import experiment_from_tables, list_experiments

__all__ = [
    "ACTIONS",
    "MISSING_SEGMENT",
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
    "cumulative_conversion_figure",
    "cuped",
    "cuped_figure",
    "decide",
    "decision_banner",
    "diagnostics_banner",
    "experiment_from_summary",
    "experiment_from_tables",
    "fit_segments",
    "fit_variants",
    "forest_figure",
    "hdi",
    "interpretation",
    "lift_figure",
    "list_experiments",
    "load_experiment",
    "load_segment_labels",
    "metric_table",
    "notes_markdown",
    "observed_revenue_table",
    "posterior_figure",
    "proportion_tests",
    "read_summary_csv",
    "sampling_diagnostics",
    "segment_effects",
    "srm_banner",
    "srm_check",
    "welch_tests",
    "with_segments",
]
