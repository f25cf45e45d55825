"""The monitoring stage in one call: compare this run with the reference run, evaluate every
earlier run whose outcome window has ended, and apply the retrain rule.

:func:`run_monitoring` takes this run's outputs (read by the notebook through the catalog,
so each is checked to be of this source and ``as_of``) and finds the earlier runs itself
(:mod:`~workbench.monitoring.history`). It never fails for lack of an earlier run: on the
first run of a project the drift sections are empty and the notes say why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench import catalog
from workbench.display import Headline, HeadlineItem, fmt_number
from workbench.monitoring.drift import bin_table, drift_table, series_drift
from workbench.monitoring.history import (
    ChurnFacts,
    StoredOutput,
    churn_facts,
    clv_horizon,
    earlier_runs,
    model_inputs,
    read_stored,
    reference_as_of,
)
from workbench.monitoring.inputs import input_profile
from workbench.monitoring.params import MonitoringParams
from workbench.monitoring.realised import (
    RealisedChurn,
    RealisedPurchases,
    matured,
    realised_churn,
    realised_purchases,
)
from workbench.monitoring.retrain import retrain_signal
from workbench.monitoring.summary import monitoring_summary
from workbench.monitoring.tables import missing_changes, row_changes
from workbench.settings import Settings

__all__ = ["MonitoringResult", "OUTPUT_SERIES", "headline", "run_monitoring"]

log = logging.getLogger(__name__)

#: The stage outputs whose distribution is compared: (label, catalog table, column).
OUTPUT_SERIES = (
    ("churn score", "churn_scores", "churn_probability"),
    ("segment mix", "segments", "cluster_name"),
    ("CLV tiers", "clv", "clv_tier"),
)
_CATEGORICAL = ("segment mix", "CLV tiers")


@dataclass
class MonitoringResult:
    """Everything the monitoring report shows.

    Attributes
    ----------
    reference_run : dict or None
        ``as_of``, ``run_id`` (the pipeline run) and ``source`` of the reference run.
    drift : DataFrame or None
        :func:`drift_table` of the model inputs against the reference run.
    outputs : DataFrame or None
        :func:`series_drift` of churn score, segment mix and CLV tiers.
    output_bins : dict
        :func:`bin_table` per output compared (for the mix figures).
    profile : DataFrame
        This run's :func:`input_profile` (kept in the catalog for the next run).
    rows, missing : DataFrame or None
        Row counts and missingness by table against the reference run's profile.
    realised, realised_clv : list
        One :class:`RealisedChurn` / :class:`RealisedPurchases` per earlier run whose
        outcome window has ended, oldest first.
    retrain : dict
        :func:`retrain_signal`.
    notes : list of str
        What could not be compared, and why.
    """

    as_of: pd.Timestamp
    reference_run: dict[str, Any] | None
    profile: pd.DataFrame
    retrain: dict[str, Any]
    drift: pd.DataFrame | None = None
    outputs: pd.DataFrame | None = None
    output_bins: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows: pd.DataFrame | None = None
    missing: pd.DataFrame | None = None
    realised: list[RealisedChurn] = field(default_factory=list)
    realised_clv: list[RealisedPurchases] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: MonitoringParams = field(default_factory=MonitoringParams)

    def summary(self) -> dict[str, Any]:
        """``monitoring.json``: the keys of :func:`monitoring_summary`, ``earlier_runs``,
        ``notes`` and ``headline``."""
        out = monitoring_summary(
            as_of=self.as_of,
            reference_run=self.reference_run,
            retrain=self.retrain,
            drift=self.drift,
            outputs=self.outputs,
            rows=self.rows,
            missing=self.missing,
            realised=self.realised,
            realised_clv=self.realised_clv,
            thresholds=self.params.thresholds(),
        )
        out["earlier_runs"] = list(self.earlier)
        out["notes"] = list(self.notes)
        out["headline"] = headline(out).as_dict()
        return out


def _frame(value: Any) -> pd.DataFrame | None:
    return value if isinstance(value, pd.DataFrame) and len(value) else None


def _output_drift(
    current: Mapping[str, pd.DataFrame | None],
    runs: Mapping[str, list[StoredOutput]],
    reference: pd.Timestamp,
    params: MonitoringParams,
    notes: list[str],
) -> tuple[pd.DataFrame | None, dict[str, pd.DataFrame]]:
    ref_series, cur_series, bins = {}, {}, {}
    for label, table, column in OUTPUT_SERIES:
        now = _frame(current.get(table))
        stored = read_stored(runs, table, reference)
        then = None if stored is None else _frame(stored[0])
        if now is None or then is None or column not in now or column not in then:
            which = "this run" if now is None or column not in now else "the reference run"
            notes.append(f"{label}: {which} has no {table} ({column}); not compared")
            continue
        ref_series[label], cur_series[label] = then[column], now[column]
        kind = "categorical" if label in _CATEGORICAL else None
        bins[label] = bin_table(
            then[column], now[column], thresholds=params.thresholds(), kind=kind
        )
    if not ref_series:
        return None, bins
    table = series_drift(
        ref_series, cur_series, thresholds=params.thresholds(), categorical=_CATEGORICAL
    )
    return table, bins


def _realised(
    settings: Settings,
    runs: Mapping[str, list[StoredOutput]],
    orders: Any,
    as_of: pd.Timestamp,
    notes: list[str],
) -> tuple[list[RealisedChurn], list[RealisedPurchases]]:
    churn, clv = [], []
    for stored in runs.get("churn_scores", []):
        facts = churn_facts(settings, stored.stamp)
        notes.extend(facts.notes)
        if not matured(stored.as_of, facts.horizon_days, as_of):
            end = stored.as_of + pd.Timedelta(days=facts.horizon_days)
            notes.append(
                f"churn scores as of {stored.as_of.date()} mature on {end.date()} "
                f"(horizon {facts.horizon_days} days): not evaluated yet"
            )
            continue
        churn.append(
            realised_churn(
                pd.read_parquet(stored.path),
                orders,
                as_of=stored.as_of,
                horizon_days=facts.horizon_days,
                observed_until=as_of,
                holdout_roc_auc=facts.holdout_roc_auc,
            )
        )
    for stored in runs.get("clv", []):
        horizon, note = clv_horizon(settings, stored.stamp)
        if note:
            notes.append(note)
        if not matured(stored.as_of, horizon, as_of):
            end = stored.as_of + pd.Timedelta(days=horizon)
            notes.append(
                f"CLV forecast as of {stored.as_of.date()} matures on {end.date()} "
                f"(horizon {horizon} days): not evaluated yet"
            )
            continue
        clv.append(
            realised_purchases(
                pd.read_parquet(stored.path),
                orders,
                as_of=stored.as_of,
                horizon_days=horizon,
                observed_until=as_of,
            )
        )
    return churn, clv


def run_monitoring(
    settings: Settings,
    source: catalog.SourceFingerprint,
    as_of: pd.Timestamp,
    tables: Any,
    current: Mapping[str, pd.DataFrame | None],
    *,
    current_churn: catalog.Stamp | None = None,
    params: MonitoringParams | None = None,
) -> MonitoringResult:
    """Monitor this run against the earlier runs of the same project and source.

    Parameters
    ----------
    settings : Settings
        The data tree (its ``history/``) and the MLflow store of the project.
    source : SourceFingerprint
        This run's source; only earlier outputs of the same source are used.
    as_of : Timestamp
        This run's cut-off.
    tables : folder, loaded data or opened tables
        The canonical tables (the audit's clean ones): the input profile before ``as_of``
        and the outcomes of earlier runs' scores (rows before ``as_of`` only).
    current : mapping
        This run's outputs by catalog name (``customer_features``, ``segments``,
        ``churn_scores``, ``clv``); None for one this run does not have.
    current_churn : Stamp, optional
        The stamp of this run's churn scores: its model version's inputs and SHAP ranking
        choose the columns compared and the features of the retrain rule.
    params : MonitoringParams, optional

    Returns
    -------
    MonitoringResult
    """
    params = params or MonitoringParams()
    thresholds = params.thresholds()
    notes: list[str] = []
    runs = earlier_runs(settings, source, as_of)
    earlier = sorted({str(s.as_of.date()) for items in runs.values() for s in items})
    reference = reference_as_of(runs, as_of, pinned=params.reference_as_of)
    profile = input_profile(tables, as_of)
    result = MonitoringResult(
        as_of=as_of,
        reference_run=None,
        profile=profile,
        retrain={},
        earlier=earlier,
        notes=notes,
        params=params,
    )
    facts: ChurnFacts | None = None
    if current_churn is not None:
        facts = churn_facts(settings, current_churn)
    elif runs["churn_scores"]:
        facts = churn_facts(settings, runs["churn_scores"][-1].stamp)
        notes.append("this run has no churn scores: the retrain rule uses the latest model's")
    if reference is None:
        notes.append(
            f"first run of project {settings.project} on this source (no earlier run as of a "
            f"date before {as_of.date()} kept its feature table): no drift to measure yet"
        )
    else:
        ref_features = read_stored(runs, "customer_features", reference)
        assert ref_features is not None  # reference_as_of only returns kept dates
        result.reference_run = {
            "as_of": str(reference.date()),
            "run_id": ref_features[1].run_id,
            "source": ref_features[1].source.source,
        }
        features = _frame(current.get("customer_features"))
        if features is None:
            notes.append("this run has no feature table: the model inputs are not compared")
        else:
            columns = model_inputs(features, facts)
            present = [c for c in columns if c in features or c in ref_features[0]]
            result.drift = drift_table(
                ref_features[0], features, columns=present, thresholds=thresholds
            )
        result.outputs, result.output_bins = _output_drift(current, runs, reference, params, notes)
        stored_profile = read_stored(runs, "table_profile", reference)
        if stored_profile is None:
            notes.append(
                f"the run as of {reference.date()} kept no table profile: row counts and "
                "missingness are not compared"
            )
        else:
            result.rows = row_changes(stored_profile[0], profile, thresholds)
            result.missing = missing_changes(stored_profile[0], profile, thresholds)
    result.realised, result.realised_clv = _realised(settings, runs, tables, as_of, notes)
    result.retrain = retrain_signal(
        realised=result.realised,
        drift=result.drift,
        top_features=facts.top_features if facts else (),
        rule=params.rule(),
        thresholds=thresholds,
    )
    log.info(
        "monitoring as of %s: reference %s, %s matured score set(s), retrain %s",
        as_of.date(),
        reference.date() if reference is not None else "none",
        len(result.realised),
        "recommended" if result.retrain["recommended"] else "not recommended",
    )
    return result


def headline(summary: Mapping[str, Any]) -> Headline:
    """What a reader of the monitoring stage needs first, from its summary.

    Items: the reference run, model inputs drifted (warn or alert) out of those compared,
    the churn score's PSI, the latest realised ROC-AUC and top-decile lift, and the retrain
    advice. Status ``alert`` when retraining is recommended, ``warning`` when the data set
    as a whole drifted.

    Examples
    --------
    >>> s = {"as_of": "2026-06-30", "reference_run": {"as_of": "2026-03-31"},
    ...      "dataset_drift": {"columns": 40, "warn": 2, "alert": 1, "dataset_drift": False},
    ...      "outputs": {"churn score": {"psi": 0.031}},
    ...      "realised": [{"as_of": "2026-03-31", "roc_auc": 0.81, "top_decile_lift": 2.4}],
    ...      "retrain": {"recommended": False, "reasons": []}}
    >>> h = headline(s)
    >>> h.text()
    'reference run 2026-03-31 · inputs drifted 3 · churn score PSI 0.031 · realised ROC-AUC 0.81 · top-decile lift 2.40 · retrain no'
    >>> h.sentence
    'No retrain needed: 3 of 40 model inputs drifted against the run as of 2026-03-31; the churn scores as of 2026-03-31 reached a realised ROC-AUC of 0.81.'
    """
    reference = (summary.get("reference_run") or {}).get("as_of")
    data = summary.get("dataset_drift") or {}
    drifted = None if not data else int(data.get("warn", 0)) + int(data.get("alert", 0))
    score = (summary.get("outputs") or {}).get("churn score") or {}
    realised = list(summary.get("realised") or [])
    latest = max(realised, key=lambda e: str(e["as_of"])) if realised else {}
    retrain = summary.get("retrain") or {}
    recommended = bool(retrain.get("recommended"))
    items = [
        HeadlineItem("reference run", reference or "none (first run)", "text"),
        HeadlineItem("inputs drifted", drifted, "int"),
        HeadlineItem("churn score PSI", score.get("psi"), "number"),
        HeadlineItem("realised ROC-AUC", latest.get("roc_auc"), "number"),
        HeadlineItem("top-decile lift", latest.get("top_decile_lift"), "number"),
        HeadlineItem("retrain", "yes" if recommended else "no", "text"),
    ]
    parts = []
    if reference:
        parts.append(
            f"{drifted} of {data.get('columns', 0)} model inputs drifted against the run as of "
            f"{reference}"
            if data
            else f"compared with the run as of {reference}"
        )
    else:
        parts.append("first run of this project and source, so no drift yet")
    if latest:
        parts.append(
            f"the churn scores as of {latest['as_of']} reached a realised ROC-AUC of "
            f"{fmt_number(latest.get('roc_auc'))}"
        )
    else:
        parts.append("no earlier churn scores have matured")
    lead = "Retrain recommended" if recommended else "No retrain needed"
    sentence = f"{lead}: {'; '.join(parts)}."
    if recommended and retrain.get("reasons"):
        sentence += f" Why: {retrain['reasons'][0]}."
    status = "alert" if recommended else "warning" if data.get("dataset_drift") else "ok"
    return Headline(sentence, tuple(items), status)
