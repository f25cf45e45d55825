"""The reports in a real browser: every Plotly figure draws with the folder's one plotly.js,
nothing is fetched from outside, each stage report leads with its headline card, shows no
code until asked and no log lines, and hostile data executes nothing.

Runs headless Debian Chromium through Playwright (no browser download: Playwright drives
the system's ``chromium``; see the ``chromium`` fixture in conftest: installed with apt
when missing in CI, otherwise the test fails with the command to run).
"""

from __future__ import annotations

import re

import pytest
from hostile import hostile_pipeline

from workbench.notebook_html import PLOTLY_ASSET

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\s+(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b"
    r"|^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:",
    re.MULTILINE,
)

_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Every Plotly div must hold a sized main SVG with drawn marks (paths, images or text of a
# trace), or a WebGL canvas.
_FIGURES_JS = """
() => [...document.querySelectorAll('.plotly-graph-div')].map((gd, i) => {
  const svg = gd.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = gd.querySelectorAll(
    '.trace path, .trace image, .trace text, .trace rect, .hm, .heatmaplayer image, '
    + '.cell-text, .indicatorlayer text').length;
  const canvas = gd.querySelectorAll('canvas').length;
  return {i, traces: (gd.data || []).length, width: box.width, height: box.height, marks, canvas};
})
"""


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, headless=True, args=_FLAGS)
        yield instance
        instance.close()


# Content-Security-Policy violations, recorded from the page's first script on.
_RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ''}`));
"""


def _open(browser, path, *, local=None, dialogs=None):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(_RECORD_VIOLATIONS)
    outside, failed = [], []
    local = [] if local is None else local

    def request(r):
        if r.url.startswith("file:"):
            local.append(r.url)
        elif not r.url.startswith(("data:", "blob:", "about:")):
            outside.append(r.url)

    page.on("request", request)
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    if dialogs is not None:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load", timeout=120_000)
    return page, outside, failed, errors


def _wait_for_figures(page):
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(gd => gd._fullLayout !== undefined)",
        timeout=120_000,
    )


def _stage_pages(run):
    return [(s.name, s.html) for s in run.stages if s.html is not None and s.html.exists()]


def test_every_report_draws_its_figures_offline(browser, full_run):
    out = full_run.output_dir
    pages = [out / "index.html"] + sorted(out.glob("*.html"))
    checked_figures = 0
    bundle = out / PLOTLY_ASSET
    for path in dict.fromkeys(pages):
        local: list[str] = []
        page, outside, failed, errors = _open(browser, path, local=local)
        if path.name != "index.html":
            _wait_for_figures(page)
        figures = page.evaluate(_FIGURES_JS)
        violations = page.evaluate("window.__violations")
        page.close()
        assert not outside, f"{path.name} requested external URLs: {outside[:5]}"
        assert not failed, f"{path.name} had failed requests: {failed[:5]}"
        assert not errors, f"{path.name} raised JavaScript errors: {errors[:3]}"
        assert not violations, f"{path.name}: the page's own policy blocked {violations[:3]}"
        if figures:
            assert bundle.as_uri() in local, f"{path.name} did not load the shared {bundle.name}"
            assert path.stat().st_size < 3_000_000, f"{path.name} embeds its own plotly.js"
        blank = [
            f
            for f in figures
            if not (
                f["traces"] and f["width"] > 0 and f["height"] > 0 and (f["marks"] or f["canvas"])
            )
        ]
        assert not blank, f"{path.name}: figures drawn empty: {blank[:5]}"
        checked_figures += len(figures)
        if path.name != "index.html" and path.stem in {s.name for s in full_run.stages}:
            assert figures, f"{path.name} has no Plotly figure"
    assert checked_figures >= 10


def test_index_links_every_stage_report(browser, full_run):
    page, outside, failed, _ = _open(browser, full_run.output_dir / "index.html")
    links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    for stage in full_run.stages:
        assert f"{stage.name}.html" in links, f"index.html does not link {stage.name}.html"
        assert (full_run.output_dir / f"{stage.name}.html").exists()
    assert not outside and not failed


_CODE_SHOWN_JS = """
() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-editor')]
  .filter(e => e.getClientRects().length > 0).length
"""

_FIRST_CONTENT_JS = """
() => {
  const main = document.querySelector('main');
  const shown = [...main.querySelectorAll('section, h1, h2, p, table, .plotly-graph-div, pre')]
    .filter(e => e.getClientRects().length > 0);
  const first = shown[0];
  const card = first && first.closest('section.workbench-headline');
  return {
    first: first ? first.tagName + '.' + first.className : null,
    card: !!card,
    items: card ? card.querySelectorAll('.workbench-item').length : 0,
    sentence: card ? (card.querySelector('.workbench-sentence') || {}).innerText || '' : '',
  };
}
"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    return hostile_pipeline(tmp_path_factory)


def test_hostile_data_executes_nothing_in_any_report(browser, hostile_run):
    """Whatever a stage lets through unescaped, the page's policy runs only its own scripts:
    no dialog opens, nothing is fetched, and the figures still draw."""
    checked = 0
    for name, path in sorted(hostile_run.pages.items()):
        dialogs: list[str] = []
        page, outside, failed, errors = _open(browser, path, dialogs=dialogs)
        _wait_for_figures(page)
        page.mouse.move(300, 300)  # hover handlers, if any got through
        page.wait_for_timeout(500)
        drawn = page.evaluate(_FIGURES_JS)
        page.close()
        assert not dialogs, f"{name}.html ran a script from the data: {dialogs}"
        assert not outside, f"{name}.html requested {outside[:3]}"
        assert not errors, f"{name}.html raised {errors[:3]}"
        assert all(f["traces"] and (f["marks"] or f["canvas"]) for f in drawn), name
        checked += 1
    assert checked == len(hostile_run.pages) >= 6


def test_each_stage_report_starts_with_its_card_hides_its_code_and_shows_no_log(browser, full_run):
    pages = _stage_pages(full_run)
    assert len(pages) == len(full_run.stages), "every stage has its report"
    for name, path in pages:
        page, *_ = _open(browser, path)
        top = page.evaluate(_FIRST_CONTENT_JS)
        hidden = page.evaluate(_CODE_SHOWN_JS)
        text = page.evaluate("document.body.innerText")
        page.click("label.workbench-toggle")
        shown = page.evaluate(_CODE_SHOWN_JS)
        page.close()
        assert top["card"], f"{name}.html starts with {top['first']}, not its headline card"
        assert hidden == 0, f"{name}.html shows {hidden} code inputs before the toggle"
        assert shown > 0, f"{name}.html: the toggle shows no code"
        logged = _LOG_LINE.findall(text)
        assert not logged, f"{name}.html shows log records: {logged[:3]}"


def test_each_stage_card_holds_its_headline(browser, full_run):
    """Passes once the runner gives the exporter each stage's summary and every stage puts
    its headline (Contract 2) in it."""
    for name, path in _stage_pages(full_run):
        page, *_ = _open(browser, path)
        top = page.evaluate(_FIRST_CONTENT_JS)
        page.close()
        assert 3 <= top["items"] <= 6 and top["sentence"], f"{name}.html headline: {top}"
