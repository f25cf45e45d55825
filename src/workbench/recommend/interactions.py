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
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from workbench.recommend.params import WEIGHTINGS
from workbench.schema import check_as_of

__all__ = [
    "Interactions",
    "Lines",
    "build_interactions",
    "completed_lines",
    "interactions_from_lines",
    "line_codes",
    "purchases_in_window",
    "require_columns",
]

log = logging.getLogger(__name__)

_US_PER_DAY = 86_400 * 1_000_000
#: Largest (customer, product, order) key packed into one int64 for the single sort.
_PACKED_KEY_LIMIT = 2**62


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


@dataclass(frozen=True)
class Lines:
    """Completed order lines of a window as integer codes (compact at millions of lines).

    Attributes
    ----------
    customer : numpy.ndarray
        Position of each line's customer in ``customer_ids`` (int32).
    order : numpy.ndarray
        Code of each line's order (int32; equal codes: the same order).
    product : numpy.ndarray
        Position of each line's product in ``product_ids`` (int32).
    quantity : numpy.ndarray
        Units (float32, > 0).
    time_us : numpy.ndarray
        Order time, microseconds since the epoch (int64).
    customer_ids, product_ids : pandas.Index
        Sorted distinct ids (``str``).
    """

    customer: np.ndarray
    order: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    time_us: np.ndarray
    customer_ids: pd.Index
    product_ids: pd.Index

    def __len__(self) -> int:
        return len(self.customer)


def _arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """Ids as an Arrow string array (zero-copy for pandas' Arrow-backed ``str``)."""
    array = pa.array(values) if not isinstance(values.array, pa.Array) else values.array
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.large_string())
    return array


def _sorted_ids(array: pa.Array | pa.ChunkedArray) -> pd.Index:
    unique = pc.unique(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array)
    unique = unique.filter(pc.is_valid(unique))
    return pd.Index(unique.to_pandas(types_mapper=None).astype("str"), dtype="str").sort_values()


def _positions(array: pa.Array | pa.ChunkedArray, index: pd.Index) -> np.ndarray:
    """Position of every value in ``index`` (-1 when absent or missing), Arrow hashing."""
    found = pc.index_in(array, value_set=pa.array(index.to_numpy(), type=array.type))
    return np.asarray(found.fill_null(-1), dtype=np.int64)


def line_codes(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    end: pd.Timestamp,
    start: pd.Timestamp | None = None,
) -> Lines:
    """Lines of completed orders placed in ``[start, end)``, as integer codes.

    The orders a line belongs to must be completed (a missing ``status`` column means
    all are, the loader's default), have a customer and a time in the window; the line
    must have a product and a quantity above 0 (the others are counted in the log).
    Duplicated order ids keep their first row (logged). Ids are hashed with Arrow.
    """
    require_columns(orders, "orders", ("order_id", "customer_id", "ordered_at"))
    require_columns(order_items, "order_items", ("order_id", "product_id", "quantity"))
    end = check_as_of(end, "recommend end")
    when = orders["ordered_at"]
    keep = (when < end).to_numpy(dtype=bool, na_value=False).copy()
    if start is not None:
        keep &= (when >= check_as_of(start, "recommend start")).to_numpy(dtype=bool, na_value=False)
    if "status" in orders.columns:
        keep &= (orders["status"] == "completed").to_numpy(dtype=bool, na_value=False)
    keep &= orders["customer_id"].notna().to_numpy()
    kept = orders.loc[keep, ["order_id", "customer_id", "ordered_at"]]
    duplicated = kept["order_id"].duplicated()
    if duplicated.any():
        log.warning(
            "orders: %s duplicated order ids; the first row of each is used", int(duplicated.sum())
        )
        kept = kept[~duplicated.to_numpy()]
    order_ids = _arrow_strings(kept["order_id"])
    pos = pc.index_in(_arrow_strings(order_items["order_id"]), value_set=order_ids)
    pos = np.asarray(pos.fill_null(-1), dtype=np.int64)
    quantity = order_items["quantity"].to_numpy(dtype=np.float64, na_value=np.nan)
    product = _arrow_strings(order_items["product_id"])
    valid = (pos >= 0) & np.asarray(pc.is_valid(product)) & (quantity > 0)
    dropped = int(((pos >= 0) & ~valid).sum())
    if dropped:
        log.info("order_items: %s lines without a product or with quantity <= 0 ignored", dropped)
    pos = pos[valid]
    product = product.filter(pa.array(valid))
    # customers of the orders that keep at least one line
    has_line = np.bincount(pos, minlength=len(kept)) > 0
    customers = _arrow_strings(kept["customer_id"])
    customer_ids = _sorted_ids(customers.filter(pa.array(has_line)))
    order_customer = _positions(customers, customer_ids)
    product_ids = _sorted_ids(product)
    time_us = pd.DatetimeIndex(kept["ordered_at"]).as_unit("us").asi8
    return Lines(
        customer=order_customer[pos].astype(np.int32),
        order=pos.astype(np.int32),
        product=_positions(product, product_ids).astype(np.int32),
        quantity=quantity[valid].astype(np.float32),
        time_us=time_us[pos],
        customer_ids=customer_ids,
        product_ids=product_ids,
    )


def completed_lines(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    end: pd.Timestamp,
    start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Lines of completed orders placed in ``[start, end)``, as a frame.

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
        ``customer_id, order, product_id, quantity, ordered_at``, one row per line
        (``order``: an integer code per order). See :func:`line_codes` for the rules.

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
    lines = line_codes(orders, order_items, end, start)
    return pd.DataFrame(
        {
            "customer_id": lines.customer_ids[lines.customer],
            "order": lines.order,
            "product_id": lines.product_ids[lines.product],
            "quantity": lines.quantity,
            "ordered_at": pd.to_datetime(lines.time_us, unit="us", utc=True),
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
    cutoff = check_as_of(cutoff, "recommend cutoff")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if not view_weight >= 0:
        raise ValueError(f"view_weight must be >= 0, got {view_weight!r}")
    return interactions_from_lines(
        line_codes(orders, order_items, end=cutoff),
        cutoff,
        products=products,
        web_events=web_events,
        weighting=weighting,
        view_weight=view_weight,
    )


def interactions_from_lines(
    lines: Lines,
    cutoff: pd.Timestamp,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
    weighting: str = "count",
    view_weight: float = 0.0,
) -> Interactions:
    """:func:`build_interactions` from lines already coded by :func:`line_codes` (whose
    ``end`` must be ``cutoff``); lets a caller reuse one pass over the order lines."""
    cutoff = check_as_of(cutoff, "recommend cutoff")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if not view_weight >= 0:
        raise ValueError(f"view_weight must be >= 0, got {view_weight!r}")
    if len(lines) and lines.time_us.max() >= cutoff.value // 1_000:
        raise ValueError("interactions_from_lines: the lines reach past the cutoff")
    views = _views(web_events, cutoff) if view_weight > 0 else None
    item_ids = _catalogue(products, lines, views)
    user_ids = lines.customer_ids
    if views is not None:
        user_ids = _id_index(pd.concat([pd.Series(user_ids), views["customer_id"]]))
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


def _catalogue(products: pd.DataFrame | None, lines: Lines, views: pd.DataFrame | None) -> pd.Index:
    parts = [pd.Series(lines.product_ids)]
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
    lines: Lines, user_ids: pd.Index, item_ids: pd.Index, cutoff: pd.Timestamp
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, sp.csr_matrix]:
    """Orders, recency, span and units per (customer, product), as canonical CSR.

    One sort of the lines by (customer, product, order) and linear passes: a product on
    two lines of one order is one purchase; memory stays a few arrays of the line count.
    """
    n_users, n_items = len(user_ids), len(item_ids)
    user = user_ids.get_indexer(lines.customer_ids).astype(np.int64)[lines.customer]
    pair = user * n_items + item_ids.get_indexer(lines.product_ids).astype(np.int64)[lines.product]
    del user
    order_bits = max(int(lines.order.max()).bit_length(), 1) if len(lines) else 1
    if (n_users * n_items) << order_bits < _PACKED_KEY_LIMIT:
        key = (pair << order_bits) | lines.order.astype(np.int64)
        sort = np.argsort(key)
        key = key[sort]
        new_purchase = np.r_[True, key[1:] != key[:-1]] if len(key) else key.astype(bool)
        del key
    else:  # too many orders to pack into one key: sort on two keys instead
        sort = np.lexsort((lines.order, pair))
        order = lines.order[sort]
        new_purchase = np.r_[True, (pair[sort][1:] != pair[sort][:-1]) | (order[1:] != order[:-1])]
    pair = pair[sort]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else pair
    keys = pair[starts]
    del pair
    empty = np.zeros(0, np.float32)
    n_orders = np.add.reduceat(new_purchase, starts).astype(np.float32) if len(starts) else empty
    units = np.add.reduceat(lines.quantity[sort], starts) if len(starts) else empty
    when = lines.time_us[sort]
    del sort, new_purchase
    first_us = np.minimum.reduceat(when, starts) if len(starts) else when
    last_us = np.maximum.reduceat(when, starts) if len(starts) else when
    del when
    rows, cols = keys // max(n_items, 1), keys % max(n_items, 1)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    indices = cols.astype(np.int32)
    shape = (n_users, n_items)
    counts = sp.csr_matrix((n_orders, indices, indptr), shape=shape)
    quantity = sp.csr_matrix(
        (np.asarray(units, np.float32), indices.copy(), indptr.copy()), shape=shape
    )
    end_us = cutoff.value // 1_000  # Timestamp.value is in nanoseconds whatever the unit
    last_days = ((end_us - last_us) / _US_PER_DAY).astype(np.float32)
    span_days = ((last_us - first_us) / _US_PER_DAY).astype(np.float32)
    return counts, last_days, span_days, quantity


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
