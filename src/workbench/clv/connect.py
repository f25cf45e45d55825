"""CLV beside the other stages' outputs: value at risk by churn band, one customer's view.

Other reports call these with frames they read through the catalog (``clv.parquet`` and
``churn_scores.parquet`` of the same source and ``as_of``: the caller checks the stamps);
nothing here reads or writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CUSTOMER_FIELDS", "value_at_risk", "customer_view"]

#: What :func:`customer_view` returns for a customer, in order (bounds follow with MCMC).
CUSTOMER_FIELDS = (
    "customer_id",
    "clv",
    "clv_tier",
    "clv_rank",
    "clv_top_share",
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "frequency",
    "recency",
    "T",
)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"{table}: column(s) {', '.join(repr(c) for c in missing)} missing; expected "
            f"{', '.join(columns)}"
        )


def value_at_risk(churn_scores: pd.DataFrame, clv_table: pd.DataFrame) -> pd.DataFrame:
    """CLV at risk of churn by risk band: ``Σ clv × churn_probability`` per band.

    Every customer the churn stage scored is counted in its band; their CLV comes from
    the CLV table (scored customers without a CLV row — none when both stages ran on the
    same source and ``as_of`` — are counted in ``customers_without_clv`` and left out of
    the sums). CLV already weighs the chance that a customer is still active; the product
    with the churn probability is the issue's *value at risk*: where retention spend
    protects most value, a ranking rather than a loss to add to other numbers.

    Parameters
    ----------
    churn_scores : DataFrame
        ``customer_id, churn_probability, risk_band`` (``churn_scores.parquet``).
    clv_table : DataFrame
        ``customer_id, clv``, one row per customer (``clv.parquet``).

    Returns
    -------
    DataFrame
        One row per band — in the categories' order when ``risk_band`` is categorical,
        else by rising mean churn probability —: ``risk_band`` (str), ``customers``,
        ``mean_probability``, ``clv_total``, ``value_at_risk``, ``value_at_risk_share``
        (of the total over the bands) and ``customers_without_clv``.

    Examples
    --------
    >>> scores = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...     "churn_probability": [0.8, 0.5, 0.1, 0.9],
    ...     "risk_band": ["high", "medium", "low", "high"]})
    >>> table = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [100.0, 40.0, 300.0]})
    >>> v = value_at_risk(scores, table)
    >>> v[["risk_band", "value_at_risk", "customers_without_clv"]].values.tolist()
    [['low', 30.0, 0], ['medium', 20.0, 0], ['high', 80.0, 1]]
    """
    _require(churn_scores, ("customer_id", "churn_probability", "risk_band"), "churn_scores")
    _require(clv_table, ("customer_id", "clv"), "clv")
    ids = clv_table["customer_id"].astype("str")
    if ids.duplicated().any():
        raise ValueError(
            f"clv: customer_id is not unique ({int(ids.duplicated().sum()):,} repeated); "
            "expected one row per customer"
        )
    values = pd.Series(clv_table["clv"].to_numpy(dtype=float), index=ids.to_numpy())
    band = churn_scores["risk_band"]
    joined = pd.DataFrame(
        {
            "risk_band": band.astype("str").to_numpy(),
            "churn_probability": churn_scores["churn_probability"].to_numpy(dtype=float),
            "clv": churn_scores["customer_id"].astype("str").map(values).to_numpy(dtype=float),
        }
    )
    joined["at_risk"] = joined["clv"] * joined["churn_probability"]
    grouped = joined.groupby("risk_band", sort=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_probability": grouped["churn_probability"].mean(),
            "clv_total": grouped["clv"].sum(),
            "value_at_risk": grouped["at_risk"].sum(),
            "customers_without_clv": grouped["clv"].size() - grouped["clv"].count(),
        }
    )
    if isinstance(band.dtype, pd.CategoricalDtype):
        order = [str(c) for c in band.cat.categories]
    else:
        order = list(table["mean_probability"].sort_values(kind="stable").index)
    table = table.reindex(order)
    for column in ("customers", "customers_without_clv"):
        table[column] = table[column].fillna(0).astype("int64")
    table[["clv_total", "value_at_risk"]] = table[["clv_total", "value_at_risk"]].fillna(0.0)
    total = table["value_at_risk"].sum()
    table.insert(4, "value_at_risk_share", table["value_at_risk"] / total if total > 0 else np.nan)
    return table.rename_axis("risk_band").reset_index()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def customer_view(clv_table: pd.DataFrame, customer_id: Any) -> dict[str, Any] | None:
    """One customer's CLV numbers, for a customer page; None when the customer has no row
    (no completed order before ``as_of``).

    Returns
    -------
    dict or None
        :data:`CUSTOMER_FIELDS` as plain values: ``clv_rank`` is 1 for the highest CLV,
        ``clv_top_share`` the share of customers ranked at or above this one (0.01: in the
        top 1 %); ``p_alive`` is None under the naive baseline. With MCMC, the
        ``*_lower``/``*_upper`` bounds follow.

    Examples
    --------
    >>> table = pd.DataFrame({"customer_id": ["a", "b"], "clv": [100.0, 40.0],
    ...     "clv_tier": ["top 1%", "rest"], "p_alive": [0.9, 0.5],
    ...     "expected_purchases": [3.0, 1.0], "expected_order_value": [33.3, 40.0],
    ...     "frequency": [5, 1], "recency": [20.0, 3.0], "T": [22.0, 30.0]})
    >>> view = customer_view(table, "b")
    >>> view["clv_rank"], view["clv_top_share"], view["p_alive"]
    (2, 1.0, 0.5)
    >>> customer_view(table, "z") is None
    True
    """
    _require(clv_table, CUSTOMER_FIELDS[:2], "clv")
    ids = clv_table["customer_id"].astype("str")
    hit = np.flatnonzero((ids == str(customer_id)).to_numpy())
    if len(hit) == 0:
        return None
    row = clv_table.iloc[hit[0]]
    clv = clv_table["clv"].to_numpy(dtype=float)
    rank = int(np.sum(clv > float(row["clv"]))) + 1
    view: dict[str, Any] = {
        "customer_id": str(row["customer_id"]),
        "clv_rank": rank,
        "clv_top_share": rank / len(clv_table),
    }
    for name in CUSTOMER_FIELDS:
        if name not in view and name in clv_table.columns:
            view[name] = _plain(row[name])
    if "clv_tier" in view and view["clv_tier"] is not None:
        view["clv_tier"] = str(view["clv_tier"])
    for column in clv_table.columns:
        if column.endswith(("_lower", "_upper")):
            view[column] = _plain(row[column])
    ordered = {k: view[k] for k in CUSTOMER_FIELDS if k in view}
    return {**ordered, **{k: v for k, v in view.items() if k not in ordered}}
