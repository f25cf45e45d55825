"""What the audit returns: :class:`AuditResult` (findings, rows, duplicates, repairs, the
summary written as ``audit.json``), :class:`AuditError` and :func:`mask_email` (the only
form in which an e-mail address leaves the audit).

Both the pandas audit (:mod:`workbench.audit.core`) and the audit on an engine
(:mod:`workbench.audit.engine`) return an :class:`AuditResult`, so the report
(:mod:`workbench.audit.report`) works on either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.audit.duplicates import DuplicateResult
from workbench.audit.money import Revenue
from workbench.audit.params import AuditConfig
from workbench.audit.rules import Finding
from workbench.loading import Repair
from workbench.schema import TABLES

__all__ = ["AuditError", "AuditResult", "mask_email"]


class AuditError(ValueError):
    """The tables cannot be audited as given; the message names the table and column."""


@dataclass
class AuditResult:
    """Everything the audit found and produced.

    Attributes
    ----------
    as_of : pandas.Timestamp
        The run's cut-off (timestamps at or after it are in the future).
    config : AuditConfig
        The parameters used.
    findings : list of Finding
        One per (table, rule, column) checked, skipped ones included.
    clean, quarantine : dict of str -> pandas.DataFrame
        The clean tables (canonical columns, repaired ids and statuses, re-pointed
        customers, flag columns) and the quarantined rows (their original columns plus
        ``rule, severity, reason``). ``clean`` stays empty for ``run_audit(keep_clean=False)``.
    rows : pandas.DataFrame
        Per table: ``rows_in, rows_clean, rows_quarantined, rows_after_as_of, rows_flagged,
        rows_passing`` (rows in = clean + quarantined + set aside after ``as_of``).
    duplicates : DuplicateResult or None
        The duplicate-customer search (None when it did not run).
    repairs : list of Repair
        The loader's and the audit's counted repairs.
    missingness : pandas.DataFrame
        Share of blank values per table and canonical column (input rows).
    freshness : pandas.DataFrame
        Newest row before ``as_of`` per table and its age in days.
    amount_limits : dict
        Outlier limits of order amounts (see ``outlier_thresholds``).
    amounts : pandas.Series
        Positive amounts of orders without errors (for the distribution figure).
    examples : pandas.DataFrame
        A few failing rows per rule: ids, masked e-mail, reason (no names, no raw e-mails).
    seconds : float
        Wall time of the audit.
    after_as_of : dict of str -> pandas.DataFrame
        Rows set aside at or after ``as_of`` (not audited; written to ``after_as_of/``);
        empty for the audit on an engine, which writes them directly.
    revenue : Revenue or None
        Revenue of the orders as loaded and where it went (clean, quarantined, after
        ``as_of``).
    future_limits : dict of str -> pandas.Timestamp
        Per table: timestamps at or after it are in the future (``future_timestamp``).
    """

    as_of: pd.Timestamp
    config: AuditConfig
    findings: list[Finding]
    clean: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    rows: pd.DataFrame
    duplicates: DuplicateResult | None
    repairs: list[Repair]
    missingness: pd.DataFrame
    freshness: pd.DataFrame
    amount_limits: dict[str, float]
    amounts: pd.Series
    examples: pd.DataFrame
    seconds: float = 0.0
    written: dict[str, str] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)
    after_as_of: dict[str, pd.DataFrame] = field(default_factory=dict)
    revenue: Revenue | None = None
    future_limits: dict[str, pd.Timestamp] = field(default_factory=dict)
    _builder: Any = field(default=None, repr=False)

    def clean_table(self, table: str) -> pd.DataFrame:
        """The clean ``table``: from ``clean`` or, for ``audit_tables(build_clean=False)``,
        built now (one table at a time keeps the memory of large runs down)."""
        if table in self.clean:
            return self.clean[table]
        if self._builder is None or table not in self._builder.tables:
            raise KeyError(f"no clean table {table!r} in this audit result")
        return self._builder.clean_rows(table)

    @property
    def has_clean_tables(self) -> bool:
        """True when the clean tables can still be had (kept, or buildable one by one)."""
        return bool(self.clean) or self._builder is not None

    def clean_pieces(self, table: str) -> Iterable[pd.DataFrame]:
        """The clean ``table`` in pieces for writing: the kept frame, or built a few million
        rows at a time."""
        if table in self.clean:
            return [self.clean[table]]
        if self._builder is None or table not in self._builder.tables:
            raise AuditError(f"no clean table {table!r} in this audit result")
        return self._builder.clean_chunks(table)

    @property
    def tables(self) -> list[str]:
        """The audited tables, in canonical order."""
        return list(self.rows["table"])

    @property
    def merge_map(self) -> pd.DataFrame:
        """``duplicate_id, surviving_id, score, cluster_id`` (empty when nothing merged)."""
        if self.duplicates is None:
            return pd.DataFrame(columns=["duplicate_id", "surviving_id", "score", "cluster_id"])
        return self.duplicates.merge_map

    def rules(self) -> pd.DataFrame:
        """One row per table, rule and column: severity, status, failing rows, note."""
        rows = [
            {
                "table": f.table,
                "rule": f.rule,
                "severity": f.severity,
                "column": f.column,
                "status": f.status,
                "failing_rows": f.failing_rows,
                "note": f.skipped or f.note,
            }
            for f in self.findings
        ]
        frame = pd.DataFrame(rows)
        order = {s: i for i, s in enumerate(("error", "warning", "info"))}
        frame["_sev"] = frame["severity"].map(order)
        frame["_table"] = frame["table"].map({t: i for i, t in enumerate(TABLES)})
        frame = frame.sort_values(["_table", "_sev", "rule", "column"], kind="stable")
        return frame.drop(columns=["_sev", "_table"]).reset_index(drop=True)

    def scorecard(self) -> pd.DataFrame:
        """Per table: rows in/clean/quarantined/after as_of/flagged, failing rules and the
        quality score.

        ``quality_score`` = 100 × share of the audited rows (input rows less those set aside
        after ``as_of``) that pass every error and warning rule (info rules, such as missing
        optional values, do not count).
        """
        rules = self.rules()
        failed = rules[rules["status"] == "failed"]
        errors = failed[failed["severity"] == "error"].groupby("table").size()
        warnings = failed[failed["severity"] == "warning"].groupby("table").size()
        card = self.rows.copy()
        if "rows_after_as_of" not in card:
            card.insert(4, "rows_after_as_of", 0)
        card["error_rules_failed"] = card["table"].map(errors).fillna(0).astype(int)
        card["warning_rules_failed"] = card["table"].map(warnings).fillna(0).astype(int)
        audited = card["rows_in"] - card["rows_after_as_of"]
        card["quality_score"] = np.where(
            audited > 0, 100.0 * card["rows_passing"] / audited.clip(lower=1), 100.0
        ).round(2)
        return card

    def summary(self) -> dict[str, Any]:
        """The content of ``audit.json``."""
        card = self.scorecard()
        tables = {
            row.table: {
                "rows_in": int(row.rows_in),
                "rows_clean": int(row.rows_clean),
                "rows_quarantined": int(row.rows_quarantined),
                "rows_after_as_of": int(row.rows_after_as_of),
                "rows_flagged": int(row.rows_flagged),
                "quality_score": float(row.quality_score),
            }
            for row in card.itertuples()
        }
        rules = self.rules()
        dup = self.duplicates
        errors = rules[(rules["severity"] == "error") & (rules["status"] == "failed")]
        return {
            "as_of": str(self.as_of.date()),
            "tables": tables,
            "rules": [
                {
                    "table": r.table,
                    "rule": r.rule,
                    "severity": r.severity,
                    "column": r.column if isinstance(r.column, str) else None,
                    "status": r.status,
                    "failing_rows": int(r.failing_rows),
                }
                for r in rules.itertuples()
            ],
            "duplicates": {
                "candidate_pairs": 0 if dup is None else len(dup.pairs),
                "pairs": 0 if dup is None else dup.matched_pairs,
                "clusters": 0 if dup is None else dup.clusters,
                "customers_merged": 0 if dup is None else len(dup.merge_map),
                "skipped_blocks": 0 if dup is None else dup.skipped_blocks,
                "threshold": self.config.duplicate_threshold,
            },
            "quality_score": round(float(card["quality_score"].mean()), 2) if len(card) else None,
            "rows_in": int(card["rows_in"].sum()),
            "rows_quarantined": int(card["rows_quarantined"].sum()),
            "rows_after_as_of": int(card["rows_after_as_of"].sum()),
            "error_rules_failed": int(len(errors)),
            "reconciled": bool(
                (
                    card["rows_in"]
                    == card["rows_clean"] + card["rows_quarantined"] + card["rows_after_as_of"]
                ).all()
            ),
            "revenue": None if self.revenue is None else self.revenue.as_dict(),
            "future_limits": {
                t: limit.isoformat() for t, limit in sorted(self.future_limits.items())
            },
            "amount_limits": {
                k: round(v, 2) for k, v in self.amount_limits.items() if np.isfinite(v)
            },
            "freshness": {
                r.table: None
                if r.age_days is None or pd.isna(r.age_days)
                else round(float(r.age_days), 1)
                for r in self.freshness.itertuples()
            },
            "repairs": [str(r) for r in self.repairs],
            "config": asdict(self.config),
            "seconds": round(self.seconds, 2),
        }


def mask_email(emails: pd.Series) -> pd.Series:
    """Addresses masked for reports: first character, ``***`` and the domain.

    Examples
    --------
    >>> mask_email(pd.Series(["john.doe@example.com", " Ann@x.org", "broken", None])).tolist()
    ['j***@example.com', 'a***@x.org', 'b***', nan]
    """
    text = pd.Series(emails, dtype="str").str.strip().str.lower()
    blank = text.isna() | (text == "")
    if blank.all():
        return pd.Series(np.nan, index=text.index, dtype="str")
    domain = text.str.split("@").str[-1].where(text.str.contains("@", regex=False), "")
    masked = text.str[:1] + "***" + ("@" + domain).where(domain != "", "")
    return masked.mask(blank, np.nan)
