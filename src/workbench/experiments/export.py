"""An experiment from an aggregated export: ``variant, users, conversions[, revenue]``.

E-mail and testing platforms export counts per variant, not per-user outcomes.
:func:`read_summary_csv` reads such a CSV tolerantly (header case and synonyms,
thousands separators, currency signs, a trailing total row) and
:func:`experiment_from_summary` turns it (or a frame of the same columns) into an
:class:`~workbench.experiments.data.ExperimentData` without users: no revenue model,
CUPED, Welch test or timeline.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.experiments.data import (
    ExperimentData,
    ExperimentInputError,
    check_counts,
    ordered_variants,
    require_columns,
)

__all__ = ["read_summary_csv", "experiment_from_summary"]

log = logging.getLogger(__name__)

# header (normalised) -> canonical column of the aggregated export
_SUMMARY_SYNONYMS = {
    "variant": ("variant", "variation", "group", "arm", "version", "test_group", "name"),
    "users": ("users", "visitors", "recipients", "participants", "sessions", "sent", "n"),
    "conversions": ("conversions", "converted", "conversion_count", "orders", "purchases"),
    "revenue": ("revenue", "total_revenue", "revenue_sum", "sales", "order_value"),
}
_TOTAL_ROWS = {"total", "totals", "all", "overall", "sum"}


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
        require_columns(frame, ("variant", "users", "conversions"), "summary")
    else:
        frame = read_summary_csv(summary)
        name = experiment_id or Path(str(summary)).stem
    frame = frame.assign(variant=frame["variant"].astype("str").str.strip())
    if "revenue" not in frame.columns:
        frame = frame.assign(revenue=np.nan)
    variants = ordered_variants(frame["variant"], control, name)
    counts = (
        frame.set_index("variant")
        .loc[list(variants), ["users", "conversions", "revenue"]]
        .rename_axis("variant")
        .reset_index()
    )
    counts["users"] = counts["users"].astype("int64")
    counts["conversions"] = counts["conversions"].astype("int64")
    counts["revenue"] = counts["revenue"].astype("float64")
    check_counts(counts, name)
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
