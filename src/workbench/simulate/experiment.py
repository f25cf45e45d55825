"""The A/B experiment ``exp_personalised_recs`` and its true effect.

:func:`assign_experiment` assigns eligible people to :data:`VARIANTS` and replaces the
orders in each user's window by the experiment's outcome, drawn with a known per-user
probability; :func:`experiment_truth` summarises the effect the sample should show
(``_truth/experiment.json``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from workbench.simulate.clock import DAY, Clock, iso
from workbench.simulate.orders import expected_basket, order_attributes
from workbench.simulate.personas import PERSONAS, persona_param

__all__ = [
    "EXPERIMENT_ID",
    "REVENUE_MULTIPLIER",
    "VARIANTS",
    "WINDOW_DAYS",
    "assign_experiment",
    "experiment_truth",
]

log = logging.getLogger(__name__)

EXPERIMENT_ID = "exp_personalised_recs"
WINDOW_DAYS = 14

VARIANTS = ("control", "personalised")
REVENUE_MULTIPLIER = (1.0, 1.08)
_PARTICIPATION = 0.75
_ASSIGN_DAYS = 28


def assign_experiment(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    clock: Clock,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Assign ``exp_personalised_recs`` and replace the window's orders by its outcome.

    Eligible: opted in and still subscribed, signed up before assignment and alive until
    the window closes, no second account. Each assigned user converts (one completed
    order in the window) with a known per-user probability; organic orders inside the
    window are removed.
    """
    n = len(people["persona"])
    window = WINDOW_DAYS * DAY
    last = clock.end_s - window - 2 * DAY
    assigned = last - rng.integers(0, _ASSIGN_DAYS * DAY, n)
    eligible = (
        people["opt_in"]
        & (people["signup"] < assigned)
        & (people["churn"] > assigned + window)  # alive for the whole window
        & (email["stop"] > assigned)
        & (people["dup_account"] < 0)
    )
    users = np.flatnonzero(eligible & (rng.random(n) < _PARTICIPATION)).astype(np.int32)
    arm = np.zeros(len(users), dtype=np.int8)
    arm[rng.permutation(len(users))[: len(users) // 2]] = 1
    persona = people["persona"][users]
    p_control = np.clip(
        persona_param("exp_control_rate")[persona] * np.sqrt(people["rate_mult"][users]),
        0.005,
        0.9,
    )
    p_treat = np.clip(p_control * (1 + persona_param("exp_relative_lift")[persona]), 0.0, 0.95)
    p = np.where(arm == 1, p_treat, p_control)
    mult = np.asarray(REVENUE_MULTIPLIER)[arm]
    converted = rng.random(len(users)) < p
    start = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    start[users] = assigned[users]
    o_start = start[orders["person"]]
    inside = (orders["t"] >= o_start) & (orders["t"] < o_start + window)
    orders = {k: v[~inside] for k, v in orders.items()}
    buyers = users[converted]
    extra = order_attributes(
        rng, people, buyers, assigned[buyers] + rng.integers(0, window, len(buyers))
    )
    extra["status"][:] = 0
    extra["channel"] = (rng.random(len(buyers)) < 0.5).astype(np.int8)  # web or app
    extra["target"] = np.round(extra["target"] * mult[converted]).astype(np.int64)
    extra["is_exp"][:] = True
    orders = {k: np.concatenate([orders[k], extra[k]]) for k in orders}
    exp_users = {
        "person": users,
        "assigned": assigned[users],
        "arm": arm,
        "p": p,
        "p_control": p_control,
        "p_treat": p_treat,
        "revenue": p * expected_basket(people, users) * mult,
        "basket": expected_basket(people, users),
        "converted": converted,
    }
    log.debug("experiment: %d users, %d orders removed from windows", len(users), inside.sum())
    return orders, exp_users


def _arm_block(p: np.ndarray, revenue: np.ndarray, arm: np.ndarray) -> dict[str, Any]:
    """True conversion and revenue per user of each arm, and the lifts between them."""
    users = {v: int((arm == a).sum()) for a, v in enumerate(VARIANTS)}
    conv = {v: float(p[arm == a].mean()) if users[v] else None for a, v in enumerate(VARIANTS)}
    rev = {v: float(revenue[arm == a].mean()) if users[v] else None for a, v in enumerate(VARIANTS)}

    def lifts(x: dict[str, float | None]) -> tuple[float | None, float | None]:
        c, t = x["control"], x["personalised"]
        if c is None or t is None:
            return None, None
        return round(t - c, 6), (round(t / c - 1, 6) if c else None)

    conv_abs, conv_rel = lifts(conv)
    rev_abs, rev_rel = lifts(rev)
    return {
        "users": users,
        "conversion_rate": {k: None if v is None else round(v, 6) for k, v in conv.items()},
        "absolute_lift": conv_abs,
        "relative_lift": conv_rel,
        "revenue_per_user": {k: None if v is None else round(v, 4) for k, v in rev.items()},
        "revenue_absolute_lift": rev_abs,
        "revenue_relative_lift": rev_rel,
    }


def _potential_outcomes(exp_users: dict[str, np.ndarray]) -> dict[str, Any]:
    """Both arms' true rates over *all* assigned users (free of arm-composition noise)."""
    if len(exp_users["p"]) == 0:
        return {}
    conv = [exp_users["p_control"].mean(), exp_users["p_treat"].mean()]
    rev = [
        (exp_users[k] * exp_users["basket"]).mean() * m
        for k, m in zip(("p_control", "p_treat"), REVENUE_MULTIPLIER, strict=True)
    ]
    return {
        "conversion_rate": {v: round(float(c), 6) for v, c in zip(VARIANTS, conv, strict=True)},
        "absolute_lift": round(float(conv[1] - conv[0]), 6),
        "relative_lift": round(float(conv[1] / conv[0] - 1), 6),
        "revenue_per_user": {v: round(float(r), 4) for v, r in zip(VARIANTS, rev, strict=True)},
        "revenue_relative_lift": round(float(rev[1] / rev[0] - 1), 6),
    }


def experiment_truth(
    people: dict[str, np.ndarray], exp_users: dict[str, np.ndarray], clock: Clock
) -> dict[str, Any]:
    """The true effect of ``exp_personalised_recs`` as the sample should show it."""
    persona = people["persona"][exp_users["person"]]
    assigned = exp_users["assigned"]
    out: dict[str, Any] = {
        "experiment_id": EXPERIMENT_ID,
        "control": VARIANTS[0],
        "treatment": VARIANTS[1],
        "window_days": WINDOW_DAYS,
        "intended_split": {v: 0.5 for v in VARIANTS},
        "assigned_from": str(iso(np.array([assigned.min()]), clock)[0]) if len(assigned) else None,
        "assigned_to": str(iso(np.array([assigned.max()]), clock)[0]) if len(assigned) else None,
        "definition": (
            "conversion: at least one completed order in [assigned_at, assigned_at + window_days);"
            " revenue: sum of those orders' amounts (0 for non-converters); rates are means of"
            " the per-user true probabilities (and expected revenues) of the users in each arm"
        ),
        "revenue_multiplier": dict(zip(VARIANTS, REVENUE_MULTIPLIER, strict=True)),
        "planted_relative_lift": {p.name: p.exp_relative_lift for p in PERSONAS},
    }
    out.update(_arm_block(exp_users["p"], exp_users["revenue"], exp_users["arm"]))
    out["potential_outcomes"] = _potential_outcomes(exp_users)
    out["by_persona"] = {
        p.name: _arm_block(
            exp_users["p"][persona == code],
            exp_users["revenue"][persona == code],
            exp_users["arm"][persona == code],
        )  # fmt: skip
        for code, p in enumerate(PERSONAS)
    }
    return out
