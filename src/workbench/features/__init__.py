"""Stage 02: one row per customer as of a date.

RFM (recency, frequency, monetary, tenure, inter-purchase time) with 1–5 scores and
the eleven named segments, lifecycle stage, e-mail engagement and tier, web behaviour
and cart abandonment, category affinity and profile columns — computed from data
strictly before ``as_of``.

Scans and aggregations are Ibis expressions executed on an engine connection (DuckDB
in memory by default; Spark through ``ibis.pyspark.connect``), reading canonical
Parquet directly or registered pandas frames; the per-customer derivations (scores,
segments, tiers, stages) run in pandas on the aggregated table.

Main entry points: :func:`run` (the stage in one call: engine, tables, build,
reconciliation), :func:`build_features` (pass tables opened once with
:func:`workbench.canonical.open_tables` to build at several dates),
:func:`feature_sections`, :func:`data_dictionary`, :func:`feature_summary`, and the
RFM-only pair for cross-checks and benchmarks: :func:`rfm_features` (engine) and
:func:`rfm_pandas`. Every function takes ``as_of`` as a parsed ``pd.Timestamp`` (UTC
midnight, :func:`workbench.schema.parse_as_of`); :func:`workbench.schema.check_as_of`
refuses anything else.

Customers included
    Those who signed up before ``as_of`` and every customer id with an order of any
    status before ``as_of``.
Revenue
    ``completed`` orders only (cancelled and returned orders add nothing: net of
    returns), amounts as recorded (outliers the audit flags stay in), rounded to cents.
RFM scores
    ``1 + floor(5 · below / n)`` with ``below`` the number of customers with a worse
    value (ties share a score; the worst value scores 1), over customers
    with a completed order before ``as_of``; the others are not scored and form the
    segment "No Purchase".
"""

from __future__ import annotations

from workbench.features.baseline import RFM_COLUMNS, rfm_pandas
from workbench.features.build import (
    SECTIONS,
    build_features,
    completed_revenue,
    feature_expression,
    feature_sections,
    rfm_features,
)
from workbench.features.derive import (
    age_band,
    days_before,
    engagement_tier,
    lifecycle_stage,
    quintile_score,
    rfm_scores,
    rfm_segment,
)
from workbench.features.params import (
    ENGAGEMENT_TIERS,
    FEATURE_INPUTS,
    FEATURE_TABLES,
    LIFECYCLE_STAGES,
    NO_PURCHASE,
    RFM_SEGMENT_GRID,
    RFM_SEGMENTS,
    FeatureParams,
)
from workbench.features.report import (
    data_dictionary,
    distribution_figure,
    feature_summary,
    headline,
    lifecycle_rules,
    rfm_grid_figure,
    rfm_segment_table,
    segmentation_columns,
    top_category_figure,
)
from workbench.features.workflow import FeatureRun, input_manifest, run

__all__ = [
    "ENGAGEMENT_TIERS",
    "FEATURE_INPUTS",
    "FEATURE_TABLES",
    "LIFECYCLE_STAGES",
    "NO_PURCHASE",
    "RFM_COLUMNS",
    "RFM_SEGMENTS",
    "RFM_SEGMENT_GRID",
    "SECTIONS",
    "FeatureParams",
    "FeatureRun",
    "age_band",
    "build_features",
    "completed_revenue",
    "data_dictionary",
    "days_before",
    "distribution_figure",
    "engagement_tier",
    "feature_expression",
    "feature_sections",
    "feature_summary",
    "headline",
    "input_manifest",
    "lifecycle_rules",
    "lifecycle_stage",
    "quintile_score",
    "rfm_grid_figure",
    "rfm_features",
    "rfm_pandas",
    "rfm_scores",
    "rfm_segment",
    "rfm_segment_table",
    "run",
    "segmentation_columns",
    "top_category_figure",
]
