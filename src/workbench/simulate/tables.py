"""From the drawn world to the canonical tables (and, through :mod:`.truth`, the truth).

:func:`emit` yields ``(kind, name, object)`` for every output: the JSON-able truth
(``experiment``, ``summary``), the truth frames and then each canonical table, typed as
:mod:`workbench.schema` declares. The four large tables (``web_events``, ``email_events``,
``order_items``, ``orders``) come as an iterator of frames of :data:`CHUNK_ROWS` rows, so
that only one slice of a table is in memory at a time; the arrays a table was built from
are released after it (:func:`trim_heap` hands the freed memory back).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.schema import TABLES
from workbench.simulate import truth as T
from workbench.simulate.clock import Clock
from workbench.simulate.columns import strings, take, timestamps, vocab
from workbench.simulate.email import EMAIL_TYPES
from workbench.simulate.experiment import EXPERIMENT_ID, VARIANTS, experiment_truth
from workbench.simulate.ids import id_array, id_series, id_width
from workbench.simulate.orders import CHANNELS, STATUSES
from workbench.simulate.personas import CATEGORIES
from workbench.simulate.products import PRODUCTS_PER_CATEGORY
from workbench.simulate.web import WEB_TYPES

__all__ = ["CHUNK_ROWS", "emit", "trim_heap"]

#: Rows per slice of the large tables (a multiple of Parquet's default row group).
CHUNK_ROWS = 1 << 21


def trim_heap() -> None:
    """Return freed heap pages to the system (glibc only; elsewhere a no-op).

    Generation frees many large temporaries; without this, fragmentation keeps the
    resident size well above the live data at a million customers.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _frame(name: str, columns: dict[str, Any]) -> pd.DataFrame:
    """A canonical table with its columns in declaration order."""
    order = list(TABLES[name].columns)
    return pd.DataFrame({c: columns[c] for c in order}, copy=False)


def _with_repeats(n: int, repeat: np.ndarray) -> np.ndarray:
    """Row order with each repeated row's copy right after it."""
    return np.sort(
        np.concatenate([np.arange(n), np.asarray(repeat, dtype=np.int64)]), kind="stable"
    )


def emit(world: dict[str, Any], clock: Clock, seed: int) -> Iterator[tuple[str, str, Any]]:
    """Yield the truth, then each table, releasing the arrays a table was built from."""
    people, accounts, orders = world["people"], world["accounts"], world["orders"]
    products, tastes, exp = world["products"], world["tastes"], world["exp"]
    cust_ids = id_array("C", accounts["number"], id_width("C", accounts["number"].max()))
    prod_ids = id_array("P", products["number"], id_width("P", PRODUCTS_PER_CATEGORY * 8))
    yield "meta", "experiment", experiment_truth(people, exp, clock)
    yield "meta", "summary", T.summary(world, clock, seed)
    yield "truth", "customers", T.truth_customers(people, accounts, cust_ids, clock)
    yield "truth", "faults", world.pop("faults")
    yield "truth", "duplicates", T.truth_duplicates(accounts, cust_ids)
    future = world.pop("future")
    yield "truth", "future_orders", T.truth_future_orders(future, cust_ids, clock)
    yield "truth", "future_order_items", T.truth_future_items(future, world.pop("future_items"),
                                                              prod_ids)  # fmt: skip
    clv = T.truth_clv(people, accounts, tastes, world["value_ratio"], cust_ids, clock)
    yield "truth", "clv", clv
    yield "truth", "experiment_users", T.truth_experiment_users(people, exp, orders, cust_ids,
                                                                clock)  # fmt: skip
    yield "truth", "uplift", T.truth_uplift(people, exp, orders, cust_ids, clock)
    yield "truth", "product_affinity", T.truth_product_affinity(tastes, cust_ids, prod_ids)
    yield "truth", "persona_products", T.truth_persona_products(products, prod_ids)
    yield "truth", "bought_together", T.truth_bought_together(products, prod_ids)
    yield "truth", "replenishment", T.truth_replenishment(tastes, cust_ids, prod_ids)
    yield "truth", "machine_opens", T.truth_machine_opens(world["email"], cust_ids)
    yield "truth", "campaigns", T.truth_campaigns(world["email"], clock)
    n_orders = len(orders["t"])
    del orders
    # the largest tables first, while few other frames exist (lower peak memory)
    yield "table", "web_events", _web_table(world.pop("web"), cust_ids, prod_ids, clock)
    trim_heap()
    yield "table", "email_events", _email_table(world.pop("email"), cust_ids, clock)
    trim_heap()
    yield "table", "order_items", _items_table(world.pop("items"), n_orders, prod_ids)
    trim_heap()
    yield "table", "orders", _orders_table(world.pop("orders"), cust_ids, clock)
    trim_heap()
    yield "table", "customers", _customers_table(accounts, world.pop("recs"), cust_ids, clock)
    yield "table", "products", _products_table(world.pop("products"), prod_ids)
    yield "table", "experiment_assignments", _assignments_table(exp, accounts, cust_ids, clock)


def _customers_table(
    accounts: dict[str, np.ndarray], recs: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock
) -> pd.DataFrame:
    n_rec = len(recs["email"])
    rows = np.argsort(accounts["number"][:n_rec], kind="stable")
    return _frame("customers", {
        "customer_id": take(cust_ids, rows),
        "email": strings(recs["email"][rows]),
        "first_name": strings(recs["first"][rows]),
        "last_name": strings(recs["last"][rows]),
        "birth_date": timestamps(recs["birth"][rows], clock, recs["birth_missing"][rows]),
        "gender": strings(recs["gender"][rows]),
        "country": strings(recs["country"][rows]),
        "city": strings(recs["city"][rows]),
        "signup_at": timestamps(accounts["signup"][rows], clock),
        "signup_channel": strings(recs["channel"][rows]),
        "email_opt_in": pd.array(recs["opt_in"][rows], dtype="boolean"),
    })  # fmt: skip


def _orders_table(
    orders: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock
) -> Iterator[pd.DataFrame]:
    rows_all = _with_repeats(len(orders["t"]), orders["repeat"])
    ow = id_width("O", len(orders["t"]))
    for rows in _chunks(rows_all):
        yield _frame("orders", {
            "order_id": id_series("O", orders["number"][rows], ow),
            "customer_id": take(cust_ids, orders["account"][rows]),
            "ordered_at": timestamps(orders["t"][rows], clock),
            "amount": orders["amount"][rows] / 100.0,
            "status": take(vocab(STATUSES), orders["status"][rows]),
            "channel": take(vocab(CHANNELS), orders["channel"][rows]),
        })  # fmt: skip


def _items_table(
    items: dict[str, np.ndarray], n_orders: int, prod_ids: pa.Array
) -> Iterator[pd.DataFrame]:
    n = len(items["order"])
    for rows in _chunks(np.arange(n)):
        yield _frame("order_items", {
            "line_id": id_series("L", rows + 1, id_width("L", n)),
            "order_id": id_series("O", items["order"][rows] + 1, id_width("O", n_orders)),  # 1..n
            "product_id": take(prod_ids, items["product"][rows]),
            "quantity": items["qty"][rows].astype(np.float64),
            "unit_price": items["unit"][rows] / 100.0,
        })  # fmt: skip


def _products_table(products: dict[str, np.ndarray], prod_ids: pa.Array) -> pd.DataFrame:
    rows = np.argsort(products["number"], kind="stable")
    return _frame("products", {
        "product_id": take(prod_ids, rows),
        "category": take(vocab(CATEGORIES), products["cat"][rows]),
        "name": strings(products["name"][rows]),
        "price": products["cents"][rows] / 100.0,
    })  # fmt: skip


def _email_table(
    email: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock
) -> Iterator[pd.DataFrame]:
    """Events are numbered 1..n in their (time) order."""
    n = len(email["t"])
    n_campaigns = int(email["n_campaigns"])
    campaigns = id_array("CMP", np.arange(1, n_campaigns + 1), id_width("CMP", n_campaigns))
    for rows in _chunks(np.arange(n)):
        yield _frame("email_events", {
            "event_id": id_series("E", rows + 1, id_width("E", n)),
            "customer_id": take(cust_ids, email["account"][rows]),
            "campaign_id": take(campaigns, email["campaign"][rows]),
            "event_type": take(vocab(EMAIL_TYPES), email["type"][rows]),
            "occurred_at": timestamps(email["t"][rows], clock),
        })  # fmt: skip


def _web_table(
    web: dict[str, np.ndarray], cust_ids: pa.Array, prod_ids: pa.Array, clock: Clock
) -> Iterator[pd.DataFrame]:
    """Events are numbered 1..n in their (time) order; repeated rows follow their row."""
    n = len(web["t"])
    sw = id_width("S", web["session"].max() if n else 1)
    for rows in _chunks(_with_repeats(n, web["repeat"])):
        yield _frame("web_events", {
            "event_id": id_series("W", rows + 1, id_width("W", n)),
            "session_id": id_series("S", web["session"][rows], sw),
            "customer_id": take(cust_ids, web["account"][rows]),
            "event_type": take(vocab(WEB_TYPES), web["type"][rows]),
            "product_id": take(prod_ids, web["product"][rows]),
            "occurred_at": timestamps(web["t"][rows], clock),
        })  # fmt: skip


def _chunks(rows: np.ndarray) -> Iterator[np.ndarray]:
    """``rows`` in slices of CHUNK_ROWS (a large table is built and written a slice at a
    time; at least one, possibly empty, slice)."""
    for start in range(0, max(len(rows), 1), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


def _assignments_table(
    exp: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    users = np.flatnonzero(exp["arm"] >= 0)
    users = users[np.argsort(accounts["number"][exp["person"][users]], kind="stable")]
    n = len(users)
    return _frame("experiment_assignments", {
        "experiment_id": pd.Series([EXPERIMENT_ID] * n, dtype="str"),
        "customer_id": take(cust_ids, exp["person"][users]),
        "variant": take(vocab(VARIANTS), exp["arm"][users]),
        "assigned_at": timestamps(exp["assigned"][users], clock),
    })  # fmt: skip
