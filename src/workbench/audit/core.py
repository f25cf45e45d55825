"""The pandas audit: every rule over the canonical tables in this process.

:func:`audit_tables` is pure (frames in, :class:`~workbench.audit.AuditResult` out);
:func:`run_audit` loads, audits and writes a source in one call, streaming the large
event tables one at a time (what the stage runs on DuckDB); :func:`validate_tables` runs
only the schema and error-level rules (the ``workbench validate`` command).

The rules run table by table in :class:`~workbench.audit.auditor.Auditor`; what is kept of
each table (quarantine, clean rows, examples) is built by
:class:`~workbench.audit.outputs.AuditOutputs`; :mod:`workbench.audit.writer` writes it.
Nothing is lost: for every table ``rows_in == rows_clean + rows_quarantined +
rows_after_as_of`` (rows at or after ``as_of`` are set aside, see
:mod:`workbench.audit.timeline`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from workbench import catalog
from workbench.audit.auditor import EVENT_TABLES, Auditor, input_tables
from workbench.audit.outputs import AuditOutputs, release_memory
from workbench.audit.params import AuditConfig
from workbench.audit.result import AuditResult
from workbench.audit.timeline import TIME_COLUMNS, day_counts
from workbench.audit.writer import Writer, default_stamp
from workbench.loading import LoadedData, load_tables
from workbench.schema import TABLES
from workbench.settings import Settings, get_settings

__all__ = ["audit_tables", "run_audit", "validate_tables"]


def audit_tables(
    data: LoadedData | dict[str, pd.DataFrame],
    as_of: pd.Timestamp,
    config: AuditConfig | None = None,
    *,
    errors_only: bool = False,
    build_clean: bool = True,
    now: pd.Timestamp | None = None,
) -> AuditResult:
    """Audit the canonical tables as of ``as_of`` (pure: the inputs are not modified).

    Parameters
    ----------
    data : LoadedData or dict of str -> pandas.DataFrame
        Canonical tables (as :func:`workbench.loading.load_tables` returns them);
        ``customers`` and ``orders`` are required, the others optional.
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight, :func:`workbench.schema.parse_as_of`); rows at or
        after it are set aside, not audited (unless in the future: errors).
    config : AuditConfig, optional
        Thresholds and switches (defaults: :class:`AuditConfig`).
    errors_only : bool, default False
        Run only the schema and error-level rules (no warnings, info or figures data).
    build_clean : bool, default True
        Build the clean tables now (``result.clean``); with False they are built one at a
        time by :meth:`AuditResult.clean_table` / :func:`write_audit` (large sources).
    now : pandas.Timestamp, optional
        The run date (default: now); timestamps after it are in the future.

    Returns
    -------
    AuditResult

    Raises
    ------
    AuditError
        A required table is missing or a table does not match its canonical schema.

    Examples
    --------
    >>> from workbench.schema import parse_as_of
    >>> as_of = parse_as_of("2026-06-30")
    >>> result = audit_tables(load_tables("data/raw"), as_of)          # doctest: +SKIP
    >>> result.scorecard()[["table", "rows_in", "rows_clean", "rows_quarantined"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    if errors_only and config.find_duplicates:
        config = AuditConfig(**{**asdict(config), "find_duplicates": False})
    tables, loader_repairs = input_tables(data)
    auditor = Auditor(tables, as_of, config, errors_only, now=now,
                      derived_orders=derived_orders(data))  # fmt: skip
    auditor.run()
    outputs = AuditOutputs(auditor)
    for table in tables:
        outputs.finalise(table)
    clean = {t: outputs.clean_rows(t) for t in tables} if build_clean and not errors_only else {}
    builder = None if build_clean or errors_only else outputs
    sources = _sources(data)
    return outputs.result(
        loader_repairs, clean=clean, builder=builder, sources=sources, started=started
    )


def _event_days(
    source: str | Path, mapping: str | Path | dict | None, allow_outside: bool
) -> dict[str, pd.Series]:
    """Rows per day of each event table (they are audited last, one at a time, but their
    days count for the source's extract date: :mod:`workbench.audit.timeline`)."""
    days = {}
    for table in EVENT_TABLES:
        part = load_tables(source, mapping=mapping, tables=[table], derive=False,
                           allow_outside=allow_outside)  # fmt: skip
        if table in part.tables:
            days[table] = day_counts(part.tables[table][TIME_COLUMNS[table]])
        del part
        release_memory()
    return days


def derived_orders(data: LoadedData | dict) -> bool:
    """True when the loader derived the orders from order lines (their amounts are the sum
    of every line, so the audit recomputes them from the clean lines)."""
    if not isinstance(data, LoadedData) or "orders" not in data.sources:
        return False
    return data.sources["orders"].format.startswith("derived from order_items")


def _sources(data: LoadedData | dict) -> dict[str, dict]:
    """Where each table came from (path, format, rows, digest) when the loader knows it."""
    if not isinstance(data, LoadedData):
        return {}
    return {
        name: {"path": info.path, "format": info.format, "rows": info.rows, "digest": info.digest}
        for name, info in data.sources.items()
    }


def validate_tables(
    data: LoadedData | dict[str, pd.DataFrame],
    as_of: pd.Timestamp,
    *,
    now: pd.Timestamp | None = None,
    config: AuditConfig | None = None,
) -> pd.DataFrame:
    """The schema and error-level rules only: one row per failing (table, rule, column).

    Columns ``table, rule, column, failing_rows, example`` (the first failing row's
    reason). Empty when every error-level rule passes. The duplicate-customer search is
    not run (it merges, it does not reject).
    """
    result = audit_tables(data, as_of, config, errors_only=True, now=now)
    rows = []
    for f in result.findings:
        if f.severity == "error" and f.status == "failed":
            example = f.note or (str(f.reason_array()[0]) if len(f.rows) else "")
            rows.append(
                {
                    "table": f.table,
                    "rule": f.rule,
                    "column": f.column,
                    "failing_rows": f.failing_rows,
                    "example": example,
                }
            )
    return pd.DataFrame(rows, columns=["table", "rule", "column", "failing_rows", "example"])


def run_audit(
    source: str | Path,
    as_of: pd.Timestamp,
    *,
    settings: Settings | None = None,
    mapping: str | Path | dict | None = None,
    config: AuditConfig | None = None,
    keep_clean: bool = False,
    stamp: catalog.Stamp | None = None,
    now: pd.Timestamp | None = None,
    allow_outside: bool = False,
) -> AuditResult:
    """Load a source, audit it and write the outputs, holding as little as possible.

    The tables the rules cross-reference (customers, orders, order lines, products,
    experiment assignments) are loaded and audited together and written one by one;
    then each event table (e-mail, web: usually the largest) is loaded, audited against
    them, written and released in turn. Memory therefore peaks at the core tables plus
    one event table, not at the whole source.

    Parameters
    ----------
    source : str or Path
        Folder of table files or a DuckDB file (see :func:`workbench.loading.load_tables`).
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight).
    settings : Settings, optional
        Where to write (default: :func:`workbench.settings.get_settings`).
    mapping : path or dict, optional
        Column mapping for the loader.
    config : AuditConfig, optional
        Thresholds and switches.
    keep_clean : bool, default False
        Also keep every clean table in ``result.clean`` (small sources only).
    stamp : catalog.Stamp, optional
        The stamp of the outputs (a stage passes its own); default: made from ``source``.
    now : pandas.Timestamp, optional
        The run date (default: now); timestamps after it are in the future.
    allow_outside : bool, default False
        Let the loader read files outside the source folder (see
        :func:`workbench.loading.load_tables`).

    Returns
    -------
    AuditResult
        Everything but the clean tables (unless ``keep_clean``); those are on disk.
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    settings = settings or get_settings()
    core = [t for t in TABLES if t not in EVENT_TABLES]
    data = load_tables(source, mapping=mapping, tables=core, allow_outside=allow_outside)
    repairs = list(data.repairs)
    sources = _sources(data)
    derived = derived_orders(data)
    tables, _ = input_tables(data)
    del data
    release_memory()  # the loader's temporaries
    later = _event_days(source, mapping, allow_outside)
    auditor = Auditor(tables, as_of, config, errors_only=False, now=now, derived_orders=derived,
                      other_days=later)  # fmt: skip
    auditor.signup()  # these stay cached for the event tables once the core is released
    for parent in ("customers", "products"):
        if parent in tables:
            auditor.parent_ids(parent)
    auditor.run_core()
    outputs = AuditOutputs(auditor)
    writer = Writer(settings, stamp or default_stamp(source, as_of))
    clean: dict[str, pd.DataFrame] = {}

    def write(table: str) -> None:
        outputs.finalise(table)
        if keep_clean:
            clean[table] = outputs.clean_rows(table)
        pieces = [clean[table]] if keep_clean else outputs.clean_chunks(table)
        kept = outputs.kept[table]
        writer.table(table, pieces, kept["quarantine"], kept["after"])
        outputs.release(table)

    for table in list(tables):
        write(table)
    del tables
    auditor.ids.pop("orders", None)  # the event tables need customers and products only
    release_memory()
    for table in EVENT_TABLES:
        part = load_tables(
            source, mapping=mapping, tables=[table], derive=False, allow_outside=allow_outside
        )
        if table not in part.tables:
            continue
        repairs += part.repairs
        sources.update(_sources(part))
        auditor.add_table(table, part.tables[table])
        del part
        release_memory()
        auditor.run_events(table)
        write(table)
    result = outputs.result(repairs, clean=clean, builder=None, sources=sources, started=started)
    result.written = writer.finish(result.tables, result.merge_map)
    return result
