"""What the cases share: the run's settings (passed to each case process through the
environment), the shared folder of a size, and small helpers.

The harness sets ``WORKBENCH_BENCH_CUSTOMERS``, ``WORKBENCH_BENCH_SEED`` and
``WORKBENCH_BENCH_AS_OF`` for every case process, so a case keeps the plain signature
``case(data_dir, work_dir)``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AS_OF",
    "BenchConfig",
    "bench_config",
    "shared_dir",
    "stopwatch",
    "write_json",
    "read_json",
    "settings_for",
]

#: The cut-off of every case: the end of the demo history.
AS_OF = "2026-06-30"

_ENV_CUSTOMERS = "WORKBENCH_BENCH_CUSTOMERS"
_ENV_SEED = "WORKBENCH_BENCH_SEED"
_ENV_AS_OF = "WORKBENCH_BENCH_AS_OF"


@dataclass(frozen=True)
class BenchConfig:
    """The size, seed and cut-off of the running benchmark."""

    customers: int
    seed: int
    as_of: str

    def env(self) -> dict[str, str]:
        """The environment variables that carry this configuration to a case process."""
        return {
            _ENV_CUSTOMERS: str(self.customers),
            _ENV_SEED: str(self.seed),
            _ENV_AS_OF: self.as_of,
        }


def bench_config() -> BenchConfig:
    """The configuration the harness gave this process (defaults: 10,000 customers, seed 7)."""
    return BenchConfig(
        customers=int(os.environ.get(_ENV_CUSTOMERS, "10000")),
        seed=int(os.environ.get(_ENV_SEED, "7")),
        as_of=os.environ.get(_ENV_AS_OF, AS_OF),
    )


def shared_dir(work_dir: Path) -> Path:
    """Folder shared by the cases of one size (``<work_dir>/../_shared``): the feature
    table for segmentation, the churn model for the SHAP cases."""
    folder = Path(work_dir).resolve().parent / "_shared"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def stopwatch(times: dict[str, float], key: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``times[key]`` (rounded to milliseconds)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        times[key] = round(times.get(key, 0.0) + time.perf_counter() - started, 3)


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON (atomically: a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def settings_for(work_dir: Path):
    """Workbench settings whose data tree, reports and MLflow store live in ``work_dir``."""
    from workbench.settings import get_settings

    work_dir = Path(work_dir).resolve()
    return get_settings(
        data_dir=work_dir / "data",
        reports_dir=work_dir / "reports",
        tracking_uri=f"sqlite:///{work_dir / 'mlruns' / 'mlflow.db'}",
    ).ensure_dirs()
