"""What every stage notebook does first and last.

A stage notebook's parameters cell holds plain values; its next cell calls
:meth:`Stage.start` with them. The :class:`Stage` parses ``as_of`` once, resolves the
settings (data tree, reports, tracking), fingerprints the data source, sets up logging
and Plotly, builds the stage's parameters object, opens the stage's MLflow run, chooses
and opens the input tables (the audit's clean tables when they were made from this same
source, the raw ones otherwise), reads and writes the catalog's outputs with their
stamps and, in :meth:`Stage.finish`, writes ``<stage>.json`` and logs it to MLflow.

This module is the runner's side of a stage: domain code never imports it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import catalog, tracking
from workbench.canonical import canonical_parquet_problems
from workbench.engines import is_uri
from workbench.loading import LoadedData, load_tables
from workbench.schema import parse_as_of
from workbench.settings import Settings, get_settings

__all__ = [
    "CONTEXT",
    "Stage",
    "build_params",
    "setup_logging",
    "setup_plotting",
]

log = logging.getLogger(__name__)

#: Parameters every stage notebook declares and ``workbench run`` injects.
CONTEXT = ("data_dir", "as_of", "output_dir", "pipeline_run_id", "tracking_uri", "data_root")


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
        as_of = parse_as_of(given["as_of"])
        settings = get_settings(
            data_dir=given.get("data_root") or None, tracking_uri=given.get("tracking_uri") or None
        )
        settings.ensure_dirs()
        data_dir = given.get("data_dir") or ""
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
        )
        run = self._run_context.__enter__()
        self.run_id = run.info.run_id

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
        return frame, stamp

    # ------------------------------------------------------------------ inputs

    @property
    def clean_available(self) -> bool:
        """The audit's clean tables exist and were made from this source as it is now."""
        stamp = catalog.read_stamp(self.settings, "clean")
        return stamp is not None and stamp.source.same_as(self.source)

    def canonical_source(
        self, *, engine: str = "duckdb", source_uri: str = "", tables: Sequence[str] | None = None
    ) -> tuple[str | Path | LoadedData, str]:
        """What this stage's canonical tables are read from, and a label for the report.

        ``source_uri`` when given (``"uri"``: a folder or URI of ``<table>.parquet`` read
        by the engine); on an engine other than DuckDB, the clean tables the audit wrote
        on that engine when they were made from this source (``"clean (engine)"``); the
        audit's clean tables of this source (``"clean"``, or ``"clean (loaded)"`` when
        they are not canonical Parquet); else the raw folder when it already holds
        canonical Parquet (``"raw"``, read by the engine); else the tables loaded by
        :meth:`load` (``"raw (loaded)"``: CSV files, a mapping file or a DuckDB file).
        """
        if source_uri:
            return source_uri, "uri"
        if engine != "duckdb":
            engine_clean = f"{self.settings.engine_dir.rstrip('/')}/clean"
            stamp = None if is_uri(engine_clean) else catalog.read_folder_stamp(engine_clean)
            if stamp is not None and stamp.source.same_as(self.source):
                return f"file://{Path(engine_clean).resolve()}", "clean (engine)"
        if self.clean_available:
            folder = self.settings.clean_dir
            if not canonical_parquet_problems(folder, tables):
                return folder, "clean"
            return self.load(list(tables) if tables else None), "clean (loaded)"
        if self.data_dir.is_dir() and not canonical_parquet_problems(self.data_dir, tables):
            return self.data_dir, "raw"
        return self.load(list(tables) if tables else None, prefer_clean=False), "raw (loaded)"

    def load(
        self, tables: list[str] | None = None, *, prefer_clean: bool = True, log_inputs: bool = True
    ) -> LoadedData:
        """Load the input tables: clean ones from the audit when they match this source."""
        if prefer_clean and self.clean_available:
            log.info("reading the audit's clean tables from %s", self.settings.clean_dir)
            data = load_tables(self.settings.clean_dir, tables=tables, derive=False)
        else:
            if prefer_clean:
                log.info("no clean tables from the audit for this source; reading the raw tables")
            data = load_tables(self.data_dir, tables=tables)
        if log_inputs and self.run_id:
            for name, frame in data.tables.items():
                info = data.sources[name]
                tracking.log_dataset(
                    frame, name=name, source=info.path, context=self.name, digest=info.digest
                )
        return data

    # ------------------------------------------------------------------ outputs

    def path(self, name: str) -> Path:
        """A file in the stage's output folder."""
        return self.output_dir / name

    def finish(self, summary: dict[str, Any]) -> Path:
        """Write ``<stage>.json`` beside the report, log it to MLflow and end the run."""
        target = self.output_dir / f"{self.name}.json"
        payload = _finite(json.loads(json.dumps(summary, default=_json_default)))
        target.write_text(json.dumps(payload, indent=2, sort_keys=False))
        if self._run_context is not None:
            tracking.log_summary(payload, self.name)
            self._run_context.__exit__(None, None, None)
            self._run_context = None
        log.info("stage %s finished; summary at %s", self.name, target)
        return target


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
