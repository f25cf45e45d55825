"""The canonical-tables route: an experiment's outcomes joined to point-in-time features.

From ``experiment_assignments`` and the completed ``orders``, each assigned customer's
outcome is what they did in ``[assigned_at, assigned_at + window_days)`` — conversion
(at least one completed order) or revenue (the sum of those orders). The cleaning is the
A/B stage's (:func:`workbench.experiments.experiment_from_tables`): customers assigned to
more than one variant are left out, repeated assignments keep the first, and customers
whose window is not over by ``as_of`` are left out, each counted in the notes.

**Point in time.** The features must describe each customer *before* their assignment,
or the model learns from what the treatment caused. Build the feature table as of the
experiment's first assignment date (:func:`first_assignment_date`, UTC midnight; the
feature build reads data strictly before it) and pass that date as ``features_as_of``;
a later date is refused. Customers assigned later get features a little older than
their own assignment — never newer.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd

from workbench.experiments import ExperimentInputError, experiment_from_tables
from workbench.uplift.inputs import UpliftData, UpliftInputError, prepare_uplift_data
from workbench.uplift.params import OUTCOMES

__all__ = ["OUTCOMES", "TREATMENT_COLUMN", "first_assignment_date", "uplift_data_from_tables"]

log = logging.getLogger(__name__)

#: Treatment column of the table built from ``experiment_assignments``.
TREATMENT_COLUMN = "variant"


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def first_assignment_date(assignments: pd.DataFrame, experiment_id: str) -> pd.Timestamp:
    """UTC midnight of the experiment's first assignment: the latest valid ``as_of`` of
    its features.

    Examples
    --------
    >>> a = pd.DataFrame({"experiment_id": ["e1", "e1", "e2"], "customer_id": ["c1", "c2", "c3"],
    ...                   "variant": ["control", "b", "control"],
    ...                   "assigned_at": pd.to_datetime(["2026-03-04 15:00", "2026-03-02 09:30",
    ...                                                  "2026-01-01 00:00"], utc=True)})
    >>> first_assignment_date(a, "e1")
    Timestamp('2026-03-02 00:00:00+0000', tz='UTC')
    """
    rows = assignments.loc[assignments["experiment_id"] == experiment_id, "assigned_at"].dropna()
    if rows.empty:
        found = ", ".join(map(str, assignments["experiment_id"].dropna().unique()[:10]))
        raise UpliftInputError(
            f"experiment_assignments: no assignment of experiment {experiment_id!r}; "
            f"experiments are: {found or 'none'}"
        )
    return _utc(rows.min()).floor("D")


def uplift_data_from_tables(
    assignments: pd.DataFrame,
    orders: pd.DataFrame,
    features: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    features_as_of: pd.Timestamp,
    experiment_id: str = "",
    control: str = "control",
    window_days: int = 14,
    outcome: str = "converted",
    id_column: str = "customer_id",
) -> UpliftData:
    """One experiment's outcomes and point-in-time features as :class:`UpliftData`.

    Parameters
    ----------
    assignments : pandas.DataFrame
        Canonical ``experiment_assignments``.
    orders : pandas.DataFrame
        Canonical ``orders`` (only completed orders count).
    features : pandas.DataFrame
        One row per customer, built as of ``features_as_of``; ``id_column`` plus features.
    as_of : pandas.Timestamp
        Cut-off of the outcome data (UTC); windows not over by then are left out.
    features_as_of : pandas.Timestamp
        The date the features were built as of; must not be after the first assignment
        of the customers analysed.
    experiment_id : str, default ""
        The experiment ("" = the only or the most recent one).
    control : str, default "control"
    window_days : int, default 14
    outcome : {"converted", "revenue"}, default "converted"
    id_column : str, default "customer_id"
        The customer id column of ``features``.

    Returns
    -------
    UpliftData
        Treatment column ``variant``, outcome column ``outcome``, ids ``customer_id``; the
        A/B cleaning notes and the count of customers without a feature row (their
        features are missing values) in ``notes``.

    Raises
    ------
    UpliftInputError
        Features built after the first assignment, an unknown outcome, a features table
        without the id column or with repeated ids, and every error of
        :func:`~workbench.uplift.inputs.prepare_uplift_data` and of the A/B inputs.
    """
    if outcome not in OUTCOMES:
        raise UpliftInputError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if id_column not in features.columns:
        raise UpliftInputError(
            f"features: id column {id_column!r} missing; the table has: "
            f"{', '.join(map(str, features.columns[:30]))}"
        )
    clash = [c for c in (TREATMENT_COLUMN, *OUTCOMES) if c in features.columns]
    if clash:
        raise UpliftInputError(
            f"features: column(s) {', '.join(clash)} clash with the experiment's treatment and "
            "outcome columns; rename or drop them"
        )
    try:
        experiment = experiment_from_tables(
            assignments, orders, as_of=_utc(as_of), experiment_id=experiment_id,
            control=control, window_days=window_days, pre_period_days=0,
        )  # fmt: skip
    except ExperimentInputError as exc:
        raise UpliftInputError(str(exc)) from exc
    users = experiment.users
    if users is None:  # the tables route always has per-user rows
        raise UpliftInputError(f"experiment {experiment.experiment_id!r}: no per-customer rows")
    first = _utc(users["assigned_at"].min())
    features_as_of = _utc(features_as_of)
    if features_as_of > first:
        raise UpliftInputError(
            f"features_as_of {features_as_of.date()} is after the first assignment of "
            f"experiment {experiment.experiment_id!r} ({first}); features would include "
            f"behaviour after the treatment — build them as of {first.floor('D').date()} or "
            "earlier"
        )
    dup = features[id_column].duplicated()
    if dup.any():
        raise UpliftInputError(
            f"features: {int(dup.sum()):,} repeated {id_column}(s), e.g. "
            f"{', '.join(map(str, features.loc[dup, id_column].head(3)))}; one row per customer"
        )
    table = users[["customer_id", TREATMENT_COLUMN, outcome]].merge(
        features.rename(columns={id_column: "customer_id"}), on="customer_id", how="left",
        indicator=True,
    )  # fmt: skip
    notes = list(experiment.notes)
    absent = int((table.pop("_merge") == "left_only").sum())
    if absent:
        notes.append(
            f"{absent:,} assigned customer(s) have no feature row as of "
            f"{features_as_of.date()} (e.g. signed up later); their features are missing values"
        )
    data = prepare_uplift_data(
        table, treatment_column=TREATMENT_COLUMN, control=experiment.control,
        outcome_column=outcome, id_column="customer_id", table_name=experiment.experiment_id,
    )  # fmt: skip
    for note in notes:
        log.info("experiment %s: %s", experiment.experiment_id, note)
    return replace(data, notes=(*notes, *data.notes))
