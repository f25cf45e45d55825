"""Plotly figures of the uplift stage; each returns a ``plotly.graph_objects.Figure``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from workbench.uplift.evaluate import RANDOM

__all__ = ["qini_figure", "decile_figure", "uplift_distribution_figure"]

_HEIGHT = 420
_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}
_COLORS = plotly.colors.qualitative.Plotly


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def qini_figure(
    curves: pd.DataFrame,
    arm: str,
    *,
    chosen: str | None = None,
    show_perfect: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Qini curves of every model for one arm: incremental outcome by share targeted.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``UpliftResult.curves`` (``model, arm, share, qini``).
    arm : str
    chosen : str, optional
        The chosen model, drawn thicker.
    show_perfect : bool, default False
        Also draw the perfect ranking (it usually dwarfs the models).
    title : str, optional
    """
    rows = curves[curves["arm"] == arm]
    if rows.empty:
        raise ValueError(f"qini_figure: no curves for arm {arm!r}; arms are "
                         f"{', '.join(map(str, curves['arm'].unique()))}")  # fmt: skip
    fig = go.Figure()
    models = [m for m in rows["model"].unique() if m not in (RANDOM, "perfect")]
    for i, model in enumerate(models):
        part = rows[rows["model"] == model]
        response = model.startswith("response")
        fig.add_trace(
            go.Scatter(
                x=part["share"], y=part["qini"], mode="lines", name=model,
                line={"color": _color(i), "width": 4 if model == chosen else 2,
                      "dash": "dot" if response else "solid"},
            )
        )  # fmt: skip
    extra = [(RANDOM, "black", "dash")] + ([("perfect", "grey", "dot")] if show_perfect else [])
    for model, color, dash in extra:
        part = rows[rows["model"] == model]
        if len(part):
            fig.add_trace(go.Scatter(x=part["share"], y=part["qini"], mode="lines", name=model,
                                     line={"color": color, "dash": dash, "width": 1}))  # fmt: skip
    fig.update_layout(
        title=title or f"Qini curves: {arm} vs control (holdout)",
        height=_HEIGHT,
        margin=_MARGIN,
        xaxis_title="share of customers targeted (highest predicted uplift first)",
        yaxis_title="incremental outcome among the targeted",
    )
    fig.update_xaxes(tickformat=".0%")
    return fig


def decile_figure(
    deciles: pd.DataFrame,
    arm: str,
    models: Sequence[str] | None = None,
    *,
    average_effect: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Observed uplift by decile of predicted uplift, with intervals, side by side.

    Parameters
    ----------
    deciles : pandas.DataFrame
        ``UpliftResult.deciles``.
    arm : str
    models : sequence of str, optional
        The models to show (all by default; two or three read best).
    average_effect : float, optional
        Drawn as a horizontal line (the arm's average effect).
    title : str, optional
    """
    rows = deciles[deciles["arm"] == arm]
    models = list(models) if models is not None else list(rows["model"].unique())
    unknown = [m for m in models if m not in set(rows["model"])]
    if rows.empty or unknown:
        raise ValueError(f"decile_figure: no deciles for arm {arm!r} and model(s) "
                         f"{', '.join(unknown) or 'any'}")  # fmt: skip
    fig = go.Figure()
    for i, model in enumerate(models):
        part = rows[rows["model"] == model]
        fig.add_trace(
            go.Bar(
                x=part["bin"], y=part["uplift"], name=model, marker_color=_color(i),
                error_y={"type": "data", "symmetric": False,
                         "array": (part["ci_high"] - part["uplift"]).to_numpy(),
                         "arrayminus": (part["uplift"] - part["ci_low"]).to_numpy()},
                customdata=np.c_[part["n_treated"], part["n_control"], part["predicted"]],
                hovertemplate="bin %{x}: observed %{y:.4f}<br>treated %{customdata[0]}, "
                "control %{customdata[1]}<br>mean predicted %{customdata[2]:.4f}",
            )
        )  # fmt: skip
    if average_effect is not None:
        fig.add_hline(y=average_effect, line_dash="dash", line_color="black",
                      annotation_text="average effect")  # fmt: skip
    fig.update_layout(
        title=title or f"Observed uplift by decile of predicted uplift: {arm} (holdout)",
        height=_HEIGHT,
        margin=_MARGIN,
        barmode="group",
        xaxis_title="decile (1 = highest predicted uplift)",
        yaxis_title="treated − control mean outcome",
    )
    fig.update_xaxes(dtick=1)
    return fig


def uplift_distribution_figure(scores: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Histogram of each arm's predicted uplift over the scored customers."""
    columns = [c for c in scores.columns if c.startswith("uplift_")]
    fig = go.Figure()
    for i, col in enumerate(columns):
        fig.add_trace(go.Histogram(x=scores[col], name=col.removeprefix("uplift_"),
                                   marker_color=_color(i), opacity=0.6, nbinsx=60))  # fmt: skip
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(
        title=title or "Predicted uplift per customer",
        height=_HEIGHT,
        margin=_MARGIN,
        barmode="overlay",
        xaxis_title="expected change of the outcome if treated",
        yaxis_title="customers",
    )
    return fig
