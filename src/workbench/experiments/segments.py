"""Segment labels for per-segment effects: read from the catalog or a file, then joined.

:func:`load_segment_labels` finds each customer's label — in a file given by the user
(Parquet or CSV with ``customer_id`` and the column), else in the catalog's
``customer_features`` then ``segments`` tables, whose stamps must name the data source
being analysed (segments of one data set never label another). :func:`attach_segments`
joins them to the users of an :class:`~workbench.experiments.data.ExperimentData`;
:func:`with_segments` does both and says why when it cannot.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from workbench import catalog
from workbench.experiments.data import ExperimentData, ExperimentInputError

__all__ = ["MISSING_SEGMENT", "load_segment_labels", "attach_segments", "with_segments"]

log = logging.getLogger(__name__)

#: Label of assigned customers who have no segment.
MISSING_SEGMENT = "(no segment)"


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
    users = data.user_table.copy()
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
    if segmented.user_table["segment"].nunique() < 2:
        return data, f"per-segment effects skipped: every user is in one {segment_column!r} segment"
    built, first = labels.attrs.get("as_of"), data.user_table["assigned_at"].min()
    if built is not None and built > first:
        note += (
            f" — built as of {built.date()}, after the first assignment ({first.date()}): the "
            "segments partly reflect the test itself, so read these effects as descriptive, "
            f"or rebuild the features as of {first.date()} for a clean split"
        )
        log.warning("segments %s: %s", segment_column, note)
    return segmented, note
