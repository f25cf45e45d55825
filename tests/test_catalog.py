"""The catalog: names and places of stage outputs, stamps, and the checks on reading."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pandas as pd
import pytest

from workbench import catalog
from workbench.features import FeatureParams
from workbench.schema import parse_as_of
from workbench.settings import get_settings
from workbench.stage import Stage, build_params

AS_OF = parse_as_of("2026-06-30")


@pytest.fixture
def settings(tmp_path):
    return get_settings(root=tmp_path, data_dir=tmp_path / "data")


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    pd.DataFrame({"order_id": ["1"], "amount": [2.5]}).to_csv(folder / "orders.csv", index=False)
    return folder


def test_every_entry_has_a_place_in_the_data_tree_and_unknown_names_are_listed(settings):
    assert catalog.location(settings, "customer_features") == (
        settings.processed_dir / "customer_features.parquet"
    )
    assert catalog.location(settings, "clean") == settings.clean_dir
    assert catalog.location(settings, "quarantine") == settings.quarantine_dir
    with pytest.raises(KeyError, match=r"no entry 'features'; entries are: clean, quarantine"):
        catalog.entry("features")


def test_fingerprint_changes_with_any_file_and_ignores_hidden_and_sub_folders(source):
    first = catalog.fingerprint(source)
    assert first == catalog.fingerprint(source) and first.source == str(source.resolve())
    (source / ".lock").write_text("x")
    (source / "_truth").mkdir()
    (source / "_truth" / "personas.csv").write_text("x")
    assert catalog.fingerprint(source) == first, "hidden files and sub-folders are not the data"
    (source / "customers.csv").write_text("customer_id\nC1\n")
    added = catalog.fingerprint(source)
    assert added.digest != first.digest
    path = source / "orders.csv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert catalog.fingerprint(source).digest != added.digest, "a touched file is a change"
    assert catalog.fingerprint("s3a://lake/raw") == catalog.SourceFingerprint("s3a://lake/raw", "")


def test_a_table_carries_its_stamp_and_is_refused_for_another_source_or_date(settings, source):
    stamp = catalog.Stamp("features", AS_OF, catalog.fingerprint(source), run_id="run-1")
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "recency_days": [3.0, 40.0]})
    paths = catalog.write_table(
        settings, "customer_features", frame, stamp.with_extra(sections=["rfm"]), copies=[source]
    )
    assert [p.name for p in paths] == ["customer_features.parquet"] * 2
    read, found = catalog.read_table(
        settings, "customer_features", expect=catalog.Expect(stamp.source, AS_OF)
    )
    pd.testing.assert_frame_equal(read, frame)
    assert (found.stage, found.run_id, found.as_of, found.extra["sections"]) == (
        "features", "run-1", AS_OF, ["rfm"]
    )  # fmt: skip
    assert catalog.stamp_of_file(paths[1]).source == stamp.source, "the copy says where it is from"

    other = catalog.Expect(catalog.SourceFingerprint("/data/other", "abc"), AS_OF)
    with pytest.raises(
        catalog.StaleOutputError, match=r"made from .*shop, this run reads /data/other"
    ):
        catalog.read_table(settings, "customer_features", expect=other)
    later = catalog.Expect(stamp.source, parse_as_of("2026-07-31"))
    with pytest.raises(
        catalog.StaleOutputError,
        match=r"as of 2026-06-30, this run is as of 2026-07-31.*--stages features",
    ):
        catalog.read_table(settings, "customer_features", expect=later)
    (source / "orders.csv").write_text("order_id,amount\n1,3.0\n")
    changed = catalog.Expect(catalog.fingerprint(source), AS_OF)
    with pytest.raises(catalog.StaleOutputError, match=r"shop has changed since it was made"):
        catalog.read_table(settings, "customer_features", expect=changed)


def test_missing_or_unstamped_outputs_name_the_stage_to_run(settings, source):
    with pytest.raises(
        catalog.MissingOutputError,
        match=r"segments.parquet does not exist: run stage 'segmentation'",
    ):
        catalog.read_table(settings, "segments")
    path = catalog.location(settings, "segments")
    path.parent.mkdir(parents=True)
    pd.DataFrame({"customer_id": ["C1"]}).to_parquet(path)
    with pytest.raises(catalog.MissingOutputError, match=r"carries no workbench stamp"):
        catalog.read_table(settings, "segments")
    assert catalog.read_stamp(settings, "segments") is None


def test_a_folder_is_stamped_last_and_unstamped_while_rewritten(settings, source):
    folder = catalog.location(settings, "clean")
    stamp = catalog.Stamp("audit", AS_OF, catalog.fingerprint(source))
    catalog.write_folder_stamp(folder, stamp)
    assert catalog.read_stamp(settings, "clean") == stamp
    catalog.remove_folder_stamp(folder)
    assert catalog.read_stamp(settings, "clean") is None
    (folder / catalog.FOLDER_STAMP).write_text("{not json")
    assert catalog.read_folder_stamp(folder) is None


def test_stamps_survive_json_and_bad_ones_are_named():
    stamp = catalog.Stamp("churn", AS_OF, catalog.SourceFingerprint("/d", "ff"), extra={"v": "3"})
    assert catalog.Stamp.from_json(stamp.to_json()) == stamp
    with pytest.raises(ValueError, match=r"x.parquet: not a workbench stamp"):
        catalog.Stamp.from_json('{"stage": "churn"}', where="x.parquet")


@dataclass(frozen=True)
class _Params:
    k: int = 3
    name: str = "a"


def test_build_params_takes_the_fields_from_the_notebook_namespace():
    assert build_params(_Params, {"k": 5, "as_of": "2026-06-30", "other": 1}) == _Params(5, "a")
    with pytest.raises(TypeError, match="is not a dataclass"):
        build_params(dict, {})


def test_stage_start_parses_once_stamps_writes_and_refuses_foreign_outputs(tmp_path, source):
    namespace = {"as_of": "2026-06-30", "data_dir": str(source), "data_root": str(tmp_path / "d"),
                 "output_dir": str(tmp_path / "out"), "k": 7}  # fmt: skip
    stage = Stage.start("features", namespace, _Params, track=False)
    assert stage.as_of == AS_OF and stage.params == _Params(k=7)
    assert stage.source == catalog.fingerprint(source)
    stage.write("customer_features", pd.DataFrame({"customer_id": ["C1"]}), note="x")
    frame, stamp = stage.read("customer_features")
    assert len(frame) == 1 and stamp.extra == {"note": "x"}
    assert (tmp_path / "out" / "customer_features.parquet").exists(), "a copy beside the report"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = Stage.start("segmentation", {**namespace, "data_dir": str(elsewhere)}, track=False)
    with pytest.raises(catalog.StaleOutputError, match="made from"):
        other.read("customer_features")
    with pytest.raises(TypeError, match="as_of is required"):
        Stage.start("x", {}, track=False)


def _canonical_orders(folder):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "order_id": ["1"],
            "customer_id": ["C1"],
            "ordered_at": pd.to_datetime(["2026-01-02"], utc=True),
            "amount": [2.5],
            "status": ["completed"],
        }
    ).to_parquet(folder / "orders.parquet")


def test_canonical_source_reads_clean_tables_of_this_source_only_or_raw_when_asked(tmp_path):
    raw = tmp_path / "shop" / "raw"
    _canonical_orders(raw)
    namespace = {"as_of": "2026-06-30", "data_dir": str(raw), "data_root": str(tmp_path / "d"),
                 "output_dir": str(tmp_path / "out")}  # fmt: skip
    stage = Stage.start("features", namespace, FeatureParams, track=False)
    with pytest.raises(
        catalog.MissingOutputError,
        match=r"reads the audit's clean tables of .*shop/raw, but there are none in .*"
        r"Run the audit on this source first \(`workbench run --data .*shop/raw --as-of "
        r"2026-06-30 --stages audit,features`\), or .* `-p features.input=raw`",
    ):
        stage.canonical_source(tables=["orders"])
    source, kind = stage.canonical_source(tables=["orders"], input="raw")
    assert (source, kind) == (raw, "raw")
    with pytest.raises(ValueError, match=r"features: input must be one of clean, raw, got 'auto'"):
        stage.canonical_source(input="auto")

    clean = stage.settings.clean_dir
    _canonical_orders(clean)
    other = tmp_path / "other" / "raw"
    _canonical_orders(other)
    catalog.write_folder_stamp(clean, catalog.Stamp("audit", AS_OF, catalog.fingerprint(other)))
    with pytest.raises(
        catalog.StaleOutputError,
        match=r"they were made from .*other/raw \(as of 2026-06-30\), this run reads .*shop/raw",
    ):
        stage.canonical_source(tables=["orders"])
    earlier = parse_as_of("2026-03-31")  # the clean tables do not depend on as_of
    catalog.write_folder_stamp(clean, catalog.Stamp("audit", earlier, catalog.fingerprint(raw)))
    assert stage.canonical_source(tables=["orders"]) == (clean, "clean")
    (raw / "customers.csv").write_text("customer_id\nC1\n")  # the source changed since
    changed = Stage.start("features", namespace, FeatureParams, track=False)
    with pytest.raises(
        catalog.StaleOutputError, match=r"shop/raw has changed since they were made"
    ):
        changed.canonical_source(tables=["orders"])


def test_a_stage_without_an_input_parameter_reads_clean_of_this_source_else_raw(tmp_path, caplog):
    """Stages with no ``input`` parameter (the A/B test, churn, ...) read the audit's clean
    tables of this source, else the source itself with a warning; never another source's."""
    raw = tmp_path / "shop" / "raw"
    _canonical_orders(raw)
    namespace = {"as_of": "2026-06-30", "data_dir": str(raw), "data_root": str(tmp_path / "d"),
                 "output_dir": str(tmp_path / "out")}  # fmt: skip
    stage = Stage.start("ab_test", namespace, track=False)
    with caplog.at_level("WARNING", logger="workbench.stage"):
        assert stage.canonical_source(tables=["orders"]) == (raw, "raw")
    assert "reads the raw tables of" in caplog.text and "no clean tables" in caplog.text
    clean = stage.settings.clean_dir
    _canonical_orders(clean)
    other = tmp_path / "other" / "raw"
    _canonical_orders(other)
    catalog.write_folder_stamp(clean, catalog.Stamp("audit", AS_OF, catalog.fingerprint(other)))
    assert stage.canonical_source(tables=["orders"]) == (raw, "raw"), "not another source's"
    catalog.write_folder_stamp(clean, catalog.Stamp("audit", AS_OF, catalog.fingerprint(raw)))
    assert stage.canonical_source(tables=["orders"]) == (clean, "clean")


def test_not_applicable_writes_the_reason_and_stops_the_notebook(tmp_path, source):
    from workbench.stage import NotApplicable

    namespace = {"as_of": "2026-06-30", "data_dir": str(source), "data_root": str(tmp_path / "d"),
                 "output_dir": str(tmp_path / "out")}  # fmt: skip
    stage = Stage.start("ab_test", namespace, track=False)
    with pytest.raises(NotApplicable, match="no experiment has an assignment before 2026-06-30"):
        stage.not_applicable("no experiment has an assignment before 2026-06-30")
    written = json.loads((tmp_path / "out" / "ab_test.json").read_text())
    assert written == {"status": "not_applicable", "as_of": "2026-06-30", "stage": "ab_test",
                       "reason": "no experiment has an assignment before 2026-06-30"}  # fmt: skip
    assert NotApplicable("x")._render_traceback_() == ["Not applicable: x"]
