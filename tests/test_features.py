"""Stage 02 features: hand-computed values, point in time, reconciliation, the notebook."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import nbformat
import numpy as np
import pandas as pd
import pytest
from canonical import canonical_table, ts

from workbench import catalog
from workbench import features as F
from workbench.canonical import canonical_parquet_problems, open_tables
from workbench.features import expressions as ex
from workbench.loading import LoadError, load_tables
from workbench.schema import TIMESTAMP_DTYPE, parse_as_of
from workbench.settings import get_settings

REPO = Path(__file__).resolve().parents[1]
AS_OF = parse_as_of("2026-03-01")  # parsed once, as a stage does
CUT = pd.Timestamp("2026-03-01", tz="UTC")


_ts = ts
_table = canonical_table


@pytest.fixture
def tiny() -> dict[str, pd.DataFrame]:
    """Seven customers with hand-computed features as of 2026-03-01 (see each test)."""
    customers = _table("customers", [
        {"customer_id": "A", "signup_at": "2025-01-01", "birth_date": "1990-06-15",
         "gender": "F", "country": "GB", "signup_channel": "web", "email_opt_in": True},
        {"customer_id": "B", "signup_at": "2025-06-01", "gender": "M", "email_opt_in": False},
        {"customer_id": "C", "signup_at": "2026-02-20"},
        {"customer_id": "D", "signup_at": "2026-03-05"},  # after as_of, no order: excluded
        {"customer_id": "E", "signup_at": "2026-03-10"},  # after as_of but ordered before
        {"customer_id": "F", "signup_at": "2025-01-01"},
        {"customer_id": "G", "signup_at": "2024-01-01"},
    ])  # fmt: skip
    orders = _table("orders", [
        {"order_id": "O1", "customer_id": "A", "ordered_at": "2025-02-01", "amount": 100.0, "status": "completed"},
        {"order_id": "O2", "customer_id": "A", "ordered_at": "2025-03-01", "amount": 50.0, "status": "completed"},
        {"order_id": "O3", "customer_id": "A", "ordered_at": "2025-03-15", "amount": 30.0, "status": "returned"},
        {"order_id": "O4", "customer_id": "A", "ordered_at": "2025-12-01", "amount": 70.0, "status": "completed"},
        {"order_id": "O5", "customer_id": "A", "ordered_at": "2026-03-01", "amount": 999.0, "status": "completed"},
        {"order_id": "O6", "customer_id": "B", "ordered_at": "2025-07-01", "amount": 25.0, "status": "cancelled"},
        {"order_id": "O7", "customer_id": "G", "ordered_at": "2026-01-01", "amount": 30.0, "status": "completed"},
        {"order_id": "O8", "customer_id": "G", "ordered_at": "2026-01-31", "amount": 30.0, "status": "completed"},
        {"order_id": "O9", "customer_id": "E", "ordered_at": "2026-02-15", "amount": 20.0, "status": "completed"},
        {"order_id": "O10", "customer_id": "Z", "ordered_at": "2025-06-01", "amount": 10.0, "status": "completed"},
        {"order_id": "O11", "customer_id": "F", "ordered_at": "2025-10-01", "amount": 40.0, "status": "completed"},
    ])  # fmt: skip
    products = _table("products", [
        {"product_id": "P1", "category": "electronics"},
        {"product_id": "P2", "category": "home"},
        {"product_id": "P3", "category": "books"},
        {"product_id": "P4"},  # no category: left out of the shares
    ])  # fmt: skip
    items = _table("order_items", [
        {"order_id": "O1", "product_id": "P1", "quantity": 1.0, "unit_price": 80.0},
        {"order_id": "O1", "product_id": "P3", "quantity": 2.0, "unit_price": 10.0},
        {"order_id": "O2", "product_id": "P2", "quantity": 1.0, "unit_price": 50.0},
        {"order_id": "O3", "product_id": "P3", "quantity": 3.0, "unit_price": 10.0},  # returned
        {"order_id": "O4", "product_id": "P1", "quantity": 1.0, "unit_price": 70.0},
        {"order_id": "O4", "product_id": "P4", "quantity": 1.0, "unit_price": 5.0},
        {"order_id": "O5", "product_id": "P2", "quantity": 9.0, "unit_price": 111.0},  # at as_of
        {"order_id": "O7", "product_id": "P2", "quantity": 1.0, "unit_price": 30.0},
        {"order_id": "O8", "product_id": "P3", "quantity": 3.0, "unit_price": 10.0},
    ])  # fmt: skip
    email = _table("email_events", [
        *[{"customer_id": "A", "event_type": "sent", "occurred_at": f"2026-02-{d}T09:00:00"}
          for d in (25, 26, 27)],
        {"customer_id": "A", "event_type": "open", "occurred_at": "2026-02-25T10:00:00"},
        {"customer_id": "A", "event_type": "click", "occurred_at": "2026-02-25T10:05:00"},
        {"customer_id": "A", "event_type": "open", "occurred_at": "2026-02-26T10:30:00"},
        {"customer_id": "A", "event_type": "open", "occurred_at": "2026-02-27T22:00:00"},
        {"customer_id": "A", "event_type": "click", "occurred_at": "2026-02-27T22:05:00"},
        {"customer_id": "A", "event_type": "open", "occurred_at": "2026-03-01T00:00:00"},  # at as_of
        {"customer_id": "G", "event_type": "open", "occurred_at": "2026-02-20T08:00:00"},
        *[{"customer_id": "E", "event_type": "open", "occurred_at": t} for t in
          ("2026-02-16T10:00:00", "2026-02-17T11:00:00", "2026-02-18T11:00:00",
           "2026-02-19T12:00:00")],
        {"customer_id": "F", "event_type": "open", "occurred_at": "2026-01-15T09:00:00"},
        {"customer_id": "Z", "event_type": "open", "occurred_at": "2025-12-01T07:00:00"},
        {"customer_id": "Z", "event_type": "open", "occurred_at": "2025-12-02T05:00:00"},
        {"customer_id": "B", "event_type": "open", "occurred_at": "2026-02-05T09:00:00"},
        {"customer_id": "B", "event_type": "unsubscribe", "occurred_at": "2026-02-05T09:01:00"},
    ])  # fmt: skip
    web = _table("web_events", [
        {"session_id": "s1", "customer_id": "A", "event_type": "product_view", "product_id": "P1", "occurred_at": "2026-02-10T10:00:00"},
        {"session_id": "s1", "customer_id": "A", "event_type": "product_view", "product_id": "P3", "occurred_at": "2026-02-10T10:01:00"},
        {"session_id": "s1", "customer_id": "A", "event_type": "add_to_cart", "product_id": "P1", "occurred_at": "2026-02-10T10:05:00"},
        {"session_id": "s2", "customer_id": "A", "event_type": "add_to_cart", "product_id": "P2", "occurred_at": "2025-11-30T12:00:00"},
        {"session_id": "s3", "customer_id": "A", "event_type": "add_to_cart", "product_id": "P1", "occurred_at": "2026-02-28T12:00:00"},
        {"session_id": "s3", "customer_id": "A", "event_type": "product_view", "product_id": "P2", "occurred_at": "2026-03-01T00:00:00"},
        {"session_id": "s4", "customer_id": "E", "event_type": "add_to_cart", "product_id": "P2", "occurred_at": "2026-02-15T00:00:00"},
        {"session_id": "s5", "customer_id": "G", "event_type": "add_to_cart", "product_id": "P2", "occurred_at": "2026-01-30T00:00:00"},
        {"session_id": "s6", "customer_id": "G", "event_type": "add_to_cart", "product_id": "P3", "occurred_at": "2026-01-30T00:00:01"},
        {"session_id": "s7", "customer_id": "F", "event_type": "add_to_cart", "product_id": "P1", "occurred_at": "2026-02-28T06:00:00"},
        {"session_id": "s9", "customer_id": None, "event_type": "add_to_cart", "product_id": "P1", "occurred_at": "2026-02-01T06:00:00"},
    ])  # fmt: skip
    return {"customers": customers, "orders": orders, "products": products,
            "order_items": items, "email_events": email, "web_events": web}  # fmt: skip


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("customer_id")


# --------------------------------------------------------------------------- hand-computed


def test_universe_rule_and_rfm_values(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    # D signed up after as_of and never ordered; E signed up after but ordered before;
    # Z is an orphan order's customer; C signed up 9 days before as_of.
    assert list(out.index) == ["A", "B", "C", "E", "F", "G", "Z"]
    a = out.loc["A"]
    assert (a["frequency"], a["orders_placed"], a["returned_orders"]) == (3, 4, 1)
    assert a["monetary_total"] == 220.0  # O1 + O2 + O4; returned O3 and O5 at as_of excluded
    assert a["avg_order_value"] == pytest.approx(220 / 3)
    assert a["recency_days"] == 90.0
    assert a["days_since_first_order"] == 393.0
    assert a["inter_purchase_days"] == pytest.approx((393 - 90) / 2)
    assert a["days_between_last_two_orders"] == 275.0
    assert a["return_rate"] == 0.25
    assert (a["frequency_90d"], a["monetary_90d"], a["frequency_365d"]) == (1, 70.0, 2)
    assert a["tenure_days"] == 424.0  # since sign-up 2025-01-01
    b = out.loc["B"]
    assert (b["frequency"], b["orders_placed"], b["cancelled_orders"]) == (0, 1, 1)
    assert b["monetary_total"] == 0.0
    assert np.isnan(b["recency_days"]) and np.isnan(b["avg_order_value"])
    assert out.loc["E", "tenure_days"] == 14.0  # first order before the recorded sign-up


def test_rfm_scores_and_segments(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    # buyers: recency A 90, E 14, Z 273, F 151, G 29; frequency A 3, G 2, E = Z = F = 1;
    # monetary A 220, G 60, F 40, E 20, Z 10 (n = 5, score = 1 + floor(5 * below / 5))
    expected = {
        "A": (3, 5, 5, 5, "Loyal Customers"),
        "G": (4, 4, 4, 4, "Champions"),
        "E": (5, 1, 2, 2, "Potential Loyalists"),
        "F": (2, 1, 3, 2, "Hibernating"),
        "Z": (1, 1, 1, 1, "Lost"),
    }
    for cid, (r, f, m, fm, segment) in expected.items():
        row = out.loc[cid]
        got = (row["r_score"], row["f_score"], row["m_score"], row["fm_score"], row["rfm_segment"])
        assert got == (r, f, m, fm, segment), cid
    assert out.loc["A", "rfm_score"] == "355"
    for cid in ("B", "C"):
        assert out.loc[cid, "rfm_segment"] == F.NO_PURCHASE
        assert pd.isna(out.loc[cid, "r_score"]) and pd.isna(out.loc[cid, "rfm_score"])


def test_lifecycle_stages(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    assert out["lifecycle_stage"].to_dict() == {
        "A": "re-engaged",  # last order 90 days ago, 275 days after the one before
        "B": "never-purchased",  # only a cancelled order
        "C": "new",  # signed up 9 days ago
        "E": "new",  # first order 14 days ago
        "F": "at-risk",  # 151 days
        "G": "active",  # 29 days, gap 30
        "Z": "churned",  # 273 days
    }
    shorter = F.FeatureParams(reengage_gap_days=300)
    assert (
        F.build_features(tiny, AS_OF, params=shorter)
        .set_index("customer_id")
        .loc["A", "lifecycle_stage"]
        == "active"
    )


def test_email_features_and_tiers(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    a = out.loc["A"]
    assert (a["email_sends"], a["email_opens"], a["email_clicks"]) == (3, 3, 2)
    assert (a["email_opens_7d"], a["email_clicks_7d"]) == (3, 2)
    assert (a["email_open_rate"], a["email_click_rate"]) == (1.0, pytest.approx(2 / 3))
    assert a["preferred_open_hour"] == 10
    assert a["days_since_last_open"] == pytest.approx(1 + 2 / 24)  # 27 Feb 22:00
    assert out.loc["E", "preferred_open_hour"] == 11
    assert out.loc["Z", "preferred_open_hour"] == 5  # one open at 5 and one at 7: earliest
    assert pd.isna(out.loc["C", "preferred_open_hour"])
    assert bool(out.loc["B", "email_unsubscribed"]) and not bool(out.loc["A", "email_unsubscribed"])
    assert np.isnan(out.loc["E", "email_open_rate"])  # opens but no recorded sends
    assert out["engagement_tier"].to_dict() == {
        "A": "Highly Engaged",  # 3 opens and 2 clicks in 7 days
        "B": "Low",  # an open 24 days ago
        "C": "Inactive",
        "E": "Moderately Engaged",  # 4 opens in 14 days, no clicks
        "F": "Inactive",  # last open 45 days ago
        "G": "Moderately Engaged",  # one open 9 days ago
        "Z": "Inactive",
    }
    literal = F.FeatureParams(moderate_max_opens=2, moderate_max_clicks=1)
    tiers = _by_id(F.build_features(tiny, AS_OF, params=literal))["engagement_tier"]
    assert tiers["E"] == "Low" and tiers["G"] == "Moderately Engaged"


def test_web_features_and_abandonment(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    a = out.loc["A"]
    assert (a["add_to_cart"], a["carts_judged"], a["abandoned_carts"]) == (3, 2, 1)
    assert a["cart_abandonment_rate"] == 0.5
    assert a["days_since_last_abandoned_cart"] == pytest.approx(
        (CUT - pd.Timestamp("2026-02-10T10:05", tz="UTC")) / pd.Timedelta(days=1)
    )
    assert (a["web_sessions"], a["web_sessions_7d"], a["web_sessions_30d"]) == (3, 1, 2)
    assert (a["web_sessions_90d"], a["product_views"], a["product_views_7d"]) == (2, 2, 0)
    assert a["most_viewed_category"] == "books"  # one view each: ties by name
    assert (a["view_share_books"], a["view_share_electronics"]) == (0.5, 0.5)
    e = out.loc["E"]  # cart and order at the same instant: saved
    assert (e["carts_judged"], e["abandoned_carts"]) == (1, 0)
    g = out.loc["G"]  # order exactly 24 h after the first cart, 23:59:59 after the second
    assert (g["carts_judged"], g["abandoned_carts"]) == (2, 1)
    f = out.loc["F"]  # cart 18 h before as_of: not judged yet
    assert (f["add_to_cart"], f["carts_judged"]) == (1, 0) and np.isnan(f["cart_abandonment_rate"])
    longer = F.FeatureParams(abandon_window_hours=48)
    g48 = _by_id(F.build_features(tiny, AS_OF, params=longer)).loc["G"]
    assert g48["abandoned_carts"] == 0


@pytest.mark.parametrize("hours", [24, 48])
def test_cart_abandonment_window_and_asof_methods_agree(tiny, hours):
    """DuckDB uses an as-of join, other engines (Spark) one window function."""
    inputs = open_tables(tiny, tables=F.FEATURE_TABLES)
    params = F.FeatureParams(abandon_window_hours=hours)
    web, orders = inputs.tables["web_events"], inputs.tables["orders"]
    results = [
        inputs.to_pandas(ex.cart_abandonment(web, orders, CUT, params, method=method))
        .sort_values("customer_id")
        .reset_index(drop=True)
        for method in ("asof", "window")
    ]
    pd.testing.assert_frame_equal(results[0], results[1])
    assert results[0].set_index("customer_id").loc["G", "abandoned_carts"] == (
        1 if hours == 24 else 0
    )
    with pytest.raises(ValueError, match="method must be 'asof' or 'window'"):
        ex.cart_abandonment(web, orders, CUT, params, method="join")


def test_category_affinity_and_profile(tiny):
    out = _by_id(F.build_features(tiny, AS_OF))
    a = out.loc["A"]
    assert a["category_spend"] == 220.0  # P4 has no category; O3 returned, O5 at as_of
    assert a["share_electronics"] == pytest.approx(150 / 220)
    assert a["share_home"] == pytest.approx(50 / 220)
    assert a["share_books"] == pytest.approx(20 / 220)
    assert (a["top_category"], a["n_categories"]) == ("electronics", 3)
    g = out.loc["G"]
    assert (g["top_category"], g["n_categories"], g["share_home"]) == ("books", 2, 0.5)
    assert np.isnan(out.loc["B", "share_home"]) and pd.isna(out.loc["B", "top_category"])
    assert (a["age"], a["age_band"], a["gender"], a["country"]) == (35.0, "35-44", "F", "GB")
    assert bool(a["email_opt_in"]) and not bool(out.loc["B", "email_opt_in"])
    assert pd.isna(out.loc["C", "age_band"]) and pd.isna(out.loc["Z", "gender"])
    # two categories kept (one product each: ties by name), the rest pooled
    pooled = _by_id(F.build_features(tiny, AS_OF, params=F.FeatureParams(max_categories=2)))
    assert [c for c in pooled.columns if c.startswith("share_")] == [
        "share_books", "share_electronics", "share_other"
    ]  # fmt: skip
    assert pooled.loc["A", "share_other"] == pytest.approx(50 / 220)
    assert pooled.loc["A", "view_share_other"] == 0.0
    assert pooled.loc["G", "top_category"] == "books"


def test_top_category_ties_go_to_the_first_name_and_missing_spend_comes_last(tiny):
    """The per-customer path (every category has a column) picks the top category as the
    grouped path does: most spend, ties to the first name, a category whose lines have
    no price only when nothing else has spend; views likewise."""
    items = pd.concat(
        [
            tiny["order_items"],
            _table("order_items", [  # F: 20 on books and 20 on home (a tie), E: no price
                {"order_id": "O11", "product_id": "P2", "quantity": 1.0, "unit_price": 20.0},
                {"order_id": "O11", "product_id": "P3", "quantity": 2.0, "unit_price": 10.0},
                {"order_id": "O9", "product_id": "P1", "quantity": 1.0},
            ]),
        ],
        ignore_index=True,
    )  # fmt: skip
    web = pd.concat(
        [
            tiny["web_events"],
            _table("web_events", [  # F views home and electronics once each: a tie
                {"session_id": "s8", "customer_id": "F", "event_type": "product_view",
                 "product_id": pid, "occurred_at": "2026-02-27T06:00:00"}
                for pid in ("P2", "P1")
            ]),
        ],
        ignore_index=True,
    )  # fmt: skip
    data = {**tiny, "order_items": items, "web_events": web}
    fast = _by_id(F.build_features(data, AS_OF))
    f, e = fast.loc["F"], fast.loc["E"]
    assert (f["top_category"], f["n_categories"], f["category_spend"]) == ("books", 2, 40.0)
    assert f["most_viewed_category"] == "electronics" and f["view_share_home"] == 0.5
    assert (e["top_category"], e["n_categories"], e["category_spend"]) == ("electronics", 0, 0.0)
    assert np.isnan(e["share_electronics"])
    # the grouped path (some categories pooled) agrees on every customer
    grouped = _by_id(F.build_features(data, AS_OF, params=F.FeatureParams(max_categories=2)))
    for column in ("top_category", "n_categories", "category_spend", "most_viewed_category"):
        pd.testing.assert_series_equal(fast[column], grouped[column], check_names=False)


def test_engine_rfm_equals_the_pandas_baseline(tiny):
    expected = F.rfm_pandas(tiny["orders"], AS_OF)
    assert expected["customer_id"].tolist() == ["A", "E", "F", "G", "Z"]
    pd.testing.assert_frame_equal(F.rfm_features(tiny, AS_OF), expected, check_exact=True)


def test_missing_optional_tables_leave_columns_absent(tiny):
    orders = tiny["orders"][["order_id", "customer_id", "ordered_at", "amount"]]
    out = F.build_features({"orders": orders}, AS_OF)
    sections = F.feature_sections({"orders": orders}).set_index("section")["status"]
    assert sections.to_dict() == {
        "profile": "skipped", "rfm": "built", "email": "skipped", "web": "skipped",
        "cart_abandonment": "skipped", "viewed_categories": "skipped",
        "category_affinity": "skipped",
    }  # fmt: skip
    for column in ("gender", "age_band", "engagement_tier", "email_opens_7d", "web_sessions_7d",
                   "cart_abandonment_rate", "most_viewed_category", "share_home"):  # fmt: skip
        assert column not in out.columns, column
    # without a status column every order counts as completed (the loader's default)
    by_id = _by_id(out)
    assert list(by_id.index) == ["A", "B", "E", "F", "G", "Z"]  # derived from orders only
    assert by_id.loc["A", "frequency"] == 4 and by_id.loc["B", "frequency"] == 1
    assert by_id.loc["E", "lifecycle_stage"] == "new"
    # anonymous-only web events: the web sections are skipped, not zero-filled
    anonymous = tiny["web_events"].assign(customer_id=pd.Series([None] * 11, dtype="str"))
    partial = F.build_features({**tiny, "web_events": anonymous}, AS_OF)
    assert "web_sessions" not in partial.columns and "email_opens" in partial.columns


def test_inputs_fail_with_an_actionable_message(tiny):
    with pytest.raises(LoadError, match="orders table"):
        F.build_features({"customers": tiny["customers"]}, AS_OF)
    bad = tiny["orders"].drop(columns=["amount"])
    with pytest.raises(LoadError, match=r"'orders' has no column\(s\) amount"):
        F.build_features({"orders": bad}, AS_OF)
    naive = tiny["orders"].assign(ordered_at=tiny["orders"]["ordered_at"].dt.tz_localize(None))
    with pytest.raises(LoadError, match="orders.ordered_at must be a UTC timestamp"):
        F.build_features({"orders": naive}, AS_OF)
    with pytest.raises(ValueError, match="as_of: expected a date"):
        parse_as_of("not a date")
    with pytest.raises(TypeError, match="build_features: as_of must be a pd.Timestamp"):
        F.build_features(tiny, "2026-03-01")  # text is parsed once, by the caller
    with pytest.raises(ValueError, match="rfm_features: as_of must be a UTC midnight"):
        F.rfm_features(tiny, CUT + pd.Timedelta(hours=6))
    with pytest.raises(ValueError, match="active_days .* must be smaller than churn_days"):
        F.FeatureParams(active_days=200)
    with pytest.raises(ValueError, match="email_windows must be increasing"):
        F.FeatureParams(email_windows=(30, 7))


def test_inputs_are_not_modified(tiny):
    before = {name: frame.copy() for name, frame in tiny.items()}
    F.build_features(tiny, AS_OF)
    for name, frame in tiny.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_quintile_score_is_the_rank_definition_on_random_values():
    """1 + floor(5 · below / n), below = the number of strictly worse values: computed
    here from pandas' minimum rank, compared with quintile_score (order statistics)."""
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 4, 5, 7, 11, 100, 1001):
        for values in (rng.integers(0, 4, n).astype(float), rng.normal(size=n)):
            series = pd.Series(values)
            series[rng.random(n) < 0.1] = np.nan
            for better in (True, False):
                keyed = series if better else -series
                below = keyed.rank(method="min") - 1
                expected = (1 + (5 * below) // series.notna().sum()).astype("Int64")
                got = F.quintile_score(series, higher_is_better=better)
                pd.testing.assert_series_equal(got, expected, check_names=False)


def test_scores_and_segments_units():
    values = pd.Series([10.0, 20, 20, 30, 40, 50, 60, 70, 80, 90])
    assert F.quintile_score(values).tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 5, 5]
    shuffled = values.sample(frac=1, random_state=3)
    assert F.quintile_score(shuffled).sort_index().tolist() == F.quintile_score(values).tolist()
    assert F.quintile_score(pd.Series([7.0] * 4)).tolist() == [1, 1, 1, 1]
    grid = F.rfm_segment_table()
    assert set(grid.to_numpy().ravel()) == set(F.RFM_SEGMENTS[:11])  # all eleven reachable
    r, fm = pd.Series([1, 5, 2], dtype="Int64"), pd.Series([5, 1, 3], dtype="Int64")
    assert F.rfm_segment(r, fm, fm).tolist() == ["Can't Lose Them", "New Customers", "At Risk"]


# --------------------------------------------------------------------------- point in time


def _shift_after(tables: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Change every row at or after ``cut`` and add new ones there (orders, items, events)."""
    out = {k: v.copy() for k, v in tables.items()}
    o = out["orders"]
    late = o["ordered_at"] >= cut
    o.loc[late, "amount"] = o.loc[late, "amount"] * 7 + 1
    o.loc[late, "status"] = "completed"
    o.loc[late, "ordered_at"] = o.loc[late, "ordered_at"] + pd.Timedelta(hours=5)
    some = o["customer_id"].dropna().unique()[:50].tolist()
    extra = pd.DataFrame({
        "order_id": [f"X{i}" for i in range(len(some) + 1)],
        "customer_id": [*some, "NEWCOMER"],
        "ordered_at": [cut] * (len(some) + 1),  # exactly at the cut-off
        "amount": 1234.5,
        "status": "completed",
    }).astype({"ordered_at": TIMESTAMP_DTYPE})  # fmt: skip
    out["orders"] = pd.concat([o, extra], ignore_index=True)
    if "order_items" in out:
        lines = pd.DataFrame({"order_id": extra["order_id"], "product_id": out["products"]["product_id"].iloc[0],
                              "quantity": 2.0, "unit_price": 617.25})  # fmt: skip
        out["order_items"] = pd.concat([out["order_items"], lines], ignore_index=True)
    for name, kinds in (
        ("email_events", ("open", "click")),
        ("web_events", ("add_to_cart", "product_view")),
    ):
        e = out[name]
        late = e["occurred_at"] >= cut
        e.loc[late, "event_type"] = kinds[0]
        e.loc[late, "occurred_at"] = e.loc[late, "occurred_at"] + pd.Timedelta(hours=3)
        new = pd.DataFrame({
            "customer_id": [*some, *some],
            "event_type": [kinds[0]] * len(some) + [kinds[1]] * len(some),
            "occurred_at": [cut] * (2 * len(some)),
            "session_id": "late-session",
            "product_id": out["products"]["product_id"].iloc[0],
        }).astype({"occurred_at": TIMESTAMP_DTYPE})  # fmt: skip
        new = new[[c for c in new.columns if c in e.columns]]
        out[name] = pd.concat([e, new], ignore_index=True)
    return out


def _truncate(tables: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Drop every order, order line and event at or after ``cut``."""
    out = dict(tables)
    out["orders"] = tables["orders"][tables["orders"]["ordered_at"] < cut]
    if "order_items" in tables:
        kept = tables["order_items"]["order_id"].isin(out["orders"]["order_id"])
        out["order_items"] = tables["order_items"][kept]
    for name in ("email_events", "web_events"):
        if name in tables:
            out[name] = tables[name][tables[name]["occurred_at"] < cut]
    return out


def test_point_in_time_by_hand(tiny):
    reference = F.build_features(tiny, AS_OF)
    changed = F.build_features(_shift_after(tiny, CUT), AS_OF)
    pd.testing.assert_frame_equal(changed, reference, check_exact=True)
    pd.testing.assert_frame_equal(F.build_features(_truncate(tiny, CUT), AS_OF), reference)


def test_point_in_time_on_the_demo(small_demo_dir):
    """Cut-off in the middle of the history: changing, adding or dropping any order, line
    or event at or after it leaves every feature of every customer unchanged."""
    tables = load_tables(small_demo_dir, tables=list(F.FEATURE_TABLES)).tables
    as_of = parse_as_of("2026-03-31")
    cut = pd.Timestamp("2026-03-31", tz="UTC")
    assert (tables["orders"]["ordered_at"] >= cut).sum() > 1000, "the test needs later orders"
    reference = F.build_features(tables, as_of)
    pd.testing.assert_frame_equal(F.build_features(_shift_after(tables, cut), as_of), reference)
    pd.testing.assert_frame_equal(F.build_features(_truncate(tables, cut), as_of), reference)


def test_two_cut_offs_on_one_opened_source_have_the_same_columns(small_demo_dir):
    inputs = open_tables(small_demo_dir, con=ibis.duckdb.connect(), tables=F.FEATURE_TABLES)
    early = F.build_features(inputs, parse_as_of("2025-12-31"))
    late = F.build_features(inputs, parse_as_of("2026-06-30"))
    assert list(early.columns) == list(late.columns)
    assert len(early) < len(late), "customers who signed up in 2026 only appear later"
    assert inputs.kind == "parquet"


# --------------------------------------------------------------------------- demo data


@pytest.mark.slow
def test_reconciliation_and_pandas_cross_check_on_the_demo(demo_dir):
    """Total monetary == completed revenue before as_of from orders.parquet: every row
    with status completed, ordered_at < as_of and a customer id (raw demo data: the
    audit's duplicates included), amounts as recorded (outliers included), each customer
    once. The engine's RFM columns equal the pandas baseline exactly."""
    as_of = parse_as_of("2026-06-30")
    table = F.build_features(demo_dir, as_of)
    orders = pd.read_parquet(demo_dir / "orders.parquet")
    done = orders[(orders["ordered_at"] < pd.Timestamp("2026-06-30", tz="UTC"))
                  & orders["status"].eq("completed") & orders["customer_id"].notna()]  # fmt: skip
    assert table["customer_id"].is_unique
    assert round(table["monetary_total"].sum(), 2) == round(done["amount"].sum(), 2)
    assert F.completed_revenue(demo_dir, as_of) == round(done["amount"].sum(), 2)
    assert set(done["customer_id"]) <= set(table["customer_id"])
    baseline = F.rfm_pandas(orders, as_of)
    engine = table.loc[table["frequency"] > 0, list(F.RFM_COLUMNS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(engine, baseline, check_exact=True)
    pd.testing.assert_frame_equal(F.rfm_features(demo_dir, as_of), baseline, check_exact=True)
    # the same source read through the loader (registered frames) gives the same table
    loaded = load_tables(demo_dir, tables=list(F.FEATURE_TABLES))
    pd.testing.assert_frame_equal(F.build_features(loaded, as_of), table, check_exact=True)


@pytest.mark.slow
def test_feature_table_carries_the_persona_signal(demo_dir):
    """k-means (k = 6) on log1p + median imputation + scaling of the recommended columns
    recovers the planted personas with ARI >= 0.5 (measured 0.63 for seed 7)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    table = F.build_features(demo_dir, parse_as_of("2026-06-30"))
    truth = pd.read_parquet(demo_dir / "_truth" / "customers.parquet")
    merged = table.merge(truth[["customer_id", "persona"]], on="customer_id")
    columns = F.segmentation_columns(table)
    x = np.log1p(merged[columns].astype("float64").clip(lower=0))
    x = StandardScaler().fit_transform(x.fillna(x.median()))
    labels = KMeans(6, n_init=10, random_state=0).fit_predict(x)
    ari = adjusted_rand_score(merged["persona"], labels)
    assert ari >= 0.5, f"ARI {ari:.3f} < 0.5 with {columns}"


def test_data_dictionary_and_summary(tiny, tmp_path):
    table = F.build_features(tiny, AS_OF)
    dictionary = F.data_dictionary(table)
    assert list(dictionary["column"]) == list(table.columns)
    undocumented = dictionary.loc[dictionary["meaning"] == "(not described)", "column"].tolist()
    assert not undocumented, f"columns without a description: {undocumented}"
    summary = F.feature_summary(table, AS_OF)
    assert {"as_of", "customers", "columns", "rfm_segments", "engagement_tiers",
            "lifecycle_stages"} <= set(summary)  # fmt: skip
    assert summary["customers"] == 7 and summary["columns"] == table.shape[1]
    assert sum(summary["rfm_segments"].values()) == 7
    assert summary["engagement_tiers"]["Highly Engaged"] == 1
    assert summary["lifecycle_stages"]["new"] == 2
    settings = get_settings(root=tmp_path, data_dir=tmp_path / "data")
    stamp = catalog.Stamp("features", AS_OF, catalog.fingerprint(tmp_path / "raw"))
    (path,) = catalog.write_table(settings, "customer_features", table, stamp)
    again, found = catalog.read_table(settings, "customer_features")
    pd.testing.assert_frame_equal(again, table, check_dtype=False)
    assert path.name == "customer_features.parquet" and found.stage == "features"


def test_headline_leads_with_customers_and_the_segment_mix(tiny):
    table = F.build_features(tiny, AS_OF)
    summary = F.feature_summary(
        table, AS_OF, completed_revenue=float(table["monetary_total"].sum())
    )
    headline = F.headline(summary)
    items = {i.label: (i.value, i.kind) for i in headline.items}
    assert items["customers"] == (7, "int") and items["buyers"] == (5, "int")
    # the largest RFM segments of the buyers, as shares of every customer
    largest = max((n, name) for name, n in summary["rfm_segments"].items() if name != "No Purchase")
    assert items[largest[1]] == (pytest.approx(largest[0] / 7), "pct")
    assert "No Purchase" not in items
    assert items["engaged by e-mail"][0] == pytest.approx(
        (summary["engagement_tiers"]["Highly Engaged"]
         + summary["engagement_tiers"]["Moderately Engaged"]) / 7
    )  # fmt: skip
    assert headline.status == "ok" and 3 <= len(headline.items) <= 6
    assert headline.sentence.startswith("7 customers as of 2026-03-01, 5 of them buyers; ")
    assert F.headline({**summary, "monetary_total": 1.0}).status == "alert"
    assert F.headline({**summary, "monetary_total": float("inf")}).status == "alert"
    # orders only: no e-mail item
    bare = F.feature_summary(F.build_features({"orders": tiny["orders"]}, AS_OF), AS_OF)
    assert "engaged by e-mail" not in {i.label for i in F.headline(bare).items}


def test_folder_sources_raw_csv_and_parquet(tiny, tmp_path):
    """A canonical Parquet folder is read by the engine; a CSV folder goes through the
    loader; both give the same features as the frames."""
    reference = F.build_features(tiny, AS_OF)
    parquet, csv = tmp_path / "pq", tmp_path / "csv"
    parquet.mkdir()
    csv.mkdir()
    for name, frame in tiny.items():
        frame.to_csv(csv / f"{name}.csv", index=False)
        if name == "orders":  # the audit's clean orders carry flag columns: ignored, kept in
            frame = frame.assign(is_outlier_amount=frame["amount"] > 60, is_revenue=False)
        frame.to_parquet(parquet / f"{name}.parquet", index=False)
    assert canonical_parquet_problems(parquet) == []
    assert any("not Parquet" in p for p in canonical_parquet_problems(csv))
    assert open_tables(parquet).kind == "parquet" and open_tables(csv).kind == "frames"
    pd.testing.assert_frame_equal(F.build_features(parquet, AS_OF), reference)
    pd.testing.assert_frame_equal(F.build_features(csv, AS_OF), reference, check_dtype=False)


def test_run_builds_reconciles_and_writes_on_the_engine(tiny, tmp_path):
    """The stage's one call: the same table as build_features, the input files, the
    sections, the revenue check, and the table written where features_uri says."""
    folder = tmp_path / "pq"
    folder.mkdir()
    for name, frame in tiny.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    target = tmp_path / "lake" / "customer_features.parquet"
    params = F.FeatureParams(features_uri=str(target))
    built = F.run(folder, AS_OF, params, source_kind="raw")
    pd.testing.assert_frame_equal(built.table, F.build_features(tiny, AS_OF))
    assert built.engine == "duckdb" and built.source_kind == "raw"
    assert built.read_from == str(folder.resolve())
    assert built.manifest.set_index("table")["rows"].to_dict() == {
        name: len(frame) for name, frame in tiny.items()
    }
    assert built.sections.set_index("section")["status"].eq("built").all()
    # the revenue read straight from the orders and the feature table's total agree
    check = built.reconciliation()
    assert check["completed revenue (orders table)"] == F.completed_revenue(tiny, AS_OF)
    assert check["sum of monetary_total (features)"] == check["completed revenue (orders table)"]
    assert check["customers unique"] is True
    assert built.written == [str(target)]
    pd.testing.assert_frame_equal(pd.read_parquet(target), built.table, check_dtype=False)
    # frames have no input files: an empty manifest with the same columns
    framed = F.run(tiny, AS_OF)
    assert framed.manifest.empty and list(framed.manifest.columns) == list(built.manifest.columns)
    assert framed.written == []
    with pytest.raises(TypeError, match="features.run: as_of must be a pd.Timestamp"):
        F.run(tiny, "2026-03-01")


def test_feature_params_say_what_the_stage_reads():
    assert F.FeatureParams().input == "clean"  # the audit's clean tables, no silent fallback
    assert F.FeatureParams(input=" Raw ").input == "raw"
    assert F.FeatureParams(input="raw").as_dict()["input"] == "raw"
    with pytest.raises(
        ValueError, match="FeatureParams: input must be one of clean, raw .*'audit'"
    ):
        F.FeatureParams(input="audit")


def test_feature_params_hold_where_the_stage_runs():
    params = F.FeatureParams(engine=" Spark ", spark_master="local[1]", source_uri="s3a://lake")
    assert params.engine == "spark" and params.as_dict()["source_uri"] == "s3a://lake"
    assert {"engine", "spark_master", "source_uri", "features_uri"} <= set(params.as_dict())
    with pytest.raises(ValueError, match="FeatureParams: engine must be one of duckdb, spark"):
        F.FeatureParams(engine="polars")
    with pytest.raises(ValueError, match="FeatureParams: features_uri must be a text"):
        F.FeatureParams(features_uri=None)


def test_categories_are_asked_once_per_opened_source(tiny):
    inputs = open_tables(tiny, tables=F.FEATURE_TABLES)
    queries = []
    execute = inputs.execute

    def counting(expr):
        queries.append(expr)
        return execute(expr)

    inputs.execute = counting
    F.feature_sections(inputs)
    first = len(queries)
    F.feature_sections(inputs)
    assert first > 0 and len(queries) == first, "the second plan must reuse the cached look-ups"
    # another opened source asks again
    other = open_tables(tiny, tables=F.FEATURE_TABLES)
    other.execute = counting
    F.feature_sections(other)
    assert len(queries) > first


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_features_notebook(run_stages, small_demo_dir):
    result = run_stages(
        small_demo_dir, ["features"], ["features.abandon_window_hours=48", "features.input=raw"]
    )
    (stage,) = result.stages
    assert stage.status == "ok", stage.error
    summary = json.loads((result.output_dir / "features.json").read_text())
    assert summary["as_of"] == "2026-06-30"
    assert summary["customers"] > 3000 and summary["columns"] > 60
    assert set(summary["rfm_segments"]) == set(F.RFM_SEGMENTS)
    assert sum(summary["lifecycle_stages"].values()) == summary["customers"]
    assert sum(summary["engagement_tiers"].values()) == summary["customers"]
    assert summary["monetary_total"] == summary["completed_revenue"]
    assert summary["input"] == "raw"
    items = {i["label"]: i["value"] for i in summary["headline"]["items"]}
    assert items["customers"] == summary["customers"] and items["buyers"] == summary["buyers"]
    executed = nbformat.read(str(result.output_dir / "02_features.ipynb"), as_version=4)
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    assert not [o for o in last.outputs if o.output_type == "execute_result"], "no raw dict"
    assert set(summary["sections"].values()) == {"built"}
    assert (result.output_dir / "customer_features.parquet").exists()
    processed = pd.read_parquet(result.output_dir / "customer_features.parquet")
    assert len(processed) == summary["customers"]


@pytest.mark.notebooks
@pytest.mark.slow
def test_features_notebook_reads_the_audits_clean_tables(run_stages, small_demo_dir):
    if not (REPO / "notebooks" / "01_audit.ipynb").exists():
        pytest.skip("no audit stage notebook in this checkout")
    result = run_stages(small_demo_dir, ["audit", "features"])
    assert [s.status for s in result.stages] == ["ok", "ok"], [s.error for s in result.stages]
    summary = json.loads((result.output_dir / "features.json").read_text())
    assert summary["input"] == "clean"
    assert summary["monetary_total"] == summary["completed_revenue"]


@pytest.mark.notebooks
@pytest.mark.slow
def test_features_notebook_refuses_to_fall_back_to_raw(run_stages, small_demo_dir):
    """input=clean (the default) without the audit's clean tables of this source: the stage
    fails naming what to run, and reads nothing raw (issue 15, point 3)."""
    result = run_stages(small_demo_dir, ["features"])
    (stage,) = result.stages
    assert stage.status == "failed"
    assert "audit" in stage.error and "input=raw" in stage.error, stage.error
    assert not (result.output_dir / "customer_features.parquet").exists()
