"""The targeting stage's readout: its inputs from the catalog, when it applies, the report's
tables and figures, and the headline.

The notebook reads each optional model output (churn scores, CLV, recommendations,
uplift scores) through the catalog with :func:`read_upstream` — an absent or stale output
is noted, and the audiences that need it are "not applicable" — and asks
:func:`applicable` / :func:`plan_applicable` whether anything can be built at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.catalog import MissingOutputError, StaleOutputError
from workbench.display import Headline, HeadlineItem, html_text
from workbench.targeting.consent import CONSENT_RULES
from workbench.targeting.content import INTROS, SUBJECTS, preview_messages
from workbench.targeting.plan import TargetingPlan, targeting_summary
from workbench.tracking import safe_key

__all__ = [
    "UPSTREAM",
    "SUPPRESSION_FILE",
    "RULE_TEXT",
    "read_upstream",
    "beside_data",
    "planted_hours",
    "applicable",
    "plan_applicable",
    "funnel_table",
    "funnel_figure",
    "exclusion_table",
    "overlap_table",
    "send_time_table",
    "send_time_figure",
    "preview_table",
    "manifest_table",
    "headline",
    "stage_summary",
]

log = logging.getLogger(__name__)

#: Optional catalog outputs the stage reads, and the argument of
#: :func:`~workbench.targeting.plan.plan_targeting` each one feeds.
UPSTREAM = {
    "churn_scores": "churn",
    "clv": "clv",
    "recommendations": "recommendations",
    "uplift_scores": "uplift",
}
#: Default name of the suppression list beside the data.
SUPPRESSION_FILE = "suppression.csv"
#: What each consent rule means, for the report.
RULE_TEXT = {
    "no_opt_in": "no e-mail opt-in (missing consent counts as none)",
    "unsubscribed": "unsubscribed before as_of",
    "bounced": "bounced (at least bounce_limit bounces) before as_of",
    "suppressed_id": "customer id on the suppression list",
    "suppressed_email": "e-mail address (hashed) on the suppression list",
    "eligible": "may be e-mailed",
}


def read_upstream(
    read: Callable[[str], tuple[pd.DataFrame, Any]],
) -> tuple[dict[str, pd.DataFrame | None], list[str]]:
    """Each optional model output through ``read`` (the stage's catalog reader).

    Parameters
    ----------
    read : callable
        ``read(name) -> (frame, stamp)``; it raises
        :class:`~workbench.catalog.MissingOutputError` when the output is absent and
        :class:`~workbench.catalog.StaleOutputError` when it was made from another source
        or date — either way the output is not used.

    Returns
    -------
    (dict, list of str)
        :func:`~workbench.targeting.plan.plan_targeting` keyword → frame or None, and one
        note per output saying whether it is used.
    """
    inputs: dict[str, pd.DataFrame | None] = {}
    notes = []
    for name, argument in UPSTREAM.items():
        try:
            frame, _ = read(name)
        except (MissingOutputError, StaleOutputError) as exc:
            inputs[argument] = None
            first = str(exc).split(". ")[0]
            notes.append(f"{name}: not used ({first})")
            continue
        inputs[argument] = frame
        notes.append(f"{name}: {len(frame):,} rows of this source and as_of")
    for note in notes:
        log.info("targeting inputs: %s", note)
    return inputs, notes


def beside_data(given: str, data_dir: Path, default_name: str) -> Path | None:
    """The file ``given`` (a path), else ``<data_dir>/<default_name>`` when it exists.

    ``data_dir`` is the source folder (for a DuckDB file: its folder).

    Raises
    ------
    FileNotFoundError
        ``given`` names a file that does not exist.
    """
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"targeting: file {path} (given) does not exist")
        return path
    folder = data_dir if data_dir.is_dir() else data_dir.parent
    found = folder / default_name
    return found if found.is_file() else None


def planted_hours(data_dir: Path) -> pd.Series | None:
    """The simulator's planted open hours (``_truth/customers.parquet`` beside demo data),
    by customer id; None for any other source."""
    folder = data_dir if data_dir.is_dir() else data_dir.parent
    path = folder / "_truth" / "customers.parquet"
    if not path.is_file():
        return None
    truth = pd.read_parquet(path, columns=["customer_id", "preferred_open_hour"])
    return truth.set_index(truth["customer_id"].astype("str"))["preferred_open_hour"]


def applicable(
    features: pd.DataFrame, tables: Mapping[str, pd.DataFrame | None], as_of: pd.Timestamp
) -> str | None:
    """Why nothing can be built (one sentence), or None.

    Nothing can be built without customers in the feature table, without a customers
    table or without e-mail events (no consent to check against unsubscribes and bounces,
    no history to choose a send hour from).

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["a"]})
    >>> applicable(f, {"customers": f, "email_events": None}, pd.Timestamp("2026-06-30"))
    'no email_events table: unsubscribes, bounces and send hours cannot be known'
    """
    day = as_of.date()
    if not len(features):
        return f"the feature table holds no customer as of {day}"
    customers = tables.get("customers")
    if customers is None or not len(customers):
        return "no customers table: nobody's e-mail consent is known"
    events = tables.get("email_events")
    if events is None:
        return "no email_events table: unsubscribes, bounces and send hours cannot be known"
    before = pd.to_datetime(events["occurred_at"], utc=True) < as_of
    if not before.any():
        return f"no e-mail event before {day}"
    return None


def plan_applicable(plan: TargetingPlan) -> str | None:
    """Why the plan built nothing (no audience applicable), or None.

    Examples
    --------
    >>> class P:
    ...     status = pd.DataFrame({"audience": ["vip"], "status": ["not applicable"],
    ...                            "reason": ["needs column rfm_segment"]})
    >>> plan_applicable(P())
    'no audience is applicable: vip (needs column rfm_segment)'
    """
    status = plan.status
    if (status["status"] == "applicable").any():
        return None
    why = "; ".join(f"{r['audience']} ({r['reason']})" for _, r in status.iterrows())
    return f"no audience is applicable: {why or 'no audience defined'}"


def funnel_table(plan: TargetingPlan) -> pd.DataFrame:
    """Per audience, by priority: status, matched, after consent, after the cap, control,
    treatment, lost to a higher-priority audience or to recent sends, and the reason of
    an audience that is not applicable."""
    sizes = plan.sizes.merge(
        plan.status[["audience", "reason"]], on="audience", how="left", validate="1:1"
    )
    columns = [
        "priority", "audience", "message_type", "status", "matched", "after_consent",
        "after_cap", "control", "treatment", "lost_to_priority", "lost_to_recent_sends",
        "reason",
    ]  # fmt: skip
    out = sizes[columns].sort_values("priority", kind="stable", ignore_index=True)
    out["reason"] = out["reason"].where(out["status"] != "applicable")
    return out


def funnel_figure(plan: TargetingPlan) -> go.Figure:
    """Grouped bars per applicable audience: matched, after consent, after the cap, sent
    (treatment)."""
    sizes = plan.sizes[plan.sizes["status"] == "applicable"].sort_values("priority")
    labels = [html_text(a) for a in sizes["audience"]]
    fig = go.Figure()
    for column, name in (
        ("matched", "matched the rule"),
        ("after_consent", "after consent"),
        ("after_cap", "after the frequency cap"),
        ("treatment", "sent (control held out)"),
    ):
        fig.add_bar(x=labels, y=sizes[column], name=name)
    fig.update_layout(
        barmode="group",
        title="Audience sizes before and after consent, capping and the control holdout",
        yaxis_title="customers",
        height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 80},
    )
    return fig


def exclusion_table(plan: TargetingPlan) -> pd.DataFrame:
    """Who was excluded by which rule: every customer and audience members, flagged (broke
    the rule) and excluded (the first rule they broke), with what each rule means."""
    out = plan.exclusions.copy()
    out.insert(1, "meaning", out["rule"].map(RULE_TEXT))
    order = {r: i for i, r in enumerate((*CONSENT_RULES, "eligible"))}
    return out.sort_values("rule", key=lambda s: s.map(order), ignore_index=True)


def overlap_table(plan: TargetingPlan, *, after_cap: bool) -> pd.DataFrame:
    """Customers in both audiences (applicable audiences only), after consent, before or
    after the cap; the diagonal is each audience's size."""
    matrix = plan.overlap_after if after_cap else plan.overlap_before
    keep = plan.status.loc[plan.status["status"] == "applicable", "audience"].tolist()
    keep = [a for a in matrix.index if a in keep]
    return matrix.loc[keep, keep].rename_axis("audience").reset_index()


def send_time_table(plan: TargetingPlan) -> pd.DataFrame:
    """The held-out comparison: each way of choosing the hour, its hit rate (share of
    held-out interactions within ± ``hour_window`` h of the hour chosen) and its gain
    over everyone at the best single hour."""
    if plan.send_time is None or "hit_rate_personal" not in plan.send_time.metrics:
        return pd.DataFrame(columns=["hour chosen by", "hit_rate", "gain_over_best_hour"])
    m = plan.send_time.metrics
    rows = [
        ("best single hour for everyone", m["hit_rate_best_hour"]),
        ("each customer's hour (empirical Bayes)", m["hit_rate_personal"]),
    ]
    if "hit_rate_oracle" in m:
        rows.append(("planted hours (simulator's truth)", m["hit_rate_oracle"]))
    out = pd.DataFrame(rows, columns=["hour chosen by", "hit_rate"])
    out["gain_over_best_hour"] = (out["hit_rate"] - m["hit_rate_best_hour"]).round(4)
    return out


def send_time_figure(plan: TargetingPlan) -> go.Figure | None:
    """Hit rate by training interactions: each customer's hour against the best single
    hour (and the planted hours on demo data); None without an evaluation."""
    if plan.send_time is None or plan.send_time.by_history.empty:
        return None
    table = plan.send_time.by_history
    bands = table["train_interactions"].astype("str").tolist()
    fig = go.Figure()
    for column, name in (
        ("hit_rate_best_hour", "best single hour"),
        ("hit_rate_personal", "each customer's hour"),
        ("hit_rate_oracle", "planted hour (truth)"),
    ):
        if column in table:
            fig.add_bar(x=bands, y=table[column], name=name)
    fig.update_layout(
        barmode="group",
        title="Held-out interactions within ± the hour window, by the customer's history",
        xaxis_title="interactions before the held-out period",
        yaxis_title="share of held-out interactions",
        yaxis_range=[0, 1],
        height=400,
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


def preview_table(rows: pd.DataFrame, *, n: int, seed: int, first_name_key: str) -> pd.DataFrame:
    """The sample messages of the preview as a table (no customer id, name masked)."""
    messages = preview_messages(rows, n=n, seed=seed)
    out = []
    for m in messages:
        products = "; ".join(
            str(p["name"] or p["id"]) + (f" ({p['reason']})" if p["reason"] else "")
            for p in m["products"]
        )
        out.append(
            {
                "audience": m["audience"],
                "send_hour_utc": m["send_hour"],
                "control": m["control"],
                "subject": SUBJECTS.get(str(m["message_type"]), "News picked for you"),
                "opening": f"Hi [{first_name_key}], "
                + INTROS.get(str(m["message_type"]), "We picked a few things for you."),
                "top_category": m["top_category"],
                "products": products or None,
                "why": m["why"],
            }
        )
    return pd.DataFrame(out)


def manifest_table(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The exported files: audience, format, file, rows, control rows, SHA-256."""
    columns = ["audience", "format", "file", "rows", "control_rows", "sha256"]
    return pd.DataFrame(list(manifest.get("files", [])), columns=columns)


def headline(summary: Mapping[str, Any]) -> Headline:
    """What a reader of the targeting stage needs first, from the stage's summary
    (:func:`~workbench.targeting.plan.targeting_summary` plus ``export``).

    Items: messages to send, customers after consent (of all), the largest audiences'
    sizes after the cap, and the send-time gain over the best single hour. The status is
    ``warning`` when an audience is not applicable or personal hours did worse than the
    best single hour.

    Examples
    --------
    >>> s = {"totals": {"customers": 3000, "eligible_customers": 1900, "messages": 540,
    ...                 "control_rows": 60},
    ...      "audiences": [
    ...        {"audience": "win_back", "status": "applicable", "after_cap": 400},
    ...        {"audience": "vip", "status": "applicable", "after_cap": 200},
    ...        {"audience": "persuadables", "status": "not applicable", "after_cap": 0}],
    ...      "send_time": {"evaluation": {"gain": 0.31, "hit_rate_personal": 0.66,
    ...                                   "hit_rate_best_hour": 0.35}}}
    >>> h = headline(s)
    >>> h.text()
    'messages 540 · e-mailable customers 1,900 · win_back 400 · vip 200 · send-time gain 31.0%'
    >>> h.status, h.sentence.split(";")[0]
    ('warning', '540 messages to send across 2 audiences (60 held out as control)')
    """
    totals = summary["totals"]
    audiences = [a for a in summary["audiences"] if a["status"] == "applicable"]
    missing = [a["audience"] for a in summary["audiences"] if a["status"] == "not applicable"]
    evaluation = (summary.get("send_time") or {}).get("evaluation") or {}
    gain = evaluation.get("gain")
    items = [
        HeadlineItem("messages", totals["messages"], "int"),
        HeadlineItem("e-mailable customers", totals["eligible_customers"], "int"),
    ]
    largest = sorted(audiences, key=lambda a: -a["after_cap"])[:3]
    items += [HeadlineItem(str(a["audience"]), a["after_cap"], "int") for a in largest]
    if gain is not None:
        items.append(HeadlineItem("send-time gain", gain, "pct"))
    parts = [
        f"{totals['messages']:,} messages to send across {len(audiences)} audiences "
        f"({totals['control_rows']:,} held out as control)",
        f"{totals['eligible_customers']:,} of {totals['customers']:,} customers may be e-mailed",
    ]
    if gain is not None:
        parts.append(
            f"each customer's send hour hit {evaluation['hit_rate_personal']:.0%} of held-out "
            f"opens and clicks against {evaluation['hit_rate_best_hour']:.0%} at the best "
            "single hour"
        )
    if missing:
        parts.append(f"not applicable: {', '.join(missing)}")
    worse = gain is not None and np.isfinite(gain) and gain < -0.01
    status = "warning" if missing or worse else "ok"
    return Headline("; ".join(parts) + ".", tuple(items), status)


def stage_summary(
    plan: TargetingPlan,
    manifest: Mapping[str, Any] | None,
    *,
    inputs: list[str],
    export_folder: str = "",
) -> dict[str, Any]:
    """``targeting.json``: :func:`~workbench.targeting.plan.targeting_summary`, the notes on
    the inputs, where the export went, the MLflow ``metrics`` (sizes per audience, totals,
    send-time hit rates) and the ``headline``. Free of contact data."""
    summary = targeting_summary(plan, dict(manifest) if manifest is not None else None)
    summary["inputs"] = list(inputs)
    if manifest is not None:
        summary["export"]["folder"] = export_folder
    metrics: dict[str, Any] = {
        k: v for k, v in summary["totals"].items() if isinstance(v, int | float)
    }
    for a in summary["audiences"]:
        if a["status"] == "applicable":
            key = safe_key(str(a["audience"]))
            for column in ("matched", "after_consent", "after_cap", "control"):
                metrics[f"{key}_{column}"] = a[column]
    evaluation = (summary.get("send_time") or {}).get("evaluation") or {}
    for k in ("hit_rate_personal", "hit_rate_best_hour", "hit_rate_oracle", "gain"):
        if isinstance(evaluation.get(k), int | float):
            metrics[f"send_time_{k}"] = evaluation[k]
    summary["metrics"] = metrics
    summary["headline"] = headline(summary).as_dict()
    return summary
