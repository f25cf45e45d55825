"""The product catalogue, its planted structure, and the draws that pick products.

:func:`draw_products` makes :data:`PRODUCTS_PER_CATEGORY` named products per category
(prices lognormal around :data:`CATEGORY_PRICES`, sorted by price within a category),
with a long-tailed popularity (Pareto) and, per persona, a taste for each product
(``persona_weight``: popularity times a persona's own lognormal preference). It also
plants the **bought-together pairs** (an anchor product and its complement, from
:data:`COMPLEMENTS`) and the **replenishment cycle** of every consumable (grocery and
beauty products, :data:`BASE_CYCLE_DAYS` by product kind).

:func:`draw_categories` picks a category from a customer's taste;
:func:`choose_near_price` picks a product near a target unit price, weighted by the
persona's taste among the neighbouring prices; :func:`choose_by_taste` picks a product of
a category by the persona's taste alone (web views).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.simulate.personas import CATEGORIES, PERSONAS

__all__ = [
    "BASE_CYCLE_DAYS",
    "CATEGORY_PRICES",
    "CATEGORY_QTY",
    "COMPLEMENTS",
    "PRODUCTS_PER_CATEGORY",
    "choose_by_taste",
    "choose_near_price",
    "draw_categories",
    "draw_products",
]

CATEGORY_PRICES = (  # (median price, log sigma) per category
    (140.0, 0.9), (40.0, 0.6), (45.0, 0.8), (20.0, 0.5),
    (45.0, 0.7), (7.0, 0.6), (16.0, 0.35), (25.0, 0.6),
)  # fmt: skip

#: Mean extra units per order line by category (Poisson): groceries come in several.
CATEGORY_QTY = np.array([0.03, 0.15, 0.15, 0.35, 0.1, 0.9, 0.15, 0.2])

PRODUCTS_PER_CATEGORY = 50

_PRODUCT_WORDS = {
    "electronics": ("Headphones", "Smartwatch", "Speaker", "Tablet", "E-Reader", "Webcam",
                    "Keyboard", "Monitor", "Charger", "Camera"),
    "fashion": ("Jacket", "Sneakers", "Dress", "Jeans", "Scarf", "Hoodie", "Boots", "Shirt",
                "Handbag", "Sunglasses"),
    "home": ("Lamp", "Cushion", "Blanket", "Vase", "Kettle", "Pan Set", "Rug", "Mirror",
             "Storage Box", "Coffee Maker"),
    "beauty": ("Moisturiser", "Serum", "Lipstick", "Shampoo", "Perfume", "Face Mask",
               "Nail Polish", "Sunscreen", "Hair Oil", "Cleanser"),
    "sports": ("Yoga Mat", "Running Shoes", "Dumbbells", "Water Bottle", "Bike Helmet",
               "Tennis Racket", "Gym Bag", "Resistance Bands", "Football", "Sports Watch"),
    "grocery": ("Coffee Beans", "Olive Oil", "Pasta", "Green Tea", "Granola", "Dark Chocolate",
                "Honey", "Rice", "Spice Mix", "Peanut Butter"),
    "books": ("Novel", "Cookbook", "Biography", "Thriller", "Travel Guide", "Poetry",
              "Children's Book", "History Book", "Science Book", "Comic"),
    "toys": ("Puzzle", "Building Blocks", "Board Game", "Plush Bear", "Toy Car", "Doll",
             "Kite", "Train Set", "Art Kit", "Robot Kit"),
}  # fmt: skip
_ADJECTIVES = ("Classic", "Pro", "Lite", "Max", "Eco", "Smart", "Premium", "Essential", "Urban",
               "Nova", "Aero", "Prime")  # fmt: skip
_NOUNS = tuple(w for words in _PRODUCT_WORDS.values() for w in words)

#: Kinds of product bought together: (anchor, complement). The most popular product of
#: the anchor kind gets one product of the complement kind as its planted partner.
COMPLEMENTS = (
    ("Camera", "Charger"), ("Tablet", "Keyboard"), ("Monitor", "Webcam"),
    ("Dress", "Handbag"), ("Jeans", "Shirt"), ("Jacket", "Scarf"),
    ("Coffee Maker", "Coffee Beans"), ("Pan Set", "Olive Oil"), ("Rug", "Cushion"),
    ("Shampoo", "Hair Oil"), ("Cleanser", "Moisturiser"), ("Serum", "Face Mask"),
    ("Yoga Mat", "Resistance Bands"), ("Running Shoes", "Water Bottle"),
    ("Tennis Racket", "Gym Bag"), ("Pasta", "Spice Mix"), ("Green Tea", "Honey"),
    ("Cookbook", "Dark Chocolate"), ("Travel Guide", "Sunglasses"),
    ("Train Set", "Building Blocks"), ("Board Game", "Puzzle"), ("Art Kit", "Children's Book"),
)  # fmt: skip

#: Mean days between two purchases of a consumable, by product kind (grocery and beauty);
#: each replenishing customer's own cycle varies around it.
BASE_CYCLE_DAYS = {
    "Coffee Beans": 30, "Olive Oil": 45, "Pasta": 21, "Green Tea": 35, "Granola": 21,
    "Dark Chocolate": 14, "Honey": 60, "Rice": 30, "Spice Mix": 75, "Peanut Butter": 28,
    "Moisturiser": 45, "Serum": 60, "Lipstick": 90, "Shampoo": 40, "Perfume": 120,
    "Face Mask": 30, "Nail Polish": 75, "Sunscreen": 60, "Hair Oil": 60, "Cleanser": 45,
}  # fmt: skip

_WINDOW = 4  # choose_near_price weighs the 2 * _WINDOW + 1 products nearest in price
_PERSONA_TASTE_SIGMA = 0.8  # spread of a persona's own preference between products


def draw_products(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The catalogue, sorted by category then price, with tastes, pairs and cycles.

    Keys: ``cat``, ``cents``, ``name``, ``noun`` (index into the product kinds),
    ``number`` (id number), ``key`` (category * 100 + log price: the sort key),
    ``popularity``, ``persona_weight`` (personas x products), ``start`` (first index of
    each category), ``pair_anchor``/``pair_partner``/``pair_prob`` (the planted
    bought-together pairs), ``partner`` (per product: its partner or -1), ``partner_prob``
    and ``cycle_days`` (base replenishment cycle; NaN for non-consumables).
    """
    k = PRODUCTS_PER_CATEGORY
    cat = np.repeat(np.arange(len(CATEGORIES), dtype=np.int8), k)
    cents = np.empty(len(cat), dtype=np.int64)
    noun = np.empty(len(cat), dtype=np.int16)
    names: list[str] = []
    for c, (median, sigma) in enumerate(CATEGORY_PRICES):
        price = np.exp(rng.normal(np.log(median), sigma, k))
        cents[c * k : (c + 1) * k] = np.sort(np.maximum(np.round(price) * 100 - 1, 99))
        words = _PRODUCT_WORDS[CATEGORIES[c]]
        adj = rng.choice(_ADJECTIVES, size=k)
        which = rng.integers(0, len(words), k)
        noun[c * k : (c + 1) * k] = [_NOUNS.index(words[w]) for w in which]
        names.extend(f"{x} {words[w]}" for x, w in zip(adj, which, strict=True))
    named = pd.Series(names)
    repeat = named.groupby(named).cumcount().to_numpy()
    names = [f"{x} {r + 1}" if r else x for x, r in zip(names, repeat, strict=True)]
    number = rng.permutation(len(cat)) + 1
    key = cat * 100.0 + np.log(cents)
    popularity = rng.pareto(1.2, len(cat)) + 1
    taste = np.exp(rng.normal(0, _PERSONA_TASTE_SIGMA, (len(PERSONAS), len(cat))))
    products: dict[str, np.ndarray] = {
        "cat": cat,
        "cents": cents,
        "name": np.array(names, dtype=object),
        "noun": noun,
        "number": number,
        "key": key,
        "popularity": popularity,
        "persona_weight": popularity[None, :] * taste,
        "start": np.arange(len(CATEGORIES)) * k,
    }
    products.update(_plant_pairs(rng, noun, popularity))
    cycle = np.array([BASE_CYCLE_DAYS.get(w, np.nan) for w in _NOUNS])
    products["cycle_days"] = cycle[noun]
    return products


def _plant_pairs(
    rng: np.random.Generator, noun: np.ndarray, popularity: np.ndarray
) -> dict[str, np.ndarray]:
    """One partner for the most popular product of each anchor kind in COMPLEMENTS."""
    anchors, partners = [], []
    for a_word, b_word in COMPLEMENTS:
        a_rows = np.flatnonzero(noun == _NOUNS.index(a_word))
        b_rows = np.flatnonzero(noun == _NOUNS.index(b_word))
        if len(a_rows) == 0 or len(b_rows) == 0:
            continue  # the catalogue has no product of that kind
        anchors.append(int(a_rows[np.argmax(popularity[a_rows])]))
        partners.append(int(rng.choice(b_rows)))
    anchor = np.array(anchors, dtype=np.int64)
    partner = np.array(partners, dtype=np.int64)
    prob = np.round(rng.uniform(0.3, 0.6, len(anchor)), 3)
    per_product = np.full(len(noun), -1, dtype=np.int64)
    per_prob = np.zeros(len(noun))
    per_product[anchor] = partner
    per_prob[anchor] = prob
    return {"pair_anchor": anchor, "pair_partner": partner, "pair_prob": prob,
            "partner": per_product, "partner_prob": per_prob}  # fmt: skip


def draw_categories(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A category per element, drawn from row ``rows[i]`` of cumulative shares ``cum``."""
    u = rng.random(len(rows)).astype(np.float32)
    out = np.empty(len(rows), dtype=np.int8)
    chunk = 2_000_000  # bounds the (chunk x categories) temporary
    for s in range(0, len(rows), chunk):
        part = cum[rows[s : s + chunk], :-1]
        out[s : s + chunk] = (u[s : s + chunk, None] > part).sum(axis=1)
    return out


def choose_near_price(
    rng: np.random.Generator,
    products: dict[str, np.ndarray],
    persona: np.ndarray,
    cat: np.ndarray,
    target_cents: np.ndarray,
) -> np.ndarray:
    """In category ``cat``, one of the products nearest in price to ``target_cents``,
    drawn by the persona's taste for them (so popular products take most sales)."""
    k = PRODUCTS_PER_CATEGORY
    width = 2 * _WINDOW + 1
    weight = products["persona_weight"].astype(np.float32)
    out = np.empty(len(cat), dtype=np.int64)
    chunk = 500_000  # bounds the (chunk x window) temporaries
    for s in range(0, len(cat), chunk):
        c = cat[s : s + chunk].astype(np.int64)
        query = c * 100.0 + np.log(np.maximum(target_cents[s : s + chunk], 1.0))
        lo = products["start"][c]
        pos = np.searchsorted(products["key"], query)
        first = np.clip(pos - _WINDOW, lo, lo + k - width)
        cand = first[:, None] + np.arange(width)
        w = np.cumsum(weight[persona[s : s + chunk].astype(np.int64)[:, None], cand], axis=1)
        u = rng.random(len(c)).astype(np.float32) * w[:, -1]
        out[s : s + chunk] = first + np.minimum((u[:, None] > w).sum(axis=1), width - 1)
    return out


def choose_by_taste(
    rng: np.random.Generator,
    products: dict[str, np.ndarray],
    persona: np.ndarray,
    cat: np.ndarray,
) -> np.ndarray:
    """A product of category ``cat`` drawn by the persona's taste (price not considered)."""
    k = PRODUCTS_PER_CATEGORY
    n_cat = len(CATEGORIES)
    w = products["persona_weight"].reshape(len(PERSONAS), n_cat, k)
    within = np.cumsum(w / w.sum(axis=2, keepdims=True), axis=2)
    group = persona.astype(np.int64) * n_cat + cat
    edges = (np.arange(len(PERSONAS) * n_cat)[:, None] + within.reshape(-1, k)).ravel()
    pos = np.searchsorted(edges, group + rng.random(len(cat)), side="right")
    start = products["start"][cat]
    return np.clip(pos - group * k + start, start, start + k - 1)
