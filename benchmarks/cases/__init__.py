"""Benchmark cases, one module per stage (plus the baselines).

Every case is ``case(data_dir: Path, work_dir: Path) -> dict | None``; see
:mod:`benchmarks` for what the arguments and the returned numbers mean, and
:mod:`benchmarks.registry` for the list the harness runs.
"""

__all__: list[str] = []
