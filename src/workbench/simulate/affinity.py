"""Each person's taste for products: favourites and replenishment habits.

:func:`draw_tastes` gives every person

* **favourites**: a few products (``Persona.favourites`` on average) chosen from the
  person's category taste and price level by the persona's taste for products, each with
  a weight; a share of the person's order lines (``fav_share``, around
  ``Persona.favourite_share``) is one of them, drawn by weight
  (:func:`pick_favourites`);
* **replenishment habits** (with probability ``Persona.replenish_prob``): one or two
  consumables (grocery or beauty) re-bought every ``cycle_days`` (the product kind's
  :data:`~workbench.simulate.products.BASE_CYCLE_DAYS` times a personal factor), only
  where that cycle fits the person's order rate. :func:`replenishment_times` draws the
  purchase times (a renewal process, gaps of ``cycle_days`` times a Gamma factor with
  coefficient of variation :data:`CYCLE_CV`).

The truth tables ``product_affinity`` and ``replenishment`` are built from these arrays.
"""

from __future__ import annotations

import numpy as np

from workbench.simulate.clock import DAY, order_hours
from workbench.simulate.people import expected_basket
from workbench.simulate.personas import CATEGORIES, persona_param
from workbench.simulate.products import (
    CATEGORY_PRICES,
    CATEGORY_QTY,
    choose_near_price,
    draw_categories,
)

__all__ = [
    "CYCLE_CV",
    "draw_tastes",
    "pick_favourites",
    "replenishment_times",
    "unit_target",
]

CYCLE_CV = 0.2  # coefficient of variation of the gaps between replenishment purchases
_MAX_FAVOURITES = 8
_CONSUMABLE = (CATEGORIES.index("grocery"), CATEGORIES.index("beauty"))


def unit_target(people: dict[str, np.ndarray], rows: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """Typical unit price (cents) of a line of category ``cat`` in an order of person
    ``rows``: the mean order value shared among the lines as the orders do it."""
    typical = np.array([m for m, _ in CATEGORY_PRICES])
    taste = np.diff(people["cat_cum"][rows], axis=1, prepend=0.0).astype(np.float64)
    per_line = taste @ (typical * (1 + CATEGORY_QTY))
    lines = persona_param("lines_per_order")[people["persona"][rows]]
    return 100 * expected_basket(people, rows) * typical[cat] / (lines * per_line)


def draw_tastes(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Favourites (with weights and each person's favourite share) and replenishment
    habits (person, product, cycle in days) of every person."""
    n = len(people["persona"])
    persona = people["persona"]
    rep = _replenishment(rng, people, products)
    k = np.minimum(1 + rng.poisson(persona_param("favourites")[persona] - 1), _MAX_FAVOURITES)
    person = np.repeat(np.arange(n, dtype=np.int64), k)
    # favourites lie in the categories a person buys most (taste squared)
    sharp = np.diff(people["cat_cum"], axis=1, prepend=0.0) ** 2
    sharp_cum = np.cumsum(sharp / sharp.sum(axis=1, keepdims=True), axis=1).astype(np.float32)
    cat = draw_categories(rng, sharp_cum, person)
    del sharp, sharp_cum
    product = choose_near_price(
        rng, products, persona[person], cat, unit_target(people, person, cat)
    )
    weight = rng.gamma(1.0, 1.0, len(person))
    # one row per (person, product): repeated draws add up; a replenished product is not
    # also a favourite (its purchases follow the cycle, but for a rare line that picks it
    # among the products near its price)
    key = person * len(products["cat"]) + product
    rep_key = rep["person"] * len(products["cat"]) + rep["product"]
    keep = ~np.isin(key, rep_key)
    uniq, inverse = np.unique(key[keep], return_inverse=True)
    summed = np.bincount(inverse, weights=weight[keep])
    person, product = uniq // len(products["cat"]), uniq % len(products["cat"])
    total = np.bincount(person, weights=summed, minlength=n)
    share = summed / total[person]
    first = np.searchsorted(person, np.arange(n + 1))
    cum = _cumulative_within(share, first)
    mean = persona_param("favourite_share")[persona]
    fav_share = rng.beta(mean * 8, (1 - mean) * 8) * (total > 0)
    return {"fav_person": person, "fav_product": product, "fav_weight": share,
            "fav_cum": cum, "fav_first": first, "fav_share": fav_share,
            "rep_person": rep["person"], "rep_product": rep["product"],
            "rep_cycle": rep["cycle"]}  # fmt: skip


def _cumulative_within(share: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``share`` restarting at each person's first row (ends at 1)."""
    cum = np.cumsum(share)
    counts = np.diff(first)
    before = np.concatenate([[0.0], cum])[first[:-1]]
    cum -= np.repeat(before, counts)
    ends = first[1:][counts > 0] - 1
    cum[ends] = 1.0  # exact, so that a draw below 1 always lands inside its person
    return cum


def _replenishment(
    rng: np.random.Generator, people: dict[str, np.ndarray], products: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Replenishment habits: (person, product, cycle days), cycles that fit the person."""
    persona = people["persona"]
    n = len(persona)
    has = rng.random(n) < persona_param("replenish_prob")[persona]
    streams = np.where(has, 1 + (rng.random(n) < 0.3), 0)
    person = np.repeat(np.arange(n, dtype=np.int64), streams)
    taste = np.diff(people["cat_cum"][person], axis=1, prepend=0.0)[:, list(_CONSUMABLE)]
    grocery = rng.random(len(person)) * (taste.sum(axis=1) + 0.02) < taste[:, 0] + 0.01
    cat = np.where(grocery, _CONSUMABLE[0], _CONSUMABLE[1]).astype(np.int8)
    product = choose_near_price(
        rng, products, persona[person], cat, unit_target(people, person, cat)
    )
    cycle = products["cycle_days"][product] * np.exp(rng.normal(0, 0.25, len(person)))
    cycle = np.clip(np.round(cycle, 1), 7.0, 180.0)
    rate = persona_param("orders_per_year")[persona[person]] * people["rate_mult"][person]
    key = person * len(products["cat"]) + product
    _, first_of_key = np.unique(key, return_index=True)
    fits = np.zeros(len(person), dtype=bool)
    fits[first_of_key] = True
    fits &= 365.25 / cycle <= 1.2 * rate  # a habit never triples a customer's order rate
    return {"person": person[fits], "product": product[fits], "cycle": cycle[fits]}


def pick_favourites(
    rng: np.random.Generator, tastes: dict[str, np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """A favourite product of each person in ``rows`` (each must have one), by weight."""
    keys = tastes["fav_person"] + tastes["fav_cum"]
    pos = np.searchsorted(keys, rows + rng.random(len(rows)), side="right")
    lo = tastes["fav_first"][rows]
    return tastes["fav_product"][np.clip(pos, lo, tastes["fav_first"][rows + 1] - 1)]


def replenishment_times(
    rng: np.random.Generator,
    tastes: dict[str, np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times of every replenishment habit on its person's ``[a, b)`` seconds.

    The first purchase falls at a uniform phase of the first cycle after ``a``; each
    later one ``cycle_days`` times a Gamma factor (mean 1, CV :data:`CYCLE_CV`) after the
    one before, moved to an hour of the daily order profile. Returns the habit index
    and the time of every purchase.
    """
    person = tastes["rep_person"]
    cycle = tastes["rep_cycle"] * DAY
    start, stop = a[person], b[person]
    span = np.maximum(stop - start, 0)
    slots = np.where(span > 0, np.ceil(span / cycle * 1.3).astype(np.int64) + 3, 0)
    habit = np.repeat(np.arange(len(person), dtype=np.int64), slots)
    shape = 1 / CYCLE_CV**2
    gap = rng.gamma(shape, 1 / shape, len(habit)) * cycle[habit]
    first = np.concatenate([[0], np.cumsum(slots)[:-1]])[slots > 0]
    gap[first] = rng.random(len(first)) * cycle[slots > 0]
    cum = np.cumsum(gap)
    cum -= np.repeat(np.concatenate([[0.0], cum])[first], slots[slots > 0])
    t = start[habit] + np.floor(cum).astype(np.int64)
    inside = t < stop[habit]
    habit, t = habit[inside], t[inside]
    return habit, order_hours(rng, t, start[habit], stop[habit])
