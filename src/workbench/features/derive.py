"""Per-customer derivations on the aggregated table (pandas, one row per customer).

The engine aggregates orders and events down to one row per customer; what is left —
days since a date, rates, RFM scores and segments, engagement tiers, lifecycle stages,
age bands — is computed here on that small table, identically for every engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.features.params import (
    NO_PURCHASE,
    RFM_SEGMENT_GRID,
    FeatureParams,
)

__all__ = [
    "days_before",
    "quintile_score",
    "rfm_scores",
    "rfm_segment",
    "engagement_tier",
    "lifecycle_stage",
    "age_in_years",
    "age_band",
    "safe_ratio",
]

_SECONDS_PER_DAY = 86_400.0


def days_before(as_of: pd.Timestamp, times: pd.Series) -> pd.Series:
    """Days (float) from each timestamp to ``as_of``; missing times give NaN.

    Examples
    --------
    >>> t = pd.Series(pd.to_datetime(["2026-06-29T12:00:00Z", None]))
    >>> days_before(pd.Timestamp("2026-06-30", tz="UTC"), t).tolist()
    [0.5, nan]
    """
    stamps = pd.to_datetime(times, utc=True)
    return (as_of - stamps).dt.total_seconds() / _SECONDS_PER_DAY


def safe_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` as floats, NaN where the denominator is 0 or missing."""
    num = pd.to_numeric(numerator, errors="coerce").astype("float64")
    den = pd.to_numeric(denominator, errors="coerce").astype("float64")
    return (num / den.where(den != 0)).astype("float64")


def quintile_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1–5 by quintile of rank; equal values get equal scores.

    A value's score is ``1 + floor(5 * below / n)`` where ``below`` is the number of
    values strictly worse than it and ``n`` the number of values (integer arithmetic):
    ties share the score of the lowest rank of their group, the worst value always
    scores 1, and the result depends only on the values (not on row order or ids).
    With many ties a score can hold more than a fifth of the customers, and some
    scores can stay empty. Missing values get ``<NA>``.

    Examples
    --------
    >>> quintile_score(pd.Series([10.0, 20, 20, 30, 40, 50, 60, 70, 80, 90])).tolist()
    [1, 1, 1, 2, 3, 3, 4, 4, 5, 5]
    >>> quintile_score(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0]), higher_is_better=False).tolist()
    [5, 4, 3, 2, 1]
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    known = ~np.isnan(numbers)
    keyed = numbers[known] if higher_is_better else -numbers[known]
    n = len(keyed)
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if n:
        # below >= k  <=>  the k-th smallest value is smaller than this one, so the score
        # is 1 + the number of the four cut points k_j = ceil(j·n/5) passed: four order
        # statistics (np.partition, linear time) instead of a sort of every value
        cuts = [-(-j * n // 5) - 1 for j in range(1, 5)]
        order_stats = np.partition(keyed, cuts)[cuts]
        score = np.ones(n, dtype="int64")
        for value in order_stats:
            score += keyed > value
        out[known] = score
    return out


def rfm_segment(r_score: pd.Series, f_score: pd.Series, m_score: pd.Series) -> pd.Series:
    """Named RFM segment from the three scores (see ``RFM_SEGMENT_GRID``).

    The grid (``RFM_SEGMENT_GRID``) is indexed by R and FM = ⌈(F + M) / 2⌉; rows without
    scores (no completed order) are ``"No Purchase"``:

    =====  ==============  ===================  ===================  ===============  ===============
    R\\FM  1               2                    3                    4                5
    =====  ==============  ===================  ===================  ===============  ===============
    5      New Customers   Potential Loyalists  Potential Loyalists  Champions        Champions
    4      Promising       Potential Loyalists  Potential Loyalists  Champions        Champions
    3      About To Sleep  About To Sleep       Need Attention       Loyal Customers  Loyal Customers
    2      Hibernating     Hibernating          At Risk              At Risk          Can't Lose Them
    1      Lost            Lost                 At Risk              Can't Lose Them  Can't Lose Them
    =====  ==============  ===================  ===================  ===============  ===============

    Examples
    --------
    >>> s = lambda *v: pd.Series(v, dtype="Int64")
    >>> rfm_segment(s(5, 1, 3, pd.NA), s(5, 1, 3, pd.NA), s(4, 2, 2, pd.NA)).tolist()
    ['Champions', 'Lost', 'Need Attention', 'No Purchase']
    """
    fm = (f_score.astype("Int64") + m_score.astype("Int64") + 1) // 2
    key = (r_score.astype("Int64") * 10 + fm).to_numpy(dtype="int64", na_value=0)
    lookup = np.full(56, NO_PURCHASE, dtype=object)  # keys 11 … 55; 0 for missing scores
    for r, row in RFM_SEGMENT_GRID.items():
        for f, name in row.items():
            lookup[r * 10 + f] = name
    return pd.Series(lookup[key], index=r_score.index, dtype="str")


def rfm_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """R, F and M scores, the FM score, the three-digit RFM code and the named segment.

    Only customers with at least one completed order (``frequency > 0``) are scored,
    over that population: R from ``recency_days`` (fewer days is better), F from
    ``frequency``, M from ``monetary_total``. The others get ``<NA>`` scores and the
    segment ``"No Purchase"``.
    """
    buyers = frame["frequency"].fillna(0) > 0
    scored = frame.loc[buyers, ["recency_days", "frequency", "monetary_total"]]
    out = pd.DataFrame(index=frame.index)
    for column, source, better in (
        ("r_score", "recency_days", False),
        ("f_score", "frequency", True),
        ("m_score", "monetary_total", True),
    ):
        score = pd.Series(pd.NA, index=frame.index, dtype="Int64")
        score.loc[scored.index] = quintile_score(scored[source], higher_is_better=better)
        out[column] = score
    out["fm_score"] = (out["f_score"] + out["m_score"] + 1) // 2
    code = out["r_score"] * 100 + out["f_score"] * 10 + out["m_score"]  # digits 1-5 each
    out["rfm_score"] = code.astype("str").where(buyers).astype("str")
    out["rfm_segment"] = rfm_segment(out["r_score"], out["f_score"], out["m_score"])
    return out


def engagement_tier(frame: pd.DataFrame, params: FeatureParams) -> pd.Series:
    """E-mail engagement tier per customer, by the first rule that holds.

    1. **Highly Engaged** — at least ``highly_min_opens`` opens and
       ``highly_min_clicks`` clicks in the last ``highly_days`` days (3, 2, 7).
    2. **Moderately Engaged** — at least ``moderate_min_opens`` opens or at least
       ``moderate_min_clicks`` clicks in the last ``moderate_days`` days (1, 1, 14),
       within the optional caps ``moderate_max_opens`` / ``moderate_max_clicks``.
    3. **Inactive** — no open and no click in the last ``inactive_days`` days (30).
    4. **Low** — everyone else.

    Needs the columns ``email_opens_<d>d`` and ``email_clicks_<d>d`` of those windows.
    """
    p = params

    def count(kind: str, days: int) -> pd.Series:
        column = f"email_{kind}_{days}d"
        if column not in frame.columns:
            raise KeyError(f"engagement_tier: column {column!r} is missing from the frame")
        return frame[column].fillna(0)

    highly = (count("opens", p.highly_days) >= p.highly_min_opens) & (
        count("clicks", p.highly_days) >= p.highly_min_clicks
    )
    opens, clicks = count("opens", p.moderate_days), count("clicks", p.moderate_days)
    by_opens = opens >= p.moderate_min_opens
    if p.moderate_max_opens is not None:
        by_opens &= opens <= p.moderate_max_opens
    by_clicks = clicks >= p.moderate_min_clicks
    if p.moderate_max_clicks is not None:
        by_clicks &= clicks <= p.moderate_max_clicks
    inactive = (count("opens", p.inactive_days) == 0) & (count("clicks", p.inactive_days) == 0)
    tier = np.select(
        [highly, by_opens | by_clicks, inactive],
        ["Highly Engaged", "Moderately Engaged", "Inactive"],
        default="Low",
    )
    return pd.Series(tier, index=frame.index, dtype="str")


def lifecycle_stage(frame: pd.DataFrame, params: FeatureParams) -> pd.Series:
    """Lifecycle stage per customer, by the first rule that holds.

    1. **new** — first completed order at most ``new_days`` (30) days before ``as_of``;
       or, without any completed order, signed up (tenure) at most ``new_days`` ago.
    2. **never-purchased** — no completed order before ``as_of`` (and not new).
    3. **churned** — last completed order more than ``churn_days`` (180) days ago.
    4. **re-engaged** — last completed order at most ``active_days`` (90) days ago and at
       least ``reengage_gap_days`` (180) days after the completed order before it.
    5. **active** — last completed order at most ``active_days`` days ago.
    6. **at-risk** — last completed order between ``active_days`` and ``churn_days``
       days ago.

    Needs ``frequency``, ``recency_days``, ``days_since_first_order``, ``tenure_days``
    and ``days_between_last_two_orders``.
    """
    p = params
    bought = frame["frequency"].fillna(0) > 0
    recency = frame["recency_days"]
    new = (bought & (frame["days_since_first_order"] <= p.new_days)) | (
        ~bought & (frame["tenure_days"] <= p.new_days)
    )
    gap = frame["days_between_last_two_orders"]
    stage = np.select(
        [
            new,
            ~bought,
            recency > p.churn_days,
            (recency <= p.active_days) & (gap >= p.reengage_gap_days),
            recency <= p.active_days,
        ],
        ["new", "never-purchased", "churned", "re-engaged", "active"],
        default="at-risk",
    )
    return pd.Series(stage, index=frame.index, dtype="str")


def age_in_years(birth_date: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Completed years of age at ``as_of``; missing or implausible (< 0, > 120) give NaN."""
    born = pd.to_datetime(birth_date, utc=True)
    before_birthday = (born.dt.month > as_of.month) | (
        (born.dt.month == as_of.month) & (born.dt.day > as_of.day)
    )
    age = as_of.year - born.dt.year - before_birthday.astype("float64")
    age = age.astype("float64")
    return age.where((age >= 0) & (age <= 120))


def age_band(age: pd.Series, edges: tuple[int, ...]) -> pd.Series:
    """Age band labels: ``<25``, ``25-34`` … ``65+`` for edges ``(25, 35, 45, 55, 65)``.

    Examples
    --------
    >>> age_band(pd.Series([19.0, 25.0, 64.0, 70.0, None]), (25, 35, 45, 55, 65)).tolist()
    ['<25', '25-34', '55-64', '65+', nan]
    """
    labels = [f"<{edges[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels += [f"{edges[-1]}+"]
    bins = [-np.inf, *edges, np.inf]
    band = pd.cut(pd.to_numeric(age, errors="coerce"), bins=bins, labels=labels, right=False)
    return band.astype("str").where(band.notna()).astype("str")
