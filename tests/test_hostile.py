"""Hostile values from the data through every stage's report (issue 15, point 2).

One pipeline run on the hostile demo data (``hostile.py``); each stage's report is parsed
and must hold no element with an ``on*`` attribute, no ``<script>`` that is not ours and
no ``javascript:`` URL, and every hostile value the stage's outputs show must read as the
text it is (escaped, not parsed as markup). The browser check that nothing executes
(Content-Security-Policy) is in ``test_browser.py``.

Stages that do not escape yet are strict ``xfail`` in :data:`UNESCAPED`: the entry goes
when the stage escapes its outputs (the test then passes and the strict xfail fails, so
the list stays exact).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from hostile import HOSTILE, figure_texts, hostile_pipeline, page_problems, visible_text

from workbench.notebook_html import PLOTLY_MIME

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
STAGES = [p.stem.split("_", 1)[1] for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]

#: Stages whose outputs put data into HTML or Markdown unescaped today.
UNESCAPED: dict[str, str] = {}

#: Stages that fail (or are skipped) on hostile names today.
FAILING: dict[str, str] = {}


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory):
    return hostile_pipeline(tmp_path_factory)


def _marked(table: dict[str, str]) -> list:
    return [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=table[s])) if s in table else s
        for s in STAGES
    ]


def _stage(run, name):
    found = [s for s in run.result.stages if s.name == name]
    assert found, f"stage {name} did not run"
    return found[0]


def _shown_values(notebook: Path) -> set[str]:
    """The hostile values the stage's outputs show (decoded from each output's format)."""
    nb = nbformat.read(str(notebook), as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            texts.append(str(data.get("text/plain", "")))
            texts.append(html.unescape(str(data.get("text/html", ""))))
            texts.append(html.unescape(re.sub(r"\\(.)", r"\1", str(data.get("text/markdown", "")))))
            if PLOTLY_MIME in data:
                texts.append(html.unescape(json.dumps(data[PLOTLY_MIME], ensure_ascii=False)))
    joined = "\n".join(texts)
    return {key for key, value in HOSTILE.items() if value in joined}


@pytest.mark.parametrize("stage", _marked(FAILING))
def test_stage_runs_on_hostile_names(hostile_run, stage):
    found = _stage(hostile_run, stage)
    assert found.status in ("ok", "not_applicable"), f"{stage}: {found.status}: {found.error}"


@pytest.mark.parametrize("stage", _marked(UNESCAPED))
def test_report_holds_no_live_markup_from_the_data(hostile_run, stage):
    found = _stage(hostile_run, stage)
    assert stage in hostile_run.pages, f"{stage} has no report: {found.status}: {found.error}"
    page = hostile_run.pages[stage].read_text(encoding="utf-8")
    problems = page_problems(page)
    assert not problems, f"{stage}.html: {len(problems)} live elements, e.g. {problems[:4]}"
    shown = _shown_values(found.notebook)
    readable = visible_text(page) + "\n" + html.unescape(figure_texts(page))
    garbled = sorted(key for key in shown if HOSTILE[key] not in readable)
    assert not garbled, f"{stage}.html: shown but not as text: {garbled}"


def test_the_hostile_values_reach_the_reports(hostile_run):
    """The harness is real: the planted values show up in the stages' outputs."""
    shown = {s.name: _shown_values(s.notebook) for s in hostile_run.result.stages if s.notebook}
    everywhere = set().union(*shown.values())
    for key in ("country", "channel", "category", "variant", "experiment", "segment"):
        assert key in everywhere, f"no report shows the hostile {key}: {shown}"
