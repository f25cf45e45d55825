"""Per-customer predictions: P(alive), expected purchases, order value, discounted CLV, tier.

CLV over the horizon is the expected margin of the repeat purchases in
``[as_of, as_of + horizon_days)``, discounted per step:

``clv = margin · E(M) · Σ_k [E(X(t_k)) - E(X(t_{k-1}))] / (1 + annual_discount_rate)^(t_k in years)``

with ``E(X(t))`` the purchase model's conditional expectation, ``E(M)`` the Gamma–Gamma
expected order value and ``t_k`` the ends of ``discount_steps_per_year`` equal steps per
year (monthly by default, as ``lifetimes`` and pymc-marketing do). Purchase and spend are
independent in both models, so the product of expectations is the expectation.

Customers with a single purchase (``frequency = 0``) are predicted as the models intend:
BG/NBD treats them as alive, Pareto/NBD and the modified BG/NBD let them have left, and
their order value is the Gamma–Gamma population mean. A customer who has never bought is
not in the summary; :func:`new_customer_value` gives what a new buyer is worth.

With MCMC fits, every quantity also gets an equal-tailed credible interval from
``interval_draws`` posterior draws (purchase and spend draws paired in order).

Without enough repeat buyers to fit the models (``min_repeat_customers``),
:func:`naive_customers` predicts with the naive baseline instead: each customer's past
repeat rate times the horizon, at their own mean order value; and without enough repeat
buyers with a positive mean value for Gamma–Gamma, :func:`predict_customers` takes each
customer's mean order value (``order_values``) as the expected one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.clv.fit import FittedModel, sufficient_statistics
from workbench.clv.formulas import (
    expected_order_value,
    expected_purchases,
    expected_purchases_if_alive,
    expected_purchases_new,
    p_alive,
)
from workbench.clv.params import TIERS, ClvParams

__all__ = [
    "PREDICTION_COLUMNS",
    "discount_grid",
    "predict_customers",
    "clv_tiers",
    "tier_table",
    "new_customer_value",
    "history_matrix",
    "naive_customers",
    "naive_order_values",
]

log = logging.getLogger(__name__)

#: Columns of :func:`predict_customers` (``*_lower``/``*_upper`` follow with MCMC fits).
PREDICTION_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "clv",
    "clv_tier",
)
_CHUNK = 20_000  # histories per block when computing posterior draws


def discount_grid(params: ClvParams) -> tuple[np.ndarray, np.ndarray]:
    """Step ends (in the time unit) and discount factors of the CLV sum.

    Examples
    --------
    >>> t, f = discount_grid(ClvParams(horizon_days=365, discount_steps_per_year=1))
    >>> t.round(4).tolist(), f.round(6).tolist()
    ([52.1429], [0.909091])
    """
    steps = max(1, int(round(params.horizon_days / 365 * params.discount_steps_per_year)))
    days = params.horizon_days * np.arange(1, steps + 1) / steps
    factors = (1 + params.annual_discount_rate) ** (-days / 365)
    return days / params.days_per_unit, factors


def _discounted_if_alive(
    fit: FittedModel,
    p: Mapping[str, Any],
    grid: np.ndarray,
    factors: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Σ_k ΔE_k(alive) · factor_k, and E(alive) over the whole horizon."""
    total = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(p["r"])))
    previous = np.zeros_like(total)
    for t, factor in zip(grid, factors, strict=True):
        current = expected_purchases_if_alive(fit.model, p, t, x, t_x, T)
        total = total + (current - previous) * factor
        previous = current
    return total, previous


def _point(
    summary: pd.DataFrame,
    purchase: FittedModel,
    spend: FittedModel | None,
    params: ClvParams,
    order_values: pd.Series | None,
) -> pd.DataFrame:
    stats = sufficient_statistics(summary)
    x, t_x, T = (stats[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    grid, factors = discount_grid(params)
    alive = p_alive(purchase.model, purchase.params, x, t_x, T)
    discounted, horizon = _discounted_if_alive(purchase, purchase.params, grid, factors, x, t_x, T)
    per_history = stats.assign(
        p_alive=alive, expected_purchases=horizon * alive, _discounted=discounted * alive
    )
    out = summary.merge(
        per_history.drop(columns="customers"), on=["frequency", "recency", "T"], how="left"
    )
    if spend is not None:
        out["expected_order_value"] = expected_order_value(
            spend.params,
            out["frequency"].to_numpy(dtype=float),
            out["monetary_value"].to_numpy(dtype=float),
        )
    else:
        out["expected_order_value"] = naive_order_values(out, order_values)
    out["clv"] = params.margin * out["expected_order_value"] * out["_discounted"]
    return out.drop(columns="_discounted")


def _draw_arrays(fit: FittedModel, n: int) -> dict[str, np.ndarray]:
    if fit.draws is None:
        return {k: np.array([[v]]) for k, v in fit.params.items()}
    return fit.param_arrays(n)


def _intervals(
    out: pd.DataFrame, purchase: FittedModel, spend: FittedModel | None, params: ClvParams
) -> pd.DataFrame:
    n = params.interval_draws
    # a fit without draws enters as a single "draw" (its point estimate), which broadcasts
    pp = _draw_arrays(purchase, n)
    sp = _draw_arrays(spend, n) if spend is not None else {}
    k = min((len(v) for v in (*pp.values(), *sp.values()) if len(v) > 1), default=1)
    pp = {name: v[:k] for name, v in pp.items()}  # pair the draws in order
    sp = {name: v[:k] for name, v in sp.items()}
    lo_q, hi_q = (1 - params.credible_interval) / 2, 1 - (1 - params.credible_interval) / 2
    grid, factors = discount_grid(params)
    stats = sufficient_statistics(out)
    x, t_x, T = (stats[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    history = (
        out[["frequency", "recency", "T"]]
        .merge(stats.reset_index()[["frequency", "recency", "T", "index"]], how="left")["index"]
        .to_numpy()
    )
    bounds = {
        f"{c}_{s}": np.empty(len(out))
        for c in ("p_alive", "expected_purchases", "clv")
        for s in ("lower", "upper")
    }
    order = np.argsort(history, kind="stable")
    freq = out["frequency"].to_numpy(dtype=float)
    value = out["monetary_value"].to_numpy(dtype=float)
    fixed_value = out["expected_order_value"].to_numpy(dtype=float)
    for start in range(0, len(stats), _CHUNK):
        rows = slice(start, start + _CHUNK)
        alive = p_alive(purchase.model, pp, x[rows], t_x[rows], T[rows])
        disc, horizon = _discounted_if_alive(
            purchase, pp, grid, factors, x[rows], t_x[rows], T[rows]
        )
        lo, hi = start, min(start + _CHUNK, len(stats))
        members = order[np.searchsorted(history[order], lo) : np.searchsorted(history[order], hi)]
        local = history[members] - lo
        eov = (  # (k, members), or (1, members) without a spend model
            expected_order_value(sp, freq[members], value[members])
            if sp
            else fixed_value[members][None, :]
        )
        clv = params.margin * eov * (disc * alive)[:, local]
        for name, draws in (
            ("p_alive", alive[:, local]),
            ("expected_purchases", (horizon * alive)[:, local]),
            ("clv", clv),
        ):
            q = np.quantile(draws, [lo_q, hi_q], axis=0)
            bounds[f"{name}_lower"][members] = q[0]
            bounds[f"{name}_upper"][members] = q[1]
    log.info("credible intervals from %s posterior draws", k)
    return out.assign(**bounds)


def clv_tiers(clv: pd.Series, shares: tuple[float, ...] = (0.01, 0.05, 0.20)) -> pd.Series:
    """CLV tier per customer: top 1 %, top 5 %, top 20 % (cumulative shares), rest.

    Ranks are by descending CLV with ties broken by position, so each tier holds
    ``round(share · n)`` customers whatever the ties.

    Examples
    --------
    >>> clv_tiers(pd.Series(range(100), dtype=float)).value_counts().sort_index().tolist()
    [1, 4, 15, 80]
    """
    n = len(clv)
    rank = clv.rank(ascending=False, method="first").to_numpy()
    edges = [round(s * n) for s in shares]
    codes = np.searchsorted(np.asarray(edges), rank, side="left")
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=list(TIERS), ordered=True),
        index=clv.index,
        name="clv_tier",
    )


def predict_customers(
    summary: pd.DataFrame,
    purchase: FittedModel,
    spend: FittedModel | None,
    params: ClvParams | None = None,
    *,
    order_values: pd.Series | None = None,
) -> pd.DataFrame:
    """Every customer's P(alive), expected purchases, order value, CLV and tier.

    Parameters
    ----------
    summary : DataFrame
        :func:`~workbench.clv.rfm_summary` as of ``as_of`` (not modified).
    purchase : FittedModel
        A fitted purchase model (``bg_nbd``, ``pareto_nbd`` or ``mbg_nbd``).
    spend : FittedModel or None
        The fitted Gamma–Gamma model; None when it could not be fitted, and then
        ``order_values`` gives the expected order value (:func:`naive_order_values`).
    params : ClvParams, optional
        Horizon, time unit, discount rate, margin, tiers, interval settings.
    order_values : Series, optional
        Each customer's mean order value indexed by ``customer_id``
        (:func:`~workbench.clv.order_values`); required without ``spend``.

    Returns
    -------
    DataFrame
        :data:`PREDICTION_COLUMNS` (``expected_purchases`` over ``horizon_days``, ``clv``
        discounted) in the order of ``summary``; with MCMC fits also ``p_alive_lower``,
        ``p_alive_upper``, ``expected_purchases_lower``/``_upper`` and ``clv_lower``/
        ``_upper``.
    """
    params = params or ClvParams()
    if spend is not None and spend.model != "gamma_gamma":
        raise ValueError(
            f"predict_customers: spend must be the Gamma–Gamma fit, got {spend.model!r}"
        )
    if spend is None and order_values is None:
        raise ValueError(
            "predict_customers: without a spend model (spend=None) pass order_values, each "
            "customer's mean order value (workbench.clv.order_values)"
        )
    if purchase.model == "gamma_gamma":
        raise ValueError(
            "predict_customers: purchase must be a purchase model, got the Gamma–Gamma fit"
        )
    if purchase.time_unit and purchase.time_unit != params.time_unit:
        raise ValueError(
            f"predict_customers: the purchase model was fitted in {purchase.time_unit}, "
            f"params.time_unit is {params.time_unit!r}; use the same unit"
        )
    missing = [c for c in PREDICTION_COLUMNS[:5] if c not in summary.columns]
    if missing:
        raise KeyError(f"predict_customers: summary column(s) {missing} missing; use rfm_summary")
    base = summary[list(PREDICTION_COLUMNS[:5])].reset_index(drop=True)
    out = _point(base, purchase, spend, params, order_values)
    if purchase.draws is not None or (spend is not None and spend.draws is not None):
        out = _intervals(out, purchase, spend, params)
    out["clv_tier"] = clv_tiers(out["clv"], params.tier_shares)
    return out


def tier_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Customers, CLV and expected purchases per tier, with each tier's share of total CLV.

    Returns
    -------
    DataFrame
        Indexed by tier: ``customers, clv_total, clv_share, clv_mean, clv_min,
        expected_purchases, p_alive_mean``.
    """
    grouped = predictions.groupby("clv_tier", observed=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "clv_total": grouped["clv"].sum(),
            "clv_mean": grouped["clv"].mean(),
            "clv_min": grouped["clv"].min(),
            "expected_purchases": grouped["expected_purchases"].sum(),
            "p_alive_mean": grouped["p_alive"].mean(),
        }
    )
    total = table["clv_total"].sum()
    table.insert(2, "clv_share", table["clv_total"] / total if total > 0 else np.nan)
    return table


def new_customer_value(
    purchase: FittedModel,
    spend: FittedModel | None,
    params: ClvParams | None = None,
    *,
    order_value: float | None = None,
) -> dict[str, float]:
    """What a customer who has just made a first purchase is expected to bring.

    Parameters
    ----------
    purchase, spend : FittedModel
        The purchase model and Gamma–Gamma (None: ``order_value`` is the order value).
    params : ClvParams, optional
    order_value : float, optional
        The expected order value without a spend model (e.g. the mean of all customers').

    Returns
    -------
    dict
        ``expected_purchases`` (repeat purchases over the horizon), ``expected_order_value``
        (the Gamma–Gamma population mean ``pγ/(q-1)``) and ``clv`` (discounted, with margin).
    """
    params = params or ClvParams()
    if spend is None and order_value is None:
        raise ValueError("new_customer_value: without a spend model pass order_value")
    grid, factors = discount_grid(params)
    values = np.array(
        [float(expected_purchases_new(purchase.model, purchase.params, t)) for t in grid]
    )
    increments = np.diff(np.concatenate([[0.0], values]))
    eov = (
        float(expected_order_value(spend.params, 0, 0.0))
        if spend is not None
        else float(order_value)  # type: ignore[arg-type]
    )
    return {
        "expected_purchases": float(values[-1]),
        "expected_order_value": eov,
        "clv": float(params.margin * eov * (increments * factors).sum()),
    }


def history_matrix(
    fit: FittedModel,
    T: float,
    *,
    max_frequency: int = 20,
    recency_points: int = 21,
    quantity: str = "p_alive",
    horizon: float | None = None,
) -> pd.DataFrame:
    """P(alive) or expected purchases for a grid of histories of customers of age ``T``.

    Parameters
    ----------
    fit : FittedModel
        A purchase model.
    T : float
        Age of the customers (time since the first purchase), in the fit's time unit.
    max_frequency : int, default 20
        Rows are ``frequency`` 0..max_frequency.
    recency_points : int, default 21
        Columns are this many recencies evenly from 0 to ``T``.
    quantity : {"p_alive", "expected_purchases"}
    horizon : float, optional
        Horizon of ``expected_purchases`` in the time unit (required for it).

    Returns
    -------
    DataFrame
        Index ``frequency``, columns ``recency`` (rounded to 0.1); impossible histories
        (a repeat purchase at recency 0, or none with recency > 0) are NaN.
    """
    if quantity not in ("p_alive", "expected_purchases"):
        raise ValueError(
            f"history_matrix: quantity must be p_alive or expected_purchases, got {quantity!r}"
        )
    if quantity == "expected_purchases" and horizon is None:
        raise ValueError("history_matrix: expected_purchases needs a horizon")
    x = np.arange(max_frequency + 1, dtype=float)[:, None]
    t_x = np.linspace(0.0, T, recency_points)[None, :]
    if quantity == "p_alive":
        values = p_alive(fit.model, fit.params, x, t_x, T)
    else:
        values = expected_purchases(fit.model, fit.params, float(horizon or 0), x, t_x, T)
    values = np.broadcast_to(values, (len(x), t_x.shape[1])).copy()
    values[(x > 0) & (t_x == 0)] = np.nan
    values[(x == 0) & (t_x > 0)] = np.nan
    return pd.DataFrame(
        values,
        index=pd.Index(range(max_frequency + 1), name="frequency"),
        columns=pd.Index(np.round(t_x.ravel(), 1), name="recency"),
    )


def naive_order_values(summary: pd.DataFrame, order_values: pd.Series | None) -> np.ndarray:
    """Each customer's mean order value from ``order_values`` (by ``customer_id``), the mean
    over all customers where a customer's own is unknown.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": ["a", "b"]})
    >>> naive_order_values(s, pd.Series({"a": 10.0, "c": 30.0})).tolist()
    [10.0, 20.0]
    """
    if order_values is None:
        raise ValueError("naive_order_values: order_values is required")
    own = summary["customer_id"].map(order_values).to_numpy(dtype=float)
    known = order_values.to_numpy(dtype=float)
    known = known[np.isfinite(known)]
    fill = float(known.mean()) if len(known) else np.nan
    return np.where(np.isfinite(own), own, fill)


def naive_customers(
    summary: pd.DataFrame, order_values: pd.Series, params: ClvParams | None = None
) -> pd.DataFrame:
    """Predictions of the naive baseline, for when the models cannot be fitted.

    ``expected_purchases`` is the past repeat rate ``frequency / T`` times the horizon,
    ``expected_order_value`` the customer's mean order value (:func:`naive_order_values`),
    ``clv`` their product with the margin, discounted as if the purchases were spread
    evenly over the horizon (the mean of the step factors of :func:`discount_grid`).
    ``p_alive`` is unknown (NaN): the baseline has no notion of a customer leaving.

    Returns
    -------
    DataFrame
        :data:`PREDICTION_COLUMNS`, in the order of ``summary``.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [2, 0],
    ...     "recency": [20.0, 0.0], "T": [26.0, 10.0], "monetary_value": [15.0, 0.0]})
    >>> p = ClvParams(horizon_days=364, annual_discount_rate=0.0)
    >>> naive_customers(s, pd.Series({"a": 12.0, "b": 40.0}), p)[["expected_purchases", "clv"]].values.tolist()
    [[4.0, 48.0], [0.0, 0.0]]
    """
    params = params or ClvParams()
    missing = [c for c in PREDICTION_COLUMNS[:5] if c not in summary.columns]
    if missing:
        raise KeyError(f"naive_customers: summary column(s) {missing} missing; use rfm_summary")
    out = summary[list(PREDICTION_COLUMNS[:5])].reset_index(drop=True)
    out["p_alive"] = np.nan
    out["expected_purchases"] = out["frequency"] / out["T"] * params.horizon
    out["expected_order_value"] = naive_order_values(out, order_values)
    _, factors = discount_grid(params)
    out["clv"] = (
        params.margin * out["expected_order_value"] * out["expected_purchases"] * factors.mean()
    )
    out["clv_tier"] = clv_tiers(out["clv"], params.tier_shares)
    return out
