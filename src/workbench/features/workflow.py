"""The feature stage in one call: open the engine and the tables, build, reconcile, write.

:func:`run` is what notebook 02 calls. It opens the engine its parameters name (DuckDB in
this process, or Spark), opens the canonical tables on it, lists the input files and the
sections the source supports, builds the feature table, reads the completed revenue the
table must add up to, has the engine write the table to ``features_uri`` when asked, and
closes the engine. The steps stay available one by one
(:func:`workbench.canonical.open_tables`, :func:`~workbench.features.feature_sections`,
:func:`~workbench.features.build_features`, :func:`~workbench.features.completed_revenue`)
for a caller that holds its own engine connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import display, engines
from workbench.canonical import manifest, open_tables
from workbench.features.build import build_features, completed_revenue, feature_sections
from workbench.features.params import FEATURE_TABLES, FeatureParams
from workbench.loading import LoadedData
from workbench.schema import check_as_of

__all__ = ["FeatureRun", "run", "input_manifest"]

log = logging.getLogger(__name__)


@dataclass
class FeatureRun:
    """What :func:`run` built and checked.

    Attributes
    ----------
    table : DataFrame
        The feature table (:func:`~workbench.features.build_features`).
    sections : DataFrame
        Built and skipped sections with the reason (:func:`~workbench.features.feature_sections`).
    manifest : DataFrame
        Input tables read: table, file, format, rows, digest
        (:func:`workbench.canonical.manifest`).
    completed_revenue : float
        Completed revenue before ``as_of`` read straight from the orders table.
    source_kind : str
        The caller's label of the source (e.g. ``clean`` or ``raw``).
    read_from : str
        Where the engine read the tables (folder, URI or ``pandas frames``).
    engine : str
        The engine that ran the scans (``duckdb`` or ``spark``).
    notes : list of str
        What was derived or defaulted while opening the source.
    written : list of str
        What the engine wrote (``features_uri``), if anything.
    """

    table: pd.DataFrame
    sections: pd.DataFrame
    manifest: pd.DataFrame
    completed_revenue: float
    source_kind: str
    read_from: str
    engine: str
    notes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    @property
    def input_line(self) -> str:
        """One line saying what was read, from where and on which engine."""
        return f"input: {self.source_kind} — {self.read_from} (engine {self.engine})"

    def reconciliation_table(self, currency: str = "") -> Any:
        """:meth:`reconciliation` as one formatted row for a report (money with cents,
        the uniqueness check as yes/no): a :func:`workbench.display.table` Styler."""
        check = self.reconciliation()
        frame = check.to_frame().T.astype({"customers unique": "bool"})
        money = dict.fromkeys(check.index[:2], "money")
        return display.table(frame, kinds={**money, "customers unique": "bool"}, currency=currency)

    def reconciliation(self) -> pd.Series:
        """Completed revenue against the sum of ``monetary_total``, and unique customers."""
        return pd.Series(
            {
                "completed revenue (orders table)": self.completed_revenue,
                "sum of monetary_total (features)": round(
                    float(self.table["monetary_total"].sum()), 2
                ),
                "customers unique": bool(self.table["customer_id"].is_unique),
            }
        )


def input_manifest(source: object, tables: Sequence[str] = FEATURE_TABLES) -> pd.DataFrame:
    """The input files of ``source`` (:func:`workbench.canonical.manifest`): a folder, a URI
    or the loader's tables; empty (same columns) for frames or tables already opened."""
    if isinstance(source, str | Path | LoadedData):
        return manifest(source, tables)
    return pd.DataFrame(columns=["table", "file", "format", "rows", "digest"])


def run(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    params: FeatureParams | None = None,
    *,
    source_kind: str = "",
) -> FeatureRun:
    """Build the feature table of ``source`` as of ``as_of`` on the engine of ``params``.

    Parameters
    ----------
    source : folder, URI, LoadedData or mapping of frames
        The canonical tables (anything :func:`workbench.canonical.open_tables` accepts;
        a URI is read by the engine, so it needs ``engine="spark"`` unless it is a local
        ``file://`` folder DuckDB can read).
    as_of : Timestamp
        The cut-off, a UTC midnight (:func:`workbench.schema.parse_as_of`).
    params : FeatureParams, optional
        Thresholds and windows, and where to run: ``engine``, ``spark_master`` and
        ``features_uri`` (``source_uri`` is the caller's choice of ``source``).
    source_kind : str, optional
        A label of the source for the report (e.g. ``clean`` or ``raw``).

    Returns
    -------
    FeatureRun

    Examples
    --------
    >>> built = run("data/raw", parse_as_of("2026-06-30"), FeatureParams())  # doctest: +SKIP
    >>> built.table.shape, built.reconciliation()                            # doctest: +SKIP
    """
    params = params or FeatureParams()
    check_as_of(as_of, "features.run")
    with engines.engine_session(params.engine, master=params.spark_master or None) as con:
        inputs = open_tables(source, con=con, tables=FEATURE_TABLES)
        inputs_manifest = input_manifest(source, list(inputs.tables))
        sections = feature_sections(inputs, params=params)
        table = build_features(inputs, as_of, params=params)
        revenue = completed_revenue(inputs, as_of, params=params)
        written = []
        if params.features_uri:
            written.append(engines.write_parquet(table, params.features_uri, con))
            log.info("features: the engine wrote %s", written[-1])
        engine = engines.engine_of(con)
    return FeatureRun(
        table=table,
        sections=sections,
        manifest=inputs_manifest,
        completed_revenue=revenue,
        source_kind=source_kind,
        read_from=inputs.source,
        engine=engine,
        notes=list(inputs.notes),
        written=written,
    )
