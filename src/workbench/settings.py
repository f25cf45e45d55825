"""One object that owns every path and URI the workbench uses.

Nothing else in the package or the notebooks builds a path to ``data/``,
``reports/`` or ``mlruns/``: they ask :func:`get_settings`.

Precedence, lowest to highest: built-in defaults (relative to the project root),
environment variables (``WORKBENCH_ROOT``, ``WORKBENCH_DATA_DIR``,
``WORKBENCH_REPORTS_DIR``, ``MLFLOW_TRACKING_URI``, ``WORKBENCH_ENGINE_DIR``), then
explicit keyword arguments (what CLI flags and notebook parameters pass).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Settings", "get_settings", "find_project_root", "derive_project"]

_MARKERS = ("pyproject.toml", ".git")


def find_project_root(start: Path | None = None) -> Path:
    """Return the project root: ``WORKBENCH_ROOT`` or the nearest folder above
    ``start`` (default: the current directory, then this file) holding
    ``pyproject.toml`` and ``notebooks/``."""
    env = os.environ.get("WORKBENCH_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    candidates = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve()]
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / "pyproject.toml").exists() and (folder / "notebooks").is_dir():
                return folder
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Settings:
    """Paths and URIs of one workbench project.

    Attributes
    ----------
    root : Path
        Project root (holds ``notebooks/``).
    data_dir : Path
        The data tree; ``raw``, ``interim`` and ``processed`` live inside it.
    reports_dir : Path
        Where ``workbench run`` writes dated report folders.
    tracking_uri : str
        MLflow tracking URI (default ``sqlite:///<root>/mlruns/mlflow.db``).
    artifact_root : str
        Where MLflow artefacts of new experiments go (default ``<root>/mlruns/artifacts``).
    engine_output : str
        Where an audit run on an engine (Spark) writes its clean tables and quarantine:
        a local folder or a URI the engine writes (default ``<data>/interim/engine``).
    project : str
        The project that scopes MLflow experiments and registered models
        (``--project`` / ``WORKBENCH_PROJECT``); "" until :meth:`for_source` derives it
        from the data source.
    """

    root: Path
    data_dir: Path
    reports_dir: Path
    tracking_uri: str
    artifact_root: str
    engine_output: str = ""
    project: str = ""

    def for_source(self, source: str | Path) -> Settings:
        """These settings with :attr:`project` derived from ``source`` when it is not set
        (:func:`derive_project`)."""
        return self if self.project else replace(self, project=derive_project(source))

    @property
    def engine_dir(self) -> str:
        """:attr:`engine_output`, or ``<data>/interim/engine`` when it is not set."""
        return self.engine_output or str(self.interim_dir / "engine")

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def interim_dir(self) -> Path:
        return self.data_dir / "interim"

    @property
    def clean_dir(self) -> Path:
        return self.interim_dir / "clean"

    @property
    def quarantine_dir(self) -> Path:
        return self.interim_dir / "quarantine"

    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def mlruns_dir(self) -> Path:
        return self.root / "mlruns"

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the given (non-None) fields replaced."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        for key in ("root", "data_dir", "reports_dir"):
            if key in clean:
                clean[key] = Path(clean[key]).expanduser().resolve()  # type: ignore[arg-type]
        return replace(self, **clean)  # type: ignore[arg-type]

    def ensure_dirs(self) -> Settings:
        """Create the data and reports folders (never the raw data itself)."""
        for folder in (self.raw_dir, self.interim_dir, self.processed_dir, self.reports_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        return self


def derive_project(source: str | Path) -> str:
    """The default project of a data source: a slug of the source folder's name (its
    parent's when the folder is called ``raw``) and 6 hex characters of a hash of the
    resolved path.

    Examples
    --------
    >>> derive_project("/data/Shop Exports/raw")[:13]
    'shop-exports-'
    """
    text = str(source)
    path = Path(text).expanduser().resolve() if "://" not in text else None
    name = (
        path.parent.name if path is not None and path.name == "raw" else (path or Path(text)).name
    )
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "data"
    digest = hashlib.sha256(str(path or text).encode()).hexdigest()[:6]
    return f"{slug}-{digest}"


def get_settings(
    *,
    root: str | Path | None = None,
    data_dir: str | Path | None = None,
    reports_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    artifact_root: str | None = None,
    engine_output: str | None = None,
    project: str | None = None,
) -> Settings:
    """Build the settings from defaults, the environment and explicit overrides.

    Examples
    --------
    >>> s = get_settings(root="/tmp/proj", data_dir="/tmp/other-data")
    >>> str(s.processed_dir)
    '/tmp/other-data/processed'
    """
    root_path = Path(root).expanduser().resolve() if root else find_project_root()
    env_data = os.environ.get("WORKBENCH_DATA_DIR")
    env_reports = os.environ.get("WORKBENCH_REPORTS_DIR")
    env_tracking = os.environ.get("MLFLOW_TRACKING_URI")
    data = Path(data_dir or env_data or root_path / "data").expanduser().resolve()
    reports = Path(reports_dir or env_reports or root_path / "reports").expanduser().resolve()
    tracking = tracking_uri or env_tracking or f"sqlite:///{root_path / 'mlruns' / 'mlflow.db'}"
    artifacts = artifact_root or os.environ.get("WORKBENCH_ARTIFACT_ROOT")
    if not artifacts:
        if tracking.startswith("sqlite:///"):
            db_parent = Path(tracking.removeprefix("sqlite:///")).parent
            artifacts = str(db_parent / "artifacts")
        else:
            artifacts = str(root_path / "mlruns" / "artifacts")
    return Settings(
        root=root_path,
        data_dir=data,
        reports_dir=reports,
        tracking_uri=tracking,
        artifact_root=artifacts,
        engine_output=engine_output or os.environ.get("WORKBENCH_ENGINE_DIR", ""),
        project=project or os.environ.get("WORKBENCH_PROJECT", ""),
    )
