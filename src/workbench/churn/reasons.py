"""Plain words for a feature value: "no purchase for 240 days", "opens 12% of e-mails".

:func:`phrase` turns the values of one model input into short phrases a marketer can
read (and a message can be tailored to). Feature-table columns have hand-written
phrases; windowed and share columns follow patterns; any other column (a user's own
table) falls back to its description or name and the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from workbench.churn.model import MISSING_CATEGORY

__all__ = ["phrase", "describe_column", "PHRASES"]

# column -> (phrase with one {} for the value, phrase when the value is missing or None)
PHRASES: dict[str, tuple[str, str | None]] = {
    "recency_days": ("no purchase for {:.0f} days", "no completed order yet"),
    "frequency": ("{:.0f} completed orders", None),
    "monetary_total": ("{:,.0f} spent in total", None),
    "avg_order_value": ("average order value {:,.2f}", "no completed order yet"),
    "tenure_days": ("customer for {:.0f} days", None),
    "age": ("aged {:.0f}", "age not recorded"),
    "r_score": ("recency score {:.0f} of 5", "no completed order yet"),
    "f_score": ("frequency score {:.0f} of 5", "no completed order yet"),
    "m_score": ("monetary score {:.0f} of 5", "no completed order yet"),
    "fm_score": ("frequency-monetary score {:.0f} of 5", "no completed order yet"),
    "days_since_first_order": ("first order {:.0f} days ago", "no completed order yet"),
    "inter_purchase_days": ("{:.0f} days between orders on average", "fewer than two orders"),
    "days_between_last_two_orders": (
        "{:.0f} days between the last two orders",
        "fewer than two orders",
    ),
    "purchase_rate_per_year": ("{:.1f} orders a year", None),
    "orders_placed": ("{:.0f} orders placed", None),
    "cancelled_orders": ("{:.0f} cancelled orders", None),
    "returned_orders": ("{:.0f} returned orders", None),
    "return_rate": ("{:.0%} of orders returned", "no orders yet"),
    "email_sends": ("{:.0f} e-mails received", None),
    "email_opens": ("{:.0f} e-mails opened", None),
    "email_clicks": ("{:.0f} e-mail clicks", None),
    "email_open_rate": ("opens {:.0%} of e-mails", "no e-mails received"),
    "email_click_rate": ("clicks {:.0%} of e-mails", "no e-mails received"),
    "email_click_to_open_rate": ("clicks in {:.0%} of opened e-mails", "no e-mail opened"),
    "days_since_last_open": ("no e-mail opened for {:.0f} days", "never opened an e-mail"),
    "days_since_last_click": ("no e-mail click for {:.0f} days", "never clicked an e-mail"),
    "preferred_open_hour": ("usually opens e-mails at {:.0f}h UTC", "no e-mail opens"),
    "web_sessions": ("{:.0f} web sessions", None),
    "product_views": ("{:.0f} product views", None),
    "add_to_cart": ("{:.0f} add-to-carts", None),
    "days_since_last_visit": ("no website visit for {:.0f} days", "never visited the website"),
    "carts_judged": ("{:.0f} carts", None),
    "abandoned_carts": ("{:.0f} abandoned carts", None),
    "cart_abandonment_rate": ("abandons {:.0%} of carts", "no carts"),
    "days_since_last_abandoned_cart": ("abandoned a cart {:.0f} days ago", "no abandoned cart"),
    "category_spend": ("{:,.0f} spent on categorised items", None),
    "n_categories": ("bought from {:.0f} categories", None),
    "share_other": ("{:.0%} of spend on other categories", "no spend yet"),
    "view_share_other": ("{:.0%} of product views in other categories", "no product views"),
    "category_views": ("{:.0f} product views", None),
    "gender": ("gender {}", "gender not recorded"),
    "country": ("lives in {}", "country not recorded"),
    "signup_channel": ("signed up via {}", "sign-up channel not recorded"),
    "age_band": ("age band {}", "age not recorded"),
    "rfm_segment": ("RFM segment {}", None),
    "lifecycle_stage": ("lifecycle stage {}", None),
    "engagement_tier": ("e-mail engagement {}", None),
    "most_viewed_category": ("mostly views {}", "no product views"),
    "top_category": ("spends most on {}", "no categorised spend"),
}

# yes/no columns: (phrase when true, phrase when false)
_FLAGS = {
    "email_opt_in": ("opted in to e-mail", "not opted in to e-mail"),
    "email_unsubscribed": ("unsubscribed from e-mails", "still subscribed to e-mails"),
    "email_bounced": ("an e-mail bounced", "no e-mail bounced"),
}
_PATTERNS: list[tuple[str, str, str | None]] = [
    (r"frequency_(\d+)d", "{v:.0f} orders in the last {0} days", None),
    (r"monetary_(\d+)d", "{v:,.0f} spent in the last {0} days", None),
    (r"email_sends_(\d+)d", "{v:.0f} e-mails received in the last {0} days", None),
    (r"email_opens_(\d+)d", "{v:.0f} e-mails opened in the last {0} days", None),
    (r"email_clicks_(\d+)d", "{v:.0f} e-mail clicks in the last {0} days", None),
    (r"web_sessions_(\d+)d", "{v:.0f} web sessions in the last {0} days", None),
    (r"product_views_(\d+)d", "{v:.0f} product views in the last {0} days", None),
    (r"share_(.+)", "{v:.0%} of spend on {0}", "no spend yet"),
    (r"view_share_(.+)", "{v:.0%} of product views in {0}", "no product views"),
]


def describe_column(column: str, meaning: str | None = None) -> str:
    """A short name for a column: its data-dictionary meaning up to the first ``;`` or
    parenthesis, else the column name with spaces.

    Examples
    --------
    >>> describe_column("recency_days", "days (float) from the last completed order to as_of")
    'days from the last completed order to as_of'
    >>> describe_column("MonthlyCharges")
    'MonthlyCharges'
    """
    if not meaning or meaning.startswith("(not described"):
        return column.replace("_", " ") if "_" in column else column
    text = re.sub(r"\s*\([^)]*\)", "", meaning.split(";")[0]).strip()
    return text or column


def _formatter(template: str) -> Callable[[float], str]:
    return lambda v: template.format(v)


def phrase(
    column: str, values: pd.Series, *, categorical: bool = False, meaning: str | None = None
) -> pd.Series:
    """Plain-word phrases for the values of one model input (index kept).

    Parameters
    ----------
    column : str
        The input's name (phrases of the feature table are known; others fall back).
    values : Series
        Numbers (floats with NaN for missing) or category text.
    categorical : bool
        The values are categories (``"(missing)"`` means not recorded).
    meaning : str, optional
        Data-dictionary meaning used by the fallback.

    Examples
    --------
    >>> phrase("recency_days", pd.Series([240.4, np.nan])).tolist()
    ['no purchase for 240 days', 'no completed order yet']
    >>> phrase("Contract", pd.Series(["Month-to-month"]), categorical=True).tolist()
    ['Contract: Month-to-month']
    """
    name = describe_column(column, meaning)
    if categorical:
        text = values.astype("object").where(values.notna(), MISSING_CATEGORY).astype("str")
        template, missing = PHRASES.get(column, (f"{name}: {{}}", f"{name} not recorded"))
        out = text.map(template.format)
        return out.where(text != MISSING_CATEGORY, missing or f"{name} not recorded")
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    if column in _FLAGS:
        yes, no = _FLAGS[column]
        words = pd.Series(np.where(numbers > 0.5, yes, no), index=values.index, dtype="object")
        return words.where(numbers.notna(), f"{name} not recorded")
    say, missing = _template(column, name)
    out = numbers.map(lambda v: say(v) if v == v else "")
    one = numbers == 1
    if one.any():
        out[one] = out[one].map(_singular)
    return out.where(numbers.notna(), missing or f"{name} not recorded")


def _singular(text: str) -> str:
    """'1 orders in the last 90 days' -> '1 order in the last 90 days'."""
    match = re.search(r"(?:^|\s)1 ((?:[a-z-]+ )?)([a-z-]+?)(ies|s)\b", text)
    if not match:
        return text
    noun = match.group(2) + ("y" if match.group(3) == "ies" else "")
    return text[: match.start(2)] + noun + text[match.end(3) :]


def _template(column: str, name: str) -> tuple[Callable[[float], str], str | None]:
    if column in PHRASES:
        template, missing = PHRASES[column]
        return _formatter(template), missing
    for pattern, template, missing in _PATTERNS:
        match = re.fullmatch(pattern, column)
        if match:
            groups = match.groups()
            return (lambda v, t=template, g=groups: t.format(*g, v=v)), missing
    return (lambda v: f"{name} = {_number(v)}"), None


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
