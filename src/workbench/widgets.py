"""ipywidgets explorers used by the stage notebooks.

Widgets render in JupyterLab; the HTML report replaces them with a note, so each
notebook also shows a static table with the same content. The computations live in the
stage modules (e.g. :func:`workbench.segmentation.cluster_detail`); a widget only wires
controls to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import ipywidgets as widgets
import pandas as pd
from IPython.display import HTML, display

from workbench.segmentation import cluster_details

__all__ = ["cluster_explorer"]


def _show(title: str, frame: pd.DataFrame | None, percent: bool, missing: str) -> None:
    display(HTML(f"<h4 style='margin:8px 0 4px'>{title}</h4>"))
    if frame is None:
        display(HTML(f"<i>{missing}</i>"))
        return
    fmt = {c: "{:.1%}" for c in ("cluster", "overall")} if percent else {}
    display(frame.style.format(fmt, precision=2, na_rep="–"))


def cluster_explorer(
    features: pd.DataFrame, segments: pd.DataFrame, columns: Sequence[str]
) -> widgets.VBox:
    """Choose a cluster, see its profile, its top categories and its RFM-segment mix.

    Parameters
    ----------
    features : DataFrame
        The feature table (not modified).
    segments : DataFrame
        customer_id, cluster, cluster_name.
    columns : sequence of str
        Features of the profile table (usually the clustering inputs).

    Returns
    -------
    ipywidgets.VBox
        A dropdown above an output area; display it as a cell's last expression.
    """
    details = cluster_details(features, segments, columns)
    if not details:
        raise ValueError("segments: no customers to explore")
    options = [(f"{c}: {d.name} ({d.customers:,})", c) for c, d in details.items()]
    choose = widgets.Dropdown(
        options=options,
        value=options[0][1],
        description="Cluster",
        layout=widgets.Layout(width="640px"),
    )
    out = widgets.Output()

    def render(cluster: int) -> None:
        detail = details[cluster]
        out.clear_output(wait=True)
        with out:
            share = detail.customers / len(segments)
            display(
                HTML(f"<b>{escape(detail.name)}</b>: {detail.customers:,} customers ({share:.1%})")
            )
            _show("Profile (means)", detail.profile, percent=False, missing="")
            _show(
                "Top categories",
                detail.categories,
                percent=True,
                missing="No category data in this source.",
            )
            _show(
                "RFM segment mix",
                detail.rfm_mix,
                percent=True,
                missing="No RFM segments in the feature table.",
            )

    choose.observe(lambda change: render(change["new"]), names="value")
    render(options[0][1])
    return widgets.VBox([choose, out])
