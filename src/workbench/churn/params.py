"""Parameters of the churn stage: label windows, models, threshold, risk bands, registry.

Every number a data scientist may want to change is a field of :class:`ChurnParams`, and
so is every other parameter of the stage's notebook (an own feature table, the audience
threshold, the registry gate, the size of the explanation checks): the notebook's
parameters cell maps onto these fields by name.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "ChurnParams",
    "RISK_BANDS",
    "REGISTERED_MODEL",
    "CHAMPION",
    "CHALLENGER",
    "MODEL_KINDS",
    "available_cores",
]

#: Default name of the model in the MLflow registry.
REGISTERED_MODEL = "churn-classifier"
#: Alias of the version that scores customers.
CHAMPION = "champion"
#: Alias of the newest version that did not (yet) become champion.
CHALLENGER = "challenger"
#: The two models the stage compares; the better one on validation data is registered.
MODEL_KINDS = ("xgboost", "baseline")
#: Risk band labels, lowest risk first.
RISK_BANDS = ("low", "medium", "high")


@dataclass(frozen=True)
class ChurnParams:
    """Label windows, model settings and decision rules of the churn model.

    Attributes
    ----------
    horizon_days : int, default 90
        A customer churns when they place no completed order in the ``horizon_days``
        after the snapshot date.
    lookback_days : int, default 365
        Only customers with a completed order in the ``lookback_days`` before the
        snapshot date are labelled and scored (the others have already lapsed).
    holdout_size : float, default 0.2
        Share of labelled customers kept out of training for the final evaluation and
        the champion/challenger gate (stratified).
    validation_size : float, default 0.2
        Share of the training rows used for XGBoost's early stopping and to choose the
        decision threshold (stratified).
    cv_folds : int, default 5
        Folds of the stratified cross-validation on the training rows (0 or 1 skips it).
    cv_max_rows : int, default 20000
        Cross-validation runs on a stratified sample of at most this many training rows
        (all rows when there are fewer). Its job is to show how stable the scores are,
        which a sample shows as well; on 1,000,000 customers five folds on every row cost
        17 minutes. 0 means every row.
    n_estimators : int, default 600
        Upper bound of boosting rounds; early stopping picks the number used.
    learning_rate : float, default 0.1
        XGBoost's step size. SHAP values cost time in proportion to the number of trees,
        and for every scored customer; at 0.1 early stopping keeps about a third of the
        trees it keeps at 0.05 (117 against 413 rounds on 100,000 demo customers) for a
        holdout ROC-AUC within 0.0015 of it (measured on the demo at 20,000 and 100,000
        customers).
    max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda
        XGBoost settings (``tree_method="hist"``).
    early_stopping_rounds : int, default 40
        Stop when the validation log-loss has not improved for this many rounds.
    early_stopping_min_delta : float, default 0.0003
        How much lower the validation log-loss must be for a round to count as an
        improvement (0: any decrease). On large data the log-loss keeps creeping down by
        millionths: at 1,000,000 customers 0.0003 keeps 304 trees instead of 598 for a
        holdout ROC-AUC 0.0006 lower, and SHAP for every scored customer costs half; on
        10,000 demo customers it keeps the same 55 trees.
    balance_classes : bool, default True
        Weight the classes equally (``scale_pos_weight`` = negatives / positives for
        XGBoost, ``class_weight="balanced"`` for the baseline). With a rare class this
        moves probabilities up; the calibration chart shows by how much.
    baseline_c : float, default 1.0
        Inverse regularisation strength of the logistic-regression baseline.
    max_categories : int, default 20
        One-hot columns per categorical feature at most; rarer levels are pooled.
    decision_threshold : float, default 0.0
        Probability above which a customer is predicted to churn in the confusion
        matrix; 0 chooses the threshold that maximises F1 on the validation split.
    risk_medium, risk_high : float, default 0.3, 0.7
        Band edges (:attr:`risk_edges`): low below ``risk_medium`` ≤ medium below
        ``risk_high`` ≤ high.
    n_jobs : int, default 0
        Threads of XGBoost (fitting and contributions); 0 means one per available core.
        Runs under ``workbench run`` and the tests set ``OMP_WAIT_POLICY=passive``, so
        idle OpenMP threads do not spin against each other on a busy machine; set 1 to
        leave the other cores alone.
    batch_size : int, default 100000
        Customers scored and explained per batch (bounds the memory of the encoded
        frame and of the contributions of one batch).
    random_state : int, default 7
        Seed of every split and model.
    features_path : str, default ""
        A user's own customer-level CSV or Parquet table to train and explain on instead
        of the point-in-time labels of the canonical tables (:attr:`own_table`).
    label_column : str, default "churned"
        With ``features_path``: the label column (bool, 0/1, yes/no, churned/retained).
    id_column : str, default "customer_id"
        With ``features_path``: the customer id column (never a model input).
    target_threshold : float, default 0.7
        Win-back audience: opted-in customers scored at or above this probability.
    registered_model : str, default :data:`REGISTERED_MODEL`
        Name of the model in the MLflow registry.
    min_auc_gain : float, default 0.002
        A new version becomes champion only when its holdout ROC-AUC beats the
        champion's, on the same holdout, by at least this much (a tie keeps the champion;
        the new version keeps the challenger alias). 0.002 is below the spread of
        ROC-AUC between cross-validation folds on the demo data, so only a real gain moves
        the champion.
    mlflow_evaluator : bool, default False
        Score both versions at the gate with ``mlflow.models.evaluate`` (its plots; slower).
    shap_check_rows : int, default 500
        Customers on which the chosen model's contributions are checked against the SHAP
        package (XGBoost: SHAP's own Tree SHAP; logistic regression: its linear
        explainer).
    explain_rows : int, default 20000
        When another version than the new one scores the customers, the new version's
        SHAP importance, beeswarm and dependence plots come from a random sample of this
        many customers (the scoring model's contributions cover every customer).
    beeswarm_points : int, default 2000
        Customers drawn in the beeswarm figure.

    Examples
    --------
    >>> ChurnParams(horizon_days=60).horizon_days
    60
    >>> ChurnParams(holdout_size=1.5)
    Traceback (most recent call last):
    ...
    ValueError: ChurnParams: holdout_size must be between 0 and 1 (exclusive), got 1.5
    """

    horizon_days: int = 90
    lookback_days: int = 365
    holdout_size: float = 0.2
    validation_size: float = 0.2
    cv_folds: int = 5
    cv_max_rows: int = 20_000
    n_estimators: int = 600
    learning_rate: float = 0.1
    max_depth: int = 4
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 40
    early_stopping_min_delta: float = 0.0003
    balance_classes: bool = True
    baseline_c: float = 1.0
    max_categories: int = 20
    decision_threshold: float = 0.0
    risk_medium: float = 0.3
    risk_high: float = 0.7
    n_jobs: int = 0
    batch_size: int = 100_000
    random_state: int = 7
    features_path: str = ""
    label_column: str = "churned"
    id_column: str = "customer_id"
    target_threshold: float = 0.7
    registered_model: str = REGISTERED_MODEL
    min_auc_gain: float = 0.002
    mlflow_evaluator: bool = False
    shap_check_rows: int = 500
    beeswarm_points: int = 2000
    explain_rows: int = 20_000

    def __post_init__(self) -> None:
        for name in (
            "horizon_days",
            "lookback_days",
            "n_estimators",
            "max_depth",
            "early_stopping_rounds",
            "max_categories",
            "batch_size",
            "shap_check_rows",
            "beeswarm_points",
            "explain_rows",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ChurnParams: {name} must be a positive int, got {value!r}")
        for name in ("cv_folds", "cv_max_rows", "n_jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ChurnParams: {name} must be an int >= 0, got {value!r}")
        for name, upper in (("holdout_size", 1.0), ("validation_size", 1.0)):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < upper:
                raise ValueError(
                    f"ChurnParams: {name} must be between 0 and 1 (exclusive), got {value!r}"
                )
        for name in ("learning_rate", "subsample", "colsample_bytree"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                raise ValueError(f"ChurnParams: {name} must be in (0, 1], got {value!r}")
        delta = self.early_stopping_min_delta
        if not _is_number(delta) or not 0 <= delta < 1:
            raise ValueError(
                "ChurnParams: early_stopping_min_delta must be a log-loss difference in "
                f"[0, 1) (0: any decrease counts), got {delta!r}"
            )
        if not 0 <= self.decision_threshold < 1:
            raise ValueError(
                "ChurnParams: decision_threshold must be in [0, 1) (0 = maximise F1), "
                f"got {self.decision_threshold!r}"
            )
        edges = (self.risk_medium, self.risk_high)
        if not all(_is_number(e) for e in edges) or not 0 < edges[0] < edges[1] < 1:
            raise ValueError(
                "ChurnParams: risk_medium and risk_high (the risk_edges) must be two "
                "increasing probabilities in (0, 1), e.g. 0.3 and 0.7; "
                f"got {self.risk_medium!r} and {self.risk_high!r}"
            )
        if not _is_number(self.target_threshold) or not 0 <= self.target_threshold <= 1:
            raise ValueError(
                "ChurnParams: target_threshold must be a probability in [0, 1], "
                f"got {self.target_threshold!r}"
            )
        if not _is_number(self.min_auc_gain) or not 0 <= self.min_auc_gain < 1:
            raise ValueError(
                "ChurnParams: min_auc_gain must be a number in [0, 1) (the ROC-AUC a new "
                f"version must gain over the champion), got {self.min_auc_gain!r}"
            )
        for name in ("label_column", "id_column", "registered_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"ChurnParams: {name} must be a non-empty text, got {value!r}")
        if not isinstance(self.features_path, str):
            raise ValueError(
                "ChurnParams: features_path must be a text (empty for the canonical tables), "
                f"got {self.features_path!r}"
            )
        if not isinstance(self.mlflow_evaluator, bool):
            raise ValueError(
                f"ChurnParams: mlflow_evaluator must be True or False, got {self.mlflow_evaluator!r}"
            )
        if not isinstance(self.baseline_c, int | float) or self.baseline_c <= 0:
            raise ValueError(f"ChurnParams: baseline_c must be positive, got {self.baseline_c!r}")
        for name in ("min_child_weight", "reg_lambda"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"ChurnParams: {name} must be a number >= 0, got {value!r}")

    @property
    def risk_edges(self) -> tuple[float, float]:
        """The risk band edges ``(risk_medium, risk_high)`` as floats."""
        return (float(self.risk_medium), float(self.risk_high))

    @property
    def own_table(self) -> bool:
        """True when the stage trains on the user's table (``features_path``)."""
        return bool(self.features_path)

    @property
    def threads(self) -> int:
        """XGBoost threads: :attr:`n_jobs`, or the cores this process may use when 0."""
        return self.n_jobs or available_cores()

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
