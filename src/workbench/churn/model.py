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
    (plus missing-value indicators), XGBoost keeps NaN (it learns where missing values
    go);
``scale`` (baseline only, :class:`~sklearn.preprocessing.StandardScaler`)
    standardises every encoded column, so a coefficient times a column is that column's
    exact SHAP value;
``model``
    :class:`~sklearn.linear_model.LogisticRegression` or
    :class:`xgboost.XGBClassifier` (``tree_method="hist"``, early stopping on a
    validation split, classes balanced with ``scale_pos_weight``).

One-hot encoding (rather than XGBoost's native categories) keeps every tree split
numeric, which lets SHAP's own Tree SHAP implementation check XGBoost's contributions
(:mod:`workbench.churn.explain`); contributions are summed back per original column.

**Which model is registered** (:func:`choose_model`): the one with the higher ROC-AUC on
the validation split — data neither model was fitted on and that the final holdout
never sees. A tie goes to the baseline (the simpler model). The holdout then measures
the chosen model once more, and the registry's gate compares it with the champion there.
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
from xgboost.callback import EarlyStopping

from workbench.churn.evaluate import choose_threshold, classification_metrics
from workbench.churn.labels import TrainingSet
from workbench.churn.params import MODEL_KINDS, ChurnParams

__all__ = [
    "MISSING_CATEGORY",
    "FramePrep",
    "ModelColumns",
    "ChurnModels",
    "ModelChoice",
    "MODEL_LABELS",
    "choose_model",
    "cv_sample",
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
        out: dict[str, pd.Series] = {}
        # numbers and flags in one block (a conversion per column cost ~1 ms each: 4.6 s of
        # the uplift stage's 9 s at 10,000 customers); text read as numbers column by column
        plain = [c for c in self.numeric_ if _is_number(X[c])]
        if plain:
            block = X[plain].to_numpy(dtype="float64", na_value=np.nan, copy=True)
            block[~np.isfinite(block)] = np.nan
            out.update({c: pd.Series(block[:, i], index=X.index) for i, c in enumerate(plain)})
        for col in self.numeric_:
            if col not in out:
                out[col] = _as_float(X[col], col)
        for col in self.categorical_:
            text = X[col].astype("object")
            out[col] = text.where(text.notna(), MISSING_CATEGORY).astype("str").astype("object")
        return pd.DataFrame({c: out[c] for c in self.columns_}, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.columns_, dtype=object)


def _is_number(series: pd.Series) -> bool:
    return bool(pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series))


def _as_float(series: pd.Series, column: str) -> pd.Series:
    if _is_number(series):
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


def _encoder(columns: ModelColumns, params: ChurnParams, *, impute: bool) -> ColumnTransformer:
    numeric: Any = (
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        if impute
        else "passthrough"
    )
    onehot = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=params.max_categories,
        sparse_output=False,
        dtype=np.float64 if impute else np.float32,
    )
    return ColumnTransformer(
        [("num", numeric, columns.numeric), ("cat", onehot, columns.categorical)],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def baseline_pipeline(columns: ModelColumns, params: ChurnParams | None = None) -> Pipeline:
    """Unfitted baseline: FramePrep → median impute (+ missing indicators) / one-hot →
    standardise every encoded column → logistic regression.

    Every column the regression sees has mean 0 on the training rows, so a coefficient
    times the standardised value is that input's exact (linear) SHAP value and the
    intercept is the expected log-odds (:func:`workbench.churn.explain.linear_contributions`).
    """
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
            ("encode", _encoder(columns, params, impute=True)),
            ("scale", StandardScaler()),
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
        n_jobs=params.threads,
        random_state=params.random_state,
    )
    return Pipeline(
        [
            ("frame", FramePrep(columns.numeric, columns.categorical)),
            ("encode", _encoder(columns, params, impute=False)),
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
    model = pipe[-1]
    if params.early_stopping_min_delta > 0:
        # a round counts as better only by at least min_delta of log-loss: on 1,000,000
        # customers 304 trees instead of 598 (ROC-AUC 0.9005 vs 0.9011), half the SHAP time
        # for every scored customer; on the demo the same trees as without it
        stop = EarlyStopping(
            rounds=params.early_stopping_rounds,
            min_delta=params.early_stopping_min_delta,
            save_best=False,
        )
        model.set_params(early_stopping_rounds=None, callbacks=[stop])
    model.fit(encoded, y, eval_set=[(valid, np.asarray(y_valid, dtype=int))], verbose=False)
    # the fitted booster keeps best_iteration; the callback object is not part of the model
    model.set_params(early_stopping_rounds=params.early_stopping_rounds, callbacks=None)
    return pipe


def predict_churn(model: Any, X: pd.DataFrame, *, batch_size: int | None = None) -> np.ndarray:
    """Churn probability (class 1) of every row of ``X`` (in batches of ``batch_size`` rows
    when given: the encoded frame of one batch is what is held in memory)."""
    if batch_size is None or len(X) <= batch_size:
        return np.asarray(model.predict_proba(X))[:, 1]
    parts = [
        np.asarray(model.predict_proba(X.iloc[i : i + batch_size]))[:, 1]
        for i in range(0, len(X), batch_size)
    ]
    return np.concatenate(parts)


@dataclass(frozen=True)
class ModelChoice:
    """Which of the two models is registered, and by how much it won on validation data.

    Attributes
    ----------
    winner, other : str
        ``"xgboost"`` or ``"baseline"``.
    metric : str
        The metric compared (``roc_auc``).
    scores : dict of str to float
        That metric of each model on the validation split.
    rows : int
        Customers in the validation split.
    """

    winner: str
    other: str
    metric: str
    scores: dict[str, float]
    rows: int

    @property
    def margin(self) -> float:
        """The winner's metric minus the other's (>= 0)."""
        return float(self.scores[self.winner] - self.scores[self.other])

    def sentence(self) -> str:
        """The choice in words, e.g. "XGBoost won on validation data: ROC-AUC 0.891 vs 0.878
        (+0.013) on 3,200 customers"."""
        verb = "tied with" if self.margin == 0 else "won against"
        tie = " (a tie goes to the simpler baseline)" if self.margin == 0 else ""
        winner = MODEL_LABELS[self.winner]
        return (
            f"{winner[:1].upper()}{winner[1:]} {verb} {MODEL_LABELS[self.other]} on the validation "
            f"split: ROC-AUC {self.scores[self.winner]:.3f} vs {self.scores[self.other]:.3f} "
            f"({self.margin:+.3f}) on {self.rows:,} customers{tie}"
        )


#: How the report names each model.
MODEL_LABELS = {"xgboost": "XGBoost", "baseline": "the logistic baseline"}


def choose_model(y_valid: Any, valid_scores: dict[str, np.ndarray]) -> ModelChoice:
    """The model with the higher validation ROC-AUC; a tie goes to the baseline.

    Examples
    --------
    >>> y = [0, 0, 1, 1]
    >>> choose_model(y, {"xgboost": np.array([.1, .2, .3, .4]),
    ...                  "baseline": np.array([.1, .4, .3, .5])}).winner
    'xgboost'
    >>> choose_model(y, {"xgboost": np.array([.1, .2, .3, .4]),
    ...                  "baseline": np.array([.1, .2, .3, .4])}).winner
    'baseline'
    """
    missing = [m for m in MODEL_KINDS if m not in valid_scores]
    if missing:
        raise ValueError(f"choose_model: no validation scores of {', '.join(missing)}")
    scores = {
        name: float(classification_metrics(y_valid, valid_scores[name])["roc_auc"])
        for name in MODEL_KINDS
    }
    if any(np.isnan(v) for v in scores.values()):
        raise ValueError(
            "choose_model: the validation split holds a single class, so ROC-AUC is undefined; "
            "use a larger validation_size or more customers"
        )
    winner = "xgboost" if scores["xgboost"] > scores["baseline"] else "baseline"
    other = "baseline" if winner == "xgboost" else "xgboost"
    return ModelChoice(winner, other, "roc_auc", scores, int(len(np.asarray(y_valid))))


@dataclass
class ChurnModels:
    """Both fitted models, the one chosen for the registry, and everything needed to
    evaluate, explain and register it.

    Attributes
    ----------
    xgboost, baseline : Pipeline
        Fitted on the training split (the same rows for both).
    columns : ModelColumns
    X_holdout, y_holdout : DataFrame, Series
        The holdout (raw feature frame and labels): never used for fitting or choices.
    X_valid, y_valid : DataFrame, Series
        The validation split (early stopping, the decision threshold, the choice).
    holdout_scores, valid_scores : dict of str to ndarray
        Probabilities of each model (keys ``"xgboost"``, ``"baseline"``).
    thresholds : dict of str to float
        Decision threshold of each model.
    choice : ModelChoice
        The model to register (:func:`choose_model` on the validation split).
    cv : DataFrame
        Cross-validation metrics per fold and model (empty when skipped).
    cv_rows : int
        Rows the cross-validation used (a stratified sample above ``cv_max_rows``).
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
    choice: ModelChoice
    cv: pd.DataFrame
    cv_rows: int
    best_iteration: int
    train_rows: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def chosen(self) -> Pipeline:
        """The pipeline to register (the validation winner)."""
        return self.xgboost if self.choice.winner == "xgboost" else self.baseline

    @property
    def chosen_name(self) -> str:
        """``"xgboost"`` or ``"baseline"``: the model to register."""
        return self.choice.winner

    def holdout_metrics(self) -> pd.DataFrame:
        """ROC-AUC, PR-AUC, Brier, log-loss and top-decile lift of both models on the holdout."""
        rows = {
            name: classification_metrics(self.y_holdout, scores)
            for name, scores in self.holdout_scores.items()
        }
        return pd.DataFrame(rows).T.rename_axis("model")

    def cv_table(self) -> pd.DataFrame:
        """Mean and standard deviation of each cross-validation metric per model (one row
        per model; columns ``<metric>_mean`` and ``<metric>_std``)."""
        metrics = ["roc_auc", "pr_auc", "brier", "top_decile_lift"]
        if self.cv.empty:
            return pd.DataFrame(columns=["model"])
        grouped = self.cv.groupby("model")[metrics]
        mean, std = grouped.mean().add_suffix("_mean"), grouped.std(ddof=0).add_suffix("_std")
        out = pd.concat([mean, std], axis=1)
        out = out[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]]
        return out.reset_index()

    def cv_note(self) -> str:
        """How the cross-validation ran, in words ("" when it was skipped)."""
        if self.cv.empty:
            return ""
        folds = int(self.cv["fold"].nunique())
        of = self.train_rows + len(self.y_valid)
        sample = (
            f"a stratified sample of {self.cv_rows:,} of the {of:,} training and validation rows"
            if self.cv_rows < of
            else f"all {of:,} training and validation rows"
        )
        return f"{folds}-fold stratified cross-validation on {sample}"


def _split(
    X: pd.DataFrame, y: pd.Series, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    counts = y.value_counts()
    if counts.min() < 2 or len(counts) < 2:
        raise ValueError(
            f"too few customers in one class to split ({counts.to_dict()}); "
            "the models need at least a handful of churned and retained customers"
        )
    return train_test_split(X, y, test_size=size, stratify=y, random_state=seed)


def cv_sample(
    X: pd.DataFrame, y: pd.Series, params: ChurnParams | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """The rows cross-validation runs on: all of them up to ``params.cv_max_rows``, else a
    stratified (by label), seeded sample of that many.

    Examples
    --------
    >>> X = pd.DataFrame({"n": range(100)})
    >>> y = pd.Series([True] * 20 + [False] * 80)
    >>> Xs, ys = cv_sample(X, y, ChurnParams(cv_max_rows=50))
    >>> len(Xs), int(ys.sum())
    (50, 10)
    """
    params = params or ChurnParams()
    limit = params.cv_max_rows
    if not limit or len(X) <= limit:
        return X, y
    y = pd.Series(np.asarray(y, dtype=bool), index=X.index)
    kept, _, y_kept, _ = train_test_split(
        X, y, train_size=limit, stratify=y, random_state=params.random_state
    )
    return kept, y_kept


def cross_validate(
    X: pd.DataFrame, y: pd.Series, columns: ModelColumns, params: ChurnParams | None = None
) -> pd.DataFrame:
    """Stratified k-fold metrics of both models (``params.cv_folds`` folds) on the rows
    given (:func:`cv_sample` chooses them in :func:`train_models`).

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
    """Split, fit both models, choose the one to register, cross-validate, score the holdout.

    Splits (stratified, seeded): ``holdout_size`` of the labelled customers form the
    holdout; ``validation_size`` of the rest the validation split; the remaining rows
    train both models. The model with the higher validation ROC-AUC is chosen
    (:func:`choose_model`). Cross-validation runs on training + validation rows (a
    stratified sample of ``cv_max_rows`` of them when there are more). The decision
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
    size = params.batch_size
    valid = {k: predict_churn(m, X_val, batch_size=size) for k, m in models.items()}
    holdout = {k: predict_churn(m, X_hold, batch_size=size) for k, m in models.items()}
    choice = choose_model(y_val, valid)
    if params.decision_threshold > 0:
        thresholds = dict.fromkeys(models, float(params.decision_threshold))
    else:
        thresholds = {k: choose_threshold(y_val, v) for k, v in valid.items()}
    scored = time.perf_counter()
    X_cv, y_cv = cv_sample(X_rest, y_rest, params)
    cv = cross_validate(X_cv, y_cv, columns, params)
    best = int(getattr(xgb[-1], "best_iteration", params.n_estimators - 1))
    seconds = {
        "fit": round(fitted - started, 2),
        "predict": round(scored - fitted, 2),
        "cross_validation": round(time.perf_counter() - scored, 2),
    }
    log.info(
        "models: fitted on %s rows in %.1f s (XGBoost kept %s rounds); CV on %s rows %.1f s; %s",
        f"{len(X_fit):,}",
        seconds["fit"],
        best + 1,
        f"{len(X_cv):,}",
        seconds["cross_validation"],
        choice.sentence(),
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
        choice=choice,
        cv=cv,
        cv_rows=int(len(X_cv)) if params.cv_folds >= 2 else 0,
        best_iteration=best,
        train_rows=int(len(X_fit)),
        seconds=seconds,
    )


def original_columns(pipeline: Pipeline) -> tuple[list[str], np.ndarray]:
    """The model inputs and, for each encoded column the model sees, the index of the
    input it came from (one-hot columns map to their categorical feature, a missing-value
    indicator to its numeric feature).

    Works for both pipelines of this module (XGBoost: numbers passed through; baseline:
    numbers imputed with indicators).
    """
    frame: FramePrep = pipeline.named_steps["frame"]
    encode: ColumnTransformer = pipeline.named_steps["encode"]
    names = list(frame.numeric_) + list(frame.categorical_)
    owner = list(range(len(frame.numeric_)))
    if frame.numeric_:
        imputer = encode.named_transformers_["num"]
        indicator = getattr(imputer, "indicator_", None)
        if indicator is not None:
            owner += [int(j) for j in indicator.features_]
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
            "original_columns expects a churn pipeline of workbench.churn.model"
        )
    return names, np.asarray(owner, dtype=np.int64)
