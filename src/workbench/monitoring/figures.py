"""Figures of the monitoring report and the backtest report (Plotly, so users can restyle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.monitoring.params import DriftThresholds

__all__ = ["drift_figure", "shares_figure", "bands_figure", "metrics_over_time_figure"]

_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}
_STATUS_COLOURS = {"ok": "#54a24b", "warn": "#eeca3b", "alert": "#e45756", "absent": "#9d9d9d"}


def drift_figure(
    table: pd.DataFrame,
    *,
    metric: str = "psi",
    top: int = 30,
    thresholds: DriftThresholds | None = None,
    title: str | None = None,
) -> go.Figure:
    """Horizontal bars of PSI (or JS) by column, coloured by status, with the warn and alert
    thresholds as dashed lines; the ``top`` largest values only.

    Parameters
    ----------
    table : DataFrame
        :func:`~workbench.monitoring.drift_table` or :func:`~workbench.monitoring.series_drift`.
    metric : {"psi", "js"}
    top : int
    thresholds : DriftThresholds, optional
    title : str, optional
    """
    if metric not in ("psi", "js"):
        raise ValueError(f"drift_figure: metric must be 'psi' or 'js', got {metric!r}")
    t = thresholds or DriftThresholds()
    shown = table.dropna(subset=[metric]).nlargest(top, metric).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=shown[metric],
            y=shown["column"].astype("str"),
            orientation="h",
            marker_color=[_STATUS_COLOURS.get(s, "#4c78a8") for s in shown["status"]],
            customdata=shown[["status", "p_value"]].to_numpy(),
            hovertemplate="%{y}: %{x:.3f}<br>status %{customdata[0]}, p = %{customdata[1]:.2g}"
            "<extra></extra>",
        )
    )
    warn, alert = (t.psi_warn, t.psi_alert) if metric == "psi" else (t.js_warn, t.js_alert)
    for value, label in ((warn, "warn"), (alert, "alert")):
        fig.add_vline(
            x=value,
            line_dash="dash",
            line_color=_STATUS_COLOURS[label],
            annotation_text=f"{label} {value:g}",
            annotation_position="top",
        )
    name = "PSI" if metric == "psi" else "Jensen–Shannon distance"
    absent = int((table["status"] == "absent").sum())
    suffix = f" ({absent} column(s) in one side only, not shown)" if absent else ""
    fig.update_layout(
        title=(title or f"Drift by column: {name}, largest {len(shown)}") + suffix,
        height=max(360, 22 * len(shown) + 140),
        xaxis_title=name,
        margin=_MARGIN,
    )
    return fig


def shares_figure(bins: pd.DataFrame, *, title: str) -> go.Figure:
    """Reference and current shares side by side per bin (a segment or tier mix, or the
    bins of a drifted column).

    Parameters
    ----------
    bins : DataFrame
        :func:`~workbench.monitoring.bin_table`; bins empty on both sides are left out.
    title : str
    """
    shown = bins[(bins["reference_count"] > 0) | (bins["current_count"] > 0)]
    fig = go.Figure(
        [
            go.Bar(
                x=shown["bin"], y=shown["reference_share"], name="reference", marker_color="#9ecae9"
            ),
            go.Bar(
                x=shown["bin"], y=shown["current_share"], name="current", marker_color="#4c78a8"
            ),
        ]
    )
    fig.update_layout(
        title=title, barmode="group", height=400, yaxis_tickformat=".0%", margin=_MARGIN
    )
    return fig


def bands_figure(bands: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Mean predicted churn probability against realised churn rate per risk band.

    Parameters
    ----------
    bands : DataFrame
        :attr:`RealisedChurn.bands <workbench.monitoring.RealisedChurn>`.
    title : str, optional
    """
    text = [f"{int(n):,} customers" for n in bands["customers"]]
    fig = go.Figure(
        [
            go.Bar(
                x=bands["risk_band"],
                y=bands["mean_predicted"],
                name="predicted",
                marker_color="#9ecae9",
            ),
            go.Bar(
                x=bands["risk_band"],
                y=bands["realised_churn_rate"],
                name="realised",
                marker_color="#e45756",
                text=text,
                textposition="outside",
            ),
        ]
    )
    fig.update_layout(
        title=title or "Predicted and realised churn by risk band",
        barmode="group",
        height=400,
        yaxis_tickformat=".0%",
        yaxis_range=[0, 1.1],
        margin=_MARGIN,
    )
    return fig


def metrics_over_time_figure(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    *,
    x: str = "as_of",
    titles: Mapping[str, str] | None = None,
    references: Mapping[str, float] | None = None,
    title: str = "Metrics over time",
) -> go.Figure:
    """One line chart per metric against the run date, stacked and sharing the time axis.

    Parameters
    ----------
    frame : DataFrame
        One row per run (e.g. per backtest step): ``x`` and the metric columns.
    metrics : sequence of str
        Columns to draw, top to bottom (e.g. ``roc_auc``, ``top_decile_lift``, ``mae``,
        ``drifted_share``).
    x : str, default "as_of"
    titles : mapping, optional
        Panel title per metric (default the column name).
    references : mapping, optional
        A dashed horizontal line per metric (e.g. the holdout ROC-AUC).
    title : str
    """
    unknown = [m for m in [x, *metrics] if m not in frame.columns]
    if unknown:
        raise ValueError(
            f"metrics_over_time_figure: column(s) {', '.join(unknown)} are missing "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    titles = titles or {}
    references = references or {}
    data = frame.sort_values(x)
    when = data[x]
    if isinstance(when.dtype, pd.DatetimeTZDtype):
        when = when.dt.tz_localize(None)
    fig = make_subplots(
        rows=len(metrics),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08 if len(metrics) > 1 else 0,
        subplot_titles=[titles.get(m, m) for m in metrics],
    )
    for i, metric in enumerate(metrics, start=1):
        fig.add_trace(
            go.Scatter(
                x=when, y=data[metric], mode="lines+markers", name=titles.get(metric, metric)
            ),
            row=i,
            col=1,
        )
        if metric in references:
            fig.add_hline(y=references[metric], line_dash="dash", line_color="#888", row=i, col=1)
    fig.update_layout(
        title=title, height=max(360, 230 * len(metrics) + 80), showlegend=False, margin=_MARGIN
    )
    return fig
