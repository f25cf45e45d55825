"""Plotly figures of the CLV stage.

Every builder returns a ``plotly.graph_objects.Figure`` from frames the other modules
return, so a user can restyle it or draw their own from the same frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from workbench.clv.fit import FittedModel
from workbench.clv.params import MODEL_LABELS, TIERS
from workbench.clv.predict import history_matrix

__all__ = [
    "p_alive_matrix_figure",
    "expected_purchases_matrix_figure",
    "clv_distribution_figure",
    "tracking_figure",
    "conditional_expectations_figure",
    "gamma_gamma_check_figure",
]

_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}
_HEIGHT = 440
_TIER_COLORS = dict(zip(TIERS, ("#b2182b", "#ef8a62", "#67a9cf", "#bbbbbb"), strict=True))
_LINES = {
    "actual": {"color": "#222222"},
    "model": {"color": "#4c78a8", "dash": "dash"},
    "conditional": {"color": "#4c78a8"},
    "naive": {"color": "#f58518", "dash": "dot"},
}


def _matrix_figure(
    matrix: pd.DataFrame, title: str, colorbar: str, zmax: float | None
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[f"{c:g}" for c in matrix.columns],
            y=matrix.index.astype(str),
            colorscale="Viridis",
            zmin=0,
            zmax=zmax,
            colorbar={"title": colorbar},
            hovertemplate="frequency %{y}<br>recency %{x}<br>"
            + colorbar
            + " %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=max(_HEIGHT, 18 * len(matrix) + 140),
        margin=_MARGIN,
        xaxis_title="recency (time of the last purchase since the first)",
        yaxis_title="frequency (repeat purchases)",
    )
    return fig


def p_alive_matrix_figure(fit: FittedModel, T: float, *, max_frequency: int = 20) -> go.Figure:
    """P(alive) for customers of age ``T`` by frequency and recency (lifetimes' classic matrix).

    Buyers whose last purchase is recent (right) are likely alive; frequent buyers who
    stopped long ago (top left) are likely gone.
    """
    matrix = history_matrix(fit, T, max_frequency=max_frequency, quantity="p_alive")
    label = MODEL_LABELS.get(fit.model, fit.model)
    return _matrix_figure(
        matrix,
        f"P(alive) by history, customers of age {T:.0f} {fit.time_unit} ({label})",
        "P(alive)",
        1.0,
    )


def expected_purchases_matrix_figure(
    fit: FittedModel, T: float, horizon: float, *, max_frequency: int = 20
) -> go.Figure:
    """Expected repeat purchases over ``horizon`` (time unit) by frequency and recency."""
    matrix = history_matrix(
        fit, T, max_frequency=max_frequency, quantity="expected_purchases", horizon=horizon
    )
    label = MODEL_LABELS.get(fit.model, fit.model)
    return _matrix_figure(
        matrix,
        f"Expected purchases in the next {horizon:.0f} {fit.time_unit} by history, age {T:.0f} "
        f"{fit.time_unit} ({label})",
        "purchases",
        None,
    )


def clv_distribution_figure(predictions: pd.DataFrame, *, bins: int = 60) -> go.Figure:
    """Histogram of CLV on a log10 axis coloured by tier, with each tier's share of total CLV.

    Customers with a CLV of 0 or less (none under these models unless the margin or value
    is 0) are counted in the title and not drawn.
    """
    positive = predictions.loc[predictions["clv"] > 0]
    dropped = len(predictions) - len(positive)
    total = predictions["clv"].sum()
    fig = go.Figure()
    for tier in TIERS:
        part = positive.loc[positive["clv_tier"] == tier, "clv"]
        share = part.sum() / total if total > 0 else np.nan
        fig.add_histogram(
            x=np.log10(part),
            name=f"{tier}: {len(part):,} customers, {share:.0%} of CLV",
            marker_color=_TIER_COLORS[tier],
            nbinsx=bins,
        )
    suffix = f" ({dropped:,} with CLV ≤ 0 not shown)" if dropped else ""
    fig.update_layout(
        barmode="stack",
        title=f"CLV per customer by tier (total {total:,.0f}){suffix}",
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="log10(CLV)",
        yaxis_title="customers",
        bargap=0.02,
    )
    return fig


def tracking_figure(tracking: pd.DataFrame, *, model_label: str = "model") -> go.Figure:
    """Cumulative repeat purchases: actual, the model's expectation, and in the holdout the
    conditional prediction and the naive baseline; a dotted line marks the cutoff."""
    fig = go.Figure()
    x = tracking["date"].dt.tz_localize(None)
    names = {
        "actual": "actual",
        "model": f"{model_label} (unconditional)",
        "conditional": f"{model_label} (conditional on history, holdout)",
        "naive": "naive baseline (holdout)",
    }
    for column, name in names.items():
        fig.add_scatter(x=x, y=tracking[column], name=name, mode="lines", line=_LINES[column])
    holdout = tracking.loc[tracking["period"] == "holdout", "date"]
    if len(holdout):
        cutoff = tracking.loc[tracking["period"] == "calibration", "date"].max().tz_localize(None)
        fig.add_vline(x=cutoff, line_dash="dot", line_color="#888")
        fig.add_annotation(
            x=cutoff, y=1, yref="paper", text="cutoff", showarrow=False, yanchor="bottom"
        )
    fig.update_layout(
        title="Tracking: cumulative repeat purchases of the calibration customers",
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="date",
        yaxis_title="cumulative repeat purchases",
    )
    return fig


def conditional_expectations_figure(table: pd.DataFrame) -> go.Figure:
    """Mean holdout purchases by calibration repeat purchases: actual against each model and
    the naive baseline (Fader, Hardie & Lee 2005, figure 3)."""
    fig = go.Figure()
    x = table.index.astype(str)
    columns = [c for c in table.columns if c not in ("customers",)]
    for i, column in enumerate(columns):
        style = _LINES.get(column, {"color": px.colors.qualitative.Plotly[i % 10]})
        fig.add_scatter(
            x=x,
            y=table[column],
            name=MODEL_LABELS.get(column, column),
            mode="lines+markers",
            line=style,
            customdata=table["customers"],
            hovertemplate="%{y:.2f}<br>%{customdata:,} customers",
        )
    fig.update_layout(
        title="Holdout: mean repeat purchases by repeat purchases before the cutoff",
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="repeat purchases before the cutoff",
        yaxis_title="mean repeat purchases in the holdout",
    )
    return fig


def gamma_gamma_check_figure(
    summary: pd.DataFrame, *, sample: int = 5_000, seed: int = 7
) -> go.Figure:
    """Mean repeat-transaction value against frequency (log axis), the Gamma–Gamma
    independence check; a seeded sample of at most ``sample`` customers is drawn."""
    repeat = summary.loc[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    shown = repeat.sample(n=sample, random_state=seed) if len(repeat) > sample else repeat
    corr = repeat["frequency"].corr(repeat["monetary_value"]) if len(repeat) > 2 else np.nan
    fig = px.scatter(
        shown,
        x="frequency",
        y="monetary_value",
        log_y=True,
        opacity=0.4,
        title=f"Mean repeat value vs frequency (Pearson r = {corr:.2f}, {len(repeat):,} customers)",
    )
    fig.update_layout(
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="frequency (repeat purchases)",
        yaxis_title="mean repeat-transaction value",
    )
    return fig
