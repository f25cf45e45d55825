"""Parameters of the CLV stage: horizon, time unit, money, models, fitting, tiers.

Every number a data scientist may want to change is a field of :class:`ClvParams`; the
notebook's parameters cell maps one to one onto these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.clv.formulas import PURCHASE_MODELS

__all__ = ["ClvParams", "TIME_UNITS", "METHODS", "TIERS", "MODEL_LABELS"]

#: Days in one unit of ``recency`` and ``T``.
TIME_UNITS = {"weeks": 7.0, "days": 1.0}
#: Fitting methods: closed-form maximum likelihood (SciPy), pymc-marketing's MAP or NUTS.
METHODS = ("mle", "map", "mcmc")
#: CLV tier labels, most valuable first (the last one is everybody else).
TIERS = ("top 1%", "top 5%", "top 20%", "rest")
#: Readable model names for reports.
MODEL_LABELS = {
    "bg_nbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "mbg_nbd": "modified BG/NBD",
    "gamma_gamma": "Gamma–Gamma",
    "naive": "naive (past rate × horizon)",
}


@dataclass(frozen=True)
class ClvParams:
    """What the CLV stage fits, predicts and checks.

    Attributes
    ----------
    horizon_days : int, default 365
        Prediction horizon: expected purchases and CLV cover ``[as_of, as_of + horizon_days)``;
        the holdout check fits as of ``as_of - horizon_days`` and compares with what
        happened up to ``as_of``. The models have no seasonality: a holdout shorter than a
        year measures the season as well (on the demo data, 180 days before 2026-06-30
        over-predict by a third, 365 days are within 1 %).
    time_unit : {"weeks", "days"}, default "weeks"
        Unit of ``recency`` and ``T`` (and so of the rate parameter ``alpha``).
    annual_discount_rate : float, default 0.10
        Future cash flows are divided by ``(1 + rate) ** years_from_as_of``.
    margin : float, default 1.0
        Share of an order's value that is profit (1.0: CLV in revenue).
    models : tuple of str, default all three
        Purchase models fitted and compared (``bg_nbd``, ``pareto_nbd``, ``mbg_nbd``).
    model : str, default "auto"
        ``"auto"`` uses the rule of :func:`~workbench.clv.validate.choose_model`; a model
        name forces that model.
    method : {"mle", "map", "mcmc"}, default "mle"
        ``mle``: closed-form maximum likelihood with SciPy on the sufficient statistics
        (identical customers collapsed into weights) — the MAP under flat priors, seconds
        at a million customers. ``map``: pymc-marketing's MAP with its stated priors.
        ``mcmc``: pymc-marketing's NUTS with the same priors; gives per-customer credible
        intervals.
    fit_sample : int, default 0
        Fit ``map``/``mcmc`` on a seeded random sample of this many customers (0: all).
        The fallback for pymc-marketing at large sizes; predictions still cover everyone.
    draws, tune, chains : int, default 500, 500, 2
        NUTS settings of ``mcmc``.
    interval_draws : int, default 200
        Posterior draws (thinned evenly) used for the per-customer bounds.
    credible_interval : float, default 0.9
        Mass of the equal-tailed per-customer interval (0.9: 5 % and 95 % quantiles).
    tier_shares : tuple of float, default (0.01, 0.05, 0.20)
        Cumulative shares of customers, by CLV, in the tiers of :data:`TIERS`.
    min_holdout_customers : int, default 200
        The holdout check runs only when at least this many customers bought before
        ``as_of - horizon_days`` (and ``min_repeat_customers`` of them bought again before
        it).
    min_repeat_customers : int, default 10
        Fewest customers with a repeat purchase the models are fitted on. Below it the four
        parameters of a purchase model (three of Gamma–Gamma) are not identified: the stage
        predicts with the naive baseline (past repeat rate × horizon, each customer's mean
        order value) and says so. On histories drawn from BG/NBD, 12 repeat buyers already
        predict the true expectation within about 12 % (the naive rate: 33 %).
    discount_steps_per_year : int, default 12
        Purchases are discounted at the end of each step (monthly by default).
    random_state : int, default 7
        Seed of every random step (sampling customers, NUTS).

    Examples
    --------
    >>> ClvParams(horizon_days=180).horizon_days
    180
    >>> ClvParams(time_unit="months")
    Traceback (most recent call last):
    ...
    ValueError: ClvParams: time_unit must be one of weeks, days; got 'months'
    """

    horizon_days: int = 365
    time_unit: str = "weeks"
    annual_discount_rate: float = 0.10
    margin: float = 1.0
    models: tuple[str, ...] = PURCHASE_MODELS
    model: str = "auto"
    method: str = "mle"
    fit_sample: int = 0
    draws: int = 500
    tune: int = 500
    chains: int = 2
    interval_draws: int = 200
    credible_interval: float = 0.9
    tier_shares: tuple[float, ...] = (0.01, 0.05, 0.20)
    min_holdout_customers: int = 200
    min_repeat_customers: int = 10
    discount_steps_per_year: int = 12
    random_state: int = 7

    def __post_init__(self) -> None:
        for name in (
            "horizon_days",
            "draws",
            "tune",
            "chains",
            "interval_draws",
            "min_holdout_customers",
            "min_repeat_customers",
            "discount_steps_per_year",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ClvParams: {name} must be a positive int, got {value!r}")
        if not isinstance(self.fit_sample, int) or self.fit_sample < 0:
            raise ValueError(
                f"ClvParams: fit_sample must be an int >= 0 (0: all), got {self.fit_sample!r}"
            )
        if self.time_unit not in TIME_UNITS:
            raise ValueError(
                f"ClvParams: time_unit must be one of {', '.join(TIME_UNITS)}; "
                f"got {self.time_unit!r}"
            )
        if self.method not in METHODS:
            raise ValueError(
                f"ClvParams: method must be one of {', '.join(METHODS)}; got {self.method!r}"
            )
        models = tuple(self.models)
        unknown = [m for m in models if m not in PURCHASE_MODELS]
        if not models or unknown:
            raise ValueError(
                f"ClvParams: models must be a non-empty subset of {', '.join(PURCHASE_MODELS)}; "
                f"got {self.models!r}"
            )
        object.__setattr__(self, "models", models)
        if self.model != "auto" and self.model not in models:
            raise ValueError(
                f"ClvParams: model must be 'auto' or one of models ({', '.join(models)}); "
                f"got {self.model!r}"
            )
        if not isinstance(self.annual_discount_rate, int | float) or not (
            0 <= self.annual_discount_rate < 1
        ):
            raise ValueError(
                "ClvParams: annual_discount_rate must be in [0, 1) (0.10 for 10 %), "
                f"got {self.annual_discount_rate!r}"
            )
        if not isinstance(self.margin, int | float) or not 0 < self.margin <= 1:
            raise ValueError(f"ClvParams: margin must be in (0, 1], got {self.margin!r}")
        if not 0 < self.credible_interval < 1:
            raise ValueError(
                f"ClvParams: credible_interval must be in (0, 1), got {self.credible_interval!r}"
            )
        shares = tuple(float(s) for s in self.tier_shares)
        if len(shares) != len(TIERS) - 1 or not 0 < shares[0] < shares[1] < shares[2] < 1:
            raise ValueError(
                "ClvParams: tier_shares must be three increasing shares in (0, 1), e.g. "
                f"(0.01, 0.05, 0.20); got {self.tier_shares!r}"
            )
        object.__setattr__(self, "tier_shares", shares)

    @property
    def days_per_unit(self) -> float:
        """Days in one time unit."""
        return TIME_UNITS[self.time_unit]

    @property
    def horizon(self) -> float:
        """The horizon in the time unit."""
        return self.horizon_days / self.days_per_unit

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
