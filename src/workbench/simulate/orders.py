"""Orders and their lines.

:func:`draw_orders` draws the organic orders between sign-up and churn (plus the completed
orders of the 180 days after ``end``, the churn truth); :func:`order_attributes` gives
orders their status, channel and target value; :func:`draw_order_items` numbers the orders
by time, draws their lines and sets each order's amount. Status and channel are stored as
codes into :data:`STATUSES` and :data:`CHANNELS`.
"""

from __future__ import annotations

import numpy as np

from workbench.simulate.clock import DAY, Clock, poisson_times
from workbench.simulate.personas import PERSONAS, persona_param
from workbench.simulate.products import CATEGORY_PRICES, draw_categories, nearest_product

__all__ = [
    "CHANNELS",
    "STATUSES",
    "draw_order_items",
    "draw_orders",
    "expected_basket",
    "order_attributes",
]

_CATEGORY_QTY = np.array([0.03, 0.15, 0.15, 0.35, 0.1, 0.9, 0.15, 0.2])  # extra units (Poisson)

# orders store codes into these (channel -1: blank); channel follows Persona.channel_weights
CHANNELS = ("web", "app", "store")
STATUSES = ("completed", "cancelled", "returned")
_STATUS_P = (0.93, 0.03, 0.04)


def draw_orders(
    rng: np.random.Generator, people: dict[str, np.ndarray], clock: Clock
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Organic orders between sign-up and churn, and the completed ones after ``end``."""
    signup, churn, persona = people["signup"], people["churn"], people["persona"]
    rate = persona_param("orders_per_year")[persona] / 365.25 * people["rate_mult"]
    a = np.maximum(signup, 0)
    b = np.minimum(churn, clock.end_s)
    owner, t = poisson_times(rng, rate, a, b, clock)
    # many first orders are placed right after signing up
    first = (signup >= 0) & (rng.random(len(signup)) < persona_param("first_order_prob")[persona])
    t_first = signup + 1800 + rng.exponential(0.3 * DAY, len(signup)).astype(np.int64)
    first &= t_first < b
    owner = np.concatenate([owner, np.flatnonzero(first).astype(np.int32)])
    t = np.concatenate([t, t_first[first]])
    orders = order_attributes(rng, people, owner, t)
    f_owner, f_t = poisson_times(rng, rate, np.maximum(a, clock.end_s),
                                 np.minimum(churn, clock.future_s), clock)  # fmt: skip
    future = order_attributes(rng, people, f_owner, f_t)
    future = {k: v[future["status"] == 0] for k, v in future.items()}
    return orders, future


def order_attributes(
    rng: np.random.Generator, people: dict[str, np.ndarray], owner: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """Status, channel and target value (cents) of orders placed by ``owner`` at ``t``."""
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


def expected_basket(people: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Mean order value (currency units, not cents) of persons ``rows``."""
    persona = people["persona"][rows]
    median = persona_param("basket_median")[persona]
    sigma = persona_param("basket_sigma")[persona]
    return people["basket_mult"][rows] * median * np.exp(sigma**2 / 2)


def draw_order_items(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Number the orders by time, draw their lines and set each order's amount.

    Lines follow the customer's category taste; products are picked near the unit price
    the order's target value implies; unit prices are the list price scaled by at most
    ±30 % (discounts, bundles) so the lines add up to about the target. Experiment orders
    hit their target exactly (to the cent), which keeps the planted revenue effect exact.
    """
    chrono = np.lexsort((orders["account"], orders["t"]))
    for key in list(orders):
        orders[key] = orders[key][chrono]
    n = len(chrono)
    persona = people["persona"][orders["person"]]
    n_lines = 1 + rng.poisson(persona_param("lines_per_order")[persona] - 1)
    line_order = np.repeat(np.arange(n, dtype=np.int32), n_lines)
    cat = draw_categories(rng, people["cat_cum"], orders["person"][line_order])
    qty = (1 + np.minimum(rng.poisson(_CATEGORY_QTY[cat]), 5)).astype(np.int16)
    # share the order's value among its lines in proportion to typical category prices
    typical = np.array([m for m, _ in CATEGORY_PRICES])[cat] * np.exp(rng.normal(0, 0.3, len(cat)))
    weight = np.bincount(line_order, weights=qty * typical, minlength=n)
    target_unit = orders["target"][line_order] * typical / weight[line_order]
    product = nearest_product(rng, products, cat, target_unit).astype(np.int16)
    del typical, weight, target_unit, cat
    base = np.bincount(line_order, weights=qty * products["cents"][product], minlength=n)
    scale = orders["target"] / base
    scale = np.where(orders["is_exp"], scale, np.clip(scale, 0.7, 1.3))
    unit = np.maximum(np.round(products["cents"][product] * scale[line_order]), 1).astype(np.int64)
    amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    exp_rows = np.flatnonzero(orders["is_exp"])
    if len(exp_rows):  # put the rounding residue on one unit of the order's first line
        first_line = np.concatenate([[0], np.cumsum(n_lines)[:-1]])[exp_rows]
        residue = orders["target"][exp_rows] - amount[exp_rows]
        fixable = (qty[first_line] == 1) & (unit[first_line] + residue > 0)
        unit[first_line[fixable]] += residue[fixable]
        amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    orders["amount"] = amount
    orders["number"] = np.arange(1, n + 1, dtype=np.int64)
    clean_order = (orders["status"] == 0) & ~orders["is_exp"]
    return {"order": line_order, "product": product, "qty": qty, "unit": unit.astype(np.int32),
            "n_lines": n_lines.astype(np.int16), "clean": clean_order}  # fmt: skip
