"""What changed since the previous run: the headline numbers of two report folders.

A scheduled report is read by someone who saw last week's. :func:`compare_runs` lines
up the numbers that matter — data-quality score, customer count, segment sizes, churn
AUC and the share of customers per risk band, the A/B decision — and marks every change
beyond its threshold, so the index page can show them first.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Tracked", "TRACKED", "previous_run", "compare_runs", "changes_html", "load_summaries"]


@dataclass(frozen=True)
class Tracked:
    """A headline number: where it lives and how big a change is worth highlighting.

    ``path`` walks the stage's summary JSON; a mapping at the end expands into one row per
    key (e.g. one per segment). ``absolute``/``relative`` are thresholds on the change; a
    text value is highlighted whenever it differs.
    """

    label: str
    stage: str
    path: tuple[str, ...]
    absolute: float | None = None
    relative: float | None = None
    getter: Callable[[Mapping[str, Any]], Any] | None = None


def _audit_score(summary: Mapping[str, Any]) -> Any:
    if "quality_score" in summary:
        return summary["quality_score"]
    tables = summary.get("tables") or {}
    scores = [t.get("quality_score") for t in tables.values() if t.get("quality_score") is not None]
    return sum(scores) / len(scores) if scores else None


TRACKED: tuple[Tracked, ...] = (
    Tracked("data-quality score", "audit", ("quality_score",), absolute=2.0, getter=_audit_score),
    Tracked("customers", "features", ("customers",), relative=0.05),
    Tracked("segment size", "segmentation", ("cluster_sizes",), relative=0.10),
    Tracked("churn ROC-AUC", "churn", ("roc_auc",), absolute=0.02),
    Tracked("share of customers in risk band", "churn", ("risk_bands",), absolute=0.05),
    Tracked("A/B decision", "ab_test", ("decision", "action")),
    Tracked("A/B decision variant", "ab_test", ("decision", "variant")),
)


def load_summaries(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Stage name -> its summary JSON, for every ``<stage>.json`` in a run folder."""
    out = {}
    for path in sorted(Path(run_dir).glob("*.json")):
        if path.name == "manifest.json":
            continue
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return out


def previous_run(reports_dir: Path, current: Path) -> Path | None:
    """The newest earlier run folder on the same data source (by its manifest), if any."""
    current = Path(current).resolve()
    try:
        mine = json.loads((current / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    candidates = []
    for folder in Path(reports_dir).iterdir():
        if not folder.is_dir() or folder.resolve() == current:
            continue
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if manifest.get("data_dir") != mine.get("data_dir"):
            continue
        if (
            manifest.get("created", "") <= mine.get("created", "")
            and (folder / "index.html").exists()
        ):
            candidates.append((manifest.get("created", ""), folder.name, folder))
    return max(candidates)[2] if candidates else None


def _walk(summary: Mapping[str, Any] | None, item: Tracked) -> Any:
    if summary is None:
        return None
    if item.getter is not None:
        return item.getter(summary)
    value: Any = summary
    for key in item.path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _changed(item: Tracked, before: Any, after: Any) -> tuple[Any, bool]:
    if before is None and after is None:
        return None, False
    if before is None or after is None:
        return None, True
    if isinstance(before, int | float) and isinstance(after, int | float):
        change = after - before
        big = False
        if item.absolute is not None and abs(change) > item.absolute:
            big = True
        if item.relative is not None:
            base = abs(before) if before else 1.0
            big = big or abs(change) / base > item.relative
        return change, big
    return None, before != after


def compare_runs(current: Path, previous: Path | None) -> pd.DataFrame:
    """One row per tracked number: previous, current, change and whether it is highlighted."""
    now = load_summaries(current)
    then = load_summaries(previous) if previous else {}
    rows = []
    for item in TRACKED:
        if item.stage not in now:  # not run this time (--stages, not applicable): no change
            continue
        after = _walk(now.get(item.stage), item)
        before = _walk(then.get(item.stage), item)
        if isinstance(after, Mapping) or isinstance(before, Mapping):
            after_map = after if isinstance(after, Mapping) else {}
            before_map = before if isinstance(before, Mapping) else {}
            for key in sorted(set(after_map) | set(before_map), key=str):
                change, big = _changed(item, before_map.get(key), after_map.get(key))
                rows.append(
                    (
                        f"{item.label}: {key}",
                        item.stage,
                        before_map.get(key),
                        after_map.get(key),
                        change,
                        big,
                    )
                )
            continue
        if after is None and before is None:
            continue
        change, big = _changed(item, before, after)
        rows.append((item.label, item.stage, before, after, change, big))
    return pd.DataFrame(
        rows, columns=["metric", "stage", "previous", "current", "change", "highlight"]
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def changes_html(table: pd.DataFrame, previous: Path | None) -> str:
    """The "what changed since the previous run" section of ``index.html``."""
    if previous is None:
        return (
            "<h2>What changed since the previous run</h2>"
            "<p>No earlier run on this data source to compare with.</p>"
        )
    flagged = int(table["highlight"].sum()) if len(table) else 0
    verdict = (
        f"<p><b>{flagged}</b> change(s) beyond their threshold are highlighted.</p>"
        if flagged
        else "<p>No changes beyond their thresholds.</p>"
    )
    rows = "".join(
        f'<tr class="{"changed" if r.highlight else ""}"><td>{html.escape(r.metric)}</td>'
        f"<td>{html.escape(r.stage)}</td><td>{_fmt(r.previous)}</td><td>{_fmt(r.current)}</td>"
        f"<td>{_fmt(r.change)}</td></tr>"
        for r in table.itertuples()
    )
    return (
        f"<h2>What changed since the previous run</h2><p>Compared with "
        f'<a href="../{html.escape(previous.name)}/index.html">{html.escape(previous.name)}</a>.'
        f"</p>{verdict}<table><thead><tr><th>number</th><th>stage</th><th>previous</th>"
        f"<th>now</th><th>change</th></tr></thead><tbody>{rows}</tbody></table>"
    )
