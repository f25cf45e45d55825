"""The 360 view of one customer: :class:`Customer360` holds the data, :meth:`~Customer360.profile`
answers for a customer id with a :class:`CustomerProfile`.

The view is built from frames (the feature table, segments, churn scores), the champion
churn model and the canonical tables of the source (an
:class:`~workbench.canonical.CanonicalTables`, read one customer at a time) — usually by
:func:`workbench.customer360.open_customer360`, or directly in tests. Ids are resolved
forgivingly (letter case, surrounding spaces) and an unknown id raises
:class:`CustomerNotFound` with the closest ids.
"""

from __future__ import annotations

import bisect
import difflib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.canonical import CanonicalTables
from workbench.clv.connect import customer_view
from workbench.customer360.tables import (
    audience_table,
    customer_waterfall,
    drop_personal,
    engagement_table,
    plain_value,
    recent_orders,
    rfm_table,
)
from workbench.recommend.connect import customer_recommendations

__all__ = ["CustomerNotFound", "CustomerProfile", "Customer360"]

log = logging.getLogger(__name__)

_CHANNELS = (("email_events", "e-mail"), ("web_events", "web"))


class CustomerNotFound(LookupError):
    """The customer id is not in the feature table; the message suggests close ids."""

    def __str__(self) -> str:  # LookupError quotes its argument like a KeyError
        return str(self.args[0]) if self.args else ""


@dataclass
class CustomerProfile:
    """One customer's 360 view.

    Attributes
    ----------
    customer_id : str
    as_of : Timestamp or None
        Cut-off of the feature table (orders and events before it).
    headline : dict
        RFM segment, lifecycle stage, engagement tier, cluster, churn probability and band.
    rfm : DataFrame
        feature, value, meaning of the RFM and engagement columns.
    churn : dict or None
        probability, risk_band, top_reasons, scored_with (None when not scored).
    orders : DataFrame
        The most recent orders before ``as_of`` (newest first).
    engagement : DataFrame
        Events per channel and type in the last 30 / 90 days and in all, with the last one.
    audiences : DataFrame
        audience, member, detail.
    waterfall : plotly Figure or None
        How the champion model builds this customer's churn probability (SHAP).
    notes : list of str
        What could not be shown, and why.
    recommendations : DataFrame or None
        rank, product_id, name, category, score, reason of the products the
        recommendations stage chose for this customer (None: no list).
    value : dict or None
        The CLV stage's numbers for this customer (:func:`workbench.clv.customer_view`:
        CLV, tier, rank, P(alive), expected purchases; None: not valued).
    """

    customer_id: str
    as_of: pd.Timestamp | None
    headline: dict[str, Any]
    rfm: pd.DataFrame
    churn: dict[str, Any] | None
    orders: pd.DataFrame
    engagement: pd.DataFrame
    audiences: pd.DataFrame
    waterfall: go.Figure | None
    notes: list[str] = field(default_factory=list)
    recommendations: pd.DataFrame | None = None
    value: dict[str, Any] | None = None

    def headline_table(self) -> pd.DataFrame:
        """The headline as a two-column table (what, value)."""
        return pd.DataFrame({"what": list(self.headline), "value": list(self.headline.values())})


@dataclass
class Customer360:
    """The data behind the 360 view; build it with :func:`open_customer360` (or from
    frames, e.g. in tests) and ask :meth:`profile` for a customer.

    Attributes
    ----------
    features : DataFrame
        The feature table (personal columns dropped).
    segments, scores : DataFrame or None
        ``segments.parquet`` and ``churn_scores.parquet``.
    model : Pipeline or None
        The champion churn pipeline.
    model_version : str or None
        Its registry version.
    inputs : CanonicalTables or None
        The canonical tables (orders, order lines, products, e-mail and web events).
    as_of : Timestamp or None
        The feature table's cut-off.
    target_threshold : float
        Minimum churn probability of the win-back audience.
    meanings : dict
        Data-dictionary meaning of each feature column.
    notes : list of str
        What is missing, for every customer.
    scored_with : str or None
        The model version that made ``churn_scores.parquet``.
    recommendations : DataFrame or None
        ``recommendations.parquet`` (stage 06).
    clv : DataFrame or None
        ``clv.parquet`` (stage 05).
    """

    features: pd.DataFrame
    segments: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    model: Any = None
    model_version: str | None = None
    inputs: CanonicalTables | None = None
    as_of: pd.Timestamp | None = None
    target_threshold: float = 0.7
    meanings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scored_with: str | None = None
    recommendations: pd.DataFrame | None = None
    clv: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if "customer_id" not in self.features.columns:
            raise ValueError(
                "customer 360: the feature table has no 'customer_id' column; expected "
                "customer_features.parquet of stage 02"
            )
        self.features = drop_personal(self.features)
        ids = self.features["customer_id"].astype("str")
        self._rows = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
        self._rows = self._rows[~self._rows.index.duplicated()]
        self._folded = {i.strip().lower(): i for i in self._rows.index[::-1]}
        self._sorted = sorted(self._folded)
        self._segments = _by_id(self.segments)
        self._scores = _by_id(self.scores)
        self._products: pd.DataFrame | None = None

    # ------------------------------------------------------------------ ids

    def __len__(self) -> int:
        return len(self._rows)

    def suggestions(self, n: int = 100) -> list[str]:
        """Ids to offer in a picker: the highest churn risk first (else the first ids)."""
        if self.scores is not None and len(self.scores):
            top = self.scores.sort_values("churn_probability", ascending=False, kind="stable")
            ids = [i for i in top["customer_id"].astype("str") if i in self._rows.index]
            return ids[:n]
        return list(self._rows.index[:n])

    def resolve(self, customer_id: str) -> str:
        """The id as the feature table spells it (surrounding spaces and letter case
        ignored).

        Raises
        ------
        CustomerNotFound
            With the table's size, its ``as_of`` and the closest ids.
        """
        text = str(customer_id).strip()
        if text in self._rows.index:
            return text
        folded = self._folded.get(text.lower())
        if folded is not None:
            return folded
        close = self._closest(text)
        example = self._rows.index[0] if len(self._rows) else "none"
        where = f"as of {self.as_of.date()}, " if self.as_of is not None else ""
        hint = f"; closest: {', '.join(close)}" if close else f"; ids look like {example!r}"
        if not text:
            raise CustomerNotFound(
                "type a customer id" + (f", e.g. {example!r}" if len(self) else "")
            )
        raise CustomerNotFound(
            f"customer {text!r} is not in the feature table ({where}{len(self):,} customers){hint}"
        )

    def _closest(self, text: str, n: int = 3) -> list[str]:
        """Ids that start with ``text`` (letter case ignored), else the most similar ids
        among those near it in sort order (bounded work for millions of ids)."""
        key = text.lower()
        pos = bisect.bisect_left(self._sorted, key)
        prefix = [k for k in self._sorted[pos : pos + n] if k.startswith(key)]
        if prefix:
            return [self._folded[k] for k in prefix]
        window = self._sorted[max(0, pos - 1000) : pos + 1000]
        return [self._folded[k] for k in difflib.get_close_matches(key, window, n=n, cutoff=0.6)]

    # ------------------------------------------------------------------ profile

    def profile(self, customer_id: str, *, orders: int = 10, top: int = 10) -> CustomerProfile:
        """Everything about one customer (see :class:`CustomerProfile`).

        Raises
        ------
        CustomerNotFound
            The id is not in the feature table.
        """
        cid = self.resolve(customer_id)
        position = int(self._rows[cid])
        row = self.features.iloc[position]
        notes: list[str] = list(self.notes)
        cluster = _row(self._segments, cid)
        score = _row(self._scores, cid)
        frame = self.features.iloc[[position]].reset_index(drop=True)
        churn, waterfall = self._churn(cid, frame, score, notes, top=top)
        order_table, engagement = self._activity(cid, notes, orders)
        headline = {
            "customer_id": cid,
            "as_of": None if self.as_of is None else str(self.as_of.date()),
            "rfm_segment": plain_value(row.get("rfm_segment")),
            "rfm_score": plain_value(row.get("rfm_score")),
            "lifecycle_stage": plain_value(row.get("lifecycle_stage")),
            "engagement_tier": plain_value(row.get("engagement_tier")),
            "cluster": None
            if cluster is None
            else f"{int(cluster['cluster'])}: {cluster['cluster_name']}",
            "churn_probability": None if churn is None else round(churn["probability"], 4),
            "risk_band": None if churn is None else churn["risk_band"],
        }
        if self.segments is not None and cluster is None:
            notes.append(f"{cid} has no row in segments.parquet")
        return CustomerProfile(
            customer_id=cid,
            as_of=self.as_of,
            headline=headline,
            rfm=rfm_table(row, self.meanings),
            churn=churn,
            orders=order_table,
            engagement=engagement,
            audiences=audience_table(
                row, score=score, cluster=cluster, target_threshold=self.target_threshold
            ),
            waterfall=waterfall,
            notes=notes,
            recommendations=self._recommendations(cid, notes),
            value=self._value(cid, notes),
        )

    def _value(self, cid: str, notes: list[str]) -> dict[str, Any] | None:
        """The customer's numbers of the CLV stage."""
        if self.clv is None:
            return None
        found = customer_view(self.clv, cid)
        if found is None:
            notes.append(f"{cid} has no CLV: no completed order before the stage's as_of")
        return found

    def _recommendations(self, cid: str, notes: list[str]) -> pd.DataFrame | None:
        """The customer's list of the recommendations stage, with product names."""
        if self.recommendations is None:
            return None
        if self._products is None and self.inputs is not None and self.inputs.has("products"):
            table = self.inputs.tables["products"]
            columns = [c for c in ("product_id", "name", "category") if c in table.columns]
            self._products = self.inputs.to_pandas(table.select(*columns))  # small: read once
        found = customer_recommendations(self.recommendations, cid, self._products)
        if found is None:
            notes.append(f"{cid} has no recommendations: no order before the stage's as_of")
        return found

    def _churn(
        self, cid: str, row: pd.DataFrame, score: pd.Series | None, notes: list[str], *, top: int
    ) -> tuple[dict[str, Any] | None, go.Figure | None]:
        churn: dict[str, Any] | None = None
        if score is not None:
            churn = {
                "probability": float(score["churn_probability"]),
                "risk_band": str(score["risk_band"]),
                "top_reasons": _as_list(score.get("top_reasons")),
                "scored_with": self.scored_with,
            }
        elif self.scores is not None:
            notes.append(
                f"{cid} was not scored by the churn stage: only customers with a completed "
                "order in its lookback window are (the population the model learned from)"
            )
            return None, None
        if self.model is None:
            return churn, None
        try:
            figure, probability = customer_waterfall(self.model, row, cid, top=top)
        except (ValueError, KeyError, TypeError) as exc:
            notes.append(f"no SHAP waterfall: the champion cannot read this feature table ({exc})")
            return churn, None
        if churn is None:
            churn = {
                "probability": probability,
                "risk_band": None,
                "top_reasons": [],
                "scored_with": f"champion version {self.model_version} (no churn_scores.parquet)",
            }
        elif abs(probability - churn["probability"]) > 0.005:
            why = (
                f"the scores were made by version {self.scored_with}: run the churn stage "
                "again to rescore"
                if self.scored_with and self.scored_with != self.model_version
                else "the churn stage builds its own feature table, which differs here"
            )
            notes.append(
                f"the champion (version {self.model_version}) gives {probability:.3f} on this "
                f"feature row, churn_scores.parquet says {churn['probability']:.3f}; {why}. "
                "The waterfall explains the champion."
            )
        return churn, figure

    def _activity(self, cid: str, notes: list[str], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        empty_orders = pd.DataFrame(columns=["order_id", "ordered_at", "amount", "status"])
        if self.inputs is None:
            return empty_orders, engagement_table(None, None, cid, self.as_of)
        orders = _customer_rows(self.inputs, "orders", cid)
        lines = _order_lines(self.inputs, orders)
        table = (
            recent_orders(orders, cid, self.as_of, n=n, lines=lines)
            if orders is not None
            else empty_orders
        )
        events = {t: _customer_rows(self.inputs, t, cid) for t, _ in _CHANNELS}
        for table_name, channel in _CHANNELS:
            if not self.inputs.has(table_name):
                notes.append(f"no {table_name} table in the source: no {channel} engagement")
            elif table_name == "web_events" and "customer_id" not in self.inputs.provided.get(
                table_name, frozenset()
            ):
                notes.append("web_events carry no customer_id: no web engagement per customer")
        engagement = engagement_table(events["email_events"], events["web_events"], cid, self.as_of)
        return table, engagement


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return value.split(" | ")
    return []


def _by_id(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    keyed = frame.assign(customer_id=frame["customer_id"].astype("str"))
    return keyed.drop_duplicates("customer_id").set_index("customer_id", drop=False)


def _row(frame: pd.DataFrame | None, cid: str) -> pd.Series | None:
    if frame is None or cid not in frame.index:
        return None
    return frame.loc[cid]


def _customer_rows(inputs: CanonicalTables, table: str, cid: str) -> pd.DataFrame | None:
    """The customer's rows of a canonical table (None when the source lacks it)."""
    if not inputs.has(table):
        return None
    t = inputs.tables[table]
    if "customer_id" not in t.columns:
        return None
    return drop_personal(inputs.to_pandas(t.filter(t["customer_id"] == cid)))


def _order_lines(inputs: CanonicalTables, orders: pd.DataFrame | None) -> pd.DataFrame | None:
    """order_id, quantity, category of the customer's order lines (when the source has
    order_items; category when it has products)."""
    if orders is None or orders.empty or not inputs.has("order_items"):
        return None
    ids = orders["order_id"].astype("str").tolist()
    items = inputs.tables["order_items"]
    lines = items.filter(items["order_id"].isin(ids))
    if inputs.has("products") and "category" in inputs.provided.get("products", frozenset()):
        products = inputs.tables["products"].select("product_id", "category")
        lines = lines.left_join(products, "product_id").select("order_id", "quantity", "category")
    else:
        lines = lines.select("order_id", "quantity")
    return inputs.to_pandas(lines)
