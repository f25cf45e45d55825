"""Per-user outcomes of an experiment from the canonical tables.

:func:`experiment_from_tables` joins ``experiment_assignments`` to the completed orders
placed within ``window_days`` after each assignment: one row per assigned customer with
converted, orders, revenue, and the spend in a pre-assignment window for CUPED. Messy
assignments (blank rows, customers in two variants, repeated assignments, windows not
over by ``as_of``) are excluded and counted in :attr:`ExperimentData.notes`. The
assignments are read into pandas (one row per assignment); the orders never are: the
join and the per-user sums run on an engine (DuckDB; the canonical tables' engine when
:func:`experiment_from_source` opens them), so only one row per assigned customer comes
back, whatever the size of the orders table.
:func:`list_experiments` lists what the table holds; :func:`unanalysable_reason` says
why nothing can be analysed yet as of a date (no assignment before it, or no conversion
window over by then), so a notebook can declare the stage not applicable.

Point in time: only orders strictly before ``as_of`` (a parsed UTC-midnight timestamp)
are read.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.canonical import CanonicalTables, open_tables
from workbench.experiments.data import (
    ExperimentData,
    ExperimentInputError,
    check_counts,
    ordered_variants,
    require_columns,
)
from workbench.frames import isin

__all__ = [
    "EXPERIMENT_TABLES",
    "experiment_from_source",
    "experiment_from_tables",
    "list_experiments",
    "unanalysable_reason",
]

log = logging.getLogger(__name__)

_ASSIGNMENT_COLUMNS = ("experiment_id", "customer_id", "variant", "assigned_at")
_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount")
#: The canonical tables an analysis from tables reads.
EXPERIMENT_TABLES = ("orders", "experiment_assignments")


def list_experiments(
    assignments: pd.DataFrame, *, before: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per experiment: variants, assigned customers and assignment dates.

    Sorted with the most recently assigned experiment first. With ``before`` only the
    assignments strictly before it count (experiments without one are not listed).

    Examples
    --------
    >>> a = pd.DataFrame({"experiment_id": ["e1", "e1"], "customer_id": ["c1", "c2"],
    ...                   "variant": ["control", "b"],
    ...                   "assigned_at": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)})
    >>> list_experiments(a)[["experiment_id", "variants", "users"]]
      experiment_id    variants  users
    0            e1  b, control      2
    """
    require_columns(assignments, _ASSIGNMENT_COLUMNS, "experiment_assignments")
    frame = assignments.dropna(subset=["experiment_id"])
    if before is not None:
        frame = frame[frame["assigned_at"] < before]
    grouped = frame.groupby("experiment_id", sort=False)
    out = pd.DataFrame(
        {
            "variants": grouped["variant"].agg(
                lambda s: ", ".join(sorted(s.dropna().astype("str").str.strip().unique()))
            ),
            "users": grouped["customer_id"].nunique(),
            "first_assigned": grouped["assigned_at"].min(),
            "last_assigned": grouped["assigned_at"].max(),
        }
    )
    out = out.sort_values(["last_assigned"], ascending=False, kind="stable")
    return out.rename_axis("experiment_id").reset_index()


def experiment_from_source(
    source: Any,
    *,
    as_of: pd.Timestamp,
    experiment_id: str = "",
    control: str = "control",
    window_days: int = 14,
    pre_period_days: int = 90,
) -> ExperimentData:
    """:func:`experiment_from_tables` on canonical tables opened on an engine.

    ``source`` is anything :func:`workbench.canonical.open_tables` opens (a folder of
    canonical Parquet — read by DuckDB without loading the orders into memory —,
    the loader's result, a mapping of frames, or tables opened before).

    Raises
    ------
    ExperimentInputError
        The source has no ``experiment_assignments`` table, or any error of
        :func:`experiment_from_tables`.
    """
    inputs = source if isinstance(source, CanonicalTables) else None
    inputs = inputs or open_tables(source, tables=EXPERIMENT_TABLES)
    if not inputs.has("experiment_assignments"):
        raise ExperimentInputError(
            "nothing to analyse: the source has no experiment_assignments table (tables found: "
            f"{', '.join(inputs.tables) or 'none'}); add experiment_assignments (experiment_id, "
            "customer_id, variant, assigned_at) or point summary_path at a CSV with variant, "
            "users, conversions[, revenue]"
        )
    assignments = inputs.to_pandas(inputs.tables["experiment_assignments"])
    return experiment_from_tables(
        assignments,
        inputs.tables["orders"],
        as_of=as_of,
        experiment_id=experiment_id,
        control=control,
        window_days=window_days,
        pre_period_days=pre_period_days,
    )


def experiment_from_tables(
    assignments: pd.DataFrame,
    orders: pd.DataFrame | ibis.Table,
    *,
    as_of: pd.Timestamp,
    experiment_id: str = "",
    control: str = "control",
    window_days: int = 14,
    pre_period_days: int = 90,
) -> ExperimentData:
    """Per-user outcomes of one experiment from the canonical tables.

    A customer converts when they place at least one completed order in
    ``[assigned_at, assigned_at + window_days)``; their revenue is the sum of those orders'
    amounts (0 for non-converters). Only orders strictly before ``as_of`` are read, so
    customers whose window is not over by ``as_of`` are left out (and counted in the notes).

    Parameters
    ----------
    assignments : pandas.DataFrame
        Canonical ``experiment_assignments`` (``experiment_id, customer_id, variant,
        assigned_at``).
    orders : pandas.DataFrame or ibis.Table
        Canonical ``orders``; only ``status == 'completed'`` counts (a missing status, or
        no status column, counts as completed). A frame is registered on an in-memory
        DuckDB; a table runs on its own engine.
    as_of : pandas.Timestamp
        Cut-off, parsed once by the caller (UTC midnight,
        :func:`workbench.schema.parse_as_of`); nothing at or after it is read.
    experiment_id : str, default ""
        The experiment to analyse; "" means the only one, or the most recently assigned.
    control : str, default "control"
        The control variant (matched case-insensitively when there is no exact match).
    window_days : int, default 14
        Conversion window after assignment, in days.
    pre_period_days : int, default 90
        Days before assignment whose completed spend becomes ``pre_spend`` (the CUPED
        covariate); 0 leaves it out.

    Returns
    -------
    ExperimentData

    Raises
    ------
    ExperimentInputError
        Missing columns, an unknown experiment or control, a single variant, or a variant
        without users — the message lists what exists.
    """
    if window_days <= 0:
        raise ExperimentInputError(f"window_days: expected a positive number, got {window_days}")
    if pre_period_days < 0:
        raise ExperimentInputError(f"pre_period_days: expected 0 or more, got {pre_period_days}")
    require_columns(assignments, _ASSIGNMENT_COLUMNS, "experiment_assignments")
    require_columns(orders, _ORDER_COLUMNS, "orders")
    notes: list[str] = []
    chosen = _choose_experiment(assignments, experiment_id, as_of, notes)
    users = _clean_assignments(assignments, chosen, as_of, window_days, notes)
    if users.empty:
        raise ExperimentInputError(
            f"experiment {chosen!r}: no assigned customer left to analyse as of {as_of.date()} "
            f"({'; '.join(notes) or 'no assignments'})"
        )
    variants = ordered_variants(users["variant"], control, chosen)
    control = variants[0]
    assigned = set(
        assignments.loc[assignments["experiment_id"] == chosen, "variant"]
        .dropna()
        .astype("str")
        .str.strip()
    )
    lost = sorted(assigned - set(variants) - {""})
    if lost:
        notes.append(f"variant(s) {', '.join(lost)} have no users left after these exclusions")
    users = _outcomes(orders, users, as_of, window_days, pre_period_days, notes)
    users["variant"] = pd.Categorical(users["variant"], categories=list(variants))
    counts = _counts_from_users(users, variants)
    check_counts(counts, chosen)
    for note in notes:
        log.info("experiment %s: %s", chosen, note)
    return ExperimentData(
        experiment_id=chosen,
        control=control,
        variants=variants,
        counts=counts,
        users=users.reset_index(drop=True),
        window_days=int(window_days),
        source="tables",
        notes=tuple(notes),
    )


def unanalysable_reason(
    source: Any,
    *,
    as_of: pd.Timestamp,
    window_days: int = 14,
    experiment_id: str = "",
) -> str:
    """Why no experiment can be analysed as of ``as_of`` yet, in one sentence; "" when one
    can (or when the problem is an error to report, such as an unknown ``experiment_id``).

    Not analysable: the source has no ``experiment_assignments`` table, no assignment is
    before ``as_of`` (of ``experiment_id``, or of any experiment), or no assigned
    customer's ``window_days`` conversion window is over by then. These are facts about
    the data and the date, not failures; the stage notebook turns them into "not
    applicable".

    Parameters
    ----------
    source : pandas.DataFrame or any source :func:`workbench.canonical.open_tables` opens
        The ``experiment_assignments`` frame itself, or the canonical tables.
    as_of : pandas.Timestamp
    window_days : int, default 14
    experiment_id : str, default ""

    Examples
    --------
    >>> a = pd.DataFrame({"experiment_id": ["e1"], "customer_id": ["c1"], "variant": ["b"],
    ...                   "assigned_at": pd.to_datetime(["2026-05-20"], utc=True)})
    >>> unanalysable_reason(a, as_of=pd.Timestamp("2026-03-31", tz="UTC"))
    'no experiment has an assignment before 2026-03-31'
    >>> unanalysable_reason(a, as_of=pd.Timestamp("2026-05-25", tz="UTC"))
    "no 14-day conversion window of experiment 'e1' is over by 2026-05-25 (first assignment 2026-05-20)"
    >>> unanalysable_reason(a, as_of=pd.Timestamp("2026-06-30", tz="UTC"))
    ''
    """
    if isinstance(source, pd.DataFrame):
        assignments = source
    else:
        inputs = source if isinstance(source, CanonicalTables) else None
        inputs = inputs or open_tables(source, tables=EXPERIMENT_TABLES)
        if not inputs.has("experiment_assignments"):
            return "needs an experiment_assignments table or summary_path"
        assignments = inputs.to_pandas(inputs.tables["experiment_assignments"])
    require_columns(assignments, _ASSIGNMENT_COLUMNS, "experiment_assignments")
    everything = list_experiments(assignments)
    if experiment_id and experiment_id not in set(everything["experiment_id"]):
        return ""  # an unknown experiment is the user's error: the loader names what exists
    started = list_experiments(assignments, before=as_of)
    if experiment_id:
        started = started[started["experiment_id"] == experiment_id]
    if started.empty:
        if experiment_id:
            return f"experiment {experiment_id!r} has no assignment before {as_of.date()}"
        return f"no experiment has an assignment before {as_of.date()}"
    first = started.iloc[0]
    if first["first_assigned"] + pd.Timedelta(days=window_days) > as_of:
        return (
            f"no {window_days}-day conversion window of experiment {first['experiment_id']!r} "
            f"is over by {as_of.date()} (first assignment {first['first_assigned'].date()})"
        )
    return ""


def _choose_experiment(
    assignments: pd.DataFrame, experiment_id: str, as_of: pd.Timestamp, notes: list[str]
) -> str:
    found = list_experiments(assignments)
    if found.empty:
        raise ExperimentInputError("experiment_assignments: the table has no experiment rows")
    listing = "; ".join(
        f"{r.experiment_id} ({r.users:,} users: {r.variants})" for r in found.itertuples()
    )
    if not experiment_id:
        # the latest experiment that had started by as_of (later ones do not exist yet)
        started = list_experiments(assignments, before=as_of)
        chosen = str((started if not started.empty else found)["experiment_id"].iloc[0])
        if len(started) > 1:
            notes.append(
                f"{len(started)} experiments had started by {as_of.date()}; this is the latest "
                "(experiment_id chooses another)"
            )
            log.info("several experiments (%s); analysing the latest, %s", listing, chosen)
        return chosen
    if experiment_id not in set(found["experiment_id"]):
        raise ExperimentInputError(
            f"experiment_id {experiment_id!r} is not in experiment_assignments; "
            f"experiments are: {listing}"
        )
    return experiment_id


def _clean_assignments(
    assignments: pd.DataFrame,
    experiment_id: str,
    as_of: pd.Timestamp,
    window_days: int,
    notes: list[str],
) -> pd.DataFrame:
    rows = assignments.loc[
        assignments["experiment_id"] == experiment_id, list(_ASSIGNMENT_COLUMNS[1:])
    ].copy()
    rows["variant"] = rows["variant"].astype("str").str.strip()
    blank = rows["customer_id"].isna() | rows["variant"].isna() | rows["assigned_at"].isna()
    blank |= rows["variant"].eq("")
    if blank.any():
        notes.append(f"{int(blank.sum()):,} assignment row(s) without customer, variant or date")
        rows = rows[~blank]
    late = rows["assigned_at"] >= as_of
    if late.any():
        notes.append(f"{int(late.sum()):,} assignment(s) at or after as_of {as_of.date()} ignored")
        rows = rows[~late]
    switched = rows.groupby("customer_id")["variant"].nunique()
    switched = switched[switched > 1].index
    if len(switched):
        notes.append(
            f"{len(switched):,} customer(s) assigned to more than one variant excluded "
            f"(e.g. {', '.join(map(str, switched[:3]))})"
        )
        rows = rows[~isin(rows["customer_id"], switched)]
    rows = rows.sort_values("assigned_at", kind="stable")
    repeated = rows.duplicated("customer_id")
    if repeated.any():
        notes.append(f"{int(repeated.sum()):,} repeated assignment(s): the first one kept")
        rows = rows[~repeated]
    window = pd.Timedelta(days=window_days)
    open_window = rows["assigned_at"] + window > as_of
    if open_window.any():
        notes.append(
            f"{int(open_window.sum()):,} customer(s) whose {window_days}-day window is not over "
            f"by as_of {as_of.date()} left out"
        )
        rows = rows[~open_window]
    return rows.reset_index(drop=True)


def _outcomes(
    orders: pd.DataFrame | ibis.Table,
    users: pd.DataFrame,
    as_of: pd.Timestamp,
    window_days: int,
    pre_period_days: int,
    notes: list[str],
) -> pd.DataFrame:
    """``users`` with ``orders, revenue, first_order_at, converted`` (and, with a
    pre-period, ``pre_orders, pre_spend``): the completed orders of each user in
    ``[assigned_at, assigned_at + window_days)`` and ``[assigned_at - pre_period_days,
    assigned_at)``, summed on the engine; a missing amount counts as 0 (and is noted)."""
    if isinstance(orders, pd.DataFrame):
        con = ibis.duckdb.connect()
        table = ibis.memtable(_arrow(orders[list(_ORDER_COLUMNS) + _status(orders)]))
    else:
        con, table = orders.get_backend(), orders
    keys = ibis.memtable(
        _arrow(
            pd.DataFrame(
                {
                    "_user": users["customer_id"].astype("str"),
                    "_assigned_at": pd.to_datetime(users["assigned_at"], utc=True),
                }
            )
        )
    )
    # only the span any window can touch: from the earliest pre-period to the last window
    first = pd.Timestamp(users["assigned_at"].min()) - pd.Timedelta(days=max(pre_period_days, 0))
    last = min(as_of, pd.Timestamp(users["assigned_at"].max()) + pd.Timedelta(days=window_days))
    done = table.filter(
        table.customer_id.notnull(),
        table.ordered_at >= ibis.literal(first),
        table.ordered_at < ibis.literal(last),
    )
    if "status" in table.columns:
        done = done.filter(done.status.fill_null("completed") == "completed")
    done = done.select(done.customer_id.cast("string").name("_user"), "ordered_at", "amount")
    joined = done.join(keys, "_user")
    start = joined._assigned_at
    window = (joined.ordered_at >= start) & (
        joined.ordered_at < start + ibis.interval(days=int(window_days))
    )
    before = (joined.ordered_at < start) & (
        joined.ordered_at >= start - ibis.interval(days=max(int(pre_period_days), 0))
    )
    amount = joined.amount.cast("float64").fill_null(0.0)
    per_user = (
        joined.filter(window | before)
        .group_by("_user")
        .aggregate(
            orders=window.sum(),
            revenue=amount.sum(where=window),
            first_order_at=joined.ordered_at.min(where=window),
            blank=(joined.amount.isnull() & window).sum(),
            pre_orders=before.sum(),
            pre_spend=amount.sum(where=before),
        )
    )
    found = con.to_pyarrow(per_user).to_pandas()
    blank = int(found["blank"].fillna(0).sum())
    if blank:
        notes.append(f"{blank:,} order(s) in the windows without an amount count as 0 revenue")
    found = found.drop(columns="blank").set_index("_user")
    found = found[~found.index.duplicated()]  # one row per user already; cheap insurance
    out = users.copy()
    aligned = found.reindex(pd.Index(out["customer_id"].astype("str")))
    for column in ("orders", "revenue", "first_order_at", "pre_orders", "pre_spend"):
        out[column] = aligned[column].to_numpy()
    out["orders"] = pd.to_numeric(out["orders"]).fillna(0).astype("int64")
    out["revenue"] = pd.to_numeric(out["revenue"]).fillna(0.0).astype("float64")
    out["first_order_at"] = pd.to_datetime(out["first_order_at"], utc=True)
    out["converted"] = out["orders"] > 0
    if pre_period_days:
        out["pre_orders"] = pd.to_numeric(out["pre_orders"]).fillna(0).astype("int64")
        out["pre_spend"] = pd.to_numeric(out["pre_spend"]).fillna(0.0).astype("float64")
    else:
        out = out.drop(columns=["pre_orders", "pre_spend"])
    return out


def _status(orders: pd.DataFrame) -> list[str]:
    return ["status"] if "status" in orders.columns else []


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table, missing values as nulls (built column by column: the
    pandas converter of pyarrow trips a pandas 3.1 deprecation on time-zone columns)."""
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            naive = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            unit = np.datetime_data(naive.dtype)[0]
            columns[str(name)] = pa.array(naive, type=pa.timestamp(unit, tz="UTC"))
        else:
            columns[str(name)] = pa.array(values.to_numpy(), from_pandas=True)
    return pa.table(columns)


def _counts_from_users(users: pd.DataFrame, variants: tuple[str, ...]) -> pd.DataFrame:
    grouped = users.groupby("variant", observed=False)
    counts = pd.DataFrame(
        {
            "users": grouped.size(),
            "conversions": grouped["converted"].sum(),
            "revenue": grouped["revenue"].sum(),
        }
    ).reindex(list(variants))
    counts = counts.fillna({"users": 0, "conversions": 0})
    counts["users"] = counts["users"].astype("int64")
    counts["conversions"] = counts["conversions"].astype("int64")
    return (
        counts.rename_axis("variant")
        .reset_index()
        .assign(variant=lambda f: f["variant"].astype("str"))
    )
