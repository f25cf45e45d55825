"""Duplicate customers: the same person under two or more customer ids.

The search runs in four vectorised steps, so its cost grows roughly linearly with the
number of customers (never all pairs):

1. **Normalise** e-mails (:func:`normalise_email`: case, surrounding blanks, ``+tags``;
   dots in the local part only for providers that ignore them, gmail.com and
   googlemail.com) and names (lower case, accents and punctuation removed).
2. **Block** (:func:`candidate_pairs`): only customers sharing a blocking key become a
   candidate pair — the normalised e-mail, or the sorted initials of first and last
   name plus the birth date (so typos after the first letter and swapped names still
   meet). A block larger than ``max_block_size`` (a placeholder address shared by
   thousands of rows, say) is skipped and logged rather than exploding into millions
   of pairs. Name and city alone are deliberately not a key: a pair that agrees on
   neither e-mail nor birth date cannot reach the match threshold, and such blocks grow
   with the square of the customers in a city (at 1 M customers they held 90 % of all
   candidate pairs and produced no match).
3. **Score** (:func:`score_pairs`) each candidate pair as record linkage does
   (Fellegi–Sunter): every component — name (rapidfuzz token-sort ratio, so swapped
   first and last names still match), normalised e-mail, birth date (equal, one part
   off, different) and location (same city, same country, different) — falls into a
   comparison level, and each level adds its weight of evidence ``log2(m / u)``
   (:func:`estimate_weights`): ``m`` is how often true duplicates show the level
   (:data:`LEVELS`), ``u`` how often two random customers of *this* data set do
   (estimated from value shares and a seeded random sample of pairs). A missing value
   adds nothing. With a prior estimated from the pairs sharing an e-mail address, the
   total becomes the probability that both ids are one person (the ``score``). Because
   chance agreement is measured on the data, a common name or a crowded birth date
   counts for less as the customer base grows, which keeps precision at scale. A birth
   date shared by an implausible number of customers (a placeholder such as 1900-01-01,
   or an age floor) counts as missing.
4. **Cluster** matched pairs (score >= ``threshold``) into connected components and pick
   each cluster's **survivor**: the earliest ``signup_at``; ties, or missing sign-up
   dates, go to the smallest ``customer_id``. The rule is deterministic, so reruns and
   new data keep the same surviving ids.

The result of :func:`find_duplicates` is a :class:`DuplicateResult` holding the scored
pairs and the merge map (``duplicate_id, surviving_id, score, cluster_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "LEVELS",
    "IGNORES_DOTS",
    "DuplicateResult",
    "normalise_email",
    "normalise_name",
    "candidate_pairs",
    "estimate_weights",
    "score_pairs",
    "cluster_matches",
    "find_duplicates",
    "duplicate_metrics",
]

log = logging.getLogger(__name__)

#: Comparison levels per component, strongest agreement first: (level, lowest similarity,
#: m = share of true duplicates at this level). Set from experience with customer data;
#: the u side (chance agreement) is estimated from each data set (:func:`estimate_weights`).
LEVELS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "email": (("same", 1.0, 0.70), ("different", 0.0, 0.30)),
    "name": (
        ("exact", 0.99, 0.75),
        ("close", 0.88, 0.15),
        ("similar", 0.75, 0.06),
        ("different", 0.0, 0.04),
    ),
    "birth": (("exact", 1.0, 0.95), ("one part off", 0.5, 0.03), ("different", 0.0, 0.02)),
    "location": (("same city", 1.0, 0.85), ("same country", 0.3, 0.10), ("different", 0.0, 0.05)),
}
_U_CAP = {"email": 0.05, "name": 0.05, "birth": 0.05, "location": 0.5}  # tiny tables
_SAMPLE_PAIRS = 200_000
_DEFAULT_DUPLICATE_SHARE = 0.01
#: Providers whose addresses ignore dots in the local part.
IGNORES_DOTS = ("gmail.com", "googlemail.com")
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
_PLACEHOLDER_MIN = 50  # a birth date shared by more customers than this may be a placeholder
_PLACEHOLDER_FACTOR = 20  # ... when it is also this many times the median count per date


@dataclass(frozen=True)
class DuplicateResult:
    """What :func:`find_duplicates` found.

    Attributes
    ----------
    pairs : pandas.DataFrame
        Every scored candidate pair: ``id_a, id_b`` (customer ids), the component
        similarities ``name, email, birth, location`` (NaN when a customer lacks it),
        ``match_weight``, ``score`` and ``matched``.
    merge_map : pandas.DataFrame
        One row per merged customer: ``duplicate_id, surviving_id, score, cluster_id``.
    clusters : int
        Clusters of two or more customers.
    skipped_blocks : int
        Blocks larger than ``max_block_size`` that were not paired.
    weights : pandas.DataFrame
        The weight of evidence of every comparison level (see :func:`estimate_weights`).
    prior : float
        log2 prior odds that a random pair of customers is one person.
    """

    pairs: pd.DataFrame
    merge_map: pd.DataFrame
    clusters: int
    skipped_blocks: int
    weights: pd.DataFrame
    prior: float

    @property
    def matched_pairs(self) -> int:
        """Pairs scoring at or above the threshold."""
        return int(self.pairs["matched"].sum()) if len(self.pairs) else 0


def normalise_email(emails: pd.Series) -> pd.Series:
    """Addresses in a canonical form for matching; invalid or blank ones become missing.

    Lower case and surrounding blanks removed; ``+tags`` dropped from the local part;
    dots dropped from the local part at providers that ignore them (gmail.com and
    googlemail.com, which becomes gmail.com).

    Examples
    --------
    >>> normalise_email(pd.Series([" J.Doe+news@GoogleMail.com", "j.doe@yahoo.com", "x@"])).tolist()
    ['jdoe@gmail.com', 'j.doe@yahoo.com', nan]
    """
    text = emails.astype("str").str.strip().str.lower()
    valid = text.str.match(_EMAIL_RE, na=False)
    parts = text.where(valid).str.extract(r"^(?P<local>[^@]*)@(?P<domain>[^@]*)$")
    local = parts["local"].astype("str").str.replace(r"\+.*$", "", regex=True)
    domain = parts["domain"].astype("str").replace(_DOMAIN_ALIASES)
    dotless = domain.isin([_DOMAIN_ALIASES.get(d, d) for d in IGNORES_DOTS])
    local = local.where(~dotless, local.str.replace(".", "", regex=False))
    out = local + "@" + domain
    return out.where(valid & (local.str.len() > 0)).astype("str")


def normalise_name(names: pd.Series) -> pd.Series:
    """Lower-case letters and single spaces only (accents and punctuation removed).

    Examples
    --------
    >>> normalise_name(pd.Series(["  Zoë ", "O'Brien", None])).tolist()
    ['zoe', 'obrien', nan]
    """
    text = names.astype("str").str.normalize("NFKD").str.lower()
    text = text.str.replace(r"[^a-z\s]", "", regex=True).str.replace(r"\s+", " ", regex=True)
    text = text.str.strip()
    return text.mask(text == "", np.nan).astype("str")


def _features(customers: pd.DataFrame) -> pd.DataFrame:
    """The normalised columns the blocking and scoring use, one row per customer."""
    n = len(customers)

    def column(name: str) -> pd.Series:
        if name in customers.columns:
            return customers[name].reset_index(drop=True)
        return pd.Series(np.nan, index=range(n), dtype="str")

    first, last = normalise_name(column("first_name")), normalise_name(column("last_name"))
    full = (first.fillna("") + " " + last.fillna("")).str.strip()
    return pd.DataFrame(
        {
            "first": first,
            "last": last,
            "full": full.mask(full == "", np.nan),
            "email": normalise_email(column("email")),
            "birth": _birth_text(customers, n),
            "city": normalise_name(column("city")),
            "country": normalise_name(column("country")),
        }
    )


def _birth_text(customers: pd.DataFrame, n: int) -> pd.Series:
    """Birth dates as text; placeholder dates (shared implausibly often) become missing."""
    if "birth_date" not in customers.columns:
        return pd.Series(np.nan, index=range(n), dtype="str")
    text = customers["birth_date"].reset_index(drop=True).dt.strftime("%Y-%m-%d").astype("str")
    counts = text.value_counts()
    if counts.empty:
        return text
    limit = max(_PLACEHOLDER_MIN, _PLACEHOLDER_FACTOR * float(counts.median()))
    placeholders = counts.index[counts > limit]
    if len(placeholders):
        log.info(
            "duplicate search: birth date(s) %s shared by %s customers treated as placeholders",
            ", ".join(placeholders[:3]),
            f"{int(counts[placeholders].sum()):,}",
        )
    return text.mask(text.isin(placeholders))


def _sorted_pair(a: pd.Series, b: pd.Series) -> pd.Series:
    lo = a.where(a <= b, b)
    hi = b.where(a <= b, a)
    return lo + "|" + hi


def _blocking_keys(features: pd.DataFrame) -> dict[str, pd.Series]:
    first, last = features["first"], features["last"]
    initials = _sorted_pair(first.str[0], last.str[0])
    return {"email": features["email"], "initials_birth": initials + "|" + features["birth"]}


def candidate_pairs(
    customers: pd.DataFrame, *, max_block_size: int = 500
) -> tuple[pd.DataFrame, int]:
    """Pairs of customers that share at least one blocking key (positions ``a < b``).

    Parameters
    ----------
    customers : pandas.DataFrame
        Canonical customers (any of ``email, first_name, last_name, birth_date, city,
        country`` may be absent; keys needing them are then not built).
    max_block_size : int, default 500
        Blocks with more customers are skipped (and counted), keeping the cost linear.

    Returns
    -------
    (pandas.DataFrame, int)
        Columns ``a, b`` (row positions in ``customers``) without repeats, and the number
        of skipped blocks.
    """
    if max_block_size < 2:
        raise ValueError(f"max_block_size: expected an integer >= 2, got {max_block_size!r}")
    return _candidate_pairs(_features(customers), max_block_size)


def _candidate_pairs(features: pd.DataFrame, max_block_size: int) -> tuple[pd.DataFrame, int]:
    parts = []
    skipped = 0
    for name, key in _blocking_keys(features).items():
        keyed = pd.DataFrame({"key": key, "pos": np.arange(len(key))}).dropna(subset=["key"])
        sizes = keyed.groupby("key", sort=False)["pos"].transform("size")
        too_big = sizes > max_block_size
        if too_big.any():
            big = int(keyed.loc[too_big, "key"].nunique())
            skipped += big
            log.warning(
                "duplicate search: %d %s block(s) hold more than %d customers and were skipped "
                "(a shared placeholder value?)",
                big,
                name,
                max_block_size,
            )
        keyed = keyed[(sizes > 1) & ~too_big]
        pairs = keyed.merge(keyed, on="key", suffixes=("_a", "_b"))
        pairs = pairs[pairs["pos_a"] < pairs["pos_b"]]
        parts.append(pairs[["pos_a", "pos_b"]].to_numpy(dtype=np.int64))
    stacked = np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    unique = np.unique(stacked, axis=0) if len(stacked) else stacked
    return pd.DataFrame({"a": unique[:, 0], "b": unique[:, 1]}), skipped


def _text_similarity(a: pd.Series, b: pd.Series, scorer: Callable[..., float]) -> np.ndarray:
    both = a.notna().to_numpy() & b.notna().to_numpy()
    out = np.full(len(a), np.nan)
    if both.any():
        out[both] = (
            process.cpdist(
                a.to_numpy(dtype=object)[both],
                b.to_numpy(dtype=object)[both],
                scorer=scorer,
                dtype=np.float32,
            )
            / 100.0
        )
    return out


def _birth_similarity(a: pd.Series, b: pd.Series) -> np.ndarray:
    both = a.notna().to_numpy() & b.notna().to_numpy()
    out = np.full(len(a), np.nan)
    if not both.any():
        return out
    pattern = r"^(\d+)-(\d+)-(\d+)$"
    pa_ = a[both].str.extract(pattern).set_axis([0, 1, 2], axis=1)
    pb_ = b[both].str.extract(pattern).set_axis([0, 1, 2], axis=1)
    same = (pa_ == pb_).to_numpy()
    swapped = (pa_[0] == pb_[0]) & (pa_[1] == pb_[2]) & (pa_[2] == pb_[1])
    equal = same.sum(axis=1)
    out[both] = np.where(equal == 3, 1.0, np.where((equal == 2) | swapped.to_numpy(), 0.5, 0.0))
    return out


def _location_similarity(fa: pd.DataFrame, fb: pd.DataFrame) -> np.ndarray:
    city_a, city_b = fa["city"].to_numpy(dtype=object), fb["city"].to_numpy(dtype=object)
    country_a, country_b = (
        fa["country"].to_numpy(dtype=object),
        fb["country"].to_numpy(dtype=object),
    )
    has_city = fa["city"].notna().to_numpy() & fb["city"].notna().to_numpy()
    has_country = fa["country"].notna().to_numpy() & fb["country"].notna().to_numpy()
    same_country = has_country & (country_a == country_b)
    other_country = has_country & (country_a != country_b)
    same_city = has_city & (city_a == city_b) & ~other_country
    out = np.full(len(fa), np.nan)
    out[has_city | has_country] = 0.0
    out[same_country] = 0.3
    out[same_city] = 1.0
    return out


def _compare(features: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Similarity of each component for the pairs (``a[i]``, ``b[i]``); NaN when missing."""
    fa = features.iloc[a].reset_index(drop=True)
    fb = features.iloc[b].reset_index(drop=True)
    both_email = fa["email"].notna().to_numpy() & fb["email"].notna().to_numpy()
    same_email = (fa["email"] == fb["email"]).fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "name": _text_similarity(fa["full"], fb["full"], fuzz.token_sort_ratio),
            "email": np.where(both_email, same_email.astype(float), np.nan),
            "birth": _birth_similarity(fa["birth"], fb["birth"]),
            "location": _location_similarity(fa, fb),
        }
    )


def _levels(similarity: pd.DataFrame) -> dict[str, np.ndarray]:
    """Comparison level index per component (0 = strongest agreement; -1 = missing)."""
    out = {}
    for component, levels in LEVELS.items():
        values = similarity[component].to_numpy(dtype=float)
        level = np.full(len(values), len(levels) - 1)
        for i in range(len(levels) - 2, -1, -1):
            level = np.where(values >= levels[i][1], i, level)
        out[component] = np.where(np.isnan(values), -1, level)
    return out


def _exact_u(features: pd.DataFrame) -> dict[str, float]:
    """Chance that two random customers agree exactly: the sum of squared value shares."""
    tokens = (
        features["full"]
        .str.split(" ")
        .map(lambda t: " ".join(sorted(t)) if isinstance(t, list) else np.nan)
    )
    keys = {
        "email": features["email"],
        "name": tokens,
        "birth": features["birth"],
        "location": features["country"].fillna("") + "|" + features["city"],
    }
    out = {}
    for component, key in keys.items():
        shares = key.dropna().value_counts(normalize=True)
        out[component] = float((shares**2).sum()) if len(shares) else 1.0
    return out


def _random_pairs(n: int, size: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs when there are few, else ``size`` random pairs of distinct customers."""
    if n * (n - 1) // 2 <= size:
        a, b = np.triu_indices(n, k=1)
        return a.astype(np.int64), b.astype(np.int64)
    rng = np.random.default_rng(random_state)
    a, b = rng.integers(0, n, size), rng.integers(0, n, size)
    keep = a != b
    return a[keep], b[keep]


def estimate_weights(
    customers: pd.DataFrame, *, random_state: int = 0, sample_pairs: int = _SAMPLE_PAIRS
) -> pd.DataFrame:
    """Weights of evidence of every comparison level (Fellegi–Sunter).

    ``m`` (how often true duplicates show the level) comes from :data:`LEVELS`; ``u``
    (how often two random customers show it) is estimated from the data: exact agreement
    as the sum of squared value shares, the other levels from ``sample_pairs`` random
    pairs (seeded by ``random_state``). The weight is ``log2(m / u)``: common names or a
    city where most customers live count for less than rare ones.

    Returns
    -------
    pandas.DataFrame
        ``component, level, m, u, weight``.
    """
    return _estimate_weights(_features(customers), random_state, sample_pairs)


def _estimate_weights(features: pd.DataFrame, random_state: int, sample_pairs: int) -> pd.DataFrame:
    a, b = _random_pairs(len(features), sample_pairs, random_state)
    levels = _levels(_compare(features, a, b))
    exact = _exact_u(features)
    rows = []
    for component, spec in LEVELS.items():
        observed = levels[component][levels[component] >= 0]
        floor = 0.5 / max(len(observed), 1)
        for i, (name, _, m) in enumerate(spec):
            if i == 0:  # exact agreement: from the value shares, capped for tiny tables
                u = max(min(exact[component], _U_CAP[component]), 1e-12)
            else:
                u = float((observed == i).mean()) if len(observed) else 1.0
                u = min(max(u, floor), 1.0)
            rows.append(
                {"component": component, "level": name, "m": m, "u": u, "weight": np.log2(m / u)}
            )
    return pd.DataFrame(rows)


def _prior(features: pd.DataFrame, similarity: pd.DataFrame) -> float:
    """log2 prior odds that a random pair is one person.

    The expected number of same-person pairs is the pairs sharing a normalised e-mail
    divided by how often true duplicates do (``m`` of the e-mail level "same"); without
    e-mail addresses, 1 % of the customers are assumed to be second accounts.
    """
    n = len(features)
    total = max(n * (n - 1) / 2, 1.0)
    if features["email"].notna().any():
        same = float((similarity["email"] == 1).sum())
        expected = max(same, 1.0) / LEVELS["email"][0][2]
    else:
        expected = _DEFAULT_DUPLICATE_SHARE * n
    share = min(max(expected / total, 1e-15), 0.5)
    return float(np.log2(share / (1 - share)))


def score_pairs(
    customers: pd.DataFrame, pairs: pd.DataFrame, *, random_state: int = 0
) -> pd.DataFrame:
    """Score candidate pairs (positions ``a, b`` in ``customers``): the probability that
    both ids are one person.

    Returns ``pairs`` with the component similarities ``name`` (token-sort ratio),
    ``email`` (1 same normalised address, 0 different), ``birth`` (1 equal, 0.5 one
    part off or day and month swapped, 0 else), ``location`` (1 same city, 0.3 same
    country, 0 else) — NaN where either customer lacks the value — the ``match_weight``
    (log2 odds: the prior plus the weight of each component's level, see
    :func:`estimate_weights`) and ``score`` = 1 / (1 + 2^-match_weight).
    """
    features = _features(customers)
    weights = _estimate_weights(features, random_state, _SAMPLE_PAIRS)
    return _score(features, pairs, weights)[0]


def _score(
    features: pd.DataFrame, pairs: pd.DataFrame, weights: pd.DataFrame
) -> tuple[pd.DataFrame, float]:
    similarity = _compare(features, pairs["a"].to_numpy(), pairs["b"].to_numpy())
    prior = _prior(features, similarity)
    levels = _levels(similarity)
    total = np.full(len(pairs), prior)
    for component, level in levels.items():
        table = weights.loc[weights["component"] == component, "weight"].to_numpy()
        total += np.where(level >= 0, table[np.maximum(level, 0)], 0.0)
    out = pd.DataFrame({"a": pairs["a"].to_numpy(), "b": pairs["b"].to_numpy()})
    out = pd.concat([out, similarity], axis=1)
    out["match_weight"] = np.round(total, 3)
    out["score"] = np.round(1.0 / (1.0 + np.exp2(-np.clip(total, -60, 60))), 4)
    return out, prior


def cluster_matches(
    customers: pd.DataFrame, scored: pd.DataFrame, *, threshold: float
) -> tuple[pd.DataFrame, int]:
    """Connected components of the pairs scoring at least ``threshold`` and their survivors.

    The survivor of a cluster is the customer with the earliest ``signup_at``; ties, and
    customers without a sign-up date (who rank last), go to the smallest ``customer_id``.

    Returns
    -------
    (pandas.DataFrame, int)
        The merge map (``duplicate_id, surviving_id, score, cluster_id``; ``score`` is the
        best matched score linking the duplicate to its cluster, ``cluster_id`` numbers
        clusters by surviving id from 1) and the number of clusters.
    """
    matched = scored[scored["score"] >= threshold]
    empty = pd.DataFrame(
        {
            "duplicate_id": pd.Series(dtype="str"),
            "surviving_id": pd.Series(dtype="str"),
            "score": pd.Series(dtype="float64"),
            "cluster_id": pd.Series(dtype="int64"),
        }
    )
    if matched.empty:
        return empty, 0
    n = len(customers)
    a, b = matched["a"].to_numpy(), matched["b"].to_numpy()
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    members = np.unique(np.concatenate([a, b]))
    ids = customers["customer_id"].reset_index(drop=True)
    signup = (
        customers["signup_at"].reset_index(drop=True)
        if "signup_at" in customers.columns
        else pd.Series(pd.NaT, index=range(n))
    )
    frame = pd.DataFrame(
        {
            "pos": members,
            "label": label[members],
            "customer_id": ids.iloc[members].to_numpy(),
            "signup_missing": signup.iloc[members].isna().to_numpy(),
            "signup": signup.iloc[members].array,
        }
    )
    frame = frame.sort_values(["label", "signup_missing", "signup", "customer_id"], kind="stable")
    frame["surviving_id"] = frame.groupby("label")["customer_id"].transform("first")
    best = (
        pd.concat(
            [
                matched[["a", "score"]].rename(columns={"a": "pos"}),
                matched[["b", "score"]].rename(columns={"b": "pos"}),
            ]
        )
        .groupby("pos")["score"]
        .max()
    )
    dups = frame[frame["customer_id"] != frame["surviving_id"]].copy()
    dups["score"] = dups["pos"].map(best).astype("float64")
    survivors = sorted(frame["surviving_id"].unique())
    cluster_no = {sid: i + 1 for i, sid in enumerate(survivors)}
    out = pd.DataFrame(
        {
            "duplicate_id": dups["customer_id"].astype("str").to_numpy(),
            "surviving_id": dups["surviving_id"].astype("str").to_numpy(),
            "score": dups["score"].to_numpy(),
            "cluster_id": dups["surviving_id"].map(cluster_no).astype("int64").to_numpy(),
        }
    )
    out = out.sort_values(["cluster_id", "duplicate_id"], ignore_index=True)
    return out, len(survivors)


def find_duplicates(
    customers: pd.DataFrame,
    *,
    threshold: float = 0.8,
    max_block_size: int = 500,
    random_state: int = 0,
) -> DuplicateResult:
    """Find customers who are the same person: block, score, cluster, choose survivors.

    Parameters
    ----------
    customers : pandas.DataFrame
        Canonical customers with unique, non-missing ``customer_id``.
    threshold : float, default 0.8
        Pairs whose probability of being one person is at least this are merged.
    max_block_size : int, default 500
        See :func:`candidate_pairs`.
    random_state : int, default 0
        Seed of the random pairs that estimate chance agreement.

    Returns
    -------
    DuplicateResult

    Examples
    --------
    >>> customers = pd.DataFrame({
    ...     "customer_id": ["C1", "C2", "C3"],
    ...     "email": ["ann.lee@gmail.com", " AnnLee+shop@gmail.com", "bo@x.com"],
    ...     "first_name": ["Ann", "Ann", "Bo"], "last_name": ["Lee", "Lee", "Chan"],
    ...     "signup_at": pd.to_datetime(["2024-01-01", "2025-01-01", "2024-06-01"], utc=True)})
    >>> find_duplicates(customers).merge_map[["duplicate_id", "surviving_id"]].values.tolist()
    [['C2', 'C1']]
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: expected a number in (0, 1], got {threshold!r}")
    if "customer_id" not in customers.columns:
        raise KeyError("customers: column 'customer_id' is needed to find duplicates")
    ids = customers["customer_id"]
    if ids.isna().any() or ids.duplicated().any():
        raise ValueError(
            "customers: customer_id must be unique and non-missing before the duplicate search "
            f"({int(ids.isna().sum())} missing, {int(ids.duplicated().sum())} repeated)"
        )
    customers = customers.reset_index(drop=True)
    if max_block_size < 2:
        raise ValueError(f"max_block_size: expected an integer >= 2, got {max_block_size!r}")
    features = _features(customers)
    pairs, skipped = _candidate_pairs(features, max_block_size)
    weights = _estimate_weights(features, random_state, _SAMPLE_PAIRS)
    scored, prior = _score(features, pairs, weights)
    merge_map, clusters = cluster_matches(customers, scored, threshold=threshold)
    scored = scored.assign(
        id_a=ids.reset_index(drop=True).iloc[scored["a"].to_numpy()].to_numpy(),
        id_b=ids.reset_index(drop=True).iloc[scored["b"].to_numpy()].to_numpy(),
        matched=scored["score"] >= threshold,
    )
    ordered = ["id_a", "id_b", "name", "email", "birth", "location", "match_weight", "score"]
    ordered.append("matched")
    log.info(
        "duplicate search: %s customers, %s candidate pairs, %s matched, %s clusters, %s merged",
        f"{len(customers):,}",
        f"{len(scored):,}",
        f"{int(scored['matched'].sum()):,}",
        f"{clusters:,}",
        f"{len(merge_map):,}",
    )
    pairs_out = scored[ordered].astype({"id_a": "str", "id_b": "str"})
    return DuplicateResult(pairs_out, merge_map, clusters, skipped, weights, prior)


def duplicate_metrics(merge_map: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Pairwise precision and recall of found clusters against true duplicates.

    Both sides become sets of same-person pairs: every two ids of a found cluster, and
    every two ids sharing an ``original_id`` in ``truth`` (columns ``duplicate_id,
    original_id``, as in the demo's ``_truth/duplicates.parquet``).

    Examples
    --------
    >>> found = pd.DataFrame({"duplicate_id": ["B", "D"], "surviving_id": ["A", "C"]})
    >>> truth = pd.DataFrame({"duplicate_id": ["B", "F"], "original_id": ["A", "E"]})
    >>> duplicate_metrics(found, truth)
    {'precision': 0.5, 'recall': 0.5, 'found_pairs': 2, 'true_pairs': 2}
    """
    found = _pair_set(merge_map["duplicate_id"], merge_map["surviving_id"])
    true = _pair_set(truth["duplicate_id"], truth["original_id"])
    hits = len(found & true)
    return {
        "precision": hits / len(found) if found else 1.0,
        "recall": hits / len(true) if true else 1.0,
        "found_pairs": len(found),
        "true_pairs": len(true),
    }


def _pair_set(members: pd.Series, heads: pd.Series) -> set[tuple[str, str]]:
    clusters: dict[str, set[str]] = {}
    for member, head in zip(members.astype(str), heads.astype(str), strict=True):
        clusters.setdefault(head, {head}).add(member)
    out: set[tuple[str, str]] = set()
    for ids in clusters.values():
        ordered = sorted(ids)
        out.update(
            (ordered[i], ordered[j])
            for i in range(len(ordered))
            for j in range(i + 1, len(ordered))
        )
    return out
