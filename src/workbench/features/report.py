"""What the feature stage shows and writes: data dictionary, summary, files, figures."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from workbench.display import Headline, HeadlineItem, fmt_int, fmt_pct, html_text
from workbench.features.params import (
    ENGAGEMENT_TIERS,
    LIFECYCLE_STAGES,
    NO_PURCHASE,
    RFM_SEGMENT_GRID,
    RFM_SEGMENTS,
    FeatureParams,
)

__all__ = [
    "data_dictionary",
    "feature_summary",
    "headline",
    "rfm_segment_table",
    "lifecycle_rules",
    "distribution_figure",
    "rfm_grid_figure",
    "segmentation_columns",
    "top_category_figure",
]

log = logging.getLogger(__name__)


_O, _C, _E, _W = "orders", "customers", "email_events", "web_events"
_I, _P = "order_items", "products"

# column -> (meaning, source tables); windowed and share columns are matched by pattern
_FIXED: dict[str, tuple[str, str]] = {
    "customer_id": ("customer id (signed up before as_of, or ordered before it)", f"{_C}, {_O}"),
    "gender": ("gender as recorded", _C),
    "country": ("country as recorded", _C),
    "signup_channel": ("sign-up channel as recorded", _C),
    "email_opt_in": ("e-mail consent given at sign-up", _C),
    "age": ("completed years of age at as_of (NaN when missing or implausible)", _C),
    "age_band": ("age band at as_of (<25, 25-34, 35-44, 45-54, 55-64, 65+)", _C),
    "tenure_days": ("days from the earlier of sign-up and first order to as_of", f"{_C}, {_O}"),
    "recency_days": ("days (float) from the last completed order to as_of; NaN without one", _O),
    "frequency": ("completed orders before as_of", _O),
    "monetary_total": ("revenue of completed orders before as_of (net of returns, cents)", _O),
    "avg_order_value": ("monetary_total / frequency; NaN without a completed order", _O),
    "r_score": ("recency score 1-5 (5 = most recent quintile); <NA> without an order", _O),
    "f_score": ("frequency score 1-5 (ties share the lowest rank)", _O),
    "m_score": ("monetary score 1-5 (ties share the lowest rank)", _O),
    "fm_score": ("ceil((f_score + m_score) / 2), the column of the segment grid", _O),
    "rfm_score": ("three-digit code R F M, e.g. 545", _O),
    "rfm_segment": ("named RFM segment from R and FM (grid in the notebook); No Purchase", _O),
    "lifecycle_stage": ("new / never-purchased / churned / re-engaged / active / at-risk", f"{_O}, {_C}"),
    "days_since_first_order": ("days from the first completed order to as_of", _O),
    "inter_purchase_days": ("mean days between completed orders (first to last); NaN below 2", _O),
    "days_between_last_two_orders": ("days between the last two completed orders", _O),
    "purchase_rate_per_year": ("completed orders per year observed (since sign-up or history start, min 30 days)", f"{_O}, {_C}"),
    "orders_placed": ("orders of any status before as_of", _O),
    "cancelled_orders": ("cancelled orders before as_of", _O),
    "returned_orders": ("returned orders before as_of", _O),
    "return_rate": ("returned / (completed + returned) orders", _O),
    "email_sends": ("campaign e-mails sent before as_of", _E),
    "email_opens": ("e-mail opens before as_of", _E),
    "email_clicks": ("e-mail clicks before as_of", _E),
    "email_open_rate": ("opens / sends before as_of (can exceed 1 if a source logs repeat opens)", _E),
    "email_click_rate": ("clicks / sends before as_of", _E),
    "email_click_to_open_rate": ("clicks / opens before as_of", _E),
    "days_since_last_open": ("days from the last e-mail open to as_of", _E),
    "days_since_last_click": ("days from the last e-mail click to as_of", _E),
    "preferred_open_hour": ("UTC hour with the most opens (ties: earliest hour)", _E),
    "email_unsubscribed": ("unsubscribed before as_of", _E),
    "email_bounced": ("an e-mail bounced before as_of", _E),
    "engagement_tier": ("Highly Engaged / Moderately Engaged / Low / Inactive (rules in the notebook)", _E),
    "web_sessions": ("web sessions with an event before as_of", _W),
    "product_views": ("product views before as_of", _W),
    "add_to_cart": ("add-to-cart events before as_of", _W),
    "days_since_last_visit": ("days from the last web event to as_of", _W),
    "carts_judged": ("add-to-carts whose abandonment window closed before as_of", f"{_W}, {_O}"),
    "abandoned_carts": ("judged add-to-carts without a completed order within the window", f"{_W}, {_O}"),
    "cart_abandonment_rate": ("abandoned_carts / carts_judged", f"{_W}, {_O}"),
    "days_since_last_abandoned_cart": ("days from the last abandoned add-to-cart to as_of", f"{_W}, {_O}"),
    "most_viewed_category": ("category with the most product views (ties: first by name)", f"{_W}, {_P}"),
    "category_spend": ("spend on categorised order lines of completed orders", f"{_I}, {_O}, {_P}"),
    "n_categories": ("categories with positive spend", f"{_I}, {_O}, {_P}"),
    "top_category": ("category with the most spend (ties: first by name)", f"{_I}, {_O}, {_P}"),
    "share_other": ("share of spend on categories beyond max_categories", f"{_I}, {_O}, {_P}"),
    "category_views": ("product views of categorised products before as_of", f"{_W}, {_P}"),
    "view_share_other": ("share of product views on categories beyond max_categories", f"{_W}, {_P}"),
}  # fmt: skip
_PATTERNS: list[tuple[str, str, str]] = [
    (r"frequency_(\d+)d", "completed orders in the last {0} days", _O),
    (r"monetary_(\d+)d", "completed revenue in the last {0} days", _O),
    (r"email_sends_(\d+)d", "e-mails sent in the last {0} days", _E),
    (r"email_opens_(\d+)d", "e-mail opens in the last {0} days", _E),
    (r"email_clicks_(\d+)d", "e-mail clicks in the last {0} days", _E),
    (r"web_sessions_(\d+)d", "web sessions with an event in the last {0} days", _W),
    (r"product_views_(\d+)d", "product views in the last {0} days", _W),
    (r"share_(.+)", "share of spend on category {0}", f"{_I}, {_O}, {_P}"),
    (r"view_share_(.+)", "share of product views on category {0}", f"{_W}, {_P}"),
]


def data_dictionary(features: pd.DataFrame) -> pd.DataFrame:
    """column, meaning, type and source tables of every column of a feature table.

    Examples
    --------
    >>> frame = pd.DataFrame({"customer_id": ["C1"], "email_opens_7d": [2]})
    >>> data_dictionary(frame)["meaning"].tolist()[1]
    'e-mail opens in the last 7 days'
    """
    rows = []
    for column in features.columns:
        meaning, sources = _describe(column)
        rows.append({"column": column, "meaning": meaning, "type": str(features[column].dtype),
                     "source_tables": sources})  # fmt: skip
    return pd.DataFrame(rows, columns=["column", "meaning", "type", "source_tables"])


def _describe(column: str) -> tuple[str, str]:
    if column in _FIXED:
        return _FIXED[column]
    for pattern, meaning, sources in _PATTERNS:
        match = re.fullmatch(pattern, column)
        if match:
            return meaning.format(*match.groups()), sources
    log.warning("data dictionary: no description for column %r", column)
    return "(not described)", ""


def rfm_segment_table() -> pd.DataFrame:
    """The score-to-segment grid: rows R = 5..1, columns FM = 1..5."""
    grid = pd.DataFrame(RFM_SEGMENT_GRID).T.sort_index(ascending=False)
    grid.index.name = "R \\ FM"
    return grid[[1, 2, 3, 4, 5]]


def lifecycle_rules(params: FeatureParams | None = None) -> pd.DataFrame:
    """The lifecycle rules with the thresholds in force, in the order they apply."""
    p = params or FeatureParams()
    rules = [
        ("new", f"first completed order ≤ {p.new_days} days ago, or no order and "
                f"signed up ≤ {p.new_days} days ago"),
        ("never-purchased", "no completed order before as_of"),
        ("churned", f"last completed order > {p.churn_days} days ago"),
        ("re-engaged", f"last completed order ≤ {p.active_days} days ago and ≥ "
                       f"{p.reengage_gap_days} days after the order before it"),
        ("active", f"last completed order ≤ {p.active_days} days ago"),
        ("at-risk", f"last completed order {p.active_days}–{p.churn_days} days ago"),
    ]  # fmt: skip
    return pd.DataFrame(rules, columns=["stage", "rule (first that holds)"])


def feature_summary(features: pd.DataFrame, as_of: pd.Timestamp, **extra: Any) -> dict[str, Any]:
    """The headline numbers of ``features.json``.

    Keys: ``as_of``, ``customers``, ``columns``, ``rfm_segments``, ``engagement_tiers``
    (``{}`` without e-mail data), ``lifecycle_stages`` (counts in the fixed label
    order), ``buyers``, ``monetary_total``, ``sections`` (built/skipped), then ``extra``.
    """

    def counts(column: str, order: tuple[str, ...]) -> dict[str, int]:
        if column not in features.columns:
            return {}
        found = features[column].value_counts()
        return {name: int(found.get(name, 0)) for name in order}

    sections = {s["section"]: s["status"] for s in features.attrs.get("sections", [])}
    return {
        "as_of": str(as_of.date()),
        "customers": int(len(features)),
        "columns": int(features.shape[1]),
        "rfm_segments": counts("rfm_segment", RFM_SEGMENTS),
        "engagement_tiers": counts("engagement_tier", ENGAGEMENT_TIERS),
        "lifecycle_stages": counts("lifecycle_stage", LIFECYCLE_STAGES),
        "buyers": int((features["frequency"] > 0).sum()),
        "monetary_total": round(float(features["monetary_total"].sum()), 2),
        "sections": sections,
        **extra,
    }


_ENGAGED = ENGAGEMENT_TIERS[:2]  # Highly and Moderately Engaged


def headline(summary: dict[str, Any], *, top: int = 3) -> Headline:
    """What a reader of the feature stage needs first, from :func:`feature_summary`.

    The items: customers, buyers (a completed order before ``as_of``), the ``top``
    largest RFM segments of the buyers with their shares of all customers (the others
    are "No Purchase": customers minus buyers), and — with e-mail data —
    the share engaged by e-mail (Highly or Moderately Engaged). The status is ``alert``
    when the feature table's revenue does not add up to the completed revenue of the
    orders table (``completed_revenue`` in the summary) or is not a finite number.

    Examples
    --------
    >>> summary = {"as_of": "2026-06-30", "customers": 200, "buyers": 150,
    ...            "rfm_segments": {"Champions": 40, "Lost": 30, "No Purchase": 50},
    ...            "engagement_tiers": {"Highly Engaged": 10, "Moderately Engaged": 50,
    ...                                 "Low": 40, "Inactive": 100},
    ...            "monetary_total": 1234.5, "completed_revenue": 1234.5}
    >>> h = headline(summary, top=2)
    >>> h.sentence
    '200 customers as of 2026-06-30, 150 of them buyers; largest RFM segments: Champions 20.0%, Lost 15.0%; 30.0% engaged by e-mail.'
    >>> h.text(), h.status
    ('customers 200 · buyers 150 · Champions 20.0% · Lost 15.0% · engaged by e-mail 30.0%', 'ok')
    """
    customers = int(summary.get("customers") or 0)
    buyers = int(summary.get("buyers") or 0)
    segments = sorted(
        (
            (name, int(n))
            for name, n in (summary.get("rfm_segments") or {}).items()
            if n and name != NO_PURCHASE
        ),
        key=lambda item: -item[1],
    )[:top]
    items = [HeadlineItem("customers", customers, "int"), HeadlineItem("buyers", buyers, "int")]
    items += [HeadlineItem(name, n / customers, "pct") for name, n in segments if customers]
    mix = ", ".join(f"{name} {fmt_pct(n / customers)}" for name, n in segments if customers)
    sentence = (
        f"{fmt_int(customers)} customers as of {summary.get('as_of', '')}, "
        f"{fmt_int(buyers)} of them buyers" + (f"; largest RFM segments: {mix}" if mix else "")
    )
    tiers = summary.get("engagement_tiers") or {}
    if tiers and customers:
        engaged = sum(int(tiers.get(t, 0)) for t in _ENGAGED) / customers
        items.append(HeadlineItem("engaged by e-mail", engaged, "pct"))
        sentence += f"; {fmt_pct(engaged)} engaged by e-mail"
    revenue, expected = summary.get("monetary_total"), summary.get("completed_revenue")
    unreconciled = (
        revenue is None
        or not math.isfinite(float(revenue))
        or (expected is not None and revenue != expected)
    )
    if unreconciled:
        sentence += (
            "; the revenue of the feature table does not add up to the orders table's "
            "completed revenue"
        )
    return Headline(sentence + ".", items[:6], "alert" if unreconciled else "ok")


def distribution_figure(
    features: pd.DataFrame, column: str, order: tuple[str, ...], *, title: str
) -> go.Figure:
    """Customers per label of ``column`` in a fixed order, with shares as text."""
    counts = features[column].value_counts().reindex(list(order), fill_value=0)
    frame = pd.DataFrame({column: counts.index, "customers": counts.to_numpy()})
    frame["share"] = frame["customers"] / max(len(features), 1)
    fig = px.bar(frame, x="customers", y=column, orientation="h", title=title,
                 text=frame["share"].map("{:.1%}".format))  # fmt: skip
    fig.update_layout(height=420, margin={"t": 60, "l": 10, "r": 10, "b": 10},
                      yaxis={"categoryorder": "array", "categoryarray": list(order)[::-1]})  # fmt: skip
    return fig


def rfm_grid_figure(features: pd.DataFrame) -> go.Figure:
    """Customers per (R, FM) cell, labelled with the cell's segment."""
    scored = features.dropna(subset=["r_score", "fm_score"])
    counts = pd.crosstab(scored["r_score"].astype(int), scored["fm_score"].astype(int))
    counts = counts.reindex(index=[5, 4, 3, 2, 1], columns=[1, 2, 3, 4, 5], fill_value=0)
    text = [[f"{RFM_SEGMENT_GRID[r][f]}<br>{counts.loc[r, f]:,}" for f in counts.columns]
            for r in counts.index]  # fmt: skip
    fig = go.Figure(go.Heatmap(z=counts.to_numpy(), x=[f"FM {f}" for f in counts.columns],
                               y=[f"R {r}" for r in counts.index], text=text,
                               texttemplate="%{text}", colorscale="Blues"))  # fmt: skip
    fig.update_layout(title="Customers per RFM cell (R = recency, FM = frequency & monetary)",
                      height=480, margin={"t": 60, "l": 10, "r": 10, "b": 10})  # fmt: skip
    return fig


def top_category_figure(features: pd.DataFrame, *, top: int = 20) -> go.Figure:
    """Customers by their top spending category (the ``top`` largest categories).

    Category names come from the data: they are HTML-escaped for Plotly, which reads a
    small HTML subset in labels (and shows the escaped text as typed).
    """
    counts = features["top_category"].dropna().value_counts().head(top)
    frame = pd.DataFrame(
        {"category": [html_text(c) for c in counts.index], "customers": counts.to_numpy()}
    )
    fig = px.bar(frame, x="category", y="customers", title="Customers by top spending category")
    fig.update_layout(height=420, margin={"t": 60, "l": 10, "r": 10, "b": 10})
    return fig


def segmentation_columns(features: pd.DataFrame) -> list[str]:
    """Recommended default inputs of the segmentation stage, as present in ``features``.

    Purchase rate, basket value, e-mail open and click rates, recent web sessions, cart
    abandonment (rate and count), and taste: share of spend and of product views per
    category. Rates and shares are undefined (NaN) for customers without the
    underlying activity; impute them (e.g. with the median after a log1p transform)
    rather than with 0, which would make "no activity" a cluster of its own.
    """
    wanted = [
        "purchase_rate_per_year", "avg_order_value", "email_open_rate", "email_click_rate",
        "web_sessions_90d", "cart_abandonment_rate", "abandoned_carts",
    ]  # fmt: skip
    shares = [c for c in features.columns if c.startswith(("share_", "view_share_"))]
    return [c for c in wanted if c in features.columns] + shares
