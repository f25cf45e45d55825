"""When a row happened, for the audit: before ``as_of``, after it, or in the future.

Three kinds of rows, by the table's time column (``ordered_at``, ``occurred_at``,
``assigned_at``):

* **before** ``as_of``: audited; each ends in the clean tables or in the quarantine;
* **after as_of** (at or after ``as_of``, not in the future): valid data that this run does
  not use yet. They are *set aside* — written to the catalog entry ``after_as_of``
  (``interim/after_as_of/<table>.parquet``), counted and reported, but not audited, not
  quarantined and not in the quality score — so a backtest with a past ``as_of`` keeps its
  later rows for the run that reaches them. Lines of a set-aside order are set aside with
  it. Customers are a dimension and are never set aside.
* **in the future**: at or after the table's *future limit* — an error
  (``future_timestamp``, quarantined), because no run will ever make them valid.

The future limit (:func:`future_limit`) is the earlier of the run date (now) and the day
after the data's **extract date**. The extract date is ``extracted_at`` when the user
gives it; otherwise it is estimated from the source (:func:`source_end`): the latest last
day of its tables' time columns (orders, events, assignments, sign-ups), where the last
day of a table (:func:`data_end`) ignores a run of rows that starts after a gap of at
least :data:`GAP_DAYS` days without any row and holds at most :data:`TAIL_SHARE` of the
table's rows (clock and time-zone errors scattered into the following months or years).
Taking the latest table keeps a sparse table's new activity (a new experiment after a
quiet month) valid while the other tables go on; without such a gap anywhere the
extract date is the source's latest day, so only the run date limits it.

Examples
--------
>>> days = pd.Series([100, 120, 90, 1, 1],
...                  index=pd.to_datetime(["2026-06-27", "2026-06-28", "2026-06-29",
...                                        "2026-09-01", "2027-02-01"], utc=True))
>>> data_end(days).date()
datetime.date(2026, 6, 29)
>>> future_limit(source_end([days]), now=pd.Timestamp("2026-12-03 09:00", tz="UTC")).date()
datetime.date(2026, 6, 30)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from workbench.schema import parse_as_of, table_spec

__all__ = [
    "AFTER_TABLES",
    "GAP_DAYS",
    "TAIL_SHARE",
    "TIME_COLUMNS",
    "data_end",
    "day_counts",
    "future_limit",
    "parse_extracted_at",
    "source_end",
    "time_column",
]

#: Days without any row after which a small tail of rows is not the table's data.
GAP_DAYS = 28
#: Largest share of a table's rows that such a tail may hold.
TAIL_SHARE = 0.01
#: Tables whose rows are split by ``as_of`` (their time column), and order lines (by
#: their order). With ``customers.signup_at`` their time columns estimate the extract date.
AFTER_TABLES = ("orders", "order_items", "email_events", "web_events", "experiment_assignments")
_DAY = pd.Timedelta(days=1)


def day_counts(times: pd.Series) -> pd.Series:
    """Rows per UTC day (index: the days, sorted; blanks left out)."""
    days = times.dropna().dt.floor("D")
    return days.value_counts().sort_index()


def data_end(counts: pd.Series) -> pd.Timestamp | None:
    """The last day of a table's data (see the module docstring); None without rows.

    Parameters
    ----------
    counts : pandas.Series
        Rows per day, indexed by UTC midnights (:func:`day_counts`), any order.
    """
    counts = counts[counts > 0].sort_index()
    if counts.empty:
        return None
    days = counts.index
    total = float(counts.sum())
    after = total - np.cumsum(counts.to_numpy(dtype=float))  # rows after each day
    gap = np.append(np.asarray(days[1:] - days[:-1]) / np.timedelta64(1, "D"), 0)
    cut = np.flatnonzero((gap > GAP_DAYS) & (after <= TAIL_SHARE * total))
    return days[cut[0]] if len(cut) else days[-1]


def source_end(counts: Iterable[pd.Series]) -> pd.Timestamp | None:
    """The estimated extract date of a source: the latest :func:`data_end` of its tables'
    time columns (``counts``: rows per day of each); None without any row."""
    ends = [end for end in (data_end(c) for c in counts) if end is not None]
    return max(ends) if ends else None


def future_limit(
    end: pd.Timestamp | None,
    *,
    now: pd.Timestamp,
    extracted_at: pd.Timestamp | None = None,
) -> pd.Timestamp:
    """Timestamps at or after this are in the future of the data: the earlier of ``now``
    and the day after the extract date (``extracted_at``, else ``end``: :func:`source_end`)."""
    end = extracted_at if extracted_at is not None else end
    if end is None:
        return now
    return min(now, end.normalize() + _DAY)


def parse_extracted_at(text: str) -> pd.Timestamp | None:
    """The extract date given as a parameter ('' means: estimate it), as a UTC midnight."""
    if not str(text).strip():
        return None
    try:
        return parse_as_of(text)
    except ValueError:
        raise ValueError(
            f"extracted_at: expected a date such as 2026-06-30 (or '' to estimate it), got {text!r}"
        ) from None


def time_column(table: str) -> str | None:
    """The column whose value says when a row of ``table`` happened (None: no such column)."""
    return table_spec(table).time_column


#: The time column of every table whose days estimate the extract date.
TIME_COLUMNS = {"customers": "signup_at", "orders": "ordered_at", "email_events": "occurred_at",
                "web_events": "occurred_at", "experiment_assignments": "assigned_at"}  # fmt: skip
