"""Executed notebooks into standalone HTML that opens offline, and the run's index page.

nbconvert's lab template refers to require.js and MathJax on a CDN, and a notebook
executed by papermill holds Plotly figures only as the Plotly MIME type, which a
static page cannot draw. :func:`notebook_to_html` therefore renders each Plotly
output as a ``<div>`` drawn by ``Plotly.newPlot``, embeds plotly.js once per page,
replaces interactive widgets with a short note, and removes every external
script, stylesheet and font reference, so the page works with no network at all.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "notebook_to_html",
    "external_references",
    "write_index",
    "PLOTLY_MIME",
]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_EXTERNAL = re.compile(
    r"<(script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>"
    r"(?:\s*</script>)?",
    re.IGNORECASE,
)
_EXTERNAL_CSS = re.compile(r"@import\s+url\(\s*[\"']?(?:https?:)?//[^)]*\)\s*;?", re.IGNORECASE)
# The lab template loads mermaid from a CDN (only for pages with diagrams); ours have none.
_MODULE_IMPORTS = re.compile(
    r"<script\b[^>]*>(?:(?!</script>).)*?import\(\s*[\"'](?:https?:)?//(?:(?!</script>).)*?</script>",
    re.IGNORECASE | re.DOTALL,
)
_FONT_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _plotly_div(figure: Mapping[str, Any]) -> str:
    div_id = f"plotly-{uuid.uuid4().hex[:12]}"
    height = (figure.get("layout") or {}).get("height") or 450
    spec = json.dumps(
        {"data": figure.get("data", []), "layout": figure.get("layout", {})}, default=str
    )
    config = json.dumps({"responsive": True, "displaylogo": False, **(figure.get("config") or {})})
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{int(height)}px;'
        f'width:100%;"></div>\n<script type="text/javascript">(function(){{var f={spec};'
        f'Plotly.newPlot("{div_id}", f.data, f.layout, {config});}})();</script>'
    )


def _prepare(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """Give Plotly outputs an HTML representation and replace widgets by a note."""
    figures = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if PLOTLY_MIME in data:
                data["text/html"] = _plotly_div(data[PLOTLY_MIME])
                del data[PLOTLY_MIME]
                data.pop("text/plain", None)
                figures += 1
            elif WIDGET_MIME in data:
                del data[WIDGET_MIME]
                data.pop("text/plain", None)
                data["text/html"] = (
                    '<div class="workbench-widget-note" style="padding:6px 10px;'
                    'border-left:3px solid #999;color:#555;font-style:italic">Interactive '
                    "widget: open this notebook in JupyterLab to use it.</div>"
                )
    nb.metadata.pop("widgets", None)
    return nb, figures


def notebook_to_html(notebook: str | Path, target: str | Path, *, title: str | None = None) -> Path:
    """Export an executed notebook to one self-contained HTML file.

    Parameters
    ----------
    notebook : path
        The executed ``.ipynb``.
    target : path
        The HTML file to write.
    title : str, optional
        Page title (default: the notebook's file name).

    Returns
    -------
    Path
        ``target``; it holds no reference to an external script, stylesheet or font.
    """
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    nb, figures = _prepare(nb)
    exporter = HTMLExporter(template_name="lab")
    exporter.require_js_url = ""
    exporter.mathjax_url = ""
    exporter.exclude_input_prompt = False
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": title or Path(notebook).stem}}
    )
    body = _EXTERNAL.sub("", body)
    body = _MODULE_IMPORTS.sub("", body)
    body = re.sub(r"<script\s+src=[\"']{2}\s*>\s*</script>", "", body)  # emptied require.js
    body = _EXTERNAL_CSS.sub("", body)
    body = _FONT_URL.sub("none", body)
    if figures:
        script = f'<script type="text/javascript">{_plotly_js()}</script>'
        body = body.replace("</head>", f"{script}\n</head>", 1)
    target = Path(target)
    target.write_text(body, encoding="utf-8")
    return target


def external_references(page: str) -> list[str]:
    """Every external URL a page would fetch (scripts, stylesheets, images, fonts, imports)."""
    refs = re.findall(
        r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)",
        page,
        flags=re.IGNORECASE,
    )
    refs += re.findall(r"import\(\s*[\"']((?:https?:)?//[^\"']+)", page)
    refs += re.findall(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", page, flags=re.IGNORECASE)
    return refs


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
