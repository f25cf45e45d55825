"""Writing the pandas audit's outputs where the catalog says they live.

Clean tables go to the catalog's ``clean`` folder, quarantined rows to ``quarantine``,
rows set aside at or after ``as_of`` to ``after_as_of`` (one ``<table>.parquet`` each; the
last only for tables with a time column, and order lines) and the merge map to the
catalog entry ``merge_map``. The
folders' stamps are removed first and written last, so a later stage never reads a
half-written folder as complete. :data:`MERGE_MAP_FILE` is the merge map's file name
(from the catalog) for writers outside the data tree (the audit on an engine).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench import catalog
from workbench.audit.result import AuditError, AuditResult
from workbench.audit.timeline import AFTER_TABLES
from workbench.schema import TABLES
from workbench.settings import Settings

__all__ = ["MERGE_MAP_FILE", "Writer", "default_stamp", "write_audit"]

log = logging.getLogger(__name__)

#: File name of the merge map (the catalog entry ``merge_map``).
MERGE_MAP_FILE = PurePosixPath(catalog.entry("merge_map").path).name


class Writer:
    """Writes one table at a time; the folders' stamps are removed first and written last.

    Parameters
    ----------
    settings : Settings
        The data tree (the catalog places the outputs in it).
    stamp : catalog.Stamp
        The stamp of every output.
    """

    def __init__(self, settings: Settings, stamp: catalog.Stamp) -> None:
        self.settings = settings
        self.stamp = stamp
        self.clean_dir = catalog.location(settings, "clean")
        self.quarantine_dir = catalog.location(settings, "quarantine")
        self.after_dir = catalog.location(settings, "after_as_of")
        self.written: dict[str, str] = {}
        for folder in (self.clean_dir, self.quarantine_dir, self.after_dir):
            folder.mkdir(parents=True, exist_ok=True)
            catalog.remove_folder_stamp(folder)

    def table(
        self,
        table: str,
        clean: Iterable[pd.DataFrame],
        quarantine: pd.DataFrame,
        after: pd.DataFrame | None = None,
    ) -> None:
        """Write the clean table (given in pieces), the quarantined rows and the rows set
        aside after ``as_of`` (tables of :data:`~workbench.audit.timeline.AFTER_TABLES`)."""
        path = self.clean_dir / f"{table}.parquet"
        writer = None
        try:
            for piece in clean:
                with warnings.catch_warnings():  # pyarrow reads tz-aware .values (as to_parquet)
                    warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
                    arrow = pa.Table.from_pandas(piece, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, arrow.schema)
                writer.write_table(arrow.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
        self.written[f"clean/{table}"] = str(path)
        path = self.quarantine_dir / f"{table}.parquet"
        quarantine.to_parquet(path, index=False)
        self.written[f"quarantine/{table}"] = str(path)
        if table in AFTER_TABLES and after is not None:
            path = self.after_dir / f"{table}.parquet"
            after.to_parquet(path, index=False)
            self.written[f"after_as_of/{table}"] = str(path)

    def finish(self, tables: list[str], merge_map: pd.DataFrame) -> dict[str, str]:
        """Remove other tables' files, write the merge map, then the folders' stamps."""
        for table in TABLES:  # a table this source does not have must not linger
            if table not in tables:
                (self.clean_dir / f"{table}.parquet").unlink(missing_ok=True)
                (self.quarantine_dir / f"{table}.parquet").unlink(missing_ok=True)
            if table not in tables or table not in AFTER_TABLES:
                (self.after_dir / f"{table}.parquet").unlink(missing_ok=True)
        merge_path = catalog.write_table(self.settings, "merge_map", merge_map, self.stamp)[0]
        self.written["merge_map"] = str(merge_path)
        catalog.write_folder_stamp(self.quarantine_dir, self.stamp)
        catalog.write_folder_stamp(self.after_dir, self.stamp)
        stamp = catalog.write_folder_stamp(self.clean_dir, self.stamp)
        self.written["stamp"] = str(stamp)
        log.info("audit: clean tables in %s, quarantine in %s", self.clean_dir,
                 self.quarantine_dir)  # fmt: skip
        return self.written


def default_stamp(source: str | Path, as_of: pd.Timestamp) -> catalog.Stamp:
    """The stamp of an audit run outside a stage (a script or a test)."""
    return catalog.Stamp("audit", as_of, catalog.fingerprint(source))


def write_audit(
    result: AuditResult,
    settings: Settings,
    source: str | Path,
    *,
    stamp: catalog.Stamp | None = None,
) -> dict[str, str]:
    """Write the clean tables, the quarantine and the merge map; stamp the source last.

    Clean tables go to the catalog's ``clean`` folder (``interim/clean/<table>.parquet``),
    quarantined rows to ``quarantine`` (one file per audited table, empty when nothing was
    quarantined) and the merge map to ``merge_map`` (``interim/merge_map.parquet``).
    The old stamps are removed first and the new ones (``stamp``, default: made from
    ``source`` and the result's ``as_of``) written last, so later stages only read clean
    tables that are complete; files of tables this source does not have are removed so
    they cannot be mistaken for its own.

    Returns
    -------
    dict
        What was written: name -> path.
    """
    if not result.has_clean_tables:
        raise AuditError(
            "this audit result has no clean tables to write (errors_only, or already released)"
        )
    writer = Writer(settings, stamp or default_stamp(source, result.as_of))
    for table in result.tables:
        writer.table(
            table,
            result.clean_pieces(table),
            result.quarantine[table],
            result.after_as_of.get(table),
        )
    result.written = writer.finish(result.tables, result.merge_map)
    return result.written
