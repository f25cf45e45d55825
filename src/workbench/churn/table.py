"""Bring your own table: a customer-level CSV/Parquet file with a churn label column.

The point-in-time labelling is skipped: each row is a customer, the label column says
whether they churned, every other column (except the id) is a candidate model input.
Real exports are messy, so:

* labels may be booleans, 0/1, yes/no, y/n, true/false, t/f or churned/retained
  (case-insensitive); rows with a blank label are dropped and counted;
* text columns whose non-blank values are all numbers become numbers, and cells that
  are blank or only spaces (the Telco churn file's ``TotalCharges``) become missing —
  counted and reported, never silently;
* a missing label column, a label column with one class, or an unknown label value
  stops with a message naming the column and what was expected.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.churn.labels import TrainingSet

__all__ = [
    "TRUE_LABELS",
    "FALSE_LABELS",
    "read_feature_table",
    "parse_labels",
    "coerce_numeric_text",
    "custom_training_set",
]

log = logging.getLogger(__name__)

#: Label spellings read as churned / retained (compared lower-case, stripped).
TRUE_LABELS = frozenset({"1", "1.0", "true", "t", "yes", "y", "churned", "churn"})
FALSE_LABELS = frozenset({"0", "0.0", "false", "f", "no", "n", "retained", "retain", "stayed"})
_BLANK = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>"})


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """Read a customer-level table: Parquet, or CSV/TSV/TXT (separator and byte-order
    mark sniffed, every cell read as text so that numbers are converted and counted by
    :func:`coerce_numeric_text`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"features_path: no file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ValueError(
            f"features_path: expected a .csv, .tsv, .txt or .parquet file, got {path.name}"
        )
    head = path.read_bytes()[:65536]
    encoding = "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:
        encoding, text = "latin-1", head.decode("latin-1")
    sep = "\t" if suffix == ".tsv" else _sniff(text)
    frame = pd.read_csv(
        path, sep=sep, dtype=str, encoding=encoding, keep_default_na=False, na_values=[""]
    )
    frame.columns = [str(c).strip() for c in frame.columns]
    log.info("read %s: %s rows x %s columns", path.name, f"{len(frame):,}", frame.shape[1])
    return frame


def _sniff(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def parse_labels(values: pd.Series, column: str = "label") -> pd.Series:
    """Churn labels as a nullable boolean Series (True = churned, ``<NA>`` = blank).

    Parameters
    ----------
    values : Series
        Booleans, 0/1 numbers or text such as yes/no, true/false, churned/retained.
    column : str
        Column name for messages.

    Raises
    ------
    ValueError
        A value that is none of the accepted spellings (examples are listed).

    Examples
    --------
    >>> parse_labels(pd.Series(["Yes", "no", " CHURNED", "retained", ""])).tolist()
    [True, False, True, False, <NA>]
    >>> parse_labels(pd.Series([1, 0, 1])).tolist()
    [True, False, True]
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    if pd.api.types.is_numeric_dtype(values):
        bad = values.notna() & ~values.isin([0, 1])
        if bad.any():
            raise ValueError(
                f"label column {column!r}: expected 0/1, got e.g. "
                f"{', '.join(map(str, values[bad].unique()[:5]))}"
            )
        return values.map({1: True, 0: False}).astype("boolean")
    text = values.astype("str").str.strip().str.lower()
    blank = values.isna() | text.isin(_BLANK)
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(TRUE_LABELS) & ~blank] = True
    out[text.isin(FALSE_LABELS) & ~blank] = False
    bad = out.isna() & ~blank
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].unique()[:5])
        raise ValueError(
            f"label column {column!r}: {int(bad.sum()):,} value(s) are not a churn label, e.g. "
            f"{examples}; expected true/false, yes/no, y/n, 1/0 or churned/retained"
        )
    return out


def coerce_numeric_text(
    frame: pd.DataFrame, exclude: tuple[str, ...] | list[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn text columns that hold numbers into float columns; blank cells become NaN.

    A text column is converted when every non-blank cell parses as a number (after
    stripping spaces). Returns the new frame and a report (column, blank_cells) of the
    converted columns; ``frame`` is not modified.

    Examples
    --------
    >>> f = pd.DataFrame({"total": ["29.85", " ", "108.15"], "plan": ["a", "b", "a"]})
    >>> out, report = coerce_numeric_text(f)
    >>> out["total"].tolist(), report.to_dict("records")
    ([29.85, nan, 108.15], [{'column': 'total', 'blank_cells': 1}])
    """
    out = frame.copy()
    rows = []
    for column in frame.columns:
        series = frame[column]
        if column in exclude or not (
            pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)
        ):
            continue
        text = series.astype("str").str.strip()
        blank = series.isna() | text.str.lower().isin(_BLANK)
        if blank.all():
            continue
        numbers = pd.to_numeric(text.mask(blank, None), errors="coerce")
        if (numbers.isna() & ~blank).any():
            continue
        out[column] = numbers.astype("float64")
        if blank.any():
            log.info(
                "%s: %s blank cell(s) read as missing numbers", column, f"{int(blank.sum()):,}"
            )
        rows.append({"column": column, "blank_cells": int(blank.sum())})
    return out, pd.DataFrame(rows, columns=["column", "blank_cells"])


def custom_training_set(
    table: str | Path | pd.DataFrame, label_column: str, *, id_column: str = "customer_id"
) -> TrainingSet:
    """A :class:`TrainingSet` from a user's customer-level table.

    Parameters
    ----------
    table : path or DataFrame
        One row per customer (CSV/TSV/Parquet path, or a frame).
    label_column : str
        The churn label (see :func:`parse_labels`).
    id_column : str, default "customer_id"
        Customer id; never a model input. Without it, rows are numbered ``row-1``, …

    Raises
    ------
    ValueError
        The label column is missing (the columns are listed), has one class only, or
        holds values that are not churn labels.
    """
    frame = read_feature_table(table) if isinstance(table, str | Path) else table.copy()
    if label_column not in frame.columns:
        close = [c for c in frame.columns if c.lower() == str(label_column).lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"label_column {label_column!r} is not a column of the table.{hint} "
            f"Columns: {', '.join(map(str, frame.columns))}"
        )
    notes: list[str] = []
    labels = parse_labels(frame[label_column], label_column)
    blank = labels.isna()
    if blank.any():
        notes.append(f"{int(blank.sum()):,} row(s) without a label were left out")
        log.info(
            "label column %r: %s blank label(s); those rows are left out",
            label_column,
            f"{int(blank.sum()):,}",
        )
    frame, labels = frame.loc[~blank.to_numpy()], labels[~blank].astype(bool)
    classes = labels.value_counts()
    if len(classes) < 2:
        only = "churned" if bool(classes.index[0]) else "retained" if len(classes) else "none"
        raise ValueError(
            f"label column {label_column!r} has a single class ({only}: {int(classes.sum()):,} "
            "rows); a churn model needs both churned and retained customers"
        )
    if id_column in frame.columns:
        ids = frame[id_column].astype("str").str.strip()
        if ids.duplicated().any():
            notes.append(f"{int(ids.duplicated().sum()):,} repeated id(s) in {id_column!r}")
    else:
        notes.append(f"no id column {id_column!r}: rows are identified as row-1, row-2, …")
        log.info("no id column %r in the table; rows are numbered", id_column)
        ids = pd.Series([f"row-{i}" for i in range(1, len(frame) + 1)], index=frame.index)
    features = frame.drop(columns=[label_column, *([id_column] if id_column in frame else [])])
    features, report = coerce_numeric_text(features)
    for row in report.itertuples():
        if row.blank_cells:
            notes.append(
                f"{row.column}: read as numbers; {row.blank_cells:,} blank cell(s) "
                "became missing values"
            )
    features.insert(0, id_column, ids.to_numpy())
    counts = {
        "customers": int(len(frame) + blank.sum()),
        "eligible": int(len(frame)),
        "churned": int(labels.sum()),
    }
    return TrainingSet(
        features=features.reset_index(drop=True),
        labels=pd.Series(np.asarray(labels, dtype=bool), name="churned"),
        id_column=id_column,
        mode="custom_table",
        counts=counts,
        notes=notes,
    )
