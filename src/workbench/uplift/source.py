"""Where the uplift stage's experiment comes from: the canonical tables or a file.

Two routes end in the same :class:`~workbench.uplift.inputs.UpliftData`:

**Canonical tables** (``features_path`` empty). :func:`read_experiment_tables` reads the
assignments before ``as_of`` and the completed orders before it from whatever
:func:`workbench.canonical.open_tables` opens; :func:`applicable` says why there is
nothing to learn from (no assignment before ``as_of``, or no customer whose outcome
window is over); :func:`experiment_inputs` builds the customer features **as of the
experiment's first assignment date** (point in time: data strictly before it, never
after anyone's assignment) and joins each customer's outcome in the ``window_days``
after their own assignment.

**A file** (``features_path``): one row per customer with ``treatment_column``,
``outcome_column``, optional ``id_column`` and the features (:func:`file_inputs`).

Either way ``score_path`` names another file with the same feature columns to score
(:func:`score_file`), and :func:`catalog_scores` turns scores into the catalog's
``uplift_scores`` table (``customer_id, uplift_<arm>…, best_arm, persuadable``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from workbench.canonical import CanonicalTables, open_tables
from workbench.experiments import list_experiments
from workbench.features import FEATURE_TABLES, build_features
from workbench.loading import LoadedData
from workbench.schema import check_as_of
from workbench.uplift.inputs import UpliftData, UpliftInputError, prepare_uplift_data
from workbench.uplift.params import UpliftParams
from workbench.uplift.pit import first_assignment_date, uplift_data_from_tables
from workbench.uplift.scoring import BEST_ARM

__all__ = [
    "UPLIFT_TABLES",
    "PERSUADABLE",
    "ExperimentTables",
    "UpliftInputs",
    "read_experiment_tables",
    "choose_experiment",
    "applicable",
    "experiment_inputs",
    "read_table",
    "file_inputs",
    "score_file",
    "catalog_scores",
    "place_score_file",
]

log = logging.getLogger(__name__)

#: The canonical tables the stage reads: the assignments, and what the features need.
UPLIFT_TABLES = ("experiment_assignments", *FEATURE_TABLES)
#: Column of the catalog table: the best arm's expected uplift reaches ``persuadable_uplift``.
PERSUADABLE = "persuadable"
_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount", "status")
_ASSIGNMENT_COLUMNS = ("experiment_id", "customer_id", "variant", "assigned_at")


@dataclass(frozen=True)
class ExperimentTables:
    """The canonical inputs of the uplift stage, read once.

    Attributes
    ----------
    assignments : pandas.DataFrame
        Every row of ``experiment_assignments`` assigned before ``as_of``.
    orders : pandas.DataFrame
        Completed orders before ``as_of``: ``customer_id, ordered_at, amount, status``.
    tables : CanonicalTables
        The opened source (the feature build reuses it).
    as_of : pandas.Timestamp
    later : int
        Assignments at or after ``as_of`` (not read).
    """

    assignments: pd.DataFrame
    orders: pd.DataFrame
    tables: CanonicalTables
    as_of: pd.Timestamp
    later: int = 0


@dataclass(frozen=True)
class UpliftInputs:
    """The experiment ready for :func:`~workbench.uplift.workflow.fit_uplift`, and where
    it came from.

    Attributes
    ----------
    data : UpliftData
    experiment : str
        The experiment's id (canonical route) or name (file route).
    route : {"tables", "file"}
    source : str
        What was read, for the report.
    features_as_of : pandas.Timestamp or None
        Canonical route: the date the features were built as of (the first assignment).
    """

    data: UpliftData
    experiment: str
    route: str
    source: str
    features_as_of: pd.Timestamp | None = None


def _utc(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values, utc=True)
    return out.dt.tz_convert("UTC")


def read_experiment_tables(
    source: str | Path | LoadedData | CanonicalTables, as_of: pd.Timestamp
) -> ExperimentTables:
    """The assignments and the completed orders before ``as_of``, filtered on the engine.

    Parameters
    ----------
    source : folder, LoadedData or CanonicalTables
        Anything :func:`workbench.canonical.open_tables` opens, e.g. what
        ``stage.canonical_source(tables=uplift.UPLIFT_TABLES)`` returns; it must hold
        ``experiment_assignments``.
    as_of : pandas.Timestamp
        The cut-off (UTC midnight).

    Raises
    ------
    UpliftInputError
        The source has no ``experiment_assignments`` table.
    """
    check_as_of(as_of, "uplift.read_experiment_tables")
    tables = open_tables(source, tables=UPLIFT_TABLES)
    if not tables.has("experiment_assignments"):
        raise UpliftInputError(
            f"{tables.source}: no experiment_assignments table; the uplift stage needs an "
            "experiment (or a customer table given by features_path)"
        )
    cutoff = ibis.literal(as_of.to_pydatetime(), type="timestamp('UTC')")
    assigned = tables.tables["experiment_assignments"]
    before = assigned.filter(assigned.assigned_at < cutoff)
    frame = tables.to_pandas(before.select(*_ASSIGNMENT_COLUMNS))
    later = int(tables.execute(assigned.filter(assigned.assigned_at >= cutoff).count()))
    orders = tables.tables["orders"]
    kept = orders.filter((orders.status == "completed") & (orders.ordered_at < cutoff))
    completed = tables.to_pandas(kept.select(*_ORDER_COLUMNS))
    for table, column in ((frame, "assigned_at"), (completed, "ordered_at")):
        table[column] = _utc(table[column])
        table["customer_id"] = table["customer_id"].astype("str")
    log.info("uplift: %s assignments and %s completed orders before %s from %s",
             f"{len(frame):,}", f"{len(completed):,}", as_of.date(), tables.source)  # fmt: skip
    return ExperimentTables(frame, completed, tables, as_of, later)


def choose_experiment(assignments: pd.DataFrame, experiment_id: str = "") -> str:
    """``experiment_id`` when it has assignments, else (when empty) the most recent one.

    Raises
    ------
    UpliftInputError
        No assignment at all, or none of ``experiment_id`` (the experiments are listed).
    """
    found = list_experiments(assignments)
    if found.empty:
        raise UpliftInputError("experiment_assignments: no assignment to learn from")
    if not experiment_id:
        return str(found["experiment_id"].iloc[0])
    if experiment_id not in set(found["experiment_id"]):
        listing = ", ".join(map(str, found["experiment_id"]))
        raise UpliftInputError(
            f"experiment_id {experiment_id!r} has no assignment in experiment_assignments; "
            f"experiments are: {listing}"
        )
    return experiment_id


def applicable(
    experiment: ExperimentTables, *, experiment_id: str = "", window_days: int = 14
) -> str | None:
    """Why the stage has nothing to learn from as of ``experiment.as_of``, or None.

    The stage needs an assignment before ``as_of`` whose ``window_days``-day outcome
    window is over by then. An ``experiment_id`` that does not exist at all is an error,
    not a reason (see :func:`experiment_inputs`).

    Examples
    --------
    >>> a = pd.DataFrame({"experiment_id": ["e1"], "customer_id": ["c1"], "variant": ["b"],
    ...                   "assigned_at": pd.to_datetime(["2026-06-25"], utc=True)})
    >>> e = ExperimentTables(a, pd.DataFrame(), None, pd.Timestamp("2026-06-30", tz="UTC"))
    >>> applicable(e)
    "no customer of experiment 'e1' has a 14-day outcome window over by 2026-06-30 (1 assigned, the first on 2026-06-25)"
    """
    as_of = experiment.as_of
    rows = experiment.assignments
    if rows.empty:
        later = f" ({experiment.later:,} assignment(s) on or after it)" if experiment.later else ""
        return f"no experiment has an assignment before {as_of.date()}{later}"
    if experiment_id and not (rows["experiment_id"] == experiment_id).any():
        return None  # an unknown experiment is the user's error: experiment_inputs says so
    chosen = choose_experiment(rows, experiment_id)
    mine = rows.loc[rows["experiment_id"] == chosen, "assigned_at"].dropna()
    if (mine + pd.Timedelta(days=window_days) <= as_of).any():
        return None
    return (
        f"no customer of experiment {chosen!r} has a {window_days}-day outcome window over by "
        f"{as_of.date()} ({len(mine):,} assigned, the first on {mine.min().date()})"
    )


def experiment_inputs(experiment: ExperimentTables, params: UpliftParams) -> UpliftInputs:
    """The experiment's customers with their outcome and point-in-time features.

    The features are :func:`workbench.features.build_features` as of the experiment's
    first assignment date (UTC midnight: every row used is before every assignment).

    Parameters
    ----------
    experiment : ExperimentTables
    params : UpliftParams
        ``experiment_id``, ``control``, ``window_days``, ``outcome``.

    Raises
    ------
    UpliftInputError
        An unknown experiment or control, a single arm, no outcome variation, and every
        error of :func:`~workbench.uplift.pit.uplift_data_from_tables`.
    """
    chosen = choose_experiment(experiment.assignments, params.experiment_id)
    first = first_assignment_date(experiment.assignments, chosen)
    features = build_features(experiment.tables, first)
    data = uplift_data_from_tables(
        experiment.assignments, experiment.orders, features, as_of=experiment.as_of,
        features_as_of=first, experiment_id=chosen, control=params.control,
        window_days=params.window_days, outcome=params.outcome,
    )  # fmt: skip
    return UpliftInputs(
        data=data,
        experiment=chosen,
        route="tables",
        source=str(experiment.tables.source),
        features_as_of=first,
    )


def read_table(path: str | Path, parameter: str) -> pd.DataFrame:
    """A CSV (separator sniffed) or Parquet file named by parameter ``parameter``.

    Raises
    ------
    UpliftInputError
        No such file, or a file that is neither CSV nor Parquet.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UpliftInputError(f"{parameter}: no file at {file}")
    suffix = file.suffix.casefold()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(file)
    if suffix in (".csv", ".txt", ".tsv", ".gz"):
        return pd.read_csv(file, sep=None, engine="python")
    raise UpliftInputError(
        f"{parameter}: {file.name} is neither CSV (.csv, .tsv, .txt) nor Parquet (.parquet)"
    )


def file_inputs(params: UpliftParams) -> UpliftInputs:
    """The customer table of ``params.features_path``, checked (the file route).

    Raises
    ------
    UpliftInputError
        Every error of :func:`read_table` and
        :func:`~workbench.uplift.inputs.prepare_uplift_data` (missing columns, one arm
        only, a control value that does not occur, no outcome variation …).
    """
    if not params.features_path:
        raise UpliftInputError("features_path: empty; give a CSV or Parquet customer table")
    file = Path(params.features_path).expanduser()
    table = read_table(file, "features_path")
    data = prepare_uplift_data(
        table, treatment_column=params.treatment_column, control=params.control,
        outcome_column=params.outcome_column, id_column=params.id_column or None,
        table_name=file.name,
    )  # fmt: skip
    return UpliftInputs(
        data=data,
        experiment=params.experiment_id or file.stem,
        route="file",
        source=file.name,
    )


def score_file(result: Any, params: UpliftParams) -> pd.DataFrame | None:
    """The scores of every row of ``params.score_path`` (None when it is empty).

    Parameters
    ----------
    result : UpliftResult
        The fitted stage (:func:`~workbench.uplift.workflow.fit_uplift`).
    params : UpliftParams
        ``score_path`` and ``id_column``.

    Returns
    -------
    pandas.DataFrame or None
        :func:`catalog_scores` of the file's rows, in the file's order.
    """
    if not params.score_path:
        return None
    file = Path(params.score_path).expanduser()
    table = read_table(file, "score_path")
    id_column = params.id_column if params.id_column in table.columns else None
    if params.id_column and id_column is None:
        log.info("score_path: no id column %r; rows are numbered", params.id_column)
    scores = result.score(table, id_column=id_column, table_name=file.name)
    return catalog_scores(scores, persuadable_uplift=params.persuadable_uplift)


def catalog_scores(scores: pd.DataFrame, *, persuadable_uplift: float) -> pd.DataFrame:
    """``customer_id, uplift_<arm>…, best_arm, persuadable`` from
    :meth:`~workbench.uplift.workflow.UpliftResult.score` output.

    The id column (the first) becomes ``customer_id`` (as text); when it had another
    name, that column is kept too. ``persuadable`` is true when the best arm's expected
    uplift reaches ``persuadable_uplift``.

    Examples
    --------
    >>> s = pd.DataFrame({"row": [0, 1], "uplift_b": [0.03, 0.001], "best_arm": ["b", "b"]})
    >>> catalog_scores(s, persuadable_uplift=0.01).to_dict("list")
    {'customer_id': ['0', '1'], 'row': [0, 1], 'uplift_b': [0.03, 0.001], 'best_arm': ['b', 'b'], 'persuadable': [True, False]}
    """
    id_column = str(scores.columns[0])
    arms = [c for c in scores.columns if str(c).startswith("uplift_")]
    out = scores.copy()
    ids = out[id_column].astype("str")
    if id_column == "customer_id":
        out["customer_id"] = ids
    else:
        out.insert(0, "customer_id", ids)
    best = out[arms].max(axis=1) if arms else pd.Series(float("nan"), index=out.index)
    out[PERSUADABLE] = (out[BEST_ARM].notna() & (best >= persuadable_uplift)).to_numpy(bool)
    return out


def place_score_file(scored: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Put the scores of ``score_path`` beside the report as ``uplift_scores.parquet``.

    The experiment's own scores, which :meth:`Stage.write` copied there under that name,
    move to ``uplift_scores_experiment.parquet`` (the catalog keeps them as they are).

    Returns
    -------
    list of Path
        The scored file, then the experiment's copy when there was one.
    """
    folder = Path(folder)
    target = folder / "uplift_scores.parquet"
    moved = folder / "uplift_scores_experiment.parquet"
    out = [target]
    if target.exists():
        target.replace(moved)
        out.append(moved)
    scored.to_parquet(target, index=False)
    log.info("scored %s rows of score_path: %s", f"{len(scored):,}", target)
    return out
