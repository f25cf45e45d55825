"""The final lists: the chosen model refit on everything before ``as_of``, for every
customer with an order before it, each product with a short reason in plain words.

Reasons describe the customer's own data, not the model's internals (an ALS factor has
no words), checked in this order for each recommended product:

1. the customer bought it before: "you buy this every ~N days" when two or more orders
   held it and N (days between the first and last purchase / (orders − 1)) is at most
   ``max_cycle_days``; "you bought this N times" for other repeats; else "you bought
   this before";
2. it shares baskets with something the customer bought: "bought together with
   <product name>" — of the customer's products, the one whose baskets overlap most with
   this product (cosine of the two products' order sets) among those found together in
   at least ``min_together`` completed orders;
3. otherwise "popular in <category>" ("popular with customers" without a category).

Product names come from the data and are kept raw here — they are never trusted to be
safe text: escaping happens where they are rendered.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from workbench.recommend.interactions import (
    Interactions,
    Lines,
    interactions_from_lines,
    line_codes,
    require_columns,
)
from workbench.recommend.models import Recommender
from workbench.schema import check_as_of

__all__ = ["FINAL_COLUMNS", "final_recommendations", "basket_cooccurrence", "explain"]

log = logging.getLogger(__name__)

#: Columns of the final recommendations, in order.
FINAL_COLUMNS = ("customer_id", "rank", "product_id", "score", "reason")

_BEFORE = "you bought this before"
_POPULAR = "popular with customers"


def basket_cooccurrence(lines: Lines, item_ids: pd.Index) -> sp.csr_matrix:
    """Products × products: completed orders that hold both (the diagonal: orders that
    hold the product), from lines coded by :func:`line_codes`."""
    item = item_ids.get_indexer(lines.product_ids)[lines.product]
    keep = item >= 0
    order = np.unique(lines.order[keep], return_inverse=True)[1]
    baskets = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (order, item[keep])),
        shape=(int(order.max()) + 1 if len(order) else 0, len(item_ids)),
    )
    baskets.data[:] = 1.0  # duplicates were summed: one product twice in an order counts once
    return (baskets.T @ baskets).tocsr()


def final_recommendations(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    as_of: pd.Timestamp,
    model: Recommender,
    *,
    products: pd.DataFrame | None = None,
    web_events: pd.DataFrame | None = None,
    top_k: int = 10,
    exclude_purchased: bool = False,
    weighting: str = "count",
    view_weight: float = 0.0,
    batch_size: int = 8192,
    min_together: int = 2,
    max_cycle_days: int = 365,
) -> pd.DataFrame:
    """Refit ``model`` on everything before ``as_of`` and rank products for every customer
    with at least one order (any status) before ``as_of``.

    Customers without a completed purchase (cold) get the most popular products.

    Parameters
    ----------
    orders, order_items : pandas.DataFrame
        Canonical tables.
    as_of : pandas.Timestamp
        Cut-off (UTC); nothing at or after it is read.
    model : Recommender
        An unfitted model with its hyperparameters (``Evaluation.model()``); a clone
        is fitted, ``model`` itself is left untouched.
    products, web_events : pandas.DataFrame, optional
        Catalogue (names and categories for the reasons), product views.
    top_k : int, default 10
    exclude_purchased : bool, default False
    weighting, view_weight :
        As in :func:`~workbench.recommend.interactions.build_interactions` (use the
        values the model was evaluated with).
    batch_size : int, default 8192
    min_together : int, default 2
        Orders two products must share before "bought together with" is said.
    max_cycle_days : int, default 365
        Longest repeat cycle stated as "you buy this every ~N days".

    Returns
    -------
    pandas.DataFrame
        :data:`FINAL_COLUMNS`: ``customer_id`` (str), ``rank`` (1 = best, int16),
        ``product_id`` (str), ``score`` (float32; the model's score, 0 for products
        filled in by popularity and for cold customers), ``reason`` (categorical text,
        raw product names inside). Sorted by customer id and rank.
        ``attrs["cold_customers"]`` counts the customers who got the fallback,
        ``attrs["products"]`` the products of the catalogue the model ranked.
    """
    as_of = check_as_of(as_of, "recommend recommend")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k <= 0:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    require_columns(orders, "orders", ("customer_id", "ordered_at"))
    lines = line_codes(orders, order_items, end=as_of)
    data = interactions_from_lines(lines, as_of, products=products, web_events=web_events,
                                   weighting=weighting, view_weight=view_weight)  # fmt: skip
    fitted = clone(model).fit(data)
    placed = (orders["ordered_at"] < as_of).to_numpy(dtype=bool, na_value=False)
    customers = pd.Index(pd.unique(orders.loc[placed, "customer_id"].dropna().astype("str")))
    customers = customers.sort_values()
    rows = data.user_index(customers)
    warm = rows >= 0
    warm[warm] = np.diff(data.purchases.indptr)[rows[warm]] > 0
    items = np.full((len(customers), top_k), -1, dtype=np.int32)
    scores = np.zeros((len(customers), top_k), dtype=np.float32)
    items[warm], scores[warm] = fitted.recommend(
        rows[warm], k=top_k, exclude_purchased=exclude_purchased, batch_size=batch_size
    )
    order = np.lexsort((np.arange(data.n_items), -fitted.popularity_))[:top_k]
    items[~warm, : len(order)] = order
    scores[~warm] = 0.0
    log.info(
        "final recommendations as of %s: %s customers (%s without a completed purchase get "
        "the popular products), model %s",
        as_of.date(),
        f"{len(customers):,}",
        f"{int((~warm).sum()):,}",
        type(model).__name__,
    )
    together = basket_cooccurrence(lines, data.item_ids)
    del lines
    user_rows = np.where(warm, rows, -1)
    codes, labels = explain(items, user_rows, data, together, products, min_together,
                            max_cycle_days, batch_size)  # fmt: skip
    filled = items >= 0
    out = pd.DataFrame(
        {
            "customer_id": np.repeat(customers.to_numpy(), filled.sum(axis=1)),
            "rank": (np.cumsum(filled, axis=1)[filled]).astype(np.int16),
            "product_id": data.item_ids.to_numpy()[items[filled]],
            "score": np.nan_to_num(scores[filled]).astype(np.float32),
            "reason": pd.Categorical.from_codes(codes[filled], categories=labels),
        }
    )
    out["customer_id"] = out["customer_id"].astype("str")
    out["product_id"] = out["product_id"].astype("str")
    out.attrs["cold_customers"] = int((~warm).sum())
    out.attrs["products"] = int(data.n_items)
    return out


def explain(
    items: np.ndarray,
    rows: np.ndarray,
    data: Interactions,
    together: sp.csr_matrix,
    products: pd.DataFrame | None = None,
    min_together: int = 2,
    max_cycle_days: int = 365,
    batch_size: int = 8192,
) -> tuple[np.ndarray, pd.Index]:
    """A reason for every recommended product (see the module's rules).

    Parameters
    ----------
    items : numpy.ndarray
        ``(customers, k)`` product columns of ``data`` (-1: empty slot).
    rows : numpy.ndarray
        Row of each customer in ``data`` (-1: no purchase history).
    data : Interactions
        The customers' purchases (orders and span per product).
    together : scipy.sparse.csr_matrix
        :func:`basket_cooccurrence` over ``data.item_ids``.
    products : pandas.DataFrame, optional
        ``product_id, name, category`` (names and categories are used raw).
    min_together : int, default 2
    max_cycle_days : int, default 365
    batch_size : int, default 8192

    Returns
    -------
    codes : numpy.ndarray
        ``(customers, k)`` int32 positions in ``labels`` (empty slots get a popular
        reason; callers drop them).
    labels : pandas.Index
        The distinct reasons (``str``), e.g. for ``pandas.Categorical.from_codes``.

    Notes
    -----
    Uses a dense products × products matrix: fine for catalogues up to a few thousand
    products (5,000 products: 100 MB).
    """
    names, categories = _labels(products, data.item_ids)
    vocabulary: dict[str, int] = {}

    def code(text: str) -> int:
        return vocabulary.setdefault(text, len(vocabulary))

    popular = np.array([code(f"popular in {c}" if c else _POPULAR) for c in categories])
    together_with = np.array([code(f"bought together with {n}") for n in names])
    n_items = data.n_items
    counts = together.toarray().astype(np.float32)
    diag = np.sqrt(np.maximum(np.diag(counts), 1.0))
    affinity = counts / diag[:, None] / diag[None, :]
    np.fill_diagonal(affinity, 0.0)
    affinity[counts < min_together] = 0.0
    spans = sp.csr_matrix((data.span_days, data.purchases.indices, data.purchases.indptr),
                          shape=data.purchases.shape)  # fmt: skip
    codes = popular[np.maximum(items, 0)].astype(np.int32)
    for start in range(0, len(items), batch_size):
        block = slice(start, start + batch_size)
        item_b, row_b = items[block], rows[block]
        known = row_b >= 0
        bought = np.zeros((len(row_b), n_items), dtype=np.float32)
        span = np.zeros_like(bought)
        bought[known] = data.purchases[row_b[known]].toarray()
        span[known] = spans[row_b[known]].toarray()
        safe = np.maximum(item_b, 0)
        times = np.take_along_axis(bought, safe, axis=1)
        gap = np.take_along_axis(span, safe, axis=1) / np.maximum(times - 1, 1)
        owned = bought > 0
        for r in range(item_b.shape[1]):
            strength = affinity[:, safe[:, r]].T * owned  # customers × their products
            best = strength.argmax(axis=1)
            has = strength[np.arange(len(best)), best] > 0
            codes[block][has, r] = together_with[best[has]]
        cycle = (times >= 2) & (gap >= 1) & (np.rint(gap) <= max_cycle_days)
        days, where = np.unique(np.rint(gap[cycle]).astype(np.int64), return_inverse=True)
        every = np.array([code(f"you buy this every ~{d} days") for d in days], dtype=np.int32)
        codes[block][cycle] = every[where]
        again = (times >= 2) & ~cycle
        n, where = np.unique(times[again].astype(np.int64), return_inverse=True)
        repeats = np.array([code(f"you bought this {c} times") for c in n], dtype=np.int32)
        codes[block][again] = repeats[where]
        codes[block][times == 1] = code(_BEFORE)
    return codes, pd.Index(list(vocabulary), dtype="str")


def _labels(products: pd.DataFrame | None, item_ids: pd.Index) -> tuple[list[str], list[str]]:
    """Raw name (the id when missing) and category ("" when missing) of every product."""
    names = list(item_ids.astype("str"))
    categories = [""] * len(item_ids)
    if products is None:
        return names, categories
    require_columns(products, "products", ("product_id",))
    known = products.dropna(subset=["product_id"]).drop_duplicates("product_id")
    pos = item_ids.get_indexer(known["product_id"].astype("str"))
    for column, target in (("name", names), ("category", categories)):
        if column not in known.columns:
            continue
        for p, value in zip(pos, known[column], strict=True):
            if p >= 0 and pd.notna(value) and str(value).strip():
                target[p] = str(value)
    return names, categories
