"""What an A/B test analysis starts from: per-user outcomes or an aggregated export.

Two routes lead to the same :class:`ExperimentData`:

* :func:`experiment_from_tables` joins ``experiment_assignments`` to the completed orders
  placed within ``window_days`` after each assignment (one row per assigned customer:
  converted, orders, revenue, and the spend in a pre-assignment window for CUPED);
* :func:`experiment_from_summary` reads the ``variant, users, conversions[, revenue]`` table
  that e-mail and testing platforms export (no per-user data, so no revenue model,
  CUPED or timeline).

Segment labels for per-segment effects come from :func:`load_segment_labels` (the
features or segmentation outputs, or any file with ``customer_id`` and the column) and are
joined with :func:`attach_segments`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import catalog

__all__ = [
    "ExperimentInputError",
    "ExperimentData",
    "list_experiments",
    "experiment_from_tables",
    "read_summary_csv",
    "experiment_from_summary",
    "load_experiment",
    "load_segment_labels",
    "attach_segments",
    "with_segments",
    "MISSING_SEGMENT",
]

log = logging.getLogger(__name__)

MISSING_SEGMENT = "(no segment)"
_ASSIGNMENT_COLUMNS = ("experiment_id", "customer_id", "variant", "assigned_at")
_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount")
# header (normalised) -> canonical column of the aggregated export
_SUMMARY_SYNONYMS = {
    "variant": ("variant", "variation", "group", "arm", "version", "test_group", "name"),
    "users": ("users", "visitors", "recipients", "participants", "sessions", "sent", "n"),
    "conversions": ("conversions", "converted", "conversion_count", "orders", "purchases"),
    "revenue": ("revenue", "total_revenue", "revenue_sum", "sales", "order_value"),
}
_TOTAL_ROWS = {"total", "totals", "all", "overall", "sum"}


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
        :func:`attach_segments`.
    window_days : int or None
        Conversion window after assignment (``None`` for an aggregated export).
    source : str
        ``"tables"`` or ``"summary"``.
    notes : tuple of str
        What was excluded or assumed, in plain words (shown in the report).
    segment_column : str or None
        Name of the segment column joined by :func:`attach_segments`.
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
            and "pre_spend" in self.users.columns
            and float(self.users["pre_spend"].var()) > 0
        )

    @property
    def has_segments(self) -> bool:
        """Segment labels were attached to the users."""
        return self.has_users and "segment" in self.users.columns


# --------------------------------------------------------------------------- tables route


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
    _require_columns(assignments, _ASSIGNMENT_COLUMNS, "experiment_assignments")
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
        Cut-off (UTC); nothing at or after it is read.
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
    _require_columns(assignments, _ASSIGNMENT_COLUMNS, "experiment_assignments")
    _require_columns(orders, _ORDER_COLUMNS, "orders")
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    chosen = _choose_experiment(assignments, experiment_id)
    notes: list[str] = []
    users = _clean_assignments(assignments, chosen, as_of, window_days, notes)
    if users.empty:
        raise ExperimentInputError(
            f"experiment {chosen!r}: no assigned customer left to analyse as of {as_of.date()} "
            f"({'; '.join(notes) or 'no assignments'})"
        )
    variants = _ordered_variants(users["variant"], control, chosen)
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
    _check_counts(counts, chosen)
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


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExperimentInputError(
            f"{table}: column(s) {', '.join(missing)} missing; expected {', '.join(columns)}, "
            f"got {', '.join(map(str, frame.columns)) or 'no columns'}"
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


def _ordered_variants(variant: pd.Series, control: str, experiment_id: str) -> tuple[str, ...]:
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


def _check_counts(counts: pd.DataFrame, experiment_id: str) -> None:
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


# --------------------------------------------------------------------------- aggregated route


def read_summary_csv(path: str | Path) -> pd.DataFrame:
    """Read an aggregated export into ``variant, users, conversions, revenue``.

    Tolerant of what platforms write: header case and spacing (``" Users "``), a few
    synonyms (``visitors``, ``recipients``, ``orders`` …), thousands separators and
    currency signs in numbers, any separator, extra columns such as a conversion-rate
    percentage (ignored), blank lines and a trailing total row (dropped, with a log line).

    Raises
    ------
    ExperimentInputError
        Unreadable file, a missing column (the columns found are listed), numbers that
        are not numbers, fractional or negative counts, or a repeated variant.

    Examples
    --------
    >>> import io
    >>> text = "Variant,Users,Conversions,Conv. rate\\nA,\\"1,000\\",50,5%\\nB,\\"1,010\\",61,6%\\n"
    >>> read_summary_csv(io.StringIO(text))
      variant  users  conversions  revenue
    0       A   1000           50      NaN
    1       B   1010           61      NaN
    """
    where = getattr(path, "name", None) or str(path)
    try:
        raw = pd.read_csv(path, sep=None, engine="python", dtype="str", skip_blank_lines=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ExperimentInputError(
            f"summary_path {where!r}: cannot be read as CSV ({exc})"
        ) from exc
    found = {_normalise_header(c): c for c in raw.columns}
    renamed: dict[str, str] = {}
    for canonical, synonyms in _SUMMARY_SYNONYMS.items():
        hit = next((found[s] for s in synonyms if s in found), None)
        if hit is not None:
            renamed[hit] = canonical
    missing = [c for c in ("variant", "users", "conversions") if c not in renamed.values()]
    if missing:
        raise ExperimentInputError(
            f"summary_path {where!r}: column(s) {', '.join(missing)} missing; expected "
            f"variant, users, conversions and optionally revenue; found columns: "
            f"{', '.join(map(str, raw.columns))}"
        )
    ignored = [c for c in raw.columns if c not in renamed]
    if ignored:
        log.info("summary %s: column(s) %s ignored", where, ", ".join(map(str, ignored)))
    frame = raw[list(renamed)].rename(columns=renamed)
    frame["variant"] = frame["variant"].astype("str").str.strip()
    frame = frame[frame["variant"].notna() & frame["variant"].ne("")]
    total = frame["variant"].str.casefold().isin(_TOTAL_ROWS)
    if total.any():
        log.info("summary %s: total row(s) %s dropped", where, frame.loc[total, "variant"].tolist())
        frame = frame[~total]
    out = pd.DataFrame({"variant": frame["variant"].to_numpy()})
    for column in ("users", "conversions"):
        out[column] = _count_column(frame[column], where, column)
    revenue = frame["revenue"] if "revenue" in frame else pd.Series(np.nan, index=frame.index)
    out["revenue"] = _number_column(revenue, where, "revenue").to_numpy()
    repeated = out["variant"][out["variant"].duplicated()].unique().tolist()
    if repeated:
        raise ExperimentInputError(
            f"summary_path {where!r}: variant(s) {', '.join(repeated)} appear more than once; "
            "expected one row per variant"
        )
    return out


def _normalise_header(name: object) -> str:
    text = str(name).strip().lstrip("\ufeff").casefold()
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


def _number_column(values: pd.Series, where: str, column: str) -> pd.Series:
    text = values.astype("str").str.strip()
    text = text.str.replace(r"[$€£¥\s]", "", regex=True).str.replace(
        r"(?<=\d)[,'](?=\d{3}(\D|$))", "", regex=True
    )
    blank = values.isna() | text.eq("") | text.str.casefold().isin(["nan", "na", "null", "-"])
    numbers = pd.to_numeric(text.mask(blank, np.nan), errors="coerce")
    bad = numbers.isna() & ~blank
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].head(3))
        raise ExperimentInputError(
            f"summary_path {where!r}: column {column!r} expected numbers; got {examples}"
        )
    return numbers.astype("float64").reset_index(drop=True)


def _count_column(values: pd.Series, where: str, column: str) -> np.ndarray:
    numbers = _number_column(values, where, column)
    if numbers.isna().any():
        raise ExperimentInputError(
            f"summary_path {where!r}: column {column!r} is blank in {int(numbers.isna().sum())} "
            "row(s); every variant needs a count"
        )
    if ((numbers < 0) | (numbers != np.round(numbers))).any():
        raise ExperimentInputError(
            f"summary_path {where!r}: column {column!r} expected whole non-negative counts; "
            f"got {', '.join(map(str, numbers[(numbers < 0) | (numbers != np.round(numbers))]))}"
        )
    return numbers.astype("int64").to_numpy()


def experiment_from_summary(
    summary: str | Path | pd.DataFrame,
    *,
    control: str = "control",
    experiment_id: str = "",
) -> ExperimentData:
    """An experiment from aggregated counts (a path to a CSV export, or its frame).

    Parameters
    ----------
    summary : path or pandas.DataFrame
        A CSV (read with :func:`read_summary_csv`) or a frame with ``variant, users,
        conversions`` and optionally ``revenue`` (sum per variant).
    control : str, default "control"
        The control variant (matched case-insensitively when there is no exact match).
    experiment_id : str, default ""
        A name for the report; "" means the file's stem (or ``"summary"``).

    Raises
    ------
    ExperimentInputError
        Unknown control, a single variant, zero users or conversions above users.

    Examples
    --------
    >>> counts = pd.DataFrame({"variant": ["control", "b"], "users": [1000, 1000],
    ...                        "conversions": [100, 120]})
    >>> data = experiment_from_summary(counts, experiment_id="subject_line")
    >>> data.variants, data.has_users
    (('control', 'b'), False)
    """
    if isinstance(summary, pd.DataFrame):
        frame = summary
        name = experiment_id or "summary"
        _require_columns(frame, ("variant", "users", "conversions"), "summary")
    else:
        frame = read_summary_csv(summary)
        name = experiment_id or Path(str(summary)).stem
    frame = frame.assign(variant=frame["variant"].astype("str").str.strip())
    if "revenue" not in frame.columns:
        frame = frame.assign(revenue=np.nan)
    variants = _ordered_variants(frame["variant"], control, name)
    counts = (
        frame.set_index("variant")
        .loc[list(variants), ["users", "conversions", "revenue"]]
        .rename_axis("variant")
        .reset_index()
    )
    counts["users"] = counts["users"].astype("int64")
    counts["conversions"] = counts["conversions"].astype("int64")
    counts["revenue"] = counts["revenue"].astype("float64")
    _check_counts(counts, name)
    return ExperimentData(
        experiment_id=name,
        control=variants[0],
        variants=variants,
        counts=counts,
        users=None,
        window_days=None,
        source="summary",
        notes=("aggregated counts only: no revenue model, CUPED, Welch test or timeline",),
    )


def load_experiment(
    tables: Mapping[str, pd.DataFrame] | None,
    *,
    as_of: pd.Timestamp,
    summary_path: str | Path = "",
    experiment_id: str = "",
    control: str = "control",
    window_days: int = 14,
    pre_period_days: int = 90,
) -> ExperimentData:
    """The experiment from ``summary_path`` when given, else from the canonical tables.

    ``tables`` is anything indexable by table name with ``in`` (a dict or
    :class:`~workbench.loading.LoadedData`) holding ``experiment_assignments`` and
    ``orders``; it may be ``None`` when ``summary_path`` is given.

    Raises
    ------
    ExperimentInputError
        Neither a summary nor an ``experiment_assignments`` table, or any error of
        :func:`experiment_from_tables` / :func:`experiment_from_summary`.
    """
    if summary_path:
        if not Path(summary_path).expanduser().exists():
            raise ExperimentInputError(
                f"summary_path {str(summary_path)!r} does not exist (looked for "
                f"{Path(summary_path).expanduser().resolve()}); give an absolute path"
            )
        return experiment_from_summary(
            Path(summary_path).expanduser(), control=control, experiment_id=experiment_id
        )
    if tables is None or "experiment_assignments" not in tables or "orders" not in tables:
        present = ", ".join(sorted(tables.tables if hasattr(tables, "tables") else tables or []))
        raise ExperimentInputError(
            "nothing to analyse: the source has no experiment_assignments table (tables found: "
            f"{present or 'none'}) and no summary_path was given; add experiment_assignments "
            "(experiment_id, customer_id, variant, assigned_at) or point summary_path at a CSV "
            "with variant, users, conversions[, revenue]"
        )
    return experiment_from_tables(
        tables["experiment_assignments"],
        tables["orders"],
        as_of=as_of,
        experiment_id=experiment_id,
        control=control,
        window_days=window_days,
        pre_period_days=pre_period_days,
    )


# --------------------------------------------------------------------------- segments


def load_segment_labels(
    segment_column: str,
    *,
    processed_dir: str | Path | None = None,
    segment_path: str | Path = "",
    source: str | Path | None = None,
) -> tuple[pd.Series | None, str]:
    """Each customer's segment, and a sentence saying where it came from (or why not).

    Looks in ``segment_path`` when given (Parquet or CSV with ``customer_id`` and
    ``segment_column``), else in ``processed_dir`` for the catalog's
    ``customer_features`` then ``segments`` tables. Missing files or columns are not an
    error here: the labels are ``None`` and the sentence says so, so the report can skip
    the section. With ``source``, a table whose stamp names another data source is
    skipped too, so segments of one data set never label another.

    Returns
    -------
    labels : pandas.Series or None
        Indexed by ``customer_id`` (string), named ``segment_column``.
    note : str
        Where the labels came from, or why there are none.
    """
    if not segment_column:
        return None, "no segment column given (segment_column is empty)"
    if segment_path:
        candidates = [Path(segment_path).expanduser()]
        if not candidates[0].exists():
            raise ExperimentInputError(
                f"segment_path {str(segment_path)!r} does not exist (looked for "
                f"{candidates[0].resolve()}); give an absolute path"
            )
    elif processed_dir is not None:
        folder = Path(processed_dir)
        candidates = [
            folder / Path(catalog.entry(name).path).name
            for name in ("customer_features", "segments")
        ]
        current = catalog.fingerprint(source) if source is not None else None
        for path in candidates:
            stamp = catalog.stamp_of_file(path)
            if current is not None and stamp is not None and not stamp.source.same_as(current):
                return None, (
                    f"per-segment effects skipped: {path.name} was made from another data "
                    "source (or an older version of it); re-run the features stage first"
                )
    else:
        return None, "no segment file given and no processed folder to look in"
    looked = []
    for path in candidates:
        if not path.exists():
            looked.append(f"{path.name} (absent)")
            continue
        frame = _read_table(path)
        if "customer_id" not in frame.columns or segment_column not in frame.columns:
            if segment_path:
                raise ExperimentInputError(
                    f"segment_path {path.name!r}: expected columns customer_id and "
                    f"{segment_column!r}; found {', '.join(map(str, frame.columns))}"
                )
            looked.append(f"{path.name} (no column {segment_column!r})")
            continue
        labels = frame.dropna(subset=["customer_id"]).drop_duplicates("customer_id", keep="last")
        ids = labels["customer_id"].astype("str").str.strip()
        series = pd.Series(labels[segment_column].to_numpy(), index=ids, name=segment_column)
        series.attrs["as_of"] = frame.attrs.get("as_of")
        return series, f"segments: column {segment_column!r} of {path.name}"
    return None, (
        f"per-segment effects skipped: no table with column {segment_column!r} "
        f"({'; '.join(looked)})"
    )


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        stamp = catalog.stamp_of_file(path)
        if stamp is not None:
            frame.attrs["as_of"] = stamp.as_of
        return frame
    return pd.read_csv(path, sep=None, engine="python", dtype={"customer_id": "str"})


def attach_segments(
    data: ExperimentData, labels: pd.Series, *, max_segments: int = 12
) -> ExperimentData:
    """A copy of ``data`` whose users carry a ``segment`` column.

    Customers without a label get ``"(no segment)"``; beyond ``max_segments`` the
    smallest segments are merged into ``"other"`` (both counted in the notes).

    Raises
    ------
    ExperimentInputError
        Aggregated data (no users), or labels that match none of the assigned customers.
    """
    if not data.has_users:
        raise ExperimentInputError(
            "per-segment effects need per-user data; an aggregated summary has none"
        )
    if max_segments < 2:
        raise ExperimentInputError(f"max_segments: expected 2 or more, got {max_segments}")
    users = data.users.copy()
    mapped = users["customer_id"].astype("str").map(labels)
    known = mapped.notna()
    if not known.any():
        raise ExperimentInputError(
            f"segment labels ({labels.name!r}) match none of the {len(users):,} assigned "
            f"customers; e.g. label ids {', '.join(map(str, labels.index[:3]))} vs assigned "
            f"{', '.join(users['customer_id'].astype('str').head(3))}"
        )
    notes = list(data.notes)
    segment = mapped.astype("str").where(known, MISSING_SEGMENT)
    if (~known).any():
        notes.append(f"{int((~known).sum()):,} assigned customer(s) have no {labels.name!r} label")
    sizes = segment.value_counts()
    if len(sizes) > max_segments:
        keep = set(sizes.index[: max_segments - 1])
        merged = sizes.index[max_segments - 1 :]
        segment = segment.where(segment.isin(keep), "other")
        notes.append(f"{len(merged)} small segment(s) merged into 'other' (max_segments)")
    users["segment"] = segment.to_numpy()
    return replace(data, users=users, notes=tuple(notes), segment_column=str(labels.name))


def with_segments(
    data: ExperimentData,
    segment_column: str,
    *,
    processed_dir: str | Path | None = None,
    segment_path: str | Path = "",
    max_segments: int = 12,
    source: str | Path | None = None,
) -> tuple[ExperimentData, str]:
    """:func:`load_segment_labels` then :func:`attach_segments`, or a note saying why not.

    Returns ``(data with a segment column, note)`` when labels exist, else ``(data, note)``
    unchanged, so a report can show or skip the per-segment section.
    """
    if not data.has_users:
        return data, "per-segment effects skipped: they need per-user data (aggregated input)"
    labels, note = load_segment_labels(
        segment_column, processed_dir=processed_dir, segment_path=segment_path, source=source
    )
    if labels is None:
        log.info(note)
        return data, note
    segmented = attach_segments(data, labels, max_segments=max_segments)
    if segmented.users["segment"].nunique() < 2:
        return data, f"per-segment effects skipped: every user is in one {segment_column!r} segment"
    built, first = labels.attrs.get("as_of"), data.users["assigned_at"].min()
    if built is not None and built > first:
        note += (
            f" — built as of {built.date()}, after the first assignment ({first.date()}): the "
            "segments partly reflect the test itself, so read these effects as descriptive, "
            f"or rebuild the features as of {first.date()} for a clean split"
        )
        log.warning("segments %s: %s", segment_column, note)
    return segmented, note
