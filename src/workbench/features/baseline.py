"""A plain pandas implementation of the RFM columns, for cross-checks and benchmarks.

It reads the whole orders table into memory and groups it with pandas; the engine path
(:func:`workbench.features.build_features`) must give exactly the same values, and the
benchmarks time both.
"""

from __future__ import annotations

import pandas as pd

from workbench.features import derive
from workbench.features.params import FeatureParams
from workbench.schema import check_as_of

__all__ = ["rfm_pandas", "RFM_COLUMNS"]

#: The columns :func:`rfm_pandas` returns (a subset of the feature table).
RFM_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary_total",
    "avg_order_value",
    "r_score",
    "f_score",
    "m_score",
    "fm_score",
    "rfm_score",
    "rfm_segment",
)


def rfm_pandas(
    orders: pd.DataFrame, as_of: pd.Timestamp, *, params: FeatureParams | None = None
) -> pd.DataFrame:
    """RFM values, scores and segments of customers with a completed order before ``as_of``.

    Same definitions as the feature table: completed orders with ``ordered_at < as_of``
    and a customer id; ``recency_days`` from the last one to ``as_of`` (float days),
    ``frequency`` their count, ``monetary_total`` their summed amount rounded to
    ``params.money_decimals``, scores by :func:`workbench.features.quintile_score`.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders (``customer_id``, ``ordered_at`` UTC, ``amount``; ``status``
        optional, default completed). Not modified.
    as_of : Timestamp
        Cut-off, a UTC midnight (:func:`workbench.schema.parse_as_of`).
    params : FeatureParams, optional
        Only ``money_decimals`` is used.

    Returns
    -------
    DataFrame
        :data:`RFM_COLUMNS`, one row per customer, sorted by ``customer_id``.

    Examples
    --------
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-11", "2026-01-21"], utc=True),
    ...     "amount": [10.0, 20.0, 5.0],
    ... })
    >>> as_of = pd.Timestamp("2026-01-31", tz="UTC")  # what parse_as_of("2026-01-31") gives
    >>> rfm_pandas(orders, as_of)[["customer_id", "recency_days", "monetary_total"]]
      customer_id  recency_days  monetary_total
    0           a          20.0            30.0
    1           b          10.0             5.0
    """
    params = params or FeatureParams()
    check_as_of(as_of, "rfm_pandas")
    keep = (orders["ordered_at"] < as_of) & orders["customer_id"].notna()
    if "status" in orders.columns:
        keep &= orders["status"].eq("completed")
    done = orders.loc[keep, ["customer_id", "ordered_at", "amount"]]
    grouped = done.groupby("customer_id", sort=True)
    out = pd.DataFrame(
        {
            "last_order_at": grouped["ordered_at"].max(),
            "frequency": grouped.size().astype("int64"),
            "monetary_total": grouped["amount"].sum().astype("float64"),
        }
    ).reset_index()
    out["customer_id"] = out["customer_id"].astype("str")
    out["monetary_total"] = out["monetary_total"].round(params.money_decimals)
    out["recency_days"] = derive.days_before(as_of, out["last_order_at"])
    out["avg_order_value"] = derive.safe_ratio(out["monetary_total"], out["frequency"])
    out = pd.concat([out, derive.rfm_scores(out)], axis=1)
    return out[list(RFM_COLUMNS)]
