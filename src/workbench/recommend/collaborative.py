"""Collaborative models on ``implicit`` 0.7.3: item-kNN (cosine, BM25), ALS and BPR.

``implicit`` fits; scoring is ours (sparse and dense products in batches), so every model
ranks, excludes and fills the same way (:class:`~workbench.recommend.models.Recommender`)
and 1 M customers are scored in bounded memory.

Threads: each model takes ``n_threads`` (implicit's ``num_threads``; 0 would mean every
core) and fits with the BLAS thread pool limited to one thread — implicit warns, and
slows down many times, when OpenBLAS runs its own pool beside it. ALS and item-kNN give
the same result with any number of threads; BPR's stochastic gradient descent is
deterministic for a given ``random_state`` only with one (with more: Hogwild updates),
so the stage gives it one (:func:`~workbench.recommend.evaluate.make_model`).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from workbench.recommend.interactions import Interactions
from workbench.recommend.models import Recommender

__all__ = ["ItemKNN", "ALS", "BPR", "SIMILARITIES", "bm25_items"]

log = logging.getLogger(__name__)

#: Item-item similarities of :class:`ItemKNN`.
SIMILARITIES = ("cosine", "bm25")


def bm25_items(matrix: sp.csr_matrix, k1: float, b: float) -> sp.csr_matrix:
    """BM25 weights with products as documents and customers as terms (implicit's
    ``bm25_weight`` on the transposed matrix), returned customers × products as CSR."""
    from implicit.nearest_neighbours import bm25_weight

    return bm25_weight(matrix.T.tocsr(), K1=k1, B=b).T.tocsr().astype(np.float32)


def _check_threads(model: str, n_threads: int) -> None:
    if not isinstance(n_threads, int) or isinstance(n_threads, bool) or n_threads < 0:
        raise ValueError(f"{model}: n_threads must be an int >= 0, got {n_threads!r}")


class ItemKNN(Recommender):
    """Products similar to what the customer bought (item-item nearest neighbours).

    The similarity is implicit's ``CosineRecommender`` or ``BM25Recommender`` (the same
    weighting, fitted through ``ItemItemRecommender`` on a CSR matrix): each product keeps
    its ``neighbours`` most similar products, itself included. A customer's score for a
    product is the sum over the products they bought (weighted as in the matrix) of the
    similarity — so a product they bought scores through its own self-similarity too.

    Parameters
    ----------
    similarity : {"cosine", "bm25"}, default "cosine"
    neighbours : int, default 50
        Neighbours kept per product.
    k1, b : float, default 1.2, 0.75
        BM25 saturation and length normalisation (``similarity="bm25"`` only).
    n_threads : int, default 1
        implicit's ``num_threads``.
    """

    name: ClassVar[str] = "item_knn"
    partial_scores: ClassVar[bool] = True

    def __init__(
        self,
        similarity: str = "cosine",
        neighbours: int = 50,
        k1: float = 1.2,
        b: float = 0.75,
        n_threads: int = 1,
    ) -> None:
        self.similarity = similarity
        self.neighbours = neighbours
        self.k1 = k1
        self.b = b
        self.n_threads = n_threads

    def _fit(self, data: Interactions) -> None:
        from implicit.nearest_neighbours import ItemItemRecommender, normalize

        if self.similarity not in SIMILARITIES:
            raise ValueError(
                f"ItemKNN: similarity must be one of {', '.join(SIMILARITIES)}, "
                f"got {self.similarity!r}"
            )
        if not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise ValueError(f"ItemKNN: neighbours must be an int >= 1, got {self.neighbours!r}")
        _check_threads("ItemKNN", self.n_threads)
        matrix = data.matrix
        if self.similarity == "cosine":
            weighted = normalize(matrix.T).T.tocsr()
        else:
            weighted = bm25_items(matrix, self.k1, self.b)
        knn = ItemItemRecommender(K=self.neighbours, num_threads=self.n_threads)
        with threadpool_limits(limits=1, user_api="blas"):
            knn.fit(weighted.astype(np.float64), show_progress=False)  # it needs doubles
        self.similarity_ = knn.similarity.tocsr().astype(np.float32)

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.data_.matrix[rows] @ self.similarity_).toarray(), np.float32)


class _Factorisation(Recommender):
    """Shared scoring of the factor models: ``user_factors_ @ item_factors_.T``."""

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T


class ALS(_Factorisation):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky) by alternating least
    squares, implicit's CPU ``AlternatingLeastSquares`` with the conjugate-gradient solver.

    Parameters
    ----------
    factors : int, default 16
    regularization : float, default 1.0
    alpha : float, default 1.0
        Confidence of an observed interaction: ``1 + alpha × weight``.
    iterations : int, default 15
    bm25 : bool, default True
        BM25-weight the matrix (products as documents, K1=100, B=0.8 as in implicit's
        examples) before factorising.

    The defaults are a point of :data:`~workbench.recommend.evaluate.DEFAULT_GRIDS`; on
    the 20,000-customer demo, small ``alpha`` (0.3–1) with BM25 weighting and few factors
    did clearly better than larger ones (validation NDCG@10 about 0.24 against 0.07–0.20
    with ``alpha`` 5–20).
    n_threads : int, default 1
    random_state : int, default 7
        Seed of the factor initialisation.
    """

    name: ClassVar[str] = "als"

    def __init__(
        self,
        factors: int = 16,
        regularization: float = 1.0,
        alpha: float = 1.0,
        iterations: int = 15,
        bm25: bool = True,
        n_threads: int = 1,
        random_state: int = 7,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.bm25 = bm25
        self.n_threads = n_threads
        self.random_state = random_state

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        _check_threads("ALS", self.n_threads)
        matrix = bm25_items(data.matrix, 100.0, 0.8) if self.bm25 else data.matrix
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=self.n_threads,
                random_state=self.random_state,
            )
            model.fit(matrix, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)


class BPR(_Factorisation):
    """Bayesian personalised ranking (pairwise SGD), implicit's CPU
    ``BayesianPersonalizedRanking``; an item bias is part of the factors.

    Parameters
    ----------
    factors : int, default 32
    learning_rate : float, default 0.01
    regularization : float, default 0.01
    iterations : int, default 100
    n_threads : int, default 1
        One thread keeps the fit deterministic.
    random_state : int, default 7
    """

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        factors: int = 32,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        n_threads: int = 1,
        random_state: int = 7,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.n_threads = n_threads
        self.random_state = random_state

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        _check_threads("BPR", self.n_threads)
        with threadpool_limits(limits=1, user_api="blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                num_threads=self.n_threads,
                random_state=self.random_state,
            )
            model.fit(data.matrix, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
