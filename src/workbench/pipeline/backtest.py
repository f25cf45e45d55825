"""``workbench backtest``: the pipeline replayed as of a series of dates, and one report of
its metrics over time.

For each date ``D`` (``start``, ``start + every``, … up to ``end``):

1. **Snapshot.** The source as it was before ``D`` is written to ``<out>/source/`` — every
   row whose time column is before ``D`` (rows without a time kept), ``order_items`` of
   those orders, tables without a time column whole — so no step can see data at or
   after its own ``as_of``, whatever a stage does. The same folder is rewritten at every
   step: to the workbench it is one source that grows, as a real one does, so the
   monitoring stage of a later step finds the earlier steps' outputs (same project, same
   source). ``snapshot.json`` in the step's folder records each table's rows and latest
   time.
2. **Run.** :func:`~workbench.pipeline.run_pipeline` as of ``D`` into
   ``<out>/steps/<D>/``, on the backtest's own data tree (``<out>/data``) and MLflow store
   (``<out>/mlruns``).

**No registry promotion.** The project's own MLflow store and registry are never written:
the backtest has its own. Within it the churn model of each step is registered under a
name of its own (``churn-classifier-backtest-<D>``), so no step's model is gated against,
or replaces, another step's champion: every step scores with the model trained as of its
own date, as the backtest means to measure.

Then :func:`write_backtest_report` reads every step's summaries into one table
(:func:`backtest_metrics`) and draws churn ROC-AUC and top-decile lift (holdout and
realised), CLV error, segment stability and drift as line charts in
``<out>/backtest.html`` (every value escaped; plotly.js beside it, offline).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import tracking
from workbench.display import html_text
from workbench.frames import isin
from workbench.loading import load_tables
from workbench.pipeline.run import PipelineResult, run_pipeline
from workbench.schema import TABLES, parse_as_of
from workbench.settings import Settings

__all__ = [
    "DEFAULT_STAGES",
    "BacktestResult",
    "BacktestStep",
    "backtest_dates",
    "backtest_metrics",
    "run_backtest",
    "snapshot_source",
    "write_backtest_report",
]

log = logging.getLogger(__name__)

#: Stages a backtest runs when none are named: those whose metrics the report draws.
DEFAULT_STAGES = ("audit", "features", "segmentation", "churn", "clv", "monitoring")
_EVERY = re.compile(r"(\d+)\s*([dw])")
_CHURN_MODEL = "churn-classifier-backtest-{date}"


def backtest_dates(start: str, end: str, every: str = "30d") -> list[pd.Timestamp]:
    """The dates of a backtest: ``start``, ``start + every``, … while not after ``end``.

    Examples
    --------
    >>> [str(d.date()) for d in backtest_dates("2026-01-31", "2026-04-30", "30d")]
    ['2026-01-31', '2026-03-02', '2026-04-01']
    >>> backtest_dates("2026-01-31", "2026-04-30", "monthly")
    Traceback (most recent call last):
    ...
    ValueError: backtest: every must be a number of days or weeks such as 30d or 4w, got 'monthly'
    """
    first, last = parse_as_of(start), parse_as_of(end)
    match = _EVERY.fullmatch(str(every).strip())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(
            f"backtest: every must be a number of days or weeks such as 30d or 4w, got {every!r}"
        )
    step = pd.Timedelta(days=int(match.group(1)) * (7 if match.group(2) == "w" else 1))
    if last < first:
        raise ValueError(f"backtest: --to ({last.date()}) is before --from ({first.date()})")
    dates = []
    when = first
    while when <= last:
        dates.append(when)
        when += step
    return dates


def _visible(tables: dict[str, pd.DataFrame], name: str, as_of: pd.Timestamp) -> pd.DataFrame:
    frame = tables[name]
    column = TABLES[name].time_column if name in TABLES else None
    if column is not None and column in frame:
        stamps = pd.to_datetime(frame[column], utc=True)
        return frame[stamps.isna() | (stamps < as_of)]
    if name == "order_items" and "orders" in tables and "order_id" in frame:
        kept = _visible(tables, "orders", as_of)["order_id"]
        return frame[isin(frame["order_id"], kept)]
    return frame


def snapshot_source(source: str | Path, target: str | Path, as_of: pd.Timestamp) -> dict[str, Any]:
    """Write the canonical tables of ``source`` as a run as of ``as_of`` may see them.

    Parameters
    ----------
    source : folder or DuckDB file
        Read with :func:`workbench.loading.load_tables` (mapping files honoured).
    target : folder
        Emptied, then one ``<table>.parquet`` per table.
    as_of : Timestamp

    Returns
    -------
    dict
        ``{table: {"rows": int, "latest": ISO time or None}}`` of what was written.
    """
    data = load_tables(source, derive=False)
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    written: dict[str, Any] = {}
    for name in data.tables:
        frame = _visible(data.tables, name, as_of).reset_index(drop=True)
        frame.to_parquet(target / f"{name}.parquet", index=False)
        column = TABLES[name].time_column if name in TABLES else None
        latest = None
        if column is not None and column in frame and frame[column].notna().any():
            latest = pd.to_datetime(frame[column], utc=True).max().isoformat()
        written[name] = {"rows": int(len(frame)), "latest": latest}
    return written


@dataclass
class BacktestStep:
    """One date of a backtest: its run and what its snapshot held."""

    as_of: pd.Timestamp
    output_dir: Path
    snapshot: dict[str, Any]
    result: PipelineResult | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    def statuses(self) -> dict[str, str]:
        return {} if self.result is None else {s.name: s.status for s in self.result.stages}


@dataclass
class BacktestResult:
    output_dir: Path
    steps: list[BacktestStep] = field(default_factory=list)
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _backtest_settings(settings: Settings, out: Path) -> Settings:
    return replace(
        settings,
        data_dir=out / "data",
        reports_dir=out / "steps",
        tracking_uri=f"sqlite:///{out / 'mlruns' / 'mlflow.db'}",
        artifact_root=str(out / "mlruns" / "artifacts"),
        project_explicit=True,
    ).ensure_dirs()


def run_backtest(
    *,
    settings: Settings,
    data_dir: Path,
    start: str,
    end: str,
    every: str = "30d",
    stage_names: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    output_dir: Path | None = None,
    progress: bool = False,
    on_step: Callable[[BacktestStep], None] | None = None,
) -> BacktestResult:
    """Run the pipeline as of every backtest date and write the over-time report.

    Parameters
    ----------
    settings : Settings
        The project (its name is kept; its data tree, reports and MLflow store are not
        used: the backtest has its own under ``output_dir``).
    data_dir : Path
        The source.
    start, end, every : str
        See :func:`backtest_dates`.
    stage_names : sequence of str, optional
        Default :data:`DEFAULT_STAGES`.
    overrides : sequence of str
        ``-p`` overrides passed to every step.
    output_dir : Path, optional
        Default ``<reports>/backtest_<start>_<end>_<timestamp>``.
    """
    dates = backtest_dates(start, end, every)
    names = list(stage_names) if stage_names else list(DEFAULT_STAGES)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = Path(output_dir or settings.reports_dir / f"backtest_{start}_{end}_{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    inner = _backtest_settings(settings, out)
    # Create the backtest's MLflow store here, once: the runner's kernel warm-up and its
    # pipeline run would otherwise both migrate the fresh SQLite file at the same moment
    # (seen as alembic "expected to match one row" errors).
    tracking.client(inner)
    source = out / "source"
    result = BacktestResult(out)
    for when in dates:
        step_dir = out / "steps" / str(when.date())
        snapshot = snapshot_source(data_dir, source, when)
        extra = []
        if "churn" in names:
            extra.append(
                f"churn.registered_model={_CHURN_MODEL.format(date=when.strftime('%Y%m%d'))}"
            )
        log.info("backtest step as of %s: %s", when.date(), ", ".join(names))
        step = BacktestStep(when, step_dir, snapshot)
        step.result = run_pipeline(
            settings=inner,
            data_dir=source,
            as_of=str(when.date()),
            output_dir=step_dir,
            stage_names=names,
            overrides=[*extra, *overrides],
            keep_going=True,
            progress=progress,
        )
        # after the run: the runner only writes into a new, empty or earlier run folder
        (step_dir / "snapshot.json").write_text(
            json.dumps({"as_of": str(when.date()), "tables": snapshot}, indent=2)
        )
        result.steps.append(step)
        if on_step is not None:
            on_step(step)
    result.report = write_backtest_report(result)
    return result


def _read(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("status") != "not_applicable" else {}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def backtest_metrics(steps: Sequence[BacktestStep]) -> pd.DataFrame:
    """One row per backtest date with the metrics of its summaries.

    Columns: ``as_of``; ``holdout_roc_auc`` and ``holdout_top_decile_lift`` (churn.json);
    ``realised_roc_auc``, ``realised_top_decile_lift`` (the scores made as of that date,
    judged by the last step that could: its monitoring.json); ``clv_holdout_mae`` and
    ``clv_holdout_total_error`` (clv.json's holdout check), ``realised_clv_mae`` and
    ``realised_clv_total_error``; ``segment_psi`` (segment mix against the previous step)
    and ``churn_score_psi``; ``drifted_share`` (share of model inputs that drifted).
    """
    rows, realised, realised_clv = [], {}, {}
    for step in steps:
        churn = _read(step.output_dir, "churn")
        clv = _read(step.output_dir, "clv")
        monitoring = _read(step.output_dir, "monitoring")
        rows.append(
            {
                "as_of": step.as_of,
                "holdout_roc_auc": churn.get("roc_auc"),
                "holdout_top_decile_lift": churn.get("top_decile_lift"),
                "clv_holdout_mae": _get(clv, "holdout", "mae"),
                "clv_holdout_total_error": _get(clv, "holdout", "total_error"),
                "segment_psi": _get(monitoring, "outputs", "segment mix", "psi"),
                "churn_score_psi": _get(monitoring, "outputs", "churn score", "psi"),
                "drifted_share": _get(monitoring, "dataset_drift", "drifted_share"),
            }
        )
        for entry in monitoring.get("realised") or []:
            realised[entry["as_of"]] = entry
        for entry in monitoring.get("realised_clv") or []:
            realised_clv[entry["as_of"]] = entry
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    day = frame["as_of"].dt.date.astype("str")
    frame["realised_roc_auc"] = day.map(lambda d: _get(realised.get(d), "roc_auc"))
    frame["realised_top_decile_lift"] = day.map(lambda d: _get(realised.get(d), "top_decile_lift"))
    frame["realised_clv_mae"] = day.map(lambda d: _get(realised_clv.get(d), "mae"))
    frame["realised_clv_total_error"] = day.map(lambda d: _get(realised_clv.get(d), "total_error"))
    numeric = [c for c in frame.columns if c != "as_of"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    return frame


#: The report's panels: (title, metric columns drawn as lines).
_PANELS = (
    ("Churn ROC-AUC", ("holdout_roc_auc", "realised_roc_auc")),
    ("Churn top-decile lift", ("holdout_top_decile_lift", "realised_top_decile_lift")),
    ("CLV error per customer (MAE, purchases)", ("clv_holdout_mae", "realised_clv_mae")),
    ("Segment stability: PSI of the segment mix against the previous step", ("segment_psi",)),
    (
        "Drift: share of model inputs drifted; PSI of the churn score",
        ("drifted_share", "churn_score_psi"),
    ),
)


def _panel(frame: pd.DataFrame, title: str, metrics: Sequence[str]) -> Any:
    import plotly.graph_objects as go

    when = frame["as_of"].dt.tz_localize(None)
    fig = go.Figure(
        [
            go.Scatter(x=when, y=frame[m], mode="lines+markers", name=m.replace("_", " "))
            for m in metrics
        ]
    )
    fig.update_layout(title=title, height=340, margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig


def write_backtest_report(result: BacktestResult) -> Path:
    """``backtest.html`` (line charts of :func:`backtest_metrics`, a table of each step's
    stage statuses and snapshot) and ``backtest.json`` in the backtest folder."""
    import plotly.offline

    out = result.output_dir
    frame = backtest_metrics(result.steps)
    (out / "backtest.json").write_text(
        json.dumps(
            {
                "steps": [
                    {
                        "as_of": str(s.as_of.date()),
                        "statuses": s.statuses(),
                        "folder": s.output_dir.name,
                    }
                    for s in result.steps
                ],
                "metrics": json.loads(frame.to_json(orient="records", date_format="iso"))
                if not frame.empty
                else [],
            },
            indent=2,
        )
    )
    (out / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    charts = []
    for title, metrics in _PANELS:
        present = [m for m in metrics if m in frame and frame[m].notna().any()]
        if not present:
            charts.append(f"<p class='none'>{html_text(title)}: no step measured it.</p>")
            continue
        fig = _panel(frame, title, present)
        charts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    rows = []
    for step in result.steps:
        statuses = ", ".join(f"{k}: {v}" for k, v in step.statuses().items())
        orders = _get(step.snapshot, "orders", "latest") or "–"
        link = f"steps/{step.output_dir.name}/index.html"
        rows.append(
            f"<tr><td><a href='{html_text(link)}'>{html_text(step.as_of.date())}</a></td>"
            f"<td>{html_text(statuses)}</td><td>{html_text(orders)}</td></tr>"
        )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Backtest</title>"
        "<script src='plotly.min.js'></script><style>body{font-family:sans-serif;"
        "max-width:1100px;margin:2rem auto;padding:0 1rem} td,th{padding:.3rem .6rem;"
        "border-bottom:1px solid #ddd;text-align:left} .none{color:#666}</style></head><body>"
        f"<h1>Backtest: {html_text(len(result.steps))} steps</h1>"
        "<p>Each step ran as of its date on a snapshot of the source holding only rows "
        "before that date. Realised metrics belong to the scores made as of the date shown, "
        "judged once their horizon had ended.</p>"
        f"{''.join(charts)}"
        "<h2>Steps</h2><table><tr><th>as of</th><th>stages</th><th>latest order in "
        f"snapshot</th></tr>{''.join(rows)}</table></body></html>"
    )
    target = out / "backtest.html"
    target.write_text(page, encoding="utf-8")
    log.info("backtest report: %s", target)
    return target
