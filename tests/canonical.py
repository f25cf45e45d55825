"""Tiny canonical tables for hand-made test data (shared by the feature and churn tests)."""

from __future__ import annotations

import pandas as pd

from workbench.schema import TIMESTAMP_DTYPE, empty_table


def ts(values: list[str | None]) -> pd.Series:
    """ISO timestamps as the canonical UTC dtype."""
    return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601"), dtype=TIMESTAMP_DTYPE)


def canonical_table(name: str, rows: list[dict]) -> pd.DataFrame:
    """A canonical table (all canonical columns, canonical types) from a few rows."""
    base = empty_table(name)
    frame = pd.DataFrame(rows)
    out = {}
    for col, dtype in base.dtypes.items():
        if col not in frame:
            out[col] = pd.Series([None] * len(frame), dtype=dtype)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[col] = ts(frame[col].tolist())
        else:
            out[col] = frame[col].astype(dtype)
    return pd.DataFrame(out)
