"""What the CLV report shows: its tables, ready for ``display.table``, and its sentences.

Every function takes a :class:`~workbench.clv.ClvResult` and returns a plain frame (show
it with ``display.table(frame, kinds=clv.KINDS, currency=...)``) or Markdown in which
every value is escaped (:func:`workbench.display.md_text`) and every number formatted.
"""

from __future__ import annotations

import pandas as pd

from workbench.clv.params import MODEL_LABELS
from workbench.clv.predict import tier_table
from workbench.clv.report import ClvResult
from workbench.display import fmt_int, fmt_number, fmt_pct, md_text

__all__ = [
    "KINDS",
    "comparison_table",
    "parameter_table",
    "tiers_table",
    "top_customers",
    "choice_markdown",
    "holdout_markdown",
    "spend_markdown",
]

#: How the columns of these tables (and of ``clv.parquet``) are shown.
KINDS = {
    "log_likelihood": "number",
    "predicted": "number",
    "actual": "int",
    "total_error": "pct",
    "mae": "number",
    "rmse": "number",
    "estimate": "number",
    "customers": "int",
    "clv_total": "money",
    "clv_share": "pct",
    "clv_mean": "money",
    "clv_min": "money",
    "clv": "money",
    "clv_lower": "money",
    "clv_upper": "money",
    "expected_order_value": "money",
    "monetary_value": "money",
    "expected_purchases": "number",
    "expected_purchases_lower": "number",
    "expected_purchases_upper": "number",
    "p_alive": "pct",
    "p_alive_lower": "pct",
    "p_alive_upper": "pct",
    "p_alive_mean": "pct",
    "frequency": "int",
    "recency": "number",
    "T": "number",
    "mean_probability": "pct",
    "value_at_risk": "money",
    "value_at_risk_share": "pct",
    "customers_without_clv": "int",
    "converged": "bool",
}


def comparison_table(result: ClvResult) -> pd.DataFrame:
    """The purchase models side by side (and the naive baseline with a holdout check).

    Returns
    -------
    DataFrame
        ``model, log_likelihood`` (as of ``as_of``), ``converged`` and, with the holdout
        check, ``predicted, actual`` (total repeat purchases in the holdout),
        ``total_error, mae, rmse``; the model used first.
    """
    table = result.comparison
    if table.empty:
        return pd.DataFrame(columns=["model", "log_likelihood", "converged"])
    out = pd.DataFrame(
        {
            "model": table["label"].astype("str"),
            "log_likelihood": table["log_likelihood"],
            "converged": table["converged"].map(lambda v: None if pd.isna(v) else bool(v)),
        },
        index=table.index,
    )
    if "holdout_mae" in table.columns:
        for name in ("predicted", "actual", "total_error", "mae", "rmse"):
            out[name] = table[f"holdout_{name}"]
    first = [result.model] if result.model in out.index else []
    return out.loc[first + [i for i in out.index if i not in first]].reset_index(drop=True)


def parameter_table(result: ClvResult) -> pd.DataFrame:
    """Every fitted parameter with its prior, purchase models and Gamma–Gamma.

    Returns
    -------
    DataFrame
        ``model, parameter, estimate, prior`` (``flat`` for maximum likelihood).
    """
    rows = []
    fits = dict(result.fits)
    if result.spend is not None:
        fits["gamma_gamma"] = result.spend
    for name, fit in fits.items():
        for parameter, value in fit.params.items():
            rows.append(
                {
                    "model": MODEL_LABELS.get(name, name),
                    "parameter": parameter,
                    "estimate": value,
                    "prior": fit.priors.get(parameter, "flat"),
                }
            )
    return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "prior"])


def tiers_table(result: ClvResult) -> pd.DataFrame:
    """Customers, CLV and its share, expected purchases and mean P(alive) per tier."""
    return tier_table(result.predictions).rename_axis("tier").reset_index()


def top_customers(result: ClvResult, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers with the highest CLV (ids only, no personal data)."""
    columns = [
        c
        for c in (
            "customer_id",
            "clv",
            "clv_lower",
            "clv_upper",
            "p_alive",
            "expected_purchases",
            "expected_order_value",
            "frequency",
            "recency",
            "T",
        )
        if c in result.predictions.columns
    ]
    return result.predictions.nlargest(n, "clv")[columns].reset_index(drop=True)


def choice_markdown(result: ClvResult) -> str:
    """Which model predicts and why, in one Markdown paragraph (values escaped)."""
    naive = result.model == "naive"
    label = "the naive baseline" if naive else MODEL_LABELS[result.model]
    why = result.reason.partition(": ")[2] or result.reason  # the reason starts with the label
    text = f"**Used for the predictions: {md_text(label)}** — {md_text(why)}."
    if not naive and result.metrics is not None:
        text += (
            " The rule: the lowest per-customer error on the holdout decides; models within "
            "1 % of it are a tie, which the higher log-likelihood (the better fit to the whole "
            "history) breaks."
        )
    elif not naive:
        text += (
            " Without a holdout check, the model that fits the history best (highest "
            "log-likelihood) is used."
        )
    return text


def holdout_markdown(result: ClvResult) -> str:
    """The holdout check in plain words, or why it could not run (values escaped)."""
    if result.metrics is None or result.split is None:
        predicts = (
            "predicts with the naive baseline"
            if result.model == "naive"
            else ("still fits and predicts")
        )
        return (
            f"**No holdout check**: {md_text(result.holdout_note)}. The stage {predicts} as of "
            f"{md_text(result.as_of.date())}; read the numbers below as unvalidated."
        )
    chosen = result.metrics.loc[result.model]
    naive = result.metrics.loc["naive"]
    customers = len(result.split.frame)
    label = MODEL_LABELS[result.model]
    verdict = (
        "better than"
        if chosen["mae"] < naive["mae"]
        else "no better than — keep this in mind when using"
    )
    return (
        f"Fitted on the history before **{md_text(result.split.cutoff.date())}**, "
        f"{md_text(label)} expected the {fmt_int(customers)} customers who had bought by then "
        f"to make **{fmt_int(chosen['predicted'])}** repeat purchases up to "
        f"{md_text(result.as_of.date())}; they made **{fmt_int(chosen['actual'])}** "
        f"({md_text(fmt_pct(chosen['total_error']))} off in total). Per customer it was off by "
        f"**{fmt_number(chosen['mae'])}** purchases on average, the naive baseline (each "
        f"customer's past rate continued) by **{fmt_number(naive['mae'])}** "
        f"({md_text(fmt_pct(naive['total_error']))} off in total): the model is {verdict} "
        "the simple rule."
    )


def spend_markdown(result: ClvResult) -> str:
    """The Gamma–Gamma assumption check and what it means, in Markdown (values escaped)."""
    check = result.gamma_gamma_check
    if result.spend is None:
        return (
            "**Gamma–Gamma not fitted**: too few repeat buyers with a positive order value; "
            "each customer's own mean order value is used."
        )
    text = f"**Assumption check**: {md_text(check['verdict'])}."
    if check.get("holds"):
        text += (
            " Gamma–Gamma then expects each customer's next orders to be worth a blend of "
            "their own average and everybody's, leaning on their own the more orders they "
            "made."
        )
    return text
