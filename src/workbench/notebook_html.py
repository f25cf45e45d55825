"""An executed stage notebook as a report: offline HTML that leads with the decision.

What :func:`notebook_to_html` makes of an executed notebook (the ``.ipynb`` itself keeps
everything):

- a **headline card** first (``summary["headline"]``, see :class:`workbench.display.Headline`),
  then the notebook's narrative and outputs; code inputs are hidden, and a "show code"
  switch (pure CSS, no script) reveals them;
- the parameters cell and papermill's injected-parameters cell give way to a compact
  table of this run's parameters, the ones that differ from the notebook's defaults
  marked;
- log records, Python warnings and the sampler's progress lines are left out of the
  page (the runner writes the log to ``run.log``), and so is a raw ``dict`` that ends
  the notebook;
- Plotly figures are drawn by ``Plotly.newPlot`` with their JSON embedded through
  :func:`workbench.display.script_json`; plotly.js (4.8 MB) and the template's
  stylesheet (0.2 MB, the same for every stage) are one file each per folder
  (:func:`write_assets`, :data:`PLOTLY_ASSET`, ``workbench-report-<hash>.css``)
  referenced relatively, so a run folder holds them once instead of once per stage; for
  a copy that travels alone (MLflow's artefact viewer) ``standalone=True`` or
  :func:`standalone_copy` inlines them — 5 MB more per copy, the price of opening
  anywhere;
- nothing is fetched from outside (:func:`external_references` of the page is empty) and a
  Content-Security-Policy lets only this page's own scripts run (each carries the
  page's nonce), so markup a notebook output lets through from the data — an
  ``onerror`` attribute, a ``<script>`` — does not execute in a browser. Outputs must
  still escape the data (:mod:`workbench.display`); the policy is the second line.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from workbench.display import Headline, html_text, script_json

__all__ = [
    "PLOTLY_ASSET",
    "PLOTLY_MIME",
    "RUN_CONTEXT",
    "WIDGET_MIME",
    "external_references",
    "notebook_to_html",
    "standalone_copy",
    "write_assets",
]

log = logging.getLogger(__name__)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: File name of the shared plotly.js bundle in a report folder.
PLOTLY_ASSET = "plotly.min.js"
#: Parameters that are the run's context, not the analysis's (``workbench.stage.CONTEXT``,
#: which this layer cannot import); only ``as_of`` of them is shown in a report.
RUN_CONTEXT = ("data_dir", "as_of", "output_dir", "pipeline_run_id", "tracking_uri", "data_root")

_REPORT_TAG = "workbench-report"
_DROPPED_MIME = ("application/javascript", "text/javascript", WIDGET_MIME)

# nbconvert's lab template without require.js, MathJax, mermaid, widget state and
# JavaScript outputs: nothing in it loads from a CDN or runs a script of its own.
_TEMPLATE_NAME = "workbench_report.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_javascript -%}{%- endblock data_javascript -%}
{%- block data_widget_view -%}{%- endblock data_widget_view -%}
"""

# --------------------------------------------------------------------------- log lines

_LOG_LINE = re.compile(
    r"^(?:"
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\s+(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b.*"
    r"|(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:.*"  # logging.basicConfig's format
    r"|\[[DIWEC] \d{4}-\d\d-\d\d[^\]]*\].*"  # Jupyter's and tornado's format
    r")$"
)
_SAMPLER_LINE = re.compile(
    r"^(?:Auto-assigning NUTS sampler|Initializ(?:ing|e) NUTS|Multiprocess sampling|"
    r"Sequential sampling|NUTS: \[|Sampling \d+ chains? for|Sampling: \[|CompoundStep|"
    r">\s*\w+: \[|There (?:were|was) \d+ divergen|The (?:rhat|effective sample size)|"
    r"Chain \d+ reached|We recommend running at least|Compiling|Running chain|"
    r"Sampling chain|Only \d+ samples? (?:in|per) chain).*$"
)
_PROGRESS = re.compile(r"\d+%\|.*\||\r|\x1b\[[0-9;]*[A-Za-z]|━")
_WARNING_LINE = re.compile(r"^\S.*:\d+: \w*Warning: .*$")


def _clean_stream(text: str, stream: str) -> str:
    """The lines of a stream output a report reader should see."""
    kept: list[str] = []
    lines = text.splitlines(keepends=True)
    skip_source = False
    for line in lines:
        bare = line.rstrip("\n")
        if skip_source and bare.startswith((" ", "\t")):
            skip_source = False  # the source line `warnings` prints under its message
            continue
        skip_source = False
        if _LOG_LINE.match(bare) or _SAMPLER_LINE.match(bare.strip()):
            continue
        if stream == "stderr" and (_PROGRESS.search(line) or _WARNING_LINE.match(bare)):
            skip_source = bool(_WARNING_LINE.match(bare))
            continue
        kept.append(line)
    return "".join(kept) if "".join(kept).strip() else ""


# --------------------------------------------------------------------------- parameters


def _literals(source: str) -> dict[str, Any]:
    """``name = literal`` assignments of a parameters cell (others are left out)."""
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return values
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    continue
    return values


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def _shown_value(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "…"


def _parameters_html(parameters: Mapping[str, Any], defaults: Mapping[str, Any], as_of: Any) -> str:
    names = [n for n in parameters if n not in RUN_CONTEXT]
    changed = [n for n in names if n in defaults and parameters[n] != defaults[n]]
    rows = []
    if as_of is not None:
        rows.append(
            f'<tr class="workbench-context"><td>as_of</td><td>{html_text(_shown_value(as_of))}'
            "</td><td>the run's cut-off</td></tr>"
        )
    for name in names:
        mark = name in changed
        default = (
            html_text(_shown_value(defaults[name]))
            if mark
            else ("default" if name in defaults else "not a notebook parameter")
        )
        rows.append(
            f'<tr class="{"workbench-changed" if mark else ""}"><td>{html_text(name)}'
            f"{' <b>●</b>' if mark else ''}</td><td>{html_text(_shown_value(parameters[name]))}"
            f"</td><td>{default}</td></tr>"
        )
    if changed:
        listed = ", ".join(
            f"<code>{html_text(n)} = {html_text(_shown_value(parameters[n]))}</code>"
            for n in changed
        )
        what = f"{len(changed)} changed from the defaults: {listed}"
    else:
        what = "all at their defaults"
    return (
        '<details class="workbench-params"><summary><b>Parameters of this run</b> · '
        f"{len(names)} parameter{'' if len(names) == 1 else 's'}, {what}</summary>"
        "<table><thead><tr><th>parameter</th><th>this run</th><th>default</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )


# --------------------------------------------------------------------------- headline card

_STATUS_LABELS = {"ok": "ok", "warning": "look at this", "alert": "do not act on this as it is"}


def _card_html(title: str, summary: Mapping[str, Any] | None, currency: str) -> str:
    summary = summary or {}
    status = str(summary.get("status") or "")
    if status == "not_applicable":
        headline = Headline(str(summary.get("reason") or "This stage did not apply."))
        status = "not_applicable"
        label = "not applicable"
    else:
        try:
            headline = Headline.from_dict(summary.get("headline") or {})
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            log.warning("report %s: summary['headline'] is not a headline (%s)", title, exc)
            headline = Headline("")
        status = headline.status if headline.status in _STATUS_LABELS else "ok"
        label = _STATUS_LABELS[status] if summary.get("headline") else ""
    items = "".join(
        f'<div class="workbench-item"><div class="workbench-value">'
        f"{html_text(item.formatted(currency))}</div>"
        f'<div class="workbench-label">{html_text(item.label)}</div></div>'
        for item in headline.items
    )
    sentence = (
        f'<p class="workbench-sentence">{html_text(headline.sentence)}</p>'
        if headline.sentence
        else ""
    )
    badge = f'<span class="workbench-badge">{html_text(label)}</span>' if label else ""
    return (
        f'<section class="workbench-headline workbench-status-{html_text(status)}">'
        f'<div class="workbench-title">{html_text(title)}{badge}</div>{sentence}'
        f"{f'<div class=workbench-items>{items}</div>' if items else ''}</section>"
    )


# --------------------------------------------------------------------------- outputs


def _report_cell(html: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source="", metadata={"tags": [_REPORT_TAG]})
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html}, metadata={})]
    return cell


def _plotly_div(figure: Mapping[str, Any], nonce: str, number: int) -> str:
    div_id = f"workbench-figure-{number}"
    layout = figure.get("layout") or {}
    given = layout.get("height")
    height = given if isinstance(given, int | float) and not isinstance(given, bool) else 450
    spec = script_json({"data": figure.get("data", []), "layout": layout}, default=str)
    config = script_json(
        {"responsive": True, "displaylogo": False, **(figure.get("config") or {})}, default=str
    )
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{int(height)}px;'
        f'width:100%;"></div>\n<script nonce="{nonce}" data-workbench="figure">'
        f'(function(){{var f={spec};Plotly.newPlot("{div_id}",f.data,f.layout,{config});}})();'
        "</script>"
    )


_WIDGET_NOTE = (
    '<div class="workbench-widget-note">Interactive widget: open this notebook in '
    "JupyterLab to use it.</div>"
)


def _is_raw_dict(output: Mapping[str, Any]) -> bool:
    if output.get("output_type") != "execute_result":
        return False
    data = output.get("data") or {}
    text = str(data.get("text/plain", "")).strip()
    return set(data) == {"text/plain"} and text.startswith("{") and text.endswith("}")


def _prepare(nb: nbformat.NotebookNode, nonce: str) -> int:
    """Rewrite the outputs in place for the report; returns the number of figures."""
    figures = 0
    last_with_outputs = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        noted = False
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                text = _clean_stream(str(output.get("text", "")), str(output.get("name")))
                if text:
                    output["text"] = text
                    kept.append(output)
                continue
            data = output.get("data")
            if kind not in ("display_data", "execute_result") or not data:
                kept.append(output)
                continue
            if PLOTLY_MIME in data:
                figures += 1
                output["data"] = {"text/html": _plotly_div(data[PLOTLY_MIME], nonce, figures)}
            elif WIDGET_MIME in data:
                if noted:
                    continue
                output["data"] = {"text/html": _WIDGET_NOTE}
                noted = True
            else:
                for mime in _DROPPED_MIME:
                    data.pop(mime, None)
                if not data:
                    continue
            kept.append(output)
        cell["outputs"] = kept
        if kept:
            last_with_outputs = cell
    if last_with_outputs is not None and _is_raw_dict(last_with_outputs.outputs[-1]):
        last_with_outputs.outputs.pop()
    nb.metadata.pop("widgets", None)
    return figures


# --------------------------------------------------------------------------- page

_CSS = """
.workbench-toggle-input{position:absolute;opacity:0;pointer-events:none}
.workbench-toggle{position:fixed;top:10px;right:14px;z-index:1000;cursor:pointer;
 font:13px/1.2 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#344054;
 background:#fff;border:1px solid #d0d5dd;border-radius:6px;padding:5px 10px;
 box-shadow:0 1px 2px rgba(16,24,40,.08);user-select:none}
.workbench-toggle .workbench-hide,
#workbench-show-code:checked ~ .workbench-toggle .workbench-show{display:none}
#workbench-show-code:checked ~ .workbench-toggle .workbench-hide{display:inline}
#workbench-show-code:focus-visible ~ .workbench-toggle{outline:2px solid #4c78a8}
#workbench-show-code:not(:checked) ~ main .jp-CodeCell .jp-Cell-inputWrapper,
#workbench-show-code:not(:checked) ~ main .jp-CodeCell.jp-mod-noOutputs,
.celltag_workbench-report .jp-Cell-inputWrapper{display:none}
.workbench-headline{border:1px solid #d0d5dd;border-left:6px solid #17803d;border-radius:8px;
 padding:12px 16px;margin:4px 0 12px;background:#fbfcfd;
 font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif}
.workbench-status-warning{border-left-color:#b54708}
.workbench-status-alert{border-left-color:#b42318}
.workbench-status-not_applicable{border-left-color:#98a2b3}
.workbench-title{font-size:13px;color:#475467;text-transform:uppercase;letter-spacing:.04em}
.workbench-badge{margin-left:.6em;padding:1px 7px;border-radius:9px;background:#ecfdf3;
 color:#17803d;text-transform:none;letter-spacing:0}
.workbench-status-warning .workbench-badge{background:#fffaeb;color:#b54708}
.workbench-status-alert .workbench-badge{background:#fef3f2;color:#b42318}
.workbench-status-not_applicable .workbench-badge{background:#f2f4f7;color:#475467}
.workbench-sentence{font-size:17px;margin:6px 0 10px;color:#101828;overflow-wrap:anywhere}
.workbench-items{display:flex;flex-wrap:wrap;gap:10px 28px}
.workbench-value{font-size:22px;font-weight:600;color:#101828;overflow-wrap:anywhere}
.workbench-label{font-size:12px;color:#667085;overflow-wrap:anywhere}
.workbench-params{margin:4px 0 8px;font-size:13px;overflow-wrap:anywhere}
.workbench-params summary{cursor:pointer;color:#344054}
.jp-RenderedHTMLCommon .workbench-params table{border-collapse:collapse;margin:6px 0}
.jp-RenderedHTMLCommon .workbench-params td,.jp-RenderedHTMLCommon .workbench-params th{
 border-bottom:1px solid #eaecf0;padding:2px 10px;text-align:left;
 font-family:var(--jp-code-font-family,monospace);font-size:12px}
.jp-RenderedHTMLCommon .workbench-params tr.workbench-changed td{background:#fff4ce}
.workbench-widget-note{padding:6px 10px;border-left:3px solid #999;color:#555;
 font-style:italic}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{overflow-wrap:anywhere}
"""

_TOGGLE = (
    '<input type="checkbox" id="workbench-show-code" class="workbench-toggle-input">'
    '<label for="workbench-show-code" class="workbench-toggle" title="Show or hide the code">'
    '<span class="workbench-show">Show code</span><span class="workbench-hide">Hide code'
    "</span></label>"
)

_EXTERNAL = re.compile(
    r"<(script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>"
    r"(?:\s*</script>)?",
    re.IGNORECASE,
)
_EXTERNAL_CSS = re.compile(r"@import\s+url\(\s*[\"']?(?:https?:)?//[^)]*\)\s*;?", re.IGNORECASE)
_FONT_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)


def _csp(nonce: str) -> str:
    # 'unsafe-eval': plotly's WebGL traces (regl) compile shaders with new Function; it
    # does not let markup run a script, only this page's own (nonce) scripts can eval.
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}' 'unsafe-eval'; "
        "style-src 'self' file: 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


_HEAD_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_STYLE_LINK = re.compile(
    r'<link rel="stylesheet" href="(workbench-report-[0-9a-f]{12}\.css)" data-workbench="style">'
)


def _minified(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"\s+", " ", css)
    return re.sub(r"\s*([{};])\s*", r"\1", css).strip()


def _split_head_styles(page: str) -> tuple[str, str]:
    """The page without the stylesheets of its ``<head>`` (the template's: the same in
    every report) and those stylesheets, minified, with ours last."""
    end = page.find("</head>")
    head, rest = page[:end], page[end:]
    css = "\n".join(_minified(m.group(1)) for m in _HEAD_STYLE.finditer(head))
    return _HEAD_STYLE.sub("", head) + rest, css + "\n" + _minified(_CSS)


def _style_asset(folder: Path, css: str) -> str:
    """Write ``css`` once into ``folder`` under a name from its content; returns the name."""
    content = css.encode("utf-8")
    name = f"workbench-report-{hashlib.sha256(content).hexdigest()[:12]}.css"
    target = folder / name
    if not (target.exists() and target.read_bytes() == content):
        partial = folder / f".{name}.partial"
        partial.write_bytes(content)
        partial.replace(target)
    return name


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs()).replace("</script", "<\\/script")


def _bundle_tag(nonce: str, standalone: bool) -> str:
    if standalone:
        return f'<script nonce="{nonce}" data-workbench="plotly">{_plotly_js()}</script>'
    return f'<script src="{PLOTLY_ASSET}" nonce="{nonce}" data-workbench="plotly"></script>'


def write_assets(folder: str | Path) -> list[Path]:
    """Write plotly.js (:data:`PLOTLY_ASSET`) into ``folder`` once.

    Every HTML of the folder made by :func:`notebook_to_html` refers to it relatively
    (and to the one stylesheet ``workbench-report-<hash>.css`` it writes beside the
    page), so the folder opens offline as a whole. Nothing is rewritten when the file is
    already there with the same content.

    Returns
    -------
    list of Path
        The asset files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PLOTLY_ASSET
    content = _plotly_js().encode("utf-8")
    if not (
        target.exists() and target.stat().st_size == len(content) and target.read_bytes() == content
    ):
        partial = target.with_name(f".{PLOTLY_ASSET}.partial")
        partial.write_bytes(content)
        partial.replace(target)  # a reader never sees half a bundle
    return [target]


def notebook_to_html(
    notebook: str | Path,
    target: str | Path,
    *,
    title: str | None = None,
    summary: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    standalone: bool = False,
    currency: str = "",
) -> Path:
    """Export an executed stage notebook to its HTML report.

    Parameters
    ----------
    notebook : path
        The executed ``.ipynb`` (not modified).
    target : path
        The HTML file to write.
    title : str, optional
        Page title and the card's caption (default: the notebook's file name).
    summary : mapping, optional
        The stage's summary (``<stage>.json``): its ``headline`` becomes the card at the
        top; a ``not_applicable`` summary shows its reason. None: a card with the title
        only.
    parameters : mapping, optional
        This run's effective parameters. None: the notebook's defaults updated with what
        papermill injected (``metadata.papermill.parameters``).
    defaults : mapping, optional
        The notebook's defaults, to mark what this run changed. None: the literals of the
        cell tagged ``parameters``.
    standalone : bool, default False
        Inline plotly.js (4.8 MB) and the stylesheet instead of referring to the files
        beside the page: for a copy that must open alone (an MLflow artefact). Otherwise
        they are written beside ``target`` once per folder (:func:`write_assets`).
    currency : str
        Code shown before the headline's ``money`` values.

    Returns
    -------
    Path
        ``target``; it holds no reference to an external script, stylesheet or font.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    notebook, target = Path(notebook), Path(target)
    nb = nbformat.read(str(notebook), as_version=4)
    title = title or notebook.stem
    nonce = secrets.token_hex(16)

    found_defaults: dict[str, Any] = {}
    injected: dict[str, Any] = dict(nb.metadata.get("papermill", {}).get("parameters") or {})
    position = None
    cells: list[nbformat.NotebookNode] = []
    for cell in nb.cells:
        tags = _tags(cell)
        if cell.cell_type == "code" and "parameters" in tags:
            found_defaults.update(_literals(str(cell.source)))
            position = len(cells) if position is None else position
            continue
        if cell.cell_type == "code" and "injected-parameters" in tags:
            if not injected:
                injected = _literals(str(cell.source))
            position = len(cells) if position is None else position
            continue
        cells.append(cell)
    defaults = dict(found_defaults if defaults is None else defaults)
    parameters = dict({**found_defaults, **injected} if parameters is None else parameters)
    as_of = parameters.get("as_of")
    if parameters or defaults:
        params_cell = _report_cell(_parameters_html(parameters, defaults, as_of))
        cells.insert(min(position if position is not None else 0, len(cells)), params_cell)
    cells.insert(0, _report_cell(_card_html(title, summary, currency)))
    nb.cells = cells
    figures = _prepare(nb, nonce)

    exporter = HTMLExporter(
        template_name="lab", extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})]
    )
    exporter.template_file = _TEMPLATE_NAME
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = _EXTERNAL.sub("", body)
    body = _EXTERNAL_CSS.sub("", body)
    body = _FONT_URL.sub("none", body)
    body, css = _split_head_styles(body)
    if standalone:
        head = f"{_csp(nonce)}\n<style>{css}</style>"
    else:
        name = _style_asset(target.parent, css)
        head = f'{_csp(nonce)}\n<link rel="stylesheet" href="{name}" data-workbench="style">'
    if figures:
        head += "\n" + _bundle_tag(nonce, standalone)
        if not standalone:
            write_assets(target.parent)
    body = re.sub(r"<head>", lambda m: f"{m.group(0)}\n{head}", body, count=1)
    body = re.sub(r"<main>", lambda m: f"{_TOGGLE}\n{m.group(0)}", body, count=1)
    target.write_text(body, encoding="utf-8")
    return target


def standalone_copy(page: str | Path, target: str | Path) -> Path:
    """A copy of a report made by :func:`notebook_to_html` with plotly.js and the
    stylesheet inlined, for where the page travels without its folder (MLflow's artefact
    viewer).

    The copy is about 4.9 MB larger than the page when it has figures (0.2 MB without);
    the page itself is left as it is.
    """
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    text = _STYLE_LINK.sub(
        lambda m: f"<style>{(page.parent / m.group(1)).read_text(encoding='utf-8')}</style>",
        text,
        count=1,
    )
    pattern = re.compile(
        rf'<script src="{re.escape(PLOTLY_ASSET)}" nonce="([0-9a-f]+)" '
        r'data-workbench="plotly"></script>'
    )
    text = pattern.sub(lambda m: _bundle_tag(m.group(1), True), text, count=1)
    target = Path(target)
    target.write_text(text, encoding="utf-8")
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
