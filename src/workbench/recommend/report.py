"""What the recommendations report shows: its tables, sentences and headline.

Every function returns a plain frame (show it with ``display.table(frame,
kinds=recommend.KINDS)``), Markdown in which every value from the data is escaped
(:func:`workbench.display.md_text`) and every number formatted, or the
:class:`~workbench.display.Headline` of ``recommendations.json``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from workbench.display import Headline, HeadlineItem, fmt_int, fmt_number, fmt_pct, md_text
from workbench.recommend.connect import customer_recommendations
from workbench.recommend.evaluate import Evaluation
from workbench.recommend.final import FINAL_COLUMNS
from workbench.recommend.metrics import METRICS

__all__ = [
    "KINDS",
    "MODEL_LABELS",
    "model_table",
    "model_figure",
    "choice_markdown",
    "exclusion_markdown",
    "reason_table",
    "example_lists",
    "headline",
]

#: Readable names of the model families.
MODEL_LABELS = {
    "popularity": "popularity",
    "popularity_in_category": "popularity in the top category",
    "buy_again": "buy again",
    "item_knn": "item-kNN",
    "als": "ALS",
    "bpr": "BPR",
    "blend": "blend",
}

#: How the columns of these tables are shown.
KINDS = {
    "customers": "int",
    "validation NDCG": "number",
    "coverage": "pct",
    "re-purchase share": "pct",
    "recommendations": "int",
    "share": "pct",
    "rank": "int",
    "score": "number",
    "NDCG, repeats allowed": "number",
    "NDCG, bought products excluded": "number",
}

_METRIC_LABELS = {
    "precision_at_k": "Precision",
    "recall_at_k": "Recall",
    "ndcg_at_k": "NDCG",
    "map_at_k": "MAP",
}


def _label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def _interval(mean: Any, low: Any, high: Any) -> str:
    if pd.isna(low) or pd.isna(high):
        return fmt_number(mean, 3)
    return f"{fmt_number(mean, 3)} [{fmt_number(low, 3)}, {fmt_number(high, 3)}]"


def model_table(evaluation: Evaluation) -> pd.DataFrame:
    """Every model on the test window, side by side, the chosen one first.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``validation NDCG`` (what chose), ``Precision@K, Recall@K, NDCG@K,
        MAP@K`` as text ``mean [low, high]`` (bootstrap interval over customers),
        ``coverage`` (share of the catalogue shown to someone), ``re-purchase share``
        (share of the recommendations the customer had bought before) and the
        hyperparameters chosen on the validation window.
    """
    table, k = evaluation.table, evaluation.params.k
    rows = []
    for name, row in table.iterrows():
        entry: dict[str, Any] = {
            "model": _label(str(name)) + (" (chosen)" if name == evaluation.chosen else ""),
            "validation NDCG": row.get("validation_ndcg_at_k"),
        }
        for metric in METRICS:
            entry[f"{_METRIC_LABELS[metric]}@{k}"] = _interval(
                row[metric], row.get(f"{metric}_low"), row.get(f"{metric}_high")
            )
        entry["coverage"] = row.get("coverage")
        entry["re-purchase share"] = row.get("repurchase_share")
        entry["hyperparameters"] = row.get("hyperparameters") or "{}"
        rows.append(entry)
    out = pd.DataFrame(rows, index=table.index)
    first = [evaluation.chosen] if evaluation.chosen in out.index else []
    order = first + [i for i in out.index if i not in first]
    return out.loc[order].reset_index(drop=True)


def model_figure(evaluation: Evaluation) -> go.Figure:
    """NDCG@K of every model on the test window with its bootstrap interval, best at the
    top; the chosen model (picked on the validation window) in a darker colour."""
    table, k = evaluation.table, evaluation.params.k
    order = table["ndcg_at_k"].sort_values(kind="stable").index
    mean = table.loc[order, "ndcg_at_k"].astype(float)
    low = table.loc[order].get("ndcg_at_k_low", mean).astype(float)
    high = table.loc[order].get("ndcg_at_k_high", mean).astype(float)
    colours = ["#1f4e79" if name == evaluation.chosen else "#9bb7d4" for name in order]
    fig = go.Figure(
        go.Bar(
            x=mean,
            y=[_label(str(name)) for name in order],
            orientation="h",
            marker_color=colours,
            error_x={"type": "data", "symmetric": False, "array": high - mean,
                     "arrayminus": mean - low},
            hovertemplate="%{y}: NDCG %{x:.3f}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"NDCG@{k} on the test window (bars: 95% bootstrap interval; dark: chosen)",
        xaxis_title=f"NDCG@{k}",
        height=80 + 40 * len(order),
        margin={"t": 60, "l": 10, "r": 10, "b": 10},
    )
    return fig


def choice_markdown(evaluation: Evaluation) -> str:
    """The chosen model, why, and its lift over popularity on the test window."""
    k, chosen, table = evaluation.params.k, evaluation.chosen, evaluation.table
    ndcg = table["ndcg_at_k"]
    text = (
        f"**Chosen: {md_text(_label(chosen))}** — the best mean NDCG@{k} on the validation "
        f"window ({fmt_number(table.loc[chosen, 'validation_ndcg_at_k'], 3)}); the test "
        "window chose nothing. "
    )
    best_test = str(ndcg.idxmax())
    if best_test == chosen:
        text += f"It is also the best on the test window (NDCG@{k} {fmt_number(ndcg[chosen], 3)}). "
    else:
        text += (
            f"On the test window {md_text(_label(best_test))} did better "
            f"({fmt_number(ndcg[best_test], 3)} against {fmt_number(ndcg[chosen], 3)}): the "
            "two are close, and choosing on the test window would overstate the result. "
        )
    lift = evaluation.lift
    if lift:
        text += (
            f"Against popularity on the same customers its NDCG@{k} is "
            f"**{fmt_number(lift['ratio'], 2)} times** as high (95 % paired bootstrap interval "
            f"{fmt_number(lift['ratio_low'], 2)} to {fmt_number(lift['ratio_high'], 2)}; "
            f"difference {fmt_number(lift['difference'], 3)})."
        )
    return text


def exclusion_markdown(evaluation: Evaluation, exclusion: pd.DataFrame | None) -> str:
    """The exclude-already-bought decision: what the lists do, and what the test window
    says about the alternative (``exclusion``: :func:`~workbench.recommend.exclusion_effect`)."""
    params, k = evaluation.params, evaluation.params.k
    verb = "leave out" if params.exclude_purchased else "may repeat"
    text = (
        f"**Already-bought products:** the lists {verb} products the customer bought "
        f"before (`exclude_purchased = {params.exclude_purchased}`)."
    )
    if exclusion is not None and not exclusion.empty:
        chosen = exclusion.set_index("model").iloc[0]
        allowed = chosen["NDCG, repeats allowed"]
        excluded = chosen["NDCG, bought products excluded"]
        better = allowed >= excluded
        fits = better != params.exclude_purchased
        text += (
            f" On the test window the chosen model's NDCG@{k} is {fmt_number(allowed, 3)} with "
            f"repeats allowed and {fmt_number(excluded, 3)} with bought products excluded"
            f"; {fmt_pct(exclusion.attrs.get('repeat_share'))} of the products bought in the "
            "test window had been bought by the same customer before. "
        )
        text += (
            "The setting agrees with that."
            if fits
            else "**The other setting would do better on this data: consider changing it.**"
        )
    return text


_REASON_KINDS = (
    ("you buy this every", "a repeat cycle (\u201cyou buy this every ~N days\u201d)"),
    ("you bought this before", "bought once before"),
    ("you bought this", "bought several times"),
    ("bought together with", "bought together with one of their products"),
    ("popular", "popular (in its category or overall)"),
)


def _reason_kind(reason: str) -> str:
    for prefix, label in _REASON_KINDS:
        if reason.startswith(prefix):
            return label
    return "other"


def reason_table(recommendations: pd.DataFrame) -> pd.DataFrame:
    """How many recommendations carry each kind of reason.

    Examples
    --------
    >>> recs = pd.DataFrame({"reason": ["you bought this 3 times", "popular in home",
    ...                                  "popular in books", "bought together with Mug"]})
    >>> reason_table(recs)["recommendations"].tolist()
    [2, 1, 1]
    """
    kinds = recommendations["reason"].astype("str").map(_reason_kind)
    counts = kinds.value_counts()
    out = counts.rename_axis("reason").reset_index(name="recommendations")
    out["share"] = out["recommendations"] / max(len(recommendations), 1)
    return out


def example_lists(
    recommendations: pd.DataFrame, n_customers: int = 3, products: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The lists of the first ``n_customers`` customers (ids only), with the products'
    names and categories when ``products`` is given."""
    ids = pd.unique(recommendations["customer_id"])[:n_customers]
    frames = []
    for cid in ids:
        mine = customer_recommendations(recommendations, cid, products)
        if mine is not None:
            frames.append(mine.assign(customer_id=str(cid)))
    if not frames:
        return pd.DataFrame(columns=["customer_id", *FINAL_COLUMNS[1:]])
    out = pd.concat(frames, ignore_index=True)
    return out[["customer_id", *[c for c in out.columns if c != "customer_id"]]]


def headline(summary: dict[str, Any]) -> Headline:
    """What a reader of the stage needs first, from ``recommendations.json``.

    Items: the chosen model, its test NDCG@K, the lift over popularity, the customers
    with a list and the share of products shown to someone. The status is ``warning``
    when the models could not be judged (too short a history) or the chosen model does
    not beat popularity.

    Examples
    --------
    >>> s = {"chosen": "blend", "k": 10, "customers": 2900, "top_k": 10,
    ...      "lift_over_popularity": 1.8, "test_days": 30,
    ...      "models": {"blend": {"ndcg_at_k": 0.49, "coverage": 0.4}}}
    >>> h = headline(s)
    >>> h.text()
    'model blend · NDCG@10 0.49 · lift over popularity 1.80 · customers 2,900 · catalogue shown 40.0%'
    >>> h.status
    'ok'
    """
    chosen, k = summary["chosen"], summary["k"]
    entry = (summary.get("models") or {}).get(chosen) or {}
    lift = summary.get("lift_over_popularity")
    label = _label(chosen)
    items = [
        HeadlineItem("model", label, "text"),
        HeadlineItem(f"NDCG@{k}", entry.get("ndcg_at_k"), "number"),
        HeadlineItem("lift over popularity", lift, "number"),
        HeadlineItem("customers", summary["customers"], "int"),
        HeadlineItem("catalogue shown", entry.get("coverage"), "pct"),
    ]
    if not entry:
        sentence = (
            f"{fmt_int(summary['customers'])} customers got {summary['top_k']} products each "
            f"from {label}, unjudged: {summary.get('chosen_by', 'no evaluation')}."
        )
        return Headline(sentence, items[:1] + items[3:4], "warning")
    sentence = (
        f"{label[0].upper()}{label[1:]} recommends {summary['top_k']} products to each of "
        f"{fmt_int(summary['customers'])} customers; on the last {summary['test_days']} days "
        f"it ranked what they bought with NDCG@{k} {fmt_number(entry.get('ndcg_at_k'), 3)}"
    )
    if lift is not None:
        sentence += f", {fmt_number(lift, 2)} times popularity's"
    status = "ok" if lift is not None and lift > 1 else "warning"
    return Headline(sentence + ".", items, status)
