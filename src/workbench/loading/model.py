"""What the loader returns and the vocabulary every part of it shares.

:class:`LoadedData` (the canonical tables of one source, where they came from and what
was repaired), :class:`SourceInfo`, :class:`Repair` (a counted change) and
:class:`LoadError` (a source that cannot be read, with a message naming the file, table
and column), plus the names of mapping files and the extra columns a mapping may name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench.schema import TABLES

__all__ = [
    "AMBIGUOUS_TIMES",
    "ENV_ALLOW_OUTSIDE",
    "EXTRA_COLUMNS",
    "MAPPING_FILE_NAMES",
    "LoadError",
    "LoadedData",
    "Repair",
    "SourceInfo",
]

#: File names of a mapping file picked up from a data folder.
MAPPING_FILE_NAMES = ("mapping.yml", "mapping.yaml")
#: How a local time that occurs twice (the clock going back) is read: its first occurrence
#: (``earliest``, daylight-saving time), its second (``latest``), or refused (``error``).
AMBIGUOUS_TIMES = ("earliest", "latest", "error")
#: Environment variable that lets a mapping name files outside its data folder
#: (``workbench run --allow-outside-data`` sets it for the stage kernels).
ENV_ALLOW_OUTSIDE = "WORKBENCH_ALLOW_OUTSIDE_DATA"
#: Columns a source may map beyond the canonical ones: line-level exports carry the order's
#: customer, date and status on every line (they become an orders table), and country,
#: product name and category (they become customer and product attributes).
EXTRA_COLUMNS = {
    "order_items": ("customer_id", "ordered_at", "status", "country", "name", "category"),
    "orders": ("country",),
}


class LoadError(ValueError):
    """A source cannot be read as the canonical tables; the message says where and why."""


@dataclass(frozen=True)
class Repair:
    """A change the loader made to the data, counted so nothing changes silently."""

    table: str
    column: str | None
    action: str
    rows: int

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.action} ({self.rows:,} rows)"


@dataclass(frozen=True)
class SourceInfo:
    """Where a canonical table came from."""

    table: str
    path: str
    format: str
    rows: int
    digest: str
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source column


@dataclass
class LoadedData:
    """The canonical tables of one source, with where they came from and what was repaired."""

    tables: dict[str, pd.DataFrame]
    sources: dict[str, SourceInfo]
    repairs: list[Repair]
    source: str

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def digests(self) -> dict[str, str]:
        """Table -> digest of the file it was read from."""
        return {name: info.digest for name, info in self.sources.items()}

    def summary(self) -> pd.DataFrame:
        """One row per canonical table: rows, columns, source file and format."""
        rows = []
        for name in TABLES:
            info = self.sources.get(name)
            frame = self.tables.get(name)
            rows.append(
                {
                    "table": name,
                    "present": frame is not None,
                    "rows": 0 if frame is None else len(frame),
                    "source": None if info is None else Path(info.path).name,
                    "format": None if info is None else info.format,
                }
            )
        return pd.DataFrame(rows)
