"""The audit stage's one entry point: :func:`run`, in this process or on an engine.

``params.engine`` decides where the audit runs, so the stage notebook does not branch:
``duckdb`` runs the full pandas audit (:func:`~workbench.audit.run_audit`) and writes to
the data tree's ``interim/``; any other engine runs the audit where the data is
(:func:`~workbench.audit.engine.audit_on_engine`) and the engine writes to
``params.engine_output`` or ``settings.engine_dir``. Either way the result is an
:class:`~workbench.audit.AuditResult` stamped with the stage's stamp.
"""

from __future__ import annotations

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

__all__ = ["run"]


def run(
    source: str | Path,
    as_of: pd.Timestamp,
    params: AuditParams,
    *,
    settings: Settings,
    stamp: catalog.Stamp,
    con: BaseBackend | None = None,
) -> AuditResult:
    """Audit a source and write its clean tables, quarantine and merge map.

    Parameters
    ----------
    source : str or Path
        The data folder or DuckDB file (on an engine, ``params.source_uri`` wins when set).
    as_of : pandas.Timestamp
        The run's cut-off (UTC midnight, :func:`workbench.schema.parse_as_of`).
    params : AuditParams
        Thresholds and where to run.
    settings : Settings
        The data tree written to (and its engine folder).
    stamp : catalog.Stamp
        The stamp of every output (a stage passes ``stage.stamp()``).
    con : ibis backend, optional
        The engine's connection for ``params.engine`` other than ``duckdb`` (default: one
        is started from ``params.spark_master`` and closed at the end).

    Returns
    -------
    AuditResult
        ``written`` names what was written where.

    Examples
    --------
    >>> from workbench.schema import parse_as_of
    >>> params = AuditParams(engine="spark", spark_master="local[2]")
    >>> result = run("data/raw", parse_as_of("2026-06-30"), params,
    ...              settings=settings, stamp=stamp)                   # doctest: +SKIP
    """
    if not params.on_engine:
        return run_audit(source, as_of, settings=settings, config=params.config, stamp=stamp)
    own = con is None
    if con is None:
        con = engines.connect(params.engine, master=params.spark_master or None)
    try:
        return audit_on_engine(
            params.source_uri or source,
            as_of,
            con=con,
            config=params.config,
            output=params.output_folder(settings),
            max_customers_in_memory=params.max_customers_in_memory,
            stamp=stamp,
        )
    finally:
        if own:
            engines.close(con)
