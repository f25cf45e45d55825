"""Earlier runs of this project and source: their kept outputs and what MLflow knows of them.

Every write of a table in :data:`workbench.catalog.HISTORY` (the feature table, segments,
churn scores, CLV, the monitoring stage's table profile) also keeps a copy per project and
``as_of`` (:func:`workbench.catalog.history_location`), stamped like the original. This
module finds those copies — only those made from the **same source** (the same place; its
files grow between runs) — and reads from MLflow what the stamps point at: the churn
horizon and the holdout ROC-AUC of the model version that made a run's scores, and the
CLV horizon.

Examples
--------
>>> runs = earlier_runs(settings, stage.source, stage.as_of)            # doctest: +SKIP
>>> ref = reference_as_of(runs, stage.as_of, pinned="")                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import catalog, tracking
from workbench.schema import parse_as_of
from workbench.settings import Settings

__all__ = [
    "ChurnFacts",
    "StoredOutput",
    "earlier_runs",
    "reference_as_of",
    "read_stored",
    "churn_facts",
    "clv_horizon",
    "model_inputs",
]

log = logging.getLogger(__name__)

#: Defaults of the churn and CLV stages, used only when MLflow has no record of a run.
_CHURN_HORIZON, _CLV_HORIZON = 90, 365


@dataclass(frozen=True)
class StoredOutput:
    """One kept copy of an earlier run's output."""

    name: str
    stamp: catalog.Stamp
    path: Path

    @property
    def as_of(self) -> pd.Timestamp:
        return self.stamp.as_of


def earlier_runs(
    settings: Settings, source: catalog.SourceFingerprint, as_of: pd.Timestamp
) -> dict[str, list[StoredOutput]]:
    """The kept outputs of this project's runs on ``source`` as of a date before ``as_of``.

    Returns
    -------
    dict
        ``{table name: [StoredOutput, ...]}`` for every table of
        :data:`~workbench.catalog.HISTORY`, oldest first (empty lists when none).
    """
    return {
        name: [
            StoredOutput(name, stamp, path)
            for stamp, path in catalog.history(settings, name, source=source)
            if stamp.as_of < as_of
        ]
        for name in catalog.HISTORY
    }


def reference_as_of(
    runs: Mapping[str, list[StoredOutput]], as_of: pd.Timestamp, *, pinned: str = ""
) -> pd.Timestamp | None:
    """The ``as_of`` of the run drift is measured against.

    ``pinned`` ("" or ``YYYY-MM-DD``) must be an earlier run that kept its feature table;
    "" chooses the most recent earlier run that did. None when there is none (the first
    run of the project on this source).

    Raises
    ------
    ValueError
        ``pinned`` is not an earlier run of this source (the message lists those that are).
    """
    kept = [s.as_of for s in runs.get("customer_features", [])]
    if pinned:
        wanted = parse_as_of(pinned)
        if wanted not in kept:
            listed = ", ".join(str(d.date()) for d in kept) or "none"
            raise ValueError(
                f"monitoring: reference_as_of={pinned!r} is not an earlier run of this project "
                f"and source before {as_of.date()} that kept its feature table; those are: "
                f"{listed}"
            )
        return wanted
    return max(kept) if kept else None


def read_stored(
    runs: Mapping[str, list[StoredOutput]], name: str, as_of: pd.Timestamp | None
) -> tuple[pd.DataFrame, catalog.Stamp] | None:
    """The kept copy of ``name`` as of ``as_of`` (None when there is none)."""
    if as_of is None:
        return None
    for stored in runs.get(name, []):
        if stored.as_of == as_of:
            return pd.read_parquet(stored.path), stored.stamp
    return None


def _client(settings: Settings) -> Any:
    try:
        return tracking.client(settings)
    except Exception as exc:  # no tracking store: the facts stay unknown, the notes say so
        log.warning("MLflow is not reachable at %s: %s", settings.tracking_uri, exc)
        return None


def _version_tags(settings: Settings, stamp: catalog.Stamp) -> dict[str, str]:
    model, version = stamp.extra.get("model"), stamp.extra.get("version")
    client = _client(settings) if model and version else None
    if client is None:
        return {}
    try:
        return dict(client.get_model_version(str(model), str(version)).tags)
    except Exception as exc:
        log.info("no registry record of %s version %s: %s", model, version, exc)
        return {}


def _stage_params(settings: Settings, stage: str, stamp: catalog.Stamp) -> dict[str, str]:
    if not stamp.run_id or _client(settings) is None:
        return {}
    try:
        run = tracking.find_stage_run(settings, stage, stamp.run_id)
    except Exception as exc:
        log.info("no MLflow run of stage %s in pipeline run %s: %s", stage, stamp.run_id, exc)
        return {}
    return {} if run is None else dict(run.data.params)


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class ChurnFacts:
    """What a run's churn scores were made with (from MLflow), and what is not known."""

    horizon_days: int
    holdout_roc_auc: float | None
    top_features: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def churn_facts(settings: Settings, stamp: catalog.Stamp) -> ChurnFacts:
    """The churn horizon (the churn stage's MLflow run of that pipeline run) and the
    holdout ROC-AUC, SHAP ranking and inputs of the model version that made the scores
    (its registry tags), for the scores stamped ``stamp``.

    A fact MLflow does not hold is replaced by the churn stage's default (horizon) or left
    out (None, empty), and a note says so.
    """
    notes = []
    params = _stage_params(settings, "churn", stamp)
    horizon = _int(params.get("horizon_days"))
    if horizon is None:
        horizon = _CHURN_HORIZON
        notes.append(
            f"no MLflow record of the churn run that scored as of {stamp.as_of.date()}: "
            f"assumed the default horizon of {_CHURN_HORIZON} days"
        )
    tags = _version_tags(settings, stamp)
    auc = _float(tags.get("workbench.holdout_roc_auc"))
    top: list[str] = []
    inputs: list[str] = []
    try:
        top = list(json.loads(tags.get("workbench.shap_importance", "{}")))
        inputs = [str(c) for c in json.loads(tags.get("workbench.inputs", "[]"))]
    except (TypeError, ValueError):
        notes.append("the model version's SHAP ranking or input list is not readable")
    if not tags:
        notes.append(
            f"no registry record of the model that scored as of {stamp.as_of.date()}: "
            "its holdout ROC-AUC and SHAP ranking are unknown"
        )
    return ChurnFacts(horizon, auc, top, inputs, notes)


def clv_horizon(settings: Settings, stamp: catalog.Stamp) -> tuple[int, str | None]:
    """The horizon of a run's CLV forecast (its MLflow run), and a note when assumed."""
    horizon = _int(_stage_params(settings, "clv", stamp).get("horizon_days"))
    if horizon is None:
        return _CLV_HORIZON, (
            f"no MLflow record of the CLV run as of {stamp.as_of.date()}: assumed the default "
            f"horizon of {_CLV_HORIZON} days"
        )
    return horizon, None


def model_inputs(features: pd.DataFrame, facts: ChurnFacts | None) -> list[str]:
    """The feature columns drift is measured on: the churn model's inputs when known
    (those in the feature table), else every column but ``customer_id``."""
    columns = [c for c in features.columns if c != "customer_id"]
    if facts is not None and facts.inputs:
        known = [c for c in facts.inputs if c in features.columns]
        if known:
            return known
    return columns
