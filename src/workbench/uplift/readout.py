"""The uplift report's headline, tables and sentences (values formatted, nothing escaped
here: the notebook shows them through :mod:`workbench.display`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.display import Headline, HeadlineItem, fmt_int, md_text
from workbench.uplift.evaluate import NO_HETEROGENEITY, RANDOM, at_k_column
from workbench.uplift.inputs import arm_column
from workbench.uplift.params import BASELINE
from workbench.uplift.scoring import BEST_ARM
from workbench.uplift.source import UpliftInputs
from workbench.uplift.workflow import UpliftResult

__all__ = [
    "KINDS",
    "headline",
    "input_table",
    "arm_table",
    "metrics_table",
    "effects_table",
    "decisions_markdown",
    "chosen_deciles",
    "audience_table",
]

#: Display kinds of the readout tables' columns (for :func:`workbench.display.table`).
KINDS = {
    "rows": "int",
    "customers": "int",
    "n_treated": "int",
    "n_control": "int",
    "treated": "int",
    "control": "int",
    "persuadable": "int",
    "share": "pct",
}


def _qini(value: float | None) -> str:
    """A Qini coefficient with three decimals (``–`` when missing)."""
    return "–" if value is None else f"{value:.3f}"


def _effect_text(value: float | None, binary: bool) -> str:
    if value is None:
        return "–"
    if binary:
        return f"{value * 100:+.2f} pts"
    return f"{value:+,.2f}"


def headline(summary: dict[str, Any]) -> Headline:
    """What a reader of the uplift stage needs first, from
    :func:`~workbench.uplift.summary.uplift_summary` (with scores).

    Items: the experiment, its customers, the arms with a model that passed the gate, the
    best chosen model's holdout Qini against the best response model's, and the
    persuadable audience. Status ``warning`` when no arm has a reliable model (everyone or
    no one is the answer).

    Examples
    --------
    >>> s = {"experiment": "e1", "arms": ["b", "c"], "control": "a", "outcome_kind": "binary",
    ...      "rows": {"total": 9000}, "chosen": {"b": "two_model_xgboost", "c": None},
    ...      "models": {"two_model_xgboost": {"b": {"qini": 0.12}, "c": {"qini": 0.01}},
    ...                 "response_xgboost": {"b": {"qini": 0.08}, "c": {"qini": 0.02}}},
    ...      "average_effect": {"b": {"effect": 0.04}, "c": {"effect": 0.001}},
    ...      "scores": {"persuadable": 2500, "persuadable_uplift": 0.01}}
    >>> h = headline(s)
    >>> h.sentence
    'On experiment e1 (9,000 customers), b: two_model_xgboost ranks customers with a holdout Qini of 0.120 against 0.080 for the response model; c: no reliable heterogeneity: target everyone or no one by the average effect (+0.10 pts). 2,500 customers are persuadable (expected uplift of at least 1.00 pts).'
    >>> h.status
    'ok'
    """
    binary = summary.get("outcome_kind", "binary") == "binary"
    arms = list(summary["arms"])
    chosen = summary["chosen"]
    models = summary["models"]
    parts = []
    best: tuple[float, float | None] | None = None
    for arm in arms:
        name = chosen.get(arm)
        response = [m[arm]["qini"] for n, m in models.items()
                    if n.startswith(BASELINE) and arm in m and m[arm]["qini"] is not None]  # fmt: skip
        top_response = max(response) if response else None
        if name is None:
            effect = summary["average_effect"][arm]["effect"]
            parts.append(f"{arm}: {NO_HETEROGENEITY} ({_effect_text(effect, binary)})")
            continue
        qini = models[name][arm]["qini"]
        versus = (
            f" against {_qini(top_response)} for the response model"
            if top_response is not None
            else ""
        )
        parts.append(f"{arm}: {name} ranks customers with a holdout Qini of "
                     f"{_qini(qini)}{versus}")  # fmt: skip
        if best is None or qini > best[0]:
            best = (qini, top_response)
    total = summary["rows"]["total"]
    sentence = (
        f"On experiment {summary['experiment']} ({fmt_int(total)} customers), "
        + "; ".join(parts)
        + "."
    )
    scores = summary.get("scores") or {}
    items = [
        HeadlineItem("experiment", str(summary["experiment"]), "text"),
        HeadlineItem("customers", total, "int"),
        HeadlineItem(
            "arms with a model",
            f"{sum(v is not None for v in chosen.values())} of {len(arms)}",
            "text",
        ),  # fmt: skip
    ]
    if best is not None:
        versus = f"{_qini(best[0])} vs {_qini(best[1])}"
        items.append(HeadlineItem("best Qini vs response", versus, "text"))
    if scores:
        threshold = scores["persuadable_uplift"]
        sentence += (
            f" {fmt_int(scores['persuadable'])} customers are persuadable (expected uplift of "
            f"at least {_effect_text(threshold, binary).lstrip('+')})."
        )
        items.append(HeadlineItem("persuadable customers", scores["persuadable"], "int"))
    status = "ok" if best is not None else "warning"
    return Headline(sentence, tuple(items), status)


def input_table(inputs: UpliftInputs, result: UpliftResult) -> pd.DataFrame:
    """The input in a few numbers (column ``value`` is text).

    Examples
    --------
    >>> input_table(inputs, result)                                   # doctest: +SKIP
    """
    data = result.data
    rows: list[tuple[str, str]] = [
        ("experiment", str(inputs.experiment)),
        ("read from", "the canonical tables" if inputs.route == "tables" else "a file"),
        ("source", str(inputs.source)),
        ("control", str(data.control)),
        ("treatment arms", ", ".join(data.arms)),
        ("outcome", f"{data.outcome_column} ({data.outcome_kind})"),
        ("customers", fmt_int(len(data))),
        ("training rows / holdout rows",
         f"{fmt_int(len(result.train_rows))} / {fmt_int(len(result.holdout_rows))}"),
        ("model inputs (numeric / categorical)",
         f"{len(data.columns.numeric)} / {len(data.columns.categorical)}"),
    ]  # fmt: skip
    if inputs.features_as_of is not None:
        rows.append(("features built as of (first assignment date)",
                     str(inputs.features_as_of.date())))  # fmt: skip
    return pd.DataFrame(rows, columns=["what", "value"])


def arm_table(result: UpliftResult) -> pd.DataFrame:
    """Customers, outcome mean and share per arm (control first)."""
    return result.data.arm_table().rename(columns={"rows": "customers"})


def metrics_table(result: UpliftResult) -> pd.DataFrame:
    """Every model, the response baseline and random per arm on the holdout, side by side.

    Columns: ``arm, model, qini`` (with its bootstrap interval), ``auuc``,
    ``uplift_at_10 …``, whether the model beats random and the baseline, and ``chosen``.
    Sorted by arm, then Qini (highest first); random last.
    """
    m = result.metrics
    at_k = [at_k_column(k) for k in result.params.top_fractions]
    columns = ["arm", "model", "qini", "qini_low", "qini_high", "auuc", *at_k,
               "beats_random", "beats_baseline", "chosen"]  # fmt: skip
    out = m[columns].copy()
    out["_random"] = out["model"].eq(RANDOM)
    out = out.sort_values(["arm", "_random", "qini"], ascending=[True, True, False], kind="stable")
    return out.drop(columns="_random").reset_index(drop=True)


def effects_table(result: UpliftResult) -> pd.DataFrame:
    """The average effect of each arm against control, with its interval."""
    e = result.effects.rename(columns={"n_treated": "treated", "n_control": "control"})
    return e[["arm", "treated", "control", "mean_treated", "mean_control", "effect", "ci_low",
              "ci_high"]]  # fmt: skip


def decisions_markdown(result: UpliftResult) -> str:
    """One bullet per arm: the model used and why, or the no-heterogeneity fallback."""
    lines = []
    for arm, text in result.decisions.items():
        lines.append(f"- **{md_text(arm)}**: {md_text(text)}")
    return "\n".join(lines)


def chosen_deciles(result: UpliftResult, arm: str) -> pd.DataFrame:
    """Observed uplift by decile of the chosen model (else the best response model) for
    ``arm``, with intervals, and the model's name in column ``model``."""
    name = result.chosen.get(arm)
    if name is None:
        group = result.metrics[(result.metrics["arm"] == arm)
                               & (result.metrics["approach"] == BASELINE)]  # fmt: skip
        name = str(group.sort_values("qini")["model"].iloc[-1])
    rows = result.deciles[(result.deciles["arm"] == arm) & (result.deciles["model"] == name)]
    return rows.drop(columns="arm").reset_index(drop=True)


def audience_table(scores: pd.DataFrame, arms: tuple[str, ...], threshold: float) -> pd.DataFrame:
    """Per arm: customers whose best arm it is, the persuadable among them (expected
    uplift at least ``threshold``), and the mean expected uplift of those; ``none`` for
    the customers no arm is expected to help.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"], "uplift_x": [0.05, 0.002, -0.01],
    ...                   "best_arm": ["x", "x", None]})
    >>> audience_table(s, ("x",), 0.01).to_dict("list")
    {'best arm': ['x', 'none'], 'customers': [2, 1], 'persuadable': [1, 0], 'share': [0.6666666666666666, 0.3333333333333333], 'mean expected uplift of the persuadable': [0.05, nan]}
    """
    rows = []
    for arm in (*arms, None):
        mine = scores[scores[BEST_ARM].isna()] if arm is None else scores[scores[BEST_ARM] == arm]
        if arm is None:
            persuaded = pd.Series(dtype="float64")
        else:
            values = mine[arm_column(arm)]
            persuaded = values[values >= threshold]
        rows.append({
            "best arm": "none" if arm is None else arm,
            "customers": len(mine),
            "persuadable": len(persuaded),
            "share": len(mine) / len(scores) if len(scores) else float("nan"),
            "mean expected uplift of the persuadable":
                float(persuaded.mean()) if len(persuaded) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)
