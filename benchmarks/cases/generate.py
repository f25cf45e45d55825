"""Data generation: the seeded demo business written as Parquet with its ground truth."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import bench_config
from workbench.simulate import write_demo_data

__all__ = ["generate_data"]


def generate_data(data_dir: Path, work_dir: Path) -> dict:
    """Write the demo tables of the configured size and seed into ``data_dir``.

    Unlike the other cases this one writes to ``data_dir``: it is the harness's cached
    data folder of the size, filled once and reused while its summary matches.
    """
    config = bench_config()
    summary = write_demo_data(
        data_dir, customers=config.customers, seed=config.seed, end=config.as_of, progress=False
    )
    rows = {k: int(v) for k, v in summary.get("rows", {}).items() if isinstance(v, int)}
    return {"rows": sum(rows.values()), "rows_what": "table rows", "table_rows": rows}
