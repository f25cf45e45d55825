"""Running from cron: locks, retention, exit codes, and what changed since the previous run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import AS_OF, FAST_OVERRIDES

from workbench.cli import cli
from workbench.compare import compare_runs, previous_run
from workbench.pipeline import ExitCode, apply_retention, run_lock, run_pipeline

# Fields that identify a run rather than describe the data: run ids, model versions and
# alias moves (a second run registers version 2, which stays challenger when it is not
# better), durations and timestamps.
VOLATILE = {
    "mlflow_run_id",
    "run_id",
    "pipeline_run_id",
    "version",
    "versions",  # registry_review: how many versions the registry holds grows with every run
    "model_version",
    "alias",
    "promoted",
    "promotion",
    "gate",
    "champion_version",
    "seconds",
    "headline",  # names the champion version and whether this run changed it
    "latest",  # registry_review: the newest version of a model grows with every run
    "challenger",  # registry_review: the second run's version waits as challenger
    "build_seconds",
    "duration_seconds",
    "created",
    "timestamp",
    "registered_version",
    "champion_auc",
    "gate_reason",
    "scored_with",
}


def _stable(value, path=""):
    """The summary without run-identity fields and with floats rounded (BLAS noise)."""
    if isinstance(value, dict):
        return {
            k: _stable(v, f"{path}.{k}")
            for k, v in value.items()
            if k not in VOLATILE and not k.endswith(("_seconds", "_at"))
        }
    if isinstance(value, list):
        return [_stable(v, path) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def _write_run(folder: Path, created: str, summaries: dict, data_dir: str = "/data/raw") -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"created": created, "data_dir": data_dir}))
    (folder / "index.html").write_text("<html></html>")
    for stage, summary in summaries.items():
        (folder / f"{stage}.json").write_text(json.dumps(summary))
    return folder


def test_compare_highlights_changes_beyond_thresholds(tmp_path):
    before = {
        "audit": {
            "tables": {"orders": {"quality_score": 99.0}, "customers": {"quality_score": 97.0}}
        },
        "features": {"customers": 1000},
        "segmentation": {"cluster_sizes": {"A": 500, "B": 500}},
        "churn": {"roc_auc": 0.80, "risk_bands": {"low": 0.5, "high": 0.5}},
        "ab_test": {"decision": {"action": "keep_testing", "variant": "b"}},
    }
    after = json.loads(json.dumps(before))
    after["features"]["customers"] = 1020  # +2 %: below the 5 % threshold
    after["segmentation"]["cluster_sizes"] = {"A": 700, "B": 300}  # ±40 %
    after["churn"]["roc_auc"] = 0.81
    after["churn"]["risk_bands"] = {"low": 0.4, "high": 0.6}
    after["ab_test"]["decision"]["action"] = "ship"
    first = _write_run(tmp_path / "r1", "2026-01-01T00:00:00", before)
    second = _write_run(tmp_path / "r2", "2026-01-08T00:00:00", after)
    assert previous_run(tmp_path, second) == first
    table = compare_runs(second, first).set_index("metric")
    assert table.loc["data-quality score", "current"] == pytest.approx(98.0)
    assert not table.loc["customers", "highlight"]
    assert table.loc["segment size: A", "highlight"] and table.loc["segment size: B", "highlight"]
    assert not table.loc["churn ROC-AUC", "highlight"]  # 0.01 < 0.02
    assert table.loc["share of customers in risk band: high", "highlight"]
    assert table.loc["A/B decision", "highlight"]
    assert not table.loc["A/B decision variant", "highlight"]

    del after["churn"], after["segmentation"]  # a run of some stages only (--stages)
    third = _write_run(tmp_path / "r3", "2026-01-15T00:00:00", after)
    stages = set(compare_runs(third, second)["stage"])
    assert "churn" not in stages and "segmentation" not in stages, "not run is not a change"


def test_previous_run_is_on_the_same_source(tmp_path):
    _write_run(tmp_path / "other", "2026-01-01T00:00:00", {}, data_dir="/elsewhere")
    mine = _write_run(tmp_path / "mine", "2026-01-02T00:00:00", {})
    assert previous_run(tmp_path, mine) is None


def test_retention_keeps_the_newest_and_spares_a_running_folder(tmp_path):
    runs = [_write_run(tmp_path / f"run{i}", f"2026-01-0{i}T00:00:00", {}) for i in range(1, 6)]
    with run_lock(runs[0] / ".lock"):  # the oldest is still being written by another run
        removed = apply_retention(tmp_path, keep_last=2)
    assert sorted(p.name for p in removed) == ["run2", "run3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1", "run4", "run5"]
    with pytest.raises(ValueError, match="keep_last"):
        apply_retention(tmp_path, keep_last=0)


def test_a_second_run_waits_for_nobody_it_exits_3(isolated_settings, small_demo_dir):
    with run_lock(isolated_settings.data_dir / ".workbench.lock"):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(small_demo_dir),
                "--as-of",
                AS_OF,
                "--stages",
                "overview",
                "--no-progress",
            ],
        )
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert "locked by pid" in result.output


@pytest.mark.notebooks
@pytest.mark.slow
def test_second_run_gives_the_same_summaries_and_no_changes(
    full_run, pipeline_project, small_demo_dir
):
    second = run_pipeline(
        settings=pipeline_project,
        data_dir=small_demo_dir,
        as_of=AS_OF,
        overrides=FAST_OVERRIDES,
        progress=False,
    )
    assert second.ok, [s.error for s in second.stages if s.error]
    for stage in full_run.stages:
        first_summary = json.loads((full_run.output_dir / f"{stage.name}.json").read_text())
        second_summary = json.loads((second.output_dir / f"{stage.name}.json").read_text())
        assert _stable(second_summary) == _stable(first_summary), f"{stage.name} changed"
    changes = json.loads((second.output_dir / "what_changed.json").read_text())
    assert changes["previous_run"] == full_run.output_dir.name
    assert changes["changes"], "nothing was compared"
    assert not [c for c in changes["changes"] if c["highlight"]]
    index = (second.output_dir / "index.html").read_text()
    assert "No changes beyond their thresholds" in index
    assert os.path.exists(second.output_dir / "manifest.json")


SLOW = """from workbench.stage import Stage
import pathlib, time
stage = Stage.start("slow", globals())
pathlib.Path(output_dir, "started").write_text("x")
time.sleep(600)
"""


@pytest.mark.notebooks
def test_sigterm_ends_the_kernel_and_marks_the_mlflow_runs_killed(tmp_path):
    """A run stopped by SIGTERM (a cron timeout, systemd stop) leaves no RUNNING MLflow run
    and no kernel behind, writes its index and exits with 128 + 15."""
    import signal
    import subprocess
    import sys
    import time

    import mlflow
    import nbformat
    import pandas as pd
    import psutil

    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    params = nbformat.v4.new_code_cell(
        'data_dir = ""\nas_of = "2026-06-30"\noutput_dir = ""\npipeline_run_id = ""\n'
        'tracking_uri = ""\ndata_root = ""\n'
    )
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(SLOW)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(root / "notebooks" / "01_slow.ipynb"))
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-01-01"],
                  "amount": [1.0]}).to_csv(raw / "orders.csv", index=False)  # fmt: skip
    tracking_uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "MLFLOW_"))}
    env.update(WORKBENCH_ROOT=str(root), MLFLOW_TRACKING_URI=tracking_uri,
               PYTHONPATH=os.pathsep.join(sys.path))  # fmt: skip
    out = root / "reports" / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "--data", str(raw), "--as-of", AS_OF,
         "--out", str(out), "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (out / "started").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the stage never started"
            time.sleep(0.5)
        kernels = psutil.Process(process.pid).children(recursive=True)
        assert kernels, "the kernel runs as a child of workbench run"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and "marked KILLED" in stderr
    gone, alive = psutil.wait_procs(kernels, timeout=30)
    assert not alive, f"left running: {alive}"
    client = mlflow.tracking.MlflowClient(tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.data.tags.get("workbench.stage", "pipeline"): r.info.status for r in runs} == {
        "slow": "KILLED",
        "pipeline": "KILLED",
    }
    index = (out / "index.html").read_text()
    assert "stopped</td>" in index and "stopped by SIGTERM" in index
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][0]["status"] == "killed"
