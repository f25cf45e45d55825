"""Split, fit every model, compare on the holdout, choose per arm, refit and score.

:func:`fit_uplift` is the one call the notebook makes; it returns an
:class:`UpliftResult` that holds the metrics, curves, decile tables, the choice per arm
with its reason, the average effects and the fitted models, and scores any table with
the same feature columns (:meth:`UpliftResult.score`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.uplift.evaluate import (
    average_effects,
    choose_models,
    decile_table,
    decisions,
    holdout_metrics,
    qini_curves,
)
from workbench.uplift.inputs import UpliftData, holdout_split, score_frame
from workbench.uplift.models import make_model, model_name
from workbench.uplift.params import BASELINE, UpliftParams
from workbench.uplift.scoring import uplift_scores

__all__ = ["UpliftResult", "model_specs", "fit_models", "fit_uplift"]

log = logging.getLogger(__name__)


@dataclass
class UpliftResult:
    """Everything the uplift stage learned from one experiment table.

    Attributes
    ----------
    data : UpliftData
        The whole table.
    params : UpliftParams
    train_rows, holdout_rows : numpy.ndarray
        Positions in ``data`` of the training and holdout rows.
    models : dict
        ``{model name: model fitted on the training rows}`` (response baseline included).
    metrics : pandas.DataFrame
        Holdout metrics per model and arm with the gate columns
        (:func:`~workbench.uplift.evaluate.choose_models`).
    curves : pandas.DataFrame
        Qini curves per model and arm (``model, arm, share, qini``).
    deciles : pandas.DataFrame
        Observed uplift by decile of every model's prediction, with intervals.
    chosen : dict
        ``{arm: model name or None}``.
    decisions : dict
        ``{arm: one sentence}``: the model used and why, or the no-heterogeneity fallback.
    effects : pandas.DataFrame
        Average effect per arm on every row (:func:`~workbench.uplift.evaluate.average_effects`).
    final_models : dict
        ``{model name: model used for scoring}``: the chosen models, refitted on every row
        when ``params.refit``.
    seconds : dict
        Wall time of the steps.
    """

    data: UpliftData
    params: UpliftParams
    train_rows: np.ndarray
    holdout_rows: np.ndarray
    models: dict[str, Any]
    metrics: pd.DataFrame
    curves: pd.DataFrame
    deciles: pd.DataFrame
    chosen: dict[str, str | None]
    decisions: dict[str, str]
    effects: pd.DataFrame
    final_models: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def arms(self) -> tuple[str, ...]:
        """The treatment arms."""
        return self.data.arms

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Expected uplift per arm for every row of ``features`` (one column per arm).

        The chosen model of an arm predicts it; an arm without one gets its average
        effect on every row.
        """
        out = pd.DataFrame(index=features.index)
        cache: dict[str, pd.DataFrame] = {}
        effect = self.effects.set_index("arm")["effect"]
        for arm in self.arms:
            name = self.chosen.get(arm)
            if name is None:
                out[arm] = float(effect[arm])
                continue
            if name not in cache:
                cache[name] = self.final_models[name].predict_uplift(features)
            out[arm] = cache[name][arm].to_numpy()
        return out

    def score(
        self,
        table: pd.DataFrame | None = None,
        *,
        id_column: str | None = None,
        table_name: str = "score",
    ) -> pd.DataFrame:
        """``<id>, uplift_<arm>…, best_arm`` for the experiment rows or another table.

        Parameters
        ----------
        table : pandas.DataFrame, optional
            A table with the same feature columns (no outcome or treatment needed);
            the experiment table itself when omitted.
        id_column : str, optional
            Its id column (the row number when omitted).
        table_name : str, default "score"
            Name of the table in messages.

        Raises
        ------
        UpliftInputError
            Missing feature columns (all listed), blank or duplicate ids.
        """
        if table is None:
            ids, features = self.data.ids, self.data.features
        else:
            ids, features = score_frame(table, self.data.columns, id_column=id_column,
                                        table_name=table_name)  # fmt: skip
        return uplift_scores(ids, self.predict(features), min_uplift=self.params.min_uplift)


def model_specs(data: UpliftData, params: UpliftParams) -> list[tuple[str, str]]:
    """``(approach, learner)`` pairs to fit: the response baseline first.

    Class transformation needs a binary outcome and is left out for a continuous one.
    """
    approaches = [BASELINE, *params.approaches]
    if not data.is_binary and "class_transformation" in approaches:
        log.info("class transformation left out: the outcome %r is continuous",
                 data.outcome_column)  # fmt: skip
        approaches.remove("class_transformation")
    return [(a, learner) for a in approaches for learner in params.learners]


def fit_models(
    data: UpliftData, params: UpliftParams, specs: list[tuple[str, str]]
) -> dict[str, Any]:
    """Fit one model per ``(approach, learner)`` on ``data``; ``{model name: model}``."""
    out = {}
    for approach, learner in specs:
        started = time.perf_counter()
        model = make_model(approach, learner, columns=data.columns, params=params,
                           control=data.control, outcome_kind=data.outcome_kind)  # fmt: skip
        out[model_name(approach, learner)] = model.fit(data.features, data.treatment,
                                                       data.outcome)  # fmt: skip
        log.info("fitted %s on %s rows in %.1f s", model_name(approach, learner),
                 f"{len(data):,}", time.perf_counter() - started)  # fmt: skip
    return out


def fit_uplift(data: UpliftData, params: UpliftParams | None = None) -> UpliftResult:
    """Fit every model on a stratified training split, compare them on the holdout,
    choose per arm with the gate, and refit the chosen models for scoring.

    Parameters
    ----------
    data : UpliftData
        From :func:`~workbench.uplift.inputs.prepare_uplift_data`.
    params : UpliftParams, optional

    Returns
    -------
    UpliftResult

    Examples
    --------
    >>> from workbench.uplift import prepare_uplift_data
    >>> data = prepare_uplift_data(table, treatment_column="segment", control="No E-Mail",
    ...                            outcome_column="visit")                  # doctest: +SKIP
    >>> result = fit_uplift(data)                                           # doctest: +SKIP
    >>> result.chosen                                                       # doctest: +SKIP
    {'Mens E-Mail': None, 'Womens E-Mail': 'two_model_xgboost'}
    """
    params = params or UpliftParams()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    train_rows, holdout_rows = holdout_split(data, params.holdout_size, params.random_state)
    train, holdout = data.subset(train_rows), data.subset(holdout_rows)
    specs = model_specs(data, params)
    models = fit_models(train, params, specs)
    seconds["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    scores = {name: m.predict_uplift(holdout.features) for name, m in models.items()}
    metrics, chosen = choose_models(holdout_metrics(scores, holdout, params))
    curves = qini_curves(scores, holdout)
    deciles = decile_table(scores, holdout, params)
    effects = average_effects(data, params.ci_level)
    seconds["evaluate"] = time.perf_counter() - started

    started = time.perf_counter()
    used = sorted({n for n in chosen.values() if n is not None})
    if params.refit and used:
        final = fit_models(data, params, [s for s in specs if model_name(*s) in used])
    else:
        final = {n: models[n] for n in used}
    seconds["refit"] = time.perf_counter() - started
    result = UpliftResult(
        data=data,
        params=params,
        train_rows=train_rows,
        holdout_rows=holdout_rows,
        models=models,
        metrics=metrics,
        curves=curves,
        deciles=deciles,
        chosen=chosen,
        decisions=decisions(metrics, chosen, effects),
        effects=effects,
        final_models=final,
        seconds=seconds,
    )
    for arm, text in result.decisions.items():
        log.info("arm %s: %s", arm, text)
    return result
