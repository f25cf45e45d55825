"""Finding and reading a source's files: the mapping file, Parquet, CSV and DuckDB.

:func:`read_sources` returns each wanted table's raw frame (source column names and
types, nothing coerced yet) with its path and format; :func:`load_mapping` reads and
checks a mapping file; :func:`find_table_files` names the table files of a folder;
:func:`file_digest` fingerprints a file.

Every file read must lie inside the data folder once symbolic links are resolved
(:func:`check_inside`): a mapping that names ``../../secret.csv``, an absolute path or a
link pointing out of the folder is refused unless the user allows it
(:func:`outside_allowed`: ``allow_outside_data: true`` in the mapping, the loader's
``allow_outside`` argument, or ``$WORKBENCH_ALLOW_OUTSIDE_DATA=1``, which
``workbench run --allow-outside-data`` sets). A file whose header repeats a column name
is refused too (pandas would silently read the second ``amount`` as ``amount.1``).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import logging
import os
import zoneinfo
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml

from workbench.loading.model import (
    AMBIGUOUS_TIMES,
    ENV_ALLOW_OUTSIDE,
    EXTRA_COLUMNS,
    MAPPING_FILE_NAMES,
    LoadError,
)
from workbench.schema import TABLES, table_spec

__all__ = [
    "check_inside",
    "duplicate_names",
    "file_digest",
    "find_table_files",
    "load_mapping",
    "outside_allowed",
    "read_sources",
    "release_arrow_memory",
    "resolve_mapping",
]

log = logging.getLogger(__name__)

_EXTENSIONS = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".txt")
_DUCKDB_EXTENSIONS = (".duckdb", ".ddb", ".db")


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Read and check a mapping file; unknown tables or canonical columns are errors."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LoadError(f"mapping file {path}: cannot be read ({exc})") from exc
    return _check_mapping(content, str(path))


def _check_mapping(content: Any, where: str) -> dict[str, Any]:
    if not isinstance(content, dict):
        raise LoadError(f"mapping {where}: expected a YAML mapping with a 'tables:' section")
    timezone = content.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise LoadError(
            f"mapping {where}: timezone {timezone!r} is not a time zone name; expected an IANA "
            "name such as Europe/London or UTC"
        ) from None
    ambiguous = content.get("ambiguous", AMBIGUOUS_TIMES[0])
    if ambiguous not in AMBIGUOUS_TIMES:
        raise LoadError(
            f"mapping {where}: ambiguous must be one of {', '.join(AMBIGUOUS_TIMES)} (how a local "
            f"time that occurs twice when the clock goes back is read), got {ambiguous!r}"
        )
    allow = content.get("allow_outside_data", False)
    if not isinstance(allow, bool):
        raise LoadError(f"mapping {where}: allow_outside_data must be true or false, got {allow!r}")
    for name, entry in (content.get("tables") or {}).items():
        if name not in TABLES:
            raise LoadError(
                f"mapping {where}: unknown table {name!r}; canonical tables: {', '.join(TABLES)}"
            )
        entry = entry or {}
        columns = set(table_spec(name).columns) | set(EXTRA_COLUMNS.get(name, ()))
        for canonical in entry.get("columns") or {}:
            if canonical not in columns:
                close = difflib.get_close_matches(canonical, list(columns), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise LoadError(
                    f"mapping {where}: table {name!r} has no canonical column {canonical!r}"
                    f"{hint}; its columns are: {', '.join(table_spec(name).columns)}"
                )
    return content


def resolve_mapping(source: Path, mapping: str | Path | dict | None) -> dict[str, Any]:
    if isinstance(mapping, dict):
        return _check_mapping(mapping, "(given as a dict)")
    if mapping is not None:
        return load_mapping(mapping)
    if source.is_dir():
        for name in MAPPING_FILE_NAMES:
            if (source / name).exists():
                log.info("using mapping file %s", source / name)
                return load_mapping(source / name)
    return {}


def outside_allowed(allow_outside: bool, spec_map: dict[str, Any]) -> bool:
    """Whether files outside the data folder may be read: the caller says so
    (``allow_outside``), the mapping does (``allow_outside_data: true``), or the environment
    does (``$WORKBENCH_ALLOW_OUTSIDE_DATA`` set to 1, true or yes)."""
    env = os.environ.get(ENV_ALLOW_OUTSIDE, "").strip().lower() in ("1", "true", "yes")
    return bool(allow_outside) or spec_map.get("allow_outside_data") is True or env


def check_inside(path: Path, folder: Path, *, allowed: bool, what: str) -> Path:
    """``path`` when it lies inside ``folder`` once symbolic links are resolved (or when
    ``allowed``); a :class:`LoadError` naming both otherwise.

    Examples
    --------
    >>> check_inside(Path("/data/raw/../secret.csv"), Path("/data/raw"), allowed=False,
    ...              what="table 'orders'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    workbench.loading.model.LoadError: table 'orders': file /data/raw/../secret.csv (resolved: ...
    """
    if allowed:
        return path
    resolved, root = path.resolve(), folder.resolve()
    if resolved == root or resolved.is_relative_to(root):
        return path
    shown = f"{path}" if resolved == path else f"{path} (resolved: {resolved})"
    raise LoadError(
        f"{what}: file {shown} is outside the data folder {root}; a source may name files only "
        f"inside its data folder. Move the file there, or allow it with `allow_outside_data: "
        f"true` in {MAPPING_FILE_NAMES[0]} or `workbench run --allow-outside-data`"
    )


def duplicate_names(names: list[Any]) -> list[str]:
    """Column names that occur more than once (after trimming blanks and a byte-order mark).

    Examples
    --------
    >>> duplicate_names(["order_id", "amount", " amount", "Amount"])
    ['amount']
    """
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        key = str(name).strip().lstrip("\ufeff")
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return repeated


def find_table_files(folder: str | Path) -> dict[str, Path]:
    """Canonical table name -> file in ``folder`` (Parquet preferred over CSV)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for name in TABLES:
        for ext in _EXTENSIONS:
            candidate = folder / f"{name}{ext}"
            if candidate.exists():
                found[name] = candidate
                break
    return found


def read_sources(
    source: Path, spec_map: dict[str, Any], wanted: list[str], *, allow_outside: bool = False
) -> dict[str, tuple[pd.DataFrame, Path, str]]:
    """Each wanted table's raw frame, path and format (files outside ``source`` refused
    unless ``allow_outside``: see :func:`check_inside`)."""
    mapped = spec_map.get("tables", {}) or {}
    out: dict[str, tuple[pd.DataFrame, Path, str]] = {}
    if source.is_file() and source.suffix.lower() in _DUCKDB_EXTENSIONS:
        return _read_duckdb(source, mapped, wanted)
    if source.is_file():
        raise LoadError(
            f"{source}: expected a folder of <table>.parquet/.csv files or a DuckDB database "
            f"file ({', '.join(_DUCKDB_EXTENSIONS)})"
        )
    files = find_table_files(source)
    for name in wanted:
        entry = mapped.get(name) or {}
        if entry.get("file"):
            path = Path(entry["file"]).expanduser()
            path = path if path.is_absolute() else source / path
            check_inside(path, source, allowed=allow_outside, what=f"mapping: table {name!r}")
            if not path.exists():
                raise LoadError(
                    f"mapping: table {name!r} points at file {str(path)!r}, which does not exist"
                )
        elif name in files:
            path = check_inside(files[name], source, allowed=allow_outside, what=f"table {name!r}")
        else:
            continue
        out[name] = (_read_file(path, name, entry), path, _format_of(path))
    return out


def _format_of(path: Path) -> str:
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


def _read_file(path: Path, table: str, entry: dict[str, Any]) -> pd.DataFrame:
    try:
        if _format_of(path) == "parquet":
            _refuse_duplicates(pq.read_schema(path).names, path, table)
            return pd.read_parquet(path)
        return _read_csv(path, table, entry.get("csv") or {})
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(
            f"{path.name} (table {table!r}): the file cannot be read as "
            f"{_format_of(path)}: {type(exc).__name__}: {exc}"
        ) from exc


def _refuse_duplicates(names: list[Any], path: Path, table: str) -> None:
    repeated = duplicate_names(names)
    if repeated:
        raise LoadError(
            f"{path.name} (table {table!r}): column name(s) {', '.join(map(repr, repeated))} "
            "appear more than once in the header; rename or drop the repeated column(s) so "
            "each name is read once"
        )


def _read_csv(path: Path, table: str, options: dict[str, Any]) -> pd.DataFrame:
    """Read a CSV as text, sniffing the separator and a byte-order mark; a header that
    repeats a column name is refused."""
    compression = "gzip" if path.name.endswith(".gz") else None
    encoding = options.get("encoding")
    sep = options.get("sep")
    if encoding is None or sep is None:
        head = _head_bytes(path, compression)
        if encoding is None:
            encoding = _guess_encoding(head)
        if sep is None:
            sep = _sniff_separator(head.decode(encoding, errors="replace"), path.suffix)
    header = pd.read_csv(
        path, sep=sep, header=None, nrows=1, dtype=str, encoding=encoding,
        keep_default_na=False, compression=compression,
    )  # fmt: skip
    _refuse_duplicates(header.iloc[0].tolist() if len(header) else [], path, table)
    frame = pd.read_csv(
        path,
        sep=sep,
        dtype=str,
        encoding=encoding,
        keep_default_na=False,
        na_values=[""],
        compression=compression,
        skipinitialspace=False,
    )
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    if options.get("decimal") and options["decimal"] != ".":
        frame.attrs["decimal"] = options["decimal"]
    return frame


def _head_bytes(path: Path, compression: str | None) -> bytes:
    if compression == "gzip":
        import gzip

        with gzip.open(path, "rb") as fh:
            return fh.read(65536)
    with path.open("rb") as fh:
        return fh.read(65536)


def _guess_encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multi-byte character cut by the 64 KB window
            return "utf-8"
        return "latin-1"


def _sniff_separator(text: str, suffix: str) -> str:
    if suffix.lower() == ".tsv":
        return "\t"
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_duckdb(
    path: Path, mapped: dict[str, Any], wanted: list[str]
) -> dict[str, tuple[pd.DataFrame, Path, str]]:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception as exc:
        raise LoadError(f"{path}: cannot be opened as a DuckDB database: {exc}") from exc
    try:
        existing = {
            row[0]
            for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        out = {}
        for name in wanted:
            table = (mapped.get(name) or {}).get("table", name)
            if table not in existing:
                if (mapped.get(name) or {}).get("table"):
                    raise LoadError(
                        f"{path.name}: mapping names table {table!r} for {name!r}, but the "
                        f"database holds only: {', '.join(sorted(existing)) or 'no tables'}"
                    )
                continue
            out[name] = (con.table(table).df(), path, "duckdb")
        return out
    finally:
        con.close()


def release_arrow_memory() -> None:
    """Arrow keeps freed buffers for reuse; hand them back after each large table."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # older pyarrow: nothing to release
        pass


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (``sha256:<hex>``), streamed."""
    sha = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            sha.update(block)
    return f"sha256:{sha.hexdigest()}"
