"""The stage's computation in one call, the model matrices and the ``clv.json`` summary.

:func:`run_clv` is what the notebook calls: it fits as of ``as_of`` (the predictions) and,
when there is enough history, as of ``as_of - horizon_days`` (the holdout check), compares
the models, picks one by the stated rule and predicts every customer. It reads and writes
nothing; the caller hands it the orders and stores what it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.clv.fit import FittedModel, fit_gamma_gamma, fit_purchase_model
from workbench.clv.params import MODEL_LABELS, ClvParams
from workbench.clv.predict import new_customer_value, predict_customers, tier_table
from workbench.clv.summary import CalibrationHoldout, calibration_holdout, rfm_summary
from workbench.clv.validate import (
    choose_model,
    compare_models,
    conditional_expectations,
    gamma_gamma_check,
    holdout_metrics,
    holdout_possible,
    holdout_predictions,
    tracking_series,
)
from workbench.schema import check_as_of

__all__ = ["ClvResult", "run_clv", "clv_summary"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClvResult:
    """Everything the CLV stage computed.

    Attributes
    ----------
    as_of : Timestamp
    params : ClvParams
    summary : DataFrame
        :func:`~workbench.clv.rfm_summary` as of ``as_of``.
    fits : dict of str to FittedModel
        Every purchase model fitted as of ``as_of``.
    spend : FittedModel
        Gamma–Gamma as of ``as_of``.
    model : str
        The purchase model used for the predictions.
    reason : str
        Why (:func:`~workbench.clv.choose_model`, or "set by the model parameter").
    predictions : DataFrame
        :func:`~workbench.clv.predict_customers` with the chosen model.
    comparison : DataFrame
        :func:`~workbench.clv.compare_models`.
    gamma_gamma_check : dict
    new_customer : dict
        :func:`~workbench.clv.new_customer_value` with the chosen model.
    holdout_note : str
        Why the holdout check ran or not.
    split : CalibrationHoldout or None
        The calibration/holdout split (None when the check was not possible).
    holdout_fits : dict of str to FittedModel
        The fits as of the cutoff (empty without a check).
    holdout : DataFrame or None
        :func:`~workbench.clv.holdout_predictions`.
    metrics : DataFrame or None
        :func:`~workbench.clv.holdout_metrics`.
    conditional : DataFrame or None
        :func:`~workbench.clv.conditional_expectations`.
    tracking : DataFrame or None
        :func:`~workbench.clv.tracking_series` of the chosen model.
    """

    as_of: pd.Timestamp
    params: ClvParams
    summary: pd.DataFrame
    fits: dict[str, FittedModel]
    spend: FittedModel
    model: str
    reason: str
    predictions: pd.DataFrame
    comparison: pd.DataFrame
    gamma_gamma_check: dict[str, Any]
    new_customer: dict[str, float]
    holdout_note: str
    split: CalibrationHoldout | None = None
    holdout_fits: dict[str, FittedModel] | None = None
    holdout: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    conditional: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None

    @property
    def purchase(self) -> FittedModel:
        """The chosen purchase model's fit as of ``as_of``."""
        return self.fits[self.model]

    @property
    def holdout_available(self) -> bool:
        """Whether the holdout check ran."""
        return self.metrics is not None


def _fit_all(summary: pd.DataFrame, params: ClvParams, method: str) -> dict[str, FittedModel]:
    return {
        m: fit_purchase_model(
            summary,
            m,
            method=method,
            time_unit=params.time_unit,
            fit_sample=params.fit_sample,
            draws=params.draws,
            tune=params.tune,
            chains=params.chains,
            random_state=params.random_state,
        )
        for m in params.models
    }


def run_clv(
    orders: pd.DataFrame, as_of: pd.Timestamp, params: ClvParams | None = None
) -> ClvResult:
    """Fit, check on the holdout, choose and predict — the whole CLV stage on a frame.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders (``customer_id, ordered_at, amount, status``), e.g. the audit's
        clean table; not modified. Only completed orders before ``as_of`` are used for the
        predictions; the holdout check uses those before ``as_of - horizon_days`` to fit.
    as_of : Timestamp
        The cut-off (UTC midnight).
    params : ClvParams, optional

    Returns
    -------
    ClvResult

    Notes
    -----
    The holdout fits always use ``method="mle"`` (they only rank the models and measure
    their error); ``params.method`` applies to the fits that predict.
    """
    params = params or ClvParams()
    check_as_of(as_of, "run_clv")
    summary = rfm_summary(orders, as_of, time_unit=params.time_unit)
    if summary.empty or int(summary["frequency"].sum()) == 0:
        raise ValueError(
            f"clv: no customer has a repeat purchase before {as_of.date()} "
            f"({len(summary):,} customers bought once); the purchase models need repeat buyers"
        )
    split = calibration_holdout(
        orders, as_of, horizon_days=params.horizon_days, time_unit=params.time_unit
    )
    possible, note = holdout_possible(split, params.min_holdout_customers)
    holdout_fits: dict[str, FittedModel] = {}
    holdout = metrics = conditional = None
    if possible:
        holdout_fits = _fit_all(split.frame, params, "mle")
        holdout = holdout_predictions(split, holdout_fits)
        metrics = holdout_metrics(holdout)
        conditional = conditional_expectations(holdout)
    else:
        log.warning("clv: holdout check skipped — %s", note)
    fits = _fit_all(summary, params, params.method)
    comparison = compare_models(fits, metrics)
    if params.model == "auto":
        model, reason = choose_model(comparison)
    else:
        model, reason = params.model, f"{MODEL_LABELS[params.model]}: set by the model parameter"
    tracking = tracking_series(split, holdout_fits[model]) if possible else None
    spend = fit_gamma_gamma(
        summary,
        method=params.method,
        fit_sample=params.fit_sample,
        draws=params.draws,
        tune=params.tune,
        chains=params.chains,
        random_state=params.random_state,
    )
    predictions = predict_customers(summary, fits[model], spend, params)
    log.info(
        "clv: %s; total CLV %.0f over %s customers",
        reason,
        predictions["clv"].sum(),
        f"{len(predictions):,}",
    )
    return ClvResult(
        as_of=as_of,
        params=params,
        summary=summary,
        fits=fits,
        spend=spend,
        model=model,
        reason=reason,
        predictions=predictions,
        comparison=comparison,
        gamma_gamma_check=gamma_gamma_check(summary),
        new_customer=new_customer_value(fits[model], spend, params),
        holdout_note=note,
        split=split if possible else None,
        holdout_fits=holdout_fits,
        holdout=holdout,
        metrics=metrics,
        conditional=conditional,
        tracking=tracking,
    )


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def clv_summary(result: ClvResult) -> dict[str, Any]:
    """The headline numbers as JSON-able values, shaped as the stage's ``clv.json``.

    Returns
    -------
    dict
        ``as_of, horizon_days, time_unit, annual_discount_rate, margin, method, customers,
        model, reason, models`` (per model: ``label, params, log_likelihood, converged``,
        holdout ``mae`` and ``total_error`` when checked), ``gamma_gamma`` (``params``,
        ``log_likelihood``, ``customers``, ``check``), ``holdout`` (``available, note,
        cutoff, customers, predicted_repeat_purchases, actual_repeat_purchases, mae,
        naive_predicted_repeat_purchases, naive_mae``), ``total_clv``,
        ``expected_purchases``, ``p_alive_mean``, ``new_customer`` and ``tiers`` (per tier:
        customers, clv_total, clv_share, clv_min).
    """
    p = result.params
    pred = result.predictions
    models: dict[str, Any] = {}
    for name, fit in result.fits.items():
        entry: dict[str, Any] = {
            "label": MODEL_LABELS.get(name, name),
            "params": {k: _round(v, 6) for k, v in fit.params.items()},
            "log_likelihood": _round(fit.log_likelihood, 2),
            "converged": fit.converged,
        }
        if result.metrics is not None and name in result.metrics.index:
            entry["holdout_mae"] = _round(result.metrics.loc[name, "mae"])
            entry["holdout_total_error"] = _round(result.metrics.loc[name, "total_error"])
        models[name] = entry
    holdout: dict[str, Any] = {"available": result.holdout_available, "note": result.holdout_note}
    if result.metrics is not None and result.split is not None:
        chosen, naive = result.metrics.loc[result.model], result.metrics.loc["naive"]
        holdout.update(
            cutoff=result.split.cutoff.date().isoformat(),
            customers=int(len(result.split.frame)),
            predicted_repeat_purchases=_round(chosen["predicted"], 1),
            actual_repeat_purchases=_round(chosen["actual"], 1),
            mae=_round(chosen["mae"]),
            naive_predicted_repeat_purchases=_round(naive["predicted"], 1),
            naive_mae=_round(naive["mae"]),
        )
    tiers = tier_table(pred)
    check = {
        k: (_round(v) if isinstance(v, float) else v) for k, v in result.gamma_gamma_check.items()
    }
    return {
        "as_of": result.as_of.date().isoformat(),
        "horizon_days": p.horizon_days,
        "time_unit": p.time_unit,
        "annual_discount_rate": p.annual_discount_rate,
        "margin": p.margin,
        "method": p.method,
        "customers": int(len(pred)),
        "model": result.model,
        "reason": result.reason,
        "models": models,
        "gamma_gamma": {
            "params": {k: _round(v, 6) for k, v in result.spend.params.items()},
            "log_likelihood": _round(result.spend.log_likelihood, 2),
            "customers": result.spend.customers,
            "check": check,
        },
        "holdout": holdout,
        "total_clv": _round(pred["clv"].sum(), 2),
        "expected_purchases": _round(pred["expected_purchases"].sum(), 1),
        "p_alive_mean": _round(pred["p_alive"].mean()),
        "new_customer": {k: _round(v) for k, v in result.new_customer.items()},
        "tiers": {
            str(tier): {
                "customers": int(row["customers"]),
                "clv_total": _round(row["clv_total"], 2),
                "clv_share": _round(row["clv_share"]),
                "clv_min": _round(row["clv_min"], 2),
            }
            for tier, row in tiers.iterrows()
        },
    }
