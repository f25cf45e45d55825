"""The Bayesian models of an A/B test: the exact conversion posterior, and PyMC where
no closed form exists.

* **Conversion** (every variant ``v``): ``p_v ~ Beta(a, b)``, ``conversions_v ~
  Binomial(users_v, p_v)``. Its posterior is exactly ``Beta(a + conversions, b + users -
  conversions)`` (:func:`beta_posterior`); :func:`fit_variants` draws from it directly
  (:func:`conversion_draws`) for the comparisons (probability to beat control, to be
  best, expected loss), so no sampler stands between the data and the answer.
* **Revenue per user** (when per-user revenue exists) is a hurdle model: a user converts
  with ``p_v`` and a converter's revenue is Gamma (default) or log-normal with a mean
  ``m_v`` per variant, so revenue per user is ``p_v * m_v``. The order-value prior is
  centred on the pooled order value of all arms (it favours no variant). The posterior
  factorises — conversions inform ``p_v`` only, order values ``m_v`` and the shape only —
  so ``p_v`` comes from its exact posterior and only the order-value part is sampled with
  NUTS, on its sufficient statistics per variant (:func:`order_value_stats`: converters,
  sum and sum of logs of their revenue, and the spread of the logs), whatever the number
  of converters.
* **Segments**: conversion per segment ``s`` and variant with partial pooling of the
  effects on the log-odds scale: ``logit p_sc = a_s`` for control and ``a_s + b_sv`` for
  each other variant. Per-segment effects ``b_sv ~ Normal(mu_v, tau_v)`` shrink towards
  the variant's overall effect ``mu_v`` (non-centred, as they are weakly informed, with a
  zero-avoiding Gamma prior on ``tau_v``). Each segment's level — the average log-odds of
  its arms, ``l_s = a_s + Σ_v b_sv / V`` — is ``Normal(logit(pooled rate), sd)``,
  independent between segments: levels are not what we estimate, they differ a lot
  between segments, and pooling them adds a funnel. Putting the prior on the level rather
  than on control's log-odds ``a_s`` decorrelates it from the effects (the data fix the
  level whatever the effect), so NUTS takes larger steps and does not diverge on the demo
  data at the default settings. The likelihood is binomial on each segment × variant cell
  (its sufficient statistics).

The sampled models run through :func:`~workbench.experiments.sampler.sample` (PyMC's NUTS,
or nutpie when installed; their output is logged, never shown) and are checked with
:func:`~workbench.experiments.sampler.sampling_diagnostics`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from workbench.experiments.data import ExperimentData, ExperimentInputError
from workbench.experiments.sampler import Sampling, sample, sampling_diagnostics

__all__ = [
    "Priors",
    "VariantPosterior",
    "SegmentPosterior",
    "beta_posterior",
    "beta_hdi",
    "conversion_draws",
    "exact_diagnostics",
    "order_value_model",
    "order_value_stats",
    "fit_variants",
    "fit_segments",
    "VALUE_LIKELIHOODS",
]

log = logging.getLogger(__name__)

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
        Log-odds scale: each segment's level — the average log-odds of its arms — is
        ``Normal(logit(pooled rate), sd)`` (±2 sd spans about 0.5 % to 70 % around a pooled
        10 %).
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
                "l_s",
                f"Normal(logit pooled rate, {self.segment_baseline_sd:g})",
                "each segment's average rate over its arms (log-odds), not pooled",
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


@dataclass
class VariantPosterior:
    """Posterior of the per-variant model.

    Attributes
    ----------
    conversion : pandas.DataFrame
        Draws (rows) of each variant's conversion rate (columns) from its exact Beta
        posterior.
    order_value, revenue_per_user : pandas.DataFrame or None
        Draws of the mean revenue of a converter and of revenue per user (``None``
        without per-user revenue); revenue per user is conversion × order value, draw by
        draw (the two parts of the posterior are independent).
    diagnostics : dict
        Of the sampled order-value model (:func:`~workbench.experiments.sampling_diagnostics`),
        or :func:`exact_diagnostics` when nothing was sampled.
    notes : list of str
    idata : arviz.InferenceData or None
        The order-value model's draws and sampler statistics (``None`` when nothing was
        sampled).
    """

    conversion: pd.DataFrame
    order_value: pd.DataFrame | None
    revenue_per_user: pd.DataFrame | None
    diagnostics: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    idata: Any = None

    def diagnostics_ok(self, metric: str = "conversion") -> bool:
        """Whether the draws of ``metric`` can be trusted: always for conversion (exact),
        for revenue per user when the order-value model's diagnostics are fine."""
        return metric == "conversion" or bool(self.diagnostics["ok"])


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


def conversion_draws(
    counts: pd.DataFrame,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    draws: int = 4000,
    random_seed: int = 7,
) -> pd.DataFrame:
    """Draws from each variant's exact conversion posterior ``Beta(alpha + conversions,
    beta + users - conversions)``: ``draws`` rows, one column per variant (in ``counts``
    order).

    Examples
    --------
    >>> counts = pd.DataFrame({"variant": ["a", "b"], "users": [1000, 1000],
    ...                        "conversions": [50, 70]})
    >>> d = conversion_draws(counts, draws=20000, random_seed=1)
    >>> d.shape, round(float(d["a"].mean()), 3), round(float((d["b"] > d["a"]).mean()), 2)
    ((20000, 2), 0.051, 0.97)
    """
    if not isinstance(draws, int | np.integer) or draws < 1:
        raise ValueError(f"conversion_draws: draws must be a positive int, got {draws!r}")
    a = alpha + counts["conversions"].to_numpy(dtype="float64")
    b = beta + (counts["users"] - counts["conversions"]).to_numpy(dtype="float64")
    # a stream of its own: not the one PyMC derives its chain seeds from for the same seed
    rng = np.random.default_rng(np.random.SeedSequence(int(random_seed)).spawn(1)[0])
    values = rng.beta(a, b, size=(int(draws), len(a)))
    return pd.DataFrame(values, columns=counts["variant"].astype("str").tolist())


def exact_diagnostics(note: str) -> dict[str, Any]:
    """The diagnostics record of a posterior that was computed, not sampled (nothing to
    check): the keys of :func:`~workbench.experiments.sampling_diagnostics` with
    ``method`` "exact", no draws judged, ``ok`` True, and ``note`` saying why."""
    return {
        "method": "exact",
        "max_r_hat": float("nan"),
        "min_ess_bulk": float("nan"),
        "min_ess_tail": float("nan"),
        "divergences": 0,
        "chains": 0,
        "draws": 0,
        "ok": True,
        "problems": [],
        "note": note,
    }


def fit_variants(
    data: ExperimentData, *, priors: Priors | None = None, sampling: Sampling | None = None
) -> VariantPosterior:
    """Conversion per variant from its exact posterior and, with per-user revenue, the
    hurdle revenue model (its order-value part sampled with NUTS).

    Every draw table has ``sampling.draws × sampling.chains`` rows.

    Parameters
    ----------
    data : ExperimentData
    priors : Priors, optional
    sampling : Sampling, optional

    Returns
    -------
    VariantPosterior
    """
    priors = priors or Priors()
    sampling = sampling or Sampling()
    variants = list(data.variants)
    counts = data.counts.set_index("variant").loc[variants].reset_index()
    conversion = conversion_draws(
        counts,
        alpha=priors.conversion_alpha,
        beta=priors.conversion_beta,
        draws=sampling.total_draws,
        random_seed=sampling.random_seed,
    )
    stats_, notes = _order_value_inputs(data)
    if stats_ is None:
        return VariantPosterior(
            conversion=conversion,
            order_value=None,
            revenue_per_user=None,
            diagnostics=exact_diagnostics("no revenue model: conversion only (exact)"),
            notes=notes,
        )
    if stats_.attrs.get("fixed_price") is not None:
        price = float(stats_.attrs["fixed_price"])
        value = pd.DataFrame(np.full(conversion.shape, price), columns=variants)
        diagnostics = exact_diagnostics("every converter spent the same: order value known")
        idata = None
    else:
        idata = _sample_order_values(stats_, priors, sampling)
        value = _draws(idata, "order_value", variants)
        diagnostics = sampling_diagnostics(
            idata, ["order_value", "value_shape"], label="order-value model"
        )
    return VariantPosterior(
        conversion=conversion,
        order_value=value,
        revenue_per_user=pd.DataFrame(conversion.to_numpy() * value.to_numpy(), columns=variants),
        diagnostics=diagnostics,
        notes=notes,
        idata=idata,
    )


def order_value_stats(revenue: pd.Series, variant: pd.Series, variants: list[str]) -> pd.DataFrame:
    """Sufficient statistics of the order-value likelihoods per variant, from the positive
    revenues of converters.

    Returns
    -------
    pandas.DataFrame
        Indexed by variant (every one of ``variants``, zeros where none): ``converters``
        (n), ``revenue`` (Σx), ``log_revenue`` (Σ log x), ``log_mean`` (mean of log x, 0
        when n = 0) and ``log_ss`` (Σ (log x − log_mean)²). The Gamma log-likelihood needs
        n, Σx and Σ log x; the log-normal one n, Σ log x and the spread of the logs.

    Examples
    --------
    >>> s = order_value_stats(pd.Series([10.0, 20.0, 5.0]), pd.Series(["a", "a", "b"]),
    ...                       ["a", "b", "c"])
    >>> s[["converters", "revenue"]]
             converters  revenue
    variant
    a                 2     30.0
    b                 1      5.0
    c                 0      0.0
    """
    values = revenue.to_numpy(dtype="float64")
    frame = pd.DataFrame({"variant": variant.astype("str").to_numpy(), "x": values})
    frame["log_x"] = np.log(frame["x"])
    grouped = frame.groupby("variant", sort=False)
    out = pd.DataFrame(
        {
            "converters": grouped.size(),
            "revenue": grouped["x"].sum(),
            "log_revenue": grouped["log_x"].sum(),
        }
    ).reindex(variants)
    out = out.fillna({"converters": 0, "revenue": 0.0, "log_revenue": 0.0})
    out["converters"] = out["converters"].astype("int64")
    n = out["converters"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["log_mean"] = np.where(n > 0, out["log_revenue"].to_numpy() / np.maximum(n, 1), 0.0)
    centred = frame["log_x"] - frame["variant"].map(out["log_mean"])
    out["log_ss"] = (centred**2).groupby(frame["variant"]).sum().reindex(variants).fillna(0.0)
    return out.rename_axis("variant")


def _order_value_inputs(data: ExperimentData) -> tuple[pd.DataFrame | None, list[str]]:
    """The order-value statistics per variant, or ``None`` when the model cannot run.

    The pooled means the priors centre on ride along in ``attrs`` (``pooled_mean``,
    ``pooled_log_mean``); ``attrs["fixed_price"]`` is set when every converter spent the
    same (a fixed price: the order value is known, a likelihood would push the spread to
    zero and stall the sampler).
    """
    if not data.has_users:
        return None, ["revenue model skipped: needs per-user revenue (aggregated input)"]
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
        return None, ["revenue model skipped: fewer than two converters with revenue"]
    values = converters["revenue"].to_numpy(dtype="float64")
    table = order_value_stats(converters["revenue"], converters["variant"], list(data.variants))
    table.attrs["pooled_mean"] = float(values.mean())
    table.attrs["pooled_log_mean"] = float(np.log(values).mean())
    if np.ptp(values) <= 1e-9 * abs(values.mean()):
        notes.append(
            f"every converter spent {values[0]:,.2f}: the order value is treated as known, "
            "so revenue per user follows conversion"
        )
        table.attrs["fixed_price"] = float(values.mean())
    return table, notes


def order_value_model(stats_: pd.DataFrame, priors: Priors) -> Any:
    """The PyMC model of the mean order value per variant on :func:`order_value_stats`.

    Gamma: ``log m_v ~ Normal(log pooled mean, value_mean_sd)``, ``log k_v ~ Normal(0,
    value_shape_sd)``, each revenue ``x ~ Gamma(k_v, rate k_v / m_v)``, whose summed
    log-likelihood is ``n k log(k/m) − n lgamma(k) + (k − 1) Σ log x − (k/m) Σ x``.
    Log-normal: ``mu_v ~ Normal(pooled mean log, value_mean_sd)``, ``sigma_v ~
    HalfNormal(value_shape_sd)``, summed log-likelihood ``−Σ log x − n log sigma − n/2
    log 2π − (SS + n (mean log − mu)²) / (2 sigma²)``, mean ``exp(mu + sigma²/2)``. Both
    are the per-converter likelihoods exactly, in a handful of numbers per variant.
    """
    import pymc as pm
    from pytensor.tensor import gammaln as pytensor_gammaln

    variants = [str(v) for v in stats_.index]
    n = stats_["converters"].to_numpy(dtype="float64")
    with pm.Model(coords={"variant": variants}) as model:
        if priors.value_likelihood == "gamma":
            log_mean = pm.Normal(
                "log_order_value",
                np.log(stats_.attrs["pooled_mean"]),
                priors.value_mean_sd,
                dims="variant",
            )
            log_shape = pm.Normal("log_value_shape", 0.0, priors.value_shape_sd, dims="variant")
            mean = pm.Deterministic("order_value", pm.math.exp(log_mean), dims="variant")
            shape = pm.Deterministic("value_shape", pm.math.exp(log_shape), dims="variant")
            rate = shape / mean
            loglik = (
                n * shape * pm.math.log(rate)
                - n * pytensor_gammaln(shape)
                + (shape - 1.0) * stats_["log_revenue"].to_numpy()
                - rate * stats_["revenue"].to_numpy()
            )
        else:
            mu = pm.Normal(
                "log_value_mu",
                stats_.attrs["pooled_log_mean"],
                priors.value_mean_sd,
                dims="variant",
            )
            sigma = pm.HalfNormal("log_value_sigma", priors.value_shape_sd, dims="variant")
            pm.Deterministic("order_value", pm.math.exp(mu + sigma**2 / 2), dims="variant")
            pm.Deterministic("value_shape", sigma, dims="variant")
            gap = stats_["log_mean"].to_numpy() - mu
            loglik = (
                -stats_["log_revenue"].to_numpy()
                - n * pm.math.log(sigma)
                - n * 0.5 * np.log(2 * np.pi)
                - (stats_["log_ss"].to_numpy() + n * gap**2) / (2 * sigma**2)
            )
        pm.Potential("order_values", loglik.sum())
    return model


def _sample_order_values(stats_: pd.DataFrame, priors: Priors, sampling: Sampling) -> Any:
    model = order_value_model(stats_, priors)
    log.info(
        "order-value model: %s likelihood on %s converters in %d variants",
        priors.value_likelihood,
        f"{int(stats_['converters'].sum()):,}",
        len(stats_),
    )
    return sample(model, sampling, label="order-value model")


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
        # each segment's level is its arms' average log-odds (not control's): the data fix
        # it independently of the effects, which removes the baseline-effect correlation
        # that made NUTS take tiny steps and, now and then, diverge (issue 16)
        level = pm.Normal(
            "segment_level", special.logit(pooled), priors.segment_baseline_sd, dims="segment"
        )
        mu_b = pm.Normal("effect_mu", 0.0, priors.effect_sd, dims="treatment")
        tau_b = pm.Gamma(
            "effect_sigma", alpha=2.0, beta=2.0 / priors.effect_spread, dims="treatment"
        )
        z_b = pm.Normal("effect_z", 0.0, 1.0, dims=("segment", "treatment"))
        effect = pm.Deterministic("effect", mu_b + tau_b * z_b, dims=("segment", "treatment"))
        baseline = pm.Deterministic(
            "baseline", level - effect.sum(axis=1) / len(variants), dims="segment"
        )
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
        log.info("segment model: %d segments x %d variants", len(segments), len(variants))
        idata = sample(model, sampling, label="segment model")
    names = ["segment_level", "effect_mu", "effect_sigma", "rate"]
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
    users = users[users["segment"].notna()]  # pooled segments too thin to show are missing
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
