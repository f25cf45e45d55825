"""Whether a stage can run on a source, checked before any kernel starts.

A stage whose declared tables are absent (and none of whose ``unless_params`` is set) is
*not applicable*: its own status, exit code 0, with one sentence saying what it would
need. A table counts as present when the loader would produce it — a file named after it,
a mapping entry pointing at an existing file, a table of that name in a DuckDB file, or
one the loader derives (``orders`` and ``products`` from ``order_items``, ``customers``
from ``orders``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workbench.loading import LoadError, find_table_files
from workbench.loading.files import resolve_mapping
from workbench.pipeline.stages import StageNotebook
from workbench.schema import TABLES

__all__ = ["DUCKDB_SUFFIXES", "needs_sentence", "present_tables", "unmet_needs"]

log = logging.getLogger(__name__)

DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")


def present_tables(source: str | Path) -> frozenset[str] | None:
    """The canonical tables the loader would produce from ``source``.

    Returns None when that cannot be told without loading (an unreadable mapping file or
    database): the stage then runs and the loader reports the problem.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "orders.csv").write_text("order_id,customer_id,ordered_at,amount\\n")
    >>> sorted(present_tables(folder))
    ['customers', 'orders']
    """
    path = Path(source).expanduser()
    if path.is_file():
        found = _duckdb_tables(path) if path.suffix.lower() in DUCKDB_SUFFIXES else set()
        return None if found is None else _with_derived(found)
    if not path.is_dir():
        return frozenset()
    try:
        mapping = resolve_mapping(path, None)
    except LoadError as exc:
        log.warning("cannot tell which tables %s holds: %s", path, exc)
        return None
    mapped = mapping.get("tables") or {}
    files = find_table_files(path)
    found = set()
    for name in TABLES:
        entry = mapped.get(name) or {}
        if entry.get("file"):
            target = Path(str(entry["file"])).expanduser()
            if (target if target.is_absolute() else path / target).exists():
                found.add(name)
        elif name in files:
            found.add(name)
    return _with_derived(found)


def _duckdb_tables(path: Path) -> set[str] | None:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception as exc:
        log.warning("cannot open %s to see its tables: %s", path, exc)
        return None
    try:
        rows = con.execute("select table_name from information_schema.tables").fetchall()
    finally:
        con.close()
    return {row[0] for row in rows} & set(TABLES)


def _with_derived(found: set[str]) -> frozenset[str]:
    """Add what ``loading.derive`` would derive (the same rules, without reading data)."""
    tables = set(found)
    if "orders" not in tables and "order_items" in tables:
        tables.add("orders")
        tables.add("products")
    if "customers" not in tables and "orders" in tables:
        tables.add("customers")
    return frozenset(tables)


def needs_sentence(missing: Iterable[str], unless: Iterable[str] = ()) -> str:
    """``needs an experiment_assignments table or summary_path``.

    Examples
    --------
    >>> needs_sentence(["experiment_assignments"], ["summary_path"])
    'needs an experiment_assignments table or summary_path'
    >>> needs_sentence(["web_events", "email_events"])
    'needs the tables web_events and email_events'
    """
    names = list(missing)
    if len(names) == 1:
        article = "an" if names[0][:1] in "aeiou" else "a"
        what = f"{article} {names[0]} table"
    else:
        what = f"the tables {', '.join(names[:-1])} and {names[-1]}"
    alternatives = list(unless)
    return f"needs {what}" + (f" or {' or '.join(alternatives)}" if alternatives else "")


def unmet_needs(
    stage: StageNotebook, present: frozenset[str] | None, overrides: Mapping[str, Any]
) -> str | None:
    """Why ``stage`` is not applicable on a source holding ``present`` (None: it is).

    A stage is applicable when every table it needs is present, or when one of its
    ``unless_params`` is set (a non-empty value, from ``overrides`` or its default).
    """
    needs = stage.needs
    if not needs.tables or present is None:
        return None
    if any(overrides.get(p, stage.parameters.get(p)) for p in needs.unless_params):
        return None
    missing = [t for t in needs.tables if t not in present]
    return needs_sentence(missing, needs.unless_params) if missing else None
