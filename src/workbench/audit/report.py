"""Tables and Plotly figures for the audit report.

Everything here reads an :class:`~workbench.audit.AuditResult` and returns a pandas
frame, a Plotly figure or plain text. Customers appear by id only; e-mail addresses are
masked (``j***@example.com``) and names never appear.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench import display, plots
from workbench.audit.duplicates import duplicate_metrics
from workbench.audit.result import AuditResult
from workbench.audit.rules import RULES

__all__ = [
    "set_aside",
    "amount_limits_table",
    "reconciliation",
    "revenue_reconciliation",
    "scorecard_figure",
    "rules_figure",
    "missingness_matrix",
    "missingness_figure",
    "amount_figure",
    "failure_examples",
    "duplicate_clusters",
    "duplicate_score_figure",
    "fix_at_source",
    "fix_at_source_markdown",
    "repairs_table",
    "duplicate_truth_check",
]

_SEVERITY_COLOURS = {"error": "#e45756", "warning": "#f58518", "info": "#4c78a8"}
_MISSING_WORTH_FIXING = 0.05  # optional columns blank in at least this share of rows ...
_PROFILE_TABLES = ("customers", "orders")  # ... of these tables (elsewhere blanks are by design)
_CONSEQUENCES = ("order_quarantined",)


def set_aside(result: AuditResult) -> pd.DataFrame:
    """Per table with rows at or after ``as_of``: how many were set aside (not audited,
    written to ``after_as_of/``) and their share of the table's rows."""
    card = result.scorecard()
    later = card[card["rows_after_as_of"] > 0][["table", "rows_in", "rows_after_as_of"]].copy()
    later["share"] = later["rows_after_as_of"] / later["rows_in"].clip(lower=1)
    return later.reset_index(drop=True)


def amount_limits_table(result: AuditResult) -> pd.DataFrame:
    """The outlier limits of order amounts (median, IQR fences, robust z limits)."""
    names = {"median": "median", "iqr_low": "IQR fence, low", "iqr_high": "IQR fence, high",
             "z_low": "robust z, low", "z_high": "robust z, high"}  # fmt: skip
    return pd.DataFrame(
        {"limit": [names.get(k, k) for k in result.amount_limits],
         "amount": list(result.amount_limits.values())}
    )  # fmt: skip


def reconciliation(result: AuditResult) -> pd.DataFrame:
    """Per table: ``rows_in``, ``rows_clean``, ``rows_quarantined``, ``rows_after_as_of``
    (set aside, not audited) and whether they add up."""
    rows = result.scorecard()[
        ["table", "rows_in", "rows_clean", "rows_quarantined", "rows_after_as_of"]
    ].copy()
    parts = rows["rows_clean"] + rows["rows_quarantined"] + rows["rows_after_as_of"]
    rows["reconciled"] = rows["rows_in"] == parts
    return rows


def revenue_reconciliation(result: AuditResult) -> pd.DataFrame:
    """Revenue of the orders as loaded and where it went: one row per part (clean,
    quarantined orders, quarantined lines of clean orders, set aside after ``as_of``) and
    the check that they add up to the loaded revenue (empty without a revenue figure)."""
    revenue = result.revenue
    columns = ["part", "revenue", "share"]
    if revenue is None:
        return pd.DataFrame(columns=columns)
    parts = {
        "clean orders": revenue.clean,
        "quarantined orders": revenue.quarantined_orders,
        "quarantined lines of clean orders": revenue.quarantined_lines,
        "set aside after as_of": revenue.after_as_of,
        "orders as loaded": revenue.raw,
    }
    frame = pd.DataFrame({"part": list(parts), "revenue": list(parts.values())})
    frame["share"] = frame["revenue"] / revenue.raw if revenue.raw else np.nan
    return frame


def scorecard_figure(result: AuditResult) -> go.Figure:
    """The scorecard as a table: rows, failing rules and the quality score per table."""
    card = result.scorecard()
    colour = np.where(
        card["quality_score"] >= 99,
        "#d8f0d2",
        np.where(card["quality_score"] >= 95, "#fdf2c4", "#f8d0cc"),
    )
    columns = {
        "table": "table",
        "rows_in": "rows in",
        "rows_clean": "clean",
        "rows_quarantined": "quarantined",
        "rows_flagged": "flagged",
        "error_rules_failed": "error rules failed",
        "warning_rules_failed": "warning rules failed",
        "quality_score": "quality score",
    }
    values = [card[c].map("{:,}".format) if c.startswith("rows") else card[c] for c in columns]
    fills = [["white"] * len(card)] * (len(columns) - 1) + [colour.tolist()]
    fig = go.Figure(
        go.Table(
            header={"values": list(columns.values()), "fill_color": "#eeeeee", "align": "left"},
            cells={"values": values, "fill_color": fills, "align": "left"},
        )
    )
    fig.update_layout(
        title="Scorecard: quality score = 100 × share of rows passing every error and warning rule",
        height=90 + 28 * len(card),
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return fig


def rules_figure(result: AuditResult) -> go.Figure:
    """Failing rows per failed rule (log axis), coloured by severity."""
    rules = result.rules()
    failed = rules[(rules["status"] == "failed") & (rules["failing_rows"] > 0)].copy()
    failed["label"] = (
        failed["table"]
        + " · "
        + failed["rule"]
        + failed["column"].map(lambda c: f" ({c})" if isinstance(c, str) else "")
    )
    failed = failed.sort_values("failing_rows")
    fig = go.Figure()
    for severity, colour in _SEVERITY_COLOURS.items():
        part = failed[failed["severity"] == severity]
        if len(part):
            fig.add_bar(
                x=part["failing_rows"],
                y=part["label"],
                orientation="h",
                name=severity,
                marker_color=colour,
            )
    fig.update_layout(
        title="Failing rows per rule",
        xaxis_type="log",
        xaxis_title="rows (log scale)",
        height=max(300, 24 * len(failed) + 100),
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
        barmode="stack",
    )
    return fig


def missingness_matrix(result: AuditResult) -> pd.DataFrame:
    """Share of blank values: one row per table, one column per canonical column name
    (NaN where the table has no such column)."""
    wide = result.missingness.pivot(index="table", columns="column", values="missing_share")
    order = [t for t in result.rows["table"] if t in wide.index]
    columns = list(dict.fromkeys(result.missingness["column"]))
    return wide.loc[order, columns]


def missingness_figure(result: AuditResult) -> go.Figure:
    """Heatmap of the share of blank values per table and column."""
    matrix = missingness_matrix(result)
    fig = plots.heatmap(
        matrix,
        title="Share of blank values (input rows)",
        zmid=None,
        colorscale="Reds",
        text_format=".1%",
    )
    fig.update_coloraxes(cmin=0, cmax=max(float(np.nanmax(matrix.to_numpy())), 0.01))
    return fig


def amount_figure(result: AuditResult) -> go.Figure:
    """Distribution of order amounts (log scale) with the IQR and robust-z outlier limits."""
    limits = result.amount_limits
    vlines = {
        "median": limits.get("median"),
        "IQR fence": limits.get("iqr_high"),
        "robust z": limits.get("z_high"),
    }
    low = {"IQR low": limits.get("iqr_low"), "robust z low": limits.get("z_low")}
    if (
        result.amounts.notna().any()
        and result.amounts.min() < max(v or 0 for v in low.values()) * 2
    ):
        vlines.update(low)  # draw the lower limits only where values come close to them
    return plots.histogram(
        result.amounts,
        title="Order amounts (orders without errors) and the outlier limits",
        log_x=True,
        vlines={k: v for k, v in vlines.items() if v is not None},
    )


def failure_examples(
    result: AuditResult, *, per_rule: int = 2, severities: tuple[str, ...] = ("error", "warning")
) -> pd.DataFrame:
    """A few failing rows per rule: ids, masked e-mail (customers) and the reason."""
    examples = result.examples
    examples = examples[examples["severity"].isin(severities)]
    return examples.groupby(["table", "rule"], sort=False).head(per_rule).reset_index(drop=True)


def duplicate_clusters(result: AuditResult, *, top: int | None = 20) -> pd.DataFrame:
    """The duplicate clusters found: survivor, merged ids, scores and what agreed.

    ``agreed_on`` lists the components with a similarity of at least 0.9 in the
    cluster's matched pairs (e-mail, name, birth date, location) — no values shown.
    """
    columns = [
        "cluster_id",
        "surviving_id",
        "merged_ids",
        "customers",
        "min_score",
        "max_score",
        "agreed_on",
    ]
    dup = result.duplicates
    if dup is None or dup.merge_map.empty:
        return pd.DataFrame(columns=columns)
    merged = dup.merge_map
    matched = dup.pairs[dup.pairs["matched"]]
    cluster_of = pd.concat(
        [
            pd.Series(merged["cluster_id"].to_numpy(), index=merged["duplicate_id"].to_numpy()),
            pd.Series(merged["cluster_id"].to_numpy(), index=merged["surviving_id"].to_numpy()),
        ]
    )
    cluster_of = cluster_of[~cluster_of.index.duplicated()]
    pairs = matched.assign(cluster_id=matched["id_a"].map(cluster_of))
    names = {"email": "e-mail", "name": "name", "birth": "birth date", "location": "location"}
    agreed = {
        cid: ", ".join(label for key, label in names.items() if (group[key] >= 0.9).any())
        for cid, group in pairs.groupby("cluster_id")
    }
    out = merged.groupby("cluster_id").agg(
        surviving_id=("surviving_id", "first"),
        merged_ids=("duplicate_id", lambda ids: ", ".join(sorted(ids))),
        customers=("duplicate_id", lambda ids: len(ids) + 1),
        min_score=("score", "min"),
        max_score=("score", "max"),
    )
    out["agreed_on"] = out.index.map(agreed)
    out = out.reset_index().sort_values(["min_score", "cluster_id"]).reset_index(drop=True)
    return out[columns].head(top) if top else out[columns]


def duplicate_score_figure(result: AuditResult) -> go.Figure:
    """Candidate pairs by match weight (log2 odds of being one person) with the threshold."""
    dup = result.duplicates
    weights = pd.Series(dtype="float64") if dup is None else dup.pairs["match_weight"]
    threshold = result.config.duplicate_threshold
    line = float(np.log2(threshold / (1 - threshold))) if threshold < 1 else None
    fig = plots.histogram(
        weights,
        title="Candidate pairs of customers by match weight (right of the line: one person)",
        bins=60,
        vlines={f"threshold {threshold:g}": line} if line is not None else None,
    )
    fig.update_layout(xaxis_title="match weight (log2 odds)")
    return fig


def fix_at_source(result: AuditResult) -> list[str]:
    """Plain-language advice, most severe and most frequent problems first."""
    rules = result.rules()
    rows_in = result.rows.set_index("table")["rows_in"]
    failed = rules[rules["status"] == "failed"].copy()
    worth = (failed["severity"] != "info") | (
        (failed["rule"] == "missing_value")
        & failed["table"].isin(_PROFILE_TABLES)
        & (failed["failing_rows"] >= _MISSING_WORTH_FIXING * failed["table"].map(rows_in))
    )
    failed = failed[worth]
    if failed.empty:
        return ["No error or warning rule failed: nothing to fix at the source."]
    failed["_sev"] = failed["severity"].map({"error": 0, "warning": 1, "info": 2})
    failed["_follows"] = failed["rule"].isin(_CONSEQUENCES)  # fixed by fixing another rule
    failed = failed.sort_values(["_follows", "_sev", "failing_rows"], ascending=[True, True, False])
    outcome = {
        "error": "quarantined",
        "warning": "kept and flagged",
        "info": "kept",
    }
    lines = []
    for row in failed.itertuples():
        rule = RULES[row.rule]
        column = f" `{display.md_text(row.column)}`" if isinstance(row.column, str) else ""
        if row.failing_rows:
            share = row.failing_rows / max(int(rows_in.get(row.table, 0)), 1)
            what = f"{row.failing_rows:,} rows ({share:.1%}): {rule.description}"
            if row.rule == "duplicate_customer":
                what += "; their orders and events now belong to the surviving id"
        else:
            what = f"{rule.description} ({display.md_text(row.note)})"
        lines.append(
            f"**{row.table}**{column} — {what} [`{row.rule}`, {row.severity}, "
            f"{outcome[row.severity] if row.failing_rows else 'table level'}]. "
            f"Fix: {rule.fix}."
        )
    return lines


def fix_at_source_markdown(result: AuditResult) -> str:
    """:func:`fix_at_source` as a Markdown bullet list."""
    return "\n".join(f"- {line}" for line in fix_at_source(result))


def repairs_table(result: AuditResult) -> pd.DataFrame:
    """Every counted repair (loader and audit): table, column, what was done, rows."""
    return pd.DataFrame(
        [
            {"table": r.table, "column": r.column, "action": r.action, "rows": r.rows}
            for r in result.repairs
        ],
        columns=["table", "column", "action", "rows"],
    )


def duplicate_truth_check(result: AuditResult, source: str | Path) -> dict | None:
    """Precision and recall of the merged customers against ``<source>/_truth/duplicates.parquet``
    (the demo data's ground truth); ``None`` when there is no such file or no search ran."""
    path = Path(source) / "_truth" / "duplicates.parquet"
    if result.duplicates is None or not path.is_file():
        return None
    metrics = duplicate_metrics(result.merge_map, pd.read_parquet(path))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
