"""Row counts and missing values of the input tables as they were before ``as_of``.

The input tables hold every row up to the day they were delivered; a run as of ``D`` sees
only the rows before ``D``. :func:`input_profile` counts, per table, the rows a run as of
``as_of`` sees (time column before ``as_of``; ``order_items`` through their orders; tables
without a time column whole) and each column's missing values, on the engine (DuckDB), so
two runs' profiles compare like for like (:func:`~workbench.monitoring.row_changes`,
:func:`~workbench.monitoring.missing_changes`).
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from workbench.canonical import open_tables
from workbench.monitoring.tables import PROFILE_COLUMNS
from workbench.schema import TABLES, check_as_of

__all__ = ["input_profile"]


def _visible(tables: dict[str, Any], name: str, as_of: pd.Timestamp) -> Any:
    table = tables[name]
    time_column = TABLES[name].time_column
    if time_column is not None and time_column in table.columns:
        # rows without a time are kept: a run as of any date sees them
        stamp = table[time_column]
        return table.filter(stamp.isnull() | (stamp < ibis.literal(as_of)))
    if name == "order_items" and "orders" in tables:
        orders = _visible(tables, "orders", as_of).select("order_id")
        return table.semi_join(orders, "order_id")
    return table


def _count(value: Any) -> int:
    """A SQL sum over no rows is NULL: zero missing values."""
    return 0 if value is None or pd.isna(value) else int(value)


def input_profile(source: Any, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows and missing values of every column of every canonical table before ``as_of``.

    Parameters
    ----------
    source : folder, mapping of frames or opened tables
        Anything :func:`workbench.canonical.open_tables` accepts.
    as_of : Timestamp
        UTC midnight.

    Returns
    -------
    DataFrame
        :data:`~workbench.monitoring.PROFILE_COLUMNS`: ``table``, ``column``, ``rows``,
        ``missing`` (the shape of :func:`~workbench.monitoring.table_profile`).

    Examples
    --------
    >>> from workbench.schema import parse_as_of
    >>> orders = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", None, "c2"],
    ...     "ordered_at": pd.to_datetime(["2026-01-05", "2026-02-01", "2026-04-02"], utc=True),
    ...     "amount": [10.0, None, 5.0], "status": ["completed"] * 3})
    >>> p = input_profile({"orders": orders}, parse_as_of("2026-03-31"))
    >>> o = p[p["table"] == "orders"].set_index("column")
    >>> o.loc[["customer_id", "amount"], ["rows", "missing"]].values.tolist()
    [[2, 1], [2, 1]]
    """
    check_as_of(as_of, "input_profile")
    inputs = open_tables(source)
    rows = []
    for name in inputs.tables:
        visible = _visible(inputs.tables, name, as_of)
        provided = [c for c in visible.columns if c in inputs.provided.get(name, visible.columns)]
        measures = {"__rows": visible.count()}
        measures.update({f"m{i}": visible[c].isnull().sum() for i, c in enumerate(provided)})
        counts = inputs.execute(visible.aggregate(**measures)).iloc[0]
        total = int(counts["__rows"])
        if not provided:
            rows.append((name, "", total, 0))
        rows.extend((name, c, total, _count(counts[f"m{i}"])) for i, c in enumerate(provided))
    return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))
