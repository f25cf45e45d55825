"""One settings object owns the paths; environment variables and flags move them."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.settings import derive_project, get_settings, source_label


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in (
        "WORKBENCH_ROOT",
        "WORKBENCH_DATA_DIR",
        "WORKBENCH_REPORTS_DIR",
        "MLFLOW_TRACKING_URI",
        "WORKBENCH_ARTIFACT_ROOT",
        "WORKBENCH_PROJECT",
        "WORKBENCH_CURRENCY",
    ):
        monkeypatch.delenv(var, raising=False)


def test_defaults_live_under_the_root(tmp_path):
    s = get_settings(root=tmp_path)
    assert s.raw_dir == tmp_path / "data" / "raw"
    assert s.clean_dir == tmp_path / "data" / "interim" / "clean"
    assert s.processed_dir == tmp_path / "data" / "processed"
    assert s.reports_dir == tmp_path / "reports"
    assert s.tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert s.artifact_root == str(tmp_path / "mlruns" / "artifacts")


def test_environment_moves_data_reports_and_tracking(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WORKBENCH_REPORTS_DIR", str(tmp_path / "rep"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'track' / 'm.db'}")
    s = get_settings(root=tmp_path / "proj")
    assert s.processed_dir == tmp_path / "elsewhere" / "processed"
    assert s.interim_dir == tmp_path / "elsewhere" / "interim"
    assert s.reports_dir == tmp_path / "rep"
    assert s.tracking_uri.endswith("track/m.db")
    assert s.artifact_root == str(tmp_path / "track" / "artifacts")


def test_explicit_arguments_beat_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    s = get_settings(
        root=tmp_path, data_dir=tmp_path / "flag-data", tracking_uri="sqlite:///flag.db"
    )
    assert s.data_dir == tmp_path / "flag-data"
    assert s.tracking_uri == "sqlite:///flag.db"


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ROOT", str(tmp_path))
    assert get_settings().root == Path(tmp_path).resolve()


def test_ensure_dirs_never_touches_another_tree(tmp_path):
    project = get_settings(root=tmp_path / "proj")
    other = get_settings(root=tmp_path / "proj", data_dir=tmp_path / "other")
    other.ensure_dirs()
    assert (tmp_path / "other" / "processed").is_dir()
    assert not project.data_dir.exists()


def test_the_project_is_derived_from_the_source_and_differs_between_sources(tmp_path):
    shop = tmp_path / "shop" / "raw"
    other = tmp_path / "elsewhere" / "shop" / "raw"
    assert source_label(shop) == "shop" and source_label(tmp_path / "cdnow.duckdb") == "cdnow"
    assert source_label("s3a://lake/retail/raw/") == "retail"
    first, second = derive_project(shop), derive_project(other)
    assert first.startswith("shop-") and len(first) == len("shop-") + 6
    assert first != second, "two folders with the same name are two projects"
    assert derive_project(str(shop) + "/") == first, "the same folder is the same project"
    assert derive_project(tmp_path / "Ünïcode Shop!" / "raw").startswith("n-code-shop-")
    s = get_settings(root=tmp_path, source=shop)
    assert s.project == first and not s.project_explicit
    assert get_settings(root=tmp_path).project == derive_project(tmp_path / "data" / "raw")
    assert s.for_source(other).project == second, "a run on another source gets its project"


def test_an_explicit_project_wins_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_PROJECT", "team-eu")
    s = get_settings(root=tmp_path, source=tmp_path / "shop" / "raw")
    assert s.project == "team-eu" and s.project_explicit
    assert s.for_source(tmp_path / "other").project == "team-eu"
    assert get_settings(root=tmp_path, project="team.us_2").project == "team.us_2"
    for bad in ("a/b", "x:y", "-lead", "with space", "a" * 65):
        with pytest.raises(ValueError, match=r"project: expected 1–64 characters"):
            get_settings(root=tmp_path, project=bad)


def test_currency_comes_from_the_environment(tmp_path, monkeypatch):
    assert get_settings(root=tmp_path).currency == ""
    monkeypatch.setenv("WORKBENCH_CURRENCY", " EUR ")
    assert get_settings(root=tmp_path).currency == "EUR"
