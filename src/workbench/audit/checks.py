"""The vectorised checks behind the audit's rules (:data:`workbench.audit.rules.RULES`).

Each check is a function on a canonical table that returns
:class:`~workbench.audit.rules.Finding` objects: the positions of the failing rows and a
reason per row. Checks never modify their input. Positions refer to the table with a
fresh ``RangeIndex`` (``frame.reset_index(drop=True)``). :func:`index_of` and
:func:`is_member` look ids up in large id sets without Python objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import pandera.pandas as pa

from workbench.audit.rules import Finding
from workbench.schema import table_spec

__all__ = [
    "check_schema",
    "check_missing",
    "check_duplicates",
    "check_emails",
    "check_customer_dates",
    "resolve_ids",
    "check_future",
    "check_before_signup",
    "check_order_amounts",
    "outlier_thresholds",
    "check_outliers",
    "check_amount_vs_lines",
    "check_lines",
    "check_assignments",
    "check_freshness",
    "email_problem",
    "is_member",
    "index_of",
]

log = logging.getLogger(__name__)

_SAMPLE = 5  # rows kept as examples for info rules (their full row lists are not needed)


def _found(
    table: str,
    rule: str,
    mask: np.ndarray | pd.Series,
    reasons: str | Callable[[np.ndarray], np.ndarray | pd.Series],
    *,
    column: str | None = None,
    sample: bool = False,
) -> Finding:
    """A finding from a boolean mask; ``reasons`` is a text or a function of the positions."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    count = None
    if sample:
        count, rows = len(rows), rows[:_SAMPLE]
    given = reasons(rows) if callable(reasons) and len(rows) else reasons
    text: str | np.ndarray = (
        ""
        if callable(given)
        else given
        if isinstance(given, str)
        else np.asarray(given, dtype=object)
    )
    return Finding(table, rule, rows.astype(np.int64), text, column=column, count=count)


def index_of(values: pd.Series, ids: pd.Index) -> np.ndarray:
    """Position of each value in ``ids`` (unique, no blanks); -1 where absent or blank.

    Uses Arrow's hash lookup for Arrow-backed strings (pandas' own ``isin``/``map`` convert
    millions of strings to Python objects first), and ``Index.get_indexer`` otherwise.

    Examples
    --------
    >>> index_of(pd.Series(["b", None, "z"], dtype="str"), pd.Index(["a", "b"], dtype="str")).tolist()
    [1, -1, -1]
    """
    if not isinstance(ids, pd.Index):
        ids = pd.Index(ids)
    if not ids.is_unique:
        raise ValueError("index_of: ids must be unique")
    arrow = getattr(values.array, "__arrow_array__", None)
    if arrow is not None and getattr(ids.array, "__arrow_array__", None) is not None:
        import pyarrow.compute as pc

        found = pc.index_in(arrow(), value_set=ids.array.__arrow_array__())
        return found.fill_null(-1).to_numpy().copy()  # writable int32: half of int64 codes
    return ids.get_indexer(values).astype(np.int64)


def is_member(values: pd.Series, ids: pd.Index) -> np.ndarray:
    """``values.isin(ids)`` for large id sets (see :func:`index_of`)."""
    ids = ids if isinstance(ids, pd.Index) else pd.Index(ids)
    return index_of(values, ids if ids.is_unique else ids.unique()) >= 0


def _skip(table: str, rule: str, why: str, column: str | None = None) -> Finding:
    return Finding(table, rule, column=column, skipped=why)


def _fmt_ts(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d %H:%M").astype("str").fillna("blank")


def _fmt_num(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: f"{v:,.2f}".rstrip("0").rstrip(".") if pd.notna(v) else "blank")
    return text.astype("str")


# --------------------------------------------------------------------------- schema & keys


def _schema_without_uniqueness(table: str) -> pa.DataFrameSchema:
    """The table's pandera schema with uniqueness left to :func:`check_duplicates` (which
    keeps the first copy and tells exact copies from conflicting versions)."""
    schema = table_spec(table).model.to_schema()
    updates = {name: {"unique": False} for name, col in schema.columns.items() if col.unique}
    return schema.update_columns(updates) if updates else schema


def check_schema(table: str, frame: pd.DataFrame) -> list[Finding]:
    """Validate ``frame`` with the table's pandera model (``lazy=True``, every failure
    case collected at once).

    Column presence and types become the table-level ``schema`` finding; blanks in
    required columns become ``missing_required`` and values outside the allowed list
    ``invalid_value`` findings, one per column, with the failing rows.
    """
    schema = _schema_without_uniqueness(table)
    try:
        schema.validate(frame, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    findings: list[Finding] = []
    problems: list[str] = []
    if cases is not None:
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
            index = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64)
            if check == "not_nullable" and len(index):
                rows = np.sort(index.to_numpy())
                findings.append(
                    Finding(table, "missing_required", rows, f"{column} is blank", column=column)
                )
            elif str(check).startswith("isin") and len(index):
                allowed = ", ".join(
                    map(str, schema.columns[column].checks[0].statistics["allowed_values"])
                )
                values = frame[column].iloc[index.to_numpy()].astype("str")
                order = np.argsort(index.to_numpy())
                reasons = (f"{column} " + values.map(repr) + f" is not one of {allowed}").to_numpy()
                findings.append(
                    Finding(
                        table,
                        "invalid_value",
                        index.to_numpy()[order],
                        reasons[order],
                        column=column,
                    )
                )
            else:
                shown = ", ".join(map(str, group["failure_case"].astype(str).unique()[:3]))
                where = f"column {column!r}" if isinstance(column, str) else "table"
                problems.append(f"{where}: {check} (got {shown})")
    note = "; ".join(problems) if problems else None
    findings.insert(0, Finding(table, "schema", note=note, failed=bool(problems)))
    return findings


def check_missing(table: str, frame: pd.DataFrame) -> list[Finding]:
    """``missing_value`` (info) for every optional canonical column with blanks."""
    schema = table_spec(table).model.to_schema()
    findings = []
    for name, column in schema.columns.items():
        if not column.nullable or name not in frame.columns:
            continue
        blank = frame[name].isna().to_numpy()
        if blank.any():
            findings.append(
                _found(table, "missing_value", blank, f"{name} is blank", column=name, sample=True)
            )
    return findings


def check_duplicates(
    table: str, frame: pd.DataFrame, *, key: tuple[str, ...] | None = None
) -> list[Finding]:
    """``duplicate_row`` (exact copies of an earlier row) and ``duplicate_key`` (the key
    repeated with different values); the first occurrence stays clean in both cases.

    Only rows whose key repeats can be exact copies, so tables with a key hash their
    full rows only for those few; tables without a usable key compare full rows.
    ``key=()`` checks exact copies only (the caller checks the key itself).
    """
    spec = table_spec(table)
    check_key = key != ()
    key = spec.key if key is None else key
    columns = [c for c in spec.columns if c in frame.columns]
    usable = bool(key) and all(c in frame.columns for c in key)
    if usable and frame[list(key)].isna().all(axis=None):
        usable = False
    if not usable:
        copies = frame.duplicated(subset=columns, keep="first").to_numpy()
        findings = [_found(table, "duplicate_row", copies, "exact copy of an earlier row")]
        if check_key:
            why = f"{table} has no values in its key column(s) {', '.join(key) or '(none)'}"
            findings.append(_skip(table, "duplicate_key", why))
        return findings
    key_columns = list(key)
    keyed = frame[key_columns].notna().all(axis=1).to_numpy()
    cand = np.flatnonzero(keyed & frame.duplicated(subset=key_columns, keep=False).to_numpy())
    sub = frame.iloc[cand]
    copies_sub = sub.duplicated(subset=columns, keep="first").to_numpy()
    later_sub = sub.duplicated(subset=key_columns, keep="first").to_numpy()
    copies = np.zeros(len(frame), dtype=bool)
    copies[cand[copies_sub]] = True
    conflicting = np.zeros(len(frame), dtype=bool)
    conflicting[cand[later_sub & ~copies_sub]] = True
    times = np.zeros(len(frame), dtype=np.int64)
    times[cand] = sub.groupby(key_columns, dropna=True)[key_columns[0]].transform("size").to_numpy()
    label = _key_label(frame, key_columns)
    findings = [
        _found(
            table,
            "duplicate_row",
            copies,
            lambda rows: (
                "exact copy of an earlier row with " + label(rows) + "; the first copy is kept"
            ).to_numpy(),
        )
    ]
    if check_key:
        findings.append(
            _found(
                table,
                "duplicate_key",
                conflicting,
                lambda rows: (
                    label(rows)
                    + " appears "
                    + pd.Series(times[rows]).astype("str")
                    + " times with different values; the first row is kept"
                ).to_numpy(),
            )
        )
    return findings


def _outside_reason(
    column: str, values: pd.Series, label: str, lo: float, hi: float, rows: np.ndarray
) -> np.ndarray:
    return (
        f"{column} "
        + _fmt_num(values.iloc[rows])
        + f" is outside the {label} [{lo:,.2f}, {hi:,.2f}]"
    ).to_numpy()


def _key_label(
    frame: pd.DataFrame, key: tuple[str, ...] | list[str]
) -> Callable[[np.ndarray], pd.Series]:
    def label(rows: np.ndarray) -> pd.Series:
        parts = [c + " " + frame[c].iloc[rows].astype("str").fillna("blank") for c in key]
        text = parts[0]
        for part in parts[1:]:
            text = text + ", " + part
        return text.reset_index(drop=True)

    return label


# --------------------------------------------------------------------------- customers


def email_problem(emails: pd.Series) -> pd.Series:
    """What is wrong with each e-mail address (missing for valid or blank ones).

    Surrounding blanks and upper case are not problems (they are normalised for matching).

    Examples
    --------
    >>> email_problem(pd.Series(["a@b.com", "ab.com", "a b@c.com", "a@", "a@@b.com", "a@b"])).tolist()
    [nan, 'no @', 'contains a space', 'no domain after the @', 'more than one @', 'domain has no dot']
    """
    text = emails.astype("str").str.strip()
    ats = text.str.count("@")
    parts = text.str.extract(r"^(?P<local>[^@]*)@?(?P<domain>.*?)$")
    local = parts["local"].astype("str")
    domain = parts["domain"].astype("str").where(ats > 0, "")
    conditions = [
        ats == 0,
        ats > 1,
        text.str.contains(r"\s", regex=True),
        local.str.len() == 0,
        domain.str.len() == 0,
        ~domain.str.contains(".", regex=False),
        domain.str.startswith(".")
        | domain.str.endswith(".")
        | domain.str.contains("..", regex=False),
    ]
    choices = [
        "no @",
        "more than one @",
        "contains a space",
        "nothing before the @",
        "no domain after the @",
        "domain has no dot",
        "domain starts or ends with a dot",
    ]
    filled = [c.fillna(False).to_numpy(dtype=bool) for c in conditions]
    problem = np.select(filled, choices, default="")
    out = pd.Series(problem, index=emails.index, dtype="str")
    return out.mask((out == "") | text.isna(), np.nan)


def check_emails(customers: pd.DataFrame) -> list[Finding]:
    """``invalid_email`` (warning): addresses that are not syntactically valid."""
    if "email" not in customers.columns or customers["email"].isna().all():
        return [_skip("customers", "invalid_email", "customers.email is empty or absent", "email")]
    problem = email_problem(customers["email"])
    bad = problem.notna().to_numpy()
    return [
        _found(
            "customers",
            "invalid_email",
            bad,
            lambda rows: ("e-mail " + problem.iloc[rows]).to_numpy(),
            column="email",
        )
    ]


def check_customer_dates(
    customers: pd.DataFrame, as_of: pd.Timestamp, limit: pd.Timestamp | None = None
) -> list[Finding]:
    """``future_signup`` (signup_at at or after ``limit``, the table's future limit, see
    :mod:`workbench.audit.timeline`; default ``as_of``) and ``implausible_birth_date``
    (warnings)."""
    findings = []
    limit = as_of if limit is None else limit
    signup = customers.get("signup_at")
    if signup is None or signup.isna().all():
        findings.append(
            _skip("customers", "future_signup", "customers.signup_at is empty", "signup_at")
        )
    else:
        future = (signup >= limit).fillna(False).to_numpy()
        findings.append(
            _found(
                "customers",
                "future_signup",
                future,
                lambda rows: (
                    "signup_at " + _fmt_ts(signup.iloc[rows]) + _in_future(limit)
                ).to_numpy(),
                column="signup_at",
            )
        )
    birth = customers.get("birth_date")
    if birth is None or birth.isna().all():
        findings.append(
            _skip(
                "customers", "implausible_birth_date", "customers.birth_date is empty", "birth_date"
            )
        )
    else:
        oldest = as_of - pd.DateOffset(years=120)
        bad = ((birth >= as_of) | (birth < oldest)).fillna(False).to_numpy()
        findings.append(
            _found(
                "customers",
                "implausible_birth_date",
                bad,
                lambda rows: (
                    "birth_date "
                    + birth.iloc[rows].dt.strftime("%Y-%m-%d").astype("str")
                    + f" is after as_of {as_of.date()} or more than 120 years before it"
                ).to_numpy(),
                column="birth_date",
            )
        )
    return findings


# --------------------------------------------------------------------------- references


def resolve_ids(
    table: str, frame: pd.DataFrame, column: str, parent_ids: pd.Index, parent: str
) -> tuple[pd.Series, np.ndarray, list[Finding]]:
    """Check that every non-blank ``column`` value exists in ``parent_ids``.

    A value that matches a parent id only after ignoring case and surrounding blanks
    (``'c0001 '`` for ``'C0001'``) is **repaired** to the parent's spelling when exactly
    one parent id matches, and counted (``id_case_mismatch``, info); a value matching no
    parent id is ``unknown_<parent>`` (error).

    Returns
    -------
    (pandas.Series, numpy.ndarray, list of Finding)
        The repaired column, each row's position in ``parent_ids`` (-1 for blank or
        unknown) and the findings.
    """
    unknown_rule = {
        "customers": "unknown_customer",
        "orders": "unknown_order",
        "products": "unknown_product",
    }[parent]
    values = frame[column]
    codes = index_of(values, parent_ids)
    missing = (codes < 0) & values.notna().to_numpy()
    repaired = values
    fixed = np.zeros(len(frame), dtype=bool)
    if missing.any():
        folded = pd.Series(parent_ids, dtype="str").str.strip().str.casefold()
        unique_fold = ~folded.duplicated(keep=False).to_numpy()
        lookup = pd.Index(folded[unique_fold].to_numpy())
        positions = np.flatnonzero(unique_fold)
        rows = np.flatnonzero(missing)
        wanted = values.iloc[rows].astype("str").str.strip().str.casefold()
        hit_at = lookup.get_indexer(wanted)
        hit = hit_at >= 0
        if hit.any():
            fixed[rows[hit]] = True
            codes[rows[hit]] = positions[hit_at[hit]]
            repaired = values.copy()
            repaired.iloc[rows[hit]] = np.asarray(parent_ids)[codes[rows[hit]]]
            missing[rows[hit]] = False
            log.info(
                "%s.%s: %d id(s) matched %s only after ignoring case/blanks; repaired",
                table, column, int(hit.sum()), parent,
            )  # fmt: skip
    findings = [
        _found(
            table,
            "id_case_mismatch",
            fixed,
            lambda rows: (
                f"{column} "
                + values.iloc[rows].map(repr).astype("str")
                + " matches "
                + repaired.iloc[rows].map(repr).astype("str")
                + f" in {parent} only after ignoring case/blanks; repaired"
            ).to_numpy(),
            column=column,
        ),
        _found(
            table,
            unknown_rule,
            missing,
            lambda rows: (
                f"{column} " + values.iloc[rows].astype("str") + f" is not in {parent}"
            ).to_numpy(),
            column=column,
        ),
    ]
    return repaired, codes, findings


# --------------------------------------------------------------------------- time


def _in_future(limit: pd.Timestamp) -> str:
    return f" is in the future of the data (on or after {limit:%Y-%m-%d %H:%M} UTC)"


def check_future(table: str, frame: pd.DataFrame, column: str, limit: pd.Timestamp) -> Finding:
    """``future_timestamp`` (error): ``column`` at or after ``limit``, the table's future
    limit (the run date, or the day after the data's extract date: see
    :mod:`workbench.audit.timeline`)."""
    times = frame[column]
    future = (times >= limit).fillna(False).to_numpy()
    return _found(
        table,
        "future_timestamp",
        future,
        lambda rows: (f"{column} " + _fmt_ts(times.iloc[rows]) + _in_future(limit)).to_numpy(),
        column=column,
    )


def check_before_signup(
    table: str,
    frame: pd.DataFrame,
    column: str,
    signup: pd.Series,
    *,
    grace: pd.Timedelta | None = None,
) -> Finding:
    """``before_signup`` (warning): ``column`` earlier than ``signup`` (each row's
    customer's ``signup_at``, aligned with ``frame``) minus ``grace``. Rows without a
    known customer or sign-up date are not checked."""
    if signup.dropna().empty:
        return _skip(table, "before_signup", "customers.signup_at is empty", column)
    times = frame[column]
    start = signup.set_axis(frame.index)  # (to_numpy would box every timestamp)
    early = (times < (start - (grace or pd.Timedelta(0)))).fillna(False).to_numpy()
    return _found(
        table,
        "before_signup",
        early,
        lambda rows: (
            f"{column} "
            + _fmt_ts(times.iloc[rows])
            + " is before the customer's signup_at "
            + _fmt_ts(start.iloc[rows])
        ).to_numpy(),
        column=column,
    )


def check_freshness(
    table: str, frame: pd.DataFrame, as_of: pd.Timestamp, max_age_days: int
) -> tuple[Finding, dict]:
    """``stale_table`` (warning, table level): the newest row before ``as_of`` is more than
    ``max_age_days`` old. Returns the finding and the table's freshness figures."""
    column = table_spec(table).time_column
    if not column or column not in frame.columns or frame[column].isna().all():
        why = f"{table} has no time column" if not column else f"{table}.{column} is empty"
        return _skip(table, "stale_table", why, column), {
            "table": table,
            "last": None,
            "age_days": None,
        }
    times = frame[column]
    before = times[times < as_of]
    last = before.max() if len(before) else pd.NaT
    age = None if pd.isna(last) else float((as_of - last) / pd.Timedelta(days=1))
    stale = age is None or age > max_age_days
    note = (
        f"no {column} before as_of {as_of.date()}"
        if age is None
        else f"newest {column} {last:%Y-%m-%d %H:%M} is {age:.1f} days before as_of"
    )
    info = {
        "table": table,
        "last": None if pd.isna(last) else last,
        "age_days": age,
        "stale": stale,
    }
    return Finding(table, "stale_table", column=column, note=note, failed=stale), info


# --------------------------------------------------------------------------- money & lines


def check_order_amounts(orders: pd.DataFrame) -> tuple[pd.Series, list[Finding]]:
    """Negative and zero amounts, cancellations and returns.

    A *completed* order with a negative amount is a cancellation or refund exported
    without its status (a cancellation invoice): its status becomes ``cancelled`` (a
    counted repair, rule ``negative_amount``) so it is never counted as revenue.

    Returns
    -------
    (pandas.Series, list of Finding)
        The (repaired) status column and the findings.
    """
    status = orders["status"]
    amount = orders["amount"]
    negative = ((amount < 0) & (status == "completed")).fillna(False).to_numpy()
    repaired = status.mask(negative, "cancelled") if negative.any() else status
    if negative.any():
        log.info(
            "orders: %d completed order(s) with a negative amount labelled cancelled",
            negative.sum(),
        )
    zero = (amount == 0).fillna(False).to_numpy()
    cancelled = repaired.isin(["cancelled", "returned"]).to_numpy()
    findings = [
        _found(
            "orders",
            "negative_amount",
            negative,
            lambda rows: (
                "amount "
                + _fmt_num(amount.iloc[rows])
                + " on an order marked completed; labelled cancelled, not revenue"
            ).to_numpy(),
            column="amount",
        ),
        _found("orders", "zero_amount", zero, "amount is 0", column="amount"),
        _found(
            "orders",
            "cancelled_or_returned",
            cancelled,
            lambda rows: (
                "status " + repaired.iloc[rows].astype("str") + "; kept, not revenue"
            ).to_numpy(),
            column="status",
            sample=True,
        ),
    ]
    return repaired, findings


def outlier_thresholds(
    values: pd.Series, *, iqr_k: float = 3.0, z_max: float = 3.5, min_ratio: float = 10.0
) -> dict[str, float]:
    """Outlier limits for positive, heavy-tailed values (amounts, quantities).

    Both methods work on ``log(value)`` (spend is roughly log-normal) and are returned in
    the original units:

    * IQR: outside ``[Q1 - k·IQR, Q3 + k·IQR]`` (Tukey fences, ``k = iqr_k``);
    * robust z: ``|log(x) - median| / (1.4826·MAD) > z_max`` (Iglewicz–Hoaglin; when
      the MAD is 0, 1.2533 × the mean absolute deviation is the scale).

    Either limit is at least ``min_ratio`` times (or at most 1/``min_ratio`` of) the
    median, so values with little spread (quantities that are nearly always 1) are not
    flagged for being 2.

    Examples
    --------
    >>> t = outlier_thresholds(pd.Series([10.0, 12, 9, 11, 10, 13, 8, 10]))
    >>> round(t["median"], 2), t["iqr_high"] >= 100, t["z_high"] >= 100
    (10.0, True, True)
    """
    x = pd.to_numeric(values, errors="coerce")
    x = x[(x > 0) & np.isfinite(x)]
    keys = ("median", "iqr_low", "iqr_high", "z_low", "z_high")
    if x.empty:
        return dict.fromkeys(keys, float("nan"))
    lx = np.log(x.to_numpy(dtype=float))
    q1, med, q3 = np.quantile(lx, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    mad = np.median(np.abs(lx - med))
    scale = 1.4826 * mad if mad > 0 else 1.2533 * np.mean(np.abs(lx - med))
    floor = np.log(min_ratio)
    out = {
        "median": med,
        "iqr_low": min(q1 - iqr_k * iqr, med - floor),
        "iqr_high": max(q3 + iqr_k * iqr, med + floor),
        "z_low": min(med - z_max * scale, med - floor),
        "z_high": max(med + z_max * scale, med + floor),
    }
    return {k: float(np.exp(v)) for k, v in out.items()}


def check_outliers(
    table: str,
    frame: pd.DataFrame,
    column: str,
    eligible: np.ndarray,
    limits: dict[str, float],
    *,
    prefix: str,
) -> list[Finding]:
    """``<prefix>_outlier_iqr`` and ``<prefix>_outlier_robust_z`` (warnings): positive
    values of ``column`` outside ``limits`` (see :func:`outlier_thresholds`) among the
    ``eligible`` rows."""
    values = frame[column]
    positive = eligible & (values > 0).fillna(False).to_numpy()
    out = []
    for method, low, high in (("iqr", "iqr_low", "iqr_high"), ("robust_z", "z_low", "z_high")):
        rule = f"{prefix}_outlier_{method}"
        if not np.isfinite(limits.get(high, np.nan)):
            out.append(
                _skip(table, rule, f"no positive {column} values to learn limits from", column)
            )
            continue
        lo, hi = limits[low], limits[high]
        flagged = positive & ((values > hi) | (values < lo)).fillna(False).to_numpy()
        label = "IQR fences" if method == "iqr" else "robust z limits"
        out.append(
            _found(
                table,
                rule,
                flagged,
                partial(_outside_reason, column, values, label, lo, hi),
                column=column,
            )
        )
    return out


def check_amount_vs_lines(orders: pd.DataFrame, line_total: pd.Series) -> list[Finding]:
    """``amount_mismatch`` (info): the order amount differs from Σ quantity × unit_price
    of its lines (beyond 1 cent and 0.5 %); ``order_without_lines`` (info).

    ``line_total`` is aligned with ``orders`` (NaN for orders without lines).
    """
    total = pd.Series(line_total.to_numpy(dtype=float), index=orders.index)
    has_lines = total.notna().to_numpy()
    amount = orders["amount"]
    close = np.isclose(
        amount.to_numpy(dtype=float), total.to_numpy(dtype=float), rtol=0.005, atol=0.01
    )
    mismatch = has_lines & ~close & amount.notna().to_numpy()
    return [
        _found(
            "orders",
            "amount_mismatch",
            mismatch,
            lambda rows: (
                "amount "
                + _fmt_num(amount.iloc[rows])
                + " but its lines add up to "
                + _fmt_num(total.iloc[rows])
            ).to_numpy(),
            column="amount",
        ),
        _found("orders", "order_without_lines", ~has_lines, "no lines in order_items", sample=True),
    ]


def check_lines(items: pd.DataFrame, order_status: pd.Series) -> list[Finding]:
    """Quantities and prices of order lines.

    ``negative_quantity`` (error) unless the line's order is cancelled or returned, when
    it is a ``cancellation_line`` (info); ``zero_quantity`` and ``negative_price``
    (errors); ``zero_price`` (warning). ``order_status`` is each line's order status
    (aligned with ``items``; blank for unknown orders).
    """
    quantity, price = items["quantity"], items["unit_price"]
    status = pd.Series(order_status.to_numpy(), index=items.index, dtype="str")
    undone = status.isin(["cancelled", "returned"]).to_numpy()
    negative = (quantity < 0).fillna(False).to_numpy()

    def negative_reason(rows: np.ndarray) -> np.ndarray:
        state = status.iloc[rows].astype("str").fillna("unknown")
        return (
            "quantity "
            + _fmt_num(quantity.iloc[rows])
            + " on a line of "
            + state
            + " order "
            + items["order_id"].iloc[rows].astype("str")
        ).to_numpy()

    return [
        _found("order_items", "negative_quantity", negative & ~undone, negative_reason, column="quantity"),
        _found(
            "order_items", "cancellation_line", negative & undone, negative_reason, column="quantity",
            sample=True,
        ),
        _found("order_items", "zero_quantity", (quantity == 0).fillna(False), "quantity is 0", column="quantity"),
        _found(
            "order_items",
            "negative_price",
            (price < 0).fillna(False),
            lambda rows: ("unit_price " + _fmt_num(price.iloc[rows]) + " is negative").to_numpy(),
            column="unit_price",
        ),
        _found("order_items", "zero_price", (price == 0).fillna(False), "unit_price is 0", column="unit_price"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- experiments


def check_assignments(assignments: pd.DataFrame, customer_ids: pd.Series) -> list[Finding]:
    """Experiment assignments after duplicate customers were merged (``customer_ids`` are
    the re-pointed ids): ``conflicting_assignment`` (error) for every row of a customer in
    more than one variant of an experiment; ``duplicate_key`` (error) for repeated
    assignments to the same variant (the earliest is kept)."""
    work = pd.DataFrame(
        {
            "experiment_id": assignments["experiment_id"].to_numpy(),
            "customer_id": customer_ids.to_numpy(),
            "variant": assignments["variant"].to_numpy(),
            "assigned_at": assignments["assigned_at"].array,
            "pos": np.arange(len(assignments)),
        }
    )
    keyed = work.dropna(subset=["experiment_id", "customer_id"])
    variants = keyed.groupby(["experiment_id", "customer_id"])["variant"].transform("nunique")
    conflict = np.zeros(len(work), dtype=bool)
    conflict[keyed.loc[variants > 1, "pos"].to_numpy()] = True
    rest = keyed[(variants <= 1).to_numpy()].sort_values(["assigned_at", "pos"], kind="stable")
    repeat = np.zeros(len(work), dtype=bool)
    repeat[rest.loc[rest.duplicated(["experiment_id", "customer_id"]), "pos"].to_numpy()] = True

    def conflict_reason(rows: np.ndarray) -> np.ndarray:
        sub = work.iloc[rows]
        pairs = work.iloc[rows][["experiment_id", "customer_id", "variant"]].drop_duplicates()
        pairs = pairs.sort_values("variant")
        names = pairs.groupby(["experiment_id", "customer_id"])["variant"].agg(", ".join)
        listed = pd.MultiIndex.from_frame(sub[["experiment_id", "customer_id"]]).map(names)
        return (
            "customer "
            + sub["customer_id"].astype("str").to_numpy()
            + " is in variants "
            + np.asarray(listed, dtype=object)
            + " of "
            + sub["experiment_id"].astype("str").to_numpy()
        )

    def repeat_reason(rows: np.ndarray) -> np.ndarray:
        sub = work.iloc[rows]
        return (
            "customer "
            + sub["customer_id"].astype("str")
            + " is assigned to "
            + sub["experiment_id"].astype("str")
            + " more than once (after merging duplicate "
            "customers); the earliest assignment is kept"
        ).to_numpy()

    return [
        _found("experiment_assignments", "conflicting_assignment", conflict, conflict_reason),
        _found("experiment_assignments", "duplicate_key", repeat, repeat_reason),
    ]
