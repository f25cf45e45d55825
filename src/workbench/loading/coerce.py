"""From a source's columns to canonical ones: names, types and category synonyms.

:func:`rename_columns` maps source columns onto canonical names (mapping file, or the
canonical names in any case) and fails naming a missing required column;
:func:`coerce_table` turns ids into trimmed strings, timestamps into UTC, numbers into
floats, flags into booleans and normalises status and event-type synonyms, counting
each repair. The vocabularies (:data:`SYNONYMS`, :data:`TRUE_VALUES`,
:data:`FALSE_VALUES`, :data:`BLANK_IDS`) are public: :mod:`workbench.canonical` applies
the same ones on an engine.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.loading.model import EXTRA_COLUMNS, MAPPING_FILE_NAMES, LoadError, Repair
from workbench.schema import (
    EMAIL_EVENT_TYPES,
    ORDER_STATUSES,
    TIMESTAMP_DTYPE,
    WEB_EVENT_TYPES,
    empty_table,
    table_spec,
)

__all__ = [
    "BLANK_IDS",
    "FALSE_VALUES",
    "SYNONYMS",
    "TRUE_VALUES",
    "coerce_table",
    "rename_columns",
]

_EXAMPLES = 5

#: Spellings of statuses and event types, keyed by (table, column): lower case, runs of
#: blanks and dashes as ``_``, mapped onto the canonical value.
SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    ("orders", "status"): {
        **{
            v: "completed"
            for v in (
                "complete",
                "completed",
                "delivered",
                "shipped",
                "paid",
                "invoiced",
                "fulfilled",
                "closed",
                "success",
                "ok",
                "approved",
            )
        },
        **{v: "cancelled" for v in ("cancelled", "canceled", "cancel", "void", "voided")},
        **{v: "returned" for v in ("returned", "return", "refunded", "refund")},
    },
    ("email_events", "event_type"): {
        **{v: "sent" for v in ("sent", "send", "delivered", "delivery")},
        **{v: "open" for v in ("open", "opened", "opens")},
        **{v: "click" for v in ("click", "clicked", "clicks")},
        **{v: "bounce" for v in ("bounce", "bounced", "hard_bounce", "soft_bounce")},
        **{v: "unsubscribe" for v in ("unsubscribe", "unsubscribed", "optout", "opt_out")},
    },
    ("web_events", "event_type"): {
        **{v: "page_view" for v in ("page_view", "pageview", "view", "page")},
        **{v: "product_view" for v in ("product_view", "view_item", "productview", "detail")},
        **{v: "add_to_cart" for v in ("add_to_cart", "addtocart", "cart", "add_cart")},
        **{v: "checkout" for v in ("checkout", "begin_checkout")},
        **{v: "purchase" for v in ("purchase", "transaction", "order")},
    },
}
#: Flag values read as true and as false (after trimming and lower-casing).
TRUE_VALUES = ("true", "t", "yes", "y", "1", "1.0", "opt-in", "opted_in", "subscribed")
FALSE_VALUES = ("false", "f", "no", "n", "0", "0.0", "opt-out", "opted_out", "unsubscribed")
#: Id values that mean "no id" (what text exports write for a blank).
BLANK_IDS = ("", "nan", "NaN", "None", "<NA>")
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def rename_columns(
    frame: pd.DataFrame, table: str, entry: dict[str, Any], path: Path
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename source columns onto canonical ones; fail naming missing required columns."""
    spec = table_spec(table)
    mapping = dict(entry.get("columns") or {})
    used: dict[str, str] = {}
    renames: dict[str, str] = {}
    lower: dict[str, Any] = {}
    spelled: dict[str, list[str]] = {}
    for c in frame.columns:
        lower.setdefault(str(c).strip().lower(), c)
        spelled.setdefault(str(c).strip().lower(), []).append(str(c))
    for canonical, source_col in mapping.items():
        if source_col in renames:
            raise LoadError(
                f"{path.name} (table {table!r}): the mapping reads column {source_col!r} as both "
                f"{renames[source_col]!r} and {canonical!r}; map each canonical column to its "
                "own column"
            )
        if source_col not in frame.columns:
            close = difflib.get_close_matches(str(source_col), [str(c) for c in frame.columns])
            hint = f" (close: {', '.join(close)})" if close else ""
            raise LoadError(
                f"{path.name} (table {table!r}): mapped column {source_col!r} for "
                f"{canonical!r} is not in the file{hint}; columns found: "
                f"{', '.join(map(str, frame.columns))}"
            )
        renames[source_col] = canonical
        used[canonical] = str(source_col)
    for canonical in (*spec.columns, *EXTRA_COLUMNS.get(table, ())):
        if canonical in used or canonical in frame.columns:
            continue
        if canonical in lower and lower[canonical] not in renames:  # 'Order_ID' -> order_id
            if len(spelled[canonical]) > 1:
                raise LoadError(
                    f"{path.name} (table {table!r}): columns "
                    f"{', '.join(map(repr, spelled[canonical]))} would all be read as "
                    f"{canonical!r}; map one of them in {MAPPING_FILE_NAMES[0]} (columns:) or "
                    "rename the others"
                )
            renames[lower[canonical]] = canonical
            used[canonical] = str(lower[canonical])
    out = frame.rename(columns=renames)
    for canonical in spec.columns:
        if canonical in out.columns and canonical not in used:
            used[canonical] = canonical
    missing = [c for c in spec.required if c not in out.columns]
    if table == "order_items" and "line_id" in missing:
        missing.remove("line_id")
    if missing:
        column = missing[0]
        close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=3, cutoff=0.5)
        hint = f"; similar columns in the file: {', '.join(close)}" if close else ""
        raise LoadError(
            f"{path.name} (table {table!r}): column {column!r} is missing; expected the "
            f"canonical columns {', '.join(spec.required)} or a mapping for "
            f"{'them' if len(missing) > 1 else 'it'} in {MAPPING_FILE_NAMES[0]}{hint} "
            f"(columns found: {', '.join(map(str, frame.columns))})"
        )
    return out, used


def coerce_table(
    frame: pd.DataFrame,
    table: str,
    path: Path,
    entry: dict[str, Any],
    timezone: str,
    repairs: list[Repair],
    ambiguous: str = "earliest",
) -> pd.DataFrame:
    """Canonical types for every column of ``frame`` (see the module docstring); local
    times in ``timezone`` that occur twice or never (clock changes) are read by the
    ``ambiguous`` rule or shifted forward, each counted in ``repairs``."""
    spec = table_spec(table)
    out = frame.copy(deep=False)  # columns are replaced, never modified in place
    where = f"{path.name} (table {table!r})"
    values = entry.get("values") or {}
    extra_ts = ("ordered_at",) if table == "order_items" else ()
    extra_ids = ("customer_id",) if table == "order_items" else ()
    for column in out.columns:
        if column in spec.id_columns or column in extra_ids:
            out[column] = _to_id(out[column])
        elif column in spec.timestamp_columns or column in extra_ts:
            local = _LocalTime(timezone, ambiguous, table, column, where, repairs)
            out[column] = _to_utc(
                out[column],
                where,
                column,
                local,
                entry.get("dayfirst", False),
                entry.get("timestamp_format"),
            )
        elif column in spec.numeric_columns:
            out[column] = _to_float(out[column], where, column, frame.attrs.get("decimal"))
        elif column in spec.boolean_columns:
            out[column] = _to_bool(out[column], where, column)
        elif column in spec.columns or column in EXTRA_COLUMNS.get(table, ()):
            out[column] = _to_text(out[column])
        if column in values:
            out[column] = out[column].replace({str(k): v for k, v in values[column].items()})
    _normalise_categories(out, table, repairs)
    for column, default in spec.defaults.items():
        if column not in out.columns:
            out[column] = pd.Series(default, index=out.index, dtype="str")
            repairs.append(Repair(table, column, f"column absent; set to {default!r}", len(out)))
    for column, _dtype in spec.columns.items():
        if column not in out.columns:
            out[column] = empty_table(table)[column].reindex(out.index)
    ordered = list(spec.columns) + [c for c in out.columns if c not in spec.columns]
    return out[ordered]


def _examples(values: pd.Series) -> str:
    shown = list(dict.fromkeys(values.astype(str).tolist()))[:_EXAMPLES]
    return ", ".join(repr(v) for v in shown)


def _to_text(series: pd.Series) -> pd.Series:
    if series.dtype == "str" or series.dtype == object:
        text = series.astype("str").str.strip()
    else:
        text = series.astype("str")
    return text.mask(text == "", np.nan)


def _to_id(series: pd.Series) -> pd.Series:
    """Ids become stripped strings; integral floats lose their '.0' (17850.0 -> '17850')."""
    if pd.api.types.is_float_dtype(series):
        integral = series.dropna()
        if (integral == np.floor(integral)).all():
            series = series.astype("Int64")
    text = series.astype("str").str.strip()
    if text.str.endswith(".0").any():  # ids exported through a float column (CSV, Excel)
        text = text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    return text.mask(text.isin(BLANK_IDS), np.nan)


def _to_float(series: pd.Series, where: str, column: str, decimal: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        raise LoadError(f"{where}: column {column!r} holds true/false values; expected numbers")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    text = series.astype("str").str.strip()
    text = text.str.replace(r"^[$€£¥]\s*|\s*[$€£¥]$", "", regex=True)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(r"(?<=\d),(?=\d{3}(\D|$))", "", regex=True)
    blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "null", "none", "na"])
    numbers = pd.to_numeric(text.mask(blank, np.nan), errors="coerce")
    bad = numbers.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected numbers; {int(bad.sum()):,} value(s) are not, "
            f"e.g. {_examples(series[bad])}"
        )
    return numbers.astype("float64")


def _to_bool(series: pd.Series, where: str, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    if pd.api.types.is_numeric_dtype(series):
        bad = series.notna() & ~series.isin([0, 1])
        if bad.any():
            raise LoadError(
                f"{where}: column {column!r} expected true/false (or 1/0); got e.g. "
                f"{_examples(series[bad])}"
            )
        return series.astype("boolean")
    text = series.astype("str").str.strip().str.lower()
    blank = text.isna() | (text == "")
    result = pd.Series(pd.NA, index=series.index, dtype="boolean")
    result[text.isin(TRUE_VALUES)] = True
    result[text.isin(FALSE_VALUES)] = False
    bad = result.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected true/false, yes/no or 1/0; "
            f"{int(bad.sum()):,} value(s) are not, e.g. {_examples(series[bad])}"
        )
    return result


def _to_utc(
    series: pd.Series,
    where: str,
    column: str,
    local: _LocalTime,
    dayfirst: bool,
    fmt: str | None,
) -> pd.Series:
    """Parse timestamps; naive ones are local times of ``local``; all end up UTC, unit us."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_datetime64_dtype(series):
        return local.to_utc(series).astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_numeric_dtype(series):
        raise LoadError(
            f"{where}: column {column!r} expected timestamps (text or datetime); got numbers, "
            f"e.g. {_examples(series.dropna())}"
        )
    text = series.astype("str").str.strip()
    blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "nat", "null", "none"])
    text = text.mask(blank, np.nan)
    has_tz = text.str.contains(_TZ_SUFFIX, na=False)
    result = pd.Series(pd.NaT, index=series.index, dtype=TIMESTAMP_DTYPE)
    kwargs: dict[str, Any] = {"errors": "coerce"}
    if fmt:
        kwargs["format"] = fmt
    else:
        kwargs["format"] = "mixed"
        kwargs["dayfirst"] = dayfirst
    if has_tz.any():
        result[has_tz] = pd.to_datetime(text[has_tz], utc=True, **kwargs).astype(TIMESTAMP_DTYPE)
    naive = ~has_tz & ~blank
    if naive.any():
        parsed = pd.to_datetime(text[naive], **kwargs)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC")
        else:
            parsed = local.to_utc(parsed)
        result[naive] = parsed.astype(TIMESTAMP_DTYPE)
    bad = result.isna() & ~blank
    if bad.any():
        raise LoadError(
            f"{where}: column {column!r} expected dates/timestamps; {int(bad.sum()):,} value(s) "
            f"cannot be parsed, e.g. {_examples(series[bad])} (set `timestamp_format` or "
            f"`dayfirst` for this table in {MAPPING_FILE_NAMES[0]})"
        )
    return result


class _LocalTime:
    """Naive local times of ``timezone`` to UTC, with the clock changes made explicit.

    A local time that occurs twice (the hour repeated when the clock goes back) is read
    by ``ambiguous``: its first occurrence (``earliest``), its second (``latest``), or
    refused (``error``); a local time that never occurs (the hour skipped when the clock
    goes forward) moves forward to the first time that exists (02:30 becomes 03:00 on a
    one-hour change at 02:00). Both are counted as repairs of ``table.column``.
    """

    def __init__(
        self,
        timezone: str,
        ambiguous: str,
        table: str,
        column: str,
        where: str,
        repairs: list[Repair],
    ) -> None:
        self.timezone, self.ambiguous = timezone, ambiguous
        self.table, self.column, self.where, self.repairs = table, column, where, repairs

    def to_utc(self, series: pd.Series) -> pd.Series:
        if str(self.timezone).upper() in ("UTC", "ETC/UTC", "Z", "GMT"):
            return series.dt.tz_localize("UTC")
        n = len(series)
        summer = series.dt.tz_localize(self.timezone, ambiguous=np.ones(n, dtype=bool),
                                       nonexistent="NaT").dt.tz_convert("UTC")  # fmt: skip
        winter = series.dt.tz_localize(self.timezone, ambiguous=np.zeros(n, dtype=bool),
                                       nonexistent="NaT").dt.tz_convert("UTC")  # fmt: skip
        twice = (summer != winter).fillna(False).to_numpy() & summer.notna().to_numpy()
        skipped = (summer.isna() & series.notna()).to_numpy()
        if twice.any() and self.ambiguous == "error":
            raise LoadError(
                f"{self.where}: column {self.column!r} holds {int(twice.sum()):,} local time(s) "
                f"that occur twice in {self.timezone} (the clock went back), e.g. "
                f"{_examples(series[twice])}; set `ambiguous: earliest` or `latest` in "
                f"{MAPPING_FILE_NAMES[0]} to read them"
            )
        first = summer.where(summer <= winter, winter)
        result = first if self.ambiguous == "earliest" else summer.where(summer >= winter, winter)
        if twice.any():
            which = "first" if self.ambiguous == "earliest" else "second"
            self.repairs.append(
                Repair(self.table, self.column,
                       f"local time repeated when the clock went back in {self.timezone} read as "
                       f"its {which} occurrence (ambiguous: {self.ambiguous})", int(twice.sum()))
            )  # fmt: skip
        if skipped.any():
            shifted = series[skipped].dt.tz_localize(
                self.timezone, ambiguous="NaT", nonexistent="shift_forward"
            )
            result = result.copy()
            result[skipped] = shifted.dt.tz_convert("UTC")
            self.repairs.append(
                Repair(self.table, self.column,
                       f"local time skipped when the clock went forward in {self.timezone} "
                       "moved forward to the first time that exists",
                       int(skipped.sum()))
            )  # fmt: skip
        return result


def _normalise_categories(frame: pd.DataFrame, table: str, repairs: list[Repair]) -> None:
    for (tname, column), synonyms in SYNONYMS.items():
        if tname != table or column not in frame.columns:
            continue
        # work on the distinct values: event tables have tens of millions of rows, few types
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        distinct = pd.Series(uniques, dtype="str")
        key = distinct.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)
        target = key.map(synonyms).fillna(distinct)
        moved = (target != distinct).to_numpy()
        if not moved.any():
            continue
        changed = int(np.isin(codes, np.flatnonzero(moved)).sum())
        values = target.to_numpy(dtype=object)
        normalised = np.where(codes >= 0, values[np.maximum(codes, 0)], None)
        frame[column] = pd.Series(normalised, index=frame.index, dtype="str")
        allowed = {
            "status": ORDER_STATUSES,
            "event_type": EMAIL_EVENT_TYPES if table == "email_events" else WEB_EVENT_TYPES,
        }[column]
        repairs.append(
            Repair(table, column, f"normalised synonyms onto {', '.join(allowed)}", changed)
        )
