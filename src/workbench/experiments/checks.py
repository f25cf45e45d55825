"""Checks and classical statistics beside the Bayesian model.

* :func:`srm_check` — sample ratio mismatch: a chi-square test of users per variant
  against the intended split. A mismatch means the assignment or the logging is broken
  and every other number is suspect.
* :func:`proportion_tests` — two-proportion z tests of conversion against control with
  confidence intervals of the difference.
* :func:`welch_tests` — Welch's t test of revenue per user (per-user data only).
* :func:`cuped` — CUPED variance reduction of revenue per user with each customer's
  spend before assignment as the covariate, adjusted and unadjusted side by side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from workbench.experiments.data import ExperimentData, ExperimentInputError

__all__ = ["srm_check", "proportion_tests", "welch_tests", "cuped", "CupedResult"]

log = logging.getLogger(__name__)


def srm_check(
    counts: pd.DataFrame,
    intended_split: dict[str, float] | None = None,
    *,
    alpha: float = 0.001,
) -> dict[str, Any]:
    """Chi-square test of users per variant against the intended split.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``variant, users``.
    intended_split : dict, optional
        Share (or weight) per variant; weights are normalised. ``None`` or ``{}`` means
        equal shares.
    alpha : float, default 0.001
        A p-value below it flags a mismatch (strict, because SRM checks run on every test).

    Returns
    -------
    dict
        ``p_value, chi2, mismatch, alpha, observed, expected, intended_split``.

    Raises
    ------
    ExperimentInputError
        The split names variants that do not exist (or misses some), or has a
        non-positive weight.

    Examples
    --------
    >>> counts = pd.DataFrame({"variant": ["control", "b"], "users": [5000, 5400]})
    >>> srm_check(counts)["mismatch"]
    True
    """
    variants = counts["variant"].astype("str").tolist()
    observed = counts["users"].to_numpy(dtype="float64")
    split = dict(intended_split or {})
    if not split:
        split = {v: 1.0 for v in variants}
    unknown = sorted(set(split) - set(variants))
    missing = sorted(set(variants) - set(split))
    if unknown or missing:
        raise ExperimentInputError(
            f"intended_split names {', '.join(map(str, split)) or 'nothing'} but the variants are "
            f"{', '.join(variants)}"
            + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else "")
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    weights = np.array([float(split[v]) for v in variants])
    if (weights <= 0).any() or not np.isfinite(weights).all():
        raise ExperimentInputError(f"intended_split: weights must be positive, got {split}")
    shares = weights / weights.sum()
    expected = shares * observed.sum()
    chi2, p_value = stats.chisquare(observed, expected)
    result = {
        "p_value": float(p_value),
        "chi2": float(chi2),
        "mismatch": bool(p_value < alpha),
        "alpha": alpha,
        "observed": dict(zip(variants, observed.astype(int).tolist(), strict=True)),
        "expected": dict(zip(variants, np.round(expected, 1).tolist(), strict=True)),
        "intended_split": dict(zip(variants, np.round(shares, 6).tolist(), strict=True)),
    }
    if result["mismatch"]:
        log.warning(
            "SAMPLE RATIO MISMATCH: users %s vs expected %s (p = %.2g < %g)",
            result["observed"],
            result["expected"],
            p_value,
            alpha,
        )
    return result


def proportion_tests(counts: pd.DataFrame, control: str, *, alpha: float = 0.05) -> pd.DataFrame:
    """Two-proportion z test of each variant's conversion rate against control.

    The test uses the pooled standard error; the confidence interval of the difference
    uses the unpooled (Wald) one, and the relative lift's interval is the difference's
    divided by the control rate.

    Returns
    -------
    pandas.DataFrame
        Indexed by variant: ``users, conversions, rate, diff, diff_ci_low, diff_ci_high,
        lift, lift_ci_low, lift_ci_high, z, p_value`` (comparisons NaN for control).

    Examples
    --------
    >>> counts = pd.DataFrame({"variant": ["control", "b"], "users": [1000, 1000],
    ...                        "conversions": [100, 130]})
    >>> round(float(proportion_tests(counts, "control").loc["b", "p_value"]), 3)
    0.035
    """
    table = counts.set_index("variant")[["users", "conversions"]].astype("float64")
    rate = table["conversions"] / table["users"]
    n_c, x_c, p_c = table.loc[control, "users"], table.loc[control, "conversions"], rate[control]
    z_crit = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for variant, row in table.iterrows():
        p = rate[variant]
        out = {
            "variant": variant,
            "users": int(row["users"]),
            "conversions": int(row["conversions"]),
            "rate": p,
        }
        if variant != control:
            pooled = (row["conversions"] + x_c) / (row["users"] + n_c)
            se_test = np.sqrt(pooled * (1 - pooled) * (1 / row["users"] + 1 / n_c))
            se_diff = np.sqrt(p * (1 - p) / row["users"] + p_c * (1 - p_c) / n_c)
            diff = p - p_c
            z = diff / se_test if se_test > 0 else np.nan
            out.update(
                diff=diff,
                diff_ci_low=diff - z_crit * se_diff,
                diff_ci_high=diff + z_crit * se_diff,
                lift=diff / p_c if p_c else np.nan,
                lift_ci_low=(diff - z_crit * se_diff) / p_c if p_c else np.nan,
                lift_ci_high=(diff + z_crit * se_diff) / p_c if p_c else np.nan,
                z=z,
                p_value=float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
            )
        rows.append(out)
    columns = [
        "variant",
        "users",
        "conversions",
        "rate",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
        "lift",
        "lift_ci_low",
        "lift_ci_high",
        "z",
        "p_value",
    ]
    return pd.DataFrame(rows).reindex(columns=columns).set_index("variant")


def welch_tests(
    users: pd.DataFrame,
    control: str,
    *,
    column: str = "revenue",
    alpha: float = 0.05,
    variants: list[str] | None = None,
) -> pd.DataFrame:
    """Welch's t test of a per-user metric (default revenue) against control.

    Returns
    -------
    pandas.DataFrame
        Indexed by variant: ``users, mean, sd, diff, ci_low, ci_high, ci_width, t, df,
        p_value`` (comparisons NaN for control).
    """
    if column not in users.columns:
        raise ExperimentInputError(f"users: no column {column!r} for the Welch test")
    groups = {
        str(v): g[column].to_numpy(dtype="float64")
        for v, g in users.groupby("variant", observed=True)
    }
    order = variants or list(groups)
    if control not in groups:
        raise ExperimentInputError(f"control {control!r} has no users; variants: {list(groups)}")
    base = groups[control]
    rows = []
    for variant in order:
        x = groups.get(variant, np.array([]))
        row = {
            "variant": variant,
            "users": len(x),
            "mean": float(x.mean()) if len(x) else np.nan,
            "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
        }
        if variant != control:
            row.update(_welch(x, base, alpha))
        rows.append(row)
    columns = [
        "variant",
        "users",
        "mean",
        "sd",
        "diff",
        "ci_low",
        "ci_high",
        "ci_width",
        "t",
        "df",
        "p_value",
    ]
    return pd.DataFrame(rows).reindex(columns=columns).set_index("variant")


def _welch(x: np.ndarray, y: np.ndarray, alpha: float) -> dict[str, float]:
    """Difference of means x − y with Welch's t test and its confidence interval."""
    if len(x) < 2 or len(y) < 2:
        return {}
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = np.sqrt(vx + vy)
    diff = float(x.mean() - y.mean())
    if se == 0:
        return {"diff": diff}
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    t = diff / se
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return {
        "diff": diff,
        "ci_low": diff - half,
        "ci_high": diff + half,
        "ci_width": 2 * half,
        "t": float(t),
        "df": float(df),
        "p_value": float(2 * stats.t.sf(abs(t), df)),
    }


@dataclass
class CupedResult:
    """CUPED on revenue per user.

    Attributes
    ----------
    available : bool
        False when there is no usable pre-assignment spend (``note`` says why).
    theta : float
        ``cov(pre, y) / var(pre)`` pooled over all arms.
    correlation : float
        Correlation of pre-assignment spend and revenue.
    variance_reduction : float
        ``1 - var(adjusted) / var(unadjusted)`` (= correlation²).
    table : pandas.DataFrame
        Per variant and ``estimate`` (``unadjusted`` / ``cuped``): the Welch columns.
    note : str
    """

    available: bool
    theta: float = float("nan")
    correlation: float = float("nan")
    variance_reduction: float = float("nan")
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""


def cuped(
    data: ExperimentData,
    *,
    metric: str = "revenue",
    covariate: str = "pre_spend",
    alpha: float = 0.05,
) -> CupedResult:
    """Revenue per user adjusted by pre-assignment spend (CUPED), beside the raw numbers.

    ``y_adj = y - theta * (x - mean(x))`` with ``theta = cov(x, y) / var(x)`` over all
    users. Assignment is random, so ``x`` does not depend on the variant and the adjusted
    difference estimates the same effect with a smaller variance.

    Returns
    -------
    CupedResult
        ``available=False`` (and a note) without per-user data or pre-assignment spend.
    """
    if not data.has_users:
        return CupedResult(False, note="CUPED skipped: needs per-user data (aggregated input)")
    users = data.user_table
    if covariate not in users.columns:
        return CupedResult(
            False, note="CUPED skipped: no pre-assignment window was computed (pre_period_days=0)"
        )
    if not data.has_pre_period:
        return CupedResult(
            False, note="CUPED skipped: no customer has completed orders before assignment"
        )
    x = users[covariate].to_numpy(dtype="float64")
    y = users[metric].to_numpy(dtype="float64")
    theta = float(np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1))
    adjusted = users.assign(**{metric: y - theta * (x - x.mean())})
    variants = list(data.variants)
    raw = welch_tests(users, data.control, column=metric, alpha=alpha, variants=variants)
    adj = welch_tests(adjusted, data.control, column=metric, alpha=alpha, variants=variants)
    table = pd.concat({"unadjusted": raw, "cuped": adj}, names=["estimate"]).swaplevel()
    table = table.loc[[(v, e) for v in variants for e in ("unadjusted", "cuped")]]
    reduction = 1 - np.var(adjusted[metric], ddof=1) / np.var(y, ddof=1)
    corr = float(np.corrcoef(x, y)[0, 1])
    note = (
        f"CUPED with spend in the pre-assignment window: correlation {corr:.2f}, "
        f"variance reduced by {reduction:.1%}"
    )
    log.info(note)
    return CupedResult(True, theta, corr, float(reduction), table, note)
