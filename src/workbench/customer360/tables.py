"""One customer's tables and figure, from frames: pure functions the 360 view calls.

Each takes the canonical tables or the stage outputs as frames (never modified) and one
customer id: :func:`rfm_table` (RFM, lifecycle and engagement values with their meaning),
:func:`recent_orders`, :func:`engagement_table` (e-mail and web events per window),
:func:`audience_table` (the win-back audience and the labels the customer carries) and
:func:`customer_waterfall` (the champion's SHAP waterfall). :func:`drop_personal` removes
the columns that identify a person (:data:`PERSONAL_COLUMNS`).

Point in time: orders and events on or after ``as_of`` are left out.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.churn.explain import model_contributions
from workbench.churn.figures import waterfall_figure
from workbench.churn.scoring import winback_audience
from workbench.frames import isin

__all__ = [
    "PERSONAL_COLUMNS",
    "drop_personal",
    "plain_value",
    "rfm_table",
    "recent_orders",
    "engagement_table",
    "audience_table",
    "customer_waterfall",
]

log = logging.getLogger(__name__)

#: Columns that identify a person; never shown.
PERSONAL_COLUMNS = frozenset(
    {
        "email",
        "e_mail",
        "email_address",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "phone",
        "phone_number",
        "address",
        "street",
        "postcode",
        "zip",
        "birth_date",
        "date_of_birth",
    }
)
_RFM_FIELDS = (
    "recency_days",
    "frequency",
    "monetary_total",
    "avg_order_value",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
    "lifecycle_stage",
    "tenure_days",
    "inter_purchase_days",
    "purchase_rate_per_year",
    "frequency_90d",
    "monetary_90d",
    "return_rate",
    "engagement_tier",
)


def drop_personal(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` without the columns of :data:`PERSONAL_COLUMNS`.

    Examples
    --------
    >>> drop_personal(pd.DataFrame({"customer_id": ["C1"], "Email": ["x"]})).columns.tolist()
    ['customer_id']
    """
    drop = [c for c in frame.columns if str(c).strip().lower() in PERSONAL_COLUMNS]
    if drop:
        log.info("customer 360: left out personal column(s) %s", ", ".join(map(str, drop)))
    return frame.drop(columns=drop)


def plain_value(value: Any) -> Any:
    """A table cell as a plain Python value: None for missing, numpy scalars unwrapped."""
    if value is None or (not isinstance(value, str | list | tuple | np.ndarray) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def rfm_table(row: pd.Series, meanings: dict[str, str] | None = None) -> pd.DataFrame:
    """feature, value and meaning of the RFM, lifecycle and engagement columns a feature
    row holds (missing values as None).

    Examples
    --------
    >>> row = pd.Series({"customer_id": "C1", "recency_days": 12.5, "frequency": 3})
    >>> rfm_table(row)[["feature", "value"]].values.tolist()
    [['recency_days', 12.5], ['frequency', 3.0]]
    """
    meanings = meanings or {}
    rows = [
        {"feature": c, "value": plain_value(row[c]), "meaning": meanings.get(c, "")}
        for c in _RFM_FIELDS
        if c in row.index
    ]
    return pd.DataFrame(rows, columns=["feature", "value", "meaning"])


def recent_orders(
    orders: pd.DataFrame,
    customer_id: str,
    as_of: pd.Timestamp | None,
    *,
    n: int = 10,
    lines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The customer's ``n`` most recent orders before ``as_of``, newest first.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders (order_id, customer_id, ordered_at, amount; status, channel
        when present). Not modified.
    customer_id : str
    as_of : Timestamp or None
        Orders on or after it are left out (None keeps all).
    n : int
        How many orders.
    lines : DataFrame, optional
        order_id, quantity and category of order lines: adds ``items`` and ``categories``.

    Examples
    --------
    >>> o = pd.DataFrame({"order_id": ["A", "B", "C"], "customer_id": ["C1", "C1", "C2"],
    ...                   "ordered_at": pd.to_datetime(["2026-01-02", "2026-03-01",
    ...                                                 "2026-02-01"], utc=True),
    ...                   "amount": [10.0, 20.0, 5.0]})
    >>> recent_orders(o, "C1", pd.Timestamp("2026-02-15", tz="UTC"))["order_id"].tolist()
    ['A']
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of orders, got {n!r}")
    missing = [c for c in ("order_id", "customer_id", "ordered_at", "amount") if c not in orders]
    if missing:
        raise ValueError(
            f"orders: column(s) {', '.join(missing)} missing; expected canonical orders"
        )
    mine = orders[orders["customer_id"].astype("str") == str(customer_id)]
    if as_of is not None:
        mine = mine[mine["ordered_at"] < as_of]
    keep = [c for c in ("order_id", "ordered_at", "amount", "status", "channel") if c in mine]
    out = mine.sort_values("ordered_at", ascending=False, kind="stable").head(n)[keep]
    if lines is not None and not lines.empty and not out.empty:
        lines = lines[isin(lines["order_id"], out["order_id"])]
        grouped = lines.groupby("order_id")
        items = grouped["quantity"].sum() if "quantity" in lines else grouped.size()
        out = out.assign(items=out["order_id"].map(items))
        if "category" in lines:
            cats = grouped["category"].agg(lambda c: ", ".join(sorted(set(c.dropna().astype(str)))))
            out = out.assign(categories=out["order_id"].map(cats))
    return out.reset_index(drop=True)


def _event_counts(
    events: pd.DataFrame, as_of: pd.Timestamp | None, windows: tuple[int, ...]
) -> pd.DataFrame:
    if as_of is not None:
        events = events[events["occurred_at"] < as_of]
    reference = as_of if as_of is not None else events["occurred_at"].max()
    rows = []
    for event_type, part in events.groupby("event_type", sort=True):
        row: dict[str, Any] = {"event": event_type}
        for days in windows:
            start = reference - pd.Timedelta(days=days)
            row[f"last_{days}d"] = int((part["occurred_at"] >= start).sum())
        row["all"] = len(part)
        row["last_at"] = part["occurred_at"].max()
        rows.append(row)
    return pd.DataFrame(rows)


def engagement_table(
    email_events: pd.DataFrame | None,
    web_events: pd.DataFrame | None,
    customer_id: str,
    as_of: pd.Timestamp | None,
    *,
    windows: tuple[int, ...] = (30, 90),
) -> pd.DataFrame:
    """The customer's e-mail and web events before ``as_of``: per channel and event type,
    counts in the last ``windows`` days and in all, and the time of the last one.

    A channel whose table is None (absent from the source) is left out.

    Examples
    --------
    >>> e = pd.DataFrame({"customer_id": ["C1", "C1", "C2"], "event_type": ["open"] * 3,
    ...                   "occurred_at": pd.to_datetime(["2026-06-20", "2026-01-01",
    ...                                                  "2026-06-20"], utc=True)})
    >>> t = engagement_table(e, None, "C1", pd.Timestamp("2026-06-30", tz="UTC"))
    >>> t[["channel", "event", "last_30d", "all"]].values.tolist()
    [['e-mail', 'open', 1, 2]]
    """
    columns = ["channel", "event", *[f"last_{d}d" for d in windows], "all", "last_at"]
    parts = []
    for frame, channel in ((email_events, "e-mail"), (web_events, "web")):
        if frame is None or frame.empty or "customer_id" not in frame:
            continue
        mine = frame[frame["customer_id"].astype("str") == str(customer_id)]
        if mine.empty:
            continue
        counts = _event_counts(mine, as_of, windows)
        if not counts.empty:
            parts.append(counts.assign(channel=channel))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def audience_table(
    row: pd.Series,
    *,
    score: pd.Series | None = None,
    cluster: pd.Series | None = None,
    target_threshold: float = 0.7,
) -> pd.DataFrame:
    """The audiences a customer belongs to: the win-back e-mail audience (the churn stage's
    rule, :func:`workbench.churn.winback_audience`), the RFM segment, the engagement
    tier, the lifecycle stage, the cluster and the churn risk band.

    Parameters
    ----------
    row : Series
        The customer's feature row (customer_id, rfm_segment, engagement_tier,
        lifecycle_stage, email_opt_in, email_unsubscribed when known).
    score : Series, optional
        The customer's row of ``churn_scores.parquet`` (None: not scored).
    cluster : Series, optional
        The customer's row of ``segments.parquet``.
    target_threshold : float
        Minimum churn probability of the win-back audience.

    Returns
    -------
    DataFrame
        audience, member (bool), detail.
    """
    rows = []
    if score is None:
        rows.append(
            {
                "audience": "win-back e-mail",
                "member": False,
                "detail": "not scored by the churn model (no completed order in its lookback "
                "window, or no churn scores yet)",
            }
        )
    else:
        features = row.to_frame().T.reset_index(drop=True)
        audience, _ = winback_audience(
            score.to_frame().T.reset_index(drop=True).astype({"churn_probability": "float64"}),
            features,
            target_threshold=target_threshold,
        )
        member = len(audience) > 0
        p = float(score["churn_probability"])
        reasons = []
        if p < target_threshold:
            reasons.append(f"churn probability {p:.2f} below {target_threshold:g}")
        if "email_opt_in" not in row.index or pd.isna(row["email_opt_in"]):
            reasons.append("no e-mail consent recorded")
        elif not bool(row["email_opt_in"]):
            reasons.append("did not opt in to e-mail")
        unsubscribed = row.get("email_unsubscribed")
        if unsubscribed is not None and not pd.isna(unsubscribed) and bool(unsubscribed):
            reasons.append("unsubscribed")
        detail = (
            f"churn probability {p:.2f} ≥ {target_threshold:g}, opted in"
            if member
            else "; ".join(reasons) or "not in the audience"
        )
        rows.append({"audience": "win-back e-mail", "member": member, "detail": detail})
    labelled = (
        ("RFM segment", "rfm_segment"),
        ("engagement tier", "engagement_tier"),
        ("lifecycle stage", "lifecycle_stage"),
    )
    for title, column in labelled:
        if column in row.index and not pd.isna(row[column]):
            rows.append({"audience": f"{title}: {row[column]}", "member": True, "detail": column})
    if cluster is not None:
        rows.append(
            {
                "audience": f"cluster {int(cluster['cluster'])}: {cluster['cluster_name']}",
                "member": True,
                "detail": "segments.parquet (stage 03)",
            }
        )
    if score is not None:
        rows.append(
            {
                "audience": f"churn risk: {score['risk_band']}",
                "member": True,
                "detail": "churn_scores.parquet (stage 04)",
            }
        )
    return pd.DataFrame(rows, columns=["audience", "member", "detail"])


def customer_waterfall(
    model: Any, row: pd.DataFrame, customer_id: str, *, top: int = 10
) -> tuple[go.Figure, float]:
    """SHAP waterfall (Plotly) of one customer's churn probability under ``model`` (either
    churn pipeline: XGBoost's native contributions, or the logistic baseline's exact linear
    ones); returns (figure, probability)."""
    contributions = model_contributions(model, row, id_column="customer_id")
    figure = waterfall_figure(contributions, str(customer_id), top=top)
    return figure, float(contributions.probability().iloc[0])
