"""Planted data-quality faults and their log.

:func:`plant_order_faults` (before the web sessions are drawn, so tracked purchases only
follow clean orders) and :func:`plant_faults` (customers, order lines, events) change the
drawn arrays in place at the rates of :data:`FAULT_RATES` and record every faulty cell or
row in a :class:`FaultLog`, which becomes ``_truth/faults``. :data:`FAULT_TYPES` are the
fault names that log uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.simulate.clock import DAY, Clock, iso
from workbench.simulate.email import number_email_events
from workbench.simulate.ids import format_ids, id_width

__all__ = ["FAULT_RATES", "FAULT_TYPES", "FaultLog", "plant_faults", "plant_order_faults"]

FAULT_TYPES = (
    "duplicate_customer",
    "invalid_email",
    "orphan_order",
    "outlier_amount",
    "future_timestamp",
    "negative_quantity",
    "missing_value",
    "duplicate_row",
    "before_signup",
)

FAULT_RATES = {  # share of rows of the table that carry the fault
    "duplicate_customer": 0.02,
    "invalid_email": 0.005,
    "orphan_order": 0.003,
    "outlier_amount": 0.001,
    "future_order": 0.001,
    "before_signup": 0.001,
    "duplicate_order": 0.001,
    "missing_order_channel": 0.005,
    "negative_quantity": 0.002,
    "duplicate_web": 0.002,
    "future_event": 0.001,
}
_MISSING_CUSTOMER = {"country": 0.01, "birth_date": 0.015, "email": 0.01, "signup_channel": 0.02}


class FaultLog:
    """Collects planted faults as (table, key, column, fault, detail) rows."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self, table: str, keys: np.ndarray, column: str | None, fault: str, detail: Any
    ) -> None:
        if len(keys) == 0:
            return
        detail = np.broadcast_to(np.asarray(detail, dtype=object), (len(keys),))
        self.parts.append(pd.DataFrame({"table": table, "key": keys, "column": column,
                                        "fault": fault, "detail": detail}))  # fmt: skip

    def frame(self) -> pd.DataFrame:
        out = pd.concat(self.parts, ignore_index=True).astype("str")
        out = out.sort_values(["table", "fault", "key", "column"], kind="stable", ignore_index=True)
        return out


def _count(rate_key: str, n: int) -> int:
    return min(n, max(1, round(FAULT_RATES[rate_key] * n))) if n else 0


def plant_faults(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    recs: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    web: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    touched: np.ndarray,
    clock: Clock,
    log_: FaultLog,
) -> None:
    """Plant the faults of customers, order lines and events in place (orders: see
    :func:`plant_order_faults`). Each row carries at most one fault (blanks aside), and
    faults are chosen so that each stays detectable."""
    cw = id_width("C", accounts["number"].max())
    _customer_faults(rng, people, accounts, recs, exp_users, cw, log_)
    _item_faults(rng, touched, items, log_)
    number_email_events(email)
    for table, prefix, events in (("web_events", "W", web), ("email_events", "E", email)):
        _event_faults(rng, table, prefix, events, clock, log_)


def _customer_faults(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    recs: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    cw: int,
    log_: FaultLog,
) -> None:
    """Second accounts, invalid e-mails and blanks in customers."""
    n = len(people["persona"])
    ids = format_ids("C", accounts["number"][: len(recs["email"])], cw)
    dups = np.arange(n, len(recs["email"]))
    log_.add("customers", ids[dups], None, "duplicate_customer",
             "second account of " + ids[accounts["person"][dups]] + ": " + recs["dup_detail"])  # fmt: skip
    log_.add("customers", ids[dups[recs["birth_missing"][dups]]], "birth_date", "missing_value",
             "second account without birth date")  # fmt: skip
    in_exp = np.zeros(n, dtype=bool)
    in_exp[exp_users["person"][exp_users["arm"] >= 0]] = True
    free = np.flatnonzero((people["dup_account"] < 0) & ~in_exp)
    pool = rng.permutation(free)
    k_invalid = _count("invalid_email", len(recs["email"]))
    bad, pool = pool[:k_invalid], pool[k_invalid:]
    kinds = rng.choice(["missing @", "space inside", "missing domain", "double @", "no dot in domain"],
                       size=len(bad))  # fmt: skip
    for row, kind in zip(bad, kinds, strict=True):
        recs["email"][row] = _break_email(recs["email"][row], kind)
    log_.add("customers", ids[bad], "email", "invalid_email", kinds)
    for column, rate in _MISSING_CUSTOMER.items():
        k = min(len(pool), max(1, round(rate * len(recs["email"]))))
        rows, pool = pool[:k], pool[k:]
        if column == "birth_date":
            recs["birth_missing"][rows] = True
        else:
            recs[{"signup_channel": "channel"}.get(column, column)][rows] = None
        log_.add("customers", ids[rows], column, "missing_value", "blank")


def _break_email(email: str, kind: str) -> str:
    local, domain = email.split("@")
    if kind == "missing @":
        return local + domain
    if kind == "space inside":
        cut = max(1, len(local) // 2)
        return local[:cut] + " " + local[cut:] + "@" + domain
    if kind == "missing domain":
        return local + "@"
    if kind == "double @":
        return local + "@@" + domain
    return local + "@" + domain.split(".")[0]


def plant_order_faults(
    rng: np.random.Generator,
    accounts: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    clock: Clock,
    log_: FaultLog,
) -> np.ndarray:
    """Orphans, outliers, future and pre-sign-up dates, blank channels, repeated rows.

    Experiment orders are left alone. Outliers are drawn among the orders worth at least
    the median (50 to 200 times a small order could still look ordinary). Returns a mask
    of the orders that carry a fault (their lines and web sessions stay clean).
    """
    n = len(orders["t"])
    cw = id_width("C", accounts["number"].max())
    ow = id_width("O", n)
    pool = rng.permutation(np.flatnonzero(~orders["is_exp"]))
    median = np.median(orders["amount"][pool]) if len(pool) else 0
    picked: dict[str, np.ndarray] = {}
    for name in ("orphan_order", "outlier_amount", "future_order", "before_signup",
                 "duplicate_order", "missing_order_channel"):  # fmt: skip
        k = _count(name, n)
        take = np.arange(len(pool))
        if name == "outlier_amount":
            take = np.flatnonzero(orders["amount"][pool] >= median)
        chosen = np.zeros(len(pool), dtype=bool)
        chosen[take[:k]] = True
        picked[name], pool = np.sort(pool[chosen]), pool[~chosen]

    def ids(rows: np.ndarray) -> np.ndarray:
        return format_ids("O", orders["number"][rows], ow)

    rows = picked["orphan_order"]
    ghosts = np.flatnonzero(accounts["kind"] == 2)
    old = format_ids("C", accounts["number"][orders["account"][rows]], cw)
    orders["account"][rows] = rng.choice(ghosts, size=len(rows))
    log_.add("orders", ids(rows), "customer_id", "orphan_order", "was " + old)

    rows = picked["outlier_amount"]
    factor = rng.uniform(50, 200, len(rows))
    lines = orders["amount"][rows]
    orders["amount"][rows] = np.round(lines * factor).astype(np.int64)
    detail = [f"x{f:.1f}; lines sum {c / 100:.2f}" for f, c in zip(factor, lines, strict=True)]
    log_.add("orders", ids(rows), "amount", "outlier_amount", np.array(detail, dtype=object))

    rows = picked["future_order"]
    was = iso(orders["t"][rows], clock)
    orders["t"][rows] = clock.end_s + rng.integers(30 * DAY, 3 * 365 * DAY, len(rows))
    log_.add("orders", ids(rows), "ordered_at", "future_timestamp", "was " + was)

    rows = picked["before_signup"]
    signup = accounts["signup"][orders["account"][rows]]
    was = iso(orders["t"][rows], clock)
    orders["t"][rows] = signup - rng.integers(3600, 180 * DAY, len(rows))
    log_.add("orders", ids(rows), "ordered_at", "before_signup",
             "signup_at " + iso(signup, clock) + "; was " + was)  # fmt: skip

    rows = picked["missing_order_channel"]
    orders["channel"][rows] = -1
    log_.add("orders", ids(rows), "channel", "missing_value", "blank")

    rows = picked["duplicate_order"]
    orders["repeat"] = rows
    log_.add("orders", ids(rows), None, "duplicate_row", "row appears twice")
    touched = np.zeros(n, dtype=bool)
    for rows in picked.values():
        touched[rows] = True
    return touched


def _item_faults(
    rng: np.random.Generator, touched: np.ndarray, items: dict[str, np.ndarray], log_: FaultLog
) -> None:
    """Negative quantities on lines of clean, completed, non-experiment orders."""
    order = items["order"]
    ok = items["clean"][order] & ~touched[order]
    k = _count("negative_quantity", len(order))
    rows = np.sort(rng.choice(np.flatnonzero(ok), size=min(k, int(ok.sum())), replace=False))
    detail = np.array(
        [f"quantity was {q}; order completed" for q in items["qty"][rows]], dtype=object
    )
    items["qty"][rows] = -items["qty"][rows]
    lw = id_width("L", len(order))
    log_.add("order_items", format_ids("L", rows + 1, lw), "quantity", "negative_quantity", detail)


def _event_faults(
    rng: np.random.Generator,
    table: str,
    prefix: str,
    events: dict[str, np.ndarray],
    clock: Clock,
    log_: FaultLog,
) -> None:
    """Future timestamps on events (both tables) and repeated rows (web events)."""
    n = len(events["t"])
    width = id_width(prefix, n)
    pool = rng.permutation(n)
    k = _count("future_event", n)
    rows, pool = np.sort(pool[:k]), pool[k:]
    was = iso(events["t"][rows], clock)
    events["t"][rows] = clock.end_s + rng.integers(30 * DAY, 3 * 365 * DAY, len(rows))
    log_.add(table, format_ids(prefix, rows + 1, width), "occurred_at",
             "future_timestamp", "was " + was)  # fmt: skip
    events["repeat"] = np.zeros(0, dtype=np.int64)
    if table == "web_events":
        rows = np.sort(pool[: _count("duplicate_web", n)])
        events["repeat"] = rows
        log_.add(table, format_ids(prefix, rows + 1, width), None, "duplicate_row",
                 "row appears twice")  # fmt: skip
