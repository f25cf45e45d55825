"""Assemble the customer feature table: plan the sections, run them on the engine, derive.

:func:`build_features` is the stage's entry point. It decides which sections the source
supports (:func:`feature_sections`), runs the customer universe and each section
expression of :mod:`workbench.features.expressions` on the engine (each result has at
most one row per customer), lines them up by customer, and derives scores, tiers,
stages and rates in pandas on that one-row-per-customer table
(:mod:`workbench.features.derive`).
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from workbench.canonical import CanonicalTables, open_tables
from workbench.features import derive
from workbench.features import expressions as ex
from workbench.features.baseline import RFM_COLUMNS
from workbench.features.params import FEATURE_TABLES, FeatureParams
from workbench.loading import LoadedData
from workbench.schema import check_as_of

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = [
    "build_features",
    "rfm_features",
    "feature_sections",
    "feature_expression",
    "completed_revenue",
    "SECTIONS",
]

log = logging.getLogger(__name__)

#: Sections of the feature table: name -> (tables needed, what it adds).
SECTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "profile": (("customers",), "age band, gender, country, signup channel, e-mail opt-in"),
    "rfm": (("orders",), "recency, frequency, monetary, scores, segments, lifecycle"),
    "email": (("email_events",), "sends/opens/clicks per window, rates, engagement tier"),
    "web": (("web_events",), "sessions and product views per window, add-to-carts"),
    "cart_abandonment": (("web_events", "orders"), "abandoned carts and abandonment rate"),
    "viewed_categories": (
        ("web_events", "products"),
        "most viewed category and share of product views per category",
    ),
    "category_affinity": (
        ("order_items", "products"),
        "share of spend per category, top category, number of categories",
    ),
}
_PROFILE = ("gender", "country", "signup_channel", "email_opt_in", "birth_date", "signup_at")


@dataclass
class _Plan:
    """What the source supports (independent of ``as_of``, so columns are stable)."""

    built: dict[str, bool]
    reasons: dict[str, str]
    profile: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    pooled: bool = False

    def table(self) -> pd.DataFrame:
        rows = [
            {
                "section": name,
                "status": "built" if self.built[name] else "skipped",
                "tables": ", ".join(tables),
                "adds": adds,
                "note": self.reasons.get(name, ""),
            }
            for name, (tables, adds) in SECTIONS.items()
        ]
        return pd.DataFrame(rows)


def _plan(inputs: CanonicalTables, params: FeatureParams) -> _Plan:
    built = dict.fromkeys(SECTIONS, True)
    reasons: dict[str, str] = {}
    present = inputs.non_null_columns("customers")
    profile = [c for c in _PROFILE if c in present]
    absent = [c for c in _PROFILE if c not in present]
    if not profile:
        built["profile"] = False
        reasons["profile"] = "customers has no profile columns (e.g. derived from orders)"
    elif absent:
        reasons["profile"] = f"absent or empty in customers: {', '.join(absent)}"

    def need(section: str, table: str, why: str | None = None) -> None:
        if built[section] and not inputs.has(table):
            built[section] = False
            reasons[section] = why or f"no {table} table in the source"

    need("email", "email_events")
    need("web", "web_events")
    if built["web"] and "customer_id" not in inputs.non_null_columns("web_events"):
        built["web"] = False
        reasons["web"] = "web_events has no customer ids (anonymous sessions only)"
    for section in ("cart_abandonment", "viewed_categories"):
        if not built["web"]:
            built[section] = False
            reasons[section] = reasons["web"]
    need("viewed_categories", "products")
    need("category_affinity", "order_items")
    need("category_affinity", "products")
    categorised = inputs.has("products") and "category" in inputs.non_null_columns("products")
    for section in ("viewed_categories", "category_affinity"):
        if built[section] and not categorised:
            built[section] = False
            reasons[section] = "products has no category values"
    plan = _Plan(built, reasons, profile)
    if built["category_affinity"] or built["viewed_categories"]:
        plan.categories, plan.pooled = _categories(inputs, params.max_categories)
        for section in ("category_affinity", "viewed_categories"):
            if plan.pooled and built[section]:
                reasons[section] = (
                    f"{params.max_categories} categories with the most products kept; "
                    "the rest pooled in share_other / view_share_other"
                )
    return plan


#: Categories of each opened source (they do not depend on ``as_of``), so that building
#: at several dates on one :class:`CanonicalTables` asks the engine once. Keyed by the
#: identity of the opened tables; an entry goes when its tables are garbage-collected.
_CATEGORIES: dict[tuple[int, int], tuple[tuple[str, ...], bool]] = {}


def _categories(inputs: CanonicalTables, limit: int) -> tuple[list[str], bool]:
    """Categories with the most products (ties by name), cached per opened source."""
    key = (id(inputs), limit)
    if key not in _CATEGORIES:
        p = inputs.tables["products"]
        p = p.filter(p.category.notnull())
        counts = (
            p.group_by("category").aggregate(n=p.count()).order_by([ibis.desc("n"), "category"])
        )
        names = inputs.execute(counts)["category"].astype("str").tolist()
        _CATEGORIES[key] = (tuple(sorted(names[:limit])), len(names) > limit)
        weakref.finalize(inputs, _CATEGORIES.pop, key, None)
    cats, pooled = _CATEGORIES[key]
    return list(cats), pooled


def feature_sections(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame] | CanonicalTables,
    *,
    params: FeatureParams | None = None,
    con: BaseBackend | None = None,
) -> pd.DataFrame:
    """Which feature sections a source supports: section, status, tables, adds, note.

    A skipped section's columns are absent from the feature table (never zero-filled);
    the note says why.
    """
    inputs = open_tables(source, con=con, tables=FEATURE_TABLES)
    return _plan(inputs, params or FeatureParams()).table()


def rfm_features(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame] | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    params: FeatureParams | None = None,
    con: BaseBackend | None = None,
) -> pd.DataFrame:
    """Only the RFM columns (:data:`RFM_COLUMNS`) of customers with a completed order,
    computed on the engine — the like-for-like counterpart of :func:`rfm_pandas` (same
    rows, same values) for cross-checks and benchmarks.
    """
    params = params or FeatureParams()
    check_as_of(as_of, "rfm_features")
    inputs = open_tables(source, con=con, tables=("orders",))  # all RFM needs
    o = inputs.tables["orders"]
    done = o.filter(
        o.ordered_at < ibis.literal(as_of), o.customer_id.notnull(), o.status == "completed"
    )
    agg = done.group_by("customer_id").aggregate(
        last_order_at=done.ordered_at.max(),
        frequency=done.count(),
        monetary_total=done.amount.sum(),
    )
    f = inputs.to_pandas(agg.order_by("customer_id"))  # the engine sorts (in parallel)
    f["customer_id"] = f["customer_id"].astype("str")
    f["frequency"] = f["frequency"].astype("int64")
    f["monetary_total"] = f["monetary_total"].astype("float64").fillna(0.0)
    f["monetary_total"] = f["monetary_total"].round(params.money_decimals)
    f["recency_days"] = derive.days_before(as_of, f["last_order_at"])
    f["avg_order_value"] = derive.safe_ratio(f["monetary_total"], f["frequency"])
    scores = derive.rfm_scores(f)
    for column in scores.columns:
        f[column] = scores[column]
    return f[list(RFM_COLUMNS)]


def completed_revenue(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame] | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    params: FeatureParams | None = None,
    con: BaseBackend | None = None,
) -> float:
    """Completed revenue before ``as_of`` straight from the orders table (one engine
    query): the number the feature table's ``monetary_total`` must add up to.

    Counted: every order row with ``status == "completed"``, ``ordered_at < as_of`` and
    a customer id, amounts as recorded, rounded to ``money_decimals``.
    """
    params = params or FeatureParams()
    check_as_of(as_of, "completed_revenue")
    inputs = open_tables(source, con=con, tables=FEATURE_TABLES)
    o = inputs.tables["orders"]
    o = o.filter(
        o.ordered_at < ibis.literal(as_of),
        o.customer_id.notnull(),
        o.status == "completed",
    )
    value = inputs.execute(o.amount.sum())
    return round(float(0.0 if value is None or pd.isna(value) else value), params.money_decimals)


def _join_all(base: ibis.Table, parts: list[ibis.Table]) -> ibis.Table:
    """Left-join every part onto the universe by ``customer_id`` in one join chain."""
    if not parts:
        return base
    joined = base
    for part in parts:
        joined = joined.left_join(part, base.customer_id == part.customer_id)
    keep = [part[c] for part in parts for c in part.columns if c != "customer_id"]
    return joined.select(base.customer_id, *keep)


def _sections(
    inputs: CanonicalTables,
    as_of: pd.Timestamp,
    params: FeatureParams,
    plan: _Plan,
    *,
    orders: ibis.Table | None = None,
) -> tuple[ibis.Table, dict[str, ibis.Table]]:
    """The customer universe and one per-customer expression per built section part.

    ``orders``: the order aggregates (:func:`~workbench.features.expressions.order_aggregates`
    of this cut-off) already materialised on the engine; they then serve the orders part,
    the universe and the previous order, so the orders are grouped once for the three.
    """
    t = inputs.tables
    if orders is None:
        orders = ex.order_aggregates(t["orders"], as_of, params)
    universe = ex.customer_universe(t["customers"], t["orders"], as_of, ordered=orders)
    parts: dict[str, ibis.Table] = {}
    if plan.built["profile"]:
        parts["profile"] = ex.profile_columns(t["customers"], plan.profile)
    parts["orders"] = orders
    parts["previous_order"] = ex.previous_order(t["orders"], as_of, last=orders)
    if plan.built["email"]:
        parts["email"] = ex.email_aggregates(t["email_events"], as_of, params)
        parts["open_hour"] = ex.preferred_open_hour(t["email_events"], as_of)
    if plan.built["web"]:
        parts["web"] = ex.web_aggregates(t["web_events"], as_of, params)
    if plan.built["cart_abandonment"]:
        method = "asof" if inputs.con.name == "duckdb" else "window"
        parts["cart_abandonment"] = ex.cart_abandonment(
            t["web_events"], t["orders"], as_of, params, method=method
        )
    if plan.built["viewed_categories"]:
        parts["viewed_categories"] = ex.viewed_categories(
            t["web_events"], t["products"], as_of, plan.categories, plan.pooled
        )
    if plan.built["category_affinity"]:
        parts["category_affinity"] = ex.category_spend(
            t["order_items"], t["orders"], t["products"], as_of, plan.categories, plan.pooled,
            params.money_decimals,
        )  # fmt: skip
    return universe, parts


def feature_expression(
    inputs: CanonicalTables, as_of: pd.Timestamp, params: FeatureParams | None = None
) -> ibis.Table:
    """The whole aggregation as one Ibis expression (universe left-joined with every
    section), e.g. to write it from the engine with ``to_parquet`` when the per-customer
    table is too big for pandas. Columns are the engine-side aggregates, before the
    pandas derivations of :func:`build_features`."""
    params = params or FeatureParams()
    check_as_of(as_of, "feature_expression")
    universe, parts = _sections(inputs, as_of, params, _plan(inputs, params))
    return _join_all(universe, list(parts.values()))


@contextmanager
def _materialised(inputs: CanonicalTables, expr: ibis.Table) -> Iterator[ibis.Table]:
    """``expr`` as a temporary table on the engine for the duration of the block."""
    if inputs.con.name == "pyspark":  # Ibis's PySpark backend has no temporary tables
        yield expr.cache()
        return
    name = f"_workbench_features_{uuid.uuid4().hex}"
    table = inputs.con.create_table(name, expr, temp=True)
    try:
        yield table
    finally:
        if inputs.con.name == "duckdb":
            # Ibis 12's drop_table leaves the name out of its DROP statement with sqlglot 30
            inputs.con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        else:
            inputs.con.drop_table(name, force=True)


def _execute(
    inputs: CanonicalTables, universe: ibis.Table, parts: dict[str, ibis.Table]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Run the universe and each section as its own query and put them side by side.

    One query per section keeps only one section's hash tables alive at a time (a
    single joined query held them all at once: several times the memory and slower).
    The sorted universe goes back to the engine as a small (customer id, position)
    table; each section is left-joined to it there and comes back in universe order, one
    row per customer, so pandas neither hashes a million string ids nor reindexes.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    base = inputs.to_pandas(universe.order_by("customer_id"))
    n = len(base)
    ids = pd.Series(base["customer_id"], dtype="str")
    positions = ibis.memtable(pd.DataFrame({"customer_id": ids, "_pos": np.arange(n)}))
    seconds["universe"] = round(time.perf_counter() - started, 3)
    columns: dict[str, pd.Series] = {"customer_id": ids}
    for name, part in parts.items():
        started = time.perf_counter()
        keep = [part[c] for c in part.columns if c != "customer_id"]
        matched = positions.left_join(part, positions.customer_id == part.customer_id)
        frame = inputs.to_pandas(matched.select(positions._pos, *keep).order_by("_pos"))
        frame.index = pd.RangeIndex(n)
        columns.update({c: frame[c] for c in frame.columns if c != "_pos"})
        seconds[name] = round(time.perf_counter() - started, 3)
    return pd.DataFrame(columns, copy=False), seconds


def build_features(
    source: str | Path | LoadedData | Mapping[str, pd.DataFrame] | CanonicalTables,
    as_of: pd.Timestamp,
    *,
    params: FeatureParams | None = None,
    con: BaseBackend | None = None,
) -> pd.DataFrame:
    """One row per customer as of ``as_of``: RFM, segments, engagement, web, affinity.

    Parameters
    ----------
    source : folder, LoadedData, mapping of frames or CanonicalTables
        Canonical tables (see :func:`workbench.canonical.open_tables`). A folder of canonical Parquet is
        read by the engine directly; pass :class:`CanonicalTables` to build several
        cut-off dates on the same opened source.
    as_of : Timestamp
        Cut-off, a UTC midnight (parsed once by :func:`workbench.schema.parse_as_of`);
        only rows strictly before it are used.
    params : FeatureParams, optional
        Windows and thresholds; defaults as documented on :class:`FeatureParams`.
    con : ibis backend, optional
        Engine connection (default: in-memory DuckDB). Any Ibis backend that reads
        Parquet and supports window functions works, e.g. ``ibis.pyspark.connect(spark)``.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``customer_id``; columns described by :func:`data_dictionary`.
        ``attrs`` holds ``as_of``, ``sections`` (the :func:`feature_sections` table as
        records), ``source``, ``seconds`` and ``section_seconds`` (engine time per part).

    Examples
    --------
    >>> features = build_features("data/raw", parse_as_of("2026-06-30"))  # doctest: +SKIP
    >>> features.loc[0, ["customer_id", "recency_days", "rfm_segment"]]  # doctest: +SKIP
    """
    params = params or FeatureParams()
    check_as_of(as_of, "build_features")
    started = time.perf_counter()
    inputs = open_tables(source, con=con, tables=FEATURE_TABLES)
    plan = _plan(inputs, params)
    with _materialised(
        inputs, ex.order_aggregates(inputs.tables["orders"], as_of, params)
    ) as orders:
        raw, timings = _execute(inputs, *_sections(inputs, as_of, params, plan, orders=orders))
    started_derive = time.perf_counter()
    frame = _derive(raw, as_of, params, plan)
    timings["derive"] = round(time.perf_counter() - started_derive, 3)
    seconds = time.perf_counter() - started
    for name, reason in plan.reasons.items():
        log.info("features %s: %s", name, reason)
    log.info("features as of %s: %s customers x %s columns in %.1f s",
             as_of.date(), f"{len(frame):,}", frame.shape[1], seconds)  # fmt: skip
    frame.attrs.update(
        as_of=str(as_of.date()),
        sections=plan.table().to_dict("records"),
        source=inputs.source,
        seconds=round(seconds, 3),
        section_seconds=timings,
    )
    log.debug("feature section timings (s): %s", timings)
    return frame


# --------------------------------------------------------------------------- derivations


def _as_count(values: pd.Series) -> pd.Series:
    """A count from the engine as int64, missing (no rows) as 0."""
    return pd.to_numeric(values).fillna(0).astype("int64")


def _as_money(values: pd.Series, decimals: int) -> pd.Series:
    """A money total from the engine as float64 rounded to ``decimals``, missing as 0."""
    return pd.to_numeric(values).astype("float64").fillna(0.0).round(decimals)


def _set_counts(f: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        f[col] = _as_count(f[col])


def _derive(raw: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams, plan: _Plan) -> pd.DataFrame:
    f = raw  # built by _execute for this call only
    f["customer_id"] = f["customer_id"].astype("str")
    _derive_orders(f, as_of, p)
    if plan.built["profile"]:
        _derive_profile(f, as_of, p, plan.profile)
    _derive_time(f, as_of, p)
    scores = derive.rfm_scores(f)
    for column in scores.columns:
        f[column] = scores[column]
    f["lifecycle_stage"] = derive.lifecycle_stage(f, p)
    scratch = list(_SCRATCH)
    if plan.built["email"]:
        scratch += _derive_email(f, as_of, p)
    if plan.built["web"]:
        _derive_web(f, as_of, p, plan)
    if plan.built["category_affinity"]:
        _derive_categories(f, p, plan)
    drop = set(scratch)
    # one frame built column by column: no block consolidation of ~100 columns
    out = pd.DataFrame({c: f[c] for c in _ordered(f.columns) if c not in drop}, copy=False)
    if not out["customer_id"].is_monotonic_increasing:  # the engine sorted the universe
        out = out.sort_values("customer_id", kind="stable", ignore_index=True)
    return out


def _derive_orders(f: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams) -> None:
    _set_counts(f, ["orders_placed", "frequency", "cancelled_orders", "returned_orders"])
    _set_counts(f, [f"frequency_{d}d" for d in p.order_windows])
    for col in ["monetary_total", *[f"monetary_{d}d" for d in p.order_windows]]:
        f[col] = _as_money(f[col], p.money_decimals)
    f["recency_days"] = derive.days_before(as_of, f["last_order_at"])
    f["days_since_first_order"] = derive.days_before(as_of, f["first_order_at"])
    f["avg_order_value"] = derive.safe_ratio(f["monetary_total"], f["frequency"])
    span = derive.days_before(as_of, f["first_order_at"]) - f["recency_days"]
    f["inter_purchase_days"] = derive.safe_ratio(span, f["frequency"] - 1)
    f["days_between_last_two_orders"] = (
        derive.days_before(as_of, f["previous_order_at"]) - f["recency_days"]
    )
    f["return_rate"] = derive.safe_ratio(
        f["returned_orders"], f["frequency"] + f["returned_orders"]
    )


def _derive_time(f: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams) -> None:
    """Tenure and purchase rate: from the earlier of sign-up and the first order."""
    first_order = pd.to_datetime(f["first_seen_order_at"], utc=True)
    signup = pd.to_datetime(f["signup_at"], utc=True) if "signup_at" in f else None
    first_seen = (
        first_order if signup is None else pd.concat([first_order, signup], axis=1).min(axis=1)
    )
    f["tenure_days"] = derive.days_before(as_of, first_seen)
    history_start = first_order.min()
    observed = derive.days_before(
        as_of, first_seen.where(first_seen > history_start, history_start)
    )
    observed = observed.clip(lower=p.min_rate_days).fillna(float(p.min_rate_days))
    f["purchase_rate_per_year"] = f["frequency"] / (observed / 365.25)


def _derive_profile(
    f: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams, cols: list[str]
) -> None:
    for col in ("gender", "country", "signup_channel"):
        if col in cols:
            f[col] = f[col].astype("str")
    if "email_opt_in" in cols:
        f["email_opt_in"] = f["email_opt_in"].astype("boolean")
    if "birth_date" in cols:
        f["age"] = derive.age_in_years(f["birth_date"], as_of)
        f["age_band"] = derive.age_band(f["age"], p.age_bands)


def _derive_email(f: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams) -> list[str]:
    """E-mail rates, recencies and tier (in place); returns the helper columns to drop."""
    counts = [c for c in f.columns if c.startswith("email_") and c.split("_")[1] in
              ("sends", "opens", "clicks", "bounces", "unsubscribes")]  # fmt: skip
    _set_counts(f, counts)
    f["email_open_rate"] = derive.safe_ratio(f["email_opens"], f["email_sends"])
    f["email_click_rate"] = derive.safe_ratio(f["email_clicks"], f["email_sends"])
    f["email_click_to_open_rate"] = derive.safe_ratio(f["email_clicks"], f["email_opens"])
    f["days_since_last_open"] = derive.days_before(as_of, f["last_open_at"])
    f["days_since_last_click"] = derive.days_before(as_of, f["last_click_at"])
    f["preferred_open_hour"] = pd.to_numeric(f["preferred_open_hour"]).astype("Int64")
    f["email_unsubscribed"] = f["email_unsubscribes"] > 0
    f["email_bounced"] = f["email_bounces"] > 0
    f["engagement_tier"] = derive.engagement_tier(f, p)
    keep = {f"email_{k}_{d}d" for k in ("sends", "opens", "clicks") for d in p.email_windows}
    extra = [f"email_{k}_{d}d" for k in ("sends", "opens", "clicks") for d in
             p.email_count_windows if f"email_{k}_{d}d" not in keep]  # fmt: skip
    return [*extra, "email_bounces", "email_unsubscribes"]


def _derive_web(f: pd.DataFrame, as_of: pd.Timestamp, p: FeatureParams, plan: _Plan) -> None:
    counts = ["web_sessions", "product_views", "add_to_cart"]
    counts += [f"{k}_{d}d" for k in ("web_sessions", "product_views") for d in p.web_windows]
    _set_counts(f, counts)
    f["days_since_last_visit"] = derive.days_before(as_of, f["last_visit_at"])
    if plan.built["cart_abandonment"]:
        _set_counts(f, ["carts_judged", "abandoned_carts"])
        f["cart_abandonment_rate"] = derive.safe_ratio(f["abandoned_carts"], f["carts_judged"])
        f["days_since_last_abandoned_cart"] = derive.days_before(as_of, f["last_abandoned_at"])
    if plan.built["viewed_categories"]:
        names = ex.category_columns(_labels(plan), "view_share_")
        total = _as_count(f["category_views"])
        positive = total.where(total > 0).astype("float64")
        for column in names.values():
            f[column] = pd.to_numeric(f[column]).astype("float64").fillna(0.0) / positive
        f["category_views"] = total
        f["most_viewed_category"] = f["most_viewed_category"].astype("str")


def _derive_categories(f: pd.DataFrame, p: FeatureParams, plan: _Plan) -> None:
    """Shares of spend; spends are rounded to cents first so that the shares do not
    depend on the engine's summation order."""
    names = ex.category_columns(_labels(plan))
    money = p.money_decimals
    total = _as_money(f["category_spend"], money)
    positive = total.where(total > 0)
    for column in names.values():
        spend = _as_money(f[column], money)
        f[column] = (spend / positive).where(positive.notna())
    f["category_spend"] = total
    f["n_categories"] = _as_count(f["n_categories"])
    f["top_category"] = f["top_category"].astype("str")


def _labels(plan: _Plan) -> list[str]:
    return [*plan.categories, ex.POOLED] if plan.pooled else list(plan.categories)


_SCRATCH = (
    "first_seen_order_at",
    "first_order_at",
    "last_order_at",
    "previous_order_at",
    "last_open_at",
    "last_click_at",
    "last_visit_at",
    "last_abandoned_at",
    "birth_date",
    "signup_at",
)
_LEADING = [
    "customer_id", "gender", "country", "signup_channel", "email_opt_in", "age", "age_band",
    "tenure_days", "recency_days", "frequency", "monetary_total", "avg_order_value",
    "r_score", "f_score", "m_score", "fm_score", "rfm_score", "rfm_segment", "lifecycle_stage",
    "days_since_first_order", "inter_purchase_days", "days_between_last_two_orders",
    "purchase_rate_per_year", "orders_placed", "cancelled_orders", "returned_orders",
    "return_rate",
]  # fmt: skip


def _ordered(columns: pd.Index) -> list[str]:
    """Profile and RFM first, then recent orders, e-mail, web and category columns."""
    cols = list(columns)

    def family(c: str) -> int:
        if c in _LEADING:
            return 0
        if c.startswith(("frequency_", "monetary_")):
            return 1
        if c.startswith("email_") or c in ("days_since_last_open", "days_since_last_click",
                                           "preferred_open_hour", "engagement_tier"):  # fmt: skip
            return 2
        if c.startswith("share_") or c in ("category_spend", "top_category", "n_categories"):
            return 5
        if c.startswith("view_share_") or c in ("category_views", "most_viewed_category"):
            return 4
        return 3

    lead = [c for c in _LEADING if c in cols]
    rest = [c for c in cols if c not in _LEADING]
    return lead + sorted(rest, key=lambda c: (family(c), rest.index(c)))
