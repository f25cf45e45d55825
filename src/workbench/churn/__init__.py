"""Stage 04: who is about to stop buying, how sure we are, and why.

The flow (each step a module):

1. **Labels** (:mod:`~workbench.churn.labels`): for a snapshot date ``s``, customers with
   a completed order in the ``lookback_days`` before ``s`` are eligible; they churned when
   they place no completed order in ``[s, s + horizon_days)``. Training uses
   ``s = as_of - horizon_days`` (features from before ``s``, labels from ``[s, as_of)``);
   scoring uses features as of ``as_of``. Or a user's own table
   (:mod:`~workbench.churn.table`) with a label column.
2. **Models** (:mod:`~workbench.churn.model`): a logistic-regression baseline and XGBoost,
   both scikit-learn pipelines on the raw feature frame; stratified holdout, validation
   split (early stopping, threshold, and the choice of the model to register: the higher
   validation ROC-AUC, a tie to the baseline) and cross-validation (on a stratified
   sample of at most ``cv_max_rows`` rows).
3. **Evaluation** (:mod:`~workbench.churn.evaluate`, :mod:`~workbench.churn.figures`):
   ROC-AUC, PR-AUC, Brier, log-loss, top-decile lift, gains, calibration, confusion.
4. **Registry** (:mod:`~workbench.churn.registry`): log the chosen model with signature
   and input example, register it (one registry per project: the notebook names it with
   ``tracking.model_name``), challenger alias, champion gate on the same holdout (the new
   version must beat the champion by ``min_auc_gain``; a tie keeps the champion),
   descriptions and who/why tags.
5. **Scoring** (:mod:`~workbench.churn.scoring`): the champion loaded by alias scores the
   customers in batches: ``churn_scores.parquet``, risk bands, the opted-in win-back
   audience, and :func:`risk_band_table` (the CLV stage adds the value at risk per band).
6. **Explanations** (:mod:`~workbench.churn.explain`, :mod:`~workbench.churn.reasons`):
   SHAP contributions of the scoring model for every scored customer, computed once
   (XGBoost's native Tree SHAP, or coefficient × standardised value for the logistic
   baseline) and checked against the SHAP package on a sample; global importance,
   beeswarm, dependence, waterfall, top-three reasons in plain words.
7. **Report** (:mod:`~workbench.churn.report`): ``churn.json``, its headline, the
   sentences between the tables.

:mod:`~workbench.churn.workflow` strings the steps together for the notebook; every
step takes ``as_of`` as a parsed ``pd.Timestamp`` (UTC midnight) and its settings from
one :class:`ChurnParams`.

Examples
--------
>>> from workbench import churn
>>> from workbench.schema import parse_as_of
>>> params = churn.ChurnParams(horizon_days=90, cv_folds=3)
>>> data = churn.prepare_data("data/raw", parse_as_of("2026-06-30"), params)  # doctest: +SKIP
>>> models = churn.train_models(data.training, params)                 # doctest: +SKIP
>>> models.choice.winner, models.holdout_metrics().loc["xgboost", "roc_auc"]  # doctest: +SKIP
('xgboost', 0.89)
"""

from workbench.churn.evaluate import (
    calibration_table,
    choose_threshold,
    classification_metrics,
    confusion_table,
    gains_table,
    top_decile_lift,
)
from workbench.churn.explain import (
    Contributions,
    column_meanings,
    encoded_contributions,
    global_importance,
    linear_contributions,
    model_contributions,
    model_kind,
    native_contributions,
    reference_linear_values,
    reference_shap_values,
    top_reasons,
    treeexplainer_shap_values,
)
from workbench.churn.labels import (
    EXCLUDED_FEATURES,
    LabelWindows,
    TrainingSet,
    churn_labels,
    completed_buyers,
    label_windows,
    point_in_time_set,
    scoring_features,
    training_windows,
)
from workbench.churn.model import (
    MODEL_LABELS,
    ChurnModels,
    FramePrep,
    ModelChoice,
    ModelColumns,
    baseline_pipeline,
    choose_model,
    cross_validate,
    cv_sample,
    fit_baseline,
    fit_xgboost,
    predict_churn,
    split_feature_columns,
    train_models,
    xgboost_pipeline,
)
from workbench.churn.params import (
    CHALLENGER,
    CHAMPION,
    MODEL_KINDS,
    REGISTERED_MODEL,
    RISK_BANDS,
    ChurnParams,
)
from workbench.churn.reasons import describe_column, phrase
from workbench.churn.registry import (
    RECORD_ARTIFACT,
    PromotionDecision,
    alias_version,
    data_digest,
    describe_version,
    evaluate_version,
    gate_decision,
    load_model,
    log_churn_model,
    model_description,
    model_input,
    model_signature,
    promote,
    promote_if_better,
    score_version,
    set_alias,
    version_description,
)
from workbench.churn.report import (
    churn_summary,
    comparison_markdown,
    gate_markdown,
    headline,
    holdout_table,
)
from workbench.churn.scoring import (
    AUDIENCE_FILE,
    risk_band,
    risk_band_shares,
    risk_band_table,
    scores_table,
    winback_audience,
    write_audience,
)
from workbench.churn.table import (
    coerce_numeric_text,
    custom_training_set,
    parse_labels,
    read_feature_table,
)
from workbench.churn.workflow import (
    ChurnData,
    check_contributions,
    explain_new_version,
    log_explanations,
    prepare_data,
    register_and_gate,
    score_customers,
    scoring_model,
)

__all__ = [
    "AUDIENCE_FILE",
    "CHALLENGER",
    "CHAMPION",
    "EXCLUDED_FEATURES",
    "MODEL_KINDS",
    "MODEL_LABELS",
    "RECORD_ARTIFACT",
    "REGISTERED_MODEL",
    "RISK_BANDS",
    "ChurnData",
    "ChurnModels",
    "ChurnParams",
    "Contributions",
    "FramePrep",
    "LabelWindows",
    "ModelChoice",
    "ModelColumns",
    "PromotionDecision",
    "TrainingSet",
    "alias_version",
    "baseline_pipeline",
    "calibration_table",
    "check_contributions",
    "choose_model",
    "choose_threshold",
    "churn_labels",
    "churn_summary",
    "classification_metrics",
    "coerce_numeric_text",
    "column_meanings",
    "comparison_markdown",
    "completed_buyers",
    "confusion_table",
    "cross_validate",
    "custom_training_set",
    "cv_sample",
    "data_digest",
    "describe_column",
    "describe_version",
    "encoded_contributions",
    "evaluate_version",
    "explain_new_version",
    "fit_baseline",
    "fit_xgboost",
    "gains_table",
    "gate_decision",
    "gate_markdown",
    "global_importance",
    "headline",
    "holdout_table",
    "label_windows",
    "linear_contributions",
    "load_model",
    "log_churn_model",
    "log_explanations",
    "model_contributions",
    "model_description",
    "model_input",
    "model_kind",
    "model_signature",
    "native_contributions",
    "parse_labels",
    "phrase",
    "point_in_time_set",
    "predict_churn",
    "prepare_data",
    "promote",
    "promote_if_better",
    "read_feature_table",
    "reference_linear_values",
    "reference_shap_values",
    "register_and_gate",
    "risk_band",
    "risk_band_shares",
    "score_customers",
    "score_version",
    "scores_table",
    "scoring_features",
    "scoring_model",
    "set_alias",
    "split_feature_columns",
    "top_decile_lift",
    "top_reasons",
    "train_models",
    "training_windows",
    "treeexplainer_shap_values",
    "risk_band_table",
    "version_description",
    "winback_audience",
    "write_audience",
    "xgboost_pipeline",
]
