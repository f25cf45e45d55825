"""From completed orders to the per-customer summary the CLV models are fitted on.

The literature (Fader, Hardie & Lee 2005; the ``lifetimes`` and pymc-marketing
summaries) counts *transactions*, not orders: all completed orders of a customer on the
same (UTC) day are one transaction whose value is their sum. Per customer:

* ``frequency`` (x): repeat transactions — transactions after the first one;
* ``recency`` (t_x): time from the first to the last transaction (0 without repeats);
* ``T``: time from the first transaction to ``as_of``;
* ``monetary_value`` (z̄): mean value of the *repeat* transactions, the quantity the
  Gamma–Gamma model describes (Fader & Hardie 2013); the first transaction is left out
  because it often differs systematically (acquisition offers). 0 when ``frequency`` is 0,
  the convention of ``lifetimes`` and pymc-marketing (the Gamma–Gamma model ignores it).

Only orders strictly before ``as_of`` count; times are in ``time_unit`` (weeks or days)
measured between UTC midnights, so ``T`` is at least one day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.clv.params import TIME_UNITS
from workbench.frames import isin
from workbench.schema import check_as_of

__all__ = [
    "ORDER_COLUMNS",
    "SUMMARY_COLUMNS",
    "CalibrationHoldout",
    "transactions",
    "rfm_summary",
    "order_values",
    "calibration_holdout",
]

log = logging.getLogger(__name__)

#: Columns of the canonical ``orders`` table the stage reads.
ORDER_COLUMNS = ("customer_id", "ordered_at", "amount", "status")
#: Columns of :func:`rfm_summary`, in order.
SUMMARY_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "first_purchase",
    "last_purchase",
)


def _days_per_unit(time_unit: str) -> float:
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNITS)}; got {time_unit!r}")
    return TIME_UNITS[time_unit]


def _check_orders(orders: pd.DataFrame) -> None:
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise KeyError(
            f"orders: column(s) {', '.join(repr(c) for c in missing)} missing; the CLV stage "
            f"needs the canonical columns {', '.join(ORDER_COLUMNS)}"
        )
    dtype = orders["ordered_at"].dtype
    if not isinstance(dtype, pd.DatetimeTZDtype):
        raise TypeError(
            f"orders: column 'ordered_at' must be a UTC datetime (datetime64[us, UTC]), got {dtype}"
        )


def transactions(
    orders: pd.DataFrame, as_of: pd.Timestamp, *, start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Completed orders in ``[start, as_of)`` merged per customer and UTC day.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders (``customer_id, ordered_at, amount, status``); not modified.
    as_of : Timestamp
        Exclusive end (UTC midnight).
    start : Timestamp, optional
        Inclusive start (UTC midnight); the whole history when omitted.

    Returns
    -------
    DataFrame
        ``customer_id, day, amount, orders`` sorted by customer and day: ``day`` is the UTC
        midnight of the transaction, ``amount`` the sum of its orders' amounts (missing
        amounts are skipped; NaN when all are missing), ``orders`` how many were merged.

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [5.0, 7.0, 3.0],
    ...     "status": ["completed"] * 3,
    ...     "ordered_at": pd.to_datetime(["2026-01-01 09:00", "2026-01-01 18:00",
    ...                                   "2026-01-03 10:00"], utc=True)})
    >>> transactions(o, pd.Timestamp("2026-02-01", tz="UTC"))[["amount", "orders"]].values.tolist()
    [[12.0, 2.0], [3.0, 1.0]]
    """
    _check_orders(orders)
    check_as_of(as_of, "clv")
    keep = (orders["status"] == "completed") & (orders["ordered_at"] < as_of)
    if start is not None:
        keep &= orders["ordered_at"] >= check_as_of(start, "clv start")
    frame = orders.loc[keep, ["customer_id", "ordered_at", "amount"]]
    unusable = frame["customer_id"].isna() | frame["ordered_at"].isna()
    if unusable.any():
        log.warning(
            "orders: %s completed orders without customer_id or ordered_at left out",
            f"{int(unusable.sum()):,}",
        )
        frame = frame.loc[~unusable]
    if frame.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="str"),
                "day": pd.Series(dtype="datetime64[us, UTC]"),
                "amount": pd.Series(dtype="float64"),
                "orders": pd.Series(dtype="int64"),
            }
        )
    # sort-and-reduce on integer codes: several times faster than a groupby on string ids
    codes, ids = pd.factorize(frame["customer_id"].astype("str"), sort=True)
    stamps = frame["ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    days = stamps.astype("datetime64[D]").astype(np.int64)
    order = np.lexsort((days, codes))
    codes, days = codes[order], days[order]
    amount = frame["amount"].to_numpy(dtype=float)[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(codes) != 0) | (np.diff(days) != 0)])
    known = ~np.isnan(amount)
    total = np.add.reduceat(np.where(known, amount, 0.0), starts)
    counted = np.add.reduceat(known.astype(np.int64), starts)
    merged = pd.DataFrame(
        {
            "customer_id": pd.array(np.asarray(ids)[codes[starts]], dtype="str"),
            "day": pd.DatetimeIndex(days[starts].astype("datetime64[D]"))
            .as_unit("us")
            .tz_localize("UTC"),
            "amount": np.where(counted > 0, total, np.nan),
            "orders": np.diff(np.r_[starts, len(codes)]).astype("int64"),
        }
    )
    return merged


def _summarise(tx: pd.DataFrame, as_of: pd.Timestamp, unit_days: float) -> pd.DataFrame:
    """Per-customer summary of :func:`transactions` (sorted by customer and day)."""
    ids = tx["customer_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    day = pd.Timedelta(days=1)
    days = ((tx["day"] - as_of) / day).to_numpy(dtype=float)  # negative: days before as_of
    amount = tx["amount"].to_numpy(dtype=float)
    known = ~np.isnan(amount)
    total = np.add.reduceat(np.where(known, amount, 0.0), starts)
    counted = np.add.reduceat(known.astype(np.int64), starts)
    first_known = known[starts]
    # the first transaction is left out of the mean (see the module docstring)
    repeat_sum = total - np.where(first_known, amount[starts], 0.0)
    repeat_known = counted - first_known.astype(np.int64)
    frequency = ends - starts
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_sum / repeat_known, 0.0)
    return pd.DataFrame(
        {
            "customer_id": tx["customer_id"].iloc[starts].to_numpy(),
            "frequency": frequency.astype("int64"),
            "recency": (days[ends] - days[starts]) / unit_days,
            "T": -days[starts] / unit_days,
            "monetary_value": monetary,
            "first_purchase": tx["day"].iloc[starts].reset_index(drop=True),
            "last_purchase": tx["day"].iloc[ends].reset_index(drop=True),
        }
    ).astype({"customer_id": "str"})


def rfm_summary(
    orders: pd.DataFrame, as_of: pd.Timestamp, *, time_unit: str = "weeks"
) -> pd.DataFrame:
    """One row per customer with a completed order before ``as_of``: x, t_x, T and z̄.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders; only ``status == "completed"`` rows before ``as_of`` count.
    as_of : Timestamp
        Cut-off (UTC midnight).
    time_unit : {"weeks", "days"}, default "weeks"
        Unit of ``recency`` and ``T``.

    Returns
    -------
    DataFrame
        :data:`SUMMARY_COLUMNS`: ``customer_id`` (str), ``frequency`` (int), ``recency``,
        ``T``, ``monetary_value`` (mean repeat-transaction value, 0 without repeats),
        ``first_purchase`` and ``last_purchase`` (UTC days). Sorted by ``customer_id``.

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "amount": [5.0, 7.0, 3.0, 9.0], "status": ["completed"] * 4,
    ...     "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15",
    ...                                   "2026-01-20"], utc=True)})
    >>> s = rfm_summary(o, pd.Timestamp("2026-01-22", tz="UTC"))
    >>> s[["customer_id", "frequency", "recency", "T", "monetary_value"]].values.tolist()
    [['a', 2, 2.0, 3.0, 5.0], ['b', 0, 0.0, 0.2857142857142857, 0.0]]
    """
    unit_days = _days_per_unit(time_unit)
    tx = transactions(orders, as_of)
    if tx.empty:
        return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES[c]) for c in SUMMARY_COLUMNS})
    return _summarise(tx, as_of, unit_days)


def order_values(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Each customer's mean transaction value before ``as_of``, the first one included.

    What the naive baseline expects a customer to spend per purchase (the Gamma–Gamma
    model, when it can be fitted, uses the repeat transactions only).

    Returns
    -------
    Series
        Indexed by ``customer_id`` (str), named ``order_value``; NaN where no amount is known.

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [5.0, 7.0, 3.0],
    ...     "status": ["completed"] * 3,
    ...     "ordered_at": pd.to_datetime(["2026-01-01 09:00", "2026-01-01 18:00",
    ...                                   "2026-01-03 10:00"], utc=True)})
    >>> order_values(o, pd.Timestamp("2026-02-01", tz="UTC")).to_dict()
    {'a': 7.5}
    """
    tx = transactions(orders, as_of)
    return tx.groupby("customer_id")["amount"].mean().rename("order_value")


_EMPTY_DTYPES = {
    "customer_id": "str",
    "frequency": "int64",
    "recency": "float64",
    "T": "float64",
    "monetary_value": "float64",
    "first_purchase": "datetime64[us, UTC]",
    "last_purchase": "datetime64[us, UTC]",
}


@dataclass(frozen=True)
class CalibrationHoldout:
    """The summary as of ``cutoff`` and what its customers did in ``[cutoff, as_of)``.

    Attributes
    ----------
    cutoff, as_of : Timestamp
        ``cutoff = as_of - horizon_days``.
    frame : DataFrame
        :data:`SUMMARY_COLUMNS` as of ``cutoff`` plus ``holdout_frequency`` (transactions
        in the holdout; all are repeat transactions), ``holdout_value`` (their total
        amount) and ``duration_holdout`` (the holdout length in the time unit).
    holdout_transactions : DataFrame
        The holdout transactions of these customers (:func:`transactions` columns), for
        the weekly tracking series.
    calibration_transactions : DataFrame
        Their transactions before ``cutoff``.
    time_unit : str
    """

    cutoff: pd.Timestamp
    as_of: pd.Timestamp
    frame: pd.DataFrame
    holdout_transactions: pd.DataFrame
    calibration_transactions: pd.DataFrame
    time_unit: str

    @property
    def duration(self) -> float:
        """Holdout length in the time unit."""
        return (self.as_of - self.cutoff).days / TIME_UNITS[self.time_unit]


def calibration_holdout(
    orders: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    horizon_days: int = 365,
    time_unit: str = "weeks",
) -> CalibrationHoldout:
    """Split the history at ``as_of - horizon_days`` for the holdout check.

    Works on pandas 3 (``lifetimes``' ``calibration_and_holdout_data`` does not). Only
    customers with a transaction before the cutoff are in the frame: the models predict
    the repeat purchases of known customers; buyers new in the holdout are left out.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders; not modified.
    as_of : Timestamp
        End of the holdout (UTC midnight, exclusive).
    horizon_days : int, default 365
        Holdout length in days.
    time_unit : {"weeks", "days"}, default "weeks"

    Returns
    -------
    CalibrationHoldout

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "amount": [5.0, 7.0, 3.0, 9.0], "status": ["completed"] * 4,
    ...     "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15",
    ...                                   "2026-01-20"], utc=True)})
    >>> split = calibration_holdout(o, pd.Timestamp("2026-01-22", tz="UTC"), horizon_days=10)
    >>> split.frame[["customer_id", "frequency", "holdout_frequency", "holdout_value"]].values.tolist()
    [['a', 1, 1, 3.0]]
    """
    unit_days = _days_per_unit(time_unit)
    check_as_of(as_of, "clv")
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or horizon_days <= 0:
        raise ValueError(
            f"calibration_holdout: horizon_days must be a positive int, got {horizon_days!r}"
        )
    cutoff = as_of - pd.Timedelta(days=horizon_days)
    tx = transactions(orders, as_of)
    calibration = tx.loc[tx["day"] < cutoff]
    holdout = tx.loc[(tx["day"] >= cutoff) & isin(tx["customer_id"], calibration["customer_id"])]
    if calibration.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES[c]) for c in SUMMARY_COLUMNS})
    else:
        frame = _summarise(calibration, cutoff, unit_days)
    per = holdout.groupby("customer_id").agg(
        holdout_frequency=("day", "size"), holdout_value=("amount", "sum")
    )
    frame = frame.join(per, on="customer_id")
    frame["holdout_frequency"] = frame["holdout_frequency"].fillna(0).astype("int64")
    frame["holdout_value"] = frame["holdout_value"].fillna(0.0).astype("float64")
    frame["duration_holdout"] = horizon_days / unit_days
    return CalibrationHoldout(
        cutoff=cutoff,
        as_of=as_of,
        frame=frame,
        holdout_transactions=holdout.reset_index(drop=True),
        calibration_transactions=calibration.reset_index(drop=True),
        time_unit=time_unit,
    )
