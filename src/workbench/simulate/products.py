"""The product catalogue and the draws that pick categories and products.

:func:`draw_products` makes :data:`PRODUCTS_PER_CATEGORY` named products per category
(prices lognormal around :data:`CATEGORY_PRICES`, Pareto popularity);
:func:`draw_categories` picks a category from a customer's taste, :func:`product_in_category`
a product by popularity and :func:`nearest_product` one priced near a target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.simulate.personas import CATEGORIES

__all__ = [
    "CATEGORY_PRICES",
    "PRODUCTS_PER_CATEGORY",
    "draw_categories",
    "draw_products",
    "nearest_product",
    "product_in_category",
]

CATEGORY_PRICES = (  # (median price, log sigma) per category
    (140.0, 0.9), (40.0, 0.6), (45.0, 0.8), (20.0, 0.5),
    (45.0, 0.7), (7.0, 0.6), (16.0, 0.35), (25.0, 0.6),
)  # fmt: skip

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


def draw_products(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A catalogue of ``PRODUCTS_PER_CATEGORY`` products per category, sorted by price."""
    k = PRODUCTS_PER_CATEGORY
    cat = np.repeat(np.arange(len(CATEGORIES), dtype=np.int8), k)
    cents = np.empty(len(cat), dtype=np.int64)
    names: list[str] = []
    for c, (median, sigma) in enumerate(CATEGORY_PRICES):
        price = np.exp(rng.normal(np.log(median), sigma, k))
        cents[c * k : (c + 1) * k] = np.sort(np.maximum(np.round(price) * 100 - 1, 99))
        words = _PRODUCT_WORDS[CATEGORIES[c]]
        adj = rng.choice(_ADJECTIVES, size=k)
        noun = rng.choice(words, size=k)
        names.extend(f"{x} {y}" for x, y in zip(adj, noun, strict=True))
    named = pd.Series(names)
    repeat = named.groupby(named).cumcount().to_numpy()
    names = [f"{x} {r + 1}" if r else x for x, r in zip(names, repeat, strict=True)]
    number = rng.permutation(len(cat)) + 1
    key = cat * 100.0 + np.log(cents)
    popularity = rng.pareto(1.2, len(cat)) + 1
    starts = np.arange(len(CATEGORIES)) * k
    return {"cat": cat, "cents": cents, "name": np.array(names, dtype=object), "number": number,
            "key": key, "popularity": popularity, "start": starts}  # fmt: skip


def draw_categories(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A category per element, drawn from row ``rows[i]`` of cumulative shares ``cum``."""
    u = rng.random(len(rows)).astype(np.float32)
    out = np.empty(len(rows), dtype=np.int8)
    chunk = 2_000_000  # bounds the (chunk x categories) temporary
    for s in range(0, len(rows), chunk):
        part = cum[rows[s : s + chunk], :-1]
        out[s : s + chunk] = (u[s : s + chunk, None] > part).sum(axis=1)
    return out


def product_in_category(
    rng: np.random.Generator, products: dict[str, np.ndarray], cat: np.ndarray
) -> np.ndarray:
    """A product per element from category ``cat``, weighted by popularity."""
    k = PRODUCTS_PER_CATEGORY
    pop = products["popularity"].reshape(len(CATEGORIES), k)
    within = np.cumsum(pop / pop.sum(axis=1, keepdims=True), axis=1)
    edges = (np.arange(len(CATEGORIES))[:, None] + within).ravel()  # category c spans (c, c+1]
    pos = np.searchsorted(edges, cat + rng.random(len(cat)), side="right")
    return np.clip(pos, products["start"][cat], products["start"][cat] + k - 1)


def nearest_product(
    rng: np.random.Generator,
    products: dict[str, np.ndarray],
    cat: np.ndarray,
    target_cents: np.ndarray,
) -> np.ndarray:
    """In category ``cat``, a product priced near ``target_cents`` (with a little jitter)."""
    key = products["key"]
    query = cat * 100.0 + np.log(np.maximum(target_cents, 1.0))
    lo = products["start"][cat]
    hi = lo + PRODUCTS_PER_CATEGORY - 1
    pos = np.clip(np.searchsorted(key, query), lo, hi)
    prev = np.clip(pos - 1, lo, hi)
    pos = np.where(np.abs(key[prev] - query) < np.abs(key[pos] - query), prev, pos)
    return np.clip(pos + rng.integers(-2, 3, len(cat)), lo, hi)
