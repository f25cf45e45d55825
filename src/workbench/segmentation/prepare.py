"""From the feature table to the clustering input: who, which columns, which transform.

Nothing here changes values silently: customers left out, columns dropped (absent,
entirely missing or constant), values imputed and values outside a transform's domain
are counted, logged and listed in :attr:`SegmentationInput.report`.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.segmentation.params import DEFAULT_FEATURES, SegmentationParams

__all__ = [
    "TRANSFORMS",
    "SegmentationInput",
    "resolve_columns",
    "transform_for",
    "prepare_inputs",
]

log = logging.getLogger(__name__)


#: Transform of each input column before scaling:
#: ``log1p`` — heavy-tailed money, counts and durations (values below 0 are set to 0);
#: ``sqrt`` — shares of a composition (category spend), clipped to [0, 1] (the Hellinger
#: transform: a customer who buys only one small category is not an extreme outlier);
#: ``clip01`` — rates, clipped to [0, 1]; ``none`` — used as is.
TRANSFORMS = ("log1p", "sqrt", "clip01", "none")

_LOG_PATTERNS = (
    "*_days",
    "*days_*",
    "recency*",
    "tenure*",
    "frequency*",
    "monetary*",
    "*order_value*",
    "*_per_year",
    "*sessions*",
    "*views*",
    "email_sends*",
    "email_opens*",
    "email_clicks*",
    "add_to_cart*",
    "*carts*",
    "*orders*",
    "category_spend",
)
_SHARE_PATTERNS = ("share_*",)
_RATE_PATTERNS = ("*_rate", "*_share")
_SKEW_LOG = 2.0  # an unknown non-negative column this skewed is treated as heavy-tailed


@dataclass
class SegmentationInput:
    """The clustering input and what was done to get it.

    Attributes
    ----------
    X : DataFrame
        One float64 row per clustered customer (positional index), one column per used
        feature, raw values with NaN where missing (imputation is part of the pipeline).
    customer_ids : Series
        The customer of each row of ``X``.
    all_customer_ids : Series
        Every customer of the feature table, in its order.
    revenue : Series
        ``monetary_total`` of each row of ``X`` (NaN when the table lacks it).
    transforms : dict
        Column -> one of :data:`TRANSFORMS`.
    report : DataFrame
        Per requested column: status (used / dropped / absent), transform, missing,
        median used for them, values outside the transform's domain, and a note.
    notes : list of str
        Sentences for the report (who was left out, what was dropped and why).
    """

    X: pd.DataFrame
    customer_ids: pd.Series
    all_customer_ids: pd.Series
    revenue: pd.Series
    transforms: dict[str, str]
    report: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.X.columns)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def resolve_columns(
    features: pd.DataFrame, wanted: Sequence[str], *, required: bool = True
) -> tuple[list[str], pd.DataFrame]:
    """Expand names and patterns against the table's columns.

    A pattern (``share_*``) matches numeric columns only and may match nothing (its source
    table was absent): that is logged, not an error. A plain name must exist and be
    numeric or boolean — unless ``required`` is False (the default features), when a
    missing name is skipped and logged like a pattern.

    Returns
    -------
    columns : list of str
        Matched columns in request order, without repeats.
    absent : DataFrame
        column, note — requests that matched nothing.

    Raises
    ------
    ValueError
        A named column is missing or holds text.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1.0], "share_x": [0.5], "share_y": [0.5], "t": ["u"]})
    >>> resolve_columns(frame, ["a", "share_*", "share_z*"])[0]
    ['a', 'share_x', 'share_y']
    """
    columns: list[str] = []
    absent = []
    numeric = [c for c in features.columns if _is_numeric(features[c])]
    for item in wanted:
        if any(ch in item for ch in "*?["):
            found = [c for c in numeric if fnmatch.fnmatchcase(c, item)]
            if not found:
                absent.append({"column": item, "note": "pattern matched no numeric column"})
                log.info("segmentation: %r matches no numeric feature column; skipped", item)
            columns += [c for c in found if c not in columns]
            continue
        if item not in features.columns and not required:
            absent.append({"column": item, "note": "not in the feature table (source lacks it)"})
            log.info("segmentation: default feature %r is not in the feature table; skipped", item)
            continue
        if item not in features.columns:
            raise ValueError(
                f"features: column {item!r} is not in the feature table; numeric columns are: "
                f"{', '.join(numeric)}"
            )
        if not _is_numeric(features[item]):
            raise ValueError(
                f"features: column {item!r} holds {features[item].dtype} values; the clustering "
                "needs numeric or boolean columns (encode it first or choose another)"
            )
        if item not in columns:
            columns.append(item)
    return columns, pd.DataFrame(absent, columns=["column", "note"])


def transform_for(column: str, values: pd.Series | None = None) -> str:
    """The transform a column gets before scaling (one of :data:`TRANSFORMS`).

    By name first: ``share_*`` -> ``sqrt``; ``*_rate`` -> ``clip01``; money, counts and
    durations (``*_days``, ``frequency*``, ``monetary*``, ``*_per_year``, sessions, views,
    e-mail counts, carts, orders …) -> ``log1p``. Any other column is ``log1p`` when its
    values are non-negative with skewness above 2, else ``none``.

    Examples
    --------
    >>> [transform_for(c) for c in ("share_toys", "email_open_rate", "avg_order_value", "age")]
    ['sqrt', 'clip01', 'log1p', 'none']
    """
    if any(fnmatch.fnmatchcase(column, p) for p in _SHARE_PATTERNS):
        return "sqrt"
    if any(fnmatch.fnmatchcase(column, p) for p in _RATE_PATTERNS):
        return "clip01"
    if any(fnmatch.fnmatchcase(column, p) for p in _LOG_PATTERNS):
        return "log1p"
    if values is not None and not pd.api.types.is_bool_dtype(values):
        data = pd.to_numeric(values, errors="coerce").dropna()
        if len(data) > 2 and data.min() >= 0 and float(data.skew()) > _SKEW_LOG:
            return "log1p"
    return "none"


def _out_of_domain(values: pd.Series, transform: str) -> int:
    if transform == "log1p":
        return int((values < 0).sum())
    if transform in ("sqrt", "clip01"):
        return int(((values < 0) | (values > 1)).sum())
    return 0


def _as_float(series: pd.Series) -> pd.Series:
    """Numbers as float64 with NaN for missing (nullable ints and booleans included)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_extension_array_dtype(series):
        values = series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = series.to_numpy(dtype="float64")
    return pd.Series(values, name=series.name)


#: The catalog name of the table the segmentation reads (for messages).
_TABLE = "customer_features"
_IDS_SHOWN = 10


def _refuse_non_finite(rows: pd.DataFrame, data: dict[str, pd.Series]) -> None:
    """Refuse infinite values in the clustering input or the revenue, naming the table,
    the column and the customers (missing values are imputed; infinities are not data)."""
    problems = []
    for column, values in data.items():
        bad = np.isinf(values.to_numpy(dtype="float64"))
        if bad.any():
            ids = rows["customer_id"].astype("str").to_numpy()[bad]
            shown = ", ".join(ids[:_IDS_SHOWN])
            more = f" and {len(ids) - _IDS_SHOWN:,} more" if len(ids) > _IDS_SHOWN else ""
            problems.append(
                f"column {column!r} is infinite for {len(ids):,} customer(s): {shown}{more}"
            )
    if problems:
        raise ValueError(
            f"{_TABLE}: " + "; ".join(problems) + ". Segmentation needs finite numbers: an "
            "infinite order amount in the source usually causes this; the audit quarantines "
            "non-finite amounts, so build the features from its clean tables (input='clean') "
            "or correct the source."
        )


def _eligible(features: pd.DataFrame, purchasers_only: bool) -> tuple[np.ndarray, list[str]]:
    if not purchasers_only:
        return np.ones(len(features), dtype=bool), []
    if "frequency" not in features.columns:
        raise ValueError(
            "feature table: column 'frequency' (completed orders before as_of) is missing; it "
            "decides who has a purchase history (or set purchasers_only=False)"
        )
    mask = pd.to_numeric(features["frequency"], errors="coerce").fillna(0).to_numpy() > 0
    left_out = int((~mask).sum())
    notes = []
    if left_out:
        notes.append(
            f"{left_out:,} of {len(features):,} customers have no completed order before as_of: "
            "they are not clustered and get cluster -1, 'No purchase history'."
        )
    return mask, notes


def prepare_inputs(
    features: pd.DataFrame, params: SegmentationParams | None = None
) -> SegmentationInput:
    """Select the customers and columns to cluster, and describe what happens to them.

    Parameters
    ----------
    features : DataFrame
        The feature table (one row per customer, ``customer_id`` plus features). Not modified.
    params : SegmentationParams, optional
        ``features`` (columns or patterns) and ``purchasers_only`` are read here.

    Returns
    -------
    SegmentationInput

    Raises
    ------
    ValueError
        A named column is missing or not numeric (defaults that the source cannot provide
        are skipped instead), a clustered customer has an infinite value in a clustering
        column or ``monetary_total`` (the message names the column and the customers),
        there are fewer than three customers to cluster, or no usable column is left after
        dropping constant and empty ones.
    """
    params = params or SegmentationParams()
    if "customer_id" not in features.columns:
        raise ValueError("feature table: column 'customer_id' is missing")
    defaults = tuple(params.features) == DEFAULT_FEATURES
    columns, absent = resolve_columns(features, params.features, required=not defaults)
    mask, notes = _eligible(features, params.purchasers_only)
    rows = features.loc[mask]
    if len(rows) < 3:
        raise ValueError(
            f"segmentation: only {len(rows)} customer(s) to cluster (with a completed order "
            "before as_of); at least 3 are needed"
        )
    data = {c: _as_float(rows[c]) for c in columns}
    revenue = (
        _as_float(rows["monetary_total"])
        if "monetary_total" in rows
        else pd.Series(np.nan, index=range(len(rows)))
    )
    _refuse_non_finite(rows, {**data, "monetary_total": revenue})
    report, used, transforms = [], [], {}
    for column in columns:
        values = data[column]
        missing = int(values.isna().sum())
        entry = {"column": column, "missing": missing, "median": values.median()}
        if missing == len(values):
            entry.update(status="dropped", transform="", note="every value is missing")
        elif values.nunique(dropna=True) <= 1:
            entry.update(
                status="dropped",
                transform="",
                note=f"zero variance: every known value is {values.dropna().iloc[0]:g}",
            )
        else:
            transform = transform_for(column, values)
            transforms[column] = transform
            used.append(column)
            entry.update(
                status="used",
                transform=transform,
                out_of_domain=_out_of_domain(values.dropna(), transform),
                note="",
            )
        report.append(entry)
    report_frame = _report_frame(report, absent)
    notes += _describe(report_frame, len(rows))
    if not used:
        raise ValueError(
            "segmentation: no usable feature column: "
            + "; ".join(f"{r['column']}: {r['note']}" for r in report_frame.to_dict("records"))
            + " — choose other columns with the `features` parameter"
        )
    X = pd.DataFrame({c: data[c].to_numpy() for c in used})
    return SegmentationInput(
        X=X,
        customer_ids=rows["customer_id"].astype("str").reset_index(drop=True),
        all_customer_ids=features["customer_id"].astype("str").reset_index(drop=True),
        revenue=revenue.reset_index(drop=True),
        transforms=transforms,
        report=report_frame,
        notes=notes,
    )


def _report_frame(report: list[dict], absent: pd.DataFrame) -> pd.DataFrame:
    cols = ["column", "status", "transform", "missing", "median", "out_of_domain", "note"]
    frame = pd.DataFrame(report).reindex(columns=cols)
    if len(absent):
        extra = absent.assign(status="absent", transform="", missing=0)
        frame = pd.concat([frame, extra.reindex(columns=cols)], ignore_index=True)
    frame["missing"] = frame["missing"].fillna(0).astype("int64")
    frame["out_of_domain"] = frame["out_of_domain"].fillna(0).astype("int64")
    return frame


def _describe(report: pd.DataFrame, n_rows: int) -> list[str]:
    """Log and phrase imputations, clipping and dropped columns."""
    notes = []
    for row in report[report["status"] == "dropped"].itertuples():
        text = f"Column {row.column} dropped: {row.note}."
        log.warning("segmentation: %s", text)
        notes.append(text)
    used = report[report["status"] == "used"]
    imputed = [
        f"{r.column} {r.missing:,} (median {r.median:.4g})"
        for r in used[used["missing"] > 0].itertuples()
    ]
    clipped = [
        f"{r.column} {r.out_of_domain:,} "
        + ("below 0" if r.transform == "log1p" else "outside [0, 1]")
        for r in used[used["out_of_domain"] > 0].itertuples()
    ]
    for lead, parts in (
        (f"Missing values imputed with the column median (of {n_rows:,} customers): ", imputed),
        ("Values outside a transform's domain set to its limit: ", clipped),
    ):
        if parts:
            text = lead + ", ".join(parts) + "."
            log.info("segmentation: %s", text)
            notes.append(text)
    return notes
