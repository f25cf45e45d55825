"""Base learners of the uplift models: scikit-learn pipelines on the raw feature frame.

Each base learner is one :class:`~sklearn.pipeline.Pipeline`:

``frame`` (:class:`~workbench.churn.model.FramePrep`)
    selects the model inputs; numbers to float (missing as NaN), categories to text;
``encode`` (:class:`~sklearn.compose.ColumnTransformer`)
    one-hot categories (at most ``max_categories`` per feature, rare and unseen levels
    pooled); the linear learners also impute numbers with the median (plus missing-value
    indicators) and scale them; XGBoost keeps NaN;
``model``
    ``xgboost``: :class:`xgboost.XGBClassifier` / :class:`xgboost.XGBRegressor`
    (``tree_method="hist"``, a fixed number of rounds); ``linear``:
    :class:`~sklearn.linear_model.LogisticRegression` / :class:`~sklearn.linear_model.Ridge`.

Classes are *not* re-weighted: the uplift models subtract probabilities, which must stay
calibrated. A learner asked to fit an outcome that does not vary (an arm without a single
conversion in the training rows) becomes a constant :class:`~sklearn.dummy.DummyRegressor`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier, XGBRegressor

from workbench.churn.model import FramePrep, ModelColumns
from workbench.uplift.params import LEARNERS, UpliftParams

__all__ = ["TASKS", "learner_pipeline", "fit_learner", "predict_outcome"]

log = logging.getLogger(__name__)

#: What a base learner predicts: a probability (``classifier``) or a mean (``regressor``).
TASKS = ("classifier", "regressor")


def _encoder(columns: ModelColumns, params: UpliftParams, *, scale: bool) -> ColumnTransformer:
    numeric: Any = "passthrough"
    if scale:
        numeric = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )
    onehot = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=params.max_categories,
        sparse_output=False,
        dtype=np.float64 if scale else np.float32,
    )
    return ColumnTransformer(
        [("num", numeric, columns.numeric), ("cat", onehot, columns.categorical)],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def learner_pipeline(
    kind: str,
    task: str,
    columns: ModelColumns,
    params: UpliftParams,
    *,
    seed: int = 0,
    rows: int | None = None,
) -> Pipeline:
    """Unfitted base learner.

    Parameters
    ----------
    kind : {"xgboost", "linear"}
    task : {"classifier", "regressor"}
    columns : ModelColumns
        The model inputs.
    params : UpliftParams
    seed : int, default 0
        Added to ``params.random_state`` so the many learners of one run differ.
    rows : int, optional
        The rows it will be fitted on: XGBoost's threads follow
        :meth:`UpliftParams.threads_for` (unknown: every available core when ``n_jobs``
        is 0).

    Examples
    --------
    >>> cols = ModelColumns(numeric=["x"], categorical=["c"])
    >>> learner_pipeline("linear", "classifier", cols, UpliftParams())[-1]
    LogisticRegression(max_iter=2000, random_state=7)
    """
    if kind not in LEARNERS:
        raise ValueError(f"learner must be one of {', '.join(LEARNERS)}, got {kind!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    state = params.random_state + seed
    model: Any
    if kind == "xgboost":
        settings = dict(
            n_estimators=params.n_estimators,
            learning_rate=params.learning_rate,
            max_depth=params.max_depth,
            min_child_weight=params.min_child_weight,
            subsample=params.subsample,
            colsample_bytree=params.colsample_bytree,
            reg_lambda=params.reg_lambda,
            tree_method="hist",
            n_jobs=params.threads if rows is None else params.threads_for(rows),
            random_state=state,
        )
        if task == "classifier":
            model = XGBClassifier(objective="binary:logistic", eval_metric="logloss", **settings)
        else:
            model = XGBRegressor(objective="reg:squarederror", **settings)
    elif task == "classifier":
        model = LogisticRegression(C=params.linear_c, max_iter=2000, random_state=state)
    else:
        model = Ridge(alpha=1.0 / params.linear_c)
    return Pipeline(
        [
            ("frame", FramePrep(columns.numeric, columns.categorical)),
            ("encode", _encoder(columns, params, scale=kind == "linear")),
            ("model", model),
        ]
    )


def fit_learner(
    kind: str,
    task: str,
    columns: ModelColumns,
    params: UpliftParams,
    X: pd.DataFrame,
    y: np.ndarray | pd.Series,
    *,
    seed: int = 0,
) -> Pipeline | DummyRegressor:
    """Fit a base learner on ``X`` (raw feature frame) and ``y``.

    A classifier is fitted on 0/1 labels; when ``y`` does not vary the result is a
    constant :class:`~sklearn.dummy.DummyRegressor` (its prediction is that value).
    BLAS runs on one thread (more threads only contend on a problem this size).
    """
    y = np.asarray(y, dtype="float64")
    if len(y) == 0:
        raise ValueError("fit_learner: no rows to fit")
    if np.unique(y).size < 2:
        log.info("%s %s: the outcome does not vary (%s); predicting it as a constant",
                 kind, task, y[0])  # fmt: skip
        return DummyRegressor(strategy="constant", constant=float(y[0])).fit(X, y)
    pipe = learner_pipeline(kind, task, columns, params, seed=seed, rows=len(y))
    target = y.astype(int) if task == "classifier" else y
    with threadpool_limits(limits=1, user_api="blas"):
        return pipe.fit(X, target)


def predict_outcome(model: Any, X: pd.DataFrame) -> np.ndarray:
    """The learner's prediction for every row: the probability of class 1 for a
    classifier, the predicted mean for a regressor (or a constant)."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype="float64")[:, 1]
    return np.asarray(model.predict(X), dtype="float64")
