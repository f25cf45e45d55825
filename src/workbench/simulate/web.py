"""Web events.

:func:`draw_browse_sessions`: browsing sessions that end without a purchase (some with
an abandoned cart, some anonymous), drawn early because abandoned carts trigger e-mails;
a viewed product is one of the visitor's favourites (share :data:`FAVOURITE_VIEWS`) or a
product of a category from their taste, by the persona's taste for products.
:func:`draw_web_events`: those sessions plus the tracked sessions of online orders, as
events in time order. Event types are stored as codes into :data:`WEB_TYPES`.
"""

from __future__ import annotations

import numpy as np

from workbench.simulate.affinity import pick_favourites
from workbench.simulate.clock import DAY, Clock, poisson_times
from workbench.simulate.personas import PERSONAS, persona_param
from workbench.simulate.products import choose_by_taste, draw_categories

__all__ = ["FAVOURITE_VIEWS", "WEB_TYPES", "draw_browse_sessions", "draw_web_events"]

FAVOURITE_VIEWS = 0.3  # share of a known visitor's product views that are favourites
WEB_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")

_TRACKED = 0.2  # share of online orders whose session the web analytics captured


def draw_web_events(
    rng: np.random.Generator,
    accounts: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    browse: dict[str, np.ndarray],
    touched: np.ndarray,
    clock: Clock,
) -> dict[str, np.ndarray]:
    """The browsing sessions of :func:`draw_browse_sessions` and the tracked sessions
    that end in an online order's purchase event at the order's time, as events."""
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
            "type": etype[chrono], "product": product[chrono], "t": t[chrono]}  # fmt: skip


def draw_browse_sessions(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    tastes: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    clock: Clock,
) -> dict[str, np.ndarray]:
    """Sessions without a purchase: page views, product views, sometimes a cart.

    Per session: ``account`` (-1: anonymous), ``person`` (-1: anonymous), ``t0``,
    ``cart``; per event: ``ev_session``, ``ev_type``, ``ev_product``.
    """
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
    person = np.concatenate([owner, np.full(len(anon_t0), -1)]).astype(np.int64)
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
    view_product = choose_by_taste(rng, products, persona[view_session], cat)
    viewer = person[view_session]
    fav = np.flatnonzero(
        (viewer >= 0)
        & (rng.random(len(viewer)) < FAVOURITE_VIEWS)
        & (tastes["fav_share"][np.maximum(viewer, 0)] > 0)
    )
    view_product[fav] = pick_favourites(rng, tastes, viewer[fav])
    first_view = np.concatenate([[0], np.cumsum(n_view)[:-1]])
    cart_sessions = np.flatnonzero(cart)
    ev_session = np.concatenate([np.repeat(np.arange(k), n_pv), view_session, cart_sessions,
                                 np.flatnonzero(checkout)]).astype(np.int32)  # fmt: skip
    ev_type = np.repeat(np.array([0, 1, 2, 3], np.int8),
                        [n_pv.sum(), len(view_session), len(cart_sessions), checkout.sum()])  # fmt: skip
    ev_product = np.concatenate([np.full(n_pv.sum(), -1), view_product,
                                 view_product[first_view[cart_sessions]],
                                 np.full(checkout.sum(), -1)]).astype(np.int16)  # fmt: skip
    return {"account": account, "person": person, "t0": t0, "cart": cart,
            "ev_session": ev_session, "ev_type": ev_type, "ev_product": ev_product}  # fmt: skip


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
