"""SHAP explanations of the XGBoost churn model, in bulk and per customer.

Bulk contributions come from XGBoost itself (``Booster.predict(..., pred_contribs=True)``,
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
    "native_contributions",
    "encoded_contributions",
    "reference_shap_values",
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


def encoded_contributions(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """XGBoost's native contributions per encoded column, the bias last (n × (k + 1))."""
    booster, rounds = _model_parts(pipeline)
    matrix = xgb.DMatrix(_encoded(pipeline, X))
    return booster.predict(matrix, pred_contribs=True, iteration_range=(0, rounds))


def native_contributions(
    pipeline: Pipeline, X: pd.DataFrame, *, id_column: str = "customer_id"
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
    """
    names, owner = original_columns(pipeline)
    raw = encoded_contributions(pipeline, X)
    grouped = np.zeros((raw.shape[0], len(names)), dtype=np.float64)
    for j in range(len(names)):  # few inputs; each sums its one-hot columns
        grouped[:, j] = raw[:, np.flatnonzero(owner == j)].sum(axis=1)
    frame_step = pipeline.named_steps["frame"]
    ids = (
        X[id_column].astype("str") if id_column in X.columns else X.index.to_series().astype("str")
    )
    return Contributions(
        values=pd.DataFrame(grouped, index=X.index, columns=names),
        base_value=float(raw[0, -1]) if len(raw) else float("nan"),
        data=frame_step.transform(X),
        ids=ids.rename("customer_id"),
        categorical=list(frame_step.categorical_),
    )


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
