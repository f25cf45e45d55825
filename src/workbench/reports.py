"""The run's reports: each stage's HTML (:mod:`workbench.notebook_html`) and the index page.

:func:`notebook_to_html`, :func:`write_assets`, :func:`standalone_copy` and
:func:`external_references` live in :mod:`workbench.notebook_html` and are re-exported
here; :func:`write_index` writes the run's ``index.html``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.notebook_html import (
    PLOTLY_ASSET,
    PLOTLY_MIME,
    external_references,
    notebook_to_html,
    standalone_copy,
    write_assets,
)

__all__ = [
    "notebook_to_html",
    "external_references",
    "standalone_copy",
    "write_assets",
    "write_index",
    "PLOTLY_ASSET",
    "PLOTLY_MIME",
]


# --------------------------------------------------------------------------- index page

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} .meta{color:#666;margin-bottom:1.5rem}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #ddd;
padding:.45rem .6rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f4f5f7} .ok{color:#17803d;font-weight:600} .failed{color:#b42318;font-weight:600}
.skipped{color:#8a6d00;font-weight:600} code{background:#f4f5f7;padding:0 .25rem;border-radius:3px}
.changed{background:#fff4ce} .numbers{font-size:.85rem;color:#333} .err{color:#b42318}
"""


def _headline(summary: Mapping[str, Any] | None, limit: int = 8) -> str:
    if not summary:
        return ""
    items = []
    for key, value in summary.items():
        if isinstance(value, bool | int | float | str) and not key.startswith("_"):
            shown = f"{value:,.4g}" if isinstance(value, float) else html.escape(str(value))
            items.append(f"{html.escape(key)}: <b>{shown}</b>")
        if len(items) >= limit:
            break
    return "<br>".join(items)


def write_index(
    target: str | Path,
    *,
    title: str,
    meta: Mapping[str, Any],
    stages: Sequence[Mapping[str, Any]],
    extra_sections: Sequence[str] = (),
) -> Path:
    """Write the run's ``index.html``: each stage's status, duration, headline numbers, links.

    Each stage mapping holds ``name``, ``status`` (ok/failed/skipped), ``seconds``,
    optional ``summary`` (dict), ``html``, ``notebook``, ``json`` (relative links) and ``error``.
    ``extra_sections`` are HTML fragments appended after the stage table.
    """
    rows = []
    for stage in stages:
        links = " · ".join(
            f'<a href="{html.escape(str(stage[k]))}">{label}</a>'
            for k, label in (("html", "report"), ("notebook", "notebook"), ("json", "summary"))
            if stage.get(k)
        )
        error = (
            f'<div class="err">{html.escape(stage["error"])}</div>' if stage.get("error") else ""
        )
        seconds = stage.get("seconds")
        rows.append(
            f"<tr><td><b>{html.escape(stage['name'])}</b></td>"
            f'<td class="{html.escape(stage["status"])}">{html.escape(stage["status"])}</td>'
            f"<td>{'' if seconds is None else f'{seconds:,.1f} s'}</td>"
            f'<td class="numbers">{_headline(stage.get("summary"))}{error}</td><td>{links}</td></tr>'
        )
    meta_html = " · ".join(
        f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in meta.items()
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<div class="meta">{meta_html}</div>'
        "<table><thead><tr><th>stage</th><th>status</th><th>duration</th><th>headline numbers</th>"
        f"<th>outputs</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{''.join(extra_sections)}</body></html>"
    )
    target = Path(target)
    target.write_text(page, encoding="utf-8")
    return target
