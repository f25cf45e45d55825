"""Uplift: the stage's computation on the demo experiment, and the models one by one.

Cases of the harness (``case(data_dir, work_dir)``) on the demo data of one size:

* :func:`run_stage` — what the uplift notebook computes with its defaults
  (:class:`~workbench.uplift.UpliftParams`): the assignments and completed orders read on
  the engine, the features built as of the experiment's first assignment date, the
  response baseline and three uplift approaches × two base learners fitted on the
  training split and compared on the holdout (bootstrap gate), the chosen models refitted
  on everyone, every customer scored, the summary and ``uplift_scores.parquet`` written;
  it also reports how the chosen scores rank against the planted true uplift
  (``_truth/uplift.parquet``), as a check that the timing measures a working stage;
* :func:`fit_models_one_by_one` — each model fitted on the same rows, its seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from scipy import stats

from benchmarks.common import bench_config, stopwatch
from workbench import uplift
from workbench.schema import parse_as_of

__all__ = ["run_stage", "fit_models_one_by_one"]


def _inputs(data_dir: Path, params: uplift.UpliftParams) -> uplift.UpliftInputs:
    experiment = uplift.read_experiment_tables(data_dir, parse_as_of(bench_config().as_of))
    return uplift.experiment_inputs(experiment, params)


def run_stage(data_dir: Path, work_dir: Path) -> dict:
    """The uplift stage's computation with its defaults (figures and MLflow left out)."""
    params = uplift.UpliftParams()
    times: dict[str, float] = {}
    with stopwatch(times, "read_s"):
        experiment = uplift.read_experiment_tables(data_dir, parse_as_of(bench_config().as_of))
    with stopwatch(times, "features_s"):
        inputs = uplift.experiment_inputs(experiment, params)
    with stopwatch(times, "compute_s"):
        result = uplift.fit_uplift(inputs.data, params)
        scores = uplift.catalog_scores(result.score(), persuadable_uplift=params.persuadable_uplift)
        summary = uplift.uplift_summary(result, scores=scores, inputs=inputs)
    with stopwatch(times, "write_s"):
        scores.to_parquet(Path(work_dir) / "uplift_scores.parquet", index=False)
    truth_path = Path(data_dir) / "_truth" / "uplift.parquet"
    rank: dict[str, float] = {}
    if truth_path.exists():
        truth = pd.read_parquet(truth_path)
        joined = scores.merge(truth, on="customer_id")
        for arm in result.arms:
            rho = stats.spearmanr(joined[uplift.arm_column(arm)], joined[f"true_uplift_{arm}"])
            rank[arm] = round(float(rho.statistic), 3)
    return {
        "rows": int(len(inputs.data)),
        "rows_what": "assigned customers",
        **times,
        "steps_s": {k: round(v, 2) for k, v in result.seconds.items()},
        "features": len(inputs.data.columns.inputs),
        "chosen": dict(result.chosen),
        "qini_chosen": {a: summary["metrics"].get(f"{a}.qini_chosen") for a in result.arms},
        "qini_response": {a: summary["metrics"].get(f"{a}.qini_response") for a in result.arms},
        "spearman_true_uplift": rank,
        "persuadable": summary["scores"]["persuadable"],
    }


def fit_models_one_by_one(data_dir: Path, work_dir: Path) -> dict:
    """Every model of the stage fitted on all the experiment's customers, timed apart."""
    params = uplift.UpliftParams()
    inputs = _inputs(data_dir, params)
    seconds = {}
    for approach, learner in uplift.model_specs(inputs.data, params):
        started = time.perf_counter()
        uplift.fit_models(inputs.data, params, [(approach, learner)])
        seconds[uplift.model_name(approach, learner)] = round(time.perf_counter() - started, 3)
    return {
        "rows": int(len(inputs.data)),
        "rows_what": "assigned customers",
        "compute_s": round(sum(seconds.values()), 3),
        "fit_s": seconds,
    }
