"""How values from the data reach people: escaped for their context, formatted for reading.

Every value that comes from the data (a country, a variant name, a product name, a segment
label) is untrusted text. This module is the one place that makes it safe for where it
goes and readable for who reads it:

Escaping
    :func:`html_text` for HTML text and attribute values (and for Plotly text: titles,
    labels, category values — plotly.js reads a small HTML subset in them and decodes
    the entities back); :func:`md_text` for text placed inside Markdown (HTML-escaped,
    and Markdown's own control characters neutralised so a value cannot open a link, an
    image or a code span); :func:`md_code` for a value shown as code inside Markdown
    (a backtick code span would show the escapes); :func:`script_json` for JSON embedded
    in a ``<script>`` element (``<``, ``>``, ``&`` and the line separators U+2028/U+2029
    become ``\\u`` escapes, so ``</script>`` or ``<!--`` in a value cannot end or change
    the script).
Formatting
    :func:`fmt_int`, :func:`fmt_number`, :func:`fmt_pct`, :func:`fmt_money`,
    :func:`fmt_value` — thousands separators, no e-notation, counts as integers,
    percentages, money with a currency code; :func:`table` styles a frame the same way
    (with every cell and label HTML-escaped) for a report; :func:`setup_display` makes
    every frame a notebook shows go through :func:`table`.
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
    "DISPLAY_COLUMNS",
    "DISPLAY_ROWS",
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
    "md_code",
    "md_text",
    "script_json",
    "setup_display",
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


def md_code(value: Any) -> str:
    """``value`` shown as inline code inside Markdown: an HTML ``<code>`` element around
    :func:`md_text` (inside a backtick code span the escapes would show literally).

    Examples
    --------
    >>> md_code("a`b <i>")
    '<code>a\\`b &lt;i&gt;</code>'
    """
    return f"<code>{md_text(value)}</code>"


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
    frame: pd.DataFrame | pd.Series,
    *,
    kinds: Mapping[str, str] | None = None,
    currency: str = "",
    index: bool | None = False,
    max_rows: int | None = None,
    max_columns: int | None = None,
) -> Any:
    """A pandas ``Styler`` of ``frame`` formatted for a report, every cell and label
    HTML-escaped.

    Columns get a kind from ``kinds`` or from their type: integers and integral floats
    (counts) as ``int``, other floats as ``number``, booleans as yes/no, anything else
    as text (numbers inside it formatted too); missing values show as ``–``. Every cell,
    index label and column label is escaped *after* formatting, so no value (a string,
    a list, an object) can inject markup.

    Parameters
    ----------
    frame : DataFrame or Series
        Not modified; a Series is shown as a one-column table.
    kinds : mapping, optional
        Column → one of :data:`KINDS` (or ``"bool"``).
    currency : str
        Code put before ``money`` values.
    index : bool or None, default False
        Show the index; None shows it unless it is a plain 0…n−1 range.
    max_rows, max_columns : int, optional
        Show the first and last rows (the first columns) only, with a caption saying how
        many there are.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
    shown, caption = _truncated(frame, max_rows, max_columns)
    shown = shown.rename_axis(  # the axes' names are rendered as they are
        index=[None if n is None else html_text(n) for n in shown.index.names],
        columns=[None if n is None else html_text(n) for n in shown.columns.names],
    )
    if index is None:
        index = not _plain_index(shown.index)
    kinds = dict(kinds or {})
    formats: dict[Any, Callable[[Any], str]] = {}
    for position, column in enumerate(shown.columns):
        kind = kinds.get(column) or _kind_of(shown.iloc[:, position])
        formats[column] = partial(_escaped_cell, kind=kind, currency=currency)
    if shown.columns.is_unique:
        styler = shown.style.format(formats, na_rep=_MISSING)
    else:  # Styler.format needs unique labels: one formatter guessing each cell's kind
        styler = shown.style.format(partial(_escaped_cell, kind="auto", currency=currency))
    styler = styler.format_index(_escaped_label, axis=0).format_index(_escaped_label, axis=1)
    if caption:
        styler = styler.set_caption(html_text(caption))
    return styler if index else styler.hide(axis="index")


def _escaped_cell(value: Any, *, kind: str, currency: str) -> str:
    if _missing(value):
        return _MISSING
    if kind == "bool":
        return "yes" if value else "no"
    if kind in ("text", "auto") or isinstance(value, str):
        return html_text(_auto(value, currency))
    return html_text(fmt_value(value, kind, currency))


def _escaped_label(value: Any) -> str:
    return html_text(_auto(value, ""))


def _auto(value: Any, currency: str) -> str:
    """A value of unknown kind: numbers formatted, text as it is."""
    if _missing(value):
        return _MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return fmt_int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        integral = math.isfinite(number) and number.is_integer() and abs(number) >= 1
        return fmt_int(number) if integral else fmt_number(number)
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ") if value != value.normalize() else str(value.date())
    return str(value)


def _plain_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _truncated(
    frame: pd.DataFrame, max_rows: int | None, max_columns: int | None
) -> tuple[pd.DataFrame, str]:
    notes = []
    shown = frame
    if max_rows is not None and len(frame) > max_rows:
        head = max(1, max_rows // 2)
        shown = pd.concat([frame.iloc[:head], frame.iloc[len(frame) - (max_rows - head) :]])
        notes.append(f"first {head:,} and last {max_rows - head:,} of {len(frame):,} rows")
    if max_columns is not None and frame.shape[1] > max_columns:
        shown = shown.iloc[:, :max_columns]
        notes.append(f"first {max_columns:,} of {frame.shape[1]:,} columns")
    return shown, ("Showing " + "; ".join(notes)) if notes else ""


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        values = series.dropna().to_numpy(dtype=float)
        finite = values[np.isfinite(values)] if len(values) else values
        if len(finite) and np.all(finite == np.round(finite)) and np.abs(finite).max() >= 1:
            return "int"
        return "number"
    if pd.api.types.is_object_dtype(series):
        flags = series.dropna()
        if len(flags) and flags.map(lambda v: isinstance(v, bool | np.bool_)).all():
            return "bool"
    return "text"


# --------------------------------------------------------------------------- notebooks

#: Rows and columns a notebook shows of a frame (first and last rows, first columns).
DISPLAY_ROWS = 30
DISPLAY_COLUMNS = 30


def _frame_html(frame: pd.DataFrame | pd.Series) -> str:
    return str(
        table(frame, index=None, max_rows=DISPLAY_ROWS, max_columns=DISPLAY_COLUMNS).to_html()
    )


def setup_display(shell: Any = None) -> bool:
    """Show every DataFrame and Series of this IPython session through :func:`table`.

    A frame that is a cell's value (or passed to ``display``) is then formatted for
    people and escaped: counts as integers, thousands separators, no e-notation,
    missing values as ``–``, at most :data:`DISPLAY_ROWS` rows (first and last) and
    :data:`DISPLAY_COLUMNS` columns; the text form (logs, ``print``) uses the same number
    formats. A Styler made by the notebook itself is left as it is (make it with
    :func:`table`). Call it once per kernel (``Stage.start`` does).

    Parameters
    ----------
    shell : IPython shell, optional
        Default: the running one.

    Returns
    -------
    bool
        False outside IPython (nothing registered; the pandas options are still set).
    """
    pd.set_option("display.float_format", _float_text)
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython is a dependency
            return False
        shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, _frame_html)
    formatter.for_type(pd.Series, _frame_html)
    return True


def _float_text(value: float) -> str:
    return _auto(float(value), "")


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
