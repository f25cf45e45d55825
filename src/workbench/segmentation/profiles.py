"""What each cluster is: size, revenue, feature means, distinctive traits and a name."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.segmentation.params import NO_HISTORY_CLUSTER

__all__ = [
    "ClusterDetail",
    "cluster_sizes",
    "standardised_differences",
    "feature_means",
    "cluster_names",
    "cluster_detail",
    "cluster_details",
    "cluster_overview",
]

# column (or pattern) -> (phrase when above the overall mean, phrase when below); None: no
# phrase (a category the cluster does not buy is not what makes it distinctive)
_PHRASES: dict[str, tuple[str | None, str | None]] = {
    "purchase_rate_per_year": ("frequent", "infrequent"),
    "frequency": ("many orders", "few orders"),
    "frequency_*": ("buying lately", "not buying lately"),
    "avg_order_value": ("big baskets", "small baskets"),
    "monetary_total": ("high spend", "low spend"),
    "monetary_*": ("spending lately", "not spending lately"),
    "recency_days": ("lapsed", "recent buyers"),
    "tenure_days": ("long-standing", "newcomers"),
    "days_since_first_order": ("long-standing", "newcomers"),
    "email_open_rate": ("e-mail engaged", "e-mail quiet"),
    "email_click_rate": ("e-mail clickers", "rarely click"),
    "email_opens*": ("e-mail engaged", "e-mail quiet"),
    "email_clicks*": ("e-mail clickers", "rarely click"),
    "*sessions*": ("frequent visitors", "rare visitors"),
    "*views*": ("heavy browsers", "light browsers"),
    "cart_abandonment_rate": ("cart abandoners", "finish their carts"),
    "abandoned_carts": ("cart abandoners", "finish their carts"),
    "return_rate": ("return often", "rarely return"),
    "share_*": ("{} lovers", None),
}
_VALUE_HIGH, _VALUE_LOW = 1.5, 1 / 3  # revenue share / customer share that names a cluster


def cluster_sizes(
    labels: np.ndarray, revenue: pd.Series | np.ndarray | None = None
) -> pd.DataFrame:
    """cluster, customers, share, revenue, revenue_share and value_index (revenue share /
    customer share) per cluster.

    Examples
    --------
    >>> sizes = cluster_sizes(np.array([0, 0, 1]), np.array([10.0, 10.0, 80.0]))
    >>> sizes["value_index"].round(2).tolist()
    [0.3, 2.4]
    """
    labels = np.asarray(labels)
    money = (
        np.zeros(len(labels))
        if revenue is None
        else np.nan_to_num(np.asarray(revenue, dtype="float64"), nan=0.0)
    )
    frame = pd.DataFrame({"cluster": labels, "revenue": money})
    out = frame.groupby("cluster").agg(customers=("revenue", "size"), revenue=("revenue", "sum"))
    out = out.reset_index()
    out["share"] = out["customers"] / len(labels)
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    out["value_index"] = out["revenue_share"] / out["share"]
    return out[["cluster", "customers", "share", "revenue", "revenue_share", "value_index"]]


def standardised_differences(
    Z: np.ndarray, labels: np.ndarray, feature_names: Sequence[str]
) -> pd.DataFrame:
    """Per cluster (rows) and feature (columns): (cluster mean − overall mean) / overall
    standard deviation, on the prepared scale the clustering used (after log / square-root
    transforms). With standardised inputs these are the k-means centres."""
    frame = pd.DataFrame(Z, columns=list(feature_names))
    sd = frame.std(ddof=0).replace(0, np.nan)
    diff = (frame.groupby(np.asarray(labels)).mean() - frame.mean()) / sd
    diff.index.name = "cluster"
    return diff.fillna(0.0)


def feature_means(X: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Mean of each input feature (raw units, missing values skipped) per cluster and
    overall: rows are features, columns the clusters then ``overall``."""
    means = X.groupby(np.asarray(labels)).mean().T
    means.columns = [int(c) for c in means.columns]
    means["overall"] = X.mean()
    means.index.name = "feature"
    return means


def _phrase(column: str, high: bool) -> str | None:
    for pattern, (up, down) in _PHRASES.items():
        if fnmatch.fnmatchcase(column, pattern):
            text = up if high else down
            if text and "{}" in text:
                text = text.format(column.split("_", 1)[1].replace("_", " "))
            return text
    label = column.replace("_", " ")
    return f"high {label}" if high else f"low {label}"


def _candidates(diffs: pd.Series, min_effect: float) -> list[str]:
    ordered = diffs.reindex(diffs.abs().sort_values(ascending=False, kind="stable").index)
    phrases = []
    for column, value in ordered.items():
        if abs(value) < min_effect:
            break
        text = _phrase(str(column), value > 0)
        if text and text not in phrases:
            phrases.append(text)
    return phrases


def cluster_names(
    differences: pd.DataFrame,
    value_index: Mapping[int, float] | None = None,
    *,
    max_terms: int = 3,
    min_effect: float = 0.25,
) -> dict[int, str]:
    """A readable, unique name per cluster from its most distinctive traits.

    Each cluster's features are ranked by the absolute standardised difference (at least
    ``min_effect``) and turned into phrases ("frequent", "big baskets", "e-mail engaged",
    "grocery lovers"); "High value" / "Low value" leads when the cluster's revenue share
    is at least 1.5x / at most 1/3 of its customer share. The first ``max_terms`` phrases
    form the name; clusters that would share a name get further phrases until they
    differ, then a number.

    Examples
    --------
    >>> diffs = pd.DataFrame({"purchase_rate_per_year": [1.2, -0.8],
    ...                       "email_open_rate": [0.9, -0.1], "share_books": [0.0, 1.1]})
    >>> cluster_names(diffs, {0: 2.0, 1: 0.3})
    {0: 'High value · frequent · e-mail engaged', 1: 'Low value · books lovers · infrequent'}
    """
    value_index = value_index or {}
    phrases: dict[int, list[str]] = {}
    for cluster, row in differences.iterrows():
        found = _candidates(row, min_effect)
        vi = value_index.get(int(cluster), float("nan"))
        if vi is not None and not math.isnan(vi):
            if vi >= _VALUE_HIGH:
                found.insert(0, "high value")
            elif vi <= _VALUE_LOW:
                found.insert(0, "low value")
        phrases[int(cluster)] = found or ["typical customers"]
    used = dict.fromkeys(phrases, max_terms)
    for _ in range(20):
        names = {c: " · ".join(p[: used[c]]) for c, p in phrases.items()}
        clashes = [c for c, n in names.items() if list(names.values()).count(n) > 1]
        growable = [c for c in clashes if used[c] < len(phrases[c])]
        if not growable:
            break
        for c in growable:
            used[c] += 1
    base = {c: " · ".join(p[: used[c]]) for c, p in phrases.items()}
    repeats = pd.Series(base).value_counts()
    seen: dict[str, int] = {}
    names = {}
    for c in sorted(base):
        n = base[c]
        seen[n] = seen.get(n, 0) + 1
        names[c] = f"{n} ({seen[n]})" if repeats[n] > 1 else n
    return {c: n[:1].upper() + n[1:] for c, n in names.items()}


@dataclass
class ClusterDetail:
    """What the explorer shows for one cluster (None where the feature table lacks it)."""

    cluster: int
    name: str
    customers: int
    profile: pd.DataFrame
    categories: pd.DataFrame | None
    rfm_mix: pd.DataFrame | None


def _joined(features: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "cluster", "cluster_name") if c not in segments]
    if missing:
        raise ValueError(f"segments: columns {missing} are missing")
    seg = segments[["customer_id", "cluster", "cluster_name"]]
    return features.drop(columns=["cluster", "cluster_name"], errors="ignore").merge(
        seg, on="customer_id", how="inner", validate="one_to_one"
    )


def _mix(values: pd.Series, in_cluster: pd.Series, label: str) -> pd.DataFrame:
    cluster = values[in_cluster].value_counts(normalize=True)
    overall = values.value_counts(normalize=True)
    out = pd.DataFrame({"cluster": cluster, "overall": overall}).fillna(0.0)
    out["lift"] = out["cluster"] / out["overall"].replace(0, np.nan)
    out.index.name = label
    return out.sort_values("cluster", ascending=False)


@dataclass
class _Table:
    """The feature table joined to the segments once, as the explorer needs it."""

    cluster: pd.Series
    names: pd.Series
    numeric: pd.DataFrame
    spend: pd.DataFrame | None
    top_category: pd.Series | None
    rfm: pd.Series | None
    money: pd.Series | None


def _table(features: pd.DataFrame, segments: pd.DataFrame, columns: Sequence[str]) -> _Table:
    table = _joined(features, segments)
    cols = [c for c in columns if c in table.columns]
    shares = [c for c in table.columns if c.startswith("share_")]

    def numbers(names: list[str]) -> pd.DataFrame:
        return table[names].apply(pd.to_numeric, errors="coerce").astype("float64")

    spend = numbers(shares).rename(columns=lambda c: c.removeprefix("share_")) if shares else None
    return _Table(
        cluster=table["cluster"],
        names=table["cluster_name"],
        numeric=numbers(cols),
        spend=spend,
        top_category=table["top_category"].astype("str") if "top_category" in table else None,
        rfm=table["rfm_segment"].astype("str") if "rfm_segment" in table else None,
        money=pd.to_numeric(table["monetary_total"], errors="coerce")
        if "monetary_total" in table
        else None,
    )


def _detail(t: _Table, cluster: int) -> ClusterDetail:
    inside = t.cluster == cluster
    if not inside.any():
        raise ValueError(
            f"cluster {cluster}: no customer; clusters are {sorted(t.cluster.unique())}"
        )
    overall, sd = t.numeric.mean(), t.numeric.std(ddof=0).replace(0, np.nan)
    mean = t.numeric[inside].mean()
    profile = pd.DataFrame(
        {"cluster": mean, "overall": overall, "standardised_difference": (mean - overall) / sd}
    )
    profile.index.name = "feature"
    if t.spend is not None:
        categories = pd.DataFrame({"cluster": t.spend[inside].mean(), "overall": t.spend.mean()})
        categories["lift"] = categories["cluster"] / categories["overall"].replace(0, np.nan)
        categories.index.name = "category (mean share of spend)"
        categories = categories.sort_values("cluster", ascending=False)
    elif t.top_category is not None:
        categories = _mix(t.top_category, inside, "top category")
    else:
        categories = None
    return ClusterDetail(
        cluster=int(cluster),
        name=str(t.names[inside].iloc[0]),
        customers=int(inside.sum()),
        profile=profile,
        categories=categories,
        rfm_mix=_mix(t.rfm, inside, "rfm_segment") if t.rfm is not None else None,
    )


def cluster_detail(
    features: pd.DataFrame, segments: pd.DataFrame, cluster: int, columns: Sequence[str]
) -> ClusterDetail:
    """Profile, top categories and RFM-segment mix of one cluster against all customers.

    Parameters
    ----------
    features : DataFrame
        The feature table; not modified.
    segments : DataFrame
        customer_id, cluster, cluster_name.
    cluster : int
        Cluster id (-1 for "No purchase history").
    columns : sequence of str
        Feature columns for the profile (usually the clustering inputs).
    """
    return _detail(_table(features, segments, columns), cluster)


def cluster_details(
    features: pd.DataFrame, segments: pd.DataFrame, columns: Sequence[str]
) -> dict[int, ClusterDetail]:
    """:func:`cluster_detail` of every cluster (clusters in id order, -1 last), joining the
    tables once."""
    t = _table(features, segments, columns)
    order = sorted(t.cluster.unique(), key=lambda c: (c == NO_HISTORY_CLUSTER, c))
    return {int(c): _detail(t, int(c)) for c in order}


def _top(frame: pd.DataFrame | None, n: int) -> str:
    if frame is None:
        return ""
    head = frame["cluster"].head(n)
    return ", ".join(f"{k} {v:.0%}" for k, v in head.items() if v > 0)


def cluster_overview(
    features: pd.DataFrame, segments: pd.DataFrame, columns: Sequence[str], *, top: int = 3
) -> pd.DataFrame:
    """The static explorer: one row per cluster (including "No purchase history") with
    its size, revenue share, most distinctive features, top categories and main RFM
    segments — what the widget shows, for the HTML report."""
    t = _table(features, segments, columns)
    total_revenue = t.money.sum() if t.money is not None else 0.0
    order = sorted(t.cluster.unique(), key=lambda c: (c == NO_HISTORY_CLUSTER, c))
    rows = []
    for cluster in order:
        d = _detail(t, int(cluster))
        diffs = d.profile["standardised_difference"].dropna()
        diffs = diffs.reindex(diffs.abs().sort_values(ascending=False).index).head(top)
        revenue = (
            t.money[t.cluster == cluster].sum() / total_revenue
            if t.money is not None and total_revenue
            else np.nan
        )
        rows.append(
            {
                "cluster": int(cluster),
                "name": d.name,
                "customers": d.customers,
                "share": d.customers / len(t.cluster),
                "revenue_share": revenue,
                "distinctive features": ", ".join(f"{c} {v:+.1f} sd" for c, v in diffs.items()),
                "top categories": _top(d.categories, top),
                "main RFM segments": _top(d.rfm_mix, top),
            }
        )
    return pd.DataFrame(rows)
