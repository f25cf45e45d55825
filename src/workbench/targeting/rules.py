"""Audiences as declarative rules: a small YAML language, validated, evaluated on frames.

An audience is a named list of conditions over the per-customer table (features plus the
model outputs, :func:`workbench.targeting.inputs.targeting_table`). The language is data,
never code: a condition is ``{column, op, value}``, ``{column, op, other}`` (compare with
another column) or a nested group ``{all: [...]}`` / ``{any: [...]}``; the operators are
:data:`OPERATORS`. Nothing is evaluated with ``eval``; a YAML file is read with
``yaml.safe_load``.

Semantics
    A comparison with a missing value is false (as in SQL), whatever the operator;
    only ``is_null`` matches missing values. ``in`` / ``not_in`` take a list.
    Ordering operators (``>=`` ``>`` ``<=`` ``<``) need a numeric column.
Applicability
    An audience that names a column the table lacks is *not applicable* (with the
    reason and the stage that provides the column), never an error.

Examples
--------
>>> audiences = parse_audiences({"audiences": [{
...     "name": "win_back", "priority": 1, "message_type": "winback_offer",
...     "conditions": [{"column": "churn_probability", "op": ">=", "value": 0.7}]}]})
>>> table = pd.DataFrame({"customer_id": ["a", "b"], "churn_probability": [0.9, 0.2]})
>>> evaluate_audiences(table, audiences).members["customer_id"].tolist()
['a']
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "OPERATORS",
    "AUDIENCES_FILE",
    "AudienceError",
    "Condition",
    "Group",
    "Audience",
    "AudienceMatch",
    "default_audiences_path",
    "load_audiences",
    "parse_audiences",
    "evaluate_audiences",
    "rule_text",
    "required_columns",
    "column_source",
]

log = logging.getLogger(__name__)

#: File name of a user's audience definitions beside the data.
AUDIENCES_FILE = "audiences.yml"
#: Operators of the rule language and the kind of value each takes.
OPERATORS: dict[str, str] = {
    ">=": "number",
    ">": "number",
    "<=": "number",
    "<": "number",
    "==": "scalar",
    "!=": "scalar",
    "in": "list",
    "not_in": "list",
    "is_null": "none",
    "not_null": "none",
}
_AUDIENCE_KEYS = (
    "name",
    "description",
    "priority",
    "message_type",
    "control_share",
    "match",
    "conditions",
    "explain",
    "enabled",
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_COLUMN_SOURCES = (
    (
        "churn scores (churn stage)",
        ("churn_probability", "risk_band", "top_reasons", "reason_codes"),
    ),
    ("CLV (clv stage)", ("p_alive", "expected_purchases", "clv", "clv_tier")),
    ("uplift scores (uplift stage)", ("best_arm", "best_uplift")),
)


class AudienceError(ValueError):
    """An audience file or rule that cannot be used; the message names the audience, the
    key and the value."""


@dataclass(frozen=True)
class Condition:
    """One comparison: ``column op value`` or ``column op other`` (another column)."""

    column: str
    op: str
    value: Any = None
    other: str | None = None


@dataclass(frozen=True)
class Group:
    """Conditions combined with ``all`` (and) or ``any`` (or)."""

    match: str
    items: tuple[Condition | Group, ...]


@dataclass(frozen=True)
class Audience:
    """One audience: who (``rule``), how important (``priority``, 1 = highest), what
    (``message_type``) and how it is measured (``control_share``)."""

    name: str
    priority: int
    message_type: str
    rule: Group
    description: str = ""
    control_share: float | None = None
    explain: tuple[str, ...] = ()
    enabled: bool = True


@dataclass
class AudienceMatch:
    """Result of :func:`evaluate_audiences`.

    Attributes
    ----------
    members : DataFrame
        customer_id, audience, priority, message_type: one row per customer and
        applicable audience matched, highest priority first.
    audiences : DataFrame
        One row per audience: audience, priority, message_type, status
        (``applicable`` / ``not applicable`` / ``disabled``), reason, rule, matched.
    """

    members: pd.DataFrame
    audiences: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- parsing


def default_audiences_path() -> Path:
    """Path of the built-in audiences shipped with the package."""
    return Path(str(resources.files("workbench.targeting").joinpath("audiences.yml")))


def load_audiences(path: str | Path | None = None) -> list[Audience]:
    """Read audiences from a YAML file (``None``: the built-in defaults).

    Raises
    ------
    AudienceError
        The file cannot be read, is not valid YAML, or breaks a rule of the format;
        the message names the file, the audience, the key and the value.
    """
    path = Path(path) if path is not None else default_audiences_path()
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise AudienceError(f"audiences file {path}: cannot be read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise AudienceError(f"audiences file {path}: not valid YAML ({exc})") from exc
    audiences = parse_audiences(content, source=str(path))
    log.info("audiences from %s: %s", path, ", ".join(a.name for a in audiences))
    return audiences


def parse_audiences(content: Any, *, source: str = "(given as data)") -> list[Audience]:
    """Validate parsed YAML (``{"audiences": [...]}``) and build the audiences.

    Examples
    --------
    >>> parse_audiences({"audiences": [{"name": "vip", "priority": 1,
    ...     "message_type": "perks", "conditions": [{"column": "rfm_segment", "op": "=",
    ...     "value": "Champions"}]}]})
    Traceback (most recent call last):
    ...
    workbench.targeting.rules.AudienceError: audiences (given as data): audience 'vip', key 'conditions[0].op': unknown operator '='; expected one of >=, >, <=, <, ==, !=, in, not_in, is_null, not_null (did you mean >= or ==?)
    """
    where = f"audiences {source}"
    if not isinstance(content, Mapping) or "audiences" not in content:
        raise AudienceError(
            f"{where}: expected a mapping with an 'audiences:' list, got {_short(content)}"
        )
    extra = sorted(set(content) - {"audiences", "version"})
    if extra:
        raise AudienceError(
            f"{where}: unknown top-level key(s) {', '.join(map(repr, extra))}; "
            "expected 'audiences' (and optionally 'version')"
        )
    if content.get("version", 1) != 1:
        raise AudienceError(
            f"{where}: key 'version': only version 1 is known, got {content.get('version')!r}"
        )
    entries = content["audiences"]
    if not isinstance(entries, list) or not entries:
        raise AudienceError(
            f"{where}: key 'audiences' must be a non-empty list, got {_short(entries)}"
        )
    audiences = [_audience(entry, i, where) for i, entry in enumerate(entries)]
    _unique(audiences, "name", where)
    _unique(audiences, "priority", where)
    return sorted(audiences, key=lambda a: a.priority)


def _unique(audiences: list[Audience], key: str, where: str) -> None:
    seen: dict[Any, str] = {}
    for a in audiences:
        value = getattr(a, key)
        if value in seen:
            raise AudienceError(
                f"{where}: audience {a.name!r}, key {key!r}: {value!r} is already used by "
                f"audience {seen[value]!r}; each audience needs its own {key}"
            )
        seen[value] = a.name


def _audience(entry: Any, index: int, where: str) -> Audience:
    label = f"audience #{index + 1}"
    if not isinstance(entry, Mapping):
        raise AudienceError(f"{where}: {label}: expected a mapping, got {_short(entry)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise AudienceError(
            f"{where}: {label}, key 'name': expected lower-case letters, digits, '_' or '-' "
            f"(e.g. win_back), got {name!r}"
        )
    label = f"audience {name!r}"

    def fail(key: str, message: str) -> AudienceError:
        return AudienceError(f"{where}: {label}, key {key!r}: {message}")

    for key in entry:
        if key not in _AUDIENCE_KEYS:
            raise fail(
                str(key),
                f"unknown key; expected one of {', '.join(_AUDIENCE_KEYS)}"
                f"{_close(str(key), _AUDIENCE_KEYS)}",
            )
    for key in ("priority", "message_type", "conditions"):
        if key not in entry:
            raise fail(key, "is required")
    priority = entry["priority"]
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        raise fail("priority", f"expected an int >= 1 (1 is the highest), got {priority!r}")
    message_type = entry["message_type"]
    if not isinstance(message_type, str) or not message_type.strip():
        raise fail("message_type", f"expected a non-empty text, got {message_type!r}")
    share = entry.get("control_share")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1
    ):
        raise fail("control_share", f"expected a number in [0, 1), got {share!r}")
    match = entry.get("match", "all")
    if match not in ("all", "any"):
        raise fail("match", f"expected 'all' or 'any', got {match!r}")
    conditions = entry["conditions"]
    if not isinstance(conditions, list) or not conditions:
        raise fail("conditions", f"expected a non-empty list, got {_short(conditions)}")
    items = tuple(_item(c, f"conditions[{i}]", fail) for i, c in enumerate(conditions))
    explain = entry.get("explain") or []
    if not isinstance(explain, list) or not all(isinstance(c, str) and c for c in explain):
        raise fail("explain", f"expected a list of column names, got {_short(explain)}")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", f"expected true or false, got {enabled!r}")
    description = entry.get("description") or ""
    if not isinstance(description, str):
        raise fail("description", f"expected text, got {_short(description)}")
    return Audience(
        name=name,
        priority=priority,
        message_type=message_type.strip(),
        rule=Group(match, items),
        description=description.strip(),
        control_share=None if share is None else float(share),
        explain=tuple(explain),
        enabled=enabled,
    )


def _item(item: Any, key: str, fail: Any) -> Condition | Group:
    if isinstance(item, Mapping) and len(item) == 1 and next(iter(item)) in ("all", "any"):
        match, inner = next(iter(item.items()))
        if not isinstance(inner, list) or not inner:
            raise fail(f"{key}.{match}", f"expected a non-empty list, got {_short(inner)}")
        return Group(
            match, tuple(_item(c, f"{key}.{match}[{i}]", fail) for i, c in enumerate(inner))
        )
    if not isinstance(item, Mapping):
        raise fail(
            key,
            "expected {column, op, value}, {column, op, other} or a nested "
            f"{{all: [...]}} / {{any: [...]}}, got {_short(item)}",
        )
    unknown = sorted(set(map(str, item)) - {"column", "op", "value", "other"})
    if unknown:
        raise fail(
            f"{key}.{unknown[0]}", "unknown key; a condition has column, op and value (or other)"
        )
    column, op = item.get("column"), item.get("op")
    if not isinstance(column, str) or not column:
        raise fail(f"{key}.column", f"expected a column name, got {column!r}")
    if op not in OPERATORS:
        raise fail(
            f"{key}.op",
            f"unknown operator {op!r}; expected one of "
            f"{', '.join(OPERATORS)}{_close(str(op), tuple(OPERATORS))}",
        )
    kind = OPERATORS[op]
    has_value, other = "value" in item, item.get("other")
    if kind == "none":
        if has_value or other is not None:
            raise fail(f"{key}.value", f"operator {op!r} takes no value, got {item.get('value')!r}")
        return Condition(column, op)
    if other is not None:
        if has_value:
            raise fail(f"{key}.other", "give either 'value' or 'other' (a column), not both")
        if kind == "list" or not isinstance(other, str):
            raise fail(f"{key}.other", f"operator {op!r} cannot compare with a column {other!r}")
        return Condition(column, op, other=other)
    if not has_value:
        raise fail(f"{key}.value", f"operator {op!r} needs a value")
    value = item["value"]
    if kind == "number" and not _is_number(value):
        raise fail(f"{key}.value", f"operator {op!r} needs a number, got {value!r}")
    if kind == "scalar" and not _is_scalar(value):
        raise fail(
            f"{key}.value",
            f"operator {op!r} needs one number, text or true/false, got {_short(value)}",
        )
    if kind == "list":
        if not isinstance(value, list) or not value or not all(map(_is_scalar, value)):
            raise fail(
                f"{key}.value",
                f"operator {op!r} needs a non-empty list of values, got {_short(value)}",
            )
        value = tuple(value)
    return Condition(column, op, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def _close(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.3)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- describing


def required_columns(rule: Group | Condition) -> list[str]:
    """Columns a rule reads, in order of appearance, without repeats."""
    if isinstance(rule, Condition):
        return [rule.column] + ([rule.other] if rule.other else [])
    out: list[str] = []
    for item in rule.items:
        out += [c for c in required_columns(item) if c not in out]
    return out


def column_source(column: str) -> str:
    """Which input provides a column (for "not applicable" reasons).

    Examples
    --------
    >>> column_source("clv_tier"), column_source("uplift_email"), column_source("rfm_segment")
    ('CLV (clv stage)', 'uplift scores (uplift stage)', 'customer features (features stage)')
    """
    if column.startswith("uplift_"):
        return "uplift scores (uplift stage)"
    for name, columns in _COLUMN_SOURCES:
        if column in columns:
            return name
    return "customer features (features stage)"


def rule_text(rule: Group | Condition, *, top: bool = True) -> str:
    """The rule in one line, e.g. ``churn_probability >= 0.7 and clv_tier in [...]``.

    Examples
    --------
    >>> rule_text(Group("all", (Condition("a", ">=", 1), Group("any", (
    ...     Condition("b", "is_null"), Condition("b", ">", other="a"))))))
    'a >= 1 and (b is_null or b > a)'
    """
    if isinstance(rule, Condition):
        if rule.other:
            return f"{rule.column} {rule.op} {rule.other}"
        if OPERATORS[rule.op] == "none":
            return f"{rule.column} {rule.op}"
        value = list(rule.value) if isinstance(rule.value, tuple) else rule.value
        return (
            f"{rule.column} {rule.op} {value!r}"
            if isinstance(value, str)
            else f"{rule.column} {rule.op} {value}"
        )
    text = f" {'and' if rule.match == 'all' else 'or'} ".join(
        rule_text(item, top=False) for item in rule.items
    )
    return text if top or len(rule.items) == 1 else f"({text})"


# --------------------------------------------------------------------------- evaluating


def evaluate_audiences(table: pd.DataFrame, audiences: Sequence[Audience]) -> AudienceMatch:
    """Who is in which audience, and which audiences apply to this table.

    Parameters
    ----------
    table : DataFrame
        One row per customer with ``customer_id`` (see
        :func:`workbench.targeting.inputs.targeting_table`).
    audiences : list of Audience
        From :func:`load_audiences` or :func:`parse_audiences`.

    Returns
    -------
    AudienceMatch
        Members (customer, audience) and the per-audience status table.

    Raises
    ------
    AudienceError
        A rule compares a column with a value of the wrong kind (e.g. ``>=`` on text).
    """
    if "customer_id" not in table.columns:
        raise AudienceError("targeting table: column 'customer_id' is missing")
    ids = table["customer_id"].astype("str").to_numpy()
    rows, parts = [], []
    for a in sorted(audiences, key=lambda a: a.priority):
        entry = {
            "audience": a.name,
            "priority": a.priority,
            "message_type": a.message_type,
            "description": a.description,
            "rule": rule_text(a.rule),
        }
        missing = [c for c in required_columns(a.rule) if c not in table.columns]
        if not a.enabled:
            rows.append({**entry, "status": "disabled", "reason": "enabled: false", "matched": 0})
            continue
        if missing:
            sources = sorted({column_source(c) for c in missing})
            reason = f"needs {', '.join(missing)} (from {'; '.join(sources)}), absent"
            rows.append({**entry, "status": "not applicable", "reason": reason, "matched": 0})
            log.info("audience %s not applicable: %s", a.name, reason)
            continue
        mask = _mask(table, a.rule, a.name)
        rows.append({**entry, "status": "applicable", "reason": "", "matched": int(mask.sum())})
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": ids[mask],
                    "audience": a.name,
                    "priority": a.priority,
                    "message_type": a.message_type,
                }
            )
        )
    members = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="str"),
                "audience": pd.Series(dtype="str"),
                "priority": pd.Series(dtype="int64"),
                "message_type": pd.Series(dtype="str"),
            }
        )
    )
    columns = [
        "audience",
        "priority",
        "message_type",
        "status",
        "reason",
        "rule",
        "matched",
        "description",
    ]
    return AudienceMatch(members=members, audiences=pd.DataFrame(rows, columns=columns))


def _mask(table: pd.DataFrame, rule: Group | Condition, audience: str) -> np.ndarray:
    if isinstance(rule, Condition):
        return _condition(table, rule, audience)
    masks = [_mask(table, item, audience) for item in rule.items]
    combine = np.logical_and if rule.match == "all" else np.logical_or
    return combine.reduce(masks) if len(masks) > 1 else masks[0]


def _condition(table: pd.DataFrame, c: Condition, audience: str) -> np.ndarray:
    col = table[c.column]
    present = col.notna().to_numpy().copy()
    if c.op == "is_null":
        return ~present
    if c.op == "not_null":
        return present

    def wrong(what: str) -> AudienceError:
        return AudienceError(
            f"audience {audience!r}, condition {rule_text(c)}: {what} "
            f"(column {c.column!r} has type {col.dtype})"
        )

    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if c.other is not None:
        other = table[c.other]
        if OPERATORS[c.op] == "number" and not (numeric and pd.api.types.is_numeric_dtype(other)):
            raise wrong(f"{c.op!r} needs numeric columns, {c.other!r} has type {other.dtype}")
        left, right = col, other
        present &= other.notna().to_numpy()
    elif OPERATORS[c.op] == "number":
        if not numeric:
            raise wrong(f"{c.op!r} needs a numeric column")
        left, right = col, c.value
    else:
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        left = _comparable(col, values, wrong)
        right = c.value
    if c.op == "in":
        result = left.isin(list(right))
    elif c.op == "not_in":
        result = ~left.isin(list(right))
    else:
        result = {
            ">=": left >= right,
            ">": left > right,
            "<=": left <= right,
            "<": left < right,
            "==": left == right,
            "!=": left != right,
        }[c.op]
    return result.fillna(False).to_numpy(dtype=bool) & present


def _comparable(col: pd.Series, values: tuple[Any, ...], wrong: Any) -> pd.Series:
    """The column in a form that compares with the rule's values (text, number or flag)."""
    if all(isinstance(v, bool) for v in values):
        if not pd.api.types.is_bool_dtype(col):
            raise wrong(f"true/false values need a yes/no column, got values {list(values)}")
        return col.astype("boolean")
    if all(_is_number(v) for v in values):
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise wrong(f"numbers {list(values)} need a numeric column")
        return col
    if all(isinstance(v, str) for v in values):
        if pd.api.types.is_numeric_dtype(col):
            raise wrong(f"texts {list(values)} need a text column")
        return col.astype("str")
    raise wrong(f"values {list(values)} mix numbers, texts and true/false")
