"""The A/B/n experiment ``exp_personalised_recs`` and its heterogeneous true effects.

Two e-mails against control (as in the Hillstrom e-mail test): ``personalised``
(recommendations; orders 8 % larger) and ``discount`` (10 % off; orders 10 % smaller).
:func:`assign_experiment` draws, for every person, an assignment time in the
:data:`ASSIGN_DAYS` before the last window closes; the **eligible** are the people who
have signed up, opted in and not unsubscribed or bounced by then (alive or not: a
marketer cannot tell), without a second account; :data:`PARTICIPATION` of them are
assigned, a third to each arm. Each assigned user's orders in the
:data:`WINDOW_DAYS`-day window after assignment are replaced by the experiment's outcome:
one completed order with the user's true probability in their arm.

The true probabilities (``p_control`` and one per treatment) depend on what a marketer
could see at assignment — each customer's completed orders and e-mail reactions before
their own ``assigned_at`` — and on the persona (:data:`GROUPS`, first rule that holds):

* ``sleeping_dog``: at least 3 completed orders in the 365 days before, no open or click
  in the 90 days before although at least 3 e-mails were sent: either e-mail lowers the
  probability by :data:`SLEEPING_DOG_EFFECT` (relative);
* ``sure_thing``: persona ``loyal_high_value`` — a high base rate and no effect of either
  e-mail (a response model ranks them first, wrongly);
* ``persuadable``: last completed order 30–180 days before, and an open or click in the
  90 days before: the persona's relative lift plus :data:`PERSUADABLE_BONUS` (relative);
* ``other``: the persona's relative lift (``Persona.exp_relative_lift`` for
  ``personalised``, ``Persona.exp_discount_lift`` for ``discount``).

``p_control`` is the persona's ``exp_control_rate`` times the square root of the person's
order-rate multiplier, times the share of the window the person is alive (0 for the
churned). Expected revenue is the probability times the person's mean order value times
the arm's :data:`REVENUE_MULTIPLIER`. :func:`experiment_truth` summarises the effects the
sample should show (``_truth/experiment.json``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from workbench.simulate.clock import DAY, Clock, iso
from workbench.simulate.email import EMAIL_TYPES
from workbench.simulate.orders import order_attributes
from workbench.simulate.people import expected_basket
from workbench.simulate.personas import PERSONAS, persona_param

__all__ = [
    "ASSIGN_DAYS",
    "EXPERIMENT_ID",
    "GROUPS",
    "PARTICIPATION",
    "PERSUADABLE_BONUS",
    "REVENUE_MULTIPLIER",
    "SLEEPING_DOG_EFFECT",
    "TREATMENTS",
    "VARIANTS",
    "WINDOW_DAYS",
    "assign_experiment",
    "experiment_truth",
]

log = logging.getLogger(__name__)

EXPERIMENT_ID = "exp_personalised_recs"
WINDOW_DAYS = 14
ASSIGN_DAYS = 28
PARTICIPATION = 0.95

VARIANTS = ("control", "personalised", "discount")
TREATMENTS = VARIANTS[1:]
REVENUE_MULTIPLIER = (1.0, 1.08, 0.9)
GROUPS = ("sleeping_dog", "sure_thing", "persuadable", "other")
SLEEPING_DOG_EFFECT = -0.5
PERSUADABLE_BONUS = {"personalised": 0.6, "discount": 0.8}
_LIFT_ATTR = {"personalised": "exp_relative_lift", "discount": "exp_discount_lift"}
_NONE = np.iinfo(np.int64).min
_LIFT_KEYS = ("absolute_lift", "relative_lift", "revenue_absolute_lift", "revenue_relative_lift")


def assign_experiment(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    clock: Clock,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Assign the experiment and replace the assigned users' window orders by its outcome.

    Returns the orders and ``exp``: per eligible person ``person``, ``assigned``,
    ``arm`` (-1: not assigned), the visible features, ``group``, ``p`` (eligible x
    variants), ``revenue`` (expected, eligible x variants), ``basket``, ``alive``,
    ``converted``.
    """
    n = len(people["persona"])
    window = WINDOW_DAYS * DAY
    last = clock.end_s - window - 2 * DAY
    assigned = last - rng.integers(0, ASSIGN_DAYS * DAY, n)
    eligible = (
        people["opt_in"]
        & (people["signup"] < assigned)
        & (email["stop"] > assigned)
        & (people["dup_account"] < 0)
    )
    person = np.flatnonzero(eligible).astype(np.int32)
    at = assigned[person]
    exp: dict[str, np.ndarray] = {"person": person, "assigned": at}
    exp.update(_visible(people, orders, email, person, at))
    exp["group"] = _groups(people, exp)
    alive = np.clip((people["churn"][person] - at) / window, 0.0, 1.0)
    exp["alive"] = alive > 0
    exp["p"] = _probabilities(people, exp, alive)
    exp["basket"] = expected_basket(people, person)
    exp["revenue"] = exp["p"] * exp["basket"][:, None] * np.asarray(REVENUE_MULTIPLIER)
    take = np.flatnonzero(rng.random(len(person)) < PARTICIPATION)
    arm = np.full(len(person), -1, dtype=np.int8)
    arm[take[rng.permutation(len(take))]] = np.arange(len(take)) % len(VARIANTS)
    exp["arm"] = arm
    users = np.flatnonzero(arm >= 0)
    p = exp["p"][users, arm[users]]
    converted = rng.random(len(users)) < p
    exp["converted"] = np.zeros(len(person), dtype=bool)
    exp["converted"][users] = converted
    start = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    start[person[users]] = at[users]
    o_start = start[orders["person"]]
    inside = (orders["t"] >= o_start) & (orders["t"] < o_start + window)
    orders = {k: v[~inside] for k, v in orders.items()}
    buyers = users[converted]
    span = np.maximum(np.floor(alive[buyers] * window), 1).astype(np.int64)
    extra = order_attributes(rng, people, person[buyers], at[buyers] + rng.integers(0, span))
    extra["status"][:] = 0
    extra["channel"] = (rng.random(len(buyers)) < 0.5).astype(np.int8)  # web or app
    mult = np.asarray(REVENUE_MULTIPLIER)[arm[buyers]]
    extra["target"] = np.round(extra["target"] * mult).astype(np.int64)
    extra["is_exp"][:] = True
    orders = {k: np.concatenate([orders[k], extra[k]]) for k in orders}
    log.debug("experiment: %d users, %d orders removed from windows", len(users), inside.sum())
    return orders, exp


def _visible(
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    person: np.ndarray,
    at: np.ndarray,
) -> dict[str, np.ndarray]:
    """What a marketer sees of each eligible person at their own assignment time."""
    n = len(people["persona"])
    cut = np.full(n, _NONE, dtype=np.int64)
    cut[person] = at
    o_cut = cut[orders["person"]]
    done = (orders["status"] == 0) & (orders["t"] < o_cut)
    last = np.full(n, _NONE, dtype=np.int64)
    np.maximum.at(last, orders["person"][done], orders["t"][done])
    year = done & (orders["t"] >= o_cut - 365 * DAY)
    orders_365 = np.bincount(orders["person"][year], minlength=n)
    e_cut = cut[email["person"]]
    recent = (email["t"] < e_cut) & (email["t"] >= e_cut - 90 * DAY)
    reacted = recent & np.isin(email["type"], [EMAIL_TYPES.index("open"),
                                               EMAIL_TYPES.index("click")])  # fmt: skip
    sent = recent & (email["type"] == EMAIL_TYPES.index("sent"))
    has = last[person] > _NONE
    return {
        "recency_days": np.where(has, (at - last[person]) / DAY, np.nan),
        "orders_365d": orders_365[person],
        "reactions_90d": np.bincount(email["person"][reacted], minlength=n)[person],
        "sends_90d": np.bincount(email["person"][sent], minlength=n)[person],
    }


def _groups(people: dict[str, np.ndarray], exp: dict[str, np.ndarray]) -> np.ndarray:
    """Code into GROUPS of each eligible person (first rule that holds)."""
    loyal = people["persona"][exp["person"]] == [p.name for p in PERSONAS].index("loyal_high_value")
    dog = (exp["orders_365d"] >= 3) & (exp["reactions_90d"] == 0) & (exp["sends_90d"] >= 3)
    recency = exp["recency_days"]
    persuadable = (recency >= 30) & (recency <= 180) & (exp["reactions_90d"] > 0)
    return np.select([dog, loyal, persuadable], [0, 1, 2], default=3).astype(np.int8)


def _probabilities(
    people: dict[str, np.ndarray], exp: dict[str, np.ndarray], alive: np.ndarray
) -> np.ndarray:
    """True conversion probability of each eligible person in each variant."""
    persona = people["persona"][exp["person"]]
    base = persona_param("exp_control_rate")[persona] * np.sqrt(people["rate_mult"][exp["person"]])
    base = np.clip(base, 0.005, 0.9)
    group = exp["group"]
    p = np.empty((len(persona), len(VARIANTS)))
    p[:, 0] = base
    for a, arm in enumerate(TREATMENTS, start=1):
        lift = persona_param(_LIFT_ATTR[arm])[persona]
        treated = base * (1 + lift + PERSUADABLE_BONUS[arm] * (group == 2))
        treated = np.where(group == 0, base * (1 + SLEEPING_DOG_EFFECT), treated)
        p[:, a] = np.where(group == 1, base, treated)
    return np.clip(p, 0.0, 0.95) * alive[:, None]


def _lifts(conv: np.ndarray, rev: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Absolute and relative lift of each treatment over control (per-variant means)."""

    def rel(t: float, c: float) -> float | None:
        return round(float(t / c - 1), 6) if c else None

    return {
        arm: {
            "absolute_lift": round(float(conv[a] - conv[0]), 6),
            "relative_lift": rel(conv[a], conv[0]),
            "revenue_absolute_lift": round(float(rev[a] - rev[0]), 4),
            "revenue_relative_lift": rel(rev[a], rev[0]),
        }
        for a, arm in enumerate(VARIANTS)
        if a > 0
    }


def _arm_block(exp: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    """True conversion and revenue per user of each arm (the users assigned to it), and
    the lifts between them; the top-level lifts are ``personalised``'s."""
    arm = exp["arm"][rows]
    users = {v: int((arm == a).sum()) for a, v in enumerate(VARIANTS)}
    conv = np.full(len(VARIANTS), np.nan)
    rev = np.full(len(VARIANTS), np.nan)
    for a in range(len(VARIANTS)):
        mine = rows[arm == a]
        if len(mine):
            conv[a], rev[a] = exp["p"][mine, a].mean(), exp["revenue"][mine, a].mean()
    out: dict[str, Any] = {
        "users": users,
        "conversion_rate": {v: _round(c, 6) for v, c in zip(VARIANTS, conv, strict=True)},
        "revenue_per_user": {v: _round(r, 4) for v, r in zip(VARIANTS, rev, strict=True)},
    }
    arms = _lifts(conv, rev) if np.isfinite(conv).all() else {}
    out.update(arms.get(VARIANTS[1], dict.fromkeys(_LIFT_KEYS)))
    out["arms"] = arms
    return out


def _round(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def _potential(exp: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    """Every arm's true rates over the same users ``rows`` (no arm-composition noise)."""
    if len(rows) == 0:
        return {"users": 0}
    conv, rev = exp["p"][rows].mean(axis=0), exp["revenue"][rows].mean(axis=0)
    out: dict[str, Any] = {
        "users": int(len(rows)),
        "conversion_rate": {v: round(float(c), 6) for v, c in zip(VARIANTS, conv, strict=True)},
        "revenue_per_user": {v: round(float(r), 4) for v, r in zip(VARIANTS, rev, strict=True)},
    }
    arms = _lifts(conv, rev)
    out.update({k: arms[VARIANTS[1]][k] for k in ("absolute_lift", "relative_lift",
                                                   "revenue_relative_lift")})  # fmt: skip
    out["arms"] = arms
    return out


def experiment_truth(
    people: dict[str, np.ndarray], exp: dict[str, np.ndarray], clock: Clock
) -> dict[str, Any]:
    """The true effects of ``exp_personalised_recs`` as the sample should show them."""
    users = np.flatnonzero(exp["arm"] >= 0)
    persona = people["persona"][exp["person"]]
    assigned = exp["assigned"][users]
    out: dict[str, Any] = {
        "experiment_id": EXPERIMENT_ID,
        "control": VARIANTS[0],
        "treatment": VARIANTS[1],
        "treatments": list(TREATMENTS),
        "window_days": WINDOW_DAYS,
        "intended_split": {v: round(1 / len(VARIANTS), 6) for v in VARIANTS},
        "assigned_from": str(iso(np.array([assigned.min()]), clock)[0]) if len(users) else None,
        "assigned_to": str(iso(np.array([assigned.max()]), clock)[0]) if len(users) else None,
        "eligible": int(len(exp["person"])),
        "participation": PARTICIPATION,
        "definition": (
            "conversion: at least one completed order in [assigned_at, assigned_at + window_days);"
            " revenue: sum of those orders' amounts (0 for non-converters); rates are means of"
            " the per-user true probabilities (and expected revenues) of the users in each arm;"
            " top-level lifts are the first treatment's, every treatment's are under 'arms'"
        ),
        "revenue_multiplier": dict(zip(VARIANTS, REVENUE_MULTIPLIER, strict=True)),
        "planted": {
            "persona_relative_lift": {
                arm: {p.name: getattr(p, _LIFT_ATTR[arm]) for p in PERSONAS} for arm in TREATMENTS
            },
            "persuadable_bonus": PERSUADABLE_BONUS,
            "sleeping_dog_effect": SLEEPING_DOG_EFFECT,
            "groups": list(GROUPS),
        },
    }
    out.update(_arm_block(exp, users))
    out["potential_outcomes"] = _potential(exp, users)
    by_persona = {p.name: users[persona[users] == c] for c, p in enumerate(PERSONAS)}
    out["planted_relative_lift"] = {
        name: _potential(exp, rows).get("relative_lift") for name, rows in by_persona.items()
    }
    out["planted_relative_lift_by_arm"] = {
        arm: {
            name: _potential(exp, rows)["arms"][arm]["relative_lift"] if len(rows) else None
            for name, rows in by_persona.items()
        }
        for arm in TREATMENTS
    }
    out["by_persona"] = {name: _arm_block(exp, rows) for name, rows in by_persona.items()}
    out["by_group"] = {
        g: _potential(exp, users[exp["group"][users] == code]) for code, g in enumerate(GROUPS)
    }
    return out
