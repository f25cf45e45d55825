"""The holdout check, the naive baseline, model comparison and the Gamma–Gamma check.

The stage fits as of ``cutoff = as_of - horizon_days`` and compares, for the customers
who had bought before the cutoff, the repeat purchases each model expects in
``[cutoff, as_of)`` with those that happened:

* total predicted vs actual, per-customer mean absolute error (MAE) and RMSE;
* conditional expectations: mean actual and predicted holdout purchases by number of
  calibration repeat purchases (Fader, Hardie & Lee 2005, figure 3);
* the weekly cumulative tracking series (their figure 2): actual repeat transactions
  against the model's unconditional expectation from each customer's first purchase,
  and, in the holdout, the conditional expectation and the naive baseline;
* the same for a **naive baseline**: each customer's past repeat rate ``frequency / T``
  times the holdout length.

:func:`choose_model` states the rule that picks the model the stage uses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.clv.fit import FittedModel, sufficient_statistics
from workbench.clv.formulas import expected_purchases, expected_purchases_new
from workbench.clv.params import MODEL_LABELS, TIME_UNITS
from workbench.clv.summary import CalibrationHoldout

__all__ = [
    "naive_predictions",
    "holdout_predictions",
    "holdout_metrics",
    "conditional_expectations",
    "tracking_series",
    "compare_models",
    "choose_model",
    "gamma_gamma_check",
    "holdout_possible",
]

log = logging.getLogger(__name__)

#: Two MAEs within this relative distance count as a tie (the log-likelihood decides).
MAE_TIE = 0.01


def naive_predictions(summary: pd.DataFrame, duration: float) -> pd.Series:
    """The naive baseline: past repeat rate ``frequency / T`` times ``duration``.

    Examples
    --------
    >>> s = pd.DataFrame({"frequency": [0, 2], "T": [10.0, 4.0]})
    >>> naive_predictions(s, 2.0).tolist()
    [0.0, 1.0]
    """
    return (summary["frequency"] / summary["T"] * duration).rename("naive")


def _conditional(fit: FittedModel, summary: pd.DataFrame, duration: float) -> np.ndarray:
    stats = sufficient_statistics(summary)
    x, t_x, T = (stats[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    stats["_e"] = expected_purchases(fit.model, fit.params, duration, x, t_x, T)
    return summary[["frequency", "recency", "T"]].merge(stats, how="left")["_e"].to_numpy()


def holdout_predictions(split: CalibrationHoldout, fits: Mapping[str, FittedModel]) -> pd.DataFrame:
    """Each customer's actual holdout purchases beside every model's and the baseline's.

    Parameters
    ----------
    split : CalibrationHoldout
        From :func:`~workbench.clv.calibration_holdout`.
    fits : mapping of model name to FittedModel
        Purchase models fitted on ``split.frame`` (the calibration summary).

    Returns
    -------
    DataFrame
        ``customer_id, frequency, recency, T, actual``, one column per model and ``naive``.
    """
    frame = split.frame
    out = frame[["customer_id", "frequency", "recency", "T"]].copy()
    out["actual"] = frame["holdout_frequency"].to_numpy()
    for name, fit in fits.items():
        if fit.time_unit and fit.time_unit != split.time_unit:
            raise ValueError(
                f"holdout_predictions: {name} was fitted in {fit.time_unit}, the split is in "
                f"{split.time_unit}"
            )
        out[name] = _conditional(fit, frame, split.duration)
    out["naive"] = naive_predictions(frame, split.duration).to_numpy()
    return out


def holdout_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """Total and per-customer error of every prediction column against ``actual``.

    Returns
    -------
    DataFrame
        One row per predictor: ``predicted`` (total), ``actual`` (total),
        ``total_error`` (predicted / actual - 1), ``mae``, ``rmse``; sorted by ``mae``.

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [0, 1], "recency": [0.0, 1.0],
    ...                   "T": [2.0, 2.0], "actual": [1, 3], "m": [1.5, 2.5]})
    >>> holdout_metrics(f).loc["m", ["predicted", "actual", "mae"]].tolist()
    [4.0, 4.0, 0.5]
    """
    actual = predictions["actual"].to_numpy(dtype=float)
    columns = [
        c
        for c in predictions.columns
        if c not in ("customer_id", "frequency", "recency", "T", "actual")
    ]
    rows = {}
    for c in columns:
        pred = predictions[c].to_numpy(dtype=float)
        err = pred - actual
        rows[c] = {
            "predicted": float(pred.sum()),
            "actual": float(actual.sum()),
            "total_error": float(pred.sum() / actual.sum() - 1) if actual.sum() > 0 else np.nan,
            "mae": float(np.abs(err).mean()),
            "rmse": float(np.sqrt((err**2).mean())),
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("mae")


def conditional_expectations(predictions: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration repeat purchases.

    Customers with ``max_frequency`` or more repeat purchases share the last group
    (labelled ``"7+"`` by default).

    Returns
    -------
    DataFrame
        Indexed by ``frequency`` group (str, ordered): ``customers, actual`` and one mean
        per prediction column.
    """
    capped = predictions["frequency"].clip(upper=max_frequency)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    group = pd.Categorical.from_codes(capped.to_numpy(), categories=labels, ordered=True)
    value_columns = [
        c for c in predictions.columns if c not in ("customer_id", "frequency", "recency", "T")
    ]
    grouped = predictions[value_columns].groupby(group, observed=True)
    table = grouped.mean()
    table.insert(0, "customers", grouped.size())
    table.index.name = "frequency"
    return table


def tracking_series(
    split: CalibrationHoldout, fit: FittedModel, *, step_days: int = 7
) -> pd.DataFrame:
    """Weekly cumulative repeat transactions of the calibration customers, actual and expected.

    Parameters
    ----------
    split : CalibrationHoldout
    fit : FittedModel
        The purchase model fitted on ``split.frame``.
    step_days : int, default 7
        Spacing of the series (the last point is ``as_of``).

    Returns
    -------
    DataFrame
        One row per point ``date`` (end of the step, exclusive): ``actual`` (cumulative repeat
        transactions before ``date``), ``model`` (the model's unconditional expectation,
        summed over cohorts of first-purchase day), ``conditional`` and ``naive``
        (holdout only: actual at the cutoff plus each customer's conditional expectation,
        resp. naive rate, up to ``date``; NaN before the cutoff), ``period``
        (``calibration`` / ``holdout``).
    """
    frame = split.frame
    unit = TIME_UNITS[split.time_unit]
    start = frame["first_purchase"].min()
    grid = pd.date_range(start + pd.Timedelta(days=step_days), split.as_of, freq=f"{step_days}D")
    if len(grid) == 0 or grid[-1] < split.as_of:
        grid = grid.append(pd.DatetimeIndex([split.as_of]))
    if split.cutoff not in grid and start < split.cutoff:
        grid = grid.append(pd.DatetimeIndex([split.cutoff])).sort_values()
    # actual repeat transactions: every transaction but each customer's first
    day = pd.Timedelta(days=1)
    points = ((grid - start) / day).to_numpy(dtype=float)
    tx = pd.concat([split.calibration_transactions, split.holdout_transactions])
    repeats = tx.loc[tx.duplicated("customer_id", keep="first"), "day"]
    repeat_days = np.sort(((repeats - start) / day).to_numpy(dtype=float))
    actual = np.searchsorted(repeat_days, points, side="left")
    # unconditional expectation, summed over cohorts of first-purchase day
    cohorts = frame.groupby("first_purchase").size()
    cohort_days = ((cohorts.index - start) / day).to_numpy(dtype=float)
    age = (points[:, None] - cohort_days[None, :]) / unit
    expected = np.where(
        age > 0, expected_purchases_new(fit.model, fit.params, np.maximum(age, 1e-12)), 0.0
    )
    model = expected @ cohorts.to_numpy(dtype=float)
    # conditional and naive in the holdout
    conditional = np.full(len(grid), np.nan)
    naive = np.full(len(grid), np.nan)
    at_cutoff = float(np.sum(repeat_days < (split.cutoff - start) / day))
    stats = sufficient_statistics(frame)
    x, t_x, T, w = (
        stats[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "customers")
    )
    rate = float((frame["frequency"] / frame["T"]).sum())
    for i, date in enumerate(grid):
        if date < split.cutoff:
            continue
        elapsed = (date - split.cutoff) / pd.Timedelta(days=1) / unit
        e = expected_purchases(fit.model, fit.params, elapsed, x, t_x, T) if elapsed > 0 else 0.0
        conditional[i] = at_cutoff + float(np.sum(w * e))
        naive[i] = at_cutoff + rate * elapsed
    return pd.DataFrame(
        {
            "date": grid,
            "actual": actual.astype(float),
            "model": model,
            "conditional": conditional,
            "naive": naive,
            "period": np.where(grid <= split.cutoff, "calibration", "holdout"),
        }
    )


def compare_models(
    fits: Mapping[str, FittedModel], metrics: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Models side by side: parameters count, log-likelihood (and per customer), holdout error.

    Parameters
    ----------
    fits : mapping of model name to FittedModel
        The fits as of ``as_of`` (their log-likelihoods are compared).
    metrics : DataFrame, optional
        :func:`holdout_metrics` of the fits as of the cutoff; adds ``holdout_mae``,
        ``holdout_total_error`` and the ``naive`` row.

    Returns
    -------
    DataFrame
        Indexed by model: ``label, log_likelihood, ll_per_customer, aic, converged`` and,
        with metrics, ``holdout_predicted, holdout_actual, holdout_total_error, holdout_mae,
        holdout_rmse``.
    """
    rows = {}
    for name, fit in fits.items():
        k = len(fit.params)
        rows[name] = {
            "label": MODEL_LABELS.get(name, name),
            "log_likelihood": fit.log_likelihood,
            "ll_per_customer": fit.log_likelihood / fit.customers,
            "aic": 2 * k - 2 * fit.log_likelihood,
            "converged": fit.converged,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    if metrics is not None:
        renamed = metrics.rename(columns=lambda c: f"holdout_{c}")
        table = table.join(renamed, how="outer").reindex([*fits, "naive"])
        table.loc["naive", "label"] = MODEL_LABELS["naive"]
    return table


def choose_model(comparison: pd.DataFrame) -> tuple[str, str]:
    """The model the stage uses, and why.

    Rule: with a holdout check, the converged model with the lowest holdout MAE; models
    within 1 % of that MAE tie and the highest log-likelihood as of ``as_of`` wins among
    them. Without a holdout, the highest log-likelihood (the three models have four
    parameters each, so this is also the lowest AIC). The naive baseline is never chosen;
    the reason says when it beat every model.

    Returns
    -------
    (str, str)
        Model name and a sentence for the report.
    """
    models = comparison.drop(index="naive", errors="ignore")
    usable = models.loc[models["converged"].astype(bool)] if models["converged"].any() else models
    if "holdout_mae" in usable.columns and usable["holdout_mae"].notna().any():
        best = usable["holdout_mae"].min()
        tied = usable.loc[usable["holdout_mae"] <= best * (1 + MAE_TIE)]
        name = str(tied["log_likelihood"].idxmax())
        label, mae = MODEL_LABELS.get(name, name), usable.loc[name, "holdout_mae"]
        if len(tied) == 1:
            reason = f"{label}: lowest holdout per-customer MAE ({mae:.4f})"
        else:
            others = ", ".join(MODEL_LABELS.get(str(t), str(t)) for t in tied.index if t != name)
            reason = (
                f"{label}: holdout per-customer MAE {mae:.4f}, tied within {MAE_TIE:.0%} of the "
                f"lowest ({best:.4f}) with {others}, and the highest log-likelihood of them"
            )
        if "naive" in comparison.index and comparison.loc["naive", "holdout_mae"] < best:
            naive_mae = comparison.loc["naive", "holdout_mae"]
            reason += f"; note: the naive baseline's MAE ({naive_mae:.4f}) is lower"
        return name, reason
    name = str(usable["log_likelihood"].idxmax())
    return name, (
        f"{MODEL_LABELS.get(name, name)}: highest log-likelihood "
        f"({usable.loc[name, 'log_likelihood']:,.1f}); no holdout check was possible"
    )


def holdout_possible(
    split: CalibrationHoldout, min_customers: int, *, min_repeat: int = 1
) -> tuple[bool, str]:
    """Whether there is enough history before the cutoff for the holdout check, and why not.

    Needs ``min_customers`` customers with a transaction before the cutoff and at least
    ``min_repeat`` of them with a repeat transaction (else no purchase model can be fitted).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"frequency": [0, 2, 1]})
    >>> split = CalibrationHoldout(pd.Timestamp("2025-06-30", tz="UTC"),
    ...     pd.Timestamp("2026-06-30", tz="UTC"), frame, frame, frame, "weeks")
    >>> holdout_possible(split, 3, min_repeat=3)[1]
    'only 2 customers bought twice before 2025-06-30 (as_of - horizon_days); the holdout check needs at least 3'
    """
    n = len(split.frame)
    repeaters = int((split.frame["frequency"] > 0).sum()) if n else 0
    where = f"before {split.cutoff.date()} (as_of - horizon_days)"
    if n < min_customers:
        return False, (
            f"only {n:,} customers bought {where}; the holdout check needs at least "
            f"{min_customers:,}"
        )
    if repeaters < max(min_repeat, 1):
        if repeaters == 0:
            return False, f"no customer bought twice {where}; no model can be checked"
        return False, (
            f"only {repeaters:,} customers bought twice {where}; the holdout check needs at "
            f"least {min_repeat:,}"
        )
    return True, f"{n:,} customers bought before {split.cutoff.date()}"


def gamma_gamma_check(
    summary: pd.DataFrame, *, threshold: float = 0.3
) -> dict[str, float | int | str | bool]:
    """The Gamma–Gamma independence assumption: frequency vs mean repeat value.

    The model assumes a customer's spend per transaction does not depend on how often they
    buy. Checked on customers with a repeat transaction and a positive mean value, by the
    Pearson and Spearman correlations of ``frequency`` with ``monetary_value``.

    Returns
    -------
    dict
        ``customers, pearson, spearman, threshold, holds`` (both |r| < threshold) and a
        ``verdict`` sentence.

    Examples
    --------
    >>> s = pd.DataFrame({"frequency": [1, 2, 3, 4, 5, 6], "monetary_value": [10.0, 12, 9, 11, 10, 12]})
    >>> gamma_gamma_check(s)["holds"]
    True
    """
    fitted = summary.loc[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    n = len(fitted)
    if n < 3:
        return {"customers": n, "pearson": np.nan, "spearman": np.nan, "threshold": threshold,
                "holds": False, "verdict": "too few customers with repeat purchases to check"}  # fmt: skip
    pearson = float(fitted["frequency"].corr(fitted["monetary_value"]))
    spearman = float(fitted["frequency"].corr(fitted["monetary_value"], method="spearman"))
    holds = bool(abs(pearson) < threshold and abs(spearman) < threshold)
    verdict = (
        f"correlation of frequency and mean value {pearson:.2f} (Spearman {spearman:.2f}) over "
        f"{n:,} repeat customers: "
        + (
            "weak, the independence assumption is plausible"
            if holds
            else "not weak — Gamma–Gamma's expected values are biased for frequent buyers; read CLV with care"
        )  # fmt: skip
    )
    return {"customers": n, "pearson": pearson, "spearman": spearman, "threshold": threshold,
            "holds": holds, "verdict": verdict}  # fmt: skip
