"""What the pandas audit keeps of each table once its rules ran: :class:`AuditOutputs`.

Rows set aside after ``as_of`` are kept as they are (:mod:`workbench.audit.timeline`).
Rows with an error go to the quarantine (once, with every rule and reason joined by
``"; "``), the others to the clean table with the repaired columns and a boolean column
per warning (:attr:`workbench.audit.rules.Rule.flag`); counts, blanks and a few examples
per rule are kept for the report. A table can be finalised and released one at a time, so
a large source never holds all its tables and their copies at once.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.audit.auditor import Auditor
from workbench.audit.money import Revenue, revenue_of
from workbench.audit.result import AuditResult, mask_email
from workbench.audit.rules import RULES
from workbench.loading import Repair
from workbench.schema import TABLES, table_spec

__all__ = ["AuditOutputs", "release_memory"]

log = logging.getLogger(__name__)

_QUARANTINE_COLUMNS = ("rule", "severity", "reason")
_EXAMPLES_PER_RULE = 3
_CHUNK_ROWS = 2_000_000  # rows of a large table copied at a time when writing it
_EXAMPLE_COLUMNS = ["table", "rule", "severity", "row_key", "customer_id", "email", "reason"]


class AuditOutputs:
    """The quarantine, clean rows, counts and examples of each table of an :class:`Auditor`.

    Parameters
    ----------
    auditor : Auditor
        The tables and their findings (rules already run for the tables finalised here).
    """

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor
        self.kept: dict[str, dict[str, Any]] = {}  # per finalised table
        self.revenue: Revenue | None = None

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The auditor's tables (released ones are empty)."""
        return self.auditor.tables

    def quarantine_rows(self, table: str) -> pd.DataFrame:
        """The quarantined rows of ``table``: its columns plus ``rule, severity, reason``."""
        frame = self.auditor.tables[table]
        errors = self.auditor.errors_by_row(table)
        out = frame.iloc[errors["pos"].to_numpy(dtype=np.int64)].reset_index(drop=True)
        out["rule"] = pd.Series(errors["rule"].to_numpy(dtype=object), dtype="str")
        out["severity"] = pd.Series("error", index=out.index, dtype="str")
        out["reason"] = pd.Series(errors["reason"].to_numpy(dtype=object), dtype="str")
        return out[list(frame.columns) + list(_QUARANTINE_COLUMNS)]

    def clean_rows(self, table: str) -> pd.DataFrame:
        """The clean ``table``: rows without errors, repaired columns, flag columns."""
        return next(self.clean_chunks(table, rows=max(len(self.auditor.tables[table]), 1)))

    def clean_chunks(self, table: str, rows: int | None = None) -> Iterator[pd.DataFrame]:
        """The clean ``table`` in pieces of at most ``rows`` input rows (at least one piece),
        so a large table is never copied whole."""
        rows = rows or _CHUNK_ROWS
        frame = self.auditor.tables[table]
        if self.auditor.repaired[table]:
            frame = frame.assign(**self.auditor.repaired[table])
        keep = ~self.auditor.mask(table)
        flags = self.flags(table, frame)
        for start in range(0, max(len(frame), 1), rows):
            part = slice(start, start + rows)
            kept = keep[part]
            clean = frame.iloc[part].loc[kept]
            if flags:
                clean = clean.assign(**{k: v[part][kept] for k, v in flags.items()})
            yield clean.reset_index(drop=True)

    def flags(self, table: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Boolean flag columns of the warnings (and ``is_revenue`` for orders)."""
        flags: dict[str, np.ndarray] = {}
        for f in self.auditor.findings[table]:
            rule = RULES[f.rule]
            if rule.flag and not f.skipped and f.count is None:
                flag = flags.setdefault(rule.flag, np.zeros(len(frame), dtype=bool))
                flag[f.rows] = True
        for combined, parts in (
            ("is_outlier_amount", ("is_outlier_amount_iqr", "is_outlier_amount_z")),
            ("is_outlier_quantity", ("is_outlier_quantity_iqr", "is_outlier_quantity_z")),
        ):
            present = [flags[p] for p in parts if p in flags]
            if present:
                flags[combined] = np.logical_or.reduce(present)
        if table == "orders":
            revenue = (frame["status"] == "completed") & (frame["amount"] > 0)
            flags["is_revenue"] = revenue.fillna(False).to_numpy()
        return flags

    def finalise(self, table: str) -> None:
        """Compute what the result keeps of ``table`` (quarantine, counts, blanks, examples),
        so the table itself can be released afterwards."""
        frame = self.auditor.tables[table]
        errors = self.auditor.mask(table)
        warnings = self.auditor.mask(table, ("warning",))
        quarantine = self.quarantine_rows(table)
        after = self.auditor.after.get(table)
        n_after = 0 if after is None else len(after)
        if table == "orders":
            self.revenue = self._revenue(frame, errors, after)
        self.kept[table] = {
            "quarantine": quarantine,
            "after": after,
            "rows": {
                "table": table,
                "rows_in": len(frame) + n_after,
                "rows_clean": int((~errors).sum()),
                "rows_quarantined": len(quarantine),
                "rows_after_as_of": n_after,
                "rows_flagged": int((warnings & ~errors).sum()),
                "rows_passing": int((~errors & ~warnings).sum()),
            },
            "missing": _missingness(table, frame),
            "examples": self.examples(table),
        }

    def _revenue(
        self, frame: pd.DataFrame, errors: np.ndarray, after: pd.DataFrame | None
    ) -> Revenue:
        """Where the orders' revenue went (see :class:`workbench.audit.money.Revenue`)."""
        loaded = revenue_of(self.auditor.raw_amount, frame["status"])
        final = frame.assign(**self.auditor.repaired["orders"])
        clean = revenue_of(final["amount"], final["status"])
        later = 0.0 if after is None else float(revenue_of(after["amount"], after["status"]).sum())
        return Revenue(
            raw=float(loaded.sum()) + later,
            clean=float(clean[~errors].sum()),
            quarantined_orders=float(loaded[errors].sum()),
            quarantined_lines=float((loaded[~errors] - clean[~errors]).sum()),
            after_as_of=later,
        )

    def release(self, table: str) -> None:
        """Drop a finalised table and everything derived from it (large sources)."""
        self.auditor.tables[table] = self.auditor.tables[table].iloc[0:0]
        self.auditor.repaired[table] = {}
        self.auditor.after.pop(table, None)
        if table in self.kept:
            self.kept[table]["after"] = None  # written
        for key in [k for k in self.auditor.codes if k[0] == table]:
            del self.auditor.codes[key]
        release_memory()

    def examples(self, table: str) -> pd.DataFrame:
        """A few failing rows per rule of ``table``: ids, masked e-mail and the reason."""
        rows = []
        frame = self.auditor.tables[table]
        key = [c for c in table_spec(table).key if c in frame.columns and frame[c].notna().any()]
        for f in self.auditor.findings[table]:
            if not len(f.rows):
                continue
            take = f.rows[:_EXAMPLES_PER_RULE]
            reasons = f.reason_array()[:_EXAMPLES_PER_RULE]
            sub = frame.iloc[take]
            for i, (_, row) in enumerate(sub.iterrows()):
                rows.append(
                    {
                        "table": table,
                        "rule": f.rule,
                        "severity": f.severity,
                        "row_key": ", ".join(f"{c}={row[c]}" for c in key) or f"row {take[i] + 1}",
                        "customer_id": row["customer_id"]
                        if "customer_id" in frame.columns
                        else None,
                        "email": row["email"] if table == "customers" else None,
                        "reason": reasons[i],
                    }
                )
        out = pd.DataFrame(rows, columns=_EXAMPLE_COLUMNS)
        out["email"] = mask_email(out["email"])
        return out

    def result(
        self,
        repairs: list[Repair],
        *,
        clean: dict[str, pd.DataFrame],
        builder: AuditOutputs | None,
        sources: dict[str, dict],
        started: float,
    ) -> AuditResult:
        """The :class:`AuditResult` of the finalised tables (canonical order)."""
        order = [t for t in TABLES if t in self.kept]
        findings = [f for t in order for f in self.auditor.findings[t]]
        if self.auditor.errors_only:
            findings = [f for f in findings if f.severity == "error"]
        result = AuditResult(
            as_of=self.auditor.as_of,
            config=self.auditor.config,
            findings=findings,
            clean=clean,
            quarantine={t: self.kept[t]["quarantine"] for t in order},
            after_as_of={
                t: self.kept[t]["after"] for t in order if self.kept[t]["after"] is not None
            },
            rows=pd.DataFrame([self.kept[t]["rows"] for t in order]),
            duplicates=self.auditor.duplicates,
            repairs=repairs + self.auditor.repairs,
            missingness=pd.concat([self.kept[t]["missing"] for t in order], ignore_index=True),
            freshness=pd.DataFrame(
                self.auditor.freshness, columns=["table", "last", "age_days", "stale"]
            ),
            amount_limits=self.auditor.amount_limits,
            amounts=self.auditor.amounts,
            examples=pd.concat(
                [self.kept[t]["examples"] for t in order if len(self.kept[t]["examples"])]
                or [pd.DataFrame(columns=_EXAMPLE_COLUMNS)],
                ignore_index=True,
            ),
            sources=sources,
            revenue=self.revenue,
            future_limits=dict(self.auditor.limits),
            _builder=builder,
        )
        result.seconds = time.perf_counter() - started
        for repair in self.auditor.repairs:
            log.info("audit repair: %s", repair)
        log.info(
            "audit: %s rows in, %s quarantined, %s error rule(s) failed (%.1f s)",
            f"{int(result.rows['rows_in'].sum()):,}",
            f"{int(result.rows['rows_quarantined'].sum()):,}",
            sum(f.severity == "error" and f.status == "failed" for f in findings),
            result.seconds,
        )
        return result


def release_memory() -> None:
    """Return freed memory to the system (Arrow's allocator keeps it otherwise)."""
    gc.collect()
    pa.default_memory_pool().release_unused()


def _missingness(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for column in table_spec(table).columns:
        blank = int(frame[column].isna().sum())
        rows.append(
            {
                "table": table,
                "column": column,
                "missing": blank,
                "missing_share": blank / max(len(frame), 1),
            }
        )
    return pd.DataFrame(rows)
