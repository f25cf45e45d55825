"""Thresholds of the monitoring stage: when a column drifted, when a table changed, when to
retrain.

Every number a data scientist may want to change is a field of :class:`DriftThresholds` or
:class:`RetrainRule`; the notebook's parameters cell maps one to one onto these fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DriftThresholds", "MonitoringParams", "RetrainRule", "STATUSES"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: Drift statuses, least severe first.
STATUSES = ("ok", "warn", "alert")


def _positive_int(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def _in_open_unit(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1:
        raise ValueError(f"{owner}: {name} must be between 0 and 1 (exclusive), got {value!r}")


def _positive(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class DriftThresholds:
    """How columns are binned and when a difference counts as drift.

    A column is compared on bins fitted to the reference (see
    :func:`workbench.monitoring.fit_bins`). Its status is

    * ``"ok"`` when the binned counts do not differ beyond sampling noise (G-test of
      homogeneity, p ≥ ``alpha``) — whatever PSI and JS say;
    * otherwise ``"alert"`` when PSI ≥ ``psi_alert`` or JS ≥ ``js_alert``;
    * otherwise ``"warn"`` when PSI ≥ ``psi_warn`` or JS ≥ ``js_warn``;
    * otherwise ``"ok"``.

    For orientation, on 10 quantile bins a shift of a normal mean by δ standard deviations
    gives PSI ≈ 0.038 and JS ≈ 0.083 at δ = 0.2, PSI ≈ 0.24 and JS ≈ 0.20 at δ = 0.5: the
    alert thresholds agree with each other, the JS warning (0.05, about δ = 0.12) is more
    sensitive than the PSI warning (0.1, about δ = 0.33). The noise gate keeps small samples
    from warning: on 10 bins with 5,000 rows on each side, sampling noise alone exceeds JS
    0.045 about once in a thousand comparisons; with 1,000 rows, JS 0.10.

    Attributes
    ----------
    psi_warn, psi_alert : float, default 0.1 and 0.25
        Population stability index thresholds (the industry convention).
    js_warn, js_alert : float, default 0.05 and 0.2
        Jensen–Shannon distance thresholds (base 2, between 0 and 1).
    alpha : float, default 0.001
        Significance level of the noise gate.
    bins : int, default 10
        Quantile bins of a numeric column (before ties are resolved).
    max_categories : int, default 50
        Categories of a categorical column kept as their own bin (the most frequent in the
        reference); rarer reference categories share an ``(other)`` bin.
    eps : float, default 1e-4
        Floor of a bin's share in PSI, so a bin empty on one side gives a large but finite
        term (Jensen–Shannon needs no floor).
    dataset_share : float, default 0.5
        The data set as a whole drifted when at least this share of its columns has a
        status other than ``"ok"``.
    rows_warn, rows_alert : float, default 0.2 and 0.5
        Relative change of a table's row count that warns / alerts.
    missing_warn, missing_alert : float, default 0.05 and 0.2
        Rise of a column's missing share (absolute, 0.05 = five percentage points) that
        warns / alerts.

    Examples
    --------
    >>> DriftThresholds().psi_alert
    0.25
    >>> DriftThresholds(psi_warn=0.3)
    Traceback (most recent call last):
    ...
    ValueError: DriftThresholds: psi_warn (0.3) must be below psi_alert (0.25)
    """

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    js_warn: float = 0.05
    js_alert: float = 0.2
    alpha: float = 0.001
    bins: int = 10
    max_categories: int = 50
    eps: float = 1e-4
    dataset_share: float = 0.5
    rows_warn: float = 0.2
    rows_alert: float = 0.5
    missing_warn: float = 0.05
    missing_alert: float = 0.2

    def __post_init__(self) -> None:
        owner = "DriftThresholds"
        for name in ("psi_warn", "psi_alert", "rows_warn", "rows_alert"):
            _positive(owner, name, getattr(self, name))
        for name in ("js_warn", "js_alert", "alpha", "eps", "missing_warn", "missing_alert"):
            _in_open_unit(owner, name, getattr(self, name))
        if not isinstance(self.dataset_share, int | float) or not 0 < self.dataset_share <= 1:
            raise ValueError(
                f"{owner}: dataset_share must be in (0, 1], got {self.dataset_share!r}"
            )
        _positive_int(owner, "max_categories", self.max_categories)
        _positive_int(owner, "bins", self.bins)
        if self.bins < 2:
            raise ValueError(f"{owner}: bins must be at least 2, got {self.bins!r}")
        for low, high in (
            ("psi_warn", "psi_alert"),
            ("js_warn", "js_alert"),
            ("rows_warn", "rows_alert"),
            ("missing_warn", "missing_alert"),
        ):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(
                    f"{owner}: {low} ({getattr(self, low)!r}) must be below "
                    f"{high} ({getattr(self, high)!r})"
                )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters or ``monitoring.json``."""
        return asdict(self)


@dataclass(frozen=True)
class RetrainRule:
    """When the churn model should be retrained.

    Retraining is recommended when any of these holds:

    1. the realised ROC-AUC of the most recent matured scores is below the holdout ROC-AUC
       of the model that made them by more than ``auc_drop`` — counted only when both
       realised classes have at least ``min_class_size`` customers (below that the realised
       AUC is too noisy to act on, and a note says so);
    2. one of the model's ``top_features`` most important inputs (by mean |SHAP|) has
       PSI ≥ ``psi`` beyond sampling noise (p below the drift thresholds' ``alpha``);
    3. one of those inputs is missing from the current data.

    Attributes
    ----------
    auc_drop : float, default 0.03
    psi : float, default 0.25
    top_features : int, default 5
    min_class_size : int, default 30

    Examples
    --------
    >>> RetrainRule().auc_drop
    0.03
    >>> RetrainRule(top_features=0)
    Traceback (most recent call last):
    ...
    ValueError: RetrainRule: top_features must be a positive int, got 0
    """

    auc_drop: float = 0.03
    psi: float = 0.25
    top_features: int = 5
    min_class_size: int = 30

    def __post_init__(self) -> None:
        _in_open_unit("RetrainRule", "auc_drop", self.auc_drop)
        _positive("RetrainRule", "psi", self.psi)
        _positive_int("RetrainRule", "top_features", self.top_features)
        _positive_int("RetrainRule", "min_class_size", self.min_class_size)

    def describe(self) -> str:
        """The rule in one sentence (shown in the report and ``monitoring.json``)."""
        return (
            f"retrain when the realised ROC-AUC of the latest matured churn scores is more "
            f"than {self.auc_drop:g} below the model's holdout ROC-AUC (both classes with at "
            f"least {self.min_class_size} customers), or when one of the top "
            f"{self.top_features} SHAP features has PSI >= {self.psi:g} beyond sampling noise "
            "or is missing"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values."""
        return asdict(self)


@dataclass(frozen=True)
class MonitoringParams:
    """The parameters of the monitoring stage (its notebook's parameters cell).

    Attributes
    ----------
    reference_as_of : str, default ""
        The earlier run of this project and source that drift is measured against (its
        ``as_of``, ``YYYY-MM-DD``); "" means the most recent run before this one's
        ``as_of``.
    input : {"clean", "raw"}, default "clean"
        Which canonical tables the row counts and realised outcomes are read from.
    psi_warn, psi_alert, js_warn, js_alert, alpha, bins : see :class:`DriftThresholds`
    auc_drop, retrain_psi, top_features, min_class_size : see :class:`RetrainRule`
        (``retrain_psi`` is its ``psi``).

    Examples
    --------
    >>> MonitoringParams(psi_alert=0.3).thresholds().psi_alert
    0.3
    >>> MonitoringParams(reference_as_of="31 March")
    Traceback (most recent call last):
    ...
    ValueError: MonitoringParams: reference_as_of must be "" or a date YYYY-MM-DD, got '31 March'
    """

    reference_as_of: str = ""
    input: str = "clean"
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    js_warn: float = 0.05
    js_alert: float = 0.2
    alpha: float = 0.001
    bins: int = 10
    auc_drop: float = 0.03
    retrain_psi: float = 0.25
    top_features: int = 5
    min_class_size: int = 30

    def __post_init__(self) -> None:
        owner = "MonitoringParams"
        text = self.reference_as_of
        if not isinstance(text, str) or (text and not _ISO_DATE.fullmatch(text)):
            raise ValueError(
                f'{owner}: reference_as_of must be "" or a date YYYY-MM-DD, got {text!r}'
            )
        if self.input not in ("clean", "raw"):
            raise ValueError(f"{owner}: input must be 'clean' or 'raw', got {self.input!r}")
        self.thresholds()
        self.rule()

    def thresholds(self) -> DriftThresholds:
        """The drift thresholds these parameters set."""
        return DriftThresholds(
            psi_warn=self.psi_warn,
            psi_alert=self.psi_alert,
            js_warn=self.js_warn,
            js_alert=self.js_alert,
            alpha=self.alpha,
            bins=self.bins,
        )

    def rule(self) -> RetrainRule:
        """The retrain rule these parameters set."""
        return RetrainRule(
            auc_drop=self.auc_drop,
            psi=self.retrain_psi,
            top_features=self.top_features,
            min_class_size=self.min_class_size,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values (MLflow parameters)."""
        return asdict(self)
