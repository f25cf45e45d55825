"""Column builders shared by the canonical and the truth tables: codes or row numbers to
text (Arrow-backed ``str`` series), seconds to UTC timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.simulate.clock import Clock

__all__ = ["strings", "take", "timestamps", "vocab"]


def take(values: pa.Array, index: np.ndarray) -> pd.Series:
    """``values[index]`` as a pandas ``str`` series; negative indexes give missing values."""
    index = np.asarray(index, dtype=np.int64)
    mask = index < 0
    taken = values.take(pa.array(np.where(mask, 0, index), mask=mask if mask.any() else None))
    return pd.Series(taken, dtype="str")


def vocab(words: tuple[str, ...] | list[str]) -> pa.Array:
    """Words as an Arrow array to :func:`take` codes from."""
    return pa.array(list(words), type=pa.large_string())


def strings(values: np.ndarray) -> pd.Series:
    """An object array of text (None: missing) as a ``str`` series."""
    return pd.Series(pa.array(values, type=pa.large_string(), from_pandas=True), dtype="str")


def timestamps(seconds: np.ndarray, clock: Clock, missing: np.ndarray | None = None) -> pd.Series:
    """Seconds since the history start as UTC timestamps (microseconds); ``missing``
    marks missing values."""
    us = clock.to_us(np.asarray(seconds))
    if missing is not None:
        us = np.where(missing, np.iinfo(np.int64).min, us)
    return pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC")
