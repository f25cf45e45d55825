"""Customer 360: everything the workbench knows about one customer, by customer id.

Reads the latest processed outputs — ``customer_features.parquet`` (stage 02),
``segments.parquet`` (stage 03) and ``churn_scores.parquet`` (stage 04) — the champion
churn model from the MLflow registry (``models:/churn-classifier@champion``), and the
customer's own rows of the canonical tables (the source the feature table was built from,
else the audit's clean tables, else the raw ones) for recent orders and engagement.
Everything is optional except the feature table: a missing piece is named in
:attr:`Customer360.notes` and its section says so.

Point in time: orders and events are shown up to the feature table's ``as_of`` (rows on
or after it are not part of what the scores and segments saw).

Privacy: the view carries customer ids only. Columns that identify a person (e-mail,
names, phone, address, birth date) are dropped from every table it reads, and the
customers table itself is never read.

Examples
--------
>>> from workbench import customer360
>>> view = customer360.open_customer360()                            # doctest: +SKIP
>>> profile = view.profile("C0000001")                                # doctest: +SKIP
>>> profile.rfm                                                       # doctest: +SKIP
>>> profile.waterfall.show()                                          # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.churn.params import CHAMPION, REGISTERED_MODEL

__all__ = [
    "PERSONAL_COLUMNS",
    "CustomerNotFound",
    "Customer360",
    "CustomerProfile",
    "open_customer360",
    "drop_personal",
    "rfm_table",
    "recent_orders",
    "engagement_table",
    "audience_table",
    "customer_waterfall",
]

log = logging.getLogger(__name__)

#: Columns that identify a person; never shown.
PERSONAL_COLUMNS = frozenset(
    {
        "email",
        "e_mail",
        "email_address",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "phone",
        "phone_number",
        "address",
        "street",
        "postcode",
        "zip",
        "birth_date",
        "date_of_birth",
    }
)
_RFM_FIELDS = (
    "recency_days",
    "frequency",
    "monetary_total",
    "avg_order_value",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
    "lifecycle_stage",
    "tenure_days",
    "inter_purchase_days",
    "purchase_rate_per_year",
    "frequency_90d",
    "monetary_90d",
    "return_rate",
    "engagement_tier",
)
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

    def headline_table(self) -> pd.DataFrame:
        """The headline as a two-column table (what, value)."""
        return pd.DataFrame({"what": list(self.headline), "value": list(self.headline.values())})


def drop_personal(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` without the columns of :data:`PERSONAL_COLUMNS`.

    Examples
    --------
    >>> drop_personal(pd.DataFrame({"customer_id": ["C1"], "Email": ["x"]})).columns.tolist()
    ['customer_id']
    """
    drop = [c for c in frame.columns if str(c).strip().lower() in PERSONAL_COLUMNS]
    if drop:
        log.info("customer 360: left out personal column(s) %s", ", ".join(map(str, drop)))
    return frame.drop(columns=drop)


# --------------------------------------------------------------------------- pieces


def _value(value: Any) -> Any:
    if value is None or (not isinstance(value, str | list | tuple | np.ndarray) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def rfm_table(row: pd.Series, meanings: dict[str, str] | None = None) -> pd.DataFrame:
    """feature, value and meaning of the RFM, lifecycle and engagement columns a feature
    row holds (missing values as None).

    Examples
    --------
    >>> row = pd.Series({"customer_id": "C1", "recency_days": 12.5, "frequency": 3})
    >>> rfm_table(row)[["feature", "value"]].values.tolist()
    [['recency_days', 12.5], ['frequency', 3]]
    """
    meanings = meanings or {}
    rows = [
        {"feature": c, "value": _value(row[c]), "meaning": meanings.get(c, "")}
        for c in _RFM_FIELDS
        if c in row.index
    ]
    return pd.DataFrame(rows, columns=["feature", "value", "meaning"])


def recent_orders(
    orders: pd.DataFrame,
    customer_id: str,
    as_of: pd.Timestamp | None,
    *,
    n: int = 10,
    lines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The customer's ``n`` most recent orders before ``as_of``, newest first.

    Parameters
    ----------
    orders : DataFrame
        Canonical orders (order_id, customer_id, ordered_at, amount; status, channel
        when present). Not modified.
    customer_id : str
    as_of : Timestamp or None
        Orders on or after it are left out (None keeps all).
    n : int
        How many orders.
    lines : DataFrame, optional
        order_id, quantity and category of order lines: adds ``items`` and ``categories``.

    Examples
    --------
    >>> o = pd.DataFrame({"order_id": ["A", "B", "C"], "customer_id": ["C1", "C1", "C2"],
    ...                   "ordered_at": pd.to_datetime(["2026-01-02", "2026-03-01",
    ...                                                 "2026-02-01"], utc=True),
    ...                   "amount": [10.0, 20.0, 5.0]})
    >>> recent_orders(o, "C1", pd.Timestamp("2026-02-15", tz="UTC"))["order_id"].tolist()
    ['A']
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of orders, got {n!r}")
    missing = [c for c in ("order_id", "customer_id", "ordered_at", "amount") if c not in orders]
    if missing:
        raise ValueError(
            f"orders: column(s) {', '.join(missing)} missing; expected canonical orders"
        )
    mine = orders[orders["customer_id"].astype("str") == str(customer_id)]
    if as_of is not None:
        mine = mine[mine["ordered_at"] < as_of]
    keep = [c for c in ("order_id", "ordered_at", "amount", "status", "channel") if c in mine]
    out = mine.sort_values("ordered_at", ascending=False, kind="stable").head(n)[keep]
    if lines is not None and not lines.empty and not out.empty:
        lines = lines[lines["order_id"].isin(out["order_id"])]
        grouped = lines.groupby("order_id")
        items = grouped["quantity"].sum() if "quantity" in lines else grouped.size()
        out = out.assign(items=out["order_id"].map(items))
        if "category" in lines:
            cats = grouped["category"].agg(lambda c: ", ".join(sorted(set(c.dropna().astype(str)))))
            out = out.assign(categories=out["order_id"].map(cats))
    return out.reset_index(drop=True)


def _event_counts(
    events: pd.DataFrame, as_of: pd.Timestamp | None, windows: tuple[int, ...]
) -> pd.DataFrame:
    if as_of is not None:
        events = events[events["occurred_at"] < as_of]
    reference = as_of if as_of is not None else events["occurred_at"].max()
    rows = []
    for event_type, part in events.groupby("event_type", sort=True):
        row: dict[str, Any] = {"event": event_type}
        for days in windows:
            start = reference - pd.Timedelta(days=days)
            row[f"last_{days}d"] = int((part["occurred_at"] >= start).sum())
        row["all"] = len(part)
        row["last_at"] = part["occurred_at"].max()
        rows.append(row)
    return pd.DataFrame(rows)


def engagement_table(
    email_events: pd.DataFrame | None,
    web_events: pd.DataFrame | None,
    customer_id: str,
    as_of: pd.Timestamp | None,
    *,
    windows: tuple[int, ...] = (30, 90),
) -> pd.DataFrame:
    """The customer's e-mail and web events before ``as_of``: per channel and event type,
    counts in the last ``windows`` days and in all, and the time of the last one.

    A channel whose table is None (absent from the source) is left out.

    Examples
    --------
    >>> e = pd.DataFrame({"customer_id": ["C1", "C1", "C2"], "event_type": ["open"] * 3,
    ...                   "occurred_at": pd.to_datetime(["2026-06-20", "2026-01-01",
    ...                                                  "2026-06-20"], utc=True)})
    >>> t = engagement_table(e, None, "C1", pd.Timestamp("2026-06-30", tz="UTC"))
    >>> t[["channel", "event", "last_30d", "all"]].values.tolist()
    [['e-mail', 'open', 1, 2]]
    """
    columns = ["channel", "event", *[f"last_{d}d" for d in windows], "all", "last_at"]
    parts = []
    for frame, channel in ((email_events, "e-mail"), (web_events, "web")):
        if frame is None or frame.empty or "customer_id" not in frame:
            continue
        mine = frame[frame["customer_id"].astype("str") == str(customer_id)]
        if mine.empty:
            continue
        counts = _event_counts(mine, as_of, windows)
        if not counts.empty:
            parts.append(counts.assign(channel=channel))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def audience_table(
    row: pd.Series,
    *,
    score: pd.Series | None = None,
    cluster: pd.Series | None = None,
    target_threshold: float = 0.7,
) -> pd.DataFrame:
    """The audiences a customer belongs to: the win-back e-mail audience (the churn stage's
    rule, :func:`workbench.churn.winback_audience`), the RFM segment, the engagement
    tier, the lifecycle stage, the cluster and the churn risk band.

    Parameters
    ----------
    row : Series
        The customer's feature row (customer_id, rfm_segment, engagement_tier,
        lifecycle_stage, email_opt_in, email_unsubscribed when known).
    score : Series, optional
        The customer's row of ``churn_scores.parquet`` (None: not scored).
    cluster : Series, optional
        The customer's row of ``segments.parquet``.
    target_threshold : float
        Minimum churn probability of the win-back audience.

    Returns
    -------
    DataFrame
        audience, member (bool), detail.
    """
    from workbench.churn.scoring import winback_audience

    rows = []
    if score is None:
        rows.append(
            {
                "audience": "win-back e-mail",
                "member": False,
                "detail": "not scored by the churn model (no completed order in its lookback "
                "window, or no churn scores yet)",
            }
        )
    else:
        features = row.to_frame().T.reset_index(drop=True)
        audience, _ = winback_audience(
            score.to_frame().T.reset_index(drop=True).astype({"churn_probability": "float64"}),
            features,
            target_threshold=target_threshold,
        )
        member = len(audience) > 0
        p = float(score["churn_probability"])
        reasons = []
        if p < target_threshold:
            reasons.append(f"churn probability {p:.2f} below {target_threshold:g}")
        if "email_opt_in" not in row.index or pd.isna(row["email_opt_in"]):
            reasons.append("no e-mail consent recorded")
        elif not bool(row["email_opt_in"]):
            reasons.append("did not opt in to e-mail")
        unsubscribed = row.get("email_unsubscribed")
        if unsubscribed is not None and not pd.isna(unsubscribed) and bool(unsubscribed):
            reasons.append("unsubscribed")
        detail = (
            f"churn probability {p:.2f} ≥ {target_threshold:g}, opted in"
            if member
            else "; ".join(reasons) or "not in the audience"
        )
        rows.append({"audience": "win-back e-mail", "member": member, "detail": detail})
    labelled = (
        ("RFM segment", "rfm_segment"),
        ("engagement tier", "engagement_tier"),
        ("lifecycle stage", "lifecycle_stage"),
    )
    for title, column in labelled:
        if column in row.index and not pd.isna(row[column]):
            rows.append({"audience": f"{title}: {row[column]}", "member": True, "detail": column})
    if cluster is not None:
        rows.append(
            {
                "audience": f"cluster {int(cluster['cluster'])}: {cluster['cluster_name']}",
                "member": True,
                "detail": "segments.parquet (stage 03)",
            }
        )
    if score is not None:
        rows.append(
            {
                "audience": f"churn risk: {score['risk_band']}",
                "member": True,
                "detail": "churn_scores.parquet (stage 04)",
            }
        )
    return pd.DataFrame(rows, columns=["audience", "member", "detail"])


def customer_waterfall(model: Any, row: pd.DataFrame, customer_id: str, *, top: int = 10):
    """SHAP waterfall (Plotly) of one customer's churn probability under ``model`` (the
    churn pipeline), from XGBoost's native contributions; returns (figure, probability)."""
    from workbench.churn.explain import native_contributions
    from workbench.churn.figures import waterfall_figure

    contributions = native_contributions(model, row, id_column="customer_id")
    figure = waterfall_figure(contributions, str(customer_id), top=top)
    return figure, float(contributions.probability().iloc[0])


# --------------------------------------------------------------------------- the view


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
    """

    features: pd.DataFrame
    segments: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    model: Any = None
    model_version: str | None = None
    inputs: Any = None
    as_of: pd.Timestamp | None = None
    target_threshold: float = 0.7
    meanings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scored_with: str | None = None

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
            "rfm_segment": _value(row.get("rfm_segment")),
            "rfm_score": _value(row.get("rfm_score")),
            "lifecycle_stage": _value(row.get("lifecycle_stage")),
            "engagement_tier": _value(row.get("engagement_tier")),
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
        )

    def _churn(
        self, cid: str, row: pd.DataFrame, score: pd.Series | None, notes: list[str], *, top: int
    ) -> tuple[dict[str, Any] | None, go.Figure | None]:
        churn = None
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


def _customer_rows(inputs: Any, table: str, cid: str) -> pd.DataFrame | None:
    """The customer's rows of a canonical table (None when the source lacks it)."""
    if not inputs.has(table):
        return None
    t = inputs.tables[table]
    if "customer_id" not in t.columns:
        return None
    return drop_personal(inputs.to_pandas(t.filter(t["customer_id"] == cid)))


def _order_lines(inputs: Any, orders: pd.DataFrame | None) -> pd.DataFrame | None:
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


# --------------------------------------------------------------------------- opening


def _processed(
    settings: Any, name: str, expect: Any, notes: list[str]
) -> tuple[pd.DataFrame | None, Any]:
    """A processed table and its stamp when it fits the feature table (same source and
    ``as_of``); otherwise None and a note saying which stage to run."""
    from workbench import catalog

    try:
        return catalog.read_table(settings, name, expect=expect)
    except catalog.MissingOutputError:
        notes.append(
            f"no {name} for this feature table: run stage {catalog.entry(name).stage!r} for "
            "this section"
        )
    except catalog.StaleOutputError as exc:
        notes.append(f"{name} left out: {exc}")
    return None, None


def _events_source(settings: Any, features_stamp: Any, data_dir: str) -> Path | None:
    """Where the customer's orders and events are read: ``data_dir`` when given, else the
    tables the feature table was built from, else the clean tables, else the raw ones."""
    from workbench.loading import find_table_files

    if data_dir:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"customer 360: data_dir {str(path)!r} does not exist")
        return path
    built_from = features_stamp.extra.get("read_from")
    candidates = [Path(str(built_from)).expanduser()] if built_from else []
    for path in [*candidates, settings.clean_dir, settings.raw_dir]:
        if path.is_file() or (path.is_dir() and find_table_files(path)):
            return path
    return None


def _threshold(client: Any) -> float | None:
    """``target_threshold`` of the latest churn stage run (the rule of its audience)."""
    from workbench.tracking import experiment_name

    try:
        experiment = client.get_experiment_by_name(experiment_name("churn"))
        if experiment is None:
            return None
        runs = client.search_runs(
            [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
        )
        return float(runs[0].data.params["target_threshold"]) if runs else None
    except (KeyError, ValueError, IndexError):
        return None


def _point_mlflow(uri: str):
    """Point MLflow (tracking and registry: ``load_model`` reads models by URI) at ``uri``
    and return a client on it."""
    from workbench.registry import registry_client

    client = registry_client(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return client


def open_customer360(
    *,
    data_root: str = "",
    tracking_uri: str = "",
    data_dir: str = "",
    model_name: str = REGISTERED_MODEL,
    target_threshold: float = 0.0,
    settings: Any = None,
) -> Customer360:
    """Open the latest processed outputs, the champion churn model and the source tables.

    Parameters
    ----------
    data_root : str
        The data tree holding ``processed/`` (default: the project's settings).
    tracking_uri : str
        MLflow tracking URI (default: the project's).
    data_dir : str
        Folder or DuckDB file of the canonical tables for orders and events (default: the
        source the feature table was built from, else the clean, else the raw tables).
    model_name : str
        Registered churn model whose champion explains the probabilities.
    target_threshold : float
        Minimum churn probability of the win-back audience; 0 means the latest churn
        run's ``target_threshold`` (0.7 when there is none).
    settings : Settings, optional
        Overrides ``data_root`` and ``tracking_uri``.

    Raises
    ------
    FileNotFoundError
        No ``customer_features.parquet``: names the file and the stage to run.
    """
    from workbench import catalog
    from workbench.canonical import open_tables
    from workbench.churn import registry as churn_registry
    from workbench.features import FEATURE_TABLES, data_dictionary
    from workbench.settings import get_settings

    settings = settings or get_settings(
        data_dir=data_root or None, tracking_uri=tracking_uri or None
    )
    path = catalog.location(settings, "customer_features")
    if not path.exists():
        raise FileNotFoundError(
            f"customer 360 needs the feature table {path}, which does not exist: run stage 02 "
            "'features' first (`workbench run --data <source> --as-of <date> --stages "
            "features,segmentation,churn`)"
        )
    notes: list[str] = []
    features, stamp = catalog.read_table(settings, "customer_features")
    as_of = stamp.as_of
    expect = catalog.Expect(stamp.source, stamp.as_of)
    segments, _ = _processed(settings, "segments", expect, notes)
    scores, score_stamp = _processed(settings, "churn_scores", expect, notes)
    client = _point_mlflow(settings.tracking_uri)
    model, version = None, None
    holder = churn_registry.alias_version(client, model_name, CHAMPION)
    if holder is None:
        notes.append(f"no champion of {model_name!r} in the registry: no SHAP waterfall")
    else:
        model = churn_registry.load_model(model_name, alias=CHAMPION)
        version = str(holder.version)
    threshold = target_threshold or _threshold(client) or 0.7
    source = _events_source(settings, stamp, data_dir)
    inputs = None
    if source is None:
        notes.append("no source tables found: recent orders and engagement are not shown")
    else:
        inputs = open_tables(source, tables=FEATURE_TABLES)
        log.info("customer 360: orders and events from %s", source)
    dictionary = data_dictionary(features.head(0))
    view = Customer360(
        features=features,
        segments=segments,
        scores=scores,
        model=model,
        model_version=version,
        inputs=inputs,
        as_of=as_of,
        target_threshold=threshold,
        meanings=dict(zip(dictionary["column"], dictionary["meaning"], strict=True)),
        notes=notes,
        scored_with=None if score_stamp is None else score_stamp.extra.get("version"),
    )
    log.info(
        "customer 360: %s customers as of %s; champion %s",
        f"{len(view):,}",
        None if as_of is None else as_of.date(),
        version,
    )
    return view
