"""Plotly figures of the segmentation stage; each returns a ``go.Figure``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram
from sklearn.decomposition import PCA

from workbench.display import html_text
from workbench.segmentation.model import sample_rows

__all__ = [
    "scores_figure",
    "silhouette_figure",
    "sizes_figure",
    "profile_heatmap",
    "projection_figure",
    "dendrogram_figure",
    "stability_figure",
]

_MARGIN = {"t": 60, "l": 10, "r": 10, "b": 10}
_PALETTE = px.colors.qualitative.Plotly + px.colors.qualitative.D3


def _label(cluster: int, names: Mapping[int, str]) -> str:
    """``"<id>: <name>"`` for a figure, HTML-escaped: plotly.js reads a small HTML subset
    in text (and decodes the entities back), and names are built from category names,
    which come from the data."""
    return html_text(f"{cluster}: {names.get(int(cluster), '')}")


def _color(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def scores_figure(scores: pd.DataFrame, chosen_k: int) -> go.Figure:
    """Silhouette, inertia (elbow), Calinski–Harabasz and Davies–Bouldin by k; the chosen
    k is marked. Higher is better except for inertia and Davies–Bouldin."""
    panels = [
        ("silhouette", "Silhouette (higher is better)"),
        ("inertia", "Inertia — the elbow"),
        ("calinski_harabasz", "Calinski–Harabasz (higher is better)"),
        ("davies_bouldin", "Davies–Bouldin (lower is better)"),
    ]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t in panels])
    for i, (column, _) in enumerate(panels):
        row, col = i // 2 + 1, i % 2 + 1
        fig.add_trace(
            go.Scatter(
                x=scores["k"],
                y=scores[column],
                mode="lines+markers",
                name=column,
                marker_color="#4c78a8",
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        chosen = scores[scores["k"] == chosen_k]
        fig.add_trace(
            go.Scatter(
                x=chosen["k"],
                y=chosen[column],
                mode="markers",
                marker={"size": 13, "color": "#e45756", "symbol": "star"},
                name=f"chosen k = {chosen_k}",
                showlegend=i == 0,
            ),
            row=row,
            col=col,
        )
        fig.update_xaxes(dtick=1, title_text="k", row=row, col=col)
    fig.update_layout(height=620, title="Scores by number of clusters", margin=_MARGIN)
    return fig


def silhouette_figure(
    values: np.ndarray, labels: np.ndarray, names: Mapping[int, str], *, max_points: int = 3000
) -> go.Figure:
    """The classic silhouette plot: each cluster's sorted silhouette values as a band, the
    mean as a dashed line. Long samples are thinned to ``max_points`` (by quantiles, so each
    band keeps its shape)."""
    values, labels = np.asarray(values), np.asarray(labels)
    fig, y0 = go.Figure(), 0
    gap = max(len(values) // 60, 2)
    keep = max_points / max(len(values), 1)
    for cluster in sorted(np.unique(labels)):
        v = np.sort(values[labels == cluster])
        n = max(int(len(v) * min(keep, 1.0)), min(len(v), 2))
        v = np.quantile(v, np.linspace(0, 1, n)) if n < len(v) else v
        y = y0 + np.linspace(0, (labels == cluster).sum(), len(v))
        fig.add_trace(
            go.Scatter(
                x=np.r_[0, v, 0],
                y=np.r_[y[0], y, y[-1]],
                fill="toself",
                mode="lines",
                line={"width": 0.5, "color": _color(int(cluster))},
                name=_label(cluster, names),
            )
        )
        y0 = y[-1] + gap
    mean = float(np.nanmean(values))
    fig.add_vline(
        x=mean,
        line_dash="dash",
        line_color="#333",
        annotation_text=f"mean {mean:.3f}",
        annotation_position="top",
    )
    fig.update_layout(
        title=f"Silhouette of each sampled customer by cluster (k = {len(np.unique(labels))})",
        xaxis_title="silhouette value",
        yaxis={"showticklabels": False},
        height=520,
        margin=_MARGIN,
        legend={"font": {"size": 10}},
    )
    return fig


def sizes_figure(sizes: pd.DataFrame, names: Mapping[int, str]) -> go.Figure:
    """Share of customers and of revenue per cluster, side by side."""
    frame = sizes.assign(name=[_label(c, names) for c in sizes["cluster"]])
    long = frame.melt(
        id_vars="name",
        value_vars=["share", "revenue_share"],
        var_name="measure",
        value_name="value",
    )
    long["measure"] = long["measure"].map({"share": "customers", "revenue_share": "revenue"})
    fig = px.bar(
        long,
        x="value",
        y="name",
        color="measure",
        barmode="group",
        orientation="h",
        text=long["value"].map("{:.1%}".format),
        title="Share of customers and of revenue per cluster",
    )
    fig.update_layout(
        height=120 + 48 * len(frame),
        margin=_MARGIN,
        xaxis_tickformat=".0%",
        yaxis={"autorange": "reversed", "title": None},
    )
    return fig


def profile_heatmap(differences: pd.DataFrame, names: Mapping[int, str]) -> go.Figure:
    """Standardised difference of each feature's cluster mean from the overall mean
    (clusters as rows), on a diverging scale centred at 0."""
    z = differences.to_numpy()
    bound = float(np.nanmax(np.abs(z))) if z.size else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(differences.columns),
            y=[_label(c, names) for c in differences.index],
            zmin=-bound,
            zmax=bound,
            colorscale="RdBu",
            reversescale=True,
            text=np.round(z, 1),
            texttemplate="%{text}",
            colorbar={"title": "sd"},
        )
    )
    fig.update_layout(
        title="Cluster profiles: difference from the overall mean, in standard deviations",
        height=160 + 44 * len(differences),
        margin=_MARGIN,
        yaxis={"autorange": "reversed"},
        xaxis={"tickangle": -35},
    )
    return fig


def projection_figure(
    Z: np.ndarray,
    labels: np.ndarray,
    names: Mapping[int, str],
    *,
    sample_size: int = 5_000,
    random_state: int = 42,
) -> go.Figure:
    """The prepared matrix projected on its first two principal components (fitted on every
    row), a seeded sample drawn, coloured by cluster."""
    pca = PCA(n_components=2, random_state=random_state).fit(Z)
    rows = sample_rows(len(Z), sample_size, random_state)
    xy = pca.transform(Z[rows])
    ratio = pca.explained_variance_ratio_
    frame = pd.DataFrame(
        {
            "PC1": xy[:, 0],
            "PC2": xy[:, 1],
            "cluster": [_label(c, names) for c in labels[rows]],
        }
    )
    order = [_label(c, names) for c in sorted(np.unique(labels))]
    fig = px.scatter(
        frame,
        x="PC1",
        y="PC2",
        color="cluster",
        opacity=0.55,
        category_orders={"cluster": order},
        color_discrete_sequence=_PALETTE,
        title=f"Customers on the first two principal components ({len(rows):,} drawn)",
    )
    fig.update_traces(marker={"size": 4})
    fig.update_layout(
        height=560,
        margin=_MARGIN,
        legend={"font": {"size": 10}},
        xaxis_title=f"PC1 ({ratio[0]:.0%} of variance)",
        yaxis_title=f"PC2 ({ratio[1]:.0%} of variance)",
    )
    return fig


def dendrogram_figure(
    tree: np.ndarray, cut_height: float, k: int, *, leaves: int = 40
) -> go.Figure:
    """The Ward dendrogram truncated to its last ``leaves`` merges (a leaf's label is the
    number of customers under it), with the cut that gives ``k`` clusters."""
    d = dendrogram(
        tree,
        truncate_mode="lastp",
        p=leaves,
        no_plot=True,
        color_threshold=cut_height,
        above_threshold_color="#999999",
    )
    fig = go.Figure()
    by_color: dict[str, tuple[list[float | None], list[float | None]]] = {}  # None: a break
    for xs, ys, color in zip(d["icoord"], d["dcoord"], d["color_list"], strict=True):
        if color[:1] == "C" and color[1:].isdigit():  # matplotlib cycle names: C1, C2, ...
            color = _color(int(color[1:]) - 1)
        bx, by = by_color.setdefault(color, ([], []))
        bx += [*xs, None]
        by += [*ys, None]
    for color, (xs, ys) in by_color.items():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": color, "width": 1.2},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.add_hline(
        y=cut_height,
        line_dash="dash",
        line_color="#e45756",
        annotation_text=f"cut: {k} clusters",
        annotation_position="top right",
    )
    ticks = 5 + 10 * np.arange(len(d["ivl"]))
    fig.update_layout(
        title=f"Ward dendrogram of {len(tree) + 1:,} sampled customers (last {leaves} merges)",
        xaxis={
            "tickvals": ticks,
            "ticktext": d["ivl"],
            "tickangle": -90,
            "title": "customers under each leaf",
        },
        yaxis_title="merge height (Ward distance)",
        height=480,
        margin=_MARGIN,
    )
    return fig


def stability_figure(by_k: pd.DataFrame, chosen_k: int) -> go.Figure:
    """Mean pairwise ARI of the bootstrap refits by k, with the lowest pair as the lower
    whisker; the chosen k is highlighted."""
    frame = by_k.sort_values("k")
    colors = ["#e45756" if k == chosen_k else "#4c78a8" for k in frame["k"]]
    fig = go.Figure(
        go.Bar(
            x=frame["k"],
            y=frame["ari_mean"],
            marker_color=colors,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": np.zeros(len(frame)),
                "arrayminus": frame["ari_mean"] - frame["ari_min"],
            },
            text=frame["ari_mean"].map("{:.2f}".format),
            textposition="outside",
        )
    )
    fig.update_layout(
        title="Stability: agreement (ARI) between bootstrap refits, by k",
        xaxis={"dtick": 1, "title": "k"},
        yaxis={"range": [0, 1.08], "title": "ARI"},
        height=420,
        margin=_MARGIN,
    )
    return fig
