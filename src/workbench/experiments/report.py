"""Words, tables and the summary JSON of an A/B analysis — every name from the data escaped.

Variant, segment and experiment names are data: they may hold any character (slashes,
quotes, HTML, emoji, hundreds of characters). Everything here that reaches a report
passes them through :mod:`workbench.display` (:func:`~workbench.display.md_text` in
Markdown, :func:`~workbench.display.table` for tables, :func:`~workbench.display.callout`
for warnings), with numbers formatted for people. The summary JSON keeps the names as
they are; MLflow keys made from them are sanitised where the summary is logged
(:func:`workbench.tracking.safe_key`).

The banners (:func:`srm_banner`, :func:`diagnostics_banner`, :func:`decision_banner`) are
display objects for the top of their report section — a calm Markdown line when all is
well, a callout when the reader must act; :func:`interpretation` says what each number
means for a marketer; :func:`counts_view`, :func:`metric_view` and :func:`segment_view`
are the report's tables; :func:`ab_summary` assembles ``ab_test.json`` and
:func:`headline` its headline (the decision, P(beat control), expected loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench import display
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
    "counts_view",
    "metric_view",
    "segment_view",
    "ab_summary",
    "headline",
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
_ACTION_WORDS = {"ship": "Ship", "keep_control": "Keep control", "keep_testing": "Keep testing"}


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def _names(values: Any) -> str:
    """``name: 1,234`` pairs, names escaped for Markdown."""
    return ", ".join(f"{display.md_text(k)}: {display.fmt_int(v)}" for k, v in values.items())


def srm_banner(srm: dict[str, Any]) -> Any:
    """The sample ratio check for the report: an alert callout on a mismatch, one calm line
    otherwise (a display object; ``.data`` holds its text)."""
    if srm["mismatch"]:
        observed = ", ".join(f"{k}: {display.fmt_int(v)}" for k, v in srm["observed"].items())
        expected = ", ".join(f"{k}: {display.fmt_int(v)}" for k, v in srm["expected"].items())
        return display.callout(
            f"Users per variant ({observed}) do not fit the intended split (expected "
            f"{expected}; p = {srm['p_value']:.2g} < {srm['alpha']:g}). The assignment or its "
            "logging is broken — bots, a redirect that loses users, a variant that crashes, a "
            "filter applied after assignment — so every number below is suspect. Find the "
            "cause before deciding anything.",
            "alert",
            title="Sample ratio mismatch.",
        )
    return _markdown(
        f"**Sample ratio check passed** (p = {srm['p_value']:.3f}): users per variant "
        f"({_names(srm['observed'])}) fit the intended split (expected "
        f"{_names(srm['expected'])})."
    )


def diagnostics_banner(diagnostics: dict[str, Any], label: str = "model") -> Any:
    """The sampler's diagnostics: one calm line when they are fine (or nothing was
    sampled), a warning callout when they are poor (a display object)."""
    if diagnostics.get("method") == "exact":
        note = diagnostics.get("note") or "computed in closed form"
        return _markdown(f"**The {label} needs no sampler**: {display.md_text(note)}.")
    numbers = (
        f"max r-hat {display.fmt_number(diagnostics['max_r_hat'], 3)}, "
        f"min bulk ESS {display.fmt_int(diagnostics['min_ess_bulk'])}, "
        f"min tail ESS {display.fmt_int(diagnostics['min_ess_tail'])}, "
        f"{display.fmt_int(diagnostics['divergences'])} divergence(s), "
        f"{diagnostics['chains']} chains × {display.fmt_int(diagnostics['draws'])} draws"
    )
    if diagnostics["ok"]:
        return _markdown(f"**Sampling diagnostics of the {label} are fine** ({numbers}).")
    return display.callout(
        f"{'; '.join(diagnostics['problems'])} ({numbers}). The numbers of this section may be "
        "off: re-run with more tune and draws (and 4 chains) before relying on them.",
        "warning",
        title=f"The {label}'s sampler needs more care.",
    )


def notes_markdown(*notes: str | list[str] | tuple[str, ...]) -> str:
    """Markdown bullets of notes (what was excluded, pooled or assumed), escaped; "" when
    none.

    Examples
    --------
    >>> print(notes_markdown(["3 rows ignored"], "CUPED skipped"))
    - 3 rows ignored
    - CUPED skipped
    """
    flat = [n for group in notes for n in ([group] if isinstance(group, str) else group) if n]
    return "\n".join(f"- {display.md_text(n)}" for n in flat)


def decision_banner(decision: Decision) -> Any:
    """The decision and its reason (a Markdown display object; names escaped)."""
    subject = f" **{display.md_text(decision.variant)}**" if decision.action == "ship" else ""
    return _markdown(
        f"### Decision: {_ACTION_WORDS[decision.action]}{subject}\n\n"
        f"On {decision.metric.replace('_', ' ')}: {display.md_text(decision.reason)}."
    )


def interpretation(
    table: pd.DataFrame, control: str, *, metric: str = "conversion", currency: str = ""
) -> str:
    """Markdown bullets saying what each variant's numbers mean, per 1,000 users (names
    escaped)."""
    lines = []
    name = display.md_text(control)
    for variant, row in table.drop(index=control).iterrows():
        if metric == "conversion":
            effect = f"{row['diff_mean'] * 1000:+,.1f} conversions per 1,000 users"
            loss = f"{display.fmt_number(row['expected_loss'] * 1000)} conversions per 1,000 users"
        else:
            effect = f"{_signed_money(row['diff_mean'] * 1000, currency)} revenue per 1,000 users"
            loss = f"{display.fmt_money(row['expected_loss'] * 1000, currency)} per 1,000 users"
        lines.append(
            f"- **{display.md_text(variant)}**: {display.fmt_pct(row['prob_beat_control'])} "
            f"probability that it beats {name} (a direct probability about the variant, not a "
            f"p-value); the lift is most likely {_signed_pct(row['lift_mean'])} and lies between "
            f"{_signed_pct(row['lift_hdi_low'])} and {_signed_pct(row['lift_hdi_high'])} (HDI), "
            f"i.e. {effect}. If we ship it and it is in fact not the best arm, we lose on "
            f"average {loss} (expected loss). Probability it is no worse than {name} by more "
            f"than the ROPE: {display.fmt_pct(row['prob_noninferior'])}."
        )
    return "\n".join(lines)


def _signed_pct(value: float) -> str:
    text = display.fmt_pct(value)
    return text if text.startswith(("-", "–")) else f"+{text}"


def _signed_money(value: float, currency: str) -> str:
    text = display.fmt_money(abs(value), currency)
    return f"−{text}" if value < 0 else f"+{text}"


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


def counts_view(data: ExperimentData, *, currency: str = "") -> Any:
    """Users, conversions and revenue per variant, formatted and escaped (a Styler)."""
    counts = data.counts
    frame = pd.DataFrame(
        {
            "variant": counts["variant"].astype("str"),
            "users": counts["users"],
            "conversions": counts["conversions"],
            "conversion rate": counts["conversions"] / counts["users"],
            "revenue": counts["revenue"],
            "revenue per user": counts["revenue"] / counts["users"],
        }
    )
    if not data.has_revenue:
        frame = frame.drop(columns=["revenue", "revenue per user"])
    kinds = {"conversion rate": "pct", "revenue": "money", "revenue per user": "money"}
    return display.table(frame, kinds=kinds, currency=currency)


def metric_view(
    table: pd.DataFrame, metric: str = "conversion", *, currency: str = "", hdi_prob: float = 0.95
) -> Any:
    """A :func:`~workbench.experiments.metric_table` for people: rates or money, intervals
    as "low – high", probabilities as percentages, expected loss per 1,000 users; the
    variant names escaped (a Styler)."""
    kind = "pct" if metric == "conversion" else "money"
    label = "conversion rate" if metric == "conversion" else "revenue per user"
    hdi = f"{hdi_prob:.0%} HDI"

    def span(low: pd.Series, high: pd.Series, fmt: Any) -> list[str]:
        return [
            "–" if pd.isna(a) or pd.isna(b) else f"{fmt(a)} to {fmt(b)}"
            for a, b in zip(low, high, strict=True)
        ]

    value = (
        (lambda v: display.fmt_pct(v, 2))
        if kind == "pct"
        else (lambda v: display.fmt_money(v, currency))
    )
    frame = pd.DataFrame({"variant": [str(v) for v in table.index]})
    for column in ("users", "conversions"):
        if column in table.columns:
            frame[column] = table[column].to_numpy()
    frame[label] = table["mean"].to_numpy()
    frame[hdi] = span(table["hdi_low"], table["hdi_high"], value)
    frame["lift"] = table["lift_mean"].to_numpy()
    frame[f"lift {hdi}"] = span(table["lift_hdi_low"], table["lift_hdi_high"], display.fmt_pct)
    frame["P(beat control)"] = table["prob_beat_control"].to_numpy()
    frame["P(best)"] = table["prob_best"].to_numpy()
    loss = "expected loss per 1,000 users"
    frame[loss] = table["expected_loss"].to_numpy() * 1000
    frame["P(no worse than control beyond ROPE)"] = table["prob_noninferior"].to_numpy()
    kinds = {
        "users": "int",
        "conversions": "int",
        label: kind,
        hdi: "text",
        "lift": "pct",
        f"lift {hdi}": "text",
        "P(beat control)": "pct",
        "P(best)": "pct",
        loss: "number" if kind == "pct" else "money",
        "P(no worse than control beyond ROPE)": "pct",
    }
    return display.table(frame, kinds=kinds, currency=currency)


def segment_view(effects: pd.DataFrame, *, hdi_prob: float = 0.95) -> Any:
    """:func:`~workbench.experiments.segment_effects` for people (a Styler; names escaped)."""
    hdi = f"lift {hdi_prob:.0%} HDI"
    frame = pd.DataFrame(
        {
            "segment": effects["segment"].astype("str"),
            "variant": effects["variant"].astype("str"),
            "users": effects["users"],
            "conversions": effects["conversions"],
            "control users": effects["control_users"],
            "control conversions": effects["control_conversions"],
            "rate": effects["rate_mean"],
            "control rate": effects["control_rate_mean"],
            "lift": effects["lift_mean"],
            hdi: [
                f"{display.fmt_pct(a)} to {display.fmt_pct(b)}"
                for a, b in zip(effects["lift_hdi_low"], effects["lift_hdi_high"], strict=True)
            ],
            "P(beat control)": effects["prob_beat_control"],
        }
    )
    kinds = {"rate": "pct", "control rate": "pct", "lift": "pct", hdi: "text"}
    kinds.update({"P(beat control)": "pct", "users": "int", "conversions": "int"})
    kinds.update({"control users": "int", "control conversions": "int"})
    return display.table(frame, kinds=kinds)


def headline(summary: dict[str, Any], *, currency: str = "") -> display.Headline:
    """The A/B stage's headline from its :func:`ab_summary`: the decision, the candidate's
    probability to beat control, its lift and expected loss (per 1,000 users, in the
    decision metric's units), and the users analysed.

    Status ``alert`` on a sample ratio mismatch, ``warning`` when the sampler's
    diagnostics of the decision metric are poor, else ``ok``. The sentence and the text
    values hold the names as they are (plain text: whoever renders them escapes them).
    """
    decision = summary["decision"]
    metric = decision["metric"]
    variant = decision.get("variant")
    control = summary["control"]
    row = summary["metrics"].get(metric, {}).get(str(variant), {})
    p_beat, lift = row.get("prob_beat_control"), row.get("lift_mean")
    loss = row.get("expected_loss_per_1000_users")
    loss_kind = "number" if metric == "conversion" else "money"
    loss_words = (
        f"{display.fmt_number(loss)} conversions"
        if metric == "conversion"
        else display.fmt_money(loss, currency)
    )
    action = decision["action"]
    odds = (
        f"{variant} beats {control} with probability {display.fmt_pct(p_beat)} "
        f"(lift {_signed_pct(lift)} in {metric.replace('_', ' ')})"
    )
    if action == "ship":
        sentence = f"Ship {variant}: {odds}; expected loss {loss_words} per 1,000 users."
    elif action == "keep_control":
        sentence = f"Keep {control}: {odds}."
    else:
        sentence = f"Keep testing: {odds}, not yet enough to decide."
    if summary["srm"].get("mismatch"):
        status = "alert"
        sentence = f"Sample ratio mismatch: the assignment is broken. {sentence}"
    elif not summary.get("diagnostics", {}).get(_MODEL_OF[metric], {}).get("ok", True):
        status = "warning"
    else:
        status = "ok"
    items = [
        display.HeadlineItem(
            "decision", f"{_ACTION_WORDS[action]} {variant or ''}".strip(), "text"
        ),
        display.HeadlineItem("P(beat control)", p_beat, "pct"),
        display.HeadlineItem("lift", lift, "pct"),
        display.HeadlineItem("expected loss per 1,000 users", loss, loss_kind),
        display.HeadlineItem("users", summary["users"], "int"),
    ]
    return display.Headline(sentence, items, status)


_MODEL_OF = {"conversion": "conversion_model", "revenue_per_user": "revenue_model"}


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
