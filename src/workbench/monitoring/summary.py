"""``monitoring.json``: the headline numbers of the monitoring stage as plain JSON values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.monitoring.drift import dataset_drift
from workbench.monitoring.params import DriftThresholds

__all__ = ["monitoring_summary", "json_safe"]

_DRIFT_KEYS = ("kind", "psi", "js", "p_value", "status")


def json_safe(value: Any, *, digits: int = 6) -> Any:
    """Plain JSON values: floats rounded to ``digits`` (NaN and infinities become None),
    numpy and pandas scalars unwrapped, timestamps as ISO dates (UTC midnights) or times.

    Examples
    --------
    >>> json_safe({"a": np.float64(0.1234567), "b": float("nan"), "c": [np.int64(3), pd.NA]})
    {'a': 0.123457, 'b': None, 'c': [3, None]}
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, digits=digits) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v, digits=digits) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return round(f, digits) if math.isfinite(f) else None
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value


def _by_column(table: pd.DataFrame | None) -> dict[str, Any]:
    if table is None:
        return {}
    return {str(r["column"]): {k: r[k] for k in _DRIFT_KEYS} for _, r in table.iterrows()}


def monitoring_summary(
    *,
    as_of: pd.Timestamp,
    reference_run: Any,
    retrain: Mapping[str, Any],
    drift: pd.DataFrame | None = None,
    outputs: pd.DataFrame | None = None,
    rows: pd.DataFrame | None = None,
    missing: pd.DataFrame | None = None,
    realised: Sequence[Any] = (),
    realised_clv: Sequence[Any] = (),
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """The stage's summary, shaped as ``monitoring.json``.

    Parameters
    ----------
    as_of : Timestamp
        This run's cut-off.
    reference_run : any JSON-able value
        What the drift was measured against (e.g. ``{"as_of": ..., "run_id": ...}``), or
        None on a first run.
    retrain : dict
        :func:`~workbench.monitoring.retrain_signal`.
    drift : DataFrame, optional
        :func:`~workbench.monitoring.drift_table` of the model inputs.
    outputs : DataFrame, optional
        :func:`~workbench.monitoring.series_drift` of the stage outputs (churn score,
        segment mix, CLV tiers, …).
    rows, missing : DataFrame, optional
        :func:`~workbench.monitoring.row_changes` and
        :func:`~workbench.monitoring.missing_changes`.
    realised, realised_clv : sequence of RealisedChurn / RealisedPurchases or dict
        One entry per earlier run whose outcome window is over, oldest first.
    thresholds : DriftThresholds, optional

    Returns
    -------
    dict
        ``as_of``, ``reference_run``, ``thresholds``, ``drift`` (``{column: {kind, psi, js,
        p_value, status}}``), ``dataset_drift``, ``outputs`` (same shape as ``drift``),
        ``tables`` (``rows``: ``{table: {...}}``, ``missing``: ``{table: {column: {...}}}``),
        ``realised`` and ``realised_clv`` (lists sorted by ``as_of``) and ``retrain``.
        Every number is a plain float or int; NaN becomes null.
    """
    t = thresholds or DriftThresholds()
    if not {"recommended", "reasons"} <= set(retrain):
        raise ValueError(
            "monitoring_summary: retrain must hold 'recommended' and 'reasons' "
            "(use workbench.monitoring.retrain_signal)"
        )
    tables: dict[str, Any] = {"rows": {}, "missing": {}}
    if rows is not None:
        tables["rows"] = {
            str(r["table"]): {k: r[k] for k in rows.columns if k != "table"}
            for _, r in rows.iterrows()
        }
    if missing is not None:
        for _, r in missing.iterrows():
            tables["missing"].setdefault(str(r["table"]), {})[str(r["column"])] = {
                k: r[k] for k in missing.columns if k not in ("table", "column")
            }

    def entries(items: Sequence[Any]) -> list[dict[str, Any]]:
        out = [dict(i.as_dict() if hasattr(i, "as_dict") else i) for i in items]
        return sorted(out, key=lambda e: pd.Timestamp(e["as_of"]))

    summary = {
        "as_of": as_of,
        "reference_run": reference_run,
        "thresholds": t.as_dict(),
        "drift": _by_column(drift),
        "dataset_drift": dataset_drift(drift, t) if drift is not None else None,
        "outputs": _by_column(outputs),
        "tables": tables,
        "realised": entries(realised),
        "realised_clv": entries(realised_clv),
        "retrain": dict(retrain),
    }
    return json_safe(summary)
