"""Orders and their lines.

:func:`draw_orders` draws each person's orders between sign-up and churn: organic orders
(a seasonal Poisson process at the person's order rate less the rate of their
replenishment habits), first orders right after sign-up, and **replenishment orders**
(one per purchase of a habit, its product on the first line). The same processes continue
for :data:`~workbench.simulate.clock.FUTURE_DAYS` after ``end``; of those, the completed
orders are the future truth. :func:`order_attributes` gives orders their status, channel
and target value; :func:`draw_order_items` numbers the orders by time, draws their lines
and sets each order's amount. Status and channel are stored as codes into
:data:`STATUSES` and :data:`CHANNELS`.

A line is one of the person's favourites (share ``fav_share``), else a product of a
category from the person's taste priced near the line's share of the order's target
value, drawn by the persona's taste for products. A line whose product has a planted
partner (:data:`~workbench.simulate.products.COMPLEMENTS`) brings the partner into the
same order with the pair's probability.
"""

from __future__ import annotations

import numpy as np

from workbench.simulate.affinity import pick_favourites, replenishment_times
from workbench.simulate.clock import DAY, Clock, expected_events, poisson_times
from workbench.simulate.personas import PERSONAS, persona_param
from workbench.simulate.products import (
    CATEGORY_PRICES,
    CATEGORY_QTY,
    choose_near_price,
    draw_categories,
)

__all__ = [
    "CHANNELS",
    "COMPLETED_SHARE",
    "WELCOME_SHARE",
    "STATUSES",
    "draw_order_items",
    "draw_orders",
    "organic_rate",
    "order_attributes",
    "value_ratio",
]

# orders store codes into these (channel -1: blank); channel follows Persona.channel_weights
CHANNELS = ("web", "app", "store")
STATUSES = ("completed", "cancelled", "returned")
_STATUS_P = (0.93, 0.03, 0.04)
COMPLETED_SHARE = _STATUS_P[0]
_MIN_ORGANIC = 0.3  # share of a person's order rate left to organic orders at least
_ORDER_CHUNK = 1_000_000  # orders whose lines are drawn at once
_STOCK_UP = 3  # at most this many times the first line's units when an order is small
WELCOME_SHARE = 0.7  # a first order right after sign-up is smaller (welcome discount, trial)


def organic_rate(people: dict[str, np.ndarray], tastes: dict[str, np.ndarray]) -> np.ndarray:
    """Organic orders per day of each person: the order rate less the replenishment rate
    (at least :data:`_MIN_ORGANIC` of it)."""
    rate = persona_param("orders_per_year")[people["persona"]] / 365.25 * people["rate_mult"]
    habit = np.bincount(tastes["rep_person"], weights=1 / tastes["rep_cycle"],
                        minlength=len(rate))  # fmt: skip
    return np.maximum(rate - habit, _MIN_ORGANIC * rate)


def draw_orders(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    clock: Clock,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Orders before ``end``, and the completed orders of the FUTURE_DAYS after it."""
    signup, churn, persona = people["signup"], people["churn"], people["persona"]
    rate = organic_rate(people, tastes)
    a = np.maximum(signup, 0)
    b = np.minimum(churn, clock.end_s)
    owner, t = poisson_times(rng, rate, a, b, clock)
    # many first orders are placed right after signing up
    first = (signup >= 0) & (rng.random(len(signup)) < persona_param("first_order_prob")[persona])
    t_first = signup + 1800 + rng.exponential(0.3 * DAY, len(signup)).astype(np.int64)
    first &= t_first < b
    habit, t_rep = replenishment_times(rng, tastes, a, np.minimum(churn, clock.future_s))
    past = t_rep < clock.end_s
    rep_owner = tastes["rep_person"][habit].astype(np.int32)
    fixed = np.concatenate([np.full(len(owner) + first.sum(), -1), tastes["rep_product"][habit]])
    owner = np.concatenate([owner, np.flatnonzero(first).astype(np.int32), rep_owner])
    t = np.concatenate([t, t_first[first], t_rep])
    in_past = np.concatenate([np.ones(len(t) - len(t_rep), dtype=bool), past])
    orders = order_attributes(rng, people, owner[in_past], t[in_past], fixed[in_past])
    welcome = np.arange(len(owner) - len(t_rep) - first.sum(), len(owner) - len(t_rep))
    orders["target"][welcome] = np.round(orders["target"][welcome] * WELCOME_SHARE)
    f_owner, f_t = poisson_times(rng, rate, np.maximum(a, clock.end_s),
                                 np.minimum(churn, clock.future_s), clock)  # fmt: skip
    f_fixed = np.concatenate([np.full(len(f_owner), -1), fixed[~in_past]])
    future = order_attributes(rng, people, np.concatenate([f_owner, owner[~in_past]]),
                              np.concatenate([f_t, t[~in_past]]), f_fixed)  # fmt: skip
    future = {k: v[future["status"] == 0] for k, v in future.items()}
    return orders, future


def expected_orders(
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    clock: Clock,
) -> np.ndarray:
    """Expected orders of each person on ``[a, b)`` seconds (any status): the organic
    process integrated over the seasonal intensity plus the replenishment habits at
    their long-run rate."""
    organic = expected_events(organic_rate(people, tastes), a, b, clock)
    days = np.maximum(b - a, 0) / DAY
    habit = np.bincount(tastes["rep_person"], weights=1 / tastes["rep_cycle"],
                        minlength=len(a))  # fmt: skip
    return organic + habit * days


def order_attributes(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    owner: np.ndarray,
    t: np.ndarray,
    fixed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Status, channel and target value (cents) of orders placed by ``owner`` at ``t``;
    ``fixed`` is the product of the first line (-1: none)."""
    persona = people["persona"][owner]
    k = len(owner)
    channel_cum = np.cumsum([p.channel_weights for p in PERSONAS], axis=1)
    channel = (rng.random(k)[:, None] > channel_cum[persona, :-1]).sum(axis=1).astype(np.int8)
    status = rng.choice(len(STATUSES), size=k, p=_STATUS_P).astype(np.int8)
    return {
        "person": owner.astype(np.int32),
        "t": t.astype(np.int64),
        "status": status,
        "channel": channel,
        "target": _basket_cents(rng, people, owner),
        "is_exp": np.zeros(k, dtype=bool),
        "fixed": (np.full(k, -1) if fixed is None else fixed).astype(np.int16),
    }


def _basket_cents(
    rng: np.random.Generator, people: dict[str, np.ndarray], owner: np.ndarray
) -> np.ndarray:
    persona = people["persona"][owner]
    mu = np.log(persona_param("basket_median")[persona])
    value = people["basket_mult"][owner] * np.exp(
        rng.normal(mu, persona_param("basket_sigma")[persona])
    )
    return np.maximum(np.round(value * 100), 100).astype(np.int64)


def draw_order_items(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    first_number: int = 1,
) -> dict[str, np.ndarray]:
    """Number the orders by time (from ``first_number``), draw their lines and set each
    order's amount (in slices of :data:`_ORDER_CHUNK` orders, to bound the memory).

    Unit prices are the list price scaled by at most ±30 % (discounts, bundles) so the
    lines add up to about the target. Experiment orders hit their target exactly (to the
    cent), which keeps the planted revenue effect exact.
    """
    chrono = np.lexsort((orders["account"], orders["t"]))
    for key in list(orders):
        orders[key] = orders[key][chrono]
    del chrono
    n = len(orders["t"])
    orders["amount"] = np.zeros(n, dtype=np.int64)
    parts = []
    for start in range(0, n, _ORDER_CHUNK):
        part = slice(start, min(n, start + _ORDER_CHUNK))
        some = {k: orders[k][part] for k in ("person", "target", "is_exp", "fixed")}
        lines = _draw_lines(rng, people, tastes, some, products)
        orders["amount"][part] = lines.pop("amount")
        lines["order"] += start
        parts.append(lines)
    items = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int32)
             for k in ("order", "product", "qty", "unit")}  # fmt: skip
    del parts
    items["n_lines"] = np.bincount(items["order"], minlength=n).astype(np.int16)
    items["clean"] = (orders["status"] == 0) & ~orders["is_exp"]
    orders["number"] = np.arange(first_number, first_number + n, dtype=np.int64)
    return items


def value_ratio(people: dict[str, np.ndarray], orders: dict[str, np.ndarray]) -> np.ndarray:
    """Per persona: amount over target value of its (non-experiment) orders — how far the
    lines' prices and stocking up move an order from its target, on average."""
    rows = ~orders["is_exp"]
    persona = people["persona"][orders["person"][rows]]
    amount = np.bincount(persona, weights=orders["amount"][rows], minlength=len(PERSONAS))
    target = np.bincount(persona, weights=orders["target"][rows], minlength=len(PERSONAS))
    return np.where(target > 0, amount / np.maximum(target, 1), 1.0)


def _draw_lines(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Lines of some orders (``order`` counts from 0) and each order's ``amount``."""
    n = len(orders["person"])
    person = orders["person"]
    n_lines = 1 + rng.poisson(persona_param("lines_per_order")[people["persona"][person]] - 1)
    line_order = np.repeat(np.arange(n, dtype=np.int32), n_lines)
    product = _line_products(rng, people, tastes, orders, products, line_order, n_lines)
    line_order, product = _add_partners(rng, products, line_order, product)
    n_lines = np.bincount(line_order, minlength=n)
    qty = (1 + np.minimum(rng.poisson(CATEGORY_QTY[products["cat"][product]]), 5)).astype(np.int16)
    cents = products["cents"][product]
    base = np.bincount(line_order, weights=qty * cents, minlength=n)
    # an order of a few cheap items (a favourite, a consumable) stocks up on the first
    first_line = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    short = np.flatnonzero((base < orders["target"] / 2) & ~orders["is_exp"])
    more = np.minimum(orders["target"][short] // base[short], _STOCK_UP).astype(np.int16)
    line = first_line[short]
    base[short] += (more - 1) * qty[line] * cents[line]
    qty[line] *= more
    scale = orders["target"] / base
    scale = np.where(orders["is_exp"], scale, np.clip(scale, 0.7, 1.3))
    unit = np.maximum(np.round(cents * scale[line_order]), 1).astype(np.int64)
    del cents, base, scale
    amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    exp_rows = np.flatnonzero(orders["is_exp"])
    if len(exp_rows):  # put the rounding residue on one unit of the order's first line
        first = first_line[exp_rows]
        residue = orders["target"][exp_rows] - amount[exp_rows]
        fixable = (qty[first] == 1) & (unit[first] + residue > 0)
        unit[first[fixable]] += residue[fixable]
        amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    return {"order": line_order, "product": product.astype(np.int16), "qty": qty,
            "unit": unit.astype(np.int32), "amount": amount}  # fmt: skip


def _line_products(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    line_order: np.ndarray,
    n_lines: np.ndarray,
) -> np.ndarray:
    """The product of every line: fixed first lines, favourites, else near its price."""
    n = len(n_lines)
    line_person = orders["person"][line_order]
    persona = people["persona"][line_person]
    cat = draw_categories(rng, people["cat_cum"], line_person)
    # share the order's value among its lines in proportion to typical category prices
    typical = np.array([m for m, _ in CATEGORY_PRICES])[cat] * np.exp(rng.normal(0, 0.3, len(cat)))
    weight = np.bincount(line_order, weights=(1 + CATEGORY_QTY[cat]) * typical, minlength=n)
    target_unit = orders["target"][line_order] * typical / weight[line_order]
    del typical, weight
    product = choose_near_price(rng, products, persona, cat, target_unit)
    del cat, target_unit, persona
    fav = np.flatnonzero(rng.random(len(line_order)) < tastes["fav_share"][line_person])
    product[fav] = pick_favourites(rng, tastes, line_person[fav].astype(np.int64))
    first_line = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    fixed = orders["fixed"] >= 0
    product[first_line[fixed]] = orders["fixed"][fixed]
    return product


def _add_partners(
    rng: np.random.Generator,
    products: dict[str, np.ndarray],
    line_order: np.ndarray,
    product: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Append the planted partner of anchor lines (with the pair's probability) to the
    same order, keeping each order's lines together."""
    partner = products["partner"][product]
    add = np.flatnonzero(
        (partner >= 0) & (rng.random(len(product)) < products["partner_prob"][product])
    )
    if len(add) == 0:
        return line_order, product
    line_order = np.concatenate([line_order, line_order[add]])
    product = np.concatenate([product, partner[add]])
    keep = np.argsort(line_order, kind="stable")
    return line_order[keep], product[keep]
