"""Per-customer uplift scores, the recommended arm, and the persuadable audience.

The scores table has one row per customer: the id, one ``uplift_<arm>`` column per
treatment arm (the expected change of the outcome if the customer gets that arm instead
of control) and ``best_arm`` — the arm with the largest expected uplift when it is above
``min_uplift``, else missing (send nothing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.uplift.inputs import arm_columns

__all__ = ["BEST_ARM", "best_arm", "uplift_scores", "persuadable_audience"]

#: Column of the recommended arm (missing = none).
BEST_ARM = "best_arm"


def best_arm(uplift: pd.DataFrame, min_uplift: float = 0.0) -> pd.Series:
    """The column (arm) with the largest value per row when above ``min_uplift``, else NA.

    Ties go to the first arm in column order.

    Examples
    --------
    >>> u = pd.DataFrame({"a": [0.02, -0.01, 0.03], "b": [0.01, -0.02, 0.05]})
    >>> best_arm(u).tolist()
    ['a', <NA>, 'b']
    """
    values = uplift.to_numpy(dtype="float64")
    best = np.argmax(values, axis=1)
    top = values[np.arange(len(values)), best]
    labels = np.asarray(uplift.columns, dtype=object)[best]
    out = pd.Series(labels, index=uplift.index, dtype="string", name=BEST_ARM)
    return out.where(top > min_uplift)


def uplift_scores(ids: pd.Series, uplift: pd.DataFrame, *, min_uplift: float = 0.0) -> pd.DataFrame:
    """``<id column>, uplift_<arm>…, best_arm`` from ids and per-arm predictions.

    Parameters
    ----------
    ids : pandas.Series
        Customer ids (its name becomes the id column).
    uplift : pandas.DataFrame
        One column per arm (arm names as columns), rows aligned with ``ids``.
    min_uplift : float, default 0.0

    Examples
    --------
    >>> ids = pd.Series(["c1", "c2"], name="customer_id")
    >>> u = pd.DataFrame({"Mens E-Mail": [0.03, -0.01], "Womens E-Mail": [0.01, 0.0]})
    >>> uplift_scores(ids, u).columns.tolist()
    ['customer_id', 'uplift_mens_e_mail', 'uplift_womens_e_mail', 'best_arm']
    """
    if len(ids) != len(uplift):
        raise ValueError(f"uplift_scores: {len(ids)} ids but {len(uplift)} rows of predictions")
    names = arm_columns(list(uplift.columns))
    out = pd.DataFrame({ids.name or "customer_id": ids.to_numpy()})
    for arm, col in names.items():
        out[col] = uplift[arm].to_numpy(dtype="float64")
    out[BEST_ARM] = best_arm(uplift, min_uplift).to_numpy()
    return out


def persuadable_audience(
    scores: pd.DataFrame, *, min_uplift: float = 0.0, arm: str | None = None
) -> pd.DataFrame:
    """Customers whose expected uplift is above ``min_uplift``, highest first.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`uplift_scores`.
    min_uplift : float, default 0.0
    arm : str, optional
        One arm (its name, as in ``best_arm``); by default each customer's best arm.

    Returns
    -------
    pandas.DataFrame
        The id column, ``arm`` and ``uplift``.
    """
    id_column = scores.columns[0]
    columns = [c for c in scores.columns if c.startswith("uplift_")]
    if arm is not None:
        col = arm_columns([arm])[arm]
        if col not in columns:
            raise ValueError(
                f"persuadable_audience: no column {col!r} for arm {arm!r}; "
                f"columns are {', '.join(columns)}"
            )
        out = pd.DataFrame({id_column: scores[id_column], "arm": arm, "uplift": scores[col]})
    else:
        out = pd.DataFrame({id_column: scores[id_column], "arm": scores[BEST_ARM],
                            "uplift": scores[columns].max(axis=1)})  # fmt: skip
        out = out[out["arm"].notna()]
    out = out[out["uplift"] > min_uplift]
    return out.sort_values("uplift", ascending=False, kind="stable").reset_index(drop=True)
