"""The benchmark harness keeps working: a smoke run at the smallest size writes complete
reports. Timings are never asserted (they depend on the machine and its load)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# `benchmarks` is a top-level package of the repository, not installed: `python -m pytest`
# from the root finds it, a bare `pytest` needs the root on the path.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.registry import Ratio  # noqa: E402
from benchmarks.report import COLUMNS, ratio_value  # noqa: E402
from benchmarks.run import parse_size  # noqa: E402

SMOKE_CASES = ("generate", "features", "rfm_pandas")


def _bench(root: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--sizes",
        "2000",
        "--cache-dir",
        str(root / "cache"),
        "--out",
        str(root / "out"),
        *args,
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One harness run at 2,000 customers on the cheap cases; (process, report folder)."""
    root = tmp_path_factory.mktemp("bench")
    proc = _bench(root, "--cases", ",".join(SMOKE_CASES))
    return proc, root


def _report(root: Path) -> tuple[str, dict]:
    mds = sorted((root / "out").glob("*.md"))
    jsons = sorted((root / "out").glob("*.json"))
    assert len(mds) == 1 and len(jsons) == 1, f"expected one .md and one .json, got {mds} {jsons}"
    assert mds[0].stem == jsons[0].stem, "the Markdown and JSON reports share the date name"
    return mds[0].read_text(), json.loads(jsons[0].read_text())


def test_smoke_run_succeeds_and_prints_the_table(smoke):
    proc, _ = smoke
    assert proc.returncode == 0, f"harness failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "## 2,000 customers" in proc.stdout, "the tables are printed to stdout"


def test_markdown_has_the_header_and_every_column(smoke):
    _, root = smoke
    text, _ = _report(root)
    header = "| " + " | ".join(COLUMNS) + " |"
    assert header in text, f"table header {header!r} missing"
    for column in ("case", "wall s", "peak RSS MB", "rows", "ratio"):
        assert column in COLUMNS
    assert "cores" in text and "GB" in text and "Python" in text and "commit" in text
    for case in SMOKE_CASES:
        assert f"| `{case}` |" in text, f"no row for case {case}"
    assert "pandas / feature build = " in text, "the pandas baseline ratio is shown"


def test_json_holds_every_case_with_numbers(smoke):
    _, root = smoke
    _, report = _report(root)
    assert {"machine", "sizes", "method", "date"} <= set(report)
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gb"] > 0
    size = report["sizes"]["2000"]
    assert set(SMOKE_CASES) <= set(size["cases"]), f"cases in JSON: {sorted(size['cases'])}"
    for name in SMOKE_CASES:
        row = size["cases"][name]
        assert row["status"] == "ok", f"{name}: {row.get('error')}\n{row.get('traceback')}"
        assert isinstance(row["wall_s"], int | float) and row["wall_s"] >= 0
        assert row["peak_rss_mb"] > 0, f"{name}: no peak memory recorded"
        assert row["extra"]["rows"] > 0 and row["extra"]["rows_what"]
    labels = {r["label"]: r["value"] for r in size["ratios"]}
    assert labels.get("pandas / feature build", 0) > 0, f"ratios: {size['ratios']}"
    features = size["cases"]["features"]["extra"]
    pandas = size["cases"]["rfm_pandas"]["extra"]
    assert features["monetary_total_sum"] == pytest.approx(pandas["monetary_total_sum"]), (
        "the engine and the pandas baseline must compute the same revenue"
    )


def test_second_run_reuses_the_cached_data(smoke):
    _, root = smoke
    orders = next((root / "cache" / "data").glob("2000-seed7/raw/orders.parquet"))
    before = orders.stat().st_mtime_ns
    proc = _bench(root, "--cases", "generate")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert orders.stat().st_mtime_ns == before, "matching cached data must not be regenerated"
    _, report = _report(root)
    row = report["sizes"]["2000"]["cases"]["generate"]
    assert row["note"].startswith("cached data"), row["note"]
    assert "features" in report["sizes"]["2000"]["cases"], "same-day runs merge case by case"


def test_unknown_case_is_a_usage_error(tmp_path):
    proc = _bench(tmp_path, "--cases", "features,no_such_case")
    assert proc.returncode == 2
    assert "no_such_case" in proc.stderr and "rfm_pandas" in proc.stderr


def test_parse_size_accepts_suffixes_and_rejects_nonsense():
    assert [parse_size(s) for s in ("2000", "10k", "1M", "1_000")] == [2000, 10_000, 10**6, 1000]
    with pytest.raises(Exception, match="customer counts"):
        parse_size("lots")


def test_ratio_per_row_normalises_capped_rows():
    rows = {
        "fast": {"status": "ok", "wall_s": 9.0, "extra": {"compute_s": 2.0, "rows": 1000}},
        "slow": {"status": "ok", "wall_s": 9.0, "extra": {"compute_s": 3.0, "rows": 100}},
        "broken": {"status": "failed", "wall_s": None, "extra": {}},
    }
    per_row = Ratio("slow", "slow / fast", "slow", "fast", "per_row")
    assert ratio_value(per_row, rows) == pytest.approx((3.0 / 100) / (2.0 / 1000))
    assert ratio_value(Ratio("slow", "x", "slow", "fast", "wall"), rows) == pytest.approx(1.0)
    assert ratio_value(Ratio("slow", "x", "slow", "fast", "compute"), rows) == pytest.approx(1.5)
    assert ratio_value(Ratio("slow", "x", "slow", "broken"), rows) is None


def test_report_folder_size_counts_every_file_and_names_the_largest(tmp_path):
    from benchmarks.cases.pipeline import report_folder_size

    (tmp_path / "plotly.min.js").write_bytes(b"x" * 3_000_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.html").write_bytes(b"y" * 500_000)
    (tmp_path / "b.json").write_bytes(b"z" * 10)
    size = report_folder_size(tmp_path)
    assert size["report_mb"] == 3.5
    assert list(size["largest_mb"]) == ["plotly.min.js", "a.html", "b.json"]
    assert size["largest_mb"]["plotly.min.js"] == 3.0
