"""What every stage notebook does first and last.

A stage notebook's parameters cell holds plain values; its next cell calls
:meth:`Stage.start` with them. The :class:`Stage` resolves the settings (data tree,
reports, tracking), sets up logging and Plotly, opens the stage's MLflow run, loads
the input tables (the audit's clean tables when they were made from this same source,
the raw ones otherwise) and, in :meth:`Stage.finish`, writes ``<stage>.json`` and logs
it to MLflow.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import tracking
from workbench.loading import LoadedData, load_tables
from workbench.settings import Settings, get_settings

__all__ = [
    "Stage",
    "parse_as_of",
    "source_fingerprint",
    "write_source_stamp",
    "stamp_matches",
    "setup_logging",
    "setup_plotting",
    "STAMP_FILE",
]

log = logging.getLogger(__name__)
STAMP_FILE = "_source.json"


def parse_as_of(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """The cut-off as a UTC timestamp at midnight; features use data strictly before it.

    Examples
    --------
    >>> parse_as_of("2026-06-30")
    Timestamp('2026-06-30 00:00:00+0000', tz='UTC')
    """
    try:
        stamp = pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"as_of: expected a date such as 2026-06-30, got {as_of!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"as_of: expected a date such as 2026-06-30, got {as_of!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.normalize()


def source_fingerprint(source: str | Path) -> dict[str, Any]:
    """A cheap identity of a data source: its resolved path and each file's size and mtime."""
    source = Path(source).expanduser().resolve()
    files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.is_file())
    return {
        "source": str(source),
        "files": {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
    }


def write_source_stamp(folder: Path, source: str | Path, **extra: Any) -> None:
    """Record which source a folder of derived tables was made from."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = {**source_fingerprint(source), **extra}
    (folder / STAMP_FILE).write_text(json.dumps(stamp, indent=2, default=str))


def stamp_matches(folder: Path, source: str | Path) -> bool:
    """True when ``folder`` was made from ``source`` as it is now."""
    path = folder / STAMP_FILE
    if not path.exists():
        return False
    try:
        stamp = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    current = source_fingerprint(source)
    return stamp.get("source") == current["source"] and stamp.get("files") == current["files"]


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
    """A running stage: its settings, cut-off, folders and MLflow run.

    Use :meth:`start` rather than the constructor.
    """

    name: str
    settings: Settings
    as_of: pd.Timestamp
    data_dir: Path
    output_dir: Path
    pipeline_run_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    _run_context: Any = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def start(
        cls,
        name: str,
        *,
        as_of: str,
        data_dir: str = "",
        output_dir: str = "",
        pipeline_run_id: str = "",
        tracking_uri: str = "",
        data_root: str = "",
        params: dict[str, Any] | None = None,
        track: bool = True,
    ) -> Stage:
        """Resolve folders, set up logging/Plotly and open the stage's MLflow run.

        Parameters
        ----------
        name : str
            Stage name (the notebook's file name without its number).
        as_of : str
            Cut-off date; features use data strictly before it.
        data_dir : str
            Folder (or DuckDB file) with the source tables; "" means ``<data>/raw``.
        output_dir : str
            Where ``<stage>.json`` and per-run copies go; "" means ``reports/interactive``.
        pipeline_run_id, tracking_uri, data_root : str
            Injected by ``workbench run``; "" means the settings' defaults.
        params : dict
            The stage's own parameters, logged to MLflow.
        """
        setup_logging(stream=sys.stdout)
        setup_plotting()
        settings = get_settings(data_dir=data_root or None, tracking_uri=tracking_uri or None)
        settings.ensure_dirs()
        source = Path(data_dir).expanduser().resolve() if data_dir else settings.raw_dir
        out = (
            Path(output_dir).expanduser().resolve()
            if output_dir
            else (settings.reports_dir / "interactive")
        )
        out.mkdir(parents=True, exist_ok=True)
        stage = cls(
            name=name,
            settings=settings,
            as_of=parse_as_of(as_of),
            data_dir=source,
            output_dir=out,
            pipeline_run_id=pipeline_run_id,
            params=dict(params or {}),
        )
        if track:
            stage._open_run()
        log.info("stage %s: as_of=%s source=%s", name, stage.as_of.date(), source)
        return stage

    def _open_run(self) -> None:
        params = {"as_of": str(self.as_of.date()), "data_dir": str(self.data_dir), **self.params}
        self._run_context = tracking.start_stage_run(
            self.settings,
            self.name,
            as_of=str(self.as_of.date()),
            pipeline_run_id=self.pipeline_run_id,
            params=params,
        )
        run = self._run_context.__enter__()
        self.run_id = run.info.run_id

    # ------------------------------------------------------------------ inputs

    @property
    def clean_available(self) -> bool:
        """The audit's clean tables exist and were made from this source."""
        return stamp_matches(self.settings.clean_dir, self.data_dir)

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
