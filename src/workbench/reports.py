"""Executed notebooks into standalone HTML that opens offline.

(The run's index page is written by :mod:`workbench.pipeline.index`.)

nbconvert's lab template refers to require.js and MathJax on a CDN, and a notebook
executed by papermill holds Plotly figures only as the Plotly MIME type, which a
static page cannot draw. :func:`notebook_to_html` therefore renders each Plotly
output as a ``<div>`` drawn by ``Plotly.newPlot``, embeds plotly.js once per page,
replaces interactive widgets with a short note, and removes every external
script, stylesheet and font reference, so the page works with no network at all.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "notebook_to_html",
    "external_references",
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
