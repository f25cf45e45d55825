"""Read a user's data into the canonical tables.

A source is a folder of Parquet or CSV files named after the tables
(``orders.parquet``, ``customers.csv`` …), a DuckDB database file holding tables
of those names, or either of these plus a small YAML mapping file that names the
user's files, tables and columns. The loader:

* renames columns onto the canonical names (mapping file, or the canonical names as they are);
* turns ids into strings, timestamps into UTC, numbers into floats and flags into booleans;
* fails with one message naming the file, table, column, what was expected and a few
  offending values when a required column is missing, a file is unreadable, or values
  cannot be read as the expected type;
* applies a few documented repairs and records each one (see :class:`Repair`):
  a missing ``status`` defaults to ``completed``; order lines that carry the customer
  and date become an ``orders`` table when there is none; ``customers`` is derived from
  ``orders`` when absent; common synonyms of statuses and event types are normalised.

Row-level problems (bad e-mails, orphans, duplicates …) are the audit's job; the loader
keeps every row.

Mapping file (``mapping.yml`` in the data folder is picked up automatically)::

    timezone: Europe/London        # zone of timestamps without one (default UTC)
    tables:
      orders:
        file: online_retail.csv    # file in the data folder (or `table:` in a DuckDB file)
        csv: {sep: ";", encoding: latin-1, decimal: ","}
        dayfirst: true             # 01/02/2024 is 1 February
        columns:                   # canonical name: your column name
          order_id: Invoice
          customer_id: Customer ID
          ordered_at: InvoiceDate
        values:                    # canonical column: {your value: canonical value}
          status: {C: cancelled}
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from workbench.schema import (
    EMAIL_EVENT_TYPES,
    ORDER_STATUSES,
    REQUIRED_TABLES,
    TABLES,
    TIMESTAMP_DTYPE,
    WEB_EVENT_TYPES,
    empty_table,
    table_spec,
)

__all__ = [
    "LoadError",
    "Repair",
    "SourceInfo",
    "LoadedData",
    "load_tables",
    "load_mapping",
    "find_table_files",
    "file_digest",
    "MAPPING_FILE_NAMES",
]

log = logging.getLogger(__name__)

MAPPING_FILE_NAMES = ("mapping.yml", "mapping.yaml")
_EXTENSIONS = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".txt")
_DUCKDB_EXTENSIONS = (".duckdb", ".ddb", ".db")
_EXAMPLES = 5

_SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    ("orders", "status"): {
        **{
            v: "completed"
            for v in (
                "complete",
                "completed",
                "delivered",
                "shipped",
                "paid",
                "invoiced",
                "fulfilled",
                "closed",
                "success",
                "ok",
                "approved",
            )
        },
        **{v: "cancelled" for v in ("cancelled", "canceled", "cancel", "void", "voided")},
        **{v: "returned" for v in ("returned", "return", "refunded", "refund")},
    },
    ("email_events", "event_type"): {
        **{v: "sent" for v in ("sent", "send", "delivered", "delivery")},
        **{v: "open" for v in ("open", "opened", "opens")},
        **{v: "click" for v in ("click", "clicked", "clicks")},
        **{v: "bounce" for v in ("bounce", "bounced", "hard_bounce", "soft_bounce")},
        **{v: "unsubscribe" for v in ("unsubscribe", "unsubscribed", "optout", "opt_out")},
    },
    ("web_events", "event_type"): {
        **{v: "page_view" for v in ("page_view", "pageview", "view", "page")},
        **{v: "product_view" for v in ("product_view", "view_item", "productview", "detail")},
        **{v: "add_to_cart" for v in ("add_to_cart", "addtocart", "cart", "add_cart")},
        **{v: "checkout" for v in ("checkout", "begin_checkout")},
        **{v: "purchase" for v in ("purchase", "transaction", "order")},
    },
}
_TRUE = {"true", "t", "yes", "y", "1", "1.0", "opt-in", "opted_in", "subscribed"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "opt-out", "opted_out", "unsubscribed"}
# Columns a source may map beyond the canonical ones: line-level exports carry the order's
# customer, date and status on every line (they become an orders table), and country,
# product name and category (they become customer and product attributes).
_EXTRA_COLUMNS = {
    "order_items": ("customer_id", "ordered_at", "status", "country", "name", "category"),
    "orders": ("country",),
}
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


class LoadError(ValueError):
    """A source cannot be read as the canonical tables; the message says where and why."""


@dataclass(frozen=True)
class Repair:
    """A change the loader made to the data, counted so nothing changes silently."""

    table: str
    column: str | None
    action: str
    rows: int

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.action} ({self.rows:,} rows)"


@dataclass(frozen=True)
class SourceInfo:
    """Where a canonical table came from."""

    table: str
    path: str
    format: str
    rows: int
    digest: str
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source column


@dataclass
class LoadedData:
    """The canonical tables of one source, with where they came from and what was repaired."""

    tables: dict[str, pd.DataFrame]
    sources: dict[str, SourceInfo]
    repairs: list[Repair]
    source: str

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def digests(self) -> dict[str, str]:
        """Table -> digest of the file it was read from."""
        return {name: info.digest for name, info in self.sources.items()}

    def summary(self) -> pd.DataFrame:
        """One row per canonical table: rows, columns, source file and format."""
        rows = []
        for name in TABLES:
            info = self.sources.get(name)
            frame = self.tables.get(name)
            rows.append(
                {
                    "table": name,
                    "present": frame is not None,
                    "rows": 0 if frame is None else len(frame),
                    "source": None if info is None else Path(info.path).name,
                    "format": None if info is None else info.format,
                }
            )
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------- entry point


def load_tables(
    source: str | Path,
    *,
    mapping: str | Path | dict[str, Any] | None = None,
    tables: list[str] | tuple[str, ...] | None = None,
    derive: bool = True,
) -> LoadedData:
    """Load the canonical tables from a folder or a DuckDB file.

    Parameters
    ----------
    source : str or Path
        A folder of ``<table>.parquet|csv`` files, or a DuckDB database file.
    mapping : path, dict or None
        A mapping (see the module docstring). Default: ``mapping.yml`` in the folder, if any.
    tables : list of str, optional
        Only these tables (default: every canonical table found).
    derive : bool
        Derive ``orders`` from order lines and ``customers`` from ``orders`` when missing.

    Returns
    -------
    LoadedData
        ``tables`` holds only the tables found (optional ones may be absent).

    Raises
    ------
    LoadError
        Missing source or required table/column, unreadable file, values of the wrong type.

    Examples
    --------
    >>> data = load_tables("data/raw")                        # doctest: +SKIP
    >>> data["orders"].dtypes["ordered_at"]                   # doctest: +SKIP
    datetime64[us, UTC]
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise LoadError(f"data source {str(source)!r} does not exist")
    spec_map = _resolve_mapping(source, mapping)
    wanted = list(tables) if tables else list(TABLES)
    for name in wanted:
        table_spec(name)  # unknown names fail early with the list of canonical tables
    timezone = spec_map.get("timezone", "UTC")

    raw = _read_sources(source, spec_map, wanted)
    loaded: dict[str, pd.DataFrame] = {}
    infos: dict[str, SourceInfo] = {}
    repairs: list[Repair] = []
    for name, (frame, path, fmt) in raw.items():
        table_map = spec_map.get("tables", {}).get(name, {}) or {}
        renamed, used = _rename(frame, name, table_map, path)
        coerced = _coerce(renamed, name, path, table_map, timezone, repairs)
        loaded[name] = coerced
        infos[name] = SourceInfo(name, str(path), fmt, len(coerced), file_digest(path), used)
        _release_arrow_memory()

    if derive:
        _derive_missing(loaded, infos, repairs, wanted)
    missing = [t for t in REQUIRED_TABLES if t in wanted and t not in loaded]
    if derive and "orders" in missing and "customers" in missing:
        missing.remove("customers")  # it would be derived from orders
    if missing:
        found = ", ".join(sorted(loaded)) or "none"
        raise LoadError(
            f"{source}: required table(s) {', '.join(missing)} not found; expected files named "
            f"<table>.parquet or <table>.csv (canonical tables found: {found}) or a mapping "
            f"file ({MAPPING_FILE_NAMES[0]}) naming them. Minimum input: an orders table with "
            f"order_id, customer_id, ordered_at, amount."
        )
    for repair in repairs:
        log.info("repair: %s", repair)
    return LoadedData(
        tables={t: loaded[t] for t in TABLES if t in loaded and t in wanted},
        sources={t: infos[t] for t in TABLES if t in infos and t in wanted},
        repairs=repairs,
        source=str(source),
    )


# --------------------------------------------------------------------------- mapping & files


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
    for name, entry in (content.get("tables") or {}).items():
        if name not in TABLES:
            raise LoadError(
                f"mapping {where}: unknown table {name!r}; canonical tables: {', '.join(TABLES)}"
            )
        entry = entry or {}
        columns = set(table_spec(name).columns) | set(_EXTRA_COLUMNS.get(name, ()))
        for canonical in entry.get("columns") or {}:
            if canonical not in columns:
                close = difflib.get_close_matches(canonical, list(columns), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise LoadError(
                    f"mapping {where}: table {name!r} has no canonical column {canonical!r}"
                    f"{hint}; its columns are: {', '.join(table_spec(name).columns)}"
                )
    return content


def _resolve_mapping(source: Path, mapping: str | Path | dict | None) -> dict[str, Any]:
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


def _read_sources(
    source: Path, spec_map: dict[str, Any], wanted: list[str]
) -> dict[str, tuple[pd.DataFrame, Path, str]]:
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
            if not path.exists():
                raise LoadError(
                    f"mapping: table {name!r} points at file {str(path)!r}, which does not exist"
                )
        elif name in files:
            path = files[name]
        else:
            continue
        out[name] = (_read_file(path, name, entry), path, _format_of(path))
    return out


def _format_of(path: Path) -> str:
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


def _read_file(path: Path, table: str, entry: dict[str, Any]) -> pd.DataFrame:
    try:
        if _format_of(path) == "parquet":
            return pd.read_parquet(path)
        return _read_csv(path, entry.get("csv") or {})
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(
            f"{path.name} (table {table!r}): the file cannot be read as "
            f"{_format_of(path)}: {type(exc).__name__}: {exc}"
        ) from exc


def _read_csv(path: Path, options: dict[str, Any]) -> pd.DataFrame:
    """Read a CSV as text, sniffing the separator and a byte-order mark."""
    compression = "gzip" if path.name.endswith(".gz") else None
    encoding = options.get("encoding")
    sep = options.get("sep")
    if encoding is None or sep is None:
        head = _head_bytes(path, compression)
        if encoding is None:
            encoding = _guess_encoding(head)
        if sep is None:
            sep = _sniff_separator(head.decode(encoding, errors="replace"), path.suffix)
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
        return max(counts, key=counts.get) if any(counts.values()) else ","


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


def _release_arrow_memory() -> None:
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


# --------------------------------------------------------------------------- columns & types


def _rename(
    frame: pd.DataFrame, table: str, entry: dict[str, Any], path: Path
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename source columns onto canonical ones; fail naming missing required columns."""
    spec = table_spec(table)
    mapping = dict(entry.get("columns") or {})
    used: dict[str, str] = {}
    renames: dict[str, str] = {}
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for canonical, source_col in mapping.items():
        if source_col not in frame.columns:
            close = difflib.get_close_matches(str(source_col), [str(c) for c in frame.columns])
            hint = f" (close: {', '.join(close)})" if close else ""
            raise LoadError(
                f"{path.name} (table {table!r}): mapped column {source_col!r} for "
                f"{canonical!r} is not in the file{hint}; columns found: "
                f"{', '.join(map(str, frame.columns))}"
            )
        renames[source_col] = canonical
        used[canonical] = str(source_col)
    for canonical in (*spec.columns, *_EXTRA_COLUMNS.get(table, ())):
        if canonical in used or canonical in frame.columns:
            continue
        if canonical in lower and lower[canonical] not in renames:  # 'Order_ID' -> order_id
            renames[lower[canonical]] = canonical
            used[canonical] = str(lower[canonical])
    out = frame.rename(columns=renames)
    for canonical in spec.columns:
        if canonical in out.columns and canonical not in used:
            used[canonical] = canonical
    missing = [c for c in spec.required if c not in out.columns]
    if table == "order_items" and "line_id" in missing:
        missing.remove("line_id")
    if missing:
        column = missing[0]
        close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=3, cutoff=0.5)
        hint = f"; similar columns in the file: {', '.join(close)}" if close else ""
        raise LoadError(
            f"{path.name} (table {table!r}): column {column!r} is missing; expected the "
            f"canonical columns {', '.join(spec.required)} or a mapping for "
            f"{'them' if len(missing) > 1 else 'it'} in {MAPPING_FILE_NAMES[0]}{hint} "
            f"(columns found: {', '.join(map(str, frame.columns))})"
        )
    return out, used


def _coerce(
    frame: pd.DataFrame,
    table: str,
    path: Path,
    entry: dict[str, Any],
    timezone: str,
    repairs: list[Repair],
) -> pd.DataFrame:
    spec = table_spec(table)
    out = frame.copy(deep=False)  # columns are replaced, never modified in place
    where = f"{path.name} (table {table!r})"
    values = entry.get("values") or {}
    extra_ts = ("ordered_at",) if table == "order_items" else ()
    extra_ids = ("customer_id",) if table == "order_items" else ()
    for column in out.columns:
        if column in spec.id_columns or column in extra_ids:
            out[column] = _to_id(out[column])
        elif column in spec.timestamp_columns or column in extra_ts:
            out[column] = _to_utc(
                out[column],
                where,
                column,
                timezone,
                entry.get("dayfirst", False),
                entry.get("timestamp_format"),
            )
        elif column in spec.numeric_columns:
            out[column] = _to_float(out[column], where, column, frame.attrs.get("decimal"))
        elif column in spec.boolean_columns:
            out[column] = _to_bool(out[column], where, column)
        elif column in spec.columns or column in _EXTRA_COLUMNS.get(table, ()):
            out[column] = _to_text(out[column])
        if column in values:
            out[column] = out[column].replace({str(k): v for k, v in values[column].items()})
    _normalise_categories(out, table, repairs)
    for column, default in spec.defaults.items():
        if column not in out.columns:
            out[column] = pd.Series(default, index=out.index, dtype="str")
            repairs.append(Repair(table, column, f"column absent; set to {default!r}", len(out)))
    for column, _dtype in spec.columns.items():
        if column not in out.columns:
            out[column] = empty_table(table)[column].reindex(out.index)
    ordered = list(spec.columns) + [c for c in out.columns if c not in spec.columns]
    return out[ordered]


def _examples(values: pd.Series) -> str:
    shown = list(dict.fromkeys(values.astype(str).tolist()))[:_EXAMPLES]
    return ", ".join(repr(v) for v in shown)


def _to_text(series: pd.Series) -> pd.Series:
    if series.dtype == "str" or series.dtype == object:
        text = series.astype("str").str.strip()
    else:
        text = series.astype("str")
    return text.mask(text == "", np.nan)


def _to_id(series: pd.Series) -> pd.Series:
    """Ids become stripped strings; integral floats lose their '.0' (17850.0 -> '17850')."""
    if pd.api.types.is_float_dtype(series):
        integral = series.dropna()
        if (integral == np.floor(integral)).all():
            series = series.astype("Int64")
    text = series.astype("str").str.strip()
    if text.str.endswith(".0").any():  # ids exported through a float column (CSV, Excel)
        text = text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    return text.mask(text.isin(["", "nan", "NaN", "None", "<NA>"]), np.nan)


def _to_float(series: pd.Series, where: str, column: str, decimal: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        raise LoadError(f"{where}: column {column!r} holds true/false values; expected numbers")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    text = series.astype("str").str.strip()
    text = text.str.replace(r"^[$€£¥]\s*|\s*[$€£¥]$", "", regex=True)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(r"(?<=\d),(?=\d{3}(\D|$))", "", regex=True)
    blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "null", "none", "na"])
    numbers = pd.to_numeric(text.mask(blank, np.nan), errors="coerce")
    bad = numbers.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected numbers; {int(bad.sum()):,} value(s) are not, "
            f"e.g. {_examples(series[bad])}"
        )
    return numbers.astype("float64")


def _to_bool(series: pd.Series, where: str, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    if pd.api.types.is_numeric_dtype(series):
        bad = series.notna() & ~series.isin([0, 1])
        if bad.any():
            raise LoadError(
                f"{where}: column {column!r} expected true/false (or 1/0); got e.g. "
                f"{_examples(series[bad])}"
            )
        return series.astype("boolean")
    text = series.astype("str").str.strip().str.lower()
    blank = text.isna() | (text == "")
    result = pd.Series(pd.NA, index=series.index, dtype="boolean")
    result[text.isin(_TRUE)] = True
    result[text.isin(_FALSE)] = False
    bad = result.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected true/false, yes/no or 1/0; "
            f"{int(bad.sum()):,} value(s) are not, e.g. {_examples(series[bad])}"
        )
    return result


def _to_utc(
    series: pd.Series,
    where: str,
    column: str,
    timezone: str,
    dayfirst: bool,
    fmt: str | None,
) -> pd.Series:
    """Parse timestamps; naive ones are in ``timezone``; all end up UTC with unit us."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_datetime64_dtype(series):
        return _localize(series, timezone).astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_numeric_dtype(series):
        raise LoadError(
            f"{where}: column {column!r} expected timestamps (text or datetime); got numbers, "
            f"e.g. {_examples(series.dropna())}"
        )
    text = series.astype("str").str.strip()
    blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "nat", "null", "none"])
    text = text.mask(blank, np.nan)
    has_tz = text.str.contains(_TZ_SUFFIX, na=False)
    result = pd.Series(pd.NaT, index=series.index, dtype=TIMESTAMP_DTYPE)
    kwargs: dict[str, Any] = {"errors": "coerce"}
    if fmt:
        kwargs["format"] = fmt
    else:
        kwargs["format"] = "mixed"
        kwargs["dayfirst"] = dayfirst
    if has_tz.any():
        result[has_tz] = pd.to_datetime(text[has_tz], utc=True, **kwargs).astype(TIMESTAMP_DTYPE)
    naive = ~has_tz & ~blank
    if naive.any():
        parsed = pd.to_datetime(text[naive], **kwargs)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC")
        else:
            parsed = _localize(parsed, timezone)
        result[naive] = parsed.astype(TIMESTAMP_DTYPE)
    bad = result.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected dates/timestamps; {int(bad.sum()):,} value(s) "
            f"cannot be parsed, e.g. {_examples(series[bad])} (set `timestamp_format` or "
            f"`dayfirst` for this table in {MAPPING_FILE_NAMES[0]})"
        )
    return result


def _localize(series: pd.Series, timezone: str) -> pd.Series:
    return series.dt.tz_localize(
        timezone, ambiguous="NaT", nonexistent="shift_forward"
    ).dt.tz_convert("UTC")


def _normalise_categories(frame: pd.DataFrame, table: str, repairs: list[Repair]) -> None:
    for (tname, column), synonyms in _SYNONYMS.items():
        if tname != table or column not in frame.columns:
            continue
        # work on the distinct values: event tables have tens of millions of rows, few types
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        distinct = pd.Series(uniques, dtype="str")
        key = distinct.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)
        target = key.map(synonyms).fillna(distinct)
        moved = (target != distinct).to_numpy()
        if not moved.any():
            continue
        changed = int(np.isin(codes, np.flatnonzero(moved)).sum())
        values = target.to_numpy(dtype=object)
        normalised = np.where(codes >= 0, values[np.maximum(codes, 0)], None)
        frame[column] = pd.Series(normalised, index=frame.index, dtype="str")
        allowed = {
            "status": ORDER_STATUSES,
            "event_type": EMAIL_EVENT_TYPES if table == "email_events" else WEB_EVENT_TYPES,
        }[column]
        repairs.append(
            Repair(table, column, f"normalised synonyms onto {', '.join(allowed)}", changed)
        )


# --------------------------------------------------------------------------- derived tables


def _derive_missing(
    loaded: dict[str, pd.DataFrame],
    infos: dict[str, SourceInfo],
    repairs: list[Repair],
    wanted: list[str],
) -> None:
    if "orders" not in loaded and "order_items" in loaded and "orders" in wanted:
        items = loaded["order_items"]
        if {"customer_id", "ordered_at"} <= set(items.columns):
            loaded["orders"] = _derive_orders_from_items(items)
            infos["orders"] = _derived_info("orders", infos["order_items"], len(loaded["orders"]))
            repairs.append(
                Repair(
                    "orders",
                    None,
                    "derived from order lines (amount = Σ quantity × unit_price; "
                    "status cancelled when every line is negative)",
                    len(loaded["orders"]),
                )
            )
            if "products" not in loaded and "products" in wanted:
                loaded["products"] = _derive_products_from_items(items)
                infos["products"] = _derived_info(
                    "products", infos["order_items"], len(loaded["products"])
                )
                repairs.append(
                    Repair("products", None, "derived from order lines", len(loaded["products"]))
                )
            keep = [c for c in table_spec("order_items").columns]
            loaded["order_items"] = items[keep]
    if "customers" not in loaded and "orders" in loaded and "customers" in wanted:
        loaded["customers"] = _derive_customers(loaded["orders"])
        infos["customers"] = _derived_info("customers", infos["orders"], len(loaded["customers"]))
        repairs.append(
            Repair(
                "customers",
                None,
                "derived from orders (one row per customer_id; profile columns unknown)",
                len(loaded["customers"]),
            )
        )


def _derived_info(table: str, parent: SourceInfo, rows: int) -> SourceInfo:
    return SourceInfo(table, parent.path, f"derived from {parent.table}", rows, parent.digest)


def _derive_orders_from_items(items: pd.DataFrame) -> pd.DataFrame:
    line_amount = items["quantity"] * items["unit_price"]
    work = items.assign(_amount=line_amount, _neg=items["quantity"] < 0)
    grouped = work.groupby("order_id", sort=True, dropna=True)
    orders = pd.DataFrame(
        {
            "customer_id": grouped["customer_id"].first(),
            "ordered_at": grouped["ordered_at"].min(),
            "amount": grouped["_amount"].sum().round(2),
        }
    )
    all_negative = grouped["_neg"].all()
    if "status" in items.columns:
        orders["status"] = grouped["status"].first()
        orders["status"] = orders["status"].fillna("completed")
    else:
        orders["status"] = np.where(all_negative, "cancelled", "completed")
    if "country" in items.columns:
        orders["country"] = grouped["country"].first()
    orders = orders.reset_index()
    orders["status"] = orders["status"].astype("str")
    base = empty_table("orders")
    for column in base.columns:
        if column not in orders.columns:
            orders[column] = base[column].reindex(orders.index)
    extras = [c for c in orders.columns if c not in base.columns]
    return orders[list(base.columns) + extras]


def _derive_products_from_items(items: pd.DataFrame) -> pd.DataFrame:
    grouped = items.groupby("product_id", sort=True)
    products = pd.DataFrame({"price": grouped["unit_price"].median()})
    for column in ("name", "category"):
        if column in items.columns:
            products[column] = grouped[column].agg(_most_frequent)
    products = products.reset_index()
    base = empty_table("products")
    for column in base.columns:
        if column not in products.columns:
            products[column] = base[column].reindex(products.index)
    return products[list(base.columns)]


def _most_frequent(values: pd.Series) -> object:
    counts = values.dropna().value_counts()
    return counts.index[0] if len(counts) else np.nan


def _derive_customers(orders: pd.DataFrame) -> pd.DataFrame:
    ids = orders["customer_id"].dropna().drop_duplicates().sort_values().reset_index(drop=True)
    customers = empty_table("customers").reindex(range(len(ids)))
    customers["customer_id"] = ids.astype("str").to_numpy()
    if "country" in orders.columns:
        country = (
            orders.dropna(subset=["customer_id"])
            .groupby("customer_id")["country"]
            .agg(_most_frequent)
        )
        customers["country"] = customers["customer_id"].map(country).astype("str")
    return customers
