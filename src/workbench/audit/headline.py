"""The audit stage's headline: what a reader needs first, from ``audit.json``'s content."""

from __future__ import annotations

from workbench import display

__all__ = ["headline"]


def headline(summary: dict) -> dict:
    """The stage's headline (:class:`workbench.display.Headline` as a dict) from
    ``audit.json``'s content: quality score, rows quarantined, duplicate customers merged,
    rows set aside after ``as_of``; ``alert`` when rows or revenue do not reconcile,
    ``warning`` when the quality score is under 95."""
    rows_in = int(summary.get("rows_in") or 0)
    quarantined = int(summary.get("rows_quarantined") or 0)
    merged = int((summary.get("duplicates") or {}).get("customers_merged") or 0)
    later = int(summary.get("rows_after_as_of") or 0)
    score = summary.get("quality_score")
    revenue = summary.get("revenue") or {}
    reconciled = bool(summary.get("reconciled")) and revenue.get("reconciled", True) is not False
    status = "ok"
    if not reconciled:
        status = "alert"
    elif score is not None and score < 95:
        status = "warning"
    sentence = (
        f"Audited {display.fmt_int(rows_in)} rows: {display.fmt_int(quarantined)} quarantined by "
        f"{display.fmt_int(summary.get('error_rules_failed') or 0)} error rule(s), "
        f"{display.fmt_int(merged)} duplicate customer(s) merged"
        + (f", {display.fmt_int(later)} set aside after as_of" if later else "")
        + ("." if reconciled else "; rows or revenue do NOT reconcile — check the audit report.")
    )
    items = [
        display.HeadlineItem("quality score", score, "number"),
        display.HeadlineItem("rows quarantined", quarantined, "int"),
        display.HeadlineItem("duplicates merged", merged, "int"),
    ]
    if later:
        items.append(display.HeadlineItem("set aside after as_of", later, "int"))
    return display.Headline(sentence, items, status).as_dict()
