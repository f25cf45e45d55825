"""Segment labels for per-segment effects: built as of the first assignment, or read from
the catalog or a file, then joined.

A segment must describe a customer *before* the test: labels computed after assignment
partly reflect the test itself. So by default (:func:`pre_assignment_labels`) the labels
are built from the canonical tables as of the day of the experiment's first assignment
with the feature code — the RFM columns alone when the segment column is one of them
(cheap), the whole feature table otherwise. :func:`load_segment_labels` reads labels
instead from a file given by the user (Parquet or CSV with ``customer_id`` and the
column), or from the catalog's ``customer_features`` then ``segments`` tables, whose
stamps must name the data source being analysed (segments of one data set never label
another). :func:`attach_segments` joins labels to the users of an
:class:`~workbench.experiments.data.ExperimentData` and pools segments too small to say
anything; :func:`with_segments` does all of it and says, calmly, what it did.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import catalog, features
from workbench.experiments.data import ExperimentData, ExperimentInputError
from workbench.loading import LoadError

__all__ = [
    "MISSING_SEGMENT",
    "OTHER_SEGMENT",
    "SEGMENTS_AS_OF",
    "attach_segments",
    "first_assignment_day",
    "load_segment_labels",
    "pre_assignment_labels",
    "with_segments",
]

log = logging.getLogger(__name__)

#: Label of assigned customers who have no segment.
MISSING_SEGMENT = "(no segment)"
#: Label of the pool of segments merged for size (``max_segments``) or for too few
#: conversions (``min_conversions``).
OTHER_SEGMENT = "other"
#: When segment labels describe the customers: ``first_assignment`` (built from the
#: canonical tables as of the day of the first assignment: before the test) or ``as_of``
#: (the feature and segment tables of this run, as of its cut-off: after the test began).
SEGMENTS_AS_OF = ("first_assignment", "as_of")


def first_assignment_day(data: ExperimentData) -> pd.Timestamp:
    """Midnight (UTC) of the day of the experiment's first analysed assignment: features
    as of it use only data from before any customer saw a variant.

    Raises
    ------
    ExperimentInputError
        Aggregated data (no assignment dates).
    """
    first = pd.Timestamp(data.user_table["assigned_at"].min())
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    return first.floor("D")


def pre_assignment_labels(
    source: Any, data: ExperimentData, segment_column: str
) -> tuple[pd.Series | None, str]:
    """Each customer's ``segment_column`` as of the first assignment day, from the canonical
    tables in ``source`` (anything :func:`workbench.canonical.open_tables` opens).

    The RFM columns (:data:`workbench.features.RFM_COLUMNS`) come from
    :func:`workbench.features.rfm_features` (one scan of the orders); customers without a
    completed order before that day are "No Purchase", as in the feature table. Any other
    column is taken from :func:`workbench.features.build_features` at that date.

    Returns
    -------
    labels : pandas.Series or None
        Indexed by ``customer_id`` (string), named ``segment_column``, ``attrs["as_of"]``
        the date; ``None`` when the feature table has no such column.
    note : str
        Where the labels came from, or why there are none.
    """
    day = first_assignment_day(data)
    if segment_column in features.RFM_COLUMNS:
        frame = features.rfm_features(source, day)
        fill = features.NO_PURCHASE if segment_column == "rfm_segment" else None
    else:
        try:
            frame = features.build_features(source, day)
        except (LoadError, KeyError, ValueError) as exc:  # e.g. a source with orders only
            return None, (
                f"segments as of the first assignment could not be built from the tables "
                f"({str(exc).splitlines()[0][:200]})"
            )
        fill = None
        if segment_column not in frame.columns:
            return None, (
                f"the feature table has no column {segment_column!r}, so segments as of the "
                "first assignment cannot be built from the tables"
            )
    labels = pd.Series(
        frame[segment_column].to_numpy(),
        index=frame["customer_id"].astype("str").str.strip(),
        name=segment_column,
    )
    if fill is not None:
        ids = data.user_table["customer_id"].astype("str").str.strip().unique()
        labels = labels.reindex(labels.index.union(pd.Index(ids))).fillna(fill)
        labels.name = segment_column
    labels.attrs["as_of"] = day
    return labels, (
        f"segments: {segment_column!r} as of {day.date()}, the day of the first assignment, "
        "built from the data before it — they describe customers before the test"
    )


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
    data: ExperimentData, labels: pd.Series, *, max_segments: int = 12, min_conversions: int = 0
) -> ExperimentData:
    """A copy of ``data`` whose users carry a ``segment`` column.

    Customers without a label get ``"(no segment)"``. Beyond ``max_segments`` the
    smallest segments are pooled into ``"other"``; so is every segment with fewer than
    ``min_conversions`` conversions in one of its arms (too little to say anything about
    it alone). When the pool itself stays below ``min_conversions`` in an arm, its users
    are left out of the per-segment view (``segment`` is missing; they still count in
    every overall number). Each step is counted in the notes.

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
    if min_conversions < 0:
        raise ExperimentInputError(f"min_conversions: expected 0 or more, got {min_conversions}")
    users = data.user_table.copy()
    ids = users["customer_id"].astype("str").str.strip()
    mapped = ids.map(labels[~labels.index.duplicated(keep="last")])
    known = mapped.notna()
    if not known.any():
        raise ExperimentInputError(
            f"segment labels ({labels.name!r}) match none of the {len(users):,} assigned "
            f"customers; e.g. label ids {', '.join(map(str, labels.index[:3]))} vs assigned "
            f"{', '.join(ids.head(3))}"
        )
    notes = list(data.notes)
    segment = mapped.astype("str").where(known, MISSING_SEGMENT)
    if (~known).any():
        notes.append(f"{int((~known).sum()):,} assigned customer(s) have no {labels.name!r} label")
    sizes = segment.value_counts()
    if len(sizes) > max_segments:
        keep = set(sizes.index[: max_segments - 1])
        merged = sizes.index[max_segments - 1 :]
        segment = segment.where(segment.isin(keep), OTHER_SEGMENT)
        notes.append(f"{len(merged)} small segment(s) pooled as 'other' (max_segments)")
    segment = _pool_thin_segments(segment, users, min_conversions, notes)
    users["segment"] = segment.to_numpy()
    return replace(data, users=users, notes=tuple(notes), segment_column=str(labels.name))


def _pool_thin_segments(
    segment: pd.Series, users: pd.DataFrame, min_conversions: int, notes: list[str]
) -> pd.Series:
    """Pool segments with fewer than ``min_conversions`` conversions in an arm as 'other';
    leave the pool out (missing) when it is still that thin."""
    if min_conversions <= 0:
        return segment

    def thinnest(labels: pd.Series) -> pd.Series:
        table = pd.crosstab(labels, users["variant"], values=users["converted"], aggfunc="sum")
        table = table.reindex(columns=users["variant"].astype("str").unique()).fillna(0)
        return table.min(axis=1)

    fewest = thinnest(segment)
    thin = sorted(str(s) for s in fewest[fewest < min_conversions].index if s != OTHER_SEGMENT)
    if thin:
        segment = segment.where(~segment.isin(thin), OTHER_SEGMENT)
        pooled = int(segment.eq(OTHER_SEGMENT).sum())
        notes.append(
            f"{len(thin)} segment(s) with fewer than {min_conversions} conversions in an arm "
            f"are pooled as 'other' ({pooled:,} users), so each segment shown has enough "
            "data to estimate its own effect"
        )
    if OTHER_SEGMENT in set(segment):
        fewest = thinnest(segment)
        if fewest.get(OTHER_SEGMENT, min_conversions) < min_conversions:
            left = int(segment.eq(OTHER_SEGMENT).sum())
            segment = segment.where(segment.ne(OTHER_SEGMENT), None)
            notes.append(
                f"the pooled small segments ({left:,} users) still have fewer than "
                f"{min_conversions} conversions in an arm, so they are not shown per segment; "
                "they count in every overall number"
            )
    return segment


def with_segments(
    data: ExperimentData,
    segment_column: str,
    *,
    processed_dir: str | Path | None = None,
    segment_path: str | Path = "",
    max_segments: int = 12,
    min_conversions: int = 0,
    source: str | Path | None = None,
    canonical: Any = None,
    segments_as_of: str = "first_assignment",
) -> tuple[ExperimentData, str]:
    """Labels (from a file, built as of the first assignment, or from the catalog), then
    :func:`attach_segments`; or the data unchanged and a note saying why not.

    Parameters
    ----------
    data : ExperimentData
    segment_column : str
        The label column ("" skips the per-segment view).
    processed_dir : path, optional
        Where the catalog's feature and segment tables are (``segments_as_of="as_of"``, or
        a column the feature code cannot build).
    segment_path : path, optional
        A file of labels; it wins over everything else.
    max_segments, min_conversions : int
        See :func:`attach_segments`.
    source : path, optional
        The data source being analysed: catalog tables stamped with another are skipped.
    canonical : optional
        The canonical tables (anything :func:`workbench.canonical.open_tables` opens) to
        build labels as of the first assignment from.
    segments_as_of : {"first_assignment", "as_of"}, default "first_assignment"
        Build the labels before the test from ``canonical`` (the default, whenever
        ``canonical`` is given and the feature code knows the column), or take this run's
        feature and segment tables.

    Returns
    -------
    (ExperimentData, str)
        With a segment column when labels exist, else unchanged; and a note for the report:
        where the labels came from, then one line per thing done to them (pooling, missing
        labels).
    """
    if segments_as_of not in SEGMENTS_AS_OF:
        raise ExperimentInputError(
            f"segments_as_of: expected one of {', '.join(SEGMENTS_AS_OF)}, got {segments_as_of!r}"
        )
    if not segment_column:
        return data, "no per-segment view: segment_column is empty"
    if not data.has_users:
        return data, "no per-segment view: it needs per-user data (this is an aggregated export)"
    labels: pd.Series | None = None
    note = ""
    if not segment_path and segments_as_of == "first_assignment" and canonical is not None:
        labels, note = pre_assignment_labels(canonical, data, segment_column)
    if labels is None:
        fallback = note
        labels, note = load_segment_labels(
            segment_column, processed_dir=processed_dir, segment_path=segment_path, source=source
        )
        if fallback:
            note = f"{fallback}; {note}"
    if labels is None:
        log.info(note)
        return data, note
    segmented = attach_segments(
        data, labels, max_segments=max_segments, min_conversions=min_conversions
    )
    if segmented.user_table["segment"].dropna().nunique() < 2:
        return data, (
            f"no per-segment view: the assigned users fall in fewer than two {segment_column!r} "
            "segments with enough conversions to compare"
        )
    built, first = labels.attrs.get("as_of"), first_assignment_day(data)
    if built is not None and pd.Timestamp(built) > first:
        note += (
            f" — as of {pd.Timestamp(built).date()}, after the first assignment ({first.date()}):"
            " the segments partly reflect the test itself, so read these effects as descriptive"
            " (the default, segments_as_of='first_assignment', builds them before the test)"
        )
    log.info("segments %s: %s", segment_column, note)
    return segmented, "\n".join([note, *segmented.notes[len(data.notes) :]])
