"""Benchmarks: how the workbench's time and memory grow with customers.

Run ``make bench`` (10,000, 100,000 and 1,000,000 customers) or ``make bench QUICK=1``
(2,000 and 10,000), or ``python -m benchmarks.run --help`` from the project root.

Design
    A *case* is a plain function ``case(data_dir: Path, work_dir: Path) -> dict | None``
    in a module of :mod:`benchmarks.cases`: ``data_dir`` holds the seeded demo tables of
    one size (read only), ``work_dir`` is an empty folder the case may write to (deleted
    afterwards). The returned dict holds extra numbers: ``rows`` and ``rows_what`` (what
    was processed), ``compute_s`` (the timed core, when the case also loads data),
    anything else worth keeping (it goes to the JSON).
Measurement
    :mod:`benchmarks.measure` runs one case in a fresh ``python -m benchmarks.measure
    module:function data_dir work_dir`` process. Wall time is timed around the case call
    inside that process (imports excluded; the whole process's time is kept as
    ``process_s``). Peak memory is the larger of the kernel's peak resident set size of
    the process (``ru_maxrss`` from ``os.wait4`` on that very child) and the sampled sum
    of the resident set sizes of its whole process tree (psutil, every 0.2 s), which is
    what counts for cases that start other processes (the pipeline's notebook kernels,
    Spark's JVM).
Sizes and data
    Demo data is generated once per (customers, seed) into a cache folder (default
    ``/tmp/workbench-bench``) and reused while its ``_truth/summary.json`` matches; the
    generation's own measurement is kept beside it and reported as cached.
Output
    ``reports/benchmarks/<YYYY-MM-DD>.md`` and ``.json`` (one table per size, machine
    header), also printed.
"""

__all__: list[str] = []
