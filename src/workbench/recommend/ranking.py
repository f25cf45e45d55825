"""Top-K selection with a stated tie rule, for a batch of score rows.

Every model ranks through :func:`top_k`: the largest keys first; equal keys in column
order (columns are products sorted by id, so ties go to the smaller product id); ``-inf``
(an excluded product) is never recommended — its slot is ``-1``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["top_k"]


def top_k(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of every row of ``keys``, best first.

    Parameters
    ----------
    keys : numpy.ndarray
        ``(rows, columns)`` ranking keys; ``-inf`` or NaN marks a column that must not
        be chosen.
    k : int
        List length. Rows with fewer than ``k`` eligible columns are padded with ``-1``.

    Returns
    -------
    columns : numpy.ndarray
        ``(rows, k)`` int32 column indices (``-1`` for empty slots).
    values : numpy.ndarray
        ``(rows, k)`` keys of the chosen columns (``-inf`` for empty slots).

    Examples
    --------
    >>> cols, vals = top_k(np.array([[0.5, 0.9, 0.5, -np.inf]]), 4)
    >>> cols.tolist()
    [[1, 0, 2, -1]]
    """
    if not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"top_k: k must be a positive int, got {k!r}")
    keys = np.asarray(keys)
    if keys.ndim != 2:
        raise ValueError(f"top_k: keys must be 2-dimensional, got shape {keys.shape}")
    keys = np.where(np.isnan(keys), -np.inf, keys)
    n, m = keys.shape
    kk = min(k, m)
    columns = np.full((n, k), -1, dtype=np.int32)
    values = np.full((n, k), -np.inf, dtype=keys.dtype if keys.size else np.float64)
    if n == 0 or kk == 0:
        return columns, values
    threshold = np.partition(keys, m - kk, axis=1)[:, m - kk][:, None]
    above = keys > threshold
    equal = keys == threshold
    # take the tied columns left to right until the row holds exactly kk columns
    need = kk - above.sum(axis=1, keepdims=True)
    chosen = above | (equal & (np.cumsum(equal, axis=1) <= need))
    rows, flat = np.nonzero(chosen)
    picked = flat.reshape(n, kk)
    vals = keys[rows, flat].reshape(n, kk)
    order = np.argsort(-vals, axis=1, kind="stable")  # stable: ties stay in column order
    picked = np.take_along_axis(picked, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    columns[:, :kk] = np.where(np.isneginf(vals), -1, picked)
    values[:, :kk] = vals
    return columns, values
