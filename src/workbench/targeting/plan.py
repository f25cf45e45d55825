"""One targeting run: audiences → consent → frequency cap → control groups → send hour →
content, and the summary of it.

:func:`plan_targeting` is the stage's entry point; :func:`targeting_summary` turns its
result into the JSON-able headline numbers (``targeting.json``). Exporting the send lists
(:func:`workbench.targeting.export.export_audiences`) and rendering the preview
(:func:`workbench.targeting.content.render_preview`) take :attr:`TargetingPlan.rows`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.frames import isin
from workbench.schema import check_as_of
from workbench.targeting.capping import (
    apply_frequency_cap,
    cap_table,
    overlap_matrix,
    recent_sends,
)
from workbench.targeting.consent import (
    SuppressionList,
    consent_table,
    exclusion_counts,
    read_suppression_list,
)
from workbench.targeting.content import content_fields
from workbench.targeting.control import assign_control, control_table
from workbench.targeting.inputs import check_recommendations, targeting_table
from workbench.targeting.params import TargetingParams
from workbench.targeting.rules import Audience, evaluate_audiences, load_audiences
from workbench.targeting.sendtime import (
    SendHours,
    SendTimeEvaluation,
    evaluate_send_hours,
    fit_send_hours,
    interaction_times,
)

__all__ = ["TargetingPlan", "plan_targeting", "targeting_summary", "EXPORT_COLUMNS"]

log = logging.getLogger(__name__)

#: Leading columns of the export rows (content fields follow).
EXPORT_COLUMNS = ("customer_id", "audience", "priority", "message_type", "send_hour", "control")


@dataclass
class TargetingPlan:
    """Everything one targeting run decided, step by step.

    Attributes
    ----------
    as_of : Timestamp
    params : TargetingParams
    audiences : list of Audience
    status : DataFrame
        Per audience: status (applicable / not applicable / disabled), reason, rule,
        matched.
    members : DataFrame
        Every (customer, audience) match before consent.
    consent : DataFrame
        Per customer of the table: each consent rule's flag, eligible, excluded_by.
    exclusions : DataFrame
        :func:`~workbench.targeting.consent.exclusion_counts`.
    capped : DataFrame
        Eligible memberships with ``kept`` and ``cap_reason``.
    assigned : DataFrame
        Kept memberships with ``control``.
    sizes : DataFrame
        Per audience: matched, after_consent, after_cap, control, treatment, lost to
        priority and to recent sends.
    overlap_before, overlap_after : DataFrame
        Customers in two audiences, after consent, before and after the cap.
    controls : DataFrame
        Stated and realised control shares with the seed.
    send_hours : SendHours or None
    send_time : SendTimeEvaluation or None
    rows : DataFrame
        The send lists: :data:`EXPORT_COLUMNS` and the content fields.
    notes : list of str
    """

    as_of: pd.Timestamp
    params: TargetingParams
    audiences: list[Audience]
    status: pd.DataFrame
    members: pd.DataFrame
    consent: pd.DataFrame
    exclusions: pd.DataFrame
    capped: pd.DataFrame
    assigned: pd.DataFrame
    sizes: pd.DataFrame
    overlap_before: pd.DataFrame
    overlap_after: pd.DataFrame
    controls: pd.DataFrame
    send_hours: SendHours | None
    send_time: SendTimeEvaluation | None
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _shares(audiences: Sequence[Audience], params: TargetingParams) -> dict[str, float]:
    return {
        a.name: a.control_share if a.control_share is not None else params.default_control_share
        for a in audiences
    }


def plan_targeting(
    features: pd.DataFrame,
    as_of: str | pd.Timestamp,
    *,
    audiences: Sequence[Audience] | str | Path | None = None,
    churn: pd.DataFrame | None = None,
    clv: pd.DataFrame | None = None,
    uplift: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    email_events: pd.DataFrame | None = None,
    suppression: SuppressionList | str | Path | None = None,
    params: TargetingParams | None = None,
    truth_hours: pd.Series | None = None,
) -> TargetingPlan:
    """Decide who gets which message, when, with what content.

    Parameters
    ----------
    features : DataFrame
        The customer feature table as of ``as_of`` (defines the customers).
    as_of : str or Timestamp
        The run date (UTC midnight); only e-mail events strictly before it are read.
    audiences : list of Audience, path or None
        Parsed audiences, a YAML file, or None for the built-in defaults.
    churn, clv, uplift, recommendations : DataFrame, optional
        Model outputs (see :mod:`workbench.targeting.inputs`); an audience whose
        columns are absent is not applicable.
    customers : DataFrame, optional
        Canonical customers: consent (``email_opt_in``) and addresses for matching a
        suppression list (never copied into the result).
    products : DataFrame, optional
        Product names for the content.
    email_events : DataFrame, optional
        Canonical e-mail events: unsubscribes, bounces, recent sends (cap) and the
        opens and clicks of send-time optimisation.
    suppression : SuppressionList or path of a CSV, optional
    params : TargetingParams, optional
    truth_hours : Series, optional
        True preferred hours by customer id (simulator), for the send-time oracle.
    """
    check_as_of(as_of, "plan_targeting")
    params = params or TargetingParams()
    if audiences is None or isinstance(audiences, str | Path):
        audiences = load_audiences(audiences)
    audiences = sorted(audiences, key=lambda a: a.priority)
    names = [a.name for a in audiences]
    if isinstance(suppression, str | Path):
        suppression = read_suppression_list(suppression)
    table, notes = targeting_table(features, churn=churn, clv=clv, uplift=uplift)
    matched = evaluate_audiences(table, audiences)
    members = matched.members
    consent, consent_notes = consent_table(
        table["customer_id"],
        as_of,
        customers=customers,
        features=features,
        email_events=email_events,
        suppression=suppression,
        bounce_limit=params.bounce_limit,
    )
    notes += consent_notes
    eligible = members[
        isin(members["customer_id"], consent.loc[consent["eligible"], "customer_id"])
    ]
    recent = None
    if params.count_recent_sends and email_events is not None:
        recent = recent_sends(email_events, as_of, params.cap_days)
        notes.append(
            f"frequency cap: {params.max_messages} per {params.cap_days} days; "
            f"{len(recent):,} customers were sent e-mails in the last "
            f"{params.cap_days} days"
        )
    capped = apply_frequency_cap(eligible, max_messages=params.max_messages, recent=recent)
    kept = capped[capped["kept"]].drop(columns=["kept", "cap_reason"])
    shares = _shares(audiences, params)
    assigned = assign_control(kept, shares, seed=params.control_seed)
    hours, evaluation = _send_times(assigned, email_events, as_of, params, truth_hours, notes)
    if hours is not None:
        lookup = hours.hours.set_index("customer_id")["send_hour"]
        assigned["send_hour"] = lookup.reindex(assigned["customer_id"]).to_numpy()
    else:
        assigned["send_hour"] = pd.NA
    assigned["send_hour"] = assigned["send_hour"].astype("Int64")
    recs = check_recommendations(recommendations) if recommendations is not None else None
    rows = content_fields(
        assigned[list(EXPORT_COLUMNS)],
        table,
        audiences=audiences,
        recommendations=recs,
        products=products,
        n_products=params.n_products,
        first_name_key=params.first_name_key,
    )
    rows = rows.sort_values(["priority", "customer_id"], kind="stable", ignore_index=True)
    controls = control_table(assigned, shares, seed=params.control_seed, audiences=names)
    sizes = _sizes(matched.audiences, members, eligible, capped, controls, names)
    for note in notes:
        log.info("targeting: %s", note)
    return TargetingPlan(
        as_of=as_of,
        params=params,
        audiences=list(audiences),
        status=matched.audiences,
        members=members,
        consent=consent,
        exclusions=exclusion_counts(consent, members),
        capped=capped,
        assigned=assigned,
        sizes=sizes,
        overlap_before=overlap_matrix(eligible, names),
        overlap_after=overlap_matrix(kept, names),
        controls=controls,
        send_hours=hours,
        send_time=evaluation,
        rows=rows,
        notes=notes,
    )


def _send_times(
    assigned: pd.DataFrame,
    email_events: pd.DataFrame | None,
    as_of: pd.Timestamp,
    params: TargetingParams,
    truth: pd.Series | None,
    notes: list[str],
) -> tuple[SendHours | None, SendTimeEvaluation | None]:
    if email_events is None:
        notes.append(
            "send time: no email_events; send_hour left empty (the platform's default applies)"
        )
        return None, None
    interactions, counts = interaction_times(
        email_events, as_of, machine_open_seconds=params.machine_open_seconds
    )
    hours = fit_send_hours(
        interactions,
        assigned["customer_id"],
        hour_window=params.hour_window,
        prior_strength=params.prior_strength,
    )
    hours.counts = counts
    evaluation = evaluate_send_hours(
        email_events,
        as_of,
        holdout_days=params.holdout_days,
        hour_window=params.hour_window,
        machine_open_seconds=params.machine_open_seconds,
        prior_strength=params.prior_strength,
        truth=truth,
        seed=params.control_seed,
        precomputed=(interactions, counts),
    )
    notes.append(
        f"send time: {counts['machine_opens']:,} of {counts['opens']:,} opens within "
        f"{params.machine_open_seconds:g} s of the send ignored as machine opens; "
        f"fallback hour {hours.population_hour:02d}:00 UTC"
    )
    return hours, evaluation


def _sizes(
    status: pd.DataFrame,
    members: pd.DataFrame,
    eligible: pd.DataFrame,
    capped: pd.DataFrame,
    controls: pd.DataFrame,
    names: list[str],
) -> pd.DataFrame:
    out = status[["audience", "priority", "message_type", "status"]].copy()
    out["matched"] = out["audience"].map(members["audience"].value_counts()).fillna(0)
    out["after_consent"] = out["audience"].map(eligible["audience"].value_counts()).fillna(0)
    caps = cap_table(capped, names).set_index("audience")
    for col in ("after_cap", "lost_to_priority", "lost_to_recent_sends"):
        out[col] = out["audience"].map(caps[col]).fillna(0)
    ctl = controls.set_index("audience")
    out["control"] = out["audience"].map(ctl["control"]).fillna(0)
    out["treatment"] = out["audience"].map(ctl["treatment"]).fillna(0)
    counts = [
        "matched",
        "after_consent",
        "after_cap",
        "lost_to_priority",
        "lost_to_recent_sends",
        "control",
        "treatment",
    ]
    out[counts] = out[counts].astype("int64")
    return out.reset_index(drop=True)


def _maybe_float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _several(memberships: pd.DataFrame) -> int:
    """Customers with more than one membership."""
    return int((memberships["customer_id"].value_counts() > 1).sum())


def _pairs(matrix: pd.DataFrame) -> int:
    """(customer, audience pair) overlaps: the off-diagonal sum of the matrix, halved."""
    values = matrix.to_numpy()
    return int((values.sum() - np.trace(values)) // 2)


def targeting_summary(
    plan: TargetingPlan, manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Headline numbers of a run, JSON-able and free of contact data.

    Keys: as_of, params, audiences (per audience: status, reason, priority,
    message_type, control_share and the sizes), totals (customers, matched, eligible,
    assigned, sent, control — unique customers and messages), consent (exclusions per rule),
    overlaps (audience pairs sharing customers, before and after the cap), send_time (fit
    and held-out evaluation), export (files with rows and checksums, when given), notes.
    """
    sizes = plan.sizes.set_index("audience")
    ctl = plan.controls.set_index("audience")
    audiences = []
    for _, s in plan.status.iterrows():
        name = s["audience"]
        row = {
            "audience": name,
            "status": s["status"],
            "reason": s["reason"],
            "priority": int(s["priority"]),
            "message_type": s["message_type"],
            "rule": s["rule"],
            "control_share": float(ctl.loc[name, "control_share"]),
            "realised_control_share": _maybe_float(ctl.loc[name, "realised_share"]),
            **{
                k: int(sizes.loc[name, k])
                for k in (
                    "matched",
                    "after_consent",
                    "after_cap",
                    "lost_to_priority",
                    "lost_to_recent_sends",
                    "control",
                    "treatment",
                )
            },
        }
        audiences.append(row)
    assigned = plan.assigned
    totals = {
        "customers": len(plan.consent),
        "eligible_customers": int(plan.consent["eligible"].sum()),
        "matched_customers": int(plan.members["customer_id"].nunique()),
        "matched_memberships": len(plan.members),
        "assigned_customers": int(assigned["customer_id"].nunique()),
        "messages": int((~assigned["control"]).sum()),
        "control_rows": int(assigned["control"].sum()),
    }
    consent = {
        r["rule"]: {k: int(v) for k, v in r.items() if k != "rule"}
        for r in plan.exclusions.to_dict("records")
    }
    send_time: dict[str, Any] = {}
    if plan.send_hours is not None:
        send_time["fit"] = plan.send_hours.describe()
    if plan.send_time is not None:
        send_time["evaluation"] = plan.send_time.metrics
        send_time["by_history"] = plan.send_time.by_history.to_dict("records")
    summary = {
        "as_of": str(plan.as_of.date()),
        "params": plan.params.as_dict(),
        "audiences": audiences,
        "applicable": int((plan.status["status"] == "applicable").sum()),
        "totals": totals,
        "consent": consent,
        "overlaps": {
            "customers_in_several_before_cap": _several(plan.capped),
            "customers_in_several_after_cap": _several(plan.assigned),
            "shared_pairs_before_cap": _pairs(plan.overlap_before),
            "shared_pairs_after_cap": _pairs(plan.overlap_after),
            "before_cap": plan.overlap_before.to_dict(),
            "after_cap": plan.overlap_after.to_dict(),
        },
        "send_time": send_time,
        "notes": list(plan.notes),
    }
    if manifest is not None:
        summary["export"] = {
            k: manifest[k] for k in ("files", "include_contact", "salt_id") if k in manifest
        }
    return summary
