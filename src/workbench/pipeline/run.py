"""``workbench run``: the stages in order, their statuses, the run folder, clean endings.

For each selected stage, in order: a stage whose dependency failed is ``skipped``; one
whose dependency was not applicable is ``not_applicable`` ("needs stage churn, which was
not applicable: …"); one whose declared tables the source lacks is ``not_applicable``
without starting a kernel; otherwise its notebook runs (on the run's shared kernel, see
:mod:`workbench.pipeline.kernel`) and ends ``ok``, ``not_applicable`` (the notebook called
``stage.not_applicable``) or ``failed``. A failure skips only the stages that depend on it;
independent stages still run (``fail_fast`` stops at the first failure instead).

The run folder gets each stage's executed notebook, HTML report and ``<stage>.json``,
then ``index.html`` and ``manifest.json`` (with every stage's status and reason).

Locks: the data tree's lock is taken first and the run folder is created only after it,
so a refused run (exit code 3) leaves nothing behind. A reused ``--out`` that holds an
earlier run (it has a ``manifest.json``) is emptied first; a non-empty folder that is
not a run folder is refused. SIGTERM and SIGINT stop the run cleanly: the kernel is
killed, the stage's and the pipeline's MLflow runs are marked KILLED, the index says
which stage was stopped, and :class:`RunInterrupted` carries the signal to the caller.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from workbench import __version__, catalog, tracking
from workbench.loading import MAPPING_FILE_NAMES, file_digest, find_table_files
from workbench.pipeline.applicability import present_tables, unmet_needs
from workbench.pipeline.index import headline_of, write_run_index
from workbench.pipeline.kernel import Execution, KernelSession, execute_stage_notebook
from workbench.pipeline.stages import (
    ParameterError,
    StageNotebook,
    discover_stages,
    parse_overrides,
    select_stages,
)
from workbench.reports import notebook_to_html, standalone_copy
from workbench.schema import parse_as_of
from workbench.settings import Settings

__all__ = [
    "STATUSES",
    "ExitCode",
    "LockedError",
    "PipelineResult",
    "RunInterrupted",
    "StageFailed",
    "StageResult",
    "apply_retention",
    "default_output_dir",
    "input_digests",
    "run_lock",
    "run_pipeline",
]

log = logging.getLogger("workbench.pipeline")

#: A stage's possible endings.
STATUSES = ("ok", "not_applicable", "failed", "skipped", "killed")


class ExitCode(IntEnum):
    """Exit codes of ``workbench run``; a run stopped by a signal exits with 128 + its number
    (130 for Ctrl-C, 143 for SIGTERM)."""

    OK = 0
    STAGE_FAILED = 1
    USAGE = 2
    LOCKED = 3
    DATA = 4


class LockedError(RuntimeError):
    """Another run is writing the same output folder or data tree."""


class StageFailed(RuntimeError):
    """A stage notebook raised; the message names the stage and the failing cell."""


class RunInterrupted(Exception):
    """The run was stopped by a signal (SIGTERM, SIGINT); its MLflow runs are marked KILLED."""

    def __init__(self, signum: int, result: PipelineResult | None = None) -> None:
        self.signum = signum
        self.result = result
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@dataclass
class StageResult:
    """How a stage ended.

    ``status`` is one of :data:`STATUSES`; ``reason`` says why a stage did not run or was
    not applicable (one sentence); ``error`` is a failure's message.
    """

    name: str
    status: str
    seconds: float | None = None
    notebook: Path | None = None
    html: Path | None = None
    summary_path: Path | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    reason: str | None = None

    def line(self, currency: str = "") -> str:
        """The terminal line: ``ok churn 31 s · AUC 0.89 vs 0.88 · champion v2``."""
        label = {"not_applicable": "n/a", "killed": "stopped"}.get(self.status, self.status)
        parts = [f"{label:>7} {self.name}"]
        if self.seconds is not None:
            parts[0] += f" {self.seconds:,.0f} s"
        headline = headline_of(self.summary) if self.status == "ok" else None
        detail = headline.text(currency) if headline else (self.reason or self.error or "")
        return " · ".join([*parts, detail]) if detail else parts[0]

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": self.seconds,
            "reason": self.reason,
            "error": self.error,
            "summary": self.summary,
            "html": self.html,
            "notebook": self.notebook,
            "json": self.summary_path,
        }


@dataclass
class PipelineResult:
    output_dir: Path
    stages: list[StageResult] = field(default_factory=list)
    pipeline_run_id: str | None = None
    index: Path | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed (stages that were not applicable count as fine)."""
        return all(s.status in ("ok", "not_applicable") for s in self.stages)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.STAGE_FAILED

    def failures(self) -> list[StageResult]:
        return [s for s in self.stages if s.status == "failed"]


# --------------------------------------------------------------------------- locking


@contextmanager
def run_lock(path: Path) -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``path`` (released even if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LockedError(
            f"{path} is locked by {holder}; another workbench run is using it"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}")
    handle.flush()
    try:
        yield path
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def _output_folder(out: Path) -> Iterator[Path]:
    """Create, lock and prepare the run folder; remove it again when this call created it
    and the lock is refused."""
    created = not out.exists()
    try:
        with run_lock(out / ".lock"):
            _clear_previous_run(out)
            yield out
    except LockedError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _clear_previous_run(out: Path) -> None:
    """Empty a reused run folder; refuse a non-empty folder that is not one."""
    entries = [p for p in out.iterdir() if p.name != ".lock"]
    if not entries:
        return
    if not (out / "manifest.json").exists():
        raise ParameterError(
            f"--out {out}: the folder holds files that are not a workbench run (no "
            "manifest.json); choose a new or empty folder"
        )
    log.info("--out %s held an earlier run; its files are removed first", out)
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# --------------------------------------------------------------------------- signals


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`RunInterrupted` (main thread only); a second
    signal gets the default behaviour, so a stuck clean-up can still be killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: Any) -> None:
        for sig in previous:
            signal.signal(
                sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler
            )
        raise RunInterrupted(signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- running


def default_output_dir(settings: Settings, as_of: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.reports_dir / f"{as_of}_{stamp}"


def run_pipeline(
    *,
    settings: Settings,
    data_dir: Path,
    as_of: str,
    output_dir: Path | None = None,
    stage_names: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    keep_going: bool = True,
    progress: bool = True,
    kernel_name: str = "python3",
    on_stage_done: Callable[[StageResult], None] | None = None,
    shared_kernel: bool = True,
) -> PipelineResult:
    """Execute the stage notebooks in order; see the module docstring for what is written.

    Parameters
    ----------
    keep_going : bool, default True
        After a failure, run the stages that do not depend on it; False stops at the
        first failure (``--fail-fast``): every later stage is skipped.
    progress : bool
        A progress bar of cells within each stage (on stderr).
    on_stage_done : callable, optional
        Called with each :class:`StageResult` as soon as the stage has ended (the CLI
        prints :meth:`StageResult.line`).
    shared_kernel : bool, default True
        Run the stages on one kernel (see :mod:`workbench.pipeline.kernel`); False
        starts a fresh kernel per stage.

    Raises
    ------
    ParameterError
        Bad stage names, parameters, ``as_of`` or ``--out`` (nothing has run).
    LockedError
        Another run holds the data tree or the output folder (nothing is left behind).
    FileNotFoundError
        The data source does not exist.
    RunInterrupted
        SIGTERM or SIGINT stopped the run (after the clean-up described above).
    """
    as_of_text = str(parse_as_of(as_of).date())
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.exists():
        raise FileNotFoundError(f"data source {data_dir} does not exist")
    settings = settings.for_source(data_dir)
    stages = select_stages(discover_stages(settings.notebooks_dir), stage_names)
    if not stages:
        raise ParameterError(f"no stage notebooks (NN_name.ipynb) in {settings.notebooks_dir}")
    typed = parse_overrides(overrides, stages)
    settings.ensure_dirs()
    out = (
        Path(output_dir).expanduser().resolve()
        if output_dir
        else default_output_dir(settings, as_of_text)
    )
    context = _RunContext(
        settings, data_dir, as_of_text, out, stages, typed, keep_going, progress,
        on_stage_done, KernelSession(kernel_name, shared=shared_kernel),
    )  # fmt: skip
    with (
        run_lock(settings.data_dir / ".workbench.lock"),
        _output_folder(out),
        _pinned_environment(settings),
        _stop_on_signals(),
    ):
        return context.run()


@dataclass
class _RunContext:
    settings: Settings
    data_dir: Path
    as_of: str
    out: Path
    stages: list[StageNotebook]
    typed: dict[str, dict[str, Any]]
    keep_going: bool
    progress: bool
    on_stage_done: Callable[[StageResult], None] | None
    session: KernelSession
    result: PipelineResult = field(init=False)
    manifest: dict[str, Any] = field(init=False)

    def run(self) -> PipelineResult:
        clock = time.perf_counter()
        try:
            if self.session.shared:  # the kernel starts and imports while MLflow opens
                tracking.ensure_store(self.settings)
                self.session.start(cwd=Path.cwd())
            run_id = tracking.start_pipeline_run(
                self.settings,
                as_of=self.as_of,
                run_name=tracking.run_name("pipeline", self.as_of, self.data_dir),
                params={
                    "as_of": self.as_of,
                    "data_dir": str(self.data_dir),
                    "stages": [s.name for s in self.stages],
                },
                source=self.data_dir,
            )
        except BaseException:
            self.session.shutdown(now=True)
            raise
        self.result = PipelineResult(output_dir=self.out, pipeline_run_id=run_id)
        self.manifest = _manifest(
            self.settings, self.data_dir, self.as_of, self.out, self.stages, self.typed, run_id
        )
        self._write_manifest()
        log.debug("pipeline run %s opened in %.1f s", run_id, time.perf_counter() - clock)
        finishing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-report")
        pending: list[Future[None]] = []
        present = present_tables(self.data_dir)
        current: StageNotebook | None = None
        try:
            for stage in self.stages:
                current = stage
                stage_result = self._decide(stage, present)
                if stage_result is None:
                    stage_result, execution = self._execute(stage)
                    pending.append(
                        finishing.submit(self._finish_stage, stage, stage_result, execution)
                    )
                self.result.stages.append(stage_result)
                current = None
                self._announce(stage_result)
        except RunInterrupted as stop:
            self.session.shutdown(now=True)
            for future in pending:
                future.cancel()
            finishing.shutdown(wait=True, cancel_futures=True)
            if current is not None:
                self.result.stages.append(StageResult(current.name, "killed", reason=f"{stop}"))
            self._close(run_id, status="KILLED")
            stop.result = self.result
            raise
        except BaseException:
            self.session.shutdown(now=True)
            finishing.shutdown(wait=False, cancel_futures=True)
            tracking.end_open_runs(self.settings, run_id, status="FAILED")
            raise
        self.session.shutdown()
        clock = time.perf_counter()
        for future in pending:
            future.result()
        finishing.shutdown(wait=True)
        log.debug("waited %.1f s for the last reports", time.perf_counter() - clock)
        clock = time.perf_counter()
        self._close(run_id, status="FINISHED" if self.result.ok else "FAILED")
        log.debug("index and pipeline run closed in %.1f s", time.perf_counter() - clock)
        return self.result

    # ------------------------------------------------------------------ one stage

    def _decide(self, stage: StageNotebook, present: frozenset[str] | None) -> StageResult | None:
        """The stage's result when it must not run (skipped or not applicable), else None."""
        status = {s.name: s for s in self.result.stages}
        broken = [d for d in stage.depends_on if d in status and status[d].status != "ok"]
        failed = [d for d in broken if status[d].status in ("failed", "skipped", "killed")]
        if failed:
            which = ", ".join(f"{d} ({STATUS_WORDS[status[d].status]})" for d in failed)
            return StageResult(stage.name, "skipped", reason=f"needs stage {which}")
        if broken:
            first = status[broken[0]]
            return self._not_applicable(
                stage, f"needs stage {first.name}, which was not applicable: {first.reason}"
            )
        if not self.keep_going and self.result.failures():
            first_failed = self.result.failures()[0].name
            return StageResult(
                stage.name, "skipped", reason=f"stage {first_failed} failed (--fail-fast)"
            )
        reason = unmet_needs(stage, present, self.typed[stage.name])
        if reason is not None:
            return self._not_applicable(stage, reason)
        return None

    def _not_applicable(self, stage: StageNotebook, reason: str) -> StageResult:
        """A stage that is not applicable before it starts: its ``<stage>.json`` says why."""
        target = self.out / f"{stage.name}.json"
        payload = {"status": "not_applicable", "reason": reason, "as_of": self.as_of,
                   "stage": stage.name}  # fmt: skip
        target.write_text(json.dumps(payload, indent=2))
        return StageResult(
            stage.name, "not_applicable", reason=reason, summary_path=target, summary=payload
        )

    def _execute(self, stage: StageNotebook) -> tuple[StageResult, Execution]:
        parameters = _stage_parameters(
            stage, self.settings, self.data_dir, self.as_of, self.out,
            self.result.pipeline_run_id or "", self.typed[stage.name],
        )  # fmt: skip
        executed = self.out / stage.path.name
        summary_path = self.out / f"{stage.name}.json"
        summary_path.unlink(missing_ok=True)
        bar = _cell_bar(stage, self.progress)
        started = time.perf_counter()
        try:
            execution = execute_stage_notebook(
                stage.path,
                executed,
                parameters,
                self.session,
                cwd=Path.cwd(),
                on_cell=(lambda _index: bar.update(1)) if bar is not None else None,
            )
        except RunInterrupted:
            raise
        except Exception as exc:
            execution = Execution(error=f"{type(exc).__name__}: {exc}", ename=type(exc).__name__)
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - started
        summary = _read_json(summary_path)
        if execution.ename == "NotApplicable":
            reason = (summary or {}).get("reason") or execution.evalue or "not applicable"
            stage_result = StageResult(
                stage.name, "not_applicable", seconds, reason=str(reason),
                summary_path=summary_path if summary else None, summary=summary,
            )  # fmt: skip
        elif execution.error is not None:
            stage_result = StageResult(
                stage.name, "failed", seconds, error=f"stage {stage.name!r} {execution.error}"
            )
        elif summary is None:
            stage_result = StageResult(
                stage.name, "failed", seconds,
                error=f"stage {stage.name!r} finished without writing {summary_path.name}",
            )  # fmt: skip
        else:
            stage_result = StageResult(
                stage.name, "ok", seconds, summary_path=summary_path, summary=summary
            )
        stage_result.notebook = executed if executed.exists() else None
        clock = time.perf_counter()
        self.session.after_stage(clean=stage_result.status != "failed")
        log.debug("kernel handed on in %.1f s", time.perf_counter() - clock)
        if stage_result.status == "failed":
            log.error("%s", stage_result.error)
        return stage_result, execution

    def _finish_stage(
        self, stage: StageNotebook, stage_result: StageResult, execution: Execution
    ) -> None:
        """HTML export and the report's upload to the stage's MLflow run — in a background
        thread, while the next stage runs in the kernel."""
        clock = time.perf_counter()
        executed = self.out / stage.path.name
        html_path = self.out / f"{stage.name}.html"
        scratch = Path(tempfile.mkdtemp(prefix="workbench-report-"))
        artefact = scratch / html_path.name
        if executed.exists():
            try:
                notebook_to_html(
                    executed,
                    html_path,
                    title=f"{stage.name} · {self.as_of}",
                    summary=stage_result.summary,
                    currency=self.settings.currency,
                )
                stage_result.html = html_path
                # MLflow's artefact viewer shows the page alone: plotly.js and the
                # stylesheet inlined there, shared by the run folder's pages here
                standalone_copy(html_path, artefact)
            except Exception as exc:
                log.warning("HTML export of %s failed: %s", executed.name, exc)
        try:
            tracking.attach_stage_artifacts(
                self.settings,
                stage.name,
                self.result.pipeline_run_id or "",
                [executed, artefact],
                failed=stage_result.status == "failed",
                status=stage_result.status,
            )
        except Exception as exc:
            log.warning("could not attach the report of %s to MLflow: %s", stage.name, exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.debug("report of %s written in %.1f s", stage.name, time.perf_counter() - clock)

    def _announce(self, stage_result: StageResult) -> None:
        if self.on_stage_done is not None:
            self.on_stage_done(stage_result)

    # ------------------------------------------------------------------ the end

    def _close(self, run_id: str, *, status: str) -> None:
        self._write_manifest()
        records = [s.as_record() for s in self.result.stages]
        self.result.index = write_run_index(self.out, records, self.manifest, run_id)
        if status == "KILLED":
            tracking.end_open_runs(self.settings, run_id, status="KILLED")
            return
        tracking.end_pipeline_run(
            self.settings,
            run_id,
            status=status,
            metrics={
                "stages_ok": sum(s.status == "ok" for s in self.result.stages),
                "stages_not_applicable": sum(
                    s.status == "not_applicable" for s in self.result.stages
                ),
                "stages_failed": sum(s.status == "failed" for s in self.result.stages),
            },
            tags={f"status.{s.name}": s.status for s in self.result.stages},
            artifacts=[self.out / "manifest.json", self.result.index],
        )

    def _write_manifest(self) -> None:
        done = {s.name: s for s in getattr(self, "result", PipelineResult(self.out)).stages}
        for entry in self.manifest["stages"]:
            found = done.get(entry["name"])
            entry["status"] = found.status if found else "pending"
            entry["reason"] = found.reason if found else None
            entry["error"] = found.error if found else None
            entry["seconds"] = found.seconds if found else None
        (self.out / "manifest.json").write_text(json.dumps(self.manifest, indent=2, default=str))


STATUS_WORDS = {
    "failed": "failed",
    "skipped": "was skipped",
    "killed": "was stopped",
}


def _cell_bar(stage: StageNotebook, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=stage.code_cells, desc=stage.name, unit="cell", leave=False)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _stage_parameters(
    stage: StageNotebook,
    settings: Settings,
    data_dir: Path,
    as_of: str,
    out: Path,
    pipeline_run_id: str,
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """What papermill injects: the run's context (where declared) and the overrides."""
    injected = {
        "data_dir": str(data_dir),
        "as_of": as_of,
        "output_dir": str(out),
        "pipeline_run_id": pipeline_run_id,
        "tracking_uri": settings.tracking_uri,
        "data_root": str(settings.data_dir),
    }
    return {k: v for k, v in injected.items() if k in stage.parameters} | dict(overrides)


@contextmanager
def _pinned_environment(settings: Settings) -> Iterator[None]:
    """Kernels inherit the environment: make the resolved settings win over stale env vars
    (for the whole run: the shared kernel starts once)."""
    wanted = {
        "WORKBENCH_ROOT": str(settings.root),
        "WORKBENCH_DATA_DIR": str(settings.data_dir),
        "WORKBENCH_REPORTS_DIR": str(settings.reports_dir),
        "WORKBENCH_PROJECT": settings.project,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "WORKBENCH_ARTIFACT_ROOT": settings.artifact_root,
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::FutureWarning"),
        # spinning OpenMP threads (KMeans, XGBoost) slow everything on a shared machine
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive"),
        # static views instead of live widgets (see workbench.widgets.interactive)
        "WORKBENCH_BATCH": "1",
    }
    if settings.currency:
        wanted["WORKBENCH_CURRENCY"] = settings.currency
    backup = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- manifest


def input_digests(data_dir: Path) -> dict[str, str]:
    """Digest of every canonical table file (and mapping file) in the source."""
    if data_dir.is_file():
        return {data_dir.name: file_digest(data_dir)}
    files = {p.name: p for p in find_table_files(data_dir).values() if p.is_file()}
    for name in MAPPING_FILE_NAMES:
        if (data_dir / name).exists():
            files[name] = data_dir / name
            mapping = yaml.safe_load((data_dir / name).read_text()) or {}
            for entry in (mapping.get("tables") or {}).values():
                if entry and entry.get("file") and (data_dir / entry["file"]).is_file():
                    files[entry["file"]] = data_dir / entry["file"]
    return {name: file_digest(path) for name, path in sorted(files.items())}


def _manifest(
    settings: Settings,
    data_dir: Path,
    as_of: str,
    out: Path,
    stages: list[StageNotebook],
    typed: dict[str, dict[str, Any]],
    run_id: str,
) -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": as_of,
        "data_dir": str(data_dir),
        "data_root": str(settings.data_dir),
        "project": settings.project,
        "output_dir": str(out),
        "tracking_uri": settings.tracking_uri,
        "pipeline_run_id": run_id,
        "stages": [
            {
                "name": s.name,
                "notebook": s.path.name,
                "depends_on": list(s.depends_on),
                "needs": {
                    "tables": list(s.needs.tables),
                    "unless_params": list(s.needs.unless_params),
                },
                "parameters": {
                    **s.parameters,
                    **_stage_parameters(s, settings, data_dir, as_of, out, run_id, typed[s.name]),
                },
                "overrides": typed[s.name],
            }
            for s in stages
        ],
        "code_version": {"package": __version__, "version": catalog.code_version(settings.root)},
        "input_digests": input_digests(data_dir),
    }


# --------------------------------------------------------------------------- retention


def _run_folders(reports_dir: Path) -> list[Path]:
    """Run folders made by ``workbench run`` (they hold a manifest), oldest first."""
    folders = [p for p in reports_dir.iterdir() if p.is_dir() and (p / "manifest.json").exists()]

    def created(path: Path) -> str:
        try:
            return json.loads((path / "manifest.json").read_text()).get("created", "")
        except (OSError, json.JSONDecodeError):
            return ""

    return sorted(folders, key=lambda p: (created(p), p.name))


def apply_retention(reports_dir: Path, keep_last: int, *, keep: Path | None = None) -> list[Path]:
    """Delete all but the ``keep_last`` newest run folders; a locked (running) one is spared."""
    if keep_last < 1:
        raise ValueError(f"keep_last: expected 1 or more, got {keep_last}")
    folders = _run_folders(reports_dir)
    removed = []
    for folder in folders[: max(0, len(folders) - keep_last)]:
        if keep is not None and folder.resolve() == keep.resolve():
            continue
        try:
            with run_lock(folder / ".lock"):
                shutil.rmtree(folder)
        except LockedError:
            log.info("retention: %s is in use; kept", folder.name)
            continue
        removed.append(folder)
    return removed
