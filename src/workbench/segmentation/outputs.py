"""What the stage leaves behind: the ``segments`` table, the registered model, the summary."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import pandas as pd

from workbench.display import Headline, HeadlineItem, fmt_int, fmt_number
from workbench.segmentation.core import SegmentationResult
from workbench.segmentation.params import NO_HISTORY
from workbench.segmentation.validation import HierarchicalResult, StabilityResult

__all__ = ["MODEL_NAME", "segments_output", "log_segmenter", "segmentation_summary", "headline"]

log = logging.getLogger(__name__)

MODEL_NAME = "customer-segmenter"
_TRUSTED = ("numpy.clip", "numpy.dtype")  # FunctionTransformer(np.clip) in the pipeline


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


def segments_output(segments: pd.DataFrame) -> pd.DataFrame:
    """The catalog's ``segments`` table: ``customer_id, cluster, cluster_name`` only."""
    missing = [c for c in ("customer_id", "cluster", "cluster_name") if c not in segments]
    if missing:
        raise ValueError(f"segments: columns {missing} are missing")
    return segments[["customer_id", "cluster", "cluster_name"]].reset_index(drop=True)


def log_segmenter(
    result: SegmentationResult, *, registered_model_name: str = MODEL_NAME, example_rows: int = 5
) -> Any:
    """Log the chosen pipeline to the active MLflow run and register it.

    The model takes the clustering input columns (float, NaN allowed; other columns of a
    feature table are ignored) and predicts the cluster id; ``cluster_names.json`` beside it maps ids to names. The input example is
    the first complete rows of the input (customer features only, no identifiers).
    It is saved in MLflow's default safe ``skops`` format (the pipeline's NumPy functions
    are declared trusted) with pinned requirements, so MLflow does not spend seconds
    inferring them.

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature

    X = result.inputs.X
    example = X.dropna().head(example_rows)
    if example.empty:
        example = X.head(example_rows)
    signature = infer_signature(example, result.pipeline.predict(example))
    # MLflow prints registry messages to stderr, which notebooks draw as errors: log them
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore", UserWarning)
            info = mlflow.sklearn.log_model(
                result.pipeline,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=registered_model_name,
                skops_trusted_types=list(_TRUSTED),
                pip_requirements=_requirements(),
            )
    finally:
        for line in captured.getvalue().splitlines():
            if line.strip():
                log.info("mlflow: %s", line.strip())
    mlflow.log_dict({str(k): v for k, v in result.names.items()}, "cluster_names.json")
    mlflow.log_dict(result.fits.scores.to_dict("list"), "scores_by_k.json")
    log.info(
        "logged the k=%d pipeline as %s (registered as %r)",
        result.k,
        info.model_uri,
        registered_model_name,
    )
    return info


def segmentation_summary(
    result: SegmentationResult,
    *,
    stability: StabilityResult | None = None,
    hierarchical: HierarchicalResult | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The headline numbers of ``segmentation.json``.

    Keys: ``k``, ``chosen_by``, ``rule``, ``silhouette_by_k`` ({k: s}), ``silhouette``,
    ``cluster_sizes`` ({name: customers}, "No purchase history" included),
    ``stability_ari`` (mean pairwise ARI of the bootstrap refits at k, None when not
    computed), ``stability_by_k``, ``hierarchical_ari``, ``customers``, ``clustered``,
    ``features`` (used columns and transforms), ``dropped_features``, ``imputed_values``,
    then ``extra``.
    """
    scores = result.fits.scores.set_index("k")
    counts = result.segments["cluster_name"].value_counts()
    order = [result.names[c] for c in sorted(result.names)]
    order += [n for n in counts.index if n not in order]
    report = result.inputs.report
    used = report[report["status"] == "used"]
    return {
        "k": result.k,
        "chosen_by": result.choice.chosen_by,
        "rule": result.choice.reason,
        "silhouette_by_k": {int(k): round(float(s), 4) for k, s in scores["silhouette"].items()},
        "silhouette": round(float(scores.loc[result.k, "silhouette"]), 4),
        "cluster_sizes": {name: int(counts.get(name, 0)) for name in order},
        "stability_ari": round(stability.ari(result.k), 4) if stability is not None else None,
        "stability_by_k": (
            {int(r.k): round(float(r.ari_mean), 4) for r in stability.by_k.itertuples()}
            if stability is not None
            else {}
        ),
        "hierarchical_ari": round(hierarchical.ari, 4) if hierarchical is not None else None,
        "customers": int(len(result.segments)),
        "clustered": int(len(result.inputs.X)),
        "features": dict(zip(used["column"], used["transform"], strict=True)),
        "dropped_features": report.loc[report["status"] != "used", "column"].tolist(),
        "imputed_values": int(used["missing"].sum()),
        **extra,
    }


#: Below this mean bootstrap ARI some segments are an accident of the sample (the
#: notebook's reading of the stability check); the headline then warns.
_UNSTABLE = 0.6


def headline(summary: dict[str, Any], *, top: int = 3) -> Headline:
    """What a reader of the segmentation needs first, from :func:`segmentation_summary`.

    Items: the number of segments ``k``, the silhouette, the bootstrap stability (mean
    ARI, when computed), the customers clustered, and the largest segment's share of
    them. The sentence names the ``top`` largest segments with their sizes (names come
    from the data: whoever shows the headline escapes it). The status is ``warning``
    when the refits disagree (stability below 0.6) or no solution met the minimum
    cluster share.

    Examples
    --------
    >>> summary = {"k": 2, "chosen_by": "rule", "rule": "k = 2 has the best silhouette.",
    ...            "silhouette": 0.41, "stability_ari": 0.93, "clustered": 300,
    ...            "cluster_sizes": {"Big spenders": 100, "Bargain hunters": 200,
    ...                              "No purchase history": 50}}
    >>> h = headline(summary)
    >>> h.sentence
    '2 segments of 300 customers with a purchase history (silhouette 0.41): Bargain hunters 200, Big spenders 100.'
    >>> h.text()
    'segments 2 · silhouette 0.41 · stability (ARI) 0.93 · customers clustered 300 · largest segment 66.7%'
    """
    k = int(summary.get("k") or 0)
    clustered = int(summary.get("clustered") or 0)
    sizes = {n: int(c) for n, c in (summary.get("cluster_sizes") or {}).items() if n != NO_HISTORY}
    largest = sorted(sizes.items(), key=lambda item: -item[1])
    stability = summary.get("stability_ari")
    items = [
        HeadlineItem("segments", k, "int"),
        HeadlineItem("silhouette", summary.get("silhouette"), "number"),
    ]
    if stability is not None:
        items.append(HeadlineItem("stability (ARI)", stability, "number"))
    items.append(HeadlineItem("customers clustered", clustered, "int"))
    if largest and clustered:
        items.append(HeadlineItem("largest segment", largest[0][1] / clustered, "pct"))
    named = ", ".join(f"{name} {fmt_int(n)}" for name, n in largest[:top])
    more = f" and {len(largest) - top} more" if len(largest) > top else ""
    how = "" if summary.get("chosen_by", "rule") == "rule" else ", k set by the parameter"
    sentence = (
        f"{k} segments of {fmt_int(clustered)} customers with a purchase history "
        f"(silhouette {fmt_number(summary.get('silhouette'))}{how}): {named}{more}."
    )
    warnings = []
    if stability is not None and stability < _UNSTABLE:
        warnings.append(f"bootstrap refits agree only at ARI {fmt_number(stability)}")
    if str(summary.get("rule", "")).startswith("No solution"):
        warnings.append("no solution kept every segment above the minimum size")
    if warnings:
        sentence += " Caution: " + "; ".join(warnings) + "."
    return Headline(sentence, items, "warning" if warnings else "ok")
