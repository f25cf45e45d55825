"""The registry review: the champion and the challenger of a model side by side.

:func:`review_model` gathers everything notebook 06 shows about one model: which versions
to compare (:func:`review_versions`), their metrics (:func:`compare_versions`), their SHAP
importance (:func:`importance_comparison`), the data each was trained on
(:func:`training_data`) and the gate's record (:func:`gate_table`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.churn.params import CHALLENGER, CHAMPION
from workbench.display import md_text
from workbench.registry.versions import (
    IMPORTANCE_ARTIFACT,
    PRIMARY_METRICS,
    TAG,
    RegistryError,
    VersionInfo,
    as_float,
    cell_text,
    json_tag,
    mask_emails,
    model_versions,
    run_artifact,
    with_record,
)

__all__ = [
    "ModelReview",
    "compare_versions",
    "gate_table",
    "importance_comparison",
    "review_model",
    "review_versions",
    "training_data",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- side by side


def review_versions(
    client: Any, name: str, versions: list[str] | None = None
) -> list[tuple[str, VersionInfo]]:
    """The versions to compare, each with its role.

    Default: the champion and the challenger; without a challenger, the champion and the
    champion it replaced; without any alias, the latest two versions. ``versions``
    chooses explicitly (role = the version's aliases, or ``version N``).
    """
    chosen = _choose(name, model_versions(client, name), versions)
    return [(role, with_record(client, info)) for role, info in chosen]


def _choose(
    name: str, all_versions: list[VersionInfo], versions: list[str] | None
) -> list[tuple[str, VersionInfo]]:
    infos = {v.version: v for v in all_versions}
    if versions:
        missing = [str(v) for v in versions if str(v) not in infos]
        if missing:
            raise RegistryError(
                f"{name} has no version {', '.join(missing)}; versions: {', '.join(infos)}"
            )
        return [
            (", ".join(infos[str(v)].aliases) or f"version {v}", infos[str(v)]) for v in versions
        ]
    by_alias = {a: info for info in infos.values() for a in info.aliases}
    chosen: list[tuple[str, VersionInfo]] = []
    if CHAMPION in by_alias:
        champion = by_alias[CHAMPION]
        chosen.append((CHAMPION, champion))
        if CHALLENGER in by_alias:
            chosen.append((CHALLENGER, by_alias[CHALLENGER]))
        else:
            replaced = [
                v
                for v in infos.values()
                if v.tags.get(f"{TAG}.{CHAMPION}.replaced_by") == champion.version
            ]
            if replaced:
                chosen.append(("previous champion", replaced[-1]))
        return chosen
    if CHALLENGER in by_alias:
        return [(CHALLENGER, by_alias[CHALLENGER])]
    latest = list(infos.values())[-2:][::-1]
    return [(role, info) for role, info in zip(("latest", "previous"), latest, strict=False)]


def _label(role: str, info: VersionInfo) -> str:
    return f"{role} (v{info.version})" if not role.startswith("version") else role


def compare_versions(client: Any, name: str, versions: list[str] | None = None) -> pd.DataFrame:
    """Metrics of the reviewed versions side by side (rows = metrics, columns = versions
    labelled ``champion (v3)`` …), with ``as_of`` and the training-data fingerprint.

    Each version's metrics were measured on its own run's holdout; :func:`gate_table`
    holds the comparison on the *same* holdout made when the newer one was registered.
    """
    return _comparison(name, review_versions(client, name, versions))


def _comparison(name: str, chosen: list[tuple[str, VersionInfo]]) -> pd.DataFrame:
    data: dict[str, dict[str, Any]] = {}
    for role, info in chosen:
        data[_label(role, info)] = {
            "as_of": info.as_of,
            "data": info.data_digest,
            **{k: round(v, 6) for k, v in info.metrics.items()},
        }
    frame = pd.DataFrame(data)
    frame.index.name = "metric"
    frame.attrs["model"] = name
    return frame


def _importance(client: Any, info: VersionInfo) -> pd.Series:
    values = run_artifact(client, info.run_id, IMPORTANCE_ARTIFACT)
    if not isinstance(values, dict) or not values:
        values = json_tag(info.tags, f"{TAG}.shap_importance", {})
    return pd.Series({str(k): float(v) for k, v in values.items()}, dtype="float64")


def importance_comparison(
    client: Any, name: str, versions: list[str] | None = None, *, top: int = 15
) -> pd.DataFrame:
    """Global SHAP importance (mean |SHAP|, log-odds) of the reviewed versions side by side.

    Columns: feature, one column per version (NaN where a version lacks the input) and
    ``rank_<label>`` per version; the union of each version's ``top`` inputs, ordered by
    the first version. Empty when no version recorded SHAP importance (e.g. the segmenter).
    """
    return _importance_table(client, review_versions(client, name, versions), top)


def _importance_table(client: Any, chosen: list[tuple[str, VersionInfo]], top: int) -> pd.DataFrame:
    series = {_label(role, info): _importance(client, info) for role, info in chosen}
    series = {k: v for k, v in series.items() if not v.empty}
    if not series:
        return pd.DataFrame(columns=["feature"])
    keep: list[str] = []
    for values in series.values():
        keep += [f for f in values.sort_values(ascending=False).index[:top] if f not in keep]
    frame = pd.DataFrame({label: values.reindex(keep) for label, values in series.items()})
    for label, values in series.items():
        ranks = values.rank(ascending=False, method="min")
        frame[f"rank_{label}"] = ranks.reindex(keep).astype("Int64")
    first = next(iter(series))
    frame = frame.sort_values(first, ascending=False, na_position="last")
    frame.index.name = "feature"
    return frame.reset_index()


def training_data(client: Any, name: str, versions: list[str] | None = None) -> pd.DataFrame:
    """The data each reviewed version was trained on: ``as_of`` and one row per input
    table with the first 12 characters of its SHA-256 digest, plus ``same`` (True when
    every version read the same file)."""
    return _data_table(review_versions(client, name, versions))


def _data_table(chosen: list[tuple[str, VersionInfo]]) -> pd.DataFrame:
    tables = sorted({t for _, info in chosen for t in info.input_digests})
    rows = [
        {"input": "as_of", **{_label(r, i): i.as_of for r, i in chosen}},
        *[
            {
                "input": table,
                **{_label(r, i): _short_digest(i.input_digests.get(table)) for r, i in chosen},
            }
            for table in tables
        ],
    ]
    frame = pd.DataFrame(rows)
    labels = [_label(r, i) for r, i in chosen]
    frame["same"] = frame[labels].nunique(axis=1, dropna=False).eq(1) if labels else True
    return frame


def _short_digest(digest: str | None) -> str | None:
    """The first 12 hex characters of a digest (``sha256:`` prefix dropped)."""
    if not digest:
        return None
    return str(digest).split(":", 1)[-1][:12]


def gate_table(client: Any, name: str) -> pd.DataFrame:
    """The champion gate's record of every version that went through it: version,
    promoted, candidate_auc, champion_version, champion_auc (on the same holdout),
    min_auc_gain, reason, who."""
    return _gate_rows(model_versions(client, name))


def _gate_rows(infos: list[VersionInfo]) -> pd.DataFrame:
    columns = [
        "version",
        "promoted",
        "candidate_auc",
        "champion_version",
        "champion_auc",
        "min_auc_gain",
        "reason",
        "who",
    ]
    rows = []
    for info in infos:
        if not info.gate:
            continue
        gate = info.gate
        rows.append(
            {
                "version": info.version,
                "promoted": gate.get("promoted") == "True",
                "candidate_auc": as_float(gate.get("candidate_auc")),
                "champion_version": gate.get("champion_version"),
                "champion_auc": as_float(gate.get("champion_auc")),
                "min_auc_gain": as_float(gate.get("min_auc_gain")),
                "reason": mask_emails(gate.get("reason")),
                "who": mask_emails(gate.get("who")),
            }
        )
    return pd.DataFrame(rows, columns=columns)


@dataclass
class ModelReview:
    """The review of one registered model: the versions compared and every table.

    Attributes
    ----------
    name : str
    roles : list of (role, version)
        E.g. ``[("champion", "3"), ("challenger", "4")]`` (see :func:`review_versions`).
    comparison, importance, data, gate : DataFrame
        :func:`compare_versions`, :func:`importance_comparison`, :func:`training_data`,
        :func:`gate_table` (empty when not available).
    note : str
        Why the model cannot be reviewed ("" when it can).
    """

    name: str
    roles: list[tuple[str, str]]
    comparison: pd.DataFrame
    importance: pd.DataFrame
    data: pd.DataFrame
    gate: pd.DataFrame
    note: str = ""

    @property
    def available(self) -> bool:
        """True when the model is registered and has a version."""
        return bool(self.roles)

    @property
    def same_data(self) -> bool | None:
        """Whether the compared versions read the same input files (None: unknown)."""
        rows = self.data[self.data["input"] != "as_of"] if not self.data.empty else self.data
        if rows.empty:
            return None
        return bool(rows["same"].all())

    def markdown(self) -> str:
        """The comparison in a few sentences (Markdown; names and dates escaped)."""
        if not self.available:
            return md_text(self.note)
        parts = []
        for label in self.comparison.columns:
            column = self.comparison[label]
            metric = next(
                (m for m in PRIMARY_METRICS if m in column.index and pd.notna(column[m])), None
            )
            value = f"{metric} {float(column[metric]):.4f}" if metric else "no metric"
            parts.append(
                f"**{md_text(label)}**: {md_text(value)}, trained as of "
                f"{md_text(column.get('as_of') or '–')}"
            )
        same = {
            True: "They were trained on the same input files.",
            False: "They were trained on different input files (see the digests below).",
            None: "Their training inputs were not recorded.",
        }[self.same_data if len(self.roles) > 1 else None]
        text = f"**{md_text(self.name)}** — " + "; ".join(parts) + "."
        return text + (f" {same}" if len(self.roles) > 1 else "")

    def comparison_table(self) -> pd.DataFrame:
        """:attr:`comparison` as text for a report: one row per metric, metrics with 4
        decimals (counts as whole numbers), missing values as "–"."""
        frame = self.comparison.astype("object")
        out = frame.apply(lambda column: column.map(cell_text))
        return out.rename_axis("metric").reset_index()


def review_model(
    client: Any, name: str, versions: list[str] | None = None, *, top: int = 15
) -> ModelReview:
    """Everything the registry review shows about ``name``; an unregistered model gives an
    empty review whose ``note`` says so (and lists the registered models)."""
    empty = pd.DataFrame()
    try:
        infos = model_versions(client, name)
        chosen = [
            (role, with_record(client, info)) for role, info in _choose(name, infos, versions)
        ]
    except RegistryError as exc:
        return ModelReview(name, [], empty, empty, empty, empty, note=str(exc))
    if not chosen:
        return ModelReview(name, [], empty, empty, empty, empty, note=f"{name} has no versions")
    return ModelReview(
        name=name,
        roles=[(role, info.version) for role, info in chosen],
        comparison=_comparison(name, chosen),
        importance=_importance_table(client, chosen, top),
        data=_data_table(chosen),
        gate=_gate_rows(infos),
    )
