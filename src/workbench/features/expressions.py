"""The scans and aggregations of the feature stage, as Ibis expressions.

Each function takes canonical Ibis tables and the cut-off ``as_of`` and returns a table
with one row per ``customer_id`` (only customers with rows in that input). Nothing is
executed here: :func:`workbench.features.build_features` runs each of them on the
engine (DuckDB by default, Spark through ``ibis.pyspark``) and lines the results up on
the customer universe. Every input row at or after ``as_of`` is filtered out before
anything is computed, so later rows cannot change a feature.

Times that need a calendar (hour of day) are computed from epoch seconds, so the
result does not depend on the engine's session time zone.
"""

from __future__ import annotations

import re

import ibis
import pandas as pd

from workbench.features.params import FeatureParams

__all__ = [
    "customer_universe",
    "profile_columns",
    "order_aggregates",
    "previous_order",
    "email_aggregates",
    "preferred_open_hour",
    "web_aggregates",
    "cart_abandonment",
    "viewed_categories",
    "category_spend",
    "category_columns",
    "POOLED",
]

DAY = pd.Timedelta(days=1)
#: Label of the categories pooled beyond ``max_categories`` (column ``share_other``).
POOLED = "(other)"


def _cut(as_of: pd.Timestamp) -> ibis.Scalar:
    return ibis.literal(as_of)


def _since(as_of: pd.Timestamp, days: int) -> ibis.Scalar:
    return ibis.literal(as_of - days * DAY)


def _before(table: ibis.Table, column: str, as_of: pd.Timestamp, *columns: str) -> ibis.Table:
    """The given columns of the rows strictly before ``as_of`` with a customer id.

    Each section projects only the columns it needs: a filtered *whole* table shared by
    several sections would become one common table expression that DuckDB materialises
    (every column of every event before ``as_of`` in memory).
    """
    keep = list(dict.fromkeys(["customer_id", column, *columns]))
    narrow = table.select(*keep)
    return narrow.filter(narrow[column] < _cut(as_of), narrow.customer_id.notnull())


def _completed(orders: ibis.Table, as_of: pd.Timestamp, *columns: str) -> ibis.Table:
    o = _before(orders, "ordered_at", as_of, "status", *columns)
    return o.filter(o.status == "completed")


# --------------------------------------------------------------------------- customers


def customer_universe(
    customers: ibis.Table,
    orders: ibis.Table,
    as_of: pd.Timestamp,
    *,
    ordered: ibis.Table | None = None,
) -> ibis.Table:
    """The customers a feature table has a row for (column ``customer_id``).

    Rule: customers who signed up before ``as_of`` (``signup_at < as_of``) plus every
    customer id with an order of any status before ``as_of`` (so orphan orders and
    customers without a known sign-up date are included once they have ordered).
    ``ordered``: those ordering customers already at hand — :func:`order_aggregates`
    of the same orders and cut-off — so the orders are not scanned again.
    """
    signed = customers.filter(customers.signup_at < _cut(as_of), customers.customer_id.notnull())
    if ordered is None:
        ordered = _before(orders, "ordered_at", as_of)
    return signed.select("customer_id").union(ordered.select("customer_id"), distinct=True)


def profile_columns(customers: ibis.Table, columns: list[str]) -> ibis.Table:
    """One row per customer id with the given profile columns.

    Ids repeated in a raw customers table are collapsed deterministically: the smallest
    value of each column (e-mail opt-in: true when any record opted in).
    """
    aggs = {}
    for col in columns:
        value = customers[col]
        aggs[col] = value.any() if col == "email_opt_in" else value.min()
    base = customers.filter(customers.customer_id.notnull())
    return base.group_by("customer_id").aggregate(**aggs)


# --------------------------------------------------------------------------- orders


def order_aggregates(orders: ibis.Table, as_of: pd.Timestamp, params: FeatureParams) -> ibis.Table:
    """Order counts, revenue and dates per customer from orders before ``as_of``.

    Revenue counts ``completed`` orders only: cancelled and returned orders add nothing
    (net of returns). Amounts are summed as recorded, including orders the audit only
    flags (outliers).
    """
    o = _before(orders, "ordered_at", as_of, "status", "amount")
    done = o.status == "completed"
    aggs = {
        "orders_placed": o.count(),
        "frequency": o.count(where=done),
        "cancelled_orders": o.count(where=o.status == "cancelled"),
        "returned_orders": o.count(where=o.status == "returned"),
        "monetary_total": o.amount.sum(where=done),
        "first_seen_order_at": o.ordered_at.min(),
        "first_order_at": o.ordered_at.min(where=done),
        "last_order_at": o.ordered_at.max(where=done),
    }
    for days in params.order_windows:
        recent = done & (o.ordered_at >= _since(as_of, days))
        aggs[f"frequency_{days}d"] = o.count(where=recent)
        aggs[f"monetary_{days}d"] = o.amount.sum(where=recent)
    return o.group_by("customer_id").aggregate(**aggs)


def previous_order(
    orders: ibis.Table, as_of: pd.Timestamp, *, last: ibis.Table | None = None
) -> ibis.Table:
    """Time of each customer's completed order before the last one (``previous_order_at``).

    ``last``: a table of ``customer_id`` and ``last_order_at`` (the last completed order
    before ``as_of``, e.g. :func:`order_aggregates`) when already at hand; else it is
    computed here.
    """
    c = _completed(orders, as_of).select("customer_id", "ordered_at")
    if last is None:
        last = c.group_by("customer_id").aggregate(last_order_at=c.ordered_at.max())
    last = last.filter(last.last_order_at.notnull()).select("customer_id", "last_order_at")
    joined = c.join(last, "customer_id")
    earlier = joined.filter(joined.ordered_at < joined.last_order_at)
    return earlier.group_by("customer_id").aggregate(previous_order_at=earlier.ordered_at.max())


# --------------------------------------------------------------------------- e-mail


def email_aggregates(
    email_events: ibis.Table, as_of: pd.Timestamp, params: FeatureParams
) -> ibis.Table:
    """Sends, opens and clicks (all before ``as_of`` and per window), bounces,
    unsubscribes, and the last open and click per customer."""
    e = _before(email_events, "occurred_at", as_of, "event_type")
    aggs = {}
    for kind, name in (("sent", "sends"), ("open", "opens"), ("click", "clicks")):
        is_kind = e.event_type == kind
        aggs[f"email_{name}"] = e.count(where=is_kind)
        for days in params.email_count_windows:
            aggs[f"email_{name}_{days}d"] = e.count(
                where=is_kind & (e.occurred_at >= _since(as_of, days))
            )
    aggs["email_bounces"] = e.count(where=e.event_type == "bounce")
    aggs["email_unsubscribes"] = e.count(where=e.event_type == "unsubscribe")
    aggs["last_open_at"] = e.occurred_at.max(where=e.event_type == "open")
    aggs["last_click_at"] = e.occurred_at.max(where=e.event_type == "click")
    return e.group_by("customer_id").aggregate(**aggs)


def preferred_open_hour(email_events: ibis.Table, as_of: pd.Timestamp) -> ibis.Table:
    """The UTC hour (0–23) in which each customer opened most e-mails before ``as_of``;
    ties go to the earliest hour."""
    # filter before projecting: a different expression from the other e-mail section's,
    # so the engine does not materialise a shared copy of all events
    opens = _before(email_events.filter(email_events.event_type == "open"), "occurred_at", as_of)
    hour = ((opens.occurred_at.epoch_seconds() % 86_400) // 3_600).cast("int64")
    hours = opens.mutate(hour=hour)
    per_hour = hours.group_by(["customer_id", "hour"]).aggregate(n=hours.count())
    # one sortable key per (customer, hour): more opens first, then the earlier hour
    key = per_hour.n * 24 + (23 - per_hour.hour)
    best = per_hour.mutate(key=key).group_by("customer_id").aggregate(key=ibis._.key.max())
    return best.select("customer_id", preferred_open_hour=23 - best.key % 24)


# --------------------------------------------------------------------------- web


def web_aggregates(
    web_events: ibis.Table, as_of: pd.Timestamp, params: FeatureParams
) -> ibis.Table:
    """Sessions, product views and add-to-carts per customer before ``as_of``.

    One pass over the events groups them by customer and session; a session counts in a
    window when it has an event in that window. Events of anonymous visitors (no
    customer id) are not counted.
    """
    w = _before(web_events, "occurred_at", as_of, "session_id", "event_type")
    view = w.event_type == "product_view"
    per_session = {
        "last_at": w.occurred_at.max(),
        "views": w.count(where=view),
        "carts": w.count(where=w.event_type == "add_to_cart"),
    }
    for days in params.web_windows:
        per_session[f"views_{days}d"] = w.count(where=view & (w.occurred_at >= _since(as_of, days)))
    s = w.group_by(["customer_id", "session_id"]).aggregate(**per_session)
    aggs = {"web_sessions": s.count()}
    for days in params.web_windows:
        aggs[f"web_sessions_{days}d"] = s.count(where=s.last_at >= _since(as_of, days))
    aggs["product_views"] = s.views.sum()
    for days in params.web_windows:
        aggs[f"product_views_{days}d"] = s[f"views_{days}d"].sum()
    aggs["add_to_cart"] = s.carts.sum()
    aggs["last_visit_at"] = s.last_at.max()
    return s.group_by("customer_id").aggregate(**aggs)


def cart_abandonment(
    web_events: ibis.Table,
    orders: ibis.Table,
    as_of: pd.Timestamp,
    params: FeatureParams,
    *,
    method: str = "window",
) -> ibis.Table:
    """Judged and abandoned add-to-carts per customer.

    An add-to-cart at time ``t`` is *judged* when its window has closed before the
    cut-off (``t + abandon_window_hours <= as_of``) and *abandoned* when the same
    customer placed no completed order in ``[t, t + abandon_window_hours)``. Carts of
    the last window before ``as_of`` are left unjudged, so orders at or after ``as_of``
    never matter.

    The next completed order after each cart is found without a join blow-up, either
    with an as-of join (``method="asof"``, DuckDB) or with one window function over
    each customer's carts and orders in time order (``method="window"``, any engine
    with window functions, e.g. Spark). Both give the same result.
    """
    if method not in ("asof", "window"):
        raise ValueError(f"cart_abandonment: method must be 'asof' or 'window', got {method!r}")
    window_s = round(params.abandon_window_hours * 3600)
    w = _before(web_events, "occurred_at", as_of, "event_type")
    cut = as_of - pd.Timedelta(seconds=window_s)
    carts = w.filter(w.event_type == "add_to_cart", w.occurred_at <= ibis.literal(cut))
    carts = carts.select("customer_id", ts=carts.occurred_at)
    done = _completed(orders, as_of)
    buys = done.select("customer_id", next_order_at=done.ordered_at)
    if method == "asof":
        judged = carts.asof_join(buys, on=carts.ts <= buys.next_order_at, predicates="customer_id")
        judged = judged.select("customer_id", "ts", "next_order_at")
    else:
        buys = buys.semi_join(carts.select("customer_id").distinct(), "customer_id")
        stamp = buys.next_order_at.type()
        cart_rows = carts.select(
            "customer_id", "ts", is_order=ibis.literal(0, "int8"), order_ts=ibis.null(stamp)
        )
        order_rows = buys.select(
            "customer_id",
            ts=buys.next_order_at,
            is_order=ibis.literal(1, "int8"),
            order_ts=buys.next_order_at,
        )
        both = cart_rows.union(order_rows)
        # carts sort before orders at the same instant, so an order at the cart's time counts
        frame = ibis.window(
            group_by="customer_id", order_by=["ts", "is_order"], preceding=0, following=None
        )
        marked = both.mutate(next_order_at=both.order_ts.min().over(frame))
        judged = marked.filter(marked.is_order == 0).select("customer_id", "ts", "next_order_at")
    limit = judged.ts + ibis.interval(seconds=window_s)
    abandoned = judged.next_order_at.isnull() | (judged.next_order_at >= limit)
    return judged.group_by("customer_id").aggregate(
        carts_judged=judged.count(),
        abandoned_carts=judged.count(where=abandoned),
        last_abandoned_at=judged.ts.max(where=abandoned),
    )


def viewed_categories(
    web_events: ibis.Table,
    products: ibis.Table,
    as_of: pd.Timestamp,
    categories: list[str],
    pooled: bool,
) -> ibis.Table:
    """Product views per category and the most viewed category, per customer.

    Columns: ``category_views`` (product views of categorised products before
    ``as_of``), one ``view_share_<slug>`` column per category in ``categories`` holding
    that category's *view count* (the caller divides by the total), ``view_share_other``
    when ``pooled``, and ``most_viewed_category`` (ties to the name that sorts first).
    """
    w = _before(web_events, "occurred_at", as_of, "event_type", "product_id")
    views = w.filter(w.event_type == "product_view", w.product_id.notnull())
    names = category_columns([*categories, POOLED] if pooled else categories, "view_share_")
    if not pooled:
        joined = views.select("customer_id", "product_id").join(
            _indexed(products, categories), "product_id"
        )
        counts = {
            column: joined.count(where=joined.k == i) for i, column in enumerate(names.values())
        }
        totals = joined.group_by("customer_id").aggregate(category_views=joined.count(), **counts)
        has = {column: totals[column] > 0 for column in names.values()}
        top = _top_category(totals, names, has)
        return totals.mutate(most_viewed_category=top)
    cats = products.filter(products.category.notnull()).select("product_id", "category")
    joined = views.select("customer_id", "product_id").join(cats, "product_id")
    counts = joined.group_by(["customer_id", "category"]).aggregate(n=joined.count())
    aggs = {"category_views": counts.n.sum()}
    for category, column in names.items():
        if category == POOLED and pooled:
            aggs[column] = counts.n.sum(where=~counts.category.isin(categories))
        else:
            aggs[column] = counts.n.sum(where=counts.category == category)
    totals = counts.group_by("customer_id").aggregate(**aggs)
    rank = ibis.row_number().over(
        ibis.window(group_by="customer_id", order_by=[ibis.desc("n"), "category"])
    )
    top = counts.mutate(rank=rank).filter(ibis._.rank == 0)
    top = top.select("customer_id", most_viewed_category=top.category)
    return totals.join(top, "customer_id")


def _indexed(products: ibis.Table, categories: list[str]) -> ibis.Table:
    """``product_id`` and the position ``k`` of its category in ``categories`` (products
    without a category left out): a small table, so the big joins carry an integer."""
    cats = products.filter(products.category.notnull())
    k = cats.category.substitute({c: i for i, c in enumerate(categories)}, else_=ibis.null("int64"))
    return cats.select("product_id", k=k.cast("int64"))


def _top_category(
    totals: ibis.Table, names: dict[str, str], has: dict[str, ibis.BooleanValue]
) -> ibis.StringValue:
    """The category with the largest value among the columns ``names`` (category ->
    column) where ``has`` holds; ties, and rows whose values are all missing, go to the
    first category in ``names`` (sorted by name) — as the grouped path's window does."""
    best = ibis.greatest(*(totals[c] for c in names.values()))  # missing values are skipped
    chosen = [(has[c] & (totals[c] == best), ibis.literal(n)) for n, c in names.items()]
    fallback = [(has[c], ibis.literal(n)) for n, c in names.items()]
    return ibis.cases(*chosen, else_=ibis.cases(*fallback, else_=ibis.null("string")))


# --------------------------------------------------------------------------- categories


def category_columns(categories: list[str], prefix: str = "share_") -> dict[str, str]:
    """Category -> share column name (``<prefix><slug>``), unique and identifier-safe.

    Examples
    --------
    >>> category_columns(["Home & Garden", "home-garden", "Toys"])
    {'Home & Garden': 'share_home_garden', 'home-garden': 'share_home_garden_2', 'Toys': 'share_toys'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for category in categories:
        slug = re.sub(r"[^0-9a-z]+", "_", str(category).lower()).strip("_") or "blank"
        name, n = f"{prefix}{slug}", 1
        while name in used:
            n += 1
            name = f"{prefix}{slug}_{n}"
        used.add(name)
        out[category] = name
    return out


def category_spend(
    order_items: ibis.Table,
    orders: ibis.Table,
    products: ibis.Table,
    as_of: pd.Timestamp,
    categories: list[str],
    pooled: bool,
    decimals: int = 2,
) -> ibis.Table:
    """Spend per category (quantity × unit price of completed orders before ``as_of``).

    Columns: ``category_spend`` (total over categorised lines), one ``share_<slug>``
    column per category in ``categories`` holding that category's *spend* (the caller
    divides by the total), ``share_other`` when ``pooled`` (the categories not listed),
    ``n_categories`` (categories with positive spend) and ``top_category`` (most spend;
    ties to the name that sorts first). Spend per customer and category is rounded
    to ``decimals`` so that ranks and counts do not depend on summation order. Lines
    whose product is unknown or has no category are left out.
    """
    done = _completed(orders, as_of, "order_id").select("order_id", "customer_id")
    lines = order_items.select("order_id", "product_id", "quantity", "unit_price")
    names = category_columns([*categories, POOLED] if pooled else categories)
    if not pooled:
        # every category has its column: spend per customer and category index (an
        # integer), then one row per customer with the top category picked by value
        # (no window over the customers' categories)
        joined = lines.join(done, "order_id").join(_indexed(products, categories), "product_id")
        joined = joined.mutate(spend=joined.quantity * joined.unit_price)
        per_cat = joined.group_by(["customer_id", "k"]).aggregate(
            spend=joined.spend.sum().round(decimals)
        )
        aggs: dict[str, ibis.Value] = {
            "category_spend": per_cat.spend.sum(),
            "n_categories": per_cat.count(where=per_cat.spend > 0),
        }
        for i, column in enumerate(names.values()):
            aggs[column] = per_cat.spend.sum(where=per_cat.k == i)
            aggs[f"_lines_{i}"] = per_cat.count(where=per_cat.k == i)
        totals = per_cat.group_by("customer_id").aggregate(**aggs)
        columns = list(names.values())
        has = {c: totals[f"_lines_{i}"] > 0 for i, c in enumerate(columns)}
        return totals.select(
            "customer_id",
            "category_spend",
            "n_categories",
            *columns,
            top_category=_top_category(totals, names, has),
        )
    cats = products.filter(products.category.notnull()).select("product_id", "category")
    joined = lines.join(done, "order_id").join(cats, "product_id")
    spend = joined.mutate(spend=joined.quantity * joined.unit_price)
    per_cat = spend.group_by(["customer_id", "category"]).aggregate(
        spend=spend.spend.sum().round(decimals)
    )
    aggs = {
        "category_spend": per_cat.spend.sum(),
        "n_categories": per_cat.count(where=per_cat.spend > 0),
    }
    for category, column in names.items():
        if category == POOLED and pooled:
            aggs[column] = per_cat.spend.sum(where=~per_cat.category.isin(categories))
        else:
            aggs[column] = per_cat.spend.sum(where=per_cat.category == category)
    totals = per_cat.group_by("customer_id").aggregate(**aggs)
    rank = ibis.row_number().over(
        ibis.window(group_by="customer_id", order_by=[ibis.desc("spend"), "category"])
    )
    top = per_cat.mutate(rank=rank).filter(ibis._.rank == 0)
    top = top.select("customer_id", top_category=top.category)
    return totals.join(top, "customer_id")
