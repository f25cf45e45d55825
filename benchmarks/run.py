"""``python -m benchmarks.run``: measure every case at every size and write the report.

Examples
--------
From the project root::

    python -m benchmarks.run                        # 10,000, 100,000 and 1,000,000 customers
    python -m benchmarks.run --quick                # 2,000 and 10,000
    python -m benchmarks.run --sizes 100k --cases features,rfm_pandas,rfm_duckdb_floor
    python -m benchmarks.run --list                 # the cases

The report goes to ``reports/benchmarks/<YYYY-MM-DD>.md`` and ``.json`` (``--out`` to
change the folder). Runs on the same day are merged case by case: a case measured again
replaces its row, other rows stay.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.cases.churn import SHAP_BUDGET_S
from benchmarks.cases.pipeline import OVERRIDES
from benchmarks.common import AS_OF, BenchConfig, read_json, write_json
from benchmarks.harness import REPO, run_measured
from benchmarks.registry import CASES, Case, select_cases, spark_unavailable
from benchmarks.report import git_commit, machine_info, now_text, render_markdown, size_ratios
from workbench.experiments.sampler import Sampling

__all__ = ["main", "parse_size", "DEFAULT_SIZES", "QUICK_SIZES"]

log = logging.getLogger("benchmarks")

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
_GENERATE = "generate"


def parse_size(text: str) -> int:
    """``"100000"``, ``"100k"`` or ``"1M"`` as a number of customers.

    Examples
    --------
    >>> parse_size("1M"), parse_size("10k"), parse_size("2000")
    (1000000, 10000, 2000)
    """
    raw = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    digits = raw[:-1] if factor > 1 else raw
    try:
        value = int(float(digits) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes: expected customer counts such as 10000, 100k or 1M, got {text!r}"
        ) from None
    if value < 100:
        raise argparse.ArgumentTypeError(f"--sizes: at least 100 customers, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time and peak memory of every stage at several sizes, with baselines.",
    )
    p.add_argument("--sizes", help="comma-separated customer counts (default 10k,100k,1M)")
    p.add_argument("--quick", action="store_true", help="small sizes: 2,000 and 10,000")
    p.add_argument("--cases", help="comma-separated case names (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--seed", type=int, default=7, help="seed of the demo data (default 7)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("WORKBENCH_BENCH_DIR", "/tmp/workbench-bench")),
        help="demo data cache and scratch space (default $WORKBENCH_BENCH_DIR or "
        "/tmp/workbench-bench)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="report folder (default reports/benchmarks)"
    )
    p.add_argument(
        "--timeout", type=float, default=3 * 3600, help="seconds a case may run (default 3 h)"
    )
    p.add_argument(
        "--pipeline-limit",
        type=float,
        default=7200,
        help="skip the whole pipeline where its estimate from a smaller size exceeds this many "
        "seconds, else stop it there (default 7200: the 1M pipeline takes about an hour)",
    )
    p.add_argument(
        "--wait-load",
        type=float,
        default=None,
        help="before each case wait (up to 15 min) until the 1-minute load average is at "
        "most this (default: do not wait)",
    )
    p.add_argument("--regenerate", action="store_true", help="generate the data again")
    p.add_argument("--keep-work", action="store_true", help="keep each case's work folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # a terminated harness stops the running case too (it runs in its own session)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.list:
        for case in CASES:
            print(f"{case.name:<28} {case.what}")
        return 0
    try:
        cases = select_cases(_names(args.cases))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sizes:
        try:
            sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        except argparse.ArgumentTypeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    out_dir = args.out or _default_out()
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    report = _open_report(out_dir / f"{day}.json", day, args)
    paths = (out_dir / f"{day}.md", out_dir / f"{day}.json")
    failed = 0
    for customers in sorted(sizes):
        failed += _run_size(customers, cases, args, report, paths)
    for size in report["sizes"].values():
        size["ratios"] = size_ratios(size["cases"])
    _write(report, paths)
    print(render_markdown(report))
    log.info("report: %s and %s", *paths)
    return 1 if failed else 0


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _default_out() -> Path:
    from workbench.settings import get_settings

    return get_settings(root=REPO).reports_dir / "benchmarks"


def _open_report(path: Path, day: str, args: argparse.Namespace) -> dict:
    """Today's report to merge into (or a new one)."""
    report = read_json(path) or {"date": day, "sizes": {}, "commits": []}
    report["machine"] = machine_info(REPO)
    report["commits"] = sorted(set(report.get("commits", [])) | {report["machine"]["commit"]})
    report["method"] = _method(args)
    return report


def _method(args: argparse.Namespace) -> list[str]:
    return [
        "Each case runs in a fresh process (`python -m benchmarks.measure module:function "
        "data_dir work_dir`); *wall s* is the case call timed inside that process (imports "
        "excluded; `process_s` in the JSON includes them).",
        "*peak RSS MB*: the larger of the kernel's peak resident set of the case process "
        "(`os.wait4` on that very child; a waited-for descendant counts as itself, not "
        "added) and the sum of resident sets over its process tree sampled every 0.2 s with "
        "psutil (the pipeline's notebook kernels, Spark's JVM).",
        "Data: seeded demo data (`workbench.simulate.write_demo_data`, seed "
        f"{args.seed}, history ending {AS_OF}) cached in `{args.cache_dir}/data`; a cached "
        "generation row repeats the measurement made when that data was generated.",
        "Feature cases read the raw demo Parquet (canonical) directly, as of "
        f"{AS_OF}; `features` builds every section and keeps the table in memory.",
        "Ratios are wall-time ratios of two cases, except: SHAP, per row of the timed "
        f"explainer call (`compute_s`; the SHAP package's rows are capped to fit {SHAP_BUDGET_S:,.0f} s when a "
        "pilot says all rows would not); PyMC / closed form, the posterior computation alone "
        "(data loading excluded).",
        "Whole pipeline: `workbench run` "
        + (f"with `-p {' -p '.join(OVERRIDES)}`, everything else " if OVERRIDES else "")
        + "at the stages' defaults; skipped where its estimate exceeds "
        f"{args.pipeline_limit:,.0f} s (its time at a smaller size scaled by the summed "
        "times of the stage cases at both sizes, or linearly in customers), else stopped "
        "there.",
        "Every case process runs with `OMP_WAIT_POLICY=passive` (as the test suite: spinning "
        "OpenMP threads slow everything down on a busy 2-core machine).",
    ]


def _write(report: dict, paths: tuple[Path, Path]) -> None:
    report["updated"] = now_text()
    md, js = paths
    write_json(js, report)
    md.write_text(render_markdown(report))


# --------------------------------------------------------------------------- one size


def _run_size(
    customers: int,
    cases: list[Case],
    args: argparse.Namespace,
    report: dict,
    paths: tuple[Path, Path],
) -> int:
    """Run the selected cases at one size; returns the number that failed."""
    config = BenchConfig(customers=customers, seed=args.seed, as_of=AS_OF)
    key = f"{customers}-seed{args.seed}"
    data_root = args.cache_dir / "data" / key
    data_dir = data_root / "raw"
    work_root = args.cache_dir / "work" / key
    logs = args.cache_dir / "logs" / key
    shutil.rmtree(work_root, ignore_errors=True)  # shared inputs come from this run's code
    size = report["sizes"].setdefault(str(customers), {"cases": {}})
    size.update(seed=args.seed, as_of=AS_OF)
    started = now_text()
    log.info("=== %s customers (data: %s)", f"{customers:,}", data_dir)
    failed = 0
    generated = _ensure_data(config, data_root, work_root, logs, args, size, cases)
    if generated is not None and generated.get("status") != "ok":
        for case in cases:
            if case.name != _GENERATE:
                size["cases"][case.name] = _row(case, "skipped", note="data generation failed")
        _finish_size(size, started, report, paths)
        return 1
    prepared: dict[str, dict] = {}
    for case in cases:
        if case.name == _GENERATE:
            continue
        row = _run_case(case, config, data_dir, work_root, logs, args, report, prepared)
        size["cases"][case.name] = row
        failed += row["status"] in ("failed", "timeout")
        _log_row(customers, row)
        _write(report, paths)
    if not args.keep_work:
        shutil.rmtree(work_root, ignore_errors=True)
    _finish_size(size, started, report, paths)
    return failed


def _finish_size(size: dict, started: str, report: dict, paths: tuple[Path, Path]) -> None:
    size["measured"] = f"{started} to {now_text()}"
    _write(report, paths)


def _env(config: BenchConfig, work_dir: Path) -> dict[str, str]:
    return {
        **config.env(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive"),
        "PYTHONHASHSEED": "0",
        "WORKBENCH_ROOT": str(REPO),
        "WORKBENCH_DATA_DIR": str(work_dir / "data"),
        "WORKBENCH_REPORTS_DIR": str(work_dir / "reports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work_dir / 'mlruns' / 'mlflow.db'}",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def _row(case: Case, status: str, *, note: str = "", **fields) -> dict:
    return {
        "case": case.name,
        "what": case.what,
        "status": status,
        "note": note,
        "measured_at": now_text(),
        "commit": git_commit(REPO),
        **fields,
    }


def _data_matches(config: BenchConfig, data_dir: Path) -> bool:
    truth = read_json(data_dir / "_truth" / "summary.json")
    return bool(truth) and (truth.get("customers"), truth.get("seed"), truth.get("end")) == (
        config.customers,
        config.seed,
        config.as_of,
    )


def _ensure_data(
    config: BenchConfig,
    data_root: Path,
    work_root: Path,
    logs: Path,
    args: argparse.Namespace,
    size: dict,
    cases: list[Case],
) -> dict | None:
    """Generate the size's data unless the cache matches; record the ``generate`` row.

    Returns the fresh generation's measurement (None when the cache was used).
    """
    case = next(c for c in CASES if c.name == _GENERATE)
    data_dir = data_root / "raw"
    stored = data_root / "generate.json"
    wanted = any(c.name == _GENERATE for c in cases)
    if not args.regenerate and _data_matches(config, data_dir) and stored.exists():
        previous = read_json(stored) or {}
        if wanted and previous.get("status") == "ok":
            size["cases"][_GENERATE] = {
                **previous,
                "note": f"cached data; measured when generated ({previous.get('measured_at')})",
            }
        return None
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    log.info("generating %s customers into %s", f"{config.customers:,}", data_dir)
    load = round(os.getloadavg()[0], 2)
    row = _measure(case, config, data_dir, work_root / _GENERATE, logs, args.timeout)
    row["load_1m"] = load
    if row["status"] == "ok":
        write_json(stored, row)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    size["cases"][_GENERATE] = row
    _log_row(config.customers, row)
    return row


def _measure(
    case: Case,
    config: BenchConfig,
    data_dir: Path,
    work_dir: Path,
    logs: Path,
    timeout: float | None,
    note: str = "",
) -> dict:
    shutil.rmtree(work_dir, ignore_errors=True)
    outcome = run_measured(
        case.target,
        data_dir,
        work_dir,
        env=_env(config, work_dir),
        log_path=logs / f"{case.name}.log",
        timeout_s=timeout,
    )
    status = outcome.pop("status")
    return _row(case, status, note=_note(case, outcome, note), **outcome)


def _note(case: Case, outcome: dict, note: str) -> str:
    extra = outcome.get("extra") or {}
    parts = [note] if note else []
    if extra.get("capped"):
        parts.append(
            f"rows capped to fit {SHAP_BUDGET_S:,.0f} s (all rows estimated at "
            f"{extra.get('estimated_all_rows_s', 0):,.0f} s)"
        )
    if case.name == "pipeline" and outcome.get("extra"):
        stage_s = extra.get("stage_s") or {}
        overrides = extra.get("overrides", OVERRIDES)
        parts.append(
            ("overrides " + " ".join(overrides) + "; " if overrides else "defaults; ")
            + "stages "
            + ", ".join(f"{k} {v:.0f} s" for k, v in stage_s.items() if v is not None)
        )
        if extra.get("report_mb") is not None:
            largest = ", ".join(f"{k} {v:.1f}" for k, v in (extra.get("largest_mb") or {}).items())
            parts.append(f"report folder {extra['report_mb']:.1f} MB (largest: {largest})")
    if case.name == "features" and extra.get("engine_s"):
        slowest = sorted(extra["engine_s"].items(), key=lambda kv: -kv[1])[:3]
        parts.append("slowest parts: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    if case.name.startswith("features_") and "write_s" in extra:
        parts.append(
            f"build {extra.get('compute_s', 0):.1f} s, write {extra.get('write_s', 0):.1f} s"
            + (f", session start {extra['session_s']:.1f} s" if "session_s" in extra else "")
        )
    if case.name == "churn" and extra:
        parts.append(
            f"prepare {extra.get('prepare_s', 0):.0f} s, train {extra.get('train_s', 0):.0f} s "
            f"({extra.get('cv_folds')}-fold CV), explain {extra.get('explain_s', 0):.0f} s; "
            f"ROC-AUC {extra.get('roc_auc')}"
        )
    if case.name == "segmentation" and extra:
        parts.append(
            f"k range {extra.get('k_range_s', 0):.0f} s, Ward {extra.get('ward_s', 0):.0f} s, "
            f"stability {extra.get('stability_s', 0):.0f} s; k = {extra.get('k')}"
        )
    if case.name == "ab_test" and extra:
        nuts = Sampling()  # what the case samples with: the stage's defaults
        parts.append(
            f"outcomes {extra.get('load_s', 0):.0f} s, models {extra.get('model_s', 0):.0f} s "
            f"(exact conversion; order values: {nuts.chains} chains x "
            f"{nuts.tune + nuts.draws:,} steps), "
            f"{extra.get('converters', 0):,} converters"
        )
    if case.name == "ab_segments" and extra:
        parts.append(
            f"labels {extra.get('labels_s', 0):.0f} s, model {extra.get('model_s', 0):.0f} s "
            f"({extra.get('segments')} segments, {extra.get('sampler')}), "
            f"{extra.get('divergences')} divergences"
        )
    if outcome.get("error"):
        parts.append(str(outcome["error"]).splitlines()[0][:200])
    return "; ".join(p for p in parts if p)


def _wait_for_load(limit: float | None) -> None:
    if limit is None:
        return
    deadline = time.monotonic() + 900
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        log.info("load average %.1f > %.1f: waiting", os.getloadavg()[0], limit)
        time.sleep(30)


#: The stage cases whose times, summed, scale the pipeline's estimate between sizes.
_PIPELINE_STAGES = ("audit", "features", "segmentation", "churn", "clv", "ab_test")


def _pipeline_estimate(customers: int, report: dict) -> tuple[float, str] | None:
    """Seconds the whole pipeline would take at ``customers``, and how that was estimated.

    From the largest smaller size where it ran: scaled by the summed stage cases of both
    sizes when they all ran (the stages do not grow alike: SHAP grows with rows times
    trees), else linearly in customers. None without a smaller size.
    """
    best = None
    for key, size in report["sizes"].items():
        row = size.get("cases", {}).get("pipeline")
        ok = row is not None and row.get("status") == "ok"
        if ok and int(key) < customers and (best is None or int(key) > best[0]):
            best = (int(key), row["wall_s"])
    if best is None:
        return None
    small, seconds = best
    stage_sums = [
        _stage_sum(report["sizes"].get(str(n), {}).get("cases", {})) for n in (small, customers)
    ]
    if None not in stage_sums and stage_sums[0] > 0:
        factor = stage_sums[1] / stage_sums[0]
        return seconds * factor, (
            f"{seconds / 60:.1f} min at {small:,} customers x {factor:.1f} "
            f"(the stage cases' summed time, {stage_sums[0]:,.0f} s -> {stage_sums[1]:,.0f} s)"
        )
    return seconds * customers / small, f"linear from {seconds / 60:.1f} min at {small:,}"


def _stage_sum(rows: dict) -> float | None:
    times = [rows.get(name, {}).get("wall_s") for name in _PIPELINE_STAGES]
    statuses = [rows.get(name, {}).get("status") for name in _PIPELINE_STAGES]
    if any(t is None for t in times) or any(s != "ok" for s in statuses):
        return None
    return float(sum(times))


def _run_case(
    case: Case,
    config: BenchConfig,
    data_dir: Path,
    work_root: Path,
    logs: Path,
    args: argparse.Namespace,
    report: dict,
    prepared: dict[str, dict],
) -> dict:
    if case.optional:
        reason = spark_unavailable()
        if reason:
            return _row(case, "skipped", note=f"skipped: {reason}")
    timeout = args.timeout
    if case.name == "pipeline":
        estimate = _pipeline_estimate(config.customers, report)
        if estimate is not None and estimate[0] > args.pipeline_limit:
            return _row(
                case,
                "skipped",
                note=f"skipped: estimated {estimate[0] / 60:,.0f} min ({estimate[1]}) > limit "
                f"{args.pipeline_limit / 60:,.0f} min",
                estimate_s=round(estimate[0], 1),
            )
        timeout = min(timeout, args.pipeline_limit)
    for need in case.needs:
        if need not in prepared:
            prepared[need] = _prepare(need, config, data_dir, work_root, logs, args.timeout)
        if prepared[need]["status"] != "ok":
            return _row(
                case,
                "failed",
                note=f"preparing {need} failed: {prepared[need].get('error', '')}"[:300],
                error=prepared[need].get("error"),
                traceback=prepared[need].get("traceback"),
                log=prepared[need].get("log"),
            )
    _wait_for_load(args.wait_load)
    load = round(os.getloadavg()[0], 2)
    row = _measure(case, config, data_dir, work_root / case.name, logs, timeout)
    row["load_1m"] = load
    if not args.keep_work:
        shutil.rmtree(work_root / case.name, ignore_errors=True)
    return row


def _prepare(
    target: str, config: BenchConfig, data_dir: Path, work_root: Path, logs: Path, timeout: float
) -> dict:
    name = target.rsplit(":", 1)[-1]
    log.info("preparing %s (not measured)", target)
    work_dir = work_root / f"prepare-{name}"
    outcome = run_measured(
        target,
        data_dir,
        work_dir,
        env=_env(config, work_dir),
        log_path=logs / f"prepare-{name}.log",
        timeout_s=timeout,
    )
    shutil.rmtree(work_dir, ignore_errors=True)
    return outcome


def _log_row(customers: int, row: dict) -> None:
    extra = row.get("extra") or {}
    log.info(
        "%s customers  %-26s %-8s wall %s s  peak %s MB  rows %s  %s",
        f"{customers:,}",
        row["case"],
        row["status"],
        row.get("wall_s"),
        row.get("peak_rss_mb"),
        extra.get("rows"),
        row.get("note", ""),
    )


if __name__ == "__main__":
    sys.exit(main())
