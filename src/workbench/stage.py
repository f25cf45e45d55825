"""What every stage notebook does first and last.

A stage notebook's parameters cell holds plain values; its next cell calls
:meth:`Stage.start` with them. The :class:`Stage` parses ``as_of`` once, resolves the
settings (data tree, reports, tracking, project), fingerprints the data source, sets up
logging and Plotly, builds the stage's parameters object, opens the stage's MLflow run,
chooses and opens the input tables (:meth:`Stage.canonical_source`: the audit's clean
tables of this source, or the raw ones when the stage is asked to read them), reads and
writes the catalog's outputs with their stamps, logs every input it hands over to
MLflow (``log_input``) and, in :meth:`Stage.finish`, writes ``<stage>.json`` and logs it.

A stage whose inputs turn out to be absent says so with :meth:`Stage.not_applicable`:
``<stage>.json`` records the reason, the MLflow run ends tagged ``not_applicable`` and
:class:`NotApplicable` stops the notebook; ``workbench run`` reports the stage as not
applicable (exit code 0), not as failed.

This module is the runner's side of a stage: domain code never imports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from workbench import catalog, display, tracking
from workbench.canonical import canonical_parquet_problems
from workbench.engines import is_uri
from workbench.loading import LoadedData, load_tables
from workbench.schema import TABLES, parse_as_of
from workbench.settings import Settings, get_settings

__all__ = [
    "CONTEXT",
    "INPUTS",
    "NotApplicable",
    "Stage",
    "build_params",
    "setup_logging",
    "setup_plotting",
]

log = logging.getLogger(__name__)

#: Parameters every stage notebook declares and ``workbench run`` injects.
CONTEXT = ("data_dir", "as_of", "output_dir", "pipeline_run_id", "tracking_uri", "data_root")

#: What :meth:`Stage.canonical_source` reads: ``clean`` — the audit's clean tables of this
#: source, required; ``raw`` — the source itself, only when the user asks for it.
INPUTS = ("clean", "raw")


class NotApplicable(Exception):
    """Raised by :meth:`Stage.not_applicable`: the stage's inputs are absent, so it has
    nothing to do. ``workbench run`` reports the stage as *not applicable* (exit code 0).

    In a notebook it shows as one line, not as a traceback.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"Not applicable: {self.reason}"]


def build_params(params_type: type, namespace: Mapping[str, Any]) -> Any:
    """An instance of the dataclass ``params_type`` from the names in ``namespace``.

    Every field is taken from ``namespace`` when it holds that name (a notebook's
    parameters), else the field's default applies; the dataclass validates the values.

    Raises
    ------
    TypeError
        ``params_type`` is not a dataclass, or a field without a default is missing.
    """
    if not dataclasses.is_dataclass(params_type):
        raise TypeError(f"build_params: {params_type!r} is not a dataclass")
    values = {
        f.name: namespace[f.name] for f in dataclasses.fields(params_type) if f.name in namespace
    }
    try:
        return params_type(**values)
    except TypeError as exc:
        raise TypeError(f"{params_type.__name__}: {exc}") from exc


def _loggable(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if hasattr(params, "as_dict"):
        return dict(params.as_dict())
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return dataclasses.asdict(params)
    return dict(params)


def setup_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Log the package's INFO messages once: to stderr on the command line (cron logs), to
    stdout in notebooks (where stderr is drawn as an error)."""
    logger = logging.getLogger("workbench")
    if not any(getattr(h, "_workbench", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._workbench = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def setup_plotting() -> None:
    """Plotly figures as the Plotly MIME type (JupyterLab draws it; the report exporter embeds
    plotly.js once per HTML page so the report draws offline)."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"
    pio.templates.default = "plotly_white"


@dataclass
class Stage:
    """A running stage: its settings, cut-off, source, parameters, folders and MLflow run.

    Use :meth:`start` rather than the constructor.

    Attributes
    ----------
    as_of : pandas.Timestamp
        The cut-off, parsed once (UTC midnight); everything below takes it as it is.
    source : catalog.SourceFingerprint
        The data source this run reads: every output it writes is stamped with it.
    params : Any
        The stage's parameters object (built by :meth:`start` from the notebook's
        parameters), or None for a stage without one.
    """

    name: str
    settings: Settings
    as_of: pd.Timestamp
    data_dir: Path
    output_dir: Path
    source: catalog.SourceFingerprint
    pipeline_run_id: str = ""
    params: Any = None
    run_id: str | None = None
    _run_context: Any = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def start(
        cls,
        name: str,
        namespace: Mapping[str, Any] | None = None,
        params_type: type | None = None,
        *,
        track: bool = True,
        **context: Any,
    ) -> Stage:
        """Parse ``as_of``, resolve folders and source, build the parameters, open the run.

        A notebook's setup cell is one line::

            stage = Stage.start("churn", globals(), churn.ChurnParams)

        Parameters
        ----------
        name : str
            Stage name (the notebook's file name without its number).
        namespace : mapping, optional
            Where the notebook's parameters live (``globals()``): the run's context
            (:data:`CONTEXT`: ``as_of``, ``data_dir``, ``output_dir``, ``pipeline_run_id``,
            ``tracking_uri``, ``data_root``) and the fields of ``params_type``.
        params_type : dataclass type, optional
            The stage's parameters; :attr:`params` is built from ``namespace`` with
            :func:`build_params` and logged to MLflow.
        track : bool, default True
            Open an MLflow run (False for quick interactive use).
        **context
            Context values given directly; they win over ``namespace``. ``as_of`` is
            required (from one or the other); ``data_dir`` "" means ``<data>/raw``,
            ``output_dir`` "" means ``reports/interactive``, the others "" mean the
            settings' defaults.
        """
        given = {k: v for k, v in (namespace or {}).items() if k in CONTEXT}
        unknown = sorted(set(context) - set(CONTEXT))
        if unknown:
            raise TypeError(f"Stage.start: unknown argument(s) {', '.join(unknown)}")
        given.update(context)
        if "as_of" not in given:
            raise TypeError("Stage.start: as_of is required (a date such as 2026-06-30)")
        setup_logging(stream=sys.stdout)
        setup_plotting()
        display.setup_display()  # every frame a cell shows: readable numbers, escaped
        as_of = parse_as_of(given["as_of"])
        data_dir = given.get("data_dir") or ""
        settings = get_settings(
            data_dir=given.get("data_root") or None,
            tracking_uri=given.get("tracking_uri") or None,
            source=Path(data_dir).expanduser().resolve() if data_dir else None,
        )
        settings.ensure_dirs()
        source = Path(data_dir).expanduser().resolve() if data_dir else settings.raw_dir
        settings = settings.for_source(source)
        output_dir = given.get("output_dir") or ""
        out = (
            Path(output_dir).expanduser().resolve()
            if output_dir
            else (settings.reports_dir / "interactive")
        )
        out.mkdir(parents=True, exist_ok=True)
        built = build_params(params_type, namespace or {}) if params_type is not None else None
        stage = cls(
            name=name,
            settings=settings,
            as_of=as_of,
            data_dir=source,
            output_dir=out,
            source=catalog.fingerprint(source),
            pipeline_run_id=given.get("pipeline_run_id") or "",
            params=built,
        )
        if track:
            stage._open_run()
        log.info("stage %s: as_of=%s source=%s", name, as_of.date(), source)
        return stage

    def _open_run(self) -> None:
        params = {"as_of": str(self.as_of.date()), "data_dir": str(self.data_dir)}
        params.update(_loggable(self.params))
        self._run_context = tracking.start_stage_run(
            self.settings,
            self.name,
            as_of=str(self.as_of.date()),
            pipeline_run_id=self.pipeline_run_id,
            params=params,
            source=self.data_dir,
            notebook=_notebook_of(self.settings, self.name),
        )
        run = self._run_context.__enter__()
        self.run_id = run.info.run_id

    def _end_run(self, summary: dict[str, Any] | None, status: str) -> None:
        if self._run_context is None:
            return
        tracking.tag_active_run({tracking.TAG_STATUS: status})
        if summary is not None:
            tracking.log_summary(summary, self.name, params=_loggable(self.params))
        self._run_context.__exit__(None, None, None)
        self._run_context = None

    # ------------------------------------------------------------------ the catalog

    @property
    def expect(self) -> catalog.Expect:
        """What this run expects of the outputs it reads: its source and ``as_of``."""
        return catalog.Expect(self.source, self.as_of)

    def stamp(self, **extra: Any) -> catalog.Stamp:
        """The stamp of an output this stage writes now."""
        return catalog.Stamp(
            stage=self.name,
            as_of=self.as_of,
            source=self.source,
            run_id=self.pipeline_run_id,
            code_version=catalog.code_version(self.settings.root),
            extra=extra,
        )

    def write(self, name: str, frame: pd.DataFrame, **extra: Any) -> list[Path]:
        """Write catalog table ``name``, stamped, with a copy beside this stage's report."""
        return catalog.write_table(
            self.settings, name, frame, self.stamp(**extra), copies=[self.output_dir]
        )

    def read(
        self, name: str, *, columns: Sequence[str] | None = None, check_as_of: bool = True
    ) -> tuple[pd.DataFrame, catalog.Stamp]:
        """Read catalog table ``name`` with its stamp, refusing another source's output
        (and, with ``check_as_of``, another date's)."""
        expect = self.expect if check_as_of else None
        frame, stamp = catalog.read_table(self.settings, name, expect=expect, columns=columns)
        if not check_as_of and not stamp.source.same_as(self.source):
            catalog.Expect(self.source, stamp.as_of).check(stamp, name)
        self._log_input(
            catalog.location(self.settings, name),
            name=name,
            digest=_stamp_digest(stamp),
            rows=len(frame),
        )
        return frame, stamp

    # ------------------------------------------------------------------ inputs

    @property
    def clean_available(self) -> bool:
        """The audit's clean tables exist and were made from this source as it is now."""
        return self._clean_problem() is None

    def _clean_or_raw(self) -> str:
        """``"clean"`` when the audit made clean tables from this source, else ``"raw"``
        with a warning saying why (a stage without an ``input`` parameter)."""
        problem = self._clean_problem()
        if problem is None:
            return "clean"
        log.warning(
            "stage %s reads the raw tables of %s: no clean tables from the audit for "
            "this source (%s)",
            self.name,
            self.data_dir,
            problem,
        )
        return "raw"

    def _clean_problem(self) -> str | None:
        """Why the audit's clean tables cannot be this stage's input (None: they can)."""
        stamp = catalog.read_stamp(self.settings, "clean")
        if stamp is None:
            return f"there are none in {self.settings.clean_dir}"
        if stamp.source.source != self.source.source:
            return (
                f"they were made from {stamp.source.source} (as of {stamp.as_of.date()}), "
                f"this run reads {self.source.source} (as of {self.as_of.date()})"
            )
        if not stamp.source.same_as(self.source):
            return f"{self.source.source} has changed since they were made"
        return None

    def _input_choice(self, input: str | None) -> str:
        choice = input if input is not None else getattr(self.params, "input", "clean")
        if choice not in INPUTS:
            raise ValueError(
                f"{self.name}: input must be one of {', '.join(INPUTS)}, got {choice!r}"
            )
        return str(choice)

    def canonical_source(
        self,
        *,
        engine: str = "duckdb",
        source_uri: str = "",
        tables: Sequence[str] | None = None,
        input: str | None = None,
    ) -> tuple[str | Path | LoadedData, str]:
        """What this stage's canonical tables are read from, and a label for the report.

        Parameters
        ----------
        engine : str
            ``duckdb`` or an engine whose audit writes its own clean tables (``spark``).
        source_uri : str
            A folder or URI of ``<table>.parquet`` read by the engine instead (``"uri"``).
        tables : sequence of str, optional
            The canonical tables the stage reads.
        input : {"clean", "raw"}, optional
            Default: the stage's ``params.input`` when it has one; for a stage without
            that parameter (on DuckDB) the clean tables when the audit made them from
            this source as it is now, else the source itself — logged as a warning and
            tagged ``workbench.input`` on the run, as :meth:`load` does.
            ``"clean"`` — the audit's clean tables *of this source*: on an engine other than
            DuckDB the ones the audit wrote there (``"clean (engine)"``); else the clean
            folder (``"clean"``, or ``"clean (loaded)"`` when it is not canonical Parquet).
            They must have been made from this source as it is now (any ``as_of``: the
            audit cleans the whole history); otherwise this raises and nothing is read —
            there is no silent fallback to the raw tables. ``"raw"`` — the source itself,
            only when asked for: the folder when it holds canonical Parquet (``"raw"``,
            read by the engine), else the tables loaded by :meth:`load`
            (``"raw (loaded)"``: CSV files, a mapping file or a DuckDB file).

        Raises
        ------
        catalog.MissingOutputError
            ``input="clean"`` and the audit has not written clean tables.
        catalog.StaleOutputError
            ``input="clean"`` and the clean tables were made from another source, or from
            this one before its files changed. Both name the command to run and the
            ``-p <stage>.input=raw`` alternative.
        ValueError
            ``input`` is neither ``clean`` nor ``raw``.
        """
        wanted = list(tables) if tables else None
        if input is None and not hasattr(self.params, "input") and engine == "duckdb":
            # a stage without an ``input`` parameter (the A/B test, churn, ...): the
            # audit's clean tables when it made them from this source, else the source —
            # logged and tagged, never another source's tables (as :meth:`load`)
            input = self._clean_or_raw()
            if self.run_id:
                tracking.tag_active_run({"workbench.input": input})
        choice = self._input_choice(input)
        if source_uri:
            self._log_input(source_uri, name="source_uri")
            return source_uri, "uri"
        if choice == "raw":
            if self.data_dir.is_dir() and not canonical_parquet_problems(self.data_dir, tables):
                self._log_folder(self.data_dir, wanted, digest=self.source.digest)
                return self.data_dir, "raw"
            return self.load(wanted, input="raw"), "raw (loaded)"
        if engine != "duckdb":
            engine_clean = f"{self.settings.engine_dir.rstrip('/')}/clean"
            stamp = None if is_uri(engine_clean) else catalog.read_folder_stamp(engine_clean)
            if stamp is not None and stamp.source.same_as(self.source):
                self._log_folder(Path(engine_clean), wanted, digest=_stamp_digest(stamp))
                return f"file://{Path(engine_clean).resolve()}", "clean (engine)"
        problem = self._clean_problem()
        if problem is not None:
            self._refuse_clean(problem)
        folder = self.settings.clean_dir
        if not canonical_parquet_problems(folder, tables):
            stamp = catalog.read_stamp(self.settings, "clean")
            self._log_folder(folder, wanted, digest=_stamp_digest(stamp))
            return folder, "clean"
        return self.load(wanted, input="clean"), "clean (loaded)"

    def _refuse_clean(self, problem: str) -> NoReturn:
        command = (
            f"`workbench run --data {self.data_dir} --as-of {self.as_of.date()} "
            f"--stages audit,{self.name}`"
        )
        message = (
            f"stage {self.name!r} reads the audit's clean tables of {self.data_dir}, but "
            f"{problem}. Run the audit on this source first ({command})"
            + (
                f", or read the raw tables without the audit's checks with "
                f"`-p {self.name}.input=raw`."
                if hasattr(self.params, "input")
                else "."
            )
        )
        if problem.startswith("there are none"):
            raise catalog.MissingOutputError(message)
        raise catalog.StaleOutputError(message)

    def load(
        self,
        tables: list[str] | None = None,
        *,
        input: str | None = None,
        prefer_clean: bool | None = None,
        log_inputs: bool = True,
    ) -> LoadedData:
        """Load the input tables as pandas frames (every one logged as an MLflow input).

        ``input="clean"`` reads the audit's clean tables of this source and refuses
        others (as :meth:`canonical_source`); ``input="raw"`` reads the source. Without
        ``input`` (stages that have no such parameter, e.g. the A/B test): the clean
        tables when the audit made them from this source, else the raw ones — and the
        choice is logged and tagged on the run (``workbench.input``), never silent.
        ``prefer_clean=False`` is the old spelling of ``input="raw"``.
        """
        if input is None and prefer_clean is False:
            input = "raw"
        if input is None and self.params is not None and hasattr(self.params, "input"):
            input = self._input_choice(None)
        if input is None:
            input = self._clean_or_raw()
        else:
            self._input_choice(input)
            if input == "clean" and (problem := self._clean_problem()) is not None:
                self._refuse_clean(problem)
        if input == "clean":
            log.info("reading the audit's clean tables from %s", self.settings.clean_dir)
            data = load_tables(self.settings.clean_dir, tables=tables, derive=False)
        else:
            data = load_tables(self.data_dir, tables=tables)
        if self.run_id:
            tracking.tag_active_run({"workbench.input": input})
        if log_inputs and self.run_id:
            for name, frame in data.tables.items():
                info = data.sources[name]
                tracking.log_dataset(
                    frame, name=name, source=info.path, context=self.name, digest=info.digest
                )
        return data

    def _log_folder(self, folder: Path, tables: list[str] | None, *, digest: str) -> None:
        """Log each canonical Parquet table of ``folder`` this stage hands over."""
        if not self.run_id:
            return
        for table in tables or list(TABLES):
            path = folder / f"{table}.parquet"
            if path.exists():
                self._log_input(path, name=table, digest=digest)

    def _log_input(
        self, path: str | Path, *, name: str, digest: str = "", rows: int | None = None
    ) -> None:
        if not self.run_id:
            return
        try:
            tracking.log_file_input(path, name=name, context=self.name, digest=digest, rows=rows)
        except Exception as exc:  # the record of an input never stops a stage
            log.warning("could not log input %s to MLflow: %s", name, exc)

    # ------------------------------------------------------------------ outputs

    def path(self, name: str) -> Path:
        """A file in the stage's output folder."""
        return self.output_dir / name

    def finish(self, summary: dict[str, Any]) -> None:
        """Write ``<stage>.json`` beside the report, log it to MLflow and end the run.

        Returns nothing, so a notebook's last line ``stage.finish(summary)`` shows nothing
        in the report (the summary's place is :meth:`path` ``(f"{name}.json")``).

        The summary's measured numbers become metrics (``summary["metrics"]`` when present,
        see :func:`workbench.tracking.summary_metrics`); its ``headline``
        (:class:`workbench.display.Headline` ``.as_dict()``) is what the index and the
        terminal show.
        """
        target = self.output_dir / f"{self.name}.json"
        payload = _finite(json.loads(json.dumps(summary, default=_json_default)))
        target.write_text(json.dumps(payload, indent=2, sort_keys=False))
        self._end_run(payload, "ok")
        log.info("stage %s finished; summary at %s", self.name, target)

    def not_applicable(self, reason: str) -> NoReturn:
        """End the stage as *not applicable*: its inputs are absent, so it has nothing to do.

        Writes ``<stage>.json`` = ``{"status": "not_applicable", "reason": …, "as_of": …}``,
        ends the MLflow run tagged ``workbench.status=not_applicable`` and raises
        :class:`NotApplicable`, which stops the notebook; ``workbench run`` then reports the
        stage as not applicable with ``reason`` (exit code 0) and the stages that depend on
        it as not applicable too. Domain code never calls it: it returns the facts, the
        notebook decides.

        Parameters
        ----------
        reason : str
            One sentence saying what the stage would need, e.g. ``"no experiment has an
            assignment before 2026-03-31"``.
        """
        target = self.output_dir / f"{self.name}.json"
        payload = {
            "status": "not_applicable",
            "reason": str(reason),
            "as_of": str(self.as_of.date()),
            "stage": self.name,
        }
        target.write_text(json.dumps(payload, indent=2))
        if self._run_context is not None:
            tracking.tag_active_run({"workbench.reason": str(reason)[:5000]})
        self._end_run(None, "not_applicable")
        log.info("stage %s is not applicable: %s", self.name, reason)
        raise NotApplicable(str(reason))


def _notebook_of(settings: Settings, name: str) -> Path | None:
    """The stage's notebook (``NN_<name>.ipynb`` or ``<name>.ipynb``), for the run's source."""
    found = sorted(settings.notebooks_dir.glob(f"[0-9][0-9]_{name}.ipynb"))
    if found:
        return found[0]
    plain = settings.notebooks_dir / f"{name}.ipynb"
    return plain if plain.exists() else None


def _stamp_digest(stamp: catalog.Stamp | None) -> str:
    """A short digest of what an output is: its stamp (source, date, run, time written)."""
    if stamp is None:
        return ""
    return hashlib.sha256(stamp.to_json().encode()).hexdigest()


def _finite(value: Any) -> Any:
    """NaN and infinities become null so the summary is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
