"""Hostile values in a small demo data set, and the checks every report page must pass.

:func:`write_hostile_data` writes the seeded demo business (1,500 customers) with values
a real export can hold overwritten by markup, script, Markdown links, comments, emoji,
very long names and slashes — each planted value carries its own number
(``alert(101)`` …) so a finding names the field it came from. :func:`page_problems` parses
a page (``html.parser``, as nbconvert does) and lists every element with an ``on*``
attribute, every ``<script>`` that is not the page's own (the plotly bundle, the figure
scripts, carrying the page's CSP nonce) and every ``javascript:`` URL.
:func:`visible_text` and :func:`figure_texts` give what a reader sees, to check that a
hostile value shows as the text it is.

:func:`hostile_pipeline` runs every stage once per test session on that data (shared by
``test_hostile.py`` and the browser checks, each through a session fixture of its own).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from workbench.simulate import simulate

__all__ = [
    "HOSTILE",
    "HostileRun",
    "figure_texts",
    "hostile_pipeline",
    "page_problems",
    "visible_text",
    "write_hostile_data",
]

CUSTOMERS = 1_500
SEED = 11
AS_OF = "2026-06-30"

#: The planted values by where they go (each with its own alert number).
HOSTILE: dict[str, str] = {
    "country": "</script><img src=x onerror=alert(101)>",
    "country_2": '"><svg onload=alert(102)>',
    "country_3": "🛒 Café «déjà» 🎉",
    "city": "<!-- a city that opens a comment",
    "city_2": "a//b " + "Very long city name " * 25,  # 505 characters
    "category": "<b onmouseover=alert(103)>home</b>",
    "category_2": "[click](javascript:alert(104))",
    "category_3": "a//b 'quoted' \"double\" & ampersand",
    "product": "</script><script>alert(105)</script>",
    "product_2": "javascript:alert(106)",
    "variant": "</script><img src=x onerror=alert(107)>",
    "experiment": 'exp//"><svg onload=alert(108)>',
    "campaign": "[campaign](javascript:alert(109))",
    "channel": "<img src=x onerror=alert(110)>",
    "segment": "<iframe src=javascript:alert(111)></iframe>",
    "segment_2": "Loyal 🏆 <i>top</i> " + "x" * 480,
}


def _replace(series: pd.Series, values: dict[str, str]) -> pd.Series:
    return series.replace(values)


def write_hostile_data(folder: Path) -> dict[str, Path]:
    """Write the hostile demo tables into ``folder`` (canonical Parquet) and a segment file.

    Returns
    -------
    dict
        ``data`` (the folder) and ``segments`` (a CSV of customer_id and a hostile
        ``segment`` label per customer, for the A/B stage's ``segment_path``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tables = {k: v.copy() for k, v in simulate(customers=CUSTOMERS, seed=SEED).tables.items()}
    h = HOSTILE
    customers = tables["customers"]
    countries = customers["country"].value_counts().index.tolist()
    customers["country"] = _replace(
        customers["country"],
        {countries[0]: h["country"], countries[1]: h["country_2"], countries[2]: h["country_3"]},
    )
    cities = customers["city"].value_counts().index.tolist()
    customers["city"] = _replace(customers["city"], {cities[0]: h["city"], cities[1]: h["city_2"]})
    channels = customers["signup_channel"].value_counts().index.tolist()
    customers["signup_channel"] = _replace(customers["signup_channel"], {channels[0]: h["channel"]})

    products = tables["products"]
    categories = products["category"].value_counts().index.tolist()
    products["category"] = _replace(
        products["category"],
        {categories[0]: h["category"], categories[1]: h["category_2"],
         categories[2]: h["category_3"]},
    )  # fmt: skip
    best = tables["order_items"]["product_id"].value_counts().index[:2]
    for product_id, value in zip(best, (h["product"], h["product_2"]), strict=True):
        products.loc[products["product_id"] == product_id, "name"] = value

    assignments = tables["experiment_assignments"]
    treatment = [v for v in assignments["variant"].unique() if v != "control"][0]
    assignments["variant"] = _replace(assignments["variant"], {treatment: h["variant"]})
    experiment = assignments["experiment_id"].iloc[0]
    assignments["experiment_id"] = _replace(
        assignments["experiment_id"], {experiment: h["experiment"]}
    )

    email = tables["email_events"]
    campaign = email["campaign_id"].value_counts().index[0]
    email["campaign_id"] = _replace(email["campaign_id"], {campaign: h["campaign"]})

    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    ids = customers["customer_id"].astype(str)
    segments = pd.DataFrame(
        {"customer_id": ids, "segment": [h["segment"], h["segment_2"]] * (len(ids) // 2)
         + [h["segment"]] * (len(ids) % 2)}
    )  # fmt: skip
    segment_file = folder.parent / "hostile_segments.csv"
    segments.to_csv(segment_file, index=False)
    return {"data": folder, "segments": segment_file}


# --------------------------------------------------------------------------- page checks

_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], list[str]]] = []
        self.nonce: str | None = None
        self._skip: str | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "content-security-policy":
            match = re.search(r"'nonce-([^']+)'", found.get("content") or "")
            self.nonce = self.nonce or (match.group(1) if match else None)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in _URL_ATTRS and re.sub(r"[\s\x00-\x1f]", "", value or "").lower().startswith(
                ("javascript:", "vbscript:")
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self.scripts.append((found, []))
        if tag in ("script", "style"):
            self._skip = tag

    def handle_endtag(self, tag):
        if tag == self._skip:
            self._skip = None

    def handle_data(self, data):
        if self._skip == "script":
            self.scripts[-1][1].append(data)
        elif self._skip is None:
            self.text.append(data)


def _parse(page: str) -> _Parser:
    parser = _Parser()
    parser.feed(page)
    parser.close()
    return parser


def page_problems(page: str) -> list[str]:
    """Live markup in a page: ``on*`` attributes, ``javascript:`` URLs, foreign scripts.

    Ours are the scripts with the nonce of the page's Content-Security-Policy and a
    ``data-workbench`` role (``plotly``: the bundle; ``figure``: a figure's JSON and its
    ``Plotly.newPlot`` call).
    """
    parsed = _parse(page)
    problems = list(parsed.problems)
    for attrs, text in parsed.scripts:
        ours = (
            parsed.nonce is not None
            and attrs.get("nonce") == parsed.nonce
            and attrs.get("data-workbench") in ("plotly", "figure")
        )
        if not ours:
            problems.append(f"<script {attrs}>{''.join(text)[:80]}")
    if parsed.nonce is None:
        problems.append("no Content-Security-Policy with a nonce")
    return problems


def visible_text(page: str) -> str:
    """The page's text outside scripts and styles (entities decoded)."""
    return "".join(_parse(page).text)


def figure_texts(page: str) -> str:
    """Every string in the page's figure JSON, decoded, joined by newlines."""
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for attrs, text in _parse(page).scripts:
        if attrs.get("data-workbench") == "figure":
            match = re.search(r"var f=(.*?);Plotly\.newPlot", "".join(text), flags=re.DOTALL)
            if match:
                walk(json.loads(match.group(1)))
    return "\n".join(texts)


# --------------------------------------------------------------------------- the run


@dataclass
class HostileRun:
    """Every stage of the pipeline run once on the hostile data."""

    result: object
    data: dict[str, Path]
    pages: dict[str, Path] = field(default_factory=dict)


_ENV = (
    "WORKBENCH_ROOT",
    "WORKBENCH_DATA_DIR",
    "WORKBENCH_REPORTS_DIR",
    "MLFLOW_TRACKING_URI",
    "WORKBENCH_ARTIFACT_ROOT",
)


_RUNS: list[HostileRun] = []


def hostile_pipeline(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """The real pipeline on the hostile data (own data tree, reports and MLflow store), run
    once per session, with each stage's report exported again with its summary (the
    headline card) and parameters, as the runner does."""
    if _RUNS:
        return _RUNS[0]
    from conftest import FAST_OVERRIDES, REPO

    from workbench.notebook_html import notebook_to_html
    from workbench.pipeline import run_pipeline
    from workbench.settings import get_settings

    base = tmp_path_factory.mktemp("hostile")
    data = write_hostile_data(base / "raw")
    overrides = [
        *FAST_OVERRIDES,
        f"ab_test.segment_path={data['segments']}",
        "ab_test.segment_column=segment",
        "ab_test.min_segment_conversions=0",  # every hostile segment label is shown
    ]
    with pytest.MonkeyPatch.context() as patch:
        for var in _ENV:
            patch.delenv(var, raising=False)
        patch.setenv("WORKBENCH_ROOT", str(REPO))
        patch.setenv("WORKBENCH_DATA_DIR", str(base / "data"))
        patch.setenv("WORKBENCH_REPORTS_DIR", str(base / "reports"))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlruns' / 'mlflow.db'}")
        result = run_pipeline(
            settings=get_settings().ensure_dirs(),
            data_dir=data["data"],
            as_of=AS_OF,
            overrides=overrides,
            keep_going=True,
            progress=False,
        )
    run = HostileRun(result=result, data=data)
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    parameters = {s["name"]: s["parameters"] for s in manifest["stages"]}
    checked = result.output_dir / "checked"
    checked.mkdir(exist_ok=True)
    for stage in result.stages:
        if stage.notebook is not None:
            run.pages[stage.name] = notebook_to_html(
                stage.notebook,
                checked / f"{stage.name}.html",
                title=f"{stage.name} · {AS_OF}",
                summary=stage.summary,
                parameters=parameters.get(stage.name),
            )
    _RUNS.append(run)
    return run
