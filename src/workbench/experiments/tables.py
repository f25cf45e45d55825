"""Per-user outcomes of an experiment from the canonical tables.

:func:`experiment_from_tables` joins ``experiment_assignments`` to the completed orders
placed within ``window_days`` after each assignment: one row per assigned customer with
converted, orders, revenue, and the spend in a pre-assignment window for CUPED. Messy
assignments (blank rows, customers in two variants, repeated assignments, windows not
over by ``as_of``) are excluded and counted in :attr:`ExperimentData.notes`.
:func:`list_experiments` lists what the table holds.

Point in time: only orders strictly before ``as_of`` (a parsed UTC-midnight timestamp)
are read.
"""

from __future__ import annotations

import logging

import pandas as pd

from workbench.experiments.data import (
    ExperimentData,
    ExperimentInputError,
    check_counts,
    ordered_variants,
    require_columns,
)

__all__ = ["list_experiments", "experiment_from_tables"]

log = logging.getLogger(__name__)

_ASSIGNMENT_COLUMNS = ("experiment_id", "customer_id", "variant", "assigned_at")
_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount")


def list_experiments(assignments: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: variants, assigned customers and assignment dates.

    Sorted with the most recently assigned experiment first.

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


def experiment_from_tables(
    assignments: pd.DataFrame,
    orders: pd.DataFrame,
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
    orders : pandas.DataFrame
        Canonical ``orders``; only ``status == 'completed'`` counts (all rows when the
        column is absent).
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
    chosen = _choose_experiment(assignments, experiment_id)
    notes: list[str] = []
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
    completed = _completed_orders(orders, as_of)
    users = _window_outcomes(users, completed, window_days, notes)
    if pre_period_days:
        users = _pre_period_spend(users, completed, pre_period_days)
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


def _choose_experiment(assignments: pd.DataFrame, experiment_id: str) -> str:
    found = list_experiments(assignments)
    if found.empty:
        raise ExperimentInputError("experiment_assignments: the table has no experiment rows")
    listing = "; ".join(
        f"{r.experiment_id} ({r.users:,} users: {r.variants})" for r in found.itertuples()
    )
    if not experiment_id:
        chosen = str(found["experiment_id"].iloc[0])
        if len(found) > 1:
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
        rows = rows[~rows["customer_id"].isin(switched)]
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


def _completed_orders(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    keep = orders["ordered_at"].notna() & orders["customer_id"].notna()
    keep &= orders["ordered_at"] < as_of
    if "status" in orders.columns:
        keep &= orders["status"].fillna("completed").eq("completed")
    return orders.loc[keep, ["customer_id", "ordered_at", "amount"]]


def _window_outcomes(
    users: pd.DataFrame, orders: pd.DataFrame, window_days: int, notes: list[str]
) -> pd.DataFrame:
    joined = orders.merge(users[["customer_id", "assigned_at"]], on="customer_id", how="inner")
    end = joined["assigned_at"] + pd.Timedelta(days=window_days)
    inside = joined[(joined["ordered_at"] >= joined["assigned_at"]) & (joined["ordered_at"] < end)]
    blank = int(inside["amount"].isna().sum())
    if blank:
        notes.append(f"{blank:,} order(s) in the windows without an amount count as 0 revenue")
    per_user = inside.groupby("customer_id").agg(
        orders=("ordered_at", "size"),
        revenue=("amount", lambda s: float(s.fillna(0.0).sum())),
        first_order_at=("ordered_at", "min"),
    )
    out = users.merge(per_user, left_on="customer_id", right_index=True, how="left")
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0).astype("float64")
    out["converted"] = out["orders"] > 0
    return out


def _pre_period_spend(users: pd.DataFrame, orders: pd.DataFrame, days: int) -> pd.DataFrame:
    joined = orders.merge(users[["customer_id", "assigned_at"]], on="customer_id", how="inner")
    start = joined["assigned_at"] - pd.Timedelta(days=days)
    before = joined[
        (joined["ordered_at"] >= start) & (joined["ordered_at"] < joined["assigned_at"])
    ]
    per_user = before.groupby("customer_id").agg(
        pre_orders=("ordered_at", "size"), pre_spend=("amount", lambda s: float(s.fillna(0).sum()))
    )
    out = users.merge(per_user, left_on="customer_id", right_index=True, how="left")
    out["pre_orders"] = out["pre_orders"].fillna(0).astype("int64")
    out["pre_spend"] = out["pre_spend"].fillna(0.0).astype("float64")
    return out


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
