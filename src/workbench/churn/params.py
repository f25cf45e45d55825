"""Parameters of the churn stage: label windows, models, threshold, risk bands, registry.

Every number a data scientist may want to change is a field of :class:`ChurnParams`;
the notebook's parameters cell maps one to one onto these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ChurnParams", "RISK_BANDS", "REGISTERED_MODEL", "CHAMPION", "CHALLENGER"]

#: Default name of the model in the MLflow registry.
REGISTERED_MODEL = "churn-classifier"
#: Alias of the version that scores customers.
CHAMPION = "champion"
#: Alias of the newest version that did not (yet) become champion.
CHALLENGER = "challenger"
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
    n_estimators : int, default 600
        Upper bound of boosting rounds; early stopping picks the number used.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda
        XGBoost settings (``tree_method="hist"``).
    early_stopping_rounds : int, default 40
        Stop when the validation log-loss has not improved for this many rounds.
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
    risk_edges : tuple of float, default (0.3, 0.7)
        Band edges: low < 0.3 ≤ medium < 0.7 ≤ high.
    n_jobs : int, default 1
        Threads of XGBoost. One is fastest on a busy shared machine (OpenMP threads that
        wait for a core spin, measured 9× slower with 2 threads under load); 2 helps on
        large tables when both cores are free.
    random_state : int, default 7
        Seed of every split and model.

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
    n_estimators: int = 600
    learning_rate: float = 0.05
    max_depth: int = 4
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 40
    balance_classes: bool = True
    baseline_c: float = 1.0
    max_categories: int = 20
    decision_threshold: float = 0.0
    risk_edges: tuple[float, float] = (0.3, 0.7)
    n_jobs: int = 1
    random_state: int = 7

    def __post_init__(self) -> None:
        for name in (
            "horizon_days",
            "lookback_days",
            "n_estimators",
            "max_depth",
            "early_stopping_rounds",
            "max_categories",
            "n_jobs",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ChurnParams: {name} must be a positive int, got {value!r}")
        if not isinstance(self.cv_folds, int) or self.cv_folds < 0:
            raise ValueError(f"ChurnParams: cv_folds must be an int >= 0, got {self.cv_folds!r}")
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
        if not 0 <= self.decision_threshold < 1:
            raise ValueError(
                "ChurnParams: decision_threshold must be in [0, 1) (0 = maximise F1), "
                f"got {self.decision_threshold!r}"
            )
        edges = tuple(float(e) for e in self.risk_edges)
        if len(edges) != 2 or not 0 < edges[0] < edges[1] < 1:
            raise ValueError(
                "ChurnParams: risk_edges must be two increasing probabilities in (0, 1), "
                f"e.g. (0.3, 0.7); got {self.risk_edges!r}"
            )
        object.__setattr__(self, "risk_edges", edges)
        if not isinstance(self.baseline_c, int | float) or self.baseline_c <= 0:
            raise ValueError(f"ChurnParams: baseline_c must be positive, got {self.baseline_c!r}")
        for name in ("min_child_weight", "reg_lambda"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"ChurnParams: {name} must be a number >= 0, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
