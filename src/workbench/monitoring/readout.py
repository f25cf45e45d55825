"""What the monitoring report shows: its tables (for ``display.table``) and its sentences.

Every sentence escapes the values it carries (:func:`workbench.display.md_text`) and
formats its numbers; every table is a plain frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench.display import fmt_int, md_text
from workbench.monitoring.workflow import MonitoringResult

__all__ = [
    "KINDS",
    "MONITORED",
    "applicable",
    "drift_markdown",
    "inputs_table",
    "no_reference_reason",
    "realised_clv_table",
    "realised_table",
    "retrain_markdown",
]

#: This run's outputs the stage reads from the catalog.
MONITORED = ("customer_features", "segments", "churn_scores", "clv")

#: How the columns of the report's tables are shown.
KINDS = {
    "psi": "number",
    "js": "number",
    "p_value": "number",
    "reference_rows": "int",
    "current_rows": "int",
    "reference_missing": "pct",
    "current_missing": "pct",
    "unseen_share": "pct",
    "change": "number",
    "customers": "int",
    "churned": "int",
    "realised_churn_rate": "pct",
    "mean_predicted": "pct",
    "predicted": "pct",
    "observed": "pct",
    "roc_auc": "number",
    "holdout_roc_auc": "number",
    "top_decile_lift": "number",
    "predicted_purchases": "number",
    "actual_purchases": "int",
    "total_error": "pct",
    "mae": "number",
    "rows": "int",
}


def applicable(current: Mapping[str, Any], result: MonitoringResult) -> str | None:
    """Why there is nothing to monitor (None: there is something).

    Nothing to monitor: this run made none of the monitored outputs and no earlier run of
    the project on this source kept any.
    """
    if any(isinstance(v, pd.DataFrame) for v in current.values()) or result.earlier:
        return None
    return (
        f"no stage output as of {result.as_of.date()} and no earlier run of this project "
        "on this source: run the features, churn, segmentation or CLV stage first"
    )


def inputs_table(
    current: Mapping[str, Any], stamps: Mapping[str, Any], result: MonitoringResult
) -> pd.DataFrame:
    """One row per monitored output: its rows in this run (or why it is absent) and the
    ``as_of`` dates of the earlier runs that kept one."""
    rows = []
    for name in MONITORED:
        frame = current.get(name)
        stamp = stamps.get(name)
        rows.append(
            {
                "output": name,
                "this run": f"{len(frame):,} rows" if isinstance(frame, pd.DataFrame) else "–",
                "why absent": "" if isinstance(frame, pd.DataFrame) else str(stamp)[:200],
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["earlier_runs"] = list(result.earlier)
    return table


def no_reference_reason(result: MonitoringResult) -> str:
    """Why a comparison with the reference run is missing, in one sentence."""
    if result.reference_run is None:
        return (
            "this is the first run of the project on this source, so there is no earlier "
            "run to compare with."
        )
    return next(
        (n for n in result.notes if "not compared" in n),
        "the reference run or this run lacks the output.",
    )


def drift_markdown(result: MonitoringResult) -> str:
    """One paragraph: how many inputs were compared and how many warn or alert."""
    table = result.drift
    if table is None or result.reference_run is None:
        return md_text(no_reference_reason(result))
    counts = table["status"].value_counts()
    flagged = table[table["status"].isin(["warn", "alert"])]["column"].head(5).tolist()
    text = (
        f"**{fmt_int(len(table))}** inputs compared with the run as of "
        f"**{md_text(result.reference_run['as_of'])}**: {fmt_int(counts.get('alert', 0))} "
        f"alert, {fmt_int(counts.get('warn', 0))} warn, {fmt_int(counts.get('ok', 0))} ok, "
        f"{fmt_int(counts.get('absent', 0))} in one run only."
    )
    if flagged:
        text += " Largest moves: " + ", ".join(md_text(c) for c in flagged) + "."
    return text


def realised_table(result: MonitoringResult) -> pd.DataFrame:
    """Realised performance of every matured churn score set, oldest first."""
    columns = [
        "as_of",
        "horizon_days",
        "customers",
        "churned",
        "realised_churn_rate",
        "mean_predicted",
        "roc_auc",
        "holdout_roc_auc",
        "top_decile_lift",
    ]
    return pd.DataFrame([r.as_dict() for r in result.realised], columns=columns)


def realised_clv_table(result: MonitoringResult) -> pd.DataFrame:
    """Realised purchases of every matured CLV forecast, oldest first."""
    columns = [
        "as_of",
        "horizon_days",
        "customers",
        "predicted_purchases",
        "actual_purchases",
        "total_error",
        "mae",
    ]
    return pd.DataFrame([r.as_dict() for r in result.realised_clv], columns=columns)


def retrain_markdown(retrain: Mapping[str, Any]) -> str:
    """The recommendation, the rule in words, the reasons and what could not be checked."""
    lines = [
        "**Retrain recommended.**" if retrain.get("recommended") else "**No retrain needed.**",
        "",
        f"Rule: {md_text(retrain.get('rule', ''))}.",
    ]
    for reason in retrain.get("reasons", []):
        lines.append(f"- {md_text(reason)}")
    notes = list(retrain.get("notes", []))
    if notes:
        lines += ["", "Not checked:"] + [f"- {md_text(n)}" for n in notes]
    return "\n".join(lines)
