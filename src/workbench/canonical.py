"""The one place that opens canonical tables for any stage: Ibis tables on one engine.

A source is either a folder of canonical Parquet files (the audit's clean folder, or a
raw folder whose files are already canonical), read by the engine itself so that the
big tables never sit in pandas memory, or canonical pandas frames (what the loader
returns for CSV sources and mapped columns), registered with the engine, or tables
already on the engine (a URI such as ``s3a://lake/clean`` that Spark reads). Either way the
stages see the same :class:`CanonicalTables`: one Ibis table per canonical table,
restricted to the canonical columns, with the optional columns a source lacks added as
typed nulls (``orders.status`` as ``completed``, the loader's default).

The engine is an Ibis connection: DuckDB in memory by default; any backend that can
read Parquet and run window functions (``ibis.pyspark.connect(session)``, or
:func:`workbench.engines.connect`) works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.engines import connect, is_uri, local_folder, read_parquet_tables, table_path
from workbench.loading import LoadedData, LoadError, file_digest, load_tables
from workbench.schema import TABLES, table_spec

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = [
    "CanonicalTables",
    "open_tables",
    "canonical_parquet_problems",
    "manifest",
    "ibis_type",
]

log = logging.getLogger(__name__)

_IBIS_TYPES = {"str": dt.String(), "float64": dt.Float64(), "boolean": dt.Boolean()}


@dataclass
class CanonicalTables:
    """Canonical tables as Ibis expressions on one engine connection.

    Build it with :func:`open_tables`; pass it to :func:`build_features` several times
    (for example at two cut-off dates) to reuse the connection, the registered frames
    and the few cached look-ups that do not depend on ``as_of``.

    Attributes
    ----------
    con : ibis BaseBackend
        The engine (DuckDB in memory by default).
    tables : dict of str to ibis.Table
        Canonical tables present in the source, canonical columns only.
    provided : dict of str to frozenset
        Canonical columns each table really provides (the others were added as nulls).
    source : str
        Where the tables come from (folder path or ``"pandas frames"``).
    kind : str
        ``"parquet"`` (read by the engine) or ``"frames"`` (registered pandas frames).
    notes : list of str
        What was derived or defaulted while opening the source.
    """

    con: BaseBackend
    tables: dict[str, ibis.Table]
    provided: dict[str, frozenset[str]]
    source: str
    kind: str
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def has(self, table: str) -> bool:
        """True when the source has table ``table``."""
        return table in self.tables

    def execute(self, expr: ibis.Expr) -> Any:
        """Run an expression on the engine: a pandas frame, series or scalar."""
        if isinstance(expr, ibis.Table):
            return self.to_pandas(expr)
        return self.con.execute(expr)

    def to_pandas(self, expr: ibis.Table) -> pd.DataFrame:
        """Run a table expression and convert its Arrow result to pandas in bulk.

        (Ibis's own ``execute`` converts columns with missing values row by row, which
        is far slower on a million customers.)
        """
        return self.con.to_pyarrow(expr).to_pandas()

    def non_null_columns(self, table: str) -> frozenset[str]:
        """Columns of ``table`` holding at least one value (cached; one small query)."""
        key = f"non_null:{table}"
        if key not in self._cache:
            t = self.tables[table]
            cols = [c for c in t.columns if c in self.provided[table]]
            if not cols:
                self._cache[key] = frozenset()
            else:
                counts = self.execute(t.aggregate(**{c: t[c].count() for c in cols}))
                row = counts.iloc[0]
                self._cache[key] = frozenset(c for c in cols if int(row[c]) > 0)
        return self._cache[key]


def open_tables(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame] | CanonicalTables,
    *,
    con: BaseBackend | None = None,
    tables: Sequence[str] | None = None,
) -> CanonicalTables:
    """Open a source of canonical tables on an Ibis engine.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping of frames or tables, or CanonicalTables
        A folder of canonical Parquet files (read by the engine; a folder that is not
        canonical Parquet — CSV files, a mapping file, other types — is read through
        :func:`workbench.loading.load_tables` instead), a URI the engine reads
        (``s3a://lake/clean``: ``<table>.parquet`` files or folders, see
        :func:`workbench.engines.read_parquet_tables`), the loader's result, a mapping
        ``{table: frame}`` of canonical frames, a mapping ``{table: ibis.Table}`` of
        canonical tables already on the engine, or inputs opened before (returned as is).
    con : ibis backend, optional
        The engine; default a new in-memory DuckDB connection (for engine tables: the
        connection they live on).
    tables : sequence of str, optional
        The canonical tables wanted (default: every canonical table); the others are not
        opened even when the source has them.

    Returns
    -------
    CanonicalTables

    Raises
    ------
    LoadError
        No orders table, or a table misses a required column or has the wrong type.

    Examples
    --------
    >>> inputs = open_tables("data/interim/clean")          # doctest: +SKIP
    >>> sorted(inputs.tables)                                # doctest: +SKIP
    ['customers', 'email_events', 'order_items', 'orders', 'products', 'web_events']
    """
    wanted = _wanted(tables)
    if isinstance(source, CanonicalTables):
        if con is not None and con is not source.con:
            raise ValueError(
                "open_tables: the CanonicalTables given are bound to another connection; "
                "open the source again with the new `con`"
            )
        return source
    if isinstance(source, str) and is_uri(source):
        if con is None:
            raise ValueError(f"open_tables: {source} is a URI; pass the engine that reads it (con)")
        found = read_parquet_tables(source, con, wanted)
        return _open_tables(found, con, source, wanted)
    if (
        isinstance(source, Mapping)
        and source
        and all(isinstance(t, ibis.Table) for t in source.values())
    ):
        return _open_tables(dict(source), con, "engine tables", wanted)
    con = con if con is not None else connect("duckdb")
    if isinstance(source, str | Path):
        folder = Path(source).expanduser()
        problems = canonical_parquet_problems(folder, wanted)
        if not problems:
            return _open_parquet(folder, con, wanted)
        log.info("%s is not a folder of canonical Parquet (%s); reading it with the loader",
                 folder, "; ".join(problems))  # fmt: skip
        source = load_tables(folder, tables=list(wanted))
    if isinstance(source, LoadedData):
        return _open_frames(dict(source.tables), con, source.source, wanted)
    if isinstance(source, Mapping):
        return _open_frames(dict(source), con, "pandas frames", wanted)
    raise TypeError(
        "open_tables: expected a folder path, LoadedData, a mapping {table: DataFrame} or "
        f"CanonicalTables, got {type(source).__name__}"
    )


def _wanted(tables: Sequence[str] | None) -> tuple[str, ...]:
    """The canonical tables asked for, in canonical order (unknown names fail)."""
    if tables is None:
        return tuple(TABLES)
    for name in tables:
        table_spec(name)
    return tuple(t for t in TABLES if t in set(tables))


# --------------------------------------------------------------------------- parquet folders


def canonical_parquet_problems(
    folder: str | Path, tables: Sequence[str] | None = None
) -> list[str]:
    """Why ``folder`` cannot be read directly as canonical Parquet (empty list: it can).

    Checks only file names and Parquet schemas (no data is read): an ``orders.parquet``
    must exist, no mapping file may be present, every feature table present must be a
    Parquet file with its required columns, ids and labels as strings, times as
    time-zone-aware timestamps, amounts as numbers and flags as booleans.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems: list[str] = []
    if any((folder / name).exists() for name in ("mapping.yml", "mapping.yaml")):
        problems.append("it has a mapping file")
    if not (folder / "orders.parquet").exists():
        problems.append("there is no orders.parquet")
    for table in _wanted(tables):
        others = [p.name for p in folder.glob(f"{table}.*") if p.suffix != ".parquet"]
        if others and not (folder / f"{table}.parquet").exists():
            problems.append(f"{table} is not Parquet ({', '.join(sorted(others))})")
        path = folder / f"{table}.parquet"
        if path.exists():
            problems.extend(_schema_problems(path, table))
    return problems


def _schema_problems(path: Path, table: str) -> list[str]:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        return [f"{path.name} cannot be read as Parquet ({exc})"]
    spec = table_spec(table)
    problems = [
        f"{path.name}: required column {c!r} is missing"
        for c in spec.required
        if c not in schema.names
    ]
    for col, dtype in spec.columns.items():
        if col not in schema.names:
            continue
        arrow = schema.field(col).type
        expected = _expected_kind(str(dtype) if not isinstance(dtype, pd.DatetimeTZDtype) else "ts")
        if not _arrow_matches(arrow, expected):
            problems.append(f"{path.name}: column {col!r} is {arrow}, expected {expected}")
    return problems


def _expected_kind(dtype: str) -> str:
    return {"ts": "timestamp with time zone", "float64": "number", "boolean": "boolean"}.get(
        dtype, "string"
    )


def _arrow_matches(arrow: pa.DataType, expected: str) -> bool:
    if expected == "timestamp with time zone":
        return pa.types.is_timestamp(arrow) and arrow.tz is not None
    if expected == "number":
        return pa.types.is_floating(arrow) or pa.types.is_integer(arrow) or pa.types.is_null(arrow)
    if expected == "boolean":
        return pa.types.is_boolean(arrow) or pa.types.is_null(arrow)
    return pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_null(arrow)


def _open_parquet(folder: Path, con: BaseBackend, wanted: tuple[str, ...]) -> CanonicalTables:
    tables: dict[str, ibis.Table] = {}
    provided: dict[str, frozenset[str]] = {}
    for table in wanted:
        path = folder / f"{table}.parquet"
        if path.exists():
            raw = con.read_parquet(str(path))
            tables[table], provided[table] = _canonical(raw, table)
    inputs = CanonicalTables(con, tables, provided, str(folder.resolve()), "parquet")
    _finish(inputs, wanted)
    log.info("feature inputs: %s read by %s (%s)", folder, con.name, ", ".join(sorted(tables)))
    return inputs


# --------------------------------------------------------------------------- pandas frames


def _open_frames(
    frames: dict[str, pd.DataFrame], con: BaseBackend, source: str, wanted: tuple[str, ...]
) -> CanonicalTables:
    if "orders" not in frames:
        raise LoadError(
            f"{source}: the features need an orders table (order_id, customer_id, ordered_at, "
            f"amount); tables given: {', '.join(sorted(frames)) or 'none'}"
        )
    tables: dict[str, ibis.Table] = {}
    provided: dict[str, frozenset[str]] = {}
    for table in wanted:
        frame = frames.get(table)
        if frame is None:
            continue
        _check_frame(frame, table, source)
        keep = [c for c in table_spec(table).columns if c in frame.columns]
        raw = ibis.memtable(frame[keep])
        tables[table], provided[table] = _canonical(raw, table)
    inputs = CanonicalTables(con, tables, provided, source, "frames")
    _finish(inputs, wanted)
    log.info("feature inputs: pandas frames registered with %s (%s)", con.name,
             ", ".join(sorted(tables)))  # fmt: skip
    return inputs


def _require_columns(columns: list[str], table: str, source: str) -> None:
    """A clear error naming the table's missing required columns."""
    spec = table_spec(table)
    missing = [c for c in spec.required if c not in columns]
    if missing:
        raise LoadError(
            f"{source}: table {table!r} has no column(s) {', '.join(missing)}; "
            f"required: {', '.join(spec.required)} (columns given: {', '.join(columns)})"
        )


def _check_frame(frame: pd.DataFrame, table: str, source: str) -> None:
    spec = table_spec(table)
    _require_columns(list(frame.columns), table, source)
    for col in spec.timestamp_columns:
        if col in frame.columns and not isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            raise LoadError(
                f"{source}: {table}.{col} must be a UTC timestamp (datetime64[us, UTC]); "
                f"got {frame[col].dtype}. Read the source with workbench.loading.load_tables."
            )
    for col in spec.numeric_columns:
        if col in frame.columns and not pd.api.types.is_numeric_dtype(frame[col]):
            raise LoadError(
                f"{source}: {table}.{col} must be numeric; got {frame[col].dtype}. "
                "Read the source with workbench.loading.load_tables."
            )


# --------------------------------------------------------------------------- engine tables


def _open_tables(
    given: dict[str, ibis.Table], con: BaseBackend | None, source: str, wanted: tuple[str, ...]
) -> CanonicalTables:
    """Canonical tables that already live on an engine (read there, never in pandas)."""
    if "orders" not in given:
        raise LoadError(
            f"{source}: the features need an orders table (order_id, customer_id, ordered_at, "
            f"amount); tables given: {', '.join(sorted(given)) or 'none'}"
        )
    con = con if con is not None else given["orders"]._find_backend()
    tables: dict[str, ibis.Table] = {}
    provided: dict[str, frozenset[str]] = {}
    for table in wanted:
        if table in given:
            _check_table(given[table], table, source)
            tables[table], provided[table] = _canonical(given[table], table)
    inputs = CanonicalTables(con, tables, provided, source, "engine")
    _finish(inputs, wanted)
    log.info("feature inputs: %s on %s (%s)", source, con.name, ", ".join(sorted(tables)))
    return inputs


def _check_table(t: ibis.Table, table: str, source: str) -> None:
    spec = table_spec(table)
    _require_columns(list(t.columns), table, source)
    schema = t.schema()
    for col, dtype in spec.columns.items():
        if col not in schema:
            continue
        kind = "ts" if isinstance(dtype, pd.DatetimeTZDtype) else str(dtype)
        got = schema[col]
        ok = got.is_null() or {
            "ts": got.is_timestamp(),
            "float64": got.is_numeric(),
            "boolean": got.is_boolean(),
        }.get(kind, got.is_string())
        if not ok:
            raise LoadError(
                f"{source}: {table}.{col} must be {_expected_kind(kind)}; got {got}. "
                "Write canonical tables (workbench.loading.load_tables) before reading them "
                "on the engine."
            )


# --------------------------------------------------------------------------- shared


def _canonical(raw: ibis.Table, table: str) -> tuple[ibis.Table, frozenset[str]]:
    """Canonical columns only, missing optional ones as typed nulls (status: completed)."""
    spec = table_spec(table)
    exprs = {}
    provided = []
    for col, dtype in spec.columns.items():
        if col in raw.columns:
            exprs[col] = raw[col]
            provided.append(col)
        elif table == "orders" and col == "status":
            exprs[col] = ibis.literal(spec.defaults["status"], type=dt.String())
        else:
            exprs[col] = ibis.null(ibis_type(dtype))
    return raw.select(**exprs), frozenset(provided)


def ibis_type(dtype: object) -> dt.DataType:
    """The Ibis type of a canonical column's pandas dtype (timestamps are UTC)."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dt.Timestamp(timezone="UTC")
    return _IBIS_TYPES.get(str(dtype), dt.String())


def _finish(inputs: CanonicalTables, wanted: tuple[str, ...]) -> None:
    """Default the orders status and derive customers from orders when absent (and wanted)."""
    if "orders" not in inputs.tables:
        raise LoadError(f"{inputs.source}: the features need an orders table; none found")
    if "status" not in inputs.provided["orders"]:
        inputs.notes.append("orders.status is absent: every order counts as completed")
    if "customers" not in inputs.tables and "customers" in wanted:
        orders = inputs.tables["orders"]
        ids = orders.filter(orders.customer_id.notnull()).select("customer_id").distinct()
        inputs.tables["customers"], inputs.provided["customers"] = _canonical(ids, "customers")
        inputs.notes.append(
            "customers is absent: derived from orders (customer_id only, no profile columns)"
        )
    for note in inputs.notes:
        log.info("canonical tables: %s", note)


# --------------------------------------------------------------------------- manifest


def manifest(
    source: str | Path | LoadedData, tables: Sequence[str] | None = None, *, digest: bool = True
) -> pd.DataFrame:
    """One row per table read: ``table, file, format, rows, digest``.

    A folder of Parquet files: rows from the file footers (no data is read) and SHA-256
    digests. The loader's tables: what the loader recorded. A URI: the tables'
    locations, rows from the footers when it is a local ``file://`` folder (else blank),
    no digest.
    """
    wanted = _wanted(tables)
    columns = ["table", "file", "format", "rows", "digest"]
    rows = []
    if isinstance(source, LoadedData):
        for name, info in source.sources.items():
            if name in wanted:
                rows.append({"table": name, "file": Path(info.path).name, "format": info.format,
                             "rows": info.rows, "digest": info.digest})  # fmt: skip
        return pd.DataFrame(rows, columns=columns)
    if isinstance(source, str) and is_uri(source):
        import pyarrow.dataset as ds

        folder = local_folder(source)
        for name in wanted:
            path = table_path(source, name)
            if folder is not None and not Path(path).exists():
                continue
            count = ds.dataset(path, format="parquet").count_rows() if folder is not None else None
            rows.append({"table": name, "file": path, "format": "parquet (engine)",
                         "rows": count, "digest": None})  # fmt: skip
        return pd.DataFrame(rows, columns=columns)
    for name in wanted:
        path = Path(source) / f"{name}.parquet"
        if path.exists():
            rows.append({"table": name, "file": path.name, "format": "parquet",
                         "rows": pq.ParquetFile(path).metadata.num_rows,
                         "digest": file_digest(path) if digest else None})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
