"""The A/B analysis: the exact conversion posterior, the revenue (hurdle) model's order-value
part in PyMC, the checks around them, the per-segment model; and the conversion posterior
sampled by PyMC against the closed form."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import bench_config, stopwatch
from workbench import experiments
from workbench.schema import parse_as_of

__all__ = ["analyse", "segments", "conversion_pymc", "conversion_closed_form"]


def analyse(data_dir: Path, work_dir: Path) -> dict:
    """What the ab_test stage computes with its defaults, up to the decision: per-user
    outcomes from the canonical Parquet (orders joined and summed on DuckDB), SRM check,
    frequentist cross-checks, CUPED, the conversion posterior (exact Beta draws) and the
    revenue model (order values on their sufficient statistics, NUTS with the
    :class:`~workbench.experiments.Sampling` defaults: 1,000 draws and 500 tuning steps
    × 4 chains, one core), the metric tables and the decision. The per-segment model is
    the ``ab_segments`` case.
    """
    times: dict[str, float] = {}
    with stopwatch(times, "load_s"):
        data = _experiment(data_dir)
    with stopwatch(times, "checks_s"):
        srm = experiments.srm_check(data.counts)
        experiments.proportion_tests(data.counts, data.control)
        experiments.welch_tests(data.users, data.control, variants=list(data.variants))
        experiments.cuped(data)
    sampling = experiments.Sampling()
    with stopwatch(times, "model_s"):
        post = experiments.fit_variants(data, sampling=sampling)
    with stopwatch(times, "decision_s"):
        exact = experiments.beta_posterior(data.counts)
        conversion = experiments.metric_table(
            post.conversion, data.control, counts=data.counts, exact=exact
        )
        if post.revenue_per_user is not None:
            experiments.metric_table(post.revenue_per_user, data.control, counts=data.counts)
        decision = experiments.decide(
            conversion, control=data.control, srm_mismatch=srm["mismatch"]
        )
    return {
        "rows": int(len(data.users)),
        "rows_what": "experiment users",
        **times,
        "converters": int(data.counts["conversions"].sum()),
        "revenue_model": post.revenue_per_user is not None,
        "sampling": sampling.kwargs(),
        "divergences": post.diagnostics["divergences"],
        "decision": decision.action,
    }


def segments(data_dir: Path, work_dir: Path) -> dict:
    """The stage's per-segment view with its defaults: RFM segments as of the first
    assignment from the canonical Parquet (DuckDB), thin segments pooled, and the
    hierarchical model sampled with the default NUTS settings."""
    times: dict[str, float] = {}
    data = _experiment(data_dir)
    params = experiments.AbTestParams()
    with stopwatch(times, "labels_s"):
        segmented, note = experiments.with_segments(
            data,
            params.segment_column,
            canonical=data_dir,
            max_segments=params.max_segments,
            min_conversions=params.min_segment_conversions,
        )
    with stopwatch(times, "model_s"):
        post = experiments.fit_segments(segmented, sampling=params.sampling)
        experiments.segment_effects(post)
    return {
        "rows": int(len(data.users)),
        "rows_what": "experiment users",
        **times,
        "segments": len(post.segments),
        "divergences": post.diagnostics["divergences"],
        "sampler": params.sampling.kwargs()["nuts_sampler"],
    }


def conversion_pymc(data_dir: Path, work_dir: Path) -> dict:
    """The conversion posterior per variant sampled by PyMC (a Beta–Binomial model, the
    default sampling) from the experiment's counts — the reference the stage no longer
    runs. ``compute_s`` is the sampling alone."""
    import pymc as pm

    counts = _experiment(data_dir).counts
    sampling = experiments.Sampling(sampler="pymc")
    started = time.perf_counter()
    with pm.Model(coords={"variant": counts["variant"].tolist()}) as model:
        rate = pm.Beta("conversion_rate", 1.0, 1.0, dims="variant")
        pm.Binomial(
            "conversions",
            n=counts["users"].to_numpy(),
            p=rate,
            observed=counts["conversions"].to_numpy(),
            dims="variant",
        )
    idata = experiments.sample(model, sampling, label="conversion (reference)")
    seconds = time.perf_counter() - started
    means = idata.posterior["conversion_rate"].mean(("chain", "draw")).to_pandas()
    return {
        "rows": int(counts["users"].sum()),
        "rows_what": "experiment users",
        "compute_s": round(seconds, 3),
        "draws": sampling.total_draws,
        "posterior_mean": {str(k): round(float(v), 5) for k, v in means.items()},
    }


def conversion_closed_form(data_dir: Path, work_dir: Path) -> dict:
    """The same posterior as the stage computes it: ``Beta(1 + conversions, 1 + users −
    conversions)`` with its HDI (:func:`workbench.experiments.beta_posterior`) and 4,000
    draws from it for the comparisons (:func:`workbench.experiments.conversion_draws`,
    :func:`workbench.experiments.metric_table`)."""
    counts = _experiment(data_dir).counts
    started = time.perf_counter()
    exact = experiments.beta_posterior(counts)
    draws = experiments.conversion_draws(counts, draws=experiments.Sampling().total_draws)
    experiments.metric_table(draws, str(counts["variant"].iloc[0]), exact=exact)
    seconds = time.perf_counter() - started
    return {
        "rows": int(counts["users"].sum()),
        "rows_what": "experiment users",
        "compute_s": round(seconds, 6),
        "posterior_mean": {
            str(r.variant): round(float(r.mean), 5) for r in exact.itertuples(index=False)
        },
    }


def _experiment(data_dir: Path) -> experiments.ExperimentData:
    return experiments.load_experiment(data_dir, as_of=parse_as_of(bench_config().as_of))
