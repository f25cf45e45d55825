"""Run one benchmark case in this (fresh) process and write what it measured.

Usage (the harness does this; run it by hand to debug one case)::

    python -m benchmarks.measure benchmarks.cases.features:build_features_case \\
        /tmp/workbench-bench/data/10000-seed7/raw /tmp/work --result /tmp/work.json

The case's module is imported first (imports are not timed), then the case is called
once and timed with ``time.perf_counter``. The result file holds ``wall_s``, the case's
returned numbers (``extra``), this process's peak RSS before and after the call and,
when the case raised, the traceback (the exit code is then 1).

Peak memory as the harness reports it is measured from outside (``os.wait4`` on this
process and psutil sampling of its process tree): see :func:`benchmarks.harness.run_measured`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import write_json

__all__ = ["load_target", "main"]


def load_target(target: str) -> Callable[[Path, Path], dict | None]:
    """The function named by ``"package.module:function"``."""
    module_name, sep, function = target.partition(":")
    if not sep or not module_name or not function:
        raise ValueError(f"case target: expected 'module:function', got {target!r}")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function)
    except AttributeError:
        raise ValueError(f"case target {target!r}: {module_name} has no {function!r}") from None


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure", description=__doc__)
    parser.add_argument("target", help="module:function of the case")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--result", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    started_process = time.perf_counter()
    payload: dict = {"target": args.target, "pid": os.getpid()}
    try:
        case = load_target(args.target)
        args.work_dir.mkdir(parents=True, exist_ok=True)
        gc.collect()
        payload["import_s"] = round(time.perf_counter() - started_process, 3)
        payload["maxrss_before_mb"] = round(_maxrss_mb(), 1)
        started = time.perf_counter()
        extra = case(args.data_dir, args.work_dir)
        payload["wall_s"] = round(time.perf_counter() - started, 3)
        payload["extra"] = dict(extra or {})
        payload["status"] = "ok"
    except BaseException as exc:  # report every failure, including MemoryError
        payload["status"] = "failed"
        payload["error"] = f"{type(exc).__name__}: {exc}"
        payload["traceback"] = traceback.format_exc()
        traceback.print_exc()
    payload["maxrss_self_mb"] = round(_maxrss_mb(), 1)
    write_json(args.result, payload)
    return 0 if payload["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
