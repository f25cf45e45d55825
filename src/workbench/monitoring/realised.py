"""Did past predictions come true? Realised churn of stored scores, realised purchases of
CLV forecasts.

A churn score made as of ``D`` with horizon ``H`` matures at ``D + H``: its outcome is the
churn stage's own label (:mod:`workbench.churn.labels`) — a scored customer **churned when
they placed no completed order in** ``[D, D + H)``; the buyers in that window come from
:func:`workbench.churn.completed_buyers`, the very function the churn stage labels its
training rows with. The scored customers are the ones the churn stage found eligible at
``D`` (a completed order in the ``lookback_days`` before it), so no eligibility filter is
applied again.

A CLV forecast of ``expected_purchases`` over ``H`` from ``D`` is compared with the
customer's realised purchases in ``[D, D + H)``: completed orders, those on the same UTC
day merged into one transaction (how the CLV models count purchases).

Every evaluation first checks that the outcome window is over: ``D + H ≤ observed_until``
(the ``as_of`` of the run doing the evaluation, whose data ends just before it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from workbench.canonical import open_tables
from workbench.churn.evaluate import calibration_table, classification_metrics
from workbench.churn.labels import completed_buyers
from workbench.churn.params import RISK_BANDS
from workbench.frames import isin

__all__ = [
    "RealisedChurn",
    "RealisedPurchases",
    "matured",
    "realised_churn",
    "realised_purchases",
]

log = logging.getLogger(__name__)


def _check_date(owner: str, name: str, value: Any) -> pd.Timestamp:
    ok = (
        isinstance(value, pd.Timestamp)
        and value.tzinfo is not None
        and str(value.tz) == "UTC"
        and value == value.normalize()
    )
    if not ok:
        raise ValueError(
            f"{owner}: {name} must be a UTC midnight pd.Timestamp (parse it with "
            f"workbench.stage.parse_as_of, e.g. parse_as_of('2026-03-31')), got {value!r}"
        )
    return value


def _check_horizon(owner: str, horizon_days: Any) -> int:
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or horizon_days <= 0:
        raise ValueError(f"{owner}: horizon_days must be a positive int, got {horizon_days!r}")
    return horizon_days


def matured(as_of: pd.Timestamp, horizon_days: int, observed_until: pd.Timestamp) -> bool:
    """True when the outcome window ``[as_of, as_of + horizon_days)`` ends by
    ``observed_until``.

    Examples
    --------
    >>> from workbench.stage import parse_as_of as d
    >>> matured(d("2026-03-31"), 90, d("2026-06-29")), matured(d("2026-03-31"), 90, d("2026-06-28"))
    (True, False)
    """
    _check_date("matured", "as_of", as_of)
    _check_date("matured", "observed_until", observed_until)
    _check_horizon("matured", horizon_days)
    return as_of + pd.Timedelta(days=horizon_days) <= observed_until


def _window(
    owner: str, as_of: pd.Timestamp, horizon_days: int, observed_until: pd.Timestamp
) -> pd.Timestamp:
    _check_date(owner, "as_of", as_of)
    _check_date(owner, "observed_until", observed_until)
    _check_horizon(owner, horizon_days)
    end = as_of + pd.Timedelta(days=horizon_days)
    if end > observed_until:
        raise ValueError(
            f"{owner}: the outcome window [{as_of.date()}, {end.date()}) of scores made as of "
            f"{as_of.date()} with horizon_days={horizon_days} is not over by "
            f"{observed_until.date()}; evaluate it in a run as of {end.date()} or later"
        )
    return end


def _source(orders: Any) -> Any:
    return {"orders": orders} if isinstance(orders, pd.DataFrame) else orders


def _unique_ids(frame: pd.DataFrame, owner: str, table: str) -> pd.Series:
    if "customer_id" not in frame.columns:
        raise ValueError(f"{owner}: the {table} have no column 'customer_id'")
    ids = frame["customer_id"].astype("str")
    dupes = ids[ids.duplicated()]
    if len(dupes):
        raise ValueError(
            f"{owner}: the {table} hold {len(dupes):,} repeated customer_id(s), e.g. "
            f"{dupes.iloc[0]!r}; expected one row per customer"
        )
    return ids


@dataclass
class RealisedChurn:
    """How churn scores made as of ``as_of`` turned out.

    Attributes
    ----------
    as_of : Timestamp
        When the scores were made.
    horizon_days : int
    outcomes : DataFrame
        ``customer_id``, ``churn_probability``, ``risk_band`` (when the scores had it) and
        ``churned`` (bool: no completed order in ``[as_of, as_of + horizon_days)``).
    metrics : dict
        ``customers``, ``churned``, ``realised_churn_rate``, ``mean_predicted``,
        ``roc_auc``, ``pr_auc``, ``brier``, ``log_loss``, ``top_decile_lift`` (NaN AUCs
        when every customer had the same outcome).
    calibration : DataFrame
        By decile of predicted probability: ``decile`` (1 = lowest), ``predicted`` (mean
        probability), ``observed`` (realised churn rate), ``customers``.
    bands : DataFrame
        By risk band: ``risk_band``, ``customers``, ``mean_predicted``,
        ``realised_churn_rate`` (every band listed; NaN rates for an empty band).
    holdout_roc_auc : float or None
        ROC-AUC of the model that made the scores on its own training holdout (for the
        retrain rule).
    """

    as_of: pd.Timestamp
    horizon_days: int
    outcomes: pd.DataFrame
    metrics: dict[str, Any]
    calibration: pd.DataFrame
    bands: pd.DataFrame
    holdout_roc_auc: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """One entry of ``monitoring.json``'s ``realised`` list."""
        m = self.metrics
        return {
            "as_of": str(self.as_of.date()),
            "horizon_days": self.horizon_days,
            "customers": m["customers"],
            "churned": m["churned"],
            "realised_churn_rate": m["realised_churn_rate"],
            "mean_predicted": m["mean_predicted"],
            "roc_auc": m["roc_auc"],
            "pr_auc": m["pr_auc"],
            "brier": m["brier"],
            "top_decile_lift": m["top_decile_lift"],
            "holdout_roc_auc": self.holdout_roc_auc,
        }


def realised_churn(
    scores: pd.DataFrame,
    orders: Any,
    *,
    as_of: pd.Timestamp,
    horizon_days: int,
    observed_until: pd.Timestamp,
    holdout_roc_auc: float | None = None,
) -> RealisedChurn:
    """Evaluate stored churn scores against what happened after they were made.

    Parameters
    ----------
    scores : DataFrame
        The scores of a run as of ``as_of`` (``churn_scores.parquet``):
        ``customer_id``, ``churn_probability`` and, optionally, ``risk_band``.
    orders : DataFrame or source
        A canonical orders frame, or anything :func:`workbench.churn.completed_buyers`
        accepts (a folder, a mapping of frames, opened inputs). Must cover
        ``[as_of, as_of + horizon_days)``; other rows are ignored.
    as_of : Timestamp
        When the scores were made (UTC midnight).
    horizon_days : int
        The churn horizon the scores were made with.
    observed_until : Timestamp
        The ``as_of`` of the run doing the evaluation; the window must end by it.
    holdout_roc_auc : float, optional
        The scoring model's holdout ROC-AUC, carried along for the retrain rule.

    Returns
    -------
    RealisedChurn

    Raises
    ------
    ValueError
        The window is not over yet, a column is missing, ids repeat or probabilities are
        outside [0, 1].
    """
    owner = "realised_churn"
    end = _window(owner, as_of, horizon_days, observed_until)
    ids = _unique_ids(scores, owner, "scores")
    if "churn_probability" not in scores.columns:
        raise ValueError(f"{owner}: the scores have no column 'churn_probability'")
    p = pd.to_numeric(scores["churn_probability"], errors="coerce").to_numpy(dtype="float64")
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(
            f"{owner}: {int(bad.sum()):,} churn_probability value(s) are missing or outside "
            f"[0, 1], e.g. {scores['churn_probability'].to_numpy()[bad][0]!r}"
        )
    if not len(scores):
        raise ValueError(f"{owner}: the scores made as of {as_of.date()} have no rows")
    buyers = completed_buyers(_source(orders), as_of, end)
    churned = ~np.asarray(isin(ids, buyers))
    outcomes = pd.DataFrame({"customer_id": ids.to_numpy(), "churn_probability": p})
    if "risk_band" in scores.columns:
        outcomes["risk_band"] = pd.Categorical(
            scores["risk_band"].astype("str").to_numpy(), categories=list(RISK_BANDS), ordered=True
        )
    outcomes["churned"] = churned
    y = churned.astype(int)
    metrics: dict[str, Any] = {
        "customers": int(len(y)),
        "churned": int(y.sum()),
        "realised_churn_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        **classification_metrics(y, p),
    }
    for duplicate in ("positive_rate", "rows"):  # same as realised_churn_rate, customers
        metrics.pop(duplicate)
    calibration = calibration_table(y, p, bins=10)
    calibration.insert(0, "decile", np.arange(1, len(calibration) + 1))
    notes = []
    if "risk_band" in outcomes:
        grouped = outcomes.groupby("risk_band", observed=False)
        bands = pd.DataFrame(
            {
                "customers": grouped.size(),
                "mean_predicted": grouped["churn_probability"].mean(),
                "realised_churn_rate": grouped["churned"].mean(),
            }
        ).reset_index()
        bands["risk_band"] = bands["risk_band"].astype("str")
    else:
        bands = pd.DataFrame(
            columns=["risk_band", "customers", "mean_predicted", "realised_churn_rate"]
        )
        notes.append("the scores have no risk_band column: no table by band")
    log.info(
        "scores as of %s: %s customers, %.1f%% churned in [%s, %s), realised ROC-AUC %.3f",
        as_of.date(),
        f"{len(y):,}",
        100 * y.mean(),
        as_of.date(),
        end.date(),
        metrics["roc_auc"],
    )
    return RealisedChurn(
        as_of=as_of,
        horizon_days=horizon_days,
        outcomes=outcomes,
        metrics=metrics,
        calibration=calibration,
        bands=bands,
        holdout_roc_auc=None if holdout_roc_auc is None else float(holdout_roc_auc),
        notes=notes,
    )


@dataclass
class RealisedPurchases:
    """How a CLV purchase forecast made as of ``as_of`` turned out.

    Attributes
    ----------
    as_of : Timestamp
    horizon_days : int
    per_customer : DataFrame
        ``customer_id``, ``predicted`` (expected purchases), ``actual`` (realised
        purchases) and ``error`` (predicted − actual).
    metrics : dict
        ``customers``, ``predicted_purchases`` and ``actual_purchases`` (totals),
        ``total_error`` ((predicted − actual) / actual), ``mae`` (per customer),
        ``mean_actual`` and ``new_buyers`` (customers who purchased in the window but
        had no forecast, e.g. first purchase after ``as_of``; not in the error).
    """

    as_of: pd.Timestamp
    horizon_days: int
    per_customer: pd.DataFrame
    metrics: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """One entry of ``monitoring.json``'s ``realised_clv`` list."""
        return {"as_of": str(self.as_of.date()), "horizon_days": self.horizon_days, **self.metrics}


def _purchase_days(source: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Distinct UTC days with a completed order in ``[start, end)``, per customer id."""
    inputs = open_tables(source, tables=("orders",))
    orders = inputs.tables["orders"]
    window = orders.filter(
        (orders.status == "completed")
        & (orders.ordered_at >= ibis.literal(start))
        & (orders.ordered_at < ibis.literal(end))
        & orders.customer_id.notnull()
    )
    frame = inputs.execute(window.select("customer_id", "ordered_at"))
    if not len(frame):
        return pd.Series(dtype="int64", name="actual")
    stamps = pd.to_datetime(frame["ordered_at"], utc=True)
    days = pd.DataFrame(
        {"customer_id": frame["customer_id"].astype("str"), "day": stamps.dt.floor("D")}
    )
    return days.drop_duplicates().groupby("customer_id").size().rename("actual")


def realised_purchases(
    predictions: pd.DataFrame,
    orders: Any,
    *,
    as_of: pd.Timestamp,
    horizon_days: int,
    observed_until: pd.Timestamp,
    predicted_column: str = "expected_purchases",
) -> RealisedPurchases:
    """Compare a CLV purchase forecast with the purchases that followed.

    Parameters
    ----------
    predictions : DataFrame
        The CLV output of a run as of ``as_of``: ``customer_id`` and ``predicted_column``
        (expected purchases over ``horizon_days``).
    orders : DataFrame or source
        A canonical orders frame or any source :func:`workbench.canonical.open_tables`
        accepts, covering ``[as_of, as_of + horizon_days)``.
    as_of, observed_until : Timestamp
        As in :func:`realised_churn`.
    horizon_days : int
        The horizon of the forecast.
    predicted_column : str, default "expected_purchases"

    Returns
    -------
    RealisedPurchases
    """
    owner = "realised_purchases"
    end = _window(owner, as_of, horizon_days, observed_until)
    ids = _unique_ids(predictions, owner, "predictions")
    if predicted_column not in predictions.columns:
        raise ValueError(
            f"{owner}: the predictions have no column {predicted_column!r} "
            f"(columns: {', '.join(map(str, predictions.columns))})"
        )
    predicted = pd.to_numeric(predictions[predicted_column], errors="coerce").to_numpy(
        dtype="float64"
    )
    if np.isnan(predicted).any() or (predicted < 0).any():
        raise ValueError(
            f"{owner}: {int((np.isnan(predicted) | (predicted < 0)).sum()):,} value(s) of "
            f"{predicted_column!r} are missing or negative"
        )
    if not len(predictions):
        raise ValueError(f"{owner}: the predictions made as of {as_of.date()} have no rows")
    realised = _purchase_days(_source(orders), as_of, end)
    actual = realised.reindex(ids.to_numpy()).fillna(0).to_numpy(dtype="float64")
    per_customer = pd.DataFrame(
        {"customer_id": ids.to_numpy(), "predicted": predicted, "actual": actual}
    )
    per_customer["error"] = per_customer["predicted"] - per_customer["actual"]
    total_actual = float(actual.sum())
    metrics = {
        "customers": int(len(ids)),
        "predicted_purchases": float(predicted.sum()),
        "actual_purchases": total_actual,
        "total_error": (float(predicted.sum()) - total_actual) / total_actual
        if total_actual
        else float("nan"),
        "mae": float(np.abs(per_customer["error"]).mean()),
        "mean_actual": float(actual.mean()),
        "new_buyers": int((~isin(realised.index, ids)).sum()),
    }
    log.info(
        "CLV forecast as of %s: %.0f purchases predicted, %.0f made in [%s, %s); MAE %.3f",
        as_of.date(),
        metrics["predicted_purchases"],
        total_actual,
        as_of.date(),
        end.date(),
        metrics["mae"],
    )
    return RealisedPurchases(as_of, horizon_days, per_customer, metrics)
