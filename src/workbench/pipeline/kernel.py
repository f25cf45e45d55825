"""Executing stage notebooks: one kernel shared by the stages of a run, progress per cell.

Starting a kernel and importing pandas, the workbench, MLflow's store, Plotly (and
through it nbformat and jsonschema) costs several seconds — more than many stages compute.
:class:`KernelSession` therefore starts one kernel for the run and hands it from stage to
stage: between two notebooks the namespace is emptied (``%reset -f``, garbage collected,
the survivors frozen out of later collections, the execution counter set back so the executed notebook numbers its cells from 1 as if
it ran alone), while imported modules and the MLflow client stay loaded. A stage that
failed gets no successor in its kernel (the next stage starts a fresh one), and neither
does a kernel grown beyond ``max_rss_mb`` (memory a large stage kept), so sharing never
carries a broken state or a swollen process forward.

The notebooks run through papermill (parameters injected, the executed notebook saved
as it runs, errors raised as ``PapermillExecutionError``) with an engine that keeps the
kernel alive and closes its own client; nbclient's per-cell hook drives the progress.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from workbench.display import md_text

__all__ = [
    "DEFAULT_MAX_RSS_MB",
    "ENGINE_NAME",
    "KERNEL_ARGUMENTS",
    "WARM_UP",
    "Execution",
    "KernelSession",
    "execute_stage_notebook",
]

log = logging.getLogger(__name__)

#: The kernel is replaced after a stage that leaves it larger than this (MB of resident
#: memory); ``WORKBENCH_KERNEL_MAX_RSS_MB`` changes it, 0 gives every stage a fresh kernel.
DEFAULT_MAX_RSS_MB = 2000
ENGINE_NAME = "workbench-shared-kernel"

#: Run between two notebooks: an empty namespace, memory handed back, cells numbered from 1.
#: What survives the collection (imported modules, their caches) is then frozen
#: (:func:`gc.freeze`): later collections — the reset's own and the automatic ones while
#: a stage computes — no longer walk the millions of objects PyMC, pandas, MLflow and
#: XGBoost import. The reset took 0.6–1.3 s per stage (two full collections: IPython's
#: reset runs one before it empties the namespace) and takes ~10 ms after a freeze.
_RESET = (
    'get_ipython().run_line_magic("reset", "-f")\n'
    '__import__("gc").collect()\n'
    '__import__("gc").freeze()\n'
    "get_ipython().execution_count = 1\n"
)
_ERROR_TAG = "papermill-error-cell-tag"
#: The kernel's own start-up warnings (TCP transport) are noise in cron logs.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
#: What every stage imports first, run silently (no names left, no history) in a kernel
#: started early, while the runner opens its MLflow run: the two overlap.
WARM_UP = """def _workbench_warm_up():
    import pandas, plotly.io
    from workbench import stage, tracking, settings
    tracking.client(settings.get_settings())
try:
    _workbench_warm_up()
except Exception:
    pass
finally:
    del _workbench_warm_up
    __import__("gc").collect()
    __import__("gc").freeze()
"""


@dataclass
class Execution:
    """How a notebook run ended: ``error`` is None when every cell ran."""

    error: str | None = None
    ename: str | None = None
    evalue: str | None = None


class KernelSession:
    """One Jupyter kernel reused by the stages of a run (see the module docstring).

    Parameters
    ----------
    kernel_name : str
        The kernelspec to start (``python3``).
    shared : bool
        False starts a fresh kernel for every stage (the old behaviour).
    max_rss_mb : int, optional
        Replace the kernel after a stage that leaves it larger than this; default
        ``$WORKBENCH_KERNEL_MAX_RSS_MB`` or :data:`DEFAULT_MAX_RSS_MB`.
    """

    def __init__(
        self, kernel_name: str = "python3", *, shared: bool = True, max_rss_mb: int | None = None
    ) -> None:
        self.kernel_name = kernel_name
        self.shared = shared
        env = os.environ.get("WORKBENCH_KERNEL_MAX_RSS_MB")
        self.max_rss_mb = (
            max_rss_mb if max_rss_mb is not None else int(env) if env else DEFAULT_MAX_RSS_MB
        )
        self.km: Any = None
        self.kernels_started = 0
        self._warm: Any = None  # a client of our own: warm-up and resets

    def start(self, *, cwd: Path, warm_up: str = WARM_UP) -> None:
        """Start the kernel now and let it import what stages import (:data:`WARM_UP`)
        while the runner does its own set-up; the first notebook then finds it ready."""
        if self.km is not None and self.km.has_kernel:
            return
        from jupyter_core.utils import run_sync

        km = self.manager()
        run_sync(km.start_kernel)(extra_arguments=list(KERNEL_ARGUMENTS), cwd=str(cwd))
        self._warm = self._shell_client()
        self._warm.execute(warm_up, silent=True, store_history=False)

    def _shell_client(self) -> Any:
        """A client on the shell channel only: it sends requests and never collects the
        notebooks' output (which goes to the iopub channel it does not open)."""
        from jupyter_client.blocking.client import BlockingKernelClient

        # blocking, not the manager's asyncio client: its sockets belong to no running
        # loop here, so waiting on a reply through them would hang
        client = BlockingKernelClient()
        client.load_connection_info(self.km.get_connection_info())
        client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        return client

    def _close_warm_up(self) -> None:
        client, self._warm = self._warm, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.stop_channels()

    def manager(self) -> Any:
        """The kernel manager for the next notebook (nbclient starts its kernel if needed)."""
        if self.km is None:
            from jupyter_client.manager import AsyncKernelManager

            self.km = AsyncKernelManager(kernel_name=self.kernel_name)
            self.kernels_started += 1
        return self.km

    @property
    def pid(self) -> int | None:
        """The kernel's process id, when one runs."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    def rss_mb(self) -> float | None:
        """The kernel's resident memory in MB (None when unknown)."""
        pid = self.pid
        if pid is None:
            return None
        try:
            import psutil  # type: ignore[import-untyped]

            return float(psutil.Process(pid).memory_info().rss) / 2**20
        except Exception:
            return None

    def after_stage(self, *, clean: bool) -> None:
        """Hand the kernel on (namespace emptied) or let it go (``clean`` False: the stage
        failed or was stopped; or the kernel grew too large; or sharing is off)."""
        if self.km is None:
            return
        if not (self.shared and clean):
            self.shutdown()
            return
        rss = self.rss_mb()
        if rss is not None and rss > self.max_rss_mb:
            log.info("kernel holds %.0f MB after the stage; the next stage gets a new one", rss)
            self.shutdown()
            return
        try:
            self._reset()
        except Exception as exc:  # a kernel that cannot be reset is not reused
            log.info("kernel reset failed (%s); the next stage gets a new kernel", exc)
            self.shutdown()

    def _reset(self) -> None:
        """Reset the kernel and wait for its reply. Requests from two clients (this one
        and the next notebook's) have no guaranteed order at the kernel, so a queued
        reset could run after the next notebook's first cell (seen in the test suite).
        The reset takes milliseconds; waiting for it costs nothing measurable."""
        if self._warm is None:
            self._warm = self._shell_client()
        msg_id = self._warm.execute(_RESET, silent=True, store_history=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reply = self._warm.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if reply.get("content", {}).get("status") != "ok":
                raise RuntimeError(f"reset answered {reply.get('content', {}).get('status')}")
            return
        raise TimeoutError("the kernel did not answer the reset within 60 s")

    def shutdown(self, *, now: bool = False) -> None:
        """Stop the kernel (``now``: kill it, e.g. when the run is stopped)."""
        self._close_warm_up()
        km, self.km = self.km, None
        if km is None:
            return
        pid = getattr(getattr(getattr(km, "provisioner", None), "process", None), "pid", None)
        try:
            from jupyter_core.utils import run_sync

            run_sync(km.shutdown_kernel)(now=now)
        except Exception as exc:
            log.debug("kernel shutdown: %s", exc)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _register_engine() -> None:
    """Papermill's nbclient engine, keeping a given kernel alive and closing its client."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    if ENGINE_NAME in papermill_engines._engines:
        return

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = PapermillNotebookClient(nb_man, **final_kwargs)
            try:
                return client.execute()
            finally:
                if client.kc is not None and not client.owns_km:
                    client.kc.stop_channels()
                    client.kc = None

    papermill_engines.register(ENGINE_NAME, SharedKernelEngine)


def execute_stage_notebook(
    notebook: Path,
    executed: Path,
    parameters: Mapping[str, Any],
    session: KernelSession,
    *,
    cwd: Path,
    on_cell: Callable[[int], None] | None = None,
) -> Execution:
    """Run ``notebook`` into ``executed`` on the session's kernel.

    ``on_cell(index)`` is called after each code cell. A ``NotApplicable`` raised by the
    notebook is returned like any error (``ename``); papermill's red error banner is then
    replaced by a one-line note, since nothing went wrong.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    _register_engine()

    def hook(cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        if on_cell is not None:
            on_cell(cell_index)

    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=dict(parameters),
            engine_name=ENGINE_NAME,
            kernel_name=session.kernel_name,
            cwd=str(cwd),  # relative paths in -p values mean what the user typed
            progress_bar=False,
            log_output=False,
            extra_arguments=list(KERNEL_ARGUMENTS),
            # a kernel started early answers once its warm-up imports are done
            start_timeout=600,
            km=session.manager(),
            on_cell_executed=hook,
        )
    except PapermillExecutionError as exc:
        if exc.ename == "NotApplicable":
            _note_not_applicable(executed, str(exc.evalue))
        return Execution(
            error=f"failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue}",
            ename=exc.ename,
            evalue=str(exc.evalue),
        )
    return Execution()


def _note_not_applicable(executed: Path, reason: str) -> None:
    """Swap papermill's error banner for a plain note in a not-applicable notebook."""
    if not executed.exists():
        return
    nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if _ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    note = nbformat.v4.new_markdown_cell(f"**Not applicable:** {md_text(reason)}")
    note.metadata["tags"] = ["workbench-not-applicable"]
    nb.cells.insert(0, note)
    nbformat.write(nb, str(executed))
