"""Targeting: audiences, consent, capping, control groups, send hours, content and export.

:func:`plan_and_export` is what the targeting notebook computes with its defaults on the
demo data of one size: the built-in audiences over the feature table (no model outputs:
the audiences that need churn, CLV or uplift scores are not applicable), consent from the
customers and e-mail events, the frequency cap, the control draw, the send hours with
their held-out check, the content fields and one CSV and Parquet file per audience.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.cases.features import FEATURE_TABLE
from benchmarks.common import bench_config, shared_dir, stopwatch
from workbench import targeting
from workbench.schema import parse_as_of

__all__ = ["plan_and_export"]

_SALT = b"benchmark-salt-not-a-secret-0123"


def plan_and_export(data_dir: Path, work_dir: Path) -> dict:
    """The stage's computation end to end (reads, plan, export); figures and MLflow left
    out. ``compute_s`` is the plan (rules to content), ``export_s`` the files."""
    as_of = parse_as_of(bench_config().as_of)
    times: dict[str, float] = {}
    with stopwatch(times, "read_s"):
        features = pd.read_parquet(shared_dir(work_dir) / FEATURE_TABLE)
        customers = pd.read_parquet(Path(data_dir) / "customers.parquet")
        events = pd.read_parquet(Path(data_dir) / "email_events.parquet")
        products = pd.read_parquet(Path(data_dir) / "products.parquet")
    with stopwatch(times, "compute_s"):
        plan = targeting.plan_targeting(
            features, as_of, customers=customers, products=products, email_events=events
        )
    with stopwatch(times, "export_s"):
        names = plan.status.loc[plan.status["status"] == "applicable", "audience"].tolist()
        manifest = targeting.export_audiences(
            plan.rows, Path(work_dir) / "exports", salt=_SALT, audiences=names
        )
    evaluation = plan.send_time.metrics if plan.send_time is not None else {}
    return {
        "rows": int(len(plan.rows)),
        "rows_what": "messages",
        **times,
        "email_events": int(len(events)),
        "audiences": len(names),
        "files": len(manifest["files"]),
        "send_time_gain": evaluation.get("gain"),
    }
