"""Escaping for each context and number formatting for people."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from workbench import display as d

HOSTILE = '</script><img src=x onerror=alert(document.domain)><!-- "quote" & [x](javascript:1)'


def test_html_text_leaves_no_tag_or_attribute_break():
    out = d.html_text(HOSTILE)
    assert "<" not in out and ">" not in out and '"' not in out
    assert d.html_text(None) == "" and d.html_text(3) == "3"


def test_markdown_text_cannot_open_links_code_or_html():
    out = d.md_text(HOSTILE)
    assert "<" not in out and "](" not in out and "\\[x\\]\\(javascript:1\\)" in out


def test_script_json_cannot_close_the_script_and_round_trips():
    payload = {"name": HOSTILE, "line": "a\u2028b", "n": 1}
    text = d.script_json(payload)
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text) == payload


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (d.fmt_int, 16789012.0, "16,789,012"),
        (d.fmt_int, 11.0, "11"),
        (d.fmt_int, np.nan, "–"),
        (d.fmt_number, 1.679e7, "16,790,000"),
        (d.fmt_number, 500.0, "500.00"),
        (d.fmt_number, 0.8913, "0.89"),
        (d.fmt_number, 0.0012345, "0.0012"),
        (d.fmt_number, float("inf"), "∞"),
        (d.fmt_pct, 0.05, "5.0%"),
        (d.fmt_pct, None, "–"),
        (d.fmt_money, 1234.5, "1,234.50"),
    ],
)
def test_formats_never_use_e_notation_and_show_missing_as_a_dash(func, value, expected):
    assert func(value) == expected
    assert not re.search(r"\de[+-]\d", func(value))


def test_money_with_currency_and_unknown_kinds_are_named():
    assert d.fmt_money(12, "GBP") == "GBP 12.00"
    assert d.fmt_value(0.25, "pct") == "25.0%"
    with pytest.raises(
        ValueError, match=r"kind must be one of int, number, pct, money, text, got 'x'"
    ):
        d.fmt_value(1, "x")


def test_table_formats_counts_flags_and_escapes_every_cell_and_label():
    frame = pd.DataFrame(
        {"segment <b>": [HOSTILE, "Champions"], "customers": [11.0, 2500.0],
         "share": [0.1, np.nan], "flag": pd.array([True, None], dtype="boolean")}
    )  # fmt: skip
    page = d.table(frame, kinds={"share": "pct"}).to_html()
    assert "<img" not in page and "<b>" not in page and "&lt;img" in page
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", page)]
    assert cells == [HOSTILE, "11", "10.0%", "yes", "Champions", "2,500", "–", "–"]


def test_headline_round_trips_and_formats_one_line():
    headline = d.Headline(
        "XGBoost beat the baseline.",
        [d.HeadlineItem("ROC-AUC", 0.8913), d.HeadlineItem("customers", 19615.0, "int"),
         d.HeadlineItem("high risk", 0.123, "pct")],
    )  # fmt: skip
    data = json.loads(json.dumps(headline.as_dict()))
    assert d.Headline.from_dict(data) == d.Headline(headline.sentence, tuple(headline.items))
    assert headline.text() == "ROC-AUC 0.89 · customers 19,615 · high risk 12.3%"
    with pytest.raises(ValueError, match="kind must be one of"):
        d.HeadlineItem("x", 1, "percent")


def test_callout_escapes_its_text():
    html = d.callout(HOSTILE, "alert", title="<i>t</i>").data
    assert "<img" not in html and "&lt;i&gt;t&lt;/i&gt;" in html


def test_setup_display_formats_and_escapes_every_frame_a_notebook_shows():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    frame = pd.DataFrame(
        {"name": [HOSTILE] + ["x"] * 99, "revenue": [1.679e7] + [500.0] * 99,
         "count": [11.0] * 100, "flag": [np.nan] * 100}
    )  # fmt: skip
    try:
        assert d.setup_display(shell) is True
        shown = shell.display_formatter.format(frame)[0]
        text = str(frame["revenue"].head(2))
    finally:
        pd.reset_option("display.float_format")
        shell.display_formatter.formatters["text/html"].pop(pd.DataFrame)
        shell.display_formatter.formatters["text/html"].pop(pd.Series)
    page = shown["text/html"]
    assert "<img" not in page and "&lt;img src=x onerror=" in page
    cells = [c for c in re.findall(r"<td[^>]*>([^<]*)</td>", page)]
    assert cells[:4] == [html.escape(HOSTILE), "16,790,000", "11", "–"]
    assert "Showing first 15 and last 15 of 100 rows" in page and page.count("<tr>") == 31
    assert "16,790,000" in text and "e+" not in text
