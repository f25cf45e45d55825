"""The runner: discovery, strict parameters, injection, HTML, index, failure path, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.pipeline import (
    ExitCode,
    LockedError,
    ParameterError,
    discover_stages,
    parse_overrides,
    run_lock,
    run_pipeline,
)
from workbench.reports import external_references
from workbench.settings import get_settings

PARAMS = """data_dir = ""  # the source
as_of = "2026-06-30"
output_dir = ""
pipeline_run_id = ""
tracking_uri = ""
data_root = ""
factor = 2  # an int
ratio = 0.5
flag = False
label = "x"
"""

ECHO = """import json, pathlib
import plotly.express as px
import plotly.io as pio
pio.renderers.default = "plotly_mimetype"
px.bar(x=["a", "b"], y=[factor, ratio]).show()
summary = {"factor": factor, "ratio": ratio, "flag": flag, "label": label, "as_of": as_of,
           "data_dir": data_dir, "pipeline_run_id": pipeline_run_id, "data_root": data_root}
pathlib.Path(output_dir, "{name}.json").write_text(json.dumps(summary))
"""


def _notebook(path: Path, params: str, body: str, depends_on: list[str] | None = None) -> None:
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if depends_on is not None:
        nb.metadata["workbench"] = {"depends_on": depends_on}
    nbformat.write(nb, str(path))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throw-away project: three tiny stage notebooks, its own data, reports and mlruns."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    _notebook(root / "notebooks" / "01_first.ipynb", PARAMS, ECHO.replace("{name}", "first"))
    _notebook(
        root / "notebooks" / "02_second.ipynb",
        PARAMS,
        "x = 1\nraise RuntimeError('boom in second')\n",
        depends_on=["first"],
    )
    _notebook(
        root / "notebooks" / "03_third.ipynb",
        PARAMS,
        ECHO.replace("{name}", "third"),
        depends_on=["second"],
    )
    _notebook(
        root / "notebooks" / "04_fourth.ipynb",
        PARAMS,
        ECHO.replace("{name}", "fourth"),
        depends_on=["first"],
    )
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    pd.DataFrame(
        {"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-01-01"], "amount": [1.0]}
    ).to_csv(raw / "orders.csv", index=False)
    for var in ("WORKBENCH_DATA_DIR", "WORKBENCH_REPORTS_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_ROOT", str(root))
    return root


def test_discovery_reads_parameters_and_dependencies(project):
    stages = discover_stages(project / "notebooks")
    assert [s.name for s in stages] == ["first", "second", "third", "fourth"]
    first = stages[0]
    assert first.parameters["factor"] == 2 and first.parameters["flag"] is False
    assert first.help["factor"] == "an int"
    assert stages[2].depends_on == ("second",)


def test_overrides_are_typed_and_strict(project):
    stages = discover_stages(project / "notebooks")
    typed = parse_overrides(["factor=5", "first.ratio=0.25", "flag=yes", "label=hello"], stages)
    assert typed["first"] == {"factor": 5, "ratio": 0.25, "flag": True, "label": "hello"}
    assert typed["second"]["factor"] == 5 and "ratio" not in typed["second"]
    with pytest.raises(ParameterError, match=r"no stage declares parameter 'facto'") as info:
        parse_overrides(["facto=3"], stages)
    assert "factor = 2 (int)  # an int" in str(info.value)  # the stage's parameters are listed
    with pytest.raises(ParameterError, match=r"stage 'first' expects int \(default 2\)"):
        parse_overrides(["factor=2.5"], stages)
    with pytest.raises(ParameterError, match=r"expects bool"):
        parse_overrides(["flag=perhaps"], stages)
    with pytest.raises(ParameterError, match=r"expected name=value"):
        parse_overrides(["factor"], stages)
    with pytest.raises(ParameterError, match=r"set by `workbench run` itself"):
        parse_overrides(["as_of=2020-01-01"], stages)
    with pytest.raises(ParameterError, match=r"no selected stage 'nope'"):
        parse_overrides(["nope.factor=1"], stages)


def test_bad_parameter_fails_before_any_notebook_runs(project):
    settings = get_settings()
    with pytest.raises(ParameterError):
        run_pipeline(
            settings=settings,
            data_dir=project / "data" / "raw",
            as_of="2026-06-30",
            output_dir=project / "reports" / "run",
            overrides=["factor=abc"],
            progress=False,
        )
    assert not (project / "reports" / "run").exists()


def test_run_injects_parameters_writes_reports_and_keeps_failures(project):
    settings = get_settings()
    out = project / "reports" / "run1"
    result = run_pipeline(
        settings=settings,
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        overrides=["factor=7"],
        keep_going=True,
        progress=False,
    )
    status = {s.name: s.status for s in result.stages}
    assert status == {"first": "ok", "second": "failed", "third": "skipped", "fourth": "ok"}
    assert result.exit_code == ExitCode.STAGE_FAILED

    summary = json.loads((out / "first.json").read_text())
    assert summary["factor"] == 7 and summary["as_of"] == "2026-05-31"
    assert summary["data_dir"] == str((project / "data" / "raw").resolve())
    assert summary["data_root"] == str((project / "data").resolve())
    assert summary["pipeline_run_id"] == result.pipeline_run_id

    failed = result.stages[1]
    assert "failed in cell" in failed.error and "RuntimeError: boom in second" in failed.error
    kept = nbformat.read(str(out / "02_second.ipynb"), as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in kept.cells for o in c.get("outputs", []))

    page = (out / "first.html").read_text()
    assert "Plotly.newPlot" in page and external_references(page) == []
    assert '<script src="plotly.min.js"' in page and (out / "plotly.min.js").exists()
    index = (out / "index.html").read_text()
    assert "first.html" in index and "boom in second" in index and "skipped" in index
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][0]["parameters"]["factor"] == 7
    assert manifest["input_digests"]["orders.csv"].startswith("sha256:")


def test_stop_at_first_failure_without_keep_going(project):
    result = run_pipeline(
        settings=get_settings(),
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=project / "reports" / "run2",
        progress=False,
    )
    assert [s.status for s in result.stages] == ["ok", "failed", "skipped", "skipped"]


def test_stage_runs_are_tracked_under_the_pipeline_run(project):
    import mlflow

    settings = get_settings()
    result = run_pipeline(
        settings=settings,
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=project / "reports" / "run3",
        stage_names=["first"],
        progress=False,
    )
    assert result.ok
    assert settings.tracking_uri == f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(settings.tracking_uri)
    parent = client.get_run(result.pipeline_run_id)
    assert parent.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(result.pipeline_run_id)}
    assert {"manifest.json", "index.html"} <= artifacts


def test_lock_refuses_a_second_holder(tmp_path):
    with (
        run_lock(tmp_path / ".lock"),
        pytest.raises(LockedError, match="locked by pid"),
        run_lock(tmp_path / ".lock"),
    ):
        pass
    with run_lock(tmp_path / ".lock"):  # released after the first holder is done
        pass


def test_cli_exit_codes(project):
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        ["run", "--data", str(project / "data" / "raw"), "--as-of", "2026-05-31", "-p", "zzz=1"],
    )
    assert bad.exit_code == ExitCode.USAGE and "no stage declares parameter 'zzz'" in bad.output
    missing = runner.invoke(cli, ["run", "--data", str(project / "nope"), "--as-of", "2026-05-31"])
    assert missing.exit_code == ExitCode.DATA
    failing = runner.invoke(
        cli,
        [
            "run",
            "--data",
            str(project / "data" / "raw"),
            "--as-of",
            "2026-05-31",
            "--stages",
            "first,second",
            "--no-progress",
            "--out",
            str(project / "reports" / "r"),
        ],
    )
    assert failing.exit_code == ExitCode.STAGE_FAILED
    assert "stage 'second' failed in cell" in failing.output
