"""Run the stage notebooks in order with papermill.

A stage is a notebook ``notebooks/NN_name.ipynb``; its name is the file name without
the number. ``run_pipeline`` checks every parameter before any notebook runs
(papermill alone only warns about unknown names), executes the stages in order,
writes for each the executed notebook, a standalone HTML copy and ``<stage>.json``
(the stage writes it), then ``index.html`` and ``manifest.json``, and logs the run
to MLflow. Stages declare what they need in the notebook metadata
(``{"workbench": {"depends_on": ["features"]}}``), which ``keep_going`` uses to skip
only the stages that depend on a failed one.

Exit codes of ``workbench run`` (see :class:`ExitCode`): 0 every stage succeeded,
1 a stage failed, 2 bad arguments or parameters, 3 another run holds the lock,
4 the input data cannot be read.
"""

from __future__ import annotations

import ast
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import nbformat
import yaml

from workbench import __version__, catalog, tracking
from workbench.compare import changes_html, compare_runs, previous_run
from workbench.loading import MAPPING_FILE_NAMES, file_digest, find_table_files
from workbench.reports import notebook_to_html, write_index
from workbench.schema import parse_as_of
from workbench.settings import Settings

__all__ = [
    "ExitCode",
    "StageNotebook",
    "StageResult",
    "PipelineResult",
    "ParameterError",
    "LockedError",
    "StageFailed",
    "INJECTED",
    "discover_stages",
    "parse_overrides",
    "run_pipeline",
    "run_lock",
    "apply_retention",
]

log = logging.getLogger(__name__)

INJECTED = ("data_dir", "as_of", "output_dir", "pipeline_run_id", "tracking_uri", "data_root")


class ExitCode(IntEnum):
    OK = 0
    STAGE_FAILED = 1
    USAGE = 2
    LOCKED = 3
    DATA = 4


class ParameterError(ValueError):
    """A ``-p`` override that no stage declares, or one whose value has the wrong type."""


class LockedError(RuntimeError):
    """Another run is writing the same output folder or data tree."""


class StageFailed(RuntimeError):
    """A stage notebook raised; the message names the stage and the failing cell."""


@dataclass(frozen=True)
class StageNotebook:
    """One stage: its notebook, declared parameters (name -> default) and dependencies."""

    number: int
    name: str
    path: Path
    parameters: dict[str, Any]
    help: dict[str, str]
    depends_on: tuple[str, ...] = ()

    def describe_parameters(self) -> str:
        lines = [f"parameters of stage {self.name!r} ({self.path.name}):"]
        for key, default in self.parameters.items():
            note = f"  # {self.help[key]}" if self.help.get(key) else ""
            lines.append(f"  {key} = {default!r} ({type(default).__name__}){note}")
        return "\n".join(lines)


@dataclass
class StageResult:
    name: str
    status: str  # ok | failed | skipped
    seconds: float | None = None
    notebook: Path | None = None
    html: Path | None = None
    summary_path: Path | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class PipelineResult:
    output_dir: Path
    stages: list[StageResult] = field(default_factory=list)
    pipeline_run_id: str | None = None
    index: Path | None = None

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.stages)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.STAGE_FAILED

    def failures(self) -> list[StageResult]:
        return [s for s in self.stages if s.status == "failed"]


# --------------------------------------------------------------------------- discovery


def discover_stages(notebooks_dir: Path) -> list[StageNotebook]:
    """Every ``NN_name.ipynb`` in ``notebooks_dir``, in number order."""
    stages = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        number, name = path.stem.split("_", 1)
        nb = nbformat.read(str(path), as_version=4)
        params, helps = _parameters_cell(nb, path)
        meta = nb.metadata.get("workbench", {})
        stages.append(
            StageNotebook(
                number=int(number),
                name=name,
                path=path,
                parameters=params,
                help=helps,
                depends_on=tuple(meta.get("depends_on", ())),
            )
        )
    return stages


def _parameters_cell(
    nb: nbformat.NotebookNode, path: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Names, literal defaults and trailing-comment help of the cell tagged ``parameters``."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return {}, {}
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            f"{path.name}: the parameters cell is not valid Python: {exc}"
        ) from exc
    lines = source.splitlines()
    params: dict[str, Any] = {}
    helps: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            raise ParameterError(
                f"{path.name}: line {node.lineno} of the parameters cell is not `name = value`"
            )
        if not isinstance(target, ast.Name):
            raise ParameterError(f"{path.name}: line {node.lineno}: assign to a plain name")
        params[target.id] = _literal(ast.get_source_segment(source, value) or "", path, target.id)
        comment = _trailing_comment(lines[node.end_lineno - 1])
        helps[target.id] = comment
    return params, helps


def _trailing_comment(line: str) -> str:
    import io
    import tokenize

    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        return ""
    return ""


def _literal(text: str, path: Path, key: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ParameterError(
            f"{path.name}: the default of parameter {key!r} ({text}) is not a plain value; "
            "the parameters cell must hold literals only (derive values in the next cell)"
        ) from exc


def select_stages(stages: list[StageNotebook], names: Sequence[str] | None) -> list[StageNotebook]:
    """The stages named (in pipeline order), or all; unknown names are an error."""
    if not names:
        return stages
    known = {s.name: s for s in stages}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParameterError(
            f"unknown stage(s) {', '.join(unknown)}; stages are: {', '.join(known)}"
        )
    return [s for s in stages if s.name in set(names)]


# --------------------------------------------------------------------------- parameters


def parse_overrides(
    overrides: Sequence[str], stages: Sequence[StageNotebook]
) -> dict[str, dict[str, Any]]:
    """Turn ``-p name=value`` / ``-p stage.name=value`` into typed values per stage.

    A plain name applies to every selected stage that declares it. The value must fit
    the type of the default in the stage's parameters cell (``int``, ``float``, ``bool``,
    ``str``, ``list``, ``dict``; a ``None`` default accepts any YAML value).

    Raises
    ------
    ParameterError
        Unknown names, malformed pairs or values of the wrong type, with the stage's
        parameters and defaults listed.
    """
    result: dict[str, dict[str, Any]] = {s.name: {} for s in stages}
    by_name = {s.name: s for s in stages}
    for item in overrides:
        if "=" not in item:
            raise ParameterError(f"-p {item!r}: expected name=value (or stage.name=value)")
        key, raw = item.split("=", 1)
        key = key.strip()
        target_stage, _, param = key.rpartition(".")
        if target_stage and target_stage not in by_name:
            raise ParameterError(
                f"-p {item!r}: no selected stage {target_stage!r}; stages: {', '.join(by_name)}"
            )
        targets = [by_name[target_stage]] if target_stage else list(stages)
        declaring = [s for s in targets if param in s.parameters]
        if param in INJECTED:
            raise ParameterError(
                f"-p {item!r}: {param!r} is set by `workbench run` itself "
                f"(use --data, --as-of, --out or --tracking-uri)"
            )
        if not declaring:
            listing = "\n".join(s.describe_parameters() for s in targets)
            raise ParameterError(f"-p {item!r}: no stage declares parameter {param!r}.\n{listing}")
        for stage in declaring:
            result[stage.name][param] = _typed(raw, stage.parameters[param], stage, param)
    return result


def _typed(raw: str, default: Any, stage: StageNotebook, param: str) -> Any:
    expected = type(default)

    def fail() -> ParameterError:
        return ParameterError(
            f"-p {param}={raw!r}: stage {stage.name!r} expects {expected.__name__} "
            f"(default {default!r}).\n{stage.describe_parameters()}"
        )

    if default is None:
        return yaml.safe_load(raw)
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise fail()
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise fail() from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise fail() from None
    if isinstance(default, str):
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise fail() from None
    if not isinstance(value, expected):
        raise fail()
    return value


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
    keep_going: bool = False,
    progress: bool = True,
    kernel_name: str = "python3",
) -> PipelineResult:
    """Execute the stage notebooks in order; see the module docstring for what is written.

    Raises
    ------
    ParameterError
        Bad stage names, parameters or ``as_of`` (nothing has run).
    LockedError
        Another run holds the output folder or the data tree.
    FileNotFoundError
        The data source does not exist.
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
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out / ".lock"), run_lock(settings.data_dir / ".workbench.lock"):
        return _run_locked(
            settings, data_dir, as_of_text, out, stages, typed, keep_going, progress, kernel_name
        )


def _run_locked(
    settings: Settings,
    data_dir: Path,
    as_of: str,
    out: Path,
    stages: list[StageNotebook],
    typed: dict[str, dict[str, Any]],
    keep_going: bool,
    progress: bool,
    kernel_name: str,
) -> PipelineResult:
    from tqdm.auto import tqdm

    run_id = tracking.start_pipeline_run(
        settings,
        as_of=as_of,
        run_name=f"pipeline {as_of} {out.name}",
        params={"as_of": as_of, "data_dir": str(data_dir), "stages": [s.name for s in stages]},
    )
    manifest = _manifest(settings, data_dir, as_of, out, stages, typed, run_id)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    result = PipelineResult(output_dir=out, pipeline_run_id=run_id)
    failed: set[str] = set()
    bar = tqdm(stages, desc="workbench run", unit="stage", disable=not progress)
    for stage in bar:
        bar.set_postfix_str(stage.name)
        blocked = [d for d in stage.depends_on if d in failed]
        if failed and (not keep_going or blocked):
            reason = (
                f"depends on failed stage {', '.join(blocked)}"
                if blocked
                else "an earlier stage failed"
            )
            result.stages.append(StageResult(stage.name, "skipped", error=reason))
            failed.add(stage.name)
            continue
        stage_result = _run_stage(
            settings, stage, data_dir, as_of, out, run_id, typed[stage.name], kernel_name
        )
        result.stages.append(stage_result)
        if stage_result.status == "failed":
            failed.add(stage.name)
            log.error("%s", stage_result.error)
    bar.close()
    result.index = write_run_index(result, manifest)
    tracking.end_pipeline_run(
        settings,
        run_id,
        status="FINISHED" if result.ok else "FAILED",
        metrics={"stages_ok": sum(s.status == "ok" for s in result.stages)},
        artifacts=[out / "manifest.json", result.index],
    )
    return result


def _run_stage(
    settings: Settings,
    stage: StageNotebook,
    data_dir: Path,
    as_of: str,
    out: Path,
    pipeline_run_id: str,
    params: dict[str, Any],
    kernel_name: str,
) -> StageResult:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = _stage_parameters(stage, settings, data_dir, as_of, out, pipeline_run_id, params)
    executed = out / stage.path.name
    html_path = out / f"{stage.name}.html"
    summary_path = out / f"{stage.name}.json"
    summary_path.unlink(missing_ok=True)
    started = time.perf_counter()
    error = None
    env_backup = _pin_environment(settings)
    try:
        papermill.execute_notebook(
            str(stage.path),
            str(executed),
            parameters=parameters,
            kernel_name=kernel_name,
            cwd=str(Path.cwd()),  # relative paths in -p values mean what the user typed
            progress_bar=False,
            log_output=False,
            # the kernel's own start-up warnings (TCP transport) are noise in cron logs
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        error = (
            f"stage {stage.name!r} failed in cell {exc.cell_index} (execution count "
            f"{exc.exec_count}): {exc.ename}: {exc.evalue}"
        )
    except Exception as exc:
        error = f"stage {stage.name!r} failed: {type(exc).__name__}: {exc}"
    finally:
        _restore_environment(env_backup)
    seconds = time.perf_counter() - started
    if executed.exists():
        try:
            notebook_to_html(executed, html_path, title=f"{stage.name} · {as_of}")
        except Exception as exc:
            log.warning("HTML export of %s failed: %s", executed.name, exc)
    if error is None and not summary_path.exists():
        error = f"stage {stage.name!r} finished without writing {summary_path.name}"
    tracking.attach_stage_artifacts(
        settings, stage.name, pipeline_run_id, [executed, html_path], failed=error is not None
    )
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return StageResult(
        name=stage.name,
        status="failed" if error else "ok",
        seconds=seconds,
        notebook=executed if executed.exists() else None,
        html=html_path if html_path.exists() else None,
        summary_path=summary_path if summary_path.exists() else None,
        summary=summary,
        error=error,
    )


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


def _pin_environment(settings: Settings) -> dict[str, str | None]:
    """Kernels inherit the environment: make the resolved settings win over stale env vars."""
    wanted = {
        "WORKBENCH_ROOT": str(settings.root),
        "WORKBENCH_DATA_DIR": str(settings.data_dir),
        "WORKBENCH_REPORTS_DIR": str(settings.reports_dir),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "WORKBENCH_ARTIFACT_ROOT": settings.artifact_root,
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::FutureWarning"),
        # spinning OpenMP threads (KMeans, XGBoost) slow everything on a shared machine
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive"),
        # static views instead of live widgets (see workbench.widgets.interactive)
        "WORKBENCH_BATCH": "1",
    }
    backup = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    return backup


def _restore_environment(backup: Mapping[str, str | None]) -> None:
    for key, value in backup.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# --------------------------------------------------------------------------- manifest & index


def input_digests(data_dir: Path) -> dict[str, str]:
    """Digest of every canonical table file (and mapping file) in the source."""
    if data_dir.is_file():
        return {data_dir.name: file_digest(data_dir)}
    files = {p.name: p for p in find_table_files(data_dir).values()}
    for name in MAPPING_FILE_NAMES:
        if (data_dir / name).exists():
            files[name] = data_dir / name
            mapping = yaml.safe_load((data_dir / name).read_text()) or {}
            for entry in (mapping.get("tables") or {}).values():
                if entry and entry.get("file") and (data_dir / entry["file"]).exists():
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
        "output_dir": str(out),
        "tracking_uri": settings.tracking_uri,
        "stages": [
            {
                "name": s.name,
                "notebook": s.path.name,
                "depends_on": list(s.depends_on),
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


def write_run_index(result: PipelineResult, manifest: Mapping[str, Any]) -> Path:
    """``index.html`` of a run (the ``what changed`` section is added by the caller)."""
    out = result.output_dir

    def rel(path: Path | None) -> str | None:
        return None if path is None else os.path.relpath(path, out)

    stages = [
        {
            "name": s.name,
            "status": s.status,
            "seconds": s.seconds,
            "summary": s.summary,
            "html": rel(s.html),
            "notebook": rel(s.notebook),
            "json": rel(s.summary_path),
            "error": s.error,
        }
        for s in result.stages
    ]
    previous = previous_run(out.parent, out)
    changes = compare_runs(out, previous)
    (out / "what_changed.json").write_text(
        json.dumps(
            {
                "previous_run": previous.name if previous else None,
                "changes": json.loads(changes.to_json(orient="records")),
            },
            indent=2,
        )
    )
    meta = {
        "as_of": manifest["as_of"],
        "data": manifest["data_dir"],
        "run": out.name,
        "MLflow pipeline run": result.pipeline_run_id or "",
        "code": manifest["code_version"]["version"],
    }
    return write_index(
        out / "index.html",
        title="Workbench report",
        meta=meta,
        stages=stages,
        extra_sections=[changes_html(changes, previous)],
    )


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
