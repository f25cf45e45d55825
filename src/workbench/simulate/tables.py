"""From the drawn world to the canonical tables, the truth tables and the summary.

:func:`emit` yields ``(kind, name, object)`` for every output: the JSON-able truth
(``experiment``, ``summary``), the truth frames and then each canonical table, typed as
:mod:`workbench.schema` declares and built column by column so that the arrays it came
from can be released (:func:`trim_heap` hands the freed memory back).
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
from workbench.simulate.clock import Clock
from workbench.simulate.events import EMAIL_TYPES, WEB_TYPES
from workbench.simulate.experiment import EXPERIMENT_ID, VARIANTS, experiment_truth
from workbench.simulate.faults import FAULT_TYPES
from workbench.simulate.ids import id_array, id_series, id_width
from workbench.simulate.orders import CHANNELS, STATUSES
from workbench.simulate.personas import CATEGORIES, PERSONAS
from workbench.simulate.products import PRODUCTS_PER_CATEGORY

__all__ = ["emit", "trim_heap"]


def trim_heap() -> None:
    """Return freed heap pages to the system (glibc only; elsewhere a no-op).

    Generation frees many large temporaries; without this, fragmentation keeps the
    resident size well above the live data at a million customers.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _take(values: pa.Array, index: np.ndarray) -> pd.Series:
    """``values[index]`` as a pandas ``str`` series; negative indexes give missing values."""
    index = np.asarray(index, dtype=np.int64)
    mask = index < 0
    taken = values.take(pa.array(np.where(mask, 0, index), mask=mask if mask.any() else None))
    return pd.Series(taken, dtype="str")


def _vocab(words: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(words), type=pa.large_string())


def _strings(values: np.ndarray) -> pd.Series:
    return pd.Series(pa.array(values, type=pa.large_string(), from_pandas=True), dtype="str")


def _ts(seconds: np.ndarray, clock: Clock, missing: np.ndarray | None = None) -> pd.Series:
    us = clock.to_us(np.asarray(seconds))
    if missing is not None:
        us = np.where(missing, np.iinfo(np.int64).min, us)
    return pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC")


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
    cust_ids = id_array("C", accounts["number"], id_width("C", accounts["number"].max()))
    prod_ids = id_array("P", world["products"]["number"], id_width("P", PRODUCTS_PER_CATEGORY * 8))
    exp_users = world["exp_users"]
    yield "meta", "experiment", experiment_truth(people, exp_users, clock)
    yield "meta", "summary", _summary(world, clock, seed)
    yield "truth", "customers", _truth_customers(people, accounts, cust_ids, clock)
    yield "truth", "faults", world.pop("faults")
    yield "truth", "duplicates", _truth_duplicates(accounts, cust_ids)
    yield "truth", "future_orders", _truth_future(world.pop("future"), accounts, cust_ids, clock)
    yield "truth", "experiment_users", _truth_experiment_users(people, exp_users, orders,
                                                               cust_ids, clock)  # fmt: skip
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
    yield (
        "table",
        "experiment_assignments",
        _assignments_table(exp_users, accounts, cust_ids, clock),
    )


def _customers_table(
    accounts: dict[str, np.ndarray], recs: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock
) -> pd.DataFrame:
    n_rec = len(recs["email"])
    rows = np.argsort(accounts["number"][:n_rec], kind="stable")
    return _frame("customers", {
        "customer_id": _take(cust_ids, rows),
        "email": _strings(recs["email"][rows]),
        "first_name": _strings(recs["first"][rows]),
        "last_name": _strings(recs["last"][rows]),
        "birth_date": _ts(recs["birth"][rows], clock, recs["birth_missing"][rows]),
        "gender": _strings(recs["gender"][rows]),
        "country": _strings(recs["country"][rows]),
        "city": _strings(recs["city"][rows]),
        "signup_at": _ts(accounts["signup"][rows], clock),
        "signup_channel": _strings(recs["channel"][rows]),
        "email_opt_in": pd.array(recs["opt_in"][rows], dtype="boolean"),
    })  # fmt: skip


def _orders_table(orders: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock) -> pd.DataFrame:
    rows = _with_repeats(len(orders["t"]), orders["repeat"])
    ow = id_width("O", len(orders["t"]))
    return _frame("orders", {
        "order_id": id_series("O", orders["number"][rows], ow),
        "customer_id": _take(cust_ids, orders["account"][rows]),
        "ordered_at": _ts(orders["t"][rows], clock),
        "amount": orders["amount"][rows] / 100.0,
        "status": _take(_vocab(STATUSES), orders["status"][rows]),
        "channel": _take(_vocab(CHANNELS), orders["channel"][rows]),
    })  # fmt: skip


def _items_table(items: dict[str, np.ndarray], n_orders: int, prod_ids: pa.Array) -> pd.DataFrame:
    n = len(items["order"])
    return _frame("order_items", {
        "line_id": id_series("L", np.arange(1, n + 1), id_width("L", n)),
        "order_id": id_series("O", items["order"] + 1, id_width("O", n_orders)),  # orders are numbered 1..n
        "product_id": _take(prod_ids, items["product"]),
        "quantity": items["qty"].astype(np.float64),
        "unit_price": items["unit"] / 100.0,
    })  # fmt: skip


def _products_table(products: dict[str, np.ndarray], prod_ids: pa.Array) -> pd.DataFrame:
    rows = np.argsort(products["number"], kind="stable")
    return _frame("products", {
        "product_id": _take(prod_ids, rows),
        "category": _take(_vocab(CATEGORIES), products["cat"][rows]),
        "name": _strings(products["name"][rows]),
        "price": products["cents"][rows] / 100.0,
    })  # fmt: skip


def _email_table(email: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock) -> pd.DataFrame:
    """Built column by column, releasing each source array as soon as it is used."""
    n = len(email["t"])
    n_campaigns = int(email["n_campaigns"])
    campaigns = id_array("CMP", np.arange(1, n_campaigns + 1), id_width("CMP", n_campaigns))
    return _frame("email_events", {
        "event_id": id_series("E", email.pop("number"), id_width("E", n)),
        "customer_id": _take(cust_ids, email.pop("account")),
        "campaign_id": _take(campaigns, email.pop("campaign")),
        "event_type": _take(_vocab(EMAIL_TYPES), email.pop("type")),
        "occurred_at": _ts(email.pop("t"), clock),
    })  # fmt: skip


def _web_table(
    web: dict[str, np.ndarray], cust_ids: pa.Array, prod_ids: pa.Array, clock: Clock
) -> pd.DataFrame:
    """Built column by column, releasing each source array as soon as it is used."""
    n = len(web["t"])
    rows = _with_repeats(n, web.pop("repeat"))
    sw = id_width("S", web["session"].max() if n else 1)
    return _frame("web_events", {
        "event_id": id_series("W", web.pop("number")[rows], id_width("W", n)),
        "session_id": id_series("S", web.pop("session")[rows], sw),
        "customer_id": _take(cust_ids, web.pop("account")[rows]),
        "event_type": _take(_vocab(WEB_TYPES), web.pop("type")[rows]),
        "product_id": _take(prod_ids, web.pop("product")[rows]),
        "occurred_at": _ts(web.pop("t")[rows], clock),
    })  # fmt: skip


def _assignments_table(
    exp_users: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    rows = np.argsort(accounts["number"][exp_users["person"]], kind="stable")
    n = len(rows)
    return _frame("experiment_assignments", {
        "experiment_id": pd.Series([EXPERIMENT_ID] * n, dtype="str"),
        "customer_id": _take(cust_ids, exp_users["person"][rows]),
        "variant": _take(_vocab(VARIANTS), exp_users["arm"][rows]),
        "assigned_at": _ts(exp_users["assigned"][rows], clock),
    })  # fmt: skip


def _truth_customers(
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Persona, churn date and duplicate link of every row of ``customers``."""
    real = np.flatnonzero(accounts["kind"] < 2)
    rows = real[np.argsort(accounts["number"][real], kind="stable")]
    person = accounts["person"][rows]
    churn = people["churn"][person]
    dup_of = np.where(accounts["kind"][rows] == 1, person, -1)
    return pd.DataFrame({
        "customer_id": _take(cust_ids, rows),
        "persona": _take(_vocab([p.name for p in PERSONAS]), people["persona"][person]),
        "churn_date": _ts(churn, clock, churn > clock.future_s),
        "churned": churn <= clock.end_s,
        "is_duplicate_of": _take(cust_ids, dup_of),
    })  # fmt: skip


def _truth_duplicates(accounts: dict[str, np.ndarray], cust_ids: pa.Array) -> pd.DataFrame:
    rows = np.flatnonzero(accounts["kind"] == 1)
    rows = rows[np.argsort(accounts["number"][rows], kind="stable")]
    return pd.DataFrame({"duplicate_id": _take(cust_ids, rows),
                         "original_id": _take(cust_ids, accounts["person"][rows])})  # fmt: skip


def _truth_future(
    future: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    rows = np.lexsort((accounts["number"][future["account"]], future["t"]))
    return pd.DataFrame({
        "customer_id": _take(cust_ids, future["account"][rows]),
        "ordered_at": _ts(future["t"][rows], clock),
        "amount": future["target"][rows] / 100.0,
    })  # fmt: skip


def _truth_experiment_users(
    people: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Per assigned user: arm, persona, true probability and expected revenue, outcome."""
    person = exp_users["person"]
    rows = np.argsort(cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False), kind="stable")
    exp_rows = np.flatnonzero(orders["is_exp"])
    order_of = np.full(len(people["persona"]), -1, dtype=np.int64)
    order_of[orders["person"][exp_rows]] = exp_rows
    o = order_of[person[rows]]
    ow = id_width("O", len(orders["t"]))
    amount = np.where(o >= 0, orders["amount"][np.maximum(o, 0)] / 100.0, np.nan)
    return pd.DataFrame({
        "customer_id": _take(cust_ids, person[rows]),
        "variant": _take(_vocab(VARIANTS), exp_users["arm"][rows]),
        "persona": _take(_vocab([p.name for p in PERSONAS]), people["persona"][person[rows]]),
        "assigned_at": _ts(exp_users["assigned"][rows], clock),
        "p_conversion": exp_users["p"][rows],
        "expected_revenue": exp_users["revenue"][rows],
        "converted": exp_users["converted"][rows],
        "order_id": _take(id_array("O", orders["number"], ow), o),
        "amount": amount,
    })  # fmt: skip


def _day_or_iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()


def _summary(world: dict[str, Any], clock: Clock, seed: int) -> dict[str, Any]:
    """Seed, period, rows per table, persona shares and fault counts."""
    persona = world["people"]["persona"]
    counts = np.bincount(persona, minlength=len(PERSONAS))
    by_fault = world["faults"]["fault"].value_counts()
    rows = {
        "customers": len(world["recs"]["email"]),
        "orders": len(world["orders"]["t"]) + len(world["orders"]["repeat"]),
        "order_items": len(world["items"]["order"]),
        "products": len(world["products"]["number"]),
        "email_events": len(world["email"]["t"]),
        "web_events": len(world["web"]["t"]) + len(world["web"]["repeat"]),
        "experiment_assignments": len(world["exp_users"]["person"]),
    }
    return {
        "seed": int(seed),
        "customers": rows["customers"],
        "people": len(persona),
        "start": _day_or_iso(clock.start),
        "end": _day_or_iso(clock.end),  # as `workbench demo-data --end` takes it
        "years": round((clock.end - clock.start) / pd.Timedelta(days=365.25), 4),
        "rows": rows,
        "persona_shares": {
            p.name: round(float(c / counts.sum()), 6) for p, c in zip(PERSONAS, counts, strict=True)
        },
        "faults": {f: int(by_fault.get(f, 0)) for f in FAULT_TYPES},
    }
