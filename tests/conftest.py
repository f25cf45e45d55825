"""Shared fixtures: the seeded demo data (default size and small) and isolated projects.

The demo data is generated once per test session into a temporary folder; tests never
touch the repository's own ``data/``, ``reports/`` or ``mlruns/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
        keep_going: bool = True,
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


# Cheap settings for whole-pipeline runs in the suite (short MCMC, few refits and rounds).
FAST_OVERRIDES = [
    "segmentation.k_max=6",
    "segmentation.n_bootstrap=3",
    "segmentation.silhouette_sample=1500",
    "segmentation.hierarchical_sample=500",
    "segmentation.n_init=2",
    "segmentation.n_threads=1",
    "churn.cv_folds=2",
    "churn.n_estimators=150",
    "churn.shap_check_rows=200",
    "churn.beeswarm_points=500",
    "ab_test.draws=300",
    "ab_test.tune=300",
    "ab_test.chains=2",
]


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory):
    """An isolated data tree, reports folder and MLflow store shared by whole-pipeline tests."""
    base = tmp_path_factory.mktemp("pipeline-project")
    with pytest.MonkeyPatch.context() as patch:
        for var in _ENV:
            patch.delenv(var, raising=False)
        patch.setenv("WORKBENCH_ROOT", str(REPO))
        patch.setenv("WORKBENCH_DATA_DIR", str(base / "data"))
        patch.setenv("WORKBENCH_REPORTS_DIR", str(base / "reports"))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlruns' / 'mlflow.db'}")
        yield get_settings().ensure_dirs()


@pytest.fixture(scope="session")
def full_run(pipeline_project, small_demo_dir):
    """Every stage of the real pipeline, once, on the small demo (reports, MLflow, registry)."""
    from workbench.pipeline import run_pipeline

    result = run_pipeline(
        settings=pipeline_project,
        data_dir=small_demo_dir,
        as_of=AS_OF,
        overrides=FAST_OVERRIDES,
        progress=False,
    )
    failures = [f"{s.name}: {s.error}" for s in result.stages if s.status != "ok"]
    assert not failures, failures
    return result


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium; installed with apt when missing and we are root (CI),
    otherwise the test fails with the command to run."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=900)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=1800
        )
        path = shutil.which("chromium")
    if not path:
        pytest.fail("Chromium is not installed: run `sudo apt-get install -y chromium`")
    return path
