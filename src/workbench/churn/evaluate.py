"""How good a churn score is: metrics, threshold, gains, calibration and confusion tables.

All functions take true labels (bool or 0/1) and predicted probabilities and return
numbers or small frames; the figures built from them live in
:mod:`workbench.churn.figures`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
)

__all__ = [
    "classification_metrics",
    "top_decile_lift",
    "choose_threshold",
    "confusion_table",
    "gains_table",
    "calibration_table",
]


def _arrays(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.shape}) and probabilities ({p.shape}) differ in shape")
    return y.astype(int), p


def top_decile_lift(y_true: ArrayLike, y_prob: ArrayLike, *, share: float = 0.1) -> float:
    """Churn rate among the ``share`` highest scores divided by the overall churn rate.

    Examples
    --------
    >>> top_decile_lift([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0.9, *[0.1] * 9])
    10.0
    """
    y, p = _arrays(y_true, y_prob)
    if not len(y) or y.mean() == 0:
        return float("nan")
    top = max(1, math.ceil(share * len(y)))
    order = np.argsort(-p, kind="stable")[:top]
    return float(y[order].mean() / y.mean())


def classification_metrics(y_true: ArrayLike, y_prob: ArrayLike) -> dict[str, float]:
    """roc_auc, pr_auc (average precision), brier, log_loss, top_decile_lift,
    positive_rate and rows of a probability score.

    Examples
    --------
    >>> m = classification_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m["roc_auc"], m["positive_rate"]
    (0.75, 0.5)
    """
    y, p = _arrays(y_true, y_prob)
    two_classes = len(np.unique(y)) == 2
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "top_decile_lift": top_decile_lift(y, p),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "rows": int(len(y)),
    }


def choose_threshold(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """The probability threshold that maximises F1 (ties: the highest threshold).

    Examples
    --------
    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.35
    """
    y, p = _arrays(y_true, y_prob)
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    f1 = f1[:-1]  # the last point has no threshold
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def confusion_table(y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> pd.DataFrame:
    """2 × 2 counts: rows actual (retained, churned), columns predicted at ``p ≥ threshold``.

    Examples
    --------
    >>> confusion_table([0, 1, 1], [0.2, 0.6, 0.4], 0.5).to_numpy().tolist()
    [[1, 0], [1, 1]]
    """
    y, p = _arrays(y_true, y_prob)
    pred = (p >= threshold).astype(int)
    counts = np.zeros((2, 2), dtype=int)
    np.add.at(counts, (y, pred), 1)
    labels = ["retained", "churned"]
    return pd.DataFrame(
        counts,
        index=pd.Index([f"actual {x}" for x in labels], name="actual"),
        columns=pd.Index([f"predicted {x}" for x in labels], name="predicted"),
    )


def gains_table(y_true: ArrayLike, y_prob: ArrayLike, *, points: int = 100) -> pd.DataFrame:
    """Cumulative gains: share of customers contacted (highest scores first) against the
    share of all churners they contain, at ``points`` evenly spaced depths (plus 0)."""
    y, p = _arrays(y_true, y_prob)
    order = np.argsort(-p, kind="stable")
    captured = np.concatenate([[0], np.cumsum(y[order])]) / max(y.sum(), 1)
    depth = np.linspace(0, 1, points + 1)
    idx = np.round(depth * len(y)).astype(int)
    return pd.DataFrame({"contacted_share": depth, "churners_captured": captured[idx]})


def calibration_table(y_true: ArrayLike, y_prob: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed churn rate in ``bins`` equal-size
    groups of customers (by predicted probability)."""
    y, p = _arrays(y_true, y_prob)
    groups = pd.qcut(pd.Series(p).rank(method="first"), q=min(bins, len(p)), labels=False)
    frame = pd.DataFrame({"group": groups, "predicted": p, "observed": y})
    out = frame.groupby("group").agg(
        predicted=("predicted", "mean"),
        observed=("observed", "mean"),
        customers=("observed", "size"),
    )
    return out.reset_index(drop=True)
