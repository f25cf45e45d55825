"""The cases the harness runs, in order, and the ratios it reports beside them."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass

__all__ = ["Case", "Ratio", "CASES", "RATIOS", "spark_unavailable", "select_cases"]


@dataclass(frozen=True)
class Case:
    """One measured case.

    Attributes
    ----------
    name : str
        Id used by ``--cases`` and in the tables.
    target : str
        ``module:function`` run by :mod:`benchmarks.measure`.
    what : str
        What it measures, in a few words (the tables' second column).
    needs : tuple of str
        ``module:function`` run first, unmeasured, to make its inputs (idempotent).
    optional : bool
        Skipped with a note when its module or runtime is missing (Spark).
    """

    name: str
    target: str
    what: str
    needs: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two cases' times, shown in the row of ``row``.

    ``basis``: ``"wall"`` compares the case calls; ``"compute"`` the timed cores the cases
    report (``compute_s``, falling back to the wall time); ``"per_row"`` the timed cores
    per row (for cases whose rows were capped).
    """

    row: str
    label: str
    numerator: str
    denominator: str
    basis: str = "wall"


_C = "benchmarks.cases."
_FEATURE_TABLE = _C + "features:prepare_feature_table"
_CHURN_MODEL = _C + "churn:prepare_model"

CASES: tuple[Case, ...] = (
    Case("generate", _C + "generate:generate_data", "demo data generation (Parquet + truth)"),
    Case("audit", _C + "audit:audit", "audit on DuckDB (default): rules, duplicates, outputs"),
    Case("audit_pandas", _C + "audit:audit_pandas", "audit on pandas frames in memory"),
    Case("features", _C + "features:build_features_case", "feature build, all sections (DuckDB)"),
    Case("features_rfm", _C + "features:rfm_engine", "RFM columns only, engine (DuckDB)"),
    Case("rfm_pandas", _C + "baselines:rfm_pandas_case", "baseline: RFM in plain pandas"),
    Case("rfm_duckdb_floor", _C + "baselines:duckdb_floor", "floor: one DuckDB scan + group by"),
    Case(
        "features_duckdb_engine",
        _C + "spark:features_duckdb_engine",
        "feature build, DuckDB engine (issue 10)",
        optional=True,
    ),
    Case(
        "features_spark_engine",
        _C + "spark:features_spark_engine",
        "feature build, Spark local mode (issue 10)",
        optional=True,
    ),
    Case(
        "segmentation",
        _C + "segmentation:segment",
        "k-means k=2..10, Ward, bootstrap stability",
        needs=(_FEATURE_TABLE,),
    ),
    Case("churn", _C + "churn:train_and_explain", "churn labels, XGBoost + baseline + CV, reasons"),
    Case(
        "shap_native",
        _C + "churn:shap_native",
        "SHAP: XGBoost pred_contribs",
        needs=(_CHURN_MODEL,),
    ),
    Case(
        "shap_treeexplainer",
        _C + "churn:shap_treeexplainer",
        "SHAP: shap.TreeExplainer",
        needs=(_CHURN_MODEL,),
    ),
    Case(
        "shap_reference",
        _C + "churn:shap_reference",
        "SHAP: the package's own Tree SHAP",
        needs=(_CHURN_MODEL,),
    ),
    Case(
        "ab_test",
        _C + "ab_test:analyse",
        "A/B: checks, exact conversion, revenue model (PyMC), decision",
    ),
    Case(
        "ab_segments",
        _C + "ab_test:segments",
        "A/B: segments as of the first assignment, hierarchical model (PyMC)",
    ),
    Case(
        "ab_conversion_pymc",
        _C + "ab_test:conversion_pymc",
        "A/B conversion posterior, PyMC (reference)",
    ),
    Case(
        "ab_conversion_closed_form",
        _C + "ab_test:conversion_closed_form",
        "A/B conversion posterior, closed form + draws",
    ),
    Case(
        "recommend_matrix",
        _C + "recommend:interaction_matrix",
        "recommendations: customer x product matrix",
    ),
    Case(
        "recommendations",
        _C + "recommend:recommendations",
        "recommendations: tune, compare 7 models, final lists",
    ),
    Case(
        "stage_fixed_cost",
        _C + "pipeline:stage_fixed_cost",
        "fixed cost of a stage: setup, 1 s of reading, finish (shared kernel)",
    ),
    Case(
        "stage_fixed_cost_fresh_kernels",
        _C + "pipeline:stage_fixed_cost_fresh_kernels",
        "the same with a fresh kernel per stage (before)",
    ),
    Case("clv", _C + "clv:run_stage", "CLV: holdout check, 3 models + Gamma–Gamma, predictions"),
    Case("clv_fits", _C + "clv:fit_closed_form", "CLV: closed-form MLE fits one by one"),
    Case("clv_pymc_map", _C + "clv:fit_pymc_map", "CLV: pymc-marketing MAP, BG/NBD + Pareto/NBD"),
    Case(
        "targeting",
        _C + "targeting:plan_and_export",
        "targeting: audiences, consent, cap, send hours, content, export",
        needs=(_FEATURE_TABLE,),
    ),
    Case(
        "uplift",
        _C + "uplift:run_stage",
        "uplift: point-in-time features, 8 models on the holdout, gate, refit, scores",
    ),
    Case("uplift_fits", _C + "uplift:fit_models_one_by_one", "uplift: each model fitted apart"),
    Case(
        "recommendations_stage",
        _C + "recommend:stage",
        "recommendations notebook: read, run, write",
    ),
    Case("pipeline", _C + "pipeline:whole_pipeline", "whole pipeline (workbench run)"),
)

RATIOS: tuple[Ratio, ...] = (
    Ratio("audit_pandas", "pandas / DuckDB", "audit_pandas", "audit"),
    Ratio("rfm_pandas", "pandas / feature build", "rfm_pandas", "features"),
    Ratio("rfm_pandas", "pandas / engine RFM", "rfm_pandas", "features_rfm"),
    Ratio("rfm_duckdb_floor", "feature build / floor", "features", "rfm_duckdb_floor"),
    Ratio("rfm_duckdb_floor", "engine RFM / floor", "features_rfm", "rfm_duckdb_floor"),
    Ratio(
        "features_spark_engine",
        "Spark / DuckDB",
        "features_spark_engine",
        "features_duckdb_engine",
    ),
    Ratio(
        "features_spark_engine",
        "Spark / DuckDB, build only",
        "features_spark_engine",
        "features_duckdb_engine",
        "compute",
    ),
    Ratio(
        "shap_treeexplainer",
        "TreeExplainer / native, per row",
        "shap_treeexplainer",
        "shap_native",
        "per_row",
    ),
    Ratio(
        "shap_reference",
        "SHAP's Tree SHAP / native, per row",
        "shap_reference",
        "shap_native",
        "per_row",
    ),
    Ratio(
        "stage_fixed_cost",
        "fresh kernels / shared kernel",
        "stage_fixed_cost_fresh_kernels",
        "stage_fixed_cost",
        "compute",
    ),
    Ratio(
        "clv_pymc_map",
        "pymc-marketing MAP / closed form, same two fits",
        "clv_pymc_map",
        "clv_fits",
        "compute",
    ),
    Ratio(
        "ab_conversion_pymc",
        "PyMC / closed form",
        "ab_conversion_pymc",
        "ab_conversion_closed_form",
        "compute",
    ),
)


def spark_unavailable() -> str | None:
    """Why the Spark cases cannot run here (None when they can)."""
    if importlib.util.find_spec("benchmarks.cases.spark") is None:
        return "benchmarks/cases/spark.py (issue 10) is not there yet"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (the spark extra: make install-dev)"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(f"{java_home}/bin/java")):
        return "no Java runtime (java on PATH or JAVA_HOME)"
    return None


def select_cases(names: list[str] | None) -> list[Case]:
    """The cases named (in registry order), or all of them.

    Raises
    ------
    ValueError
        A name that is not a case; the message lists the cases.
    """
    if not names:
        return list(CASES)
    known = [c.name for c in CASES]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"--cases: unknown case(s) {', '.join(unknown)}; cases are: {', '.join(known)}"
        )
    wanted = set(names)
    return [c for c in CASES if c.name in wanted]
