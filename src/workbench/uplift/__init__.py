"""Stage uplift: who to target, learned from an experiment.

An A/B test says whether a campaign works on average; uplift models say for whom — the
customers it persuades, not those who would buy anyway or whom it puts off. The flow
(each step a module):

1. **Inputs** (:mod:`~workbench.uplift.source`, :mod:`~workbench.uplift.inputs`,
   :mod:`~workbench.uplift.pit`): a customer-level table (treatment column and control value, outcome 0/1 · yes/no ·
   true/false · a number, optional id, features), or an experiment from the canonical
   tables with the outcome in the window after assignment and features as of the first
   assignment date. Several treatment arms: every arm against control.
2. **Models** (:mod:`~workbench.uplift.models`, :mod:`~workbench.uplift.learners`): the
   response model (outcome among the treated) as the baseline, two-model (T-learner),
   class transformation (binary outcomes; propensity-corrected when the arms differ in
   size) and X-learner, each with XGBoost and a linear base learner (scikit-learn
   pipelines). Our own small code, not causalml — :mod:`~workbench.uplift.models` says why.
3. **Evaluation** (:mod:`~workbench.uplift.metrics`, :mod:`~workbench.uplift.evaluate`):
   on a holdout stratified by arm × outcome, Qini coefficient (scikit-uplift's
   normalisation: perfect = 1, random = 0), AUUC, uplift at 10/20/30 %, uplift by decile
   with intervals, for every model and the baseline side by side. A model is used for an
   arm only if it beats the best response model and the random ranking (bootstrap);
   otherwise: "no reliable heterogeneity: target everyone or no one by the average effect".
4. **Scores** (:mod:`~workbench.uplift.scoring`): ``uplift_<arm>`` per customer and
   ``best_arm`` (largest positive expected uplift, or none), for the experiment's customers
   and any table with the same feature columns; the persuadable audience.
5. **Report** (:mod:`~workbench.uplift.summary`, :mod:`~workbench.uplift.figures`,
   :mod:`~workbench.uplift.readout`): ``uplift.json`` with its headline, the report's
   tables, and the Qini and decile figures.

:mod:`~workbench.uplift.workflow` strings the steps together.

Examples
--------
>>> import pandas as pd
>>> from workbench import uplift
>>> data = uplift.prepare_uplift_data(table, treatment_column="segment",
...     control="No E-Mail", outcome_column="visit")                     # doctest: +SKIP
>>> result = uplift.fit_uplift(data, uplift.UpliftParams())             # doctest: +SKIP
>>> result.metrics[["model", "arm", "qini", "uplift_at_30", "chosen"]]  # doctest: +SKIP
>>> scores = result.score()                                             # doctest: +SKIP
>>> summary = uplift.uplift_summary(result, experiment="hillstrom", scores=scores)  # doctest: +SKIP
"""

from workbench.uplift.evaluate import (
    NO_HETEROGENEITY,
    RANDOM,
    average_effects,
    choose_models,
    decile_table,
    holdout_metrics,
    qini_curves,
)
from workbench.uplift.figures import decile_figure, qini_figure, uplift_distribution_figure
from workbench.uplift.inputs import (
    ROW_ID,
    UpliftData,
    UpliftInputError,
    arm_column,
    arm_columns,
    holdout_split,
    parse_outcome,
    prepare_uplift_data,
    score_frame,
)
from workbench.uplift.metrics import (
    auuc_score,
    bootstrap_qini,
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_by_bin,
    uplift_curve,
)
from workbench.uplift.models import (
    MODEL_CLASSES,
    ClassTransformation,
    ResponseModel,
    TwoModel,
    XLearner,
    make_model,
    model_name,
)
from workbench.uplift.params import APPROACHES, BASELINE, LEARNERS, OUTCOMES, UpliftParams
from workbench.uplift.pit import first_assignment_date, uplift_data_from_tables
from workbench.uplift.readout import (
    KINDS,
    arm_table,
    audience_table,
    chosen_deciles,
    decisions_markdown,
    effects_table,
    headline,
    input_table,
    metrics_table,
)
from workbench.uplift.scoring import BEST_ARM, best_arm, persuadable_audience, uplift_scores
from workbench.uplift.source import (
    PERSUADABLE,
    UPLIFT_TABLES,
    ExperimentTables,
    UpliftInputs,
    applicable,
    catalog_scores,
    choose_experiment,
    experiment_inputs,
    file_inputs,
    place_score_file,
    read_experiment_tables,
    read_table,
    score_file,
)
from workbench.uplift.summary import QINI_NORMALISATION, uplift_summary
from workbench.uplift.workflow import UpliftResult, fit_models, fit_uplift, model_specs

__all__ = [
    "APPROACHES",
    "BASELINE",
    "BEST_ARM",
    "ClassTransformation",
    "ExperimentTables",
    "KINDS",
    "LEARNERS",
    "MODEL_CLASSES",
    "NO_HETEROGENEITY",
    "OUTCOMES",
    "PERSUADABLE",
    "QINI_NORMALISATION",
    "RANDOM",
    "ROW_ID",
    "ResponseModel",
    "TwoModel",
    "UPLIFT_TABLES",
    "UpliftData",
    "UpliftInputError",
    "UpliftInputs",
    "UpliftParams",
    "UpliftResult",
    "XLearner",
    "applicable",
    "arm_column",
    "arm_columns",
    "arm_table",
    "audience_table",
    "auuc_score",
    "average_effects",
    "best_arm",
    "bootstrap_qini",
    "catalog_scores",
    "choose_experiment",
    "choose_models",
    "chosen_deciles",
    "decile_figure",
    "decile_table",
    "decisions_markdown",
    "effects_table",
    "experiment_inputs",
    "file_inputs",
    "first_assignment_date",
    "fit_models",
    "fit_uplift",
    "headline",
    "holdout_metrics",
    "holdout_split",
    "input_table",
    "make_model",
    "metrics_table",
    "model_name",
    "model_specs",
    "parse_outcome",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "place_score_file",
    "persuadable_audience",
    "prepare_uplift_data",
    "qini_coefficient",
    "qini_curve",
    "qini_curves",
    "qini_figure",
    "read_experiment_tables",
    "read_table",
    "score_file",
    "score_frame",
    "uplift_at_k",
    "uplift_by_bin",
    "uplift_curve",
    "uplift_data_from_tables",
    "uplift_distribution_figure",
    "uplift_scores",
    "uplift_summary",
]
