"""Stage 01: the data audit — rules, duplicate customers, clean tables and a quarantine.

The audit tells the user what is wrong with their data, repairs only what it can repair
safely (ids that differ only by case, cancellation invoices without a status, duplicate
customer accounts), and hands clean tables to the later stages without losing a row:
every input row is in ``data/interim/clean/<table>.parquet``, in
``data/interim/quarantine/<table>.parquet`` with the rule it broke and a readable reason,
or — dated at or after ``as_of`` — set aside in ``data/interim/after_as_of/``.

The stage's entry point is :func:`run` (:mod:`workbench.audit.entry`) with
:class:`AuditParams`: on DuckDB by default (every rule as queries, memory bounded), on
pandas frames in memory, or on Spark. Rows at or after ``as_of`` are set aside in
``data/interim/after_as_of/`` (not audited); :func:`headline` is the stage's headline.

* :mod:`workbench.audit.params` — :class:`AuditParams` (the stage's parameters) and
  :class:`AuditConfig` (the rules' thresholds);
* :mod:`workbench.audit.rules` — the named rules (:data:`RULES`, severity error /
  warning / info) and :class:`Finding`;
* :mod:`workbench.audit.checks` — the vectorised checks behind the rules;
* :mod:`workbench.audit.duplicates` — normalised e-mails, blocking, rapidfuzz scores,
  clusters and the merge map (survivor: earliest ``signup_at``, then smallest id);
* :mod:`workbench.audit.timeline` — rows before, after ``as_of`` (set aside) and in the
  future (the data's extract date);
* :mod:`workbench.audit.money` — non-finite numbers, amounts from clean lines, revenue
  reconciled;
* :mod:`workbench.audit.auditor` — the pandas audit's rules, table by table;
* :mod:`workbench.audit.outputs` — quarantine, clean rows, counts and examples per table;
* :mod:`workbench.audit.core` — :func:`audit_tables`, :func:`validate_tables` and
  :func:`run_audit` (the pandas audit);
* :mod:`workbench.audit.writer` — :func:`write_audit` (outputs where the catalog says);
* :mod:`workbench.audit.result` — :class:`AuditResult`, :class:`AuditError`,
  :func:`mask_email`;
* :mod:`workbench.audit.scans` — the scans as Ibis expressions (:func:`run_scans`);
* :mod:`workbench.audit.engine_rules` — the same rules as Ibis expressions;
* :mod:`workbench.audit.engine` — the audit on an engine (:func:`audit_on_engine`: DuckDB,
  the stage's default, or Spark);
* :mod:`workbench.audit.report` — the scorecard, figures and the "fix at the source" list.

Examples
--------
>>> from workbench.audit import AuditParams, run                         # doctest: +SKIP
>>> result = run("data/raw", parse_as_of("2026-06-30"), AuditParams(),
...              settings=settings, stamp=stamp)                         # doctest: +SKIP
>>> result.scorecard()                                                   # doctest: +SKIP
"""

from workbench.audit.checks import outlier_thresholds
from workbench.audit.core import audit_tables, run_audit, validate_tables
from workbench.audit.duplicates import (
    DuplicateResult,
    duplicate_metrics,
    find_duplicates,
    normalise_email,
)
from workbench.audit.engine import NOT_ON_ENGINE, audit_on_engine
from workbench.audit.entry import run
from workbench.audit.headline import headline
from workbench.audit.params import AUDIT_ENGINES, AuditConfig, AuditParams
from workbench.audit.result import AuditError, AuditResult, mask_email
from workbench.audit.rules import RULES, Finding, Rule, rule_table
from workbench.audit.scans import ScanResult, run_scans
from workbench.audit.writer import MERGE_MAP_FILE, write_audit

__all__ = [
    "AUDIT_ENGINES",
    "MERGE_MAP_FILE",
    "NOT_ON_ENGINE",
    "RULES",
    "AuditConfig",
    "AuditError",
    "AuditParams",
    "AuditResult",
    "DuplicateResult",
    "Finding",
    "Rule",
    "ScanResult",
    "audit_on_engine",
    "audit_tables",
    "duplicate_metrics",
    "find_duplicates",
    "headline",
    "mask_email",
    "normalise_email",
    "outlier_thresholds",
    "rule_table",
    "run",
    "run_audit",
    "run_scans",
    "validate_tables",
    "write_audit",
]
