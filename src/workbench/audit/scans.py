"""The audit's scans as Ibis expressions: the same counts on DuckDB, Spark or a warehouse.

The pandas audit (:func:`workbench.audit.run_audit`) holds the tables in memory. When
the data outgrows one machine, the checks that scan whole tables run where the data
is, on any Ibis engine (:func:`workbench.engines.connect`), and only their small
results come back as pandas frames:

========================  ========  ===================================================
scan                      severity  what comes back
========================  ========  ===================================================
rows, blanks per column   info      rows per table; blanks per canonical column
``missing_required``      error     rows with a blank required column, per column
``invalid_value``         error     statuses / event types outside the allowed values
``duplicate_row``         error     exact copies of another row (counted once per copy)
``duplicate_key``         error     extra versions of a key with different values, plus
                                    the most repeated keys
``unknown_<parent>``      error     rows and distinct ids missing from the parent table,
                                    plus the most frequent offending ids
``id_case_mismatch``      info      ids that match a parent only after ignoring case and
                                    blanks (the audit repairs them)
``future_timestamp``      error     rows at or after ``as_of`` and the latest timestamp
``stale_table``           warning   newest row before ``as_of`` and its age in days
========================  ========  ===================================================

Every count is defined without row order, so it is the same on every engine and equals
the failing rows of the rule of the same name in the pandas audit (for the three kinds
of key rows: the first copy or version is kept, every other one counts). Tables are
read as the loader reads canonical Parquet: ids and text trimmed (blank, ``nan``,
``None`` become missing; ``17850.0`` becomes ``17850``), status and event-type
synonyms normalised, an absent ``status`` is ``completed``, an absent ``customers``
table is derived from the orders. Matching ids "ignoring case" uses the engine's
``lower`` (Python's ``casefold`` in the pandas audit; they differ only for a few
non-ASCII letters such as ``ß``).

:func:`run_scans` runs every scan and returns a :class:`ScanResult` (pandas summaries,
:meth:`ScanResult.rules` in the shape of :meth:`workbench.audit.AuditResult.rules`).

:func:`audit_on_engine` is the audit stage on an engine: the scans, the row-level
error rules they count (plus the line and amount rules), the quarantine and the clean
tables — written by the engine — and the duplicate-customer search, which runs in pandas
on the customers' matching columns (one row per customer, up to a stated limit). It
returns an :class:`~workbench.audit.AuditResult`, so the audit's report works unchanged.

Examples
--------
>>> from workbench import engines
>>> con = engines.connect("spark")                                   # doctest: +SKIP
>>> scans = run_scans("s3a://lake/raw", "2026-06-30", con=con)        # doctest: +SKIP
>>> scans.rules().query("status == 'failed'")                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench import catalog, engines
from workbench.audit.core import (
    MERGE_MAP_FILE,
    AuditConfig,
    AuditError,
    AuditResult,
    mask_email,
)
from workbench.audit.duplicates import DuplicateResult, find_duplicates
from workbench.audit.rules import RULES, Finding, outlier_thresholds

# the loader's synonym table: the engine normalises statuses and event types the same way
from workbench.loading import _SYNONYMS as _LOADER_SYNONYMS
from workbench.loading import (
    MAPPING_FILE_NAMES,
    LoadedData,
    Repair,
    find_table_files,
    load_tables,
)
from workbench.schema import TABLES, parse_as_of, table_spec

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


__all__ = [
    "SCAN_RULES",
    "EXAMPLES",
    "ScanInputs",
    "ScanResult",
    "scan_inputs",
    "canonical_view",
    "table_profile",
    "duplicate_scan",
    "reference_scan",
    "classify_references",
    "run_scans",
    "MAX_CUSTOMERS_IN_MEMORY",
    "MAX_AMOUNTS_IN_MEMORY",
    "NOT_ON_ENGINE",
    "audit_on_engine",
]

log = logging.getLogger(__name__)

#: The audit rules the scans count (the others need the pandas audit).
SCAN_RULES = (
    "missing_required",
    "invalid_value",
    "duplicate_row",
    "duplicate_key",
    "unknown_customer",
    "unknown_order",
    "unknown_product",
    "future_timestamp",
    "stale_table",
    "missing_value",
    "id_case_mismatch",
)
#: Offending keys and ids kept per scan.
EXAMPLES = 20
_BLANK_IDS = ("", "nan", "NaN", "None", "<NA>")
_TRUE = ("true", "t", "yes", "y", "1", "1.0", "opt-in", "opted_in", "subscribed")
_FALSE = ("false", "f", "no", "n", "0", "0.0", "opt-out", "opted_out", "unsubscribed")
_UNKNOWN_RULE = {
    "customers": "unknown_customer",
    "orders": "unknown_order",
    "products": "unknown_product",
}
_FUTURE_TABLES = ("orders", "email_events", "web_events", "experiment_assignments")


# --------------------------------------------------------------------------- inputs


@dataclass
class ScanInputs:
    """Canonical tables on one engine, as the scans read them.

    Attributes
    ----------
    con : ibis backend
        The engine.
    tables : dict of str to ibis.Table
        Every canonical table the source has (canonical columns, normalised like the
        loader does; absent optional columns as typed nulls).
    provided : dict of str to frozenset
        Canonical columns each table really has.
    source : str
        Where the tables come from.
    notes : list of str
        What was derived or defaulted.
    """

    con: BaseBackend
    tables: dict[str, ibis.Table]
    provided: dict[str, frozenset[str]]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def engine(self) -> str:
        """``duckdb``, ``spark`` …"""
        return engines.engine_of(self.con)


def scan_inputs(
    source: str | Path | LoadedData | Mapping[str, Any] | ScanInputs,
    con: BaseBackend | None = None,
    *,
    tables: list[str] | None = None,
) -> ScanInputs:
    """Open a source's canonical tables on an engine for the scans.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping or ScanInputs
        A folder or URI of ``<table>.parquet`` files (files or Spark part folders, read by
        the engine), a local folder of CSV files or with a mapping file (read through
        :func:`workbench.loading.load_tables` and registered with the engine), the
        loader's result, a mapping ``{table: DataFrame}`` or ``{table: ibis.Table}``.
    con : ibis backend, optional
        The engine (default: in-memory DuckDB).
    tables : list of str, optional
        Only these canonical tables (default: all).

    Raises
    ------
    workbench.audit.AuditError
        No orders table, or a column the engine cannot read as its canonical type.
    """
    if isinstance(source, ScanInputs):
        return source
    con = con if con is not None else engines.connect("duckdb")
    wanted = list(tables) if tables else list(TABLES)
    label = "engine tables"
    if isinstance(source, str | Path) and not isinstance(source, LoadedData):
        label = str(source)
        if engines.is_uri(source) or _parquet_only(Path(source)):
            source = engines.read_parquet_tables(source, con, wanted)
        else:
            log.info("scans: %s is not a folder of Parquet tables; reading it with the loader",
                     source)  # fmt: skip
            source = load_tables(source, tables=wanted)
    if isinstance(source, LoadedData):
        label = source.source
        source = dict(source.tables)
    raw = {
        name: (t if isinstance(t, ibis.Table) else ibis.memtable(t))
        for name, t in dict(source).items()
        if name in wanted
    }
    if "orders" not in raw:
        raise AuditError(
            f"{label}: the scans need an orders table (order_id, customer_id, ordered_at, "
            f"amount); tables found: {', '.join(sorted(raw)) or 'none'}"
        )
    out: dict[str, ibis.Table] = {}
    provided: dict[str, frozenset[str]] = {}
    notes: list[str] = []
    for name in TABLES:
        if name in raw:
            out[name], provided[name] = canonical_view(raw[name], name, where=label)
    if "customers" not in out and "customers" in wanted:
        orders = out["orders"]
        ids = orders.filter(orders.customer_id.notnull()).select("customer_id").distinct()
        out["customers"], provided["customers"] = canonical_view(ids, "customers")
        notes.append("customers is absent: derived from orders (customer_id only)")
    if "status" not in provided["orders"]:
        notes.append("orders.status is absent: every order counts as completed")
    for note in notes:
        log.info("scans: %s", note)
    ordered = {name: out[name] for name in TABLES if name in out}
    return ScanInputs(con, ordered, provided, label, notes)


def _parquet_only(folder: Path) -> bool:
    """A local folder whose tables are all Parquet (files or part folders), no mapping."""
    if not folder.is_dir() or any((folder / n).exists() for n in MAPPING_FILE_NAMES):
        return False
    files = find_table_files(folder)
    dirs = [n for n in TABLES if (folder / f"{n}.parquet").is_dir()]
    return bool(files or dirs) and all(p.suffix == ".parquet" for p in files.values())


def canonical_view(
    raw: ibis.Table, table: str, *, where: str = "source"
) -> tuple[ibis.Table, frozenset[str]]:
    """``raw`` with the canonical columns of ``table`` as the loader would give them.

    Ids: text, trimmed, blank-like values missing, integral ``.0`` dropped; text:
    trimmed, empty missing; status and event types: synonyms normalised (a boolean
    ``_synonym_<column>`` marks the rows changed, for the repair count); numbers as
    float; flags from yes/no text; an absent ``status`` is ``completed``; other absent
    columns are typed nulls. Timestamps must already be timestamps.

    Returns
    -------
    (ibis.Table, frozenset)
        The view and the canonical columns ``raw`` provides.
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
                exprs[col] = ibis.null(_ibis_type(dtype))
            continue
        provided.append(col)
        value, kind = raw[col], schema[col]
        if kind.is_null():
            exprs[col] = ibis.null(_ibis_type(dtype))
        elif col in spec.id_columns:
            exprs[col] = _id_value(value, kind)
        elif col in spec.timestamp_columns:
            if not kind.is_timestamp():
                raise AuditError(
                    f"{where}: {table}.{col} is {kind}; the engine scans need timestamps "
                    "(write canonical Parquet with workbench.loading.load_tables first)"
                )
            exprs[col] = value
        elif col in spec.numeric_columns:
            exprs[col] = (
                value.cast("float64") if kind.is_numeric() else value.strip().try_cast("float64")
            )
        elif col in spec.boolean_columns:
            exprs[col] = value if kind.is_boolean() else _bool_value(value.cast("string"))
        else:
            exprs[col] = _text_value(value if kind.is_string() else value.cast("string"))
            synonyms = _LOADER_SYNONYMS.get((table, col))
            if synonyms:
                text = exprs[col]
                key = text.lower().re_replace(r"[\s\-]+", "_")
                exprs[col] = key.substitute(synonyms, else_=text)
                exprs[f"_synonym_{col}"] = (exprs[col] != text).fill_null(False)
    return raw.select(**exprs), frozenset(provided)


def _ibis_type(dtype: object) -> dt.DataType:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dt.Timestamp(timezone="UTC")
    return {"float64": dt.Float64(), "boolean": dt.Boolean()}.get(str(dtype), dt.String())


def _text_value(value: ibis.StringValue) -> ibis.StringValue:
    text = value.strip()
    return ibis.ifelse(text == "", ibis.null(dt.String()), text)


def _id_value(value: ibis.Value, kind: dt.DataType) -> ibis.StringValue:
    if kind.is_integer():
        return value.cast("string")
    text = value.cast("string").strip() if not kind.is_string() else value.strip()
    text = ibis.ifelse(text.re_search(r"^-?[0-9]+\.0$"), text.substr(0, text.length() - 2), text)
    return ibis.ifelse(text.isin(_BLANK_IDS), ibis.null(dt.String()), text)


def _bool_value(value: ibis.StringValue) -> ibis.BooleanValue:
    key = value.strip().lower()
    return ibis.cases((key.isin(_TRUE), True), (key.isin(_FALSE), False), else_=None).cast(
        "boolean"
    )


# --------------------------------------------------------------------------- the scans


def _execute(con: BaseBackend, expr: ibis.Table) -> pd.DataFrame:
    """A small result as pandas, timestamps as UTC (Spark's come back without a zone)."""
    frame = con.execute(expr)
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            values = pd.to_datetime(frame[col])
            values = values.dt.tz_localize("UTC") if values.dt.tz is None else values
            frame[col] = values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return frame


def table_profile(t: ibis.Table, table: str, as_of: pd.Timestamp) -> ibis.Table:
    """One row: ``rows``, ``blank__<column>`` per canonical column, ``invalid__<column>``
    for columns with allowed values, and for the time column ``last_before`` (newest
    value before ``as_of``), ``future_rows`` and ``latest``."""
    spec = table_spec(table)
    cutoff = ibis.literal(as_of)
    metrics: dict[str, ibis.Value] = {"rows": t.count()}
    for col in spec.columns:
        metrics[f"blank__{col}"] = t[col].isnull().sum()
    for col, allowed in _allowed_values(table).items():
        metrics[f"invalid__{col}"] = (t[col].notnull() & ~t[col].isin(allowed)).sum()
    for col in t.columns:
        if col.startswith("_synonym_"):
            metrics[f"synonyms__{col.removeprefix('_synonym_')}"] = t[col].sum()
    time_col = spec.time_column
    if time_col:
        times = t[time_col]
        metrics["last_before"] = times.max(where=times < cutoff)
        metrics["future_rows"] = (times >= cutoff).sum()
        metrics["latest"] = times.max()
    return t.aggregate(**metrics)


def _allowed_values(table: str) -> dict[str, list[str]]:
    out = {}
    for name, column in table_spec(table).model.to_schema().columns.items():
        for check in column.checks:
            allowed = check.statistics.get("allowed_values")
            if allowed is not None:
                out[name] = list(allowed)
    return out


def _key_usable(inputs: ScanInputs, table: str, blanks: Mapping[str, int], rows: int) -> bool:
    key = table_spec(table).key
    if table == "experiment_assignments" or not key:
        return False
    if not all(c in inputs.provided[table] for c in key):
        return False
    return not all(int(blanks.get(c, 0)) == rows for c in key)


def duplicate_scan(
    t: ibis.Table, table: str, *, keyed: bool
) -> tuple[ibis.Table, ibis.Table | None]:
    """Exact copies and conflicting key versions, without row order.

    With a usable key (``keyed``), among rows whose key is complete: ``duplicate_rows``
    = rows − distinct rows, ``conflicting_rows`` = Σ over keys (distinct versions − 1),
    ``repeated_keys`` and ``conflicting_keys`` count the keys concerned. Without one,
    ``duplicate_rows`` = rows − distinct rows over all canonical columns.

    Returns
    -------
    (ibis.Table, ibis.Table or None)
        The one-row totals and the most repeated conflicting keys (``key``, ``rows``,
        ``versions``; None without a key).
    """
    columns = list(table_spec(table).columns)
    key = list(table_spec(table).key)
    if not keyed:
        versions = t.group_by(columns).aggregate(n=t.count())
        totals = versions.aggregate(
            duplicate_rows=(versions.n - 1).sum(),
            conflicting_rows=ibis.literal(0, type=dt.int64),
            repeated_keys=ibis.literal(0, type=dt.int64),
            conflicting_keys=ibis.literal(0, type=dt.int64),
        )
        return totals, None
    complete = t.filter(*[t[c].notnull() for c in key])
    rows = complete.group_by(columns).aggregate(n=complete.count())
    per_key = rows.group_by(key).aggregate(rows=rows.n.sum(), versions=rows.count())
    totals = per_key.aggregate(
        duplicate_rows=(per_key.rows - per_key.versions).sum(),
        conflicting_rows=(per_key.versions - 1).sum(),
        repeated_keys=(per_key.rows > 1).sum(),
        conflicting_keys=(per_key.versions > 1).sum(),
    )
    label = _key_label(per_key, key)
    examples = (
        per_key.filter(per_key.versions > 1)
        .select(key=label, rows=per_key.rows, versions=per_key.versions)
        .order_by([ibis.desc("rows"), "key"])
        .limit(EXAMPLES)
    )
    return totals, examples


def _key_label(t: ibis.Table, key: list[str]) -> ibis.StringValue:
    parts = [ibis.literal(f"{c} ") + t[c].cast("string").fill_null("blank") for c in key]
    return ibis.literal(", ").join(parts) if len(parts) > 1 else parts[0]


def classify_references(
    child: ibis.Table, column: str, parent: ibis.Table, parent_key: str
) -> ibis.Table:
    """Each distinct non-blank ``child.column`` value with its row count ``n`` and its
    ``status``: ``exact`` (a parent id), ``repaired`` (a parent id only after ignoring
    case and blanks, and only one such id; ``target`` is its spelling) or ``unknown``."""
    values = child.filter(child[column].notnull())
    values = values.group_by(value=values[column]).aggregate(n=values.count())
    ids = parent.filter(parent[parent_key].notnull()).select(pid=parent[parent_key]).distinct()
    folded = ids.mutate(fold=ids.pid.strip().lower())
    folded = folded.group_by("fold").aggregate(fid=folded.pid.min(), k=folded.count())
    folded = folded.filter(folded.k == 1).select("fold", "fid")
    exact = values.left_join(ids, values.value == ids.pid).select(
        "value", "n", exact=ids.pid.notnull()
    )
    both = exact.left_join(folded, exact.value.strip().lower() == folded.fold)
    return both.select(
        "value",
        "n",
        status=ibis.cases((both.exact, "exact"), (both.fid.notnull(), "repaired"), else_="unknown"),
        target=ibis.ifelse(both.exact, both.value, both.fid),
    )


def reference_scan(
    child: ibis.Table, column: str, parent: ibis.Table, parent_key: str
) -> tuple[ibis.Table, ibis.Table]:
    """Referential integrity of ``child.column`` against ``parent.parent_key``.

    Returns
    -------
    (ibis.Table, ibis.Table)
        One-row totals (``checked_rows``, ``unknown_rows``, ``unknown_ids``,
        ``repaired_rows``) and the most frequent unknown ids (``value``, ``rows``).
    """
    c = classify_references(child, column, parent, parent_key)
    totals = c.aggregate(
        checked_rows=c.n.sum(),
        unknown_rows=c.n.sum(where=c.status == "unknown"),
        unknown_ids=(c.status == "unknown").sum(),
        repaired_rows=c.n.sum(where=c.status == "repaired"),
    )
    examples = (
        c.filter(c.status == "unknown")
        .select("value", rows=c.n)
        .order_by([ibis.desc("rows"), "value"])
        .limit(EXAMPLES)
    )
    return totals, examples


# --------------------------------------------------------------------------- result


@dataclass
class ScanResult:
    """What the scans found (small pandas frames).

    Attributes
    ----------
    as_of : pandas.Timestamp
        The cut-off.
    engine : str
        The engine that ran them.
    source : str
        Where the tables came from.
    tables : pandas.DataFrame
        ``table, rows, columns`` (canonical columns the table provides).
    missing : pandas.DataFrame
        ``table, column, required, missing, missing_share``.
    invalid : pandas.DataFrame
        ``table, column, invalid_rows``.
    duplicates : pandas.DataFrame
        ``table, key, duplicate_rows, conflicting_rows, repeated_keys, conflicting_keys``.
    duplicate_keys : pandas.DataFrame
        Most repeated conflicting keys: ``table, key, rows, versions``.
    references : pandas.DataFrame
        ``table, column, parent, checked_rows, unknown_rows, unknown_ids, repaired_rows,
        note`` (note: why a check was skipped).
    unknown_ids : pandas.DataFrame
        Most frequent unknown ids: ``table, column, parent, value, rows``.
    freshness : pandas.DataFrame
        ``table, column, last, age_days, stale``.
    future : pandas.DataFrame
        ``table, column, future_rows, latest``.
    repairs : pandas.DataFrame
        Values the engine normalised as the loader does (status and event-type
        synonyms): ``table, column, action, rows``.
    freshness_days : int
        The freshness limit used.
    notes : list of str
        What was derived or defaulted when reading the tables.
    seconds : dict
        Engine time per table and scan.
    """

    as_of: pd.Timestamp
    engine: str
    source: str
    tables: pd.DataFrame
    missing: pd.DataFrame
    invalid: pd.DataFrame
    duplicates: pd.DataFrame
    duplicate_keys: pd.DataFrame
    references: pd.DataFrame
    unknown_ids: pd.DataFrame
    freshness: pd.DataFrame
    future: pd.DataFrame
    repairs: pd.DataFrame
    freshness_days: int = 30
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def rules(self) -> pd.DataFrame:
        """One row per table, rule and column, as :meth:`workbench.audit.AuditResult.rules`:
        ``table, rule, severity, column, status, failing_rows, note``."""
        rows: list[dict[str, Any]] = []

        def add(table, rule, column, failing, note=None, skipped=False, failed=False):
            status = "skipped" if skipped else ("failed" if failing or failed else "passed")
            rows.append({"table": table, "rule": rule, "severity": RULES[rule].severity,
                         "column": column, "status": status, "failing_rows": int(failing),
                         "note": note})  # fmt: skip

        for r in self.missing.itertuples():
            add(r.table, "missing_required" if r.required else "missing_value", r.column,
                r.missing)  # fmt: skip
        for r in self.invalid.itertuples():
            add(r.table, "invalid_value", r.column, r.invalid_rows)
        for r in self.duplicates.itertuples():
            add(r.table, "duplicate_row", None, r.duplicate_rows)
            if r.key:
                add(r.table, "duplicate_key", None, r.conflicting_rows)
            elif r.table != "experiment_assignments":
                why = f"{r.table} has no values in its key column(s) " + (
                    ", ".join(table_spec(r.table).key) or "(none)"
                )
                add(r.table, "duplicate_key", None, 0, note=why, skipped=True)
        for r in self.references.itertuples():
            rule = _UNKNOWN_RULE[r.parent]
            if isinstance(r.note, str) and r.note:
                add(r.table, rule, r.column, 0, note=r.note, skipped=True)
                continue
            add(r.table, rule, r.column, r.unknown_rows)
            add(r.table, "id_case_mismatch", r.column, r.repaired_rows)
        for r in self.future.itertuples():
            add(r.table, "future_timestamp", r.column, r.future_rows)
        for r in self.freshness.itertuples():
            if not isinstance(r.column, str):
                add(r.table, "stale_table", None, 0, note=f"{r.table} has no time column",
                    skipped=True)  # fmt: skip
                continue
            if pd.isna(r.stale):
                add(r.table, "stale_table", r.column, 0, note=f"{r.table}.{r.column} is empty",
                    skipped=True)  # fmt: skip
                continue
            note = (
                f"no {r.column} before as_of {self.as_of.date()}"
                if pd.isna(r.age_days)
                else f"newest {r.column} {r.last:%Y-%m-%d %H:%M} is {r.age_days:.1f} days "
                "before as_of"
            )
            add(r.table, "stale_table", r.column, 0, note=note, failed=bool(r.stale))
        frame = pd.DataFrame(
            rows,
            columns=["table", "rule", "severity", "column", "status", "failing_rows", "note"],
        )
        order = {t: i for i, t in enumerate(TABLES)}
        frame["_t"] = frame["table"].map(order)
        frame = frame.sort_values(["_t", "rule", "column"], kind="stable", na_position="first")
        return frame.drop(columns="_t").reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Headline numbers (JSON-ready): rows per table and the failing rules."""
        rules = self.rules()
        failed = rules[rules["status"] == "failed"]
        return {
            "engine": self.engine,
            "as_of": str(self.as_of.date()),
            "rows": {r.table: int(r.rows) for r in self.tables.itertuples()},
            "failed_rules": [
                {
                    "table": r.table,
                    "rule": r.rule,
                    "severity": r.severity,
                    "column": r.column if isinstance(r.column, str) else None,
                    "failing_rows": int(r.failing_rows),
                }
                for r in failed.itertuples()
            ],  # fmt: skip
            "error_rows": int(failed.loc[failed["severity"] == "error", "failing_rows"].sum()),
            "seconds": round(sum(self.seconds.values()), 2),
        }


# --------------------------------------------------------------------------- running


def run_scans(
    source: str | Path | LoadedData | Mapping[str, Any] | ScanInputs,
    as_of: str | pd.Timestamp,
    *,
    con: BaseBackend | None = None,
    freshness_days: int = 30,
) -> ScanResult:
    """Run every scan on the engine and bring back the small summaries.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping or ScanInputs
        See :func:`scan_inputs`.
    as_of : str or pandas.Timestamp
        The run's cut-off: timestamps at or after it are in the future.
    con : ibis backend, optional
        The engine (default: in-memory DuckDB; ignored for ScanInputs).
    freshness_days : int
        A table whose newest row before ``as_of`` is older than this is stale.

    Returns
    -------
    ScanResult

    Examples
    --------
    >>> scans = run_scans("data/raw", "2026-06-30")                       # doctest: +SKIP
    >>> scans.references[["table", "column", "unknown_rows"]]             # doctest: +SKIP
    """
    as_of = parse_as_of(as_of)
    inputs = scan_inputs(source, con)
    parts, keyed, seconds = _profiles(inputs, as_of, freshness_days)
    for table, t in inputs.tables.items():
        started = time.perf_counter()
        totals, examples = duplicate_scan(t, table, keyed=keyed[table])
        dup = _execute(inputs.con, totals).iloc[0]
        parts["duplicates"].append(
            {"table": table, "key": ", ".join(table_spec(table).key) if keyed[table] else "",
             **{k: int(_zero(dup[k])) for k in _DUPLICATE_COUNTS}}
        )  # fmt: skip
        if examples is not None and int(_zero(dup["conflicting_rows"])):
            parts["duplicate_keys"].append(_execute(inputs.con, examples).assign(table=table))
        seconds[table] += round(time.perf_counter() - started, 3)
    references, unknown = _references(inputs, seconds)
    result = _scan_result(inputs, as_of, freshness_days, parts, references, unknown, seconds)
    log.info("scans on %s: %s tables, %s rows in %.1f s", result.engine, len(result.tables),
             f"{int(result.tables['rows'].sum()):,}", sum(seconds.values()))  # fmt: skip
    return result


_DUPLICATE_COUNTS = ("duplicate_rows", "conflicting_rows", "repeated_keys", "conflicting_keys")
_REFERENCE_COUNTS = ("checked_rows", "unknown_rows", "unknown_ids", "repaired_rows")


def _profiles(
    inputs: ScanInputs, as_of: pd.Timestamp, freshness_days: int
) -> tuple[dict[str, list], dict[str, bool], dict[str, float]]:
    """One profile query per table: the rows of the summaries, whether each table's key
    is usable, and the seconds per table."""
    if freshness_days < 0:
        raise ValueError(f"freshness_days: expected an integer >= 0, got {freshness_days!r}")
    parts: dict[str, list] = {k: [] for k in (
        "tables", "missing", "invalid", "duplicates", "duplicate_keys", "freshness", "future",
        "repairs")}  # fmt: skip
    keyed: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    for table, t in inputs.tables.items():
        started = time.perf_counter()
        profile = _execute(inputs.con, table_profile(t, table, as_of)).iloc[0]
        _profile_rows(parts, inputs, table, profile, as_of, freshness_days)
        blanks = {c: int(_zero(profile[f"blank__{c}"])) for c in table_spec(table).columns}
        keyed[table] = _key_usable(inputs, table, blanks, int(profile["rows"]))
        seconds[table] = round(time.perf_counter() - started, 3)
    return parts, keyed, seconds


def _scan_result(
    inputs: ScanInputs,
    as_of: pd.Timestamp,
    freshness_days: int,
    parts: dict[str, list],
    references: pd.DataFrame,
    unknown: pd.DataFrame,
    seconds: dict[str, float],
) -> ScanResult:
    return ScanResult(
        as_of=as_of,
        engine=inputs.engine,
        source=inputs.source,
        tables=pd.DataFrame(parts["tables"], columns=["table", "rows", "columns"]),
        missing=pd.DataFrame(
            parts["missing"], columns=["table", "column", "required", "missing", "missing_share"]
        ),
        invalid=pd.DataFrame(parts["invalid"], columns=["table", "column", "invalid_rows"]),
        duplicates=pd.DataFrame(parts["duplicates"], columns=["table", "key", *_DUPLICATE_COUNTS]),
        duplicate_keys=_frames(parts["duplicate_keys"], ["table", "key", "rows", "versions"]),
        references=references,
        unknown_ids=unknown,
        freshness=pd.DataFrame(
            parts["freshness"], columns=["table", "column", "last", "age_days", "stale"]
        ),
        future=pd.DataFrame(parts["future"], columns=["table", "column", "future_rows", "latest"]),
        repairs=pd.DataFrame(parts["repairs"], columns=["table", "column", "action", "rows"]),
        freshness_days=freshness_days,
        notes=list(inputs.notes),
        seconds=seconds,
    )


def _zero(value: Any) -> Any:
    return 0 if value is None or pd.isna(value) else value


def _frames(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _profile_rows(
    parts: dict[str, list[dict]],
    inputs: ScanInputs,
    table: str,
    profile: pd.Series,
    as_of: pd.Timestamp,
    freshness_days: int,
) -> None:
    spec = table_spec(table)
    rows = int(profile["rows"])
    parts["tables"].append(
        {"table": table, "rows": rows, "columns": ", ".join(sorted(inputs.provided[table]))}
    )
    nullable = {n: c.nullable for n, c in spec.model.to_schema().columns.items()}
    for col in spec.columns:
        blank = int(_zero(profile[f"blank__{col}"]))
        parts["missing"].append({"table": table, "column": col, "required": not nullable[col],
                                 "missing": blank, "missing_share": blank / max(rows, 1)})  # fmt: skip
    for col in _allowed_values(table):
        parts["invalid"].append(
            {"table": table, "column": col, "invalid_rows": int(_zero(profile[f"invalid__{col}"]))}
        )
        changed = int(_zero(profile.get(f"synonyms__{col}", 0)))
        if changed:
            allowed = ", ".join(_allowed_values(table)[col])
            parts["repairs"].append({"table": table, "column": col, "rows": changed,
                                     "action": f"normalised synonyms onto {allowed}"})  # fmt: skip
    time_col = spec.time_column
    if not time_col:
        parts["freshness"].append(
            {"table": table, "column": None, "last": None, "age_days": None, "stale": None}
        )
        return
    if table in _FUTURE_TABLES:
        latest = profile["latest"]
        parts["future"].append({"table": table, "column": time_col,
                                "future_rows": int(_zero(profile["future_rows"])),
                                "latest": None if pd.isna(latest) else latest})  # fmt: skip
    empty = int(_zero(profile[f"blank__{time_col}"])) == rows
    last = profile["last_before"]
    age = None if pd.isna(last) else float((as_of - last) / pd.Timedelta(days=1))
    parts["freshness"].append({
        "table": table, "column": time_col, "last": None if pd.isna(last) else last,
        "age_days": age, "stale": None if empty else (age is None or age > freshness_days),
    })  # fmt: skip


def _references(
    inputs: ScanInputs,
    seconds: dict[str, float],
    counted: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per foreign key: scanned, or taken from the row flags' ``counted`` per
    table (the audit on an engine; no examples then)."""
    rows: list[dict] = []
    examples: list[pd.DataFrame] = []
    for table, t in inputs.tables.items():
        for column, parent in table_spec(table).foreign_keys.items():
            base = {"table": table, "column": column, "parent": parent}
            if parent not in inputs.tables:
                rows.append({**base, "note": f"no {parent} table"})
                continue
            if counted is not None:
                got = counted[table]
                rows.append({**base, **{k: got[f"{k}__{column}"] for k in _REFERENCE_COUNTS},
                             "note": None})  # fmt: skip
                continue
            started = time.perf_counter()
            key = table_spec(parent).key[0]
            totals, top = reference_scan(t, column, inputs.tables[parent], key)
            counts = _execute(inputs.con, totals).iloc[0]
            row = {**base, **{k: int(_zero(counts[k])) for k in _REFERENCE_COUNTS}, "note": None}
            rows.append(row)
            if row["unknown_rows"]:
                examples.append(_execute(inputs.con, top).assign(**base))
            seconds[f"{table}.{column}"] = round(time.perf_counter() - started, 3)
    columns = ["table", "column", "parent", "checked_rows", "unknown_rows", "unknown_ids",
               "repaired_rows", "note"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for col in columns[3:7]:
        frame[col] = frame[col].fillna(0).astype("int64")
    return frame, _frames(examples, ["table", "column", "parent", "value", "rows"])


# --------------------------------------------------------------------------- the audit on an engine

#: Folder of the data tree's ``interim/`` where the audit on an engine writes.
#: Customers (one row each) brought into pandas for the duplicate search, at most.
MAX_CUSTOMERS_IN_MEMORY = 2_000_000
#: Order amounts brought into pandas to learn the outlier limits (a seeded sample beyond).
MAX_AMOUNTS_IN_MEMORY = 2_000_000
_MATCH_COLUMNS = ("customer_id", "email", "first_name", "last_name", "birth_date", "city",
                  "country", "signup_at")  # fmt: skip
_REPOINTED = ("orders", "email_events", "web_events", "experiment_assignments")
#: Rules of the pandas audit that the audit on an engine does not run, by table.
NOT_ON_ENGINE: dict[str, dict[str, str | None]] = {
    "customers": {"invalid_email": "email", "future_signup": "signup_at",
                  "implausible_birth_date": "birth_date"},
    "orders": {"before_signup": "ordered_at", "amount_mismatch": "amount",
               "order_without_lines": None},
    "order_items": {"quantity_outlier_iqr": "quantity", "quantity_outlier_robust_z": "quantity"},
    "email_events": {"before_signup": "occurred_at"},
    "web_events": {"before_signup": "occurred_at"},
    "experiment_assignments": {"before_signup": "assigned_at", "duplicate_key": None,
                               "conflicting_assignment": None},
}  # fmt: skip


def _errors(inputs: ScanInputs, table: str, as_of: pd.Timestamp, keyed: bool) -> ibis.Table:
    """Each row of ``table`` with its error rules (``_rule``), reasons (``_reason``) and the
    repaired spelling of ids matched ignoring case (``_fix_<column>``)."""
    spec = table_spec(table)
    columns, key = list(spec.columns), list(spec.key)
    t = inputs.tables[table]
    checks: list[tuple[str, str]] = []  # (rule, column prefix of its flag and reason)
    added: dict[str, ibis.Value] = {}

    def check(rule: str, name: str, flag: ibis.BooleanValue, reason: ibis.StringValue) -> None:
        added[f"_e_{name}"], added[f"_r_{name}"] = flag.fill_null(False), reason
        checks.append((rule, name))

    nullable = {n: c.nullable for n, c in spec.model.to_schema().columns.items()}
    for col in columns:
        if not nullable[col]:
            check("missing_required", f"blank_{col}", t[col].isnull(), _lit(f"{col} is blank"))
    for col, allowed in _allowed_values(table).items():
        check("invalid_value", f"invalid_{col}", t[col].notnull() & ~t[col].isin(allowed),
              _lit(f"{col} '") + t[col] + _lit(f"' is not one of {', '.join(allowed)}"))  # fmt: skip
    if table in _FUTURE_TABLES:
        col = spec.time_column
        check("future_timestamp", "future", t[col] >= ibis.literal(as_of),
              _lit(f"{col} ") + t[col].strftime("%Y-%m-%d %H:%M")
              + _lit(f" is on or after as_of {as_of.date()} (in the future for this run)"))  # fmt: skip
    copies = ibis.row_number().over(group_by=columns, order_by=key or columns[:1])
    if keyed:
        complete = ibis.and_(*[t[c].notnull() for c in key])
        others = [c for c in columns if c not in key] or key
        version = ibis.dense_rank().over(
            group_by=key, order_by=[ibis.asc(c, nulls_first=True) for c in others]
        )
        times = t[key[0]].count().over(group_by=key)
        label = _key_label(t, key)
        is_copy = complete & (copies > 0)
        check(
            "duplicate_row",
            "copy",
            is_copy,
            _lit("exact copy of another row with ") + label + _lit("; one copy is kept"),
        )
        check("duplicate_key", "version", complete & ~is_copy & (version > 0),
              label + _lit(" appears ") + times.cast("string")
              + _lit(" times with different values; the first version in sort order is kept"))  # fmt: skip
    else:
        check("duplicate_row", "copy", copies > 0, _lit("exact copy of another row; one is kept"))
    t = t.mutate(**added)
    for col, parent in spec.foreign_keys.items():
        if parent not in inputs.tables:
            continue
        c = classify_references(t, col, inputs.tables[parent], table_spec(parent).key[0])
        joined = t.left_join(c, t[col] == c.value)
        t = joined.select(
            *[t[name] for name in t.columns],
            **{f"_e_ref_{col}": (c.status == "unknown").fill_null(False),
               f"_r_ref_{col}": _lit(f"{col} ") + t[col] + _lit(f" is not in {parent}"),
               f"_fix_{col}": ibis.ifelse(c.status == "repaired", c.target, t[col]),
               f"_fixed_{col}": (c.status == "repaired").fill_null(False)},
        )  # fmt: skip
        checks.append((_UNKNOWN_RULE[parent], f"ref_{col}"))
    rules = [ibis.ifelse(t[f"_e_{n}"], _lit(rule), ibis.null(dt.String())) for rule, n in checks]
    reasons = [ibis.ifelse(t[f"_e_{n}"], t[f"_r_{n}"], ibis.null(dt.String())) for _, n in checks]
    rule, reason = _lit("; ").join(rules), _lit("; ").join(reasons)
    kept = [c for c in t.columns if c.startswith(("_fix_", "_fixed_", "_e_"))]
    blank = ibis.null(dt.String())
    return t.select(
        *columns,
        *kept,
        _rule=ibis.ifelse(rule == "", blank, rule),
        _reason=ibis.ifelse(reason == "", blank, reason),
    )


def _lit(text: str) -> ibis.StringValue:
    return ibis.literal(text, type=dt.String())


def _customers_for_matching(
    errors: ibis.Table, con: BaseBackend, limit: int
) -> tuple[pd.DataFrame | None, int]:
    """The error-free customers' matching columns in pandas (ordered by id), or None when
    there are more than ``limit`` of them; and their number."""
    usable = errors.filter(errors._rule.isnull())
    columns = [c for c in _MATCH_COLUMNS if c in usable.columns]
    frame = _execute(con, usable.select(*columns).order_by("customer_id").limit(limit + 1))
    if len(frame) > limit:  # one query when they fit; counted only when they do not
        return None, int(con.execute(usable.count()))
    text = {c: "str" for c in columns if c not in ("birth_date", "signup_at")}
    return frame.astype(text), len(frame)


def _merge_table(merge_map: pd.DataFrame) -> ibis.Table:
    survivor = merge_map["surviving_id"].astype("str")
    score = merge_map["score"].map("{:.2f}".format).astype("str")
    return ibis.memtable(
        pd.DataFrame(
            {
                "duplicate_id": merge_map["duplicate_id"].astype("str"),
                "surviving_id": survivor,
                "reason": "same person as " + survivor + " (score " + score + "); merged into "
                + survivor,
            }
        )
    )  # fmt: skip


def _with_merges(errors: ibis.Table, table: str, merge: ibis.Table | None) -> ibis.Table:
    """Customers: the merged duplicates become errors; other tables: ``_fix_customer_id``
    moves to the surviving id (``_moved`` marks the re-pointed rows)."""
    if merge is None:
        return errors.mutate(_moved=ibis.literal(False))
    if table == "customers":
        m = merge.select(dup=merge.duplicate_id, why=merge.reason)
        j = errors.left_join(m, errors.customer_id == m.dup)
        merged = errors._rule.isnull() & m.dup.notnull()
        return j.select(
            *[errors[c] for c in errors.columns if c not in ("_rule", "_reason")],
            _rule=ibis.ifelse(merged, _lit("duplicate_customer"), errors._rule),
            _reason=ibis.ifelse(merged, m.why, errors._reason),
            _moved=ibis.literal(False),
        )
    if "_fix_customer_id" not in errors.columns:
        return errors.mutate(_moved=ibis.literal(False))
    m = merge.select(dup=merge.duplicate_id, to=merge.surviving_id)
    j = errors.left_join(m, errors._fix_customer_id == m.dup)
    return j.select(
        *[errors[c] for c in errors.columns if c != "_fix_customer_id"],
        _fix_customer_id=m.to.fill_null(errors._fix_customer_id),
        _moved=m.to.notnull(),
    )


def _order_lines(errors: ibis.Table, orders: ibis.Table) -> ibis.Table:
    """The line rules: lines of orders without a clean row become ``order_quarantined``;
    ``negative_quantity`` (unless the line's order is cancelled or returned, when it is a
    ``cancellation_line``), ``zero_quantity`` and ``negative_price`` are errors,
    ``zero_price`` is flagged. ``orders``: ``order_id, _rule, status`` (repaired)."""
    ok = orders.filter(orders._rule.isnull())
    clean = ok.group_by(cid=ok.order_id).aggregate(cstatus=ok.status.min())
    bad = orders.filter(orders._rule.notnull())
    why = bad.group_by(qid=bad.order_id).aggregate(qrule=bad._rule.min())
    oid = errors._fix_order_id
    j = errors.left_join(clean, oid == clean.cid).left_join(why, oid == why.qid)
    status = clean.cstatus
    undone = status.isin(["cancelled", "returned"]).fill_null(False)
    negative = (errors.quantity < 0).fill_null(False)
    state = status.fill_null("unknown")
    quantity = errors.quantity.cast("string")
    checks = [
        ("order_quarantined", oid.notnull() & clean.cid.isnull() & why.qid.notnull(),
         _lit("order ") + oid + _lit(" is quarantined (") + why.qrule + ")"),
        ("negative_quantity", negative & ~undone,
         _lit("quantity ") + quantity + _lit(" on a line of ") + state + _lit(" order ") + oid),
        ("zero_quantity", (errors.quantity == 0).fill_null(False), _lit("quantity is 0")),
        ("negative_price", (errors.unit_price < 0).fill_null(False),
         _lit("unit_price ") + errors.unit_price.cast("string") + _lit(" is negative")),
    ]  # fmt: skip
    rule = _lit("; ").join(
        [errors._rule, *[ibis.ifelse(c, _lit(r), ibis.null(dt.String())) for r, c, _ in checks]]
    )
    reason = _lit("; ").join(
        [errors._reason, *[ibis.ifelse(c, why_, ibis.null(dt.String())) for _, c, why_ in checks]]
    )
    return j.select(
        *[errors[c] for c in errors.columns if c not in ("_rule", "_reason")],
        _rule=ibis.ifelse(rule == "", ibis.null(dt.String()), rule),
        _reason=ibis.ifelse(reason == "", ibis.null(dt.String()), reason),
        is_zero_price=(errors.unit_price == 0).fill_null(False),
        _cancellation_line=negative & undone,
    )


def _amounts(orders: ibis.Table, con: BaseBackend, limit: int, random_state: int) -> pd.Series:
    """Positive amounts of orders without errors (all of them up to ``limit``, else a
    seeded sample of about ``limit``) for the outlier limits and the figure."""
    eligible = orders.filter(orders._rule.isnull(), orders.amount > 0).select("amount")
    values = con.execute(eligible.limit(limit + 1))["amount"]
    if len(values) > limit:
        n = int(con.execute(eligible.count()))
        log.info("audit on engine: outlier limits from a sample of %s of %s order amounts",
                 f"{limit:,}", f"{n:,}")  # fmt: skip
        values = con.execute(eligible.sample(limit / n, seed=random_state))["amount"]
    return pd.Series(values.to_numpy(dtype=float), name="amount")


def _money(orders: ibis.Table, limits: dict[str, float]) -> ibis.Table:
    """Orders with the repaired status and the amount flags (warnings)."""
    negative = (orders.amount < 0) & (orders.status == "completed")
    status = ibis.ifelse(negative, _lit("cancelled"), orders.status)
    positive = orders._rule.isnull() & (orders.amount > 0)
    flags = {"is_negative_amount": negative, "is_zero_amount": orders.amount == 0}
    for name, low, high in (("iqr", "iqr_low", "iqr_high"), ("z", "z_low", "z_high")):
        lo, hi = limits.get(low, float("nan")), limits.get(high, float("nan"))
        flags[f"is_outlier_amount_{name}"] = (
            positive & ((orders.amount > hi) | (orders.amount < lo))
            if pd.notna(hi)
            else ibis.literal(False)
        )
    flags = {k: v.fill_null(False) for k, v in flags.items()}
    out = orders.mutate(_fix_status=status, **flags)
    return out.mutate(
        is_outlier_amount=out.is_outlier_amount_iqr | out.is_outlier_amount_z,
        is_revenue=((out._fix_status == "completed") & (out.amount > 0)).fill_null(False),
    )


_WARNING_FLAGS = {
    "is_negative_amount": "negative_amount",
    "is_zero_amount": "zero_amount",
    "is_outlier_amount_iqr": "amount_outlier_iqr",
    "is_outlier_amount_z": "amount_outlier_robust_z",
    "is_zero_price": "zero_price",
}


def _clean(final: ibis.Table, table: str) -> ibis.Table:
    """Rows without errors: repaired ids, flag columns, no helper columns."""
    kept = final.filter(final._rule.isnull())
    cols: dict[str, ibis.Value] = {}
    for col in table_spec(table).columns:
        fix = f"_fix_{col}"
        cols[col] = kept[fix] if fix in kept.columns else kept[col]
    flags = [c for c in kept.columns if c.startswith("is_")]
    return kept.select(**cols, **{c: kept[c] for c in flags})


def _quarantine(final: ibis.Table, table: str) -> ibis.Table:
    bad = final.filter(final._rule.notnull())
    return bad.select(
        *table_spec(table).columns,
        rule=bad._rule,
        severity=_lit("error"),
        reason=bad._reason,
    )


def _key_and_reference_counts(final: ibis.Table, table: str) -> dict[str, ibis.Value]:
    """What :func:`duplicate_scan` and :func:`reference_scan` count, from the row flags."""
    zero = ibis.literal(0, type=dt.int64)
    copy = final._e_copy
    key = table_spec(table).key
    out: dict[str, ibis.Value] = {"duplicate_rows": copy.sum(), "conflicting_rows": zero,
                                  "repeated_keys": zero, "conflicting_keys": zero}  # fmt: skip
    if "_e_version" in final.columns:  # a usable single-column key
        version = final._e_version
        out["conflicting_rows"] = version.sum()
        out["repeated_keys"] = final[key[0]].nunique(where=copy | version)
        out["conflicting_keys"] = final[key[0]].nunique(where=version)
    for col in table_spec(table).foreign_keys:
        if f"_e_ref_{col}" in final.columns:
            unknown = final[f"_e_ref_{col}"]
            out[f"checked_rows__{col}"] = final[col].notnull().sum()
            out[f"unknown_rows__{col}"] = unknown.sum()
            out[f"unknown_ids__{col}"] = final[col].nunique(where=unknown)
            out[f"repaired_rows__{col}"] = final[f"_fixed_{col}"].sum()
    return out


def _counts(final: ibis.Table, con: BaseBackend, table: str) -> dict[str, int]:
    error = final._rule.notnull()
    warn = [final[c] for c in _WARNING_FLAGS if c in final.columns]
    any_warning = ibis.or_(*warn) if warn else ibis.literal(False)
    metrics = {
        "rows_in": final.count(),
        "rows_quarantined": error.sum(),
        "rows_flagged": (~error & any_warning).sum(),
        "moved": final._moved.sum(),
        "duplicate_customer": _has_rule(final._rule, "duplicate_customer").sum(),
        **{rule: _has_rule(final._rule, rule).sum() for rule in _LINE_ERRORS},
    }
    if "_cancellation_line" in final.columns:
        metrics["cancellation_line"] = final._cancellation_line.sum()
    for col, rule in _WARNING_FLAGS.items():
        if col in final.columns:
            metrics[rule] = final[col].sum()
    if "_fix_status" in final.columns:
        metrics["cancelled_or_returned"] = final._fix_status.isin(["cancelled", "returned"]).sum()
    metrics.update(_key_and_reference_counts(final, table))
    row = con.execute(final.aggregate(**metrics)).iloc[0]
    return {k: int(_zero(v)) for k, v in row.items()}


_LINE_ERRORS = ("order_quarantined", "negative_quantity", "zero_quantity", "negative_price")


def _has_rule(rules: ibis.StringValue, rule: str) -> ibis.BooleanValue:
    return (_lit("; ") + rules + _lit("; ")).contains(f"; {rule}; ").fill_null(False)


def audit_on_engine(
    source: str | Path | LoadedData | Mapping[str, Any] | ScanInputs,
    as_of: str | pd.Timestamp,
    *,
    con: BaseBackend | None = None,
    config: AuditConfig | None = None,
    output: str | Path | None = None,
    max_customers_in_memory: int = MAX_CUSTOMERS_IN_MEMORY,
    max_amounts_in_memory: int = MAX_AMOUNTS_IN_MEMORY,
    stamp: catalog.Stamp | None = None,
) -> AuditResult:
    """The audit where the data is: scans, quarantine and clean tables on the engine.

    What runs where
        On the engine: every scan of :func:`run_scans`, the row-level error rules they
        count (``missing_required``, ``invalid_value``, ``duplicate_row``,
        ``duplicate_key``, ``unknown_*``, ``future_timestamp``), the line rules
        (``order_quarantined``, ``negative_quantity``, ``zero_quantity``,
        ``negative_price``, ``zero_price``, ``cancellation_line``), the id repairs, the re-pointing of
        merged customers' rows, the amount rules of orders (``negative_amount`` relabels
        the order cancelled, ``zero_amount``, both amount outlier rules) and the writing
        of the clean tables and the quarantine. In pandas: the duplicate-customer search
        on the customers' matching columns (one row per customer, at most
        ``max_customers_in_memory``; beyond that the search is skipped and the rule says
        so) and the outlier limits, learned from the error-free positive amounts (all
        of them up to ``max_amounts_in_memory``, a seeded sample beyond).
    Not on the engine
        :data:`NOT_ON_ENGINE` (e-mail syntax, sign-up and birth dates, activity before
        sign-up, quantity outliers, amount vs lines, experiment assignments): listed as
        skipped; run the pandas audit (engine ``duckdb``) for them.
    Differences from the pandas audit
        Where a key has conflicting versions, the first version in sort order of the
        other columns is kept (the pandas audit keeps the first in file order);
        customers are matched in id order. Counts are the same.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping or ScanInputs
        See :func:`scan_inputs`.
    as_of : str or pandas.Timestamp
        The run's cut-off.
    con : ibis backend, optional
        The engine (default: in-memory DuckDB).
    config : AuditConfig, optional
        Thresholds (duplicate threshold, block size, outlier limits, freshness, seed).
    output : str or Path, optional
        Folder or URI to write ``clean/<table>.parquet``, ``quarantine/<table>.parquet``
        (by the engine: part folders on Spark) and ``merge_map.parquet``; a local folder
        also gets the source stamp in ``clean/``. None: nothing is written.
    max_customers_in_memory, max_amounts_in_memory : int
        Limits of what comes into pandas (see above).
    stamp : catalog.Stamp, optional
        The stamp written to ``clean/`` (a stage passes its own); default: made from the
        source and ``as_of``.

    Returns
    -------
    AuditResult
        As :func:`run_audit` returns it: findings (counts), rows per table (rows in =
        clean + quarantined), missingness, freshness, amount limits, examples (masked
        e-mails), duplicates, repairs; ``written`` lists the outputs.
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    as_of = parse_as_of(as_of)
    inputs = scan_inputs(source, con)
    con = inputs.con
    # one profile query per table here; duplicates and orphans are counted from the row flags
    parts, keyed, seconds = _profiles(inputs, as_of, config.freshness_days)
    cached: list[ibis.Table] = []

    def cache(t: ibis.Table) -> ibis.Table:
        """On Spark, computed once and persisted, then read by every later step (DuckDB
        recomputes faster than it materialises)."""
        if inputs.engine != "spark":
            return t
        cached.append(t.cache())
        return cached[-1]

    errors = {t: _errors(inputs, t, as_of, keyed[t]) for t in inputs.tables}
    errors["customers"] = cache(errors["customers"])  # searched for duplicates, then written
    duplicates, dup_note = _duplicate_search(errors["customers"], con, config,
                                             max_customers_in_memory)  # fmt: skip
    merge = None
    if duplicates is not None and not duplicates.merge_map.empty:
        merge = _merge_table(duplicates.merge_map)
        con.execute(merge.count())  # registers it: cached tables that read it need it there
    final = {t: _with_merges(e, t, merge) for t, e in errors.items()}
    if stamp is None:
        stamp = catalog.Stamp("audit", as_of, catalog.fingerprint(inputs.source))
    writer = _EngineWriter(output, con, source=inputs.source, stamp=stamp)
    counts: dict[str, dict[str, int]] = {}
    amounts, limits = pd.Series(dtype="float64", name="amount"), {}
    for table in inputs.tables:
        if table == "orders":
            orders = cache(final["orders"])
            amounts = _amounts(orders, con, max_amounts_in_memory, config.random_state)
            limits = outlier_thresholds(amounts, iqr_k=config.iqr_k, z_max=config.robust_z,
                                        min_ratio=config.outlier_min_ratio)  # fmt: skip
            final["orders"] = _money(orders, limits)
        if table == "order_items" and "_fix_order_id" in final[table].columns:
            final[table] = _order_lines(final[table], writer.orders(final["orders"]))
        final[table] = cache(final[table])  # counted, written twice and sampled
        counts[table] = writer.write(table, final[table])
    if duplicates is not None:
        writer.merge_map(duplicates.merge_map)
    written = writer.finish()
    examples = _examples(final, con)
    for table in cached:
        table.release()
    for table, c in counts.items():
        key = ", ".join(table_spec(table).key) if keyed[table] else ""
        parts["duplicates"].append({"table": table, "key": key,
                                    **{k: c[k] for k in _DUPLICATE_COUNTS}})  # fmt: skip
    references, unknown = _references(inputs, seconds, counted=counts)
    scans = _scan_result(inputs, as_of, config.freshness_days, parts, references, unknown,
                         seconds)  # fmt: skip
    result = AuditResult(
        as_of=as_of,
        config=config,
        findings=_findings(scans, counts, duplicates, dup_note, limits),
        clean={},
        quarantine={},
        rows=_rows(counts),
        duplicates=duplicates,
        repairs=_repairs(inputs, scans, counts),
        missingness=scans.missing[["table", "column", "missing", "missing_share"]].copy(),
        freshness=scans.freshness[["table", "last", "age_days", "stale"]].copy(),
        amount_limits=limits,
        amounts=amounts,
        examples=examples,
        sources={
            t: {
                "path": inputs.source,
                "format": f"parquet ({scans.engine})",
                "rows": counts[t]["rows_in"],
                "digest": None,
            }
            for t in counts
        },  # fmt: skip
    )
    result.written = written
    result.seconds = time.perf_counter() - started
    log.info("audit on %s: %s rows in, %s quarantined (%.1f s)", scans.engine,
             f"{int(result.rows['rows_in'].sum()):,}",
             f"{int(result.rows['rows_quarantined'].sum()):,}", result.seconds)  # fmt: skip
    return result


def _duplicate_search(
    errors: ibis.Table, con: BaseBackend, config: AuditConfig, limit: int
) -> tuple[DuplicateResult | None, str | None]:
    if not config.find_duplicates:
        return None, "the duplicate search is switched off"
    frame, n = _customers_for_matching(errors, con, limit)
    if frame is None:
        note = (
            f"{n:,} customers exceed max_customers_in_memory ({limit:,}): the duplicate "
            "search needs one row per customer in memory; raise the limit on a driver with "
            "enough memory or run it on a subset"
        )
        log.warning("audit on engine: %s", note)
        return None, note
    result = find_duplicates(frame, threshold=config.duplicate_threshold,
                             max_block_size=config.max_block_size,
                             random_state=config.random_state)  # fmt: skip
    return result, None


class _EngineWriter:
    """Writes each table's clean rows and quarantine by the engine, then counts them."""

    def __init__(
        self, output: str | Path | None, con: BaseBackend, *, source: str, stamp: catalog.Stamp
    ) -> None:
        self.con = con
        self.source = source
        self.stamp = stamp
        self.output = None if output is None else str(output)
        self.written: dict[str, str] = {}
        self._orders: ibis.Table | None = None
        if self.output and not engines.is_uri(self.output):
            folder = Path(self.output)
            for sub in ("clean", "quarantine"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            catalog.remove_folder_stamp(folder / "clean")

    def _path(self, kind: str, table: str) -> str:
        return f"{str(self.output).rstrip('/')}/{kind}/{table}.parquet"

    def write(self, table: str, final: ibis.Table) -> dict[str, int]:
        """Count the rows, write the clean rows and the quarantine (two complementary
        filters of the same rows: on Spark, of the same persisted table)."""
        counts = _counts(final, self.con, table)
        if self.output is None:
            return counts
        for kind, expr in (
            ("clean", _clean(final, table)),
            ("quarantine", _quarantine(final, table)),
        ):
            path = self._path(kind, table)
            _remove_local(path)
            engines.write_parquet(expr, path, self.con)
            self.written[f"{kind}/{table}"] = path
        return counts

    def orders(self, final_orders: ibis.Table) -> ibis.Table:
        """The orders with their errors (read back from the outputs when written)."""
        if self.output is None:
            return final_orders.select("order_id", "_rule", status=final_orders._fix_status)
        clean = self.con.read_parquet(self._path("clean", "orders"))
        bad = self.con.read_parquet(self._path("quarantine", "orders"))
        return clean.select("order_id", "status", _rule=ibis.null(dt.String())).union(
            bad.select("order_id", "status", _rule=bad.rule)
        )

    def merge_map(self, merge_map: pd.DataFrame) -> None:
        if self.output is None:
            return
        path = f"{str(self.output).rstrip('/')}/{MERGE_MAP_FILE}"
        _remove_local(path)
        target = merge_map if not engines.is_uri(path) else ibis.memtable(merge_map)
        engines.write_parquet(target, path, None if isinstance(target, pd.DataFrame) else self.con)
        self.written["merge_map"] = path

    def finish(self) -> dict[str, str]:
        local = self.output and not engines.is_uri(self.output)
        if local and not engines.is_uri(self.source) and Path(self.source).exists():
            path = catalog.write_folder_stamp(Path(str(self.output)) / "clean", self.stamp)
            self.written["stamp"] = str(path)
        return self.written


def _remove_local(path: str) -> None:
    """Spark overwrites folders; a single file written by DuckDB before is removed first."""
    if engines.is_uri(path):
        return
    target = Path(path)
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()


def _findings(
    scans: ScanResult,
    counts: dict[str, dict[str, int]],
    duplicates: DuplicateResult | None,
    dup_note: str | None,
    limits: dict[str, float],
) -> list[Finding]:
    findings: list[Finding] = []
    for r in scans.rules().itertuples():
        column = r.column if isinstance(r.column, str) else None
        skipped = r.note if r.status == "skipped" else None
        note = r.note if r.status != "skipped" and isinstance(r.note, str) else None
        findings.append(Finding(r.table, r.rule, column=column, count=int(r.failing_rows),
                                skipped=skipped, note=note,
                                failed=r.rule == "stale_table" and r.status == "failed"))  # fmt: skip
    for table in counts:
        findings.insert(0, Finding(table, "schema", note="types checked when the engine read it"))
    if "customers" in counts:
        merged = counts["customers"]["duplicate_customer"]
        findings.append(Finding("customers", "duplicate_customer", count=merged, skipped=dup_note))
    if "order_items" in counts:
        lines = {"order_quarantined": "order_id", "negative_quantity": "quantity",
                 "zero_quantity": "quantity", "negative_price": "unit_price",
                 "zero_price": "unit_price", "cancellation_line": "quantity"}  # fmt: skip
        findings.extend(
            Finding("order_items", rule, column=column, count=counts["order_items"].get(rule, 0))
            for rule, column in lines.items()
        )
    if "orders" in counts:
        for rule in ("negative_amount", "zero_amount", "amount_outlier_iqr",
                     "amount_outlier_robust_z", "cancelled_or_returned"):  # fmt: skip
            column = "status" if rule == "cancelled_or_returned" else "amount"
            no_limits = rule.startswith("amount_outlier") and not pd.notna(limits.get("iqr_high"))
            findings.append(Finding("orders", rule, column=column,
                                    count=counts["orders"].get(rule, 0),
                                    skipped="no positive amounts" if no_limits else None))  # fmt: skip
    for table, rules in NOT_ON_ENGINE.items():
        if table in counts:
            findings.extend(
                Finding(
                    table, rule, column=column, skipped="not run on the engine (pandas audit only)"
                )
                for rule, column in rules.items()
            )
    return findings


def _rows(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    rows = []
    for table, c in counts.items():
        quarantined = c["rows_quarantined"]
        clean = c["rows_in"] - quarantined
        rows.append({"table": table, "rows_in": c["rows_in"], "rows_clean": clean,
                     "rows_quarantined": quarantined, "rows_flagged": c["rows_flagged"],
                     "rows_passing": clean - c["rows_flagged"]})  # fmt: skip
    return pd.DataFrame(rows)


def _repairs(
    inputs: ScanInputs, scans: ScanResult, counts: dict[str, dict[str, int]]
) -> list[Repair]:
    repairs = [Repair(r.table, r.column, r.action, int(r.rows)) for r in scans.repairs.itertuples()]
    repairs += [
        Repair(r.table, r.column, f"ids matched {r.parent} after ignoring case/blanks",
               int(r.repaired_rows))
        for r in scans.references.itertuples()
        if not (isinstance(r.note, str) and r.note) and int(r.repaired_rows)
    ]  # fmt: skip
    if any("customers is absent" in n for n in inputs.notes):
        repairs.insert(0, Repair("customers", None, "derived from orders (one row per "
                                 "customer_id; profile columns unknown)",
                                 counts["customers"]["rows_in"]))  # fmt: skip
    if counts.get("orders", {}).get("negative_amount"):
        repairs.append(Repair("orders", "status",
                              "negative amount on a completed order: labelled cancelled",
                              counts["orders"]["negative_amount"]))  # fmt: skip
    for table in _REPOINTED:
        if counts.get(table, {}).get("moved"):
            repairs.append(Repair(table, "customer_id",
                                  "re-pointed from merged duplicate customers to the survivor",
                                  counts[table]["moved"]))  # fmt: skip
    return repairs


def _examples(final: dict[str, ibis.Table], con: BaseBackend) -> pd.DataFrame:
    """A few quarantined rows per rule and table (ids, masked e-mail, reason)."""
    columns = ["table", "rule", "severity", "row_key", "customer_id", "email", "reason"]
    parts = []
    for table, t in final.items():
        key = [c for c in table_spec(table).key if c in t.columns] or [t.columns[0]]
        bad = t.filter(t._rule.notnull())
        first = ibis.row_number().over(group_by=bad._rule, order_by=[bad[c] for c in key])
        bad = bad.mutate(_n=first).filter(lambda x: x._n < 3)
        label = ibis.literal(", ").join(
            [_lit(f"{c}=") + bad[c].cast("string").fill_null("blank") for c in key]
        )
        parts.append(
            bad.select(
                table=_lit(table),
                order=ibis.literal(list(TABLES).index(table)),
                rule=bad._rule,
                row_key=label,
                customer_id=bad.customer_id.cast("string")
                if "customer_id" in t.columns
                else ibis.null(dt.String()),
                email=bad.email.cast("string") if table == "customers" else ibis.null(dt.String()),
                reason=bad._reason,
            )
        )
    out = con.execute(ibis.union(*parts).order_by(["order", "rule", "row_key"]))  # one query
    out = out.assign(severity="error")[columns].reset_index(drop=True)
    out["email"] = mask_email(out["email"])
    return out
