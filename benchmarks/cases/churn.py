"""Churn: point-in-time labels, XGBoost and the baseline, the chosen model's explanations
for every scored customer; and bulk SHAP — XGBoost's native contributions against the
SHAP package."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from benchmarks.common import bench_config, shared_dir, stopwatch
from workbench import churn
from workbench.schema import parse_as_of

__all__ = [
    "train_and_explain",
    "prepare_model",
    "shap_native",
    "shap_treeexplainer",
    "shap_reference",
    "SHAP_BUDGET_S",
    "MODEL_FILE",
]

#: The fitted XGBoost pipeline and the customers it scores, for the SHAP cases.
MODEL_FILE = "churn_model.joblib"
#: The SHAP package's explainers get at most this many seconds; beyond it their rows are
#: capped (estimated from a pilot) and the ratio is taken per row.
SHAP_BUDGET_S = 300.0
_PILOT_ROWS = 5_000
_WARM_UP_ROWS = 10


def train_and_explain(data_dir: Path, work_dir: Path) -> dict:
    """What the churn stage computes with its defaults (:class:`~workbench.churn.ChurnParams`):
    labels and features at two dates, both models with cross-validation (on a stratified
    sample of ``cv_max_rows``) and the choice of the one to register, then the chosen
    model's contributions (once, in batches), top-three reasons and the scores table of
    every customer to score (written to ``work_dir``), and its global importance. The
    registry steps (MLflow) are left out; the fitted XGBoost model is kept for the SHAP
    cases (``save_s``)."""
    params = churn.ChurnParams()
    times: dict[str, float] = {}
    with stopwatch(times, "prepare_s"), _cpu(times, "prepare_cpu_s"):
        data = churn.prepare_data(data_dir, parse_as_of(bench_config().as_of), params)
    with stopwatch(times, "train_s"), _cpu(times, "train_cpu_s"):
        models = churn.train_models(data.training, params)
    with stopwatch(times, "explain_s"), _cpu(times, "explain_cpu_s"):
        scores, contributions = churn.score_customers(
            models.chosen, data.scoring, params, meanings=data.meanings
        )
        churn.global_importance(contributions, data.meanings)
        scores.to_parquet(Path(work_dir) / "churn_scores.parquet", index=False)
    with stopwatch(times, "save_s"):
        _save_model(work_dir, models.xgboost, data.scoring)
    holdout = models.holdout_metrics()
    return {
        "rows": int(len(data.scoring)),
        "rows_what": "customers scored",
        "train_rows": int(models.train_rows),
        **times,
        "fit_s": models.seconds.get("fit"),
        "cross_validation_s": models.seconds.get("cross_validation"),
        "boosting_rounds": int(models.best_iteration) + 1,
        "chosen": models.chosen_name,
        "roc_auc": round(float(holdout.loc["xgboost", "roc_auc"]), 4),
        "baseline_roc_auc": round(float(holdout.loc["baseline", "roc_auc"]), 4),
        "cv_folds": params.cv_folds,
        "cv_rows": int(models.cv_rows),
        "n_jobs": params.threads,
        "load_1m_end": round(os.getloadavg()[0], 2),
        "learning_rate": params.learning_rate,
    }


@contextmanager
def _cpu(times: dict[str, float], key: str) -> Iterator[None]:
    """Add the CPU seconds of this process (every thread) spent in the block to
    ``times[key]``: on a shared machine wall time grows with the load, CPU time much less."""
    started = time.process_time()
    try:
        yield
    finally:
        times[key] = round(times.get(key, 0.0) + time.process_time() - started, 3)


def prepare_model(data_dir: Path, work_dir: Path) -> dict:
    """Train the churn model for the SHAP cases unless :func:`train_and_explain` left one
    (not measured; cross-validation skipped, it does not change the fitted model)."""
    if (shared_dir(work_dir) / MODEL_FILE).exists():
        return {"prepared": False}
    params = churn.ChurnParams(cv_folds=0)
    data = churn.prepare_data(data_dir, parse_as_of(bench_config().as_of), params)
    models = churn.train_models(data.training, params)
    _save_model(work_dir, models.xgboost, data.scoring)
    return {"prepared": True, "rows": int(len(data.scoring))}


def shap_native(data_dir: Path, work_dir: Path) -> dict:
    """SHAP values of every scored customer from XGBoost itself (``pred_contribs=True``)."""
    model, X = _load_model(work_dir)
    churn.encoded_contributions(model, X.iloc[:_WARM_UP_ROWS])  # first-call costs, untimed
    started = time.perf_counter()
    values = churn.encoded_contributions(model, X)
    return _shap_result(values, X, time.perf_counter() - started, capped=False, estimate=None)


def shap_treeexplainer(data_dir: Path, work_dir: Path) -> dict:
    """``shap.TreeExplainer(booster).shap_values`` on the same rows (for an XGBoost model
    SHAP hands the work to XGBoost's own routine). Rows are capped to fit
    :data:`SHAP_BUDGET_S` when a pilot says all of them would not."""
    return _shap_package(work_dir, churn.treeexplainer_shap_values)


def shap_reference(data_dir: Path, work_dir: Path) -> dict:
    """SHAP's own C++ Tree SHAP on the same rows (the trees handed to ``TreeExplainer`` as a
    plain ensemble, :func:`workbench.churn.reference_shap_values`); capped like
    :func:`shap_treeexplainer`."""
    return _shap_package(work_dir, churn.reference_shap_values)


def _shap_package(work_dir: Path, explain) -> dict:
    model, X = _load_model(work_dir)
    explain(model, X.iloc[:_WARM_UP_ROWS])  # first-call costs (lazy imports), untimed
    estimate, capped = None, False
    if len(X) > 4 * _PILOT_ROWS:
        started = time.perf_counter()
        explain(model, X.iloc[:_PILOT_ROWS])
        per_row = (time.perf_counter() - started) / _PILOT_ROWS
        estimate = round(per_row * len(X), 1)
        capped = estimate > SHAP_BUDGET_S
        if capped:
            X = X.iloc[: max(_PILOT_ROWS, int(SHAP_BUDGET_S / per_row) // 1000 * 1000)]
    started = time.perf_counter()
    values = explain(model, X)
    return _shap_result(values, X, time.perf_counter() - started, capped=capped, estimate=estimate)


def _shap_result(
    values: np.ndarray, X: pd.DataFrame, seconds: float, *, capped: bool, estimate: float | None
) -> dict:
    result = {
        "rows": int(len(X)),
        "rows_what": "customers explained",
        "compute_s": round(seconds, 3),
        "columns": int(np.asarray(values).shape[-1]),
        "capped": capped,
    }
    if estimate is not None:
        result["estimated_all_rows_s"] = estimate
    return result


def _save_model(work_dir: Path, model, scoring: pd.DataFrame) -> None:
    target = shared_dir(work_dir) / MODEL_FILE
    tmp = target.with_name(target.name + ".tmp")
    joblib.dump({"model": model, "X": scoring}, tmp)
    tmp.replace(target)


def _load_model(work_dir: Path):
    path = shared_dir(work_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the SHAP cases need the churn model (run the 'churn' case "
            "or benchmarks.cases.churn:prepare_model first)"
        )
    saved = joblib.load(path)
    return saved["model"], saved["X"]
