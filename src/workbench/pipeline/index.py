"""The run's ``index.html``: each stage's status, reason, headline, duration and links.

Every stage is one row: its status (``ok``, ``not applicable``, ``failed``, ``skipped``),
why when it did not run (the one-sentence reason, or the error), its headline — the
sentence and the 3–6 numbers of ``summary["headline"]`` (:class:`workbench.display.Headline`),
formatted for people — and links to its report, executed notebook and summary. A stage
whose summary has no headline yet shows its first few scalar numbers, formatted the same
way. Every value is escaped with :mod:`workbench.display`; the page has no script.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.compare import changes_html, compare_runs, previous_run
from workbench.display import Headline, fmt_value, html_text

__all__ = ["STATUS_LABELS", "headline_of", "retrain_notice", "write_index"]

#: How each status reads on the page and in the terminal.
STATUS_LABELS = {
    "ok": "ok",
    "not_applicable": "not applicable",
    "failed": "failed",
    "skipped": "skipped",
    "killed": "stopped",
}

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} .meta{color:#666;margin-bottom:1.5rem}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #ddd;
padding:.45rem .6rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f4f5f7} .ok{color:#17803d;font-weight:600} .failed{color:#b42318;font-weight:600}
.skipped,.killed{color:#8a6d00;font-weight:600} .not_applicable{color:#5b6472;font-weight:600}
code{background:#f4f5f7;padding:0 .25rem;border-radius:3px}
.changed{background:#fff4ce} .numbers{font-size:.85rem;color:#333} .err{color:#b42318}
.reason{color:#5b6472} .sentence{margin-bottom:.25rem} .items span{margin-right:.9rem;white-space:nowrap}
.stages{table-layout:fixed} .stages td{overflow-wrap:anywhere}
.headline-warning .sentence{color:#b54708} .headline-alert .sentence{color:#b42318}
.retrain{border-left:4px solid #b42318;background:#fef3f2;padding:.6rem 1rem;margin:1rem 0}
.retrain.no{border-color:#17803d;background:#f0faf3}
"""


def headline_of(summary: Mapping[str, Any] | None) -> Headline | None:
    """The stage's :class:`~workbench.display.Headline` from its summary, if it has one."""
    data = (summary or {}).get("headline")
    if not isinstance(data, Mapping):
        return None
    try:
        return Headline.from_dict(data)
    except (ValueError, TypeError, KeyError):
        return None


def _headline_html(summary: Mapping[str, Any] | None, currency: str, limit: int = 6) -> str:
    headline = headline_of(summary)
    if headline is not None:
        items = "".join(
            f"<span>{html_text(i.label)}: <b>{html_text(i.formatted(currency))}</b></span>"
            for i in headline.items
        )
        return (
            f'<div class="headline-{html_text(headline.status)}">'
            f'<div class="sentence">{html_text(headline.sentence)}</div>'
            f'<div class="items">{items}</div></div>'
        )
    if not summary or summary.get("status") == "not_applicable":
        return ""
    shown = []
    for key, value in summary.items():
        if key.startswith("_") or isinstance(value, Mapping | list):
            continue
        if isinstance(value, bool | int | float | str):
            kind = "text" if isinstance(value, bool | str) else "number"
            if isinstance(value, int) and not isinstance(value, bool):
                kind = "int"
            shown.append(f"{html_text(key)}: <b>{html_text(fmt_value(value, kind))}</b>")
        if len(shown) >= limit:
            break
    return "<br>".join(shown)


# --------------------------------------------------------------------------- retrain notice
# The monitoring stage's retrain advice (``monitoring.json`` → ``retrain``) heads the page;
# it is advice only and never changes the run's exit code.


def retrain_notice(stages: Sequence[Mapping[str, Any]]) -> str:
    """The monitoring stage's retrain recommendation as an HTML block ("" without one).

    Examples
    --------
    >>> s = {"name": "monitoring", "status": "ok", "summary": {"retrain": {
    ...     "recommended": True, "reasons": ["AUC fell <0.7>"], "rule": "r"}}}
    >>> "AUC fell &lt;0.7&gt;" in retrain_notice([s])
    True
    """
    found = next((s for s in stages if s.get("name") == "monitoring"), None)
    retrain = ((found or {}).get("summary") or {}).get("retrain")
    if not isinstance(retrain, Mapping):
        return ""
    recommended = bool(retrain.get("recommended"))
    reasons = "".join(f"<li>{html_text(r)}</li>" for r in retrain.get("reasons") or ())
    title = "Retrain recommended" if recommended else "No retrain needed"
    return (
        f'<div class="retrain{"" if recommended else " no"}"><b>{title}</b> (monitoring)'
        f"{f'<ul>{reasons}</ul>' if reasons else ''}"
        f'<div class="reason">Rule: {html_text(retrain.get("rule", ""))}</div></div>'
    )


def write_index(
    target: str | Path,
    *,
    title: str,
    meta: Mapping[str, Any],
    stages: Sequence[Mapping[str, Any]],
    extra_sections: Sequence[str] = (),
    currency: str = "",
) -> Path:
    """Write the run's ``index.html``.

    Each stage mapping holds ``name``, ``status`` (ok / not_applicable / failed / skipped
    / killed), ``seconds``, and optionally ``reason``, ``error``, ``summary`` (dict),
    ``html``, ``notebook``, ``json`` (relative links). ``extra_sections`` are trusted HTML
    fragments appended after the stage table. The monitoring stage's retrain advice, when
    there is one, comes first (:func:`retrain_notice`).
    """
    rows = []
    for stage in stages:
        links = " · ".join(
            f'<a href="{html_text(stage[k])}">{label}</a>'
            for k, label in (("html", "report"), ("notebook", "notebook"), ("json", "summary"))
            if stage.get(k)
        )
        status = str(stage.get("status", ""))
        note = ""
        if stage.get("reason"):
            note = f'<div class="reason">{html_text(stage["reason"])}</div>'
        if stage.get("error"):
            note += f'<div class="err">{html_text(stage["error"])}</div>'
        seconds = stage.get("seconds")
        rows.append(
            f"<tr><td><b>{html_text(stage['name'])}</b></td>"
            f'<td class="{html_text(status)}">{html_text(STATUS_LABELS.get(status, status))}</td>'
            f"<td>{'' if seconds is None else f'{seconds:,.1f} s'}</td>"
            f'<td class="numbers">{_headline_html(stage.get("summary"), currency)}{note}</td>'
            f"<td>{links}</td></tr>"
        )
    meta_html = " · ".join(f"{html_text(k)}: <code>{html_text(v)}</code>" for k, v in meta.items())
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html_text(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html_text(title)}</h1>"
        f'<div class="meta">{meta_html}</div>{retrain_notice(stages)}'
        '<table class="stages"><thead><tr><th style="width:10rem">stage</th>'
        '<th style="width:7.5rem">status</th><th style="width:5rem">duration</th>'
        '<th>headline</th><th style="width:6rem">outputs</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"{''.join(extra_sections)}</body></html>"
    )
    target = Path(target)
    target.write_text(page, encoding="utf-8")
    return target


def write_run_index(
    out: Path,
    stages: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any],
    pipeline_run_id: str | None,
) -> Path:
    """``index.html`` of a run folder, with what changed since the previous run."""

    def rel(path: Any) -> str | None:
        return None if path is None else os.path.relpath(path, out)

    rows = [
        {
            **s,
            "html": rel(s.get("html")),
            "notebook": rel(s.get("notebook")),
            "json": rel(s.get("json")),
        }
        for s in stages
    ]
    previous = previous_run(out.parent, out)
    changes = compare_runs(out, previous)
    (out / "what_changed.json").write_text(
        json.dumps(
            {
                "previous_run": previous.name if previous else None,
                "changes": json.loads(changes.to_json(orient="records")),
            },
            indent=2,
        )
    )
    meta = {
        "as_of": manifest["as_of"],
        "data": manifest["data_dir"],
        "project": manifest.get("project", ""),
        "run": out.name,
        "MLflow pipeline run": pipeline_run_id or "",
        "code": manifest["code_version"]["version"],
    }
    return write_index(
        out / "index.html",
        title="Workbench report",
        meta=meta,
        stages=rows,
        extra_sections=[changes_html(changes, previous)],
    )
