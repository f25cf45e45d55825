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
