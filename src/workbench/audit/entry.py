"""The audit stage's one entry point: :func:`run`, on DuckDB, in pandas or on Spark.

``params.engine`` decides where the audit runs, so the stage notebook does not branch:

``duckdb`` (the default)
    :func:`~workbench.audit.engine.audit_on_engine` on a DuckDB database file in a
    scratch folder of the data tree (``interim/.audit-work/``, removed afterwards), with a
    memory limit beyond which DuckDB spills to disk: the large tables never sit in pandas,
    so memory stays bounded at any size. Writes to the data tree's ``interim/``.
``pandas``
    :func:`~workbench.audit.run_audit`: the same rules on pandas frames in memory (small
    data, or to compare). Writes to ``interim/`` too.
``spark``
    :func:`~workbench.audit.engine.audit_on_engine` on a Spark session; the engine writes
    to ``params.engine_output`` or ``settings.engine_dir``.

Either way the result is an :class:`~workbench.audit.AuditResult` stamped with the stage's
stamp.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from workbench import catalog, engines
from workbench.audit.core import run_audit
from workbench.audit.engine import audit_on_engine
from workbench.audit.params import AuditParams
from workbench.audit.result import AuditResult
from workbench.settings import Settings

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = ["DUCKDB_MEMORY_LIMIT", "run"]

#: Memory DuckDB may use for the audit before it spills to its scratch folder.
DUCKDB_MEMORY_LIMIT = "1GB"
_WORK = ".audit-work"


def run(
    source: str | Path,
    as_of: pd.Timestamp,
    params: AuditParams,
    *,
    settings: Settings,
    stamp: catalog.Stamp,
    con: BaseBackend | None = None,
    now: pd.Timestamp | None = None,
) -> AuditResult:
    """Audit a source and write its clean tables, quarantine, set-aside rows and merge map.

    Parameters
    ----------
    source : str or Path
        The data folder or DuckDB file (on Spark, ``params.source_uri`` wins when set).
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight, :func:`workbench.schema.parse_as_of`).
    params : AuditParams
        Thresholds and where to run.
    settings : Settings
        The data tree written to (and its engine folder).
    stamp : catalog.Stamp
        The stamp of every output (a stage passes ``stage.stamp()``).
    con : ibis backend, optional
        The engine's connection (default: one is started — DuckDB on a scratch database
        file, or Spark from ``params.spark_master`` — and closed at the end).
    now : pandas.Timestamp, optional
        The run date (default: now); timestamps after it are in the future.

    Returns
    -------
    AuditResult
        ``written`` names what was written where.

    Examples
    --------
    >>> from workbench.schema import parse_as_of
    >>> result = run("data/raw", parse_as_of("2026-06-30"), AuditParams(),
    ...              settings=settings, stamp=stamp)                   # doctest: +SKIP
    """
    if params.engine == "pandas":
        return run_audit(source, as_of, settings=settings, config=params.config, stamp=stamp,
                         now=now)  # fmt: skip
    own = con is None
    work = settings.interim_dir / _WORK
    if con is None and params.engine == "duckdb":
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        con = engines.connect("duckdb", database=work / "audit.duckdb",
                              memory_limit=DUCKDB_MEMORY_LIMIT)  # fmt: skip
    elif con is None:
        con = engines.connect(params.engine, master=params.spark_master or None)
    on_spark = params.on_engine
    try:
        return audit_on_engine(
            (params.source_uri or source) if on_spark else source,
            as_of,
            con=con,
            config=params.config,
            output=params.output_folder(settings),
            max_customers_in_memory=params.max_customers_in_memory,
            stamp=stamp,
            now=now,
            settings=None if on_spark else settings,
        )
    finally:
        if own:
            engines.close(con)
            shutil.rmtree(work, ignore_errors=True)
