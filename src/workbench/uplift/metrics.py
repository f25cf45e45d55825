"""Uplift metrics: Qini and uplift curves, their normalised areas, uplift at k, by decile.

The definitions are scikit-uplift 0.5.1's (``sklift.metrics``), the ones most papers and
tutorials quote; scikit-uplift itself is not used (it breaks on scikit-learn ≥ 1.8 and
current numpy). Rows are sorted by predicted uplift, highest first (ties broken as
scikit-uplift does: a stable sort reversed); tied scores form one step of a curve.
``treatment`` is 1 for the arm and 0 for control.

Qini curve
    After the top ``n`` rows, with ``Y_T, N_T`` the treated conversions and rows among
    them and ``Y_C, N_C`` control's: ``Q(n) = Y_T − Y_C · N_T / N_C`` — the extra
    conversions among the treated of the top ``n``.
Uplift curve
    ``U(n) = (Y_T / N_T − Y_C / N_C) · n`` — the extra conversions had the top ``n`` all
    been treated.
Qini coefficient (:func:`qini_coefficient`, ``qini_auc_score`` in scikit-uplift)
    ``(A_model − A_random) / (A_perfect − A_random)``: ``A`` is the area under a curve
    (trapezoids over ``n = 0 … N``), the random curve is the straight line from ``(0, 0)``
    to the curve's end ``(N, Q(N))``, and the perfect curve ranks every treated converter
    first and every control converter last (``negative_effect=True``: a perfect model also
    finds the customers the treatment puts off). A perfect ranking scores 1, a random
    ranking 0 in expectation, a ranking worse than random is negative. The value is
    smaller than 1 for every real model because the perfect curve knows each outcome.
AUUC (:func:`auuc_score`, ``uplift_auc_score`` in scikit-uplift)
    The same normalisation of the uplift curve; for a binary outcome the perfect ranking
    is scikit-uplift's ``perfect_uplift_curve``; for a continuous outcome (where that has
    no definition) the perfect Qini ranking is used.
Uplift at k (:func:`uplift_at_k`)
    The treated mean minus the control mean among the top ``k`` share of rows
    (``"overall"``), or among the top ``k`` share of each group (``"by_group"``).

All functions take 1-d arrays and return floats or frames; they work for continuous
outcomes too (revenue per customer).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "qini_curve",
    "perfect_qini_curve",
    "qini_coefficient",
    "uplift_curve",
    "perfect_uplift_curve",
    "auuc_score",
    "uplift_at_k",
    "uplift_by_bin",
    "bootstrap_qini",
]


def _arrays(y: object, uplift: object, treatment: object) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype="float64")
    uplift = np.asarray(uplift, dtype="float64")
    treatment = np.asarray(treatment)
    if not len(y) == len(uplift) == len(treatment):
        raise ValueError(
            f"y, uplift and treatment differ in length ({len(y)}, {len(uplift)}, {len(treatment)})"
        )
    if not np.isin(treatment, (0, 1)).all():
        raise ValueError("treatment must be 1 (arm) or 0 (control) on every row")
    treatment = treatment.astype("float64")
    if treatment.sum() == 0 or treatment.sum() == len(treatment):
        raise ValueError("treatment must contain both treated (1) and control (0) rows")
    for name, values in (("y", y), ("uplift", uplift)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must be finite on every row")
    return y, uplift, treatment


def _sorted(uplift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order (highest score first, ties as scikit-uplift) and the last position of each
    distinct score in that order."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    ranked = uplift[order]
    return order, np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]


def _sums(
    y: np.ndarray, treatment: np.ndarray, weights: np.ndarray, order: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Cumulative rows, treated rows, control rows and outcome sums at each distinct score.

    ``weights`` counts each row (1, or its multiplicity in a bootstrap resample).
    """
    w, t = weights[order], treatment[order]
    wy = w * y[order]
    n = np.cumsum(w)[ends]
    n_t = np.cumsum(w * t)[ends]
    y_t = np.cumsum(wy * t)[ends]
    y_c = np.cumsum(wy * (1 - t))[ends]
    return n, n_t, n - n_t, y_t, y_c


def _cumulative(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative counts at each distinct score, highest score first."""
    return _sums(y, treatment, np.ones_like(y), *_sorted(uplift))


def _qini_values(n_t: np.ndarray, n_c: np.ndarray, y_t: np.ndarray, y_c: np.ndarray) -> np.ndarray:
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return y_t - y_c * ratio


def _from_origin(n: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.r_[0.0, n], np.r_[0.0, values]


def qini_curve(y: object, uplift: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n, Q(n))`` of the Qini curve, starting at ``(0, 0)``.

    Examples
    --------
    Top 3 rows: 1 treated converter of 2 treated, 1 control converter of 1 control row,
    so ``Q(3) = 1 − 1 · 2 / 1 = −1``.

    >>> n, q = qini_curve([1, 0, 1, 0], [4, 3, 2, 1], [1, 1, 0, 0])
    >>> n.tolist(), q.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, -1.0, 0.0])
    """
    return _qini_points(*_arrays(y, uplift, treatment))


def _qini_points(
    y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n, n_t, n_c, y_t, y_c = _cumulative(y, uplift, treatment)
    return _from_origin(n, _qini_values(n_t, n_c, y_t, y_c))


def uplift_curve(y: object, uplift: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n, U(n))`` of the uplift curve, starting at ``(0, 0)``.

    Examples
    --------
    Top 3 rows: ``(1/2 − 1/1) · 3 = −1.5``.

    >>> n, u = uplift_curve([1, 0, 1, 0], [4, 3, 2, 1], [1, 1, 0, 0])
    >>> u.tolist()
    [0.0, 1.0, 1.0, -1.5, 0.0]
    """
    y, uplift, treatment = _arrays(y, uplift, treatment)
    n, n_t, n_c, y_t, y_c = _cumulative(y, uplift, treatment)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return _from_origin(n, (rate_t - rate_c) * n)


def _perfect_qini_scores(y: np.ndarray, treatment: np.ndarray) -> np.ndarray:
    return y * treatment - y * (1 - treatment)


def perfect_qini_curve(y: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of the perfect ranking: treated converters first, control ones last."""
    y, _, treatment = _arrays(y, np.zeros(len(np.asarray(y))), treatment)
    return qini_curve(y, _perfect_qini_scores(y, treatment), treatment)


def perfect_uplift_curve(y: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve of the perfect ranking (scikit-uplift's, for a binary outcome)."""
    y, _, treatment = _arrays(y, np.zeros(len(np.asarray(y))), treatment)
    if not np.isin(y, (0.0, 1.0)).all():
        return uplift_curve(y, _perfect_qini_scores(y, treatment), treatment)
    control_converters = np.sum((y == 1) & (treatment == 0))
    treated_non_converters = np.sum((y == 0) & (treatment == 1))
    summand = y if control_converters > treated_non_converters else treatment
    return uplift_curve(y, 2.0 * (y == treatment) + summand, treatment)


def _normalised_area(
    actual: tuple[np.ndarray, np.ndarray], perfect: tuple[np.ndarray, np.ndarray]
) -> float:
    x_end, y_end = perfect[0][-1], perfect[1][-1]
    random_area = 0.5 * x_end * y_end
    span = np.trapezoid(perfect[1], perfect[0]) - random_area
    if span == 0:
        return float("nan")
    return float((np.trapezoid(actual[1], actual[0]) - random_area) / span)


def qini_coefficient(y: object, uplift: object, treatment: object) -> float:
    """Normalised area between the Qini curve and the random line (perfect ranking = 1).

    scikit-uplift's ``qini_auc_score(..., negative_effect=True)``; see the module
    docstring.

    Examples
    --------
    >>> y, t = [1, 0, 0, 1, 0, 0], [1, 1, 1, 0, 0, 0]
    >>> qini_coefficient(y, [6, 5, 4, 1, 3, 2], t)   # treated buyer first, control buyer last
    1.0
    >>> qini_coefficient(y, [1, 1, 1, 1, 1, 1], t)   # one tie: the random line
    0.0
    """
    y, uplift, treatment = _arrays(y, uplift, treatment)
    return _normalised_area(qini_curve(y, uplift, treatment), perfect_qini_curve(y, treatment))


def auuc_score(y: object, uplift: object, treatment: object) -> float:
    """Normalised area between the uplift curve and the random line (perfect ranking = 1).

    scikit-uplift's ``uplift_auc_score``; see the module docstring.
    """
    y, uplift, treatment = _arrays(y, uplift, treatment)
    return _normalised_area(uplift_curve(y, uplift, treatment), perfect_uplift_curve(y, treatment))


def uplift_at_k(
    y: object, uplift: object, treatment: object, k: float = 0.3, strategy: str = "overall"
) -> float:
    """Treated minus control mean outcome among the top ``k`` share by predicted uplift.

    ``"overall"``: the top ``int(k · N)`` rows of both groups together;
    ``"by_group"``: the top ``int(k · N_T)`` treated and ``int(k · N_C)`` control rows.
    NaN when the top rows hold no treated or no control row.

    Examples
    --------
    >>> y, t = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0, 0, 1, 0, 1]
    >>> round(uplift_at_k(y, list(range(10, 0, -1)), t, k=0.4), 3)   # top 4: 2/2 - 0/2
    1.0
    """
    y, uplift, treatment = _arrays(y, uplift, treatment)
    if not 0 < k < 1:
        raise ValueError(f"uplift_at_k: k must be a share in (0, 1), got {k!r}")
    order = np.argsort(uplift, kind="mergesort")[::-1]
    y, treatment = y[order], treatment[order]
    if strategy == "overall":
        top = slice(0, int(len(y) * k))
        treated = y[top][treatment[top] == 1]
        control = y[top][treatment[top] == 0]
    elif strategy == "by_group":
        treated_all, control_all = y[treatment == 1], y[treatment == 0]
        treated = treated_all[: int(len(treated_all) * k)]
        control = control_all[: int(len(control_all) * k)]
    else:
        raise ValueError(f"uplift_at_k: strategy must be 'overall' or 'by_group', got {strategy!r}")
    if len(treated) == 0 or len(control) == 0:
        return float("nan")
    return float(treated.mean() - control.mean())


def uplift_by_bin(
    y: object,
    uplift: object,
    treatment: object,
    *,
    bins: int = 10,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Observed uplift per bin of predicted uplift (bin 1 = highest), with intervals.

    Rows are sorted by predicted uplift and cut into ``bins`` groups of (nearly) equal
    size (``numpy.array_split``, as scikit-uplift's ``uplift_by_percentile`` with
    ``strategy="overall"``). Per bin: rows of each group, their mean outcome, the observed
    uplift (difference of means) and a normal interval with standard error
    ``sqrt(v_T / n_T + v_C / n_C)`` (``v = p (1 − p)`` for a 0/1 outcome, the sample
    variance otherwise), and the mean predicted uplift (for calibration).

    Returns
    -------
    pandas.DataFrame
        ``bin, n_treated, n_control, mean_treated, mean_control, uplift, ci_low, ci_high,
        predicted``.

    Examples
    --------
    >>> t = uplift_by_bin([1, 0, 0, 0], [4, 3, 2, 1], [1, 0, 1, 0], bins=2)
    >>> t[["bin", "n_treated", "uplift"]].to_dict("list")
    {'bin': [1, 2], 'n_treated': [1, 1], 'uplift': [1.0, 0.0]}
    """
    y, uplift, treatment = _arrays(y, uplift, treatment)
    if not isinstance(bins, int) or not 1 <= bins <= len(y):
        raise ValueError(f"uplift_by_bin: bins must be an int in [1, {len(y)}], got {bins!r}")
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    order = np.argsort(uplift, kind="mergesort")[::-1]
    rows = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        yt, yc = y[idx][treatment[idx] == 1], y[idx][treatment[idx] == 0]
        mt = float(yt.mean()) if len(yt) else float("nan")
        mc = float(yc.mean()) if len(yc) else float("nan")
        se = np.sqrt(
            _variance(yt, binary) / max(len(yt), 1) + _variance(yc, binary) / max(len(yc), 1)
        )
        rows.append((i, len(yt), len(yc), mt, mc, mt - mc, mt - mc - z * se, mt - mc + z * se,
                     float(uplift[idx].mean())))  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["bin", "n_treated", "n_control", "mean_treated", "mean_control", "uplift",
                 "ci_low", "ci_high", "predicted"],
    )  # fmt: skip


def _variance(values: np.ndarray, binary: bool) -> float:
    if len(values) == 0:
        return float("nan")
    if binary:
        p = values.mean()
        return float(p * (1 - p))
    return float(values.var(ddof=1)) if len(values) > 1 else 0.0


def bootstrap_qini(
    y: object,
    scores: Mapping[str, object],
    treatment: object,
    *,
    n_resamples: int = 200,
    random_state: int = 0,
) -> pd.DataFrame:
    """Qini coefficients of several rankings on the same bootstrap resamples.

    Each resample draws the treated and the control rows with replacement separately
    (group sizes kept); every ranking is scored on the same resample, so the
    differences between rankings are paired. A resample is a count per row, so each
    ranking is sorted once (a row drawn twice is one step of two rows, as a tie).

    Returns
    -------
    pandas.DataFrame
        One row per resample, one column per ranking.
    """
    y = np.asarray(y, dtype="float64")
    treatment = np.asarray(treatment).astype("float64")
    arrays = {name: np.asarray(s, dtype="float64") for name, s in scores.items()}
    rankings = [_sorted(s) for s in arrays.values()]
    perfect_ranking = _sorted(_perfect_qini_scores(y, treatment))
    rng = np.random.default_rng(random_state)
    treated, control = np.flatnonzero(treatment == 1), np.flatnonzero(treatment == 0)
    out = np.empty((n_resamples, len(arrays)))
    for r in range(n_resamples):
        drawn = np.r_[rng.choice(treated, len(treated)), rng.choice(control, len(control))]
        weights = np.bincount(drawn, minlength=len(y)).astype("float64")
        perfect = _weighted_qini(y, treatment, weights, perfect_ranking)
        for j, ranking in enumerate(rankings):
            out[r, j] = _normalised_area(_weighted_qini(y, treatment, weights, ranking), perfect)
    return pd.DataFrame(out, columns=list(arrays))


def _weighted_qini(
    y: np.ndarray,
    treatment: np.ndarray,
    weights: np.ndarray,
    ranking: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    n, n_t, n_c, y_t, y_c = _sums(y, treatment, weights, *ranking)
    return _from_origin(n, _qini_values(n_t, n_c, y_t, y_c))
