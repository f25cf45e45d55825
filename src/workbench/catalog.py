"""Everything a stage reads or writes: its name, its place and its stamp.

The idea of Kedro's DataCatalog without Kedro. Each output of a stage is an
:class:`Entry` — a name (``customer_features``), the stage that writes it and its place
in the data tree (``processed/customer_features.parquet``) — and every copy of it
carries a :class:`Stamp`: the cut-off ``as_of``, the :class:`SourceFingerprint` of the
data it was made from, the producing stage, the pipeline run id and the code version.

One writer (:func:`write_table` for Parquet tables, :func:`write_folder_stamp` for a
folder of tables such as the audit's clean tables) and one reader (:func:`read_table`,
:func:`read_stamp`). A reader can be asked to check the stamp against the current run
(:class:`Expect`): an output made from another source or as of another date is then
refused with a :class:`StaleOutputError` naming both.

Parquet tables keep their stamp in the file's schema metadata (key ``workbench``), so a
copy beside a report or in an MLflow run says where it came from too; folders keep it in
``_stamp.json``, written last so a reader never sees a half-written folder as complete.

Examples
--------
>>> import pandas as pd
>>> from workbench.settings import get_settings
>>> settings = get_settings(root="/tmp/catalog-example")
>>> source = SourceFingerprint("/data/shop", "0" * 64)
>>> stamp = Stamp("features", pd.Timestamp("2026-06-30", tz="UTC"), source)
>>> path = write_table(settings, "customer_features", pd.DataFrame({"customer_id": ["C1"]}), stamp)
>>> frame, found = read_table(settings, "customer_features", expect=Expect(source, stamp.as_of))
>>> found.stage, str(found.as_of.date()), len(frame)
('features', '2026-06-30', 1)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench import __version__
from workbench.schema import parse_as_of
from workbench.settings import Settings

__all__ = [
    "ENTRIES",
    "Entry",
    "Expect",
    "FOLDER_STAMP",
    "HISTORY",
    "METADATA_KEY",
    "SourceFingerprint",
    "Stamp",
    "StaleOutputError",
    "MissingOutputError",
    "code_version",
    "entry",
    "fingerprint",
    "history",
    "history_location",
    "location",
    "read_folder_stamp",
    "read_stamp",
    "read_table",
    "remove_folder_stamp",
    "stamp_of_file",
    "uplift_column",
    "write_folder_stamp",
    "write_table",
]

log = logging.getLogger(__name__)

#: Key of the stamp in a Parquet file's schema metadata.
METADATA_KEY = b"workbench"
#: The stamp of a folder of tables, written last.
FOLDER_STAMP = "_stamp.json"


@dataclass(frozen=True)
class Entry:
    """One thing a stage writes.

    Attributes
    ----------
    name : str
        Catalog name (``customer_features``).
    stage : str
        The stage that writes it.
    path : str
        Place inside the data tree (``settings.data_dir``), ``/``-separated.
    kind : str
        ``table`` (one Parquet file, stamped in its metadata) or ``folder`` (a folder of
        Parquet tables, stamped by ``_stamp.json``).
    description : str
        What it holds, for people.
    """

    name: str
    stage: str
    path: str
    kind: str
    description: str


#: Every output of every stage, in pipeline order.
ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("clean", "audit", "interim/clean", "folder",
              "validated, deduplicated canonical tables, one <table>.parquet each"),
        Entry("quarantine", "audit", "interim/quarantine", "folder",
              "rows that broke an error rule, with rule, severity and reason"),
        Entry("after_as_of", "audit", "interim/after_as_of", "folder",
              "rows at or after as_of (valid, not yet audited), set aside for later runs"),
        Entry("merge_map", "audit", "interim/merge_map.parquet", "table",
              "duplicate customer ids and the id each was merged into"),
        Entry("customer_features", "features", "processed/customer_features.parquet", "table",
              "one row per customer as of a date: RFM, segments, engagement, affinity"),
        Entry("segments", "segmentation", "processed/segments.parquet", "table",
              "each customer's cluster and cluster name"),
        Entry("churn_scores", "churn", "processed/churn_scores.parquet", "table",
              "each customer's churn probability, risk band and reasons"),
        Entry("clv", "clv", "processed/clv.parquet", "table",
              "each customer's P(alive), expected purchases and lifetime value"),
        Entry("recommendations", "recommendations", "processed/recommendations.parquet",
              "table", "top products per customer with a score and a reason"),
        Entry("uplift_scores", "uplift", "processed/uplift_scores.parquet", "table",
              "expected uplift per treatment arm and the best arm per customer"),
        Entry("targeting", "targeting", "processed/targeting.parquet", "table",
              "send lists: customer, audience, priority, send hour, control flag, content"),
        Entry("table_profile", "monitoring", "processed/table_profile.parquet", "table",
              "rows and missing values of every column of every input table before as_of"),
    )
}  # fmt: skip

#: Tables of which every write also keeps a copy per project and ``as_of`` under
#: ``history/`` (:func:`history_location`): the catalog place holds the latest run only,
#: and monitoring compares a run with earlier ones (drift against the previous run,
#: realised performance of scores whose outcome window has ended).
HISTORY = ("customer_features", "segments", "churn_scores", "clv", "table_profile")


def uplift_column(arm: str) -> str:
    """The column of ``uplift_scores`` that holds an arm's uplift: ``uplift_`` plus the arm
    in lower case, non-alphanumerics replaced by ``_`` (the uplift stage writes it, the
    targeting stage finds ``best_arm``'s column with it).

    Examples
    --------
    >>> uplift_column("Womens E-Mail")
    'uplift_womens_e_mail'
    """
    slug = re.sub(r"[^0-9a-z]+", "_", str(arm).casefold()).strip("_")
    return f"uplift_{slug or 'arm'}"


def entry(name: str) -> Entry:
    """The catalog entry called ``name``; unknown names list the known ones."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise KeyError(f"catalog: no entry {name!r}; entries are: {', '.join(ENTRIES)}") from None


def location(settings: Settings, name: str) -> Path:
    """Where entry ``name`` lives in the data tree of ``settings``."""
    return settings.data_dir.joinpath(*entry(name).path.split("/"))


def history_location(settings: Settings, name: str, as_of: pd.Timestamp) -> Path:
    """Where the copy of table ``name`` made as of ``as_of`` is kept for the settings'
    project: ``<data>/history/<project>/<name>/<as_of>.parquet`` (see :data:`HISTORY`).

    Examples
    --------
    >>> from workbench.settings import get_settings
    >>> s = get_settings(root="/tmp/p", data_dir="/tmp/p/data", project="shop")
    >>> history_location(s, "churn_scores", parse_as_of("2026-03-31")).as_posix()
    '/tmp/p/data/history/shop/churn_scores/2026-03-31.parquet'
    """
    if name not in HISTORY:
        raise ValueError(
            f"catalog: {name!r} keeps no history; tables with history: {', '.join(HISTORY)}"
        )
    return settings.data_dir / "history" / settings.project / name / f"{as_of.date()}.parquet"


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class SourceFingerprint:
    """Which data an output was made from.

    Attributes
    ----------
    source : str
        The resolved path of the source folder or DuckDB file, or its URI.
    digest : str
        SHA-256 over the source's files — name, size and modification time of every
        table file, mapping file and file a mapping names — so a changed, added or
        removed file changes it without reading the data. Empty for a remote URI.
    """

    source: str
    digest: str

    def same_as(self, other: SourceFingerprint) -> bool:
        """Same place and, when both know it, the same files."""
        if self.source != other.source:
            return False
        return not (self.digest and other.digest) or self.digest == other.digest

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "digest": self.digest}


def fingerprint(source: str | Path) -> SourceFingerprint:
    """The :class:`SourceFingerprint` of a folder, a DuckDB file or a URI.

    Examples
    --------
    >>> fingerprint("s3a://lake/raw")
    SourceFingerprint(source='s3a://lake/raw', digest='')
    """
    text = str(source)
    if "://" in text and not text.startswith("file://"):
        return SourceFingerprint(text, "")
    path = Path(text.removeprefix("file://")).expanduser().resolve()
    files = sorted(_source_files(path), key=lambda p: p.as_posix())
    digest = hashlib.sha256()
    for file in files:
        info = file.stat()
        name = file.relative_to(path).as_posix() if path.is_dir() else file.name
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return SourceFingerprint(str(path), digest.hexdigest())


def _source_files(path: Path) -> Iterable[Path]:
    """The files whose change changes the source: top-level files, Parquet part folders."""
    if not path.exists():
        return []
    if path.is_file():
        return [path]
    found = []
    for item in path.iterdir():
        if item.is_file() and not item.name.startswith("."):
            found.append(item)
        elif item.is_dir() and item.suffix == ".parquet":
            found.extend(p for p in item.rglob("*") if p.is_file())
    return found


@lru_cache(maxsize=8)
def code_version(root: Path | None = None) -> str:
    """``<package version>`` and, in a git checkout, ``+<commit>`` (``-dirty`` when changed)."""
    version = __version__
    if root is None or not (root / ".git").exists() or not shutil.which("git"):
        return version
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return version
    return f"{version}+{commit}{'-dirty' if dirty else ''}"


@dataclass(frozen=True)
class Stamp:
    """What an output says about itself.

    Attributes
    ----------
    stage : str
        The stage that wrote it.
    as_of : pandas.Timestamp
        Its cut-off (UTC midnight).
    source : SourceFingerprint
        The data it was made from.
    run_id : str
        The pipeline run that wrote it ("" when run interactively).
    code_version : str
        :func:`code_version` of the writer.
    created : str
        When it was written (ISO 8601, UTC).
    extra : dict
        Whatever else the stage records (its parameters, a model version …).
    """

    stage: str
    as_of: pd.Timestamp
    source: SourceFingerprint
    run_id: str = ""
    code_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_extra(self, **extra: Any) -> Stamp:
        """A copy with ``extra`` added (and a fresh ``created``)."""
        return replace(
            self,
            extra={**self.extra, **extra},
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "stage": self.stage,
                "as_of": str(self.as_of.date()),
                "source": self.source.to_dict(),
                "run_id": self.run_id,
                "code_version": self.code_version,
                "created": self.created,
                "extra": dict(self.extra),
            },
            default=str,
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = "stamp") -> Stamp:
        try:
            data = json.loads(text)
            source = data["source"]
            return cls(
                stage=str(data["stage"]),
                as_of=parse_as_of(data["as_of"]),
                source=SourceFingerprint(str(source["source"]), str(source.get("digest", ""))),
                run_id=str(data.get("run_id", "")),
                code_version=str(data.get("code_version", "")),
                created=str(data.get("created", "")),
                extra=dict(data.get("extra") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: not a workbench stamp ({exc})") from exc

    def describe(self) -> str:
        """``stage features as of 2026-06-30 from /data/shop``."""
        return f"stage {self.stage} as of {self.as_of.date()} from {self.source.source}"


# --------------------------------------------------------------------------- checks


class StaleOutputError(RuntimeError):
    """An output exists but was made from another source or as of another date."""


class MissingOutputError(FileNotFoundError):
    """An output a stage needs does not exist (or carries no stamp)."""


@dataclass(frozen=True)
class Expect:
    """What the current run expects of an output it reads: its source and cut-off."""

    source: SourceFingerprint
    as_of: pd.Timestamp

    def problems(self, stamp: Stamp) -> list[str]:
        """Why ``stamp`` does not fit (empty: it does)."""
        found = []
        if stamp.source.source != self.source.source:
            found.append(
                f"it was made from {stamp.source.source}, this run reads {self.source.source}"
            )
        elif not stamp.source.same_as(self.source):
            found.append(f"{self.source.source} has changed since it was made")
        if stamp.as_of != self.as_of:
            found.append(f"it is as of {stamp.as_of.date()}, this run is as of {self.as_of.date()}")
        return found

    def check(self, stamp: Stamp, what: str) -> Stamp:
        """Return ``stamp`` when it fits, else raise :class:`StaleOutputError`."""
        problems = self.problems(stamp)
        if problems:
            raise StaleOutputError(
                f"{what} does not belong to this run: {'; '.join(problems)}. Run stage "
                f"{stamp.stage!r} for this source and date first (e.g. `workbench run --data "
                f"{self.source.source} --as-of {self.as_of.date()} --stages {stamp.stage},…`)"
            )
        return stamp


# --------------------------------------------------------------------------- tables


def write_table(
    settings: Settings,
    name: str,
    frame: pd.DataFrame,
    stamp: Stamp,
    *,
    copies: Sequence[str | Path] = (),
) -> list[Path]:
    """Write ``frame`` as entry ``name`` with ``stamp`` in its Parquet metadata.

    Parameters
    ----------
    settings : Settings
        The data tree.
    name : str
        A table entry of :data:`ENTRIES`.
    frame : pandas.DataFrame
        The table (its index is not written).
    stamp : Stamp
        Where it came from.
    copies : sequence of folders
        Folders that also get a copy under the same file name (e.g. the run's report folder).

    Returns
    -------
    list of Path
        The catalog location first, then the copies (the kept copy of a table in
        :data:`HISTORY` is not listed: see :func:`history`).
    """
    target = entry(name)
    if target.kind != "table":
        raise ValueError(
            f"catalog: {name!r} is a folder; write its tables and use write_folder_stamp"
        )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: stamp.to_json().encode()}
    )
    main = location(settings, name)
    paths = [main, *(Path(folder) / main.name for folder in copies)]
    kept = [history_location(settings, name, stamp.as_of)] if name in HISTORY else []
    for path in [*paths, *kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
    log.info("wrote %s (%s rows) — %s", main, f"{len(frame):,}", stamp.describe())
    return paths


def history(
    settings: Settings, name: str, *, source: SourceFingerprint | None = None
) -> list[tuple[Stamp, Path]]:
    """The kept copies of table ``name`` in the settings' project, oldest ``as_of`` first.

    Parameters
    ----------
    settings : Settings
    name : str
        One of :data:`HISTORY`.
    source : SourceFingerprint, optional
        Keep only copies made from this source — the same place; its files may have
        changed since (a source grows between runs), so the digest is not compared.

    Returns
    -------
    list of (Stamp, Path)
        Copies without a readable stamp are left out.
    """
    folder = history_location(settings, name, parse_as_of("2000-01-01")).parent
    found = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        stamp = stamp_of_file(path)
        if stamp is None or (source is not None and stamp.source.source != source.source):
            continue
        found.append((stamp, path))
    return sorted(found, key=lambda item: item[0].as_of)


def stamp_of_file(path: str | Path) -> Stamp | None:
    """The stamp in a Parquet file's metadata (None: no file, or not stamped)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    except (OSError, pa.ArrowException):
        return None
    if not raw:
        return None
    try:
        return Stamp.from_json(raw, where=str(path))
    except ValueError:
        return None


def read_stamp(settings: Settings, name: str) -> Stamp | None:
    """The stamp of entry ``name`` (table or folder), or None when it is absent."""
    if entry(name).kind == "folder":
        return read_folder_stamp(location(settings, name))
    return stamp_of_file(location(settings, name))


def read_table(
    settings: Settings,
    name: str,
    *,
    expect: Expect | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, Stamp]:
    """Read table entry ``name`` with its stamp, checked against ``expect`` when given.

    Raises
    ------
    MissingOutputError
        The file does not exist or has no stamp: names it and the stage that writes it.
    StaleOutputError
        ``expect`` is given and the stamp names another source or ``as_of``.
    """
    target = entry(name)
    path = location(settings, name)
    if not path.is_file():
        raise MissingOutputError(
            f"{path} does not exist: run stage {target.stage!r} first (it writes {name})"
        )
    stamp = stamp_of_file(path)
    if stamp is None:
        raise MissingOutputError(
            f"{path} carries no workbench stamp, so nothing says which data and date it is "
            f"from: run stage {target.stage!r} again to rewrite it"
        )
    if expect is not None:
        expect.check(stamp, f"{path.name} ({stamp.describe()})")
    frame = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    frame.attrs["as_of"] = stamp.as_of
    frame.attrs["path"] = str(path)
    return frame, stamp


# --------------------------------------------------------------------------- folders


def remove_folder_stamp(folder: str | Path) -> None:
    """Take a folder's stamp away before rewriting it (its tables are then not trusted)."""
    (Path(folder) / FOLDER_STAMP).unlink(missing_ok=True)


def write_folder_stamp(folder: str | Path, stamp: Stamp) -> Path:
    """Stamp a folder of tables once every table is written."""
    path = Path(folder) / FOLDER_STAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stamp.to_json())
    return path


def read_folder_stamp(folder: str | Path) -> Stamp | None:
    """A folder's stamp, or None when it has none (absent, being written, unreadable)."""
    path = Path(folder) / FOLDER_STAMP
    if not path.is_file():
        return None
    try:
        return Stamp.from_json(path.read_text(), where=str(path))
    except (OSError, ValueError):
        return None
