"""Uplift models: the response baseline, two-model, class transformation and X-learner.

Every model follows scikit-learn's contract: ``__init__`` stores its arguments,
``fit(X, treatment, y)`` validates and returns ``self``, learned attributes end in ``_``.
``predict_uplift(X)`` returns one column per treatment arm (every arm against control):

``response`` (:class:`ResponseModel`) — the baseline
    ``μ_a(x)``: the outcome among the customers who got arm ``a`` only. It ranks who is
    likely to buy when treated, not who buys *because* of the treatment.
``two_model`` (:class:`TwoModel`, T-learner)
    ``μ_a(x) − μ_0(x)``: one outcome model per arm and one for control.
``class_transformation`` (:class:`ClassTransformation`, binary outcomes)
    On the rows of arm ``a`` and control (``w`` = 1 for ``a``) with arm share ``p``:
    when ``p`` is within ``balanced_tolerance`` of 0.5, a classifier of
    ``z = y·w + (1 − y)(1 − w)`` and ``τ(x) = 2·P(z = 1 | x) − 1`` (Jaskowski &
    Jaroszewicz 2012); otherwise a regressor of the propensity-corrected transformed
    outcome ``y* = y·(w − p) / (p·(1 − p))``, whose mean given ``x`` is ``τ(x)`` for any
    constant ``p`` (Athey & Imbens 2015).
``x_learner`` (:class:`XLearner`)
    The two-model fits, then imputed effects ``y − μ_0(x)`` on the arm's rows and
    ``μ_a(x) − y`` on control's, each regressed on ``x`` (``τ_1``, ``τ_0``), combined as
    ``p·τ_0(x) + (1 − p)·τ_1(x)`` (Künzel et al. 2019). It earns its place when the arms
    are unequal in size: the larger group's effect model gets the larger weight.

Why our own code and not causalml: causalml 0.18 installs beside our lock but pulls the
full ``xgboost`` distribution (with a 350 MB CUDA library) on top of our ``xgboost-cpu`` —
both own the ``xgboost`` import package — plus 20 packages we do not use (black,
lightgbm, statsmodels, pathos, forestci, …); its default propensity model calls a
scikit-learn API deprecated in 1.8; its fit signature changes in 1.0; its normalised
Qini gives 0.28, not 1, for a perfect ranking. The meta-learners are a few fits each,
small enough to own and test here; its uplift forest took 81 s for 200 k rows and 10
trees on one core. The propensity is the arm's share (a randomised experiment); the
learners are :mod:`workbench.uplift.learners`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from workbench.churn.model import ModelColumns
from workbench.uplift.learners import fit_learner, predict_outcome
from workbench.uplift.params import BASELINE, UpliftParams

__all__ = [
    "ResponseModel",
    "TwoModel",
    "ClassTransformation",
    "XLearner",
    "MODEL_CLASSES",
    "model_name",
    "make_model",
]

log = logging.getLogger(__name__)


class _UpliftModel(BaseEstimator):
    """Shared contract: store in ``__init__``, validate in ``fit``, one column per arm."""

    approach = ""

    def __init__(
        self,
        learner: str = "xgboost",
        columns: ModelColumns | None = None,
        params: UpliftParams | None = None,
        control: str = "control",
        outcome_kind: str = "binary",
    ):
        self.learner = learner
        self.columns = columns
        self.params = params
        self.control = control
        self.outcome_kind = outcome_kind

    def fit(self, X: pd.DataFrame, treatment: Any, y: Any) -> _UpliftModel:
        """Fit on feature frame ``X``, arm labels ``treatment`` and outcomes ``y``."""
        w, y = self._validate(X, treatment, y)
        self._fit(X, w, y)
        return self

    def predict_uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per treatment arm (``arms_``), indexed like ``X``."""
        if not hasattr(self, "arms_"):
            raise RuntimeError(f"{type(self).__name__}: call fit before predict_uplift")
        return pd.DataFrame(self._predict(X), index=X.index, columns=list(self.arms_))

    # --------------------------------------------------------------------- helpers

    def _validate(self, X: pd.DataFrame, treatment: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__}: X must be a DataFrame, got {type(X).__name__}")
        w = np.asarray(treatment).astype(str)
        y = np.asarray(y, dtype="float64")
        if not len(X) == len(w) == len(y):
            raise ValueError(
                f"{type(self).__name__}: X, treatment and y differ in length "
                f"({len(X)}, {len(w)}, {len(y)})"
            )
        if self.outcome_kind not in ("binary", "continuous"):
            raise ValueError(
                f"{type(self).__name__}: outcome_kind must be 'binary' or 'continuous', "
                f"got {self.outcome_kind!r}"
            )
        present = sorted(set(w.tolist()))
        if self.control not in present:
            raise ValueError(
                f"{type(self).__name__}: control {self.control!r} is not among the arms "
                f"{', '.join(present)}"
            )
        self.arms_ = tuple(str(a) for a in present if a != self.control)
        if not self.arms_:
            raise ValueError(f"{type(self).__name__}: only the control arm is present")
        self.columns_ = self.columns or _columns_of(X)
        self.params_ = self.params or UpliftParams()
        return w, y

    @property
    def _task(self) -> str:
        return "classifier" if self.outcome_kind == "binary" else "regressor"

    def _fit_one(self, task: str, X: pd.DataFrame, y: np.ndarray, seed: int) -> Any:
        return fit_learner(self.learner, task, self.columns_, self.params_, X, y, seed=seed)

    def _fit(self, X: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError


def _columns_of(X: pd.DataFrame) -> ModelColumns:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    return ModelColumns(numeric, [c for c in X.columns if c not in numeric])


def _rows(X: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    return X.loc[mask] if mask.dtype == bool else X.iloc[mask]


class ResponseModel(_UpliftModel):
    """The baseline: the outcome of each arm's customers, ``μ_a(x)``, as the ranking.

    Attributes
    ----------
    models_ : dict
        ``{arm: fitted learner}`` on that arm's rows only.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=400)})
    >>> w = np.where(rng.random(400) < 0.5, "b", "a")
    >>> y = (rng.random(400) < 0.3).astype(int)
    >>> ResponseModel("linear", control="a").fit(X, w, y).predict_uplift(X).columns.tolist()
    ['b']
    """

    approach = BASELINE

    def _fit(self, X: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> None:
        self.models_ = {
            arm: self._fit_one(self._task, _rows(X, w == arm), y[w == arm], seed=i)
            for i, arm in enumerate(self.arms_, start=1)
        }

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([predict_outcome(self.models_[a], X) for a in self.arms_])


class TwoModel(_UpliftModel):
    """T-learner: ``μ_a(x) − μ_0(x)`` from one outcome model per arm and one for control.

    Attributes
    ----------
    control_model_ : fitted learner on the control rows.
    models_ : dict
        ``{arm: fitted learner}`` on that arm's rows.
    """

    approach = "two_model"

    def _fit(self, X: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> None:
        control = w == self.control
        self.control_model_ = self._fit_one(self._task, _rows(X, control), y[control], seed=0)
        self.models_ = {
            arm: self._fit_one(self._task, _rows(X, w == arm), y[w == arm], seed=i)
            for i, arm in enumerate(self.arms_, start=1)
        }

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        base = predict_outcome(self.control_model_, X)
        return np.column_stack([predict_outcome(self.models_[a], X) - base for a in self.arms_])


class ClassTransformation(_UpliftModel):
    """Class transformation for a binary outcome (propensity-corrected when arms differ).

    Attributes
    ----------
    models_ : dict
        ``{arm: fitted learner}`` on the rows of that arm and control.
    propensity_ : dict
        ``{arm: share of the arm among the arm-plus-control rows}``.
    method_ : dict
        ``{arm: "class_label" or "transformed_outcome"}``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"x": rng.normal(size=600)})
    >>> w = np.where(rng.random(600) < 0.25, "t", "c")
    >>> y = (rng.random(600) < 0.3).astype(int)
    >>> ClassTransformation("linear", control="c").fit(X, w, y).method_
    {'t': 'transformed_outcome'}
    """

    approach = "class_transformation"

    def _fit(self, X: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> None:
        if self.outcome_kind != "binary":
            raise ValueError(
                "ClassTransformation: needs a binary outcome; use two_model or x_learner for "
                "a continuous one"
            )
        self.models_, self.propensity_, self.method_ = {}, {}, {}
        for i, arm in enumerate(self.arms_, start=1):
            pair = (w == arm) | (w == self.control)
            treated = (w[pair] == arm).astype("float64")
            outcome = y[pair]
            p = float(treated.mean())
            self.propensity_[arm] = p
            if abs(p - 0.5) <= self.params_.balanced_tolerance:
                self.method_[arm] = "class_label"
                z = outcome * treated + (1 - outcome) * (1 - treated)
                self.models_[arm] = self._fit_one("classifier", _rows(X, pair), z, seed=i)
            else:
                self.method_[arm] = "transformed_outcome"
                target = outcome * (treated - p) / (p * (1 - p))
                self.models_[arm] = self._fit_one("regressor", _rows(X, pair), target, seed=i)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        out = []
        for arm in self.arms_:
            pred = predict_outcome(self.models_[arm], X)
            out.append(2 * pred - 1 if self.method_[arm] == "class_label" else pred)
        return np.column_stack(out)


class XLearner(_UpliftModel):
    """X-learner: imputed individual effects regressed on ``x``, weighted by arm share.

    Attributes
    ----------
    control_model_, models_
        The two-model outcome fits (stage 1).
    effect_treated_, effect_control_ : dict
        ``{arm: regressor}`` of ``y − μ_0(x)`` on the arm's rows and of ``μ_a(x) − y`` on
        control's (stage 2).
    propensity_ : dict
        ``{arm: share of the arm among the arm-plus-control rows}``; the control-side
        effect model gets this weight.
    """

    approach = "x_learner"

    def _fit(self, X: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> None:
        control = w == self.control
        X0, y0 = _rows(X, control), y[control]
        self.control_model_ = self._fit_one(self._task, X0, y0, seed=0)
        base_on_treated: dict[str, np.ndarray] = {}
        self.models_, self.effect_treated_, self.effect_control_ = {}, {}, {}
        self.propensity_ = {}
        for i, arm in enumerate(self.arms_, start=1):
            mask = w == arm
            X1, y1 = _rows(X, mask), y[mask]
            self.models_[arm] = self._fit_one(self._task, X1, y1, seed=i)
            base_on_treated[arm] = predict_outcome(self.control_model_, X1)
            d1 = y1 - base_on_treated[arm]
            d0 = predict_outcome(self.models_[arm], X0) - y0
            self.effect_treated_[arm] = self._fit_one("regressor", X1, d1, seed=100 + i)
            self.effect_control_[arm] = self._fit_one("regressor", X0, d0, seed=200 + i)
            self.propensity_[arm] = float(mask.sum() / (mask.sum() + control.sum()))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        out = []
        for arm in self.arms_:
            p = self.propensity_[arm]
            tau1 = predict_outcome(self.effect_treated_[arm], X)
            tau0 = predict_outcome(self.effect_control_[arm], X)
            out.append(p * tau0 + (1 - p) * tau1)
        return np.column_stack(out)


#: ``{approach: model class}``, the response baseline first.
MODEL_CLASSES: dict[str, type[_UpliftModel]] = {
    BASELINE: ResponseModel,
    "two_model": TwoModel,
    "class_transformation": ClassTransformation,
    "x_learner": XLearner,
}


def model_name(approach: str, learner: str) -> str:
    """``"<approach>_<learner>"``, e.g. ``"two_model_xgboost"``."""
    return f"{approach}_{learner}"


def make_model(
    approach: str,
    learner: str,
    *,
    columns: ModelColumns,
    params: UpliftParams,
    control: str,
    outcome_kind: str,
) -> _UpliftModel:
    """An unfitted uplift model of ``approach`` with base learner ``learner``."""
    if approach not in MODEL_CLASSES:
        raise ValueError(f"approach must be one of {', '.join(MODEL_CLASSES)}, got {approach!r}")
    return MODEL_CLASSES[approach](
        learner=learner, columns=columns, params=params, control=control, outcome_kind=outcome_kind
    )
