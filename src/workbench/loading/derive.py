"""Tables a source lacks, derived from the ones it has (each derivation is a counted repair).

Order lines that carry the customer and the date become an ``orders`` table (and a
``products`` table when there is none); ``customers`` is derived from ``orders``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.loading.model import Repair, SourceInfo
from workbench.schema import empty_table, table_spec

__all__ = ["derive_missing"]


def derive_missing(
    loaded: dict[str, pd.DataFrame],
    infos: dict[str, SourceInfo],
    repairs: list[Repair],
    wanted: list[str],
) -> None:
    if "orders" not in loaded and "order_items" in loaded and "orders" in wanted:
        items = loaded["order_items"]
        if {"customer_id", "ordered_at"} <= set(items.columns):
            loaded["orders"] = _derive_orders_from_items(items)
            infos["orders"] = _derived_info("orders", infos["order_items"], len(loaded["orders"]))
            repairs.append(
                Repair(
                    "orders",
                    None,
                    "derived from order lines (amount = Σ quantity × unit_price; "
                    "status cancelled when every line is negative)",
                    len(loaded["orders"]),
                )
            )
            if "products" not in loaded and "products" in wanted:
                loaded["products"] = _derive_products_from_items(items)
                infos["products"] = _derived_info(
                    "products", infos["order_items"], len(loaded["products"])
                )
                repairs.append(
                    Repair("products", None, "derived from order lines", len(loaded["products"]))
                )
            keep = [c for c in table_spec("order_items").columns]
            loaded["order_items"] = items[keep]
    if "customers" not in loaded and "orders" in loaded and "customers" in wanted:
        loaded["customers"] = _derive_customers(loaded["orders"])
        infos["customers"] = _derived_info("customers", infos["orders"], len(loaded["customers"]))
        repairs.append(
            Repair(
                "customers",
                None,
                "derived from orders (one row per customer_id; profile columns unknown)",
                len(loaded["customers"]),
            )
        )


def _derived_info(table: str, parent: SourceInfo, rows: int) -> SourceInfo:
    return SourceInfo(table, parent.path, f"derived from {parent.table}", rows, parent.digest)


def _derive_orders_from_items(items: pd.DataFrame) -> pd.DataFrame:
    line_amount = items["quantity"] * items["unit_price"]
    work = items.assign(_amount=line_amount, _neg=items["quantity"] < 0)
    grouped = work.groupby("order_id", sort=True, dropna=True)
    orders = pd.DataFrame(
        {
            "customer_id": grouped["customer_id"].first(),
            "ordered_at": grouped["ordered_at"].min(),
            "amount": grouped["_amount"].sum().round(2),
        }
    )
    all_negative = grouped["_neg"].all()
    if "status" in items.columns:
        orders["status"] = grouped["status"].first()
        orders["status"] = orders["status"].fillna("completed")
    else:
        orders["status"] = np.where(all_negative, "cancelled", "completed")
    if "country" in items.columns:
        orders["country"] = grouped["country"].first()
    orders = orders.reset_index()
    orders["status"] = orders["status"].astype("str")
    base = empty_table("orders")
    for column in base.columns:
        if column not in orders.columns:
            orders[column] = base[column].reindex(orders.index)
    extras = [c for c in orders.columns if c not in base.columns]
    return orders[list(base.columns) + extras]


def _derive_products_from_items(items: pd.DataFrame) -> pd.DataFrame:
    grouped = items.groupby("product_id", sort=True)
    products = pd.DataFrame({"price": grouped["unit_price"].median()})
    for column in ("name", "category"):
        if column in items.columns:
            products[column] = grouped[column].agg(_most_frequent)
    products = products.reset_index()
    base = empty_table("products")
    for column in base.columns:
        if column not in products.columns:
            products[column] = base[column].reindex(products.index)
    return products[list(base.columns)]


def _most_frequent(values: pd.Series) -> object:
    counts = values.dropna().value_counts()
    return counts.index[0] if len(counts) else np.nan


def _derive_customers(orders: pd.DataFrame) -> pd.DataFrame:
    ids = orders["customer_id"].dropna().drop_duplicates().sort_values().reset_index(drop=True)
    customers = empty_table("customers").reindex(range(len(ids)))
    customers["customer_id"] = ids.astype("str").to_numpy()
    if "country" in orders.columns:
        country = (
            orders.dropna(subset=["customer_id"])
            .groupby("customer_id")["country"]
            .agg(_most_frequent)
        )
        customers["country"] = customers["customer_id"].map(country).astype("str")
    return customers
