"""The audit: rules on tiny hand-made frames, messy exports, duplicates, outputs, CLI, demo truth."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench import audit, catalog
from workbench.audit import (
    RULES,
    AuditConfig,
    AuditError,
    AuditParams,
    audit_tables,
    duplicate_metrics,
    find_duplicates,
    mask_email,
    normalise_email,
    outlier_thresholds,
    report,
    run_audit,
    validate_tables,
    write_audit,
)
from workbench.audit.checks import email_problem
from workbench.audit.duplicates import candidate_pairs
from workbench.cli import cli
from workbench.loading import load_tables
from workbench.schema import TIMESTAMP_DTYPE, empty_table, parse_as_of
from workbench.settings import get_settings
from workbench.stage import build_params

AS_OF_TEXT = "2026-06-30"  # as the command line and the notebooks give it
AS_OF = parse_as_of(AS_OF_TEXT)
NOW = pd.Timestamp("2026-07-02 12:00", tz="UTC")  # the run date of the tests' audits


def _table(name: str, **columns) -> pd.DataFrame:
    """A canonical table from lists (timestamps as text, read as UTC)."""
    n = len(next(iter(columns.values())))
    frame = empty_table(name).reindex(range(n))
    for column, values in columns.items():
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = pd.to_datetime(pd.Series(values), utc=True).astype(TIMESTAMP_DTYPE)
        else:
            frame[column] = pd.Series(values, dtype=frame[column].dtype)
    return frame


def _customers() -> pd.DataFrame:
    return _table(
        "customers",
        customer_id=["C1", "C2", "C3"],
        email=["ann.lee@gmail.com", " AnnLee+shop@Gmail.com", "bo chan@x.com"],
        first_name=["Ann", "Ann", "Bo"],
        last_name=["Lee", "Lee", "Chan"],
        birth_date=["1990-05-01", "1990-05-01", "1985-01-01"],
        country=["GB", "GB", "FR"],
        city=["London", "London", "Paris"],
        signup_at=["2024-01-01", "2025-01-01", "2024-06-01"],
    )


def _messy() -> dict[str, pd.DataFrame]:
    """Every kind of problem of a real export, one or two rows each."""
    orders = _table(
        "orders",
        order_id=["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o1"],
        customer_id=["C1", "C2", None, "c3", "C3", "C9", "C3", "C1"],
        ordered_at=[
            "2024-02-01",
            "2025-02-01",
            "2024-03-01",
            "2024-08-01",
            "2024-07-01",
            "2027-01-01",
            "2024-05-01",
            "2024-02-01",
        ],
        amount=[10.0, 20.0, 5.0, 12.0, -15.0, 1.0, 8.0, 10.0],
        status=["completed"] * 8,
    )
    items = _table(
        "order_items",
        order_id=["o1", "o1", "o2", "o5", "o6", "o9", "o7", "o4"],
        product_id=["P1", "P1", "P2", "P1", "P1", "P1", "P1", "P1"],
        quantity=[1.0, 1.0, 2.0, -1.0, 1.0, 1.0, 0.0, -2.0],
        unit_price=[10.0, 10.0, 0.0, 15.0, 1.0, 1.0, 3.0, 5.0],
    )
    products = _table("products", product_id=["P1", "P2"], price=[10.0, 5.0])
    assignments = _table(
        "experiment_assignments",
        experiment_id=["E1", "E1"],
        customer_id=["C1", "C2"],
        variant=["control", "personalised"],
        assigned_at=["2025-03-01", "2025-03-02"],
    )
    return {
        "customers": _customers(),
        "orders": orders,
        "order_items": items,
        "products": products,
        "experiment_assignments": assignments,
    }


@pytest.fixture(scope="module")
def messy_result():
    return audit_tables(_messy(), AS_OF, now=NOW)


def _failing(result, table: str, rule: str) -> int:
    rules = result.rules()
    hit = rules[(rules["table"] == table) & (rules["rule"] == rule)]
    return int(hit["failing_rows"].sum())


# --------------------------------------------------------------------------- e-mails & duplicates


def test_normalise_email_handles_case_blanks_tags_and_gmail_dots():
    emails = pd.Series(
        [
            " J.Doe+news@GoogleMail.com",
            "j.doe@gmail.com",
            "J.Doe@Yahoo.com",
            "jdoe+x@outlook.com",
            "no-at-sign",
            "a@b",
            None,
        ]
    )
    assert normalise_email(emails).tolist() == [
        "jdoe@gmail.com",
        "jdoe@gmail.com",
        "j.doe@yahoo.com",  # dots matter outside gmail
        "jdoe@outlook.com",
        np.nan,
        np.nan,
        np.nan,
    ]


def test_email_problem_names_what_is_wrong_and_ignores_case_and_blanks():
    emails = pd.Series(
        [" Ann@X.com ", "ab.com", "a b@c.com", "a@", "a@@b.com", "a@b", "@b.com", None]
    )
    assert email_problem(emails).tolist() == [
        np.nan,
        "no @",
        "contains a space",
        "no domain after the @",
        "more than one @",
        "domain has no dot",
        "nothing before the @",
        np.nan,
    ]


def test_mask_email_keeps_first_letter_and_domain_only():
    masked = mask_email(pd.Series(["John.Doe@example.com", "broken", None]))
    assert masked.tolist() == ["j***@example.com", "b***", np.nan]


def test_duplicates_found_through_email_variants_and_through_name_birth_city():
    customers = _table(
        "customers",
        customer_id=["C1", "C2", "C3", "C4", "C5", "C6"],
        email=[
            "ann.lee@gmail.com",
            "AnnLee+x@gmail.com",
            "bo@x.com",
            "bchan77@y.com",
            "bo2@z.com",
            "q@q.com",
        ],
        first_name=["Ann", "Anne", "Bo", "Chan", "Bo", "Ann"],
        last_name=["Lee", "Lee", "Chan", "Bo", "Chan", "Lee"],
        birth_date=[
            "1990-05-01",
            "1990-05-01",
            "1980-01-01",
            "1980-01-01",
            "1970-03-03",
            "1991-01-01",
        ],
        country=["GB", "GB", "FR", "FR", "FR", "GB"],
        city=["London", "London", "Paris", "Paris", "Paris", "London"],
        signup_at=["2024-03-01", "2024-01-01", None, "2025-01-01", "2024-01-01", "2024-01-01"],
    )
    result = find_duplicates(customers, threshold=0.8)
    merged = result.merge_map.set_index("duplicate_id")["surviving_id"].to_dict()
    # C2 signed up first, so it survives; C3 has no sign-up date, so C4 (dated) survives
    assert merged == {"C1": "C2", "C3": "C4"}
    assert result.clusters == 2
    # same name and city but another birth date (C5), or same name only (C6): not merged
    assert "C5" not in merged and "C6" not in merged
    assert set(result.merge_map.columns) == {"duplicate_id", "surviving_id", "score", "cluster_id"}
    assert (result.merge_map["score"] >= 0.8).all()


def test_survivor_ties_go_to_the_smallest_id():
    customers = _table(
        "customers",
        customer_id=["C9", "C5"],
        email=["x.y@gmail.com", "xy@gmail.com"],
        first_name=["X", "X"],
        last_name=["Y", "Y"],
        signup_at=["2024-01-01", "2024-01-01"],
    )
    assert find_duplicates(customers).merge_map[
        ["duplicate_id", "surviving_id"]
    ].values.tolist() == [["C9", "C5"]]


def test_placeholder_blocks_are_skipped_not_paired():
    n = 30
    customers = _table(
        "customers",
        customer_id=[f"C{i}" for i in range(n)],
        email=["noemail@shop.com"] * n,
        first_name=[f"Name{i}" for i in range(n)],
        last_name=[f"Last{i}" for i in range(n)],
    )
    pairs, skipped = candidate_pairs(customers, max_block_size=10)
    assert skipped == 1 and pairs.empty
    with pytest.raises(ValueError, match="max_block_size"):
        candidate_pairs(customers, max_block_size=1)


def test_find_duplicates_needs_unique_ids():
    customers = _table("customers", customer_id=["C1", "C1"], email=["a@b.com", "a@b.com"])
    with pytest.raises(ValueError, match="customer_id must be unique"):
        find_duplicates(customers)
    with pytest.raises(ValueError, match="threshold"):
        find_duplicates(customers.iloc[:1], threshold=1.5)


def test_duplicate_metrics_on_clusters():
    found = pd.DataFrame({"duplicate_id": ["B", "C"], "surviving_id": ["A", "A"]})
    truth = pd.DataFrame({"duplicate_id": ["B"], "original_id": ["A"]})
    metrics = duplicate_metrics(found, truth)
    assert metrics["recall"] == 1.0 and metrics["precision"] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- outliers


def test_outlier_thresholds_on_the_log_scale():
    values = pd.Series([10.0, 20.0, 40.0, 80.0, 160.0])  # log2-spaced: median 40
    t = outlier_thresholds(values, iqr_k=1.0, z_max=2.0, min_ratio=1.0)
    assert t["median"] == pytest.approx(40.0)
    # log IQR = log(80) - log(20) = log 4, so the upper fence is 80 * 4
    assert t["iqr_high"] == pytest.approx(320.0)
    assert t["iqr_low"] == pytest.approx(5.0)
    # MAD of the logs is log 2: z limit = median * 2 ** (2 * 1.4826)
    assert t["z_high"] == pytest.approx(40 * 2 ** (2 * 1.4826))


def test_outlier_thresholds_do_not_flag_small_steps_of_degenerate_data():
    quantities = pd.Series([1.0] * 95 + [2.0, 3.0, 6.0, 40.0])
    t = outlier_thresholds(quantities)
    assert t["iqr_high"] >= 10 and t["z_high"] >= 10  # at least min_ratio x the median
    assert 6.0 < t["z_high"] < 40.0
    assert all(np.isnan(v) for v in outlier_thresholds(pd.Series([0.0, -1.0])).values())


# --------------------------------------------------------------------------- the messy export


def test_nothing_is_lost(messy_result):
    rows = report.reconciliation(messy_result)
    assert rows["reconciled"].all()
    counts = rows.set_index("table")[["rows_in", "rows_clean", "rows_quarantined"]]
    assert counts.loc["customers"].tolist() == [3, 2, 1]
    assert counts.loc["orders"].tolist() == [8, 5, 3]
    assert counts.loc["order_items"].tolist() == [8, 3, 5]
    assert counts.loc["experiment_assignments"].tolist() == [2, 0, 2]


def test_orders_without_customer_id_are_quarantined_with_a_reason(messy_result):
    q = messy_result.quarantine["orders"].set_index("order_id")
    assert q.loc["o3", "rule"] == "missing_required"
    assert q.loc["o3", "reason"] == "customer_id is blank"
    assert q.loc["o3", "severity"] == "error"


def test_a_row_breaking_several_rules_is_quarantined_once_with_all_of_them(messy_result):
    q = messy_result.quarantine["orders"]
    o6 = q[q["order_id"] == "o6"]
    assert len(o6) == 1
    assert set(o6["rule"].iloc[0].split("; ")) == {"unknown_customer", "future_timestamp"}
    assert "is in the future of the data (on or after 2026-07-02 12:00 UTC)" in o6["reason"].iloc[0]
    assert "customer_id C9 is not in customers" in o6["reason"].iloc[0]


def test_exact_duplicate_rows_and_lines_keep_their_first_copy(messy_result):
    clean = messy_result.clean["orders"]
    assert (clean["order_id"] == "o1").sum() == 1
    q = messy_result.quarantine["orders"]
    assert q.loc[q["order_id"] == "o1", "rule"].tolist() == ["duplicate_row"]
    # order_items has no line_id: full lines are compared
    assert _failing(messy_result, "order_items", "duplicate_row") == 1


def test_mixed_case_ids_are_repaired_and_counted(messy_result):
    clean = messy_result.clean["orders"].set_index("order_id")
    assert clean.loc["o4", "customer_id"] == "C3"
    assert _failing(messy_result, "orders", "id_case_mismatch") == 1
    assert any(
        r.table == "orders" and r.column == "customer_id" and "case" in r.action and r.rows == 1
        for r in messy_result.repairs
    )


def test_cancellation_invoice_with_negative_amount_is_kept_and_not_revenue(messy_result):
    clean = messy_result.clean["orders"].set_index("order_id")
    assert clean.loc["o5", "status"] == "cancelled"
    assert bool(clean.loc["o5", "is_negative_amount"]) and not bool(clean.loc["o5", "is_revenue"])
    assert bool(clean.loc["o1", "is_revenue"])
    # its negative line is a cancellation line (info), not a quarantined negative quantity
    lines = messy_result.clean["order_items"]
    assert ((lines["order_id"] == "o5") & (lines["quantity"] < 0)).sum() == 1
    assert RULES["negative_amount"].severity == "warning"


def test_line_rules(messy_result):
    q = messy_result.quarantine["order_items"]
    by_order = dict(zip(q["order_id"], q["rule"], strict=True))
    assert by_order["o6"] == "order_quarantined"
    assert by_order["o9"] == "unknown_order"
    assert by_order["o7"] == "zero_quantity"
    assert by_order["o4"] == "negative_quantity"  # o4 is a completed order
    reason = q.loc[q["order_id"] == "o6", "reason"].iloc[0]
    assert "order o6 is quarantined (" in reason
    clean = messy_result.clean["order_items"]
    assert clean.loc[clean["order_id"] == "o2", "is_zero_price"].tolist() == [True]


def test_warnings_are_flags_on_the_clean_tables(messy_result):
    orders = messy_result.clean["orders"].set_index("order_id")
    assert orders["is_before_signup"].to_dict() == {
        "o1": False,
        "o2": False,
        "o4": False,
        "o5": False,
        "o7": True,
    }
    customers = messy_result.clean["customers"].set_index("customer_id")
    assert customers["is_invalid_email"].to_dict() == {"C1": False, "C3": True}


def test_merged_customer_is_quarantined_and_its_rows_move_to_the_survivor(messy_result):
    q = messy_result.quarantine["customers"]
    assert q["customer_id"].tolist() == ["C2"]
    assert q["rule"].tolist() == ["duplicate_customer"]
    assert q["reason"].iloc[0].startswith("same person as C1 (score ")
    orders = messy_result.clean["orders"].set_index("order_id")
    assert orders.loc["o2", "customer_id"] == "C1"
    assert messy_result.merge_map["surviving_id"].tolist() == ["C1"]
    # after the merge, one person is in both variants of E1: both rows are quarantined
    qa = messy_result.quarantine["experiment_assignments"]
    assert set(qa["rule"]) == {"conflicting_assignment"}
    assert "is in variants control, personalised of E1" in qa["reason"].iloc[0]


def test_summary_has_the_documented_keys(messy_result):
    summary = messy_result.summary()
    assert summary["tables"]["orders"] == {
        "rows_in": 8,
        "rows_clean": 5,
        "rows_quarantined": 3,
        "rows_after_as_of": 0,
        "rows_flagged": 2,  # o5 negative amount, o7 before signup
        "quality_score": 37.5,  # 3 of 8 rows pass every error and warning rule
    }
    assert {"table", "rule", "severity", "failing_rows"} <= set(summary["rules"][0])
    assert summary["duplicates"]["pairs"] == 1
    assert summary["duplicates"]["clusters"] == 1
    assert summary["duplicates"]["customers_merged"] == 1
    assert summary["reconciled"] is True
    json.dumps(summary)  # strict JSON-able


def test_examples_and_report_carry_no_names_or_raw_emails(messy_result):
    text = report.failure_examples(
        messy_result, severities=("error", "warning", "info")
    ).to_string()
    text += report.duplicate_clusters(messy_result).to_string()
    text += "\n".join(report.fix_at_source(messy_result))
    for secret in ("Ann", "Lee", "Chan", "ann.lee", "annlee", "bo chan"):
        assert secret not in text
    assert "b***@x.com" in text  # the invalid address, masked


def test_fix_at_source_lists_errors_first():
    result = audit_tables(_messy(), AS_OF)
    lines = report.fix_at_source(result)
    assert "error" in lines[0] and "Fix:" in lines[0]
    assert any("`before_signup`, warning" in line for line in lines)


def test_figures_build(messy_result):
    for build in (
        report.scorecard_figure,
        report.rules_figure,
        report.missingness_figure,
        report.amount_figure,
        report.duplicate_score_figure,
    ):
        assert build(messy_result).layout.title.text


# --------------------------------------------------------------------------- missing tables & errors


def test_only_orders_with_customer_ids_is_enough(tmp_path):
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c1", "c2"],
            "ordered_at": ["2024-01-01", "2024-02-01", "2030-01-01"],
            "amount": [10, 0, 5],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    result = audit_tables(load_tables(tmp_path), AS_OF)
    rules = result.rules().set_index(["table", "rule"])
    assert rules.loc[("orders", "before_signup"), "status"] == "skipped"
    assert rules.loc[("orders", "before_signup"), "note"] == "customers.signup_at is empty"
    assert rules.loc[("orders", "future_timestamp"), "failing_rows"] == 1
    assert result.merge_map.empty and result.duplicates.pairs.empty
    assert set(result.clean) == {"customers", "orders"}
    assert result.clean["orders"]["is_zero_amount"].tolist() == [False, True]


def test_missing_required_table_and_wrong_schema_are_actionable():
    with pytest.raises(AuditError, match="required table.*orders"):
        audit_tables({"customers": _customers()}, AS_OF)
    orders = _messy()["orders"].assign(amount=lambda f: f["amount"].astype("str"))
    with pytest.raises(AuditError, match="orders: .*amount"):
        audit_tables({"customers": _customers(), "orders": orders}, AS_OF)
    with pytest.raises(AuditError, match="column\\(s\\) status missing"):
        audit_tables(
            {"customers": _customers(), "orders": _messy()["orders"].drop(columns="status")}, AS_OF
        )


def test_config_rejects_bad_parameters():
    with pytest.raises(
        ValueError, match="duplicate_threshold: expected a number in \\(0, 1\\], got 2"
    ):
        AuditConfig(duplicate_threshold=2)
    with pytest.raises(ValueError, match="iqr_k"):
        AuditConfig(iqr_k=0)


def test_invalid_status_is_quarantined():
    data = _messy()
    data["orders"] = data["orders"].assign(status=["completed"] * 7 + ["pending"])
    result = audit_tables({k: data[k] for k in ("customers", "orders")}, AS_OF)
    q = result.quarantine["orders"]
    row = q[q["rule"].str.contains("invalid_value")]
    assert "status 'pending' is not one of completed, cancelled, returned" in row["reason"].iloc[0]


def test_inputs_are_not_modified():
    data = _messy()
    before = {k: v.copy() for k, v in data.items()}
    audit_tables(data, AS_OF)
    for name, frame in data.items():
        pd.testing.assert_frame_equal(frame, before[name])


# --------------------------------------------------------------------------- writing & CSV end to end


def _settings(tmp_path):
    return get_settings(root=tmp_path, data_dir=tmp_path / "data", reports_dir=tmp_path / "reports")


def test_csv_with_bom_semicolons_and_time_zones_end_to_end(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    text = (
        "Order_ID;customer_id;ordered_at;amount;status\n"
        "1001;C1;2024-01-05 10:00:00;10.50;completed\n"
        "1002;c1 ;2026-06-30T01:30:00+02:00;20;Canceled\n"  # 29 June 23:30 UTC: before as_of
        "1003;C2;2026-06-30 00:00:00;5;completed\n"  # naive UTC midnight: at as_of, set aside
        "1004;;2024-03-01T12:00:00Z;7;completed\n"  # no customer id
        "1001;C1;2024-01-05 10:00:00;10.50;completed\n"  # exact duplicate line
    )
    (source / "orders.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (source / "customers.csv").write_text(
        "customer_id;email;signup_at\nC1;a@b.com;2023-01-01\nC2;bad-address;2023-01-01T00:00:00+01:00\n",
        encoding="utf-8",
    )
    settings = _settings(tmp_path)
    result = run_audit(source, AS_OF, settings=settings, now=NOW)
    q = result.quarantine["orders"].set_index("order_id")
    assert "1003" not in q.index, "at as_of is not in the future: set aside"
    after = pd.read_parquet(settings.data_dir / "interim" / "after_as_of" / "orders.parquet")
    assert after["order_id"].tolist() == ["1003"]
    assert q.loc["1004", "rule"] == "missing_required"
    assert q.loc["1001", "rule"] == "duplicate_row"
    clean = pd.read_parquet(settings.clean_dir / "orders.parquet").set_index("order_id")
    assert clean.loc["1002", "customer_id"] == "C1"  # blank stripped by the loader, case here
    assert clean.loc["1002", "status"] == "cancelled" and not clean.loc["1002", "is_revenue"]
    assert clean.loc["1002", "ordered_at"] == pd.Timestamp("2026-06-29 23:30", tz="UTC")
    assert report.reconciliation(result)["reconciled"].all()
    customers = pd.read_parquet(settings.clean_dir / "customers.parquet").set_index("customer_id")
    assert customers["is_invalid_email"].to_dict() == {"C1": False, "C2": True}


def test_write_audit_writes_everything_and_stamps_last(tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    for name, frame in _messy().items():
        frame.to_parquet(source / f"{name}.parquet")
    settings = _settings(tmp_path)
    settings.ensure_dirs()
    stale = settings.clean_dir / "web_events.parquet"
    stale.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"x": [1]}).to_parquet(stale)
    result = audit_tables(load_tables(source), AS_OF)
    written = write_audit(result, settings, source)
    assert not stale.exists()  # a table this source does not have must not linger
    stamp = catalog.read_folder_stamp(settings.clean_dir)
    assert list(written)[-1] == "stamp" and stamp.source == catalog.fingerprint(source)
    assert str(stamp.as_of.date()) == AS_OF_TEXT and stamp.stage == "audit"
    merge = pd.read_parquet(settings.interim_dir / "merge_map.parquet")
    assert list(merge.columns) == ["duplicate_id", "surviving_id", "score", "cluster_id"]
    quarantined = pd.read_parquet(settings.quarantine_dir / "orders.parquet")
    assert list(quarantined.columns[-3:]) == ["rule", "severity", "reason"]
    assert (settings.quarantine_dir / "products.parquet").exists()  # written even when empty
    reread = load_tables(settings.clean_dir, derive=False)
    assert reread["orders"]["ordered_at"].dtype == TIMESTAMP_DTYPE
    assert len(reread["orders"]) == 5 and "is_outlier_amount" in reread["orders"]


def test_validate_command_exit_codes(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    _table(
        "orders",
        order_id=["o1"],
        customer_id=["C1"],
        ordered_at=["2024-01-01"],
        amount=[5.0],
        status=["completed"],
    ).to_parquet(good / "orders.parquet")
    for name in ("customers", "orders"):
        _messy()[name].to_parquet(bad / f"{name}.parquet")
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", "--data", str(good), "--as-of", AS_OF_TEXT])
    assert ok.exit_code == 0, ok.output
    assert "no error-level problems found" in ok.output
    failing = runner.invoke(cli, ["validate", "--data", str(bad), "--as-of", AS_OF_TEXT])
    assert failing.exit_code == 1
    assert "unknown_customer" in failing.output and "missing_required" in failing.output
    missing = runner.invoke(cli, ["validate", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    table = validate_tables(load_tables(bad), AS_OF, now=NOW)
    assert set(table["rule"]) == {
        "missing_required",
        "unknown_customer",
        "future_timestamp",
        "duplicate_row",
    }


# --------------------------------------------------------------------------- issue 15: money, numbers, time

LINES_CSV = (
    "Invoice,StockCode,Quantity,Price,Customer ID,InvoiceDate\n"
    "489434,85048,12,6.95,13085,2025-12-01 07:45\n"
    "489434,79323P,12,6.75,13085,2025-12-01 07:45\n"
    "489434,79323W,12,6.75,13085,2025-12-01 07:45\n"
    "489434,79323W,12,6.75,13085,2025-12-01 07:45\n"  # an exact duplicate line
    "489435,22350,0,2.55,13085,2025-12-01 07:46\n"  # the order's only line has quantity 0
    "489436,22349,4,3.75,13086,2025-12-02 09:00\n"
    "489437,21232,6,1.25,13086,2026-07-01 10:00\n"  # after as_of: set aside with its order
)
LINES_MAPPING = (
    "tables:\n"
    "  order_items:\n"
    "    file: lines.csv\n"
    "    columns: {order_id: Invoice, product_id: StockCode, quantity: Quantity,\n"
    "              unit_price: Price, customer_id: Customer ID, ordered_at: InvoiceDate}\n"
)


def _line_export(tmp_path):
    source = tmp_path / "retail"
    source.mkdir()
    (source / "lines.csv").write_text(LINES_CSV)
    (source / "mapping.yml").write_text(LINES_MAPPING)
    return source


def test_clean_amounts_of_a_line_level_export_come_from_clean_lines(tmp_path):
    source = _line_export(tmp_path)
    settings = _settings(tmp_path)
    result = run_audit(source, AS_OF, settings=settings, now=NOW)
    clean = pd.read_parquet(settings.clean_dir / "orders.parquet").set_index("order_id")
    lines = pd.read_parquet(settings.clean_dir / "order_items.parquet")
    value = lines["quantity"] * lines["unit_price"]
    by_order = value.groupby(lines["order_id"]).sum().round(2)
    # 83.4 + 81 + 81 + 81 = 326.4 with every line; the duplicate 81 is quarantined
    assert clean.loc["489434", "amount"] == pytest.approx(245.4)
    assert by_order["489434"] == pytest.approx(245.4)
    assert (clean["amount"] == by_order.reindex(clean.index)).all(), "clean = Σ clean lines"
    assert _failing(result, "orders", "amount_mismatch") == 0
    q = result.quarantine["orders"].set_index("order_id")
    assert q.loc["489435", "rule"] == "lines_quarantined"
    repairs = {r.action: r.rows for r in result.repairs if r.column == "amount"}
    assert repairs == {"recomputed from the order's clean lines (a line was quarantined)": 1}
    revenue = result.summary()["revenue"]
    assert revenue["raw"] == pytest.approx(326.4 + 15.0 + 7.5)  # + 489436 and 489437
    assert revenue["clean"] == pytest.approx(245.4 + 15.0)
    assert revenue["quarantined_lines"] == pytest.approx(81.0)
    assert revenue["quarantined_orders"] == 0  # 489435 has amount 0: no revenue
    assert revenue["after_as_of"] == pytest.approx(7.5)
    assert revenue["reconciled"] is True
    after = pd.read_parquet(settings.data_dir / "interim" / "after_as_of" / "order_items.parquet")
    assert after["order_id"].tolist() == ["489437"], "a set-aside order's lines go with it"
    parts = report.revenue_reconciliation(result).set_index("part")["revenue"]
    assert parts["orders as loaded"] == pytest.approx(parts.drop("orders as loaded").sum())


def test_given_order_amounts_are_kept_and_compared_with_clean_lines():
    data = _messy()
    data["order_items"] = data["order_items"].assign(
        order_id=["o1", "o1", "o2", "o5", "o6", "o9", "o7", "o4"],
        quantity=[1.0, 1.0, 2.0, -1.0, 1.0, 1.0, 0.0, 2.0],
        unit_price=[10.0, 10.0, 10.0, 15.0, 1.0, 1.0, 3.0, 6.0],
    )
    result = audit_tables(data, AS_OF, now=NOW)
    clean = result.clean["orders"].set_index("order_id")
    assert clean.loc["o1", "amount"] == 10.0, "an orders table's own amount is kept"
    mismatch = {
        f.reason_array()[i].split(" but")[0]: f.reason_array()[i]
        for f in result.findings
        if f.rule == "amount_mismatch"
        for i in range(len(f.rows))
    }
    # o1: the exact duplicate line is quarantined, so its clean line (10) matches amount 10
    assert "amount 10" not in mismatch
    # o2: amount 20 and one clean line 2 x 10; o4: 12 against 2 x 6 -> both match
    assert _failing(result, "orders", "amount_mismatch") == 0
    assert not any(r.column == "amount" and "recomputed" in r.action for r in result.repairs)


def test_non_finite_numbers_are_quarantined_and_never_clean(tmp_path):
    orders = (
        "order_id,customer_id,ordered_at,amount\n"
        "o1,c1,2024-01-01,inf\n"
        "o2,c1,2024-01-02,-Infinity\n"
        "o3,c1,2024-01-03,NaN\n"
        "o4,c1,2024-01-04,12.5\n"
    )
    (tmp_path / "orders.csv").write_text(orders)
    (tmp_path / "order_items.csv").write_text(
        "order_id,product_id,quantity,unit_price\no4,p1,inf,2.5\no4,p2,1,12.5\n"
    )
    data = load_tables(tmp_path)
    result = audit_tables(data, AS_OF, now=NOW)
    q = result.quarantine["orders"].set_index("order_id")
    assert q.loc["o1", "rule"] == "non_finite" and q.loc["o1", "reason"] == (
        "amount inf is not a finite number"
    )
    assert q.loc["o2", "reason"] == "amount -inf is not a finite number"
    assert q.loc["o3", "rule"] == "missing_required"  # NaN is a blank
    lines = result.quarantine["order_items"]
    assert lines["rule"].tolist() == ["non_finite"]
    for table, frame in result.clean.items():
        numbers = frame.select_dtypes("number")
        assert np.isfinite(numbers.to_numpy(dtype=float)).all(), table
    problems = validate_tables(data, AS_OF, now=NOW).set_index(["table", "rule", "column"])
    assert problems.loc[("orders", "non_finite", "amount"), "failing_rows"] == 2
    assert problems.loc[("order_items", "non_finite", "quantity"), "failing_rows"] == 1


def test_rows_after_as_of_are_set_aside_not_quarantined():
    data = _messy()
    as_of = parse_as_of("2024-06-01")  # o2, o4 and o5 are later
    result = audit_tables(data, as_of, now=NOW)
    summary = result.summary()
    orders = summary["tables"]["orders"]
    assert orders["rows_after_as_of"] == 3
    assert orders["rows_in"] == orders["rows_clean"] + orders["rows_quarantined"] + 3
    assert set(result.after_as_of["orders"]["order_id"]) == {"o2", "o4", "o5"}
    q = result.quarantine["orders"]
    future = q.loc[q["rule"].str.contains("future_timestamp"), "order_id"]
    assert set(future) == {"o6"}, "only the order after the run date is in the future"
    assert set(result.after_as_of["order_items"]["order_id"]) == {"o2", "o4", "o5"}
    assert set(result.after_as_of["experiment_assignments"]["customer_id"]) == {"C1", "C2"}
    rules = result.rules().set_index(["table", "rule"])
    assert rules.loc[("orders", "after_as_of"), "severity"] == "info"
    assert rules.loc[("orders", "after_as_of"), "failing_rows"] == 3
    card = result.scorecard().set_index("table")
    # 5 audited orders: o3, o6 and the copy of o1 quarantined, o7 flagged, o1 passes
    assert card.loc["orders", "quality_score"] == 20.0


def test_future_means_after_the_extract_date_or_the_run_date():
    from workbench.audit.timeline import data_end, day_counts, future_limit, source_end

    days = pd.date_range("2026-01-01", "2026-06-29", freq="D", tz="UTC")
    times = pd.Series(days.repeat(10))
    late = pd.Series(pd.to_datetime(["2026-08-15", "2027-03-01"], utc=True))
    counts = day_counts(pd.concat([times, late], ignore_index=True))
    assert data_end(counts) == pd.Timestamp("2026-06-29", tz="UTC")
    now = pd.Timestamp("2026-12-03 09:00", tz="UTC")
    end = source_end([counts])
    assert future_limit(end, now=now) == pd.Timestamp("2026-06-30", tz="UTC")
    # no gap of 28 days: the data's own last day; the run date caps it
    assert data_end(day_counts(times)) == pd.Timestamp("2026-06-29", tz="UTC")
    early = pd.Timestamp("2026-03-01", tz="UTC")
    assert future_limit(end, now=early) == early
    extracted = pd.Timestamp("2026-09-01", tz="UTC")
    assert future_limit(end, now=now, extracted_at=extracted) == pd.Timestamp(
        "2026-09-02", tz="UTC"
    )
    # a tail of more than 1 % of the rows after the gap is data, not clock errors
    busy = pd.concat([times, pd.Series([pd.Timestamp("2026-09-01", tz="UTC")] * 100)])
    assert data_end(day_counts(busy)) == pd.Timestamp("2026-09-01", tz="UTC")
    # a sparse table's new activity stays valid while another table goes on
    sparse = day_counts(pd.concat([times.iloc[:900], late.iloc[:1]], ignore_index=True))
    assert data_end(sparse) < pd.Timestamp("2026-08-15", tz="UTC")
    assert source_end([sparse, day_counts(busy)]) == pd.Timestamp("2026-09-01", tz="UTC")
    with pytest.raises(ValueError, match="extracted_at: expected a date such as 2026-06-30"):
        AuditConfig(extracted_at="yesterday")


def test_demo_with_a_past_as_of_keeps_its_quality_score(small_demo_dir):
    """A backtest: rows between a past as_of and the data's end are set aside, so the
    quality score and the quarantine are those of the audited rows only."""
    data = load_tables(small_demo_dir)
    faults = pd.read_parquet(small_demo_dir / "_truth" / "faults.parquet")
    past = parse_as_of("2026-03-31")
    result = audit_tables(data, past, now=NOW)
    end = audit_tables(data, AS_OF, now=NOW)
    for table in ("orders", "email_events", "web_events"):
        planted = int(((faults["table"] == table) & (faults["fault"] == "future_timestamp")).sum())
        assert _failing(result, table, "future_timestamp") == planted, table
        column = "ordered_at" if table == "orders" else "occurred_at"
        later = data[table][column]
        expected = int(((later >= past) & (later < AS_OF)).sum())
        assert result.summary()["tables"][table]["rows_after_as_of"] == expected, table
        assert (result.after_as_of[table][column] >= past).all()
        quarantined = result.quarantine[table][column]
        assert not ((quarantined >= past) & (quarantined < AS_OF)).any(), table
    past_card = result.scorecard().set_index("table")["quality_score"]
    end_card = end.scorecard().set_index("table")["quality_score"]
    assert (abs(past_card - end_card) < 1.0).all(), (past_card, end_card)
    assert result.summary()["reconciled"] and result.summary()["revenue"]["reconciled"]


# --------------------------------------------------------------------------- the stage's parameters and entry point


def test_audit_params_validate_and_build_the_config():
    params = AuditParams(iqr_k=2.0, engine="spark", spark_master="local[1]")
    assert params.config == AuditConfig(iqr_k=2.0), "thresholds pass through, the rest is default"
    assert params.on_engine and not AuditParams().on_engine
    assert params.as_dict()["engine"] == "spark"
    assert set(params.as_dict()) == {f.name for f in fields(AuditParams)}
    notebook = {"as_of": AS_OF_TEXT, "data_dir": "", "engine": "spark", "robust_z": 4.0}
    assert build_params(AuditParams, notebook) == AuditParams(engine="spark", robust_z=4.0)
    with pytest.raises(
        ValueError, match="AuditParams: engine must be one of duckdb, spark, pandas, got 'polars'"
    ):
        AuditParams(engine="polars")
    with pytest.raises(
        ValueError,
        match=r"AuditParams: duplicate_threshold: expected a number in \(0, 1\], got 1.5",
    ):
        AuditParams(duplicate_threshold=1.5)
    with pytest.raises(ValueError, match="max_customers_in_memory must be a positive int, got 0"):
        AuditParams(max_customers_in_memory=0)


_SAME = ["table", "rule", "severity", "column", "status", "failing_rows"]


def test_stage_entry_runs_every_rule_on_duckdb_by_default(tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    for name, frame in _messy().items():
        frame.to_parquet(source / f"{name}.parquet")
    settings = _settings(tmp_path)
    params = AuditParams(duplicate_threshold=0.9, engine_output=str(tmp_path / "engine"))
    stamp = catalog.Stamp("audit", AS_OF, catalog.fingerprint(source), run_id="run-1")
    result = audit.run(source, AS_OF, params, settings=settings, stamp=stamp, now=NOW)
    assert result.config.duplicate_threshold == 0.9
    assert params.output_folder(settings) == str(settings.interim_dir)
    assert result.written["clean/orders"] == str(settings.clean_dir / "orders.parquet")
    for entry in ("clean", "quarantine", "after_as_of"):
        folder = catalog.location(settings, entry)
        assert catalog.read_folder_stamp(folder).run_id == "run-1", f"the stage's stamp: {entry}"
    assert catalog.stamp_of_file(catalog.location(settings, "merge_map")).run_id == "run-1"
    assert not (tmp_path / "engine").exists(), "engine_output is for Spark only"
    assert not (settings.interim_dir / ".audit-work").exists(), "the scratch database is gone"
    notes = result.rules()["note"].fillna("")
    assert not notes.str.contains("not run on the engine").any(), "every rule ran"
    whole = audit_tables(load_tables(source), AS_OF, params.config, now=NOW)
    pd.testing.assert_frame_equal(result.rules()[_SAME], whole.rules()[_SAME])
    pd.testing.assert_frame_equal(result.scorecard(), whole.scorecard())
    assert result.summary()["revenue"] == whole.summary()["revenue"]
    for table in whole.tables:
        clean = pd.read_parquet(settings.clean_dir / f"{table}.parquet")
        assert len(clean) == len(whole.clean[table]), table
        assert set(clean.columns) == set(whole.clean[table].columns), table
    in_memory = audit.run(source, AS_OF, AuditParams(engine="pandas"), settings=settings,
                          stamp=stamp, now=NOW)  # fmt: skip
    pd.testing.assert_frame_equal(in_memory.rules()[_SAME], whole.rules()[_SAME])


# --------------------------------------------------------------------------- demo ground truth

# planted fault -> (table, rule) that must catch exactly the planted rows
_FAULT_RULES = {
    ("customers", "invalid_email"): "invalid_email",
    ("orders", "orphan_order"): "unknown_customer",
    ("orders", "future_timestamp"): "future_timestamp",
    ("email_events", "future_timestamp"): "future_timestamp",
    ("web_events", "future_timestamp"): "future_timestamp",
    ("order_items", "negative_quantity"): "negative_quantity",
    ("orders", "duplicate_row"): "duplicate_row",
    ("web_events", "duplicate_row"): "duplicate_row",
    ("orders", "before_signup"): "before_signup",
}
_KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "order_items": "line_id",
    "email_events": "event_id",
    "web_events": "event_id",
}


@pytest.fixture(scope="module")
def demo_audit(demo_dir):
    data = load_tables(demo_dir)
    return audit_tables(data, AS_OF), data


def _flagged_keys(result, data, table: str, rule: str) -> set[str]:
    rows = [f.rows for f in result.findings if f.table == table and f.rule == rule]
    positions = np.concatenate(rows) if rows else np.empty(0, dtype=int)
    return set(data[table][_KEYS[table]].iloc[positions])


@pytest.mark.slow
def test_demo_every_planted_fault_is_caught_by_its_rule(demo_audit, demo_dir):
    result, data = demo_audit
    faults = pd.read_parquet(demo_dir / "_truth" / "faults.parquet")
    for (table, fault), rule in _FAULT_RULES.items():
        planted = set(faults.loc[(faults["table"] == table) & (faults["fault"] == fault), "key"])
        found = _flagged_keys(result, data, table, rule)
        assert planted, f"no planted {fault} in {table}"
        assert found == planted, (
            f"{table}.{rule}: expected exactly the {len(planted)} planted {fault} rows, "
            f"missed {len(planted - found)}, extra {len(found - planted)}"
        )
    missing = faults[faults["fault"] == "missing_value"].groupby(["table", "column"]).size()
    rules = result.rules()
    blanks = rules[rules["rule"] == "missing_value"].set_index(["table", "column"])["failing_rows"]
    for (table, column), expected in missing.items():
        assert blanks.get((table, column)) == expected, (
            f"missing {table}.{column}: expected {expected}"
        )


@pytest.mark.slow
def test_demo_outliers_flagged_not_removed(demo_audit, demo_dir):
    result, data = demo_audit
    faults = pd.read_parquet(demo_dir / "_truth" / "faults.parquet")
    planted = set(faults.loc[faults["fault"] == "outlier_amount", "key"])
    robust = _flagged_keys(result, data, "orders", "amount_outlier_robust_z")
    iqr = _flagged_keys(result, data, "orders", "amount_outlier_iqr")
    assert planted <= robust, f"robust z missed {len(planted - robust)} of {len(planted)} outliers"
    assert len(robust) <= 1.5 * len(planted), (
        f"robust z flags {len(robust)} for {len(planted)} planted"
    )
    assert len(iqr & planted) / len(iqr) >= 0.95, "IQR flags should be nearly all planted outliers"
    assert planted <= _flagged_keys(result, data, "orders", "amount_mismatch")
    clean = result.clean["orders"]
    assert set(clean.loc[clean["is_outlier_amount"], "order_id"]) >= planted  # kept, flagged


@pytest.mark.slow
def test_demo_duplicate_precision_and_recall(demo_audit, demo_dir):
    result, _ = demo_audit
    truth = pd.read_parquet(demo_dir / "_truth" / "duplicates.parquet")
    metrics = duplicate_metrics(result.merge_map, truth)
    assert metrics["precision"] >= 0.95, f"precision {metrics['precision']:.3f} < 0.95"
    assert metrics["recall"] >= 0.90, f"recall {metrics['recall']:.3f} < 0.90"
    # the planted originals signed up first, so they survive
    found = result.merge_map.merge(truth, on="duplicate_id")
    assert (found["surviving_id"] == found["original_id"]).mean() >= 0.99
    assert result.duplicates.skipped_blocks == 0
    # blocking: candidate pairs grow with customers, not with their square
    customers = len(result.clean["customers"]) + len(result.merge_map)
    assert len(result.duplicates.pairs) < customers, "candidate pairs should grow linearly"


@pytest.mark.slow
def test_demo_reconciles_and_clean_tables_are_consistent(demo_audit):
    result, data = demo_audit
    rows = report.reconciliation(result)
    assert rows["reconciled"].all(), rows
    clean = result.clean
    customers = set(clean["customers"]["customer_id"])
    merged = set(result.merge_map["duplicate_id"])
    assert not customers & merged
    for table in ("orders", "email_events", "experiment_assignments"):
        assert set(clean[table]["customer_id"].dropna()) <= customers, table
    assert set(clean["order_items"]["order_id"]) <= set(clean["orders"]["order_id"])
    as_of = AS_OF
    for table, column in (
        ("orders", "ordered_at"),
        ("email_events", "occurred_at"),
        ("web_events", "occurred_at"),
    ):
        assert (clean[table][column] < as_of).all(), f"{table} keeps rows at or after as_of"
    for table, frame in clean.items():
        canonical = list(data[table].columns)
        assert list(frame.columns[: len(canonical)]) == canonical
        assert (frame[canonical].dtypes == data[table].dtypes).all(), table


@pytest.mark.notebooks
@pytest.mark.slow
def test_audit_notebook_runs_on_the_small_demo(run_stages, small_demo_dir, isolated_settings):
    result = run_stages(small_demo_dir, ["audit"])
    stage = result.stages[0]
    assert stage.status == "ok", stage.error
    summary = stage.summary
    assert {"tables", "rules", "duplicates", "quality_score", "reconciled"} <= set(summary)
    assert summary["reconciled"] is True
    for table, counts in summary["tables"].items():
        assert counts["rows_in"] == counts["rows_clean"] + counts["rows_quarantined"], table
    assert summary["duplicates"]["truth"]["precision"] >= 0.95
    assert summary["duplicates"]["customers_merged"] > 0
    stamp = catalog.read_folder_stamp(isolated_settings.clean_dir)
    assert stamp.source == catalog.fingerprint(small_demo_dir)
    assert (isolated_settings.quarantine_dir / "orders.parquet").exists()


def test_streamed_run_matches_the_in_memory_audit(small_demo_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("workbench.audit.outputs._CHUNK_ROWS", 7_000)  # several pieces per table
    streamed_settings = _settings(tmp_path / "streamed")
    streamed = run_audit(small_demo_dir, AS_OF, settings=streamed_settings)
    assert not streamed.clean  # written, not kept
    whole = audit_tables(load_tables(small_demo_dir), AS_OF)
    memory_settings = _settings(tmp_path / "memory")
    write_audit(whole, memory_settings, small_demo_dir)
    pd.testing.assert_frame_equal(streamed.scorecard(), whole.scorecard())
    pd.testing.assert_frame_equal(streamed.rules(), whole.rules())
    for table in whole.tables:
        for folder in ("clean_dir", "quarantine_dir"):
            a = pd.read_parquet(getattr(streamed_settings, folder) / f"{table}.parquet")
            b = pd.read_parquet(getattr(memory_settings, folder) / f"{table}.parquet")
            pd.testing.assert_frame_equal(a, b, obj=f"{folder}/{table}")
    stamp = catalog.read_folder_stamp(streamed_settings.clean_dir)
    assert stamp.source == catalog.fingerprint(small_demo_dir)
    assert set(streamed.sources) == set(whole.tables)
