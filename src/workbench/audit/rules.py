"""The audit's rules: a registry of named checks, and what a check finds.

Every rule has a name, a severity and a plain-language fix (see :data:`RULES`):

* **error** — the row cannot be used as it is; it goes to the quarantine with the rule
  and a readable reason (nothing is dropped silently);
* **warning** — the row stays in the clean table with a boolean flag column
  (``is_outlier_amount`` …) and counts against the table's quality score;
* **info** — counted and reported (missing optional values, cancellations) but neither
  quarantined nor counted against the quality score. ``after_as_of`` is one of them: rows
  at or after the run's cut-off are set aside, not audited (see
  :mod:`workbench.audit.timeline`).

A check (:mod:`workbench.audit.checks`) returns :class:`Finding` objects: the positions
of the failing rows and a reason per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "SEVERITIES",
    "Rule",
    "RULES",
    "Finding",
    "rule_table",
]

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    """A named check.

    Attributes
    ----------
    name : str
        Identifier used in the quarantine, ``audit.json`` and the report.
    severity : str
        ``error`` (quarantined), ``warning`` (flagged) or ``info`` (counted).
    description : str
        What the rule checks.
    fix : str
        What to fix at the source when the rule fails.
    flag : str or None
        Boolean column added to the clean table for failing rows (warnings).
    """

    name: str
    severity: str
    description: str
    fix: str
    flag: str | None = None


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("schema", "error", "columns present with the declared types (pandera)",
             "export the table with the canonical columns and types, or map them in mapping.yml"),
        Rule("missing_required", "error", "a required column is blank",
             "fill the required column in the export (rows without it cannot be used)"),
        Rule("invalid_value", "error", "a category (status, event type) outside the allowed values",
             "map the source's own labels onto the allowed ones in mapping.yml (values:)"),
        Rule("duplicate_row", "error", "exact copy of an earlier row (the first copy is kept)",
             "deduplicate the export; repeated rows double-count orders and events"),
        Rule("duplicate_key", "error", "key repeated with different values (the first row is kept)",
             "make the key unique at the source; conflicting versions of a row are ambiguous"),
        Rule("duplicate_customer", "error",
             "the same person as another customer id (merged into the surviving id)",
             "match returning customers to their existing account at sign-up (e-mail, name)"),
        Rule("unknown_customer", "error", "customer_id not in the customers table",
             "export every customer the other tables reference, deleted accounts included"),
        Rule("unknown_order", "error", "order_id not in the orders table",
             "export order lines together with their orders"),
        Rule("unknown_product", "error", "product_id not in the products table",
             "export the full product catalogue, discontinued products included"),
        Rule("order_quarantined", "error", "line of an order that was quarantined",
             "fix the order itself (see the orders rules)"),
        Rule("non_finite", "error", "a number that is not finite (inf, -inf) in a numeric column",
             "export finite numbers; infinity usually comes from a division by zero or an "
             "overflow upstream"),
        Rule("future_timestamp", "error",
             "timestamp after the data's extract date or the run date (in the future)",
             "check clocks and time zones of the system that writes these timestamps"),
        Rule("lines_quarantined", "error",
             "order derived from order lines whose every line was quarantined",
             "fix the order's lines (see the order_items rules)"),
        Rule("negative_quantity", "error", "negative quantity on a line of a completed order",
             "record returns as returns (status) instead of negative lines of a sale"),
        Rule("zero_quantity", "error", "order line with quantity 0",
             "drop empty lines from the export"),
        Rule("negative_price", "error", "order line with a negative unit price",
             "record discounts and write-offs outside the order lines"),
        Rule("conflicting_assignment", "error",
             "customer assigned to more than one variant of an experiment",
             "assign each customer (and each person's accounts) to one variant only"),
        Rule("invalid_email", "warning", "e-mail address that is not syntactically valid",
             "validate e-mail addresses in the sign-up form", "is_invalid_email"),
        Rule("future_signup", "warning",
             "signup_at after the data's extract date or the run date (in the future)",
             "check the time zone and clock of the sign-up system", "is_future_signup"),
        Rule("implausible_birth_date", "warning", "birth date after as_of or more than 120 years ago",
             "validate birth dates at entry; avoid placeholder dates", "is_implausible_birth_date"),
        Rule("before_signup", "warning", "activity dated before the customer's signup_at",
             "check how signup_at is set (guest checkouts, migrated accounts)", "is_before_signup"),
        Rule("negative_amount", "warning",
             "completed order with a negative amount (labelled cancelled, not revenue)",
             "export cancellations and refunds with their status", "is_negative_amount"),
        Rule("zero_amount", "warning", "order with amount 0",
             "check free orders and test transactions at the source", "is_zero_amount"),
        Rule("zero_price", "warning", "order line with unit price 0",
             "mark free items and samples explicitly", "is_zero_price"),
        Rule("amount_outlier_iqr", "warning", "order amount outside the IQR fences (log scale)",
             "check very large or very small order amounts (typos, test orders, B2B)",
             "is_outlier_amount_iqr"),
        Rule("amount_outlier_robust_z", "warning",
             "order amount with a large robust z-score (median/MAD, log scale)",
             "check very large or very small order amounts (typos, test orders, B2B)",
             "is_outlier_amount_z"),
        Rule("quantity_outlier_iqr", "warning", "line quantity outside the IQR fences (log scale)",
             "check very large quantities (typos, wholesale orders)", "is_outlier_quantity_iqr"),
        Rule("quantity_outlier_robust_z", "warning",
             "line quantity with a large robust z-score (log scale)",
             "check very large quantities (typos, wholesale orders)", "is_outlier_quantity_z"),
        Rule("stale_table", "warning", "newest row older than the freshness limit before as_of",
             "check that the export is complete and recent"),
        Rule("after_as_of", "info",
             "row at or after as_of: set aside for later runs (after_as_of), not audited now",
             "nothing to fix: these rows are valid data after the run's cut-off"),
        Rule("missing_value", "info", "an optional column is blank",
             "fill the column at the source where it matters for personalisation"),
        Rule("cancelled_or_returned", "info", "cancelled or returned order (kept, not revenue)",
             "nothing to fix: cancellations are kept and excluded from revenue"),
        Rule("cancellation_line", "info", "negative quantity on a line of a cancelled/returned order",
             "nothing to fix: cancellation lines are kept"),
        Rule("amount_mismatch", "info",
             "order amount differs from the sum of its clean lines (quarantined lines left out)",
             "check whether order totals include shipping, tax or discounts",
             "is_amount_mismatch"),
        Rule("order_without_lines", "info", "order with no clean lines in order_items",
             "export the lines of every order"),
        Rule("id_case_mismatch", "info",
             "id that matches a parent id only after ignoring case and blanks (repaired)",
             "use one spelling of each id across systems"),
    )
}  # fmt: skip


@dataclass
class Finding:
    """The outcome of one rule on one table (and column).

    Attributes
    ----------
    table, rule : str
        Where and what.
    rows : numpy.ndarray
        Positions of the failing rows (all of them for errors and warnings; a few
        examples for info rules, whose full count is ``count``).
    reasons : numpy.ndarray or str
        One reason per entry of ``rows``, or one text for all of them.
    column : str or None
        The column checked, when the rule is about one column.
    count : int or None
        Failing rows when ``rows`` holds only examples.
    skipped : str or None
        Why the rule could not run (missing table or column).
    note : str or None
        Detail of a table-level rule (freshness, schema).
    failed : bool
        A table-level rule failed (it has no failing rows).
    """

    table: str
    rule: str
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    reasons: np.ndarray | str = ""
    column: str | None = None
    count: int | None = None
    skipped: str | None = None
    note: str | None = None
    failed: bool = False

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    @property
    def failing_rows(self) -> int:
        return int(self.count) if self.count is not None else len(self.rows)

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        return "failed" if (self.failing_rows or self.failed) else "passed"

    def reason_array(self) -> np.ndarray:
        """One reason per entry of ``rows``."""
        if isinstance(self.reasons, str):
            return np.full(len(self.rows), self.reasons, dtype=object)
        return np.asarray(self.reasons, dtype=object)


def rule_table() -> pd.DataFrame:
    """Every rule with its severity, what it checks and the flag column it adds."""
    return pd.DataFrame(
        [
            {"rule": r.name, "severity": r.severity, "checks": r.description, "flag": r.flag}
            for r in RULES.values()
        ]
    )
