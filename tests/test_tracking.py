"""MLflow naming and logging: keys from data, projects, the classic view, params vs metrics."""

from __future__ import annotations

import json

import pytest

from workbench import tracking
from workbench.settings import get_settings

HOSTILE = [
    "a/b",
    "a//b",
    "/leading",
    "trailing/",
    "a/./b",
    "..",
    'say "hi"',
    "O'Brien",
    "</script><img src=x onerror=alert(1)>",
    "🎉 party 🎉",
    "x" * 500,
    "Électronique & Maison",
    "a:b",
    "",
]


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_PROJECT", raising=False)
    return get_settings(
        root=tmp_path,
        data_dir=tmp_path / "data",
        tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
        project="shop-3fa91c",
    )


def test_safe_key_gives_valid_distinct_keys_for_any_name():
    from mlflow.utils.validation import _validate_metric_name, _validate_param_name

    keys = [tracking.safe_key(name) for name in HOSTILE]
    for name, key in zip(HOSTILE, keys, strict=True):
        _validate_metric_name(key)  # raises on a key MLflow refuses
        _validate_param_name(key)
        assert 0 < len(key) <= tracking.MAX_KEY_LENGTH, name
    assert len(set(keys)) == len(keys), "different names never share a key"
    assert tracking.safe_key("segment.Champions.users") == "segment.Champions.users"
    assert tracking.safe_key("a/b") == "a/b", "a name MLflow accepts is kept as it is"
    assert tracking.safe_key("a//b").startswith("a/b-")
    assert tracking.safe_key("x" * 500) != tracking.safe_key("x" * 499)
    assert tracking.safe_key("a?b") == tracking.safe_key("a?b"), "stable across calls"


def test_summary_metrics_keep_measured_numbers_only():
    summary = {
        "roc_auc": 0.81,
        "horizon_days": 90,
        "ok": True,
        "headline": {"sentence": "x", "items": [{"value": 0.81}]},
        "gate": {"candidate_auc": 0.8, "min_auc_gain": 0.0},
        "name": "churn",
    }
    assert tracking.summary_metrics(summary, params=["horizon_days", "min_auc_gain"]) == {
        "roc_auc": 0.81,
        "gate.candidate_auc": 0.8,
    }
    chosen = {"metrics": {"conversion": {"a//b": {"users": 10}}}, "window_days": 14}
    assert tracking.summary_metrics(chosen) == {tracking.safe_key("conversion.a//b.users"): 10.0}


def test_log_summary_with_hostile_names_keeps_the_originals_in_the_json(settings):
    import mlflow

    summary = {"metrics": {"conversion": {name: {"users": i} for i, name in enumerate(HOSTILE)}}}
    with tracking.start_stage_run(
        settings, "ab_test", as_of="2026-06-30", params={n: 1 for n in HOSTILE}
    ) as run:
        tracking.log_summary(summary, "ab_test")
    client = mlflow.tracking.MlflowClient(settings.tracking_uri)
    logged = client.get_run(run.info.run_id)
    assert len(logged.data.metrics) == len(HOSTILE)
    assert len(logged.data.params) == len(HOSTILE)
    path = client.download_artifacts(run.info.run_id, "ab_test.json")
    with open(path) as handle:
        assert set(json.load(handle)["metrics"]["conversion"]) == set(HOSTILE)


def test_experiments_are_per_project_tagged_for_the_classic_view_and_runs_named(settings, tmp_path):
    import mlflow

    other = get_settings(
        root=tmp_path, data_dir=tmp_path / "data", tracking_uri=settings.tracking_uri,
        project="cdnow-91ab02",
    )  # fmt: skip
    notebook = tmp_path / "04_churn.ipynb"
    with tracking.start_stage_run(
        settings, "churn", as_of="2026-06-30", source="/srv/shop/raw", notebook=notebook
    ) as run:
        pass
    with tracking.start_stage_run(other, "churn", as_of="2026-06-30") as run_other:
        pass
    client = mlflow.tracking.MlflowClient(settings.tracking_uri)
    first = client.get_experiment(run.info.experiment_id)
    second = client.get_experiment(run_other.info.experiment_id)
    assert first.name == "workbench/shop-3fa91c/churn"
    assert second.name == "workbench/cdnow-91ab02/churn"
    assert first.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    logged = client.get_run(run.info.run_id)
    assert logged.info.run_name == "churn · 2026-06-30 · shop"
    assert logged.data.tags["mlflow.source.type"] == "NOTEBOOK"
    assert logged.data.tags["mlflow.source.name"] == str(notebook)
    assert tracking.experiment_name("churn", settings) == "workbench/shop-3fa91c/churn"


def test_model_names_are_per_project_and_work_in_models_uris(settings, tmp_path):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    name = tracking.model_name(settings, "churn-classifier")
    assert name == "shop-3fa91c.churn-classifier"
    with pytest.raises(ValueError, match=r"base must be letters"):
        tracking.model_name(settings, "churn/classifier")
    model = DummyClassifier(strategy="prior").fit([[0], [1]], [0, 1])
    tracking.configure_tracking(settings)
    with tracking.start_stage_run(settings, "churn", as_of="2026-06-30"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            pip_requirements=[],
            signature=infer_signature([[0.0]], [0.0]),
        )
    client = tracking.client(settings)
    client.set_registered_model_alias(name, "champion", info.registered_model_version)
    loaded = mlflow.sklearn.load_model(f"models:/{name}@champion")
    assert loaded.predict([[3]]).tolist() in ([0], [1])
    assert {m.name for m in client.search_registered_models()} == {name}


def test_a_stage_logs_every_input_it_hands_over(tmp_path, monkeypatch):
    """canonical_source and read record their tables as MLflow inputs (no data read for
    that); finish logs measured numbers only and tags the run ok."""
    import mlflow
    import pandas as pd

    from workbench.stage import Stage

    monkeypatch.delenv("WORKBENCH_PROJECT", raising=False)
    raw = tmp_path / "shop" / "raw"
    raw.mkdir(parents=True)
    pd.DataFrame(
        {"order_id": ["1", "2"], "customer_id": ["C1", "C2"],
         "ordered_at": pd.to_datetime(["2026-01-02", "2026-02-03"], utc=True),
         "amount": [2.5, 4.0], "status": ["completed", "completed"]}
    ).to_parquet(raw / "orders.parquet")  # fmt: skip
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    namespace = {"as_of": "2026-06-30", "data_dir": str(raw), "data_root": str(tmp_path / "d"),
                 "output_dir": str(tmp_path / "out"), "tracking_uri": uri}  # fmt: skip
    stage = Stage.start("segmentation", namespace)
    stage.canonical_source(tables=["orders"], input="raw")
    stage.write("customer_features", pd.DataFrame({"customer_id": ["C1"], "recency": [3.0]}))
    stage.read("customer_features")
    stage.finish({"k": 4, "silhouette": 0.31, "horizon_days": 90, "converged": True})
    client = mlflow.tracking.MlflowClient(uri)
    run = client.get_run(stage.run_id)
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"orders", "customer_features"}
    assert {t.key: t.value for t in inputs["orders"].tags}["rows"] == "2"
    assert {t.key: t.value for t in inputs["customer_features"].tags}["rows"] == "1"
    assert run.info.run_name == "segmentation · 2026-06-30 · shop"
    assert run.data.tags["workbench.status"] == "ok"
    assert set(run.data.metrics) == {"k", "silhouette", "horizon_days"}, "no bool metric"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"workbench/{stage.settings.project}/segmentation"
    assert stage.settings.project.startswith("shop-")
