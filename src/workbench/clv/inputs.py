"""What the CLV stage reads, whether it applies, and the input in numbers for the report.

The stage reads one table, ``orders``, from whatever :func:`workbench.canonical.open_tables`
opens (the audit's clean folder, a raw folder, the loader's frames); the engine keeps only
the completed orders before ``as_of`` and the four columns the models need, so a large
orders table never sits whole in pandas.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from workbench.canonical import CanonicalTables, open_tables
from workbench.clv.summary import ORDER_COLUMNS
from workbench.display import fmt_int, fmt_number, fmt_pct
from workbench.loading import LoadedData
from workbench.schema import check_as_of

__all__ = ["CLV_TABLES", "read_orders", "applicable", "input_overview"]

log = logging.getLogger(__name__)

#: The canonical tables the stage reads.
CLV_TABLES = ("orders",)


def read_orders(
    source: str | Path | LoadedData | CanonicalTables, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The completed orders before ``as_of``: ``customer_id, ordered_at, amount, status``.

    Parameters
    ----------
    source : folder, LoadedData or CanonicalTables
        Anything :func:`workbench.canonical.open_tables` opens, e.g. what
        ``stage.canonical_source(tables=clv.CLV_TABLES)`` returns.
    as_of : Timestamp
        The cut-off (UTC midnight); orders on or after it are not read.

    Returns
    -------
    DataFrame
        :data:`~workbench.clv.ORDER_COLUMNS`, filtered on the engine; ``ordered_at`` is a
        UTC datetime.
    """
    check_as_of(as_of, "clv.read_orders")
    tables = open_tables(source, tables=CLV_TABLES)
    orders = tables.tables["orders"]
    cutoff = ibis.literal(as_of.to_pydatetime(), type="timestamp('UTC')")
    kept = orders.filter((orders.status == "completed") & (orders.ordered_at < cutoff))
    frame = tables.to_pandas(kept.select(*ORDER_COLUMNS))
    if not isinstance(frame["ordered_at"].dtype, pd.DatetimeTZDtype):
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True)
    frame["ordered_at"] = frame["ordered_at"].dt.tz_convert("UTC")
    frame["customer_id"] = frame["customer_id"].astype("str")
    log.info(
        "clv: %s completed orders before %s from %s",
        f"{len(frame):,}",
        as_of.date(),
        tables.source,
    )
    return frame


def applicable(orders: pd.DataFrame, as_of: pd.Timestamp) -> str | None:
    """Why the CLV stage has nothing to do, or None when it has.

    The stage needs at least one completed order with a customer before ``as_of``; with
    one-time buyers only, it still runs (the naive baseline predicts, and says so).

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a"], "amount": [5.0], "status": ["cancelled"],
    ...                   "ordered_at": pd.to_datetime(["2026-01-01"], utc=True)})
    >>> applicable(o, pd.Timestamp("2026-06-30", tz="UTC"))
    'needs a completed order with a customer before 2026-06-30; the orders table has none (1 order read)'
    >>> applicable(o.assign(status="completed"), pd.Timestamp("2026-06-30", tz="UTC")) is None
    True
    """
    check_as_of(as_of, "clv.applicable")
    missing = [c for c in ("customer_id", "ordered_at", "status") if c not in orders.columns]
    if missing:
        raise KeyError(
            f"orders: column(s) {', '.join(repr(c) for c in missing)} missing; the CLV stage "
            f"needs the canonical columns {', '.join(ORDER_COLUMNS)}"
        )
    usable = (
        (orders["status"] == "completed")
        & (orders["ordered_at"] < as_of)
        & orders["customer_id"].notna()
    )
    if bool(usable.any()):
        return None
    read = len(orders)
    return (
        f"needs a completed order with a customer before {as_of.date()}; the orders table "
        f"has none ({fmt_int(read)} order{'' if read == 1 else 's'} read)"
    )


def input_overview(
    orders: pd.DataFrame, summary: pd.DataFrame, as_of: pd.Timestamp, time_unit: str = "weeks"
) -> pd.DataFrame:
    """The input in a few numbers, formatted for the report (column ``value`` is text).

    Parameters
    ----------
    orders : DataFrame
        What :func:`read_orders` returned.
    summary : DataFrame
        :func:`~workbench.clv.rfm_summary` of them as of ``as_of``.
    as_of : Timestamp
    time_unit : str
        The unit of ``T`` in ``summary``.

    Returns
    -------
    DataFrame
        ``what, value``: completed orders, transactions (same-day orders merged),
        customers, repeat buyers and their share, first and last purchase, median age.
    """
    customers = len(summary)
    repeaters = int((summary["frequency"] > 0).sum())
    transactions = int(summary["frequency"].sum()) + customers
    first = summary["first_purchase"].min() if customers else pd.NaT
    last = summary["last_purchase"].max() if customers else pd.NaT
    rows: list[tuple[str, Any]] = [
        (f"completed orders before {as_of.date()}", fmt_int(len(orders))),
        ("transactions (a customer's orders of one day merged)", fmt_int(transactions)),
        ("customers", fmt_int(customers)),
        ("customers who bought more than once", fmt_int(repeaters)),
        ("share of repeat buyers", fmt_pct(repeaters / customers if customers else None)),
        ("first purchase", "–" if pd.isna(first) else str(first.date())),
        ("last purchase", "–" if pd.isna(last) else str(last.date())),
        (
            f"median time since the first purchase ({time_unit})",
            fmt_number(summary["T"].median() if customers else None, 1),
        ),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])
