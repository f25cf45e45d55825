"""SHAP explanations of the churn models, in bulk and per customer.

:func:`model_contributions` explains either model of :mod:`workbench.churn.model`, in
batches of rows: the registered version may be the XGBoost pipeline or the logistic
baseline, whichever won on validation data.

**Logistic baseline** (:func:`linear_contributions`): every encoded column is
standardised on the training rows (mean 0), so with independent inputs the exact SHAP
value of a column is its coefficient times its standardised value, the expected log-odds
is the intercept, and ``intercept + Σ contributions`` is the model's log-odds. A numeric
input's contribution includes its missing-value indicator; a category's, its one-hot
columns.

**XGBoost**: bulk contributions come from XGBoost itself (``Booster.predict(..., pred_contribs=True)``,
exact Tree SHAP in C++, on all cores given): one value per encoded column plus the bias,
in log-odds. One-hot columns are summed back onto their categorical feature (SHAP
values are additive), so every customer gets one contribution per model input, and
``bias + Σ contributions`` is the model's log-odds.

Checking them: ``shap.TreeExplainer(model)`` on an XGBoost model does not run SHAP's own
algorithm — it calls the same XGBoost routine. :func:`reference_shap_values` therefore
hands SHAP the parsed trees as a plain tree ensemble, so SHAP's own C++ Tree SHAP
computes the values independently; :func:`treeexplainer_shap_values` is the usual
``TreeExplainer`` call, kept for timing comparisons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline

from workbench.churn.model import original_columns
from workbench.churn.reasons import describe_column, phrase
from workbench.features import data_dictionary

__all__ = [
    "Contributions",
    "model_kind",
    "model_contributions",
    "linear_contributions",
    "native_contributions",
    "encoded_contributions",
    "reference_shap_values",
    "reference_linear_values",
    "treeexplainer_shap_values",
    "global_importance",
    "top_reasons",
    "column_meanings",
]

log = logging.getLogger(__name__)


@dataclass
class Contributions:
    """SHAP values (log-odds) of a set of customers, one column per model input.

    Attributes
    ----------
    values : DataFrame
        Rows = customers (index of the scored frame), columns = model inputs.
    base_value : float
        The model's expected log-odds (XGBoost's bias term).
    data : DataFrame
        The inputs as the model read them (numbers as float, categories as text).
    ids : Series
        Customer ids aligned with ``values``.
    categorical : list of str
        Inputs that are categories.
    """

    values: pd.DataFrame
    base_value: float
    data: pd.DataFrame
    ids: pd.Series
    categorical: list[str]

    def log_odds(self) -> pd.Series:
        """``base_value + Σ contributions`` per customer (the model's raw output)."""
        return self.base_value + self.values.sum(axis=1)

    def probability(self) -> pd.Series:
        """The churn probability implied by the contributions."""
        return 1.0 / (1.0 + np.exp(-self.log_odds()))


def _model_parts(pipeline: Pipeline) -> tuple[xgb.Booster, int]:
    model = pipeline[-1]
    if not hasattr(model, "get_booster"):
        raise TypeError(
            f"expected the XGBoost churn pipeline, got a {type(model).__name__} as last step"
        )
    booster = model.get_booster()
    try:
        rounds = int(model.best_iteration) + 1
    except AttributeError:  # fitted without early stopping
        rounds = booster.num_boosted_rounds()
    return booster, rounds


def _encoded(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(pipeline[:-1].transform(X), dtype=np.float32)


def model_kind(pipeline: Pipeline) -> str:
    """``"xgboost"`` or ``"baseline"`` (logistic regression): the last step's kind.

    Raises
    ------
    TypeError
        Any other last step (the message names it).
    """
    model = pipeline[-1]
    if hasattr(model, "get_booster"):
        return "xgboost"
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        return "baseline"
    raise TypeError(
        "expected a churn pipeline ending in XGBoost or a logistic regression, got a "
        f"{type(model).__name__} as last step"
    )


def encoded_contributions(
    pipeline: Pipeline, X: pd.DataFrame, *, batch_size: int | None = None
) -> np.ndarray:
    """XGBoost's native contributions per encoded column, the bias last (n × (k + 1)),
    computed ``batch_size`` rows at a time when given."""
    booster, rounds = _model_parts(pipeline)
    step = batch_size or max(len(X), 1)
    parts = []
    for start in range(0, len(X), step):
        matrix = xgb.DMatrix(_encoded(pipeline, X.iloc[start : start + step]))
        parts.append(booster.predict(matrix, pred_contribs=True, iteration_range=(0, rounds)))
    if not parts:
        width = len(pipeline[:-1].get_feature_names_out()) + 1
        return np.zeros((0, width), dtype=np.float32)
    return np.concatenate(parts)


def _grouped(raw: np.ndarray, owner: np.ndarray, inputs: int) -> np.ndarray:
    """Encoded-column values summed onto the inputs they came from."""
    membership = np.zeros((len(owner), inputs), dtype=np.float64)
    membership[np.arange(len(owner)), owner] = 1.0
    return np.asarray(raw[:, : len(owner)], dtype=np.float64) @ membership


def _ids(X: pd.DataFrame, id_column: str) -> pd.Series:
    ids = (
        X[id_column].astype("str") if id_column in X.columns else X.index.to_series().astype("str")
    )
    return ids.rename("customer_id")


def native_contributions(
    pipeline: Pipeline,
    X: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    batch_size: int | None = None,
) -> Contributions:
    """SHAP values of every row of ``X`` per model input, from XGBoost's native routine.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted XGBoost pipeline of :func:`workbench.churn.model.train_models`.
    X : DataFrame
        Raw feature frame (as given to ``predict_proba``).
    id_column : str
        Column of ``X`` with the customer id (the row index is used without it).
    batch_size : int, optional
        Rows encoded and explained at a time.
    """
    names, owner = original_columns(pipeline)
    step = batch_size or max(len(X), 1)
    parts, bias = [], float("nan")
    for start in range(0, len(X), step):
        raw = encoded_contributions(pipeline, X.iloc[start : start + step])
        bias = float(raw[0, -1])
        parts.append(_grouped(raw, owner, len(names)))
    grouped = np.concatenate(parts) if parts else np.zeros((0, len(names)))
    frame_step = pipeline.named_steps["frame"]
    return Contributions(
        values=pd.DataFrame(grouped, index=X.index, columns=names),
        base_value=bias,
        data=frame_step.transform(X),
        ids=_ids(X, id_column),
        categorical=list(frame_step.categorical_),
    )


def linear_contributions(
    pipeline: Pipeline,
    X: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    batch_size: int | None = None,
) -> Contributions:
    """Exact SHAP values of the logistic baseline per model input (see the module notes):
    coefficient × standardised value, summed over each input's encoded columns; the
    base value is the intercept.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted baseline of :func:`workbench.churn.model.baseline_pipeline`.
    X : DataFrame
        Raw feature frame.
    id_column : str
        Column of ``X`` with the customer id.
    batch_size : int, optional
        Rows encoded at a time.

    Examples
    --------
    >>> from workbench.churn.model import ModelColumns, fit_baseline
    >>> X = pd.DataFrame({"n": [1.0, 2.0, 3.0, 4.0, None, 6.0], "c": list("aabbab")})
    >>> y = pd.Series([0, 0, 1, 1, 0, 1])
    >>> model = fit_baseline(X, y, ModelColumns(["n"], ["c"]))
    >>> values = linear_contributions(model, X)
    >>> margin = model.decision_function(X)
    >>> bool(np.allclose(values.log_odds().to_numpy(), margin))
    True
    """
    if model_kind(pipeline) != "baseline":
        raise TypeError("linear_contributions: expected the logistic baseline pipeline")
    names, owner = original_columns(pipeline)
    model = pipeline[-1]
    weights = np.asarray(model.coef_, dtype=np.float64).ravel()
    step = batch_size or max(len(X), 1)
    parts = []
    for start in range(0, len(X), step):
        encoded = np.asarray(pipeline[:-1].transform(X.iloc[start : start + step]), dtype=float)
        parts.append(_grouped(encoded * weights, owner, len(names)))
    grouped = np.concatenate(parts) if parts else np.zeros((0, len(names)))
    frame_step = pipeline.named_steps["frame"]
    return Contributions(
        values=pd.DataFrame(grouped, index=X.index, columns=names),
        base_value=float(np.asarray(model.intercept_).ravel()[0]),
        data=frame_step.transform(X),
        ids=_ids(X, id_column),
        categorical=list(frame_step.categorical_),
    )


def model_contributions(
    pipeline: Pipeline,
    X: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    batch_size: int | None = None,
) -> Contributions:
    """SHAP values of every row of ``X`` per model input, for either churn model:
    :func:`native_contributions` (XGBoost) or :func:`linear_contributions` (baseline)."""
    explain = native_contributions if model_kind(pipeline) == "xgboost" else linear_contributions
    return explain(pipeline, X, id_column=id_column, batch_size=batch_size)


def reference_shap_values(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """SHAP values per encoded column computed by SHAP's own Tree SHAP (not XGBoost's).

    The booster (trees up to the best iteration) is parsed by SHAP and handed back to
    :class:`shap.TreeExplainer` as a plain tree ensemble, so SHAP runs its own C++
    implementation (path-dependent Tree SHAP, the same definition XGBoost uses). The
    bias differs in how the base score is folded in, so only the per-column values are
    returned (and compared).
    """
    import shap

    booster, rounds = _model_parts(pipeline)
    parsed = shap.TreeExplainer(booster[:rounds]).model
    trees = [
        {
            "children_left": t.children_left,
            "children_right": t.children_right,
            "children_default": t.children_default,
            "features": t.features,
            "thresholds": t.thresholds,
            "values": t.values,
            "node_sample_weight": t.node_sample_weight,
        }
        for t in parsed.trees
    ]
    explainer = shap.TreeExplainer({"trees": trees, "base_offset": parsed.base_offset})
    return np.asarray(explainer.shap_values(_encoded(pipeline, X), check_additivity=False))


def reference_linear_values(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """SHAP values per encoded column of the logistic baseline from the SHAP package's
    :class:`shap.LinearExplainer` (independent inputs with the training means, which are 0
    after standardisation): the independent check of :func:`linear_contributions`."""
    import shap

    model = pipeline[-1]
    width = int(np.asarray(model.coef_).shape[-1])
    explainer = shap.LinearExplainer(model, (np.zeros(width), np.eye(width)))
    encoded = np.asarray(pipeline[:-1].transform(X), dtype=float)
    return np.asarray(explainer.shap_values(encoded))


def treeexplainer_shap_values(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """``shap.TreeExplainer(booster).shap_values`` per encoded column (SHAP delegates this
    to XGBoost's native routine for XGBoost models)."""
    import shap

    booster, rounds = _model_parts(pipeline)
    return np.asarray(shap.TreeExplainer(booster[:rounds]).shap_values(_encoded(pipeline, X)))


def column_meanings(columns: list[str], *, point_in_time: bool = True) -> dict[str, str]:
    """Data-dictionary meaning of each model input (feature-table columns only; a user's
    own columns are described by their name)."""
    if not point_in_time:
        return {c: describe_column(c) for c in columns}
    dictionary = data_dictionary(pd.DataFrame(columns=columns))
    return dict(zip(dictionary["column"], dictionary["meaning"], strict=True))


def global_importance(
    contributions: Contributions, meanings: dict[str, str] | None = None
) -> pd.DataFrame:
    """Mean absolute SHAP value per input (largest first), its share of the total, the
    mean signed value and the input's meaning."""
    values = contributions.values
    mean_abs = values.abs().mean()
    total = float(mean_abs.sum()) or 1.0
    frame = pd.DataFrame(
        {
            "feature": values.columns,
            "mean_abs_shap": mean_abs.to_numpy(),
            "share": mean_abs.to_numpy() / total,
            "mean_shap": values.mean().to_numpy(),
        }
    )
    meanings = meanings or {}
    frame["meaning"] = [describe_column(c, meanings.get(c)) for c in frame["feature"]]
    return frame.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def top_reasons(
    contributions: Contributions, *, k: int = 3, meanings: dict[str, str] | None = None
) -> pd.DataFrame:
    """The ``k`` inputs that move each customer's churn risk most, in plain words.

    Reasons are ranked by absolute contribution; each reads "<phrase> (raises risk)" or
    "(lowers risk)", e.g. "no purchase for 240 days (raises risk)". ``reason_codes``
    holds the same reasons as stable codes (``recency_days:+``) for tailoring messages.

    Returns
    -------
    DataFrame
        customer_id, top_reasons (list of str), reason_codes (list of str).
    """
    values = contributions.values.to_numpy()
    n, m = values.shape
    k = min(k, m)
    if n == 0 or k == 0:
        return pd.DataFrame(
            {
                "customer_id": contributions.ids.to_numpy(),
                "top_reasons": [[] for _ in range(n)],
                "reason_codes": [[] for _ in range(n)],
            }
        )
    magnitude = np.abs(values)
    top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(magnitude, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    texts = np.empty((n, k), dtype=object)
    codes = np.empty((n, k), dtype=object)
    meanings = meanings or {}
    categorical = set(contributions.categorical)
    for j, column in enumerate(contributions.values.columns):
        rows, slot = np.nonzero(top == j)
        if not len(rows):
            continue
        words = phrase(
            column,
            contributions.data[column].iloc[rows],
            categorical=column in categorical,
            meaning=meanings.get(column),
        ).to_numpy()
        sign = np.sign(values[rows, j])
        direction = np.where(
            sign > 0, " (raises risk)", np.where(sign < 0, " (lowers risk)", " (no effect)")
        )
        texts[rows, slot] = words.astype(object) + direction
        codes[rows, slot] = np.char.add(
            column, np.where(sign > 0, ":+", np.where(sign < 0, ":-", ":0"))
        )
    return pd.DataFrame(
        {
            "customer_id": contributions.ids.to_numpy(),
            "top_reasons": texts.tolist(),
            "reason_codes": codes.tolist(),
        }
    )
