"""The Bayesian models of an A/B test, in PyMC.

* **Conversion** (every variant ``v``): ``p_v ~ Beta(a, b)``, ``conversions_v ~
  Binomial(users_v, p_v)``. Its exact posterior is ``Beta(a + conversions, b + users -
  conversions)`` (:func:`beta_posterior`), which the tests hold the sampler to.
* **Revenue per user** (when per-user revenue exists) is a hurdle model: a user converts
  with ``p_v`` and a converter's revenue is Gamma (default) or log-normal with a mean
  ``m_v`` per variant, so revenue per user is ``p_v * m_v``. The order-value prior is
  centred on the pooled order value of all arms (it favours no variant).
* **Segments**: conversion per segment ``s`` and variant with partial pooling of the
  effects on the log-odds scale: ``logit p_sc = a_s`` for control and ``a_s + b_sv`` for
  each other variant. Per-segment effects ``b_sv ~ Normal(mu_v, tau_v)`` shrink towards
  the variant's overall effect ``mu_v`` (non-centred, as they are weakly informed, with a
  zero-avoiding Gamma prior on ``tau_v``: both keep NUTS free of divergences). Segment baselines ``a_s ~ Normal(logit(pooled
  rate), sd)`` are independent: they are not what we estimate, they differ a lot between
  segments, and pooling them adds a funnel that makes NUTS diverge on small segments.

Every model is sampled with PyMC's NUTS (:class:`Sampling` holds draws, tune, chains,
cores and the seed) and checked with :func:`sampling_diagnostics` (r-hat, effective
sample size, divergences), which logs a warning when they are poor.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from workbench.experiments.data import ExperimentData, ExperimentInputError

__all__ = [
    "Priors",
    "Sampling",
    "VariantPosterior",
    "SegmentPosterior",
    "beta_posterior",
    "beta_hdi",
    "fit_variants",
    "fit_segments",
    "sampling_diagnostics",
    "MAX_R_HAT",
    "MIN_ESS_PER_CHAIN",
    "VALUE_LIKELIHOODS",
]

log = logging.getLogger(__name__)

MAX_R_HAT = 1.01  # Vehtari et al. (2021): rank-normalised split r-hat below 1.01
MIN_ESS_PER_CHAIN = 100  # bulk and tail ESS of at least 100 per chain
#: Distributions of a converter's revenue the revenue model offers.
VALUE_LIKELIHOODS = ("gamma", "lognormal")


@dataclass(frozen=True)
class Priors:
    """Priors of the three models (weakly informative defaults).

    Attributes
    ----------
    conversion_alpha, conversion_beta : float, default 1, 1
        ``Beta(a, b)`` prior of each variant's conversion rate; ``Beta(1, 1)`` is flat
        over 0–100 % and weighs as much as two observed users.
    value_likelihood : {"gamma", "lognormal"}, default "gamma"
        Distribution of a converter's revenue. Gamma's posterior mean follows the sample
        mean closely; log-normal suits very skewed order values.
    value_mean_sd : float, default 1.0
        Standard deviation of the log of each variant's mean order value around the log of
        the pooled mean (1.0: a factor of e ≈ 2.7 either way is plausible).
    value_shape_sd : float, default 1.0
        Gamma: ``log(shape) ~ Normal(0, sd)``; log-normal: ``sigma ~ HalfNormal(sd)``.
    segment_baseline_sd : float, default 1.5
        Log-odds scale: each segment's control rate ``a_s ~ Normal(logit(pooled rate), sd)``
        (±2 sd spans about 0.5 % to 70 % around a pooled 10 %).
    effect_sd : float, default 0.5
        ``mu_v ~ Normal(0, sd)``: each variant's overall effect in log-odds (0.5 is about
        a ±65 % relative change at low rates, two standard deviations ≈ ×0.37–×2.7).
    effect_spread : float, default 0.2
        ``tau_v ~ Gamma(2, 2 / effect_spread)`` (mean 0.2, mode 0.1 in log-odds): how much
        a variant's effect differs between segments; smaller pools harder towards the
        overall effect. The Gamma keeps ``tau`` away from 0, which removes the funnel that
        makes NUTS diverge with a handful of segments (Chung et al. 2013).
    """

    conversion_alpha: float = 1.0
    conversion_beta: float = 1.0
    value_likelihood: str = "gamma"
    value_mean_sd: float = 1.0
    value_shape_sd: float = 1.0
    segment_baseline_sd: float = 1.5
    effect_sd: float = 0.5
    effect_spread: float = 0.2

    def __post_init__(self) -> None:
        if self.value_likelihood not in VALUE_LIKELIHOODS:
            raise ValueError(
                f"value_likelihood: expected one of {', '.join(VALUE_LIKELIHOODS)}, "
                f"got {self.value_likelihood!r}"
            )
        for name, value in asdict(self).items():
            if name != "value_likelihood" and not (np.isfinite(value) and value > 0):
                raise ValueError(f"prior {name}: expected a positive number, got {value!r}")

    def describe(self) -> pd.DataFrame:
        """The priors as a table (model, parameter, prior, what it means)."""
        a, b = self.conversion_alpha, self.conversion_beta
        shape = (
            f"log(shape) ~ Normal(0, {self.value_shape_sd:g})"
            if self.value_likelihood == "gamma"
            else f"sigma ~ HalfNormal({self.value_shape_sd:g})"
        )
        rows = [
            ("conversion", "p_v", f"Beta({a:g}, {b:g})", f"prior mean {a / (a + b):.0%}"),
            (
                "revenue",
                "log m_v",
                f"Normal(log pooled mean, {self.value_mean_sd:g})",
                f"{self.value_likelihood} order value, mean m_v per variant",
            ),
            ("revenue", "shape", shape, "spread of order values"),
            (
                "segments",
                "a_s",
                f"Normal(logit pooled rate, {self.segment_baseline_sd:g})",
                "control rate of each segment (log-odds), not pooled",
            ),
            ("segments", "mu_v", f"Normal(0, {self.effect_sd:g})", "overall effect (log-odds)"),
            (
                "segments",
                "tau_v",
                f"Gamma(2, {2 / self.effect_spread:g})",
                "effect spread between segments",
            ),
        ]
        return pd.DataFrame(rows, columns=["model", "parameter", "prior", "meaning"])


@dataclass(frozen=True)
class Sampling:
    """NUTS settings shared by the models.

    ``cores`` above ``chains`` is pointless and is capped; keep it at 1–2 on shared machines.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 1
    random_seed: int = 7
    target_accept: float = 0.95

    def __post_init__(self) -> None:
        for name in ("draws", "tune", "chains", "cores"):
            value = getattr(self, name)
            minimum = 0 if name == "tune" else 1
            if not isinstance(value, int | np.integer) or value < minimum:
                raise ValueError(
                    f"sampling {name}: expected an integer >= {minimum}, got {value!r}"
                )
        if not 0.5 <= self.target_accept < 1:
            raise ValueError(f"target_accept: expected 0.5 to 1, got {self.target_accept!r}")

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymc.sample``."""
        return {
            "draws": int(self.draws),
            "tune": int(self.tune),
            "chains": int(self.chains),
            "cores": int(min(self.cores, self.chains)),
            "random_seed": int(self.random_seed),
            "target_accept": float(self.target_accept),
            "progressbar": False,
            "compute_convergence_checks": False,  # sampling_diagnostics reports them
        }


@dataclass
class VariantPosterior:
    """Posterior of the per-variant model.

    Attributes
    ----------
    idata : arviz.InferenceData
    conversion : pandas.DataFrame
        Posterior draws (rows) of each variant's conversion rate (columns).
    order_value, revenue_per_user : pandas.DataFrame or None
        Draws of the mean revenue of a converter and of revenue per user (``None``
        without per-user revenue).
    diagnostics : dict
        See :func:`sampling_diagnostics`.
    notes : list of str
    """

    idata: Any
    conversion: pd.DataFrame
    order_value: pd.DataFrame | None
    revenue_per_user: pd.DataFrame | None
    diagnostics: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class SegmentPosterior:
    """Posterior of the hierarchical per-segment conversion model.

    Attributes
    ----------
    idata : arviz.InferenceData
    cells : pandas.DataFrame
        ``segment, variant, users, conversions`` (every combination, zeros included).
    rates : numpy.ndarray
        Draws × segments × variants of the conversion rate.
    segments, variants : list of str
    control : str
    diagnostics : dict
    """

    idata: Any
    cells: pd.DataFrame
    rates: np.ndarray
    segments: list[str]
    variants: list[str]
    control: str
    diagnostics: dict[str, Any]


# --------------------------------------------------------------------------- closed form


def beta_hdi(a: float, b: float, prob: float = 0.95) -> tuple[float, float]:
    """The highest-density interval of ``Beta(a, b)`` (the shortest one holding ``prob``).

    Examples
    --------
    >>> low, high = beta_hdi(51, 951)
    >>> round(low, 4), round(high, 4)
    (0.0376, 0.0647)
    """
    dist = stats.beta(a, b)
    if a <= 1 < b:  # decreasing density: the interval starts at 0
        return 0.0, float(dist.ppf(prob))
    if b <= 1 < a:  # increasing density: the interval ends at 1
        return float(dist.ppf(1 - prob)), 1.0
    if a <= 1 and b <= 1:  # flat or U-shaped (no data): equal tails
        return float(dist.ppf((1 - prob) / 2)), float(dist.ppf((1 + prob) / 2))

    def width(lower_tail: float) -> float:
        return float(dist.ppf(lower_tail + prob) - dist.ppf(lower_tail))

    best = optimize.minimize_scalar(
        width, bounds=(0.0, 1 - prob), method="bounded", options={"xatol": 1e-10}
    )
    low = float(best.x)
    return float(dist.ppf(low)), float(dist.ppf(low + prob))


def beta_posterior(
    counts: pd.DataFrame, *, alpha: float = 1.0, beta: float = 1.0, hdi_prob: float = 0.95
) -> pd.DataFrame:
    """The exact conversion posterior per variant: ``Beta(alpha + conversions, beta +
    users - conversions)`` with its mean, standard deviation and HDI.

    Examples
    --------
    >>> counts = pd.DataFrame({"variant": ["a"], "users": [1000], "conversions": [50]})
    >>> beta_posterior(counts).round(4)[["variant", "mean", "hdi_low", "hdi_high"]]
      variant    mean  hdi_low  hdi_high
    0       a  0.0509   0.0376    0.0647
    """
    rows = []
    for row in counts.itertuples():
        a = alpha + row.conversions
        b = beta + row.users - row.conversions
        low, high = beta_hdi(a, b, hdi_prob)
        rows.append(
            {
                "variant": row.variant,
                "alpha": a,
                "beta": b,
                "mean": a / (a + b),
                "sd": float(stats.beta(a, b).std()),
                "hdi_low": low,
                "hdi_high": high,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- variant model


def fit_variants(
    data: ExperimentData, *, priors: Priors | None = None, sampling: Sampling | None = None
) -> VariantPosterior:
    """Sample conversion per variant and, with per-user revenue, the hurdle revenue model.

    Parameters
    ----------
    data : ExperimentData
    priors : Priors, optional
    sampling : Sampling, optional

    Returns
    -------
    VariantPosterior
    """
    import pymc as pm

    priors = priors or Priors()
    sampling = sampling or Sampling()
    variants = list(data.variants)
    counts = data.counts.set_index("variant").loc[variants]
    values, index, notes = _order_values(data)
    with pm.Model(coords={"variant": variants}) as model:
        rate = pm.Beta(
            "conversion_rate", priors.conversion_alpha, priors.conversion_beta, dims="variant"
        )
        pm.Binomial(
            "conversions",
            n=counts["users"].to_numpy(),
            p=rate,
            observed=counts["conversions"].to_numpy(),
            dims="variant",
        )
        if values is not None and index is not None:
            value = _order_value_block(pm, priors, values, index)
            pm.Deterministic("revenue_per_user", rate * value, dims="variant")
        log.info(
            "sampling the variant model (%s; %d draws x %d chains)",
            "conversion + revenue" if values is not None else "conversion",
            sampling.draws,
            sampling.chains,
        )
        idata = _sample(pm, model, sampling)
    names = ["conversion_rate"] + (["order_value"] if values is not None else [])
    diagnostics = sampling_diagnostics(idata, names, label="variant model")
    return VariantPosterior(
        idata=idata,
        conversion=_draws(idata, "conversion_rate", variants),
        order_value=_draws(idata, "order_value", variants) if values is not None else None,
        revenue_per_user=_draws(idata, "revenue_per_user", variants)
        if values is not None
        else None,
        diagnostics=diagnostics,
        notes=notes,
    )


def _order_values(data: ExperimentData) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """Revenue of each converter and their variant index (``None`` when unusable)."""
    if not data.has_users:
        return None, None, ["revenue model skipped: needs per-user revenue (aggregated input)"]
    users = data.user_table
    converters = users[users["converted"]]
    positive = converters["revenue"] > 0
    notes = []
    if (~positive).any():
        notes.append(
            f"{int((~positive).sum()):,} converter(s) with zero or negative revenue left out "
            "of the order-value model (they still count as conversions)"
        )
    converters = converters[positive]
    if len(converters) < 2:
        return None, None, ["revenue model skipped: fewer than two converters with revenue"]
    if converters["revenue"].nunique() == 1:
        notes.append(
            f"every converter spent {converters['revenue'].iloc[0]:,.2f}: the order value is "
            "treated as known, so revenue per user follows conversion"
        )
    codes = pd.Categorical(converters["variant"], categories=list(data.variants)).codes
    return converters["revenue"].to_numpy(dtype="float64"), np.asarray(codes), notes


def _order_value_block(pm: Any, priors: Priors, values: np.ndarray, index: np.ndarray) -> Any:
    """Order-value likelihood; returns the per-variant mean order value (a tensor).

    When every converter spent the same (a fixed price), the order value is known and
    a likelihood would push the spread to zero and stall the sampler, so it is a constant.
    """
    if np.ptp(values) <= 1e-9 * abs(values.mean()):
        n = len(pm.modelcontext(None).coords["variant"])
        return pm.Deterministic("order_value", pm.math.ones(n) * values.mean(), dims="variant")
    if priors.value_likelihood == "gamma":
        log_mean = pm.Normal(
            "log_order_value", np.log(values.mean()), priors.value_mean_sd, dims="variant"
        )
        log_shape = pm.Normal("log_value_shape", 0.0, priors.value_shape_sd, dims="variant")
        mean = pm.Deterministic("order_value", pm.math.exp(log_mean), dims="variant")
        shape = pm.math.exp(log_shape)
        pm.Gamma("value", alpha=shape[index], beta=shape[index] / mean[index], observed=values)
        return mean
    logs = np.log(values)
    mu = pm.Normal("log_value_mu", logs.mean(), priors.value_mean_sd, dims="variant")
    sigma = pm.HalfNormal("log_value_sigma", priors.value_shape_sd, dims="variant")
    pm.LogNormal("value", mu=mu[index], sigma=sigma[index], observed=values)
    return pm.Deterministic("order_value", pm.math.exp(mu + sigma**2 / 2), dims="variant")


def _sample(pm: Any, model: Any, sampling: Sampling) -> Any:
    """``pymc.sample`` without PyTensor's BLAS warning: these models have no large matrix
    products, so a pip-installed PyTensor without BLAS loses nothing here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*could not link to a BLAS", category=UserWarning
        )
        return pm.sample(model=model, **sampling.kwargs())


def _draws(idata: Any, name: str, variants: list[str]) -> pd.DataFrame:
    stacked = idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
    return pd.DataFrame(stacked.to_numpy(), columns=variants)


# --------------------------------------------------------------------------- segment model


def fit_segments(
    data: ExperimentData, *, priors: Priors | None = None, sampling: Sampling | None = None
) -> SegmentPosterior:
    """Sample the hierarchical conversion model over ``data.users['segment']``.

    Raises
    ------
    ExperimentInputError
        No segment column (call :func:`~workbench.experiments.attach_segments` first)
        or fewer than two segments.
    """
    import pymc as pm

    if not data.has_segments:
        raise ExperimentInputError(
            "per-segment effects need users with a 'segment' column; call attach_segments first"
        )
    priors = priors or Priors()
    sampling = sampling or Sampling()
    cells = _segment_cells(data)
    segments = list(dict.fromkeys(cells["segment"]))
    if len(segments) < 2:
        raise ExperimentInputError(
            f"per-segment effects need at least two segments; found {', '.join(segments)}"
        )
    variants = list(data.variants)
    treatments = variants[1:]
    users = cells.pivot(index="segment", columns="variant", values="users").loc[segments, variants]
    conv = cells.pivot(index="segment", columns="variant", values="conversions").loc[
        segments, variants
    ]
    pooled = (conv.to_numpy().sum() + 0.5) / (users.to_numpy().sum() + 1.0)
    coords = {"segment": segments, "variant": variants, "treatment": treatments}
    with pm.Model(coords=coords) as model:
        # baselines are nuisance parameters and differ a lot between segments (3 % vs 40 %):
        # independent, weakly informative priors avoid the funnel a pooled scale causes
        baseline = pm.Normal(
            "baseline", special.logit(pooled), priors.segment_baseline_sd, dims="segment"
        )
        mu_b = pm.Normal("effect_mu", 0.0, priors.effect_sd, dims="treatment")
        tau_b = pm.Gamma(
            "effect_sigma", alpha=2.0, beta=2.0 / priors.effect_spread, dims="treatment"
        )
        z_b = pm.Normal("effect_z", 0.0, 1.0, dims=("segment", "treatment"))
        effect = pm.Deterministic("effect", mu_b + tau_b * z_b, dims=("segment", "treatment"))
        zeros = pm.math.zeros((len(segments), 1))
        logit = baseline[:, None] + pm.math.concatenate([zeros, effect], axis=1)
        rate = pm.Deterministic("rate", pm.math.invlogit(logit), dims=("segment", "variant"))
        pm.Binomial(
            "conversions",
            n=users.to_numpy(),
            p=rate,
            observed=conv.to_numpy(),
            dims=("segment", "variant"),
        )
        log.info(
            "sampling the segment model (%d segments x %d variants; %d draws x %d chains)",
            len(segments),
            len(variants),
            sampling.draws,
            sampling.chains,
        )
        idata = _sample(pm, model, sampling)
    names = ["baseline", "effect_mu", "effect_sigma", "rate"]
    diagnostics = sampling_diagnostics(idata, names, label="segment model")
    rates = idata.posterior["rate"].stack(sample=("chain", "draw")).transpose("sample", ...)
    return SegmentPosterior(
        idata=idata,
        cells=cells,
        rates=rates.to_numpy(),
        segments=segments,
        variants=variants,
        control=data.control,
        diagnostics=diagnostics,
    )


def _segment_cells(data: ExperimentData) -> pd.DataFrame:
    users = data.user_table
    grouped = users.groupby(["segment", "variant"], observed=False)
    cells = pd.DataFrame(
        {"users": grouped.size(), "conversions": grouped["converted"].sum()}
    ).reset_index()
    cells["segment"] = cells["segment"].astype("str")
    cells["variant"] = cells["variant"].astype("str")
    full = pd.MultiIndex.from_product(
        [users["segment"].astype("str").unique(), list(data.variants)], names=["segment", "variant"]
    )
    cells = cells.set_index(["segment", "variant"]).reindex(full, fill_value=0).reset_index()
    order = {v: i for i, v in enumerate(data.variants)}
    cells = cells.assign(
        _size=cells.groupby("segment")["users"].transform("sum"), _v=cells["variant"].map(order)
    ).sort_values(["_size", "segment", "_v"], ascending=[False, True, True], kind="stable")
    cells["users"] = cells["users"].astype("int64")
    cells["conversions"] = cells["conversions"].astype("int64")
    return cells.drop(columns=["_size", "_v"]).reset_index(drop=True)


# --------------------------------------------------------------------------- diagnostics


def sampling_diagnostics(
    idata: Any, var_names: list[str] | None = None, *, label: str = "model"
) -> dict[str, Any]:
    """r-hat, effective sample sizes and divergences, with ``ok`` and the problems in words.

    Thresholds: r-hat ≤ 1.01, bulk and tail ESS ≥ 100 per chain, no divergences. Poor
    diagnostics are logged as a WARNING.

    Returns
    -------
    dict
        ``max_r_hat, min_ess_bulk, min_ess_tail, divergences, chains, draws, ok,
        problems`` (a list of sentences).
    """
    import arviz as az

    posterior = idata.posterior
    chains, draws = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    names = var_names or list(posterior.data_vars)
    # constant quantities (e.g. a known order value) have no r-hat: ignore their NaN
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        r_hat = _extreme(az.rhat(idata, var_names=names), np.nanmax) if chains > 1 else np.nan
        ess_bulk = _extreme(az.ess(idata, var_names=names, method="bulk"), np.nanmin)
        ess_tail = _extreme(az.ess(idata, var_names=names, method="tail"), np.nanmin)
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    min_ess = MIN_ESS_PER_CHAIN * chains
    problems = []
    if np.isfinite(r_hat) and r_hat > MAX_R_HAT:
        problems.append(f"r-hat {r_hat:.3f} > {MAX_R_HAT} (chains disagree)")
    if chains < 2:
        problems.append("one chain only: r-hat cannot be computed")
    if np.isfinite(ess_bulk) and ess_bulk < min_ess:
        problems.append(f"bulk ESS {ess_bulk:.0f} < {min_ess} (100 per chain)")
    if np.isfinite(ess_tail) and ess_tail < min_ess:
        problems.append(f"tail ESS {ess_tail:.0f} < {min_ess} (intervals are unreliable)")
    if divergences:
        problems.append(f"{divergences} divergent transition(s) (the posterior may be biased)")
    result = {
        "max_r_hat": float(r_hat),
        "min_ess_bulk": float(ess_bulk),
        "min_ess_tail": float(ess_tail),
        "divergences": divergences,
        "chains": chains,
        "draws": draws,
        "ok": not problems,
        "problems": problems,
    }
    if problems:
        log.warning("%s: POOR SAMPLING DIAGNOSTICS: %s", label, "; ".join(problems))
    return result


def _extreme(dataset: Any, reducer: Callable[..., Any]) -> float:
    parts = [np.asarray(dataset[name]).ravel() for name in dataset.data_vars]
    values = np.concatenate(parts) if parts else np.array([np.nan])
    values = values[np.isfinite(values)]
    return float(reducer(values)) if len(values) else float("nan")
