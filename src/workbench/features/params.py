"""Parameters and fixed vocabularies of the feature stage.

Every threshold a marketer may want to change is a field of :class:`FeatureParams`, and
so is every other parameter of the stage's notebook (the engine and where to read and
write); the named RFM segments, engagement tiers and lifecycle stages are constants so
that the notebook, the tests and the later stages agree on the labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from workbench.engines import ENGINES

__all__ = [
    "FEATURE_INPUTS",
    "FEATURE_TABLES",
    "FeatureParams",
    "RFM_SEGMENTS",
    "NO_PURCHASE",
    "RFM_SEGMENT_GRID",
    "ENGAGEMENT_TIERS",
    "LIFECYCLE_STAGES",
]

#: The canonical tables the features read.
FEATURE_TABLES = ("customers", "orders", "order_items", "products", "email_events", "web_events")

#: What the features read (:attr:`FeatureParams.input`): the audit's clean tables of this
#: source, or the source as delivered.
FEATURE_INPUTS = ("clean", "raw")

NO_PURCHASE = "No Purchase"

#: The eleven classic RFM segments, best first, then the label of customers without a
#: completed order before ``as_of`` (they are not scored).
RFM_SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
    NO_PURCHASE,
)

_CH, _LC, _PL, _NC, _PR, _NA, _AS, _AR, _CL, _HI, _LO = RFM_SEGMENTS[:11]

#: Segment of every (R score, FM score) pair: ``RFM_SEGMENT_GRID[r][fm]`` with the
#: FM score = ⌈(F + M) / 2⌉ (the mean of the frequency and monetary scores, halves
#: rounded up). Rows are R = 5 (bought most recently) down to R = 1.
RFM_SEGMENT_GRID: dict[int, dict[int, str]] = {
    5: {1: _NC, 2: _PL, 3: _PL, 4: _CH, 5: _CH},
    4: {1: _PR, 2: _PL, 3: _PL, 4: _CH, 5: _CH},
    3: {1: _AS, 2: _AS, 3: _NA, 4: _LC, 5: _LC},
    2: {1: _HI, 2: _HI, 3: _AR, 4: _AR, 5: _CL},
    1: {1: _LO, 2: _LO, 3: _AR, 4: _CL, 5: _CL},
}

#: Engagement tiers, most engaged first.
ENGAGEMENT_TIERS = ("Highly Engaged", "Moderately Engaged", "Low", "Inactive")

#: Lifecycle stages in the order the rules are applied (see ``lifecycle_stage``).
LIFECYCLE_STAGES = ("new", "never-purchased", "churned", "re-engaged", "active", "at-risk")


@dataclass(frozen=True)
class FeatureParams:
    """Thresholds and windows of the customer features (all in days unless named).

    Attributes
    ----------
    email_windows : tuple of int, default (7, 14, 30, 90)
        Windows (days before ``as_of``) of the e-mail sends/opens/clicks counts.
    web_windows : tuple of int, default (7, 30, 90)
        Windows of the web sessions and product views counts.
    order_windows : tuple of int, default (90, 365)
        Windows of the recent completed orders and revenue.
    abandon_window_hours : float, default 24
        An add-to-cart is abandoned when its customer places no completed order within
        this many hours after it. Carts younger than this at ``as_of`` are not judged yet.
    highly_days, highly_min_opens, highly_min_clicks : int, default 7, 3, 2
        Highly Engaged: at least ``highly_min_opens`` opens and ``highly_min_clicks``
        clicks in the last ``highly_days`` days.
    moderate_days, moderate_min_opens, moderate_min_clicks : int, default 14, 1, 1
        Moderately Engaged (when not Highly): at least ``moderate_min_opens`` opens or at
        least ``moderate_min_clicks`` clicks in the last ``moderate_days`` days.
    moderate_max_opens, moderate_max_clicks : int or None, default None
        Optional upper bounds of that rule. The issue's wording "1–2 opens or 1 click"
        is read as a description of the band below Highly (no cap); set 2 and 1 for the
        literal reading, under which 3+ opens without clicks fall to Low.
    inactive_days : int, default 30
        Inactive: no open and no click in the last ``inactive_days`` days. Everyone else
        is Low.
    new_days : int, default 30
        Lifecycle ``new``: first completed order (or, without any, the sign-up) at most
        this many days before ``as_of``.
    active_days : int, default 90
        Lifecycle ``active``: last completed order at most this many days ago.
    churn_days : int, default 180
        Lifecycle ``churned``: no completed order for more than this many days.
    reengage_gap_days : int, default 180
        Lifecycle ``re-engaged``: active, and the last completed order came at least
        this many days after the one before it.
    max_categories : int, default 20
        Category-share columns kept (categories with the most products); the rest is
        pooled as ``share_other``.
    min_rate_days : int, default 30
        Floor of the observed period used by ``purchase_rate_per_year`` so brand-new
        customers do not get huge rates.
    money_decimals : int, default 2
        Money totals are rounded to this many decimals (cents), which makes them exact
        and identical across engines.
    age_bands : tuple of int, default (25, 35, 45, 55, 65)
        Lower edges of the age bands after the first (``<25``, ``25-34`` … ``65+``).
    input : str, default "clean"
        What the stage reads: ``clean`` — the audit's clean tables of this very source
        (the stage refuses to run without them rather than fall back to the raw tables);
        ``raw`` — the source as delivered (duplicates, orphans and whatever the audit
        would quarantine included), when asked for explicitly (``-p features.input=raw``).
    engine : str, default "duckdb"
        Engine of the scans and aggregations in :func:`workbench.features.run`: ``duckdb``
        or ``spark`` (:data:`workbench.engines.ENGINES`).
    spark_master : str, default ""
        Spark master URL; empty means ``$WORKBENCH_SPARK_MASTER`` or ``local[2]``.
    source_uri : str, default ""
        Read the canonical Parquet tables from this folder or URI on the engine instead
        of the stage's own source.
    features_uri : str, default ""
        Also write the feature table here by the engine (folder or URI); empty: do not.

    The last five say what the stage reads and where it runs;
    :func:`workbench.features.build_features` ignores them (it takes the tables and the
    engine connection themselves).

    Examples
    --------
    >>> FeatureParams(abandon_window_hours=48).abandon_window_hours
    48
    >>> FeatureParams(active_days=200)
    Traceback (most recent call last):
    ...
    ValueError: FeatureParams: active_days (200) must be smaller than churn_days (180)
    """

    email_windows: tuple[int, ...] = (7, 14, 30, 90)
    web_windows: tuple[int, ...] = (7, 30, 90)
    order_windows: tuple[int, ...] = (90, 365)
    abandon_window_hours: float = 24.0
    highly_days: int = 7
    highly_min_opens: int = 3
    highly_min_clicks: int = 2
    moderate_days: int = 14
    moderate_min_opens: int = 1
    moderate_min_clicks: int = 1
    moderate_max_opens: int | None = None
    moderate_max_clicks: int | None = None
    inactive_days: int = 30
    new_days: int = 30
    active_days: int = 90
    churn_days: int = 180
    reengage_gap_days: int = 180
    max_categories: int = 20
    min_rate_days: int = 30
    money_decimals: int = 2
    age_bands: tuple[int, ...] = (25, 35, 45, 55, 65)
    input: str = "clean"
    engine: str = "duckdb"
    spark_master: str = ""
    source_uri: str = ""
    features_uri: str = ""

    def __post_init__(self) -> None:
        for name in ("email_windows", "web_windows", "order_windows", "age_bands"):
            value = tuple(getattr(self, name))
            if not value or any(not isinstance(v, int) or v <= 0 for v in value):
                raise ValueError(
                    f"FeatureParams: {name} must be a non-empty tuple of positive ints, "
                    f"got {getattr(self, name)!r}"
                )
            if list(value) != sorted(set(value)):
                raise ValueError(
                    f"FeatureParams: {name} must be increasing without repeats, got {value!r}"
                )
            object.__setattr__(self, name, value)
        positive: tuple[str, ...] = ("highly_days", "moderate_days", "inactive_days")
        positive += ("new_days", "active_days")
        positive += ("churn_days", "reengage_gap_days", "max_categories", "min_rate_days")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"FeatureParams: {name} must be a positive int, got {value!r}")
        for name in ("highly_min_opens", "highly_min_clicks", "money_decimals"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"FeatureParams: {name} must be an int >= 0, got {value!r}")
        for name in ("moderate_min_opens", "moderate_min_clicks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"FeatureParams: {name} must be an int >= 1, got {value!r}")
        if not self.abandon_window_hours > 0:
            raise ValueError(
                "FeatureParams: abandon_window_hours must be positive, "
                f"got {self.abandon_window_hours!r}"
            )
        if self.active_days >= self.churn_days:
            raise ValueError(
                f"FeatureParams: active_days ({self.active_days}) must be smaller than "
                f"churn_days ({self.churn_days})"
            )
        if not isinstance(self.input, str) or self.input.strip().lower() not in FEATURE_INPUTS:
            raise ValueError(
                f"FeatureParams: input must be one of {', '.join(FEATURE_INPUTS)} (clean: the "
                f"audit's clean tables of this source; raw: the source as delivered), "
                f"got {self.input!r}"
            )
        object.__setattr__(self, "input", self.input.strip().lower())
        object.__setattr__(self, "engine", str(self.engine).strip().lower())
        if self.engine not in ENGINES:
            raise ValueError(
                f"FeatureParams: engine must be one of {', '.join(ENGINES)}, got {self.engine!r}"
            )
        for name in ("spark_master", "source_uri", "features_uri"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(
                    f"FeatureParams: {name} must be a text (empty for none), got {value!r}"
                )

    @property
    def email_count_windows(self) -> tuple[int, ...]:
        """E-mail windows plus the ones the engagement-tier rules need."""
        needed = {self.highly_days, self.moderate_days, self.inactive_days}
        return tuple(sorted(set(self.email_windows) | needed))

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), e.g. for MLflow parameters."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
            if k in {f.name for f in fields(self)}
        }
