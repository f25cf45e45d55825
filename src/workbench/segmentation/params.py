"""Parameters and fixed labels of the segmentation stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "DEFAULT_FEATURES",
    "NO_HISTORY",
    "NO_HISTORY_CLUSTER",
    "SILHOUETTE_TOLERANCE",
    "SegmentationParams",
]

#: Behavioural inputs used when the ``features`` parameter is empty. Names or shell-style
#: patterns; a default that matches no column of the feature table (its source table is
#: absent) is skipped and said so. Purchase rate and basket value (log1p), recency in
#: days (log1p), e-mail open rate, web sessions (log1p), cart-abandonment rate and the
#: share of spend per category (square root: a composition, see ``transform_for``).
DEFAULT_FEATURES: tuple[str, ...] = (
    "purchase_rate_per_year",
    "avg_order_value",
    "recency_days",
    "email_open_rate",
    "web_sessions",
    "cart_abandonment_rate",
    "share_*",
)

#: Cluster id and name of customers left out of the clustering (no completed order
#: before ``as_of``); they stay in ``segments.parquet`` so downstream joins lose no one.
NO_HISTORY_CLUSTER = -1
NO_HISTORY = "No purchase history"

#: Silhouettes closer than this to the best are a tie, and the rule takes the smallest
#: such k. Measured on the demo data (20,000 customers): the silhouette of one k moves by
#: up to 0.006 between k-means seeds and silhouette samples (standard deviation about
#: 0.002), so smaller differences are no evidence for more segments.
SILHOUETTE_TOLERANCE = 0.01


@dataclass(frozen=True)
class SegmentationParams:
    """What the segmentation stage fits and how it chooses.

    Attributes
    ----------
    features : tuple of str, default () meaning :data:`DEFAULT_FEATURES`
        Feature-table columns (or patterns such as ``share_*``) the clustering uses.
        Explicitly named columns must exist and be numeric (or boolean).
    k_min, k_max : int, default 2, 10
        Range of cluster counts fitted and scored.
    k : int, default 0
        0 chooses k by the rule (among the solutions whose smallest cluster holds at
        least ``min_cluster_share`` of the customers, the smallest k whose silhouette is
        within ``silhouette_tolerance`` of the best); any other value is used as is (it
        is fitted too when outside the range).
    min_cluster_share : float, default 0.05
        Smallest acceptable cluster, as a share of the clustered customers.
    silhouette_tolerance : float, default 0.01
        Silhouettes within this of the best count as a tie, and ties go to the smaller k
        (:data:`SILHOUETTE_TOLERANCE`; 0 takes the best silhouette as it is).
    silhouette_sample : int, default 5_000
        Silhouette is computed on a seeded sample of this many customers when there are
        more (it costs O(n²)); the same sample serves every k.
    n_init, max_iter : int, default 4, 300
        k-means restarts (best inertia kept) and iterations per restart.
    n_bootstrap : int, default 10
        Bootstrap refits for the stability check (0 turns it off).
    stability_sample : int, default 10_000
        The bootstrap draws from a seeded pool of at most this many customers.
    stability_all_k : bool, default False
        Stability for every k of the range; else for the chosen k and its neighbours
        (k - 1 and k + 1 when fitted), which is a third of the cost for the usual range.
    hierarchical_sample : int, default 2_000
        Customers in the Ward (agglomerative) comparison sample.
    projection_sample : int, default 5_000
        Customers drawn in the two-dimensional projection.
    purchasers_only : bool, default True
        Cluster only customers with a completed order before ``as_of``; the others get
        cluster -1, "No purchase history" (their purchase features do not exist).
    random_state : int, default 42
        Seed of every random step (samples, k-means, bootstrap).
    n_threads : int, default 0
        Threads of the k-means and distance computations (0: the libraries' default, all
        cores). 1 is often faster on a busy shared machine, where spinning OpenMP threads
        wait for each other.

    Examples
    --------
    >>> SegmentationParams(k_min=3, k_max=6).k_values()
    [3, 4, 5, 6]
    >>> SegmentationParams(k=8, k_max=6).k_values()
    [2, 3, 4, 5, 6, 8]
    >>> SegmentationParams(k_min=1)
    Traceback (most recent call last):
    ...
    ValueError: SegmentationParams: k_min must be an int >= 2, got 1
    """

    features: tuple[str, ...] = ()
    k_min: int = 2
    k_max: int = 10
    k: int = 0
    min_cluster_share: float = 0.05
    silhouette_tolerance: float = SILHOUETTE_TOLERANCE
    silhouette_sample: int = 5_000
    n_init: int = 4
    max_iter: int = 300
    n_bootstrap: int = 10
    stability_sample: int = 10_000
    stability_all_k: bool = False
    hierarchical_sample: int = 2_000
    projection_sample: int = 5_000
    purchasers_only: bool = True
    random_state: int = 42
    n_threads: int = 0

    def __post_init__(self) -> None:
        features = (self.features,) if isinstance(self.features, str) else self.features
        features = tuple(str(f).strip() for f in (features or ()) if str(f).strip())
        object.__setattr__(self, "features", features or DEFAULT_FEATURES)
        at_least = {
            "k_min": 2,
            "k_max": 2,
            "silhouette_sample": 100,
            "n_init": 1,
            "max_iter": 1,
            "n_bootstrap": 0,
            "stability_sample": 100,
            "hierarchical_sample": 10,
            "projection_sample": 10,
            "random_state": 0,
            "n_threads": 0,
        }
        for name, low in at_least.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(
                    f"SegmentationParams: {name} must be an int >= {low}, got {value!r}"
                )
        if self.k_max < self.k_min:
            raise ValueError(
                f"SegmentationParams: k_max ({self.k_max}) must be at least k_min ({self.k_min})"
            )
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k == 1 or self.k < 0:
            raise ValueError(
                "SegmentationParams: k must be 0 (choose by the rule) or an int >= 2, "
                f"got {self.k!r}"
            )
        tolerance = self.silhouette_tolerance
        number = isinstance(tolerance, int | float) and not isinstance(tolerance, bool)
        if not number or not 0 <= tolerance < 0.5:
            raise ValueError(
                "SegmentationParams: silhouette_tolerance must be a number in [0, 0.5), "
                f"got {tolerance!r}"
            )
        object.__setattr__(self, "silhouette_tolerance", float(tolerance))
        if not 0 <= self.min_cluster_share < 0.5:
            raise ValueError(
                "SegmentationParams: min_cluster_share must be in [0, 0.5), "
                f"got {self.min_cluster_share!r}"
            )

    def k_values(self) -> list[int]:
        """The cluster counts to fit: the range, plus ``k`` when it is set outside it."""
        ks = set(range(self.k_min, self.k_max + 1))
        if self.k:
            ks.add(self.k)
        return sorted(ks)

    def stability_ks(self, chosen: int) -> list[int]:
        """The k checked by the bootstrap: every fitted k, or ``chosen`` and its neighbours.

        Examples
        --------
        >>> SegmentationParams().stability_ks(10)
        [9, 10]
        """
        fitted = self.k_values()
        if self.stability_all_k:
            return fitted
        return [k for k in fitted if abs(k - chosen) <= 1] or [chosen]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
