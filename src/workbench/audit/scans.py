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
of key rows: the first copy or version is kept, every other one counts) when no row falls
between ``as_of`` and the audit's future limit: the audit sets such rows aside and leaves
them out of every count (:mod:`workbench.audit.timeline`), the scans count every row at
or after ``as_of`` as in the future. Tables are
opened by :func:`workbench.canonical.open_tables` with ``normalise=True``, so they are
read as the loader reads them: ids and text trimmed (blank, ``nan``, ``None`` become
missing; ``17850.0`` becomes ``17850``), status and event-type synonyms normalised, an
absent ``status`` is ``completed``, an absent ``customers`` table is derived from the
orders. Matching ids "ignoring case" uses the engine's ``lower`` (Python's ``casefold``
in the pandas audit; they differ only for a few non-ASCII letters such as ``ß``).

:func:`run_scans` runs every scan and returns a :class:`ScanResult` (pandas summaries,
:meth:`ScanResult.rules` in the shape of :meth:`workbench.audit.AuditResult.rules`).

The audit stage on an engine (the row-level rules, quarantine and clean tables written
by the engine) is :func:`workbench.audit.engine.audit_on_engine`; it reuses the scans'
profiles and reference counts from here.

Examples
--------
>>> from workbench import engines
>>> from workbench.schema import parse_as_of
>>> con = engines.connect("spark")                                   # doctest: +SKIP
>>> as_of = parse_as_of("2026-06-30")                                # doctest: +SKIP
>>> scans = run_scans("s3a://lake/raw", as_of, con=con)              # doctest: +SKIP
>>> scans.rules().query("status == 'failed'")                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.audit.rules import RULES
from workbench.canonical import CanonicalTables, open_tables
from workbench.loading import LoadedData
from workbench.schema import TABLES, table_spec

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


__all__ = [
    "SCAN_RULES",
    "EXAMPLES",
    "UNKNOWN_RULE",
    "FUTURE_TABLES",
    "DUPLICATE_COUNTS",
    "ScanResult",
    "table_profile",
    "duplicate_scan",
    "reference_scan",
    "classify_references",
    "run_scans",
    "allowed_values",
    "key_label",
    "small_result",
    "profile_tables",
    "reference_rows",
    "scan_result",
    "zero_if_missing",
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
#: The rule of an id missing from each parent table.
UNKNOWN_RULE = {
    "customers": "unknown_customer",
    "orders": "unknown_order",
    "products": "unknown_product",
}
#: Tables whose time column must be before ``as_of``.
FUTURE_TABLES = ("orders", "email_events", "web_events", "experiment_assignments")
#: What :func:`duplicate_scan` counts per table.
DUPLICATE_COUNTS = ("duplicate_rows", "conflicting_rows", "repeated_keys", "conflicting_keys")
_REFERENCE_COUNTS = ("checked_rows", "unknown_rows", "unknown_ids", "repaired_rows")


# --------------------------------------------------------------------------- the scans


def small_result(con: BaseBackend, expr: ibis.Table) -> pd.DataFrame:
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
    for col, allowed in allowed_values(table).items():
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


def allowed_values(table: str) -> dict[str, list[str]]:
    """Columns of ``table`` with a closed set of values (statuses, event types) and the set."""
    out = {}
    for name, column in table_spec(table).model.to_schema().columns.items():
        for check in column.checks:
            allowed = check.statistics.get("allowed_values")
            if allowed is not None:
                out[name] = list(allowed)
    return out


def _key_usable(inputs: CanonicalTables, table: str, blanks: Mapping[str, int], rows: int) -> bool:
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
    label = key_label(per_key, key)
    examples = (
        per_key.filter(per_key.versions > 1)
        .select(key=label, rows=per_key.rows, versions=per_key.versions)
        .order_by([ibis.desc("rows"), "key"])
        .limit(EXAMPLES)
    )
    return totals, examples


def key_label(t: ibis.Table, key: list[str]) -> ibis.StringValue:
    """``order_id O3`` (or ``a 1, b 2`` for a composite key): a key's values as text."""
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

        def add(
            table: str,
            rule: str,
            column: str | None,
            failing: int,
            note: str | None = None,
            skipped: bool = False,
            failed: bool = False,
        ) -> None:
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
            rule = UNKNOWN_RULE[r.parent]
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
    source: str | Path | LoadedData | Mapping[str, Any] | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    con: BaseBackend | None = None,
    freshness_days: int = 30,
) -> ScanResult:
    """Run every scan on the engine and bring back the small summaries.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping or CanonicalTables
        Raw or canonical tables, opened with
        :func:`workbench.canonical.open_tables` (``normalise=True``): a folder or URI of
        ``<table>.parquet`` files or part folders is read by the engine, a folder of CSV
        files or with a mapping file through the loader.
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight): timestamps at or after it are in the future.
    con : ibis backend, optional
        The engine (default: in-memory DuckDB; a URI needs it; CanonicalTables bring
        their own).
    freshness_days : int
        A table whose newest row before ``as_of`` is older than this is stale.

    Returns
    -------
    ScanResult

    Examples
    --------
    >>> scans = run_scans("data/raw", parse_as_of("2026-06-30"))          # doctest: +SKIP
    >>> scans.references[["table", "column", "unknown_rows"]]             # doctest: +SKIP
    """
    inputs = open_tables(source, con=con, normalise=True)
    parts, keyed, seconds = profile_tables(inputs, as_of, freshness_days)
    for table, t in inputs.tables.items():
        started = time.perf_counter()
        totals, examples = duplicate_scan(t, table, keyed=keyed[table])
        dup = small_result(inputs.con, totals).iloc[0]
        parts["duplicates"].append(
            {"table": table, "key": ", ".join(table_spec(table).key) if keyed[table] else "",
             **{k: int(zero_if_missing(dup[k])) for k in DUPLICATE_COUNTS}}
        )  # fmt: skip
        if examples is not None and int(zero_if_missing(dup["conflicting_rows"])):
            parts["duplicate_keys"].append(small_result(inputs.con, examples).assign(table=table))
        seconds[table] += round(time.perf_counter() - started, 3)
    references, unknown = reference_rows(inputs, seconds)
    result = scan_result(inputs, as_of, freshness_days, parts, references, unknown, seconds)
    log.info("scans on %s: %s tables, %s rows in %.1f s", result.engine, len(result.tables),
             f"{int(result.tables['rows'].sum()):,}", sum(seconds.values()))  # fmt: skip
    return result


def profile_tables(
    inputs: CanonicalTables, as_of: pd.Timestamp, freshness_days: int
) -> tuple[dict[str, list], dict[str, bool], dict[str, float]]:
    """One profile query per table.

    Returns
    -------
    (dict, dict, dict)
        The rows of the summaries of :class:`ScanResult` by part (``tables``,
        ``missing``, ``invalid``, ``duplicates``, ``duplicate_keys``, ``freshness``,
        ``future``, ``repairs``), whether each table's key is usable, and the seconds per
        table.
    """
    if freshness_days < 0:
        raise ValueError(f"freshness_days: expected an integer >= 0, got {freshness_days!r}")
    parts: dict[str, list] = {k: [] for k in (
        "tables", "missing", "invalid", "duplicates", "duplicate_keys", "freshness", "future",
        "repairs")}  # fmt: skip
    keyed: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    for table, t in inputs.tables.items():
        started = time.perf_counter()
        profile = small_result(inputs.con, table_profile(t, table, as_of)).iloc[0]
        _profile_rows(parts, inputs, table, profile, as_of, freshness_days)
        blanks = {
            c: int(zero_if_missing(profile[f"blank__{c}"])) for c in table_spec(table).columns
        }
        keyed[table] = _key_usable(inputs, table, blanks, int(profile["rows"]))
        seconds[table] = round(time.perf_counter() - started, 3)
    return parts, keyed, seconds


def scan_result(
    inputs: CanonicalTables,
    as_of: pd.Timestamp,
    freshness_days: int,
    parts: dict[str, list],
    references: pd.DataFrame,
    unknown: pd.DataFrame,
    seconds: dict[str, float],
) -> ScanResult:
    """The :class:`ScanResult` of the parts of :func:`profile_tables` (plus the duplicate
    counts added to them) and of :func:`reference_rows`."""
    return ScanResult(
        as_of=as_of,
        engine=inputs.engine,
        source=inputs.source,
        tables=pd.DataFrame(parts["tables"], columns=["table", "rows", "columns"]),
        missing=pd.DataFrame(
            parts["missing"], columns=["table", "column", "required", "missing", "missing_share"]
        ),
        invalid=pd.DataFrame(parts["invalid"], columns=["table", "column", "invalid_rows"]),
        duplicates=pd.DataFrame(parts["duplicates"], columns=["table", "key", *DUPLICATE_COUNTS]),
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


def zero_if_missing(value: Any) -> Any:
    """0 for a count the engine returned as null (a sum over no rows)."""
    return 0 if value is None or pd.isna(value) else value


def _frames(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _profile_rows(
    parts: dict[str, list[dict]],
    inputs: CanonicalTables,
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
        blank = int(zero_if_missing(profile[f"blank__{col}"]))
        parts["missing"].append({"table": table, "column": col, "required": not nullable[col],
                                 "missing": blank, "missing_share": blank / max(rows, 1)})  # fmt: skip
    for col in allowed_values(table):
        parts["invalid"].append(
            {
                "table": table,
                "column": col,
                "invalid_rows": int(zero_if_missing(profile[f"invalid__{col}"])),
            }
        )
        changed = int(zero_if_missing(profile.get(f"synonyms__{col}", 0)))
        if changed:
            allowed = ", ".join(allowed_values(table)[col])
            parts["repairs"].append({"table": table, "column": col, "rows": changed,
                                     "action": f"normalised synonyms onto {allowed}"})  # fmt: skip
    time_col = spec.time_column
    if not time_col:
        parts["freshness"].append(
            {"table": table, "column": None, "last": None, "age_days": None, "stale": None}
        )
        return
    if table in FUTURE_TABLES:
        latest = profile["latest"]
        parts["future"].append({"table": table, "column": time_col,
                                "future_rows": int(zero_if_missing(profile["future_rows"])),
                                "latest": None if pd.isna(latest) else latest})  # fmt: skip
    empty = int(zero_if_missing(profile[f"blank__{time_col}"])) == rows
    last = profile["last_before"]
    age = None if pd.isna(last) else float((as_of - last) / pd.Timedelta(days=1))
    parts["freshness"].append({
        "table": table, "column": time_col, "last": None if pd.isna(last) else last,
        "age_days": age, "stale": None if empty else (age is None or age > freshness_days),
    })  # fmt: skip


def reference_rows(
    inputs: CanonicalTables,
    seconds: dict[str, float],
    counted: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per foreign key: scanned, or taken from the row flags' ``counted`` per
    table (the audit on an engine: ``checked_rows__<column>`` …; no examples then).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        :attr:`ScanResult.references` and :attr:`ScanResult.unknown_ids`.
    """
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
            counts = small_result(inputs.con, totals).iloc[0]
            row = {
                **base,
                **{k: int(zero_if_missing(counts[k])) for k in _REFERENCE_COUNTS},
                "note": None,
            }
            rows.append(row)
            if row["unknown_rows"]:
                examples.append(small_result(inputs.con, top).assign(**base))
            seconds[f"{table}.{column}"] = round(time.perf_counter() - started, 3)
    columns = ["table", "column", "parent", "checked_rows", "unknown_rows", "unknown_ids",
               "repaired_rows", "note"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for col in columns[3:7]:
        frame[col] = frame[col].fillna(0).astype("int64")
    return frame, _frames(examples, ["table", "column", "parent", "value", "rows"])
