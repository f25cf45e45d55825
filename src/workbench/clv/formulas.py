"""Closed forms of the buy-till-you-die models and of the Gamma–Gamma spend model.

Every function is plain NumPy/SciPy and broadcasts: parameters may be scalars (a point
estimate) or arrays of posterior draws shaped ``(draws, 1)``; customer histories are
arrays shaped ``(customers,)``. Each customer is summarised by ``x`` (repeat
transactions), ``t_x`` (time of the last transaction since the first) and ``T`` (time
from the first transaction to the cut-off), all in one time unit.

Models and their parameters (the names used everywhere in the package):

* ``bg_nbd`` — BG/NBD, Fader, Hardie & Lee (2005), "Counting your customers the easy
  way": purchase rate λ ~ Gamma(r, α), dropout after each *repeat* purchase with
  probability p ~ Beta(a, b). Parameters ``r, alpha, a, b``.
* ``pareto_nbd`` — Pareto/NBD, Schmittlein, Morrison & Colombo (1987), with the
  expressions of Fader & Hardie (2005), "A note on deriving the Pareto/NBD model":
  λ ~ Gamma(r, α), exponential lifetime with rate μ ~ Gamma(s, β). Parameters
  ``r, alpha, s, beta``.
* ``mbg_nbd`` — modified BG/NBD, Batislam, Denizel & Filiztekin (2007): as BG/NBD but a
  customer may also drop out right after the *first* purchase, so a one-time buyer is not
  certainly alive. Parameters ``r, alpha, a, b``.
* Gamma–Gamma, Fader & Hardie (2013), "The Gamma–Gamma model of monetary value":
  transaction values ~ Gamma(p, ν), ν ~ Gamma(q, γ); fitted on the customers with at
  least one repeat transaction, from ``x`` and the mean value ``z̄`` of those repeat
  transactions. Parameters ``p, q, gamma``.

The hypergeometric terms of the conditional expectations use Euler's transformation
``2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z)``, which keeps the first
two parameters bounded for customers with many transactions (the direct form overflows).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

__all__ = [
    "PURCHASE_MODELS",
    "PARAM_NAMES",
    "purchase_log_likelihood",
    "purchase_log_likelihood_gradient",
    "p_alive",
    "expected_purchases",
    "expected_purchases_if_alive",
    "expected_purchases_new",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_log_likelihood_gradient",
    "expected_order_value",
]

#: The purchase (transaction) models, in the order they are reported.
PURCHASE_MODELS = ("bg_nbd", "pareto_nbd", "mbg_nbd")
#: Parameter names of every model.
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "bg_nbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "mbg_nbd": ("r", "alpha", "a", "b"),
    "gamma_gamma": ("p", "q", "gamma"),
}

Params = Mapping[str, float | np.ndarray]


def _check_model(model: str) -> None:
    if model not in PURCHASE_MODELS:
        raise ValueError(
            f"purchase model must be one of {', '.join(PURCHASE_MODELS)}; got {model!r}"
        )


def _arrays(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float))


def _away_from_one(a: ArrayLike) -> np.ndarray:
    """Shift a value within 1e-7 of 1 off it: the BG/NBD expectations divide by a - 1
    (their limit at a = 1 is finite, the formula is 0/0 there)."""
    a = np.asarray(a, dtype=float)
    return np.where(np.abs(a - 1.0) < 1e-7, 1.0 + 1e-7, a)


def purchase_log_likelihood(
    model: str, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` under a purchase model.

    Parameters
    ----------
    model : {"bg_nbd", "pareto_nbd", "mbg_nbd"}
    params : mapping
        The model's parameters (see :data:`PARAM_NAMES`), scalars or ``(draws, 1)`` arrays.
    x, t_x, T : array_like
        Repeat transactions, recency and age, in one time unit.

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer (per draw when the parameters are draws).

    Examples
    --------
    A customer who bought once, a week ago, under BG/NBD: ``r ln(α/(α + T))``.

    >>> p = {"r": 0.5, "alpha": 2.0, "a": 1.0, "b": 1.0}
    >>> float(purchase_log_likelihood("bg_nbd", p, 0, 0.0, 1.0).round(6))
    -0.202733
    """
    _check_model(model)
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha = params["r"], params["alpha"]
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    if model == "pareto_nbd":
        return common + _pareto_tail(params, x, t_x, T)
    a, b = params["a"], params["b"]
    if model == "bg_nbd":
        alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        # dropped out right after the last repeat purchase (impossible without one)
        with np.errstate(divide="ignore", invalid="ignore"):
            dead = np.where(
                x > 0,
                betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        return common + np.logaddexp(alive, dead)
    alive = betaln(a, b + x + 1) - betaln(a, b) - (r + x) * np.log(alpha + T)
    dead = betaln(a + 1, b + x) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    return common + np.logaddexp(alive, dead)


def purchase_log_likelihood_gradient(
    model: str, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> dict[str, np.ndarray]:
    """Derivatives of each customer's log-likelihood with respect to each parameter.

    Closed forms for BG/NBD and the modified BG/NBD (digamma terms of the beta and gamma
    functions, the two likelihood branches weighted by their share); the fitter uses them
    instead of finite differences. Pareto/NBD's hypergeometric terms have no simple
    derivative in their parameters, so it raises ``NotImplementedError``.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per parameter name of :data:`PARAM_NAMES`, shaped like the customers.
    """
    _check_model(model)
    if model == "pareto_nbd":
        raise NotImplementedError("no closed-form gradient for pareto_nbd")
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    extra = 0.0 if model == "bg_nbd" else 1.0  # the modified model's b + x + 1 terms
    log_T, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    alive = betaln(a, b + x + extra) - betaln(a, b) - (r + x) * log_T
    with np.errstate(divide="ignore", invalid="ignore"):
        dead = betaln(a + 1, b + x + extra - 1) - betaln(a, b) - (r + x) * log_tx
        if model == "bg_nbd":
            dead = np.where(x > 0, dead, -np.inf)
    total = np.logaddexp(alive, dead)
    w_alive, w_dead = np.exp(alive - total), np.exp(dead - total)
    top = digamma(a + b + x + extra)
    base_a, base_b = digamma(a + b) - digamma(a), digamma(a + b) - digamma(b)
    with np.errstate(invalid="ignore"):
        d_dead_b = np.where(w_dead > 0, digamma(b + x + extra - 1), 0.0)
    return {
        "r": digamma(r + x) - digamma(r) + np.log(alpha) - w_alive * log_T - w_dead * log_tx,
        "alpha": r / alpha - (r + x) * (w_alive / (alpha + T) + w_dead / (alpha + t_x)),
        "a": w_alive * (digamma(a) - top + base_a) + w_dead * (digamma(a + 1) - top + base_a),
        "b": w_alive * (digamma(b + x + extra) - top + base_b) + w_dead * (d_dead_b - top + base_b),
    }


def _pareto_tail(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
    """``log`` of the Pareto/NBD likelihood without ``Γ(r+x) α^r / Γ(r)``.

    Fader & Hardie (2005), eq. (22) rewritten with both terms positive (as pymc-marketing
    does): ``β^s [s/(r+s+x) F(t_x) + (r+x)/(r+s+x) F(T)]`` where ``F`` holds the
    hypergeometric term over the larger of α and β.
    """
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    x, t_x, T = _arrays(x, t_x, T)
    rsx = r + s + x
    big = np.maximum(alpha, beta)
    diff = np.abs(alpha - beta)
    second_tx = np.where(alpha >= beta, s + 1, r + x)
    second_T = np.where(alpha >= beta, s, r + x + 1)
    log_tx = np.log(hyp2f1(rsx, second_tx, rsx + 1, diff / (big + t_x))) - rsx * np.log(big + t_x)
    log_T = np.log(hyp2f1(rsx, second_T, rsx + 1, diff / (big + T))) - rsx * np.log(big + T)
    return s * np.log(beta) + np.logaddexp(
        np.log(s) - np.log(rsx) + log_tx, np.log(r + x) - np.log(rsx) + log_T
    )


def p_alive(model: str, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Probability that a customer with history ``(x, t_x, T)`` is still active at ``T``.

    BG/NBD gives exactly 1 to customers without a repeat purchase (they cannot have
    dropped out yet); the modified BG/NBD and Pareto/NBD do not.

    Examples
    --------
    >>> p = {"r": 0.5, "alpha": 2.0, "a": 1.0, "b": 3.0}
    >>> float(p_alive("bg_nbd", p, 0, 0.0, 10.0))
    1.0
    >>> # 1 / (1 + a/(b+x-1) ((α+T)/(α+t_x))^(r+x)) = 1 / (1 + 1/3 · 2^1.5)
    >>> round(float(p_alive("bg_nbd", p, 1, 4.0, 10.0)), 6)
    0.514719
    """
    _check_model(model)
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha = params["r"], params["alpha"]
    if model == "pareto_nbd":
        s, beta = params["s"], params["beta"]
        alive = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            - (r + x) * np.log(alpha + T)
            + s * np.log(beta)
            - s * np.log(beta + T)
        )
        return np.exp(alive - purchase_log_likelihood(model, params, x, t_x, T))
    a, b = params["a"], params["b"]
    shift = 1.0 if model == "bg_nbd" else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (
            np.log(a) - np.log(b + x - shift) + (r + x) * np.log((alpha + T) / (alpha + t_x))
        )
    prob = expit(-log_odds_dead)
    return np.where(x > 0, prob, 1.0) if model == "bg_nbd" else prob


def expected_purchases(
    model: str, params: Params, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected repeat transactions in ``(T, T + t]`` given the history ``(x, t_x, T)``.

    BG/NBD: Fader, Hardie & Lee (2005) eq. (10); modified BG/NBD: Batislam et al. (2007)
    eq. (6); Pareto/NBD: Fader & Hardie (2005) eq. (24). Each is
    :func:`expected_purchases_if_alive` times :func:`p_alive`.

    Examples
    --------
    A customer who probably dropped out (many purchases, the last long ago) buys less than
    one whose last purchase was recent, who keeps close to the rate ``(r + x)/(α + T)``.

    >>> p = {"r": 2.0, "alpha": 4.0, "a": 0.5, "b": 50.0}
    >>> e = expected_purchases("bg_nbd", p, 1.0, [3, 3], [1.0, 9.9], [10.0, 10.0])
    >>> bool(e[0] < e[1] < (2 + 3) / (4 + 10))
    True
    """
    alive = expected_purchases_if_alive(model, params, t, x, t_x, T)
    return alive * p_alive(model, params, x, t_x, T)


def expected_purchases_if_alive(
    model: str, params: Params, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected repeat transactions in ``(T, T + t]`` of a customer known to be alive at ``T``.

    Split from :func:`expected_purchases` so a discounting loop over many ``t`` computes
    the (costly, for Pareto/NBD) probability of being alive once.
    """
    _check_model(model)
    x, t_x, T = _arrays(x, t_x, T)
    t = np.asarray(t, dtype=float)
    r, alpha = params["r"], params["alpha"]
    if model == "pareto_nbd":
        s, beta = params["s"], params["beta"]
        u = np.log((beta + T + t) / (beta + T))
        sm1 = s - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            lifetime = np.where(np.abs(sm1) < 1e-8, u, -np.expm1(-sm1 * u) / sm1)
        return (r + x) * (beta + T) / (alpha + T) * lifetime
    a = _away_from_one(params["a"])
    b = params["b"]
    z = t / (alpha + T + t)
    shift = 1.0 if model == "bg_nbd" else 0.0
    c, first = a + b + x - shift, a + b - shift - r
    # (1-z)^(r+x) 2F1(r+x, b+x[+1]; c; z) after Euler's transformation
    with np.errstate(all="ignore"):
        tail = (1 - z) ** (a - 1) * hyp2f1(first, a - 1, c, z)
        broken = ~np.isfinite(tail)
        if np.any(broken):
            # a and b in the ten thousands (a Beta almost a point: every customer drops out
            # with the same probability) break Euler's form; the direct one holds there
            direct = (1 - z) ** (r + x) * hyp2f1(r + x, b + x + 1 - shift, c, z)
            tail = np.where(broken, direct, tail)
    return c / (a - 1) * (1 - tail)


def expected_purchases_new(model: str, params: Params, t: ArrayLike) -> np.ndarray:
    """Expected repeat transactions in ``(0, t]`` of a customer who just made a first one.

    BG/NBD: ``(a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]`` (FHL 2005 eq. 9);
    Pareto/NBD: ``rβ/(α(s-1)) [1 - (β/(β+t))^(s-1)]``; modified BG/NBD:
    ``b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]``.

    Examples
    --------
    >>> p = {"r": 1.0, "alpha": 1.0, "s": 2.0, "beta": 1.0}
    >>> float(expected_purchases_new("pareto_nbd", p, 1.0))  # 1·1/(1·1) (1 - 1/2)
    0.5
    """
    _check_model(model)
    t = np.asarray(t, dtype=float)
    r, alpha = params["r"], params["alpha"]
    if model == "pareto_nbd":
        s, beta = params["s"], params["beta"]
        u = np.log((beta + t) / beta)
        sm1 = s - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            lifetime = np.where(np.abs(sm1) < 1e-8, u, -np.expm1(-sm1 * u) / sm1)
        return r * beta / alpha * lifetime
    a = _away_from_one(params["a"])
    b = params["b"]
    z = t / (alpha + t)
    if model == "bg_nbd":
        return (a + b - 1) / (a - 1) * (1 - (1 - z) ** r * hyp2f1(r, b, a + b - 1, z))
    return b / (a - 1) * (1 - (1 - z) ** r * hyp2f1(r, b + 1, a + b, z))


def gamma_gamma_log_likelihood(params: Params, x: ArrayLike, mean_value: ArrayLike) -> np.ndarray:
    """Log-density of each customer's mean repeat-transaction value ``z̄`` given ``x ≥ 1``.

    ``f(z̄) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q z̄^(px-1) x^(px) / (γ + x z̄)^(px+q)``
    (Fader & Hardie 2013, eq. 1a).
    """
    x = np.asarray(x, dtype=float)
    z = np.asarray(mean_value, dtype=float)
    p, q, g = params["p"], params["q"], params["gamma"]
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(z)
        + px * np.log(x)
        - (px + q) * np.log(g + x * z)
    )


def gamma_gamma_log_likelihood_gradient(
    params: Params, x: ArrayLike, mean_value: ArrayLike
) -> dict[str, np.ndarray]:
    """Derivatives of :func:`gamma_gamma_log_likelihood` with respect to ``p, q, gamma``."""
    x = np.asarray(x, dtype=float)
    z = np.asarray(mean_value, dtype=float)
    p, q, g = params["p"], params["q"], params["gamma"]
    px = p * x
    both = digamma(px + q)
    log_mix = np.log(g + x * z)
    return {
        "p": x * (both - digamma(px) + np.log(z) + np.log(x) - log_mix),
        "q": both - digamma(q) + np.log(g) - log_mix,
        "gamma": q / g - (px + q) / (g + x * z),
    }


def expected_order_value(params: Params, x: ArrayLike, mean_value: ArrayLike) -> np.ndarray:
    """Expected value of a customer's future transactions under Gamma–Gamma.

    ``E(M | x, z̄) = p (γ + x z̄) / (p x + q - 1)``: a weighted mean of the population mean
    ``pγ/(q-1)`` and the customer's own ``z̄``, the weight of ``z̄`` growing with ``x``.
    Customers without a repeat transaction (``x = 0``) get the population mean.

    Examples
    --------
    >>> round(float(expected_order_value({"p": 6.0, "q": 4.0, "gamma": 15.0}, 0, 0.0)), 6)
    30.0
    >>> # 6 (15 + 2·50) / (6·2 + 4 - 1) = 690 / 15
    >>> round(float(expected_order_value({"p": 6.0, "q": 4.0, "gamma": 15.0}, 2, 50.0)), 6)
    46.0
    """
    x = np.asarray(x, dtype=float)
    z = np.where(x > 0, np.asarray(mean_value, dtype=float), 0.0)
    p, q, g = params["p"], params["q"], params["gamma"]
    return p * (g + x * z) / (p * x + q - 1)
