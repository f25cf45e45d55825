"""Row counts and missingness by table, compared between two runs.

A run keeps a small profile of its input tables (:func:`table_profile`: rows and missing
values per column) in its summary, so a later run can compare against it without the
earlier data still being on disk.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.monitoring.params import DriftThresholds

__all__ = ["table_profile", "row_changes", "missing_changes", "PROFILE_COLUMNS"]

#: Columns of :func:`table_profile`.
PROFILE_COLUMNS = ("table", "column", "rows", "missing")


def table_profile(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows and missing values of every column of every table.

    Parameters
    ----------
    tables : mapping of table name to DataFrame

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``rows`` (of the table) and ``missing`` (count); a table
        without columns has one row with an empty ``column``.

    Examples
    --------
    >>> p = table_profile({"orders": pd.DataFrame({"amount": [1.0, None, 3.0]})})
    >>> p.values.tolist()
    [['orders', 'amount', 3, 1]]
    """
    rows = []
    for name, frame in tables.items():
        if not len(frame.columns):
            rows.append((str(name), "", int(len(frame)), 0))
            continue
        missing = frame.isna().sum()
        rows.extend(
            (str(name), str(col), int(len(frame)), int(missing[col])) for col in frame.columns
        )
    return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))


def _check_profile(profile: pd.DataFrame, label: str) -> None:
    missing = [c for c in PROFILE_COLUMNS if c not in profile.columns]
    if missing:
        raise ValueError(
            f"the {label} profile has no column(s) {', '.join(missing)}; build it with "
            "workbench.monitoring.table_profile"
        )


def _level(value: float, warn: float, alert: float) -> str:
    if np.isnan(value):
        return "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def row_changes(
    reference: pd.DataFrame, current: pd.DataFrame, thresholds: DriftThresholds | None = None
) -> pd.DataFrame:
    """Row count of each table in two profiles and its relative change.

    Status: ``"alert"`` / ``"warn"`` when the count moved (up or down) by at least
    ``rows_alert`` / ``rows_warn`` of the reference count; ``"absent"`` for a table in
    only one profile. A table of all history grows between runs by design: read its
    change against the time between the runs.

    Returns
    -------
    DataFrame
        ``table``, ``reference_rows``, ``current_rows``, ``change`` (relative; NaN when
        the reference was empty) and ``status``.

    Examples
    --------
    >>> ref = table_profile({"orders": pd.DataFrame({"a": range(100)})})
    >>> cur = table_profile({"orders": pd.DataFrame({"a": range(130)})})
    >>> row_changes(ref, cur).values.tolist()
    [['orders', 100, 130, 0.3, 'warn']]
    """
    t = thresholds or DriftThresholds()
    _check_profile(reference, "reference")
    _check_profile(current, "current")
    ref = reference.groupby("table", sort=False)["rows"].first()
    cur = current.groupby("table", sort=False)["rows"].first()
    names = list(ref.index) + [n for n in cur.index if n not in ref.index]
    rows = []
    for name in names:
        r, c = ref.get(name), cur.get(name)
        if r is None or c is None:
            rows.append((name, r, c, float("nan"), "absent"))
            continue
        change = (c - r) / r if r else float("nan")
        rows.append(
            (name, int(r), int(c), float(change), _level(abs(change), t.rows_warn, t.rows_alert))
        )
    out = pd.DataFrame(
        rows, columns=["table", "reference_rows", "current_rows", "change", "status"]
    )
    return out.astype({"reference_rows": "Int64", "current_rows": "Int64"})


def missing_changes(
    reference: pd.DataFrame, current: pd.DataFrame, thresholds: DriftThresholds | None = None
) -> pd.DataFrame:
    """Missing share of every column in two profiles and its change.

    Status: ``"alert"`` / ``"warn"`` when the missing share rose by at least
    ``missing_alert`` / ``missing_warn`` (absolute: 0.05 = five percentage points);
    ``"absent"`` for a column in only one profile. A fall in missingness is not flagged.

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``reference_missing``, ``current_missing`` (shares),
        ``change`` (current − reference) and ``status``; alerts first.

    Examples
    --------
    >>> ref = table_profile({"orders": pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0]})})
    >>> cur = table_profile({"orders": pd.DataFrame({"amount": [1.0, None, None, 4.0]})})
    >>> missing_changes(ref, cur)[["current_missing", "change", "status"]].values.tolist()
    [[0.5, 0.5, 'alert']]
    """
    t = thresholds or DriftThresholds()
    _check_profile(reference, "reference")
    _check_profile(current, "current")

    def shares(profile: pd.DataFrame) -> pd.Series:
        kept = profile[profile["column"] != ""]
        share = kept["missing"] / kept["rows"].where(kept["rows"] > 0)
        return pd.Series(
            share.to_numpy(), index=pd.MultiIndex.from_frame(kept[["table", "column"]])
        )

    ref, cur = shares(reference), shares(current)
    keys = list(ref.index) + [k for k in cur.index if k not in ref.index]
    rows = []
    for key in keys:
        r = float(ref[key]) if key in ref.index else None
        c = float(cur[key]) if key in cur.index else None
        if r is None or c is None:
            rows.append((*key, r, c, float("nan"), "absent"))
            continue
        change = c - r
        rows.append((*key, r, c, change, _level(change, t.missing_warn, t.missing_alert)))
    out = pd.DataFrame(
        rows,
        columns=["table", "column", "reference_missing", "current_missing", "change", "status"],
    )
    rank = out["status"].map({"alert": 0, "warn": 1, "absent": 2, "ok": 3})
    return (
        out.assign(_rank=rank)
        .sort_values("_rank", kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
