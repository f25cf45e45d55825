"""The personas of the demo business and the product categories their tastes refer to.

A :class:`Persona` holds population means of one kind of customer's behaviour (order
rate, basket, taste, lifetime, e-mail reactions, browsing, experiment response);
:data:`PERSONAS` are the six the simulator draws from, and :func:`persona_param` gives one
attribute of all of them as an array indexed by persona code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CATEGORIES", "PERSONAS", "Persona", "persona_param"]

CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "grocery", "books", "toys")


@dataclass(frozen=True)
class Persona:
    """Behaviour of one kind of customer; every rate is a population mean.

    Attributes
    ----------
    name : str
        Persona label used in the truth tables.
    share : float
        Share of people with this persona.
    orders_per_year : float
        Order rate while the customer is alive (before churn).
    first_order_prob : float
        Probability of an order right after a sign-up inside the history.
    basket_median, basket_sigma : float
        Order value is lognormal with this median and log-scale sigma.
    lines_per_order : float
        Mean number of order lines.
    category_weights : tuple[float, ...]
        Mean taste over :data:`CATEGORIES` (each customer draws a Dirichlet around it).
    mean_lifetime_days : float
        Mean of the exponential time from sign-up (or the history start) to churn.
    prehistory_share : float
        Share of these customers who signed up before the history starts.
    opt_in : float
        Probability of e-mail consent at sign-up.
    ignores_email : float
        Share of these customers who (almost) never open marketing e-mails.
    open_rate, click_rate : float
        Probability of opening a campaign (among those who read e-mail at all), and of
        clicking given an open.
    unsubscribe_rate : float
        Probability of unsubscribing per campaign received.
    open_hour : float
        Mean preferred hour of day (UTC) for opening e-mails (of those who have one).
    browse_sessions_per_year : float
        Web sessions that do not end in a purchase.
    views_per_session : float
        Mean product views per browsing session.
    cart_rate : float
        Probability that a browsing session adds to cart (and is then abandoned).
    channel_weights : tuple[float, float, float]
        Order channel probabilities for web, app and store.
    favourites : float
        Mean number of favourite products (bought again and again).
    favourite_share : float
        Mean share of order lines that are one of the customer's favourites.
    replenish_prob : float
        Probability of a replenishment habit (a consumable re-bought on a cycle).
    exp_control_rate : float
        Probability of converting within the experiment window without treatment.
    exp_relative_lift : float
        Relative lift of that probability under the ``personalised`` arm.
    exp_discount_lift : float
        Relative lift of that probability under the ``discount`` arm.
    """

    name: str
    share: float
    orders_per_year: float
    first_order_prob: float
    basket_median: float
    basket_sigma: float
    lines_per_order: float
    category_weights: tuple[float, ...]
    mean_lifetime_days: float
    prehistory_share: float
    opt_in: float
    ignores_email: float
    open_rate: float
    click_rate: float
    unsubscribe_rate: float
    open_hour: float
    browse_sessions_per_year: float
    views_per_session: float
    cart_rate: float
    channel_weights: tuple[float, float, float]
    favourites: float
    favourite_share: float
    replenish_prob: float
    exp_control_rate: float
    exp_relative_lift: float
    exp_discount_lift: float


# category_weights follow CATEGORIES: electronics fashion home beauty sports grocery books toys
PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="loyal_high_value",
        share=0.14,
        orders_per_year=32.0,
        first_order_prob=0.7,
        basket_median=80.0,
        basket_sigma=0.5,
        lines_per_order=2.8,
        category_weights=(0.15, 0.08, 0.42, 0.08, 0.12, 0.05, 0.05, 0.05),
        mean_lifetime_days=2500.0,
        prehistory_share=0.45,
        opt_in=0.8,
        ignores_email=0.12,
        open_rate=0.45,
        click_rate=0.3,
        unsubscribe_rate=0.002,
        open_hour=19.0,
        browse_sessions_per_year=3.0,
        views_per_session=2.0,
        cart_rate=0.2,
        channel_weights=(0.35, 0.5, 0.15),
        favourites=4.0,
        favourite_share=0.45,
        replenish_prob=0.4,
        exp_control_rate=0.45,
        exp_relative_lift=0.0,
        exp_discount_lift=0.0,
    ),
    Persona(
        name="bargain_hunter",
        share=0.22,
        orders_per_year=13.0,
        first_order_prob=0.6,
        basket_median=24.0,
        basket_sigma=0.45,
        lines_per_order=2.8,
        category_weights=(0.03, 0.12, 0.06, 0.18, 0.03, 0.45, 0.04, 0.09),
        mean_lifetime_days=1100.0,
        prehistory_share=0.3,
        opt_in=0.88,
        ignores_email=0.05,
        open_rate=0.62,
        click_rate=0.38,
        unsubscribe_rate=0.003,
        open_hour=12.0,
        browse_sessions_per_year=4.0,
        views_per_session=2.5,
        cart_rate=0.35,
        channel_weights=(0.6, 0.3, 0.1),
        favourites=3.0,
        favourite_share=0.4,
        replenish_prob=0.5,
        exp_control_rate=0.25,
        exp_relative_lift=0.4,
        exp_discount_lift=0.6,
    ),
    Persona(
        name="occasional",
        share=0.24,
        orders_per_year=3.5,
        first_order_prob=0.7,
        basket_median=55.0,
        basket_sigma=0.55,
        lines_per_order=2.0,
        category_weights=(0.04, 0.08, 0.12, 0.06, 0.05, 0.05, 0.42, 0.18),
        mean_lifetime_days=1000.0,
        prehistory_share=0.3,
        opt_in=0.65,
        ignores_email=0.3,
        open_rate=0.22,
        click_rate=0.15,
        unsubscribe_rate=0.006,
        open_hour=9.0,
        browse_sessions_per_year=2.0,
        views_per_session=1.5,
        cart_rate=0.2,
        channel_weights=(0.3, 0.1, 0.6),
        favourites=2.0,
        favourite_share=0.2,
        replenish_prob=0.15,
        exp_control_rate=0.08,
        exp_relative_lift=0.25,
        exp_discount_lift=0.25,
    ),
    Persona(
        name="one_and_done",
        share=0.15,
        orders_per_year=4.0,
        first_order_prob=0.95,
        basket_median=45.0,
        basket_sigma=0.55,
        lines_per_order=1.8,
        category_weights=(0.03, 0.5, 0.06, 0.18, 0.05, 0.04, 0.04, 0.1),
        mean_lifetime_days=45.0,
        prehistory_share=0.02,
        opt_in=0.55,
        ignores_email=0.45,
        open_rate=0.08,
        click_rate=0.08,
        unsubscribe_rate=0.02,
        open_hour=15.0,
        browse_sessions_per_year=2.0,
        views_per_session=1.5,
        cart_rate=0.3,
        channel_weights=(0.55, 0.15, 0.3),
        favourites=1.5,
        favourite_share=0.15,
        replenish_prob=0.03,
        exp_control_rate=0.03,
        exp_relative_lift=0.1,
        exp_discount_lift=0.15,
    ),
    Persona(
        name="browser_abandoner",
        share=0.13,
        orders_per_year=1.5,
        first_order_prob=0.3,
        basket_median=75.0,
        basket_sigma=0.55,
        lines_per_order=1.6,
        category_weights=(0.14, 0.16, 0.08, 0.06, 0.42, 0.04, 0.04, 0.06),
        mean_lifetime_days=1000.0,
        prehistory_share=0.25,
        opt_in=0.65,
        ignores_email=0.2,
        open_rate=0.32,
        click_rate=0.2,
        unsubscribe_rate=0.004,
        open_hour=22.0,
        browse_sessions_per_year=24.0,
        views_per_session=2.0,
        cart_rate=0.55,
        channel_weights=(0.7, 0.25, 0.05),
        favourites=2.5,
        favourite_share=0.3,
        replenish_prob=0.05,
        exp_control_rate=0.05,
        exp_relative_lift=0.2,
        exp_discount_lift=0.4,
    ),
    Persona(
        name="lapsing_big_spender",
        share=0.12,
        orders_per_year=7.0,
        first_order_prob=0.6,
        basket_median=260.0,
        basket_sigma=0.5,
        lines_per_order=2.2,
        category_weights=(0.5, 0.08, 0.18, 0.04, 0.1, 0.03, 0.03, 0.04),
        mean_lifetime_days=330.0,
        prehistory_share=0.3,
        opt_in=0.7,
        ignores_email=0.35,
        open_rate=0.15,
        click_rate=0.25,
        unsubscribe_rate=0.008,
        open_hour=6.0,
        browse_sessions_per_year=4.0,
        views_per_session=2.0,
        cart_rate=0.25,
        channel_weights=(0.5, 0.3, 0.2),
        favourites=2.0,
        favourite_share=0.3,
        replenish_prob=0.1,
        exp_control_rate=0.12,
        exp_relative_lift=0.15,
        exp_discount_lift=0.3,
    ),
)


def persona_param(attr: str) -> np.ndarray:
    """Attribute ``attr`` of every persona, indexed by persona code (order of PERSONAS)."""
    return np.array([getattr(p, attr) for p in PERSONAS], dtype=np.float64)
