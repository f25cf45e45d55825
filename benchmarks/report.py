"""The machine header, ratios, and the Markdown/JSON report of a benchmark run."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.registry import CASES, RATIOS, Ratio

__all__ = [
    "machine_info",
    "git_commit",
    "ratio_value",
    "size_ratios",
    "render_markdown",
    "COLUMNS",
    "headlines",
]

#: The columns of every size's table, in order.
COLUMNS = ("case", "what", "wall s", "peak RSS MB", "rows", "ratio", "load", "notes")

_LIBRARIES = (
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "ibis-framework",
    "scikit-learn",
    "xgboost",
    "xgboost-cpu",
    "shap",
    "pymc",
    "mlflow",
    "papermill",
    "pyspark",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return None


def git_commit(repo: Path) -> str:
    """The checked-out commit (short), with ``+changes`` when the tree has uncommitted
    changes; ``unknown`` outside a git checkout. Read-only git commands only."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine_info(repo: Path) -> dict:
    """Cores, memory, CPU, OS, Python and key library versions, git commit."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _memory_gb(),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "commit": git_commit(repo),
        "host_note": "shared machine: other engineers' jobs may run at the same time "
        "(see the load column: 1-minute load average when each case started)",
    }


# --------------------------------------------------------------------------- ratios


def _seconds(row: dict, basis: str) -> tuple[float | None, int | None]:
    extra = row.get("extra") or {}
    if basis == "wall":
        return row.get("wall_s"), extra.get("rows")
    seconds = extra.get("compute_s", row.get("wall_s"))
    return seconds, extra.get("rows")


def ratio_value(ratio: Ratio, rows: dict[str, dict]) -> float | None:
    """The ratio's value from the case rows (None when either side did not run)."""
    top, bottom = rows.get(ratio.numerator), rows.get(ratio.denominator)
    if not top or not bottom or top.get("status") != "ok" or bottom.get("status") != "ok":
        return None
    a, a_rows = _seconds(top, ratio.basis)
    b, b_rows = _seconds(bottom, ratio.basis)
    if a is None or b is None or b <= 0:
        return None
    if ratio.basis == "per_row":
        if not a_rows or not b_rows:
            return None
        return (a / a_rows) / (b / b_rows)
    return a / b


def size_ratios(rows: dict[str, dict]) -> list[dict]:
    """Every ratio that both sides of exist, as records."""
    out = []
    for ratio in RATIOS:
        value = ratio_value(ratio, rows)
        if value is None:
            continue
        out.append(
            {
                "row": ratio.row,
                "label": ratio.label,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "basis": ratio.basis,
                "value": round(value, 3),
            }
        )
    return out


def _format_ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


# --------------------------------------------------------------------------- markdown


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _rows_cell(row: dict) -> str:
    extra = row.get("extra") or {}
    rows = extra.get("rows")
    if rows is None:
        return "–"
    what = extra.get("rows_what", "")
    return f"{int(rows):,} {what}".strip()


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(size: dict) -> list[str]:
    rows = size.get("cases", {})
    ratios = size_ratios(rows)
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "| "
        + " | ".join("---" if c in ("case", "what", "notes") else "---:" for c in COLUMNS)
        + " |",
    ]
    for case in CASES:
        row = rows.get(case.name)
        if row is None:
            continue
        ratio_text = "; ".join(
            f"{r['label']} = {_format_ratio(r['value'])}" for r in ratios if r["row"] == case.name
        )
        status = row.get("status")
        wall = _num(row.get("wall_s")) if status == "ok" else status
        peak = _num(row.get("peak_rss_mb"), 0) if row.get("peak_rss_mb") else "–"
        cells = [
            f"`{case.name}`",
            row.get("what", case.what),
            wall,
            peak,
            _rows_cell(row),
            ratio_text,
            _num(row.get("load_1m"), 1),
            row.get("note", ""),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def headlines(report: dict) -> list[str]:
    """The answers people ask for first, one line each, from every size measured."""
    lines = []
    for key in sorted(report.get("sizes", {}), key=int):
        size = report["sizes"][key]
        rows = size.get("cases", {})
        label = f"{int(key):,} customers"
        ratios = {r["label"]: r["value"] for r in size_ratios(rows)}
        if "pandas / engine RFM" in ratios:
            value = ratios["pandas / engine RFM"]
            verdict = f"{value:.2f}× faster" if value > 1 else f"{1 / value:.2f}× slower"
            lines.append(
                f"{label}: RFM like for like, the engine (DuckDB) is {verdict} than pandas "
                f"(pandas / engine RFM = {_format_ratio(value)})"
            )
        if "pandas / feature build" in ratios:
            value = ratios["pandas / feature build"]
            verdict = (
                f"{value:.2f}× faster than" if value > 1 else f"takes {1 / value:.1f}× the time of"
            )
            lines.append(
                f"{label}: the full feature build (every section) {verdict} the pandas "
                f"RFM-only baseline (pandas / feature build = {_format_ratio(value)})"
            )
        pipe = rows.get("pipeline")
        if pipe and pipe.get("status") == "ok":
            minutes = pipe["wall_s"] / 60
            lines.append(
                f"{label}: whole pipeline {minutes:.1f} min, peak {pipe['peak_rss_mb']:,.0f} MB"
            )
        elif pipe:
            note = pipe.get("note", "").removeprefix(f"{pipe.get('status')}: ")
            lines.append(f"{label}: whole pipeline {pipe.get('status')}: {note}")
        peaks = [r.get("peak_rss_mb") or 0 for r in rows.values() if r.get("status") == "ok"]
        if peaks:
            lines.append(f"{label}: largest peak memory of any case {max(peaks):,.0f} MB")
    return lines


def render_markdown(report: dict) -> str:
    """The whole report as Markdown: header, headlines, a table per size, failures, method."""
    machine = report["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items() if v)
    memory = f"{machine['memory_gb']} GB" if machine.get("memory_gb") else "unknown memory"
    out = [
        f"# Benchmarks {report['date']}",
        "",
        f"- machine: {machine['cores']} cores ({machine.get('cores_usable')} usable), {memory}, "
        f"{machine['cpu']}; {machine['os']}",
        f"- Python {machine['python']}; {libs}",
        f"- code: commit {', '.join(sorted(report.get('commits', [machine['commit']])))}",
        f"- {machine['host_note']}",
        f"- generated {report['updated']} by `python -m benchmarks.run` (`make bench`)",
        "",
    ]
    lines = headlines(report)
    if lines:
        out += ["## Headlines", "", *[f"- {line}" for line in lines], ""]
    failures = []
    for key in sorted(report.get("sizes", {}), key=int):
        size = report["sizes"][key]
        out += [
            f"## {int(key):,} customers",
            "",
            f"Seed {size['seed']}, as of {size['as_of']}; measured {size.get('measured', '')}.",
            "",
            *_table(size),
            "",
        ]
        for name, row in size.get("cases", {}).items():
            if row.get("status") in ("failed", "timeout"):
                failures.append((key, name, row))
    if failures:
        out += ["## Failures", ""]
        for key, name, row in failures:
            out += [
                f"### `{name}` at {int(key):,} customers: {row.get('status')}",
                "",
                f"{row.get('error', '')} (log: `{row.get('log', '')}`)",
                "",
                "```",
                (row.get("traceback") or "").rstrip(),
                "```",
                "",
            ]
    out += ["## How this was measured", "", *[f"- {m}" for m in report["method"]], ""]
    return "\n".join(out)


def now_text() -> str:
    """Current UTC time, to the minute."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
