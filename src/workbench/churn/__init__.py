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
   split (early stopping, threshold) and cross-validation.
3. **Evaluation** (:mod:`~workbench.churn.evaluate`, :mod:`~workbench.churn.figures`):
   ROC-AUC, PR-AUC, Brier, log-loss, top-decile lift, gains, calibration, confusion.
4. **Explanations** (:mod:`~workbench.churn.explain`, :mod:`~workbench.churn.reasons`):
   XGBoost's native SHAP contributions for every customer (checked against SHAP's own
   Tree SHAP), global importance, beeswarm, dependence, waterfall, top-three reasons in
   plain words.
5. **Registry** (:mod:`~workbench.churn.registry`): log with signature and input example,
   register ``churn-classifier``, challenger alias, champion gate on the same holdout
   (MLflow's evaluator and ``validate_evaluation_results``), who/why tags.
6. **Scoring** (:mod:`~workbench.churn.scoring`): the champion loaded by alias scores the
   customers: ``churn_scores.parquet``, risk bands and the opted-in win-back audience.

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
>>> models.holdout_metrics().loc["xgboost", "roc_auc"]                 # doctest: +SKIP
0.89
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
    native_contributions,
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
    ChurnModels,
    FramePrep,
    ModelColumns,
    baseline_pipeline,
    cross_validate,
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
    REGISTERED_MODEL,
    RISK_BANDS,
    ChurnParams,
)
from workbench.churn.reasons import describe_column, phrase
from workbench.churn.registry import (
    PromotionDecision,
    alias_version,
    evaluate_version,
    gate_decision,
    load_model,
    log_churn_model,
    model_input,
    model_signature,
    promote,
    promote_if_better,
    score_version,
    set_alias,
)
from workbench.churn.scoring import (
    AUDIENCE_FILE,
    risk_band,
    risk_band_shares,
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
    churn_summary,
    comparison_markdown,
    gate_markdown,
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
    "REGISTERED_MODEL",
    "RISK_BANDS",
    "ChurnData",
    "ChurnModels",
    "ChurnParams",
    "Contributions",
    "FramePrep",
    "LabelWindows",
    "ModelColumns",
    "PromotionDecision",
    "TrainingSet",
    "alias_version",
    "baseline_pipeline",
    "calibration_table",
    "check_contributions",
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
    "describe_column",
    "encoded_contributions",
    "evaluate_version",
    "fit_baseline",
    "fit_xgboost",
    "gains_table",
    "gate_decision",
    "gate_markdown",
    "global_importance",
    "label_windows",
    "load_model",
    "log_churn_model",
    "model_input",
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
    "reference_shap_values",
    "register_and_gate",
    "risk_band",
    "risk_band_shares",
    "score_customers",
    "scores_table",
    "score_version",
    "scoring_features",
    "scoring_model",
    "set_alias",
    "split_feature_columns",
    "top_decile_lift",
    "top_reasons",
    "train_models",
    "training_windows",
    "treeexplainer_shap_values",
    "winback_audience",
    "write_audience",
    "xgboost_pipeline",
]
