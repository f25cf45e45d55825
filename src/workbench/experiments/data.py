"""The experiment every analysis step reads, and the checks both input routes share.

:class:`ExperimentData` is what :mod:`~workbench.experiments.tables` (per-user outcomes
from the canonical tables) and :mod:`~workbench.experiments.export` (an aggregated
export) build and what the checks, models and report read; :class:`ExperimentInputError`
is the error of every input that cannot be analysed. The validators here
(:func:`require_columns`, :func:`ordered_variants`, :func:`check_counts`) are the rules both
routes apply, so an export and the tables fail with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = [
    "ExperimentInputError",
    "ExperimentData",
    "require_columns",
    "ordered_variants",
    "check_counts",
]


class ExperimentInputError(ValueError):
    """The experiment's input cannot be analysed; the message says what exists instead."""


@dataclass(frozen=True)
class ExperimentData:
    """One experiment ready to analyse.

    Attributes
    ----------
    experiment_id : str
        The experiment's id (the file stem for an aggregated export without one).
    control : str
        The control variant (as spelled in the data).
    variants : tuple of str
        Every variant, control first, then the others in alphabetical order.
    counts : pandas.DataFrame
        One row per variant (in ``variants`` order): ``variant, users, conversions`` and
        ``revenue`` (sum; NaN when unknown).
    users : pandas.DataFrame or None
        Per assigned customer (``None`` for an aggregated export): ``customer_id, variant,
        assigned_at, converted, orders, revenue, first_order_at`` and, when a pre-assignment
        window was asked for, ``pre_spend, pre_orders``; ``segment`` after
        :func:`~workbench.experiments.segments.attach_segments`.
    window_days : int or None
        Conversion window after assignment (``None`` for an aggregated export).
    source : str
        ``"tables"`` or ``"summary"``.
    notes : tuple of str
        What was excluded or assumed, in plain words (shown in the report).
    segment_column : str or None
        Name of the segment column joined by :func:`~workbench.experiments.segments.attach_segments`.
    """

    experiment_id: str
    control: str
    variants: tuple[str, ...]
    counts: pd.DataFrame
    users: pd.DataFrame | None = None
    window_days: int | None = None
    source: str = "tables"
    notes: tuple[str, ...] = field(default_factory=tuple)
    segment_column: str | None = None

    @property
    def treatments(self) -> tuple[str, ...]:
        """The variants other than control."""
        return tuple(v for v in self.variants if v != self.control)

    @property
    def has_users(self) -> bool:
        """Per-user outcomes exist (needed for revenue models, CUPED, Welch and timelines)."""
        return self.users is not None and len(self.users) > 0

    @property
    def has_revenue(self) -> bool:
        """Revenue is known (per user, or as a sum per variant)."""
        return bool(self.counts["revenue"].notna().all())

    @property
    def has_pre_period(self) -> bool:
        """Per-user spend before assignment exists and varies (CUPED can use it)."""
        return (
            self.has_users
            and "pre_spend" in self.user_table.columns
            and float(self.user_table["pre_spend"].var()) > 0
        )

    @property
    def has_segments(self) -> bool:
        """Segment labels were attached to the users."""
        return self.has_users and "segment" in self.user_table.columns

    @property
    def user_table(self) -> pd.DataFrame:
        """:attr:`users`, for code that needs them.

        Raises
        ------
        ExperimentInputError
            The experiment is an aggregated export: it has no per-user outcomes.
        """
        if self.users is None:
            raise ExperimentInputError(
                f"experiment {self.experiment_id!r}: no per-user outcomes (source "
                f"{self.source!r}); this step needs experiment_assignments and orders"
            )
        return self.users


# --------------------------------------------------------------------------- shared checks


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    """Raise :class:`ExperimentInputError` naming ``table`` when ``frame`` lacks a column of
    ``columns`` (the message lists the expected and the present columns)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExperimentInputError(
            f"{table}: column(s) {', '.join(missing)} missing; expected {', '.join(columns)}, "
            f"got {', '.join(map(str, frame.columns)) or 'no columns'}"
        )


def ordered_variants(variant: pd.Series, control: str, experiment_id: str) -> tuple[str, ...]:
    """The variants present in ``variant``: control first (matched case-insensitively when
    there is no exact match), then the others in alphabetical order.

    Raises
    ------
    ExperimentInputError
        ``control`` is not a variant, or fewer than two variants are present.

    Examples
    --------
    >>> ordered_variants(pd.Series(["b", "Control", "a"]), "control", "e1")
    ('Control', 'a', 'b')
    """
    present = sorted(variant.dropna().unique().tolist())
    if control not in present:
        matches = [v for v in present if v.casefold() == str(control).strip().casefold()]
        if len(matches) != 1:
            raise ExperimentInputError(
                f"control {control!r} is not a variant of experiment {experiment_id!r}; "
                f"variants with users are: {', '.join(present) or 'none'}"
            )
        control = matches[0]
    if len(present) < 2:
        raise ExperimentInputError(
            f"experiment {experiment_id!r} has a single variant with users ({', '.join(present)}); "
            "an A/B analysis needs the control and at least one other variant"
        )
    return (control, *[v for v in present if v != control])


def check_counts(counts: pd.DataFrame, experiment_id: str) -> None:
    """Raise :class:`ExperimentInputError` when a variant of ``counts`` (``variant, users,
    conversions``) has no users, more conversions than users, or negative counts."""
    empty = counts.loc[counts["users"] <= 0, "variant"].tolist()
    if empty:
        listing = ", ".join(f"{r.variant}: {r.users:,}" for r in counts.itertuples())
        raise ExperimentInputError(
            f"experiment {experiment_id!r}: variant(s) {', '.join(empty)} have zero users "
            f"(users per variant: {listing})"
        )
    over = counts.loc[counts["conversions"] > counts["users"], "variant"].tolist()
    if over:
        raise ExperimentInputError(
            f"experiment {experiment_id!r}: conversions exceed users for variant(s) "
            f"{', '.join(over)}; conversions count converting users, at most one per user"
        )
    negative = counts.loc[(counts["conversions"] < 0) | (counts["users"] < 0), "variant"].tolist()
    if negative:
        raise ExperimentInputError(
            f"experiment {experiment_id!r}: negative users or conversions for {', '.join(negative)}"
        )
