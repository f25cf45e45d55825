"""Customer summaries drawn from the purchase models themselves (benchmarks and tests).

The draws follow each model's story exactly, so a fitter run on them should recover the
parameters that generated them; :mod:`benchmarks` uses them to time the fits at 10 k,
100 k and 1 M customers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from workbench.clv.formulas import PARAM_NAMES, PURCHASE_MODELS

__all__ = ["draw_summary"]


def draw_summary(
    model: str,
    params: Mapping[str, float],
    T: ArrayLike,
    *,
    seed: int,
    days_per_unit: float = 7.0,
) -> pd.DataFrame:
    """Draw ``customer_id, frequency, recency, T`` for customers observed for ``T`` units.

    Parameters
    ----------
    model : {"bg_nbd", "pareto_nbd", "mbg_nbd"}
        The story to follow (see :mod:`workbench.clv.formulas`).
    params : mapping
        The model's parameters.
    T : array_like
        Each customer's age (time from the first purchase to the cut-off); its length is
        the number of customers.
    seed : int
        Seed of ``numpy.random.default_rng``.
    days_per_unit : float, default 7
        Recency and T are rounded to whole days, as :func:`~workbench.clv.summary.rfm_summary`
        makes them (7 for weeks, 1 for days).

    Returns
    -------
    pandas.DataFrame
        One row per customer; ``customer_id`` is ``"c0"``, ``"c1"``, …

    Examples
    --------
    >>> p = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    >>> s = draw_summary("bg_nbd", p, [39.0] * 1000, seed=1)
    >>> bool((s["recency"] <= s["T"]).all()), len(s)
    (True, 1000)
    """
    if model not in PURCHASE_MODELS:
        raise ValueError(f"draw_summary: model must be one of {PURCHASE_MODELS}; got {model!r}")
    missing = set(PARAM_NAMES[model]) - set(params)
    if missing:
        raise ValueError(f"draw_summary: {model} needs parameters {sorted(missing)}")
    rng = np.random.default_rng(seed)
    T = np.round(np.asarray(T, dtype=float) * days_per_unit) / days_per_unit
    n = len(T)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    if model == "pareto_nbd":
        mu = rng.gamma(params["s"], 1.0 / params["beta"], n)
        active = np.minimum(rng.exponential(1.0 / mu), T)
        x = rng.poisson(lam * active)
        # the last of x uniform arrival times on (0, active) is active · Beta(x, 1)
        t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    else:
        p = rng.beta(params["a"], params["b"], n)
        # repeat purchases made before dropping out: BG/NBD drops after a repeat purchase
        # (at least one), the modified model also right after the first purchase
        alive_for = rng.geometric(p) - (1 if model == "mbg_nbd" else 0)
        arrivals = rng.poisson(lam * T)
        x = np.minimum(arrivals, alive_for)
        # the x-th of `arrivals` uniform times on (0, T) is T · Beta(x, arrivals - x + 1)
        safe = np.maximum(x, 1)
        t_x = np.where(x > 0, T * rng.beta(safe, np.maximum(arrivals - safe + 1, 1)), 0.0)
    t_x = np.minimum(np.round(t_x * days_per_unit) / days_per_unit, T)
    x = np.where(t_x > 0, x, 0)  # a repeat purchase on the first day merges into it
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "frequency": x.astype("int64"),
            "recency": t_x,
            "T": T,
        }
    )
