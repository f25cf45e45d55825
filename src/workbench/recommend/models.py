"""One small interface for every recommender, the baselines and the blend.

A :class:`Recommender` follows scikit-learn's estimator contract (``__init__`` only
stores its hyperparameters, ``fit`` validates and returns ``self``, learned attributes end
in ``_``, :func:`sklearn.base.clone` gives an unfitted copy) on :class:`Interactions`:

* ``fit(data)`` learns from the training matrices;
* ``score(rows)`` gives a dense ``(len(rows), products)`` float32 block of scores for
  customers by row of ``data.user_ids``;
* ``recommend(rows, k, exclude_purchased)`` ranks them in batches (bounded memory) and
  returns product columns and scores.

Models whose scores cover only some products (buy-again, item-kNN, the blend) rank the
scored products first and fill the rest of the list by popularity, so every customer gets
``k`` products; the filled slots carry score 0.

The collaborative models (item-kNN, ALS, BPR) live in
:mod:`workbench.recommend.collaborative`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone

from workbench.recommend.interactions import Interactions
from workbench.recommend.ranking import top_k

__all__ = [
    "Recommender",
    "Popularity",
    "CategoryPopularity",
    "BuyAgain",
    "Blend",
    "buyers_per_item",
    "top_categories",
]

log = logging.getLogger(__name__)

#: Scored products rank above every popularity-filled one (fill keys lie in [0, 1)).
_SCORED_OFFSET = 2.0


def buyers_per_item(data: Interactions, recent_days: float | None = None) -> np.ndarray:
    """Distinct customers who bought each product (in the last ``recent_days`` before
    the cut-off when given).

    Examples
    --------
    >>> import pandas as pd
    >>> from workbench.recommend.interactions import build_interactions
    >>> ts = pd.Timestamp("2026-01-05", tz="UTC")
    >>> orders = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["a", "b"],
    ...     "ordered_at": [ts, ts], "status": ["completed"] * 2})
    >>> items = pd.DataFrame({"order_id": ["o1", "o2"], "product_id": ["p1", "p1"],
    ...     "quantity": [1.0, 3.0]})
    >>> data = build_interactions(orders, items, pd.Timestamp("2026-02-01", tz="UTC"))
    >>> buyers_per_item(data).tolist()
    [2.0]
    """
    purchases = data.purchases
    recent = np.ones(purchases.nnz, dtype=bool)
    if recent_days is not None:
        recent = data.last_days <= recent_days
    return np.bincount(purchases.indices[recent], minlength=data.n_items).astype(np.float64)


class Recommender(BaseEstimator):
    """Base of every model: batched ranking, exclusion, popularity fill.

    Subclasses implement ``_fit(data)`` and ``score(rows)`` and set ``name`` and
    ``partial_scores`` (True when only some products get a score).

    Attributes
    ----------
    data_ : Interactions
        The training data (kept: item-kNN and buy-again score from the customer's
        history, exclusion needs what they bought).
    popularity_ : numpy.ndarray
        Distinct buyers per product in the training data (the fill order).
    """

    name: ClassVar[str] = "recommender"
    partial_scores: ClassVar[bool] = False

    def fit(self, data: Interactions) -> Recommender:
        """Learn from ``data`` (customers × products before its cut-off); returns self."""
        if not isinstance(data, Interactions):
            raise TypeError(
                f"{type(self).__name__}.fit: expected Interactions (build_interactions), "
                f"got {type(data).__name__}"
            )
        if data.purchases.nnz == 0:
            raise ValueError(
                f"{type(self).__name__}.fit: no completed purchase before "
                f"{data.cutoff.date()}; nothing to learn from"
            )
        self.data_ = data
        self.popularity_ = buyers_per_item(data)
        self._fit(data)
        return self

    def _fit(self, data: Interactions) -> None:
        """Model-specific learning (nothing for models that score from the history)."""

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Scores of every product for the customers at ``rows`` (float32 block)."""
        raise NotImplementedError

    def recommend(
        self,
        rows: np.ndarray,
        k: int = 10,
        exclude_purchased: bool = False,
        batch_size: int = 8192,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` products for the customers at ``rows`` of the training data.

        Parameters
        ----------
        rows : array of int
            Rows of ``data_.user_ids`` (see :meth:`Interactions.user_index`).
        k : int, default 10
            List length.
        exclude_purchased : bool, default False
            Leave out products the customer bought before the cut-off.
        batch_size : int, default 8192
            Customers scored at once.

        Returns
        -------
        items : numpy.ndarray
            ``(len(rows), k)`` int32 product columns, best first (``-1``: empty slot,
            when exclusion leaves fewer than ``k`` products).
        scores : numpy.ndarray
            ``(len(rows), k)`` float32 model scores of those products (0 for products
            filled in by popularity, NaN for empty slots).
        """
        self._check_fitted()
        rows = np.asarray(rows, dtype=np.int64)
        n_users = self.data_.n_users
        if rows.size and (rows.min() < 0 or rows.max() >= n_users):
            raise IndexError(
                f"{type(self).__name__}.recommend: rows must be in [0, {n_users}) "
                "(customers of the training data; see Interactions.user_index)"
            )
        items = np.full((len(rows), k), -1, dtype=np.int32)
        scores = np.full((len(rows), k), np.nan, dtype=np.float32)
        fill = self.popularity_ / (self.popularity_.max() + 1.0)  # in [0, 1)
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            block = self.score(batch)
            keys = block.astype(np.float64)
            if self.partial_scores:
                keys = np.where(block > 0, keys + _SCORED_OFFSET, fill[None, :])
            if exclude_purchased:
                bought = self.data_.purchases[batch].tocoo()
                keys[bought.row, bought.col] = -np.inf
            cols, _ = top_k(keys, k)
            got = cols >= 0
            picked = np.take_along_axis(block, np.maximum(cols, 0), axis=1)
            if self.partial_scores:  # products filled in by popularity carry score 0
                picked = np.maximum(picked, 0)
            items[start : start + len(batch)] = cols
            scores[start : start + len(batch)] = np.where(got, picked, np.nan)
        return items, scores

    def _check_fitted(self) -> None:
        if not hasattr(self, "data_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(data) first")


class Popularity(Recommender):
    """The same list for everyone: products bought by the most customers.

    Parameters
    ----------
    recent_days : float, optional
        Count only buyers whose last purchase of the product is within this many days
        before the cut-off (``None``: the whole history). Products without a recent
        buyer follow by all-time popularity.
    """

    name: ClassVar[str] = "popularity"
    partial_scores: ClassVar[bool] = True

    def __init__(self, recent_days: float | None = None) -> None:
        self.recent_days = recent_days

    def _fit(self, data: Interactions) -> None:
        if self.recent_days is not None and not self.recent_days > 0:
            raise ValueError(f"Popularity: recent_days must be > 0, got {self.recent_days!r}")
        self.item_scores_ = buyers_per_item(data, self.recent_days).astype(np.float32)

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(rows), len(self.item_scores_))).copy()


class CategoryPopularity(Recommender):
    """Popular products of the customer's top category first, then the rest by popularity.

    The top category is the one holding most of the customer's purchases (orders ×
    products) before the cut-off; ties go to the first category name. Customers whose
    products have no category get plain popularity.

    Parameters
    ----------
    recent_days : float, optional
        As in :class:`Popularity`.
    """

    name: ClassVar[str] = "popularity_in_category"

    def __init__(self, recent_days: float | None = None) -> None:
        self.recent_days = recent_days

    def _fit(self, data: Interactions) -> None:
        pop = buyers_per_item(data, self.recent_days)
        self.item_scores_ = (pop / (pop.max() + 1.0)).astype(np.float32)
        self.top_category_ = top_categories(data)

    def score(self, rows: np.ndarray) -> np.ndarray:
        top = self.top_category_[rows]
        cat = self.data_.item_category
        in_top = (cat[None, :] == top[:, None]) & (top[:, None] >= 0)
        return self.item_scores_[None, :] + in_top.astype(np.float32)


def top_categories(data: Interactions) -> np.ndarray:
    """Each customer's most bought category code (-1 when none of their products has one)."""
    n_cat = len(data.categories)
    if n_cat == 0:
        return np.full(data.n_users, -1, dtype=np.int32)
    known = data.item_category >= 0
    onehot = sp.csr_matrix(
        (np.ones(known.sum(), np.float32), (np.flatnonzero(known), data.item_category[known])),
        shape=(data.n_items, n_cat),
    )
    per_cat = (data.purchases @ onehot).toarray()
    top = per_cat.argmax(axis=1).astype(np.int32)  # argmax: first category among ties
    top[per_cat.max(axis=1) <= 0] = -1
    return top


class BuyAgain(Recommender):
    """Each customer's own products, by how often and how recently they bought them.

    ``score = orders ** frequency_power × 0.5 ** (days since last purchase / half_life_days)``
    for every product the customer bought; the rest of the list is filled by popularity.

    Parameters
    ----------
    half_life_days : float, optional
        Days after which a past purchase counts half (``None``: no decay).
    frequency_power : float, default 1.0
        Weight of the number of orders that held the product.
    """

    name: ClassVar[str] = "buy_again"
    partial_scores: ClassVar[bool] = True

    def __init__(self, half_life_days: float | None = 90.0, frequency_power: float = 1.0) -> None:
        self.half_life_days = half_life_days
        self.frequency_power = frequency_power

    def _fit(self, data: Interactions) -> None:
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError(
                f"BuyAgain: half_life_days must be > 0 or None, got {self.half_life_days!r}"
            )
        counts = data.purchases
        value = counts.data.astype(np.float64) ** self.frequency_power
        if self.half_life_days is not None:
            value = value * 0.5 ** (data.last_days / self.half_life_days)
        self.scores_ = sp.csr_matrix(
            (value.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape
        )

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.scores_[rows].toarray()


class Blend(Recommender):
    """Buy-again and a collaborative model, mixed by a weight.

    ``score = weight × min(buy_again / reference, 1) + (1 - weight) × cf``, where
    ``reference`` is the 99th percentile of the training buy-again scores (so a strong
    repeat habit saturates and a single old purchase stays small) and ``cf`` is the
    collaborative score min-max scaled per customer to [0, 1].

    Parameters
    ----------
    buy_again : BuyAgain
        The repeat-purchase part (cloned and fitted).
    collaborative : Recommender
        The collaborative part (cloned and fitted).
    weight : float, default 0.5
        Share of buy-again, in [0, 1].
    """

    name: ClassVar[str] = "blend"
    partial_scores: ClassVar[bool] = True

    def __init__(
        self,
        buy_again: Recommender | None = None,
        collaborative: Recommender | None = None,
        weight: float = 0.5,
    ) -> None:
        self.buy_again = buy_again
        self.collaborative = collaborative
        self.weight = weight

    def _fit(self, data: Interactions) -> None:
        if not 0 <= self.weight <= 1:
            raise ValueError(f"Blend: weight must be in [0, 1], got {self.weight!r}")
        if self.buy_again is None or self.collaborative is None:
            raise ValueError("Blend: both buy_again and collaborative models are needed")
        self.buy_again_ = clone(self.buy_again).fit(data)
        self.collaborative_ = clone(self.collaborative).fit(data)
        ba = getattr(self.buy_again_, "scores_", None)
        values = ba.data if ba is not None and ba.nnz else np.ones(1, np.float32)
        self.reference_ = float(max(np.quantile(values, 0.99), 1e-12))

    def score(self, rows: np.ndarray) -> np.ndarray:
        ba = np.minimum(self.buy_again_.score(rows) / self.reference_, 1.0)
        cf = self.collaborative_.score(rows)
        low = cf.min(axis=1, keepdims=True)
        span = cf.max(axis=1, keepdims=True) - low
        cf = np.where(span > 0, (cf - low) / np.where(span > 0, span, 1.0), 0.0)
        return (self.weight * ba + (1.0 - self.weight) * cf).astype(np.float32)
