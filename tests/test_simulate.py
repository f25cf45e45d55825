"""The demo-data simulator: determinism, schema, realistic shapes, personas, planted
faults, churn truth and the experiment's known effect.

Most tests read the small demo data written once per session (``small_demo_dir``:
3,000 customers, seed 7) together with its ``_truth/``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from workbench.schema import TABLES, TIMESTAMP_DTYPE
from workbench.simulate import (
    CATEGORIES,
    EXPERIMENT_ID,
    FAULT_TYPES,
    PERSONAS,
    TRUTH_FILES,
    VARIANTS,
    WINDOW_DAYS,
    simulate,
    write_demo_data,
)

EMAIL_OK = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@pytest.fixture(scope="module")
def demo(small_demo_dir: Path) -> SimpleNamespace:
    truth_dir = small_demo_dir / "_truth"
    tables = {name: pd.read_parquet(small_demo_dir / f"{name}.parquet") for name in TABLES}
    truth = {name: pd.read_parquet(truth_dir / f"{name}.parquet") for name in TRUTH_FILES}
    summary = json.loads((truth_dir / "summary.json").read_text())
    return SimpleNamespace(
        tables=tables,
        truth=truth,
        faults=truth["faults"],
        experiment=json.loads((truth_dir / "experiment.json").read_text()),
        summary=summary,
        end=pd.Timestamp(summary["end"], tz="UTC"),
    )


def _keys(demo: SimpleNamespace, table: str, fault: str | None = None) -> set[str]:
    f = demo.faults[demo.faults["table"] == table]
    if fault is not None:
        f = f[f["fault"] == fault]
    return set(f["key"])


def _clean(demo: SimpleNamespace, table: str) -> pd.DataFrame:
    """The table without any row listed as a fault (both copies of a repeated row)."""
    frame = demo.tables[table]
    listed = _keys(demo, table)
    if not listed:  # products and experiment_assignments carry no faults
        return frame
    return frame[~frame[TABLES[table].key[0]].isin(listed)]


def _hash_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    first = write_demo_data(tmp_path / "a", customers=1_200, seed=11, progress=False)
    write_demo_data(tmp_path / "b", customers=1_200, seed=11, progress=False)
    write_demo_data(tmp_path / "c", customers=1_200, seed=12, progress=False)
    a, b, c = (_hash_tree(tmp_path / x) for x in "abc")
    expected = {f"{t}.parquet" for t in TABLES} | {f"_truth/{t}.parquet" for t in TRUTH_FILES}
    assert expected | {"_truth/experiment.json", "_truth/summary.json"} == set(a)
    assert a == b
    changed = [name for name in a if a[name] != c[name]]
    assert "orders.parquet" in changed and "customers.parquet" in changed
    assert first["rows"]["customers"] == 1_200 and first["seed"] == 11


def test_write_keeps_other_files_and_overwrites_its_own(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "orders.parquet").write_text("stale")
    write_demo_data(tmp_path, customers=300, seed=3, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(pd.read_parquet(tmp_path / "orders.parquet")) > 0


def test_in_memory_result_matches_written_files(small_demo_dir, demo):
    data = simulate(customers=3_000, seed=7)
    for name in TABLES:
        pd.testing.assert_frame_equal(data.tables[name], demo.tables[name])
    pd.testing.assert_frame_equal(data.truth["faults"], demo.faults)
    assert data.truth_meta["summary"] == demo.summary
    assert data.truth_meta["experiment"] == demo.experiment


def test_progress_bar_is_shown_only_on_request(capsys):
    simulate(customers=300, seed=1, progress=True)
    assert "demo data" in capsys.readouterr().err
    simulate(customers=300, seed=1)
    assert "demo data" not in capsys.readouterr().err


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="customers must be at least 100, got 5"):
        simulate(customers=5)
    with pytest.raises(ValueError, match="years must be between"):
        simulate(customers=200, years=0)


# --------------------------------------------------------------------------- schema


def test_tables_have_the_canonical_columns_and_types(demo):
    for name, spec in TABLES.items():
        frame = demo.tables[name]
        assert list(frame.columns) == list(spec.columns), name
        for column in spec.timestamp_columns:
            assert frame[column].dtype == TIMESTAMP_DTYPE, (name, column)
        for column in spec.numeric_columns:
            assert frame[column].dtype == np.float64, (name, column)
        for column in spec.id_columns:
            assert frame[column].dtype == "str", (name, column)
    assert demo.tables["customers"]["email_opt_in"].dtype == "boolean"
    assert "persona" not in demo.tables["customers"].columns


def test_every_table_validates_once_faulty_rows_are_excluded(demo):
    for name, spec in TABLES.items():
        spec.model.validate(_clean(demo, name), lazy=True)
    # the repeated rows are what breaks the raw tables' keys
    for name in ("orders", "web_events"):
        key = TABLES[name].key[0]
        assert demo.tables[name][key].duplicated().sum() == len(_keys(demo, name, "duplicate_row"))


def test_ids_follow_their_formats(demo):
    t = demo.tables
    assert t["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert t["orders"]["order_id"].str.fullmatch(r"O\d{8}").all()
    assert t["order_items"]["line_id"].str.fullmatch(r"L\d{9}").all()
    assert t["products"]["product_id"].str.fullmatch(r"P\d{4}").all()
    assert t["email_events"]["campaign_id"].str.fullmatch(r"CMP\d{3}").all()
    assert t["customers"]["customer_id"].is_monotonic_increasing
    assert t["orders"]["order_id"].is_monotonic_increasing


# --------------------------------------------------------------------------- realism


def test_volumes_per_customer_are_in_the_intended_ranges(demo):
    t, n = demo.tables, len(demo.tables["customers"])
    assert 7 <= len(t["orders"]) / n <= 14
    assert 2.0 <= len(t["order_items"]) / len(t["orders"]) <= 3.0
    # a campaign every two weeks, and (the last 26 weeks) a weekly newsletter and deals
    # e-mails for the engaged, welcome and cart flows, re-opens and machine opens
    assert 25 <= len(t["email_events"]) / n <= 55
    assert 18 <= len(t["web_events"]) / n <= 35
    assert 200 <= len(t["products"]) <= 600
    assert set(t["products"]["category"]) == set(CATEGORIES)
    assert (t["products"]["price"] > 0).all()


def test_amounts_are_heavy_tailed_and_seasonal(demo):
    orders = _clean(demo, "orders")
    amount = orders["amount"]
    assert amount.mean() > 1.2 * amount.median()
    assert amount.quantile(0.99) > 5 * amount.median()
    months = orders["ordered_at"].dt.month.value_counts(normalize=True)
    assert months[[11, 12]].min() > months.drop([11, 12]).max()
    status = orders["status"].value_counts(normalize=True)
    assert 0.90 <= status["completed"] <= 0.96
    assert 0.015 <= status["cancelled"] <= 0.05 and 0.02 <= status["returned"] <= 0.06
    weekday = orders["ordered_at"].dt.day_of_week.value_counts(normalize=True)
    assert weekday[6] > weekday[1]  # Sundays busier than Tuesdays


def test_customer_attributes_look_real(demo):
    customers = demo.tables["customers"]
    assert 0.65 <= customers["email_opt_in"].mean() <= 0.78
    assert customers["country"].value_counts(normalize=True).iloc[0] < 0.5
    assert customers["country"].nunique() >= 5
    assert (customers["signup_at"] < demo.end).all()
    assert (customers["signup_at"] < demo.end - pd.Timedelta(days=730)).mean() > 0.1
    age = (demo.end - customers["birth_date"]).dt.days / 365.25
    assert age.dropna().between(17.9, 86).all() and 35 < age.median() < 45
    assert customers["birth_date"].dropna().dt.hour.eq(0).all()
    domains = customers["email"].dropna().str.strip().str.lower().str.rpartition("@")[2]
    assert {"gmail.com", "yahoo.com", "outlook.com", "example.com"} <= set(domains)
    quantity = _clean(demo, "order_items")["quantity"]
    assert quantity.between(1, 3).mean() > 0.95


def test_persona_shares_and_truth_cover_every_customer(demo):
    truth = demo.truth["customers"]
    assert truth["customer_id"].tolist() == demo.tables["customers"]["customer_id"].tolist()
    shares = truth["persona"].value_counts(normalize=True)
    assert set(shares.index) == {p.name for p in PERSONAS} and len(PERSONAS) >= 5
    assert shares.between(0.09, 0.31).all()
    assert (truth["churned"] == (truth["churn_date"] <= demo.end)).all()


def _per_persona(demo: SimpleNamespace) -> pd.DataFrame:
    truth = demo.truth["customers"].set_index("customer_id")
    people = truth[truth["is_duplicate_of"].isna()]
    orders = _clean(demo, "orders")
    orders = orders[orders["customer_id"].isin(people.index)]
    email = demo.tables["email_events"]
    kinds = (
        email[email["customer_id"].isin(people.index)]
        .groupby([email["customer_id"].map(people["persona"]), "event_type"])
        .size()
        .unstack()
    )
    web = demo.tables["web_events"].dropna(subset=["customer_id"])
    web = web.assign(
        cart=web["event_type"] == "add_to_cart", bought=web["event_type"] == "purchase"
    )
    sessions = web.groupby("session_id").agg(
        customer=("customer_id", "first"), cart=("cart", "max"), bought=("bought", "max")
    )
    sessions["persona"] = sessions["customer"].map(people["persona"])
    carts = sessions[sessions["cart"]]
    n = people["persona"].value_counts()
    by = orders.assign(persona=orders["customer_id"].map(people["persona"])).groupby("persona")
    return pd.DataFrame({
        "orders": by.size() / n,
        "basket": by["amount"].median(),
        "open_rate": kinds["open"] / kinds["sent"],
        "sessions": sessions.groupby("persona").size() / n,
        "abandoned": 1 - carts.groupby("persona")["bought"].mean(),
    })  # fmt: skip


def test_personas_differ_in_the_stated_directions(demo):
    p = _per_persona(demo)
    assert p.loc["loyal_high_value", "orders"] > 2.5 * p.loc["bargain_hunter", "orders"]
    assert p.loc["bargain_hunter", "orders"] > 2.5 * p.loc["occasional", "orders"]
    assert p.loc["occasional", "orders"] > 1.5 * p.loc["one_and_done", "orders"]
    assert p["orders"].idxmax() == "loyal_high_value"
    assert p["basket"].idxmax() == "lapsing_big_spender"
    assert p["basket"].idxmin() == "bargain_hunter"
    assert p.loc["loyal_high_value", "basket"] > 2 * p.loc["bargain_hunter", "basket"]
    assert p["open_rate"].idxmax() == "bargain_hunter"
    assert p["open_rate"].idxmin() == "one_and_done"
    assert p.loc["loyal_high_value", "open_rate"] > 1.5 * p.loc["occasional", "open_rate"]
    assert p["sessions"].idxmax() == "browser_abandoner"
    assert p["abandoned"].idxmax() == "browser_abandoner"
    assert (
        p.loc["browser_abandoner", "abandoned"] > 0.8 > 0.3 > p.loc["loyal_high_value", "abandoned"]
    )


def test_each_persona_has_its_own_top_category(demo):
    truth = demo.truth["customers"].set_index("customer_id")
    items = _clean(demo, "order_items").merge(demo.tables["products"], on="product_id")
    items = items.merge(_clean(demo, "orders")[["order_id", "customer_id"]], on="order_id")
    items["persona"] = items["customer_id"].map(truth["persona"])
    top = items.groupby("persona")["category"].agg(lambda s: s.value_counts().index[0])
    assert top.is_unique
    for p in PERSONAS:
        assert top[p.name] == CATEGORIES[int(np.argmax(p.category_weights))]


@pytest.mark.slow
def test_personas_are_recoverable_by_clustering(demo):
    """Downstream segmentation relies on it: k-means on RFM, e-mail, web and category
    features finds the personas (adjusted Rand index >= 0.5)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    truth = demo.truth["customers"].set_index("customer_id")
    people = truth[truth["is_duplicate_of"].isna()]
    orders = _clean(demo, "orders")
    g = orders.groupby("customer_id")
    f = pd.DataFrame(index=people.index)
    f["frequency"] = np.log1p(g.size()).reindex(f.index).fillna(0)
    f["monetary"] = np.log(g["amount"].median()).reindex(f.index)
    f["recency"] = (demo.end - g["ordered_at"].max()).dt.days.reindex(f.index)
    email = demo.tables["email_events"]
    kinds = email.groupby(["customer_id", "event_type"]).size().unstack().reindex(f.index)
    f["open_rate"] = kinds["open"].fillna(0) / kinds["sent"]
    f["click_rate"] = kinds["click"].fillna(0) / kinds["open"].clip(lower=1)
    web = demo.tables["web_events"].dropna(subset=["customer_id"])
    f["sessions"] = np.log1p(web.groupby("customer_id")["session_id"].nunique()).reindex(f.index)
    carts = web[web["event_type"] == "add_to_cart"].groupby("customer_id").size()
    buys = web[web["event_type"] == "purchase"].groupby("customer_id").size()
    f["abandonment"] = (1 - buys.reindex(carts.index).fillna(0) / carts).reindex(f.index)
    items = _clean(demo, "order_items").merge(demo.tables["products"], on="product_id")
    items = items.merge(orders[["order_id", "customer_id"]], on="order_id")
    shares = pd.crosstab(items["customer_id"], items["category"], normalize="index")
    f = f.join(shares).fillna(f.median()).fillna(0)
    with threadpool_limits(1):
        labels = KMeans(len(PERSONAS), n_init=4, random_state=0).fit_predict(
            StandardScaler().fit_transform(f)
        )
    assert adjusted_rand_score(people["persona"], labels) >= 0.5


# --------------------------------------------------------------------------- events


def test_email_events_follow_the_campaign_rules(demo):
    email = demo.tables["email_events"]
    customers = demo.tables["customers"].set_index("customer_id")
    assert customers.loc[email["customer_id"].unique(), "email_opt_in"].all()
    first = email.pivot_table(
        index=["customer_id", "campaign_id"], columns="event_type", values="occurred_at",
        aggfunc="min",
    )  # fmt: skip
    faulty = email[email["event_id"].isin(_keys(demo, "email_events"))]
    faulty = pd.MultiIndex.from_frame(faulty[["customer_id", "campaign_id"]])
    assert first["sent"].drop(faulty).notna().all()
    first = first.drop(faulty)
    email = email[~email.set_index(["customer_id", "campaign_id"]).index.isin(faulty)]
    opened = first.dropna(subset=["open"])
    assert (opened["open"] > opened["sent"]).all()
    clicked = first.dropna(subset=["click"])
    assert clicked["open"].notna().all() and (clicked["click"] > clicked["open"]).all()
    hours = (opened["open"] - opened["sent"]).dt.total_seconds() / 3600
    assert hours.median() > 2
    stop = (
        email[email["event_type"].isin(["unsubscribe", "bounce"])]
        .groupby("customer_id")["occurred_at"]
        .min()
    )
    sends = email[email["event_type"] == "sent"]
    later = sends["occurred_at"] > sends["customer_id"].map(stop)
    assert not later.any()
    assert {"sent", "open", "click", "bounce", "unsubscribe"} == set(email["event_type"])


def test_web_purchases_match_real_orders_and_some_visitors_are_anonymous(demo):
    web = _clean(demo, "web_events")
    needs_product = web["event_type"].isin(["product_view", "add_to_cart"])
    assert web.loc[needs_product, "product_id"].notna().all()
    assert web.loc[~needs_product, "product_id"].isna().all()
    anonymous = web.groupby("session_id")["customer_id"].first().isna().mean()
    assert 0.01 <= anonymous <= 0.10
    purchases = web[web["event_type"] == "purchase"]
    orders = demo.tables["orders"]
    matched = purchases.merge(
        orders, left_on=["customer_id", "occurred_at"], right_on=["customer_id", "ordered_at"]
    )
    assert len(matched) == len(purchases) > 0
    assert (web["occurred_at"] < demo.end).all()


# --------------------------------------------------------------------------- faults


def test_fault_counts_match_the_planted_rates(demo):
    f, s = demo.faults, demo.summary
    assert list(f.columns) == ["table", "key", "column", "fault", "detail"]
    assert s["faults"] == {k: int((f["fault"] == k).sum()) for k in FAULT_TYPES}
    assert all(s["faults"][k] > 0 for k in FAULT_TYPES)
    n_customers = len(demo.tables["customers"])
    n_orders = len(demo.tables["orders"]) - len(_keys(demo, "orders", "duplicate_row"))
    n_lines = len(demo.tables["order_items"])
    n_web = len(demo.tables["web_events"]) - len(_keys(demo, "web_events", "duplicate_row"))

    def count(table: str, fault: str) -> int:
        return int(((f["table"] == table) & (f["fault"] == fault)).sum())

    for table, fault, rate, n in [
        ("customers", "duplicate_customer", 0.02, n_customers),
        ("customers", "invalid_email", 0.005, n_customers),
        ("orders", "orphan_order", 0.003, n_orders),
        ("orders", "outlier_amount", 0.001, n_orders),
        ("orders", "future_timestamp", 0.001, n_orders),
        ("orders", "before_signup", 0.001, n_orders),
        ("orders", "duplicate_row", 0.001, n_orders),
        ("order_items", "negative_quantity", 0.002, n_lines),
        ("web_events", "duplicate_row", 0.002, n_web),
        ("web_events", "future_timestamp", 0.001, n_web),
        ("email_events", "future_timestamp", 0.001, len(demo.tables["email_events"])),
    ]:
        assert abs(count(table, fault) - rate * n) <= max(1.5, 0.02 * rate * n), (table, fault)


def test_each_fault_row_is_really_in_the_data(demo):
    t, f = demo.tables, demo.faults
    customers = t["customers"].set_index("customer_id")
    orders = t["orders"].drop_duplicates().set_index("order_id")
    # no row carries two faults, except a second account that also lacks its birth date
    multi = f[f["fault"] != "missing_value"]
    assert not multi.duplicated(["table", "key"]).any()
    orphans = f.loc[f["fault"] == "orphan_order", "key"]
    assert not orders.loc[orphans, "customer_id"].isin(customers.index).any()
    assert orders["customer_id"].drop(orphans).isin(customers.index).all()
    bad = customers.loc[list(_keys(demo, "customers", "invalid_email")), "email"]
    assert not bad.str.match(EMAIL_OK).any()
    good = customers["email"].drop(bad.index).dropna().str.strip()
    assert good.str.match(EMAIL_OK).all()
    for table, column in (("orders", "ordered_at"), ("email_events", "occurred_at"),
                          ("web_events", "occurred_at")):  # fmt: skip
        keys = _keys(demo, table, "future_timestamp")
        frame = t[table].set_index(TABLES[table].key[0])
        assert (frame.loc[list(keys), column] > demo.end + pd.Timedelta(days=29)).all()
        assert (frame.drop(list(keys))[column] < demo.end).all()
    early = orders.loc[list(_keys(demo, "orders", "before_signup"))]
    assert (early["ordered_at"] < early["customer_id"].map(customers["signup_at"])).all()


def test_amounts_equal_their_lines_except_outliers_and_negative_lines(demo):
    items = demo.tables["order_items"]
    lines = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    orders = demo.tables["orders"].drop_duplicates().set_index("order_id")
    diff = (orders["amount"] - lines.reindex(orders.index)).abs()
    outliers = list(_keys(demo, "orders", "outlier_amount"))
    negative = items.loc[items["line_id"].isin(_keys(demo, "order_items")), "order_id"]
    assert diff.drop(outliers + list(negative)).max() < 0.005
    ratio = orders.loc[outliers, "amount"] / lines[outliers]
    assert ratio.between(49.9, 200.1).all()
    negative_lines = items[items["quantity"] < 0]
    assert set(negative_lines["line_id"]) == _keys(demo, "order_items", "negative_quantity")
    assert (orders.loc[negative_lines["order_id"], "status"] == "completed").all()


def test_missing_values_are_exactly_the_listed_blanks(demo):
    f = demo.faults[demo.faults["fault"] == "missing_value"]
    for table, column in [("customers", "country"), ("customers", "birth_date"),
                          ("customers", "email"), ("customers", "signup_channel"),
                          ("orders", "channel")]:  # fmt: skip
        frame = demo.tables[table]
        key = TABLES[table].key[0]
        listed = set(f.loc[(f["table"] == table) & (f["column"] == column), "key"])
        assert listed and set(frame.loc[frame[column].isna(), key]) == listed, column


def test_repeated_rows_are_identical_copies(demo):
    for table in ("orders", "web_events"):
        frame = demo.tables[table]
        key = TABLES[table].key[0]
        keys = _keys(demo, table, "duplicate_row")
        copies = frame[frame[key].isin(keys)]
        assert len(copies) == 2 * len(keys)
        assert copies.duplicated(keep="first").sum() == len(keys)


def _normal_email(email: str) -> str:
    local, _, domain = email.strip().lower().partition("@")
    local = local.split("+")[0]
    return (local.replace(".", "") if domain == "gmail.com" else local) + "@" + domain


def test_duplicate_accounts_are_findable_and_same_names_exist_among_strangers(demo):
    pairs = demo.truth["duplicates"]
    customers = demo.tables["customers"].set_index("customer_id")
    assert set(pairs["duplicate_id"]) == _keys(demo, "customers", "duplicate_customer")
    dup = customers.loc[pairs["duplicate_id"]].reset_index(drop=True)
    org = customers.loc[pairs["original_id"]].reset_index(drop=True)
    same_email = dup["email"].map(_normal_email) == org["email"].map(_normal_email)
    name = dup["first_name"].str.lower() + " " + dup["last_name"].str.lower()
    same_name = name == org["first_name"].str.lower() + " " + org["last_name"].str.lower()
    swapped = name == org["last_name"].str.lower() + " " + org["first_name"].str.lower()
    assert (same_email | same_name | swapped).all()
    assert (~same_email).any() and (~same_name & ~swapped).any()  # both routes are needed
    assert ((dup["birth_date"] == org["birth_date"]) | dup["birth_date"].isna()).all()
    assert (dup["country"] == org["country"]).all() and (dup["city"] == org["city"]).all()
    assert (dup["signup_at"] > org["signup_at"]).all()
    assert pairs["duplicate_id"].isin(demo.tables["orders"]["customer_id"]).mean() > 0.3
    strangers = customers.drop(pairs["duplicate_id"])
    assert strangers.duplicated(["first_name", "last_name"]).sum() > 10
    truth = demo.truth["customers"].set_index("customer_id")
    assert (
        truth.loc[pairs["duplicate_id"], "is_duplicate_of"].to_numpy() == pairs["original_id"]
    ).all()
    assert truth["is_duplicate_of"].notna().sum() == len(pairs)


# --------------------------------------------------------------------------- churn truth


def test_orders_lie_between_signup_and_churn(demo):
    faulty = _keys(demo, "orders")
    orders = demo.tables["orders"]
    orders = orders[~orders["order_id"].isin(faulty)]
    truth = demo.truth["customers"].set_index("customer_id")
    signup = orders["customer_id"].map(
        demo.tables["customers"].set_index("customer_id")["signup_at"]
    )
    churn = orders["customer_id"].map(truth["churn_date"])
    assert (orders["ordered_at"] >= signup).all()
    assert (churn.isna() | (orders["ordered_at"] < churn)).all()


def test_future_orders_follow_the_churn_truth(demo):
    future = demo.truth["future_orders"]
    truth = demo.truth["customers"].set_index("customer_id")
    assert len(future) > 0
    assert (future["ordered_at"] >= demo.end).all()
    assert (future["ordered_at"] < demo.end + pd.Timedelta(days=180)).all()
    assert future["customer_id"].isin(truth.index).all()
    churn = future["customer_id"].map(truth["churn_date"])
    assert (churn.isna() | (future["ordered_at"] < churn)).all()
    assert not truth.loc[future["customer_id"].unique(), "churned"].any()
    orders = demo.tables["orders"]
    assert future.merge(orders, on=["customer_id", "ordered_at"]).empty  # not in the history
    assert 0.2 < truth["churned"].mean() < 0.7
    rates = truth.groupby("persona")["churned"].mean()
    assert rates["one_and_done"] > 0.8 > rates["loyal_high_value"]


# --------------------------------------------------------------------------- experiment


def test_assignments_are_balanced_and_timed_before_the_end(demo):
    a = demo.tables["experiment_assignments"]
    assert set(a["experiment_id"]) == {EXPERIMENT_ID} and a["customer_id"].is_unique
    counts = a["variant"].value_counts()
    assert set(counts.index) == set(VARIANTS) == {"control", "personalised", "discount"}
    assert counts.max() - counts.min() <= 1
    assert a["assigned_at"].max() <= demo.end - pd.Timedelta(days=WINDOW_DAYS)
    span = a["assigned_at"].max() - a["assigned_at"].min()
    assert pd.Timedelta(days=21) <= span <= pd.Timedelta(days=29)
    customers = demo.tables["customers"].set_index("customer_id").loc[a["customer_id"]]
    assert customers["email_opt_in"].all()
    assert (customers["signup_at"].to_numpy() < a["assigned_at"].to_numpy()).all()
    assert not a["customer_id"].isin(_keys(demo, "customers")).any()


def _window_orders(demo: SimpleNamespace) -> pd.DataFrame:
    a = demo.tables["experiment_assignments"]
    orders = demo.tables["orders"].merge(a, on="customer_id")
    inside = (orders["ordered_at"] >= orders["assigned_at"]) & (
        orders["ordered_at"] < orders["assigned_at"] + pd.Timedelta(days=WINDOW_DAYS)
    )
    return orders[inside]


def test_the_window_holds_only_the_experiment_outcome(demo):
    window = _window_orders(demo)
    users = demo.truth["experiment_users"].set_index("customer_id")
    assert window["customer_id"].is_unique
    assert (window["status"] == "completed").all()
    assert set(window["customer_id"]) == set(users.index[users["converted"]])
    found = window.set_index("customer_id")["order_id"].sort_index()
    assert found.equals(users["order_id"].dropna().sort_index())
    assert not window["order_id"].isin(demo.faults["key"]).any()


def test_observed_effect_matches_the_planted_truth(demo):
    truth = demo.experiment
    a = demo.tables["experiment_assignments"].set_index("customer_id")
    window = _window_orders(demo).set_index("customer_id")
    converted = a.index.isin(window.index)
    revenue = window["amount"].reindex(a.index).fillna(0)
    for variant in VARIANTS:
        arm = (a["variant"] == variant).to_numpy()
        p = truth["conversion_rate"][variant]
        se = np.sqrt(p * (1 - p) / arm.sum())
        assert abs(converted[arm].mean() - p) < 4 * se, variant
        rpu = truth["revenue_per_user"][variant]
        assert abs(revenue[arm].mean() - rpu) < 4 * revenue[arm].std() / np.sqrt(arm.sum())
    assert truth["treatment"] == "personalised" and truth["treatments"] == list(VARIANTS[1:])
    assert 0.12 <= truth["relative_lift"] <= 0.30
    assert truth["arms"]["personalised"]["relative_lift"] == truth["relative_lift"]
    # the discount converts more but earns less per order: personalised wins on revenue
    both = truth["potential_outcomes"]
    arms = both["arms"]
    assert arms["discount"]["relative_lift"] > arms["personalised"]["relative_lift"] > 0.1
    assert (
        arms["personalised"]["revenue_relative_lift"]
        > 2 * arms["discount"]["revenue_relative_lift"]
    )
    lifts = {k: v["relative_lift"] for k, v in truth["by_persona"].items()}
    assert lifts["bargain_hunter"] > 0.3 > abs(lifts["loyal_high_value"])
    planted = pd.Series(truth["planted_relative_lift"])
    assert planted.idxmax() == "bargain_hunter" and planted.idxmin() == "loyal_high_value"
    assert truth["intended_split"] == pytest.approx(dict.fromkeys(VARIANTS, 1 / 3), abs=1e-6)
    users = demo.truth["experiment_users"]
    means = users.groupby("variant")["p_conversion"].mean()
    assert means["control"] == pytest.approx(truth["conversion_rate"]["control"], abs=1e-6)
    assert both["conversion_rate"]["personalised"] > both["conversion_rate"]["control"]
    assert 0.12 <= both["relative_lift"] <= 0.30
