"""Run every audit rule over the canonical tables, split clean from quarantined rows, write.

:func:`audit_tables` is pure (frames in, :class:`AuditResult` out); :func:`write_audit`
writes the result where later stages find it; :func:`run_audit` loads, audits and
writes a source in one call, streaming the large event tables one at a time (what the
stage notebook uses); :func:`validate_tables` runs only the schema and error-level rules
(the ``workbench validate`` command).

Order of work, so that every rule sees what it needs:

1. per table: pandera schema (types, required columns, allowed values), exact
   duplicate rows and repeated keys, missing optional values;
2. customers: e-mail syntax, implausible dates, then the duplicate-customer search on
   the rows without errors (:mod:`workbench.audit.duplicates`);
3. references (ids repaired when they differ from an existing id only by case or
   blanks), timestamps at or after ``as_of`` and before the customer's sign-up,
   amounts, lines, outliers, experiment assignments;
4. each table's rows with an error go to the quarantine (once, with every rule and
   reason joined), the rest to the clean table with a boolean column per warning;
   orders, events and assignments of merged customers are re-pointed to the survivor.

Nothing is lost: for every table ``rows_in == rows_clean + rows_quarantined``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench import catalog
from workbench.audit.duplicates import DuplicateResult, find_duplicates
from workbench.audit.rules import (
    RULES,
    Finding,
    check_amount_vs_lines,
    check_assignments,
    check_before_signup,
    check_customer_dates,
    check_duplicates,
    check_emails,
    check_freshness,
    check_future,
    check_lines,
    check_missing,
    check_order_amounts,
    check_outliers,
    check_schema,
    index_of,
    outlier_thresholds,
    resolve_ids,
)
from workbench.loading import LoadedData, Repair, load_tables
from workbench.schema import REQUIRED_TABLES, TABLES, TIMESTAMP_DTYPE, parse_as_of, table_spec
from workbench.settings import Settings, get_settings

__all__ = [
    "AuditError",
    "AuditConfig",
    "AuditResult",
    "audit_tables",
    "validate_tables",
    "write_audit",
    "run_audit",
    "mask_email",
    "MERGE_MAP_FILE",
]

log = logging.getLogger(__name__)

MERGE_MAP_FILE = "merge_map.parquet"
_QUARANTINE_COLUMNS = ("rule", "severity", "reason")
_EXAMPLES_PER_RULE = 3
_EVENT_TABLES = ("email_events", "web_events")  # nothing depends on them: streamed when large
_CHUNK_ROWS = 2_000_000  # rows of a large table copied at a time when writing it
_EXAMPLE_COLUMNS = ["table", "rule", "severity", "row_key", "customer_id", "email", "reason"]


class AuditError(ValueError):
    """The tables cannot be audited as given; the message names the table and column."""


@dataclass(frozen=True)
class AuditConfig:
    """Parameters of the audit (the notebook's parameters map onto these).

    Attributes
    ----------
    duplicate_threshold : float
        Probability (0-1) from which two customer ids are taken to be one person.
    max_block_size : int
        Larger blocking groups are skipped in the duplicate search (placeholders).
    iqr_k : float
        Tukey fence multiplier for amount and quantity outliers (log scale).
    robust_z : float
        Robust z-score limit for amount and quantity outliers (log scale).
    outlier_min_ratio : float
        An outlier is also at least this many times above (or below) the median.
    freshness_days : int
        A table whose newest row is older than this before ``as_of`` is stale.
    signup_grace_hours : float
        Activity this long before ``signup_at`` is not yet ``before_signup``.
    find_duplicates : bool
        Search for duplicate customers (off for ``workbench validate``).
    random_state : int
        Seed of the random customer pairs that measure chance agreement.
    """

    duplicate_threshold: float = 0.8
    max_block_size: int = 500
    iqr_k: float = 3.0
    robust_z: float = 3.5
    outlier_min_ratio: float = 10.0
    freshness_days: int = 30
    signup_grace_hours: float = 0.0
    find_duplicates: bool = True
    random_state: int = 0

    def __post_init__(self) -> None:
        checks = {
            "duplicate_threshold": 0 < self.duplicate_threshold <= 1,
            "max_block_size": self.max_block_size >= 2,
            "iqr_k": self.iqr_k > 0,
            "robust_z": self.robust_z > 0,
            "outlier_min_ratio": self.outlier_min_ratio >= 1,
            "freshness_days": self.freshness_days >= 0,
            "signup_grace_hours": self.signup_grace_hours >= 0,
        }
        expected = {
            "duplicate_threshold": "a number in (0, 1]",
            "max_block_size": "an integer >= 2",
            "iqr_k": "a positive number",
            "robust_z": "a positive number",
            "outlier_min_ratio": "a number >= 1",
            "freshness_days": "an integer >= 0",
            "signup_grace_hours": "a number >= 0",
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: expected {expected[name]}, got {getattr(self, name)!r}")


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
        Per table: ``rows_in, rows_clean, rows_quarantined, rows_flagged, rows_passing``.
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
        """Per table: rows in/clean/quarantined/flagged, failing rules and the quality score.

        ``quality_score`` = 100 × share of input rows that pass every error and warning
        rule (info rules, such as missing optional values, do not count).
        """
        rules = self.rules()
        failed = rules[rules["status"] == "failed"]
        errors = failed[failed["severity"] == "error"].groupby("table").size()
        warnings = failed[failed["severity"] == "warning"].groupby("table").size()
        card = self.rows.copy()
        card["error_rules_failed"] = card["table"].map(errors).fillna(0).astype(int)
        card["warning_rules_failed"] = card["table"].map(warnings).fillna(0).astype(int)
        card["quality_score"] = np.where(
            card["rows_in"] > 0, 100.0 * card["rows_passing"] / card["rows_in"].clip(lower=1), 100.0
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
            "error_rules_failed": int(len(errors)),
            "reconciled": bool(
                (card["rows_in"] == card["rows_clean"] + card["rows_quarantined"]).all()
            ),
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


# --------------------------------------------------------------------------- the audit


def _input_tables(
    data: LoadedData | dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[Repair]]:
    tables = data.tables if isinstance(data, LoadedData) else dict(data)
    repairs = list(data.repairs) if isinstance(data, LoadedData) else []
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise AuditError(
            f"unknown table(s) {', '.join(unknown)}; canonical tables: {', '.join(TABLES)}"
        )
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise AuditError(
            f"required table(s) {', '.join(missing)} missing; the audit needs customers and orders "
            "(load the source with workbench.loading.load_tables, which derives customers from orders)"
        )
    out = {name: _checked_table(name, tables[name]) for name in TABLES if name in tables}
    return out, repairs


def _checked_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    absent = [c for c in table_spec(name).columns if c not in frame.columns]
    if absent:
        raise AuditError(
            f"{name}: column(s) {', '.join(absent)} missing; expected every canonical column "
            "(load_tables adds optional ones as blanks)"
        )
    return frame.reset_index(drop=True)


class _Auditor:
    """Holds the tables, their findings and repaired columns while the rules run."""

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        as_of: pd.Timestamp,
        config: AuditConfig,
        errors_only: bool,
    ) -> None:
        self.tables = tables
        self.as_of = as_of
        self.config = config
        self.errors_only = errors_only
        self.findings: dict[str, list[Finding]] = {t: [] for t in tables}
        self.repaired: dict[str, dict[str, pd.Series]] = {t: {} for t in tables}
        self.repairs: list[Repair] = []
        self.duplicates: DuplicateResult | None = None
        self.freshness: list[dict] = []
        self.amount_limits: dict[str, float] = {}
        self.amount_eligible = np.zeros(len(tables["orders"]), dtype=bool)
        self.ids: dict[str, pd.Index] = {}  # parent table -> its unique key values
        self.codes: dict[tuple[str, str], np.ndarray] = {}  # (table, column) -> parent position
        self.survivor: np.ndarray | None = None  # customer position -> surviving position
        self._signup: pd.Series | None = None
        self.outputs: dict[str, dict[str, Any]] = {}  # per finalised table
        self.amounts = pd.Series(dtype="float64")

    # ---------------------------------------------------------------- helpers

    def add(self, findings: Finding | list[Finding]) -> None:
        for finding in findings if isinstance(findings, list) else [findings]:
            self.findings[finding.table].append(finding)

    def column(self, table: str, name: str) -> pd.Series:
        return self.repaired[table].get(name, self.tables[table][name])

    def mask(self, table: str, severities: tuple[str, ...] = ("error",)) -> np.ndarray:
        out = np.zeros(len(self.tables[table]), dtype=bool)
        for f in self.findings[table]:
            if f.severity in severities and f.count is None and len(f.rows):
                out[f.rows] = True
        return out

    def _count_repair(self, table: str, column: str, action: str, findings: list[Finding]) -> None:
        n = sum(f.failing_rows for f in findings if f.rule == "id_case_mismatch")
        if n:
            self.repairs.append(Repair(table, column, action, n))

    def parent_ids(self, parent: str) -> pd.Index:
        """The unique, non-blank key values of a parent table (customers, orders, products)."""
        if parent not in self.ids:
            key = self.tables[parent][table_spec(parent).key[0]]
            self.ids[parent] = pd.Index(key.dropna().unique())
        return self.ids[parent]

    def resolve(self, table: str, column: str, parent: str) -> None:
        """Check ``table.column`` against ``parent``; keep the repaired ids and each row's
        position among the parent's ids (every later lookup uses these integer codes)."""
        repaired, codes, findings = resolve_ids(
            table, self.tables[table], column, self.parent_ids(parent), parent
        )
        if repaired is not self.tables[table][column]:
            self.repaired[table][column] = repaired
        self.codes[(table, column)] = codes
        self.add(findings)
        self._count_repair(
            table, column, f"ids matched {parent} after ignoring case/blanks", findings
        )

    def per_customer(self, table: str, values: pd.Series) -> pd.Series:
        """``values`` (one per position of :meth:`parent_ids` of customers) for each row of
        ``table`` through its customer codes; missing for rows without a known customer."""
        codes = self.codes[(table, "customer_id")]
        taken = values.iloc[np.maximum(codes, 0)].reset_index(drop=True)
        return taken.where(pd.Series(codes >= 0), other=pd.NA if taken.dtype == "str" else None)

    def signup(self) -> pd.Series:
        """Each customer id's sign-up (first row of that id), aligned with parent_ids."""
        if self._signup is None:
            self._signup = self._signup_by_id()
        return self._signup

    def _signup_by_id(self) -> pd.Series:
        customers = self.tables["customers"]
        first = customers.dropna(subset=["customer_id"]).drop_duplicates("customer_id")
        codes = index_of(first["customer_id"], self.parent_ids("customers"))
        out = pd.Series(
            pd.NaT, index=range(len(self.parent_ids("customers"))), dtype=TIMESTAMP_DTYPE
        )
        out.iloc[codes] = first["signup_at"].array
        return out

    # ---------------------------------------------------------------- steps

    def run(self) -> None:
        """Every rule on every table."""
        self.run_core()
        for table in _EVENT_TABLES:
            if table in self.tables:
                self.run_events(table)

    def run_core(self) -> None:
        """Every rule on the tables other stages' rules depend on (all but the events)."""
        core = [t for t in self.tables if t not in _EVENT_TABLES]
        for table in core:
            self.basic(table)
        self.customers()
        self.orders()
        if "order_items" in self.tables:
            self.order_items()
        if "experiment_assignments" in self.tables:
            self.assignments()
        for table in core:
            self.freshness_of(table)

    def run_events(self, table: str) -> None:
        """Every rule on one event table (needs only the customers and products ids)."""
        self.basic(table)
        self.events(table)
        self.freshness_of(table)

    def add_table(self, table: str, frame: pd.DataFrame) -> None:
        """Bring in a table after the others were audited (streamed event tables)."""
        self.tables[table] = _checked_table(table, frame)
        self.findings[table] = []
        self.repaired[table] = {}

    def freshness_of(self, table: str) -> None:
        if self.errors_only:
            return
        finding, info = check_freshness(
            table, self.tables[table], self.as_of, self.config.freshness_days
        )
        self.add(finding)
        self.freshness.append(info)

    def basic(self, table: str) -> None:
        frame = self.tables[table]
        findings = check_schema(table, frame)
        schema = findings[0]
        if schema.failed:
            raise AuditError(
                f"{table}: the table does not match its canonical schema: {schema.note}"
            )
        self.add(findings)
        self.add(
            check_duplicates(table, frame, key=() if table == "experiment_assignments" else None)
        )
        if not self.errors_only:
            self.add(check_missing(table, frame))

    def customers(self) -> None:
        customers = self.tables["customers"]
        if not self.errors_only:
            self.add(check_emails(customers))
            self.add(check_customer_dates(customers, self.as_of))
        if self.config.find_duplicates:
            self.find_duplicates()

    def find_duplicates(self) -> None:
        customers = self.tables["customers"]
        usable = np.flatnonzero(~self.mask("customers"))
        result = find_duplicates(
            customers.iloc[usable],
            threshold=self.config.duplicate_threshold,
            max_block_size=self.config.max_block_size,
            random_state=self.config.random_state,
        )
        self.duplicates = result
        merged = result.merge_map
        position = pd.Series(usable, index=customers["customer_id"].iloc[usable].to_numpy())
        if merged.empty:
            self.add(Finding("customers", "duplicate_customer"))
            return
        ids = self.parent_ids("customers")
        self.survivor = np.arange(len(ids))
        self.survivor[index_of(merged["duplicate_id"], ids)] = index_of(merged["surviving_id"], ids)
        rows = position.loc[merged["duplicate_id"].to_numpy()].to_numpy(dtype=np.int64)
        order = np.argsort(rows)
        survivor = merged["surviving_id"].astype("str")
        score = merged["score"].map("{:.2f}".format).astype("str")
        reasons = (
            "same person as " + survivor + " (score " + score + "); merged into " + survivor
        ).to_numpy()
        self.add(Finding("customers", "duplicate_customer", rows[order], reasons[order]))

    def repoint(self, table: str) -> None:
        """Orders, events and assignments of merged customers move to the survivor."""
        if self.survivor is None:
            return
        codes = self.codes[(table, "customer_id")]
        known = codes >= 0
        target = np.where(known, self.survivor[np.maximum(codes, 0)], codes)
        moved = known & (target != codes)
        if not moved.any():
            return
        self.codes[(table, "customer_id")] = target
        ids = self.column(table, "customer_id")
        surviving = np.asarray(self.parent_ids("customers"))[target[moved]]
        repointed = ids.copy()
        repointed.iloc[np.flatnonzero(moved)] = surviving
        self.repaired[table]["customer_id"] = repointed
        self.repairs.append(
            Repair(
                table,
                "customer_id",
                "re-pointed from merged duplicate customers to the survivor",
                int(moved.sum()),
            )
        )

    def orders(self) -> None:
        orders = self.tables["orders"]
        self.resolve("orders", "customer_id", "customers")
        self.add(check_future("orders", orders, "ordered_at", self.as_of))
        if not self.errors_only:
            self.add(self._before_signup("orders", "ordered_at"))
        status, findings = check_order_amounts(orders)
        self.repaired["orders"]["status"] = status
        relabelled = sum(f.failing_rows for f in findings if f.rule == "negative_amount")
        if relabelled:
            self.repairs.append(
                Repair(
                    "orders",
                    "status",
                    "negative amount on a completed order: labelled cancelled",
                    relabelled,
                )
            )
        self.add(findings if not self.errors_only else [])
        self.repoint("orders")
        if not self.errors_only:
            eligible = ~self.mask("orders")
            self.amount_eligible = eligible & (orders["amount"] > 0).fillna(False).to_numpy()
            limits = outlier_thresholds(
                orders["amount"][self.amount_eligible],
                iqr_k=self.config.iqr_k,
                z_max=self.config.robust_z,
                min_ratio=self.config.outlier_min_ratio,
            )
            self.amount_limits = limits
            self.amounts = orders["amount"][self.amount_eligible].reset_index(drop=True)
            self.add(check_outliers("orders", orders, "amount", eligible, limits, prefix="amount"))

    def _before_signup(self, table: str, column: str) -> Finding:
        grace = pd.Timedelta(hours=self.config.signup_grace_hours)
        signup = self.per_customer(table, self.signup())
        return check_before_signup(table, self.tables[table], column, signup, grace=grace)

    def order_items(self) -> None:
        items = self.tables["order_items"]
        orders = self.tables["orders"]
        self.resolve("order_items", "order_id", "orders")
        line_order = self.codes[("order_items", "order_id")]
        order_ids = self.parent_ids("orders")
        # per order id: the first clean row (its status), or why every row was quarantined
        bad = self.mask("orders")
        order_codes = index_of(orders["order_id"], order_ids)
        first_clean = np.full(len(order_ids), -1, dtype=np.int64)
        clean_rows = np.flatnonzero(~bad & (order_codes >= 0))[::-1]
        first_clean[order_codes[clean_rows]] = clean_rows
        labels = self.error_labels("orders")
        why = np.full(len(order_ids), None, dtype=object)
        bad_rows = labels.index.to_numpy()[::-1]
        keep = order_codes[bad_rows] >= 0
        why[order_codes[bad_rows[keep]]] = labels.to_numpy()[::-1][keep]
        known = line_order >= 0
        cascaded = known & (first_clean[np.maximum(line_order, 0)] < 0)
        rows = np.flatnonzero(cascaded)
        self.add(
            Finding(
                "order_items",
                "order_quarantined",
                rows,
                (
                    "order "
                    + np.asarray(order_ids)[line_order[rows]].astype(object)
                    + " is quarantined ("
                    + why[line_order[rows]].astype(str).astype(object)
                    + ")"
                ),
                column="order_id",
            )
        )
        if "products" in self.tables:
            self.resolve("order_items", "product_id", "products")
        else:
            self.add(
                Finding(
                    "order_items",
                    "unknown_product",
                    column="product_id",
                    skipped="no products table",
                )
            )
        status_by_order = self.column("orders", "status").to_numpy(dtype=object)
        line_clean = np.where(known, first_clean[np.maximum(line_order, 0)], -1)
        line_status = np.where(line_clean >= 0, status_by_order[np.maximum(line_clean, 0)], None)
        self.add(check_lines(items, pd.Series(line_status, dtype="str")))
        if not self.errors_only:
            eligible = ~self.mask("order_items")
            limits = outlier_thresholds(
                items["quantity"][eligible],
                iqr_k=self.config.iqr_k,
                z_max=self.config.robust_z,
                min_ratio=self.config.outlier_min_ratio,
            )
            self.add(
                check_outliers(
                    "order_items", items, "quantity", eligible, limits, prefix="quantity"
                )
            )
            value = (items["quantity"] * items["unit_price"]).to_numpy(dtype=float)
            valid = known & ~np.isnan(value)
            totals = np.bincount(line_order[valid], weights=value[valid], minlength=len(order_ids))
            has = np.bincount(line_order[known], minlength=len(order_ids)) > 0
            per_order = np.where(has, totals, np.nan)
            line_total = np.where(order_codes >= 0, per_order[np.maximum(order_codes, 0)], np.nan)
            self.add(check_amount_vs_lines(orders, pd.Series(line_total)))

    def events(self, table: str) -> None:
        frame = self.tables[table]
        self.resolve(table, "customer_id", "customers")
        if table == "web_events":
            if "products" in self.tables:
                self.resolve(table, "product_id", "products")
            else:
                self.add(
                    Finding(
                        table, "unknown_product", column="product_id", skipped="no products table"
                    )
                )
        self.add(check_future(table, frame, "occurred_at", self.as_of))
        if not self.errors_only:
            self.add(self._before_signup(table, "occurred_at"))
        self.repoint(table)

    def assignments(self) -> None:
        table = "experiment_assignments"
        frame = self.tables[table]
        self.resolve(table, "customer_id", "customers")
        self.add(check_future(table, frame, "assigned_at", self.as_of))
        if not self.errors_only:
            self.add(self._before_signup(table, "assigned_at"))
        self.repoint(table)
        self.add(check_assignments(frame, self.column(table, "customer_id")))

    # ---------------------------------------------------------------- outputs

    def _errors_by_row(self, table: str) -> pd.DataFrame:
        """One row per quarantined input row (``pos``, sorted) with its rules and reasons
        joined by ``"; "``."""
        parts = [
            pd.DataFrame({"pos": f.rows, "rule": f.rule, "reason": f.reason_array()})
            for f in self.findings[table]
            if f.severity == "error" and f.count is None and len(f.rows)
        ]
        if not parts:
            return pd.DataFrame({"pos": np.empty(0, dtype=np.int64), "rule": [], "reason": []})
        stacked = pd.concat(parts, ignore_index=True).sort_values("pos", kind="stable")
        several = stacked["pos"].duplicated(keep=False).to_numpy()
        single = stacked[~several]
        joined = (
            stacked[several]
            .groupby("pos", sort=True)
            .agg(rule=("rule", "; ".join), reason=("reason", "; ".join))
            .reset_index()
        )
        out = pd.concat([single, joined], ignore_index=True).sort_values("pos", kind="stable")
        return out.reset_index(drop=True)

    def error_labels(self, table: str) -> pd.Series:
        """For each quarantined row (positions, sorted): its rules joined."""
        errors = self._errors_by_row(table)
        return pd.Series(errors["rule"].to_numpy(dtype=object), index=errors["pos"].to_numpy())

    def quarantine_rows(self, table: str) -> pd.DataFrame:
        frame = self.tables[table]
        errors = self._errors_by_row(table)
        out = frame.iloc[errors["pos"].to_numpy(dtype=np.int64)].reset_index(drop=True)
        out["rule"] = pd.Series(errors["rule"].to_numpy(dtype=object), dtype="str")
        out["severity"] = pd.Series("error", index=out.index, dtype="str")
        out["reason"] = pd.Series(errors["reason"].to_numpy(dtype=object), dtype="str")
        return out[list(frame.columns) + list(_QUARANTINE_COLUMNS)]

    def clean_rows(self, table: str) -> pd.DataFrame:
        """The clean ``table``: rows without errors, repaired columns, flag columns."""
        return next(self.clean_chunks(table, rows=max(len(self.tables[table]), 1)))

    def clean_chunks(self, table: str, rows: int | None = None) -> Iterator[pd.DataFrame]:
        """The clean ``table`` in pieces of at most ``rows`` input rows (at least one piece),
        so a large table is never copied whole."""
        rows = rows or _CHUNK_ROWS
        frame = self.tables[table]
        if self.repaired[table]:
            frame = frame.assign(**self.repaired[table])
        keep = ~self.mask(table)
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
        for f in self.findings[table]:
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
        frame = self.tables[table]
        errors = self.mask(table)
        warnings = self.mask(table, ("warning",))
        quarantine = self.quarantine_rows(table)
        self.outputs[table] = {
            "quarantine": quarantine,
            "rows": {
                "table": table,
                "rows_in": len(frame),
                "rows_clean": int((~errors).sum()),
                "rows_quarantined": len(quarantine),
                "rows_flagged": int((warnings & ~errors).sum()),
                "rows_passing": int((~errors & ~warnings).sum()),
            },
            "missing": _missingness(table, frame),
            "examples": self.examples(table),
        }

    def release(self, table: str) -> None:
        """Drop a finalised table and everything derived from it (large sources)."""
        self.tables[table] = self.tables[table].iloc[0:0]
        self.repaired[table] = {}
        for key in [k for k in self.codes if k[0] == table]:
            del self.codes[key]
        _release_memory()

    def examples(self, table: str) -> pd.DataFrame:
        """A few failing rows per rule of ``table``: ids, masked e-mail and the reason."""
        rows = []
        frame = self.tables[table]
        key = [c for c in table_spec(table).key if c in frame.columns and frame[c].notna().any()]
        for f in self.findings[table]:
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
        builder: _Auditor | None,
        sources: dict[str, dict],
        started: float,
    ) -> AuditResult:
        """The :class:`AuditResult` of the finalised tables (canonical order)."""
        order = [t for t in TABLES if t in self.outputs]
        findings = [f for t in order for f in self.findings[t]]
        if self.errors_only:
            findings = [f for f in findings if f.severity == "error"]
        result = AuditResult(
            as_of=self.as_of,
            config=self.config,
            findings=findings,
            clean=clean,
            quarantine={t: self.outputs[t]["quarantine"] for t in order},
            rows=pd.DataFrame([self.outputs[t]["rows"] for t in order]),
            duplicates=self.duplicates,
            repairs=repairs + self.repairs,
            missingness=pd.concat([self.outputs[t]["missing"] for t in order], ignore_index=True),
            freshness=pd.DataFrame(self.freshness, columns=["table", "last", "age_days", "stale"]),
            amount_limits=self.amount_limits,
            amounts=self.amounts,
            examples=pd.concat(
                [self.outputs[t]["examples"] for t in order if len(self.outputs[t]["examples"])]
                or [pd.DataFrame(columns=_EXAMPLE_COLUMNS)],
                ignore_index=True,
            ),
            sources=sources,
            _builder=builder,
        )
        result.seconds = time.perf_counter() - started
        for repair in self.repairs:
            log.info("audit repair: %s", repair)
        log.info(
            "audit: %s rows in, %s quarantined, %s error rule(s) failed (%.1f s)",
            f"{int(result.rows['rows_in'].sum()):,}",
            f"{int(result.rows['rows_quarantined'].sum()):,}",
            sum(f.severity == "error" and f.status == "failed" for f in findings),
            result.seconds,
        )
        return result


def _release_memory() -> None:
    """Return freed memory to the system (Arrow's allocator keeps it otherwise)."""
    import gc

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


def audit_tables(
    data: LoadedData | dict[str, pd.DataFrame],
    as_of: str | pd.Timestamp,
    config: AuditConfig | None = None,
    *,
    errors_only: bool = False,
    build_clean: bool = True,
) -> AuditResult:
    """Audit the canonical tables as of ``as_of`` (pure: the inputs are not modified).

    Parameters
    ----------
    data : LoadedData or dict of str -> pandas.DataFrame
        Canonical tables (as :func:`workbench.loading.load_tables` returns them);
        ``customers`` and ``orders`` are required, the others optional.
    as_of : str or pandas.Timestamp
        The run's cut-off; timestamps at or after it are in the future.
    config : AuditConfig, optional
        Thresholds and switches (defaults: :class:`AuditConfig`).
    errors_only : bool, default False
        Run only the schema and error-level rules (no warnings, info or figures data).
    build_clean : bool, default True
        Build the clean tables now (``result.clean``); with False they are built one at a
        time by :meth:`AuditResult.clean_table` / :func:`write_audit` (large sources).

    Returns
    -------
    AuditResult

    Raises
    ------
    AuditError
        A required table is missing or a table does not match its canonical schema.

    Examples
    --------
    >>> customers = pd.DataFrame({"customer_id": ["C1"]})              # doctest: +SKIP
    >>> result = audit_tables(load_tables("data/raw"), "2026-06-30")   # doctest: +SKIP
    >>> result.scorecard()[["table", "rows_in", "rows_clean", "rows_quarantined"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    if errors_only and config.find_duplicates:
        config = AuditConfig(**{**asdict(config), "find_duplicates": False})
    as_of = parse_as_of(as_of)
    tables, loader_repairs = _input_tables(data)
    auditor = _Auditor(tables, as_of, config, errors_only)
    auditor.run()
    for table in tables:
        auditor.finalise(table)
    clean = {t: auditor.clean_rows(t) for t in tables} if build_clean and not errors_only else {}
    builder = None if build_clean or errors_only else auditor
    sources = _sources(data)
    return auditor.result(
        loader_repairs, clean=clean, builder=builder, sources=sources, started=started
    )


def _sources(data: LoadedData | dict) -> dict[str, dict]:
    """Where each table came from (path, format, rows, digest) when the loader knows it."""
    if not isinstance(data, LoadedData):
        return {}
    return {
        name: {"path": info.path, "format": info.format, "rows": info.rows, "digest": info.digest}
        for name, info in data.sources.items()
    }


def validate_tables(
    data: LoadedData | dict[str, pd.DataFrame], as_of: str | pd.Timestamp
) -> pd.DataFrame:
    """The schema and error-level rules only: one row per failing (table, rule, column).

    Columns ``table, rule, column, failing_rows, example`` (the first failing row's
    reason). Empty when every error-level rule passes. The duplicate-customer search is
    not run (it merges, it does not reject).
    """
    result = audit_tables(data, as_of, errors_only=True)
    rows = []
    for f in result.findings:
        if f.severity == "error" and f.status == "failed":
            example = f.note or (str(f.reason_array()[0]) if len(f.rows) else "")
            rows.append(
                {
                    "table": f.table,
                    "rule": f.rule,
                    "column": f.column,
                    "failing_rows": f.failing_rows,
                    "example": example,
                }
            )
    return pd.DataFrame(rows, columns=["table", "rule", "column", "failing_rows", "example"])


# --------------------------------------------------------------------------- writing


class _Writer:
    """Writes one table at a time; the folders' stamps are removed first and written last."""

    def __init__(self, settings: Settings, stamp: catalog.Stamp) -> None:
        self.settings = settings
        self.stamp = stamp
        self.written: dict[str, str] = {}
        for folder in (settings.clean_dir, settings.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
            catalog.remove_folder_stamp(folder)

    def table(self, table: str, clean: Iterable[pd.DataFrame], quarantine: pd.DataFrame) -> None:
        """Write the clean table (given in pieces) and the quarantined rows of ``table``."""
        path = self.settings.clean_dir / f"{table}.parquet"
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
        path = self.settings.quarantine_dir / f"{table}.parquet"
        quarantine.to_parquet(path, index=False)
        self.written[f"quarantine/{table}"] = str(path)

    def finish(self, tables: list[str], merge_map: pd.DataFrame, as_of: pd.Timestamp) -> dict:
        for table in TABLES:  # a table this source does not have must not linger
            if table not in tables:
                (self.settings.clean_dir / f"{table}.parquet").unlink(missing_ok=True)
                (self.settings.quarantine_dir / f"{table}.parquet").unlink(missing_ok=True)
        merge_path = catalog.write_table(self.settings, "merge_map", merge_map, self.stamp)[0]
        self.written["merge_map"] = str(merge_path)
        catalog.write_folder_stamp(self.settings.quarantine_dir, self.stamp)
        stamp = catalog.write_folder_stamp(self.settings.clean_dir, self.stamp)
        self.written["stamp"] = str(stamp)
        log.info(
            "audit: clean tables in %s, quarantine in %s",
            self.settings.clean_dir,
            self.settings.quarantine_dir,
        )
        return self.written


def _stamp(source: str | Path, as_of: pd.Timestamp) -> catalog.Stamp:
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

    Clean tables go to ``settings.clean_dir/<table>.parquet``, quarantined rows to
    ``settings.quarantine_dir/<table>.parquet`` (one file per audited table, empty when
    nothing was quarantined) and the merge map to ``settings.interim_dir/merge_map.parquet``.
    The old stamps are removed first and the new ones (``stamp``, default: made from
    ``source`` and the result's ``as_of``) written last, so later stages only read clean
    tables that are complete; files of tables this source does not have are removed so
    they cannot be mistaken for its own.

    Returns
    -------
    dict
        What was written: name -> path.
    """
    if not result.clean and result._builder is None:
        raise AuditError(
            "this audit result has no clean tables to write (errors_only, or already released)"
        )
    writer = _Writer(settings, stamp or _stamp(source, result.as_of))
    for table in result.tables:
        if table in result.clean:
            pieces: Iterable[pd.DataFrame] = [result.clean[table]]
        elif result._builder is not None:
            pieces = result._builder.clean_chunks(table)
        else:
            raise AuditError(f"no clean table {table!r} in this audit result")
        writer.table(table, pieces, result.quarantine[table])
    result.written = writer.finish(result.tables, result.merge_map, result.as_of)
    return result.written


def run_audit(
    source: str | Path,
    as_of: str | pd.Timestamp,
    *,
    settings: Settings | None = None,
    mapping: str | Path | dict | None = None,
    config: AuditConfig | None = None,
    keep_clean: bool = False,
    stamp: catalog.Stamp | None = None,
) -> AuditResult:
    """Load a source, audit it and write the outputs, holding as little as possible.

    The tables the rules cross-reference (customers, orders, order lines, products,
    experiment assignments) are loaded and audited together and written one by one;
    then each event table (e-mail, web: usually the largest) is loaded, audited against
    them, written and released in turn. Memory therefore peaks at the core tables plus
    one event table, not at the whole source.

    Parameters
    ----------
    source : str or Path
        Folder of table files or a DuckDB file (see :func:`workbench.loading.load_tables`).
    as_of : str or pandas.Timestamp
        The run's cut-off.
    settings : Settings, optional
        Where to write (default: :func:`workbench.settings.get_settings`).
    mapping : path or dict, optional
        Column mapping for the loader.
    config : AuditConfig, optional
        Thresholds and switches.
    keep_clean : bool, default False
        Also keep every clean table in ``result.clean`` (small sources only).
    stamp : catalog.Stamp, optional
        The stamp of the outputs (a stage passes its own); default: made from ``source``.

    Returns
    -------
    AuditResult
        Everything but the clean tables (unless ``keep_clean``); those are on disk.
    """
    started = time.perf_counter()
    config = config or AuditConfig()
    settings = settings or get_settings()
    as_of = parse_as_of(as_of)
    core = [t for t in TABLES if t not in _EVENT_TABLES]
    data = load_tables(source, mapping=mapping, tables=core)
    repairs = list(data.repairs)
    sources = _sources(data)
    tables, _ = _input_tables(data)
    del data
    _release_memory()  # the loader's temporaries
    auditor = _Auditor(tables, as_of, config, errors_only=False)
    auditor.signup()  # these stay cached for the event tables once the core is released
    for parent in ("customers", "products"):
        if parent in tables:
            auditor.parent_ids(parent)
    auditor.run_core()
    writer = _Writer(settings, stamp or _stamp(source, as_of))
    clean: dict[str, pd.DataFrame] = {}

    def write(table: str) -> None:
        auditor.finalise(table)
        if keep_clean:
            clean[table] = auditor.clean_rows(table)
        pieces = [clean[table]] if keep_clean else auditor.clean_chunks(table)
        writer.table(table, pieces, auditor.outputs[table]["quarantine"])
        auditor.release(table)

    for table in list(tables):
        write(table)
    del tables
    auditor.ids.pop("orders", None)  # the event tables need customers and products only
    _release_memory()
    for table in _EVENT_TABLES:
        part = load_tables(source, mapping=mapping, tables=[table], derive=False)
        if table not in part.tables:
            continue
        repairs += part.repairs
        sources.update(_sources(part))
        auditor.add_table(table, part.tables[table])
        del part
        _release_memory()
        auditor.run_events(table)
        write(table)
    result = auditor.result(repairs, clean=clean, builder=None, sources=sources, started=started)
    result.written = writer.finish(result.tables, result.merge_map, as_of)
    return result
