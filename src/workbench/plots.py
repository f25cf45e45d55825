"""Plotly figure builders shared by the stage notebooks.

Each returns a ``plotly.graph_objects.Figure`` so users can restyle or extend it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = ["bar", "line", "histogram", "heatmap", "add_vline_date"]

_HEIGHT = 420


def bar(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    color: str | None = None,
    orientation: str = "v",
    text_auto: bool | str = False,
) -> go.Figure:
    """A bar chart of ``y`` by ``x`` (horizontal with ``orientation='h'``)."""
    fig = px.bar(
        frame,
        x=y if orientation == "h" else x,
        y=x if orientation == "h" else y,
        color=color,
        orientation=orientation,
        title=title,
        text_auto=text_auto,
    )
    fig.update_layout(height=_HEIGHT, margin={"t": 60, "l": 10, "r": 10, "b": 10})
    return fig


def line(
    frame: pd.DataFrame, x: str, y: str | Sequence[str], *, title: str, markers: bool = True
) -> go.Figure:
    """A line chart of one or more columns against ``x``."""
    fig = px.line(frame, x=x, y=y, title=title, markers=markers)
    fig.update_layout(height=_HEIGHT, margin={"t": 60, "l": 10, "r": 10, "b": 10})
    return fig


def histogram(
    values: pd.Series,
    *,
    title: str,
    log_x: bool = False,
    bins: int = 60,
    vlines: dict[str, float] | None = None,
) -> go.Figure:
    """A histogram, on a log10 axis when ``log_x`` (non-positive values are left out and said
    so in the title, as are infinite ones), with labelled vertical lines (thresholds).

    The bins are counted here (``bins`` equal-width bins, drawn as bars), so the figure
    holds ``bins`` counts instead of every value: a few kilobytes in a report whatever the
    size of the data. The hover shows each bin's range in the values' own units.
    """
    data = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    notes = []
    infinite = int((~np.isfinite(data)).sum())
    data = data[np.isfinite(data)]
    if log_x:
        positive = data > 0
        if (~positive).sum():
            notes.append(f"{int((~positive).sum()):,} non-positive")
        data = np.log10(data[positive])
    if infinite:
        notes.append(f"{infinite:,} infinite")
    counts, edges = np.histogram(data, bins=bins) if len(data) else (np.array([]), np.array([]))
    low, high = (10 ** edges[:-1], 10 ** edges[1:]) if log_x else (edges[:-1], edges[1:])
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            customdata=np.column_stack([low, high]) if len(counts) else None,
            hovertemplate="%{customdata[0]:,.4~g} – %{customdata[1]:,.4~g}: %{y:,} values"
            "<extra></extra>",
            marker={"color": "#4c78a8", "line": {"width": 0.5, "color": "white"}},
        )
    )
    suffix = f" ({' and '.join(notes)} values not shown)" if notes else ""
    fig.update_layout(
        title=title + suffix,
        height=_HEIGHT,
        bargap=0,
        xaxis_title="log10(value)" if log_x else None,
        yaxis_title="count",
        margin={"t": 60, "l": 10, "r": 10, "b": 10},
    )
    for label, value in (vlines or {}).items():
        if value is None or not np.isfinite(value) or (log_x and value <= 0):
            continue
        position = float(np.log10(value)) if log_x else float(value)
        fig.add_vline(
            x=position,
            line_dash="dash",
            line_color="#e45756",
            annotation_text=label,
            annotation_position="top",
        )
    return fig


def heatmap(
    matrix: pd.DataFrame,
    *,
    title: str,
    zmid: float | None = None,
    colorscale: str = "RdBu_r",
    text_format: str = ".2f",
) -> go.Figure:
    """A labelled heatmap of a frame (rows × columns)."""
    fig = px.imshow(
        matrix,
        color_continuous_scale=colorscale,
        color_continuous_midpoint=zmid,
        aspect="auto",
        text_auto=text_format,
        title=title,
    )
    fig.update_layout(
        height=max(_HEIGHT, 28 * len(matrix) + 120), margin={"t": 60, "l": 10, "r": 10, "b": 10}
    )
    return fig


def add_vline_date(fig: go.Figure, when: pd.Timestamp, label: str) -> go.Figure:
    """Mark a date (e.g. ``as_of``) on a time axis."""
    x = pd.Timestamp(when).tz_localize(None) if pd.Timestamp(when).tzinfo else pd.Timestamp(when)
    fig.add_shape(
        type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line={"dash": "dot", "color": "#888"}
    )
    fig.add_annotation(x=x, y=1, yref="paper", text=label, showarrow=False, yanchor="bottom")
    return fig
