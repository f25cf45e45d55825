"""Every model and the response baseline side by side on the holdout, and the gate.

For each treatment arm the holdout rows of that arm and of control are scored by every
model; :func:`holdout_metrics` gives the Qini coefficient (with a bootstrap interval),
AUUC and uplift at 10/20/30 %, plus a ``random`` reference row (Qini and AUUC 0, uplift
at k = the arm's average effect on the holdout). :func:`choose_models` applies the rule:

    a model is used for an arm only if its Qini beats the best response model's and it
    beats the random ranking — the ``1 − gate_confidence`` quantile of its bootstrapped
    Qini is above 0. Among those, the highest Qini wins. When none passes: "no reliable
    heterogeneity: target everyone or no one by the average effect".

:func:`average_effects` estimates that average effect (difference of means with a normal
interval) on every row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from workbench.uplift.inputs import UpliftData
from workbench.uplift.metrics import (
    auuc_score,
    bootstrap_qini,
    perfect_qini_curve,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_by_bin,
)
from workbench.uplift.params import BASELINE, LEARNERS, UpliftParams

__all__ = [
    "RANDOM",
    "NO_HETEROGENEITY",
    "pair_arrays",
    "holdout_metrics",
    "choose_models",
    "decisions",
    "qini_curves",
    "decile_table",
    "average_effects",
    "at_k_column",
]

#: Name of the random-ranking reference row.
RANDOM = "random"
#: What the report says for an arm where no model passes the gate.
NO_HETEROGENEITY = "no reliable heterogeneity: target everyone or no one by the average effect"
_GRID = np.linspace(0.0, 1.0, 201)


def at_k_column(k: float) -> str:
    """``uplift_at_30`` for ``k = 0.3``."""
    return f"uplift_at_{round(k * 100):d}"


def pair_arrays(data: UpliftData, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, outcome and 0/1 treatment of the rows of ``arm`` and control."""
    labels = data.treatment.to_numpy()
    rows = np.flatnonzero((labels == arm) | (labels == data.control))
    treated = (labels[rows] == arm).astype(int)
    return rows, data.outcome.to_numpy()[rows], treated


def _split_name(name: str) -> tuple[str, str]:
    for learner in LEARNERS:
        if name.endswith("_" + learner):
            return name[: -len(learner) - 1], learner
    return name, ""


def holdout_metrics(
    scores: Mapping[str, pd.DataFrame], holdout: UpliftData, params: UpliftParams
) -> pd.DataFrame:
    """One row per model and arm (plus ``random`` per arm) with the holdout metrics.

    Parameters
    ----------
    scores : mapping
        ``{model name: frame with one column per arm}`` predicted for the holdout rows
        (row order of ``holdout``).
    holdout : UpliftData
    params : UpliftParams
        ``top_fractions``, ``uplift_at_k_strategy``, ``n_bootstrap``, ``ci_level``,
        ``gate_confidence``, ``random_state``.

    Returns
    -------
    pandas.DataFrame
        ``model, approach, learner, arm, rows, qini, qini_low, qini_high, qini_gate, auuc,
        uplift_at_10 …`` (``qini_gate`` is the ``1 − gate_confidence`` bootstrap quantile;
        the point estimate when ``n_bootstrap`` is 0).
    """
    rows = []
    lo_q, hi_q = (1 - params.ci_level) / 2, 1 - (1 - params.ci_level) / 2
    for a, arm in enumerate(holdout.arms):
        pos, y, t = pair_arrays(holdout, arm)
        arm_scores = {name: frame[arm].to_numpy()[pos] for name, frame in scores.items()}
        boot = None
        if params.n_bootstrap:
            boot = bootstrap_qini(y, arm_scores, t, n_resamples=params.n_bootstrap,
                                  random_state=params.random_state + a)  # fmt: skip
        effect = float(y[t == 1].mean() - y[t == 0].mean())
        random_row = {"model": RANDOM, "approach": RANDOM, "learner": "", "arm": arm,
                      "rows": len(pos), "qini": 0.0, "qini_low": 0.0, "qini_high": 0.0,
                      "qini_gate": 0.0, "auuc": 0.0}  # fmt: skip
        random_row.update({at_k_column(k): effect for k in params.top_fractions})
        rows.append(random_row)
        for name, s in arm_scores.items():
            approach, learner = _split_name(name)
            q = qini_coefficient(y, s, t)
            row = {"model": name, "approach": approach, "learner": learner, "arm": arm,
                   "rows": len(pos), "qini": q}  # fmt: skip
            if boot is not None:
                row["qini_low"] = float(boot[name].quantile(lo_q))
                row["qini_high"] = float(boot[name].quantile(hi_q))
                row["qini_gate"] = float(boot[name].quantile(1 - params.gate_confidence))
            else:
                row.update(qini_low=np.nan, qini_high=np.nan, qini_gate=q)
            row["auuc"] = auuc_score(y, s, t)
            for k in params.top_fractions:
                row[at_k_column(k)] = uplift_at_k(y, s, t, k, params.uplift_at_k_strategy)
            rows.append(row)
    return pd.DataFrame(rows)


def choose_models(metrics: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """Apply the gate: per arm, the best uplift model that beats the baseline and random.

    Returns
    -------
    (metrics, chosen)
        ``metrics`` with ``beats_random``, ``beats_baseline`` and ``chosen`` columns
        added (a new frame); ``chosen`` maps each arm to a model name or ``None``.

    Examples
    --------
    >>> m = pd.DataFrame({"model": ["response_linear", "two_model_linear", "x_learner_linear"],
    ...                   "approach": ["response", "two_model", "x_learner"],
    ...                   "arm": "b", "qini": [0.10, 0.15, 0.20],
    ...                   "qini_gate": [0.02, 0.05, -0.01]})
    >>> choose_models(m)[1]      # x_learner is best but not surely better than random
    {'b': 'two_model_linear'}
    """
    out = metrics.copy()
    chosen: dict[str, str | None] = {}
    out["beats_random"] = False
    out["beats_baseline"] = False
    out["chosen"] = False
    for arm, group in out.groupby("arm", sort=False):
        baseline = group.loc[group["approach"] == BASELINE, "qini"]
        best_baseline = float(baseline.max()) if len(baseline) else 0.0
        candidates = group["approach"].ne(BASELINE) & group["approach"].ne(RANDOM)
        beats_random = candidates & (group["qini_gate"] > 0)
        beats_baseline = candidates & (group["qini"] > best_baseline)
        out.loc[group.index, "beats_random"] = beats_random
        out.loc[group.index, "beats_baseline"] = beats_baseline
        eligible = group[beats_random & beats_baseline]
        if eligible.empty:
            chosen[str(arm)] = None
            continue
        best = eligible["qini"].idxmax()
        out.loc[best, "chosen"] = True
        chosen[str(arm)] = str(out.loc[best, "model"])
    return out, chosen


def decisions(
    metrics: pd.DataFrame, chosen: Mapping[str, str | None], effects: pd.DataFrame
) -> dict[str, str]:
    """One sentence per arm: the model used and why, or the no-heterogeneity fallback."""
    out = {}
    for arm, name in chosen.items():
        group = metrics[metrics["arm"] == arm]
        base = group.loc[group["approach"] == BASELINE].sort_values("qini").tail(1)
        base_text = (
            f"best response model {base['model'].iloc[0]} {base['qini'].iloc[0]:.3f}"
            if len(base)
            else "no response model"
        )
        if name is not None:
            row = group[group["model"] == name].iloc[0]
            out[arm] = (
                f"use {name}: holdout Qini {row['qini']:.3f} (bootstrap gate quantile "
                f"{row['qini_gate']:.3f} > 0; {base_text})"
            )
            continue
        eff = effects.set_index("arm").loc[arm]
        out[arm] = (
            f"{NO_HETEROGENEITY} ({eff['effect']:+.4g} per customer, interval "
            f"{eff['ci_low']:+.4g} to {eff['ci_high']:+.4g}; {base_text})"
        )
    return out


def qini_curves(
    scores: Mapping[str, pd.DataFrame], holdout: UpliftData, *, include_perfect: bool = True
) -> pd.DataFrame:
    """Qini curves of every model per arm on a grid of 201 shares (for plotting).

    Returns
    -------
    pandas.DataFrame
        ``model, arm, share, qini`` where ``share`` is the targeted share of the arm's
        holdout rows and ``qini`` the incremental outcome ``Q(n)`` (linear between the
        curve's points). Includes ``random`` (the straight line) and, optionally,
        ``perfect``.
    """
    parts = []
    for arm in holdout.arms:
        pos, y, t = pair_arrays(holdout, arm)
        curves = {name: qini_curve(y, frame[arm].to_numpy()[pos], t)
                  for name, frame in scores.items()}  # fmt: skip
        if include_perfect:
            curves["perfect"] = perfect_qini_curve(y, t)
        for name, (n, q) in curves.items():
            parts.append(pd.DataFrame({"model": name, "arm": arm, "share": _GRID,
                                       "qini": np.interp(_GRID * len(pos), n, q)}))  # fmt: skip
        end = curves[next(iter(curves))][1][-1]
        parts.append(pd.DataFrame({"model": RANDOM, "arm": arm, "share": _GRID,
                                   "qini": _GRID * end}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def decile_table(
    scores: Mapping[str, pd.DataFrame], holdout: UpliftData, params: UpliftParams
) -> pd.DataFrame:
    """Observed uplift by bin of predicted uplift with intervals, every model and arm.

    Returns
    -------
    pandas.DataFrame
        ``model, arm`` and the columns of :func:`~workbench.uplift.metrics.uplift_by_bin`.
    """
    parts = []
    for arm in holdout.arms:
        pos, y, t = pair_arrays(holdout, arm)
        bins = min(params.bins, len(pos))
        for name, frame in scores.items():
            table = uplift_by_bin(y, frame[arm].to_numpy()[pos], t, bins=bins,
                                  ci_level=params.ci_level)  # fmt: skip
            parts.append(table.assign(model=name, arm=arm))
    out = pd.concat(parts, ignore_index=True)
    return out[["model", "arm", *[c for c in out.columns if c not in ("model", "arm")]]]


def average_effects(data: UpliftData, ci_level: float = 0.95) -> pd.DataFrame:
    """Average effect of each arm against control: difference of means and its interval.

    Examples
    --------
    >>> from workbench.uplift.inputs import prepare_uplift_data
    >>> t = pd.DataFrame({"arm": ["c"] * 10 + ["t"] * 10, "y": [0] * 8 + [1] * 2 + [0] * 5 + [1] * 5,
    ...                   "x": range(20)})
    >>> d = prepare_uplift_data(t, treatment_column="arm", control="c", outcome_column="y")
    >>> average_effects(d)[["arm", "mean_treated", "mean_control", "effect"]].round(2).to_dict("list")
    {'arm': ['t'], 'mean_treated': [0.5], 'mean_control': [0.2], 'effect': [0.3]}
    """
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    labels = data.treatment.to_numpy()
    y = data.outcome.to_numpy()
    control = y[labels == data.control]
    rows = []
    for arm in data.arms:
        treated = y[labels == arm]
        effect = float(treated.mean() - control.mean())
        se = float(np.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control)))
        rows.append((arm, len(treated), len(control), float(treated.mean()),
                     float(control.mean()), effect, effect - z * se, effect + z * se))  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["arm", "n_treated", "n_control", "mean_treated", "mean_control", "effect",
                 "ci_low", "ci_high"],
    )  # fmt: skip
