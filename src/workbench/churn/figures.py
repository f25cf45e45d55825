"""Plotly figures of the churn stage: model comparison and SHAP explanations.

Every builder returns a ``plotly.graph_objects.Figure``; model comparisons take the
true labels and a ``{model name: probabilities}`` mapping so XGBoost and the baseline
are drawn side by side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from numpy.typing import ArrayLike
from plotly.subplots import make_subplots
from sklearn.metrics import precision_recall_curve, roc_curve

from workbench.churn.evaluate import calibration_table, confusion_table, gains_table
from workbench.churn.explain import Contributions
from workbench.churn.params import RISK_BANDS

__all__ = [
    "roc_pr_figure",
    "gains_figure",
    "calibration_figure",
    "confusion_figure",
    "cv_figure",
    "importance_figure",
    "beeswarm_figure",
    "dependence_figure",
    "waterfall_figure",
    "risk_band_figure",
]

_COLORS = {"xgboost": "#4c78a8", "baseline": "#f58518"}
_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}


def _color(name: str, i: int) -> str:
    return _COLORS.get(name, px.colors.qualitative.Plotly[i % 10])


#: Points a drawn curve keeps (at 1 M customers a holdout's precision–recall curve has a
#: point per distinct score: ~4 MB of the churn report for what the screen shows in 2,000)
CURVE_POINTS = 2000


def _thin(a: np.ndarray, b: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, ...]:
    """Every ``len/points``-th point of a curve (the first and last kept), in single
    precision: between two kept points the curve moves by at most ``len/points`` of its
    thresholds' customers, far below a pixel."""
    if len(a) > points:
        keep = np.unique(np.linspace(0, len(a) - 1, points).round().astype(int))
        a, b = a[keep], b[keep]
    return a.astype(np.float32), b.astype(np.float32)


def roc_pr_figure(y_true: ArrayLike, scores: Mapping[str, np.ndarray]) -> go.Figure:
    """ROC and precision–recall curves of each model, side by side (each drawn with at
    most :data:`CURVE_POINTS` points; the metrics come from every customer)."""
    y = np.asarray(y_true, dtype=int)
    fig = make_subplots(1, 2, subplot_titles=("ROC curve", "Precision–recall curve"))
    for i, (name, p) in enumerate(scores.items()):
        fpr, tpr = _thin(*roc_curve(y, p)[:2])
        precision, recall = _thin(*precision_recall_curve(y, p)[:2])
        style = {"color": _color(name, i)}
        fig.add_scatter(x=fpr, y=tpr, name=name, line=style, row=1, col=1)
        fig.add_scatter(
            x=recall, y=precision, name=name, line=style, showlegend=False, row=1, col=2
        )
    fig.add_scatter(
        x=[0, 1], y=[0, 1], name="random", line={"dash": "dot", "color": "#999"}, row=1, col=1
    )
    fig.add_hline(y=float(y.mean()), line_dash="dot", line_color="#999", row=1, col=2)
    fig.update_xaxes(title_text="false positive rate", row=1, col=1)
    fig.update_yaxes(title_text="true positive rate", row=1, col=1)
    fig.update_xaxes(title_text="recall", row=1, col=2)
    fig.update_yaxes(title_text="precision", row=1, col=2)
    fig.update_layout(height=420, margin=_MARGIN, title="Holdout: ROC and precision–recall")
    return fig


def gains_figure(y_true: ArrayLike, scores: Mapping[str, np.ndarray]) -> go.Figure:
    """Cumulative gains: share of churners reached when contacting the top-scored share."""
    fig = go.Figure()
    for i, (name, p) in enumerate(scores.items()):
        table = gains_table(y_true, p)
        fig.add_scatter(
            x=table["contacted_share"],
            y=table["churners_captured"],
            name=name,
            line={"color": _color(name, i)},
        )
    y = np.asarray(y_true, dtype=float)
    rate = y.mean() if len(y) else 1.0
    fig.add_scatter(
        x=[0, rate, 1], y=[0, 1, 1], name="perfect", line={"dash": "dash", "color": "#bbb"}
    )
    fig.add_scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot", "color": "#999"})
    fig.update_layout(
        title="Cumulative gains on the holdout",
        height=420,
        margin=_MARGIN,
        xaxis={"title": "share of customers contacted (highest risk first)", "tickformat": ".0%"},
        yaxis={"title": "share of churners reached", "tickformat": ".0%"},
    )
    return fig


def calibration_figure(
    y_true: ArrayLike, scores: Mapping[str, np.ndarray], *, bins: int = 10
) -> go.Figure:
    """Observed churn rate against the mean predicted probability in equal-size groups."""
    fig = go.Figure()
    for i, (name, p) in enumerate(scores.items()):
        table = calibration_table(y_true, p, bins=bins)
        fig.add_scatter(
            x=table["predicted"],
            y=table["observed"],
            name=name,
            mode="lines+markers",
            line={"color": _color(name, i)},
            customdata=table["customers"],
            hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} customers",
        )
    fig.add_scatter(
        x=[0, 1], y=[0, 1], name="perfectly calibrated", line={"dash": "dot", "color": "#999"}
    )
    fig.update_layout(
        title=f"Calibration on the holdout ({bins} equal-size groups)",
        height=420,
        margin=_MARGIN,
        xaxis={"title": "mean predicted probability", "range": [0, 1]},
        yaxis={"title": "observed churn rate", "range": [0, 1]},
    )
    return fig


def confusion_figure(
    y_true: ArrayLike, scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
) -> go.Figure:
    """Confusion matrix of each model at its decision threshold."""
    names = list(scores)
    fig = make_subplots(
        1, len(names), subplot_titles=[f"{n} (threshold {thresholds[n]:.2f})" for n in names]
    )
    for i, name in enumerate(names, start=1):
        table = confusion_table(y_true, scores[name], thresholds[name])
        share = table.to_numpy() / max(table.to_numpy().sum(), 1)
        text = [
            [f"{c:,}<br>{s:.0%}" for c, s in zip(row, srow, strict=True)]
            for row, srow in zip(table.to_numpy(), share, strict=True)
        ]
        fig.add_heatmap(
            z=table.to_numpy(),
            x=["predicted retained", "predicted churned"],
            y=["actual retained", "actual churned"],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            row=1,
            col=i,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Confusion matrices on the holdout", height=380, margin=_MARGIN)
    return fig


def cv_figure(cv: pd.DataFrame, metric: str = "roc_auc") -> go.Figure:
    """Cross-validation ``metric`` per fold and model (box with the folds as points)."""
    fig = px.box(
        cv,
        x="model",
        y=metric,
        points="all",
        color="model",
        color_discrete_map=_COLORS,
        title=f"Cross-validation {metric} per fold",
    )
    fig.update_layout(height=380, margin=_MARGIN, showlegend=False)
    return fig


def importance_figure(importance: pd.DataFrame, *, top: int = 20) -> go.Figure:
    """Mean |SHAP| per input (global importance), largest at the top."""
    head = importance.head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=head["mean_abs_shap"],
            y=head["feature"],
            orientation="h",
            customdata=head["meaning"],
            marker_color="#4c78a8",
            hovertemplate="%{y}: %{x:.3f}<br>%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Global importance: mean |SHAP| (log-odds), top {len(head)}",
        height=max(380, 22 * len(head) + 120),
        margin=_MARGIN,
        xaxis_title="mean |SHAP value| (log-odds)",
    )
    return fig


def _value_colour(contributions: Contributions, column: str) -> np.ndarray:
    """Each row's value of ``column`` as a 0–1 rank (NaN for missing or categories)."""
    if column in contributions.categorical:
        return np.full(len(contributions.data), np.nan)
    values = pd.to_numeric(contributions.data[column], errors="coerce")
    return values.rank(pct=True).to_numpy()


# the beeswarm's colours travel as one byte (rank in 255 steps) and its rows as hundredths
# of a row in two bytes: what the screen shows, in 11 bytes a point instead of 16
_RANK_STEPS = 255
_ROW_STEPS = 100
_RANK_MARKER = {
    "colorscale": "RdBu_r",
    "cmin": 0,
    "cmax": _RANK_STEPS,
    "size": 4,
    "colorbar": {
        "title": "feature value<br>(rank)",
        "tickvals": [0, _RANK_STEPS],
        "ticktext": ["low", "high"],
    },
}


def _points(column: str, *, number: bool = False) -> dict:
    shown = "%{customdata:.4~g}" if number else "%{customdata}"
    return {
        "mode": "markers",
        "showlegend": False,
        "name": column,
        "hovertemplate": f"{column} = {shown}<br>SHAP %{{x:.3f}}<extra></extra>",
    }


def beeswarm_figure(
    contributions: Contributions,
    features: list[str],
    *,
    max_points: int = 2000,
    random_state: int = 7,
) -> go.Figure:
    """SHAP values of sampled customers per input (a beeswarm): red = high feature value,
    blue = low, grey = missing or a category; inputs in the given order (top first)."""
    rng = np.random.default_rng(random_state)
    n = len(contributions.values)
    rows = (
        np.sort(rng.choice(n, size=min(n, max_points), replace=False)) if n else np.array([], int)
    )
    sample = Contributions(
        values=contributions.values.iloc[rows],
        base_value=contributions.base_value,
        data=contributions.data.iloc[rows],
        ids=contributions.ids.iloc[rows],
        categorical=contributions.categorical,
    )
    fig = go.Figure()
    scale_shown = False
    rows_type = np.int16 if len(features) < 300 else np.int32  # 300 rows: 30,000 hundredths
    for pos, column in enumerate(features[::-1]):
        # single precision, numbers as numbers (shown to 4 digits on hover), colours and
        # rows in one and two bytes: the figure is a sample drawn on screen, and float64
        # arrays with full-length value texts made it ~1 MB of the report (twice: in the
        # executed notebook and in its HTML)
        shap = _single(sample.values[column])
        colour = _value_colour(sample, column)
        jitter = np.rint((pos + rng.uniform(-0.3, 0.3, len(shap))) * _ROW_STEPS).astype(rows_type)
        shown = _shown(sample.data[column])
        known = ~np.isnan(colour)  # numbers: their values travel as numbers, not texts
        if known.any():
            rank = np.rint(colour[known] * _RANK_STEPS).astype(np.uint8)
            marker = {**_RANK_MARKER, "color": rank, "showscale": not scale_shown}
            scale_shown = True
            fig.add_scattergl(
                x=shap[known],
                y=jitter[known],
                customdata=_single(sample.data[column])[known],
                marker=marker,
                **_points(column, number=True),
            )
        if (~known).any():
            fig.add_scattergl(
                x=shap[~known],
                y=jitter[~known],
                customdata=shown[~known],
                marker={"color": "#999", "size": 4},
                **_points(column),
            )
    fig.add_vline(x=0, line_color="#666", line_width=1)
    fig.update_layout(
        title=f"SHAP values per customer ({len(rows):,} sampled): right of 0 raises risk",
        height=max(420, 30 * len(features) + 140),
        margin=_MARGIN,
        xaxis_title="SHAP value (log-odds of churn)",
        yaxis={
            "tickvals": [pos * _ROW_STEPS for pos in range(len(features))],
            "ticktext": features[::-1],
            "range": [-0.6 * _ROW_STEPS, (len(features) - 0.4) * _ROW_STEPS],
        },
    )
    return fig


def dependence_figure(
    contributions: Contributions, column: str, *, max_points: int = 3000, random_state: int = 7
) -> go.Figure:
    """SHAP value of ``column`` against its value (a box per level for a category)."""
    n = len(contributions.values)
    rows = np.random.default_rng(random_state).choice(n, size=min(n, max_points), replace=False)
    value = contributions.data[column].iloc[rows]
    categorical = column in contributions.categorical
    frame = pd.DataFrame(
        {  # single precision: a sample drawn on screen (see beeswarm_figure)
            "value": value.to_numpy() if categorical else _single(value),
            "shap": _single(contributions.values[column].iloc[rows]),
        }
    )
    title = f"Dependence: {column}"
    if categorical:
        fig = px.box(frame, x="value", y="shap", points="outliers", title=title)
    else:
        fig = px.scatter(frame, x="value", y="shap", opacity=0.5, title=title)
        fig.update_traces(marker={"size": 4})
    fig.add_hline(y=0, line_color="#666", line_width=1)
    fig.update_layout(
        height=360, margin=_MARGIN, xaxis_title=column, yaxis_title="SHAP value (log-odds)"
    )
    return fig


def waterfall_figure(contributions: Contributions, customer_id: str, *, top: int = 10) -> go.Figure:
    """How one customer's churn log-odds build up from the average: the ``top`` largest
    contributions, the rest summed, and the resulting probability in the title."""
    matches = np.flatnonzero(contributions.ids.to_numpy() == str(customer_id))
    if not len(matches):
        raise KeyError(f"customer {customer_id!r} is not among the explained customers")
    i = int(matches[0])
    row = contributions.values.iloc[i]
    data = contributions.data.iloc[i]
    order = row.abs().sort_values(ascending=False).index
    shown, rest = list(order[:top]), list(order[top:])
    labels = [f"{c} = {_short(data[c])}" for c in shown]
    deltas = [float(row[c]) for c in shown]
    if rest:
        labels.append(f"{len(rest)} other inputs")
        deltas.append(float(row[rest].sum()))
    total = contributions.base_value + float(row.sum())
    probability = 1 / (1 + np.exp(-total))
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(deltas), "total"],
            y=["average (base value)", *labels, "this customer"],
            x=[contributions.base_value, *deltas, total],
            increasing={"marker": {"color": "#e45756"}},
            decreasing={"marker": {"color": "#4c78a8"}},
            totals={"marker": {"color": "#666"}},
        )
    )
    fig.update_layout(
        title=f"Customer {customer_id}: churn probability {probability:.0%} (log-odds {total:.2f})",
        height=max(380, 28 * (len(labels) + 2) + 120),
        margin=_MARGIN,
        yaxis={"autorange": "reversed"},
        xaxis_title="log-odds of churn",
    )
    return fig


def _single(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(dtype=np.float32)


def _shown(values: pd.Series) -> np.ndarray:
    """Values as hover texts, missing ones as "missing"."""
    return values.astype("str").fillna("missing").to_numpy(dtype=object)


def _short(value: object) -> str:
    if isinstance(value, float):
        return "missing" if value != value else f"{value:,.3g}"
    return str(value)


_BAND_COLOURS = {"low": "#54a24b", "medium": "#eeca3b", "high": "#e45756"}


def risk_band_figure(scores: pd.DataFrame, *, bins: int = 40) -> go.Figure:
    """Distribution of churn probabilities in ``bins`` equal bins of [0, 1], stacked by
    risk band. Counted here, not by plotly: a histogram trace carries every customer's
    score into the report (~7 MB at 700,000 scored customers)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    probability = scores["churn_probability"].to_numpy(dtype="float64")
    band = scores["risk_band"].astype("str").to_numpy()
    fig = go.Figure()
    for name in RISK_BANDS:
        counts, _ = np.histogram(probability[band == name], bins=edges)
        fig.add_bar(
            x=centres,
            y=counts,
            width=0.95 / bins,
            customdata=np.column_stack([edges[:-1], edges[1:]]),
            name=name,
            marker_color=_BAND_COLOURS.get(name),
            hovertemplate=f"{name} risk<br>churn probability %{{customdata[0]:.3f}}–"
            "%{customdata[1]:.3f}<br>%{y:,} customers<extra></extra>",
        )
    fig.update_layout(
        title="Churn probability of the scored customers",
        barmode="stack",
        height=380,
        margin=_MARGIN,
        xaxis_title="churn_probability",
        yaxis_title="customers",
        legend={"title": {"text": "risk band"}, "traceorder": "normal"},
    )
    return fig
