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
    ambiguous: earliest            # a local time the clock repeats: earliest | latest | error
    allow_outside_data: false      # true: `file:` may name files outside the data folder
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

Clock changes: a local time that occurs twice (the hour repeated when the clock goes back,
``2025-10-26 01:30`` in Europe/London) is read as its first occurrence unless
``ambiguous`` says otherwise; a local time that never occurs (the hour skipped when the
clock goes forward) moves forward to the first time that exists. Both are counted repairs.

Refused with a :class:`LoadError` naming the file: a file outside the data folder (after
resolving symbolic links) unless allowed (``allow_outside_data: true``, the
``allow_outside`` argument or ``$WORKBENCH_ALLOW_OUTSIDE_DATA=1``); a header that repeats
a column name; an ``orders`` table without rows (also when derived from order lines
without rows) and a ``customers`` file without rows. An optional table without rows is
loaded empty (and logged).

The package: :mod:`~workbench.loading.model` (what the loader returns, :class:`LoadError`),
:mod:`~workbench.loading.files` (mapping file, Parquet, CSV and DuckDB reading),
:mod:`~workbench.loading.coerce` (canonical names and types, synonyms) and
:mod:`~workbench.loading.derive` (orders, products and customers derived from what the
source has); :func:`load_tables` here ties them together.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.loading.coerce import (
    BLANK_IDS,
    FALSE_VALUES,
    SYNONYMS,
    TRUE_VALUES,
    coerce_table,
    rename_columns,
)
from workbench.loading.derive import derive_missing
from workbench.loading.files import (
    check_inside,
    duplicate_names,
    file_digest,
    find_table_files,
    load_mapping,
    outside_allowed,
    read_sources,
    release_arrow_memory,
    resolve_mapping,
)
from workbench.loading.model import (
    AMBIGUOUS_TIMES,
    ENV_ALLOW_OUTSIDE,
    EXTRA_COLUMNS,
    MAPPING_FILE_NAMES,
    LoadedData,
    LoadError,
    Repair,
    SourceInfo,
)
from workbench.schema import REQUIRED_TABLES, TABLES, table_spec

__all__ = [
    "AMBIGUOUS_TIMES",
    "BLANK_IDS",
    "ENV_ALLOW_OUTSIDE",
    "EXTRA_COLUMNS",
    "FALSE_VALUES",
    "MAPPING_FILE_NAMES",
    "SYNONYMS",
    "TRUE_VALUES",
    "LoadError",
    "LoadedData",
    "Repair",
    "SourceInfo",
    "check_inside",
    "duplicate_names",
    "file_digest",
    "find_table_files",
    "load_mapping",
    "load_tables",
    "outside_allowed",
]

log = logging.getLogger(__name__)


def load_tables(
    source: str | Path,
    *,
    mapping: str | Path | dict[str, Any] | None = None,
    tables: list[str] | tuple[str, ...] | None = None,
    derive: bool = True,
    allow_outside: bool = False,
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
    allow_outside : bool, default False
        Read files outside the source folder (a mapping's ``file:``, symbolic links); also
        allowed by ``allow_outside_data: true`` in the mapping or
        ``$WORKBENCH_ALLOW_OUTSIDE_DATA=1``.

    Returns
    -------
    LoadedData
        ``tables`` holds only the tables found (optional ones may be absent).

    Raises
    ------
    LoadError
        Missing source or required table/column, unreadable file, values of the wrong type,
        a file outside the folder, a repeated column name, an orders (or customers) table
        without rows.

    Examples
    --------
    >>> data = load_tables("data/raw")                        # doctest: +SKIP
    >>> data["orders"].dtypes["ordered_at"]                   # doctest: +SKIP
    datetime64[us, UTC]
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise LoadError(f"data source {str(source)!r} does not exist")
    spec_map = resolve_mapping(source, mapping)
    wanted = list(tables) if tables else list(TABLES)
    for name in wanted:
        table_spec(name)  # unknown names fail early with the list of canonical tables
    timezone = spec_map.get("timezone", "UTC")
    ambiguous = spec_map.get("ambiguous", AMBIGUOUS_TIMES[0])
    outside = outside_allowed(allow_outside, spec_map)

    raw = read_sources(source, spec_map, wanted, allow_outside=outside)
    loaded: dict[str, pd.DataFrame] = {}
    infos: dict[str, SourceInfo] = {}
    repairs: list[Repair] = []
    for name, (frame, path, fmt) in raw.items():
        table_map = spec_map.get("tables", {}).get(name, {}) or {}
        renamed, used = rename_columns(frame, name, table_map, path)
        coerced = coerce_table(renamed, name, path, table_map, timezone, repairs, ambiguous)
        loaded[name] = coerced
        infos[name] = SourceInfo(name, str(path), fmt, len(coerced), file_digest(path), used)
        release_arrow_memory()

    _refuse_empty(loaded, infos)  # before deriving from an empty table
    if derive:
        derive_missing(loaded, infos, repairs, wanted)
        _refuse_empty(loaded, infos, logged=False)
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


def _refuse_empty(
    loaded: dict[str, pd.DataFrame], infos: dict[str, SourceInfo], *, logged: bool = True
) -> None:
    """An orders table without rows, or a customers file without rows, is a LoadError; an
    optional table without rows is loaded empty and logged."""
    for name, frame in loaded.items():
        if len(frame):
            continue
        info = infos[name]
        derived = info.format.startswith("derived from ")
        if name == "orders" or (name == "customers" and not derived):
            origin = (
                f"derived from {Path(info.path).name}, which has no rows"
                if derived
                else f"{Path(info.path).name} has no rows (a header without data, or an empty "
                "table)"
            )
            raise LoadError(
                f"table {name!r}: {origin}; the workbench needs at least one "
                f"{'order' if name == 'orders' else 'customer'}. Export the table with its "
                "rows, or point the mapping at the right file"
            )
        if logged and not derived:
            log.warning("table %s: %s has no rows; loaded as an empty table", name,
                        Path(info.path).name)  # fmt: skip
