"""The time split: train on the past, judge on what customers bought next.

::

    ... training ...  | validation window  | test window      |
                      ^ validation_start   ^ test_start        ^ as_of

* Hyperparameters and the model are chosen by fitting on everything before
  ``validation_start`` and ranking the purchases of ``[validation_start, test_start)``.
* The reported numbers refit every model (with the chosen hyperparameters) on everything
  before ``test_start`` and rank the purchases of ``[test_start, as_of)``.
* The evaluated customers are those with a completed purchase both before the window's
  start and in the window ("active in both"); products first sold in the window count
  as relevant but no model can recommend them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from workbench.recommend.interactions import (
    Interactions,
    purchases_in_window,
)
from workbench.schema import check_as_of

__all__ = ["TimeSplit", "EvaluationSet", "time_split", "evaluation_set", "subsample_customers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeSplit:
    """The windows of the evaluation (every bound a UTC timestamp, windows half-open).

    Examples
    --------
    >>> split = time_split(pd.Timestamp("2026-06-30", tz="UTC"), test_days=30)
    >>> str(split.test_start.date()), str(split.validation_start.date())
    ('2026-05-31', '2026-05-01')
    """

    as_of: pd.Timestamp
    test_days: int = 30
    validation_days: int = 30

    @property
    def test_start(self) -> pd.Timestamp:
        return self.as_of - pd.Timedelta(days=self.test_days)

    @property
    def validation_start(self) -> pd.Timestamp:
        return self.test_start - pd.Timedelta(days=self.validation_days)

    def as_dict(self) -> dict[str, str | int]:
        """Dates (ISO) and window lengths, for the summary."""
        return {
            "as_of": str(self.as_of.date()),
            "test_days": self.test_days,
            "validation_days": self.validation_days,
            "test_start": str(self.test_start.date()),
            "validation_start": str(self.validation_start.date()),
        }


def time_split(as_of: pd.Timestamp, test_days: int = 30, validation_days: int = 30) -> TimeSplit:
    """The validation and test windows ending at ``as_of``."""
    as_of = check_as_of(as_of, "recommend recommend")
    for name, value in (("test_days", test_days), ("validation_days", validation_days)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"time_split: {name} must be a positive int, got {value!r}")
    return TimeSplit(as_of=as_of, test_days=test_days, validation_days=validation_days)


@dataclass(frozen=True)
class EvaluationSet:
    """Training data and the window purchases it is judged on.

    Attributes
    ----------
    train : Interactions
        Everything before ``start``.
    rows : numpy.ndarray
        Rows of ``train`` of the evaluated customers (active in both), sorted by id.
    relevant : scipy.sparse.csr_matrix
        ``(len(rows), products)``: what each bought in the window. Columns past
        ``train.n_items`` are products the training data never saw.
    start, end : pandas.Timestamp
        The window ``[start, end)``.
    new_products : int
        Products bought in the window that were not in the training catalogue.
    """

    train: Interactions
    rows: np.ndarray
    relevant: sp.csr_matrix
    start: pd.Timestamp
    end: pd.Timestamp
    new_products: int = 0

    @property
    def customer_ids(self) -> pd.Index:
        return self.train.user_ids[self.rows]

    @property
    def n_customers(self) -> int:
        return len(self.rows)


def evaluation_set(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    train: Interactions,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> EvaluationSet:
    """The customers to judge and what they bought in ``[start, end)``.

    ``train`` must end where the window starts (``train.cutoff == start``): a model
    judged on a window must not have seen it.
    """
    start, end = check_as_of(start, "recommend start"), check_as_of(end, "recommend end")
    if train.cutoff != start:
        raise ValueError(
            f"evaluation_set: the training data ends {train.cutoff.date()} but the window "
            f"starts {start.date()}; build the training data with cutoff=start"
        )
    if not end > start:
        raise ValueError(f"evaluation_set: end ({end.date()}) must be after start ({start.date()})")
    pairs = purchases_in_window(orders, order_items, start, end)
    row = train.user_index(pairs["customer_id"])
    bought_before = np.diff(train.purchases.indptr) > 0
    active = (row >= 0) & bought_before[np.maximum(row, 0)]
    pairs, row = pairs[active], row[active]
    rows, inverse = np.unique(row, return_inverse=True)
    col = train.item_index(pairs["product_id"])
    new = col < 0
    new_ids, new_col = np.unique(pairs["product_id"].to_numpy()[new], return_inverse=True)
    col[new] = train.n_items + new_col
    relevant = sp.csr_matrix(
        (np.ones(len(col), np.float32), (inverse, col)),
        shape=(len(rows), train.n_items + len(new_ids)),
    )
    log.info(
        "window %s to %s: %s customers active before and in it, %s purchased pairs "
        "(%s products new in the window)",
        start.date(),
        end.date(),
        f"{len(rows):,}",
        f"{relevant.nnz:,}",
        len(new_ids),
    )
    return EvaluationSet(
        train=train, rows=rows, relevant=relevant, start=start, end=end, new_products=len(new_ids)
    )


def subsample_customers(data: Interactions, n: int, seed: int) -> Interactions:
    """``data`` restricted to a seeded random sample of ``n`` customers (all when fewer).

    Used to keep the hyperparameter search cheap on very large customer bases: item-item
    structure of a catalogue of hundreds of products is learnt from tens of thousands
    of customers as well as from millions.
    """
    if data.n_users <= n:
        return data
    rows = np.sort(np.random.default_rng(seed).choice(data.n_users, size=n, replace=False))
    indptr = data.purchases.indptr
    lengths = indptr[rows + 1] - indptr[rows]
    offsets = np.cumsum(lengths) - lengths
    positions = np.arange(lengths.sum()) + np.repeat(indptr[rows] - offsets, lengths)
    return Interactions(
        matrix=data.matrix[rows],
        purchases=data.purchases[rows],
        last_days=data.last_days[positions],
        span_days=data.span_days[positions],
        user_ids=data.user_ids[rows],
        item_ids=data.item_ids,
        item_category=data.item_category,
        categories=data.categories,
        cutoff=data.cutoff,
        weighting=data.weighting,
        view_weight=data.view_weight,
    )
