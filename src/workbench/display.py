"""How values from the data reach people: escaped for their context, formatted for reading.

Every value that comes from the data (a country, a variant name, a product name, a segment
label) is untrusted text. This module is the one place that makes it safe for where it
goes and readable for who reads it:

Escaping
    :func:`html_text` for HTML text and attribute values; :func:`md_text` for text placed
    inside Markdown (HTML-escaped, and Markdown's own control characters neutralised so a
    value cannot open a link, an image or a code span); :func:`script_json` for JSON
    embedded in a ``<script>`` element (``<``, ``>``, ``&`` and the line separators
    U+2028/U+2029 become ``\\u`` escapes, so ``</script>`` or ``<!--`` in a value cannot end
    or change the script).
Formatting
    :func:`fmt_int`, :func:`fmt_number`, :func:`fmt_pct`, :func:`fmt_money`,
    :func:`fmt_value` — thousands separators, no e-notation, counts as integers,
    percentages, money with a currency code; :func:`table` styles a frame the same way
    (with every cell HTML-escaped) for a report.
Headline
    :class:`Headline` — the 3–6 numbers and one sentence a reader needs first. A stage puts
    ``Headline(...).as_dict()`` under the key ``"headline"`` of its summary; the report's
    card, the index and the terminal line read it from there.
Callouts
    :func:`callout` — a styled note for a warning that matters (instead of a log line).

Examples
--------
>>> html_text('<img src=x onerror="alert(1)">')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
>>> script_json({"name": "</script><script>alert(1)</script>"})
'{"name": "\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
>>> fmt_int(16789012.0), fmt_pct(0.1234), fmt_money(1234.5, "EUR")
('16,789,012', '12.3%', 'EUR 1,234.50')
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "KINDS",
    "Headline",
    "HeadlineItem",
    "callout",
    "fmt_int",
    "fmt_money",
    "fmt_number",
    "fmt_pct",
    "fmt_value",
    "html_text",
    "join_items",
    "md_text",
    "script_json",
    "table",
]

#: How a headline value is formatted.
KINDS = ("int", "number", "pct", "money", "text")
_MISSING = "–"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                  "\u2029": "\\u2029"}  # fmt: skip


# --------------------------------------------------------------------------- escaping


def html_text(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def md_text(value: Any) -> str:
    """``value`` as text safe inside Markdown: HTML-escaped, Markdown markup neutralised.

    Examples
    --------
    >>> md_text("[click](javascript:alert(1)) <b>")
    '\\\\[click\\\\]\\\\(javascript:alert\\\\(1\\\\)\\\\) &lt;b&gt;'
    """
    return _MD_SPECIAL.sub(r"\\\1", html_text(value))


def script_json(value: Any, **kwargs: Any) -> str:
    """JSON for a ``<script>`` element: nothing in it can close or alter the element."""
    text = json.dumps(value, **kwargs)
    for char, escaped in _SCRIPT_UNSAFE.items():
        text = text.replace(char, escaped)
    return text


# --------------------------------------------------------------------------- formatting


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float | np.floating) and math.isnan(value))
    except TypeError:
        return False


def fmt_int(value: Any) -> str:
    """A count: rounded to a whole number, with thousands separators (``–`` when missing)."""
    if _missing(value):
        return _MISSING
    return f"{round(float(value)):,}"


def fmt_number(value: Any, digits: int = 2) -> str:
    """A measurement: ``digits`` significant decimals for small values, thousands
    separators for large ones, never e-notation (``–`` when missing).

    Examples
    --------
    >>> fmt_number(0.891234), fmt_number(1.5e7), fmt_number(123.456), fmt_number(0.000123)
    ('0.89', '15,000,000', '123.46', '0.00012')
    """
    if _missing(value):
        return _MISSING
    number = float(value)
    if not math.isfinite(number):
        return "∞" if number > 0 else "−∞"
    if number == 0 or abs(number) >= 1000:
        return f"{number:,.0f}"
    if abs(number) >= 1:
        return f"{number:,.{digits}f}"
    decimals = max(digits, -math.floor(math.log10(abs(number))) + digits - 1)
    return f"{number:.{decimals}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share (0.1234) as a percentage (``12.3%``)."""
    if _missing(value):
        return _MISSING
    return f"{float(value) * 100:,.{digits}f}%"


def fmt_money(value: Any, currency: str = "", digits: int = 2) -> str:
    """An amount with thousands separators and cents, after the currency code if given."""
    if _missing(value):
        return _MISSING
    amount = f"{float(value):,.{digits}f}"
    return f"{currency} {amount}" if currency else amount


def fmt_value(value: Any, kind: str = "number", currency: str = "") -> str:
    """Format ``value`` as one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"fmt_value: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "int":
        return fmt_int(value)
    if kind == "pct":
        return fmt_pct(value)
    if kind == "money":
        return fmt_money(value, currency)
    if kind == "text" or isinstance(value, str):
        return _MISSING if _missing(value) else str(value)
    return fmt_number(value)


def table(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[str, str] | None = None,
    currency: str = "",
    index: bool = False,
) -> Any:
    """A pandas ``Styler`` of ``frame`` formatted for a report, every cell HTML-escaped.

    Columns get a kind from ``kinds`` or from their type: integers and integral floats
    (counts) as ``int``, other floats as ``number``, booleans as yes/no; missing values
    show as ``–``. The Styler escapes cell text and the index and column labels, so data
    cannot inject markup.
    """
    kinds = dict(kinds or {})
    formats: dict[Any, Callable[[Any], str]] = {}
    for column in frame.columns:
        kind = kinds.get(column) or _kind_of(frame[column])
        if kind == "bool":
            formats[column] = lambda v: _MISSING if _missing(v) else ("yes" if v else "no")
        elif kind == "text":
            formats[column] = lambda v: _MISSING if _missing(v) else str(v)
        else:
            formats[column] = partial(_format_cell, kind=kind, currency=currency)
    styler = frame.style.format(formats, escape="html", na_rep=_MISSING)
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return styler if index else styler.hide(axis="index")


def _format_cell(value: Any, *, kind: str, currency: str) -> str:
    return fmt_value(value, kind, currency)


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        values = series.dropna().to_numpy()
        finite = values[np.isfinite(values)] if len(values) else values
        if len(finite) and np.all(finite == np.round(finite)) and np.abs(finite).max() >= 1:
            return "int"
        return "number"
    return "text"


# --------------------------------------------------------------------------- headline


@dataclass(frozen=True)
class HeadlineItem:
    """One headline number: a label, its value and how to format it (:data:`KINDS`)."""

    label: str
    value: Any
    kind: str = "number"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"HeadlineItem: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )

    def formatted(self, currency: str = "") -> str:
        return fmt_value(self.value, self.kind, currency)


@dataclass(frozen=True)
class Headline:
    """What a reader needs first from a stage: one sentence and 3–6 numbers.

    ``status`` is ``ok``, ``warning`` (something to look at) or ``alert`` (do not act on
    this output as it is).
    """

    sentence: str
    items: Sequence[HeadlineItem] = field(default_factory=tuple)
    status: str = "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sentence": self.sentence,
            "status": self.status,
            "items": [
                {"label": i.label, "value": _plain(i.value), "kind": i.kind} for i in self.items
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Headline:
        items = tuple(
            HeadlineItem(str(i["label"]), i.get("value"), str(i.get("kind", "number")))
            for i in data.get("items") or ()
        )
        return cls(str(data.get("sentence", "")), items, str(data.get("status", "ok")))

    def text(self, currency: str = "") -> str:
        """One line for a terminal: ``AUC 0.89 · champion v2 · …``."""
        return " · ".join(f"{i.label} {i.formatted(currency)}" for i in self.items)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- callouts

_CALLOUT_COLOURS = {"info": "#4c78a8", "warning": "#b54708", "alert": "#b42318"}


def callout(text: str, level: str = "warning", *, title: str = "") -> Any:
    """A styled note for the report (an IPython HTML object); ``text`` is escaped.

    Use it for a warning the reader must see; routine progress goes to the log.
    """
    from IPython.display import HTML

    if level not in _CALLOUT_COLOURS:
        raise ValueError(
            f"callout: level must be one of {', '.join(_CALLOUT_COLOURS)}, got {level!r}"
        )
    colour = _CALLOUT_COLOURS[level]
    head = f"<b>{html_text(title)}</b> " if title else ""
    return HTML(
        f'<div class="workbench-callout workbench-{level}" style="border-left:4px solid {colour};'
        f'background:#f8f9fb;padding:8px 12px;margin:8px 0">{head}{html_text(text)}</div>'
    )


def join_items(values: Iterable[Any]) -> str:
    """Escaped, comma-separated values for a sentence in HTML or Markdown."""
    return ", ".join(md_text(v) for v in values)
