"""The A/B analysis: conversion and revenue models in PyMC with the checks around them;
and the PyMC conversion posterior against the closed-form Beta posterior."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import bench_config, stopwatch
from workbench import experiments
from workbench.loading import load_tables
from workbench.schema import parse_as_of

__all__ = ["analyse", "conversion_pymc", "conversion_closed_form"]


def analyse(data_dir: Path, work_dir: Path) -> dict:
    """What the ab_test stage computes with its defaults: load the assignments and orders,
    per-user outcomes, SRM check, frequentist cross-checks, CUPED, the PyMC conversion
    and revenue (hurdle) model (:class:`~workbench.experiments.Sampling` defaults: 1,000
    draws and 1,000 tuning steps × 4 chains, one core) and the decision. The per-segment
    hierarchical model is left out (it needs the feature table; the pipeline case runs it).
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
        conversion = experiments.metric_table(post.conversion, data.control, counts=data.counts)
        if post.revenue_per_user is not None:
            experiments.metric_table(post.revenue_per_user, data.control, counts=data.counts)
        decision = experiments.decide(
            conversion,
            control=data.control,
            srm_mismatch=srm["mismatch"],
            diagnostics_ok=post.diagnostics["ok"],
        )
    return {
        "rows": int(len(data.users)),
        "rows_what": "experiment users",
        **times,
        "converters": int(data.counts["conversions"].sum()),
        "revenue_model": post.revenue_per_user is not None,
        "sampling": sampling.kwargs(),
        "decision": decision.action,
    }


def conversion_pymc(data_dir: Path, work_dir: Path) -> dict:
    """The conversion posterior per variant sampled by PyMC (Beta–Binomial, default
    sampling) from the experiment's counts. ``compute_s`` is the sampling alone."""
    counts = _experiment(data_dir).counts
    summary = experiments.experiment_from_summary(counts[["variant", "users", "conversions"]])
    started = time.perf_counter()
    post = experiments.fit_variants(summary, sampling=experiments.Sampling())
    seconds = time.perf_counter() - started
    return {
        "rows": int(counts["users"].sum()),
        "rows_what": "experiment users",
        "compute_s": round(seconds, 3),
        "draws": int(len(post.conversion)),
        "posterior_mean": {k: round(float(v), 5) for k, v in post.conversion.mean().items()},
    }


def conversion_closed_form(data_dir: Path, work_dir: Path) -> dict:
    """The same posterior in closed form, ``Beta(1 + conversions, 1 + users −
    conversions)`` with its HDI (:func:`workbench.experiments.beta_posterior`)."""
    counts = _experiment(data_dir).counts
    started = time.perf_counter()
    exact = experiments.beta_posterior(counts)
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
    tables = load_tables(data_dir, tables=["orders", "experiment_assignments"])
    return experiments.load_experiment(tables, as_of=parse_as_of(bench_config().as_of))
