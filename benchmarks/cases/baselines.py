"""Baselines of the feature build: the same RFM columns in plain pandas, and the floor —
one DuckDB scan aggregating the orders table per customer. Both report ``cpu_s`` as the
feature cases do (:mod:`benchmarks.cases.features`)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.common import bench_config
from workbench.features import rfm_pandas
from workbench.schema import parse_as_of

__all__ = ["rfm_pandas_case", "duckdb_floor", "FLOOR_SQL"]

_ORDER_COLUMNS = ["customer_id", "ordered_at", "amount", "status"]

#: The floor: one scan of the orders file, filtered and aggregated per customer.
FLOOR_SQL = """
SELECT customer_id,
       max(ordered_at) AS last_order_at,
       count(*)        AS frequency,
       sum(amount)     AS monetary_total
FROM read_parquet($path)
WHERE status = 'completed'
  AND customer_id IS NOT NULL
  AND ordered_at < $as_of
GROUP BY customer_id
"""


def rfm_pandas_case(data_dir: Path, work_dir: Path) -> dict:
    """Read the orders with pandas (the four columns RFM needs) and compute the RFM
    columns with :func:`workbench.features.rfm_pandas` (scores and segments included)."""
    started = time.process_time()
    orders = pd.read_parquet(Path(data_dir) / "orders.parquet", columns=_ORDER_COLUMNS)
    rfm = rfm_pandas(orders, parse_as_of(bench_config().as_of))
    return {
        "rows": int(len(rfm)),
        "rows_what": "customers with a completed order",
        "cpu_s": round(time.process_time() - started, 3),
        "orders_read": int(len(orders)),
        "monetary_total_sum": round(float(rfm["monetary_total"].sum()), 2),
    }


def duckdb_floor(data_dir: Path, work_dir: Path) -> dict:
    """:data:`FLOOR_SQL` on an in-memory DuckDB, handed over as a pandas frame (no
    scores, no segments: the least any engine must do for the RFM columns)."""
    as_of = parse_as_of(bench_config().as_of).to_pydatetime()
    started = time.process_time()
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        frame = (
            con.execute(FLOOR_SQL, {"path": str(Path(data_dir) / "orders.parquet"), "as_of": as_of})
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
    return {
        "rows": int(len(frame)),
        "rows_what": "customers with a completed order",
        "cpu_s": round(time.process_time() - started, 3),
        "monetary_total_sum": round(float(frame["monetary_total"].sum()), 2),
    }
