"""One object that owns every path and URI the workbench uses.

Nothing else in the package or the notebooks builds a path to ``data/``,
``reports/`` or ``mlruns/``: they ask :func:`get_settings`.

Precedence, lowest to highest: built-in defaults (relative to the project root),
environment variables (``WORKBENCH_ROOT``, ``WORKBENCH_DATA_DIR``,
``WORKBENCH_REPORTS_DIR``, ``MLFLOW_TRACKING_URI``, ``WORKBENCH_ENGINE_DIR``,
``WORKBENCH_PROJECT``, ``WORKBENCH_CURRENCY``), then explicit keyword arguments (what CLI flags and notebook
parameters pass).

The **project** scopes the MLflow experiments (``workbench/<project>/<stage>``) and the
registered models (``<project>.<model>``), so two data sources never share versions,
aliases or a champion gate. By default it is derived from the data source
(:func:`derive_project`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "PROJECT_PATTERN",
    "Settings",
    "derive_project",
    "find_project_root",
    "get_settings",
    "source_label",
    "validate_project",
]

_MARKERS = ("pyproject.toml", ".git")
_FILE_SUFFIXES = (".duckdb", ".ddb", ".db", ".parquet", ".csv")

#: What a project name may hold: it becomes part of registered model names
#: (``<project>.<model>``), which MLflow refuses with ``/`` or ``:`` and which must survive
#: in a ``models:/<name>@champion`` URI.
PROJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def source_label(source: str | Path) -> str:
    """A short, human name of a data source: the folder's name, its parent's when the
    folder is called ``raw``, a DuckDB file's stem, the last part of a URI.

    Examples
    --------
    >>> source_label("/srv/shop/raw"), source_label("/exports/cdnow.duckdb")
    ('shop', 'cdnow')
    >>> source_label("s3a://lake/retail/raw/")
    'retail'
    """
    text = str(source).rstrip("/")
    if "://" in text and not text.startswith("file://"):
        parts = [p for p in text.split("://", 1)[1].split("/") if p]
    else:
        parts = list(Path(text.removeprefix("file://")).expanduser().parts)
    if len(parts) > 1 and parts[-1] == "raw":
        parts = parts[:-1]
    name = parts[-1] if parts else "data"
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in _FILE_SUFFIXES else name


def derive_project(source: str | Path) -> str:
    """The default project of a data source: a slug of :func:`source_label` and 6 hex
    characters of a SHA-256 of the resolved source path (or the URI).

    Two folders with the same name get different projects; the same folder always gets
    the same one.

    Examples
    --------
    >>> derive_project("/srv/shop/raw") == derive_project("/srv/shop/raw/")
    True
    >>> derive_project("/srv/shop/raw").startswith("shop-")
    True
    """
    text = str(source).rstrip("/")
    if "://" in text and not text.startswith("file://"):
        identity = text
    else:
        identity = str(Path(text.removeprefix("file://")).expanduser().resolve())
    slug = re.sub(r"[^a-z0-9]+", "-", source_label(source).lower()).strip("-")[:40] or "data"
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:6]
    return f"{slug}-{digest}"


def validate_project(name: str) -> str:
    """Return ``name`` when it is a valid project name, else raise ``ValueError``."""
    if not PROJECT_PATTERN.match(name or ""):
        raise ValueError(
            f"project: expected 1–64 characters, letters, digits, '.', '_' or '-' and "
            f"starting with a letter or digit (it becomes part of registered model names), "
            f"got {name!r}"
        )
    return name


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
        Scope of the MLflow experiments and registered models (see the module docstring).
    currency : str
        Code shown before money amounts in reports (``EUR``; default none), from
        ``WORKBENCH_CURRENCY``.
    project_explicit : bool
        The project was given (argument or ``WORKBENCH_PROJECT``), not derived; see
        :meth:`for_source`.
    """

    root: Path
    data_dir: Path
    reports_dir: Path
    tracking_uri: str
    artifact_root: str
    engine_output: str = ""
    project: str = ""
    currency: str = ""
    project_explicit: bool = False

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
    def exports_dir(self) -> Path:
        """Send lists for e-mail platforms (targeting), outside the reports."""
        return self.processed_dir / "exports"

    @property
    def targeting_salt_file(self) -> Path:
        """The salt of targeting's pseudonymous key when ``WORKBENCH_TARGETING_SALT`` is not
        set (created on first use; keep the data tree private)."""
        return self.data_dir / ".targeting_salt"

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def mlruns_dir(self) -> Path:
        return self.root / "mlruns"

    def for_source(self, source: str | Path) -> Settings:
        """These settings for a run on ``source``: the project derived from it, unless the
        project was given explicitly (``--project``, ``WORKBENCH_PROJECT``)."""
        if self.project_explicit:
            return self
        return replace(self, project=derive_project(source))

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


def get_settings(
    *,
    root: str | Path | None = None,
    data_dir: str | Path | None = None,
    reports_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    artifact_root: str | None = None,
    engine_output: str | None = None,
    project: str | None = None,
    source: str | Path | None = None,
    currency: str | None = None,
) -> Settings:
    """Build the settings from defaults, the environment and explicit overrides.

    Parameters
    ----------
    project : str, optional
        The project (``--project``); default ``$WORKBENCH_PROJECT``, else
        :func:`derive_project` of ``source``.
    source : path or URI, optional
        The data source the run reads (``--data``), from which the default project is
        derived; default ``<data>/raw``.

    Raises
    ------
    ValueError
        The project name holds characters a registered model name cannot.

    Examples
    --------
    >>> s = get_settings(root="/tmp/proj", data_dir="/tmp/other-data", project="shop")
    >>> str(s.processed_dir), s.project
    ('/tmp/other-data/processed', 'shop')
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
    given = project or os.environ.get("WORKBENCH_PROJECT") or ""
    chosen = validate_project(given) if given else derive_project(source or data / "raw")
    return Settings(
        root=root_path,
        data_dir=data,
        reports_dir=reports,
        tracking_uri=tracking,
        artifact_root=artifacts,
        engine_output=engine_output or os.environ.get("WORKBENCH_ENGINE_DIR", ""),
        project=chosen,
        project_explicit=bool(given),
        currency=(
            currency if currency is not None else os.environ.get("WORKBENCH_CURRENCY", "")
        ).strip()[:12],
    )
