"""The audit where the data is: every row rule, the quarantine and the clean tables on an
engine — the stage's default on DuckDB, and Spark for data that outgrows one machine.

:func:`audit_on_engine` runs the rules of the pandas audit (:mod:`workbench.audit.auditor`)
as Ibis expressions (:mod:`workbench.audit.engine_rules`): the schema rules, non-finite
numbers, duplicates and repeated keys, references (ids repaired ignoring case), future
timestamps, rows set aside after ``as_of``, the customers' e-mail syntax and dates,
activity before sign-up, the line rules, amounts from clean lines, the amount rules and
outliers, amounts against lines, experiment assignments — and writes the clean tables,
the quarantine and the set-aside rows by the engine. Only small results come into pandas:

* the duplicate-customer search (:func:`workbench.audit.find_duplicates`) on the
  error-free customers' matching columns — one row per customer, at most
  ``max_customers_in_memory`` (beyond it the search is skipped and the rule says so);
* the outlier limits, learned from the error-free positive amounts and quantities (all of
  them up to ``max_amounts_in_memory``, a seeded sample beyond);
* rows per day of each time column (the tables' future limits), counts and examples.

Between its steps the audit keeps a few intermediate tables on the engine (DuckDB: tables
of the connection's database — on disk when it is a file, see :func:`workbench.audit.run`;
Spark: persisted), so each large table is scanned and joined once, not once per count or
output. It returns an :class:`~workbench.audit.AuditResult`, so the report works unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench import catalog, engines
from workbench.audit.checks import outlier_thresholds
from workbench.audit.duplicates import DuplicateResult, find_duplicates
from workbench.audit.engine_rules import (
    assignment_rules,
    customer_warnings,
    error_rows,
    line_totals,
    lit,
    order_lines,
    order_money,
    quantity_flags,
    signups,
    warning_reason,
    with_before_signup,
    with_merges,
)
from workbench.audit.money import Revenue
from workbench.audit.params import MAX_CUSTOMERS_IN_MEMORY, AuditConfig
from workbench.audit.result import AuditResult, mask_email
from workbench.audit.rules import RULES, Finding
from workbench.audit.scans import UNKNOWN_RULE, allowed_values, small_result, zero_if_missing
from workbench.audit.timeline import (
    AFTER_TABLES,
    TIME_COLUMNS,
    future_limit,
    parse_extracted_at,
    source_end,
)
from workbench.audit.writer import MERGE_MAP_FILE, default_stamp
from workbench.canonical import CanonicalTables, open_tables
from workbench.loading import LoadedData, LoadError, Repair
from workbench.schema import TABLES, table_spec
from workbench.settings import Settings

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = ["MAX_AMOUNTS_IN_MEMORY", "NOT_ON_ENGINE", "audit_on_engine"]

log = logging.getLogger(__name__)

#: Order amounts (and line quantities) brought into pandas to learn the outlier limits (a
#: seeded sample beyond).
MAX_AMOUNTS_IN_MEMORY = 2_000_000
#: Rules of the pandas audit that the audit on an engine does not run (none left).
NOT_ON_ENGINE: dict[str, dict[str, str | None]] = {}
_MATCH_COLUMNS = ("customer_id", "email", "first_name", "last_name", "birth_date", "city",
                  "country", "signup_at")  # fmt: skip
_SIGNUP_TABLES = ("orders", "email_events", "web_events", "experiment_assignments")
_WARNINGS = {  # flag column -> (rule, column)
    "is_invalid_email": ("invalid_email", "email"),
    "is_future_signup": ("future_signup", "signup_at"),
    "is_implausible_birth_date": ("implausible_birth_date", "birth_date"),
    "is_before_signup": ("before_signup", None),
    "is_negative_amount": ("negative_amount", "amount"),
    "is_zero_amount": ("zero_amount", "amount"),
    "is_outlier_amount_iqr": ("amount_outlier_iqr", "amount"),
    "is_outlier_amount_z": ("amount_outlier_robust_z", "amount"),
    "is_zero_price": ("zero_price", "unit_price"),
    "is_outlier_quantity_iqr": ("quantity_outlier_iqr", "quantity"),
    "is_outlier_quantity_z": ("quantity_outlier_robust_z", "quantity"),
}
_LINE_RULES = {"order_quarantined": "order_id", "negative_quantity": "quantity",
               "zero_quantity": "quantity", "negative_price": "unit_price"}  # fmt: skip
_SAMPLE_RULES = ("missing_value", "cancelled_or_returned", "cancellation_line",
                 "order_without_lines")  # fmt: skip


class _Store:
    """Intermediate tables kept on the engine between the audit's steps."""

    def __init__(self, con: BaseBackend, engine: str) -> None:
        self.con, self.engine = con, engine
        self.kept: list[Any] = []

    def keep(self, name: str, expr: ibis.Table) -> ibis.Table:
        if self.engine == "spark":
            table = expr.cache()
            self.kept.append(table)
            return table
        if self.engine != "duckdb":
            return expr
        started = time.perf_counter()
        self._drop(f"_audit_{name}")
        table = self.con.create_table(f"_audit_{name}", expr)
        self.kept.append(f"_audit_{name}")
        log.info("audit on engine: %s kept (%.1f s)", name, time.perf_counter() - started)
        return table

    def release(self) -> None:
        for item in self.kept:
            if isinstance(item, str):
                self._drop(item)
            else:
                item.release()
        self.kept.clear()

    def _drop(self, name: str) -> None:
        # (ibis' drop_table renders an empty name with this sqlglot; plain SQL is safe)
        self.con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


def audit_on_engine(
    source: str | Path | LoadedData | Mapping[str, Any] | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    con: BaseBackend | None = None,
    config: AuditConfig | None = None,
    output: str | Path | None = None,
    max_customers_in_memory: int = MAX_CUSTOMERS_IN_MEMORY,
    max_amounts_in_memory: int = MAX_AMOUNTS_IN_MEMORY,
    stamp: catalog.Stamp | None = None,
    now: pd.Timestamp | None = None,
    settings: Settings | None = None,
) -> AuditResult:
    """The audit where the data is: rules, quarantine and clean tables on the engine.

    Parameters
    ----------
    source : folder, URI, LoadedData, mapping or CanonicalTables
        Raw or canonical tables, opened with :func:`workbench.canonical.open_tables`
        (``normalise=True``: raw values read as the loader reads them).
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight); rows at or after it are set aside.
    con : ibis backend, optional
        The engine (default: in-memory DuckDB; a URI needs it).
    config : AuditConfig, optional
        Thresholds (duplicate threshold, block size, outlier limits, freshness, seed).
    output : str or Path, optional
        Folder or URI to write ``clean/<table>.parquet``, ``quarantine/<table>.parquet``,
        ``after_as_of/<table>.parquet`` (by the engine: part folders on Spark) and
        ``merge_map.parquet``; a local folder also gets the stamps. None: nothing written.
    max_customers_in_memory, max_amounts_in_memory : int
        Limits of what comes into pandas (see the module docstring).
    stamp : catalog.Stamp, optional
        The stamp of the outputs (a stage passes its own); default: from source and as_of.
    now : pandas.Timestamp, optional
        The run date (default: now); timestamps after it are in the future.
    settings : Settings, optional
        When ``output`` is the data tree's ``interim/`` folder: the merge map is written
        as the catalog entry ``merge_map``, stamped.

    Returns
    -------
    AuditResult
        Findings (counts), rows per table (rows in = clean + quarantined + set aside),
        missingness, freshness, amount limits, revenue, examples (masked e-mails),
        duplicates, repairs; ``written`` lists the outputs.

    Raises
    ------
    LoadError
        The orders table (or a customers table given) has no rows.

    Notes
    -----
    Where a key has conflicting versions, or an assignment is repeated, the first in sort
    order of the other columns is kept (the pandas audit keeps the first in file order);
    customers are matched in id order. Counts are the same as the pandas audit's.
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    inputs = open_tables(source, con=con, normalise=True)
    con = inputs.con
    store = _Store(con, inputs.engine)
    try:
        # where the engine rewrites raw values (trimming, blanks, synonyms), once per table
        kept = {
            t: store.keep(f"canonical_{t}", expr) if inputs.reworked.get(t) else expr
            for t, expr in inputs.tables.items()
        }
        inputs = dataclasses.replace(inputs, tables=kept)
        facts = _Facts.gather(inputs, config, now)
        final, duplicates, dup_note, extra = _final_tables(
            inputs, as_of, config, facts, store, max_customers_in_memory, max_amounts_in_memory
        )
        if stamp is None:
            stamp = default_stamp(inputs.source, as_of)
        writer = _EngineWriter(output, con, source=inputs.source, stamp=stamp, settings=settings)
        counts: dict[str, dict[str, Any]] = {}
        for table in inputs.tables:
            counts[table] = _counts(final[table], con, table, as_of, facts.limits.get(table))
            writer.write(table, final[table])
        if duplicates is not None:
            writer.merge_map(duplicates.merge_map)
        written = writer.finish()
        examples = _examples(final, con, {
            "as_of": as_of, "limit": next(iter(facts.limits.values()), None),
            "limits": {"amount": extra["amount_limits"], "quantity": extra["quantity_limits"]},
        })  # fmt: skip
        revenue = _revenue(inputs, final.get("orders"), con) if "orders" in final else None
    finally:
        store.release()
    result = AuditResult(
        as_of=as_of,
        config=config,
        findings=_findings(inputs, counts, facts, duplicates, dup_note, extra, as_of, config),
        clean={},
        quarantine={},
        rows=_rows(counts),
        duplicates=duplicates,
        repairs=_repairs(inputs, counts),
        missingness=_missingness(counts),
        freshness=_freshness(counts, facts, as_of, config.freshness_days),
        amount_limits=extra["amount_limits"],
        amounts=extra["amounts"],
        examples=examples,
        sources={
            t: {
                "path": inputs.source,
                "format": f"{inputs.kind} ({inputs.engine})",
                "rows": counts[t]["rows_in"],
                "digest": None,
            }
            for t in counts
        },  # fmt: skip
        revenue=revenue,
        future_limits=dict(facts.limits),
    )
    result.written = written
    result.seconds = time.perf_counter() - started
    log.info("audit on %s: %s rows in, %s quarantined, %s set aside (%.1f s)", inputs.engine,
             f"{int(result.rows['rows_in'].sum()):,}",
             f"{int(result.rows['rows_quarantined'].sum()):,}",
             f"{int(result.rows['rows_after_as_of'].sum()):,}", result.seconds)  # fmt: skip
    return result


# --------------------------------------------------------------------------- before the rules


class _Facts:
    """What the rules need to know first: rows and filled columns per table, whether its
    key is usable, its future limit."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.present: dict[str, frozenset[str]] = {}
        self.keyed: dict[str, bool] = {}
        self.limits: dict[str, pd.Timestamp] = {}
        self.derived = False

    @classmethod
    def gather(cls, inputs: CanonicalTables, config: AuditConfig, now: pd.Timestamp) -> _Facts:
        facts = cls()
        extracted = parse_extracted_at(config.extracted_at)
        days: dict[str, pd.Series] = {}
        for table, t in inputs.tables.items():
            cols = [c for c in t.columns if c in inputs.provided[table]]
            metrics = {"_rows": t.count(), **{c: t[c].count() for c in cols}}
            row = small_result(inputs.con, t.aggregate(**metrics)).iloc[0]
            facts.rows[table] = int(zero_if_missing(row["_rows"]))
            facts.present[table] = frozenset(c for c in cols if int(zero_if_missing(row[c])) > 0)
            key = table_spec(table).key
            facts.keyed[table] = bool(
                key
                and table != "experiment_assignments"
                and all(c in inputs.provided[table] for c in key)
                and any(c in facts.present[table] for c in key)
            )
            when = TIME_COLUMNS.get(table)
            if when:
                day = t.filter(t[when].notnull()).select(day=t[when].truncate("D"))
                day = small_result(inputs.con, day.group_by("day").aggregate(n=day.count()))
                days[table] = pd.Series(day["n"].to_numpy(), index=pd.DatetimeIndex(day["day"]))
        limit = future_limit(source_end(days.values()), now=now, extracted_at=extracted)
        facts.limits = dict.fromkeys(days, limit)
        facts.derived = inputs.derived.get("orders") == "order_items"
        for table in ("orders", "customers"):
            derived = table in inputs.derived or (
                table == "customers" and "customers is absent" in " ".join(inputs.notes)
            )
            if table in facts.rows and facts.rows[table] == 0 and not derived:
                raise LoadError(
                    f"table {table!r}: {inputs.source} has no {table} rows; the workbench needs "
                    f"at least one {'order' if table == 'orders' else 'customer'}"
                )
        return facts


def _final_tables(
    inputs: CanonicalTables,
    as_of: pd.Timestamp,
    config: AuditConfig,
    facts: _Facts,
    store: _Store,
    max_customers: int,
    max_amounts: int,
) -> tuple[dict[str, ibis.Table], DuplicateResult | None, str | None, dict[str, Any]]:
    """Every table with its rules, flags and repairs, in the order the rules need."""
    con = inputs.con
    errors = {
        t: error_rows(inputs, t, as_of, keyed=facts.keyed[t], limit=facts.limits.get(t))
        for t in inputs.tables
    }
    present = facts.present["customers"]
    customers = store.keep(
        "customers",
        customer_warnings(errors["customers"], as_of, facts.limits.get("customers"), present),
    )
    duplicates, dup_note = _duplicate_search(customers, con, config, max_customers)
    merge = None
    if duplicates is not None and not duplicates.merge_map.empty:
        merge = _merge_table(duplicates.merge_map)
        con.execute(merge.count())  # registers it: kept tables that read it need it there
    signup = store.keep("signups", signups(customers)) if "signup_at" in present else None
    final = {"customers": with_merges(customers, "customers", merge)}
    extra: dict[str, Any] = {
        "signup": signup is not None,
        "amount_limits": {},
        "amounts": pd.Series(dtype="float64", name="amount"),
        "quantity_limits": None,
    }
    for table in inputs.tables:
        if table == "customers":
            continue
        t = errors[table]
        if table in _SIGNUP_TABLES:
            when = str(table_spec(table).time_column)  # every such table has one
            t = with_before_signup(t, when, signup, config.signup_grace_hours)
        t = with_merges(t, table, merge)
        if table == "orders":  # the status the line rules see (see order_money for the final)
            negative = ((t.amount < 0) & (t.status == "completed")).fill_null(False)
            t = t.mutate(_line_status=ibis.ifelse(negative, lit("cancelled"), t.status))
        if table == "experiment_assignments":
            t = assignment_rules(t)
        lazy = table == "products" or (table == "order_items" and "orders" in errors)
        final[table] = t if lazy else store.keep(table, t)  # lines: kept with their rules
    totals = None
    if "order_items" in final and "_fix_order_id" in final["order_items"].columns:
        orders = final["orders"]
        lines = order_lines(
            final["order_items"],
            orders.select("order_id", "_rule", "_after", status=orders._line_status),
        )
        lines = store.keep("order_items_lines", lines)
        quantities = _sample(lines, lines.quantity, con, max_amounts, config.random_state)
        limits = outlier_thresholds(quantities, iqr_k=config.iqr_k, z_max=config.robust_z,
                                    min_ratio=config.outlier_min_ratio)  # fmt: skip
        extra["quantity_limits"] = limits
        final["order_items"] = quantity_flags(lines, limits)
        totals = store.keep("line_totals", line_totals(lines))
    if "orders" in final:
        draft = order_money(final["orders"], totals, {}, derived=facts.derived)
        amounts = _sample(draft, draft._fix_amount, con, max_amounts, config.random_state)
        limits = outlier_thresholds(amounts, iqr_k=config.iqr_k, z_max=config.robust_z,
                                    min_ratio=config.outlier_min_ratio)  # fmt: skip
        extra["amount_limits"], extra["amounts"] = limits, amounts.rename("amount")
        money = order_money(final["orders"], totals, limits, derived=facts.derived)
        final["orders"] = store.keep("orders_money", money)
    extra["lines"] = totals is not None
    return final, duplicates, dup_note, extra


def _sample(
    t: ibis.Table, value: ibis.NumericValue, con: BaseBackend, limit: int, random_state: int
) -> pd.Series:
    """Positive values of error-free rows (not set aside): all up to ``limit``, else a
    seeded sample of about ``limit`` (for the outlier limits and the figure)."""
    eligible = t.filter(t._rule.isnull(), ~t._after, value > 0).select(v=value)
    values = con.execute(eligible.limit(limit + 1))["v"]
    if len(values) > limit:
        n = int(con.execute(eligible.count()))
        log.info("audit on engine: outlier limits from a sample of %s of %s values",
                 f"{limit:,}", f"{n:,}")  # fmt: skip
        values = con.execute(eligible.sample(limit / n, seed=random_state))["v"]
    return pd.Series(values.to_numpy(dtype=float))


def _customers_for_matching(
    customers: ibis.Table, con: BaseBackend, limit: int
) -> tuple[pd.DataFrame | None, int]:
    """The error-free customers' matching columns in pandas (ordered by id), or None when
    there are more than ``limit`` of them; and their number."""
    usable = customers.filter(customers._rule.isnull())
    columns = [c for c in _MATCH_COLUMNS if c in usable.columns]
    frame = small_result(con, usable.select(*columns).order_by("customer_id").limit(limit + 1))
    if len(frame) > limit:  # one query when they fit; counted only when they do not
        return None, int(con.execute(usable.count()))
    text = {c: "str" for c in columns if c not in ("birth_date", "signup_at")}
    return frame.astype(text), len(frame)


def _duplicate_search(
    customers: ibis.Table, con: BaseBackend, config: AuditConfig, limit: int
) -> tuple[DuplicateResult | None, str | None]:
    if not config.find_duplicates:
        return None, "the duplicate search is switched off"
    frame, n = _customers_for_matching(customers, con, limit)
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


# --------------------------------------------------------------------------- outputs


def _clean(final: ibis.Table, table: str) -> ibis.Table:
    """Rows without errors, not set aside: repaired columns, flag columns."""
    kept = final.filter(final._rule.isnull() & ~final._after)
    cols: dict[str, ibis.Value] = {}
    for col in table_spec(table).columns:
        fix = f"_fix_{col}"
        cols[col] = kept[fix] if fix in kept.columns else kept[col]
    flags = [c for c in kept.columns if c.startswith("is_")]
    return kept.select(**cols, **{c: kept[c] for c in flags})


def _quarantine(final: ibis.Table, table: str) -> ibis.Table:
    bad = final.filter(final._rule.notnull() & ~final._after)
    return bad.select(
        *table_spec(table).columns, rule=bad._rule, severity=lit("error"), reason=bad._reason
    )


def _set_aside(final: ibis.Table, table: str) -> ibis.Table:
    return final.filter(final._after).select(*table_spec(table).columns)


class _EngineWriter:
    """Writes each table's clean rows, quarantine and set-aside rows by the engine."""

    def __init__(
        self,
        output: str | Path | None,
        con: BaseBackend,
        *,
        source: str,
        stamp: catalog.Stamp,
        settings: Settings | None = None,
    ) -> None:
        self.con = con
        self.source = source
        self.stamp = stamp
        self.settings = settings
        self.output = None if output is None else str(output)
        self.written: dict[str, str] = {}
        self.tables: list[str] = []
        self.local = bool(self.output) and not engines.is_uri(str(self.output))
        if self.local:
            folder = Path(str(self.output))
            for sub in ("clean", "quarantine", "after_as_of"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
                catalog.remove_folder_stamp(folder / sub)

    def _path(self, kind: str, table: str) -> str:
        return f"{str(self.output).rstrip('/')}/{kind}/{table}.parquet"

    def write(self, table: str, final: ibis.Table) -> None:
        """Write the clean rows, the quarantine and (tables with a time column, and order
        lines) the rows set aside: complementary filters of the same rows."""
        self.tables.append(table)
        if self.output is None:
            return
        outputs = [("clean", _clean(final, table)), ("quarantine", _quarantine(final, table))]
        if table in AFTER_TABLES:
            outputs.append(("after_as_of", _set_aside(final, table)))
        for kind, expr in outputs:
            path = self._path(kind, table)
            _remove_local(path)
            engines.write_parquet(expr, path, self.con)
            self.written[f"{kind}/{table}"] = path

    def merge_map(self, merge_map: pd.DataFrame) -> None:
        if self.output is None:
            return
        path = f"{str(self.output).rstrip('/')}/{MERGE_MAP_FILE}"
        if self.settings is not None and self.local:
            target = catalog.location(self.settings, "merge_map")
            if target.resolve() == Path(path).resolve():
                catalog.write_table(self.settings, "merge_map", merge_map, self.stamp)
                self.written["merge_map"] = path
                return
        _remove_local(path)
        frame = merge_map if not engines.is_uri(path) else ibis.memtable(merge_map)
        engines.write_parquet(frame, path, None if isinstance(frame, pd.DataFrame) else self.con)
        self.written["merge_map"] = path

    def finish(self) -> dict[str, str]:
        """Remove other tables' files of an earlier run; stamp the folders (clean last)."""
        if not self.local:
            return self.written
        folder = Path(str(self.output))
        for table in TABLES:
            for kind in ("clean", "quarantine", "after_as_of"):
                if table not in self.tables or (
                    kind == "after_as_of" and table not in AFTER_TABLES
                ):
                    _remove_local(self._path(kind, table))
        if engines.is_uri(self.source) or not Path(self.source).exists():
            return self.written
        for kind in ("quarantine", "after_as_of", "clean"):
            path = catalog.write_folder_stamp(folder / kind, self.stamp)
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


# --------------------------------------------------------------------------- counts


def _counts(
    final: ibis.Table,
    con: BaseBackend,
    table: str,
    as_of: pd.Timestamp,
    limit: pd.Timestamp | None,
) -> dict[str, Any]:
    """Everything the findings, rows, missingness and freshness need, in two queries."""
    spec = table_spec(table)
    live = final.filter(~final._after)
    error = live._rule.notnull()
    warn = [live[c] for c in _WARNINGS if c in live.columns]
    any_warning = ibis.or_(*warn) if warn else ibis.literal(False)
    metrics: dict[str, ibis.Value] = {
        "rows_live": live.count(),
        "rows_quarantined": error.sum(),
        "rows_flagged": (~error & any_warning).sum(),
        "moved": live._moved.sum(),
        "duplicate_customer": (live._rule == "duplicate_customer").fill_null(False).sum(),
    }
    for col in live.columns:
        if col.startswith(("_e_", "_fixed_", "_l_", "is_")) or col in (
            "_cancellation_line",
            "_amount_changed",
        ):
            metrics[col] = live[col].sum()
    for col in spec.columns:
        metrics[f"blank__{col}"] = live[col].isnull().sum()
    if "_fix_status" in live.columns:
        metrics["cancelled_or_returned"] = live._fix_status.isin(["cancelled", "returned"]).sum()
    if "_has_clean" in live.columns:
        metrics["order_without_lines"] = (~live._has_clean).sum()
    when = spec.time_column
    if when:
        metrics["last_before"] = live[when].max(where=live[when] < ibis.literal(as_of))
    everything = {"rows_in": final.count(), "rows_after_as_of": final._after.sum()}
    for col in final.columns:
        if col.startswith("_synonym_"):
            everything[col] = final[col].sum()
    row = small_result(con, live.aggregate(**metrics)).iloc[0].to_dict()
    row.update(small_result(con, final.aggregate(**everything)).iloc[0].to_dict())
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[k] = v if k == "last_before" else int(zero_if_missing(v))
    out["last_before"] = None if pd.isna(row.get("last_before")) else row["last_before"]
    return out


def _rows(counts: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for table, c in counts.items():
        quarantined = c["rows_quarantined"]
        clean = c["rows_live"] - quarantined
        rows.append({"table": table, "rows_in": c["rows_in"], "rows_clean": clean,
                     "rows_quarantined": quarantined, "rows_after_as_of": c["rows_after_as_of"],
                     "rows_flagged": c["rows_flagged"],
                     "rows_passing": clean - c["rows_flagged"]})  # fmt: skip
    return pd.DataFrame(rows)


def _missingness(counts: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for table, c in counts.items():
        for col in table_spec(table).columns:
            blank = c[f"blank__{col}"]
            rows.append({"table": table, "column": col, "missing": blank,
                         "missing_share": blank / max(c["rows_live"], 1)})  # fmt: skip
    return pd.DataFrame(rows, columns=["table", "column", "missing", "missing_share"])


def _freshness(
    counts: dict[str, dict[str, Any]], facts: _Facts, as_of: pd.Timestamp, max_age_days: int
) -> pd.DataFrame:
    """Newest row before ``as_of`` per table, its age and whether the table is stale (as
    :func:`workbench.audit.checks.check_freshness`)."""
    rows: list[dict[str, Any]] = []
    for table, c in counts.items():
        when = table_spec(table).time_column
        if not when or when not in facts.present.get(table, frozenset()):
            rows.append({"table": table, "last": None, "age_days": None, "stale": None})
            continue
        last = c["last_before"]
        last = None if last is None else pd.Timestamp(last)
        if last is not None and last.tzinfo is None:
            last = last.tz_localize("UTC")
        age = None if last is None else float((as_of - last) / pd.Timedelta(days=1))
        stale = age is None or age > max_age_days
        rows.append({"table": table, "last": last, "age_days": age, "stale": stale})
    return pd.DataFrame(rows, columns=["table", "last", "age_days", "stale"])


def _stale(table: str, facts: _Facts, c: dict[str, Any], as_of: pd.Timestamp,
           max_age_days: int) -> Finding:  # fmt: skip
    when = table_spec(table).time_column
    if not when:
        return Finding(table, "stale_table", skipped=f"{table} has no time column")
    if when not in facts.present.get(table, frozenset()):
        return Finding(table, "stale_table", column=when, skipped=f"{table}.{when} is empty")
    frame = _freshness({table: c}, facts, as_of, max_age_days).iloc[0]
    age = frame["age_days"]
    note = (
        f"no {when} before as_of {as_of.date()}"
        if age is None or pd.isna(age)
        else f"newest {when} {frame['last']:%Y-%m-%d %H:%M} is {age:.1f} days before as_of"
    )
    return Finding(table, "stale_table", column=when, note=note, failed=bool(frame["stale"]))


# --------------------------------------------------------------------------- findings


def _findings(
    inputs: CanonicalTables,
    counts: dict[str, dict[str, Any]],
    facts: _Facts,
    duplicates: DuplicateResult | None,
    dup_note: str | None,
    extra: dict[str, Any],
    as_of: pd.Timestamp,
    config: AuditConfig,
) -> list[Finding]:
    """The findings of every table, as the pandas audit reports them (counts only)."""
    out: list[Finding] = []
    for table, c in counts.items():
        out.extend(_table_findings(inputs, table, c, facts, extra))
        out.append(_stale(table, facts, c, as_of, config.freshness_days))
    if "customers" in counts:
        out.append(Finding("customers", "duplicate_customer",
                           count=counts["customers"]["duplicate_customer"], skipped=dup_note))  # fmt: skip
    return out


def _table_findings(
    inputs: CanonicalTables,
    table: str,
    c: dict[str, Any],
    facts: _Facts,
    extra: dict[str, Any],
) -> list[Finding]:
    spec = table_spec(table)
    out = [Finding(table, "schema", note="types checked when the engine read it")]

    def add(rule: str, column: str | None, n: int, *, skipped: str | None = None,
            always: bool = True) -> None:  # fmt: skip
        if always or n:
            out.append(Finding(table, rule, column=column, count=int(n), skipped=skipped))

    nullable = {n: col.nullable for n, col in spec.model.to_schema().columns.items()}
    for col in spec.columns:  # as the pandas audit: only the failing ones are listed
        if nullable[col]:
            add("missing_value", col, c[f"blank__{col}"], always=False)
        else:
            add("missing_required", col, c.get(f"_e_blank_{col}", 0), always=False)
    for col in allowed_values(table):
        add("invalid_value", col, c.get(f"_e_invalid_{col}", 0), always=False)
    for col in spec.numeric_columns:
        add("non_finite", col, c.get(f"_e_inf_{col}", 0))
    add("duplicate_row", None, c.get("_e_copy", 0))
    if table == "experiment_assignments":
        add("duplicate_key", None, c.get("_e_repeat", 0))
        add("conflicting_assignment", None, c.get("_e_conflict", 0))
    elif "_e_version" in c:
        add("duplicate_key", None, c["_e_version"])
    else:
        why = f"{table} has no values in its key column(s) " + (", ".join(spec.key) or "(none)")
        add("duplicate_key", None, 0, skipped=why)
    for fk, parent in spec.foreign_keys.items():
        if parent not in inputs.tables:
            add(UNKNOWN_RULE[parent], fk, 0, skipped=f"no {parent} table")
            continue
        add("id_case_mismatch", fk, c.get(f"_fixed_{fk}", 0))
        add(UNKNOWN_RULE[parent], fk, c.get(f"_e_ref_{fk}", 0))
    when = spec.time_column
    if table in AFTER_TABLES:
        add("after_as_of", "order_id" if table == "order_items" else when, c["rows_after_as_of"])
    if when and table in AFTER_TABLES:
        add("future_timestamp", when, c.get("_e_future", 0))
    if when and table in _SIGNUP_TABLES:
        skip = None if extra["signup"] else "customers.signup_at is empty"
        add("before_signup", when, c.get("is_before_signup", 0), skipped=skip)
    present = facts.present.get(table, frozenset())
    if table == "customers":
        for flag, why in (("is_invalid_email", "customers.email is empty or absent"),
                          ("is_future_signup", "customers.signup_at is empty"),
                          ("is_implausible_birth_date", "customers.birth_date is empty")):  # fmt: skip
            w_rule, w_col = _WARNINGS[flag]
            add(w_rule, w_col, c.get(flag, 0), skipped=None if w_col in present else why)
    if table == "orders":
        out.extend(_order_findings(c, facts, extra))
    if table == "order_items" and "_l_order_quarantined" in c:
        for rule, col in _LINE_RULES.items():
            add(rule, col, c.get(f"_l_{rule}", 0))
        add("cancellation_line", "quantity", c.get("_cancellation_line", 0))
        add("zero_price", "unit_price", c.get("is_zero_price", 0))
        limits = extra["quantity_limits"] or {}
        no_limits = not pd.notna(limits.get("iqr_high"))
        for flag in ("is_outlier_quantity_iqr", "is_outlier_quantity_z"):
            w_rule, w_col = _WARNINGS[flag]
            skip = "no positive quantity values to learn limits from" if no_limits else None
            add(w_rule, w_col, c.get(flag, 0), skipped=skip)
    return out


def _order_findings(c: dict[str, Any], facts: _Facts, extra: dict[str, Any]) -> list[Finding]:
    out = [
        Finding("orders", "negative_amount", column="amount", count=c.get("is_negative_amount", 0)),
        Finding("orders", "zero_amount", column="amount", count=c.get("is_zero_amount", 0)),
        Finding("orders", "cancelled_or_returned", column="status",
                count=c.get("cancelled_or_returned", 0)),
    ]  # fmt: skip
    no_limits = not pd.notna(extra["amount_limits"].get("iqr_high"))
    for flag in ("is_outlier_amount_iqr", "is_outlier_amount_z"):
        rule, col = _WARNINGS[flag]
        skip = "no positive amount values to learn limits from" if no_limits else None
        out.append(Finding("orders", rule, column=col, count=c.get(flag, 0), skipped=skip))
    if extra["lines"]:
        out.append(Finding("orders", "amount_mismatch", column="amount",
                           count=c.get("is_amount_mismatch", 0)))  # fmt: skip
        out.append(Finding("orders", "order_without_lines", count=c.get("order_without_lines", 0)))
        if facts.derived:
            out.append(Finding("orders", "lines_quarantined", column="amount",
                               count=c.get("_e_lines", 0)))  # fmt: skip
    return out


def _repairs(inputs: CanonicalTables, counts: dict[str, dict[str, Any]]) -> list[Repair]:
    repairs = list(inputs.repairs)
    if any("customers is absent" in n for n in inputs.notes):
        repairs.append(Repair("customers", None, "derived from orders (one row per "
                              "customer_id; profile columns unknown)",
                              counts["customers"]["rows_in"]))  # fmt: skip
    for table, c in counts.items():
        for col, allowed in allowed_values(table).items():
            if c.get(f"_synonym_{col}"):
                repairs.append(Repair(table, col, f"normalised synonyms onto {', '.join(allowed)}",
                                      c[f"_synonym_{col}"]))  # fmt: skip
    for table, c in counts.items():
        for col, parent in table_spec(table).foreign_keys.items():
            if c.get(f"_fixed_{col}"):
                repairs.append(Repair(table, col, f"ids matched {parent} after ignoring case/blanks",
                                      c[f"_fixed_{col}"]))  # fmt: skip
    for table, c in counts.items():
        if c.get("moved"):
            repairs.append(Repair(table, "customer_id",
                                  "re-pointed from merged duplicate customers to the survivor",
                                  c["moved"]))  # fmt: skip
    orders = counts.get("orders", {})
    if orders.get("is_negative_amount"):
        repairs.append(Repair("orders", "status",
                              "negative amount on a completed order: labelled cancelled",
                              orders["is_negative_amount"]))  # fmt: skip
    if orders.get("_amount_changed"):
        repairs.append(Repair("orders", "amount",
                              "recomputed from the order's clean lines (a line was quarantined)",
                              orders["_amount_changed"]))  # fmt: skip
    return repairs


def _revenue(inputs: CanonicalTables, orders: ibis.Table, con: BaseBackend) -> Revenue:
    """Revenue as loaded (from the input table itself) and where it went (from the rows the
    audit sorted): see :class:`workbench.audit.money.Revenue`."""

    def contribution(amount: ibis.NumericValue, status: ibis.StringValue) -> ibis.NumericValue:
        counted = (status == "completed") & amount.notnull() & ~amount.isinf() & (amount > 0)
        return ibis.ifelse(counted.fill_null(False), amount, 0.0)

    loaded = inputs.tables["orders"]
    raw = con.execute(contribution(loaded.amount, loaded.status).sum())
    raw_row = contribution(orders._raw_amount, orders.status)
    final_row = ibis.ifelse(orders.is_revenue, orders._fix_amount, 0.0)
    error, after = orders._rule.notnull(), orders._after
    parts = small_result(
        con,
        orders.aggregate(
            clean=final_row.sum(where=~error & ~after),
            quarantined_orders=raw_row.sum(where=error & ~after),
            quarantined_lines=(raw_row - final_row).sum(where=~error & ~after),
            after_as_of=raw_row.sum(where=after),
        ),
    ).iloc[0]
    return Revenue(raw=float(zero_if_missing(raw)),
                   **{k: float(zero_if_missing(v)) for k, v in parts.items()})  # fmt: skip


def _examples(
    final: dict[str, ibis.Table], con: BaseBackend, context: dict[str, Any]
) -> pd.DataFrame:
    """A few quarantined rows per rule and table, and a few flagged rows per warning (ids,
    masked e-mail, reason)."""
    columns = ["table", "rule", "severity", "row_key", "customer_id", "email", "reason"]
    parts = []
    for table, t in final.items():
        key = [c for c in table_spec(table).key if c in t.columns] or [t.columns[0]]
        label = ibis.literal(", ").join(
            [lit(f"{c}=") + t[c].cast("string").fill_null("blank") for c in key]
        )
        base = {
            "table": lit(table),
            "order": ibis.literal(list(TABLES).index(table)),
            "row_key": label,
            "customer_id": t.customer_id.cast("string")
            if "customer_id" in t.columns
            else ibis.null(dt.String()),
            "email": t.email.cast("string") if table == "customers" else ibis.null(dt.String()),
        }
        kinds = [(t._rule.notnull() & ~t._after, t._rule, lit("error"), t._reason)]
        for flag, (rule, _) in _WARNINGS.items():
            reason = warning_reason(flag, t, **context)
            if reason is not None:
                kinds.append((t[flag], lit(rule), lit(RULES[rule].severity), reason))
        for hit, rule, severity, reason in kinds:
            rows = t.select(**base, rule=rule, severity=severity, reason=reason, _hit=hit)
            rows = rows.filter(rows._hit).drop("_hit")
            first = ibis.row_number().over(group_by=rows.rule, order_by=rows.row_key)
            parts.append(rows.mutate(_n=first).filter(lambda x: x._n < 3).drop("_n"))
    out = con.execute(ibis.union(*parts).order_by(["order", "severity", "rule", "row_key"]))
    out = out[columns].reset_index(drop=True)
    out["email"] = mask_email(out["email"])
    return out
