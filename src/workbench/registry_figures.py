"""Figures of the registry review: metrics and SHAP importance of the compared versions,
and the headline metric of every version.

Each takes a table of :mod:`workbench.registry` (:func:`~workbench.registry.compare_versions`,
:func:`~workbench.registry.importance_comparison`, :func:`~workbench.registry.versions_table`)
and returns a Plotly figure; the champion, the challenger and the version a champion
replaced keep the same colour in every figure. ``workbench.registry`` offers them too.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.churn.params import CHALLENGER, CHAMPION

__all__ = ["metrics_figure", "importance_figure", "history_figure"]

_ROLE_COLOURS = {
    CHAMPION: "#4c78a8",
    CHALLENGER: "#f58518",
    "previous champion": "#9d9d9d",
    "latest": "#4c78a8",
    "previous": "#9d9d9d",
}
_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}


def _role_colour(label: str, i: int) -> str:
    role = label.split(" (v")[0]
    return _ROLE_COLOURS.get(role, ["#4c78a8", "#f58518", "#54a24b", "#b279a2"][i % 4])


def metrics_figure(comparison: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """One small bar chart per metric, the reviewed versions side by side (from
    :func:`workbench.registry.compare_versions`)."""
    numeric = comparison.drop(index=[i for i in ("as_of", "data") if i in comparison.index])
    numeric = numeric.apply(pd.to_numeric, errors="coerce").dropna(how="all")
    metrics = list(numeric.index)
    name = comparison.attrs.get("model", "")
    if not metrics:
        fig = go.Figure()
        fig.update_layout(title=title or f"{name}: no metrics recorded", height=200)
        return fig
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig = make_subplots(rows, cols, subplot_titles=metrics, vertical_spacing=0.18)
    for i, label in enumerate(numeric.columns):
        for j, metric in enumerate(metrics):
            value = numeric.loc[metric, label]
            fig.add_bar(
                x=[label],
                y=[value],
                name=label,
                legendgroup=label,
                showlegend=j == 0,
                marker_color=_role_colour(label, i),
                text=[f"{value:.4g}" if pd.notna(value) else "–"],
                textposition="auto",
                row=j // cols + 1,
                col=j % cols + 1,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title=title or f"{name}: metrics of the compared versions",
        height=260 * rows + 80,
        margin=_MARGIN,
        barmode="group",
    )
    return fig


def importance_figure(importance: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Mean |SHAP| per input, the reviewed versions as grouped horizontal bars (from
    :func:`workbench.registry.importance_comparison`)."""
    labels = [c for c in importance.columns if c != "feature" and not c.startswith("rank_")]
    frame = importance.iloc[::-1]
    fig = go.Figure()
    for i, label in enumerate(labels):
        fig.add_bar(
            x=frame[label],
            y=frame["feature"],
            name=label,
            orientation="h",
            marker_color=_role_colour(label, i),
            hovertemplate="%{y}: %{x:.4f}<extra>" + label + "</extra>",
        )
    fig.update_layout(
        title=title or "Global SHAP importance: mean |SHAP| (log-odds) per version",
        barmode="group",
        height=max(380, 20 * len(frame) * max(len(labels), 1) + 140),
        margin=_MARGIN,
        xaxis_title="mean |SHAP value| (log-odds)",
    )
    return fig


def history_figure(versions: pd.DataFrame) -> go.Figure:
    """The headline metric of every version, one panel per model; the champion is a star
    (from :func:`workbench.registry.versions_table`)."""
    frame = versions.dropna(subset=["value"])
    models = list(dict.fromkeys(frame["model"]))
    if not models:
        fig = go.Figure()
        fig.update_layout(title="No version has a recorded metric", height=200)
        return fig
    fig = make_subplots(
        len(models),
        1,
        subplot_titles=[f"{m}: {frame.loc[frame['model'] == m, 'metric'].iloc[0]}" for m in models],
        vertical_spacing=0.25 / max(len(models), 1) + 0.05,
    )
    for row, model in enumerate(models, start=1):
        part = frame[frame["model"] == model].assign(_v=lambda f: f["version"].astype(int))
        part = part.sort_values("_v")
        champion = part["aliases"].str.contains(CHAMPION)
        fig.add_scatter(
            x=part["version"],
            y=part["value"],
            mode="lines+markers",
            name=model,
            marker={
                "symbol": ["star" if c else "circle" for c in champion],
                "size": [16 if c else 9 for c in champion],
                "color": "#4c78a8",
            },
            customdata=part[["aliases", "as_of"]].fillna("").to_numpy(),
            hovertemplate="version %{x}: %{y:.4f}<br>%{customdata[0]}<br>as of "
            "%{customdata[1]}<extra></extra>",
            row=row,
            col=1,
        )
        fig.update_xaxes(type="category", title_text="version", row=row, col=1)
    fig.update_layout(
        title="Headline metric by version (star: champion)",
        height=300 * len(models) + 60,
        margin=_MARGIN,
        showlegend=False,
    )
    return fig
