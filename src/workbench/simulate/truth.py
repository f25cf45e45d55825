"""The ground-truth tables (``_truth/``) and the summary, from the drawn world.

Each ``truth_*`` function builds one frame; :mod:`workbench.simulate` documents what each
file holds. Customer ids are those of ``customers``; a person's traits are written on
their own (first) account, and on a second account where the file is per account.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.simulate.clock import DAY, FUTURE_DAYS, HORIZON_DAYS, Clock
from workbench.simulate.columns import take, timestamps, vocab
from workbench.simulate.email import CAMPAIGN_KINDS, EMAIL_TYPES
from workbench.simulate.experiment import GROUPS, TREATMENTS, VARIANTS
from workbench.simulate.faults import FAULT_TYPES
from workbench.simulate.ids import id_array, id_series, id_width
from workbench.simulate.orders import COMPLETED_SHARE, expected_orders, organic_rate
from workbench.simulate.people import expected_basket
from workbench.simulate.personas import CATEGORIES, PERSONAS, persona_param

__all__ = [
    "DATA_VERSION",
    "summary",
    "truth_bought_together",
    "truth_campaigns",
    "truth_clv",
    "truth_customers",
    "truth_duplicates",
    "truth_experiment_users",
    "truth_future_items",
    "truth_future_orders",
    "truth_machine_opens",
    "truth_persona_products",
    "truth_product_affinity",
    "truth_replenishment",
    "truth_uplift",
]

#: Changes whenever the same arguments would draw different data (summary.json says which,
#: so a folder of older demo data can be told apart).
DATA_VERSION = 2

_PERSONA_NAMES = vocab([p.name for p in PERSONAS])


def truth_customers(
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Per row of ``customers``: persona, churn date, duplicate link and e-mail traits."""
    real = np.flatnonzero(accounts["kind"] < 2)
    rows = real[np.argsort(accounts["number"][real], kind="stable")]
    person = accounts["person"][rows]
    churn = people["churn"][person]
    dup_of = np.where(accounts["kind"][rows] == 1, person, -1)
    return pd.DataFrame({
        "customer_id": take(cust_ids, rows),
        "persona": take(_PERSONA_NAMES, people["persona"][person]),
        "churn_date": timestamps(churn, clock, churn > clock.future_s),
        "churned": churn <= clock.end_s,
        "is_duplicate_of": take(cust_ids, dup_of),
        "preferred_open_hour": people["hour"][person],
        "machine_opener": people["machine"][person],
        "reads_marketing_email": people["reads"][person],
    })  # fmt: skip


def truth_duplicates(accounts: dict[str, np.ndarray], cust_ids: pa.Array) -> pd.DataFrame:
    """Second accounts and the first account of the same person."""
    rows = np.flatnonzero(accounts["kind"] == 1)
    rows = rows[np.argsort(accounts["number"][rows], kind="stable")]
    return pd.DataFrame({"duplicate_id": take(cust_ids, rows),
                         "original_id": take(cust_ids, accounts["person"][rows])})  # fmt: skip


def _future_width(future: dict[str, np.ndarray]) -> int:
    return id_width("O", int(future["number"].max()) if len(future["number"]) else 1)


def truth_future_orders(
    future: dict[str, np.ndarray], cust_ids: pa.Array, clock: Clock
) -> pd.DataFrame:
    """Completed orders of the FUTURE_DAYS after ``end``, numbered after the history's."""
    rows = np.lexsort((future["number"],))
    return pd.DataFrame({
        "customer_id": take(cust_ids, future["account"][rows]),
        "order_id": id_series("O", future["number"][rows], _future_width(future)),
        "ordered_at": timestamps(future["t"][rows], clock),
        "amount": future["amount"][rows] / 100.0,
        "replenishment": future["fixed"][rows] >= 0,
    })  # fmt: skip


def truth_future_items(
    future: dict[str, np.ndarray], items: dict[str, np.ndarray], prod_ids: pa.Array
) -> pd.DataFrame:
    """The lines of the future orders (as ``order_items`` without a line id)."""
    return pd.DataFrame({
        "order_id": id_series("O", future["number"][items["order"]], _future_width(future)),
        "product_id": take(prod_ids, items["product"]),
        "quantity": items["qty"].astype(np.float64),
        "unit_price": items["unit"] / 100.0,
    })  # fmt: skip


def truth_experiment_users(
    people: dict[str, np.ndarray],
    exp: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Per assigned user: arm, persona, group, true probability and expected revenue in
    their arm, outcome and the outcome's order."""
    users = np.flatnonzero(exp["arm"] >= 0)
    person = exp["person"][users]
    rows = np.argsort(cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False), kind="stable")
    users, person = users[rows], person[rows]
    arm = exp["arm"][users]
    exp_rows = np.flatnonzero(orders["is_exp"])
    order_of = np.full(len(people["persona"]), -1, dtype=np.int64)
    order_of[orders["person"][exp_rows]] = exp_rows
    o = order_of[person]
    ow = id_width("O", len(orders["t"]))
    amount = np.where(o >= 0, orders["amount"][np.maximum(o, 0)] / 100.0, np.nan)
    return pd.DataFrame({
        "customer_id": take(cust_ids, person),
        "variant": take(vocab(VARIANTS), arm),
        "persona": take(_PERSONA_NAMES, people["persona"][person]),
        "group": take(vocab(GROUPS), exp["group"][users]),
        "assigned_at": timestamps(exp["assigned"][users], clock),
        "p_conversion": exp["p"][users, arm],
        "expected_revenue": exp["revenue"][users, arm],
        "converted": exp["converted"][users],
        "order_id": take(id_array("O", orders["number"], ow), o),
        "amount": amount,
    })  # fmt: skip


def truth_uplift(
    people: dict[str, np.ndarray],
    exp: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Per eligible person (assigned or not): the visible features the effects depend
    on, group, true probabilities and expected revenues in every arm, the true uplifts,
    the best arm, and the outcome (missing when not assigned)."""
    person = exp["person"]
    rows = np.argsort(cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False), kind="stable")
    e = {k: v[rows] for k, v in exp.items() if isinstance(v, np.ndarray) and len(v) == len(rows)}
    person, arm = e["person"], e["arm"]
    assigned = arm >= 0
    exp_rows = np.flatnonzero(orders["is_exp"])
    revenue = np.zeros(len(people["persona"]))
    revenue[orders["person"][exp_rows]] = orders["amount"][exp_rows] / 100.0
    cols: dict[str, Any] = {
        "customer_id": take(cust_ids, person),
        "variant": take(vocab(VARIANTS), np.where(assigned, arm, -1)),
        "assigned_at": timestamps(e["assigned"], clock),
        "persona": take(_PERSONA_NAMES, people["persona"][person]),
        "group": take(vocab(GROUPS), e["group"]),
        "alive": e["alive"],
        "recency_days": e["recency_days"],
        "orders_365d": e["orders_365d"].astype(np.int64),
        "reactions_90d": e["reactions_90d"].astype(np.int64),
        "sends_90d": e["sends_90d"].astype(np.int64),
    }
    for a, v in enumerate(VARIANTS):
        cols[f"p_{v}"] = e["p"][:, a]
    for a, v in enumerate(TREATMENTS, start=1):
        cols[f"true_uplift_{v}"] = e["p"][:, a] - e["p"][:, 0]
    for a, v in enumerate(VARIANTS):
        cols[f"expected_revenue_{v}"] = e["revenue"][:, a]
    for a, v in enumerate(TREATMENTS, start=1):
        cols[f"true_revenue_uplift_{v}"] = e["revenue"][:, a] - e["revenue"][:, 0]
    cols["true_best_arm"] = _best(e["p"])
    cols["true_best_arm_revenue"] = _best(e["revenue"])
    cols["converted"] = pd.arrays.BooleanArray(e["converted"] & assigned, ~assigned)
    cols["revenue"] = np.where(assigned, revenue[person], np.nan)
    return pd.DataFrame(cols)


def _best(values: np.ndarray) -> pd.Series:
    """The treatment with the largest positive gain over control per row, else missing."""
    gain = values[:, 1:] - values[:, :1]
    best = np.argmax(gain, axis=1)
    code = np.where(gain.max(axis=1) > 1e-12, best, -1)
    return take(vocab(TREATMENTS), code)


def truth_product_affinity(
    tastes: dict[str, np.ndarray], cust_ids: pa.Array, prod_ids: pa.Array
) -> pd.DataFrame:
    """Each person's favourites (share of their order lines) and replenished products."""
    fav_p, rep_p = tastes["fav_person"], tastes["rep_person"]
    person = np.concatenate([fav_p, rep_p])
    product = np.concatenate([tastes["fav_product"], tastes["rep_product"]])
    kind = np.concatenate([np.zeros(len(fav_p), np.int8), np.ones(len(rep_p), np.int8)])
    share = np.concatenate([tastes["fav_share"][fav_p] * tastes["fav_weight"],
                            np.full(len(rep_p), np.nan)])  # fmt: skip
    cycle = np.concatenate([np.full(len(fav_p), np.nan), tastes["rep_cycle"]])
    number = cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False)
    rows = np.lexsort((-np.nan_to_num(share, nan=2.0), kind, number))
    return pd.DataFrame({
        "customer_id": take(cust_ids, person[rows]),
        "product_id": take(prod_ids, product[rows]),
        "kind": take(vocab(["favourite", "replenishment"]), kind[rows]),
        "line_share": share[rows],
        "cycle_days": cycle[rows],
    })  # fmt: skip


def truth_replenishment(
    tastes: dict[str, np.ndarray], cust_ids: pa.Array, prod_ids: pa.Array
) -> pd.DataFrame:
    """Replenishment habits: customer, product, mean days between purchases."""
    person = tastes["rep_person"]
    number = cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False)
    rows = np.lexsort((tastes["rep_product"], number))
    return pd.DataFrame({"customer_id": take(cust_ids, person[rows]),
                         "product_id": take(prod_ids, tastes["rep_product"][rows]),
                         "cycle_days": tastes["rep_cycle"][rows]})  # fmt: skip


def truth_bought_together(products: dict[str, np.ndarray], prod_ids: pa.Array) -> pd.DataFrame:
    """Planted pairs: a line of ``product_a`` brings ``product_b`` into the same order
    with probability ``p_b_given_a``."""
    return pd.DataFrame({"product_a": take(prod_ids, products["pair_anchor"]),
                         "product_b": take(prod_ids, products["pair_partner"]),
                         "p_b_given_a": products["pair_prob"]})  # fmt: skip


def truth_persona_products(products: dict[str, np.ndarray], prod_ids: pa.Array) -> pd.DataFrame:
    """Each persona's taste for each product, as its share within the product's category
    when price plays no part (web views; order lines also weigh the price)."""
    w = products["persona_weight"]
    cat = products["cat"].astype(np.int64)
    total = np.stack([np.bincount(cat, weights=row, minlength=len(CATEGORIES)) for row in w])
    share = w / total[:, cat]
    n_p, n_prod = share.shape
    rows = np.argsort(products["number"], kind="stable")
    return pd.DataFrame({
        "persona": take(_PERSONA_NAMES, np.repeat(np.arange(n_p), n_prod)),
        "product_id": take(prod_ids, np.tile(rows, n_p)),
        "category": take(vocab(CATEGORIES), np.tile(cat[rows], n_p)),
        "share_in_category": share[:, rows].ravel(),
    })  # fmt: skip


def truth_machine_opens(email: dict[str, np.ndarray], cust_ids: pa.Array) -> pd.DataFrame:
    """Event ids (and customers) of the opens a mail client made by itself."""
    rows = np.flatnonzero(email["machine"])
    n = len(email["t"])
    return pd.DataFrame({"event_id": id_series("E", rows + 1, id_width("E", n)),
                         "customer_id": take(cust_ids, email["account"][rows])})  # fmt: skip


def truth_campaigns(email: dict[str, np.ndarray], clock: Clock) -> pd.DataFrame:
    """Campaign id, kind and the time its first send was scheduled."""
    k = int(email["n_campaigns"])
    return pd.DataFrame({
        "campaign_id": id_series("CMP", np.arange(1, k + 1), id_width("CMP", k)),
        "kind": take(vocab(CAMPAIGN_KINDS), email["campaign_kind"]),
        "scheduled_at": timestamps(email["campaign_start"], clock),
    })  # fmt: skip


def truth_clv(
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    value_ratio: np.ndarray,
    cust_ids: pa.Array,
    clock: Clock,
) -> pd.DataFrame:
    """Per row of ``customers``: expected completed orders and revenue after ``end``.

    ``expected_purchases_<h>d`` knows the true churn date (what remains is Poisson and
    renewal noise); ``..._given_alive`` knows only whether the customer is alive at
    ``end`` (remaining lifetime exponential with the persona's mean). A person with a
    second account has half of each on either account. ``expected_order_value`` is the
    person's mean target value times their persona's ``value_ratio`` (amount over target
    of all its orders: lines move an order's amount from its target).
    """
    n = len(people["persona"])
    real = np.flatnonzero(accounts["kind"] < 2)
    rows = real[np.argsort(accounts["number"][real], kind="stable")]
    person = accounts["person"][rows]
    split = np.where(people["dup_account"][person] >= 0, 0.5, 1.0)
    alive = people["churn"][person] > clock.end_s
    end = np.full(n, clock.end_s, dtype=np.int64)
    basket = (expected_basket(people, np.arange(n)) * value_ratio[people["persona"]])[person]
    habit = np.bincount(tastes["rep_person"], weights=1 / tastes["rep_cycle"], minlength=n)
    per_year = (organic_rate(people, tastes) + habit) * 365.25 * COMPLETED_SHARE
    cols: dict[str, Any] = {
        "customer_id": take(cust_ids, rows),
        "alive_at_end": alive,
        "purchases_per_year": np.where(alive, per_year[person] * split, 0.0),
        "expected_order_value": basket,
    }
    mean_life = persona_param("mean_lifetime_days")[people["persona"]]
    for h in (FUTURE_DAYS, HORIZON_DAYS):
        stop = np.minimum(people["churn"], end + h * DAY)
        known = expected_orders(people, tastes, end, stop, clock) * COMPLETED_SHARE
        blind = _given_alive(people, tastes, mean_life, h, clock) * COMPLETED_SHARE
        cols[f"expected_purchases_{h}d"] = known[person] * split
        cols[f"expected_purchases_{h}d_given_alive"] = np.where(alive, blind[person] * split, 0)
        cols[f"expected_revenue_{h}d"] = cols[f"expected_purchases_{h}d"] * basket
    return pd.DataFrame(cols)


def _given_alive(
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    mean_life: np.ndarray,
    days: int,
    clock: Clock,
) -> np.ndarray:
    """Expected orders in ``days`` after ``end`` of a person alive at ``end`` whose
    remaining lifetime is exponential with mean ``mean_life`` days."""
    first = int(clock.end_s // DAY)
    season = np.diff(clock.cum)[first : first + days]  # intensity per day after end
    d = np.arange(days) + 0.5
    n = len(people["persona"])
    habit = np.bincount(tastes["rep_person"], weights=1 / tastes["rep_cycle"], minlength=n)
    organic = organic_rate(people, tastes)
    out = np.empty(n)
    for life in np.unique(mean_life):
        rows = mean_life == life
        survive = np.exp(-d / life)
        out[rows] = organic[rows] * (season * survive).sum() + habit[rows] * survive.sum()
    return out


def _day_or_iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()


def summary(world: dict[str, Any], clock: Clock, seed: int) -> dict[str, Any]:
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
        "experiment_assignments": int((world["exp"]["arm"] >= 0).sum()),
    }
    email_types = np.bincount(world["email"]["type"], minlength=len(EMAIL_TYPES))
    return {
        "data_version": DATA_VERSION,
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
        "email_events": {t: int(c) for t, c in zip(EMAIL_TYPES, email_types, strict=True)},
        "machine_opens": int(world["email"]["machine"].sum()),
        "future_orders": len(world["future"]["t"]),
        "faults": {f: int(by_fault.get(f, 0)) for f in FAULT_TYPES},
    }
