"""Ids of the demo tables: a prefix and a zero-padded number (``C0000042``, ``O00001234``).

Customers ``C``, orders ``O``, order lines ``L``, e-mail events ``E``, web events ``W``,
sessions ``S``, products ``P`` and campaigns ``CMP``; each prefix has a minimum width that
grows when the largest number needs more digits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["format_ids", "id_array", "id_series", "id_width"]

_ID_WIDTH = {"C": 7, "O": 8, "L": 9, "E": 9, "W": 9, "S": 9, "P": 4, "CMP": 3}


def id_width(prefix: str, largest: int) -> int:
    """Digits after ``prefix``: its minimum width, or more when ``largest`` needs them."""
    return max(_ID_WIDTH[prefix], len(str(int(largest))))


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Ids of a few rows as a Python object array (for fault keys and details)."""
    return np.array([f"{prefix}{int(x):0{width}d}" for x in numbers], dtype=object)


def id_array(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as an Arrow string array, built without Python
    strings (fixed-width bytes plus offsets)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = len(head) + width
    buf = np.empty((len(numbers), size), dtype=np.uint8)
    buf[:, : len(head)] = head
    rest = numbers.copy()
    for k in range(size - 1, len(head) - 1, -1):
        buf[:, k] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(len(numbers) + 1, dtype=np.int64) * size
    return pa.LargeStringArray.from_buffers(
        len(numbers), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buf))
    )


def id_series(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """:func:`id_array` as a pandas ``str`` series."""
    return pd.Series(id_array(prefix, numbers, width), dtype="str")
