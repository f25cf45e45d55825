"""Point-in-time churn labels: features before the snapshot date, labels after it.

For a snapshot date ``s`` (a UTC midnight):

* **features** use only rows strictly before ``s`` (:func:`workbench.features.build_features`
  with ``as_of = s``);
* **eligible** customers placed a completed order in ``[s - lookback_days, s)``, i.e. their
  ``recency_days`` at ``s`` is at most ``lookback_days`` (the others have already lapsed);
* **churned** means no completed order in the label window ``[s, s + horizon_days)``.

Training uses ``s = as_of - horizon_days`` so that the label window ``[s, as_of)`` ends
at ``as_of`` and is fully observed; scoring uses ``s = as_of`` (its label window is the
future). The feature window ends where the label window starts, so the two never overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from workbench.canonical import open_tables
from workbench.churn.params import ChurnParams
from workbench.features import FEATURE_TABLES, build_features
from workbench.frames import isin
from workbench.schema import check_as_of

__all__ = [
    "LabelWindows",
    "TrainingSet",
    "label_windows",
    "training_windows",
    "completed_buyers",
    "churn_labels",
    "point_in_time_set",
    "scoring_features",
    "EXCLUDED_FEATURES",
]

log = logging.getLogger(__name__)

#: Feature-table columns never used as model inputs: the id, a three-digit code that
#: repeats the R/F/M scores, and the age band that repeats the age.
EXCLUDED_FEATURES = ("customer_id", "rfm_score", "age_band")


@dataclass(frozen=True)
class LabelWindows:
    """The windows of one snapshot date (all UTC midnights).

    Attributes
    ----------
    snapshot : Timestamp
        Features use rows strictly before it; the label window starts at it.
    label_end : Timestamp
        End (exclusive) of the label window ``[snapshot, label_end)``.
    lookback_start : Timestamp
        Start of the activity window ``[lookback_start, snapshot)`` that makes a
        customer eligible.
    horizon_days, lookback_days : int
        The window lengths in days.
    """

    snapshot: pd.Timestamp
    label_end: pd.Timestamp
    lookback_start: pd.Timestamp
    horizon_days: int
    lookback_days: int

    def table(self) -> pd.DataFrame:
        """The three windows as a small table (window, from, to (exclusive), used for)."""
        day = pd.Timedelta(days=1)
        rows = [
            (
                "activity (eligibility)",
                self.lookback_start,
                self.snapshot,
                "a completed order here makes a customer eligible",
            ),
            ("features", None, self.snapshot, "every feature uses rows strictly before 'to'"),
            ("label", self.snapshot, self.label_end, "no completed order here = churned"),
        ]
        frame = pd.DataFrame(rows, columns=["window", "from", "to (exclusive)", "used for"])
        frame["last day"] = [str((r - day).date()) for r in frame["to (exclusive)"]]
        for col in ("from", "to (exclusive)"):
            frame[col] = [
                "history start" if v is None or pd.isna(v) else str(v.date()) for v in frame[col]
            ]
        return frame


@dataclass
class TrainingSet:
    """Labelled customers ready for the models.

    Attributes
    ----------
    features : DataFrame
        One row per labelled customer: the id column and the model inputs.
    labels : Series of bool
        True = churned, aligned with ``features``.
    id_column : str
        Column of ``features`` holding the customer id (never a model input).
    mode : str
        ``"point_in_time"`` (labels from orders) or ``"custom_table"`` (a user's table).
    windows : LabelWindows or None
        The windows of a point-in-time set.
    counts : dict
        Customers seen, eligible, labelled and churned.
    notes : list of str
        What was excluded, coerced or skipped, in words.
    """

    features: pd.DataFrame
    labels: pd.Series
    id_column: str = "customer_id"
    mode: str = "point_in_time"
    windows: LabelWindows | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def positive_rate(self) -> float:
        """Share of churned customers."""
        return float(self.labels.mean()) if len(self.labels) else float("nan")


def label_windows(snapshot: pd.Timestamp, *, horizon_days: int, lookback_days: int) -> LabelWindows:
    """The activity, feature and label windows of a snapshot date (a UTC midnight).

    Examples
    --------
    >>> from workbench.schema import parse_as_of
    >>> w = label_windows(parse_as_of("2026-04-01"), horizon_days=90, lookback_days=365)
    >>> str(w.label_end.date()), str(w.lookback_start.date())
    ('2026-06-30', '2025-04-01')
    """
    s = check_as_of(snapshot, "label_windows")
    for name, value in (("horizon_days", horizon_days), ("lookback_days", lookback_days)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"label_windows: {name} must be a positive int, got {value!r}")
    return LabelWindows(
        snapshot=s,
        label_end=s + pd.Timedelta(days=horizon_days),
        lookback_start=s - pd.Timedelta(days=lookback_days),
        horizon_days=horizon_days,
        lookback_days=lookback_days,
    )


def training_windows(as_of: pd.Timestamp, params: ChurnParams) -> LabelWindows:
    """Windows of the training snapshot ``as_of - horizon_days``: the label window ends
    exactly at ``as_of``, so every label is observed with data before ``as_of``."""
    check_as_of(as_of, "training_windows")
    snapshot = as_of - pd.Timedelta(days=params.horizon_days)
    return label_windows(
        snapshot, horizon_days=params.horizon_days, lookback_days=params.lookback_days
    )


def completed_buyers(source: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
    """Ids of customers with a completed order in ``[start, end)``.

    Parameters
    ----------
    source : folder, LoadedData, mapping of frames or CanonicalTables
        Anything :func:`workbench.canonical.open_tables` accepts (pass the opened
        :class:`~workbench.canonical.CanonicalTables` to reuse its engine).
    start, end : Timestamp
        The label window (UTC midnights).

    Returns
    -------
    pandas.Index
        Sorted distinct customer ids (strings).
    """
    check_as_of(start, "completed_buyers")
    check_as_of(end, "completed_buyers")
    if end <= start:
        raise ValueError(
            f"completed_buyers: end ({end.date()}) must be after start ({start.date()})"
        )
    inputs = open_tables(source, tables=FEATURE_TABLES)
    orders = inputs.tables["orders"]
    window = orders.filter(
        (orders.status == "completed")
        & (orders.ordered_at >= ibis.literal(start))
        & (orders.ordered_at < ibis.literal(end))
        & orders.customer_id.notnull()
    )
    ids = inputs.execute(window.select("customer_id").distinct())["customer_id"]
    return pd.Index(sorted(ids.astype("str")), name="customer_id")


def churn_labels(
    features: pd.DataFrame, buyers: pd.Index | pd.Series, windows: LabelWindows
) -> pd.DataFrame:
    """Eligibility and churn label of every customer of a feature table.

    Parameters
    ----------
    features : DataFrame
        Built as of ``windows.snapshot`` (checked against ``features.attrs["as_of"]``
        when present); needs ``customer_id`` and ``recency_days``.
    buyers : Index or Series
        Customers with a completed order in the label window (:func:`completed_buyers`).
    windows : LabelWindows

    Returns
    -------
    DataFrame
        ``customer_id``, ``recency_days``, ``eligible`` (a completed order within
        ``lookback_days`` before the snapshot) and ``churned`` (boolean; ``<NA>`` for
        customers who are not eligible).

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["a", "b", "c"], "recency_days": [10.0, 400.0, None]})
    >>> from workbench.schema import parse_as_of
    >>> w = label_windows(parse_as_of("2026-04-01"), horizon_days=90, lookback_days=365)
    >>> churn_labels(f, pd.Index(["b"]), w)["churned"].tolist()
    [True, <NA>, <NA>]
    """
    missing = [c for c in ("customer_id", "recency_days") if c not in features.columns]
    if missing:
        raise ValueError(
            f"churn_labels: the feature table has no column(s) {', '.join(missing)}; "
            "build it with workbench.features.build_features"
        )
    built = features.attrs.get("as_of")  # build_features records the date as text
    if built is not None and built != str(windows.snapshot.date()):
        raise ValueError(
            f"churn_labels: the features were built as of {built}, but the label window starts "
            f"at {windows.snapshot.date()}; build them as of the snapshot date"
        )
    recency = pd.to_numeric(features["recency_days"], errors="coerce")
    eligible = recency.le(windows.lookback_days).fillna(False).astype(bool)
    churned = ~isin(features["customer_id"].astype("str"), pd.Index(buyers).astype("str"))
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype("str"),
            "recency_days": recency,
            "eligible": eligible,
            "churned": churned.astype("boolean").where(eligible, pd.NA),
        }
    )


def point_in_time_set(
    source: Any, as_of: pd.Timestamp, params: ChurnParams | None = None
) -> TrainingSet:
    """Features as of ``as_of - horizon_days`` and labels from ``[as_of - horizon_days, as_of)``.

    Parameters
    ----------
    source : folder, LoadedData, mapping of frames or CanonicalTables
        The canonical tables (open them once with :func:`workbench.canonical.open_tables`
        and pass the result to also build the scoring features).
    as_of : Timestamp
        The run's cut-off (a UTC midnight); nothing on or after it is read.
    params : ChurnParams, optional

    Returns
    -------
    TrainingSet
        Eligible customers only, with their label.
    """
    params = params or ChurnParams()
    windows = training_windows(as_of, params)
    inputs = open_tables(source, tables=FEATURE_TABLES)
    features = build_features(inputs, windows.snapshot)
    buyers = completed_buyers(inputs, windows.snapshot, windows.label_end)
    labels = churn_labels(features, buyers, windows)
    keep = labels["eligible"].to_numpy()
    if not keep.any():
        raise ValueError(
            f"no customer placed a completed order in the {params.lookback_days} days before "
            f"{windows.snapshot.date()} (as_of - horizon_days): nothing to label. Use a later "
            "as_of, a shorter horizon_days or a longer lookback_days"
        )
    chosen = features.loc[keep].drop(columns=[c for c in EXCLUDED_FEATURES[1:] if c in features])
    y = labels.loc[keep, "churned"].astype(bool)
    counts = {
        "customers": int(len(features)),
        "eligible": int(keep.sum()),
        "churned": int(y.sum()),
        "buyers_in_label_window": int(len(buyers)),
    }
    log.info(
        "labels: %s eligible of %s customers at %s; %.1f%% churned in [%s, %s)",
        f"{counts['eligible']:,}",
        f"{counts['customers']:,}",
        windows.snapshot.date(),
        100 * y.mean(),
        windows.snapshot.date(),
        windows.label_end.date(),
    )
    notes = [f"not model inputs: {', '.join(EXCLUDED_FEATURES)}"]
    return TrainingSet(
        features=chosen.reset_index(drop=True),
        labels=y.reset_index(drop=True).rename("churned"),
        mode="point_in_time",
        windows=windows,
        counts=counts,
        notes=notes,
    )


def scoring_features(
    source: Any, as_of: pd.Timestamp, params: ChurnParams | None = None
) -> pd.DataFrame:
    """Features as of ``as_of`` of the customers to score: those with a completed order in
    the ``lookback_days`` before ``as_of`` (the population the model was trained on)."""
    params = params or ChurnParams()
    windows = label_windows(
        as_of, horizon_days=params.horizon_days, lookback_days=params.lookback_days
    )
    features = build_features(open_tables(source, tables=FEATURE_TABLES), windows.snapshot)
    eligible = pd.to_numeric(features["recency_days"], errors="coerce").le(params.lookback_days)
    out = features.loc[eligible.fillna(False).to_numpy()].reset_index(drop=True)
    out.attrs.update(features.attrs)
    log.info(
        "scoring: %s of %s customers bought in the %s days before %s",
        f"{len(out):,}",
        f"{len(features):,}",
        params.lookback_days,
        windows.snapshot.date(),
    )
    return out
