"""The per-customer table the audience rules read: features plus each optional model output.

Each input is optional except the feature table (which defines the customers):

=================  ===========================================================================
input              columns used (``customer_id`` plus)
=================  ===========================================================================
features           anything (``customer_features.parquet`` of :mod:`workbench.features`)
churn              churn_probability, risk_band, top_reasons, reason_codes
                   (:func:`workbench.churn.scoring.scores_table`)
clv                p_alive, expected_purchases, clv, clv_tier
                   (tiers ``top 1%``, ``top 5%``, ``top 20%``, ``rest``)
uplift             uplift_<arm> … and best_arm; :func:`targeting_table` adds ``best_uplift``
recommendations    long: rank, product_id, score, reason (content only, not joined here)
=================  ===========================================================================

Model outputs are joined onto the features by ``customer_id``; a column an input shares
with the features keeps the features' value (noted). Lists in a cell (churn reasons after
a Parquet round trip are arrays) are joined with `` | ``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench import catalog
from workbench.frames import isin

__all__ = [
    "CLV_TIERS",
    "TargetingInputError",
    "targeting_table",
    "check_recommendations",
    "join_list",
]

log = logging.getLogger(__name__)

#: CLV tiers of the clv stage, best first.
CLV_TIERS = ("top 1%", "top 5%", "top 20%", "rest")
_EXPECTED = {
    "churn": ("churn_probability",),
    "clv": ("clv",),
    "uplift": (),
}
_SEPARATOR = " | "


class TargetingInputError(ValueError):
    """An input table of the targeting stage that cannot be used (names table and column)."""


def join_list(value: object) -> object:
    """A list-like cell as one text joined by `` | ``; other values unchanged.

    Examples
    --------
    >>> join_list(["no purchase for 240 days (raises risk)", "3 orders"])
    'no purchase for 240 days (raises risk) | 3 orders'
    >>> join_list(None) is None
    True
    """
    if isinstance(value, list | tuple | np.ndarray):
        return _SEPARATOR.join(str(v) for v in value)
    return value


def _check(frame: pd.DataFrame, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in ("customer_id", *required) if c not in frame.columns]
    if missing:
        raise TargetingInputError(
            f"{name}: column(s) {', '.join(missing)} missing; it has: "
            f"{', '.join(map(str, frame.columns[:20]))}"
        )
    ids = frame["customer_id"].astype("str")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise TargetingInputError(
            f"{name}: customer_id must be unique, {len(dup):,} repeated (e.g. {dup.iloc[0]!r})"
        )
    out = frame.copy()
    out["customer_id"] = ids
    return out


def targeting_table(
    features: pd.DataFrame,
    *,
    churn: pd.DataFrame | None = None,
    clv: pd.DataFrame | None = None,
    uplift: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Features with the churn, CLV and uplift columns joined on, and notes.

    Parameters
    ----------
    features : DataFrame
        One row per customer (``customer_id``); defines who can be targeted.
    churn, clv, uplift : DataFrame, optional
        Model outputs, one row per customer. Customers they hold that the features lack
        are dropped (counted in the notes); customers they lack get missing values.

    Returns
    -------
    (DataFrame, list of str)
        The table (a new frame, inputs untouched) and notes on what was joined.

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["a", "b"], "rfm_segment": ["Champions", "Lost"]})
    >>> u = pd.DataFrame({"customer_id": ["a"], "uplift_email": [0.03], "uplift_sms": [0.05],
    ...                   "best_arm": ["sms"]})
    >>> table, notes = targeting_table(f, uplift=u)
    >>> table["best_uplift"].tolist()
    [0.05, nan]
    """
    table = _check(features, "features", ())
    notes: list[str] = []
    inputs: Mapping[str, pd.DataFrame | None] = {"churn": churn, "clv": clv, "uplift": uplift}
    for name, frame in inputs.items():
        if frame is None:
            notes.append(f"{name}: not given; audiences that need it are not applicable")
            continue
        frame = _check(frame, name, _EXPECTED[name])
        if name == "uplift":
            frame = _uplift(frame)
        shared = [c for c in frame.columns if c != "customer_id" and c in table.columns]
        if shared:
            notes.append(
                f"{name}: column(s) {', '.join(shared)} also in the features; the "
                "features' values are kept"
            )
            frame = frame.drop(columns=shared)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(join_list)
        unknown = ~isin(frame["customer_id"], table["customer_id"])
        if unknown.any():
            notes.append(f"{name}: {int(unknown.sum()):,} customers not in the features, dropped")
        table = table.merge(frame[~unknown], on="customer_id", how="left", validate="1:1")
        notes.append(
            f"{name}: {int((~unknown).sum()):,} customers joined "
            f"({', '.join(c for c in frame.columns if c != 'customer_id')})"
        )
    if "clv_tier" in table.columns:
        odd = sorted(set(table["clv_tier"].dropna().astype("str")) - set(CLV_TIERS))
        if odd:
            notes.append(f"clv: unexpected clv_tier values {odd}; rules on tiers may miss them")
    for note in notes:
        log.info("targeting table: %s", note)
    return table, notes


def _uplift(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds ``best_uplift``: the uplift of ``best_arm`` (or the largest uplift, with its arm
    as ``best_arm``, when the input has no ``best_arm``)."""
    arms = [c for c in frame.columns if c.startswith("uplift_")]
    if not arms:
        raise TargetingInputError(
            "uplift: no uplift_<arm> column; expected e.g. uplift_email with the estimated "
            "uplift of each arm over control"
        )
    out = frame.copy()
    values = out[arms].apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    if "best_arm" in out.columns:
        position = {c: i for i, c in enumerate(arms)}
        # best_arm holds the arm's own name ("Womens E-Mail"); its column is the slug
        index = out["best_arm"].map(
            lambda arm: None if pd.isna(arm) else position.get(catalog.uplift_column(arm))
        )
        known = index.notna().to_numpy()
        best = np.full(len(out), np.nan)
        rows = np.flatnonzero(known)
        best[rows] = values[rows, index.to_numpy()[known].astype(int)]
    else:
        filled = np.where(np.isnan(values), -np.inf, values)
        pick = filled.argmax(axis=1)
        best = values[np.arange(len(out)), pick] if len(out) else np.array([])
        out["best_arm"] = np.array([a.removeprefix("uplift_") for a in arms])[pick]
        out.loc[np.isnan(best), "best_arm"] = None
    out["best_uplift"] = best
    return out


def check_recommendations(recommendations: pd.DataFrame) -> pd.DataFrame:
    """The recommendations sorted by customer and rank (a new frame), checked.

    Needs customer_id, rank and product_id; ``score`` and ``reason`` are optional.
    """
    missing = [c for c in ("customer_id", "rank", "product_id") if c not in recommendations]
    if missing:
        raise TargetingInputError(
            f"recommendations: column(s) {', '.join(missing)} missing; expected customer_id, "
            "rank, product_id (score and reason optional)"
        )
    out = recommendations.copy()
    out["customer_id"] = out["customer_id"].astype("str")
    out["product_id"] = out["product_id"].astype("str")
    out["rank"] = pd.to_numeric(out["rank"], errors="coerce")
    if out["rank"].isna().any():
        raise TargetingInputError("recommendations: column 'rank' must be numbers (1 = best)")
    return out.sort_values(["customer_id", "rank"], kind="stable", ignore_index=True)
