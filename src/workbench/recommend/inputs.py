"""What the recommendations stage reads, whether it applies, and the input in numbers.

The stage reads ``orders`` and ``order_items`` (required), ``products`` (names and
categories, for the category baseline and the reasons; optional) and, when
``view_weight > 0``, the ``product_view`` events of ``web_events`` — from whatever
:func:`workbench.canonical.open_tables` opens. The engine keeps only the orders before
``as_of``, their lines and the columns the models need, so a large source never sits
whole in pandas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from workbench.canonical import CanonicalTables, open_tables
from workbench.display import fmt_int, fmt_pct
from workbench.frames import isin
from workbench.loading import LoadedData
from workbench.recommend.split import TimeSplit
from workbench.schema import check_as_of

__all__ = [
    "RECOMMEND_TABLES",
    "RecommendInputs",
    "read_inputs",
    "applicable",
    "evaluation_problem",
    "input_overview",
]

log = logging.getLogger(__name__)

#: The canonical tables the stage reads (``orders`` and ``order_items`` are required).
RECOMMEND_TABLES = ("orders", "order_items", "products", "web_events")

_ORDER_COLUMNS = ("order_id", "customer_id", "ordered_at", "status")
_LINE_COLUMNS = ("order_id", "product_id", "quantity")
_PRODUCT_COLUMNS = ("product_id", "name", "category")
_VIEW_COLUMNS = ("customer_id", "product_id", "event_type", "occurred_at")


@dataclass
class RecommendInputs:
    """The frames the stage works on, all strictly before ``as_of``.

    Attributes
    ----------
    orders : pandas.DataFrame
        ``order_id, customer_id, ordered_at, status`` of the orders placed before ``as_of``.
    order_items : pandas.DataFrame
        ``order_id, product_id, quantity`` of those orders.
    products : pandas.DataFrame or None
        ``product_id`` and, when the source has them, ``name, category``.
    web_events : pandas.DataFrame or None
        ``product_view`` events of known customers before ``as_of`` (read only when asked).
    source : str
        Where the tables came from.
    """

    orders: pd.DataFrame
    order_items: pd.DataFrame
    products: pd.DataFrame | None
    web_events: pd.DataFrame | None
    source: str


def read_inputs(
    source: str | Path | LoadedData | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    views: bool = False,
) -> RecommendInputs:
    """The orders before ``as_of``, their lines, the products and (with ``views``) the
    product views, filtered on the engine.

    Parameters
    ----------
    source : folder, LoadedData or CanonicalTables
        Anything :func:`workbench.canonical.open_tables` opens, e.g. what
        ``stage.canonical_source(tables=recommend.RECOMMEND_TABLES)`` returns.
    as_of : pandas.Timestamp
        The cut-off (UTC midnight); nothing at or after it is read.
    views : bool, default False
        Read the ``product_view`` events of ``web_events`` (when the table exists and
        carries customer and product ids).

    Returns
    -------
    RecommendInputs

    Raises
    ------
    ValueError
        The source has no ``order_items`` table.
    """
    as_of = check_as_of(as_of, "recommend.read_inputs")
    tables = open_tables(source, tables=RECOMMEND_TABLES)
    if not tables.has("order_items"):
        raise ValueError(
            f"order_items: no such table in {tables.source}; the recommendations need the "
            "order lines (order_id, product_id, quantity)"
        )
    cutoff = ibis.literal(as_of.to_pydatetime(), type="timestamp('UTC')")
    o = tables.tables["orders"]
    kept = o.filter(o.ordered_at < cutoff).select(*_ORDER_COLUMNS)
    lines = tables.tables["order_items"]
    lines = lines.filter(lines.order_id.isin(kept.order_id)).select(*_LINE_COLUMNS)
    orders = _utc(tables.to_pandas(kept), "ordered_at")
    order_items = tables.to_pandas(lines)
    products = None
    if tables.has("products"):
        p = tables.tables["products"]
        columns = [
            c for c in _PRODUCT_COLUMNS if c == "product_id" or c in tables.provided["products"]
        ]
        products = tables.to_pandas(p.select(*columns))
    web = None
    if (
        views
        and tables.has("web_events")
        and {"customer_id", "product_id"} <= set(tables.provided["web_events"])
    ):
        w = tables.tables["web_events"]
        seen = w.filter(
            (w.event_type == "product_view")
            & (w.occurred_at < cutoff)
            & w.customer_id.notnull()
            & w.product_id.notnull()
        )
        web = _utc(tables.to_pandas(seen.select(*_VIEW_COLUMNS)), "occurred_at")
    log.info(
        "recommendations: %s orders before %s with %s lines, %s products%s, from %s",
        f"{len(orders):,}",
        as_of.date(),
        f"{len(order_items):,}",
        "no" if products is None else f"{len(products):,}",
        "" if web is None else f", {len(web):,} product views",
        tables.source,
    )
    return RecommendInputs(orders, order_items, products, web, str(tables.source))


def _utc(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if not isinstance(frame[column].dtype, pd.DatetimeTZDtype):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame[column] = frame[column].dt.tz_convert("UTC")
    for name in ("customer_id", "order_id", "product_id"):
        if name in frame.columns:
            frame[name] = frame[name].astype("str").where(frame[name].notna())
    return frame


def _completed(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    done = (orders["ordered_at"] < as_of) & orders["customer_id"].notna()
    if "status" in orders.columns:
        done &= orders["status"] == "completed"
    return done.fillna(False).astype(bool)


def applicable(orders: pd.DataFrame, order_items: pd.DataFrame, as_of: pd.Timestamp) -> str | None:
    """Why the stage has nothing to do, or None when it has: it needs at least one line
    with a product and a positive quantity in a completed order of a customer before
    ``as_of``.

    Examples
    --------
    >>> ts = pd.Timestamp("2026-01-02", tz="UTC")
    >>> o = pd.DataFrame({"order_id": ["o1"], "customer_id": ["a"], "ordered_at": [ts],
    ...                   "status": ["completed"]})
    >>> i = pd.DataFrame({"order_id": ["o2"], "product_id": ["p"], "quantity": [1.0]})
    >>> applicable(o, i, pd.Timestamp("2026-06-30", tz="UTC"))
    'needs an order line of a completed order before 2026-06-30; there is none (1 completed order, 1 order line read)'
    >>> applicable(o, i.assign(order_id="o1"), pd.Timestamp("2026-06-30", tz="UTC")) is None
    True
    """
    as_of = check_as_of(as_of, "recommend.applicable")
    for frame, table, columns in (
        (orders, "orders", ("order_id", "customer_id", "ordered_at")),
        (order_items, "order_items", _LINE_COLUMNS),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise KeyError(
                f"{table}: column(s) {', '.join(repr(c) for c in missing)} missing; the "
                f"recommendations need {', '.join(columns)}"
            )
    done = orders.loc[_completed(orders, as_of), "order_id"]
    quantity = pd.to_numeric(order_items["quantity"], errors="coerce")
    usable = (
        isin(order_items["order_id"], done) & order_items["product_id"].notna() & (quantity > 0)
    )
    if bool(usable.any()):
        return None
    n_done, n_lines = len(done), len(order_items)
    return (
        f"needs an order line of a completed order before {as_of.date()}; there is none "
        f"({fmt_int(n_done)} completed order{'' if n_done == 1 else 's'}, "
        f"{fmt_int(n_lines)} order line{'' if n_lines == 1 else 's'} read)"
    )


def evaluation_problem(orders: pd.DataFrame, split: TimeSplit) -> str | None:
    """Why the time split cannot judge the models (None when it can): both the validation
    and the test window need a customer with a completed order before the window and one
    in it.

    Examples
    --------
    >>> from workbench.recommend.split import time_split
    >>> ts = pd.to_datetime(["2026-01-02", "2026-06-20"], utc=True)
    >>> o = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["a", "a"],
    ...                   "ordered_at": ts, "status": ["completed"] * 2})
    >>> evaluation_problem(o, time_split(pd.Timestamp("2026-06-30", tz="UTC")))
    'no customer bought both before and in the validation window 2026-05-01 to 2026-05-31'
    """
    done = orders.loc[_completed(orders, split.as_of), ["customer_id", "ordered_at"]]
    windows = (
        ("validation", split.validation_start, split.test_start),
        ("test", split.test_start, split.as_of),
    )
    for name, start, end in windows:
        before = set(done.loc[done["ordered_at"] < start, "customer_id"])
        inside = done.loc[(done["ordered_at"] >= start) & (done["ordered_at"] < end), "customer_id"]
        if not before.intersection(inside):
            return (
                f"no customer bought both before and in the {name} window {start.date()} to "
                f"{end.date()}"
            )
    return None


def input_overview(inputs: RecommendInputs, split: TimeSplit) -> pd.DataFrame:
    """The input in a few numbers, formatted for the report (column ``value`` is text).

    Returns
    -------
    pandas.DataFrame
        ``what, value``: completed orders and their lines before ``as_of``, customers,
        products bought and in the catalogue, categories, customers who bought a
        product more than once, the first and last order, the windows of the split.
    """
    orders, items = inputs.orders, inputs.order_items
    done = orders.loc[_completed(orders, split.as_of)]
    lines = items.loc[isin(items["order_id"], done["order_id"]) & items["product_id"].notna()]
    pairs = lines.merge(done[["order_id", "customer_id"]], on="order_id")
    per_pair = pairs.groupby(["customer_id", "product_id"])["order_id"].nunique()
    repeaters = per_pair[per_pair > 1].reset_index()["customer_id"].nunique()
    customers = done["customer_id"].nunique()
    catalogue = None if inputs.products is None else inputs.products["product_id"].nunique()
    categories = None
    if inputs.products is not None and "category" in inputs.products.columns:
        categories = inputs.products["category"].nunique()
    first = done["ordered_at"].min() if len(done) else pd.NaT
    last = done["ordered_at"].max() if len(done) else pd.NaT
    rows = [
        (f"completed orders before {split.as_of.date()}", fmt_int(len(done))),
        ("their order lines", fmt_int(len(lines))),
        ("customers with a completed order", fmt_int(customers)),
        ("products bought", fmt_int(lines["product_id"].nunique())),
        ("products in the catalogue", "–" if catalogue is None else fmt_int(catalogue)),
        ("categories", "–" if categories is None else fmt_int(categories)),
        (
            "customers who bought a product in two or more orders",
            f"{fmt_int(repeaters)} ({fmt_pct(repeaters / customers if customers else None)})",
        ),
        ("first order", "–" if pd.isna(first) else str(first.date())),
        ("last order", "–" if pd.isna(last) else str(last.date())),
        (
            "validation window (chooses)",
            f"{split.validation_start.date()} up to {split.test_start.date()}",
        ),
        ("test window (judges)", f"{split.test_start.date()} up to {split.as_of.date()}"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])
