"""The audit stage where the data is: row rules, quarantine and clean tables on an engine.

:func:`audit_on_engine` runs the audit on any Ibis engine (Spark for data that outgrows
one machine; DuckDB works too): the scans of :mod:`workbench.audit.scans`, the
row-level error rules they count (plus the line and amount rules), the quarantine and
the clean tables — written by the engine — and the duplicate-customer search, which runs
in pandas on the customers' matching columns (one row per customer, up to a stated
limit). It returns an :class:`~workbench.audit.AuditResult`, so the audit's report works
unchanged.

Each table's rows carry their error rules as columns (``_rule``, ``_reason``) and the
repaired spelling of ids matched ignoring case (``_fix_<column>``); the clean table and
the quarantine are two complementary filters of those rows, so they reconcile by
construction.
"""

from __future__ import annotations

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
from workbench.audit.params import MAX_CUSTOMERS_IN_MEMORY, AuditConfig
from workbench.audit.result import AuditResult, mask_email
from workbench.audit.rules import Finding
from workbench.audit.scans import (
    DUPLICATE_COUNTS,
    FUTURE_TABLES,
    UNKNOWN_RULE,
    ScanResult,
    allowed_values,
    classify_references,
    key_label,
    profile_tables,
    reference_rows,
    scan_result,
    small_result,
    zero_if_missing,
)
from workbench.audit.writer import MERGE_MAP_FILE, default_stamp
from workbench.canonical import CanonicalTables, open_tables
from workbench.loading import LoadedData, Repair
from workbench.schema import TABLES, table_spec

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = ["MAX_AMOUNTS_IN_MEMORY", "NOT_ON_ENGINE", "audit_on_engine"]

log = logging.getLogger(__name__)

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


def _errors(inputs: CanonicalTables, table: str, as_of: pd.Timestamp, keyed: bool) -> ibis.Table:
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
    for col, allowed in allowed_values(table).items():
        check("invalid_value", f"invalid_{col}", t[col].notnull() & ~t[col].isin(allowed),
              _lit(f"{col} '") + t[col] + _lit(f"' is not one of {', '.join(allowed)}"))  # fmt: skip
    if table in FUTURE_TABLES and spec.time_column:
        when = spec.time_column
        check("future_timestamp", "future", t[when] >= ibis.literal(as_of),
              _lit(f"{when} ") + t[when].strftime("%Y-%m-%d %H:%M")
              + _lit(f" is on or after as_of {as_of.date()} (in the future for this run)"))  # fmt: skip
    copies = ibis.row_number().over(group_by=columns, order_by=key or columns[:1])
    if keyed:
        complete = ibis.and_(*[t[c].notnull() for c in key])
        others = [c for c in columns if c not in key] or key
        version = ibis.dense_rank().over(
            group_by=key, order_by=[ibis.asc(c, nulls_first=True) for c in others]
        )
        times = t[key[0]].count().over(group_by=key)
        label = key_label(t, key)
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
        checks.append((UNKNOWN_RULE[parent], f"ref_{col}"))
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
    frame = small_result(con, usable.select(*columns).order_by("customer_id").limit(limit + 1))
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
    return {k: int(zero_if_missing(v)) for k, v in row.items()}


_LINE_ERRORS = ("order_quarantined", "negative_quantity", "zero_quantity", "negative_price")


def _has_rule(rules: ibis.StringValue, rule: str) -> ibis.BooleanValue:
    return (_lit("; ") + rules + _lit("; ")).contains(f"; {rule}; ").fill_null(False)


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
) -> AuditResult:
    """The audit where the data is: scans, quarantine and clean tables on the engine.

    What runs where
        On the engine: every scan of :func:`~workbench.audit.scans.run_scans`, the
        row-level error rules they count (``missing_required``, ``invalid_value``,
        ``duplicate_row``, ``duplicate_key``, ``unknown_*``, ``future_timestamp``), the
        line rules (``order_quarantined``, ``negative_quantity``, ``zero_quantity``,
        ``negative_price``, ``zero_price``, ``cancellation_line``), the id repairs, the
        re-pointing of merged customers' rows, the amount rules of orders (``negative_amount`` relabels
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
    source : folder, URI, LoadedData, mapping or CanonicalTables
        Raw or canonical tables, opened with :func:`workbench.canonical.open_tables`
        (``normalise=True``; see :func:`~workbench.audit.scans.run_scans`).
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight).
    con : ibis backend, optional
        The engine (default: in-memory DuckDB; a URI needs it).
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
        As :func:`~workbench.audit.run_audit` returns it: findings (counts), rows per table (rows in =
        clean + quarantined), missingness, freshness, amount limits, examples (masked
        e-mails), duplicates, repairs; ``written`` lists the outputs.
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    inputs = open_tables(source, con=con, normalise=True)
    con = inputs.con
    # one profile query per table here; duplicates and orphans are counted from the row flags
    parts, keyed, seconds = profile_tables(inputs, as_of, config.freshness_days)
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
        stamp = default_stamp(inputs.source, as_of)
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
                                    **{k: c[k] for k in DUPLICATE_COUNTS}})  # fmt: skip
    references, unknown = reference_rows(inputs, seconds, counted=counts)
    scans = scan_result(inputs, as_of, config.freshness_days, parts, references, unknown,
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
    inputs: CanonicalTables, scans: ScanResult, counts: dict[str, dict[str, int]]
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
