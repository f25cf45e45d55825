"""Words and the summary JSON of an A/B analysis.

The banners (:func:`srm_banner`, :func:`diagnostics_banner`) are Markdown shown at the
top of their report section; :func:`interpretation` says what each number means for a
marketer; :func:`ab_summary` assembles ``ab_test.json`` (whose numeric leaves
:meth:`workbench.stage.Stage.finish` logs to MLflow as metrics).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.experiments.checks import CupedResult
from workbench.experiments.data import ExperimentData
from workbench.experiments.decision import Decision

__all__ = [
    "srm_banner",
    "diagnostics_banner",
    "decision_banner",
    "interpretation",
    "notes_markdown",
    "observed_revenue_table",
    "ab_summary",
    "METRIC_KEYS",
]

METRIC_KEYS = (
    "users",
    "conversions",
    "observed",
    "mean",
    "hdi_low",
    "hdi_high",
    "diff_mean",
    "diff_hdi_low",
    "diff_hdi_high",
    "lift_mean",
    "lift_hdi_low",
    "lift_hdi_high",
    "prob_beat_control",
    "prob_best",
    "expected_loss",
    "expected_loss_per_1000_users",
    "prob_in_rope",
    "prob_noninferior",
    "prob_above_rope",
)


def srm_banner(srm: dict[str, Any]) -> str:
    """Markdown: a loud warning on a sample ratio mismatch, a one-liner otherwise."""
    observed = ", ".join(f"{k}: {v:,}" for k, v in srm["observed"].items())
    expected = ", ".join(f"{k}: {v:,.0f}" for k, v in srm["expected"].items())
    if srm["mismatch"]:
        return (
            f"## ⚠️ SAMPLE RATIO MISMATCH (p = {srm['p_value']:.2g} < {srm['alpha']:g})\n\n"
            f"Users per variant ({observed}) do not fit the intended split (expected "
            f"{expected}). The assignment or its logging is broken — bots, a redirect that "
            "loses users, a variant that crashes, a filter applied after assignment — so "
            "**every number below is suspect**. Find the cause before deciding anything."
        )
    return (
        f"**Sample ratio check passed** (p = {srm['p_value']:.3f}): users per variant "
        f"({observed}) fit the intended split (expected {expected})."
    )


def diagnostics_banner(diagnostics: dict[str, Any], label: str = "model") -> str:
    """Markdown: the sampler's diagnostics, with a loud warning when they are poor."""
    numbers = (
        f"max r-hat {diagnostics['max_r_hat']:.3f}, "
        f"min bulk ESS {diagnostics['min_ess_bulk']:.0f}, "
        f"min tail ESS {diagnostics['min_ess_tail']:.0f}, {diagnostics['divergences']} "
        f"divergence(s), {diagnostics['chains']} chains × {diagnostics['draws']} draws"
    )
    if diagnostics["ok"]:
        return f"**Sampling diagnostics of the {label} are fine** ({numbers})."
    problems = "\n".join(f"- {p}" for p in diagnostics["problems"])
    return (
        f"## ⚠️ POOR SAMPLING DIAGNOSTICS ({label})\n\n{problems}\n\n"
        f"({numbers}.) The posterior below may be wrong: re-run with more `tune` and "
        "`draws` (and 4 chains) before trusting it."
    )


def notes_markdown(*notes: str | list[str] | tuple[str, ...]) -> str:
    """Markdown bullets of notes (what was excluded, skipped or assumed); "" when none.

    Examples
    --------
    >>> print(notes_markdown(["3 rows ignored"], "CUPED skipped"))
    - 3 rows ignored
    - CUPED skipped
    """
    flat = [n for group in notes for n in ([group] if isinstance(group, str) else group) if n]
    return "\n".join(f"- {n}" for n in flat)


def decision_banner(decision: Decision) -> str:
    """Markdown: the decision and its reason."""
    words = {"ship": "Ship", "keep_control": "Keep control", "keep_testing": "Keep testing"}
    subject = f" **{decision.variant}**" if decision.action == "ship" else ""
    return (
        f"### Decision: {words[decision.action]}{subject}\n\n"
        f"On {decision.metric.replace('_', ' ')}: {decision.reason}."
    )


def interpretation(table: pd.DataFrame, control: str, *, metric: str = "conversion") -> str:
    """Markdown bullets saying what each variant's numbers mean, per 1,000 users."""
    lines = []
    for variant, row in table.drop(index=control).iterrows():
        if metric == "conversion":
            per_k = row["diff_mean"] * 1000
            effect = f"{per_k:+.1f} conversions per 1,000 users"
            loss = f"{row['expected_loss'] * 1000:.1f} conversions per 1,000 users"
        else:
            effect = f"{row['diff_mean'] * 1000:+,.0f} revenue per 1,000 users"
            loss = f"{row['expected_loss'] * 1000:,.0f} revenue per 1,000 users"
        lines.append(
            f"- **{variant}**: {row['prob_beat_control']:.1%} probability that it beats "
            f"{control} (a direct probability about the variant, not a p-value); the lift is "
            f"most likely {row['lift_mean']:+.1%} and lies between {row['lift_hdi_low']:+.1%} "
            f"and {row['lift_hdi_high']:+.1%} (95% HDI), i.e. {effect}. If we ship it and it "
            f"is in fact not the best arm, we lose on average {loss} (expected loss). "
            f"Probability it is no worse than {control} by more than the ROPE: "
            f"{row['prob_noninferior']:.1%}."
        )
    return "\n".join(lines)


def observed_revenue_table(data: ExperimentData) -> pd.DataFrame:
    """Revenue per user as observed (sum / users) per variant, when revenue is known."""
    counts = data.counts.set_index("variant")
    return pd.DataFrame(
        {
            "users": counts["users"],
            "revenue": counts["revenue"],
            "observed": counts["revenue"] / counts["users"],
        }
    )


def _records(table: pd.DataFrame | None, keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    if table is None:
        return {}
    columns = [k for k in keys if k in table.columns]
    rows = table[columns].to_dict(orient="index")
    return {str(v): {k: _plain(row[k]) for k in columns} for v, row in rows.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _with_observed(table: pd.DataFrame, counts: pd.DataFrame, observed: pd.Series) -> pd.DataFrame:
    out = table.drop(columns=["users", "conversions"], errors="ignore")
    out = pd.concat([counts[["users", "conversions"]].reindex(out.index), out], axis=1)
    out["observed"] = observed.reindex(out.index)
    out["expected_loss_per_1000_users"] = out["expected_loss"] * 1000
    return out


def ab_summary(
    data: ExperimentData,
    *,
    srm: dict[str, Any],
    conversion: pd.DataFrame,
    decision: Decision,
    diagnostics: dict[str, dict[str, Any]],
    revenue: pd.DataFrame | None = None,
    proportions: pd.DataFrame | None = None,
    welch: pd.DataFrame | None = None,
    cuped_result: CupedResult | None = None,
    segment_table: pd.DataFrame | None = None,
    segment_note: str = "",
    hdi_prob: float = 0.95,
) -> dict[str, Any]:
    """Everything ``ab_test.json`` holds.

    Keys: ``experiment, control, variants, source, window_days, users, hdi_prob, srm,
    metrics`` (``conversion`` and ``revenue_per_user``: per variant the keys of
    :data:`METRIC_KEYS` that apply), ``decision, diagnostics, frequentist, cuped,
    segments, notes``.
    """
    counts = data.counts.set_index("variant")
    conv = _with_observed(conversion, counts, counts["conversions"] / counts["users"])
    metrics: dict[str, Any] = {"conversion": _records(conv, METRIC_KEYS)}
    if revenue is not None:
        rev = _with_observed(revenue, counts, counts["revenue"] / counts["users"])
        metrics["revenue_per_user"] = _records(rev, METRIC_KEYS)
    elif data.has_revenue:
        metrics["revenue_per_user"] = _records(observed_revenue_table(data), ("users", "observed"))
    summary: dict[str, Any] = {
        "experiment": data.experiment_id,
        "control": data.control,
        "variants": list(data.variants),
        "source": data.source,
        "window_days": data.window_days,
        "users": int(counts["users"].sum()),
        "hdi_prob": hdi_prob,
        "srm": {
            k: srm[k] for k in ("p_value", "chi2", "mismatch", "alpha", "observed", "expected")
        },
        "metrics": metrics,
        "decision": decision.to_dict(),
        "diagnostics": diagnostics,
        "frequentist": {
            "conversion": _records(proportions, ("diff", "diff_ci_low", "diff_ci_high", "p_value")),
            "revenue_per_user": _records(welch, ("mean", "diff", "ci_low", "ci_high", "p_value")),
        },
        "cuped": _cuped_block(cuped_result),
        "segments": _segment_block(data, segment_table, segment_note),
        "notes": list(data.notes),
    }
    return summary


def _cuped_block(result: CupedResult | None) -> dict[str, Any]:
    if result is None or not result.available:
        return {"available": False, "note": result.note if result else "not run"}
    per_variant: dict[str, Any] = {}
    for (variant, estimate), row in result.table.iterrows():
        if pd.isna(row.get("diff")):
            continue
        block = per_variant.setdefault(str(variant), {})
        for key in ("diff", "ci_low", "ci_high", "ci_width", "p_value"):
            block[f"{estimate}_{key}"] = _plain(row[key])
    return {
        "available": True,
        "theta": result.theta,
        "correlation": result.correlation,
        "variance_reduction": result.variance_reduction,
        "variants": per_variant,
    }


def _segment_block(data: ExperimentData, table: pd.DataFrame | None, note: str) -> dict[str, Any]:
    if table is None or table.empty:
        return {"available": False, "column": data.segment_column, "note": note}
    keys = (
        "users",
        "control_users",
        "diff_mean",
        "diff_hdi_low",
        "diff_hdi_high",
        "lift_mean",
        "lift_hdi_low",
        "lift_hdi_high",
        "prob_beat_control",
    )
    effects: dict[str, Any] = {}
    for row in table.itertuples(index=False):
        effects.setdefault(str(row.segment), {})[str(row.variant)] = {
            k: _plain(getattr(row, k)) for k in keys
        }
    return {"available": True, "column": data.segment_column, "note": note, "effects": effects}
