"""Ranking metrics per customer, bootstrap intervals over customers, list-level measures.

Definitions (binary relevance: a product is relevant when the customer bought it in the
evaluation window; ``n`` = number of relevant products, ``hit@r`` = the product at rank
``r`` is relevant, ``m = min(n, K)``):

* Precision@K = hits in the top K / K (a customer with fewer than K relevant products
  cannot reach 1 — the usual definition, as in Microsoft Recommenders);
* Recall@K = hits in the top K / n;
* NDCG@K = Σ hit@r / log2(r + 1) divided by the same sum for a perfect list, Σ_{r≤m}
  1 / log2(r + 1);
* MAP@K = mean of AP@K, with AP@K = Σ_r hit@r × Precision@r / m.

A list shorter than K (exclusion left too few products) counts its empty slots as misses.
Ties between equally scored products are resolved before the metrics, by the ranking's
stated rule (:func:`workbench.recommend.ranking.top_k`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "METRICS",
    "ranking_metrics",
    "metrics_from_arrays",
    "catalogue_coverage",
    "repurchase_share",
    "bootstrap_ci",
    "paired_bootstrap",
    "comparison_table",
]

#: Per-customer metric columns, in report order.
METRICS = ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k")


def metrics_from_arrays(items: np.ndarray, relevant: sp.csr_matrix, k: int) -> pd.DataFrame:
    """Per-customer metrics from ranked product columns and a relevance matrix.

    Parameters
    ----------
    items : numpy.ndarray
        ``(customers, L)`` product columns, best first; ``-1`` marks an empty slot. Only
        the first ``k`` are judged.
    relevant : scipy.sparse.csr_matrix
        ``(customers, products)``; an explicit non-zero entry marks a relevant product.
    k : int
        Cut-off K.

    Returns
    -------
    pandas.DataFrame
        ``n_relevant, hits`` and :data:`METRICS`, one row per customer (same order).
        Customers without a relevant product get NaN metrics.
    """
    if not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}")
    items = np.asarray(items)
    n, n_items = relevant.shape
    if items.ndim != 2 or items.shape[0] != n:
        raise ValueError(
            f"items must have one row per row of relevant ({n}), got shape {items.shape}"
        )
    top = np.full((n, k), -1, dtype=np.int64)
    width = min(k, items.shape[1])
    top[:, :width] = items[:, :width]
    relevant = sp.csr_matrix(relevant)
    relevant.sum_duplicates()
    relevant.eliminate_zeros()
    truth_keys = _keys(relevant)
    keys = np.arange(n, dtype=np.int64)[:, None] * n_items + top
    pos = np.minimum(np.searchsorted(truth_keys, keys), max(len(truth_keys) - 1, 0))
    hit = (top >= 0) & (truth_keys[pos] == keys) if len(truth_keys) else np.zeros_like(top, bool)
    n_rel = np.diff(relevant.indptr).astype(np.int64)
    n_hits = hit.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_rel, k)]
    cum_hits = np.cumsum(hit, axis=1)
    prec_at_r = cum_hits / np.arange(1, k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "n_relevant": n_rel,
                "hits": n_hits,
                "precision_at_k": n_hits / k,
                "recall_at_k": n_hits / n_rel,
                "ndcg_at_k": (hit * discount).sum(axis=1) / ideal,
                "map_at_k": (prec_at_r * hit).sum(axis=1) / np.minimum(n_rel, k),
            }
        )
    out.loc[n_rel == 0, list(METRICS)] = np.nan
    return out


def _keys(matrix: sp.csr_matrix) -> np.ndarray:
    """Sorted ``row × columns + column`` of the explicit entries of a canonical CSR."""
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows * matrix.shape[1] + matrix.indices.astype(np.int64)


def ranking_metrics(recommended: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Precision@K, Recall@K, NDCG@K and MAP@K for every customer of ``relevant``.

    Parameters
    ----------
    recommended : pandas.DataFrame
        ``customer_id, rank, product_id`` (rank 1 is the best; ranks above ``k`` are
        ignored). A customer of ``relevant`` without recommendations scores 0.
    relevant : pandas.DataFrame
        ``customer_id, product_id``: what each evaluated customer bought in the window.
    k : int, default 10

    Returns
    -------
    pandas.DataFrame
        ``customer_id, n_relevant, hits`` and :data:`METRICS`, one row per customer of
        ``relevant``, sorted by customer id.

    Examples
    --------
    >>> rec = pd.DataFrame({"customer_id": ["a"] * 3, "rank": [1, 2, 3],
    ...                     "product_id": ["x", "y", "z"]})
    >>> rel = pd.DataFrame({"customer_id": ["a", "a"], "product_id": ["y", "q"]})
    >>> ranking_metrics(rec, rel, k=3)[["hits", "precision_at_k", "recall_at_k"]]
       hits  precision_at_k  recall_at_k
    0     1        0.333333          0.5
    """
    needed: tuple[tuple[str, pd.DataFrame, tuple[str, ...]], ...] = (
        ("recommended", recommended, ("customer_id", "rank", "product_id")),
        ("relevant", relevant, ("customer_id", "product_id")),
    )
    for name, frame, columns in needed:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: column(s) {', '.join(missing)} missing; need {columns}")
    rank = pd.to_numeric(recommended["rank"], errors="coerce")
    if rank.isna().any() or (rank < 1).any() or (rank % 1 != 0).any():
        raise ValueError("recommended: rank must hold whole numbers >= 1")
    rec = recommended.loc[rank <= k, ["customer_id", "product_id"]].assign(rank=rank[rank <= k])
    for cols, what in (
        (["customer_id", "rank"], "rank"),
        (["customer_id", "product_id"], "product"),
    ):
        if rec.duplicated(cols).any():
            row = rec[rec.duplicated(cols, keep=False)].iloc[0]
            raise ValueError(
                f"recommended: customer {row['customer_id']!r} has the same {what} twice "
                "in the top k; each customer needs distinct ranks and products"
            )
    pairs = relevant[["customer_id", "product_id"]].dropna().drop_duplicates()
    customers = pd.Index(pd.unique(pairs["customer_id"])).sort_values()
    products = pd.Index(pd.unique(pd.concat([pairs["product_id"], rec["product_id"]])))
    truth = sp.csr_matrix(
        (
            np.ones(len(pairs), np.float32),
            (
                customers.get_indexer(pairs["customer_id"]),
                products.get_indexer(pairs["product_id"]),
            ),
        ),
        shape=(len(customers), len(products)),
    )
    items = np.full((len(customers), k), -1, dtype=np.int64)
    row = customers.get_indexer(rec["customer_id"])
    mine = row >= 0
    items[row[mine], rec["rank"].to_numpy(np.int64)[mine] - 1] = products.get_indexer(
        rec["product_id"][mine]
    )
    out = metrics_from_arrays(items, truth, k)
    out.insert(0, "customer_id", customers.to_numpy())
    return out


def catalogue_coverage(items: np.ndarray, n_products: int) -> float:
    """Share of the catalogue's ``n_products`` that appear in at least one list.

    Examples
    --------
    >>> catalogue_coverage(np.array([[0, 1], [1, -1]]), 4)
    0.5
    """
    if n_products <= 0:
        raise ValueError(f"n_products must be positive, got {n_products!r}")
    shown = np.unique(np.asarray(items)[np.asarray(items) >= 0])
    return float(len(shown) / n_products)


def repurchase_share(items: np.ndarray, purchases: sp.csr_matrix) -> float:
    """Share of recommended products (non-empty slots) the customer had already bought.

    ``purchases`` has one row per row of ``items`` (the customers' training purchases).

    Examples
    --------
    >>> bought = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]]))
    >>> repurchase_share(np.array([[0, 1], [2, -1]]), bought)
    0.6666666666666666
    """
    items = np.asarray(items)
    purchases = sp.csr_matrix(purchases)
    if purchases.shape[0] != items.shape[0]:
        raise ValueError(
            f"purchases must have one row per row of items ({items.shape[0]}), "
            f"got {purchases.shape[0]}"
        )
    filled = items >= 0
    if not filled.any():
        return float("nan")
    truth_keys = _keys(purchases)
    keys = np.arange(len(items), dtype=np.int64)[:, None] * purchases.shape[1] + items
    if not len(truth_keys):
        return 0.0
    pos = np.minimum(np.searchsorted(truth_keys, keys), len(truth_keys) - 1)
    bought = filled & (truth_keys[pos] == keys)
    return float(bought.sum() / filled.sum())


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over rows (customers).

    Parameters
    ----------
    values : numpy.ndarray
        ``(customers,)`` or ``(customers, metrics)``; every column is resampled with the
        same customers (so intervals of several models are paired).
    n_boot : int, default 1000
    level : float, default 0.95
    seed : int, default 7

    Returns
    -------
    low, high : numpy.ndarray
        Bounds per column (scalars as 0-d arrays for 1-d input).
    """
    values = np.asarray(values, dtype=np.float64)
    flat = values.ndim == 1
    matrix = values[:, None] if flat else values
    n = matrix.shape[0]
    if n == 0 or n_boot <= 0:
        nan = np.full(matrix.shape[1], np.nan)
        return (nan[0], nan[0]) if flat else (nan, nan.copy())
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, matrix.shape[1]))
    chunk = max(1, 4_000_000 // (n * matrix.shape[1]))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        means[start : start + size] = matrix[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return (low[0], high[0]) if flat else (low, high)


def paired_bootstrap(
    model: np.ndarray,
    baseline: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 7,
) -> dict[str, float]:
    """A model's mean against a baseline's on the same customers, with intervals.

    Returns
    -------
    dict
        ``difference`` (model − baseline), ``difference_low``, ``difference_high``,
        ``ratio`` (model / baseline), ``ratio_low``, ``ratio_high`` (bootstrap of the
        ratio of means with the same resamples).
    """
    a, b = np.asarray(model, float), np.asarray(baseline, float)
    if a.shape != b.shape:
        raise ValueError(f"model and baseline need the same customers, got {a.shape} {b.shape}")
    values = np.column_stack([a, b])
    n, rng = len(a), np.random.default_rng(seed)
    means = np.empty((max(n_boot, 0), 2))
    chunk = max(1, 4_000_000 // max(2 * n, 1))
    for start in range(0, max(n_boot, 0), chunk):
        size = min(chunk, n_boot - start)
        means[start : start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    diff = means[:, 0] - means[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = means[:, 0] / means[:, 1]
        point_ratio = a.mean() / b.mean()
    q = [alpha, 1.0 - alpha]
    d_low, d_high = np.quantile(diff, q) if n_boot > 0 else (np.nan, np.nan)
    r_low, r_high = np.quantile(ratio, q) if n_boot > 0 else (np.nan, np.nan)
    return {
        "difference": float(a.mean() - b.mean()),
        "difference_low": float(d_low),
        "difference_high": float(d_high),
        "ratio": float(point_ratio),
        "ratio_low": float(r_low),
        "ratio_high": float(r_high),
    }


def comparison_table(
    per_customer: pd.DataFrame,
    list_measures: pd.DataFrame | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 7,
) -> pd.DataFrame:
    """Every model side by side: mean metrics with bootstrap intervals over customers.

    Parameters
    ----------
    per_customer : pandas.DataFrame
        ``model, customer_id`` and :data:`METRICS` (the long frame of every model's
        per-customer values on the same customers).
    list_measures : pandas.DataFrame, optional
        Indexed by model: extra columns (``coverage``, ``repurchase_share``) joined in.
    n_boot, level, seed :
        Bootstrap settings (:func:`bootstrap_ci`); each model uses the same seed, so
        the resampled customers are the same for every model.

    Returns
    -------
    pandas.DataFrame
        Indexed by model (input order): ``customers`` and for each metric its mean,
        ``<metric>_low`` and ``<metric>_high``; then the list measures.
    """
    missing = [c for c in ("model", "customer_id", *METRICS) if c not in per_customer.columns]
    if missing:
        raise ValueError(f"per_customer: column(s) {', '.join(missing)} missing")
    rows = {}
    for model, group in per_customer.groupby("model", sort=False):
        group = group.sort_values("customer_id")
        values = group[list(METRICS)].to_numpy(dtype=float)
        low, high = bootstrap_ci(values, n_boot=n_boot, level=level, seed=seed)
        row: dict[str, float] = {"customers": float(len(group))}
        for j, metric in enumerate(METRICS):
            row[metric] = float(np.nanmean(values[:, j])) if len(values) else np.nan
            row[f"{metric}_low"] = float(low[j])
            row[f"{metric}_high"] = float(high[j])
        rows[model] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["customers"] = table["customers"].astype(int)
    table.index.name = "model"
    if list_measures is not None:
        table = table.join(list_measures)
    return table
