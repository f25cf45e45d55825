"""The one place that opens canonical tables for any stage: Ibis tables on one engine.

A source is either a folder of Parquet files (the audit's clean folder, or a raw folder),
read by the engine itself so that the big tables never sit in pandas memory, or canonical
pandas frames (what the loader returns for CSV sources, mapped columns and DuckDB files),
registered with the engine, or tables already on the engine (a URI such as
``s3a://lake/clean`` that Spark reads). Either way the stages see the same
:class:`CanonicalTables`: one Ibis table per canonical table, restricted to the canonical
columns, with the optional columns a source lacks added as typed nulls (``orders.status``
as ``completed``, the loader's default) and ``customers`` derived from the orders when the
source has none.

Two ways to read, one opener (:func:`open_tables`):

``normalise=False`` (the feature build, churn labels, the customer view)
    The tables must already be canonical: a Parquet folder is read by the engine only
    when its schemas are canonical (:func:`canonical_parquet_problems`), otherwise the
    loader reads it; frames and engine tables with a wrong type are refused with a
    :class:`~workbench.loading.LoadError` naming the table and column.
``normalise=True`` (the audit's scans and the audit on an engine)
    Raw tables are read as they are — any folder of Parquet files or Spark part folders,
    any URI — and the engine applies the loader's normalisation on the fly
    (:func:`canonical_view`): ids as trimmed text with blank-like values (``nan``,
    ``None`` …) missing and ``17850.0`` read as ``17850``, text trimmed, numbers as
    floats, flags from yes/no text, status and event-type synonyms mapped onto the
    canonical values (a boolean ``_synonym_<column>`` marks the rows changed, so the
    audit can count the repair). The vocabularies are the loader's own
    (:data:`workbench.loading.SYNONYMS` …), so both paths read a value the same way.

The normalisation is an option of the same opener rather than a second opener because
everything else — which sources are accepted, how absent columns and tables are filled
in, the notes about what was derived — must be the same for the audit and for the stages
that read its output; only the strictness about types differs.

The engine is an Ibis connection: DuckDB in memory by default; any backend that can
read Parquet and run window functions (``ibis.pyspark.connect(session)``, or
:func:`workbench.engines.connect`) works.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.engines import (
    connect,
    engine_of,
    is_uri,
    local_folder,
    read_parquet_tables,
    table_path,
)
from workbench.loading import (
    BLANK_IDS,
    FALSE_VALUES,
    MAPPING_FILE_NAMES,
    SYNONYMS,
    TRUE_VALUES,
    LoadedData,
    LoadError,
    Repair,
    check_inside,
    duplicate_names,
    file_digest,
    find_table_files,
    load_tables,
    outside_allowed,
)
from workbench.schema import TABLES, table_spec

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = [
    "CanonicalTables",
    "already_canonical",
    "open_tables",
    "canonical_view",
    "canonical_parquet_problems",
    "manifest",
    "ibis_type",
]

log = logging.getLogger(__name__)

_IBIS_TYPES = {"str": dt.String(), "float64": dt.Float64(), "boolean": dt.Boolean()}
_MINIMUM = "an orders table with order_id, customer_id, ordered_at, amount"


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
        Canonical tables present in the source (canonical order), canonical columns only
        (plus the ``_synonym_<column>`` markers when ``normalised``).
    provided : dict of str to frozenset
        Canonical columns each table really provides (the others were added as nulls).
    source : str
        Where the tables come from (folder path, URI, ``"pandas frames"`` or
        ``"engine tables"``).
    kind : str
        ``"parquet"`` (read by the engine), ``"frames"`` (registered pandas frames) or
        ``"engine"`` (tables already on the engine).
    notes : list of str
        What was derived or defaulted while opening the source.
    normalised : bool
        Opened with ``normalise=True`` (raw values read as the loader reads them).
    repairs : list of Repair
        The loader's counted repairs when the tables came through it (CSV, mapping,
        DuckDB file).
    derived : dict of str to str
        Tables the loader derived, and the table each came from (``orders`` from
        ``order_items`` for a line-level export).
    reworked : dict of str to frozenset
        ``normalise=True``: per table, the columns whose raw values the engine rewrites
        (the others were found canonical already and are read as they are).
    """

    con: BaseBackend
    tables: dict[str, ibis.Table]
    provided: dict[str, frozenset[str]]
    source: str
    kind: str
    notes: list[str] = field(default_factory=list)
    normalised: bool = False
    repairs: list[Repair] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)
    reworked: dict[str, frozenset[str]] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def engine(self) -> str:
        """The engine's name: ``duckdb``, ``spark`` …"""
        return engine_of(self.con)

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
    source: str | Path | LoadedData | Mapping[str, Any] | CanonicalTables,
    *,
    con: BaseBackend | None = None,
    tables: Sequence[str] | None = None,
    normalise: bool = False,
) -> CanonicalTables:
    """Open a source of canonical tables on an Ibis engine.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping of frames or tables, or CanonicalTables
        A folder of Parquet files (read by the engine; a folder the engine cannot read as
        it is — CSV files, a mapping file, and without ``normalise`` also non-canonical
        types — is read through :func:`workbench.loading.load_tables` instead), a URI the
        engine reads (``s3a://lake/clean``: ``<table>.parquet`` files or folders, see
        :func:`workbench.engines.read_parquet_tables`), the loader's result, a mapping
        ``{table: frame}`` of canonical frames, a mapping ``{table: ibis.Table}`` of
        tables already on the engine, or tables opened before (returned as they are).
    con : ibis backend, optional
        The engine; default a new in-memory DuckDB connection (for engine tables: the
        connection they live on; a URI needs it).
    tables : sequence of str, optional
        The canonical tables wanted (default: every canonical table); the others are not
        opened even when the source has them.
    normalise : bool, default False
        Read raw values as the loader would (see the module docstring): the audit's scans
        use it; without it the tables must already have canonical types.

    Returns
    -------
    CanonicalTables

    Raises
    ------
    LoadError
        No orders table; without ``normalise`` a table misses a required column or has
        the wrong type; with it a time column is not a timestamp.
    ValueError
        A URI without ``con``, or tables opened before on another connection or without
        the normalisation asked for.

    Examples
    --------
    >>> inputs = open_tables("data/interim/clean")          # doctest: +SKIP
    >>> sorted(inputs.tables)                                # doctest: +SKIP
    ['customers', 'email_events', 'order_items', 'orders', 'products', 'web_events']
    >>> raw = open_tables("data/raw", normalise=True)        # doctest: +SKIP
    """
    wanted = _wanted(tables)
    if isinstance(source, CanonicalTables):
        if con is not None and con is not source.con:
            raise ValueError(
                "open_tables: the CanonicalTables given are bound to another connection; "
                "open the source again with the new `con`"
            )
        if normalise and not source.normalised:
            raise ValueError(
                f"open_tables: {source.source} was opened without normalise; open it again "
                "with normalise=True"
            )
        return source
    if isinstance(source, str) and is_uri(source):
        if con is None:
            raise ValueError(f"open_tables: {source} is a URI; pass the engine that reads it (con)")
        found = read_parquet_tables(source, con, wanted)
        return _assemble(found, con, source, "engine", wanted, normalise=normalise)
    if (
        isinstance(source, Mapping)
        and source
        and all(isinstance(t, ibis.Table) for t in source.values())
    ):
        given = dict(source)
        if con is None and "orders" in given:
            con = given["orders"]._find_backend()
        return _assemble(given, con, "engine tables", "engine", wanted, normalise=normalise)
    con = con if con is not None else connect("duckdb")
    if isinstance(source, str | Path):
        folder = Path(source).expanduser()
        _refuse_unsafe(folder, wanted)
        problems = _raw_parquet_problems(folder) if normalise else (
            canonical_parquet_problems(folder, wanted)
        )  # fmt: skip
        if not problems:
            found = read_parquet_tables(folder, con, wanted)  # schemas checked above
            return _assemble(found, con, str(folder.resolve()), "parquet", wanted,
                             normalise=normalise, checked=True)  # fmt: skip
        log.info("%s is not a folder of %s Parquet (%s); reading it with the loader", folder,
                 "raw" if normalise else "canonical", "; ".join(problems))  # fmt: skip
        source = load_tables(folder, tables=list(wanted))
    if isinstance(source, LoadedData):
        inputs = _open_frames(dict(source.tables), con, source.source, wanted, normalise)
        inputs.repairs = list(source.repairs)
        inputs.derived = {
            name: info.format.removeprefix("derived from ")
            for name, info in source.sources.items()
            if info.format.startswith("derived from ") and name in inputs.tables
        }
        return inputs
    if isinstance(source, Mapping):
        return _open_frames(dict(source), con, "pandas frames", wanted, normalise)
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


def _refuse_unsafe(folder: Path, wanted: tuple[str, ...]) -> None:
    """What the loader refuses, refused before the engine reads a folder itself: a table
    file (or part folder) that resolves outside ``folder`` (unless allowed, see
    :func:`workbench.loading.outside_allowed`) and a Parquet header repeating a name."""
    if not folder.is_dir():
        return
    allowed = outside_allowed(False, {})
    for table in wanted:
        path = folder / f"{table}.parquet"
        if not path.exists():
            continue
        check_inside(path, folder, allowed=allowed, what=f"table {table!r}")
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        for file in files[:1]:  # the parts of one table share a schema
            try:
                names = pq.read_schema(file).names
            except (OSError, pa.ArrowException):
                continue  # unreadable: reported where the table is read
            repeated = duplicate_names(names)
            if repeated:
                raise LoadError(
                    f"{path.name} (table {table!r}): column name(s) "
                    f"{', '.join(map(repr, repeated))} appear more than once in the header; "
                    "rename or drop the repeated column(s) so each name is read once"
                )


def _raw_parquet_problems(folder: Path) -> list[str]:
    """Why the engine cannot read ``folder`` as raw tables (empty list: it can): every
    table file must be Parquet (a file or a folder of parts) and no mapping file present."""
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems = []
    if any((folder / name).exists() for name in MAPPING_FILE_NAMES):
        problems.append("it has a mapping file")
    files = find_table_files(folder)
    parts = [n for n in TABLES if (folder / f"{n}.parquet").is_dir()]
    if not files and not parts:
        problems.append("there is no <table>.parquet")
    others = sorted(p.name for p in files.values() if p.suffix != ".parquet")
    if others:
        problems.append(f"not Parquet: {', '.join(others)}")
    return problems


# --------------------------------------------------------------------------- assembling


def _open_frames(
    frames: dict[str, pd.DataFrame],
    con: BaseBackend,
    source: str,
    wanted: tuple[str, ...],
    normalise: bool,
) -> CanonicalTables:
    """Pandas frames registered with the engine (canonical columns only)."""
    _need_orders(frames, source)
    given: dict[str, ibis.Table] = {}
    for table in wanted:
        frame = frames.get(table)
        if frame is None:
            continue
        if not normalise:
            _check_frame(frame, table, source)
        keep = [c for c in table_spec(table).columns if c in frame.columns]
        given[table] = ibis.memtable(frame[keep])
    return _assemble(given, con, source, "frames", wanted, normalise=normalise, checked=True)


def _assemble(
    given: dict[str, ibis.Table],
    con: BaseBackend | None,
    source: str,
    kind: str,
    wanted: tuple[str, ...],
    *,
    normalise: bool,
    checked: bool = False,
) -> CanonicalTables:
    """The canonical view of each wanted table, the defaults and the derived customers."""
    _need_orders(given, source)
    con = con if con is not None else given["orders"]._find_backend()
    tables: dict[str, ibis.Table] = {}
    provided: dict[str, frozenset[str]] = {}
    reworked: dict[str, frozenset[str]] = {}
    for table in wanted:
        if table not in given:
            continue
        if normalise:
            ready = already_canonical(given[table], table, con)
            tables[table], provided[table] = canonical_view(
                given[table], table, where=source, ready=ready
            )
            reworked[table] = frozenset(c for c in provided[table] if c not in ready)
        else:
            if not checked:
                _check_table(given[table], table, source)
            tables[table], provided[table] = _canonical(given[table], table)
    inputs = CanonicalTables(con, tables, provided, source, kind, normalised=normalise,
                             reworked=reworked)  # fmt: skip
    _finish(inputs, wanted)
    log.info("canonical tables: %s on %s (%s)", source, con.name, ", ".join(inputs.tables))
    return inputs


def _need_orders(tables: Mapping[str, Any], source: str) -> None:
    if "orders" not in tables:
        raise LoadError(
            f"{source}: no orders table; the minimum input is {_MINIMUM} "
            f"(tables given: {', '.join(sorted(tables)) or 'none'})"
        )


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


# --------------------------------------------------------------------------- canonical columns


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


def already_canonical(raw: ibis.Table, table: str, con: BaseBackend) -> frozenset[str]:
    """The columns of ``raw`` whose values are canonical as they are (one scan): text
    without surrounding blanks or empty values, ids also without blank-like values or an
    integral ``.0``, statuses and event types within the allowed values, floats without
    NaN, integers and flags. :func:`canonical_view` reads them as they are — rewriting
    every value costs far more than finding that nothing needs it."""
    spec = table_spec(table)
    schema = raw.schema()
    blanks = ibis.literal(list(BLANK_IDS), type=dt.Array(dt.String()))
    checks: dict[str, ibis.Value] = {}
    for col in spec.columns:
        if col not in raw.columns:
            continue
        value, kind = raw[col], schema[col]
        if col in spec.timestamp_columns and kind.is_timestamp():
            checks[col] = ibis.literal(0)  # read as they are either way
            continue
        if kind.is_null() or col in spec.timestamp_columns:
            continue
        if kind.is_string() and (col in spec.id_columns or col not in spec.numeric_columns):
            if col in spec.boolean_columns:
                continue  # yes/no text: always rewritten
            # a value ``strip`` changes starts or ends with whitespace: two one-character
            # tests cost a quarter of trimming every value (4.4 s vs 1.2 s on 30 M ids)
            edges = list(string.whitespace)  # what ibis' strip removes
            odd = value.left(1).isin(edges) | value.right(1).isin(edges) | (value == "")
            if col in spec.id_columns:
                odd = odd | blanks.contains(value) | value.endswith(".0")
            allowed = _allowed(table, col)
            if allowed:
                odd = odd | ~value.isin(allowed)
            checks[col] = (value.notnull() & odd).sum()
        elif kind.is_floating() and col in spec.numeric_columns:
            checks[col] = value.isnan().sum()
        elif (kind.is_integer() and col in spec.numeric_columns) or (
            kind.is_boolean() and col in spec.boolean_columns
        ):
            checks[col] = ibis.literal(0)  # read as they are
    if not checks:
        return frozenset()
    row = con.execute(raw.aggregate(**checks)).iloc[0]
    return frozenset(c for c in checks if int(0 if pd.isna(row[c]) else row[c]) == 0)


def _allowed(table: str, column: str) -> list[str]:
    schema = table_spec(table).model.to_schema()
    for check in schema.columns[column].checks:
        allowed = check.statistics.get("allowed_values")
        if allowed is not None:
            return list(allowed)
    return []


def canonical_view(
    raw: ibis.Table,
    table: str,
    *,
    where: str = "source",
    ready: frozenset[str] = frozenset(),
) -> tuple[ibis.Table, frozenset[str]]:
    """``raw`` with the canonical columns of ``table`` as the loader would give them.

    Ids: text, trimmed, blank-like values missing, integral ``.0`` dropped; text:
    trimmed, empty missing; status and event types: synonyms normalised (a boolean
    ``_synonym_<column>`` marks the rows changed, for the repair count); numbers as
    float; flags from yes/no text; an absent ``status`` is ``completed``; other absent
    columns are typed nulls. Timestamps must already be timestamps. Columns in ``ready``
    (:func:`already_canonical`) are read as they are.

    Returns
    -------
    (ibis.Table, frozenset)
        The view and the canonical columns ``raw`` provides.

    Raises
    ------
    LoadError
        A time column that is not a timestamp (``where`` names the source).
    """
    spec = table_spec(table)
    schema = raw.schema()
    exprs: dict[str, ibis.Value] = {}
    provided = []
    for col, dtype in spec.columns.items():
        if col not in raw.columns:
            if table == "orders" and col == "status":
                exprs[col] = ibis.literal(spec.defaults["status"], type=dt.String())
            else:
                exprs[col] = ibis.null(ibis_type(dtype))
            continue
        provided.append(col)
        value, kind = raw[col], schema[col]
        if col in ready and col in spec.timestamp_columns:
            exprs[col] = value
        elif col in ready:
            exprs[col] = value if kind == ibis_type(dtype) else value.cast(ibis_type(dtype))
            if SYNONYMS.get((table, col)):
                exprs[f"_synonym_{col}"] = ibis.literal(False)
        elif kind.is_null():
            exprs[col] = ibis.null(ibis_type(dtype))
        elif col in spec.id_columns:
            exprs[col] = _id_value(value, kind)
        elif col in spec.timestamp_columns:
            if not kind.is_timestamp():
                raise LoadError(
                    f"{where}: {table}.{col} is {kind}; the engine needs timestamps "
                    "(write canonical Parquet with workbench.loading.load_tables first)"
                )
            exprs[col] = value
        elif col in spec.numeric_columns:
            number = (
                value.cast("float64") if kind.is_numeric() else value.strip().try_cast("float64")
            )
            exprs[col] = ibis.ifelse(number.isnan(), ibis.null(dt.Float64()), number)  # NaN: blank
        elif col in spec.boolean_columns:
            exprs[col] = value if kind.is_boolean() else _bool_value(value.cast("string"))
        else:
            exprs[col] = _text_value(value if kind.is_string() else value.cast("string"))
            synonyms = SYNONYMS.get((table, col))
            if synonyms:
                text = exprs[col]
                key = text.lower().re_replace(r"[\s\-]+", "_")
                # one map look-up (a CASE over every synonym would repeat the key per branch)
                target = ibis.map(synonyms).get(key)
                exprs[col] = target.fill_null(text)
                exprs[f"_synonym_{col}"] = (target.notnull() & (target != text)).fill_null(False)
    return raw.select(**exprs), frozenset(provided)


def _text_value(value: ibis.StringValue) -> ibis.StringValue:
    text = value.strip()
    return ibis.ifelse(text == "", ibis.null(dt.String()), text)


def _id_value(value: ibis.Value, kind: dt.DataType) -> ibis.StringValue:
    if kind.is_integer():
        return value.cast("string")
    text = value.cast("string").strip() if not kind.is_string() else value.strip()
    # the pattern only for the few values ending in ".0" (a regex on every id is slow);
    # stripping ".0" from digits never makes a blank, so the blank test can come first
    integral = ibis.ifelse(
        text.re_search(r"^-?[0-9]+\.0$"), text.substr(0, text.length() - 2), text
    )
    fixed = ibis.ifelse(text.endswith(".0"), integral, text)
    # a list look-up evaluates `text` once (IN (...) repeats it per value on DuckDB)
    blank = ibis.literal(list(BLANK_IDS), type=dt.Array(dt.String())).contains(text)
    return ibis.ifelse(blank, ibis.null(dt.String()), fixed)


def _bool_value(value: ibis.StringValue) -> ibis.BooleanValue:
    key = value.strip().lower()
    return ibis.cases(
        (key.isin(TRUE_VALUES), True), (key.isin(FALSE_VALUES), False), else_=None
    ).cast("boolean")


def ibis_type(dtype: object) -> dt.DataType:
    """The Ibis type of a canonical column's pandas dtype (timestamps are UTC)."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dt.Timestamp(timezone="UTC")
    return _IBIS_TYPES.get(str(dtype), dt.String())


def _finish(inputs: CanonicalTables, wanted: tuple[str, ...]) -> None:
    """Default the orders status, derive customers from orders when absent (and wanted),
    and keep the tables in canonical order."""
    if "status" not in inputs.provided["orders"]:
        inputs.notes.append("orders.status is absent: every order counts as completed")
    if "customers" not in inputs.tables and "customers" in wanted:
        orders = inputs.tables["orders"]
        ids = orders.filter(orders.customer_id.notnull()).select("customer_id").distinct()
        inputs.tables["customers"], inputs.provided["customers"] = _canonical(ids, "customers")
        inputs.notes.append(
            "customers is absent: derived from orders (customer_id only, no profile columns)"
        )
    inputs.tables = {t: inputs.tables[t] for t in TABLES if t in inputs.tables}
    inputs.provided = {t: inputs.provided[t] for t in TABLES if t in inputs.provided}
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
        file = Path(source) / f"{name}.parquet"
        if file.exists():
            rows.append({"table": name, "file": file.name, "format": "parquet",
                         "rows": pq.ParquetFile(file).metadata.num_rows,
                         "digest": file_digest(file) if digest else None})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
