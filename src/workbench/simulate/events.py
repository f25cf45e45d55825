"""E-mail and web events.

:func:`draw_email_events`: a campaign every two weeks to subscribed customers and each
recipient's reaction (open, click, bounce, unsubscribe); :func:`number_email_events` puts
them in time order. :func:`draw_web_events`: browsing sessions (some with abandoned
carts, some anonymous) and the tracked sessions of online orders. Event types are stored
as codes into :data:`EMAIL_TYPES` and :data:`WEB_TYPES`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.simulate.clock import DAY, Clock, poisson_times
from workbench.simulate.personas import PERSONAS, persona_param
from workbench.simulate.products import draw_categories, product_in_category

__all__ = [
    "EMAIL_TYPES",
    "WEB_TYPES",
    "draw_email_events",
    "draw_web_events",
    "number_email_events",
]

EMAIL_TYPES = ("sent", "open", "click", "bounce", "unsubscribe")
WEB_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")

_TRACKED = 0.2  # share of online orders whose session the web analytics captured


def draw_email_events(
    rng: np.random.Generator, people: dict[str, np.ndarray], clock: Clock
) -> dict[str, np.ndarray]:
    """Campaign sends every two weeks and each recipient's reaction.

    Campaigns go to a sample of the customers who opted in, have signed up and have
    neither unsubscribed nor bounced. Returns the events (per person; moved to second
    accounts later) and ``stop``: when each person stopped receiving campaigns.
    """
    n = len(people["persona"])
    persona = people["persona"]
    subscribed = people["opt_in"].copy()
    stop = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    p_bounce = np.where(rng.random(n) < 0.015, 0.5, 0.001)
    p_unsub = persona_param("unsubscribe_rate")[persona]
    sends = np.arange(2 * DAY + 9 * 3600, clock.end_s, 14 * DAY, dtype=np.int64)
    sends = sends + rng.integers(0, 4, len(sends)) * 3600  # 9:00 to 12:00 UTC
    parts: list[tuple[np.ndarray, ...]] = []
    for c, send in enumerate(sends):
        month = (clock.start + pd.Timedelta(seconds=int(send))).month
        share = 0.85 if month in (11, 12) else 0.6
        idx = np.flatnonzero(subscribed & (people["signup"] < send) & (rng.random(n) < share))
        k = len(idx)
        sent = send + rng.integers(0, 1200, k)
        bounce = rng.random(k) < p_bounce[idx]
        engaged = np.exp(-np.maximum(send - people["churn"][idx], 0) / (45 * DAY))
        opened = ~bounce & (rng.random(k) < people["open_p"][idx] * engaged)
        t_open = _open_times(rng, sent, people["hour"][idx])
        clicked = opened & (rng.random(k) < people["click_p"][idx])
        t_click = t_open + 10 + rng.exponential(180, k).astype(np.int64)
        unsub = ~bounce & (rng.random(k) < p_unsub[idx] * (1 + 3 * (1 - engaged)))
        late = sent + 60 + rng.exponential(6 * 3600, k).astype(np.int64)
        t_unsub = np.where(opened, t_open + 30 + rng.exponential(120, k).astype(np.int64), late)
        t_bounce = sent + rng.integers(5, 120, k)
        for mask, when, code in (
            (np.ones(k, dtype=bool), sent, 0),
            (opened, t_open, 1),
            (clicked, t_click, 2),
            (bounce, t_bounce, 3),
            (unsub, t_unsub, 4),
        ):
            m = int(mask.sum())
            parts.append((idx[mask].astype(np.int32), np.full(m, c, np.int16),
                          np.full(m, code, np.int8), when[mask]))  # fmt: skip
        gone = bounce | unsub
        subscribed[idx[gone]] = False
        stop[idx[gone]] = np.where(bounce, t_bounce, t_unsub)[gone]
    person, campaign, etype, t = (np.concatenate(x) for x in zip(*parts, strict=True))
    keep = t < clock.end_s
    return {"person": person[keep], "campaign": campaign[keep], "type": etype[keep],
            "t": t[keep], "stop": stop, "n_campaigns": np.array(len(sends))}  # fmt: skip


def _open_times(rng: np.random.Generator, sent: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Open time: around the person's preferred hour on the send day or a later day."""
    k = len(sent)
    day_start = (sent // DAY) * DAY
    target = day_start + ((hour + rng.normal(0, 1.0, k)) * 3600).astype(np.int64)
    target = np.where(target < sent + 300, target + DAY, target)
    target = target + (rng.geometric(0.7, k) - 1) * DAY
    quick = sent + 60 + rng.exponential(3600, k).astype(np.int64)
    return np.where(rng.random(k) < 0.1, quick, target)


def number_email_events(email: dict[str, np.ndarray]) -> None:
    """Sort e-mail events by time and number them."""
    chrono = np.lexsort((email["type"], email["campaign"], email["account"], email["t"]))
    for key in ("person", "campaign", "type", "t", "account"):
        email[key] = email[key][chrono]
    email["number"] = np.arange(1, len(chrono) + 1, dtype=np.int64)


def draw_web_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    touched: np.ndarray,
    clock: Clock,
) -> dict[str, np.ndarray]:
    """Browsing sessions (some with abandoned carts, some anonymous) and the tracked
    sessions that end in an online order's purchase event at the order's time."""
    browse = _browse_sessions(rng, people, products, clock)
    bought = _purchase_sessions(rng, orders, items, touched)
    n_browse = len(browse["account"])
    s_account = np.concatenate([browse["account"], bought["account"]])
    s_anchor = np.concatenate([browse["t0"], bought["t_end"]])
    n_sessions = len(s_account)
    session = np.concatenate([browse.pop("ev_session"), bought.pop("ev_session") + n_browse])
    etype = np.concatenate([browse.pop("ev_type"), bought.pop("ev_type")])
    product = np.concatenate([browse.pop("ev_product"), bought.pop("ev_product")])
    order = np.lexsort((etype, session))  # page views, product views, cart, checkout, purchase
    session, etype, product = session[order], etype[order], product[order]
    del order
    counts = np.bincount(session, minlength=n_sessions)
    first = (np.cumsum(counts) - counts).astype(np.int64)
    offset = np.cumsum(5 + rng.exponential(40, len(session)).astype(np.int64))
    offset -= offset[first][session]
    last_offset = offset[np.maximum(first + counts - 1, 0)]
    t = s_anchor[session]
    bought_ev = session >= n_browse
    t[~bought_ev] += offset[~bought_ev]
    t[bought_ev] -= last_offset[session[bought_ev]] - offset[bought_ev]  # purchase at t_end
    del offset, bought_ev, last_offset
    account = s_account[session]
    known = account >= 0
    t[known] = np.maximum(t[known], accounts["signup"][account[known]])
    keep = t < clock.end_s
    session, etype, product, t = session[keep], etype[keep], product[keep], t[keep]
    del account, known, keep
    # sessions are numbered by start time, events by time (then session, then position)
    counts = np.bincount(session, minlength=n_sessions)
    first = np.cumsum(counts) - counts
    starts = np.full(n_sessions, np.iinfo(np.int64).max, dtype=np.int64)
    starts[counts > 0] = t[first[counts > 0]]  # times rise within a session
    s_number = np.empty(n_sessions, dtype=np.int32)
    s_number[np.lexsort((np.arange(n_sessions), starts))] = np.arange(1, n_sessions + 1)
    position = (np.arange(len(session)) - first[session]).astype(np.int16)
    session = s_number[session]
    chrono = np.lexsort((position, session, t))
    del position
    return {"session": session[chrono], "account": s_account[s_number.argsort()][session[chrono] - 1],
            "type": etype[chrono], "product": product[chrono], "t": t[chrono],
            "number": np.arange(1, len(chrono) + 1, dtype=np.int32)}  # fmt: skip


def _browse_sessions(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    clock: Clock,
) -> dict[str, np.ndarray]:
    """Sessions without a purchase: page views, product views, sometimes a cart."""
    n = len(people["persona"])
    rate = (
        persona_param("browse_sessions_per_year")[people["persona"]] / 365.25 * people["web_mult"]
    )
    a = np.maximum(people["signup"], 0)
    owner, t0 = poisson_times(rng, rate, a, np.minimum(people["churn"], clock.end_s), clock)
    after = t0 >= people["dup_signup"][owner]
    move = after & (rng.random(len(owner)) < 0.5)
    account = np.where(move, people["dup_account"][owner], owner).astype(np.int32)
    # anonymous visitors: ~6 % extra sessions, tastes of a random persona
    n_anon_target = 0.06 * len(owner)
    day_end = clock.end_s / DAY
    anon_rate = np.array([n_anon_target / np.interp(day_end, np.arange(len(clock.cum)), clock.cum)])
    _, anon_t0 = poisson_times(
        rng, anon_rate, np.zeros(1, np.int64), np.array([clock.end_s]), clock
    )
    anon_persona = rng.choice(len(PERSONAS), size=len(anon_t0), p=persona_param("share"))
    persona = np.concatenate([people["persona"][owner], anon_persona]).astype(np.int64)
    taste_row = np.concatenate([owner, n + anon_persona]).astype(np.int64)
    account = np.concatenate([account, np.full(len(anon_t0), -1, np.int32)])
    t0 = np.concatenate([t0, anon_t0])
    k = len(t0)
    n_pv = 1 + rng.poisson(0.4, k)
    cart = rng.random(k) < persona_param("cart_rate")[persona]
    n_view = np.maximum(rng.poisson(persona_param("views_per_session")[persona]), cart)
    checkout = cart & (rng.random(k) < 0.3)
    taste = np.vstack(
        [people["cat_cum"], np.cumsum([p.category_weights for p in PERSONAS], axis=1)]
    )
    view_session = np.repeat(np.arange(k), n_view)
    cat = draw_categories(rng, taste.astype(np.float32), taste_row[view_session])
    view_product = product_in_category(rng, products, cat)
    first_view = np.concatenate([[0], np.cumsum(n_view)[:-1]])
    cart_sessions = np.flatnonzero(cart)
    ev_session = np.concatenate([np.repeat(np.arange(k), n_pv), view_session, cart_sessions,
                                 np.flatnonzero(checkout)]).astype(np.int32)  # fmt: skip
    ev_type = np.repeat(np.array([0, 1, 2, 3], np.int8),
                        [n_pv.sum(), len(view_session), len(cart_sessions), checkout.sum()])  # fmt: skip
    ev_product = np.concatenate([np.full(n_pv.sum(), -1), view_product,
                                 view_product[first_view[cart_sessions]],
                                 np.full(checkout.sum(), -1)]).astype(np.int16)  # fmt: skip
    return {"account": account, "t0": t0, "ev_session": ev_session, "ev_type": ev_type,
            "ev_product": ev_product}  # fmt: skip


def _purchase_sessions(
    rng: np.random.Generator,
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    touched: np.ndarray,
) -> dict[str, np.ndarray]:
    """Tracked sessions of clean online orders: view and add one or two of the order's
    lines, check out, purchase at the order's time."""
    online = (orders["channel"] == 0) | (orders["channel"] == 1)
    tracked = np.flatnonzero(online & ~touched & (rng.random(len(online)) < _TRACKED))
    k = len(tracked)
    n_pv = 1 + rng.poisson(0.2, k)
    n_show = np.minimum(items["n_lines"][tracked], 1 + (rng.random(k) < 0.3))
    first_line = np.concatenate([[0], np.cumsum(items["n_lines"])[:-1]])[tracked]
    line_session = np.repeat(np.arange(k), n_show)
    within = np.arange(len(line_session)) - np.repeat(np.cumsum(n_show) - n_show, n_show)
    line_product = items["product"][np.repeat(first_line, n_show) + within]
    ev_session = np.concatenate([np.repeat(np.arange(k), n_pv), line_session, line_session,
                                 np.arange(k), np.arange(k)]).astype(np.int32)  # fmt: skip
    ev_type = np.repeat(np.array([0, 1, 2, 3, 4], np.int8),
                        [n_pv.sum(), len(line_session), len(line_session), k, k])  # fmt: skip
    ev_product = np.concatenate([np.full(n_pv.sum(), -1), line_product, line_product,
                                 np.full(2 * k, -1)]).astype(np.int16)  # fmt: skip
    return {"account": orders["account"][tracked], "t_end": orders["t"][tracked],
            "ev_session": ev_session, "ev_type": ev_type, "ev_product": ev_product}  # fmt: skip
