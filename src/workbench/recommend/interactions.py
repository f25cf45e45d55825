"""Who bought (and viewed) what before a cut-off: the sparse customer × product matrix.

Purchases are the lines of **completed** orders placed strictly before the cut-off; a
line with a missing product or a quantity that is not positive is dropped (counted in the
log). Product views (web ``product_view`` events of known customers, strictly before the
cut-off) can be added as a weaker signal. Rows are customers, columns the catalogue
(every product of ``products`` plus any product id seen in the lines or views), both in
sorted id order, so ties between products are always broken by product id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from workbench.recommend.params import WEIGHTINGS

__all__ = [
    "Interactions",
    "build_interactions",
    "check_as_of",
    "completed_lines",
    "purchases_in_window",
    "require_columns",
]

log = logging.getLogger(__name__)

_US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class Interactions:
    """The training signal of every model, as of ``cutoff``.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Customers × products, float32: purchases weighted by ``weighting`` plus
        ``view_weight`` × product views. What the collaborative models learn from.
    purchases : scipy.sparse.csr_matrix
        Customers × products, float32: completed orders holding the product (canonical
        CSR: sorted indices, no duplicates; explicit entries are exactly the products
        the customer bought). Used by buy-again, exclusion and the re-purchase share.
    last_days, span_days : numpy.ndarray
        Aligned with ``purchases.data``: days from the last purchase of the product to
        ``cutoff``, and days between its first and last purchase.
    user_ids, item_ids : pandas.Index
        Customer ids of the rows and product ids of the columns (sorted).
    item_category : numpy.ndarray
        Category code of each product (index into ``categories``; -1 when unknown).
    categories : tuple of str
        Category names, sorted.
    cutoff : pandas.Timestamp
        Every signal is strictly before it.
    weighting : str
        ``count`` or ``quantity``.
    view_weight : float
        Weight of one product view relative to one purchase.
    """

    matrix: sp.csr_matrix
    purchases: sp.csr_matrix
    last_days: np.ndarray
    span_days: np.ndarray
    user_ids: pd.Index
    item_ids: pd.Index
    item_category: np.ndarray
    categories: tuple[str, ...]
    cutoff: pd.Timestamp
    weighting: str = "count"
    view_weight: float = 0.0

    @property
    def n_users(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    def user_index(self, customer_ids: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
        """Row of each customer id (-1 for customers without a signal before ``cutoff``)."""
        return self.user_ids.get_indexer(pd.Index(customer_ids, dtype=self.user_ids.dtype))

    def item_index(self, product_ids: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
        """Column of each product id (-1 for products outside the catalogue)."""
        return self.item_ids.get_indexer(pd.Index(product_ids, dtype=self.item_ids.dtype))


def require_columns(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    """Raise a ``ValueError`` naming the table and the missing canonical columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{table}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table}: column(s) {', '.join(missing)} missing; the recommendations need "
            f"{', '.join(columns)} (canonical names, see workbench.schema)"
        )


def check_as_of(as_of: pd.Timestamp, name: str = "as_of") -> pd.Timestamp:
    """``as_of`` must be a timezone-aware ``pandas.Timestamp`` (parse it at the boundary)."""
    if not isinstance(as_of, pd.Timestamp) or as_of.tzinfo is None:
        raise ValueError(
            f"{name} must be a UTC pandas.Timestamp such as "
            f"workbench.stage.parse_as_of('2026-06-30'), got {as_of!r}"
        )
    return as_of.tz_convert("UTC")


def completed_lines(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    end: pd.Timestamp,
    start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Lines of completed orders placed in ``[start, end)``.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical ``orders`` (``order_id, customer_id, ordered_at, status``); a missing
        ``status`` column means every order is completed (the loader's default).
    order_items : pandas.DataFrame
        Canonical ``order_items`` (``order_id, product_id, quantity``).
    end : pandas.Timestamp
        Exclusive upper bound (UTC).
    start : pandas.Timestamp, optional
        Inclusive lower bound; ``None`` takes the whole history.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, order_id, product_id, quantity, ordered_at``, one row per line.
        Lines without a product or with ``quantity <= 0`` are dropped and counted in the
        log; lines of orders outside the window or not completed are left out.

    Examples
    --------
    >>> ts = pd.Timestamp("2026-01-02", tz="UTC")
    >>> orders = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["c1", "c1"],
    ...     "ordered_at": [ts, ts], "status": ["completed", "cancelled"]})
    >>> items = pd.DataFrame({"order_id": ["o1", "o2"], "product_id": ["p1", "p2"],
    ...     "quantity": [2.0, 1.0]})
    >>> completed_lines(orders, items, end=pd.Timestamp("2026-02-01", tz="UTC"))[
    ...     ["customer_id", "product_id", "quantity"]]
      customer_id product_id  quantity
    0          c1         p1       2.0
    """
    require_columns(orders, "orders", ("order_id", "customer_id", "ordered_at"))
    require_columns(order_items, "order_items", ("order_id", "product_id", "quantity"))
    end = check_as_of(end, "end")
    when = orders["ordered_at"]
    keep = (when < end).to_numpy(dtype=bool, na_value=False).copy()
    if start is not None:
        keep &= (when >= check_as_of(start, "start")).to_numpy(dtype=bool, na_value=False)
    if "status" in orders.columns:
        keep &= (orders["status"] == "completed").to_numpy(dtype=bool, na_value=False)
    kept = orders.loc[keep, ["order_id", "customer_id", "ordered_at"]]
    kept = kept[kept["customer_id"].notna()]
    if kept["order_id"].duplicated().any():
        n_dup = int(kept["order_id"].duplicated().sum())
        log.warning("orders: %s duplicated order ids; the first row of each is used", n_dup)
        kept = kept.drop_duplicates("order_id")
    pos = pd.Index(kept["order_id"]).get_indexer(order_items["order_id"])
    in_window = pos >= 0
    product = order_items["product_id"].to_numpy()
    quantity = order_items["quantity"].to_numpy(dtype=np.float64, na_value=np.nan)
    valid = in_window & pd.notna(product) & (quantity > 0)
    dropped = int((in_window & ~valid).sum())
    if dropped:
        log.info("order_items: %s lines without a product or with quantity <= 0 ignored", dropped)
    pos = pos[valid]
    return pd.DataFrame(
        {
            "customer_id": kept["customer_id"].to_numpy()[pos],
            "order_id": kept["order_id"].to_numpy()[pos],
            "product_id": product[valid],
            "quantity": quantity[valid],
            "ordered_at": kept["ordered_at"].array[pos],
        }
    )


def purchases_in_window(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """The distinct products each customer bought in ``[start, end)`` (completed orders).

    This is the relevance set of the evaluation: a recommendation is a hit when the
    customer bought the product in the window.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, product_id``, one row per pair, sorted.
    """
    lines = completed_lines(orders, order_items, end=end, start=start)
    pairs = lines[["customer_id", "product_id"]].drop_duplicates()
    return pairs.sort_values(["customer_id", "product_id"], ignore_index=True)


def build_interactions(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    cutoff: pd.Timestamp,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
    weighting: str = "count",
    view_weight: float = 0.0,
) -> Interactions:
    """The customer × product matrices from everything strictly before ``cutoff``.

    Parameters
    ----------
    orders, order_items : pandas.DataFrame
        Canonical tables (see :func:`completed_lines`).
    cutoff : pandas.Timestamp
        Exclusive end of the training data (UTC).
    products : pandas.DataFrame, optional
        Canonical ``products`` (``product_id``, optional ``category``): defines the
        catalogue (products nobody bought yet are columns too) and the categories.
    web_events : pandas.DataFrame, optional
        Canonical ``web_events``; its ``product_view`` events are used when
        ``view_weight > 0``.
    weighting : {"count", "quantity"}
        A purchase weighs one per completed order holding the product, or its units.
    view_weight : float
        Weight of one product view relative to one purchase (0: views ignored).

    Returns
    -------
    Interactions
        Rows: customers with a purchase (or, when views are used, a view) before
        ``cutoff``; columns: the catalogue.
    """
    cutoff = check_as_of(cutoff, "cutoff")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if not view_weight >= 0:
        raise ValueError(f"view_weight must be >= 0, got {view_weight!r}")
    lines = completed_lines(orders, order_items, end=cutoff)
    views = _views(web_events, cutoff) if view_weight > 0 else None
    item_ids = _catalogue(products, lines, views)
    user_parts = [lines["customer_id"]] + ([views["customer_id"]] if views is not None else [])
    user_ids = _id_index(pd.concat(user_parts, ignore_index=True))
    shape = (len(user_ids), len(item_ids))
    purchases, last_days, span_days, quantity = _purchase_matrices(
        lines, user_ids, item_ids, cutoff
    )
    matrix = purchases.copy() if weighting == "count" else quantity
    if views is not None:
        view_matrix = _view_matrix(views, user_ids, item_ids, shape)
        matrix = (matrix + np.float32(view_weight) * view_matrix).tocsr()
    matrix.sort_indices()
    categories, item_category = _categories(products, item_ids)
    log.info(
        "interactions before %s: %s customers x %s products, %s purchased pairs%s",
        cutoff.date(),
        f"{shape[0]:,}",
        f"{shape[1]:,}",
        f"{purchases.nnz:,}",
        f", {len(views):,} viewed pairs" if views is not None else "",
    )
    return Interactions(
        matrix=matrix.astype(np.float32),
        purchases=purchases,
        last_days=last_days,
        span_days=span_days,
        user_ids=user_ids,
        item_ids=item_ids,
        item_category=item_category,
        categories=categories,
        cutoff=cutoff,
        weighting=weighting,
        view_weight=float(view_weight),
    )


def _views(web_events: pd.DataFrame | None, cutoff: pd.Timestamp) -> pd.DataFrame | None:
    """Product views of known customers before ``cutoff``, counted per pair."""
    if web_events is None:
        return None
    require_columns(web_events, "web_events", ("customer_id", "event_type", "product_id"))
    require_columns(web_events, "web_events", ("occurred_at",))
    keep = (
        (web_events["event_type"] == "product_view").to_numpy(dtype=bool, na_value=False)
        & (web_events["occurred_at"] < cutoff).to_numpy(dtype=bool, na_value=False)
        & web_events["customer_id"].notna().to_numpy()
        & web_events["product_id"].notna().to_numpy()
    )
    seen = web_events.loc[keep, ["customer_id", "product_id"]]
    return seen.groupby(["customer_id", "product_id"], sort=False).size().reset_index(name="n")


def _catalogue(
    products: pd.DataFrame | None, lines: pd.DataFrame, views: pd.DataFrame | None
) -> pd.Index:
    parts = [lines["product_id"]]
    if products is not None:
        require_columns(products, "products", ("product_id",))
        parts.append(products["product_id"].dropna())
    if views is not None:
        parts.append(views["product_id"])
    return _id_index(pd.concat(parts, ignore_index=True))


def _id_index(values: pd.Series) -> pd.Index:
    """Sorted distinct ids as a ``str`` index (the canonical id type)."""
    return pd.Index(pd.unique(values.astype("str")), dtype="str").sort_values()


def _purchase_matrices(
    lines: pd.DataFrame, user_ids: pd.Index, item_ids: pd.Index, cutoff: pd.Timestamp
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, sp.csr_matrix]:
    """Orders, recency, span and units per (customer, product), as canonical CSR."""
    n_users, n_items = len(user_ids), len(item_ids)
    user = user_ids.get_indexer(lines["customer_id"].astype("str")).astype(np.int64)
    item = item_ids.get_indexer(lines["product_id"].astype("str")).astype(np.int64)
    order = pd.factorize(lines["order_id"])[0].astype(np.int64)
    when = lines["ordered_at"].array.as_unit("us").asi8 if len(lines) else np.zeros(0, np.int64)
    # one row per (order, product) first: a product on two lines of one order is one purchase
    per_order = pd.DataFrame(
        {"pair": user * n_items + item, "op": order * n_items + item, "q": lines["quantity"]}
    )
    per_order["t"] = when
    per_order = per_order.groupby("op", sort=False).agg(
        pair=("pair", "first"), q=("q", "sum"), t=("t", "first")
    )
    per_pair = per_order.groupby("pair", sort=True).agg(
        n=("q", "size"), q=("q", "sum"), first=("t", "min"), last=("t", "max")
    )
    pair = per_pair.index.to_numpy(dtype=np.int64)
    rows, cols = pair // max(n_items, 1), pair % max(n_items, 1)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    indices = cols.astype(np.int32)
    shape = (n_users, n_items)
    counts = sp.csr_matrix(
        (per_pair["n"].to_numpy(np.float32), indices, indptr), shape=shape, copy=False
    )
    units = sp.csr_matrix(
        (per_pair["q"].to_numpy(np.float32), indices.copy(), indptr.copy()), shape=shape
    )
    end_us = cutoff.value // 1_000  # Timestamp.value is in nanoseconds whatever the unit
    first, last = per_pair["first"].to_numpy(), per_pair["last"].to_numpy()
    last_days = ((end_us - last) / _US_PER_DAY).astype(np.float32)
    span_days = ((last - first) / _US_PER_DAY).astype(np.float32)
    return counts, last_days, span_days, units


def _view_matrix(
    views: pd.DataFrame, user_ids: pd.Index, item_ids: pd.Index, shape: tuple[int, int]
) -> sp.csr_matrix:
    user = user_ids.get_indexer(views["customer_id"].astype("str"))
    item = item_ids.get_indexer(views["product_id"].astype("str"))
    data = views["n"].to_numpy(np.float32)
    return sp.coo_matrix((data, (user, item)), shape=shape).tocsr()


def _categories(
    products: pd.DataFrame | None, item_ids: pd.Index
) -> tuple[tuple[str, ...], np.ndarray]:
    codes = np.full(len(item_ids), -1, dtype=np.int32)
    if products is None or "category" not in products.columns:
        return (), codes
    known = products.dropna(subset=["product_id"]).drop_duplicates("product_id")
    category = known["category"]
    names = tuple(sorted(str(c) for c in category.dropna().unique()))
    lookup = {name: i for i, name in enumerate(names)}
    pos = item_ids.get_indexer(known["product_id"].astype("str"))
    codes[pos] = [lookup[str(c)] if pd.notna(c) else -1 for c in category]
    return names, codes
