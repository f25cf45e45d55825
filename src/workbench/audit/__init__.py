"""Stage 01: the data audit — rules, duplicate customers, clean tables and a quarantine.

The audit tells the user what is wrong with their data, repairs only what it can repair
safely (ids that differ only by case, cancellation invoices without a status, duplicate
customer accounts), and hands clean tables to the later stages without losing a row:
every input row is either in ``data/interim/clean/<table>.parquet`` or in
``data/interim/quarantine/<table>.parquet`` with the rule it broke and a readable reason.

* :mod:`workbench.audit.rules` — the named rules (:data:`RULES`, severity error /
  warning / info) and the vectorised checks;
* :mod:`workbench.audit.duplicates` — normalised e-mails, blocking, rapidfuzz scores,
  clusters and the merge map (survivor: earliest ``signup_at``, then smallest id);
* :mod:`workbench.audit.core` — :func:`audit_tables`, :func:`validate_tables`,
  :func:`write_audit` and :func:`run_audit`;
* :mod:`workbench.audit.report` — the scorecard, figures and the "fix at the source" list.

Examples
--------
>>> from workbench.audit import run_audit                       # doctest: +SKIP
>>> result = run_audit("data/raw", "2026-06-30")                # doctest: +SKIP
>>> result.scorecard()                                          # doctest: +SKIP
"""

from workbench.audit.core import (
    MERGE_MAP_FILE,
    AuditConfig,
    AuditError,
    AuditResult,
    audit_tables,
    mask_email,
    run_audit,
    validate_tables,
    write_audit,
)
from workbench.audit.duplicates import (
    DuplicateResult,
    duplicate_metrics,
    find_duplicates,
    normalise_email,
)
from workbench.audit.rules import RULES, Finding, Rule, outlier_thresholds, rule_table

__all__ = [
    "MERGE_MAP_FILE",
    "RULES",
    "AuditConfig",
    "AuditError",
    "AuditResult",
    "DuplicateResult",
    "Finding",
    "Rule",
    "audit_tables",
    "duplicate_metrics",
    "find_duplicates",
    "mask_email",
    "normalise_email",
    "outlier_thresholds",
    "rule_table",
    "run_audit",
    "validate_tables",
    "write_audit",
]
