"""Run a case in a fresh process and measure it from outside: wall time, peak memory.

Peak memory
    ``maxrss_mb``: the kernel's peak resident set size of the case process, from
    ``os.wait4`` on that very child (not ``RUSAGE_CHILDREN``, which is the largest of
    *all* children the harness ever waited for). Linux folds in the peak of any
    descendant the child itself waited for — the largest single process, not a sum.
    ``tree_peak_mb``: the largest sum of the resident set sizes of the child and all its
    descendants, sampled every :data:`SAMPLE_S` seconds with psutil — what counts when a
    case runs processes side by side (the pipeline's runner and its notebook kernel,
    Python and Spark's JVM). Sampling can miss a peak shorter than the interval.
    ``peak_rss_mb`` = the larger of the two (what the tables show).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import read_json

__all__ = ["run_measured", "SAMPLE_S", "REPO"]

#: Seconds between two samples of the process tree's memory.
SAMPLE_S = 0.2
#: The project root (``benchmarks/`` lives in it).
REPO = Path(__file__).resolve().parents[1]


def _tree_rss(pid: int) -> int:
    """Bytes resident in process ``pid`` and its descendants (0 when it is gone)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the case's process group (it was started in its own session)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return
            time.sleep(0.2)


def run_measured(
    target: str,
    data_dir: Path,
    work_dir: Path,
    *,
    env: dict[str, str],
    log_path: Path,
    timeout_s: float | None = None,
) -> dict:
    """Run ``python -m benchmarks.measure target data_dir work_dir`` and measure it.

    Parameters
    ----------
    target : str
        ``module:function`` of the case.
    data_dir, work_dir : Path
        Passed to the case; ``work_dir`` is also the process's working directory.
    env : dict
        Extra environment variables for the case process.
    log_path : Path
        The case's stdout and stderr go there.
    timeout_s : float, optional
        Stop the case (its whole process group) after this many seconds.

    Returns
    -------
    dict
        ``status`` (ok, failed, timeout), ``wall_s`` (the case call, timed inside),
        ``process_s`` (the whole process, imports included), ``peak_rss_mb``,
        ``maxrss_mb``, ``tree_peak_mb``, ``import_s``, ``extra`` (the case's numbers),
        ``error`` and ``traceback`` when it failed, ``log``.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result_path = work_dir.parent / f".{work_dir.name}.result.json"
    result_path.unlink(missing_ok=True)
    child_env = {**os.environ, **env}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    command = [
        sys.executable,
        "-m",
        "benchmarks.measure",
        target,
        str(data_dir),
        str(work_dir),
        "--result",
        str(result_path),
    ]
    tree_peak = 0
    timed_out = False
    with log_path.open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=work_dir,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                waited, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if waited == proc.pid:
                    break
                tree_peak = max(tree_peak, _tree_rss(proc.pid))
                if timeout_s is not None and time.perf_counter() - started > timeout_s:
                    timed_out = True
                    _stop(proc)  # reaps the child through proc.poll()
                    status, usage = None, None
                    break
                time.sleep(SAMPLE_S)
        except BaseException:  # Ctrl-C: the case runs in its own session, stop it too
            _stop(proc)
            raise
        process_s = time.perf_counter() - started
    if status is not None:
        proc.returncode = os.waitstatus_to_exitcode(status)
        _reap_group(proc.pid)
    maxrss = usage.ru_maxrss / 1024 if usage is not None else 0.0
    payload = read_json(result_path) or {}
    result_path.unlink(missing_ok=True)
    outcome = {
        "status": "timeout" if timed_out else payload.get("status", "failed"),
        "wall_s": payload.get("wall_s"),
        "process_s": round(process_s, 3),
        "import_s": payload.get("import_s"),
        "maxrss_mb": round(maxrss, 1),
        "tree_peak_mb": round(tree_peak / 2**20, 1),
        "peak_rss_mb": round(max(maxrss, tree_peak / 2**20), 1),
        "extra": payload.get("extra", {}),
        "log": str(log_path),
    }
    if timed_out:
        outcome["error"] = f"stopped after the time limit of {timeout_s:,.0f} s"
    elif outcome["status"] != "ok":
        outcome["error"] = payload.get("error") or (
            f"the case process exited with code {proc.returncode} without a result "
            "(killed? out of memory?); see the log"
        )
        outcome["traceback"] = payload.get("traceback") or _tail(log_path)
    return outcome


def _reap_group(pgid: int) -> None:
    """Stop what the case left running in its process group (a JVM, a kernel)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
