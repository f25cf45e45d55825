"""Send-time optimisation: each customer's best hour from their e-mail opens and clicks.

Interactions
    One per customer and campaign: the first *human* open, or the first click when the
    campaign has no human open (images blocked, or only a machine open). An open is a
    *machine open* — mail-privacy prefetching, link scanners — when it comes within
    ``machine_open_seconds`` of that customer's ``sent`` event of the same campaign (the
    campaign's first send when the customer's own is missing). Hours are UTC.
Model (empirical-Bayes Dirichlet smoothing)
    Customer *i*'s interactions by hour are counts ``c_ih`` (``n_i`` in all). Their hour
    distribution is drawn from a Dirichlet centred on the population's hour shares
    ``π_h`` with strength ``α``: the posterior mean is
    ``p_ih = (c_ih + α π_h) / (n_i + α)``, so a customer with few interactions stays near
    the population and one with many follows their own history (``α / (n_i + α)`` is the
    weight on the population). ``π`` is the share of all interactions per hour (plus half
    an interaction per hour so no hour has zero weight); ``α`` maximises the
    Dirichlet–multinomial marginal likelihood of the customers with two or more
    interactions (``prior_strength`` fixes it instead).
Choice
    The send hour maximises ``Σ_{|d| ≤ w} p_i,h+d`` (``w = hour_window``, hours wrap at
    midnight): the expected share of interactions within ± ``w`` hours of it.
Fallback
    Customers without interactions get the population's best hour (the same rule on
    ``π``); it is also the hour everyone would get without personalisation.
Evaluation
    :func:`evaluate_send_hours` learns the hours from interactions before
    ``as_of - holdout_days`` and counts the held-out interactions (the later period up to
    ``as_of``) within ± ``w`` hours of each customer's chosen hour, against everyone at the
    single best hour, with a bootstrap interval over customers and, given the true hours
    (simulator), the oracle's share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

__all__ = [
    "HOURS",
    "SendHours",
    "SendTimeEvaluation",
    "interaction_times",
    "hour_counts",
    "population_shares",
    "estimate_prior_strength",
    "best_hours",
    "fit_send_hours",
    "evaluate_send_hours",
    "circular_distance",
]

log = logging.getLogger(__name__)

HOURS = 24
_PSEUDO = 0.5  # interactions added to every hour of the population shares
_ALPHA_BOUNDS = (0.05, 5_000.0)
_ALPHA_FALLBACK = 10.0
_MAX_EB_CUSTOMERS = 50_000
_BANDS = ((0, 0, "0"), (1, 2, "1-2"), (3, 5, "3-5"), (6, 10, "6-10"), (11, None, "11+"))


def circular_distance(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Hours between two hours of the day, wrapping at midnight (0–12).

    Examples
    --------
    >>> circular_distance(np.array([23, 1, 12]), 0).tolist()
    [1, 1, 12]
    """
    d = np.abs(np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64)) % HOURS
    return np.minimum(d, HOURS - d)


def interaction_times(
    email_events: pd.DataFrame, as_of: pd.Timestamp, *, machine_open_seconds: float | None = 120.0
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Human interactions before ``as_of``: one per customer and campaign.

    ``machine_open_seconds=None`` keeps every open (no machine-open discount).

    Returns
    -------
    (DataFrame, dict)
        customer_id, campaign_id, occurred_at, hour (UTC 0–23), kind (``open`` /
        ``click``), sorted by time; and counts: opens, machine_opens,
        opens_without_send (no send found: kept as human), clicks, interactions.

    Examples
    --------
    >>> t = lambda s: pd.Timestamp(s, tz="UTC")
    >>> e = pd.DataFrame({"customer_id": ["a"] * 4, "campaign_id": ["k"] * 4,
    ...     "event_type": ["sent", "open", "open", "click"],
    ...     "occurred_at": [t("2026-06-01 09:00"), t("2026-06-01 09:00:05"),
    ...                     t("2026-06-01 19:10"), t("2026-06-01 19:12")]})
    >>> rows, counts = interaction_times(e, t("2026-06-30"))
    >>> rows["hour"].tolist(), counts["machine_opens"]
    ([19], 1)
    """
    cols = ["customer_id", "campaign_id", "event_type", "occurred_at"]
    missing = [c for c in cols if c not in email_events.columns]
    if missing:
        raise ValueError(f"email_events: column(s) {', '.join(missing)} missing")
    # integer codes instead of text keys: grouping, matching and sorting tens of millions of
    # events on customer and campaign ids as strings took most of the targeting stage
    at = pd.to_datetime(email_events["occurred_at"], utc=True)
    unit = at.dt.unit
    keep = (at < as_of).to_numpy() & email_events["customer_id"].notna().to_numpy()
    if int(email_events["customer_id"].isna().sum()):
        log.info(
            "send time: %s e-mail event(s) without a customer id left out",
            f"{int(email_events['customer_id'].isna().sum()):,}",
        )
    when = at.dt.tz_convert(None).to_numpy()[keep].view(np.int64)
    per_second = int(np.timedelta64(1, "s") / np.timedelta64(1, unit))
    event_type = email_events["event_type"].astype("str")

    def of_type(name: str) -> np.ndarray:
        return (event_type == name).to_numpy(dtype=bool, na_value=False)[keep]

    customer, customers = pd.factorize(email_events["customer_id"].astype("str")[keep], sort=True)
    campaign, campaigns = pd.factorize(email_events["campaign_id"].astype("str")[keep], sort=True)
    campaign_ids = np.asarray(campaigns, dtype=object)
    # events without a campaign cannot be grouped or matched to a send: each stands alone
    lone = campaign < 0
    if lone.any():
        numbers = np.arange(int(lone.sum()))
        campaign[lone] = len(campaign_ids) + numbers
        campaign_ids = np.concatenate([campaign_ids, np.char.add("_event_", numbers.astype("str"))])
    n_campaigns = len(campaign_ids)
    pair = customer.astype(np.int64) * n_campaigns + campaign
    never = np.iinfo(np.int64).max
    sent = of_type("sent")
    # each customer's first send of a campaign (sorted pairs, the minimum per run of a pair)
    by_pair = np.lexsort((when[sent], pair[sent]))
    sent_pairs, sent_times = pair[sent][by_pair], when[sent][by_pair]
    starts = np.flatnonzero(np.r_[True, sent_pairs[1:] != sent_pairs[:-1]][: len(sent_pairs)])
    own_pairs, own_times = sent_pairs[starts], sent_times[starts]
    first = np.full(n_campaigns, never, dtype=np.int64)  # each campaign's first send
    np.minimum.at(first, campaign[sent], when[sent])
    is_open = np.flatnonzero(of_type("open"))
    sent_at = first[campaign[is_open]]
    if len(own_pairs):
        found = np.searchsorted(own_pairs, pair[is_open]).clip(max=len(own_pairs) - 1)
        matched = own_pairs[found] == pair[is_open]
        sent_at = np.where(matched, own_times[found], sent_at)
    without_send = sent_at == never
    delay = (when[is_open] - sent_at) / per_second
    if machine_open_seconds is None:
        machine = np.zeros(len(is_open), dtype=bool)
    else:
        machine = ~without_send & (delay >= 0) & (delay <= machine_open_seconds)
    human = is_open[~machine]
    is_click = np.flatnonzero(of_type("click"))
    # opens first, then clicks, each by time: the first row per campaign is the interaction
    both = np.concatenate([human, is_click])
    order = np.concatenate([np.zeros(len(human), np.int8), np.ones(len(is_click), np.int8)])
    ranked = np.lexsort((when[both], order, pair[both]))
    chosen_pair = pair[both][ranked]
    first_of_pair = np.ones(len(ranked), dtype=bool)
    first_of_pair[1:] = chosen_pair[1:] != chosen_pair[:-1]
    rows_at = both[ranked][first_of_pair]
    rows_at = rows_at[np.lexsort((customer[rows_at], when[rows_at]))]  # by time, then id
    occurred = pd.Series(when[rows_at].view(f"datetime64[{unit}]")).dt.tz_localize("UTC")
    rows = pd.DataFrame(
        {
            "customer_id": pd.Series(np.asarray(customers)[customer[rows_at]], dtype="str"),
            "campaign_id": pd.Series(campaign_ids[campaign[rows_at]], dtype="str"),
            "occurred_at": occurred,
            "hour": occurred.dt.hour.astype("int64"),
            "kind": pd.Series(np.where(of_type("open")[rows_at], "open", "click"), dtype="str"),
        }
    )
    counts = {
        "opens": len(is_open),
        "machine_opens": int(machine.sum()),
        "opens_without_send": int(without_send.sum()),
        "clicks": len(is_click),
        "interactions": len(rows),
    }
    return rows, counts


def hour_counts(interactions: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """Customers (sorted) and their interactions per hour (customers × 24 int array)."""
    # factorize, not np.unique: sorting text ids as Python objects was a sixth of the stage
    rows, ids = pd.factorize(interactions["customer_id"].astype("str"), sort=True)
    counts = np.zeros((len(ids), HOURS), dtype=np.int64)
    np.add.at(counts, (rows, interactions["hour"].to_numpy(dtype=np.int64)), 1)
    return pd.Index(np.asarray(ids, dtype=object), name="customer_id"), counts


def population_shares(counts: np.ndarray) -> np.ndarray:
    """Share of all interactions per hour, with half an interaction added to each hour."""
    total = np.asarray(counts, dtype=np.float64).reshape(-1, HOURS).sum(axis=0) + _PSEUDO
    return total / total.sum()


def _log_marginal(alpha: float, counts: np.ndarray, shares: np.ndarray) -> float:
    """Dirichlet–multinomial log-likelihood (without the multinomial coefficient)."""
    a = alpha * shares
    n = counts.sum(axis=1)
    per_row = gammaln(alpha) - gammaln(n + alpha) + (gammaln(counts + a) - gammaln(a)).sum(axis=1)
    return float(per_row.sum())


def estimate_prior_strength(counts: np.ndarray, shares: np.ndarray) -> tuple[float, str]:
    """Empirical-Bayes ``α``: maximum marginal likelihood over customers with ≥ 2
    interactions (at most 50,000 of them, evenly spaced, for speed).

    Returns ``(α, how)``; without such customers ``α = 10`` (``how = "fallback"``).
    """
    informative = counts[counts.sum(axis=1) >= 2]
    if not len(informative):
        return _ALPHA_FALLBACK, "fallback (no customer with 2+ interactions)"
    if len(informative) > _MAX_EB_CUSTOMERS:
        step = len(informative) / _MAX_EB_CUSTOMERS
        informative = informative[(np.arange(_MAX_EB_CUSTOMERS) * step).astype(np.int64)]
    result = minimize_scalar(
        lambda log_a: -_log_marginal(float(np.exp(log_a)), informative, shares),
        bounds=tuple(np.log(_ALPHA_BOUNDS)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    alpha = float(np.exp(result.x))
    return alpha, f"empirical Bayes over {len(informative):,} customers"


def _window_scores(p: np.ndarray, window: int) -> np.ndarray:
    """Share within ± ``window`` hours of each hour; ties go to the larger share at the
    hour itself (then to the earlier hour)."""
    scores = np.zeros_like(p)
    for d in range(-window, window + 1):
        scores += np.roll(p, -d, axis=-1)
    return scores + 1e-9 * p


def best_hours(counts: np.ndarray, shares: np.ndarray, alpha: float, window: int) -> np.ndarray:
    """The hour maximising the posterior share within ± ``window`` hours, per row.

    Examples
    --------
    >>> shares = np.full(24, 1 / 24); shares[10] *= 3; shares /= shares.sum()
    >>> c = np.zeros((2, 24), int); c[1, 20] = 9
    >>> best_hours(c, shares, alpha=5.0, window=1).tolist()
    [10, 20]
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1, HOURS)
    p = (counts + alpha * shares) / (counts.sum(axis=1, keepdims=True) + alpha)
    return _window_scores(p, window).argmax(axis=1)


@dataclass
class SendHours:
    """Result of :func:`fit_send_hours`.

    Attributes
    ----------
    hours : DataFrame
        customer_id, send_hour (UTC 0–23), interactions (count learnt from),
        prior_weight (``α / (n + α)``: 1 means the population's hour), basis
        (``history`` or ``fallback``).
    population_hour : int
        Best single hour for everyone (the fallback).
    shares : ndarray
        Population share of interactions per hour (``π``).
    prior_strength : float
        ``α``.
    prior_method : str
        How ``α`` was set.
    hour_window : int
    """

    hours: pd.DataFrame
    population_hour: int
    shares: np.ndarray
    prior_strength: float
    prior_method: str
    hour_window: int
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Plain values for the summary."""
        h = self.hours
        return {
            "population_hour_utc": self.population_hour,
            "prior_strength": round(self.prior_strength, 3),
            "prior_method": self.prior_method,
            "hour_window": self.hour_window,
            "customers": len(h),
            "with_history": int((h["basis"] == "history").sum()),
            "fallback": int((h["basis"] == "fallback").sum()),
            "moved_from_population_hour": int((h["send_hour"] != self.population_hour).sum()),
            **{f"events_{k}": v for k, v in self.counts.items()},
        }


def fit_send_hours(
    interactions: pd.DataFrame,
    customers: pd.Series | None = None,
    *,
    hour_window: int = 1,
    prior_strength: float | None = None,
) -> SendHours:
    """A send hour for every customer (see the module notes for the model and fallback).

    Parameters
    ----------
    interactions : DataFrame
        :func:`interaction_times` rows (customer_id, hour).
    customers : Series, optional
        Customers who need an hour (default: those with interactions); the ones
        without interactions get the population hour.
    hour_window : int, default 1
    prior_strength : float, optional
        ``α``; None estimates it (:func:`estimate_prior_strength`).
    """
    ids, counts = hour_counts(interactions)
    shares = population_shares(counts)
    if prior_strength is None:
        alpha, how = estimate_prior_strength(counts, shares)
    else:
        alpha, how = float(prior_strength), "given"
    population_hour = int(_window_scores(shares, hour_window).argmax())
    wanted = ids if customers is None else pd.Index(pd.Series(customers, dtype="str").unique())
    row = ids.get_indexer(wanted)
    known = row >= 0
    n = np.zeros(len(wanted), dtype=np.int64)
    n[known] = counts[row[known]].sum(axis=1)
    hour = np.full(len(wanted), population_hour, dtype=np.int64)
    if known.any():
        hour[known] = best_hours(counts[row[known]], shares, alpha, hour_window)
    hours = pd.DataFrame(
        {
            "customer_id": pd.Series(wanted, dtype="str"),
            "send_hour": hour,
            "interactions": n,
            "prior_weight": np.round(alpha / (n + alpha), 4),
            "basis": pd.Series(np.where(n > 0, "history", "fallback"), dtype="str"),
        }
    )
    log.info(
        "send hours: %s customers, %s with history, population hour %02d:00 UTC, alpha %.2f (%s)",
        f"{len(hours):,}",
        f"{int(known.sum()):,}",
        population_hour,
        alpha,
        how,
    )
    return SendHours(hours, population_hour, shares, alpha, how, hour_window)


@dataclass
class SendTimeEvaluation:
    """Result of :func:`evaluate_send_hours`: headline ``metrics``, ``by_history`` (the
    same comparison per band of training interactions) and, given the true hours,
    ``by_truth`` (customers with a planted hour and customers without one)."""

    metrics: dict[str, Any]
    by_history: pd.DataFrame
    by_truth: pd.DataFrame = field(default_factory=pd.DataFrame)


def _band(n: np.ndarray) -> np.ndarray:
    out = np.empty(len(n), dtype=object)
    for lo, hi, label in _BANDS:
        out[(n >= lo) & (n <= (hi if hi is not None else np.iinfo(np.int64).max))] = label
    return out


def evaluate_send_hours(
    email_events: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    holdout_days: int = 56,
    hour_window: int = 1,
    machine_open_seconds: float = 120.0,
    prior_strength: float | None = None,
    discount_machine_opens: bool = True,
    truth: pd.Series | None = None,
    seed: int = 7,
    n_boot: int = 200,
    precomputed: tuple[pd.DataFrame, dict[str, int]] | None = None,
) -> SendTimeEvaluation:
    """Held-out check: each customer's hour against everyone at the best single hour.

    Parameters
    ----------
    email_events : DataFrame
        Canonical e-mail events.
    as_of : Timestamp
        End of the data used; the held-out period is ``[as_of - holdout_days, as_of)``.
    holdout_days, hour_window, machine_open_seconds, prior_strength
        As in :class:`~workbench.targeting.params.TargetingParams`.
    discount_machine_opens : bool, default True
        Learn from human interactions only. False learns from every open (to measure
        what the discount is worth); the held-out interactions are human ones either way.
    truth : Series, optional
        True preferred hour per customer id (float hours, missing for customers without
        one), e.g. from the simulator: adds the oracle (``floor`` of the true hour, the
        population hour for customers without one).
    seed, n_boot : int
        Bootstrap over customers for the interval of the gain.
    precomputed : (DataFrame, dict), optional
        What :func:`interaction_times` returned for these events, ``as_of`` and
        ``machine_open_seconds`` (the caller's own, so the events are not read twice).

    Returns
    -------
    SendTimeEvaluation
        ``metrics``: held-out interactions and customers, ``hit_rate_personal``,
        ``hit_rate_best_hour``, ``gain`` (difference, share of held-out interactions within
        ± ``hour_window`` h) with ``gain_ci95``; with ``truth`` also ``hit_rate_oracle`` and
        ``share_of_oracle_gain``.
    """
    interactions, counts = (
        precomputed
        if precomputed is not None
        else interaction_times(email_events, as_of, machine_open_seconds=machine_open_seconds)
    )
    split = as_of - pd.Timedelta(days=holdout_days)
    learn = interactions
    if not discount_machine_opens:
        learn, _ = interaction_times(email_events, as_of, machine_open_seconds=None)
    train = learn[learn["occurred_at"] < split]
    test = interactions[interactions["occurred_at"] >= split]
    base = {
        "holdout_start": str(split.date()),
        "holdout_days": holdout_days,
        "hour_window": hour_window,
        "machine_opens_discounted": discount_machine_opens,
        "train_interactions": len(train),
        "heldout_interactions": len(test),
        "machine_opens": counts["machine_opens"],
    }
    if not len(train) or not len(test):
        base["note"] = "not enough e-mail interactions before and after the split"
        return SendTimeEvaluation(base, pd.DataFrame())
    fit = fit_send_hours(
        train, test["customer_id"], hour_window=hour_window, prior_strength=prior_strength
    )
    chosen = fit.hours.set_index("customer_id")
    cust = test["customer_id"].to_numpy()
    personal = chosen["send_hour"].reindex(cust).to_numpy(dtype=np.int64)
    hour = test["hour"].to_numpy(dtype=np.int64)
    hits = {
        "personal": circular_distance(hour, personal) <= hour_window,
        "best_hour": circular_distance(hour, fit.population_hour) <= hour_window,
    }
    if truth is not None:
        true = pd.Series(truth).copy()
        true.index = true.index.astype("str")
        oracle_hour = np.floor(pd.to_numeric(true, errors="coerce").reindex(cust).to_numpy())
        oracle_hour = np.where(np.isnan(oracle_hour), fit.population_hour, oracle_hour % HOURS)
        hits["oracle"] = circular_distance(hour, oracle_hour.astype(np.int64)) <= hour_window
        planted = ~np.isnan(pd.to_numeric(true, errors="coerce").reindex(cust).to_numpy())
    metrics: dict[str, Any] = {
        **base,
        "heldout_customers": int(pd.unique(cust).size),
        "population_hour_utc": fit.population_hour,
        "prior_strength": round(fit.prior_strength, 3),
        "prior_method": fit.prior_method,
        **{f"hit_rate_{k}": round(float(v.mean()), 4) for k, v in hits.items()},
    }
    metrics["gain"] = round(metrics["hit_rate_personal"] - metrics["hit_rate_best_hour"], 4)
    metrics["gain_ci95"] = _bootstrap_gain(cust, hits, seed=seed, n_boot=n_boot)
    if "oracle" in hits:
        oracle_gain = metrics["hit_rate_oracle"] - metrics["hit_rate_best_hour"]
        metrics["oracle_gain"] = round(oracle_gain, 4)
        metrics["share_of_oracle_gain"] = (
            round(metrics["gain"] / oracle_gain, 4) if oracle_gain > 0 else None
        )
    n_train = chosen["interactions"].reindex(cust).to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "band": _band(n_train),
            "customer_id": cust,
            **{k: v.astype(np.float64) for k, v in hits.items()},
        }
    )
    by = frame.groupby("band", sort=False)
    table = pd.DataFrame(
        {
            "customers": by["customer_id"].nunique(),
            "heldout_interactions": by.size(),
            **{f"hit_rate_{k}": by[k].mean().round(4) for k in hits},
        }
    )
    table["gain"] = (table["hit_rate_personal"] - table["hit_rate_best_hour"]).round(4)
    order = [label for _, _, label in _BANDS if label in table.index]
    table = table.loc[order].rename_axis("train_interactions").reset_index()
    by_truth = pd.DataFrame()
    if truth is not None:
        by_truth = _by_truth(cust, hits, planted, seed=seed, n_boot=n_boot)
        metrics["by_planted_hour"] = {
            r["group"]: {k: v for k, v in r.items() if k != "group"}
            for r in by_truth.to_dict("records")
        }
    log.info(
        "send-time evaluation: personal %.3f vs best hour %.3f on %s held-out interactions",
        metrics["hit_rate_personal"],
        metrics["hit_rate_best_hour"],
        f"{len(test):,}",
    )
    return SendTimeEvaluation(metrics, table, by_truth)


def _by_truth(
    cust: np.ndarray,
    hits: dict[str, np.ndarray],
    planted: np.ndarray,
    *,
    seed: int,
    n_boot: int,
) -> pd.DataFrame:
    """The comparison for customers with a planted hour and for those without one."""
    rows = []
    for label, mask in (("planted hour", planted), ("no planted hour", ~planted)):
        if not mask.any():
            continue
        part = {k: v[mask] for k, v in hits.items()}
        row: dict[str, Any] = {
            "group": label,
            "customers": int(pd.unique(cust[mask]).size),
            "heldout_interactions": int(mask.sum()),
            **{f"hit_rate_{k}": round(float(v.mean()), 4) for k, v in part.items()},
        }
        row["gain"] = round(row["hit_rate_personal"] - row["hit_rate_best_hour"], 4)
        ci = _bootstrap_gain(cust[mask], part, seed=seed, n_boot=n_boot)
        row["gain_ci95_low"], row["gain_ci95_high"] = ci if ci is not None else (None, None)
        oracle_gain = row["hit_rate_oracle"] - row["hit_rate_best_hour"]
        row["share_of_oracle_gain"] = (
            round(row["gain"] / oracle_gain, 4) if oracle_gain > 0 else None
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _bootstrap_gain(
    cust: np.ndarray, hits: dict[str, np.ndarray], *, seed: int, n_boot: int
) -> list[float] | None:
    """95 % percentile interval of the gain, resampling customers."""
    if n_boot <= 0:
        return None
    _, rows = np.unique(cust, return_inverse=True)
    m = rows.max() + 1
    size = np.bincount(rows, minlength=m).astype(np.float64)
    diff = np.bincount(
        rows,
        weights=hits["personal"].astype(np.float64) - hits["best_hour"].astype(np.float64),
        minlength=m,
    )
    rng = np.random.default_rng(seed)
    gains = np.empty(n_boot)
    for b in range(n_boot):
        pick = np.bincount(rng.integers(0, m, m), minlength=m)
        gains[b] = (pick * diff).sum() / (pick * size).sum()
    lo, hi = np.quantile(gains, [0.025, 0.975])
    return [round(float(lo), 4), round(float(hi), 4)]
