"""Parameters of the A/B test stage: which experiment, its checks, the decision rule, priors
and sampling.

Every value of notebook 05's parameters cell except the run context is a field of
:class:`AbTestParams`, with the cell's name and default; the priors and the sampler's
settings the models take are built from them (:attr:`AbTestParams.priors`,
:attr:`AbTestParams.sampling`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.experiments.decision import METRIC_UNITS
from workbench.experiments.models import VALUE_LIKELIHOODS, Priors
from workbench.experiments.sampler import SAMPLERS, Sampling
from workbench.experiments.segments import SEGMENTS_AS_OF

__all__ = ["AbTestParams"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class AbTestParams:
    """What the A/B test stage analyses and how it decides.

    Attributes
    ----------
    experiment_id : str, default ""
        The experiment to analyse; "" means the only one, or the most recently assigned.
    control : str, default "control"
        The control variant (matched case-insensitively when there is no exact match).
    summary_path : str, default ""
        A CSV export ``variant, users, conversions[, revenue]`` to analyse instead of the
        canonical tables ("" reads the tables).
    window_days : int, default 14
        A completed order within this many days after assignment is a conversion.
    pre_period_days : int, default 90
        Days of spend before assignment used by CUPED; 0 turns CUPED off.
    intended_split : dict, default {}
        Share (or weight) per variant for the sample-ratio check; empty means equal shares.
    srm_alpha : float, default 0.001
        A sample-ratio p-value below this flags a mismatch.
    segment_column : str, default "rfm_segment"
        Column of the segment labels for per-segment effects ("" skips them).
    segment_path : str, default ""
        File with ``customer_id`` and ``segment_column``; "" means the labels are built
        (or read) as ``segments_as_of`` says.
    segments_as_of : {"first_assignment", "as_of"}, default "first_assignment"
        ``first_assignment``: segments built from the canonical tables as of the day of
        the first assignment (before the test); ``as_of``: this run's feature and segment
        tables (after the test began: descriptive only).
    max_segments : int, default 12
        Smaller segments beyond this many are pooled as ``other``.
    min_segment_conversions : int, default 10
        Segments with fewer conversions than this in an arm are pooled as ``other`` (0
        keeps every segment).
    decision_metric : {"conversion", "revenue_per_user"}, default "conversion"
        The metric the decision reads.
    prob_threshold : float, default 0.95
        Ship when the probability to beat control reaches this (between 0.5 and 1).
    max_expected_loss : float, default 0.001
        … and the expected loss is at most this, in the metric's units.
    rope : float, default 0.01
        Relative margin of practical equivalence and non-inferiority.
    non_inferiority : bool, default False
        Decide on "no worse than control by more than ``rope``", not on "better".
    hdi_prob : float, default 0.95
        Probability held by the highest-density intervals.
    conversion_prior_alpha, conversion_prior_beta : float, default 1.0, 1.0
        Beta prior of each conversion rate (1, 1 is flat).
    value_likelihood : {"gamma", "lognormal"}, default "gamma"
        Distribution of a converter's order value.
    value_prior_sd : float, default 1.0
        Sd of the log mean order value around the pooled log mean.
    effect_prior_sd : float, default 0.5
        Segments: sd of each variant's overall effect in log-odds.
    effect_spread_prior : float, default 0.2
        Segments: prior mean of how much the effect differs between segments.
    draws, tune, chains, cores : int, default 1000, 500, 4, 1
        NUTS settings: posterior draws and tuning steps per chain, Markov chains, chains
        sampled in parallel. The conversion posterior is exact; ``draws × chains`` draws
        are taken from it. 500 tuning steps suffice for these small models (on the demo
        the segment model keeps an effective sample size above 3,500 of 4,000 draws, no
        divergences, r-hat 1.006) and cost a quarter less than 1,000; the report's
        diagnostics say when they do not.
    sampler : {"auto", "pymc", "nutpie"}, default "auto"
        The NUTS implementation of the sampled models; ``auto`` is nutpie when it is
        installed, else PyMC's own.
    random_seed : int, default 7
        Seed of the sampler.

    Examples
    --------
    >>> params = AbTestParams(draws=500, chains=2, conversion_prior_alpha=2.0)
    >>> params.sampling.draws, params.priors.conversion_alpha
    (500, 2.0)
    >>> AbTestParams(window_days=0)
    Traceback (most recent call last):
    ...
    ValueError: AbTestParams: window_days must be a positive int, got 0
    """

    experiment_id: str = ""
    control: str = "control"
    summary_path: str = ""
    window_days: int = 14
    pre_period_days: int = 90
    intended_split: dict[str, float] = field(default_factory=dict)
    srm_alpha: float = 0.001
    segment_column: str = "rfm_segment"
    segment_path: str = ""
    segments_as_of: str = "first_assignment"
    max_segments: int = 12
    min_segment_conversions: int = 10
    decision_metric: str = "conversion"
    prob_threshold: float = 0.95
    max_expected_loss: float = 0.001
    rope: float = 0.01
    non_inferiority: bool = False
    hdi_prob: float = 0.95
    conversion_prior_alpha: float = 1.0
    conversion_prior_beta: float = 1.0
    value_likelihood: str = "gamma"
    value_prior_sd: float = 1.0
    effect_prior_sd: float = 0.5
    effect_spread_prior: float = 0.2
    draws: int = 1000
    tune: int = 500
    chains: int = 4
    cores: int = 1
    sampler: str = "auto"
    random_seed: int = 7

    def __post_init__(self) -> None:
        for name in (
            "experiment_id",
            "control",
            "summary_path",
            "segment_column",
            "segment_path",
            "segments_as_of",
            "sampler",
        ):
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
            elif not isinstance(value, str):
                raise ValueError(f"AbTestParams: {name} must be a string, got {value!r}")
        if not self.control.strip():
            raise ValueError(f"AbTestParams: control must name a variant, got {self.control!r}")
        for name, low in (
            ("window_days", 1),
            ("max_segments", 2),
            ("draws", 1),
            ("chains", 1),
            ("cores", 1),
        ):
            self._check_int(name, low, "a positive int" if low == 1 else f"an int >= {low}")
        for name in ("pre_period_days", "min_segment_conversions", "tune", "random_seed"):
            self._check_int(name, 0, "an int >= 0")
        self._check_split()
        for name in ("srm_alpha", "hdi_prob"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < 1:
                raise ValueError(
                    f"AbTestParams: {name} must be a probability between 0 and 1 (exclusive), "
                    f"got {value!r}"
                )
        if not _is_number(self.prob_threshold) or not 0.5 < self.prob_threshold < 1:
            raise ValueError(
                "AbTestParams: prob_threshold must be between 0.5 and 1 (exclusive), "
                f"got {self.prob_threshold!r}"
            )
        for name in ("max_expected_loss", "rope"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"AbTestParams: {name} must be a number >= 0, got {value!r}")
        for name in (
            "conversion_prior_alpha",
            "conversion_prior_beta",
            "value_prior_sd",
            "effect_prior_sd",
            "effect_spread_prior",
        ):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ValueError(f"AbTestParams: {name} must be a positive number, got {value!r}")
        if self.decision_metric not in METRIC_UNITS:
            raise ValueError(
                f"AbTestParams: decision_metric must be one of {', '.join(METRIC_UNITS)}, "
                f"got {self.decision_metric!r}"
            )
        if self.value_likelihood not in VALUE_LIKELIHOODS:
            raise ValueError(
                f"AbTestParams: value_likelihood must be one of {', '.join(VALUE_LIKELIHOODS)}, "
                f"got {self.value_likelihood!r}"
            )
        for name, allowed in (("segments_as_of", SEGMENTS_AS_OF), ("sampler", SAMPLERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"AbTestParams: {name} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not isinstance(self.non_inferiority, bool):
            raise ValueError(
                f"AbTestParams: non_inferiority must be True or False, got {self.non_inferiority!r}"
            )

    def _check_int(self, name: str, low: int, rule: str) -> None:
        value = getattr(self, name)
        if not _is_int(value) or value < low:
            raise ValueError(f"AbTestParams: {name} must be {rule}, got {value!r}")

    def _check_split(self) -> None:
        split = self.intended_split
        if not isinstance(split, Mapping) or not all(
            _is_number(w) and w > 0 for w in split.values()
        ):
            raise ValueError(
                "AbTestParams: intended_split must map each variant to a positive share, e.g. "
                f"{{'control': 0.5, 'b': 0.5}} (empty: equal shares); got {split!r}"
            )
        object.__setattr__(self, "intended_split", dict(split))

    @property
    def priors(self) -> Priors:
        """The models' priors from the ``*_prior*`` and ``value_likelihood`` parameters."""
        return Priors(
            conversion_alpha=self.conversion_prior_alpha,
            conversion_beta=self.conversion_prior_beta,
            value_likelihood=self.value_likelihood,
            value_mean_sd=self.value_prior_sd,
            effect_sd=self.effect_prior_sd,
            effect_spread=self.effect_spread_prior,
        )

    @property
    def sampling(self) -> Sampling:
        """NUTS settings from ``draws``, ``tune``, ``chains``, ``cores``, ``sampler`` and
        ``random_seed``."""
        return Sampling(
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            cores=self.cores,
            random_seed=self.random_seed,
            sampler=self.sampler,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)
