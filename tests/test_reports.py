"""A stage report from an executed notebook: headline first, code hidden, parameters as a
table, no log lines, figures escaped and drawn with one shared plotly.js, nothing external.

Unit tests on a hand-made executed notebook; the browser checks of real stage reports are
in ``test_browser.py`` and the hostile-data run in ``test_hostile.py``.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import nbformat
import numpy as np
import pandas as pd
import pytest

from workbench import display as d
from workbench import notebook_html as nh
from workbench import plots, reports
from workbench.stage import CONTEXT

HOSTILE = "</script><img src=x onerror=alert(document.domain)><!-- [x](javascript:alert(1))"
LOG = "2026-12-03 07:55:49,633 INFO workbench.audit.duplicates: duplicate search: 859 customers"
SUMMARY = {
    "auc": 0.8913,
    "headline": d.Headline(
        f"XGBoost beat the baseline {HOSTILE}",
        [
            d.HeadlineItem("ROC-AUC", 0.8913),
            d.HeadlineItem("customers", 19615.0, "int"),
            d.HeadlineItem("high risk", 0.123, "pct"),
            d.HeadlineItem("revenue", 1234567.891, "money"),
        ],
        status="warning",
    ).as_dict(),
}


def _figure(name: str) -> dict:
    return {
        "data": [{"type": "bar", "name": name, "x": ["a", name], "y": [1, 2]}],
        "layout": {"title": {"text": name}, "height": 300},
    }


def _output(kind: str, data: dict) -> nbformat.NotebookNode:
    if kind == "execute_result":
        return nbformat.v4.new_output(kind, data=data, execution_count=1)
    return nbformat.v4.new_output(kind, data=data)


def _notebook(path, *, last_output: dict | None = None) -> None:
    code = nbformat.v4.new_code_cell
    cells = [
        nbformat.v4.new_markdown_cell("# 09 · Test stage\nWhat this stage answers."),
        code(
            'data_dir = ""  # folder\nas_of = "2026-06-30"  # cut-off\nk = 3  # clusters\n'
            'label = "a"  # label\nflags = {"x": 1}  # a dict',
            metadata={"tags": ["parameters"]},
        ),
        code(
            '# Parameters\ndata_dir = "/srv/data"\nas_of = "2026-05-31"\nk = 5\n',
            metadata={"tags": ["injected-parameters"]},
        ),
        code("stage = Stage.start('test', globals())"),
        code("run()"),
        code("figure.show()"),
        code("widget"),
        code("javascript"),
        code("error"),
        code("summary"),
    ]
    cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text=LOG + "\n")]
    cells[4].outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stdout",
            text=f"{LOG}\nnote: 12 customers left out\n{LOG}\nINFO:workbench.x:basic format\n"
            "[W 2026-12-03 10:00:00.123 ServerApp] jupyter format\n",
        ),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "Initializing NUTS using jitter+adapt_diag...\nSequential sampling (2 chains in "
                "1 job)\nNUTS: [p]\nSampling 2 chains for 300 tune and 300 draw iterations "
                "(600 + 600 draws total) took 2 seconds.\n"
                "/x/y.py:12: UserWarning: something internal\n  warnings.warn('x')\n"
                " 40%|████      | 4/10 [00:01<00:02]\r"
            ),
        ),
        nbformat.v4.new_output("stream", name="stderr", text="a real problem on stderr\n"),
    ]
    cells[5].outputs = [
        _output("display_data", {nh.PLOTLY_MIME: _figure(HOSTILE), "text/plain": "Figure"})
    ]
    widget = {nh.WIDGET_MIME: {"model_id": "abc"}, "text/plain": "VBox()"}
    cells[6].outputs = [_output("display_data", widget), _output("display_data", widget)]
    cells[7].outputs = [
        _output("display_data", {"application/javascript": "window.evil = 1;"}),
        _output("display_data", {"text/markdown": d.md_text(HOSTILE), "text/plain": "md"}),
    ]
    cells[8].outputs = [
        nbformat.v4.new_output(
            "error", ename="ValueError", evalue="bad k", traceback=["ValueError: bad k"]
        )
    ]
    cells[9].outputs = [
        _output("execute_result", last_output or {"text/plain": "{'auc': 0.8912999999999999}"})
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["papermill"] = {
        "parameters": {"data_dir": "/srv/data", "as_of": "2026-05-31", "k": 5},
        "default_parameters": {},
    }
    nbformat.write(nb, str(path))


class _Page(HTMLParser):
    """Elements (tag, attributes) in order, script texts, and the text outside scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag
            if tag == "script":
                self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._in is None:
            self.text.append(data)


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def _text(page: str) -> str:
    """What a reader sees (scripts and styles left out), whitespace collapsed."""
    return re.sub(r"\s+", " ", "".join(_parse(page).text))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    _notebook(tmp_path / "09_test.ipynb")
    target = nh.notebook_to_html(
        tmp_path / "09_test.ipynb", tmp_path / "test.html", title="test · 2026-05-31",
        summary=SUMMARY,
    )  # fmt: skip
    return target, target.read_text(encoding="utf-8")


def test_the_page_starts_with_the_headline_card_formatted_and_escaped(report):
    _, page = report
    parsed = _parse(page)
    body = [(t, a) for t, a in parsed.elements if t not in ("input", "label")]
    main = next(i for i, (t, _) in enumerate(body) if t == "main")
    first_section = next(a for t, a in body[main:] if t == "section")
    assert "workbench-headline" in first_section["class"]
    assert "workbench-status-warning" in first_section["class"]
    card = page[page.index("<section") : page.index("</section>")]
    assert page.index("<section") < page.index("09 · Test stage"), "the card comes first"
    for shown in ("0.89", "19,615", "12.3%", "1,234,567.89", "ROC-AUC", "look at this"):
        assert shown in card
    assert "<img" not in card and "&lt;img src=x onerror=" in card


def _stylesheet(target) -> str:
    name = re.search(r'<link rel="stylesheet" href="([^"]+)"', target.read_text()).group(1)
    return (target.parent / name).read_text()


def test_code_is_hidden_by_a_css_switch_and_kept_in_the_page(report):
    target, page = report
    assert page.index('id="workbench-show-code"') < page.index("<main>")
    assert 'type="checkbox"' in page and "Show code" in page and "Hide code" in page
    rule = "#workbench-show-code:not(:checked) ~ main .jp-CodeCell .jp-Cell-inputWrapper"
    assert rule in _stylesheet(target)
    assert "stage = Stage.start('test', globals())" in _text(page), "the code stays, only hidden"


def test_parameter_cells_become_one_table_with_changes_marked(report):
    _, page = report
    text = _text(page)
    assert "# Parameters" not in page and "# clusters" not in page, "both cells are gone"
    rows = re.findall(r"<tr class=\"([^\"]*)\"><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", page)
    by_name = {
        re.sub(r" <b>●</b>", "", name): (cls, html.unescape(value), default)
        for cls, name, value, default in rows
    }
    assert by_name["k"] == ("workbench-changed", "5", "3")
    assert by_name["label"] == ("", '"a"', "default")
    assert by_name["as_of"][1] == '"2026-05-31"'
    assert "data_dir" not in by_name, "run context (paths) is not an analysis parameter"
    assert "1 changed from the defaults: k = 5" in text
    table_at = page.index('<details class="workbench-params"')
    assert page.index("09 · Test stage") < table_at < page.index("note: 12 customers")


def test_the_title_is_escaped_in_the_page_title_and_the_card(tmp_path):
    _notebook(tmp_path / "nb.ipynb")
    title = f"</title><script>alert(1)</script> · {HOSTILE}"
    page = nh.notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "p.html", title=title)
    text = page.read_text()
    assert "<script>alert(1)" not in text and "<img" not in text
    assert re.search(r"<title>&lt;/title&gt;&lt;script&gt;alert\(1\)", text)


def test_explicit_parameters_and_defaults_win_over_the_notebook(tmp_path):
    _notebook(tmp_path / "nb.ipynb")
    page = nh.notebook_to_html(
        tmp_path / "nb.ipynb", tmp_path / "p.html", parameters={"k": 7, "label": "b"},
        defaults={"k": 7, "label": "a"},
    ).read_text()  # fmt: skip
    assert "1 changed from the defaults: k" not in page
    assert re.search(r'workbench-changed"><td>label <b>●</b></td><td>"b"', page)


def test_log_records_warnings_and_sampler_output_are_left_out(report):
    _, page = report
    text = _text(page)
    assert "INFO workbench" not in page and "duplicate search" not in page
    assert "basic format" not in page and "jupyter format" not in page
    for noise in ("NUTS", "Sequential sampling", "UserWarning", "warnings.warn", "40%"):
        assert noise not in text
    assert "note: 12 customers left out" in text, "print output a reader needs stays"
    assert "a real problem on stderr" in text, "unknown stderr stays visible"
    assert "ValueError: bad k" in text, "errors stay"


def test_a_raw_dict_does_not_end_the_report_but_other_values_do(report, tmp_path):
    _, page = report
    assert "0.8912999999999999" not in page
    _notebook(tmp_path / "frame.ipynb", last_output={"text/plain": "'ship personalised'"})
    other = nh.notebook_to_html(tmp_path / "frame.ipynb", tmp_path / "f.html").read_text()
    assert "ship personalised" in other


def test_figures_embed_their_json_escaped_and_only_our_scripts_run(report):
    target, page = report
    parsed = _parse(page)
    nonce = re.search(r"script-src 'nonce-([0-9a-f]{32})'", page).group(1)
    assert all(attrs.get("nonce") == nonce for attrs, _ in parsed.scripts)
    roles = [attrs.get("data-workbench") for attrs, _ in parsed.scripts]
    assert roles == ["plotly", "figure"]
    figure = parsed.scripts[1][1]
    assert "</" not in figure and "<!--" not in figure
    spec = json.loads(re.search(r"var f=(.*?);Plotly\.newPlot", figure).group(1))
    assert spec["data"][0]["name"] == HOSTILE and spec["layout"]["title"]["text"] == HOSTILE
    assert "window.evil" not in page, "JavaScript outputs are dropped"
    assert not [t for t, a in parsed.elements if any(k.startswith("on") for k in a)]
    assert page.count("Interactive widget") == 1, "one note per widget cell"
    assert nh.external_references(page) == []


def test_nbconvert_renders_markdown_outputs_as_html_so_data_must_be_escaped(tmp_path):
    """The audit of the lab template: a text/markdown (or text/html) output is inserted as
    HTML. md_text makes a value inert; a raw value becomes live markup."""
    _notebook(tmp_path / "nb.ipynb")
    nb = nbformat.read(str(tmp_path / "nb.ipynb"), as_version=4)
    nb.cells[7].outputs.append(_output("display_data", {"text/markdown": f"raw {HOSTILE}"}))
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    page = nh.notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "p.html").read_text()
    elements = _parse(page).elements
    live = [a for t, a in elements if t == "img" and "onerror" in a]
    links = [a["href"] for t, a in elements if t == "a" and a.get("href", "").startswith("java")]
    assert len(live) == 1 and links == ["javascript:alert(1)"], "from the raw value only"
    assert "&lt;img src=x onerror=alert(document.domain)&gt;" in page, "md_text: inert text"


def test_one_plotly_bundle_and_stylesheet_per_folder_and_standalone_copies(report):
    target, page = report
    tmp_path = target.parent
    bundle = tmp_path / nh.PLOTLY_ASSET
    assert bundle.stat().st_size > 3_000_000
    assert f'<script src="{nh.PLOTLY_ASSET}"' in page and len(page) < 100_000
    again = nh.notebook_to_html(tmp_path / "09_test.ipynb", tmp_path / "again.html")
    sheets = sorted(tmp_path.glob("workbench-report-*.css"))
    assert len(sheets) == 1 and _stylesheet(again) == _stylesheet(target)
    assert "<style" not in page.split("</head>")[0], "the template's styles are in the file"
    assert ".jp-Cell" in _stylesheet(target) and ".workbench-headline" in _stylesheet(target)
    written = bundle.stat().st_mtime_ns
    assert nh.write_assets(tmp_path) == [bundle] and bundle.stat().st_mtime_ns == written
    (tmp_path / "copy").mkdir()
    copy = nh.standalone_copy(target, tmp_path / "copy" / "test.html")
    inline = nh.notebook_to_html(
        tmp_path / "09_test.ipynb", tmp_path / "copy" / "inline.html", standalone=True
    )
    for page_path in (copy, inline):
        text = page_path.read_text()
        assert f'src="{nh.PLOTLY_ASSET}"' not in text and len(text) > 3_000_000
        assert nh.external_references(text) == []
        nonce = re.search(r"'nonce-([0-9a-f]{32})'", text).group(1)
        assert f'<script nonce="{nonce}" data-workbench="plotly">' in text
        assert "<link" not in text and ".workbench-headline{" in text
    assert not list((tmp_path / "copy").glob("*.js")) and not list(
        (tmp_path / "copy").glob("*.css")
    ), "nothing beside a standalone page"


def test_a_page_without_figures_needs_no_bundle(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Only text")])
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    page = nh.notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "p.html").read_text()
    assert "plotly.min.js" not in page and not (tmp_path / nh.PLOTLY_ASSET).exists()
    assert "<details" not in page, "no parameters cell, no table"


def test_not_applicable_summary_shows_its_reason(tmp_path):
    _notebook(tmp_path / "nb.ipynb")
    summary = {"status": "not_applicable", "reason": "needs an experiment_assignments table"}
    page = nh.notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "p.html", summary=summary)
    text = page.read_text()
    assert "workbench-status-not_applicable" in text
    assert "needs an experiment_assignments table" in text and "not applicable" in text


def test_a_malformed_headline_still_gives_a_report(tmp_path, caplog):
    _notebook(tmp_path / "nb.ipynb")
    summary = {"headline": {"sentence": "s", "items": [{"label": "x", "kind": "percent"}]}}
    page = nh.notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "p.html", summary=summary)
    assert "workbench-headline" in page.read_text()
    assert "is not a headline" in caplog.text and "kind must be one of" in caplog.text


def test_run_context_matches_the_stage_context_and_reports_re_exports():
    assert nh.RUN_CONTEXT == CONTEXT
    assert reports.notebook_to_html is nh.notebook_to_html
    assert reports.write_assets is nh.write_assets


def test_histogram_counts_bins_instead_of_embedding_every_value():
    values = pd.Series(np.r_[np.random.default_rng(1).lognormal(3, 1, 50_000), 0.0, -2.0, np.inf])
    fig = plots.histogram(values, title="amounts", log_x=True, bins=40)
    bar = fig.data[0]
    assert bar.type == "bar" and len(bar.y) == 40 and int(np.sum(bar.y)) == 50_000
    assert "(2 non-positive and 1 infinite values not shown)" in fig.layout.title.text
    low, high = np.asarray(bar.customdata).T
    assert np.allclose(np.log10(low[1:]), np.log10(high[:-1]))
    assert len(fig.to_json()) < 20_000, "a few kilobytes whatever the number of values"
    assert len(plots.histogram(pd.Series([], dtype=float), title="none").data[0].y) == 0


def test_customer_360_in_batch_is_one_escaped_table(monkeypatch):
    from IPython.display import HTML

    from workbench.customer360 import CustomerNotFound, CustomerProfile
    from workbench.widgets import customer_360, customer_table

    profile = CustomerProfile(
        customer_id="C0000042",
        as_of=pd.Timestamp("2026-06-30", tz="UTC"),
        headline={"rfm_segment": HOSTILE, "lifecycle_stage": "active", "cluster": "Loyal"},
        rfm=pd.DataFrame(),
        churn={"probability": 0.734, "risk_band": "high", "top_reasons": ["recency", "<b>x"],
               "scored_with": 3},
        orders=pd.DataFrame({"order_id": ["O1", "O2"]}),
        engagement=pd.DataFrame(),
        audiences=pd.DataFrame({"audience": ["winback", "vip"], "member": [True, False]}),
        waterfall=None,
        notes=["no web events"],
    )  # fmt: skip
    rows = dict(customer_table(profile).itertuples(index=False))
    assert rows["churn probability"] == "73.4%" and rows["reasons"] == "recency; <b>x"
    assert rows["audiences"] == "winback" and rows["recent orders"].startswith("2 shown")
    assert rows["as of"] == pd.Timestamp("2026-06-30").date() and rows["note"] == "no web events"

    class View:
        def suggestions(self, n):
            return ["C0000042"]

        def resolve(self, value):
            if value != "C0000042":
                raise CustomerNotFound(f"{value!r} is not in the feature table <i>")
            return value

        def profile(self, cid):
            return profile

    monkeypatch.setenv("WORKBENCH_BATCH", "1")
    page = customer_360(View()).to_html()
    assert page.count("<table") == 1 and "JupyterLab" in page
    assert "<img" not in page and "<b>x" not in page and "&lt;b&gt;x" in page
    missing = customer_360(View(), customer_id="nope")
    assert isinstance(missing, HTML) and "&lt;i&gt;" in missing.data
