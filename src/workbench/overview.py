"""Stage 00: a first look at the data — coverage, volumes, mix and activity.

Everything here describes the data as it arrived (before the audit), so a user sees
what they gave the workbench. Rows dated at or after ``as_of`` are counted, not hidden.
Every function takes ``as_of`` as a parsed ``pd.Timestamp`` (UTC midnight,
:func:`workbench.schema.parse_as_of`); the stage's one parameter is :class:`OverviewParams`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench import display
from workbench.frames import isin
from workbench.loading import LoadedData
from workbench.schema import TABLES

__all__ = [
    "OverviewParams",
    "table_coverage",
    "monthly_orders",
    "customer_mix",
    "activity_shares",
    "completed_order_values",
    "order_value_summary",
    "overview_summary",
    "coverage_display",
    "repairs_table",
    "headline",
]


@dataclass(frozen=True)
class OverviewParams:
    """What the overview shows.

    Attributes
    ----------
    chart_months : int, default 36
        The monthly charts show at most this many months before ``as_of`` (older rows
        still count in the coverage table).

    Examples
    --------
    >>> OverviewParams(chart_months=0)
    Traceback (most recent call last):
    ...
    ValueError: OverviewParams: chart_months must be a positive int, got 0
    """

    chart_months: int = 36

    def __post_init__(self) -> None:
        value = self.chart_months
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"OverviewParams: chart_months must be a positive int, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)


def table_coverage(data: LoadedData, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per canonical table: rows, columns, first/last timestamp, rows at/after
    ``as_of``, and the share of missing cells in the canonical columns."""
    rows = []
    for name, spec in TABLES.items():
        frame = data.tables.get(name)
        if frame is None:
            rows.append({"table": name, "present": False, "rows": 0})
            continue
        time_col = spec.time_column
        times = frame[time_col] if time_col and time_col in frame else None
        first, last, later = pd.NaT, pd.NaT, 0
        if times is not None and times.notna().any():
            first, last, later = times.min(), times.max(), int((times >= as_of).sum())
        canonical = [c for c in spec.columns if c in frame.columns]
        rows.append(
            {
                "table": name,
                "present": True,
                "rows": len(frame),
                "columns": frame.shape[1],
                "first": first,
                "last": last,
                "rows_at_or_after_as_of": later,
                "missing_share": float(frame[canonical].isna().to_numpy().mean())
                if len(frame) and canonical
                else 0.0,
            }
        )
    return pd.DataFrame(rows)


def coverage_display(coverage: pd.DataFrame) -> pd.DataFrame:
    """:func:`table_coverage` for reading: present tables only, dates as ``YYYY-MM-DD``."""
    shown = coverage[coverage["present"]].drop(columns="present").copy()
    for column in ("first", "last"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: None if pd.isna(v) else f"{v:%Y-%m-%d}")
    return shown.reset_index(drop=True)


def repairs_table(data: LoadedData) -> pd.DataFrame:
    """The loader's counted repairs: table, column, what was done, rows."""
    return pd.DataFrame(
        [{"table": r.table, "column": r.column, "action": r.action, "rows": r.rows}
         for r in data.repairs],
        columns=["table", "column", "action", "rows"],
    )  # fmt: skip


def monthly_orders(
    orders: pd.DataFrame, as_of: pd.Timestamp, months: int | None = None
) -> pd.DataFrame:
    """Orders, completed revenue and buying customers per calendar month before ``as_of``
    (the last ``months`` months when given).

    Revenue counts only ``completed`` orders; cancelled and returned orders are counted
    as orders but add no revenue.
    """
    before = orders[orders["ordered_at"] < as_of]
    if months is not None:
        last_month = (as_of - pd.Timedelta(microseconds=1)).tz_convert(None).to_period("M")
        start = (last_month - (months - 1)).to_timestamp()
        before = before[before["ordered_at"] >= start.tz_localize("UTC")]
    month = before["ordered_at"].dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    completed = before["status"].eq("completed")
    frame = pd.DataFrame(
        {
            "month": month,
            "revenue": before["amount"].where(completed, 0.0),
            "customer_id": before["customer_id"],
            "cancelled_or_returned": ~completed,
        }
    )
    grouped = frame.groupby("month", sort=True)
    return pd.DataFrame(
        {
            "orders": grouped.size(),
            "revenue": grouped["revenue"].sum().round(2),
            "customers": grouped["customer_id"].nunique(),
            "cancelled_or_returned": grouped["cancelled_or_returned"].sum(),
        }
    ).reset_index()


def customer_mix(customers: pd.DataFrame, column: str, top: int = 12) -> pd.DataFrame:
    """Customers per value of ``column`` (the ``top`` most frequent, then 'other' and
    'missing'), with their share."""
    if column not in customers.columns:
        raise KeyError(f"customers: no column {column!r}; columns are {list(customers.columns)}")
    values = customers[column].astype("str").fillna("missing")
    counts = values.value_counts()
    head = counts.head(top)
    rest = int(counts.iloc[top:].sum())
    if rest:
        head = pd.concat([head, pd.Series({"other": rest})])
    out = head.rename_axis(column).reset_index(name="customers")
    out["share"] = out["customers"] / max(len(customers), 1)
    return out


def activity_shares(data: LoadedData, as_of: pd.Timestamp) -> dict[str, float]:
    """Share of known customers with at least one order / e-mail event / web event before
    ``as_of`` (absent tables give ``None``)."""
    customers = data["customers"]["customer_id"].dropna().unique()
    known = pd.Index(customers)
    out: dict[str, Any] = {}
    for key, table, time_col in (
        ("with_orders", "orders", "ordered_at"),
        ("with_email_activity", "email_events", "occurred_at"),
        ("with_web_activity", "web_events", "occurred_at"),
    ):
        frame = data.tables.get(table)
        if frame is None or not len(known):
            out[key] = None
            continue
        active = frame.loc[frame[time_col] < as_of, "customer_id"].dropna().unique()
        out[key] = float(isin(known, active).mean())
    if "email_opt_in" in data["customers"] and data["customers"]["email_opt_in"].notna().any():
        out["email_opt_in"] = float(data["customers"]["email_opt_in"].fillna(False).mean())
    return out


def completed_order_values(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Amounts of the completed orders before ``as_of`` (missing amounts included)."""
    return orders.loc[(orders["ordered_at"] < as_of) & orders["status"].eq("completed"), "amount"]


def order_value_summary(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Quantiles of completed order values before ``as_of``."""
    values = completed_order_values(orders, as_of).dropna()
    quantiles = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
    if values.empty:
        return pd.DataFrame({"quantile": quantiles, "amount": np.nan})
    return pd.DataFrame({"quantile": quantiles, "amount": values.quantile(quantiles).to_numpy()})


def overview_summary(
    data: LoadedData, as_of: pd.Timestamp, *, activity: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The headline numbers written to ``overview.json``; ``activity``: the
    :func:`activity_shares` already computed (else computed here)."""
    coverage = table_coverage(data, as_of)
    orders = data["orders"]
    before = orders[orders["ordered_at"] < as_of]
    completed = before[before["status"].eq("completed")]
    tables = {
        row.table: {
            "rows": int(row.rows),
            "first": None if pd.isna(row.first) else str(row.first.date()),
            "last": None if pd.isna(row.last) else str(row.last.date()),
        }
        for row in coverage.itertuples()
        if row.present
    }
    later = coverage.get("rows_at_or_after_as_of")
    return {
        "as_of": str(as_of.date()),
        "tables": tables,
        "rows": int(coverage["rows"].sum()),
        "rows_at_or_after_as_of": 0 if later is None else int(later.fillna(0).sum()),
        "tables_present": int(coverage["present"].sum()),
        "customers": int(data["customers"]["customer_id"].nunique()),
        "orders": int(len(before)),
        "completed_revenue": round(float(completed["amount"].sum()), 2),
        "median_order_value": None if completed.empty else float(completed["amount"].median()),
        "months_of_history": int(
            before["ordered_at"].dt.tz_localize(None).dt.to_period("M").nunique()
        ),
        "activity": activity if activity is not None else activity_shares(data, as_of),
    }


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The stage's headline (:class:`workbench.display.Headline` as a dict) from
    ``overview.json``'s content: rows, the orders' date coverage, customers, orders and
    completed revenue before ``as_of``; ``warning`` when rows are dated at or after it."""
    orders = (summary.get("tables") or {}).get("orders") or {}
    coverage = f"{orders.get('first') or '–'} – {orders.get('last') or '–'}"
    later = int(summary.get("rows_at_or_after_as_of") or 0)
    sentence = (
        f"{display.fmt_int(summary.get('rows'))} rows in {summary.get('tables_present')} "
        f"table(s); orders from {coverage} ({summary.get('months_of_history')} months before "
        f"as_of), {display.fmt_int(summary.get('customers'))} customers."
        + (f" {display.fmt_int(later)} rows are dated on or after as_of." if later else "")
    )
    items = [
        display.HeadlineItem("rows", summary.get("rows"), "int"),
        display.HeadlineItem("orders dated", coverage, "text"),
        display.HeadlineItem("customers", summary.get("customers"), "int"),
        display.HeadlineItem("orders before as_of", summary.get("orders"), "int"),
        display.HeadlineItem("completed revenue", summary.get("completed_revenue"), "money"),
    ]
    return display.Headline(sentence, items, "warning" if later else "ok").as_dict()
