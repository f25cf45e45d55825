"""Scores, risk bands and the win-back audience.

Risk bands (edges from :class:`~workbench.churn.params.ChurnParams`, default 0.3 / 0.7):
``low`` when p < 0.3, ``medium`` when 0.3 ≤ p < 0.7, ``high`` when p ≥ 0.7.

The win-back audience holds customers who may be e-mailed — ``email_opt_in`` is True
and they have not unsubscribed (``email_unsubscribed``, when that column exists) — with a
churn probability of at least ``target_threshold``. It carries the customer id, the
probability, the band and the reasons; never an e-mail address or a name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.churn.params import RISK_BANDS

__all__ = [
    "AUDIENCE_FILE",
    "risk_band",
    "risk_band_shares",
    "scores_table",
    "winback_audience",
    "write_audience",
    "risk_band_table",
]

log = logging.getLogger(__name__)

AUDIENCE_FILE = "winback_audience.csv"
_SEPARATOR = " | "


def risk_band(
    probability: pd.Series | np.ndarray, edges: tuple[float, float] = (0.3, 0.7)
) -> pd.Series:
    """``low`` / ``medium`` / ``high`` (ordered categorical) by the band edges.

    Examples
    --------
    >>> risk_band(pd.Series([0.1, 0.3, 0.69, 0.7])).tolist()
    ['low', 'medium', 'medium', 'high']
    """
    p = pd.Series(np.asarray(probability, dtype=float))
    codes = np.searchsorted(np.asarray(edges, dtype=float), p.to_numpy(), side="right")
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=list(RISK_BANDS), ordered=True),
        index=probability.index if isinstance(probability, pd.Series) else None,
    )


def risk_band_shares(scores: pd.DataFrame) -> dict[str, float]:
    """Share of scored customers per band, every band present (``{}`` without customers).

    Examples
    --------
    >>> risk_band_shares(pd.DataFrame({"risk_band": ["low", "high", "high", "high"]}))
    {'low': 0.25, 'medium': 0.0, 'high': 0.75}
    """
    if not len(scores):
        return {}
    counts = pd.Series(scores["risk_band"].astype("str")).value_counts()
    return {band: round(float(counts.get(band, 0)) / len(scores), 6) for band in RISK_BANDS}


def scores_table(
    ids: pd.Series,
    probability: np.ndarray,
    reasons: pd.DataFrame | None = None,
    *,
    edges: tuple[float, float] = (0.3, 0.7),
) -> pd.DataFrame:
    """customer_id, churn_probability, risk_band, top_reasons, reason_codes (highest risk
    first; reasons from :func:`workbench.churn.explain.top_reasons`, aligned by id)."""
    out = pd.DataFrame(
        {
            "customer_id": pd.Series(ids).astype("str").to_numpy(),
            "churn_probability": np.asarray(probability, dtype=float),
        }
    )
    out["risk_band"] = risk_band(out["churn_probability"], edges).to_numpy()
    if reasons is not None:
        aligned = reasons.set_index("customer_id").reindex(out["customer_id"])
        out["top_reasons"] = aligned["top_reasons"].to_numpy()
        out["reason_codes"] = aligned["reason_codes"].to_numpy()
    order = np.argsort(-out["churn_probability"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def winback_audience(
    scores: pd.DataFrame, features: pd.DataFrame, *, target_threshold: float = 0.7
) -> tuple[pd.DataFrame, list[str]]:
    """Opted-in customers at or above ``target_threshold``, and notes on who was left out.

    Parameters
    ----------
    scores : DataFrame
        :func:`scores_table` output.
    features : DataFrame
        Holds ``customer_id`` and ``email_opt_in`` (and ``email_unsubscribed`` when
        known). Without consent information nobody may be e-mailed: the audience is
        empty and a note says why.
    target_threshold : float
        Minimum churn probability.

    Returns
    -------
    (DataFrame, list of str)
        customer_id, churn_probability, risk_band, top_reasons and reason_codes (each
        joined by `` | ``), highest risk first; and the notes.
    """
    if not 0 < target_threshold < 1:
        raise ValueError(f"target_threshold must be in (0, 1), got {target_threshold!r}")
    columns = ["customer_id", "churn_probability", "risk_band", "top_reasons", "reason_codes"]
    notes: list[str] = []
    at_risk = scores[scores["churn_probability"] >= target_threshold]
    if "email_opt_in" not in features.columns or features["email_opt_in"].notna().sum() == 0:
        notes.append(
            "no e-mail consent (email_opt_in) in the data: nobody can be e-mailed, the "
            "audience is empty"
        )
        return pd.DataFrame(columns=columns), notes
    consent = features.set_index(features["customer_id"].astype("str"))
    allowed = consent["email_opt_in"].astype("boolean").fillna(False).astype(bool)
    if "email_unsubscribed" in consent.columns:
        allowed &= ~consent["email_unsubscribed"].astype("boolean").fillna(False).astype(bool)
    ok = allowed.reindex(at_risk["customer_id"]).fillna(False).to_numpy(dtype=bool)
    notes.append(
        f"{len(at_risk):,} customers at or above {target_threshold:g}; "
        f"{int((~ok).sum()):,} left out without e-mail consent or after unsubscribing"
    )
    audience = at_risk.loc[ok].copy()
    for col in ("top_reasons", "reason_codes"):
        if col in audience.columns:
            audience[col] = audience[col].map(
                lambda v: _SEPARATOR.join(v) if isinstance(v, list | tuple | np.ndarray) else v
            )
        else:
            audience[col] = ""
    audience["risk_band"] = audience["risk_band"].astype("str")
    return audience[columns].reset_index(drop=True), notes


def write_audience(audience: pd.DataFrame, folder: str | Path) -> Path:
    """Write the win-back audience as ``winback_audience.csv`` (ids, no e-mail or name)."""
    forbidden = [
        c
        for c in audience.columns
        if any(k in c.lower() for k in ("email", "name")) and c not in ("customer_id",)
    ]
    if forbidden:
        raise ValueError(f"the audience must not carry e-mail addresses or names: {forbidden}")
    path = Path(folder) / AUDIENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    audience.to_csv(path, index=False)
    log.info("wrote %s (%s customers)", path, f"{len(audience):,}")
    return path


def risk_band_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers and mean churn probability per risk band, lowest risk first (every band,
    empty ones with 0 customers). The value at risk per band — churn probability × CLV —
    is the CLV stage's :func:`workbench.clv.value_at_risk`.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                   "churn_probability": [0.1, 0.8, 0.9],
    ...                   "risk_band": ["low", "high", "high"]})
    >>> risk_band_table(s)["customers"].tolist()
    [1, 0, 2]
    """
    frame = scores[["customer_id", "churn_probability", "risk_band"]].copy()
    frame["risk_band"] = pd.Categorical(
        frame["risk_band"].astype("str"), categories=list(RISK_BANDS), ordered=True
    )
    grouped = frame.groupby("risk_band", observed=False)
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_probability": grouped["churn_probability"].mean(),
        }
    )
    return out.rename_axis("risk_band").reset_index().astype({"risk_band": "str"})
