"""The pandas audit's rules, table by table: :class:`Auditor`.

The auditor holds the canonical tables, the findings of each rule (the vectorised checks
are in :mod:`workbench.audit.checks`) and the repaired columns (ids matched ignoring case,
statuses relabelled, customers re-pointed to the survivor of a merge). Order of work, so
that every rule sees what it needs:

0. per table with a time column: rows at or after ``as_of`` that are not in the future
   are set aside (:mod:`workbench.audit.timeline`; lines follow their order) — the
   rules below see only the rest;
1. per table: pandera schema (types, required columns, allowed values), non-finite
   numbers, exact duplicate rows and repeated keys, missing optional values;
2. customers: e-mail syntax, implausible dates, then the duplicate-customer search on
   the rows without errors (:mod:`workbench.audit.duplicates`);
3. references (ids repaired when they differ from an existing id only by case or
   blanks), timestamps in the future and before the customer's sign-up, lines, then
   amounts (recomputed from clean lines when the orders were derived from them:
   :mod:`workbench.audit.money`), outliers, experiment assignments.

Rows are addressed by position; every look-up across tables goes through integer codes
(a row's position among the parent table's ids), so a large table is never joined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.audit.checks import (
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
    is_member,
    outlier_thresholds,
    resolve_ids,
)
from workbench.audit.duplicates import DuplicateResult, find_duplicates
from workbench.audit.money import check_non_finite
from workbench.audit.params import AuditConfig
from workbench.audit.result import AuditError
from workbench.audit.rules import Finding
from workbench.audit.timeline import (
    TIME_COLUMNS,
    day_counts,
    future_limit,
    parse_extracted_at,
    source_end,
    time_column,
)
from workbench.loading import LoadedData, Repair
from workbench.schema import REQUIRED_TABLES, TABLES, TIMESTAMP_DTYPE, table_spec

__all__ = ["EVENT_TABLES", "Auditor", "checked_table", "input_tables"]

#: Tables nothing else depends on: audited last, one at a time (streamed when large).
EVENT_TABLES = ("email_events", "web_events")


def input_tables(
    data: LoadedData | dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[Repair]]:
    """The canonical tables to audit (canonical order, fresh index) and the loader's repairs.

    Raises
    ------
    AuditError
        An unknown or a missing required table, or a table without its canonical columns.
    """
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
    out = {name: checked_table(name, tables[name]) for name in TABLES if name in tables}
    return out, repairs


def checked_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a fresh index once it has every canonical column of ``name``."""
    absent = [c for c in table_spec(name).columns if c not in frame.columns]
    if absent:
        raise AuditError(
            f"{name}: column(s) {', '.join(absent)} missing; expected every canonical column "
            "(load_tables adds optional ones as blanks)"
        )
    return frame.reset_index(drop=True)


class Auditor:
    """Holds the tables, their findings and repaired columns while the rules run.

    One method per table (:meth:`customers`, :meth:`orders`, :meth:`order_items`,
    :meth:`events`, :meth:`assignments`) runs that table's rules in the order the later
    ones need; :meth:`run_core` and :meth:`run_events` run them for the tables other rules
    depend on and for one event table. What is kept of a table afterwards (quarantine,
    clean rows, examples) is built by :class:`workbench.audit.outputs.AuditOutputs`.
    """

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        as_of: pd.Timestamp,
        config: AuditConfig,
        errors_only: bool,
        *,
        now: pd.Timestamp | None = None,
        derived_orders: bool = False,
        other_days: dict[str, pd.Series] | None = None,
    ) -> None:
        self.tables = tables
        self.as_of = as_of
        self.config = config
        self.errors_only = errors_only
        self.now = now if now is not None else pd.Timestamp.now(tz="UTC")
        self.extracted_at = parse_extracted_at(config.extracted_at)
        self.derived_orders = derived_orders  # amounts are Σ of every line (line-level export)
        # the future limit: the run date, or the day after the source's extract date, estimated
        # from the days of every time column (``other_days``: of tables audited later)
        days = {t: day_counts(tables[t][c]) for t, c in TIME_COLUMNS.items() if t in tables}
        days.update(other_days or {})
        self.limit = future_limit(source_end(days.values()), now=self.now,
                                  extracted_at=self.extracted_at)  # fmt: skip
        self.limits = {t: self.limit for t in days}  # table -> its future limit
        self.after: dict[str, pd.DataFrame] = {}  # table -> rows set aside after as_of
        self.raw_amount = pd.Series(dtype="float64")  # orders' amount as loaded
        self.findings: dict[str, list[Finding]] = {t: [] for t in tables}
        self.repaired: dict[str, dict[str, pd.Series]] = {t: {} for t in tables}
        self.repairs: list[Repair] = []
        self.duplicates: DuplicateResult | None = None
        self.freshness: list[dict] = []
        self.amount_limits: dict[str, float] = {}
        self.amount_eligible = np.zeros(0, dtype=bool)
        self.ids: dict[str, pd.Index] = {}  # parent table -> its unique key values
        self.codes: dict[tuple[str, str], np.ndarray] = {}  # (table, column) -> parent position
        self.survivor: np.ndarray | None = None  # customer position -> surviving position
        self._signup: pd.Series | None = None
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
        for table in EVENT_TABLES:
            if table in self.tables:
                self.run_events(table)

    def run_core(self) -> None:
        """Every rule on the tables other stages' rules depend on (all but the events)."""
        core = [t for t in self.tables if t not in EVENT_TABLES]
        for table in core:
            self.set_aside(table)
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
        self.set_aside(table)
        self.basic(table)
        self.events(table)
        self.freshness_of(table)

    def add_table(self, table: str, frame: pd.DataFrame) -> None:
        """Bring in a table after the others were audited (streamed event tables)."""
        self.tables[table] = checked_table(table, frame)
        self.findings[table] = []
        self.repaired[table] = {}

    def set_aside(self, table: str) -> None:
        """Move the rows at or after ``as_of`` that are not in the future to
        :attr:`after` (lines: those of a set-aside order); the rules see the rest."""
        frame = self.tables[table]
        column = time_column(table)
        if table == "order_items" and "orders" in self.after:
            later = pd.Index(self.after["orders"]["order_id"].dropna().unique())
            now = pd.Index(self.tables["orders"]["order_id"].dropna().unique())
            after = is_member(frame["order_id"], later) & ~is_member(frame["order_id"], now)
            column = "order_id"
        elif table in ("orders", "email_events", "web_events", "experiment_assignments"):
            times = frame[column]
            limit = self.limit
            self.limits[table] = limit
            after = ((times >= self.as_of) & (times < limit)).fillna(False).to_numpy()
        else:
            return
        self.after[table] = frame.loc[after].reset_index(drop=True)
        if after.any():
            self.tables[table] = frame.loc[~after].reset_index(drop=True)
        what = "the line's order is" if table == "order_items" else f"{column} is"
        self.add(
            Finding(table, "after_as_of", column=column, count=int(after.sum()),
                    note=f"{what} on or after as_of {self.as_of.date()}: set aside, not audited")
        )  # fmt: skip

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
        if table_spec(table).numeric_columns:
            self.add(check_non_finite(table, frame))
        self.add(
            check_duplicates(table, frame, key=() if table == "experiment_assignments" else None)
        )
        if not self.errors_only:
            self.add(check_missing(table, frame))

    def customers(self) -> None:
        customers = self.tables["customers"]
        if not self.errors_only:
            self.add(check_emails(customers))
            self.add(check_customer_dates(customers, self.as_of, self.limit))
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
        self.raw_amount = orders["amount"]
        self.resolve("orders", "customer_id", "customers")
        self.add(check_future("orders", orders, "ordered_at", self.limit))
        if not self.errors_only:
            self.add(self._before_signup("orders", "ordered_at"))
        # the status the line rules see; :meth:`money` settles it on the final amounts
        self.repaired["orders"]["status"] = check_order_amounts(orders)[0]
        self.repoint("orders")
        if "order_items" not in self.tables:
            self.money(None)

    def money(self, lines: pd.DataFrame | None) -> None:
        """Final amounts (from the clean lines when the orders were derived from them),
        then the amount rules: negative (relabelled cancelled), zero, cancellations, amount
        against the clean lines, outliers. ``lines``: per order row ``total`` (Σ of its
        clean lines), ``clean`` (it has a clean line) and ``any`` (it has a line)."""
        orders = self.tables["orders"]
        final = orders
        if lines is not None and self.derived_orders:
            final = self._recompute(orders, lines)
        status, findings = check_order_amounts(final)
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
        if self.errors_only:
            return
        self.add(findings)
        if lines is not None:
            total = lines["total"].where(lines["clean"].to_numpy())
            self.add(check_amount_vs_lines(final, total))
        eligible = ~self.mask("orders")
        amount = final["amount"]
        self.amount_eligible = eligible & (amount > 0).fillna(False).to_numpy()
        limits = outlier_thresholds(
            amount[self.amount_eligible],
            iqr_k=self.config.iqr_k,
            z_max=self.config.robust_z,
            min_ratio=self.config.outlier_min_ratio,
        )
        self.amount_limits = limits
        self.amounts = amount[self.amount_eligible].reset_index(drop=True)
        self.add(check_outliers("orders", final, "amount", eligible, limits, prefix="amount"))

    def _recompute(self, orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
        """Orders derived from lines: the amount of an order with clean lines becomes Σ of
        them (a counted repair); one whose every line was quarantined is quarantined."""
        clean = lines["clean"].to_numpy(dtype=bool)
        amount = orders["amount"].to_numpy(dtype=float, na_value=np.nan)
        recomputed = np.where(clean, np.round(lines["total"].to_numpy(dtype=float), 2), amount)
        changed = clean & ~np.isclose(recomputed, amount, rtol=0, atol=0.005, equal_nan=True)
        if changed.any():
            self.repaired["orders"]["amount"] = pd.Series(recomputed, index=orders.index)
            self.repairs.append(
                Repair("orders", "amount",
                       "recomputed from the order's clean lines (a line was quarantined)",
                       int(changed.sum()))
            )  # fmt: skip
        none = lines["any"].to_numpy(dtype=bool) & ~clean & ~self.mask("orders")
        self.add(
            Finding("orders", "lines_quarantined", np.flatnonzero(none).astype(np.int64),
                    "every line of the order was quarantined (see order_items)", column="amount")
        )  # fmt: skip
        return orders.assign(amount=recomputed)

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
        # Σ quantity × unit_price of each order's clean lines (quarantined lines add nothing)
        clean = known & ~self.mask("order_items")
        value = (items["quantity"] * items["unit_price"]).to_numpy(dtype=float, na_value=np.nan)
        totals = np.bincount(line_order[clean], weights=value[clean], minlength=len(order_ids))
        has_clean = np.bincount(line_order[clean], minlength=len(order_ids)) > 0
        has_any = np.bincount(line_order[known], minlength=len(order_ids)) > 0
        row = np.maximum(order_codes, 0)
        mapped = order_codes >= 0
        self.money(
            pd.DataFrame(
                {
                    "total": np.where(mapped, totals[row], 0.0),
                    "clean": mapped & has_clean[row],
                    "any": mapped & has_any[row],
                }
            )
        )

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
        self.add(check_future(table, frame, "occurred_at", self.limit))
        if not self.errors_only:
            self.add(self._before_signup(table, "occurred_at"))
        self.repoint(table)

    def assignments(self) -> None:
        table = "experiment_assignments"
        frame = self.tables[table]
        self.resolve(table, "customer_id", "customers")
        self.add(check_future(table, frame, "assigned_at", self.limit))
        if not self.errors_only:
            self.add(self._before_signup(table, "assigned_at"))
        self.repoint(table)
        self.add(check_assignments(frame, self.column(table, "customer_id")))

    # ---------------------------------------------------------------- errors per row

    def errors_by_row(self, table: str) -> pd.DataFrame:
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
        errors = self.errors_by_row(table)
        return pd.Series(errors["rule"].to_numpy(dtype=object), index=errors["pos"].to_numpy())
