"""Parameters of the uplift stage: models, base learners, holdout, metrics and the gate.

Every number a data scientist may want to change is a field of :class:`UpliftParams`;
the notebook's parameters cell maps one to one onto these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.churn.params import available_cores

__all__ = [
    "UpliftParams",
    "APPROACHES",
    "LEARNERS",
    "BASELINE",
    "OUTCOMES",
    "UPLIFT_AT_K_STRATEGIES",
    "PARALLEL_ROWS",
]

#: The response model (outcome among the treated only): the baseline every uplift model
#: has to beat.
BASELINE = "response"
#: Uplift approaches that can be fitted (the response baseline is always fitted too).
APPROACHES = ("two_model", "class_transformation", "x_learner")
#: Base learners: XGBoost, and a linear model (logistic regression for a binary
#: outcome, ridge regression for a continuous one and for every effect regression).
LEARNERS = ("xgboost", "linear")
#: Outcomes the canonical-tables route builds: conversion in the window (binary) or revenue.
OUTCOMES = ("converted", "revenue")
#: How ``uplift_at_k`` picks the top k (scikit-uplift's two strategies).
UPLIFT_AT_K_STRATEGIES = ("overall", "by_group")
#: Fits on fewer rows run XGBoost on one thread when ``n_jobs`` is 0. Measured on 2 cores
#: (200 rounds, 80 inputs): 5,000 rows 1.4 s on one thread and no faster on two;
#: 20,000 rows 2.5 s -> 1.9 s; 200,000 rows 14.4 s -> 9.4 s. The uplift fits at 10k
#: customers (4,691 assigned, split by arm and holdout) took 12.5 s on one thread and
#: 13.9 s on two (mean of five alternating pairs).
PARALLEL_ROWS = 20_000


@dataclass(frozen=True)
class UpliftParams:
    """Models, base learners, holdout, metrics and the decision gate of the uplift stage.

    Attributes
    ----------
    experiment_id : str, default ""
        Canonical route: the experiment of ``experiment_assignments`` to learn from (""
        = the only or the most recent one). File route: the name the report uses (the
        file's name when empty).
    control : str, default "control"
        The control arm's value (canonical ``variant`` or the file's ``treatment_column``).
    window_days : int, default 14
        Canonical route: the outcome is what a customer did in the ``window_days`` days
        after their assignment (completed orders); customers whose window is not over by
        ``as_of`` are left out.
    outcome : {"converted", "revenue"}, default "converted"
        Canonical route: conversion (at least one completed order in the window) or the
        revenue of those orders.
    features_path : str, default ""
        File route: a CSV or Parquet table, one row per customer, with the treatment,
        the outcome and the features known before the assignment (empty: the canonical
        tables).
    treatment_column : str, default "treatment"
        File route: the assigned arm.
    outcome_column : str, default "outcome"
        File route: 0/1, yes/no, true/false, or a number (e.g. revenue).
    id_column : str, default ""
        File route: the customer id column of ``features_path`` and ``score_path`` (empty:
        the row number).
    score_path : str, default ""
        A CSV or Parquet table with the same feature columns (no outcome needed) to score
        with the chosen models; its scores are written beside the report as
        ``uplift_scores.parquet``.
    holdout_size : float, default 0.3
        Share of the rows kept out of training to compare the models (stratified by
        treatment arm × outcome).
    approaches : tuple of str, default ("two_model", "class_transformation", "x_learner")
        Uplift approaches compared with the response baseline. ``class_transformation``
        is skipped for a continuous outcome.
    learners : tuple of str, default ("xgboost", "linear")
        Base learners; every approach is fitted with each of them.
    n_estimators, learning_rate, max_depth, min_child_weight, subsample,
    colsample_bytree, reg_lambda
        XGBoost settings (``tree_method="hist"``, a fixed number of rounds). Shallow,
        regularised trees: an uplift is a small difference of two predictions, and
        over-fitted trees turn noise into spurious heterogeneity.
    linear_c : float, default 1.0
        Inverse regularisation strength of the logistic regression (``alpha = 1 / C``
        for the ridge regressions).
    max_categories : int, default 20
        One-hot columns per categorical feature at most; rarer levels are pooled.
    balanced_tolerance : float, default 0.02
        Class transformation uses the classic label ``z = y·w + (1 − y)(1 − w)`` when an
        arm's share of the arm-plus-control rows is within this distance of 0.5, and the
        propensity-corrected transformed outcome otherwise.
    top_fractions : tuple of float, default (0.1, 0.2, 0.3)
        Shares of the holdout for ``uplift_at_k`` (reported as ``uplift_at_10`` …).
    uplift_at_k_strategy : {"overall", "by_group"}, default "overall"
        scikit-uplift's strategies: the top k of all rows, or of each group separately.
    bins : int, default 10
        Bins of the uplift-by-decile table.
    ci_level : float, default 0.95
        Two-sided level of the decile intervals and of the Qini interval.
    n_bootstrap : int, default 200
        Bootstrap resamples of the holdout (within each arm) for the Qini interval and
        the gate; 0 uses the point estimate only.
    gate_confidence : float, default 0.9
        A model beats the random ranking when the ``1 − gate_confidence`` quantile of its
        bootstrapped Qini is above 0 (0.5 ≈ the point estimate above 0).
    min_uplift : float, default 0.0
        ``best_arm`` is the arm with the largest expected uplift when it is above this
        value, else none (0: the largest *positive* expected uplift).
    persuadable_uplift : float, default 0.01
        The persuadable audience: customers whose best arm's expected uplift is at least
        this (0.01 = one percentage point of conversion, or one unit of revenue); the
        targeting stage can filter ``uplift_scores`` on the same number.
    refit : bool, default True
        Refit the chosen models on every row (training plus holdout) before scoring;
        the holdout metrics describe the models fitted on the training rows.
    n_jobs : int, default 0
        Threads of XGBoost; 0 means one per available core (as the churn stage) for a
        fit on :data:`PARALLEL_ROWS` rows or more, one for smaller fits. The
        ``hist`` trees are the same with any number of threads (measured: identical
        predictions); 200 rounds on 220,000 rows × 80 inputs take 6.0 s on two threads
        and 10.8 s on one. Set 1 to leave the other cores alone.
    random_state : int, default 7
        Seed of the split, the bootstrap and every model.

    Examples
    --------
    >>> UpliftParams(learners=("xgboost",)).learners
    ('xgboost',)
    >>> UpliftParams(approaches=("s_learner",))
    Traceback (most recent call last):
    ...
    ValueError: UpliftParams: approaches must be a non-empty subset of two_model, class_transformation, x_learner; got 's_learner'
    """

    experiment_id: str = ""
    control: str = "control"
    window_days: int = 14
    outcome: str = "converted"
    features_path: str = ""
    treatment_column: str = "treatment"
    outcome_column: str = "outcome"
    id_column: str = ""
    score_path: str = ""
    holdout_size: float = 0.3
    approaches: tuple[str, ...] = APPROACHES
    learners: tuple[str, ...] = LEARNERS
    n_estimators: int = 200
    learning_rate: float = 0.03
    max_depth: int = 2
    min_child_weight: float = 10.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 5.0
    linear_c: float = 1.0
    max_categories: int = 20
    balanced_tolerance: float = 0.02
    top_fractions: tuple[float, ...] = (0.1, 0.2, 0.3)
    uplift_at_k_strategy: str = "overall"
    bins: int = 10
    ci_level: float = 0.95
    n_bootstrap: int = 200
    gate_confidence: float = 0.9
    min_uplift: float = 0.0
    persuadable_uplift: float = 0.01
    refit: bool = True
    n_jobs: int = 0
    random_state: int = 7

    def __post_init__(self) -> None:
        for name, allowed in (("approaches", APPROACHES), ("learners", LEARNERS)):
            value = getattr(self, name)
            items = (value,) if isinstance(value, str) else tuple(value)
            if not items or any(v not in allowed for v in items) or len(set(items)) < len(items):
                got = ", ".join(map(repr, items)) or "nothing"
                raise ValueError(
                    f"UpliftParams: {name} must be a non-empty subset of {', '.join(allowed)}; "
                    f"got {got}"
                )
            object.__setattr__(self, name, items)
        for name in ("experiment_id", "control", "features_path", "treatment_column",
                     "outcome_column", "id_column", "score_path"):  # fmt: skip
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"UpliftParams: {name} must be text, got {getattr(self, name)!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"UpliftParams: outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}"
            )
        if self.features_path and not (self.treatment_column and self.outcome_column):
            raise ValueError(
                "UpliftParams: features_path needs treatment_column and outcome_column; got "
                f"{self.treatment_column!r} and {self.outcome_column!r}"
            )
        for name in ("n_estimators", "max_depth", "max_categories", "n_jobs", "window_days"):
            value = getattr(self, name)
            low = 0 if name == "n_jobs" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"UpliftParams: {name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.bins, int) or self.bins < 2:
            raise ValueError(f"UpliftParams: bins must be an int >= 2, got {self.bins!r}")
        if not isinstance(self.n_bootstrap, int) or self.n_bootstrap < 0:
            raise ValueError(
                f"UpliftParams: n_bootstrap must be an int >= 0, got {self.n_bootstrap!r}"
            )
        for name in ("holdout_size", "ci_level", "gate_confidence"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 1:
                raise ValueError(
                    f"UpliftParams: {name} must be between 0 and 1 (exclusive), got {value!r}"
                )
        for name in ("learning_rate", "subsample", "colsample_bytree"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                raise ValueError(f"UpliftParams: {name} must be in (0, 1], got {value!r}")
        for name in ("min_child_weight", "reg_lambda"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"UpliftParams: {name} must be a number >= 0, got {value!r}")
        if not isinstance(self.linear_c, int | float) or self.linear_c <= 0:
            raise ValueError(f"UpliftParams: linear_c must be positive, got {self.linear_c!r}")
        if not 0 <= self.balanced_tolerance < 0.5:
            raise ValueError(
                "UpliftParams: balanced_tolerance must be in [0, 0.5), "
                f"got {self.balanced_tolerance!r}"
            )
        fractions = tuple(float(k) for k in self.top_fractions)
        if not fractions or any(not 0 < k < 1 for k in fractions):
            raise ValueError(
                "UpliftParams: top_fractions must be shares in (0, 1), e.g. (0.1, 0.2, 0.3); "
                f"got {self.top_fractions!r}"
            )
        object.__setattr__(self, "top_fractions", fractions)
        if self.uplift_at_k_strategy not in UPLIFT_AT_K_STRATEGIES:
            raise ValueError(
                f"UpliftParams: uplift_at_k_strategy must be one of "
                f"{', '.join(UPLIFT_AT_K_STRATEGIES)}, got {self.uplift_at_k_strategy!r}"
            )
        for name in ("min_uplift", "persuadable_uplift"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"UpliftParams: {name} must be a number, got {value!r}")

    @property
    def threads(self) -> int:
        """XGBoost threads: :attr:`n_jobs`, or the cores this process may use when 0."""
        return self.n_jobs or available_cores()

    def threads_for(self, rows: int) -> int:
        """XGBoost threads of a fit on ``rows`` rows: :attr:`n_jobs` when set; when 0,
        every available core from :data:`PARALLEL_ROWS` rows up and one below (there the
        threads' hand-offs cost more than they share).

        >>> UpliftParams().threads_for(100) == 1 == UpliftParams(n_jobs=1).threads_for(10**6)
        True
        """
        if self.n_jobs or rows >= PARALLEL_ROWS:
            return self.threads
        return 1

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
