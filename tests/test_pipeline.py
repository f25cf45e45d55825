"""The runner: discovery, strict parameters, injection, statuses, shared kernel, HTML,
index, locks and the run folder, the CLI."""

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
    needs_sentence,
    parse_overrides,
    present_tables,
    run_lock,
    run_pipeline,
    write_index,
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
summary_path = ""  # replaces the assignments table
"""

ECHO = """seen_before = "summary" in globals()  # a name the previous notebook left behind
import builtins, gc, json, os, pathlib, weakref
# a reference cycle this notebook leaves behind: the reset must collect it
cycle_left = getattr(builtins, "_workbench_test_cycle", lambda: None)() is not None
class Node: pass
node = Node(); node.me = node
builtins._workbench_test_cycle = weakref.ref(node)
frozen = gc.get_freeze_count()
import plotly.express as px
import plotly.io as pio
pio.renderers.default = "plotly_mimetype"
px.bar(x=["a", "b"], y=[factor, ratio]).show()
summary = {"factor": factor, "ratio": ratio, "flag": flag, "label": label, "as_of": as_of,
           "data_dir": data_dir, "pipeline_run_id": pipeline_run_id, "data_root": data_root,
           "seen_before": seen_before, "pid": os.getpid(), "cycle_left": cycle_left,
           "frozen": frozen,
           "headline": {"sentence": "Echoed.", "status": "ok",
                        "items": [{"label": "factor", "value": factor, "kind": "int"},
                                  {"label": "big", "value": 16789012.0, "kind": "number"}]}}
pathlib.Path(output_dir, "{name}.json").write_text(json.dumps(summary))
"""

NOT_APPLICABLE = """from workbench.stage import Stage
stage = Stage.start("{name}", globals())
stage.not_applicable("no experiment has an assignment before " + as_of)
"""


def _notebook(
    path: Path,
    params: str,
    body: str,
    depends_on: list[str] | None = None,
    needs: dict | None = None,
) -> None:
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if depends_on is not None or needs is not None:
        nb.metadata["workbench"] = {"depends_on": depends_on or []}
        if needs is not None:
            nb.metadata["workbench"]["needs"] = needs
    nbformat.write(nb, str(path))


def _orders(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-01-01"], "amount": [1.0]}
    ).to_csv(folder / "orders.csv", index=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throw-away project: four tiny stage notebooks, its own data, reports and mlruns."""
    root = tmp_path / "proj"
    notebooks = root / "notebooks"
    notebooks.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    _notebook(notebooks / "01_first.ipynb", PARAMS, ECHO.replace("{name}", "first"))
    _notebook(
        notebooks / "02_second.ipynb",
        PARAMS,
        "x = 1\nraise RuntimeError('boom in second')\n",
        depends_on=["first"],
    )
    _notebook(
        notebooks / "03_third.ipynb", PARAMS, ECHO.replace("{name}", "third"), depends_on=["second"]
    )
    _notebook(
        notebooks / "04_fourth.ipynb",
        PARAMS,
        ECHO.replace("{name}", "fourth"),
        depends_on=["first"],
    )
    _orders(root / "data" / "raw")
    for var in ("WORKBENCH_DATA_DIR", "WORKBENCH_REPORTS_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("WORKBENCH_PROJECT", raising=False)
    monkeypatch.setenv("WORKBENCH_ROOT", str(root))
    return root


def test_discovery_reads_parameters_dependencies_and_needs(project):
    _notebook(
        project / "notebooks" / "05_ab.ipynb",
        PARAMS,
        "pass",
        needs={"tables": ["experiment_assignments"], "unless_params": ["summary_path"]},
    )
    stages = discover_stages(project / "notebooks")
    assert [s.name for s in stages] == ["first", "second", "third", "fourth", "ab"]
    first = stages[0]
    assert first.parameters["factor"] == 2 and first.parameters["flag"] is False
    assert first.help["factor"] == "an int"
    assert stages[2].depends_on == ("second",)
    assert stages[4].needs.tables == ("experiment_assignments",)
    assert stages[4].needs.unless_params == ("summary_path",)
    assert first.code_cells == 3  # parameters, body, and the cell papermill injects
    _notebook(project / "notebooks" / "06_bad.ipynb", PARAMS, "pass", needs={"tables": ["ordrs"]})
    with pytest.raises(ParameterError, match=r"06_bad.ipynb: .*unknown table\(s\) ordrs"):
        discover_stages(project / "notebooks")


def test_overrides_are_typed_and_strict_and_suggest_close_names(project):
    stages = discover_stages(project / "notebooks")
    typed = parse_overrides(["factor=5", "first.ratio=0.25", "flag=yes", "label=hello"], stages)
    assert typed["first"] == {"factor": 5, "ratio": 0.25, "flag": True, "label": "hello"}
    assert typed["second"]["factor"] == 5 and "ratio" not in typed["second"]
    with pytest.raises(ParameterError, match=r"no selected stage declares parameter 'facto'"):
        parse_overrides(["facto=3"], stages)
    with pytest.raises(ParameterError, match=r"did you mean factor \(first, second"):
        parse_overrides(["facto=3"], stages)
    with pytest.raises(ParameterError) as info:
        parse_overrides(["first.fact_or=3"], stages)
    message = str(info.value)
    assert "stage 'first' has no parameter 'fact_or'; did you mean factor?" in message
    assert "parameters of stage 'first'" in message and "'second'" not in message
    assert "data_dir" not in message, "the run context is not listed as a stage parameter"
    with pytest.raises(ParameterError) as info:
        parse_overrides(["zzz=1"], stages)
    assert "`workbench stages` lists" in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(ParameterError, match=r"stage 'first' expects int \(default 2\)"):
        parse_overrides(["factor=2.5"], stages)
    with pytest.raises(ParameterError, match=r"expects bool"):
        parse_overrides(["flag=perhaps"], stages)
    with pytest.raises(ParameterError, match=r"expected name=value"):
        parse_overrides(["factor"], stages)
    with pytest.raises(ParameterError, match=r"set by `workbench run` itself"):
        parse_overrides(["as_of=2020-01-01"], stages)
    with pytest.raises(ParameterError, match=r"no selected stage 'fist' \(did you mean first\?\)"):
        parse_overrides(["fist.factor=1"], stages)


def test_the_real_stages_suggest_k_max_and_list_only_segmentation():
    stages = discover_stages(Path(__file__).resolve().parents[1] / "notebooks")
    with pytest.raises(ParameterError) as info:
        parse_overrides(["kmax=5"], stages)
    message = str(info.value)
    assert "did you mean k_max (segmentation)?" in message
    assert "parameters of stage 'segmentation'" in message
    assert "parameters of stage 'churn'" not in message and len(message.splitlines()) < 40


def test_present_tables_follow_the_loader(tmp_path):
    orders_only = tmp_path / "orders_only"
    _orders(orders_only)
    assert present_tables(orders_only) == {"orders", "customers"}, "customers are derived"
    lines = tmp_path / "lines"
    lines.mkdir()
    (lines / "order_items.csv").write_text("order_id,product_id,quantity,unit_price\n")
    assert present_tables(lines) == {"order_items", "orders", "products", "customers"}
    mapped = tmp_path / "mapped"
    mapped.mkdir()
    (mapped / "export.csv").write_text("a\n")
    (mapped / "mapping.yml").write_text(
        "tables:\n  orders: {file: export.csv}\n  experiment_assignments: {file: gone.csv}\n"
    )
    assert present_tables(mapped) == {"orders", "customers"}, "a mapped file must exist"
    import duckdb

    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create table orders (order_id varchar)")
        con.execute("create table experiment_assignments (customer_id varchar)")
    assert present_tables(database) == {"orders", "customers", "experiment_assignments"}
    assert needs_sentence(["experiment_assignments"], ["summary_path"]) == (
        "needs an experiment_assignments table or summary_path"
    )


def test_bad_parameter_fails_before_any_notebook_runs(project):
    with pytest.raises(ParameterError):
        run_pipeline(
            settings=get_settings(),
            data_dir=project / "data" / "raw",
            as_of="2026-06-30",
            output_dir=project / "reports" / "run",
            overrides=["factor=abc"],
            progress=False,
        )
    assert not (project / "reports" / "run").exists()


def test_run_injects_parameters_writes_reports_and_runs_what_does_not_depend_on_a_failure(
    project,
):
    settings = get_settings()
    out = project / "reports" / "run1"
    lines = []
    result = run_pipeline(
        settings=settings,
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        overrides=["factor=7"],
        progress=False,
        on_stage_done=lambda stage: lines.append(stage.line()),
    )
    status = {s.name: s.status for s in result.stages}
    assert status == {"first": "ok", "second": "failed", "third": "skipped", "fourth": "ok"}
    assert result.exit_code == ExitCode.STAGE_FAILED
    assert result.stages[2].reason == "needs stage second (failed)"
    assert lines[0].startswith("     ok first") and lines[0].endswith("factor 7 · big 16,789,012")
    assert lines[1].startswith(" failed second") and "boom in second" in lines[1]

    summary = json.loads((out / "first.json").read_text())
    assert summary["factor"] == 7 and summary["as_of"] == "2026-05-31"
    assert summary["data_dir"] == str((project / "data" / "raw").resolve())
    assert summary["data_root"] == str((project / "data").resolve())
    assert summary["pipeline_run_id"] == result.pipeline_run_id

    failed = result.stages[1]
    assert "failed in cell" in failed.error and "RuntimeError: boom in second" in failed.error
    kept = nbformat.read(str(out / "02_second.ipynb"), as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in kept.cells for o in c.get("outputs", []))
    fourth = json.loads((out / "fourth.json").read_text())
    assert fourth["pid"] != summary["pid"], "a failed stage's kernel is not handed on"

    page = (out / "first.html").read_text()
    assert "Plotly.newPlot" in page and external_references(page) == []
    assert '<script src="plotly.min.js"' in page and (out / "plotly.min.js").exists()
    index = (out / "index.html").read_text()
    assert "first.html" in index and "boom in second" in index and "skipped" in index
    assert "needs stage second (failed)" in index and "16,789,012" in index
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][0]["parameters"]["factor"] == 7
    assert [s["status"] for s in manifest["stages"]] == ["ok", "failed", "skipped", "ok"]
    assert manifest["input_digests"]["orders.csv"].startswith("sha256:")


def test_stages_share_one_kernel_with_an_empty_namespace(project, monkeypatch):
    out = project / "reports" / "shared"
    result = run_pipeline(
        settings=get_settings(),
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        stage_names=["first", "fourth"],
        progress=False,
    )
    assert result.ok
    first, fourth = (json.loads((out / f"{n}.json").read_text()) for n in ("first", "fourth"))
    assert first["pid"] == fourth["pid"], "the second stage ran in the first one's kernel"
    assert fourth["seen_before"] is False, "the namespace was emptied between notebooks"
    assert fourth["cycle_left"] is False, "garbage in reference cycles was collected"
    # what survived the collection (imports) is kept out of later collections
    assert fourth["frozen"] > first["frozen"] > 0
    executed = nbformat.read(str(out / "04_fourth.ipynb"), as_version=4)
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3], "the executed notebook numbers its cells as if run alone"

    monkeypatch.setenv("WORKBENCH_KERNEL_MAX_RSS_MB", "1")  # every kernel is "too large"
    run_pipeline(
        settings=get_settings(),
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        stage_names=["first", "fourth"],
        progress=False,
    )
    first, fourth = (json.loads((out / f"{n}.json").read_text()) for n in ("first", "fourth"))
    assert first["pid"] != fourth["pid"], "a kernel grown beyond the limit is replaced"


def test_fail_fast_stops_at_the_first_failure(project):
    result = run_pipeline(
        settings=get_settings(),
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=project / "reports" / "run2",
        keep_going=False,
        progress=False,
    )
    assert [s.status for s in result.stages] == ["ok", "failed", "skipped", "skipped"]
    assert result.stages[3].reason == "stage second failed (--fail-fast)"


def test_not_applicable_is_a_status_that_propagates_and_exits_0(project):
    """A stage whose table is absent is not applicable before any kernel starts; one that
    says so itself (stage.not_applicable) too; dependents follow; independent stages run."""
    notebooks = project / "notebooks"
    for path in notebooks.glob("0[234]_*.ipynb"):
        path.unlink()
    needs = {"tables": ["experiment_assignments"], "unless_params": ["summary_path"]}
    _notebook(notebooks / "02_ab.ipynb", PARAMS, ECHO.replace("{name}", "ab"), needs=needs)
    _notebook(notebooks / "03_uses_ab.ipynb", PARAMS, "raise SystemError", depends_on=["ab"])
    _notebook(notebooks / "04_says_na.ipynb", PARAMS, NOT_APPLICABLE.replace("{name}", "says_na"))
    _notebook(notebooks / "05_after.ipynb", PARAMS, ECHO.replace("{name}", "after"))
    settings = get_settings()
    out = project / "reports" / "na"
    result = run_pipeline(
        settings=settings,
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        progress=False,
    )
    status = {s.name: (s.status, s.reason) for s in result.stages}
    reason = "needs an experiment_assignments table or summary_path"
    assert status == {
        "first": ("ok", None),
        "ab": ("not_applicable", reason),
        "uses_ab": ("not_applicable", f"needs stage ab, which was not applicable: {reason}"),
        "says_na": ("not_applicable", "no experiment has an assignment before 2026-05-31"),
        "after": ("ok", None),
    }
    assert result.ok and result.exit_code == ExitCode.OK
    assert not (out / "02_ab.ipynb").exists(), "no kernel for a stage that cannot run"
    assert json.loads((out / "ab.json").read_text()) == {
        "status": "not_applicable", "reason": reason, "as_of": "2026-05-31", "stage": "ab"
    }  # fmt: skip
    said = json.loads((out / "says_na.json").read_text())
    assert said["status"] == "not_applicable" and said["as_of"] == "2026-05-31"
    executed = nbformat.read(str(out / "04_says_na.ipynb"), as_version=4)
    assert executed.cells[0].source.startswith("**Not applicable:** no experiment has")
    assert "An Exception was encountered" not in json.dumps(executed)
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    assert any(o.get("traceback") == ["Not applicable: no experiment has an assignment "
                                      "before 2026-05-31"] for o in outputs)  # fmt: skip
    index = (out / "index.html").read_text()
    assert index.count("not applicable</td>") == 3 and reason in index
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s["name"]: s["status"] for s in manifest["stages"]}["says_na"] == "not_applicable"

    import mlflow

    client = mlflow.tracking.MlflowClient(settings.tracking_uri)
    run = client.search_runs(
        [client.get_experiment_by_name(f"workbench/{settings.project}/says_na").experiment_id]
    )[0]
    assert run.info.status == "FINISHED" and run.data.tags["workbench.status"] == "not_applicable"

    given = run_pipeline(
        settings=settings,
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=project / "reports" / "na2",
        stage_names=["ab"],
        overrides=["summary_path=export.csv"],
        progress=False,
    )
    assert [s.status for s in given.stages] == ["ok"], "summary_path makes it applicable"


def test_stage_runs_are_tracked_under_the_pipeline_run_in_the_project(project):
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
    project_name = settings.for_source(project / "data" / "raw").project
    assert project_name.startswith("data-"), "the parent's name when the folder is raw"
    client = mlflow.tracking.MlflowClient(settings.tracking_uri)
    parent = client.get_run(result.pipeline_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "pipeline · 2026-05-31 · data"
    assert parent.data.tags["status.first"] == "ok"
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == f"workbench/{project_name}/pipeline"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
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


def test_a_refused_run_leaves_nothing_behind(project):
    settings = get_settings()
    settings.ensure_dirs()
    out = project / "reports" / "refused"
    before = sorted(p.name for p in settings.reports_dir.iterdir())
    runner = CliRunner()
    with run_lock(settings.data_dir / ".workbench.lock"):
        for args in (["--out", str(out)], []):
            refused = runner.invoke(
                cli,
                ["run", "--data", str(project / "data" / "raw"), "--as-of", "2026-05-31",
                 "--no-progress", *args],
            )  # fmt: skip
            assert refused.exit_code == ExitCode.LOCKED, refused.output
    assert not out.exists()
    assert sorted(p.name for p in settings.reports_dir.iterdir()) == before


def test_a_reused_out_is_emptied_and_a_foreign_folder_refused(project):
    out = project / "reports" / "weekly"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("{}")
    (out / "second.html").write_text("stale report of an earlier try")
    (out / "old_stage.json").write_text("{}")
    result = run_pipeline(
        settings=get_settings(),
        data_dir=project / "data" / "raw",
        as_of="2026-05-31",
        output_dir=out,
        stage_names=["first"],
        progress=False,
    )
    assert result.ok
    assert not (out / "second.html").exists() and not (out / "old_stage.json").exists()
    assert (out / "first.html").exists()

    mine = project / "my-folder"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ParameterError, match=r"holds files that are not a workbench run"):
        run_pipeline(
            settings=get_settings(),
            data_dir=project / "data" / "raw",
            as_of="2026-05-31",
            output_dir=mine,
            stage_names=["first"],
            progress=False,
        )
    assert (mine / "notes.txt").read_text() == "keep me"


def test_index_escapes_data_and_formats_numbers(tmp_path):
    hostile = "</script><img src=x onerror=alert(1)>"
    page = write_index(
        tmp_path / "index.html",
        title="t",
        meta={"data": hostile},
        stages=[
            {"name": "churn", "status": "ok", "seconds": 31.0, "summary": {
                "headline": {"sentence": hostile, "status": "ok", "items": [
                    {"label": "ROC-AUC", "value": 0.8912, "kind": "number"},
                    {"label": "audience", "value": 16789012.0, "kind": "int"}]}}},
            {"name": "ab_test", "status": "not_applicable",
             "reason": "needs an experiment_assignments table or summary_path"},
            {"name": "old", "status": "ok", "summary": {"revenue": 16789012.5, "k": 4}},
        ],
    ).read_text()  # fmt: skip
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "ROC-AUC: <b>0.89</b>" in page and "audience: <b>16,789,012</b>" in page
    assert "not applicable</td>" in page and "needs an experiment_assignments table" in page
    assert "revenue: <b>16,789,012</b>" in page and "e+07" not in page


def test_cli_exit_codes_and_a_line_per_stage(project):
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        ["run", "--data", str(project / "data" / "raw"), "--as-of", "2026-05-31", "-p", "zzz=1"],
    )
    assert bad.exit_code == ExitCode.USAGE and "no selected stage declares parameter 'zzz'" in (
        bad.output
    )
    missing = runner.invoke(cli, ["run", "--data", str(project / "nope"), "--as-of", "2026-05-31"])
    assert missing.exit_code == ExitCode.DATA
    bad_project = runner.invoke(
        cli,
        ["run", "--data", str(project / "data" / "raw"), "--as-of", "2026-05-31",
         "--project", "a/b"],
    )  # fmt: skip
    assert bad_project.exit_code == ExitCode.USAGE and "project: expected" in bad_project.output
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
    lines = [line for line in failing.output.splitlines() if line.startswith(" ")]
    assert lines[0].startswith("     ok first") and "factor 2" in lines[0]
    assert lines[1].startswith(" failed second") and "stage 'second' failed in cell" in lines[1]
    assert "Creating initial MLflow database tables" not in failing.output


def test_stages_lists_the_run_context_once():
    result = CliRunner().invoke(cli, ["stages"])
    assert result.exit_code == 0, result.output
    assert result.output.count("data_root") == 1
    assert "(needs an experiment_assignments table or summary_path)" in result.output
    assert "     k_max = " in result.output


@pytest.mark.notebooks
def test_a_stage_refuses_outputs_of_another_source_or_of_a_changed_one(isolated_settings, tmp_path):
    """Features built from source A, then `--data B --stages segmentation`: exit 1 naming
    both; and features left over from A before A's files changed are refused too."""
    from conftest import AS_OF

    from workbench import catalog
    from workbench.schema import parse_as_of

    source_a, source_b = tmp_path / "a" / "raw", tmp_path / "b" / "raw"
    _orders(source_a)
    _orders(source_b)
    features = pd.DataFrame({"customer_id": ["C1", "C2"], "recency_days": [3.0, 40.0]})
    stamp = catalog.Stamp("features", parse_as_of(AS_OF), catalog.fingerprint(source_a))
    catalog.write_table(isolated_settings, "customer_features", features, stamp)
    runner = CliRunner()

    def segmentation(source: Path) -> str:
        result = runner.invoke(
            cli,
            ["run", "--data", str(source), "--as-of", AS_OF, "--stages", "segmentation",
             "--no-progress", "--out", str(tmp_path / "reports" / source.parent.name)],
        )  # fmt: skip
        assert result.exit_code == ExitCode.STAGE_FAILED, result.output
        return result.output

    foreign = segmentation(source_b)
    assert "StaleOutputError" in foreign
    assert f"made from {source_a.resolve()}, this run reads {source_b.resolve()}" in foreign
    assert f"stage features as of {AS_OF} from {source_a.resolve()}" in foreign
    assert f"--data {source_b.resolve()} --as-of {AS_OF} --stages features" in foreign

    (source_a / "customers.csv").write_text("customer_id\nC1\n")  # A changed since
    leftover = segmentation(source_a)
    assert f"{source_a.resolve()} has changed since it was made" in leftover


@pytest.mark.notebooks
@pytest.mark.slow
def test_an_orders_only_export_runs_the_default_pipeline_green(isolated_settings, tmp_path):
    """The weekly cron job on an orders-only export: every stage that can run does, the A/B
    test is not applicable with its reason, registry review still runs, exit code 0."""
    from conftest import AS_OF, FAST_OVERRIDES

    from workbench.simulate import simulate

    raw = tmp_path / "shop" / "raw"
    raw.mkdir(parents=True)
    simulate(customers=1_500, seed=7).tables["orders"].to_parquet(raw / "orders.parquet")
    out = tmp_path / "reports" / "orders-only"
    args = ["run", "--data", str(raw), "--as-of", AS_OF, "--no-progress", "--out", str(out)]
    for override in FAST_OVERRIDES:
        args += ["-p", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ExitCode.OK, result.output
    reason = "needs an experiment_assignments table or summary_path"
    assert f"    n/a ab_test · {reason}" in result.output.splitlines()
    manifest = json.loads((out / "manifest.json").read_text())
    status = {s["name"]: s["status"] for s in manifest["stages"]}
    assert status == {
        "overview": "ok",
        "audit": "ok",
        "features": "ok",
        "segmentation": "ok",
        "churn": "ok",
        "clv": "ok",
        "recommendations": "not_applicable",  # no order lines
        "ab_test": "not_applicable",
        "uplift": "not_applicable",
        "targeting": "not_applicable",  # no customers or e-mail events to build audiences
        "registry_review": "ok",
        "monitoring": "ok",
    }
    index = (out / "index.html").read_text()
    assert '<b>ab_test</b></td><td class="not_applicable">not applicable</td>' in index
    assert reason in index
