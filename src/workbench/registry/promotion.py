"""Promotion and the review's summary: move an alias with who and why, and say what the
registry holds (``registry_review.json`` and its headline)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from workbench.churn import registry as churn_registry
from workbench.churn.params import CHALLENGER, CHAMPION, REGISTERED_MODEL
from workbench.display import Headline, HeadlineItem
from workbench.registry.versions import (
    ALIASES,
    RegistryError,
    mask_emails,
    model_versions,
)
from workbench.segmentation import MODEL_NAME as SEGMENT_MODEL

__all__ = [
    "PromotionRecord",
    "RegistryReviewParams",
    "headline",
    "promote_version",
    "registry_summary",
]

log = logging.getLogger(__name__)


@dataclass
class PromotionRecord:
    """What a promotion did."""

    model: str
    version: str
    alias: str
    previous: str | None
    who: str
    why: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """The promotion in words."""
        if not self.changed:
            return (
                f"{self.model} version {self.version} already holds {self.alias}: nothing changed."
            )
        before = f" (was version {self.previous})" if self.previous else ""
        return (
            f"{self.model}: {self.alias} -> version {self.version}{before}, "
            f"by {self.who}: {self.why}"
        )


@dataclass(frozen=True)
class RegistryReviewParams:
    """What the registry review shows and the promotion it may make (notebook 06).

    Attributes
    ----------
    churn_model : str, default "churn-classifier"
        Registered churn model to review.
    segment_model : str, default "customer-segmenter"
        Registered segmentation model to review.
    top_features : int, default 15
        Inputs per version in the SHAP importance comparison.
    promote_model : str, default ""
        Registered model to promote; "" means no promotion (a scheduled run never promotes).
    promote_version : str, default ""
        Version to promote, e.g. "3" (a number is taken as its text).
    promote_alias : {"champion", "challenger"}, default "champion"
        Alias to give it.
    promote_reason : str, default ""
        Why; required with ``promote_model`` (recorded as a tag).
    promote_user : str, default ""
        Who promotes; "" means ``WORKBENCH_USER`` or the login name.

    Examples
    --------
    >>> RegistryReviewParams(promote_model="churn-classifier", promote_version=3,
    ...                      promote_reason="wins on the June holdout").promote_version
    '3'
    >>> RegistryReviewParams(promote_model="churn-classifier", promote_version="3")
    Traceback (most recent call last):
    ...
    ValueError: RegistryReviewParams: promote_reason must say why (it is recorded), got ''
    """

    churn_model: str = REGISTERED_MODEL
    segment_model: str = SEGMENT_MODEL
    top_features: int = 15
    promote_model: str = ""
    promote_version: str = ""
    promote_alias: str = CHAMPION
    promote_reason: str = ""
    promote_user: str = ""

    def __post_init__(self) -> None:
        version = self.promote_version
        if isinstance(version, int) and not isinstance(version, bool):
            object.__setattr__(self, "promote_version", str(version))
        for name in (
            "churn_model",
            "segment_model",
            "promote_model",
            "promote_version",
            "promote_alias",
            "promote_reason",
            "promote_user",
        ):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"RegistryReviewParams: {name} must be a string, got {value!r}")
            object.__setattr__(self, name, value.strip())
        for name in ("churn_model", "segment_model"):
            if not getattr(self, name):
                raise ValueError(
                    f"RegistryReviewParams: {name} must name a registered model, got ''"
                )
        top = self.top_features
        if not isinstance(top, int) or isinstance(top, bool) or top <= 0:
            raise ValueError(
                f"RegistryReviewParams: top_features must be a positive int, got {top!r}"
            )
        if self.promote_alias not in ALIASES:
            raise ValueError(
                f"RegistryReviewParams: promote_alias must be one of {', '.join(ALIASES)}, "
                f"got {self.promote_alias!r}"
            )
        if not self.promote_model:
            if self.promote_version:
                raise ValueError(
                    "RegistryReviewParams: promote_model must name the model whose version "
                    f"{self.promote_version!r} to promote, got ''"
                )
            return
        if not self.promote_version:
            raise ValueError(
                "RegistryReviewParams: promote_version must be the version of "
                f"{self.promote_model!r} to promote, e.g. '3'; got ''"
            )
        if not self.promote_reason:
            raise ValueError(
                "RegistryReviewParams: promote_reason must say why (it is recorded), got ''"
            )

    @property
    def promoter(self) -> str | None:
        """Who promotes (None: ``WORKBENCH_USER`` or the login name)."""
        return self.promote_user or None

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)


# --------------------------------------------------------------------------- promotion


def promote_version(
    client: Any,
    name: str,
    version: str | int,
    *,
    reason: str,
    alias: str = CHAMPION,
    user: str | None = None,
) -> PromotionRecord:
    """Point ``alias`` (``champion`` or ``challenger``) at ``version``, recording who and why.

    Uses the churn package's :func:`~workbench.churn.registry.promote` for ``champion``
    and :func:`~workbench.churn.registry.set_alias` for ``challenger`` — the same code the
    churn stage's gate runs — for any registered model.

    Parameters
    ----------
    client : MlflowClient
    name, version : str
        The registered model and the version to promote.
    reason : str
        Why (required; written as ``workbench.<alias>.reason``).
    alias : {"champion", "challenger"}
    user : str, optional
        Who (default :func:`workbench.churn.registry.current_user`). E-mail addresses in
        ``user`` and ``reason`` are masked.

    Raises
    ------
    RegistryError
        Unknown model or version (the message lists what exists), an alias other than
        champion/challenger, an empty reason, or making the champion also challenger.
    """
    version = str(version).strip()
    if alias not in ALIASES:
        raise RegistryError(f"alias must be one of {', '.join(ALIASES)}; got {alias!r}")
    why = mask_emails((reason or "").strip()) or ""
    if not why:
        raise RegistryError("a reason is required: say why this version should be " + alias)
    infos = {v.version: v for v in model_versions(client, name)}
    if version not in infos:
        listed = ", ".join(
            f"{v}" + (f" ({', '.join(i.aliases)})" if i.aliases else "") for v, i in infos.items()
        )
        raise RegistryError(f"{name} has no version {version!r}; versions: {listed or 'none'}")
    who = mask_emails(user or churn_registry.current_user()) or "unknown"
    holder = churn_registry.alias_version(client, name, alias)
    previous = None if holder is None else str(holder.version)
    if previous == version:
        record = PromotionRecord(name, version, alias, previous, who, why, changed=False)
        log.info("%s", record.sentence())
        return record
    if alias == CHAMPION:
        moved = churn_registry.promote(client, name, version, who=who, why=why)
        previous = moved["previous_champion"]
    else:
        if CHAMPION in infos[version].aliases:
            raise RegistryError(
                f"{name} version {version} is the champion; promote another version to "
                "champion first if it should become the challenger"
            )
        churn_registry.set_alias(client, name, alias, version, who=who, why=why)
    record = PromotionRecord(name, version, alias, previous, who, why, changed=True)
    log.info("%s", record.sentence())
    return record


# --------------------------------------------------------------------------- summary


def registry_summary(
    versions: pd.DataFrame, promotion: PromotionRecord | None = None, *, prefix: str = ""
) -> dict[str, Any]:
    """``registry_review.json``: per model the number of versions, the champion and the
    challenger (version, metric, value, as_of), the latest version, the promotion made (if
    any), and the headline (:func:`headline`).

    Models are keyed by their name without the project ``prefix`` (``churn-classifier``);
    ``registered_as`` keeps the full registry name.
    """
    models: dict[str, Any] = {}
    for model, part in versions.groupby("model", sort=True):
        entry: dict[str, Any] = {"registered_as": str(model), "versions": int(len(part))}
        for alias in ALIASES:
            holder = part[part["aliases"].str.split(", ").map(lambda a, x=alias: x in a)]
            entry[alias] = None if holder.empty else _alias_entry(holder.iloc[0])
        newest = part.assign(_v=part["version"].astype(int)).sort_values("_v").iloc[-1]
        entry["latest"] = str(newest["version"])
        models[str(model).removeprefix(prefix)] = entry
    summary: dict[str, Any] = {
        "project": prefix.removesuffix("."),
        "registered_models": len(models),
        "versions": int(len(versions)),
        "models": models,
        "promoted": bool(promotion is not None and promotion.changed),
        "promotion": None if promotion is None else promotion.as_dict(),
    }
    summary["headline"] = headline(summary).as_dict()
    return summary


def _alias_entry(row: pd.Series) -> dict[str, Any]:
    return {
        "version": str(row["version"]),
        "metric": row["metric"],
        "value": None if pd.isna(row["value"]) else float(row["value"]),
        "as_of": row["as_of"],
    }


def _holder_text(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "none"
    value = entry.get("value")
    metric = {"holdout_roc_auc": "ROC-AUC", "roc_auc": "ROC-AUC"}.get(entry.get("metric") or "")
    metric = metric or str(entry.get("metric") or "")
    shown = f" · {metric} {value:.3f}" if value is not None and metric else ""
    return f"v{entry['version']}{shown}"


def headline(summary: dict[str, Any]) -> Headline:
    """The registry headline: champion and challenger of each model (the latest version of
    a model without aliases), at most six items.

    Examples
    --------
    >>> s = {"models": {"churn-classifier": {"champion": {"version": "3", "metric":
    ...      "holdout_roc_auc", "value": 0.8891}, "challenger": {"version": "4", "metric":
    ...      "holdout_roc_auc", "value": 0.8890}, "latest": "4", "versions": 4}},
    ...      "versions": 4, "promoted": False}
    >>> headline(s).text()
    'churn-classifier champion v3 · ROC-AUC 0.889 · churn-classifier challenger v4 · ROC-AUC 0.889'
    """
    items: list[HeadlineItem] = []
    parts: list[str] = []
    for name, entry in summary.get("models", {}).items():
        if entry.get(CHAMPION) or entry.get(CHALLENGER):
            champion, challenger = (
                _holder_text(entry.get(CHAMPION)),
                _holder_text(entry.get(CHALLENGER)),
            )
            items += [
                HeadlineItem(f"{name} champion", champion, "text"),
                HeadlineItem(f"{name} challenger", challenger, "text"),
            ]
            parts.append(f"{name}: champion {champion}, challenger {challenger}")
        else:
            items.append(HeadlineItem(f"{name} latest", f"v{entry.get('latest')}", "text"))
            parts.append(f"{name}: {entry.get('versions')} version(s), no alias")
    if not parts:
        return Headline("No model is registered in this project yet.", (), "warning")
    promoted = summary.get("promotion") if summary.get("promoted") else None
    tail = (
        f" Promoted {promoted['model']} v{promoted['version']} to {promoted['alias']}."
        if promoted
        else ""
    )
    return Headline("; ".join(parts) + "." + tail, tuple(items[:6]), "ok")
