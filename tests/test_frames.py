"""workbench.frames.isin answers as pandas' isin does, on every kind of input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.frames import isin


def _ids(rng: np.random.Generator, n: int, dtype: str) -> pd.Series:
    values = [f"C{int(i):05d}" for i in rng.integers(0, 400, n)]
    s = pd.Series(values, dtype=dtype, index=pd.RangeIndex(10, 10 + n))
    s[rng.random(n) < 0.1] = None
    return s


@pytest.mark.parametrize("dtype", ["str", "object", "string"])
@pytest.mark.parametrize("among_kind", ["series", "index", "list", "set", "array"])
def test_isin_matches_pandas_on_text_ids(dtype, among_kind):
    rng = np.random.default_rng(3)
    values = _ids(rng, 2_000, dtype)
    wanted = _ids(rng, 300, "str").dropna()
    among = {
        "series": wanted,
        "index": pd.Index(wanted),
        "list": wanted.tolist(),
        "set": set(wanted),
        "array": wanted.to_numpy(dtype=object),
    }[among_kind]
    got = isin(values, among)
    expected = values.isin(wanted.tolist())
    assert isinstance(got, pd.Series)
    assert got.index.equals(values.index) and got.dtype == bool
    assert got.tolist() == expected.tolist()
    assert 0 < got.sum() < len(values), "the case must hold both hits and misses"


def test_isin_leaves_non_text_and_missing_lookups_to_pandas():
    numbers = pd.Series([1, 2, 3, None])
    assert isin(numbers, [2, 3]).tolist() == numbers.isin([2, 3]).tolist()
    mixed = pd.Series(["a", 1, None], dtype=object)
    assert isin(mixed, ["a", 1]).tolist() == [True, True, False]
    with_missing = pd.Series(["a", None, "b"], dtype="str")
    assert isin(with_missing, ["a", None]).tolist() == with_missing.isin(["a", None]).tolist()
    category = pd.Series(["a", "b"], dtype="category")
    assert isin(category, ["b"]).tolist() == [False, True]


def test_isin_on_an_index_and_on_empty_inputs():
    index = pd.Index(["a", "b", "c"], dtype="str")
    assert isinstance(isin(index, ["c"]), pd.Series)
    assert isin(index, ["c", "a"]).tolist() == [True, False, True]
    assert isin(pd.Series(["a"], dtype="str"), []).tolist() == [False]
    assert isin(pd.Series([], dtype="str"), ["a"]).tolist() == []
