"""The audit's row rules as Ibis expressions: what :mod:`workbench.audit.engine` runs.

Each function takes and returns Ibis tables; nothing runs until the engine executes or
writes a table. Every row of a table carries:

* the canonical columns as read (``normalise=True``: see :mod:`workbench.canonical`);
* ``_after`` — set aside at or after ``as_of`` (:mod:`workbench.audit.timeline`); every
  rule below is switched off for those rows, and every count leaves them out;
* ``_e_<check>`` / ``_r_<check>`` — a failed error check and its reason, joined into
  ``_rule`` and ``_reason`` (``"; "`` between several, as the pandas audit does);
* ``_fix_<column>`` / ``_fixed_<column>`` — the repaired id (matched ignoring case, then
  moved to the surviving customer) and whether it changed;
* ``is_<flag>`` — the warnings (and ``is_revenue``) that become the clean table's flag
  columns; :func:`warning_reason` writes the text of a flagged row (for the examples).

Reasons are texts built only for the rows that need one (failing rows, examples): a text
on every row costs more than the rules themselves.

The rules are those of the pandas audit (:mod:`workbench.audit.auditor`), row for row;
where an order between rows matters (which copy or version of a key is kept, which
repeated assignment is the earliest) the first in sort order of the other columns is kept
(the pandas audit keeps the first in file order), so the counts are the same and the rows
may differ.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.audit.scans import UNKNOWN_RULE, allowed_values, classify_references, key_label
from workbench.canonical import CanonicalTables
from workbench.schema import table_spec

__all__ = [
    "customer_warnings",
    "email_problem",
    "error_rows",
    "join_rules",
    "lit",
    "order_lines",
    "order_money",
    "line_totals",
    "assignment_rules",
    "quantity_flags",
    "signups",
    "warning_reason",
    "with_before_signup",
    "with_merges",
]

_NULL = ibis.null(dt.String())


def lit(text: str) -> ibis.StringValue:
    """A string literal (typed, so concatenations stay strings on every engine)."""
    return ibis.literal(text, type=dt.String())


def _when(flag: ibis.BooleanValue, text: ibis.StringValue) -> ibis.StringValue:
    return ibis.ifelse(flag, text, _NULL)


def join_rules(rules: list[ibis.StringValue]) -> ibis.StringValue:
    """Non-null texts joined by ``"; "`` (null when none)."""
    joined = lit("; ").join(rules)
    return ibis.ifelse(joined == "", _NULL, joined)


def _ts(value: ibis.TimestampValue) -> ibis.StringValue:
    return value.strftime("%Y-%m-%d %H:%M").fill_null("blank")


def _future_text(limit: pd.Timestamp) -> str:
    return f" is in the future of the data (on or after {limit:%Y-%m-%d %H:%M} UTC)"


def error_rows(
    inputs: CanonicalTables,
    table: str,
    as_of: pd.Timestamp,
    *,
    keyed: bool,
    limit: pd.Timestamp | None,
) -> ibis.Table:
    """Each row of ``table`` with ``_after``, its error checks, ``_rule``/``_reason`` and
    the ids repaired ignoring case (``_fix_<column>``). ``limit``: the table's future limit
    (None: the table has no time column)."""
    spec = table_spec(table)
    columns, key = list(spec.columns), list(spec.key)
    t = inputs.tables[table]
    when = spec.time_column
    if limit is not None and when and table != "customers":
        after = ((t[when] >= ibis.literal(as_of)) & (t[when] < ibis.literal(limit))).fill_null(
            False
        )
    else:
        after = ibis.literal(False)
    t = t.mutate(_after=after)
    # (rule, name of its _e_ column, its reason from the final columns): reasons are built
    # only for the failing rows, at the end (a text per row would cost more than the rules)
    checks: list[tuple[str, str, Any]] = []
    added: dict[str, ibis.Value] = {}

    def check(rule: str, name: str, flag: ibis.BooleanValue, reason: Any) -> None:
        added[f"_e_{name}"] = flag.fill_null(False) & ~t._after
        checks.append((rule, name, reason))

    nullable = {n: c.nullable for n, c in spec.model.to_schema().columns.items()}
    for col in columns:
        if not nullable[col]:
            check("missing_required", f"blank_{col}", t[col].isnull(),
                  lambda f, col=col: lit(f"{col} is blank"))  # fmt: skip
    for col, allowed in allowed_values(table).items():
        check("invalid_value", f"invalid_{col}", t[col].notnull() & ~t[col].isin(allowed),
              lambda f, col=col, allowed=allowed: lit(f"{col} '") + f[col]
              + lit(f"' is not one of {', '.join(allowed)}"))  # fmt: skip
    for col in spec.numeric_columns:
        check("non_finite", f"inf_{col}", t[col].isinf(),
              lambda f, col=col: lit(f"{col} ") + f[col].cast("string").lower()
              + lit(" is not a finite number"))  # fmt: skip
    if limit is not None and when and table != "customers":
        check("future_timestamp", "future", t[when] >= ibis.literal(limit),
              lambda f: lit(f"{when} ") + _ts(f[when]) + lit(_future_text(limit)))  # fmt: skip
    if keyed:
        # one sort for both rules: within a key, rows ordered by the other columns; a row
        # tied with an earlier one is an exact copy, a later distinct one another version
        complete = ibis.and_(*[t[c].notnull() for c in key])
        others = [c for c in columns if c not in key] or key
        order = [ibis.asc(c, nulls_first=True) for c in others]
        within = ibis.window(group_by=[*key, "_after"], order_by=order)
        whole = ibis.window(group_by=[*key, "_after"], order_by=order, rows=(None, None))
        version = ibis.dense_rank().over(within)
        copies = ibis.row_number().over(within) - ibis.rank().over(within)
        added["_times"] = t[key[0]].count().over(whole)
        is_copy = complete & (copies > 0)
        check("duplicate_row", "copy", is_copy,
              lambda f: lit("exact copy of another row with ") + key_label(f, key)
              + lit("; one copy is kept"))  # fmt: skip
        check("duplicate_key", "version", complete & ~is_copy & (version > 0),
              lambda f: key_label(f, key) + lit(" appears ") + f._times.cast("string")
              + lit(" times with different values; the first version in sort order is kept"))  # fmt: skip
    else:
        copies = ibis.row_number().over(group_by=[*columns, "_after"], order_by=columns[:1])
        check("duplicate_row", "copy", copies > 0,
              lambda f: lit("exact copy of another row; one is kept"))  # fmt: skip
    t = t.mutate(**added)
    for col, parent in spec.foreign_keys.items():
        if parent not in inputs.tables:
            continue
        c = classify_references(t, col, inputs.tables[parent], table_spec(parent).key[0])
        joined = t.left_join(c, t[col] == c.value)
        t = joined.select(
            *[t[name] for name in t.columns],
            **{f"_e_ref_{col}": (c.status == "unknown").fill_null(False) & ~t._after,
               f"_fix_{col}": ibis.ifelse(c.status == "repaired", c.target, t[col]),
               f"_fixed_{col}": (c.status == "repaired").fill_null(False) & ~t._after},
        )  # fmt: skip
        checks.append((UNKNOWN_RULE[parent], f"ref_{col}",
                       lambda f, col=col, parent=parent: lit(f"{col} ") + f[col]
                       + lit(f" is not in {parent}")))  # fmt: skip
    rule = join_rules([_when(t[f"_e_{n}"], lit(r)) for r, n, _ in checks])
    reason = join_rules([_when(t[f"_e_{n}"], why(t)) for _, n, why in checks])
    kept = [c for c in t.columns if c.startswith(("_fix_", "_fixed_", "_e_", "_synonym_"))]
    return t.select(*columns, *kept, "_after", _rule=rule, _reason=reason)


def with_merges(errors: ibis.Table, table: str, merge: ibis.Table | None) -> ibis.Table:
    """Customers: the merged duplicates become errors; other tables: ``_fix_customer_id``
    moves to the surviving id (``_moved`` marks the re-pointed rows)."""
    if merge is None:
        return errors.mutate(_moved=ibis.literal(False))
    if table == "customers":
        m = merge.select(dup=merge.duplicate_id, why=merge.reason)
        j = errors.left_join(m, errors.customer_id == m.dup)
        merged = errors._rule.isnull() & m.dup.notnull()
        return j.select(
            *[errors[c] for c in errors.columns if c not in ("_rule", "_reason")],
            _rule=ibis.ifelse(merged, lit("duplicate_customer"), errors._rule),
            _reason=ibis.ifelse(merged, m.why, errors._reason),
            _moved=ibis.literal(False),
        )
    if "_fix_customer_id" not in errors.columns:
        return errors.mutate(_moved=ibis.literal(False))
    m = merge.select(dup=merge.duplicate_id, to=merge.surviving_id)
    j = errors.left_join(m, errors._fix_customer_id == m.dup)
    return j.select(
        *[errors[c] for c in errors.columns if c != "_fix_customer_id"],
        _fix_customer_id=m.to.fill_null(errors._fix_customer_id),
        _moved=m.to.notnull() & ~errors._after,
    )


# --------------------------------------------------------------------------- customers


def email_problem(email: ibis.StringValue) -> ibis.StringValue:
    """What is wrong with an e-mail address (null for a valid or blank one): the engine
    twin of :func:`workbench.audit.checks.email_problem`."""
    text = email.strip()
    ats = text.length() - text.replace("@", "").length()
    local = text.re_extract(r"^([^@]*)", 1)
    domain = ibis.ifelse(ats > 0, text.re_extract(r"^[^@]*@(.*)$", 1), lit(""))
    return ibis.cases(
        (text.isnull(), _NULL),
        (ats == 0, lit("no @")),
        (ats > 1, lit("more than one @")),
        (text.re_search(r"\s"), lit("contains a space")),
        (local.length() == 0, lit("nothing before the @")),
        (domain.length() == 0, lit("no domain after the @")),
        (~domain.contains("."), lit("domain has no dot")),
        (
            domain.startswith(".") | domain.endswith(".") | domain.contains(".."),
            lit("domain starts or ends with a dot"),
        ),  # fmt: skip
        else_=_NULL,
    )


def customer_warnings(
    errors: ibis.Table,
    as_of: pd.Timestamp,
    signup_limit: pd.Timestamp | None,
    present: frozenset[str],
) -> ibis.Table:
    """``is_invalid_email``, ``is_future_signup`` and ``is_implausible_birth_date`` with
    their reasons; ``present``: the columns holding at least one value (the others'
    rules are skipped and their flags false)."""
    t = errors
    problem = email_problem(t.email) if "email" in present else _NULL
    false = ibis.literal(False)
    future = (
        (t.signup_at >= ibis.literal(signup_limit)).fill_null(False)
        if "signup_at" in present and signup_limit is not None
        else false
    )
    oldest = as_of - pd.DateOffset(years=120)
    birth = (
        ((t.birth_date >= ibis.literal(as_of)) | (t.birth_date < ibis.literal(oldest))).fill_null(
            False
        )
        if "birth_date" in present
        else false
    )
    return t.mutate(
        is_invalid_email=problem.notnull(), is_future_signup=future, is_implausible_birth_date=birth
    )


def signups(customers: ibis.Table) -> ibis.Table:
    """Each customer id's ``signup_at`` (the row kept of that id): ``sid, signup``."""
    keep = customers.customer_id.notnull()
    for flag in ("_e_copy", "_e_version"):
        if flag in customers.columns:
            keep = keep & ~customers[flag]
    rows = customers.filter(keep)
    return rows.group_by(sid=rows.customer_id).aggregate(signup=rows.signup_at.min())


def with_before_signup(
    errors: ibis.Table, column: str, signup: ibis.Table | None, grace_hours: float
) -> ibis.Table:
    """``is_before_signup``: the row's time before its customer's ``signup_at`` minus the
    grace (the id as repaired, before merged customers are re-pointed). ``signup`` None:
    the rule is skipped (flag false)."""
    if signup is None or "_fix_customer_id" not in errors.columns:
        return errors.mutate(
            is_before_signup=ibis.literal(False), _signup=ibis.null(dt.Timestamp(timezone="UTC"))
        )
    j = errors.left_join(signup, errors._fix_customer_id == signup.sid)
    start = signup.signup - ibis.interval(seconds=int(round(grace_hours * 3600)))
    early = ((errors[column] < start) & ~errors._after).fill_null(False)
    return j.select(
        *[errors[c] for c in errors.columns],
        is_before_signup=early,
        _signup=signup.signup,
    )


# --------------------------------------------------------------------------- orders and lines


def order_lines(lines: ibis.Table, orders: ibis.Table) -> ibis.Table:
    """The line rules. ``orders``: ``order_id, _rule, status`` (the status the line rules
    see: relabelled cancelled when a completed order's amount as loaded is negative),
    ``_after``. Lines of a set-aside order (and of no other) are set aside; lines of an
    order without a clean row are ``order_quarantined``; ``negative_quantity`` (unless the
    order is cancelled or returned: ``cancellation_line``), ``zero_quantity`` and
    ``negative_price`` are errors; ``zero_price`` is flagged."""
    ok = orders._rule.isnull() & ~orders._after
    bad = orders._rule.notnull() & ~orders._after
    state = orders.group_by(aid=orders.order_id).aggregate(  # one row per order id
        cstatus=orders.status.min(where=ok),
        has_clean=ok.max(),
        qrule=orders._rule.min(where=bad),
        has_bad=bad.max(),
        later=orders._after.max(),
        current=(~orders._after).max(),
    )
    oid = lines._fix_order_id
    j = lines.left_join(state, oid == state.aid)
    after = (state.later & ~state.current).fill_null(False)
    status = state.cstatus
    clean_order = state.has_clean.fill_null(False)
    quarantined = state.has_bad.fill_null(False)
    undone = status.isin(["cancelled", "returned"]).fill_null(False)
    negative = (lines.quantity < 0).fill_null(False)
    quantity = lines.quantity.cast("string")
    checks = [
        ("order_quarantined", oid.notnull() & ~clean_order & quarantined,
         lit("order ") + oid + lit(" is quarantined (") + state.qrule + ")"),
        ("negative_quantity", negative & ~undone,
         lit("quantity ") + quantity + lit(" on a line of ") + status.fill_null("unknown")
         + lit(" order ") + oid),
        ("zero_quantity", (lines.quantity == 0).fill_null(False), lit("quantity is 0")),
        ("negative_price", (lines.unit_price < 0).fill_null(False),
         lit("unit_price ") + lines.unit_price.cast("string") + lit(" is negative")),
    ]  # fmt: skip
    live = ~after
    rule = join_rules([lines._rule, *[_when(c & live, lit(r)) for r, c, _ in checks]])
    reason = join_rules([lines._reason, *[_when(c & live, w) for _, c, w in checks]])
    return j.select(
        *[lines[c] for c in lines.columns if c not in ("_rule", "_reason", "_after")],
        _after=after,
        _rule=ibis.ifelse(after, _NULL, rule),
        _reason=ibis.ifelse(after, _NULL, reason),
        is_zero_price=(lines.unit_price == 0).fill_null(False) & live,
        _cancellation_line=negative & undone & live,
        **{f"_l_{r}": (c & live).fill_null(False) for r, c, _ in checks},
    )


def quantity_flags(lines: ibis.Table, limits: dict[str, float]) -> ibis.Table:
    """The quantity outlier flags of clean lines' positive quantities (``limits`` learned
    from them: :func:`workbench.audit.checks.outlier_thresholds`)."""
    return lines.mutate(**_outlier_flags(lines, lines.quantity, limits, "quantity"))


def _outlier_flags(
    t: ibis.Table, value: ibis.NumericValue, limits: dict[str, float], what: str
) -> dict[str, ibis.Value]:
    eligible = t._rule.isnull() & ~t._after & (value > 0)
    flags: dict[str, ibis.Value] = {}
    for name, low, high in (("iqr", "iqr_low", "iqr_high"), ("z", "z_low", "z_high")):
        lo, hi = limits.get(low, float("nan")), limits.get(high, float("nan"))
        flag = f"is_outlier_{what}_{name}"
        if pd.notna(hi):
            flags[flag] = (eligible & ((value > hi) | (value < lo))).fill_null(False)
        else:
            flags[flag] = ibis.literal(False)
    flags[f"is_outlier_{what}"] = flags[f"is_outlier_{what}_iqr"] | flags[f"is_outlier_{what}_z"]
    return flags


def line_totals(lines: ibis.Table) -> ibis.Table:
    """Per order id: Σ quantity × unit_price of its clean lines (``total``), how many clean
    lines (``n_clean``) and lines of a known order (``n_any``), set-aside lines left out."""
    live = lines.filter(~lines._after & lines._fix_order_id.notnull() & ~lines._e_ref_order_id)
    clean = live._rule.isnull()
    return live.group_by(tid=live._fix_order_id).aggregate(
        total=(live.quantity * live.unit_price).sum(where=clean),
        n_clean=clean.sum(),
        n_any=live.count(),
    )


def order_money(
    orders: ibis.Table,
    totals: ibis.Table | None,
    limits: dict[str, float],
    *,
    derived: bool,
) -> ibis.Table:
    """Final amounts and the amount rules of orders (see :mod:`workbench.audit.money`).

    ``_raw_amount`` keeps the amount as loaded; ``_fix_amount`` is the final one (Σ of the
    clean lines for orders derived from lines); ``lines_quarantined`` (error) when such an
    order has lines but none clean; ``_fix_status`` relabels a completed order with a
    negative final amount cancelled; flags: negative and zero amount, both outlier
    methods, ``is_amount_mismatch`` (against the clean lines), ``is_revenue``."""
    t = orders
    if totals is not None:
        j = t.left_join(totals, t.order_id == totals.tid)
        t = j.select(
            *[orders[c] for c in orders.columns],
            _total=totals.total.fill_null(0.0),
            _has_clean=(totals.n_clean > 0).fill_null(False),
            _has_lines=(totals.n_any > 0).fill_null(False),
        )
    else:
        t = t.mutate(
            _total=ibis.literal(0.0), _has_clean=ibis.literal(False), _has_lines=ibis.literal(False)
        )
    amount = t.amount
    if derived and totals is not None:
        amount = ibis.ifelse(t._has_clean, t._total.round(2), t.amount)
        none = (t._has_lines & ~t._has_clean & t._rule.isnull() & ~t._after).fill_null(False)
        t = t.mutate(
            _rule=ibis.ifelse(none, lit("lines_quarantined"), t._rule),
            _reason=ibis.ifelse(
                none, lit("every line of the order was quarantined (see order_items)"), t._reason
            ),
            _e_lines=none,
        )
    t = t.mutate(_raw_amount=t.amount, _fix_amount=amount)
    live = ~t._after
    negative = ((t._fix_amount < 0) & (t.status == "completed")).fill_null(False) & live
    close = (t._fix_amount - t._total).abs() <= 0.01 + 0.005 * t._total.abs()
    mismatch = (t._has_clean & ~close & t._fix_amount.notnull()).fill_null(False) & live
    t = t.mutate(
        _fix_status=ibis.ifelse(negative, lit("cancelled"), t.status),
        _amount_changed=(
            t._has_clean & ((t._fix_amount - t.amount).abs() > 0.005) & live
        ).fill_null(False)
        if derived and totals is not None
        else ibis.literal(False),
        is_negative_amount=negative,
        is_zero_amount=(t._fix_amount == 0).fill_null(False) & live,
        is_amount_mismatch=mismatch,
    )  # fmt: skip
    t = t.mutate(**_outlier_flags(t, t._fix_amount, limits, "amount"))
    return t.mutate(
        is_revenue=((t._fix_status == "completed") & (t._fix_amount > 0)).fill_null(False)
    )


def assignment_rules(t: ibis.Table) -> ibis.Table:
    """After merging customers: ``conflicting_assignment`` (error) for every row of a
    customer in several variants of an experiment; ``duplicate_key`` (error) for repeated
    assignments to one variant (the earliest is kept)."""
    cid = t._fix_customer_id if "_fix_customer_id" in t.columns else t.customer_id
    keyed = (t.experiment_id.notnull() & cid.notnull() & ~t._after).fill_null(False)
    group = [t.experiment_id, cid, keyed]
    # several variants <=> smallest != largest (blanks ignored, as a distinct count does):
    # Spark refuses a distinct count over a window, min and max run on every engine
    several = (
        t.variant.min().over(group_by=group) != t.variant.max().over(group_by=group)
    ).fill_null(False)
    order = ibis.row_number().over(
        group_by=group, order_by=[t.assigned_at, t.variant, t.customer_id, t.experiment_id]
    )
    t = t.mutate(_e_conflict=keyed & several, _keyed=keyed, _order=order)  # windows once
    cid = t._fix_customer_id if "_fix_customer_id" in t.columns else t.customer_id
    conflict = t._e_conflict
    repeat = t._keyed & ~conflict & (t._order > 0)
    listing = lit("customer ") + cid + lit(" is in several variants of ") + t.experiment_id
    again = (
        lit("customer ") + cid + lit(" is assigned to ") + t.experiment_id
        + lit(" more than once (after merging duplicate customers); the earliest "
              "assignment is kept")
    )  # fmt: skip
    rule = join_rules(
        [
            t._rule,
            _when(conflict, lit("conflicting_assignment")),
            _when(repeat, lit("duplicate_key")),
        ]
    )
    reason = join_rules([t._reason, _when(conflict, listing), _when(repeat, again)])
    return t.mutate(_rule=rule, _reason=reason, _e_repeat=repeat).drop("_keyed", "_order")


def _number(value: ibis.NumericValue) -> ibis.StringValue:
    return value.round(2).cast("string")


def warning_reason(
    flag: str, t: ibis.Table, *, as_of: pd.Timestamp, limit: pd.Timestamp | None,
    limits: dict[str, dict[str, float]],
) -> ibis.StringValue | None:  # fmt: skip
    """The reason of a row flagged ``flag`` (None: ``t`` has no such flag), as the pandas
    audit words it. ``limit``: the future limit; ``limits``: the outlier limits of
    ``amount`` and ``quantity``."""
    if flag not in t.columns:
        return None
    if flag.startswith("is_outlier_"):
        what, method = flag.removeprefix("is_outlier_").rsplit("_", 1)
        low, high = ("iqr_low", "iqr_high") if method == "iqr" else ("z_low", "z_high")
        bounds = limits.get(what) or {}
        label = "IQR fences" if method == "iqr" else "robust z limits"
        value = t._fix_amount if what == "amount" else t.quantity
        return (
            lit(f"{what} ")
            + _number(value)
            + lit(
                f" is outside the {label} [{bounds.get(low, float('nan')):,.2f}, "
                f"{bounds.get(high, float('nan')):,.2f}]"
            )
        )
    texts = {
        "is_invalid_email": lambda: lit("e-mail ") + email_problem(t.email),
        "is_future_signup": lambda: lit("signup_at ") + _ts(t.signup_at)
        + lit(_future_text(limit if limit is not None else as_of)),
        "is_implausible_birth_date": lambda: lit("birth_date ")
        + t.birth_date.strftime("%Y-%m-%d").fill_null("blank")
        + lit(f" is after as_of {as_of.date()} or more than 120 years before it"),
        "is_before_signup": lambda: _before_signup_text(t),
        "is_zero_price": lambda: lit("unit_price is 0"),
        "is_negative_amount": lambda: lit("amount ") + _number(t._fix_amount)
        + lit(" on an order marked completed; labelled cancelled, not revenue"),
        "is_zero_amount": lambda: lit("amount is 0"),
        "is_amount_mismatch": lambda: lit("amount ") + _number(t._fix_amount)
        + lit(" but its lines add up to ") + _number(t._total),
    }  # fmt: skip
    return texts[flag]() if flag in texts else None


def _before_signup_text(t: ibis.Table) -> ibis.StringValue:
    column = next(c for c in ("ordered_at", "occurred_at", "assigned_at") if c in t.columns)
    return (
        lit(f"{column} ")
        + _ts(t[column])
        + lit(" is before the customer's signup_at ")
        + _ts(t._signup)
    )
