"""What an A/B test analysis starts from: the one entry point that picks the input route.

:func:`load_experiment` reads the aggregated export at ``summary_path`` when one is given
(:mod:`~workbench.experiments.export`), else per-user outcomes from the canonical
``experiment_assignments`` and ``orders`` tables (:mod:`~workbench.experiments.tables`):
frames already in memory, or a source the engine reads (a folder of canonical Parquet is
never loaded whole).
Both lead to the same :class:`~workbench.experiments.data.ExperimentData`; segment labels
are joined afterwards (:mod:`~workbench.experiments.segments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from workbench.canonical import CanonicalTables
from workbench.experiments.data import ExperimentData, ExperimentInputError
from workbench.experiments.export import experiment_from_summary
from workbench.experiments.tables import experiment_from_source, experiment_from_tables

__all__ = ["load_experiment"]


def load_experiment(
    tables: Mapping[str, pd.DataFrame] | str | Path | CanonicalTables | None,
    *,
    as_of: pd.Timestamp,
    summary_path: str | Path = "",
    experiment_id: str = "",
    control: str = "control",
    window_days: int = 14,
    pre_period_days: int = 90,
) -> ExperimentData:
    """The experiment from ``summary_path`` when given, else from the canonical tables.

    ``tables`` is anything indexable by table name with ``in`` (a dict or
    :class:`~workbench.loading.LoadedData`) holding ``experiment_assignments`` and
    ``orders``, or a folder of canonical Parquet or
    :class:`~workbench.canonical.CanonicalTables` (read by the engine:
    :func:`~workbench.experiments.experiment_from_source`); it may be ``None`` when
    ``summary_path`` is given.

    Raises
    ------
    ExperimentInputError
        Neither a summary nor an ``experiment_assignments`` table, or any error of
        :func:`experiment_from_tables` / :func:`experiment_from_summary`.
    """
    if summary_path:
        if not Path(summary_path).expanduser().exists():
            raise ExperimentInputError(
                f"summary_path {str(summary_path)!r} does not exist (looked for "
                f"{Path(summary_path).expanduser().resolve()}); give an absolute path"
            )
        return experiment_from_summary(
            Path(summary_path).expanduser(), control=control, experiment_id=experiment_id
        )
    if isinstance(tables, str | Path | CanonicalTables):
        return experiment_from_source(
            tables,
            as_of=as_of,
            experiment_id=experiment_id,
            control=control,
            window_days=window_days,
            pre_period_days=pre_period_days,
        )
    if tables is None or "experiment_assignments" not in tables or "orders" not in tables:
        present = ", ".join(sorted(getattr(tables, "tables", tables) or []))
        raise ExperimentInputError(
            "nothing to analyse: the source has no experiment_assignments table (tables found: "
            f"{present or 'none'}) and no summary_path was given; add experiment_assignments "
            "(experiment_id, customer_id, variant, assigned_at) or point summary_path at a CSV "
            "with variant, users, conversions[, revenue]"
        )
    return experiment_from_tables(
        tables["experiment_assignments"],
        tables["orders"],
        as_of=as_of,
        experiment_id=experiment_id,
        control=control,
        window_days=window_days,
        pre_period_days=pre_period_days,
    )
