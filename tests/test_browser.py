"""The reports in a real browser: every Plotly figure draws, nothing is fetched from outside.

Runs headless Debian Chromium through Playwright (no browser download: Playwright drives
the system's ``chromium``; see the ``chromium`` fixture in conftest: installed with apt
when missing in CI, otherwise the test fails with the command to run).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

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


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside, failed = [], []
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(("file:", "data:", "blob:", "about:"))
            else outside.append(r.url)
        ),
    )
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load", timeout=120_000)
    return page, outside, failed, errors


def test_every_report_draws_its_figures_offline(browser, full_run):
    out = full_run.output_dir
    pages = [out / "index.html"] + sorted(out.glob("*.html"))
    checked_figures = 0
    for path in dict.fromkeys(pages):
        page, outside, failed, errors = _open(browser, path)
        if path.name != "index.html":
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(gd => gd._fullLayout !== undefined)",
                timeout=120_000,
            )
        figures = page.evaluate(_FIGURES_JS)
        page.close()
        assert not outside, f"{path.name} requested external URLs: {outside[:5]}"
        assert not failed, f"{path.name} had failed requests: {failed[:5]}"
        assert not errors, f"{path.name} raised JavaScript errors: {errors[:3]}"
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
