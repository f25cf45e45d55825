"""The audit's parameters: the rule thresholds and where the audit runs.

:class:`AuditConfig` holds the thresholds the rules use (the pandas audit and the audit on
an engine both take it); :class:`AuditParams` is the stage's parameters — every
parameter of notebook ``01_audit`` except the run's context — and builds the config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.audit.timeline import parse_extracted_at
from workbench.engines import ENGINES
from workbench.settings import Settings

__all__ = ["AUDIT_ENGINES", "AuditConfig", "AuditParams", "MAX_CUSTOMERS_IN_MEMORY"]

#: Where the audit can run: the engines of :mod:`workbench.engines`, or pandas in memory.
AUDIT_ENGINES = (*ENGINES, "pandas")

#: Customers (one row each) brought into pandas for the duplicate search on an engine, at
#: most; beyond it the search is skipped and the rule says so.
MAX_CUSTOMERS_IN_MEMORY = 2_000_000


@dataclass(frozen=True)
class AuditConfig:
    """Thresholds and switches of the audit rules (:attr:`AuditParams.config` builds it).

    Attributes
    ----------
    duplicate_threshold : float
        Probability (0-1) from which two customer ids are taken to be one person.
    max_block_size : int
        Larger blocking groups are skipped in the duplicate search (placeholders).
    iqr_k : float
        Tukey fence multiplier for amount and quantity outliers (log scale).
    robust_z : float
        Robust z-score limit for amount and quantity outliers (log scale).
    outlier_min_ratio : float
        An outlier is also at least this many times above (or below) the median.
    freshness_days : int
        A table whose newest row is older than this before ``as_of`` is stale.
    signup_grace_hours : float
        Activity this long before ``signup_at`` is not yet ``before_signup``.
    find_duplicates : bool
        Search for duplicate customers (off for ``workbench validate``).
    random_state : int
        Seed of the random customer pairs that measure chance agreement.
    extracted_at : str
        The date the data was exported (``2026-07-01``): timestamps after that day are in
        the future (errors). "" estimates it per table (:mod:`workbench.audit.timeline`).
    """

    duplicate_threshold: float = 0.8
    max_block_size: int = 500
    iqr_k: float = 3.0
    robust_z: float = 3.5
    outlier_min_ratio: float = 10.0
    freshness_days: int = 30
    signup_grace_hours: float = 0.0
    find_duplicates: bool = True
    random_state: int = 0
    extracted_at: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.extracted_at, str):
            raise ValueError(f"extracted_at: expected a date text, got {self.extracted_at!r}")
        parse_extracted_at(self.extracted_at)
        checks = {
            "duplicate_threshold": 0 < self.duplicate_threshold <= 1,
            "max_block_size": self.max_block_size >= 2,
            "iqr_k": self.iqr_k > 0,
            "robust_z": self.robust_z > 0,
            "outlier_min_ratio": self.outlier_min_ratio >= 1,
            "freshness_days": self.freshness_days >= 0,
            "signup_grace_hours": self.signup_grace_hours >= 0,
        }
        expected = {
            "duplicate_threshold": "a number in (0, 1]",
            "max_block_size": "an integer >= 2",
            "iqr_k": "a positive number",
            "robust_z": "a positive number",
            "outlier_min_ratio": "a number >= 1",
            "freshness_days": "an integer >= 0",
            "signup_grace_hours": "a number >= 0",
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: expected {expected[name]}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class AuditParams:
    """Parameters of the audit stage (the parameters cell of ``01_audit``).

    The thresholds are those of :class:`AuditConfig` (see there); the rest say where the
    audit runs.

    Attributes
    ----------
    engine : str
        ``duckdb`` (default): every rule as DuckDB queries in this process
        (:func:`workbench.audit.audit_on_engine` on a DuckDB database file, so memory stays
        bounded), written to the data tree's ``interim/``; ``pandas``: the same rules on
        pandas frames in memory (:func:`workbench.audit.run_audit`: small data, or to
        compare), written there too; ``spark``: the audit on Spark, written by the engine
        to ``engine_output``.
    spark_master : str
        Spark master URL; "" means ``$WORKBENCH_SPARK_MASTER`` or ``local[2]``.
    source_uri : str
        Engine only: read these Parquet tables (folder or ``s3a://`` URI) instead of the
        stage's data folder.
    engine_output : str
        Engine only: where the clean tables and the quarantine go; "" means the settings'
        engine folder (``settings.engine_dir``).
    max_customers_in_memory : int
        Engine only: above this many customers the duplicate search is skipped.

    Examples
    --------
    >>> params = AuditParams(duplicate_threshold=0.9, engine="spark")
    >>> params.config.duplicate_threshold, params.on_engine
    (0.9, True)
    >>> AuditParams(engine="polars")
    Traceback (most recent call last):
    ...
    ValueError: AuditParams: engine must be one of duckdb, spark, pandas, got 'polars'
    """

    duplicate_threshold: float = 0.8
    max_block_size: int = 500
    iqr_k: float = 3.0
    robust_z: float = 3.5
    outlier_min_ratio: float = 10.0
    freshness_days: int = 30
    signup_grace_hours: float = 0.0
    random_state: int = 0
    extracted_at: str = ""
    engine: str = "duckdb"
    spark_master: str = ""
    source_uri: str = ""
    engine_output: str = ""
    max_customers_in_memory: int = MAX_CUSTOMERS_IN_MEMORY

    def __post_init__(self) -> None:
        if self.engine not in AUDIT_ENGINES:
            raise ValueError(
                f"AuditParams: engine must be one of {', '.join(AUDIT_ENGINES)}, "
                f"got {self.engine!r}"
            )
        for name in ("spark_master", "source_uri", "engine_output"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"AuditParams: {name} must be a string, got {value!r}")
        limit = self.max_customers_in_memory
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(
                f"AuditParams: max_customers_in_memory must be a positive int, got {limit!r}"
            )
        try:
            self.config  # noqa: B018 - the thresholds are validated by AuditConfig
        except ValueError as exc:
            raise ValueError(f"AuditParams: {exc}") from None

    @property
    def config(self) -> AuditConfig:
        """The thresholds as the audit functions take them."""
        return AuditConfig(
            duplicate_threshold=self.duplicate_threshold,
            max_block_size=self.max_block_size,
            iqr_k=self.iqr_k,
            robust_z=self.robust_z,
            outlier_min_ratio=self.outlier_min_ratio,
            freshness_days=self.freshness_days,
            signup_grace_hours=self.signup_grace_hours,
            random_state=self.random_state,
            extracted_at=self.extracted_at,
        )

    @property
    def on_engine(self) -> bool:
        """True when the audit runs on an engine outside this process (Spark)."""
        return self.engine not in ("duckdb", "pandas")

    def output_folder(self, settings: Settings) -> str:
        """Where the clean tables and the quarantine go: the data tree's ``interim/``
        folder in this process, else ``engine_output`` or ``settings.engine_dir``."""
        if not self.on_engine:
            return str(settings.interim_dir)
        return self.engine_output or settings.engine_dir

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)
