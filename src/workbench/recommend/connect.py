"""One customer's recommendations, for a customer page (the customer 360 view)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CUSTOMER_COLUMNS", "customer_recommendations"]

#: Columns of :func:`customer_recommendations`, in order (``name, category`` only when
#: the products are given).
CUSTOMER_COLUMNS = ("rank", "product_id", "name", "category", "score", "reason")


def customer_recommendations(
    recommendations: pd.DataFrame,
    customer_id: object,
    products: pd.DataFrame | None = None,
) -> pd.DataFrame | None:
    """The customer's list from ``recommendations.parquet``, best first, with the
    product's name and category when ``products`` is given; None when the customer has
    no list (no order before the stage's ``as_of``).

    Names and categories are raw data: escape them where they are shown.

    Examples
    --------
    >>> recs = pd.DataFrame({"customer_id": ["a", "a", "b"], "rank": [2, 1, 1],
    ...     "product_id": ["p2", "p1", "p1"], "score": [0.5, 0.9, 0.7],
    ...     "reason": ["popular in home", "you bought this 2 times", "popular in home"]})
    >>> products = pd.DataFrame({"product_id": ["p1", "p2"], "name": ["Mug", "Lamp"],
    ...                          "category": ["home", "home"]})
    >>> customer_recommendations(recs, "a", products)[["rank", "name", "reason"]]
       rank  name                   reason
    0     1   Mug  you bought this 2 times
    1     2  Lamp          popular in home
    >>> customer_recommendations(recs, "z") is None
    True
    """
    needed = ("customer_id", "rank", "product_id", "score", "reason")
    missing = [c for c in needed if c not in recommendations.columns]
    if missing:
        raise ValueError(
            f"recommendations: column(s) {', '.join(missing)} missing; expected "
            "recommendations.parquet of the recommendations stage"
        )
    ids = recommendations["customer_id"].astype("str")
    mine = recommendations.loc[(ids == str(customer_id)).to_numpy(dtype=bool)]
    if mine.empty:
        return None
    out = mine.sort_values("rank", kind="stable")[["rank", "product_id", "score", "reason"]]
    out = out.assign(
        product_id=out["product_id"].astype("str"),
        reason=out["reason"].astype("str"),
        rank=out["rank"].astype(np.int64),
        score=out["score"].astype(np.float64),
    )
    if products is not None and "product_id" in products.columns:
        known = products.dropna(subset=["product_id"]).drop_duplicates("product_id")
        known = known.assign(product_id=known["product_id"].astype("str"))
        extra = [c for c in ("name", "category") if c in known.columns]
        out = out.merge(known[["product_id", *extra]], on="product_id", how="left")
    columns = [c for c in CUSTOMER_COLUMNS if c in out.columns]
    return out[columns].reset_index(drop=True)
