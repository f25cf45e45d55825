"""Parameters of the recommendations stage: time split, signals, evaluation, output.

Every number a data scientist may want to change is a field of :class:`RecommendParams`;
the notebook's parameters cell maps one to one onto these fields. The hyperparameter grids
the validation window searches are :data:`DEFAULT_GRIDS` (``workbench.recommend.models``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RecommendParams", "WEIGHTINGS", "RECOMMENDATIONS_FILE"]

#: How a purchase line counts in the interaction matrix: ``count`` = one per completed
#: order that holds the product, ``quantity`` = units bought.
WEIGHTINGS = ("count", "quantity")

#: File name of the final recommendations (written by the stage through the catalog).
RECOMMENDATIONS_FILE = "recommendations.parquet"


@dataclass(frozen=True)
class RecommendParams:
    """Time split, interaction signals, evaluation and output of the recommendations stage.

    Attributes
    ----------
    test_days : int, default 30
        The test window is ``[as_of - test_days, as_of)``: models trained on purchases
        before it are judged on what customers bought in it.
    validation_days : int, default 30
        The validation window ``[as_of - test_days - validation_days, as_of - test_days)``
        chooses every hyperparameter and the model; the test window is never used to tune.
    k : int, default 10
        Length of the ranked list the metrics judge (Precision@K, NDCG@K, ...).
    top_k : int, default 10
        Recommendations per customer in the final output.
    weighting : {"count", "quantity"}, default "count"
        A purchase counts once per completed order that holds the product (``count``) or
        by units bought (``quantity``). Measured on the demo (seed 7, 20,000 customers,
        test NDCG@10): the same for the chosen blend (0.2340 vs 0.2339), item-kNN 0.2246
        vs 0.2210; ``count`` is also robust to bulk orders and duplicated lines.
    view_weight : float, default 0.0
        Weight of one product view (web ``product_view`` events) relative to one purchase;
        0 ignores views. Measured on the demo with 0.25: ALS 0.2332 -> 0.2279, BPR 0.2282
        -> 0.2083, the blend 0.2340 -> 0.2284, so views are off by default.
    exclude_purchased : bool, default False
        Drop products the customer already bought from their list. Repeat buying is real
        in retail: on the demo (data version 2, 3,000 customers, seed 7) 57 % of the test
        window's purchases were products the customer had bought before, and excluding
        them cuts NDCG@10 from 0.474 to 0.071 for the chosen blend (popularity 0.264 ->
        0.059). The stage re-measures this on every run (``exclusion_check`` in
        ``recommendations.json``) and the report says whether the setting still fits.
    n_bootstrap : int, default 1000
        Bootstrap resamples of the evaluated customers for the confidence intervals
        (0 turns them off).
    ci_level : float, default 0.95
        Coverage of the bootstrap (percentile) intervals.
    max_evaluation_customers : int, default 100_000
        The validation search and the test comparison fit and judge on a seeded random
        sample of at most this many customers (with their whole history); the final
        lists refit the chosen model on everyone. 100,000 customers give intervals of
        about ±0.003 on NDCG@10 and keep the search's cost flat beyond that size.
    n_threads : int, default 0
        Threads of ``implicit``'s ALS and item-kNN (0: every core). Each customer's and
        each product's solve is independent, so the factors are the same with any number
        of threads (measured: bit for bit); ALS at 100,000 customers fits in 3.1 s on two
        threads instead of 5.1 s on one. BPR always runs on one thread: its parallel SGD
        (Hogwild updates) is not repeatable. Use 1 on a busy shared machine.
    batch_size : int, default 8192
        Customers scored at once; bounds memory at about ``batch_size × products`` floats.
    random_state : int, default 7
        Seed of every random step (ALS/BPR initialisation, BPR sampling, bootstrap).

    Examples
    --------
    >>> RecommendParams(test_days=14).test_days
    14
    >>> RecommendParams(k=0)
    Traceback (most recent call last):
    ...
    ValueError: RecommendParams: k must be a positive int, got 0
    """

    test_days: int = 30
    validation_days: int = 30
    k: int = 10
    top_k: int = 10
    weighting: str = "count"
    view_weight: float = 0.0
    exclude_purchased: bool = False
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    max_evaluation_customers: int = 100_000
    n_threads: int = 0
    batch_size: int = 8192
    random_state: int = 7

    def __post_init__(self) -> None:
        positive = ("test_days", "validation_days", "k", "top_k", "max_evaluation_customers",
                    "batch_size")  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"RecommendParams: {name} must be a positive int, got {value!r}")
        for name in ("n_bootstrap", "n_threads", "random_state"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"RecommendParams: {name} must be an int >= 0, got {value!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"RecommendParams: weighting must be one of {', '.join(WEIGHTINGS)}, "
                f"got {self.weighting!r}"
            )
        if not isinstance(self.view_weight, int | float) or not self.view_weight >= 0:
            raise ValueError(
                f"RecommendParams: view_weight must be a number >= 0, got {self.view_weight!r}"
            )
        if not isinstance(self.exclude_purchased, bool):
            raise ValueError(
                "RecommendParams: exclude_purchased must be True or False, "
                f"got {self.exclude_purchased!r}"
            )
        if not isinstance(self.ci_level, float) or not 0 < self.ci_level < 1:
            raise ValueError(
                f"RecommendParams: ci_level must be between 0 and 1, got {self.ci_level!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)
