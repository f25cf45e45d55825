"""Stage monitoring: did the inputs move, did past predictions come true, is it time to retrain.

The computational core (each step a module; reading earlier runs is the caller's job):

1. **Drift** (:mod:`~workbench.monitoring.drift`): PSI and Jensen–Shannon distance per
   column on bins fitted to the reference (quantile bins for numbers, one bin per category,
   missing values as their own bin), a G-test noise gate, and a status per column
   (:class:`DriftThresholds`: PSI warn 0.1 / alert 0.25, JS warn 0.05 / alert 0.2); for a
   whole feature table (:func:`drift_table`) or for named outputs that live in different
   tables — churn score, segment mix, CLV tiers (:func:`series_drift`).
2. **Tables** (:mod:`~workbench.monitoring.tables`): row counts and missingness by table
   compared between two runs' profiles.
3. **Realised performance** (:mod:`~workbench.monitoring.realised`): stored churn scores
   against the churn stage's own label (no completed order in ``[D, D + H)``) — ROC-AUC,
   calibration by decile, churn per risk band, top-decile lift; CLV purchase forecasts
   against realised purchases (total and per-customer error).
4. **Retrain signal** (:mod:`~workbench.monitoring.retrain`, :class:`RetrainRule`).
5. **Summary and figures** (:mod:`~workbench.monitoring.summary`,
   :mod:`~workbench.monitoring.figures`).

The stage (:mod:`~workbench.monitoring.workflow`, :func:`run_monitoring`) reads earlier runs
through the catalog's kept copies (:mod:`~workbench.monitoring.history`: the same project and
source only, facts about their models from MLflow) and profiles the input tables as a run as
of ``as_of`` sees them (:mod:`~workbench.monitoring.inputs`).

Examples
--------
>>> from workbench import monitoring
>>> table = monitoring.drift_table(previous_features, features)          # doctest: +SKIP
>>> past = monitoring.realised_churn(old_scores, "data/interim/clean",    # doctest: +SKIP
...     as_of=parse_as_of("2026-03-31"), horizon_days=90,
...     observed_until=parse_as_of("2026-06-30"), holdout_roc_auc=0.84)
>>> monitoring.retrain_signal(realised=[past], drift=table,               # doctest: +SKIP
...     top_features=churn_json["top_features"])
{'recommended': False, 'reasons': [], ...}
"""

from workbench.monitoring.drift import (
    DRIFT_COLUMNS,
    ColumnBins,
    bin_table,
    column_drift,
    dataset_drift,
    drift_status,
    drift_table,
    fit_bins,
    homogeneity_p_value,
    js_distance,
    psi,
    series_drift,
)
from workbench.monitoring.figures import (
    bands_figure,
    drift_figure,
    metrics_over_time_figure,
    shares_figure,
)
from workbench.monitoring.history import (
    ChurnFacts,
    StoredOutput,
    churn_facts,
    earlier_runs,
    reference_as_of,
)
from workbench.monitoring.inputs import input_profile
from workbench.monitoring.params import STATUSES, DriftThresholds, MonitoringParams, RetrainRule
from workbench.monitoring.readout import (
    KINDS,
    MONITORED,
    applicable,
    drift_markdown,
    inputs_table,
    no_reference_reason,
    realised_clv_table,
    realised_table,
    retrain_markdown,
)
from workbench.monitoring.realised import (
    RealisedChurn,
    RealisedPurchases,
    matured,
    realised_churn,
    realised_purchases,
)
from workbench.monitoring.retrain import retrain_signal
from workbench.monitoring.summary import json_safe, monitoring_summary
from workbench.monitoring.tables import (
    PROFILE_COLUMNS,
    missing_changes,
    row_changes,
    table_profile,
)
from workbench.monitoring.workflow import OUTPUT_SERIES, MonitoringResult, headline, run_monitoring

__all__ = [
    "KINDS",
    "MONITORED",
    "applicable",
    "drift_markdown",
    "inputs_table",
    "no_reference_reason",
    "realised_clv_table",
    "realised_table",
    "retrain_markdown",
    "ChurnFacts",
    "MonitoringParams",
    "MonitoringResult",
    "OUTPUT_SERIES",
    "StoredOutput",
    "churn_facts",
    "earlier_runs",
    "headline",
    "input_profile",
    "reference_as_of",
    "run_monitoring",
    "DRIFT_COLUMNS",
    "PROFILE_COLUMNS",
    "STATUSES",
    "ColumnBins",
    "DriftThresholds",
    "RealisedChurn",
    "RealisedPurchases",
    "RetrainRule",
    "bands_figure",
    "bin_table",
    "column_drift",
    "dataset_drift",
    "drift_figure",
    "drift_status",
    "drift_table",
    "fit_bins",
    "homogeneity_p_value",
    "js_distance",
    "json_safe",
    "matured",
    "metrics_over_time_figure",
    "missing_changes",
    "monitoring_summary",
    "psi",
    "realised_churn",
    "realised_purchases",
    "retrain_signal",
    "row_changes",
    "series_drift",
    "shares_figure",
    "table_profile",
]
