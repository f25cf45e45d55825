"""The two churn models: a logistic-regression baseline and XGBoost, both sklearn pipelines.

Each model is one :class:`~sklearn.pipeline.Pipeline` that takes the raw feature frame
(extra columns such as the id are ignored) and returns probabilities:

``frame`` (:class:`FramePrep`)
    selects the model inputs and normalises their types: numbers (including booleans
    and nullable integers) to float with missing values as NaN, categories to text with
    missing values as ``"(missing)"``;
``encode`` (:class:`~sklearn.compose.ColumnTransformer`)
    one-hot encodes the categories (at most ``max_categories`` columns per feature,
    rarer and unseen levels pooled); the baseline also imputes numbers with the median
    (plus missing-value indicators) and scales them, XGBoost keeps NaN (it learns where
    missing values go);
``model``
    :class:`~sklearn.linear_model.LogisticRegression` or
    :class:`xgboost.XGBClassifier` (``tree_method="hist"``, early stopping on a
    validation split, classes balanced with ``scale_pos_weight``).

One-hot encoding (rather than XGBoost's native categories) keeps every tree split
numeric, which lets SHAP's own Tree SHAP implementation check XGBoost's contributions
(:mod:`workbench.churn.explain`); contributions are summed back per original column.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from workbench.churn.evaluate import choose_threshold, classification_metrics
from workbench.churn.labels import TrainingSet
from workbench.churn.params import ChurnParams

__all__ = [
    "MISSING_CATEGORY",
    "FramePrep",
    "ModelColumns",
    "ChurnModels",
    "split_feature_columns",
    "baseline_pipeline",
    "xgboost_pipeline",
    "fit_baseline",
    "fit_xgboost",
    "cross_validate",
    "train_models",
    "predict_churn",
    "original_columns",
]

log = logging.getLogger(__name__)

#: Level given to missing categorical values.
MISSING_CATEGORY = "(missing)"


class FramePrep(TransformerMixin, BaseEstimator):
    """Select the model inputs from a frame and normalise their types.

    Parameters
    ----------
    numeric : list of str
        Columns read as float (booleans become 0/1, unparseable text becomes NaN and is
        counted in the log, infinities become NaN).
    categorical : list of str
        Columns read as text; missing values become ``"(missing)"``.

    Examples
    --------
    >>> f = pd.DataFrame({"id": ["a", "b"], "n": [1, None], "flag": [True, False],
    ...                   "c": ["x", None]})
    >>> FramePrep(["n", "flag"], ["c"]).fit(f).transform(f).to_dict("list")
    {'n': [1.0, nan], 'flag': [1.0, 0.0], 'c': ['x', '(missing)']}
    """

    def __init__(self, numeric: list[str] | None = None, categorical: list[str] | None = None):
        self.numeric = numeric
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: Any = None) -> FramePrep:
        self.numeric_ = list(self.numeric or [])
        self.categorical_ = list(self.categorical or [])
        self.columns_ = self.numeric_ + self.categorical_
        if not self.columns_:
            raise ValueError("FramePrep: no model inputs given (numeric and categorical empty)")
        self._check(X)
        return self

    def _check(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"FramePrep: expected a pandas DataFrame, got {type(X).__name__}")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(
                f"the frame lacks {len(missing)} model input column(s): "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}"
            )

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        self._check(X)
        X = X[self.columns_]
        X.attrs = {}  # pandas deep-copies attrs on every operation: slow on big metadata
        out = {}
        for col in self.numeric_:
            out[col] = _as_float(X[col], col)
        for col in self.categorical_:
            text = X[col].astype("object")
            out[col] = text.where(text.notna(), MISSING_CATEGORY).astype("str").astype("object")
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.columns_, dtype=object)


def _as_float(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype("Float64").astype("float64")
    else:
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        bad = values.isna() & series.notna()
        if bad.any():
            log.warning(
                "column %r: %s value(s) are not numbers and are read as missing",
                column,
                f"{int(bad.sum()):,}",
            )
    return values.where(np.isfinite(values))


@dataclass
class ModelColumns:
    """The model inputs and the columns left out (with the reason)."""

    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return self.numeric + self.categorical

    def table(self) -> pd.DataFrame:
        """column, role (numeric / categorical / left out) and note."""
        rows = [(c, "numeric", "") for c in self.numeric]
        rows += [(c, "categorical", "one-hot") for c in self.categorical]
        rows += [(c, "left out", why) for c, why in self.dropped.items()]
        return pd.DataFrame(rows, columns=["column", "role", "note"])


def split_feature_columns(
    frame: pd.DataFrame, exclude: list[str] | tuple[str, ...] = ()
) -> ModelColumns:
    """Numeric and categorical model inputs of a frame; the rest left out with a reason.

    Numbers, booleans and nullable integers are numeric; text and categories are
    categorical. Left out: ``exclude`` (the id), timestamps, columns without any value
    or with a single value, and text columns with a different value on almost every row
    (ids, free text).

    Examples
    --------
    >>> f = pd.DataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3], "k": ["x", "x", "x"]})
    >>> split_feature_columns(f, exclude=["id"]).dropped
    {'id': 'excluded (id or label)', 'k': 'a single value'}
    """
    numeric, categorical, dropped = [], [], {}
    for col in frame.columns:
        series = frame[col]
        if col in exclude:
            dropped[col] = "excluded (id or label)"
        elif pd.api.types.is_datetime64_any_dtype(series):
            dropped[col] = "timestamp (derive a number of days from it to use it)"
        elif series.notna().sum() == 0:
            dropped[col] = "no values"
        elif series.nunique(dropna=True) < 2 and series.notna().all():
            dropped[col] = "a single value"
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            numeric.append(col)
        elif _id_like(series):
            dropped[col] = "text with a different value on most rows (an id or free text?)"
        else:
            categorical.append(col)
    for col, why in dropped.items():
        if col not in exclude:
            log.info("model inputs: %r left out (%s)", col, why)
    if not numeric and not categorical:
        raise ValueError(
            "no usable model inputs: every column is an id, a timestamp, empty or constant "
            f"({', '.join(f'{c}: {w}' for c, w in dropped.items())})"
        )
    return ModelColumns(numeric, categorical, dropped)


def _id_like(series: pd.Series) -> bool:
    """Text with a different value on (almost) every row: an id or free text."""
    filled = int(series.notna().sum())
    unique = series.nunique(dropna=True)
    return (unique == filled and filled >= 20) or unique > max(50, 0.5 * filled)


def _encoder(columns: ModelColumns, params: ChurnParams, *, scale: bool) -> ColumnTransformer:
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
    else:
        numeric = "passthrough"
    onehot = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=params.max_categories,
        sparse_output=False,
        dtype=np.float32 if not scale else np.float64,
    )
    return ColumnTransformer(
        [("num", numeric, columns.numeric), ("cat", onehot, columns.categorical)],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def baseline_pipeline(columns: ModelColumns, params: ChurnParams | None = None) -> Pipeline:
    """Unfitted baseline: FramePrep → median impute + scale / one-hot → logistic regression."""
    params = params or ChurnParams()
    model = LogisticRegression(
        C=params.baseline_c,
        class_weight="balanced" if params.balance_classes else None,
        max_iter=2000,
        random_state=params.random_state,
    )
    return Pipeline(
        [
            ("frame", FramePrep(columns.numeric, columns.categorical)),
            ("encode", _encoder(columns, params, scale=True)),
            ("model", model),
        ]
    )


def xgboost_pipeline(
    columns: ModelColumns, params: ChurnParams | None = None, *, scale_pos_weight: float = 1.0
) -> Pipeline:
    """Unfitted XGBoost pipeline: FramePrep → one-hot (numbers kept with NaN) → XGBClassifier."""
    params = params or ChurnParams()
    model = XGBClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        max_depth=params.max_depth,
        min_child_weight=params.min_child_weight,
        subsample=params.subsample,
        colsample_bytree=params.colsample_bytree,
        reg_lambda=params.reg_lambda,
        tree_method="hist",
        objective="binary:logistic",
        eval_metric="logloss",
        early_stopping_rounds=params.early_stopping_rounds,
        scale_pos_weight=scale_pos_weight,
        n_jobs=params.n_jobs,
        random_state=params.random_state,
    )
    return Pipeline(
        [
            ("frame", FramePrep(columns.numeric, columns.categorical)),
            ("encode", _encoder(columns, params, scale=False)),
            ("model", model),
        ]
    )


def fit_baseline(
    X: pd.DataFrame, y: pd.Series, columns: ModelColumns, params: ChurnParams | None = None
) -> Pipeline:
    """Fit the baseline pipeline on ``X`` (raw feature frame) and boolean labels ``y``.

    BLAS runs on one thread: on a problem this size more threads only contend (several
    times slower on a busy machine).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return baseline_pipeline(columns, params).fit(X, np.asarray(y, dtype=int))


def fit_xgboost(
    X: pd.DataFrame,
    y: pd.Series,
    X_valid: pd.DataFrame,
    y_valid: pd.Series,
    columns: ModelColumns,
    params: ChurnParams | None = None,
) -> Pipeline:
    """Fit the XGBoost pipeline with early stopping on ``(X_valid, y_valid)``.

    The encoder is fitted on ``X`` only; ``scale_pos_weight`` is negatives / positives
    of ``y`` when ``params.balance_classes``. The fitted classifier keeps
    ``best_iteration``; its predictions use the trees up to it.
    """
    params = params or ChurnParams()
    y = np.asarray(y, dtype=int)
    positives = max(int(y.sum()), 1)
    weight = (len(y) - positives) / positives if params.balance_classes else 1.0
    pipe = xgboost_pipeline(columns, params, scale_pos_weight=weight)
    encoded = pipe[:-1].fit_transform(X)
    valid = pipe[:-1].transform(X_valid)
    pipe[-1].fit(encoded, y, eval_set=[(valid, np.asarray(y_valid, dtype=int))], verbose=False)
    return pipe


def predict_churn(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Churn probability (class 1) of every row of ``X``."""
    return np.asarray(model.predict_proba(X))[:, 1]


@dataclass
class ChurnModels:
    """Both fitted models and everything needed to evaluate, explain and register them.

    Attributes
    ----------
    xgboost, baseline : Pipeline
        Fitted on the training split (the same rows for both).
    columns : ModelColumns
    X_holdout, y_holdout : DataFrame, Series
        The holdout (raw feature frame and labels): never used for fitting or choices.
    X_valid, y_valid : DataFrame, Series
        The validation split (early stopping and the decision threshold).
    holdout_scores, valid_scores : dict of str to ndarray
        Probabilities of each model (keys ``"xgboost"``, ``"baseline"``).
    thresholds : dict of str to float
        Decision threshold of each model.
    cv : DataFrame
        Cross-validation metrics per fold and model (empty when skipped).
    best_iteration : int
        Boosting rounds kept by early stopping (0-based index of the last tree).
    train_rows : int
        Rows the models were fitted on.
    seconds : dict
        Seconds spent fitting (both models), predicting the validation and holdout
        splits, and cross-validating.
    """

    xgboost: Pipeline
    baseline: Pipeline
    columns: ModelColumns
    X_holdout: pd.DataFrame
    y_holdout: pd.Series
    X_valid: pd.DataFrame
    y_valid: pd.Series
    holdout_scores: dict[str, np.ndarray]
    valid_scores: dict[str, np.ndarray]
    thresholds: dict[str, float]
    cv: pd.DataFrame
    best_iteration: int
    train_rows: int
    seconds: dict[str, float] = field(default_factory=dict)

    def holdout_metrics(self) -> pd.DataFrame:
        """ROC-AUC, PR-AUC, Brier, log-loss and top-decile lift of both models on the holdout."""
        rows = {
            name: classification_metrics(self.y_holdout, scores)
            for name, scores in self.holdout_scores.items()
        }
        return pd.DataFrame(rows).T.rename_axis("model")


def _split(
    X: pd.DataFrame, y: pd.Series, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    counts = y.value_counts()
    if counts.min() < 2:
        raise ValueError(
            f"too few customers in one class to split ({counts.to_dict()}); "
            "the models need at least a handful of churned and retained customers"
        )
    return train_test_split(X, y, test_size=size, stratify=y, random_state=seed)


def cross_validate(
    X: pd.DataFrame, y: pd.Series, columns: ModelColumns, params: ChurnParams | None = None
) -> pd.DataFrame:
    """Stratified k-fold metrics of both models (``params.cv_folds`` folds).

    In each fold the models are fitted on the other folds (XGBoost with early stopping
    on a stratified ``validation_size`` split of them) and scored on the held-out fold.

    Returns
    -------
    DataFrame
        fold, model, roc_auc, pr_auc, brier, log_loss, top_decile_lift; empty when
        ``cv_folds < 2``.
    """
    params = params or ChurnParams()
    cols = ["fold", "model", "roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift"]
    if params.cv_folds < 2:
        return pd.DataFrame(columns=cols)
    y = pd.Series(np.asarray(y, dtype=bool), index=X.index)
    folds = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.random_state)
    rows = []
    for fold, (train, test) in enumerate(folds.split(X, y), start=1):
        X_fit, X_val, y_fit, y_val = _split(
            X.iloc[train], y.iloc[train], params.validation_size, params.random_state
        )
        models = {
            "xgboost": fit_xgboost(X_fit, y_fit, X_val, y_val, columns, params),
            "baseline": fit_baseline(X_fit, y_fit, columns, params),
        }
        for name, model in models.items():
            metrics = classification_metrics(y.iloc[test], predict_churn(model, X.iloc[test]))
            rows.append({"fold": fold, "model": name, **{k: metrics[k] for k in cols[2:]}})
    return pd.DataFrame(rows, columns=cols)


def train_models(data: TrainingSet, params: ChurnParams | None = None) -> ChurnModels:
    """Split, fit both models, cross-validate and score the holdout.

    Splits (stratified, seeded): ``holdout_size`` of the labelled customers form the
    holdout; ``validation_size`` of the rest the validation split; the remaining rows
    train both models. Cross-validation runs on training + validation rows. The decision
    threshold of each model is ``params.decision_threshold``, or (when 0) the one that
    maximises F1 on the validation split.
    """
    params = params or ChurnParams()
    started = time.perf_counter()
    X, y = data.features, pd.Series(np.asarray(data.labels, dtype=bool), index=data.features.index)
    columns = split_feature_columns(X, exclude=[data.id_column])
    X_rest, X_hold, y_rest, y_hold = _split(X, y, params.holdout_size, params.random_state)
    X_fit, X_val, y_fit, y_val = _split(X_rest, y_rest, params.validation_size, params.random_state)
    xgb = fit_xgboost(X_fit, y_fit, X_val, y_val, columns, params)
    base = fit_baseline(X_fit, y_fit, columns, params)
    fitted = time.perf_counter()
    models = {"xgboost": xgb, "baseline": base}
    valid = {k: predict_churn(m, X_val) for k, m in models.items()}
    holdout = {k: predict_churn(m, X_hold) for k, m in models.items()}
    if params.decision_threshold > 0:
        thresholds = dict.fromkeys(models, float(params.decision_threshold))
    else:
        thresholds = {k: choose_threshold(y_val, v) for k, v in valid.items()}
    scored = time.perf_counter()
    cv = cross_validate(X_rest, y_rest, columns, params)
    best = int(getattr(xgb[-1], "best_iteration", params.n_estimators - 1))
    seconds = {
        "fit": round(fitted - started, 2),
        "predict": round(scored - fitted, 2),
        "cross_validation": round(time.perf_counter() - scored, 2),
    }
    log.info(
        "models: fitted on %s rows in %.1f s (XGBoost kept %s rounds); CV %.1f s",
        f"{len(X_fit):,}",
        seconds["fit"],
        best + 1,
        seconds["cross_validation"],
    )
    return ChurnModels(
        xgboost=xgb,
        baseline=base,
        columns=columns,
        X_holdout=X_hold,
        y_holdout=y_hold,
        X_valid=X_val,
        y_valid=y_val,
        holdout_scores=holdout,
        valid_scores=valid,
        thresholds=thresholds,
        cv=cv,
        best_iteration=best,
        train_rows=int(len(X_fit)),
        seconds=seconds,
    )


def original_columns(pipeline: Pipeline) -> tuple[list[str], np.ndarray]:
    """The model inputs and, for each encoded column the model sees, the index of the
    input it came from (one-hot columns map to their categorical feature).

    Only for the XGBoost pipeline (numbers passed through, one-hot categories).
    """
    frame: FramePrep = pipeline.named_steps["frame"]
    encode: ColumnTransformer = pipeline.named_steps["encode"]
    names = list(frame.numeric_) + list(frame.categorical_)
    owner = list(range(len(frame.numeric_)))
    if frame.categorical_:
        onehot: OneHotEncoder = encode.named_transformers_["cat"]
        infrequent = getattr(onehot, "infrequent_categories_", [None] * len(frame.categorical_))
        for i, cats in enumerate(onehot.categories_):
            rare = infrequent[i]
            width = len(cats) - (len(rare) - 1 if rare is not None and len(rare) else 0)
            owner += [len(frame.numeric_) + i] * width
    expected = len(encode.get_feature_names_out())
    if len(owner) != expected:
        raise RuntimeError(
            f"encoded columns ({expected}) do not map onto the inputs ({len(owner)}); "
            "original_columns expects the XGBoost pipeline of workbench.churn"
        )
    return names, np.asarray(owner, dtype=np.int64)
