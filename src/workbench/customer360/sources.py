"""Open the 360 view: the catalog's outputs, the champion churn model and the source tables.

:func:`open_customer360` reads ``customer_features`` (stage 02) through the catalog and
takes its stamp as what every other piece must fit: ``segments`` (stage 03) and
``churn_scores`` (stage 04) of another source or ``as_of`` are left out with a note
naming the stage to run. The champion churn model comes from the MLflow registry of the
feature table's project (``models:/<project>.churn-classifier@champion``: the project is
the settings' one, else derived from the source the feature table was built from, so a
second data source never shows the first one's champion); the customer's orders and
events come from the source the feature table was built from (else the audit's clean
tables, else the raw ones). Everything but the feature table is optional: a missing piece
is named in :attr:`~workbench.customer360.view.Customer360.notes`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from workbench import catalog
from workbench.canonical import open_tables
from workbench.churn import registry as churn_registry
from workbench.churn.params import CHAMPION, REGISTERED_MODEL
from workbench.customer360.view import Customer360
from workbench.features import FEATURE_TABLES, data_dictionary
from workbench.loading import find_table_files
from workbench.registry import registry_client
from workbench.settings import Settings, get_settings
from workbench.tracking import model_name as project_model_name

__all__ = ["open_customer360"]

log = logging.getLogger(__name__)


def _processed(
    settings: Settings, name: str, expect: catalog.Expect, notes: list[str]
) -> tuple[pd.DataFrame | None, catalog.Stamp | None]:
    """A processed table and its stamp when it fits the feature table (same source and
    ``as_of``); otherwise None and a note saying which stage to run."""
    try:
        return catalog.read_table(settings, name, expect=expect)
    except catalog.MissingOutputError:
        notes.append(
            f"no {name} for this feature table: run stage {catalog.entry(name).stage!r} for "
            "this section"
        )
    except catalog.StaleOutputError as exc:
        notes.append(f"{name} left out: {exc}")
    return None, None


def _events_source(settings: Settings, features_stamp: catalog.Stamp, data_dir: str) -> Path | None:
    """Where the customer's orders and events are read: ``data_dir`` when given, else the
    tables the feature table was built from, else the clean tables, else the raw ones."""
    if data_dir:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"customer 360: data_dir {str(path)!r} does not exist")
        return path
    built_from = features_stamp.extra.get("read_from")
    candidates = [Path(str(built_from)).expanduser()] if built_from else []
    for path in [*candidates, settings.clean_dir, settings.raw_dir]:
        if path.is_file() or (path.is_dir() and find_table_files(path)):
            return path
    return None


def _threshold(score_stamp: catalog.Stamp | None) -> float | None:
    """``target_threshold`` the churn stage used for the scores' audience (their stamp)."""
    if score_stamp is None:
        return None
    try:
        value = float(score_stamp.extra["target_threshold"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if 0 < value < 1 else None


def _point_mlflow(uri: str) -> Any:
    """Point MLflow (tracking and registry: ``load_model`` reads models by URI) at ``uri``
    and return a client on it."""
    client = registry_client(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return client


def open_customer360(
    *,
    data_root: str = "",
    tracking_uri: str = "",
    data_dir: str = "",
    model_name: str = REGISTERED_MODEL,
    target_threshold: float = 0.0,
    settings: Settings | None = None,
) -> Customer360:
    """Open the latest processed outputs, the champion churn model and the source tables.

    Parameters
    ----------
    data_root : str
        The data tree holding ``processed/`` (default: the project's settings).
    tracking_uri : str
        MLflow tracking URI (default: the project's).
    data_dir : str
        Folder or DuckDB file of the canonical tables for orders and events (default: the
        source the feature table was built from, else the clean, else the raw tables).
    model_name : str
        Registered churn model whose champion explains the probabilities, without the
        project (``churn-classifier``): the project's name is put in front of it
        (``tracking.model_name``).
    target_threshold : float
        Minimum churn probability of the win-back audience; 0 means the churn stage's
        ``target_threshold`` for these scores (0.7 when there is none).
    settings : Settings, optional
        Overrides ``data_root`` and ``tracking_uri``.

    Raises
    ------
    FileNotFoundError
        No ``customer_features.parquet``: names the file and the stage to run.
    """
    settings = settings or get_settings(
        data_dir=data_root or None, tracking_uri=tracking_uri or None
    )
    path = catalog.location(settings, "customer_features")
    if not path.exists():
        raise FileNotFoundError(
            f"customer 360 needs the feature table {path}, which does not exist: run stage 02 "
            "'features' first (`workbench run --data <source> --as-of <date> --stages "
            "features,segmentation,churn`)"
        )
    notes: list[str] = []
    features, stamp = catalog.read_table(settings, "customer_features")
    as_of = stamp.as_of
    expect = catalog.Expect(stamp.source, stamp.as_of)
    segments, _ = _processed(settings, "segments", expect, notes)
    scores, score_stamp = _processed(settings, "churn_scores", expect, notes)
    recommendations, _ = _processed(settings, "recommendations", expect, notes)
    clv_table, _ = _processed(settings, "clv", expect, notes)
    client = _point_mlflow(settings.tracking_uri)
    model, version = None, None
    registered = project_model_name(settings.for_source(stamp.source.source), model_name)
    holder = churn_registry.alias_version(client, registered, CHAMPION)
    if holder is None:
        notes.append(f"no champion of {registered!r} in the registry: no SHAP waterfall")
    else:
        model = churn_registry.load_model(registered, alias=CHAMPION)
        version = str(holder.version)
    threshold = target_threshold or _threshold(score_stamp) or 0.7
    source = _events_source(settings, stamp, data_dir)
    inputs = None
    if source is None:
        notes.append("no source tables found: recent orders and engagement are not shown")
    else:
        inputs = open_tables(source, tables=FEATURE_TABLES)
        log.info("customer 360: orders and events from %s", source)
    dictionary = data_dictionary(features.head(0))
    view = Customer360(
        features=features,
        segments=segments,
        scores=scores,
        model=model,
        model_version=version,
        inputs=inputs,
        as_of=as_of,
        target_threshold=threshold,
        meanings=dict(zip(dictionary["column"], dictionary["meaning"], strict=True)),
        notes=notes,
        scored_with=None if score_stamp is None else score_stamp.extra.get("version"),
        recommendations=recommendations,
        clv=clv_table,
    )
    log.info(
        "customer 360: %s customers as of %s; champion %s",
        f"{len(view):,}",
        None if as_of is None else as_of.date(),
        version,
    )
    return view
