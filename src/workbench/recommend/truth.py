"""Do the lists find what the demo simulator planted? (Only the demo data has a truth.)

The simulator (:mod:`workbench.simulate`) gives every person a few **favourite**
products, drawn from the categories they buy most, and some a **replenishment** habit
(a consumable re-bought every few weeks); ``_truth/product_affinity.parquet`` beside the
demo tables lists them per customer (``customer_id, product_id, kind``). Two measures,
for the final lists of a model and of a baseline on the same customers:

* **taste share** — the share of a customer's recommended products that lie in the
  categories of their planted favourites (customers with a favourite and a list);
* **planted recall** — the share of (customer, planted favourite or replenished
  product) pairs whose product is in the customer's list (customers with a list).

A model that learned the tastes scores well above popularity on both; popularity shows
everybody the same products, so its numbers are what chance and the bestsellers give.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from workbench.frames import isin

__all__ = ["AFFINITY_FILE", "read_planted_affinity", "affinity_recovery"]

log = logging.getLogger(__name__)

#: The truth file, relative to the data folder.
AFFINITY_FILE = Path("_truth") / "product_affinity.parquet"


def read_planted_affinity(data_dir: str | Path) -> pd.DataFrame | None:
    """``_truth/product_affinity.parquet`` beside the source (the demo's), or None."""
    path = Path(data_dir) / AFFINITY_FILE
    if not path.is_file():
        return None
    return pd.read_parquet(path, columns=["customer_id", "product_id", "kind"])


def affinity_recovery(
    lists: Mapping[str, pd.DataFrame],
    affinity: pd.DataFrame,
    products: pd.DataFrame,
) -> pd.DataFrame:
    """Taste share and planted recall of each named list (see the module's definitions).

    Parameters
    ----------
    lists : mapping of str to DataFrame
        Name -> final lists (``customer_id, product_id``), e.g. the chosen model's and
        popularity's.
    affinity : pandas.DataFrame
        ``customer_id, product_id, kind`` (``favourite`` or ``replenishment``).
    products : pandas.DataFrame
        ``product_id, category``.

    Returns
    -------
    pandas.DataFrame
        One row per list: ``list, customers`` (with a list and a planted product),
        ``taste_share``, ``planted_pairs``, ``planted_recall``.

    Examples
    --------
    >>> lists = {"model": pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...                                 "product_id": ["p1", "p3", "p2"]})}
    >>> affinity = pd.DataFrame({"customer_id": ["a", "b", "b"],
    ...     "product_id": ["p1", "p1", "p4"], "kind": ["favourite", "favourite",
    ...     "replenishment"]})
    >>> products = pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"],
    ...                          "category": ["x", "x", "y", "z"]})
    >>> affinity_recovery(lists, affinity, products).iloc[0].to_dict()
    {'list': 'model', 'customers': 2, 'taste_share': 0.6666666666666666, 'planted_pairs': 3, 'planted_recall': 0.3333333333333333}
    """
    for frame, table, columns in (
        (affinity, "product_affinity", ("customer_id", "product_id", "kind")),
        (products, "products", ("product_id", "category")),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{table}: column(s) {', '.join(missing)} missing")
    category = (
        products.drop_duplicates("product_id")
        .set_index(products.drop_duplicates("product_id")["product_id"].astype("str"))["category"]
        .astype("str")
    )
    planted = affinity.assign(
        customer_id=affinity["customer_id"].astype("str"),
        product_id=affinity["product_id"].astype("str"),
    )
    favourites = planted.loc[planted["kind"].astype("str") == "favourite"]
    tastes = (
        favourites.assign(category=favourites["product_id"].map(category))[
            ["customer_id", "category"]
        ]
        .dropna()
        .drop_duplicates()
        .assign(taste=True)
    )
    pairs = planted[["customer_id", "product_id"]].drop_duplicates()
    rows = []
    for name, frame in lists.items():
        shown = frame[["customer_id", "product_id"]].astype("str").drop_duplicates()
        listed = shown.assign(category=shown["product_id"].map(category))
        listed = listed.loc[isin(listed["customer_id"], tastes["customer_id"])]
        in_taste = listed.merge(tastes, on=["customer_id", "category"], how="left")["taste"]
        judged = pairs.loc[isin(pairs["customer_id"], shown["customer_id"])]
        found = judged.merge(shown.assign(hit=True), on=["customer_id", "product_id"], how="left")
        customers = judged["customer_id"].nunique()
        rows.append(
            {
                "list": name,
                "customers": int(customers),
                "taste_share": float(in_taste.notna().mean()) if len(in_taste) else float("nan"),
                "planted_pairs": int(len(judged)),
                "planted_recall": float(found["hit"].notna().mean())
                if len(found)
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)
