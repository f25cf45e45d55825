"""Plotly figures of an A/B analysis; each returns a ``plotly.graph_objects.Figure``.

Variant and segment names are data: Plotly reads a small set of HTML tags in trace names
and axis labels, so every name is HTML-escaped (shown as written) and long ones are
shortened (:func:`labels`). Embedding a figure's JSON safely in a page is the report
exporter's job (:func:`workbench.display.script_json`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from scipy import stats

from workbench import display
from workbench.experiments.decision import hdi

__all__ = [
    "labels",
    "posterior_figure",
    "lift_figure",
    "forest_figure",
    "cumulative_conversion_figure",
    "cuped_figure",
]

_HEIGHT = 420
_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}
_COLORS = plotly.colors.qualitative.Plotly


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def labels(names: list, limit: int = 60) -> dict:
    """Each name as a figure label: at most ``limit`` characters (then "…"), HTML-escaped,
    and distinct (a shortened name that meets another gets " (2)", " (3)" …).

    Examples
    --------
    >>> list(labels(["<b>a</b>", "x" * 80, "x" * 81], limit=10).values())
    ['&lt;b&gt;a&lt;/b&gt;', 'xxxxxxxxx…', 'xxxxxxxxx… (2)']
    """
    out: dict = {}
    used: set[str] = set()
    for name in names:
        text = str(name)
        short = text if len(text) <= limit else text[: limit - 1] + "…"
        label, n = short, 1
        while label in used:
            n += 1
            label = f"{short} ({n})"
        used.add(label)
        out[name] = display.html_text(label)
    return out


def posterior_figure(
    draws: pd.DataFrame,
    *,
    title: str,
    x_title: str,
    hdi_prob: float = 0.95,
    percent: bool = False,
) -> go.Figure:
    """Posterior density of a metric per variant, with each variant's HDI as a bar below."""
    fig = go.Figure()
    names = labels(list(draws.columns))
    for i, variant in enumerate(draws.columns):
        x = draws[variant].to_numpy(dtype="float64")
        grid, density = _density(x)
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=density,
                mode="lines",
                name=names[variant],
                line={"color": _color(i)},
                fill="tozeroy",
                opacity=0.5,
            )
        )
        low, high = hdi(x, hdi_prob)
        fig.add_trace(
            go.Scatter(
                x=[low, high],
                y=[-0.03 * (i + 1) * density.max()] * 2,
                mode="lines+markers",
                line={"color": _color(i), "width": 4},
                name=f"{names[variant]} {hdi_prob:.0%} HDI",
                showlegend=False,
            )
        )
    fig.update_layout(
        title=title, height=_HEIGHT, margin=_MARGIN, xaxis_title=x_title, yaxis_title="density"
    )
    if percent:
        fig.update_xaxes(tickformat=".1%")
    return fig


def _density(x: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    x = x[np.isfinite(x)]
    if len(x) < 2 or np.ptp(x) == 0:
        return np.array([x.mean(), x.mean()]), np.array([0.0, 1.0])
    kde = stats.gaussian_kde(x)
    pad = 0.1 * np.ptp(x)
    grid = np.linspace(x.min() - pad, x.max() + pad, points)
    return grid, kde(grid)


def lift_figure(
    draws: pd.DataFrame,
    control: str,
    *,
    rope: float = 0.01,
    hdi_prob: float = 0.95,
    title: str = "Relative lift against control",
) -> go.Figure:
    """Distribution of each variant's relative lift over control, the ROPE shaded grey."""
    fig = go.Figure()
    base = draws[control].to_numpy(dtype="float64")
    names = labels(list(draws.columns))
    for i, variant in enumerate(c for c in draws.columns if c != control):
        lift = draws[variant].to_numpy(dtype="float64") / base - 1
        low, high = hdi(lift, hdi_prob)
        fig.add_trace(
            go.Histogram(
                x=lift,
                name=f"{names[variant]} (HDI {low:+.1%} to {high:+.1%})",
                histnorm="probability density",
                opacity=0.6,
                nbinsx=60,
                marker_color=_color(i + 1),
            )
        )
    fig.add_vrect(
        x0=-rope,
        x1=rope,
        fillcolor="grey",
        opacity=0.25,
        line_width=0,
        annotation_text=f"ROPE ±{rope:.1%}",
        annotation_position="top left",
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title=title,
        height=_HEIGHT,
        margin=_MARGIN,
        barmode="overlay",
        xaxis_title="relative lift (variant / control − 1)",
        yaxis_title="density",
    )
    fig.update_xaxes(tickformat="+.0%")
    return fig


def forest_figure(
    effects: pd.DataFrame,
    *,
    overall: pd.DataFrame | None = None,
    value: str = "lift",
    title: str = "Per-segment effect against control (partial pooling)",
) -> go.Figure:
    """Forest plot: each segment's posterior mean effect and HDI, one colour per variant.

    Parameters
    ----------
    effects : pandas.DataFrame
        :func:`~workbench.experiments.segment_effects` output.
    overall : pandas.DataFrame, optional
        :func:`~workbench.experiments.metric_table` of conversion, drawn as an "all users"
        row on top.
    value : {"lift", "diff"}
        Relative lift or absolute difference in conversion rate.
    """
    fig = go.Figure()
    variants = list(dict.fromkeys(effects["variant"]))
    sizes = effects.groupby("segment", sort=False).agg(
        users=("users", "sum"), control_users=("control_users", "first")
    )
    short = labels(list(sizes.index))
    rows_of = {s: f"{short[s]} (n={int(r.users + r.control_users):,})" for s, r in sizes.iterrows()}
    names = labels(variants)
    order = list(dict.fromkeys(effects["segment"]))[::-1]
    for i, variant in enumerate(variants):
        rows = effects[effects["variant"] == variant].set_index("segment").loc[order]
        y = [rows_of[s] for s in order]
        x, low, high = rows[f"{value}_mean"], rows[f"{value}_hdi_low"], rows[f"{value}_hdi_high"]
        if overall is not None and variant in overall.index:
            y.append("all users")
            x = pd.concat([x, pd.Series([overall.loc[variant, f"{value}_mean"]])])
            low = pd.concat([low, pd.Series([overall.loc[variant, f"{value}_hdi_low"]])])
            high = pd.concat([high, pd.Series([overall.loc[variant, f"{value}_hdi_high"]])])
        fig.add_trace(
            go.Scatter(
                x=x.to_numpy(),
                y=y,
                mode="markers",
                name=names[variant],
                marker={"color": _color(i + 1), "size": 9},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (high - x).to_numpy(),
                    "arrayminus": (x - low).to_numpy(),
                },
            )
        )
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title=title,
        height=max(_HEIGHT, 40 * (len(order) + 1) + 120),
        margin=_MARGIN,
        xaxis_title="relative lift" if value == "lift" else "difference in conversion rate",
    )
    fig.update_xaxes(tickformat="+.0%" if value == "lift" else "+.1%")
    return fig


def cumulative_conversion_figure(
    users: pd.DataFrame, *, title: str = "Cumulative conversion by assignment date"
) -> go.Figure:
    """Conversion rate of everyone assigned up to each day, per variant.

    Lines that cross early and settle apart show the effect stabilising; lines that keep
    drifting warn that the effect changes with time (novelty, seasonality).
    """
    frame = users.assign(day=users["assigned_at"].dt.tz_convert(None).dt.normalize())
    daily = frame.groupby(["variant", "day"], observed=True).agg(
        users=("converted", "size"), conversions=("converted", "sum")
    )
    fig = go.Figure()
    names = labels(list(daily.index.get_level_values("variant").unique()))
    for i, (variant, rows) in enumerate(daily.groupby(level="variant", observed=True)):
        rows = rows.droplevel("variant").sort_index().cumsum()
        fig.add_trace(
            go.Scatter(
                x=rows.index,
                y=rows["conversions"] / rows["users"],
                mode="lines+markers",
                name=names[variant],
                line={"color": _color(i)},
                customdata=rows["users"],
                hovertemplate="%{x|%Y-%m-%d}: %{y:.2%} of %{customdata:,} users",
            )
        )
    fig.update_layout(
        title=title,
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="assigned up to",
        yaxis_title="conversion rate so far",
    )
    fig.update_yaxes(tickformat=".1%")
    return fig


def cuped_figure(
    table: pd.DataFrame, *, title: str = "Revenue per user: difference to control"
) -> go.Figure:
    """Difference to control with its confidence interval, unadjusted and CUPED-adjusted."""
    fig = go.Figure()
    rows = table.dropna(subset=["diff"]).reset_index()
    names = labels(list(dict.fromkeys(rows["variant"])))
    for i, estimate in enumerate(("unadjusted", "cuped")):
        part = rows[rows["estimate"] == estimate]
        fig.add_trace(
            go.Scatter(
                x=part["diff"],
                y=part["variant"].map(names),
                mode="markers",
                name=estimate,
                marker={"size": 10, "color": _color(i + 3)},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["ci_high"] - part["diff"]).to_numpy(),
                    "arrayminus": (part["diff"] - part["ci_low"]).to_numpy(),
                },
            )
        )
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title=title,
        height=_HEIGHT,
        margin=_MARGIN,
        scattermode="group",
        xaxis_title="difference in revenue per user (95% CI)",
    )
    return fig
