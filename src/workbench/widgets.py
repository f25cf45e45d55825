"""ipywidgets explorers used by the notebooks.

Widgets render in JupyterLab; in batch runs (``workbench run``, :func:`interactive` is
False) each explorer is one compact table instead — the report cannot run widgets. The
computations live in the stage modules (e.g. :func:`workbench.segmentation.cluster_detail`,
:func:`workbench.segmentation.cluster_overview`,
:meth:`workbench.customer360.Customer360.profile`); a widget only wires controls to them.
Every value from the data is escaped (:mod:`workbench.display`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import HTML, display

from workbench.customer360 import Customer360, CustomerNotFound, CustomerProfile
from workbench.display import fmt_int, fmt_number, fmt_pct, table
from workbench.display import html_text as escape
from workbench.segmentation import cluster_details, cluster_overview

#: Set to ``1`` by ``workbench run`` for its kernels: no live widgets in scheduled reports.
BATCH_ENV = "WORKBENCH_BATCH"

_BATCH_NOTE = (
    "Static view for the report: open this notebook in JupyterLab to explore it interactively."
)


def interactive() -> bool:
    """False in batch runs (``workbench run`` sets ``$WORKBENCH_BATCH=1``).

    Live widgets are useless in an HTML report, and executing them headless is where
    nbclient can wait forever for a reply (jupyter/nbclient#312, nteract/papermill#723):
    a scheduled run must not hang on one. In batch the widget functions display the same
    content as plain output instead.
    """
    return os.environ.get(BATCH_ENV, "") != "1"


__all__ = ["cluster_explorer", "customer_360", "customer_table", "interactive", "show_customer"]


def _show(title: str, frame: pd.DataFrame | None, percent: bool, missing: str) -> None:
    display(HTML(f"<h4 style='margin:8px 0 4px'>{escape(title)}</h4>"))
    if frame is None:
        display(HTML(f"<i>{escape(missing)}</i>"))
        return
    kinds = {c: "pct" for c in ("cluster", "overall")} if percent else {}
    display(table(frame, kinds=kinds, index=True))


def cluster_explorer(features: pd.DataFrame, segments: pd.DataFrame, columns: Sequence[str]) -> Any:
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
    ipywidgets.VBox or pandas Styler
        A dropdown above an output area; display it as a cell's last expression. In batch
        runs (:func:`interactive` is False) one compact table instead, a row per cluster
        (:func:`workbench.segmentation.cluster_overview`: size, revenue share, most
        distinctive features, top categories, main RFM segments).
    """
    if not interactive():
        overview = cluster_overview(features, segments, columns)
        if overview.empty:
            raise ValueError("segments: no customers to explore")
        return table(overview, kinds={"share": "pct", "revenue_share": "pct"}).set_caption(
            escape(_BATCH_NOTE)
        )
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
        out.clear_output(wait=True)
        with out:
            _show_cluster(details[cluster], len(segments))

    choose.observe(lambda change: render(change["new"]), names="value")
    render(options[0][1])
    return widgets.VBox([choose, out])


def _show_cluster(detail: Any, total: int) -> None:
    share = detail.customers / total
    display(HTML(f"<b>{escape(detail.name)}</b>: {detail.customers:,} customers ({share:.1%})"))
    _show("Profile (means)", detail.profile, percent=False, missing="")
    _show(
        "Top categories", detail.categories, percent=True,
        missing="No category data in this source.",
    )  # fmt: skip
    _show(
        "RFM segment mix", detail.rfm_mix, percent=True,
        missing="No RFM segments in the feature table.",
    )  # fmt: skip


# --------------------------------------------------------------------------- customer 360

_H4 = "<h4 style='margin:10px 0 4px'>{}</h4>"


def _table(frame: pd.DataFrame, missing: str, *, tooltips: str | None = None) -> None:
    """A table without its index; ``tooltips`` names a column shown on hover instead."""
    if frame is None or frame.empty:
        display(HTML(f"<i>{escape(missing)}</i>"))
        return
    shown = frame.drop(columns=[tooltips]) if tooltips else frame
    styled = table(shown)
    if tooltips:
        # pandas puts tooltips into a title attribute (or CSS) as they are: escape them here
        tips = pd.DataFrame(
            {c: frame[tooltips].astype("str").map(escape) for c in shown.columns},
            index=shown.index,
        )
        styled = styled.set_tooltips(tips, as_title_attribute=True)
    display(styled.set_properties(**{"text-align": "left"}))


def _show_header(profile: CustomerProfile) -> None:
    head, churn = profile.headline, profile.churn
    risk = (
        "not scored"
        if churn is None
        else f"{churn['probability']:.0%} ({churn['risk_band'] or 'no band'})"
    )
    facts = [
        ("RFM segment", head.get("rfm_segment")),
        ("lifecycle", head.get("lifecycle_stage")),
        ("engagement", head.get("engagement_tier")),
        ("cluster", head.get("cluster")),
        ("churn risk", risk),
    ]
    badges = " · ".join(f"{k}: <b>{escape(str(v if v is not None else '–'))}</b>" for k, v in facts)
    as_of = f" as of {escape(head['as_of'])}" if head.get("as_of") else ""
    display(
        HTML(
            f"<h3 style='margin:8px 0 4px'>Customer {escape(profile.customer_id)}{as_of}</h3>"
            f"<div>{badges}</div>"
        )
    )


def _show_segments(profile: CustomerProfile) -> None:
    display(HTML(_H4.format("RFM values and segment")))
    _table(profile.rfm, "No RFM columns in the feature table.", tooltips="meaning")
    display(HTML(_H4.format("Audiences")))
    _table(profile.audiences, "No audiences.")


def _show_churn(profile: CustomerProfile) -> None:
    churn = profile.churn
    display(HTML(_H4.format("Churn")))
    if churn is None:
        display(HTML("<i>No churn probability for this customer (see the notes).</i>"))
    else:
        reasons = "".join(f"<li>{escape(r)}</li>" for r in churn["top_reasons"])
        display(
            HTML(
                f"Probability <b>{churn['probability']:.1%}</b>, band "
                f"<b>{escape(str(churn['risk_band']))}</b> (scored with version "
                f"{escape(str(churn['scored_with']))})" + (f"<ul>{reasons}</ul>" if reasons else "")
            )
        )
    if profile.waterfall is not None:
        profile.waterfall.show()


def _show_activity(profile: CustomerProfile) -> None:
    display(HTML(_H4.format("Recent orders")))
    _table(profile.orders, "No orders before as_of.")
    display(HTML(_H4.format("Engagement")))
    _table(profile.engagement, "No e-mail or web events before as_of.")
    if profile.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in profile.notes)
        display(HTML(_H4.format("Notes") + f"<ul>{items}</ul>"))


def _show_recommendations(profile: CustomerProfile) -> None:
    recommendations = getattr(profile, "recommendations", None)
    if recommendations is None:
        return  # no list: the notes say why
    display(HTML(_H4.format("Recommended products")))
    _table(recommendations, "No recommendations.")


_VALUE_LABELS = {
    "clv": "lifetime value (next horizon)",
    "clv_tier": "CLV tier",
    "clv_rank": "rank by CLV",
    "clv_top_share": "share of customers at or above",
    "p_alive": "P(still a customer)",
    "expected_purchases": "expected purchases",
    "expected_order_value": "expected order value",
}


def _show_value(profile: CustomerProfile) -> None:
    value = getattr(profile, "value", None)
    if not value:
        return  # not valued: the notes say why
    display(HTML(_H4.format("Lifetime value")))
    rows = [(label, value.get(key)) for key, label in _VALUE_LABELS.items() if key in value]
    _table(pd.DataFrame(rows, columns=["what", "value"]), "No CLV.")


def show_customer(profile: CustomerProfile) -> None:
    """Display one :class:`~workbench.customer360.CustomerProfile`: headline, RFM values
    and segment, audiences, churn probability with its reasons and SHAP waterfall,
    lifetime value, recommended products with their reasons, recent orders, engagement and notes (what
    the :func:`customer_360` widget shows, as plain output)."""
    _show_header(profile)
    _show_segments(profile)
    _show_churn(profile)
    _show_value(profile)
    _show_recommendations(profile)
    _show_activity(profile)


def customer_table(profile: CustomerProfile) -> pd.DataFrame:
    """One customer's 360 view as one compact two-column table (what, value): the
    segments, churn risk and reasons, orders, engagement and audiences in a line each."""
    head, churn = profile.headline, profile.churn
    rows: list[tuple[str, Any]] = [
        ("customer", profile.customer_id),
        ("as of", head.get("as_of") or (profile.as_of.date() if profile.as_of else None)),
        ("RFM segment", head.get("rfm_segment")),
        ("lifecycle", head.get("lifecycle_stage")),
        ("engagement", head.get("engagement_tier")),
        ("cluster", head.get("cluster")),
    ]
    if churn is None:
        rows.append(("churn risk", "not scored"))
    else:
        rows += [
            ("churn probability", fmt_pct(churn.get("probability"))),
            ("risk band", churn.get("risk_band")),
            ("reasons", "; ".join(str(r) for r in churn.get("top_reasons") or []) or None),
            ("scored with", churn.get("scored_with")),
        ]
    value = getattr(profile, "value", None)
    if value:
        rows += [
            ("lifetime value", fmt_number(value.get("clv"))),
            ("CLV tier", value.get("clv_tier")),
            ("P(still a customer)", fmt_pct(value.get("p_alive"))),
        ]
    recommendations = getattr(profile, "recommendations", None)
    if recommendations is not None and not recommendations.empty:
        top = recommendations.sort_values("rank").head(3)
        rows.append(("recommended", ", ".join(top["product_id"].astype(str))))
    orders = profile.orders
    if orders is not None and not orders.empty:
        rows.append(("recent orders", f"{fmt_int(len(orders))} shown in the notebook"))
    engagement = profile.engagement
    if engagement is not None and not engagement.empty:
        rows.append(("engagement rows", f"{fmt_int(len(engagement))} channel and event types"))
    audiences = profile.audiences
    if audiences is not None and not audiences.empty and "member" in audiences:
        member = audiences.loc[audiences["member"].astype(bool), "audience"].astype(str)
        rows.append(("audiences", ", ".join(member) or "none"))
    rows += [("note", note) for note in profile.notes]
    return pd.DataFrame(rows, columns=["what", "value"]).astype({"value": object})


def customer_360(view: Customer360, *, customer_id: str = "", options: int = 100) -> Any:
    """Type or pick a customer id; see RFM values and segment, cluster, churn probability
    with its SHAP waterfall, recent orders, engagement and audiences.

    Parameters
    ----------
    view : Customer360
        From :func:`workbench.customer360.open_customer360`.
    customer_id : str
        Shown first (default: the first suggestion, the highest churn risk).
    options : int
        Ids offered in the picker (highest churn risk first); any id can be typed.

    Returns
    -------
    ipywidgets.VBox or pandas Styler or IPython HTML
        The id box and a status line above the profile (segments and audiences beside
        the churn waterfall, then orders and engagement); display it as a cell's last
        expression. An id that is not in the feature table shows the closest ones. In
        batch runs one compact table of the first customer instead
        (:func:`customer_table`), or the reason there is none.
    """
    suggestions = view.suggestions(options)
    if not interactive():
        first = customer_id or (suggestions[0] if suggestions else "")
        if not first:
            return HTML("<i>No customer to show: the feature table is empty.</i>")
        try:
            profile = view.profile(view.resolve(first))
        except CustomerNotFound as exc:
            return HTML(f"<b>{escape(str(exc))}</b>")
        return table(customer_table(profile)).set_caption(escape(_BATCH_NOTE))
    box = widgets.Combobox(
        value="",
        placeholder="type or pick a customer id",
        options=suggestions,
        ensure_option=False,
        description="Customer",
        continuous_update=True,
        layout=widgets.Layout(width="420px"),
    )
    status = widgets.HTML()
    parts = {
        name: widgets.Output(layout=widgets.Layout(**layout))
        for name, layout in (
            ("header", {}),
            ("segments", {"width": "50%", "padding": "0 12px 0 0"}),
            ("churn", {"width": "50%"}),
            ("value", {}),
            ("recommendations", {}),
            ("activity", {}),
        )
    }
    shown: dict[str, str | None] = {"id": None}

    def render(value: str) -> None:
        try:
            cid = view.resolve(value)
        except CustomerNotFound as exc:
            status.value = f"<span style='color:#b42318'>{escape(str(exc))}</span>"
            return
        if cid == shown["id"]:
            status.value = ""
            return
        status.value = f"<span style='color:#666'>loading {escape(cid)}…</span>"
        profile = view.profile(cid)
        for name, show in (
            ("header", _show_header),
            ("segments", _show_segments),
            ("churn", _show_churn),
            ("value", _show_value),
            ("recommendations", _show_recommendations),
            ("activity", _show_activity),
        ):
            parts[name].clear_output(wait=True)
            with parts[name]:
                show(profile)
        shown["id"] = cid
        status.value = ""

    box.observe(lambda change: render(change["new"]), names="value")
    first = customer_id or (suggestions[0] if suggestions else "")
    if first:
        box.value = first  # renders through the observer
    return widgets.VBox(
        [
            box,
            status,
            parts["header"],
            widgets.HBox([parts["segments"], parts["churn"]]),
            parts["recommendations"],
            parts["activity"],
        ]
    )
