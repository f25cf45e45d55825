"""A customer-level experiment table made ready for uplift models, and the holdout split.

One row per customer: the arm they were assigned to (``treatment_column``, with the
``control`` value), what they did afterwards (``outcome_column``: 0/1, yes/no,
true/false or a number) and features known before the assignment. Several treatment arms
are allowed; every arm is compared with the control.

:func:`prepare_uplift_data` checks the table once, at the boundary, and returns an
:class:`UpliftData` whose treatment labels are text, whose outcome is a float (0/1 for a
binary outcome) and whose feature columns are sorted into numeric and categorical. Every
problem a user can fix is an :class:`UpliftInputError` that names the table, the column,
the rule and the value found.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from workbench import catalog
from workbench.churn.model import ModelColumns, split_feature_columns

__all__ = [
    "UpliftInputError",
    "UpliftData",
    "prepare_uplift_data",
    "parse_outcome",
    "arm_column",
    "arm_columns",
    "score_frame",
    "holdout_split",
    "ROW_ID",
    "MIN_ROWS_PER_ARM",
]

log = logging.getLogger(__name__)

#: Name of the id column when the table has none (the row number in the table).
ROW_ID = "row"
#: Fewest rows an arm (control included) may have.
MIN_ROWS_PER_ARM = 10
_TRUE = {"1", "1.0", "yes", "y", "true", "t"}
_FALSE = {"0", "0.0", "no", "n", "false", "f"}


class UpliftInputError(ValueError):
    """The table cannot be used for uplift modelling; the message says why and what exists."""


@dataclass(frozen=True)
class UpliftData:
    """An experiment table ready for uplift models.

    Attributes
    ----------
    features : pandas.DataFrame
        The model input columns only (index 0..n-1, as every other attribute).
    ids : pandas.Series
        Customer ids (``id_column``), or the row number of the table when there is none.
    treatment : pandas.Series
        Each row's arm as text (control included).
    outcome : pandas.Series
        float: 0/1 for a binary outcome, the value for a continuous one.
    control : str
        The control arm (as text).
    arms : tuple of str
        The treatment arms (every arm other than control), sorted.
    outcome_kind : {"binary", "continuous"}
    columns : ModelColumns
        Numeric and categorical model inputs; the columns left out with the reason.
    table, treatment_column, outcome_column, id_column : str
        Names for messages and outputs (``id_column`` is ``"row"`` when the table has none).
    notes : tuple of str
        What was assumed or left out, in plain words.
    """

    features: pd.DataFrame
    ids: pd.Series
    treatment: pd.Series
    outcome: pd.Series
    control: str
    arms: tuple[str, ...]
    outcome_kind: str
    columns: ModelColumns
    table: str = "features"
    treatment_column: str = "treatment"
    outcome_column: str = "outcome"
    id_column: str = ROW_ID
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.outcome)

    @property
    def is_binary(self) -> bool:
        """The outcome is 0/1."""
        return self.outcome_kind == "binary"

    def subset(self, rows: np.ndarray) -> UpliftData:
        """The same data restricted to positions ``rows`` (re-indexed 0..k-1)."""
        rows = np.asarray(rows)

        def take(obj: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
            return obj.iloc[rows].reset_index(drop=True)

        return replace(
            self,
            features=take(self.features),
            ids=take(self.ids),
            treatment=take(self.treatment),
            outcome=take(self.outcome),
        )

    def arm_table(self) -> pd.DataFrame:
        """Rows, outcome mean and share of the table per arm (control first)."""
        grouped = self.outcome.groupby(self.treatment)
        out = pd.DataFrame({"rows": grouped.size(), "outcome_mean": grouped.mean()})
        out = out.reindex([self.control, *self.arms])
        out["share"] = out["rows"] / out["rows"].sum()
        return out.rename_axis("arm").reset_index()


def prepare_uplift_data(
    table: pd.DataFrame,
    *,
    treatment_column: str,
    control: object,
    outcome_column: str,
    id_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    table_name: str = "features",
) -> UpliftData:
    """Check a customer-level experiment table and make it ready for the uplift models.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer. Not modified.
    treatment_column : str
        The assigned arm. Matched to ``control`` exactly, then as text, then ignoring case
        and surrounding spaces.
    control : object
        The control value (e.g. ``"No E-Mail"``, ``0``, ``"control"``).
    outcome_column : str
        0/1, booleans, yes/no or true/false text (binary), or numbers (continuous unless
        only 0 and 1 occur).
    id_column : str, optional
        Customer ids (unique, no blanks); the row number is used when absent.
    feature_columns : sequence of str, optional
        Model inputs; by default every other column. Timestamps, empty and constant
        columns and id-like text are left out (with the reason in ``columns.dropped``).
    table_name : str, default "features"
        Name of the table in messages.

    Returns
    -------
    UpliftData

    Raises
    ------
    UpliftInputError
        A missing column; a blank, non-finite or unreadable treatment or outcome; a control
        value that does not occur; a single arm; an arm with fewer than ``MIN_ROWS_PER_ARM``
        rows; an outcome without variation; infinite feature values; duplicate or blank ids.

    Examples
    --------
    >>> t = pd.DataFrame({"arm": ["a", "b"] * 10, "bought": ["yes", "no"] * 9 + ["no", "yes"],
    ...                   "x": range(20)})
    >>> d = prepare_uplift_data(t, treatment_column="arm", control="a", outcome_column="bought")
    >>> d.control, d.arms, d.outcome_kind, d.columns.numeric
    ('a', ('b',), 'binary', ['x'])
    """
    named = [treatment_column, outcome_column] + ([id_column] if id_column else [])
    if feature_columns is not None:
        feature_columns = list(feature_columns)
        overlap = [c for c in feature_columns if c in named]
        if overlap:
            raise UpliftInputError(
                f"{table_name}: feature_columns must not include the treatment, outcome or id "
                f"column; got {', '.join(overlap)}"
            )
    _require(table, named + list(feature_columns or []), table_name)
    if len(set(named)) < len(named):
        raise UpliftInputError(
            f"{table_name}: treatment_column, outcome_column and id_column must differ; "
            f"got {', '.join(named)}"
        )
    notes: list[str] = []
    frame = table.reset_index(drop=True)
    ids = _ids(frame, id_column, table_name)
    treatment, control_label = _treatment(frame[treatment_column], control, table_name,
                                          treatment_column)  # fmt: skip
    outcome, kind = parse_outcome(frame[outcome_column], table=table_name, column=outcome_column)
    arms = tuple(sorted(a for a in treatment.unique() if a != control_label))
    _check_arm_sizes(treatment, control_label, arms, table_name, treatment_column)
    inputs = frame[feature_columns] if feature_columns is not None else frame.drop(columns=named)
    if inputs.shape[1] == 0:
        raise UpliftInputError(
            f"{table_name}: no feature columns besides {', '.join(named)}; uplift models need "
            "customer features known before the assignment"
        )
    columns = _feature_columns(inputs, table_name)
    _check_finite(inputs, columns.numeric, ids, table_name)
    for col, why in columns.dropped.items():
        notes.append(f"feature {col!r} left out: {why}")
    return UpliftData(
        features=inputs[columns.inputs].reset_index(drop=True),
        ids=ids,
        treatment=treatment,
        outcome=outcome,
        control=control_label,
        arms=arms,
        outcome_kind=kind,
        columns=columns,
        table=table_name,
        treatment_column=treatment_column,
        outcome_column=outcome_column,
        id_column=id_column or ROW_ID,
        notes=tuple(notes),
    )


def _require(frame: pd.DataFrame, columns: list[str], table: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:30])) or "no columns"
        raise UpliftInputError(
            f"{table}: column(s) {', '.join(map(repr, missing))} missing; the table has: {have}"
        )


def _examples(ids: pd.Series, mask: pd.Series | np.ndarray, n: int = 3) -> str:
    return ", ".join(map(str, ids[np.asarray(mask)].head(n).tolist()))


def _ids(frame: pd.DataFrame, id_column: str | None, table: str) -> pd.Series:
    if not id_column:
        return pd.Series(np.arange(len(frame)), name=ROW_ID)
    ids = frame[id_column]
    blank = ids.isna()
    if blank.any():
        raise UpliftInputError(
            f"{table}: column {id_column!r} has {int(blank.sum()):,} blank id(s) "
            f"(rows {', '.join(map(str, np.flatnonzero(blank)[:3]))}); every customer needs an id"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise UpliftInputError(
            f"{table}: column {id_column!r} must identify one row per customer; "
            f"{int(ids[dup].nunique()):,} id(s) repeat, e.g. {_examples(ids, dup)}"
        )
    return ids.rename(id_column)


def _treatment(
    values: pd.Series, control: object, table: str, column: str
) -> tuple[pd.Series, str]:
    blank = values.isna()
    if blank.any():
        raise UpliftInputError(
            f"{table}: column {column!r} has {int(blank.sum()):,} blank treatment value(s) "
            f"(rows {', '.join(map(str, np.flatnonzero(blank)[:3]))}); every row needs its arm"
        )
    labels = values.astype("str").str.strip()
    counts = labels.value_counts()
    listing = ", ".join(f"{v!r} ({n:,} rows)" for v, n in counts.items())
    present = set(counts.index)
    wanted = str(control).strip()
    if wanted not in present:
        matches = [v for v in present if v.casefold() == wanted.casefold()]
        if not matches and pd.api.types.is_number(control):  # 0 for a column of 0.0 / 1.0
            numbers = pd.to_numeric(pd.Series(sorted(present)), errors="coerce")
            matches = [v for v, x in zip(sorted(present), numbers, strict=True) if x == control]
        if len(matches) != 1:
            raise UpliftInputError(
                f"{table}: control value {control!r} does not occur in column {column!r}; "
                f"values are: {listing}"
            )
        wanted = matches[0]
    if len(present) < 2:
        raise UpliftInputError(
            f"{table}: column {column!r} has a single arm ({listing}); uplift needs the "
            "control and at least one treatment arm"
        )
    return labels.reset_index(drop=True).rename(column), wanted


def _check_arm_sizes(
    treatment: pd.Series, control: str, arms: tuple[str, ...], table: str, column: str
) -> None:
    counts = treatment.value_counts()
    small = [a for a in (control, *arms) if counts.get(a, 0) < MIN_ROWS_PER_ARM]
    if small:
        raise UpliftInputError(
            f"{table}: column {column!r}: arm(s) "
            f"{', '.join(f'{a!r} ({counts.get(a, 0)} rows)' for a in small)} have fewer than "
            f"{MIN_ROWS_PER_ARM} rows; merge or drop them"
        )


def parse_outcome(values: pd.Series, *, table: str, column: str) -> tuple[pd.Series, str]:
    """Read an outcome column as float and say whether it is binary or continuous.

    Booleans, 0/1, and the words yes/no, y/n, true/false, t/f (any case) are binary;
    other numbers (also as text) are continuous.

    Examples
    --------
    >>> y, kind = parse_outcome(pd.Series(["Yes", "no", "YES"]), table="t", column="c")
    >>> y.tolist(), kind
    ([1.0, 0.0, 1.0], 'binary')
    >>> parse_outcome(pd.Series([0, 12.5, 3]), table="t", column="c")[1]
    'continuous'
    """
    blank = values.isna()
    if blank.any():
        raise UpliftInputError(
            f"{table}: column {column!r} has {int(blank.sum()):,} blank outcome(s) "
            f"(rows {', '.join(map(str, np.flatnonzero(blank)[:3]))}); fill them (0 = no "
            "conversion) or drop those customers"
        )
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
    else:
        text = values.astype("str").str.strip().str.casefold()
        if text.isin(_TRUE | _FALSE).all():
            numbers = text.isin(_TRUE).astype("float64")
        else:
            numbers = pd.to_numeric(text, errors="coerce")
            bad = numbers.isna()
            if bad.any():
                odd = values[bad].astype("str").unique()[:5]
                raise UpliftInputError(
                    f"{table}: column {column!r} holds {int(bad.sum()):,} value(s) that are "
                    f"neither a number nor yes/no or true/false, e.g. {', '.join(map(repr, odd))}"
                )
            numbers = numbers.astype("float64")
    finite = np.isfinite(numbers.to_numpy())
    if not finite.all():
        raise UpliftInputError(
            f"{table}: column {column!r} has {int((~finite).sum()):,} non-finite outcome(s) "
            f"(rows {', '.join(map(str, np.flatnonzero(~finite)[:3]))})"
        )
    distinct = numbers.unique()
    if len(distinct) < 2:
        raise UpliftInputError(
            f"{table}: column {column!r} has no variation (every row is {distinct[0]!r}); "
            "there is no effect to model"
        )
    kind = "binary" if set(distinct) <= {0.0, 1.0} else "continuous"
    return numbers.reset_index(drop=True).rename(column), kind


def _feature_columns(inputs: pd.DataFrame, table: str) -> ModelColumns:
    try:
        return split_feature_columns(inputs)
    except ValueError as exc:
        raise UpliftInputError(f"{table}: {exc}") from exc


def _check_finite(inputs: pd.DataFrame, numeric: list[str], ids: pd.Series, table: str) -> None:
    for col in numeric:
        series = inputs[col]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_float_dtype(series):
            continue
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            raise UpliftInputError(
                f"{table}: feature column {col!r} has {int(infinite.sum()):,} infinite "
                f"value(s) ({'rows' if ids.name == ROW_ID else 'ids'} {_examples(ids, infinite)}); "
                "replace them (e.g. by a missing "
                "value) or leave the column out"
            )


def arm_column(arm: str) -> str:
    """The score column of an arm: ``uplift_`` plus the arm in lower case, non-alphanumerics
    replaced by ``_``.

    Examples
    --------
    >>> arm_column("Womens E-Mail")
    'uplift_womens_e_mail'
    """
    return catalog.uplift_column(arm)


def arm_columns(arms: Sequence[str]) -> dict[str, str]:
    """``{arm: score column}``; two arms that would share a column are an error.

    Examples
    --------
    >>> arm_columns(["Mens E-Mail", "Womens E-Mail"])
    {'Mens E-Mail': 'uplift_mens_e_mail', 'Womens E-Mail': 'uplift_womens_e_mail'}
    """
    out = {a: arm_column(a) for a in arms}
    seen: dict[str, str] = {}
    for arm, col in out.items():
        if col in seen:
            raise UpliftInputError(
                f"arms {seen[col]!r} and {arm!r} would both be scored in column {col!r}; "
                "rename one of them in the treatment column"
            )
        seen[col] = arm
    return out


def score_frame(
    table: pd.DataFrame,
    columns: ModelColumns,
    *,
    id_column: str | None = None,
    table_name: str = "score",
) -> tuple[pd.Series, pd.DataFrame]:
    """The ids and model inputs of a table to score with models fitted on other data.

    Parameters
    ----------
    table : pandas.DataFrame
        Must hold every model input of ``columns`` (outcome and treatment not needed).
    columns : ModelColumns
        The model inputs of the fitted models (``UpliftData.columns``).
    id_column : str, optional
        Customer ids (unique, no blanks); the row number when absent.
    table_name : str, default "score"

    Returns
    -------
    (ids, features)

    Raises
    ------
    UpliftInputError
        Missing model inputs (all listed), blank or duplicate ids, infinite values.
    """
    missing = [c for c in columns.inputs if c not in table.columns]
    if missing:
        raise UpliftInputError(
            f"{table_name}: {len(missing)} feature column(s) the models were fitted on are "
            f"missing: {', '.join(map(repr, missing[:20]))}{' …' if len(missing) > 20 else ''}; "
            "the table to score needs the same feature columns as the experiment table"
        )
    if id_column and id_column not in table.columns:
        _require(table, [id_column], table_name)
    frame = table.reset_index(drop=True)
    ids = _ids(frame, id_column, table_name)
    _check_finite(frame, columns.numeric, ids, table_name)
    return ids, frame[columns.inputs]


def holdout_split(
    data: UpliftData, holdout_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and holdout rows, stratified by arm × outcome.

    A binary outcome is stratified by its value; a continuous one by zero / non-zero when
    at least 10 % of the rows are 0, else by above / below the median. An arm with an
    outcome level of fewer than two rows is stratified by the arm only.

    Examples
    --------
    >>> t = pd.DataFrame({"arm": ["a", "b"] * 50, "y": [0, 0, 1, 1] * 25, "x": range(100)})
    >>> d = prepare_uplift_data(t, treatment_column="arm", control="a", outcome_column="y")
    >>> train, hold = holdout_split(d, 0.3, random_state=0)
    >>> len(train), len(hold)
    (70, 30)
    """
    y = data.outcome.to_numpy()
    if data.is_binary:
        level = y.astype(int)
    elif (y == 0).mean() >= 0.1:
        level = (y != 0).astype(int)
    else:
        level = (y > np.median(y)).astype(int)
    strata = data.treatment.to_numpy().astype(object) + "|" + level.astype(str)
    labels = pd.Series(strata)
    counts = labels.value_counts()
    small_arms = {s.rsplit("|", 1)[0] for s in counts.index[counts < 2]}
    if small_arms:
        merged = data.treatment.isin(small_arms).to_numpy()
        labels[merged] = data.treatment[merged].to_numpy().astype(object) + "|all"
        log.info(
            "holdout split: arm(s) %s stratified by arm only (an outcome level has < 2 rows)",
            ", ".join(sorted(small_arms)),
        )
    train, hold = train_test_split(
        np.arange(len(data)),
        test_size=holdout_size,
        stratify=labels.to_numpy(),
        random_state=random_state,
    )
    return np.sort(train), np.sort(hold)
