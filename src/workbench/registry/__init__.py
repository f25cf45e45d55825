"""Review the MLflow model registry: versions, aliases, metrics, explanations, data; promote.

Every registered model (``churn-classifier``, ``customer-segmenter`` and any other) is
listed with its versions, their aliases (``champion``, ``challenger``), the date their
training data was cut at (``as_of``), their headline metric and the data they were
trained on. Where the facts come from:

========================  ==================================================================
what                      where
========================  ==================================================================
aliases, created          the model version
description               the model version's description (data, as_of, metrics, decision)
``as_of``                 version tag ``workbench.as_of``, else the run tag of the same name
metrics                   version tag ``workbench.holdout_roc_auc`` and the metrics of the
                          run that logged the version (``roc_auc``, ``silhouette`` …)
training data             version tag ``workbench.data_digest`` (one fingerprint) and, for the
                          versions compared, the run artefact ``registry/version.json``
                          (``{table: sha256}``); older versions: the JSON version tag
                          ``workbench.input_digests``; else the datasets logged to the run
SHAP importance           run artefact ``explanations/shap_importance.json``, else the
                          version tag ``workbench.shap_importance`` (top 15)
who / why                 version tags ``workbench.<alias>.set_by`` / ``.set_at`` / ``.reason``
                          and ``workbench.created_by``
the gate                  version tags ``workbench.gate.*`` (both AUCs on the same holdout)
========================  ==================================================================

**One registry per project.** Registered models are named ``<project>.<model>``
(``tracking.model_name``); the review lists the models of the current project only
(``prefix``), so two data sources never share versions, aliases or gates.

Promotion (:func:`promote_version`) is the one entry point of ``workbench registry
promote`` and of the registry-review notebook: it checks the model and version exist and
that a reason is given, then calls the churn package's
:func:`~workbench.churn.registry.promote` (alias ``champion``: the previous champion is
tagged ``replaced_by``, the challenger alias leaves the promoted version) or
:func:`~workbench.churn.registry.set_alias` (alias ``challenger``), which record who, when
and why as version tags. E-mail addresses in who/why are masked before they are written.

Examples
--------
>>> from workbench import registry
>>> client = registry.registry_client("sqlite:///mlruns/mlflow.db")        # doctest: +SKIP
>>> registry.versions_table(client)                                        # doctest: +SKIP
>>> registry.promote_version(client, "churn-classifier", "3",
...                          reason="wins on the June holdout")            # doctest: +SKIP
"""

from workbench.registry.promotion import (
    PromotionRecord,
    RegistryReviewParams,
    headline,
    promote_version,
    registry_summary,
)
from workbench.registry.review import (
    ModelReview,
    compare_versions,
    gate_table,
    importance_comparison,
    review_model,
    review_versions,
    training_data,
)
from workbench.registry.versions import (
    ALIASES,
    IMPORTANCE_ARTIFACT,
    RegistryError,
    VersionInfo,
    listing_records,
    mask_emails,
    model_versions,
    project_prefix,
    registered_models,
    registry_client,
    resolve_model_name,
    versions_table,
    with_record,
)
from workbench.registry_figures import history_figure, importance_figure, metrics_figure

__all__ = [
    "ALIASES",
    "IMPORTANCE_ARTIFACT",
    "RegistryError",
    "RegistryReviewParams",
    "VersionInfo",
    "PromotionRecord",
    "registry_client",
    "registered_models",
    "model_versions",
    "versions_table",
    "listing_records",
    "review_versions",
    "compare_versions",
    "importance_comparison",
    "training_data",
    "gate_table",
    "ModelReview",
    "review_model",
    "promote_version",
    "mask_emails",
    "metrics_figure",
    "importance_figure",
    "history_figure",
    "registry_summary",
    "headline",
    "project_prefix",
    "resolve_model_name",
    "with_record",
]
