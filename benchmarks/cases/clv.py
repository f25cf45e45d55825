"""CLV: fitting BG/NBD, Pareto/NBD, the modified BG/NBD and Gamma–Gamma, and predicting.

Two kinds of measurement:

* cases of the harness (``case(data_dir, work_dir)``) on the demo data of one size: the
  stage's computation end to end with its defaults (:func:`run_stage`: orders read on the
  engine, holdout check, three purchase models and Gamma–Gamma fitted twice, every
  customer predicted, the summary); the summary, the closed-form maximum-likelihood fits
  and the predictions one by one (:func:`fit_closed_form`); and pymc-marketing's MAP of
  BG/NBD and Pareto/NBD on the same summary (:func:`fit_pymc_map`), compared with the
  closed form on the same two fits (``compute_s``);
* ``python -m benchmarks.cases.clv 10000 100000 1000000``: the same fits on summaries
  drawn from the models themselves (known parameters, whole-day recency and T over two
  years), closed form against pymc-marketing, in one process per size.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import bench_config, stopwatch
from workbench import clv
from workbench.schema import parse_as_of

__all__ = ["run_stage", "fit_closed_form", "fit_pymc_map", "synthetic_fits", "TRUE_PARAMS"]

#: Parameters of the synthetic summaries (close to the demo data's fits, in weeks).
TRUE_PARAMS = {
    "bg_nbd": {"r": 0.6, "alpha": 3.2, "a": 0.22, "b": 2.5},
    "pareto_nbd": {"r": 0.77, "alpha": 4.4, "s": 0.63, "beta": 52.0},
    "mbg_nbd": {"r": 1.0, "alpha": 4.7, "a": 0.23, "b": 1.33},
}


def _summary(data_dir: Path) -> pd.DataFrame:
    orders = pd.read_parquet(
        data_dir / "orders.parquet", columns=["customer_id", "ordered_at", "amount", "status"]
    )
    return clv.rfm_summary(orders, parse_as_of(bench_config().as_of))


def run_stage(data_dir: Path, work_dir: Path) -> dict:
    """What the clv notebook computes with its defaults (:class:`~workbench.clv.ClvParams`):
    the completed orders before ``as_of`` read on the engine, :func:`~workbench.clv.run_clv`
    (summary, holdout split and check, three purchase models fitted at the cutoff and at
    ``as_of``, the choice, Gamma–Gamma, every customer's predictions), the summary and
    ``clv.parquet`` written to ``work_dir``. Figures and MLflow are left out."""
    as_of = parse_as_of(bench_config().as_of)
    times: dict[str, float] = {}
    with stopwatch(times, "read_s"):
        orders = clv.read_orders(data_dir, as_of)
    with stopwatch(times, "compute_s"):
        result = clv.run_clv(orders, as_of, clv.ClvParams())
        summary = clv.clv_summary(result)
    with stopwatch(times, "write_s"):
        result.predictions.to_parquet(Path(work_dir) / "clv.parquet", index=False)
    holdout = summary["holdout"]
    return {
        "rows": int(len(result.predictions)),
        "rows_what": "customers",
        **times,
        "orders": int(len(orders)),
        "model": result.model,
        "holdout_mae": holdout.get("mae"),
        "holdout_naive_mae": holdout.get("naive_mae"),
        "holdout_predicted": holdout.get("predicted_repeat_purchases"),
        "holdout_actual": holdout.get("actual_repeat_purchases"),
        "total_clv": summary["total_clv"],
        "fit_s": {m: round(f.seconds, 2) for m, f in result.fits.items()},
    }


def fit_closed_form(data_dir: Path, work_dir: Path) -> dict:
    """The stage's default: summary, three purchase models and Gamma–Gamma by closed-form
    maximum likelihood on sufficient statistics, then every customer's predictions."""
    times: dict[str, float] = {}
    with stopwatch(times, "summary_s"):
        summary = _summary(data_dir)
    fits = {}
    for model in clv.PURCHASE_MODELS:
        with stopwatch(times, f"{model}_s"):
            fits[model] = clv.fit_purchase_model(summary, model)
    with stopwatch(times, "gamma_gamma_s"):
        spend = clv.fit_gamma_gamma(summary)
    with stopwatch(times, "predict_s"):
        clv.predict_customers(summary, fits["bg_nbd"], spend)
    return {
        "rows": int(len(summary)),
        "rows_what": "customers",
        **times,
        "compute_s": round(times["bg_nbd_s"] + times["pareto_nbd_s"], 3),  # as fit_pymc_map
        "histories": int(len(clv.sufficient_statistics(summary))),
        "params": {m: {k: round(v, 4) for k, v in f.params.items()} for m, f in fits.items()},
    }


def fit_pymc_map(data_dir: Path, work_dir: Path) -> dict:
    """pymc-marketing's MAP of BG/NBD and Pareto/NBD (priors of
    :func:`workbench.clv.default_priors`) on the same summary, build and compile included."""
    summary = _summary(data_dir)
    times: dict[str, float] = {}
    params = {}
    for model in ("bg_nbd", "pareto_nbd"):
        with stopwatch(times, f"{model}_s"):
            fit = clv.fit_purchase_model(summary, model, method="map")
        params[model] = {k: round(v, 4) for k, v in fit.params.items()}
    return {
        "rows": int(len(summary)),
        "rows_what": "customers",
        **times,
        "compute_s": round(times["bg_nbd_s"] + times["pareto_nbd_s"], 3),
        "params": params,
    }


def synthetic_fits(
    customers: int, seed: int = 1, pymc_models: tuple[str, ...] = ("bg_nbd", "pareto_nbd")
) -> list[dict]:
    """Closed-form MLE and pymc-marketing MAP (flat priors: the same optimum) on summaries
    drawn from each model; pymc-marketing's time is split into the first fit (graph
    build and C compilation included) and a second fit of the built model."""
    from pymc_extras.prior import Prior

    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, customers) / 7.0
    rows = []
    for model, truth in TRUE_PARAMS.items():
        summary = clv.draw_summary(model, truth, T, seed=seed)
        row: dict = {"model": model, "customers": customers}
        row["histories"] = len(clv.sufficient_statistics(summary))
        fit = clv.fit_purchase_model(summary, model)
        row["mle_s"] = round(fit.seconds, 2)
        row["mle_max_rel_error"] = round(
            max(abs(fit.params[k] / v - 1) for k, v in truth.items()), 4
        )
        if model in pymc_models:
            flat = {k: Prior("HalfFlat") for k in truth}
            if model == "bg_nbd":
                flat = {"r": flat["r"], "alpha": flat["alpha"], "a": flat["a"], "b": flat["b"]}
            started = time.perf_counter()
            pmc = clv.fit_purchase_model(summary, model, method="map", priors=flat)
            row["pymc_map_first_s"] = round(time.perf_counter() - started, 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                pmc.result.fit(method="map", progressbar=False)
                row["pymc_map_refit_s"] = round(time.perf_counter() - started, 2)
            row["pymc_vs_mle_max_rel_diff"] = round(
                max(abs(pmc.params[k] / fit.params[k] - 1) for k in truth), 4
            )
        rows.append(row)
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    # e.g. `10000 100000` or `1000000 --pymc bg_nbd` (pymc-marketing's Pareto/NBD MAP
    # takes about 15 minutes at a million customers)
    args = sys.argv[1:]
    pymc = ("bg_nbd", "pareto_nbd")
    if "--pymc" in args:
        at = args.index("--pymc")
        pymc = tuple(args[at + 1].split(",")) if args[at + 1] != "none" else ()
        args = args[:at] + args[at + 2 :]
    for size in [int(a) for a in args] or [10_000]:
        for result in synthetic_fits(size, pymc_models=pymc):
            print(result, flush=True)
