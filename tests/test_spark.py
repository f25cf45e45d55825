"""The Spark engine: engine settings, the audit's scans and the feature build on both engines.

Every test here carries the ``spark`` marker (``make test-fast`` leaves them out). The
unit tests need neither Java nor a session; the cross-engine tests share one local
Spark session (``local[2]``, 1 GB driver, 4 shuffle partitions, no UI) for the module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workbench import catalog, engines
from workbench.audit import AuditConfig, AuditParams, audit_on_engine, audit_tables
from workbench.audit import run as run_audit_stage
from workbench.audit import scans as S
from workbench.canonical import open_tables
from workbench.features import build_features
from workbench.loading import LoadError, load_tables
from workbench.schema import parse_as_of, table_spec

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning:pyspark.*"),
]

AS_OF_TEXT = "2026-06-30"
AS_OF = parse_as_of(AS_OF_TEXT)
#: The messy data's extract date: exported on as_of's day, so its future limit is the day
#: after as_of and none of its rows falls between the two (none set aside): O7 (July 1st)
#: is in the future, as the scans count it (every row at or after as_of).
MESSY_EXTRACTED_AT = AS_OF_TEXT
SPARK_TEST_CONF = {
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module, stopped at its end."""
    with engines.engine_session("spark", master="local[2]", conf=SPARK_TEST_CONF) as con:
        yield con


@pytest.fixture
def messy(tmp_path) -> Path:
    """Canonical Parquet with the faults the scans count, hand-made (expected counts in
    the tests below)."""
    folder = tmp_path / "messy"
    folder.mkdir()
    tables = {
        "customers": pd.DataFrame(
            {
                # C3 twice (exact copy), C4 twice with different e-mails (conflict)
                "customer_id": ["C1", "C2", "C3", "C3", "C4", "C4", "C5"],
                "email": ["a@x.com", "b@x.com", "c@x.com", "c@x.com", "d@x.com", "e@x.com", None],
                "signup_at": [ts("2026-01-01")] * 6 + [ts("2026-02-01")],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": ["O1", "O2", "O2", "O3", "O3", "O4", None, "O6", "O7", "O8"],
                # c2 matches C2 ignoring case (repaired); C9, C9x unknown; "nan" is blank
                "customer_id": ["C1", "c2", "c2", "C9", "C9x", "C1", "C1", "nan", "C2 ", "C1"],
                "ordered_at": [ts("2026-03-01")] * 8 + [ts("2026-07-01"), ts("2026-06-29 23:00")],
                "amount": [10.0, 20, 20, 5, 5, 7, 8, 9, 1, 2],
                # synonyms: Completed, canceled, refund; "weird" is invalid
                "status": [
                    "Completed",
                    "canceled",
                    "canceled",
                    "completed",
                    "completed",
                    "refund",
                    "completed",
                    "completed",
                    "completed",
                    "weird",
                ],
            }
        ),  # fmt: skip
        "order_items": pd.DataFrame(
            {
                "order_id": ["O1", "O1", "O1", "O99"],
                "product_id": ["P1", "P1", "p1", "P2"],
                "quantity": [1.0, 1, 1, 2],
                "unit_price": [3.0, 3, 3, 4],
            }
        ),
        "products": pd.DataFrame({"product_id": ["P1", "P2"]}),
        "web_events": pd.DataFrame(
            {
                "session_id": ["s1", "s1", "s2"],
                "event_type": ["pageview", "pageview", "view_item"],
                "occurred_at": [ts("2026-05-01")] * 3,
                "customer_id": [None, None, "C77"],
            }
        ),
    }
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def assert_same_columns(left: pd.DataFrame, right: pd.DataFrame, *, what: str) -> None:
    """Same columns in the same order and dtype; values equal exactly, floats within 1e-9
    (relative) — summation order may differ between engines."""
    assert list(left.columns) == list(right.columns), f"{what}: columns differ"
    assert len(left) == len(right), f"{what}: {len(left)} vs {len(right)} rows"
    for col in left.columns:
        a, b = left[col], right[col]
        assert str(a.dtype) == str(b.dtype), f"{what}.{col}: dtype {a.dtype} vs {b.dtype}"
        if pd.api.types.is_float_dtype(a):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{what}.{col}: blanks differ"
            assert np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True), (
                f"{what}.{col}: largest difference {np.nanmax(np.abs(x - y))}"
            )
        else:
            pd.testing.assert_series_equal(a, b, check_names=False, obj=f"{what}.{col}")


# --------------------------------------------------------------------------- settings


def test_spark_conf_precedence(tmp_path):
    conf_file = tmp_path / "spark-defaults.conf"
    conf_file.write_text(
        "# cluster settings\nspark.executor.memory 8g\nspark.sql.shuffle.partitions=64\n"
    )
    local = engines.spark_conf(environ={})
    assert local["spark.master"] == "local[2]"
    assert local["spark.driver.memory"] == "2g" and local["spark.ui.enabled"] == "false"
    assert local["spark.sql.session.timeZone"] == "UTC"
    env = {
        engines.ENV_MASTER: "spark://head:7077",
        engines.ENV_CONF: str(conf_file),
        engines.ENV_PACKAGES: "org.apache.hadoop:hadoop-aws:3.4.1, x:y:1",
    }
    cluster = engines.spark_conf(environ=env)
    assert cluster["spark.master"] == "spark://head:7077"
    assert "spark.driver.memory" not in cluster, "no local defaults on a cluster"
    assert cluster["spark.executor.memory"] == "8g"
    assert cluster["spark.sql.shuffle.partitions"] == "64"
    assert cluster["spark.jars.packages"] == "org.apache.hadoop:hadoop-aws:3.4.1,x:y:1"
    given = engines.spark_conf(
        "local[1]", {"spark.sql.shuffle.partitions": "4"}, ["a:b:1"], environ=env
    )
    assert given["spark.master"] == "local[1]"  # the argument beats the environment
    assert given["spark.sql.shuffle.partitions"] == "4"
    assert given["spark.jars.packages"] == "a:b:1"
    assert given["spark.driver.memory"] == "2g"  # local master: local defaults again
    inline = {engines.ENV_CONF: "spark.master=yarn; spark.driver.memory=6g"}
    assert engines.spark_conf(environ=inline)["spark.master"] == "yarn"
    assert engines.spark_conf(environ=inline)["spark.driver.memory"] == "6g"


def test_spark_conf_errors_name_the_setting():
    with pytest.raises(engines.EngineError, match="'driver.memory' is not a Spark setting"):
        engines.read_spark_conf("driver.memory=4g")
    with pytest.raises(engines.EngineError, match="'spark.ui.enabled' is not a Spark setting"):
        engines.read_spark_conf("spark.ui.enabled")
    with pytest.raises(engines.EngineError, match="expected one of duckdb, spark, got 'polars'"):
        engines.connect("polars")


def test_missing_pyspark_or_java_says_what_to_install(monkeypatch, tmp_path):
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "pyspark.sql", None)
        with pytest.raises(engines.EngineError, match=re.escape("pip install '.[spark]'")):
            engines.connect("spark")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(engines.EngineError, match=r"Java is needed .* has no bin/java"):
        engines.connect("spark")
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(engines.EngineError, match="no `java` on PATH"):
        engines.connect("spark")


def test_tables_in_and_out_on_duckdb(messy, tmp_path):
    con = engines.connect("duckdb")
    found = engines.read_parquet_tables(messy, con, ["orders", "products", "email_events"])
    assert sorted(found) == ["orders", "products"], "absent tables are left out"
    assert engines.engine_of(con) == "duckdb"
    with pytest.raises(engines.EngineError, match="no such folder"):
        engines.read_parquet_tables(tmp_path / "nowhere", con)
    frame = pd.DataFrame({"a": [1, 2]})
    target = engines.write_parquet(frame, tmp_path / "out" / "a.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        engines.write_parquet(frame, target, overwrite=False)
    assert engines.is_uri("s3a://lake/raw") and not engines.is_uri(str(tmp_path))
    engines.close(con)


def test_open_inputs_from_engine_tables_checks_them(messy):
    con = engines.connect("duckdb")
    with pytest.raises(ValueError, match="is a URI; pass the engine"):
        open_tables(f"file://{messy}")
    inputs = open_tables(f"file://{messy}", con=con)
    assert inputs.kind == "engine" and inputs.source == f"file://{messy}"
    assert sorted(inputs.tables) == ["customers", "order_items", "orders", "products",
                                     "web_events"]  # fmt: skip
    orders = con.read_parquet(str(messy / "orders.parquet"))
    with pytest.raises(LoadError, match="orders table"):
        open_tables({"products": con.read_parquet(str(messy / "products.parquet"))})
    text_time = orders.mutate(ordered_at=orders.ordered_at.cast("string"))
    with pytest.raises(LoadError, match=r"orders\.ordered_at must be timestamp"):
        open_tables({"orders": text_time})


def test_cli_engine_reaches_the_stages_that_declare_it(isolated_settings):
    from workbench.cli import _engine_overrides, cli

    stages = ["overview", "audit", "features", "segmentation"]
    overrides = _engine_overrides(isolated_settings, stages, "spark")
    assert overrides == ["audit.engine=spark", "features.engine=spark"]
    result = CliRunner().invoke(
        cli,
        ["run", "--data", ".", "--as-of", AS_OF_TEXT, "--stages", "overview", "--engine", "spark"],
    )
    assert result.exit_code == 2, result.output
    assert "none of the selected stages (overview) has an `engine` parameter" in result.output


# --------------------------------------------------------------------------- scans


def test_scans_count_what_was_planted(messy):
    scans = S.run_scans(messy, AS_OF)
    rules = scans.rules().set_index(["table", "rule", "column"], drop=False)
    failing = rules["failing_rows"]
    expected = {
        ("customers", "duplicate_row", None): 1,  # C3 copied
        ("customers", "duplicate_key", None): 1,  # C4 in two versions
        ("orders", "duplicate_row", None): 1,  # O2 copied
        ("orders", "duplicate_key", None): 1,  # O3 in two versions
        ("orders", "missing_required", "order_id"): 1,
        ("orders", "missing_required", "customer_id"): 1,  # "nan" is blank
        ("orders", "invalid_value", "status"): 1,  # weird; canceled/refund/Completed are synonyms
        ("orders", "unknown_customer", "customer_id"): 2,  # C9, C9x
        ("orders", "id_case_mismatch", "customer_id"): 2,  # c2 twice
        ("orders", "future_timestamp", "ordered_at"): 1,
        ("order_items", "duplicate_row", None): 1,  # no line ids: full rows compared
        ("order_items", "unknown_order", "order_id"): 1,  # O99
        ("order_items", "id_case_mismatch", "product_id"): 1,  # p1
        ("web_events", "duplicate_row", None): 1,
        ("web_events", "unknown_customer", "customer_id"): 1,  # C77
        ("web_events", "missing_value", "customer_id"): 2,
    }
    for (table, rule, column), n in expected.items():
        key = (table, rule, column if column else np.nan)
        row = rules[(rules["table"] == table) & (rules["rule"] == rule)]
        row = row[row["column"].isna()] if column is None else row[row["column"] == column]
        assert len(row) == 1 and int(row["failing_rows"].iloc[0]) == n, (key, row)
    assert int(failing.sum()) > sum(expected.values())  # plus blank optional columns
    assert scans.unknown_ids.query("table == 'orders'")["value"].tolist() == ["C9", "C9x"]
    keys = scans.duplicate_keys.set_index("table")
    assert keys.loc["orders", "key"] == "order_id O3" and keys.loc["orders", "versions"] == 2
    fresh = scans.freshness.set_index("table")
    assert fresh.loc["customers", "age_days"] == pytest.approx(149.0)
    assert bool(fresh.loc["customers", "stale"]) is True
    assert scans.repairs.set_index(["table", "column"]).loc[("orders", "status"), "rows"] == 4
    assert "stale_table" in set(rules.query("status == 'skipped'")["rule"])  # no time column


def test_scans_agree_with_the_pandas_audit(messy):
    scans = S.run_scans(messy, AS_OF).rules()
    config = AuditConfig(extracted_at=MESSY_EXTRACTED_AT)
    audit = audit_tables(load_tables(messy), AS_OF, config, build_clean=False).rules()
    both = scans.merge(audit, on=["table", "rule", "column"], suffixes=("_scan", "_audit"))
    both = both[both["rule"].isin(S.SCAN_RULES)]
    assert len(both) >= 40, "most scan rules are also findings of the pandas audit"
    differ = both[(both["failing_rows_scan"] != both["failing_rows_audit"])
                  | (both["status_scan"] != both["status_audit"])]  # fmt: skip
    assert differ.empty, differ


def test_audit_on_engine_quarantines_merges_and_reconciles(messy, tmp_path):
    out = tmp_path / "engine"
    config = AuditConfig(extracted_at=MESSY_EXTRACTED_AT)
    result = audit_on_engine(messy, AS_OF, config=config, output=out)
    rows = result.rows.set_index("table")
    assert (rows["rows_in"] == rows["rows_clean"] + rows["rows_quarantined"]).all()
    assert rows.loc["orders", "rows_quarantined"] == 7, rows  # O2, O3, blank id x2, C9, O7, O8
    quarantine = pd.read_parquet(out / "quarantine" / "orders.parquet")
    assert len(quarantine) == 7 and set(quarantine["severity"]) == {"error"}
    assert "duplicate_key; unknown_customer" in set(quarantine["rule"])  # both rules, one row
    clean = pd.read_parquet(out / "clean" / "orders.parquet")
    assert set(clean["customer_id"]) == {"C1", "C2"}, "c2 repaired to C2"
    assert clean.set_index("order_id").loc["O4", "status"] == "returned", "refund is returned"
    assert {"is_outlier_amount", "is_revenue"} <= set(clean.columns)
    items = pd.read_parquet(out / "quarantine" / "order_items.parquet")
    assert sorted(items["rule"]) == ["duplicate_row", "unknown_order"]
    ran = result.rules().query("status != 'skipped'")
    assert {"invalid_email", "before_signup"} <= set(ran["rule"]), "the engine runs every rule"
    assert not result.rules()["note"].fillna("").str.contains("not run on the engine").any()
    assert (out / "clean" / catalog.FOLDER_STAMP).exists(), (
        "the clean tables carry the source stamp"
    )
    limited = audit_on_engine(messy, AS_OF, max_customers_in_memory=1)
    assert limited.duplicates is None
    note = limited.rules().query("rule == 'duplicate_customer'")["note"].iloc[0]
    assert "exceed max_customers_in_memory (1)" in note


def test_stage_entry_runs_on_the_engine_it_is_given(messy, tmp_path, isolated_settings):
    """``audit.run`` with an engine other than DuckDB runs the audit on the connection
    given (here DuckDB, so no Java is needed), writes where the parameters say and leaves
    the caller's connection open."""
    out = tmp_path / "engine"
    params = AuditParams(engine="spark", engine_output=str(out), max_customers_in_memory=1,
                         extracted_at=MESSY_EXTRACTED_AT)  # fmt: skip
    stamp = catalog.Stamp("audit", AS_OF, catalog.fingerprint(messy), run_id="run-2")
    con = engines.connect("duckdb")
    result = run_audit_stage(messy, AS_OF, params, settings=isolated_settings, stamp=stamp,
                             con=con)  # fmt: skip
    assert params.output_folder(isolated_settings) == str(out)
    assert result.written["clean/orders"] == f"{out}/clean/orders.parquet"
    rows = result.rows.set_index("table")
    assert rows.loc["orders", "rows_quarantined"] == 7
    assert catalog.read_folder_stamp(out / "clean").run_id == "run-2", "the stage's stamp"
    note = result.rules().query("rule == 'duplicate_customer'")["note"].iloc[0]
    assert "exceed max_customers_in_memory (1)" in note, "the parameter reaches the engine audit"
    assert not isolated_settings.clean_dir.exists(), "the pandas audit's folder is untouched"
    assert int(con.execute(ibis.literal(1))) == 1, "the caller's connection stays open"
    engines.close(con)
    default = AuditParams(engine="spark")
    assert default.output_folder(isolated_settings) == isolated_settings.engine_dir


# --------------------------------------------------------------------------- both engines


def test_features_match_across_engines(small_demo_dir, spark, tmp_path):
    duck = build_features(small_demo_dir, AS_OF)
    on_spark = build_features(f"file://{small_demo_dir}", AS_OF, con=spark)
    assert on_spark.attrs["source"] == f"file://{small_demo_dir}"
    loaded = load_tables(small_demo_dir).tables  # the universe's rule, counted in pandas
    customers, orders = loaded["customers"], loaded["orders"]
    universe = set(customers.loc[customers["signup_at"] < AS_OF, "customer_id"].dropna())
    universe |= set(orders.loc[orders["ordered_at"] < AS_OF, "customer_id"].dropna())
    assert len(duck) == len(universe) > 3_000 and duck.shape[1] >= 80, duck.shape
    assert set(duck["customer_id"]) == universe, "signed up or ordered before as_of"
    assert_same_columns(duck, on_spark, what="features")
    target = engines.write_parquet(on_spark, tmp_path / "features.parquet", spark)
    assert Path(target).is_dir(), "Spark writes a folder of parts"
    assert_written(target, on_spark)


def test_frame_to_a_remote_uri_goes_through_the_session(small_demo_dir, spark, tmp_path,
                                                        monkeypatch):  # fmt: skip
    """The branch for s3a:// and the like: an Arrow table handed to Spark, which writes.
    (A local folder pretends to be remote; pandas' Arrow-backed strings must survive.)"""
    features = build_features(small_demo_dir, AS_OF).head(500)
    assert any(isinstance(features[c].dtype, pd.StringDtype) for c in features.columns)
    monkeypatch.setattr(engines, "local_folder", lambda location: None)
    target = engines.write_parquet(features, str(tmp_path / "remote"), spark)
    assert (tmp_path / "remote" / "_SUCCESS").exists(), "written by Spark itself"
    assert_written(target, features)


def assert_written(target: str, frame: pd.DataFrame) -> None:
    written = pq.read_table(target).to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    )
    written = written.sort_values("customer_id", ignore_index=True)
    frame = frame.sort_values("customer_id", ignore_index=True)
    assert list(written.columns) == list(frame.columns)
    for col in frame.columns:
        pd.testing.assert_series_equal(
            written[col], frame[col], check_dtype=False, check_names=False, obj=col
        )


def test_scans_match_across_engines(messy, spark):
    duck, on_spark = S.run_scans(messy, AS_OF), S.run_scans(messy, AS_OF, con=spark)
    assert on_spark.engine == "spark" and duck.engine == "duckdb"
    for name in ("tables", "missing", "invalid", "duplicates", "duplicate_keys", "references",
                 "unknown_ids", "freshness", "future", "repairs"):  # fmt: skip
        pd.testing.assert_frame_equal(
            getattr(on_spark, name), getattr(duck, name), check_dtype=False, obj=name
        )
    pd.testing.assert_frame_equal(on_spark.rules(), duck.rules())


def test_audit_on_spark_matches_the_pandas_audit(small_demo_dir, spark, tmp_path):
    config = AuditConfig()
    on_spark = audit_on_engine(
        small_demo_dir, AS_OF, con=spark, config=config, output=tmp_path / "spark"
    )
    full = audit_tables(load_tables(small_demo_dir), AS_OF, config=config)
    key = ["table", "rule", "column"]
    ran = on_spark.rules().query("status != 'skipped'")
    both = ran.merge(full.rules(), on=key, suffixes=("_spark", "_pandas"))
    assert len(both) >= 50, "most rules the engine runs are findings of the pandas audit"
    differ = both[both["failing_rows_spark"] != both["failing_rows_pandas"]]
    assert differ.empty, differ[[*key, "failing_rows_spark", "failing_rows_pandas"]]
    merged = on_spark.merge_map.sort_values("duplicate_id", ignore_index=True)
    expected = full.merge_map.sort_values("duplicate_id", ignore_index=True)
    pd.testing.assert_frame_equal(merged, expected, check_dtype=False)
    assert len(merged) >= 55, "the planted duplicate customers (60) are found"
    rows, pandas_rows = on_spark.rows.set_index("table"), full.rows.set_index("table")
    for table in on_spark.tables:
        for col in ("rows_in", "rows_clean", "rows_quarantined"):
            assert rows.loc[table, col] == pandas_rows.loc[table, col], (table, col)
        columns = list(table_spec(table).columns)
        clean = pd.read_parquet(tmp_path / "spark" / "clean" / f"{table}.parquet")
        clean = clean[columns].sort_values(columns, ignore_index=True)
        reference = full.clean[table][columns].sort_values(columns, ignore_index=True)
        pd.testing.assert_frame_equal(clean, reference, check_dtype=False, obj=table)
        quarantine = pd.read_parquet(tmp_path / "spark" / "quarantine" / f"{table}.parquet")
        assert len(quarantine) == pandas_rows.loc[table, "rows_quarantined"], table
    assert on_spark.amount_limits == pytest.approx(full.amount_limits)
    summary = on_spark.summary()
    assert summary["reconciled"] is True and summary["duplicates"]["customers_merged"] >= 55


@pytest.mark.slow
@pytest.mark.notebooks
def test_audit_notebook_on_spark(run_stages, small_demo_dir, isolated_settings):
    result = run_stages(small_demo_dir, ["audit"], ["engine=spark"])
    stage = result.stages[0]
    assert stage.status == "ok", stage.error
    summary = stage.summary
    assert summary["reconciled"] is True
    assert summary["duplicates"]["truth"]["precision"] >= 0.95
    ran = {r["rule"] for r in summary["rules"] if r["status"] != "skipped"}
    assert {"invalid_email", "before_signup"} <= ran, "the engine runs every rule"
    engine_dir = Path(isolated_settings.engine_dir)
    assert (engine_dir / "quarantine" / "orders.parquet").is_dir(), "written by Spark"
    stamp = catalog.read_folder_stamp(engine_dir / "clean")
    assert stamp is not None and stamp.source == catalog.fingerprint(small_demo_dir)
    assert not isolated_settings.clean_dir.exists(), "the pandas audit's folder is untouched"
