"""From posterior draws to what a marketer decides.

For every variant against control (:func:`metric_table`): the posterior mean and HDI of
the metric, the absolute difference and relative lift with their HDIs, the probability
to beat control, the probability to be best, the expected loss of choosing the variant
(what shipping it costs on average when another arm is in fact better, in the metric's
own units), and the probabilities behind the region of practical equivalence (ROPE).

:func:`decide` turns one metric's table into ``ship``, ``keep_control`` or
``keep_testing`` with the reason in plain words.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.experiments.models import SegmentPosterior

__all__ = [
    "ACTIONS",
    "Decision",
    "hdi",
    "metric_table",
    "segment_effects",
    "decide",
    "METRIC_UNITS",
]

log = logging.getLogger(__name__)

ACTIONS = ("ship", "keep_control", "keep_testing")
METRIC_UNITS = {"conversion": "conversion", "revenue_per_user": "revenue_per_user"}


def hdi(values: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """The shortest interval holding ``prob`` of the draws (ArviZ's HDI).

    Examples
    --------
    >>> low, high = hdi(np.linspace(0, 1, 1001), 0.9)
    >>> round(high - low, 2)
    0.9
    """
    import arviz as az

    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = az.hdi(values, hdi_prob=prob)
    return float(low), float(high)


def metric_table(
    draws: pd.DataFrame,
    control: str,
    *,
    counts: pd.DataFrame | None = None,
    hdi_prob: float = 0.95,
    rope: float = 0.01,
    exact: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decision quantities of one metric for every variant (control first).

    Parameters
    ----------
    draws : pandas.DataFrame
        Posterior draws (rows) of the metric per variant (columns).
    control : str
        The control column.
    counts : pandas.DataFrame, optional
        ``variant, users, conversions[, revenue]`` to show beside the posterior.
    hdi_prob : float, default 0.95
    rope : float, default 0.01
        Half-width of the region of practical equivalence on the relative lift (0.01:
        within ±1 % of control counts as "no practical difference"); also the
        non-inferiority margin.
    exact : pandas.DataFrame, optional
        The metric's posterior in closed form, ``variant, mean, hdi_low, hdi_high`` (e.g.
        :func:`~workbench.experiments.beta_posterior` at the same ``hdi_prob``): each
        variant's mean and HDI are taken from it instead of estimated from the draws; the
        comparisons still come from the draws (which must be draws from that posterior).

    Returns
    -------
    pandas.DataFrame
        Indexed by variant: ``mean, hdi_low, hdi_high, diff_mean, diff_hdi_low,
        diff_hdi_high, lift_mean, lift_hdi_low, lift_hdi_high, prob_beat_control,
        prob_best, expected_loss, prob_in_rope`` (P(|lift| ≤ rope)), ``prob_noninferior``
        (P(lift > −rope)) and ``prob_above_rope`` (P(lift > rope)); comparisons are NaN on
        the control row. ``users, conversions`` come first when ``counts`` is given.
    """
    if control not in draws.columns:
        raise KeyError(f"control {control!r} is not a column of the draws ({list(draws.columns)})")
    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob: expected a probability between 0 and 1, got {hdi_prob!r}")
    if rope < 0:
        raise ValueError(f"rope: expected 0 or more, got {rope!r}")
    values = draws.to_numpy(dtype="float64")
    base = draws[control].to_numpy(dtype="float64")
    best = values.max(axis=1)
    winner = values.argmax(axis=1)
    rows = []
    for j, variant in enumerate(draws.columns):
        x = values[:, j]
        row: dict[str, Any] = {"variant": variant, "mean": float(x.mean())}
        row["hdi_low"], row["hdi_high"] = hdi(x, hdi_prob)
        if variant == control:
            row.update(dict.fromkeys(_COMPARISONS, np.nan))
        else:
            diff = x - base
            with np.errstate(divide="ignore", invalid="ignore"):
                lift = x / base - 1.0
            row["diff_mean"] = float(diff.mean())
            row["diff_hdi_low"], row["diff_hdi_high"] = hdi(diff, hdi_prob)
            row["lift_mean"] = float(np.nanmean(lift))
            row["lift_hdi_low"], row["lift_hdi_high"] = hdi(lift, hdi_prob)
            row["prob_beat_control"] = float((x > base).mean())
            row["prob_in_rope"] = float((np.abs(lift) <= rope).mean())
            row["prob_noninferior"] = float((lift > -rope).mean())
            row["prob_above_rope"] = float((lift > rope).mean())
        row["prob_best"] = float((winner == j).mean())
        row["expected_loss"] = float((best - x).mean())
        rows.append(row)
    table = pd.DataFrame(rows).set_index("variant")
    if exact is not None:
        known = exact.assign(variant=exact["variant"].astype("str")).set_index("variant")
        absent = [v for v in table.index if v not in known.index]
        if absent:
            raise KeyError(f"exact posterior lacks variant(s) {absent}; it has {list(known.index)}")
        for column in ("mean", "hdi_low", "hdi_high"):
            table[column] = known.loc[table.index, column].astype("float64").to_numpy()
    table = table[
        [
            "mean",
            "hdi_low",
            "hdi_high",
            *_COMPARISONS[:7],
            "prob_best",
            "expected_loss",
            *_COMPARISONS[7:],
        ]
    ]
    if counts is not None:
        extra = counts.set_index("variant").reindex(table.index)
        keep = [c for c in ("users", "conversions") if c in extra.columns]
        table = pd.concat([extra[keep], table], axis=1)
    return table


_COMPARISONS = (
    "diff_mean",
    "diff_hdi_low",
    "diff_hdi_high",
    "lift_mean",
    "lift_hdi_low",
    "lift_hdi_high",
    "prob_beat_control",
    "prob_in_rope",
    "prob_noninferior",
    "prob_above_rope",
)


def segment_effects(posterior: SegmentPosterior, *, hdi_prob: float = 0.95) -> pd.DataFrame:
    """Per-segment effect of every variant against control, from the hierarchical model.

    Returns
    -------
    pandas.DataFrame
        One row per segment and non-control variant: ``segment, variant, users,
        conversions, control_users, control_conversions, rate_mean, control_rate_mean,
        diff_mean, diff_hdi_low, diff_hdi_high, lift_mean, lift_hdi_low, lift_hdi_high,
        prob_beat_control``. Segments are ordered by size.
    """
    cells = posterior.cells.set_index(["segment", "variant"])
    c = posterior.variants.index(posterior.control)
    rows = []
    for s, segment in enumerate(posterior.segments):
        base = posterior.rates[:, s, c]
        for v, variant in enumerate(posterior.variants):
            if v == c:
                continue
            x = posterior.rates[:, s, v]
            diff, lift = x - base, x / base - 1.0
            row = {
                "segment": segment,
                "variant": variant,
                "users": int(cells.loc[(segment, variant), "users"]),
                "conversions": int(cells.loc[(segment, variant), "conversions"]),
                "control_users": int(cells.loc[(segment, posterior.control), "users"]),
                "control_conversions": int(cells.loc[(segment, posterior.control), "conversions"]),
                "rate_mean": float(x.mean()),
                "control_rate_mean": float(base.mean()),
                "diff_mean": float(diff.mean()),
                "lift_mean": float(lift.mean()),
                "prob_beat_control": float((x > base).mean()),
            }
            row["diff_hdi_low"], row["diff_hdi_high"] = hdi(diff, hdi_prob)
            row["lift_hdi_low"], row["lift_hdi_high"] = hdi(lift, hdi_prob)
            rows.append(row)
    columns = [
        "segment",
        "variant",
        "users",
        "conversions",
        "control_users",
        "control_conversions",
        "rate_mean",
        "control_rate_mean",
        "diff_mean",
        "diff_hdi_low",
        "diff_hdi_high",
        "lift_mean",
        "lift_hdi_low",
        "lift_hdi_high",
        "prob_beat_control",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class Decision:
    """What to do, about which variant, and why (in plain words).

    Attributes
    ----------
    action : {"ship", "keep_control", "keep_testing"}
    variant : str or None
        The variant the decision is about (the best candidate).
    reason : str
    metric : str
        The metric the rule read (``conversion`` or ``revenue_per_user``).
    rule : dict
        The rule's parameters.
    """

    action: str
    variant: str | None
    reason: str
    metric: str
    rule: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    table: pd.DataFrame | None,
    *,
    control: str,
    metric: str = "conversion",
    prob_threshold: float = 0.95,
    max_expected_loss: float = 0.001,
    rope: float = 0.01,
    non_inferiority: bool = False,
    srm_mismatch: bool = False,
    diagnostics_ok: bool = True,
) -> Decision:
    """Ship, keep control or keep testing, from one metric's :func:`metric_table`.

    The rule, for the candidate variant (the one with the smallest expected loss, or with
    ``non_inferiority`` the one most likely to be no worse than control by more than
    ``rope``):

    * **ship** when P(beat control) ≥ ``prob_threshold`` (non-inferiority: P(lift >
      −rope) ≥ threshold) and its expected loss ≤ ``max_expected_loss``;
    * **keep_control** when, for every variant, control is at least as good with
      probability ≥ threshold, or the lift is below the ROPE (too small to matter) with
      probability ≥ threshold (non-inferiority: P(lift < −rope) ≥ threshold for every
      variant);
    * **keep_testing** otherwise — and always when the sample ratio mismatches (the
      assignment is broken) or the sampler's diagnostics are poor.

    Parameters
    ----------
    table : pandas.DataFrame or None
        :func:`metric_table` output (its ``rope`` must match this one's); ``None`` (no
        posterior for the metric) is an error that says so.
    control : str
    metric : {"conversion", "revenue_per_user"}
        Sets the units of ``max_expected_loss`` and of the reason.
    prob_threshold : float, default 0.95
    max_expected_loss : float, default 0.001
        In the metric's units: conversion-rate points as a fraction (0.001 = 1 conversion
        per 1,000 users) or money per user.
    rope : float, default 0.01
        Relative margin (0.01 = 1 % of control) for "too small to matter" and for
        non-inferiority.
    non_inferiority : bool, default False
        Ask "is the variant no worse than control by more than ``rope``?" instead of
        "is it better?".
    srm_mismatch, diagnostics_ok : bool
        From the SRM check and :func:`~workbench.experiments.sampling_diagnostics`.

    Examples
    --------
    >>> table = pd.DataFrame({"prob_beat_control": [np.nan, 0.99], "expected_loss": [0.02, 0.0001],
    ...                       "lift_mean": [np.nan, 0.2], "prob_above_rope": [np.nan, 0.97],
    ...                       "prob_noninferior": [np.nan, 1.0]}, index=["control", "b"])
    >>> decide(table, control="control").action
    'ship'
    """
    if metric not in METRIC_UNITS:
        raise ValueError(f"metric: expected one of {', '.join(METRIC_UNITS)}, got {metric!r}")
    if table is None:
        raise ValueError(
            f"decision metric {metric!r} has no posterior (revenue per user needs per-user "
            "revenue); use decision_metric='conversion'"
        )
    if not 0.5 < prob_threshold < 1:
        raise ValueError(
            f"prob_threshold: expected a value between 0.5 and 1, got {prob_threshold!r}"
        )
    if max_expected_loss < 0 or rope < 0:
        raise ValueError("max_expected_loss and rope must be 0 or more")
    rule = {
        "prob_threshold": prob_threshold,
        "max_expected_loss": max_expected_loss,
        "rope": rope,
        "non_inferiority": bool(non_inferiority),
    }
    others = table.drop(index=control)
    if others.empty:
        raise ValueError("the table holds the control only; nothing to decide")
    candidate = _candidate(others, non_inferiority)
    row = others.loc[candidate]
    action, reason = _apply_rule(others, candidate, row, metric, rule)
    if srm_mismatch:
        reason = (
            "the sample ratio mismatches the intended split, so the assignment is broken and "
            f"no result can be trusted; find the cause before deciding (ignoring that: {action} "
            f"— {reason})"
        )
        action = "keep_testing"
    elif not diagnostics_ok:
        reason = (
            "the sampler's diagnostics are poor, so these probabilities are not reliable yet; "
            f"re-run with more tune/draws (provisionally: {action} — {reason})"
        )
        action = "keep_testing"
    log.info("decision on %s: %s %s — %s", metric, action, candidate, reason)
    return Decision(action=action, variant=candidate, reason=reason, metric=metric, rule=rule)


def _candidate(others: pd.DataFrame, non_inferiority: bool) -> str:
    """The variant to decide about: the one whose choice loses least on average (the
    Bayes-optimal pick), or for non-inferiority the one most likely no worse than control."""
    if non_inferiority:
        ranked = others.sort_values(
            ["prob_noninferior", "expected_loss"], ascending=[False, True], kind="stable"
        )
    else:
        ranked = others.sort_values(["expected_loss"], kind="stable")
    return str(ranked.index[0])


def _apply_rule(
    others: pd.DataFrame, candidate: str, row: pd.Series, metric: str, rule: dict[str, Any]
) -> tuple[str, str]:
    threshold, max_loss, rope = rule["prob_threshold"], rule["max_expected_loss"], rule["rope"]
    loss_text = _loss_words(row["expected_loss"], metric)
    limit_text = _loss_words(max_loss, metric)
    if rule["non_inferiority"]:
        p_ok = row["prob_noninferior"]
        question = f"is no worse than control by more than {rope:.1%}"
        if p_ok >= threshold and row["expected_loss"] <= max_loss:
            return "ship", (
                f"{candidate} {question} with probability {p_ok:.1%} (threshold {threshold:.0%}) "
                f"and choosing it risks {loss_text} on average (limit: {limit_text})"
            )
        worse = 1 - others["prob_noninferior"]
        if (worse >= threshold).all():
            return "keep_control", (
                f"every variant is worse than control by more than {rope:.1%} with probability "
                f"≥ {threshold:.0%} ({candidate}: {1 - p_ok:.1%})"
            )
        return "keep_testing", (
            f"{candidate} {question} with probability {p_ok:.1%}, "
            + _short_of(p_ok, threshold, row["expected_loss"], max_loss, loss_text, limit_text)
        )
    p_beat = row["prob_beat_control"]
    if p_beat >= threshold and row["expected_loss"] <= max_loss:
        return "ship", (
            f"{candidate} beats control with probability {p_beat:.1%} (threshold "
            f"{threshold:.0%}; lift {row['lift_mean']:+.1%}) and shipping it risks {loss_text} "
            f"on average if it is in fact worse (limit: {limit_text})"
        )
    control_better = (1 - others["prob_beat_control"]) >= threshold
    too_small = (1 - others["prob_above_rope"]) >= threshold
    if (control_better | too_small).all():
        why = (
            "control is at least as good"
            if control_better.all()
            else f"any lift is below the {rope:.1%} that matters (or negative)"
        )
        return "keep_control", (
            f"{why} with probability ≥ {threshold:.0%} for every variant "
            f"({candidate} beats control with probability {p_beat:.1%})"
        )
    return "keep_testing", (
        f"{candidate} beats control with probability {p_beat:.1%} (lift {row['lift_mean']:+.1%}), "
        + _short_of(p_beat, threshold, row["expected_loss"], max_loss, loss_text, limit_text)
    )


def _short_of(
    prob: float, threshold: float, loss: float, max_loss: float, loss_text: str, limit_text: str
) -> str:
    gaps = []
    if prob < threshold:
        gaps.append(f"below the {threshold:.0%} needed")
    if loss > max_loss:
        gaps.append(f"and choosing it risks {loss_text}, above the limit of {limit_text}")
    elif prob < threshold:
        gaps.append(f"(risk {loss_text}, limit: {limit_text})")
    return " ".join(gaps) + "; more data will settle it"


def _loss_words(value: float, metric: str) -> str:
    if metric == "conversion":
        return (
            f"{value * 100:.2f} conversion points = {value * 1000:.1f} conversions per 1,000 users"
        )
    return f"{value:,.2f} revenue per user = {value * 1000:,.0f} per 1,000 users"
