"""Fitting the purchase models and the Gamma–Gamma spend model.

Three methods, one result type (:class:`FittedModel`):

* ``"mle"`` (default): closed-form maximum likelihood with SciPy's L-BFGS-B on the log
  parameters. Customers with the same ``(frequency, recency, T)`` have the same
  likelihood, so they are collapsed into one row with a weight (:func:`sufficient_statistics`);
  recency and T are whole days, so a million customers become a few hundred thousand
  rows at most. This is the MAP under flat priors.
* ``"map"``: pymc-marketing's ``BetaGeoModel`` / ``ParetoNBDModel`` /
  ``ModifiedBetaGeoModel`` / ``GammaGammaModel`` fitted with ``method="map"`` and the
  priors of :func:`default_priors` (or yours).
* ``"mcmc"``: the same pymc-marketing models sampled with NUTS; the posterior draws give
  per-customer credible intervals (:mod:`~workbench.clv.predict`).

Whatever the method, :attr:`FittedModel.log_likelihood` is computed with the same closed
form (:mod:`~workbench.clv.formulas`) on the customers fitted, so models and methods
compare on one scale.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from workbench.clv.formulas import (
    PARAM_NAMES,
    PURCHASE_MODELS,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_gradient,
    purchase_log_likelihood,
    purchase_log_likelihood_gradient,
)
from workbench.clv.params import METHODS

__all__ = [
    "FittedModel",
    "sufficient_statistics",
    "default_priors",
    "describe_priors",
    "fit_purchase_model",
    "fit_gamma_gamma",
    "spend_customers",
]

log = logging.getLogger(__name__)

_LOG_BOUND = 15.0  # log-parameters stay in [-15, 15]: e^15 ≈ 3.3 million


@dataclass(frozen=True)
class FittedModel:
    """A fitted purchase or spend model.

    Attributes
    ----------
    model : str
        ``bg_nbd``, ``pareto_nbd``, ``mbg_nbd`` or ``gamma_gamma``.
    method : str
        ``mle``, ``map`` or ``mcmc``.
    params : dict of str to float
        Point estimate (the posterior mean for ``mcmc``).
    log_likelihood : float
        Total log-likelihood at ``params`` of the customers fitted.
    customers : int
        Customers the model was fitted on.
    time_unit : str
        Unit of recency and T the parameters refer to (purchase models).
    seconds : float
        Wall-clock fitting time.
    converged : bool
        The optimiser reported success (``mle``, ``map``) or every R-hat < 1.01 (``mcmc``).
    priors : dict of str to str
        The priors, in words (``"flat"`` for ``mle``).
    draws : DataFrame or None
        Posterior draws, one column per parameter (``mcmc`` only).
    result : object or None
        The fitted pymc-marketing model (``map``, ``mcmc``), to keep going with its API.
    """

    model: str
    method: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    time_unit: str
    seconds: float
    converged: bool
    priors: dict[str, str] = field(default_factory=dict)
    draws: pd.DataFrame | None = None
    result: Any = None

    def param_arrays(self, n_draws: int | None = None) -> dict[str, Any]:
        """Parameters for :mod:`~workbench.clv.formulas`: floats, or ``(n, 1)`` arrays of
        ``n_draws`` posterior draws thinned evenly when the fit has draws."""
        if self.draws is None or n_draws is None:
            return dict(self.params)
        take = np.unique(
            np.linspace(0, len(self.draws) - 1, min(n_draws, len(self.draws))).astype(int)
        )
        return {k: self.draws[k].to_numpy()[take][:, None] for k in self.draws.columns}

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: params, log-likelihood, customers, method, seconds, convergence, priors."""
        return {
            "params": {k: float(v) for k, v in self.params.items()},
            "log_likelihood": float(self.log_likelihood),
            "customers": int(self.customers),
            "method": self.method,
            "seconds": round(float(self.seconds), 3),
            "converged": bool(self.converged),
            "priors": dict(self.priors),
        }


def _check_summary(summary: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise KeyError(
            f"{what}: summary column(s) {', '.join(repr(c) for c in missing)} missing; "
            "build the summary with workbench.clv.rfm_summary"
        )
    if summary.empty:
        raise ValueError(f"{what}: the summary has no customers (no completed order before as_of)")


def sufficient_statistics(summary: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``(frequency, recency, T)`` histories and how many customers share each.

    Examples
    --------
    >>> s = pd.DataFrame({"frequency": [0, 0, 2], "recency": [0.0, 0.0, 3.0],
    ...                   "T": [5.0, 5.0, 6.0]})
    >>> sufficient_statistics(s)["customers"].tolist()
    [2, 1]
    """
    _check_summary(summary, ("frequency", "recency", "T"), "sufficient_statistics")
    return (
        summary.groupby(["frequency", "recency", "T"], sort=True)
        .size()
        .rename("customers")
        .reset_index()
    )


def _check_history(summary: pd.DataFrame) -> None:
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    bad = (x < 0) | (t_x < 0) | (t_x > T + 1e-9) | (T <= 0) | ((x > 0) & (t_x <= 0))
    if bad.any():
        raise ValueError(
            f"summary: {int(bad.sum()):,} customers break 0 <= recency <= T, T > 0, "
            "recency > 0 when frequency > 0 (e.g. row "
            f"{summary.index[np.flatnonzero(bad)[0]]!r})"
        )


def _start(model: str, x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Starting values: r = 1 and a rate scale that matches the mean repeat rate."""
    rate = max(float((w * x).sum() / (w * T).sum()), 1e-6)
    alpha = 1.0 / rate
    start = {"r": 1.0, "alpha": alpha, "a": 1.0, "b": 1.0, "s": 1.0, "beta": alpha}
    return np.log([start[k] for k in PARAM_NAMES[model]])


def _maximise(
    objective: Callable[[np.ndarray], Any], start: np.ndarray, jac: bool
) -> tuple[np.ndarray, bool]:
    """L-BFGS-B on the log parameters; one restart from the optimum when it stops early
    (finite-difference gradients sometimes end it before convergence)."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    best = minimize(objective, start, method="L-BFGS-B", jac=jac, bounds=bounds)
    if not best.success:
        again = minimize(objective, best.x, method="L-BFGS-B", jac=jac, bounds=bounds)
        best = again if again.fun <= best.fun else best
    at_bound = np.any(np.abs(best.x) >= _LOG_BOUND - 1e-6)
    return best.x, bool(best.success and not at_bound)


def _objective(
    loglik: Callable[[dict[str, Any]], np.ndarray],
    gradient: Callable[[dict[str, Any]], dict[str, np.ndarray]] | None,
    names: tuple[str, ...],
    weights: np.ndarray,
) -> Callable[[np.ndarray], Any]:
    """Mean negative log-likelihood of the log parameters, with its gradient when given."""
    total = weights.sum()

    def value(theta: np.ndarray) -> Any:
        params = dict(zip(names, np.exp(theta), strict=True))
        with np.errstate(all="ignore"):
            nll = -(weights * loglik(params)).sum() / total
            if gradient is None:
                return float(nll) if np.isfinite(nll) else 1e10
            grads = gradient(params)
            jac = np.array([-(weights * grads[k]).sum() / total * params[k] for k in names])
        if not (np.isfinite(nll) and np.all(np.isfinite(jac))):
            return 1e10, np.zeros(len(names))
        return float(nll), jac

    return value


def _fit_mle(model: str, summary: pd.DataFrame) -> tuple[dict[str, float], bool]:
    stats = sufficient_statistics(summary)
    x, t_x, T, w = (
        stats[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "customers")
    )
    names = PARAM_NAMES[model]
    has_gradient = model != "pareto_nbd"  # its hypergeometric terms: finite differences
    objective = _objective(
        lambda p: purchase_log_likelihood(model, p, x, t_x, T),
        (lambda p: purchase_log_likelihood_gradient(model, p, x, t_x, T)) if has_gradient else None,
        names,
        w,
    )
    theta, ok = _maximise(objective, _start(model, x, T, w), jac=has_gradient)
    log.info(
        "%s: MLE on %s distinct histories of %s customers",
        model,
        f"{len(stats):,}",
        f"{int(w.sum()):,}",
    )
    return dict(zip(names, np.exp(theta).tolist(), strict=True)), ok


def default_priors(model: str) -> dict[str, Any]:
    """Priors of ``map`` and ``mcmc`` as a pymc-marketing ``model_config``.

    Purchase models: pymc-marketing 0.19.2's defaults for the unit-free parameters
    (``r``, ``s`` ~ Weibull(2, 1); BG/NBD and modified BG/NBD ``a = φκ``, ``b = (1-φ)κ``
    with φ ~ Uniform(0, 1), κ ~ Pareto(1, 1)) and flat priors on the time-scale
    parameters ``alpha`` and ``beta``: pymc-marketing's Weibull(2, 10) for them is in
    whatever unit the data has and all but excludes ``beta`` > 30 — a mean lifetime of
    more than about 30 weeks, common in retail. Gamma–Gamma: flat ``p, q, v``
    (pymc-marketing's default; ``v`` is γ and carries the currency's scale).
    """
    from pymc_extras.prior import Prior

    flat = Prior("HalfFlat")
    if model == "gamma_gamma":
        return {"p": flat, "q": flat, "v": flat}
    if model not in PURCHASE_MODELS:
        raise ValueError(f"default_priors: unknown model {model!r}")
    shape = Prior("Weibull", alpha=2, beta=1)
    if model == "pareto_nbd":
        return {"r": shape, "alpha": flat, "s": shape, "beta": flat}
    return {
        "r": shape,
        "alpha": flat,
        "phi_dropout": Prior("Uniform", lower=0, upper=1),
        "kappa_dropout": Prior("Pareto", alpha=1, m=1),
    }


def describe_priors(config: Mapping[str, Any]) -> dict[str, str]:
    """A model_config's priors in words, e.g. ``{"r": "Weibull(alpha=2, beta=1)"}``."""
    out = {}
    for name, prior in config.items():
        dist = getattr(prior, "distribution", None)
        if dist is None:
            out[name] = str(prior)
            continue
        args = ", ".join(f"{k}={v}" for k, v in getattr(prior, "parameters", {}).items())
        out[name] = f"{dist}({args})"
    return out


def _pymc_class(model: str) -> Any:
    from pymc_marketing import clv as pmc

    return {
        "bg_nbd": pmc.BetaGeoModel,
        "pareto_nbd": pmc.ParetoNBDModel,
        "mbg_nbd": pmc.ModifiedBetaGeoModel,
        "gamma_gamma": pmc.GammaGammaModel,
    }[model]


def _fit_pymc(
    model: str,
    data: pd.DataFrame,
    method: str,
    priors: Mapping[str, Any] | None,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> tuple[dict[str, float], pd.DataFrame | None, bool, Any, dict[str, Any]]:
    config = dict(priors) if priors is not None else default_priors(model)
    estimator = _pymc_class(model)(model_config=config)
    kwargs: dict[str, Any] = {"progressbar": False}
    if method == "mcmc":
        kwargs.update(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = estimator.fit(data, method=method, **kwargs)
    post = idata.posterior
    names = PARAM_NAMES[model]
    source = {"gamma": "v"} if model == "gamma_gamma" else {}
    stacked = {k: post[source.get(k, k)].to_numpy().reshape(-1) for k in names}
    draws_frame = pd.DataFrame(stacked) if method == "mcmc" else None
    params = {k: float(np.mean(v)) for k, v in stacked.items()}
    if method == "mcmc":
        import arviz as az

        rhat = az.rhat(post[[source.get(k, k) for k in names]])
        converged = bool(all(float(rhat[v]) < 1.01 for v in rhat.data_vars))
    else:
        converged = bool(np.all(np.isfinite(list(params.values()))))
    return params, draws_frame, converged, estimator, config


def _sample(summary: pd.DataFrame, fit_sample: int, seed: int) -> pd.DataFrame:
    if fit_sample and len(summary) > fit_sample:
        log.info(
            "fitting on a seeded sample of %s of %s customers",
            f"{fit_sample:,}",
            f"{len(summary):,}",
        )
        return summary.sample(n=fit_sample, random_state=seed)
    return summary


def fit_purchase_model(
    summary: pd.DataFrame,
    model: str = "bg_nbd",
    *,
    method: str = "mle",
    time_unit: str = "weeks",
    priors: Mapping[str, Any] | None = None,
    fit_sample: int = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    random_state: int = 7,
) -> FittedModel:
    """Fit BG/NBD, Pareto/NBD or the modified BG/NBD to a customer summary.

    Parameters
    ----------
    summary : DataFrame
        ``customer_id, frequency, recency, T`` (from :func:`~workbench.clv.rfm_summary`).
    model : {"bg_nbd", "pareto_nbd", "mbg_nbd"}, default "bg_nbd"
    method : {"mle", "map", "mcmc"}, default "mle"
        See the module docstring.
    time_unit : str, default "weeks"
        The unit of ``recency`` and ``T`` (recorded with the parameters).
    priors : mapping, optional
        pymc-marketing ``model_config`` for ``map`` and ``mcmc``; :func:`default_priors`
        when omitted. Ignored by ``mle`` (flat priors).
    fit_sample : int, default 0
        ``map``/``mcmc`` only: fit on a seeded sample of this many customers (0: all).
    draws, tune, chains : int
        NUTS settings (``mcmc``).
    random_state : int, default 7
        Seed of the sample and of NUTS.

    Returns
    -------
    FittedModel
        ``log_likelihood`` is summed over the customers fitted (the sample, if any).

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": list("abcd"), "frequency": [0, 1, 3, 2],
    ...                   "recency": [0.0, 5.0, 20.0, 8.0], "T": [30.0, 25.0, 28.0, 40.0]})
    >>> fit = fit_purchase_model(s, "bg_nbd")
    >>> sorted(fit.params), fit.customers
    (['a', 'alpha', 'b', 'r'], 4)
    """
    if model not in PURCHASE_MODELS:
        raise ValueError(
            f"fit_purchase_model: model must be one of {', '.join(PURCHASE_MODELS)}; got {model!r}"
        )
    if method not in METHODS:
        raise ValueError(
            f"fit_purchase_model: method must be one of {', '.join(METHODS)}; got {method!r}"
        )
    _check_summary(summary, ("customer_id", "frequency", "recency", "T"), "fit_purchase_model")
    _check_history(summary)
    started = time.perf_counter()
    draws_frame, result, used = None, None, summary
    if method == "mle":
        params, converged = _fit_mle(model, summary)
        prior_words = {k: "flat" for k in PARAM_NAMES[model]}
    else:
        used = _sample(summary, fit_sample, random_state)
        data = used[["customer_id", "frequency", "recency", "T"]].reset_index(drop=True)
        params, draws_frame, converged, result, config = _fit_pymc(
            model, data, method, priors, draws=draws, tune=tune, chains=chains, seed=random_state
        )
        prior_words = describe_priors(config)
    ll = purchase_log_likelihood(
        model, params, *(used[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    )
    seconds = time.perf_counter() - started
    if not converged:
        log.warning(
            "%s (%s): the fit did not converge; check the parameters %s", model, method, params
        )
    log.info(
        "%s (%s) fitted in %.1f s: %s",
        model,
        method,
        seconds,
        {k: round(v, 4) for k, v in params.items()},
    )
    return FittedModel(
        model=model,
        method=method,
        params=params,
        log_likelihood=float(ll.sum()),
        customers=len(used),
        time_unit=time_unit,
        seconds=seconds,
        converged=converged,
        priors=prior_words,
        draws=draws_frame,
        result=result,
    )


def spend_customers(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers the Gamma–Gamma model is fitted on: a repeat transaction and a
    positive mean repeat value (zero or negative means — refunds netted into a day —
    cannot come from a Gamma distribution; how many are left out is logged)."""
    _check_summary(summary, ("customer_id", "frequency", "monetary_value"), "spend_customers")
    repeat = summary["frequency"] > 0
    positive = summary["monetary_value"] > 0
    dropped = int((repeat & ~positive).sum())
    if dropped:
        log.warning(
            "Gamma–Gamma: %s customers with repeat transactions but a mean value <= 0 or "
            "missing are left out of the spend fit",
            f"{dropped:,}",
        )
    return summary.loc[repeat & positive]


def fit_gamma_gamma(
    summary: pd.DataFrame,
    *,
    method: str = "mle",
    priors: Mapping[str, Any] | None = None,
    fit_sample: int = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    random_state: int = 7,
) -> FittedModel:
    """Fit the Gamma–Gamma spend model on the customers with repeat transactions.

    Parameters are ``p, q, gamma`` (pymc-marketing calls γ ``v``). The other arguments
    are those of :func:`fit_purchase_model`.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": list("abcde"), "frequency": [1, 2, 3, 1, 0],
    ...                   "monetary_value": [10.0, 30.0, 20.0, 50.0, 0.0]})
    >>> fit = fit_gamma_gamma(s)
    >>> fit.customers  # the one without a repeat transaction is not fitted
    4
    """
    if method not in METHODS:
        raise ValueError(
            f"fit_gamma_gamma: method must be one of {', '.join(METHODS)}; got {method!r}"
        )
    fitted = spend_customers(summary)
    if fitted.empty:
        raise ValueError(
            "fit_gamma_gamma: no customer has a repeat transaction with a positive value; "
            "the spend model needs at least one"
        )
    started = time.perf_counter()
    draws_frame, result = None, None
    if method == "mle":
        x = fitted["frequency"].to_numpy(dtype=float)
        z = fitted["monetary_value"].to_numpy(dtype=float)

        objective = _objective(
            lambda p: gamma_gamma_log_likelihood(p, x, z),
            lambda p: gamma_gamma_log_likelihood_gradient(p, x, z),
            PARAM_NAMES["gamma_gamma"],
            np.ones(len(x)),
        )
        start = np.log([1.0, 2.0, float(np.median(z))])
        theta, converged = _maximise(objective, start, jac=True)
        params = dict(zip(PARAM_NAMES["gamma_gamma"], np.exp(theta).tolist(), strict=True))
        prior_words = {k: "flat" for k in PARAM_NAMES["gamma_gamma"]}
        used = fitted
    else:
        used = _sample(fitted, fit_sample, random_state)
        data = used[["customer_id", "frequency", "monetary_value"]].reset_index(drop=True)
        params, draws_frame, converged, result, config = _fit_pymc(
            "gamma_gamma",
            data,
            method,
            priors,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_state,
        )
        prior_words = describe_priors(config)
    ll = gamma_gamma_log_likelihood(
        params,
        used["frequency"].to_numpy(dtype=float),
        used["monetary_value"].to_numpy(dtype=float),
    )
    seconds = time.perf_counter() - started
    if params["q"] <= 1:
        log.warning(
            "Gamma–Gamma: q = %.3f <= 1, so the population mean spend is infinite", params["q"]
        )
    return FittedModel(
        model="gamma_gamma",
        method=method,
        params=params,
        log_likelihood=float(ll.sum()),
        customers=len(used),
        time_unit="",
        seconds=seconds,
        converged=converged,
        priors=prior_words,
        draws=draws_frame,
        result=result,
    )
