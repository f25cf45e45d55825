"""The stage's computation in one call, the model matrices and the ``clv.json`` summary.

:func:`run_clv` is what the notebook calls: it fits as of ``as_of`` (the predictions) and,
when there is enough history, as of ``as_of - horizon_days`` (the holdout check), compares
the models, picks one by the stated rule and predicts every customer. It reads and writes
nothing; the caller hands it the orders and stores what it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.clv.fit import FittedModel, fit_gamma_gamma, fit_purchase_model, spend_customers
from workbench.clv.params import MODEL_LABELS, TIERS, ClvParams
from workbench.clv.predict import (
    naive_customers,
    new_customer_value,
    predict_customers,
    tier_table,
)
from workbench.clv.summary import (
    CalibrationHoldout,
    calibration_holdout,
    order_values,
    rfm_summary,
)
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
from workbench.display import (
    Headline,
    HeadlineItem,
    fmt_int,
    fmt_money,
    fmt_number,
    fmt_pct,
)
from workbench.schema import check_as_of

__all__ = ["ClvResult", "run_clv", "clv_summary", "headline"]

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
        Every purchase model fitted as of ``as_of`` (empty when the naive baseline predicts).
    spend : FittedModel or None
        Gamma–Gamma as of ``as_of`` (None with too few repeat buyers of known value).
    model : str
        The purchase model used for the predictions, or ``"naive"``.
    reason : str
        Why (:func:`~workbench.clv.choose_model`, "set by the model parameter", or why the
        models could not be fitted).
    predictions : DataFrame
        :func:`~workbench.clv.predict_customers` with the chosen model (or
        :func:`~workbench.clv.naive_customers`).
    comparison : DataFrame
        :func:`~workbench.clv.compare_models` (empty without fits).
    gamma_gamma_check : dict
    new_customer : dict
        :func:`~workbench.clv.new_customer_value` with the chosen model (empty for naive).
    holdout_note : str
        Why the holdout check ran or not.
    notes : tuple of str
        What a reader must know about the predictions (a fallback and why).
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
    spend: FittedModel | None
    model: str
    reason: str
    predictions: pd.DataFrame
    comparison: pd.DataFrame
    gamma_gamma_check: dict[str, Any]
    new_customer: dict[str, float]
    holdout_note: str
    notes: tuple[str, ...] = ()
    split: CalibrationHoldout | None = None
    holdout_fits: dict[str, FittedModel] = field(default_factory=dict)
    holdout: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    conditional: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None

    @property
    def purchase(self) -> FittedModel | None:
        """The chosen purchase model's fit as of ``as_of`` (None for the naive baseline)."""
        return self.fits.get(self.model)

    @property
    def holdout_available(self) -> bool:
        """Whether the holdout check ran."""
        return self.metrics is not None

    @property
    def baseline_beats_model(self) -> bool:
        """The naive baseline's holdout MAE is below the chosen model's."""
        if self.metrics is None or self.model not in self.metrics.index:
            return False
        return bool(self.metrics.loc["naive", "mae"] < self.metrics.loc[self.model, "mae"])

    @property
    def repeat_customers(self) -> int:
        """Customers with at least one repeat transaction before ``as_of``."""
        return int((self.summary["frequency"] > 0).sum())

    @property
    def typical_age(self) -> float:
        """The median customer age ``T`` in whole time units (at least 1): the age the
        P(alive) and expected-purchases matrices are drawn for."""
        return float(max(1.0, np.ceil(self.summary["T"].median())))


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


def _fit_spend(summary: pd.DataFrame, params: ClvParams) -> FittedModel:
    return fit_gamma_gamma(
        summary,
        method=params.method,
        fit_sample=params.fit_sample,
        draws=params.draws,
        tune=params.tune,
        chains=params.chains,
        random_state=params.random_state,
    )


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

    Raises
    ------
    ValueError
        No completed order before ``as_of`` (:func:`~workbench.clv.applicable` says so
        first; the stage is then not applicable).

    Notes
    -----
    The holdout fits always use ``method="mle"`` (they only rank the models and measure
    their error); ``params.method`` applies to the fits that predict. With fewer than
    ``params.min_repeat_customers`` repeat buyers the models are not fitted and the naive
    baseline predicts (``model == "naive"``, and ``notes`` says why); with fewer repeat
    buyers of positive value than that, Gamma–Gamma is not fitted and each customer's mean
    order value is the expected one.
    """
    params = params or ClvParams()
    check_as_of(as_of, "run_clv")
    summary = rfm_summary(orders, as_of, time_unit=params.time_unit)
    if summary.empty:
        raise ValueError(
            f"clv: no completed order before {as_of.date()} with a customer_id; "
            "nothing to predict (clv.applicable tells before fitting)"
        )
    notes: list[str] = []
    repeaters = int((summary["frequency"] > 0).sum())
    need = params.min_repeat_customers
    split = calibration_holdout(
        orders, as_of, horizon_days=params.horizon_days, time_unit=params.time_unit
    )
    possible, note = holdout_possible(split, params.min_holdout_customers, min_repeat=need)
    if repeaters < need:
        return _naive_result(orders, as_of, params, summary, repeaters, note)
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
    valued = int(len(spend_customers(summary)))
    spend: FittedModel | None = None
    values: pd.Series | None = None
    if valued >= need:
        spend = _fit_spend(summary, params)
    else:
        values = order_values(orders, as_of)
        notes.append(
            f"only {valued:,} repeat buyers have a positive mean repeat value (Gamma–Gamma "
            f"needs {need:,}, min_repeat_customers): the expected order value is each "
            "customer's own mean order value"
        )
    predictions = predict_customers(summary, fits[model], spend, params, order_values=values)
    new_customer = new_customer_value(
        fits[model],
        spend,
        params,
        order_value=None if values is None else float(np.nanmean(values.to_numpy(dtype=float))),
    )
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
        new_customer=new_customer,
        holdout_note=note,
        notes=tuple(notes),
        split=split if possible else None,
        holdout_fits=holdout_fits,
        holdout=holdout,
        metrics=metrics,
        conditional=conditional,
        tracking=tracking,
    )


def _naive_result(
    orders: pd.DataFrame,
    as_of: pd.Timestamp,
    params: ClvParams,
    summary: pd.DataFrame,
    repeaters: int,
    holdout_note: str,
) -> ClvResult:
    """The result when too few customers bought twice to fit any model."""
    reason = (
        f"naive baseline: only {repeaters:,} of {len(summary):,} customers bought more than "
        f"once before {as_of.date()}, and the models need at least "
        f"{params.min_repeat_customers:,} (min_repeat_customers)"
    )
    log.warning("clv: %s", reason)
    predictions = naive_customers(summary, order_values(orders, as_of), params)
    return ClvResult(
        as_of=as_of,
        params=params,
        summary=summary,
        fits={},
        spend=None,
        model="naive",
        reason=reason,
        predictions=predictions,
        comparison=compare_models({}),
        gamma_gamma_check=gamma_gamma_check(summary),
        new_customer={},
        holdout_note=holdout_note,
        notes=(
            "Too little history for the models, so the naive baseline predicts: expected "
            "purchases are each customer's past repeat rate times the horizon (0 for "
            "one-time buyers), the order value is their own mean, and P(alive) is unknown.",
        ),
    )


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def clv_summary(result: ClvResult) -> dict[str, Any]:
    """The headline numbers as JSON-able values, shaped as the stage's ``clv.json``.

    Returns
    -------
    dict
        ``as_of, horizon_days, time_unit, annual_discount_rate, margin, method, customers,
        repeat_customers, model, model_label, reason, notes, models`` (per model: ``label,
        params, log_likelihood, converged``, holdout ``mae`` and ``total_error`` when
        checked; empty for the naive baseline), ``gamma_gamma`` (``params`` — None when not
        fitted —, ``log_likelihood``, ``customers``, ``check``), ``holdout`` (``available,
        note, cutoff, customers, predicted_repeat_purchases, actual_repeat_purchases, mae,
        naive_predicted_repeat_purchases, naive_mae``), ``total_clv``,
        ``expected_purchases``, ``p_alive_mean``, ``new_customer``, ``tiers`` (per tier:
        customers, clv_total, clv_share, clv_min) and ``metrics`` (the measured numbers
        under fixed MLflow-safe keys). :func:`headline` adds nothing here: the notebook puts
        ``headline(summary).as_dict()`` under ``"headline"``.
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
    spend = result.spend
    summary: dict[str, Any] = {
        "as_of": result.as_of.date().isoformat(),
        "horizon_days": p.horizon_days,
        "time_unit": p.time_unit,
        "annual_discount_rate": p.annual_discount_rate,
        "margin": p.margin,
        "method": p.method,
        "customers": int(len(pred)),
        "repeat_customers": result.repeat_customers,
        "model": result.model,
        "model_label": MODEL_LABELS.get(result.model, result.model),
        "reason": result.reason,
        "notes": list(result.notes),
        "models": models,
        "gamma_gamma": {
            "params": None if spend is None else {k: _round(v, 6) for k, v in spend.params.items()},
            "log_likelihood": None if spend is None else _round(spend.log_likelihood, 2),
            "customers": 0 if spend is None else spend.customers,
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
    summary["metrics"] = _metrics(summary)
    return summary


#: MLflow metric keys of the tiers (fixed names, not data: no escaping needed).
_TIER_KEYS = dict(zip(TIERS, ("top_1pct", "top_5pct", "top_20pct", "rest"), strict=True))


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The measured numbers of :func:`clv_summary` under flat, fixed MLflow keys."""
    out: dict[str, Any] = {
        "customers": summary["customers"],
        "repeat_customers": summary["repeat_customers"],
        "total_clv": summary["total_clv"],
        "expected_purchases": summary["expected_purchases"],
        "p_alive_mean": summary["p_alive_mean"],
    }
    holdout = summary["holdout"]
    for key in ("predicted_repeat_purchases", "actual_repeat_purchases", "mae", "naive_mae"):
        if key in holdout:
            out[f"holdout_{key}"] = holdout[key]
    for name, model in summary["models"].items():
        out[f"{name}_log_likelihood"] = model["log_likelihood"]
        if "holdout_mae" in model:
            out[f"{name}_holdout_mae"] = model["holdout_mae"]
    for tier, row in summary["tiers"].items():
        out[f"clv_share_{_TIER_KEYS.get(tier, tier)}"] = row["clv_share"]
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def headline(summary: dict[str, Any], *, currency: str = "") -> Headline:
    """What a reader of the CLV stage needs first, from :func:`clv_summary`.

    Items: total CLV over the horizon, customers, the model used, its holdout per-customer
    MAE against the naive baseline's (when the check ran), and the share of CLV held by the
    top 20 % of customers (the three top tiers). The status is ``warning`` when the naive
    baseline predicts, when the holdout check could not run or the baseline beat the model,
    or when the Gamma–Gamma independence check fails (and Gamma–Gamma was fitted).

    Parameters
    ----------
    summary : dict
        :func:`clv_summary`.
    currency : str, default ""
        The project's currency code, for the money in the sentence.

    Examples
    --------
    >>> s = {"customers": 2677, "horizon_days": 365, "model": "pareto_nbd",
    ...      "model_label": "Pareto/NBD", "total_clv": 1142285.58,
    ...      "holdout": {"available": True, "mae": 3.89, "naive_mae": 4.51},
    ...      "gamma_gamma": {"check": {"holds": True}},
    ...      "tiers": {"top 1%": {"clv_share": 0.15}, "top 5%": {"clv_share": 0.25},
    ...                "top 20%": {"clv_share": 0.39}, "rest": {"clv_share": 0.21}}}
    >>> h = headline(s)
    >>> h.text()
    'total CLV 1,142,285.58 · customers 2,677 · model Pareto/NBD · holdout MAE vs naive 3.89 vs 4.51 · top 20% share of CLV 79.0%'
    >>> h.sentence
    'Pareto/NBD predicts a total CLV of 1,142,285.58 over the next 365 days from 2,677 customers; on the holdout year it missed by 3.89 purchases per customer against 4.51 for the naive baseline; the top 20% of customers hold 79.0% of it.'
    """
    naive = summary["model"] == "naive"
    spend = summary.get("gamma_gamma") or {}  # its check counts only when it was fitted
    label = "naive baseline" if naive else summary.get("model_label") or summary["model"]
    holdout = summary.get("holdout") or {}
    tiers = summary.get("tiers") or {}
    top = [tiers[t]["clv_share"] for t in TIERS[:-1] if t in tiers]
    top_share = float(sum(v for v in top if v is not None)) if top else None
    total, customers = summary["total_clv"], summary["customers"]
    items = [
        HeadlineItem("total CLV", total, "money"),
        HeadlineItem("customers", customers, "int"),
        HeadlineItem("model", label, "text"),
    ]
    checked = bool(holdout.get("available")) and holdout.get("mae") is not None
    if checked:
        versus = f"{fmt_number(holdout['mae'])} vs {fmt_number(holdout['naive_mae'])}"
        items.append(HeadlineItem("holdout MAE vs naive", versus, "text"))
    items.append(HeadlineItem("top 20% share of CLV", top_share, "pct"))
    days = summary["horizon_days"]
    sentence = (
        f"{label[0].upper()}{label[1:]} predicts a total CLV of {fmt_money(total, currency)} over the next {days} "
        f"days from {fmt_int(customers)} customers"
    )
    if naive:
        sentence += " (too few repeat buyers for the models)"
    if checked:
        period = "the holdout year" if days == 365 else f"the {days}-day holdout"
        sentence += (
            f"; on {period} it missed by {fmt_number(holdout['mae'])} purchases per "
            f"customer against {fmt_number(holdout['naive_mae'])} for the naive baseline"
        )
    elif not naive:
        sentence += "; no holdout check was possible"
    if top_share is not None:
        sentence += f"; the top 20% of customers hold {fmt_pct(top_share)} of it"
    warn = (
        naive
        or not checked
        or holdout["naive_mae"] < holdout["mae"]
        or (spend.get("params", {}) is not None and not spend.get("check", {}).get("holds", True))
    )
    return Headline(sentence + ".", tuple(items), "warning" if warn else "ok")
