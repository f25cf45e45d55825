"""Shared fixtures: the seeded demo data (default size and small) and isolated projects.

The demo data is generated once per test session into a temporary folder; tests never
touch the repository's own ``data/``, ``reports/`` or ``mlruns/``.
"""

from __future__ import annotations

import os
from pathlib import Path

# OpenMP threads spinning against each other on a busy 2-core machine make KMeans and
# XGBoost many times slower; passive waiting costs nothing when the machine is idle. Set
# before anything loads libgomp (papermill kernels inherit it too).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import pytest

from workbench.settings import get_settings
from workbench.simulate import write_demo_data

REPO = Path(__file__).resolve().parents[1]
DEMO_SEED = 7
DEMO_CUSTOMERS = 20_000  # the default of `workbench demo-data` and `make demo`
SMALL_CUSTOMERS = 3_000
AS_OF = "2026-06-30"  # the end of the demo history and the default cut-off

_ENV = (
    "WORKBENCH_ROOT",
    "WORKBENCH_DATA_DIR",
    "WORKBENCH_REPORTS_DIR",
    "MLFLOW_TRACKING_URI",
    "WORKBENCH_ARTIFACT_ROOT",
)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The default demo data (20,000 customers, seed 7) with ``_truth/`` — read only."""
    folder = tmp_path_factory.mktemp("demo") / "raw"
    write_demo_data(folder, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, progress=False)
    return folder


@pytest.fixture(scope="session")
def small_demo_dir(tmp_path_factory) -> Path:
    """A small demo data set (3,000 customers) for notebook runs — read only."""
    folder = tmp_path_factory.mktemp("small-demo") / "raw"
    write_demo_data(folder, customers=SMALL_CUSTOMERS, seed=DEMO_SEED, progress=False)
    return folder


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Settings whose data tree, reports and MLflow store live in ``tmp_path``.

    The project root stays the repository (so ``notebooks/`` are the real stages).
    """
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_ROOT", str(REPO))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    settings = get_settings()
    assert str(settings.data_dir).startswith(str(tmp_path)), "tests must not write to data/"
    return settings.ensure_dirs()


def pytest_configure(config):
    # Kernels started by papermill inherit this: keep their logs quiet and deterministic.
    os.environ.setdefault("PYTHONHASHSEED", "0")

    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture
def run_stages(isolated_settings):
    """Run stage notebooks through the real runner in the isolated project.

    ``run_stages(data_dir, ["audit", "features"], ["k=3"])`` returns the
    :class:`workbench.pipeline.PipelineResult`; the output folder is ``reports/test-run-N``.
    """
    from workbench.pipeline import run_pipeline

    counter = {"n": 0}

    def _run(
        data_dir: Path,
        stages: list[str],
        overrides: list[str] | None = None,
        as_of: str = AS_OF,
        keep_going: bool = False,
    ):
        counter["n"] += 1
        return run_pipeline(
            settings=isolated_settings,
            data_dir=data_dir,
            as_of=as_of,
            output_dir=isolated_settings.reports_dir / f"test-run-{counter['n']}",
            stage_names=stages,
            overrides=overrides or [],
            keep_going=keep_going,
            progress=False,
        )

    return _run
