"""Registry review: listing, side-by-side comparison, promotion (function, CLI, notebook)."""

from __future__ import annotations

import ast
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench import churn, registry
from workbench.cli import cli
from workbench.stage import CONTEXT, build_params

FAST = churn.ChurnParams(cv_folds=0, n_estimators=40, early_stopping_rounds=10)
MODEL = "churn-test"
SEGMENTER = "customer-segmenter"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_registry_review.ipynb"
DIGESTS = {"orders": "sha256:" + "a" * 64, "customers": "sha256:" + "b" * 64}


def _table(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """A small customer table with a planted churn signal."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 300, n)
    frequency = rng.integers(1, 20, n)
    plan = rng.choice(["basic", "plus"], n)
    logit = -1.5 + 0.012 * recency - 0.1 * frequency + 0.5 * (plan == "basic")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "recency_days": recency.round(1),
            "frequency": frequency,
            "plan": plan,
            "churned": rng.random(n) < 1 / (1 + np.exp(-logit)),
        }
    )


def _log_churn_version(
    model, X, *, importance: dict, digests: dict, auc: float, as_of: str, legacy: bool = False
):
    """Log and register a churn version the way the churn stage records it: short tags and
    the digests and inputs as the run artefact ``registry/version.json`` — or, with
    ``legacy``, as JSON version tags (how versions registered before were recorded)."""
    import mlflow

    inputs = ["recency_days", "frequency", "plan"]
    tags = {"workbench.as_of": as_of, "workbench.holdout_roc_auc": auc}
    if legacy:
        tags["workbench.input_digests"] = json.dumps(digests)
        tags["workbench.inputs"] = json.dumps(inputs)
    else:
        tags["workbench.data_digest"] = churn.data_digest(digests)
        tags["workbench.input_tables"] = len(digests)
    with mlflow.start_run():
        mlflow.log_metrics({"roc_auc": auc, "pr_auc": auc - 0.1, "train_rows": 300.0})
        mlflow.log_dict(importance, registry.IMPORTANCE_ARTIFACT)
        if not legacy:
            mlflow.log_dict({"input_digests": digests, "inputs": inputs}, churn.RECORD_ARTIFACT)
        _, version = churn.log_churn_model(model, X, registered_model=MODEL, tags=tags)
    return version


def _log_segmenter(X: pd.DataFrame) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from workbench.tracking import log_dataset

    pipeline = make_pipeline(StandardScaler(), KMeans(3, n_init=1, random_state=0)).fit(X)
    with mlflow.start_run(tags={"workbench.as_of": "2026-06-30"}):
        mlflow.log_metrics({"silhouette": 0.31, "k": 3.0})
        log_dataset(
            X, name="customer_features", source="features.parquet", context="test", digest="d" * 32
        )
        with warnings.catch_warnings():  # MLflow's schema hints on integer cluster ids
            warnings.simplefilter("ignore")
            mlflow.sklearn.log_model(
                pipeline, name="model", registered_model_name=SEGMENTER, input_example=X.head(2)
            )


def _auc_tag(name: str, version: str, X, y, *, prefix: str = "") -> dict[str, float]:
    """The gate's evaluation, read from the version's tag (the gate itself is tested in
    test_churn; here only its record matters)."""
    import mlflow

    tags = mlflow.MlflowClient().get_model_version(name, version).tags
    return {"roc_auc": float(tags["workbench.holdout_roc_auc"])}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A registry with churn-test v1 (champion), v2 (challenger, other orders file) and a
    customer-segmenter v1; returns the folder holding ``mlflow.db``."""
    import mlflow

    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("registry-review-test")
    client = mlflow.MlflowClient(uri, uri)
    data = churn.custom_training_set(_table(), "churned")
    X, y = data.features, data.labels
    hold, fit = X.index[:120], X.index[120:]
    cols = churn.split_feature_columns(X, exclude=["customer_id"])
    model = churn.fit_xgboost(X.loc[fit], y.loc[fit], X.loc[hold], y.loc[hold], cols, FAST)
    first = _log_churn_version(
        model,
        X.loc[hold],
        importance={"recency_days": 0.6, "frequency": 0.3, "plan": 0.1},
        digests=DIGESTS,
        auc=0.81,
        as_of="2026-03-31",
        legacy=True,
    )
    churn.promote_if_better(
        client, MODEL, first, X.loc[hold], y.loc[hold], who="scheduler", evaluate=_auc_tag
    )
    second = _log_churn_version(
        model,
        X.loc[hold],
        importance={"recency_days": 0.5, "frequency": 0.4, "plan": 0.05},
        digests={**DIGESTS, "orders": "sha256:" + "c" * 64},
        auc=0.83,
        as_of="2026-06-30",
    )
    churn.promote_if_better(
        client,
        MODEL,
        second,
        X.loc[hold],
        y.loc[hold],
        who="scheduler",
        min_auc_gain=0.05,
        evaluate=_auc_tag,
    )
    _log_segmenter(X[["recency_days", "frequency"]].astype("float64"))
    return folder


@pytest.fixture
def uri(store, tmp_path) -> str:
    """A private copy of the store (promotions do not leak between tests)."""
    shutil.copy(store / "mlflow.db", tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def client(uri):
    return registry.registry_client(uri)


# --------------------------------------------------------------------------- listing


def test_versions_table_shows_versions_aliases_metrics_and_data(client):
    table = registry.versions_table(client)
    assert table[["model", "version"]].values.tolist() == [
        [MODEL, "2"],
        [MODEL, "1"],
        [SEGMENTER, "1"],
    ], "one row per version, newest first within a model"
    rows = table.set_index(["model", "version"])
    assert rows.loc[(MODEL, "1"), "aliases"] == "champion"
    assert rows.loc[(MODEL, "2"), "aliases"] == "challenger"
    assert rows.loc[(MODEL, "1"), "metric"] == "holdout_roc_auc"
    assert rows.loc[(MODEL, "1"), "value"] == pytest.approx(0.81)
    assert rows.loc[(MODEL, "2"), "value"] == pytest.approx(0.83)
    assert rows.loc[(MODEL, "1"), "as_of"] == "2026-03-31"
    assert rows.loc[(MODEL, "1"), "tables"] == 2
    assert rows.loc[(MODEL, "1"), "data"] != rows.loc[(MODEL, "2"), "data"], (
        "different orders files give different data fingerprints"
    )
    assert rows.loc[(MODEL, "1"), "set_by"] == "scheduler"
    assert "no champion yet" in rows.loc[(MODEL, "1"), "reason"]
    seg = rows.loc[(SEGMENTER, "1")]
    assert (seg["metric"], seg["value"], seg["as_of"]) == ("silhouette", 0.31, "2026-06-30")
    assert seg["tables"] == 1, "the segmenter's digest comes from the dataset its run logged"
    only = registry.versions_table(client, SEGMENTER)
    assert only["model"].tolist() == [SEGMENTER]
    # one project's models: the names that start with its prefix
    assert registry.registered_models(client, prefix="churn-") == [MODEL]
    assert registry.versions_table(client, prefix="customer-")["model"].tolist() == [SEGMENTER]
    assert registry.versions_table(client, prefix="other-project.").empty
    assert registry.resolve_model_name("churn-classifier", "p1.") == "p1.churn-classifier"


def test_listing_records_carry_digests_metrics_and_gate(client):
    records = {(r["model"], r["version"]): r for r in registry.listing_records(client)}
    v1, v2 = records[(MODEL, "1")], records[(MODEL, "2")]
    assert v1["input_digests"] == DIGESTS
    assert v2["input_digests"]["orders"].endswith("c" * 64)
    assert v1["metrics"]["roc_auc"] == pytest.approx(0.81) and v1["metrics"]["pr_auc"] > 0
    assert v2["gate"]["promoted"] == "False" and v2["gate"]["champion_version"] == "1"
    assert v1["inputs"] == ["recency_days", "frequency", "plan"]
    json.dumps(records[(SEGMENTER, "1")])  # plain values only


def test_review_compares_champion_and_challenger(client):
    review = registry.review_model(client, MODEL)
    assert review.roles == [("champion", "1"), ("challenger", "2")]
    comparison = review.comparison
    assert list(comparison.columns) == ["champion (v1)", "challenger (v2)"]
    assert comparison.loc["holdout_roc_auc"].tolist() == [0.81, 0.83]
    assert comparison.loc["as_of"].tolist() == ["2026-03-31", "2026-06-30"]
    importance = review.importance.set_index("feature")
    assert importance.loc["frequency", "champion (v1)"] == pytest.approx(0.3)
    assert importance.loc["frequency", "challenger (v2)"] == pytest.approx(0.4)
    assert importance.loc["plan", "rank_challenger (v2)"] == 3
    assert importance.index.tolist() == ["recency_days", "frequency", "plan"]
    data = review.data.set_index("input")
    assert data.loc["orders", "champion (v1)"] == "a" * 12
    assert not data.loc["orders", "same"] and data.loc["customers", "same"]
    assert review.same_data is False
    gate = review.gate.set_index("version")
    assert gate.loc["1", "promoted"] and not gate.loc["2", "promoted"]
    assert gate.loc["2", "champion_auc"] == pytest.approx(0.81)
    assert gate.loc["2", "min_auc_gain"] == 0.05
    assert "by only 0.0200, less than min_auc_gain 0.05" in gate.loc["2", "reason"]
    assert "different input files" in review.markdown()
    segmenter = registry.review_model(client, SEGMENTER)
    assert segmenter.roles == [("latest", "1")] and segmenter.importance.empty
    missing = registry.review_model(client, "nope")
    assert not missing.available and "registered models: churn-test" in missing.note


def test_figures_draw_every_version(client):
    review = registry.review_model(client, MODEL)
    metrics = registry.metrics_figure(review.comparison)
    assert {t.name for t in metrics.data} == {"champion (v1)", "challenger (v2)"}
    assert len(registry.importance_figure(review.importance).data) == 2
    history = registry.history_figure(registry.versions_table(client))
    assert len(history.data) == 2, "one panel per model"


# --------------------------------------------------------------------------- promotion


def test_promote_records_who_why_and_moves_the_alias(client):
    record = registry.promote_version(
        client,
        MODEL,
        "2",
        reason="better on the June data; asked by jane.doe@shop.com",
        user="lead",
    )
    assert record.changed and record.previous == "1" and record.alias == "champion"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert churn.alias_version(client, MODEL, "challenger") is None
    tags = client.get_model_version(MODEL, "2").tags
    assert tags["workbench.champion.set_by"] == "lead"
    assert tags["workbench.champion.reason"] == (
        "better on the June data; asked by j***@example.com"
    ), "e-mail addresses are masked before they are written"
    assert client.get_model_version(MODEL, "1").tags["workbench.champion.replaced_by"] == "2"
    rows = registry.versions_table(client).set_index(["model", "version"])
    assert rows.loc[(MODEL, "1"), "reason"].startswith("(was champion until v2)")
    again = registry.promote_version(client, MODEL, "2", reason="again", user="lead")
    assert not again.changed and "nothing changed" in again.sentence()
    # rollback through the challenger alias, then back to champion
    registry.promote_version(client, MODEL, "1", alias="challenger", reason="keep watching")
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"
    summary = registry.registry_summary(registry.versions_table(client), record)
    assert summary["models"][MODEL]["champion"]["version"] == "2"
    assert summary["models"][MODEL]["challenger"]["version"] == "1"
    assert summary["promoted"] is True and summary["registered_models"] == 2
    headline = {i["label"]: i["value"] for i in summary["headline"]["items"]}
    assert headline == {
        f"{MODEL} champion": "v2 · ROC-AUC 0.830",
        f"{MODEL} challenger": "v1 · ROC-AUC 0.810",
        f"{SEGMENTER} latest": "v1",
    }
    assert summary["headline"]["sentence"].endswith(f"Promoted {MODEL} v2 to champion.")
    scoped = registry.registry_summary(
        registry.versions_table(client, prefix="churn-"), prefix="churn-"
    )
    assert list(scoped["models"]) == ["test"] and scoped["project"] == "churn-"
    assert scoped["models"]["test"]["registered_as"] == MODEL


def test_promote_errors_name_what_exists(client):
    with pytest.raises(registry.RegistryError, match=r"no registered model 'nope'.*churn-test"):
        registry.promote_version(client, "nope", "1", reason="x")
    with pytest.raises(registry.RegistryError, match=r"no version '9'.*1 \(champion\), 2"):
        registry.promote_version(client, MODEL, "9", reason="x")
    with pytest.raises(registry.RegistryError, match="a reason is required"):
        registry.promote_version(client, MODEL, "2", reason="  ")
    with pytest.raises(registry.RegistryError, match="alias must be one of"):
        registry.promote_version(client, MODEL, "2", reason="x", alias="staging")
    with pytest.raises(registry.RegistryError, match="is the champion"):
        registry.promote_version(client, MODEL, "1", reason="x", alias="challenger")
    with pytest.raises(registry.RegistryError, match="no registered model 'nope'"):
        registry.versions_table(client, "nope")


# --------------------------------------------------------------------------- CLI


def test_cli_list_and_promote(client, uri):
    runner = CliRunner()
    uri = ["--tracking-uri", uri]
    listed = runner.invoke(cli, ["registry", "list", *uri])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["model", "version", "aliases", "as_of", "metric"]
    assert any(MODEL in line and "champion" in line and "0.8100" in line for line in lines)
    assert any(SEGMENTER in line and "silhouette" in line for line in lines)

    as_json = runner.invoke(cli, ["registry", "list", "--model", MODEL, "--json", *uri])
    assert as_json.exit_code == 0
    records = json.loads(as_json.stdout)
    assert [r["version"] for r in records] == ["1", "2"]
    assert records[0]["input_digests"] == DIGESTS

    promoted = runner.invoke(
        cli,
        ["registry", "promote", MODEL, "2", "--reason", "wins in June", "--user", "lead", *uri],
    )
    assert promoted.exit_code == 0, promoted.output
    assert "champion -> version 2 (was version 1), by lead: wins in June" in promoted.stdout
    tags = client.get_model_version(MODEL, "2").tags
    assert (tags["workbench.champion.set_by"], tags["workbench.champion.reason"]) == (
        "lead",
        "wins in June",
    )

    unknown = runner.invoke(cli, ["registry", "promote", "nope", "1", "--reason", "x", *uri])
    assert unknown.exit_code == 2
    assert "no registered model 'nope'; registered models: churn-test" in unknown.stderr
    bad = runner.invoke(cli, ["registry", "promote", MODEL, "7", "--reason", "x", *uri])
    assert bad.exit_code == 2 and "versions: 1, 2 (champion)" in bad.stderr
    no_reason = runner.invoke(cli, ["registry", "promote", MODEL, "1", *uri])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    missing = runner.invoke(cli, ["registry", "list", "--model", "nope", *uri])
    assert missing.exit_code == 2 and "registered models" in missing.stderr


def test_listing_shows_no_email_or_name(client, uri):
    registry.promote_version(
        client, MODEL, "2", reason="per mail from ann.lee@corp.example", user="ann.lee@corp.example"
    )
    runner = CliRunner()
    text = runner.invoke(cli, ["registry", "list", "--tracking-uri", uri]).stdout
    as_json = runner.invoke(cli, ["registry", "list", "--json", "--tracking-uri", uri])
    for output in (text, as_json.stdout, registry.versions_table(client).to_csv()):
        assert "ann.lee" not in output and "@corp" not in output
    assert "a***@example.com" in as_json.stdout
    columns = {c.lower() for c in registry.versions_table(client).columns}
    assert not columns & {"email", "name", "first_name", "last_name"}


def test_mask_emails():
    assert registry.mask_emails("by bob@x.io and Eve.Smith@mail.co.uk") == (
        "by b***@example.com and E***@example.com"
    )
    assert registry.mask_emails(None) is None
    assert registry.mask_emails("no address here") == "no address here"


# --------------------------------------------------------------------------- parameters


def test_review_params_are_the_notebook_parameters():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse("".join(cell["source"])).body
    }
    defaults = registry.RegistryReviewParams()
    assert {k: v for k, v in values.items() if k not in CONTEXT} == defaults.as_dict()
    assert build_params(registry.RegistryReviewParams, values) == defaults
    assert defaults.promoter is None, "no promote_user: WORKBENCH_USER or the login name"
    promote = registry.RegistryReviewParams(
        promote_model=" churn-classifier ",
        promote_version=3,
        promote_alias="challenger",
        promote_reason="wins on the June holdout",
        promote_user="reviewer",
    )
    assert (promote.promote_model, promote.promote_version) == ("churn-classifier", "3")
    assert promote.promoter == "reviewer"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"top_features": 0}, r"top_features must be a positive int, got 0"),
        ({"churn_model": ""}, r"churn_model must name a registered model"),
        (
            {"promote_alias": "best"},
            r"promote_alias must be one of champion, challenger, got 'best'",
        ),
        ({"promote_version": "3"}, r"promote_model must name the model whose version '3'"),
        ({"promote_model": "churn-classifier"}, r"promote_version must be the version of"),
        (
            {"promote_model": "churn-classifier", "promote_version": "3"},
            r"promote_reason must say why \(it is recorded\), got ''",
        ),
        ({"promote_user": 7}, r"promote_user must be a string, got 7"),
    ],
)
def test_review_params_refuse_bad_values(change, match):
    with pytest.raises(ValueError, match=rf"^RegistryReviewParams: {match}"):
        registry.RegistryReviewParams(**change)


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_registry_review_notebook(run_stages, small_demo_dir, isolated_settings):
    fast = ["churn.cv_folds=2", "churn.n_estimators=100", "churn.shap_check_rows=100"]
    seg = ["segmentation.k_max=4", "segmentation.n_bootstrap=0", "segmentation.n_init=1"]
    first = run_stages(
        small_demo_dir, ["features", "segmentation", "churn"], [*fast, *seg, "features.input=raw"]
    )
    assert all(s.status == "ok" for s in first.stages), [s.error for s in first.stages]
    # a second churn version that the gate keeps as challenger, then the review
    result = run_stages(
        small_demo_dir, ["churn", "registry_review"], [*fast, "churn.min_auc_gain=0.5"]
    )
    stage = {s.name: s for s in result.stages}["registry_review"]
    assert stage.status == "ok", stage.error
    summary = json.loads(stage.summary_path.read_text())
    assert summary["registered_models"] == 2 and summary["promoted"] is False
    project = isolated_settings.for_source(small_demo_dir).project
    assert summary["project"] == project
    churn_entry = summary["models"]["churn-classifier"]
    assert churn_entry["registered_as"] == f"{project}.churn-classifier"
    assert summary["headline"]["items"][0]["label"] == "churn-classifier champion"
    assert churn_entry["versions"] == 2
    assert churn_entry["champion"]["version"] == "1"
    assert churn_entry["challenger"]["version"] == "2"
    assert churn_entry["champion"]["metric"] == "holdout_roc_auc"
    assert summary["models"]["customer-segmenter"]["versions"] == 1

    # promotion through the notebook: the same code as the CLI
    promote = [
        "registry_review.promote_model=churn-classifier",
        "registry_review.promote_version=2",
        "registry_review.promote_reason=reviewed in the notebook",
        "registry_review.promote_user=reviewer",
    ]
    again = run_stages(small_demo_dir, ["registry_review"], promote)
    assert again.stages[0].status == "ok", again.stages[0].error
    after = json.loads(again.stages[0].summary_path.read_text())
    assert after["promoted"] is True
    assert after["promotion"]["previous"] == "1" and after["promotion"]["who"] == "reviewer"
    assert after["models"]["churn-classifier"]["champion"]["version"] == "2"
    client = registry.registry_client(isolated_settings.tracking_uri)
    tags = client.get_model_version(f"{project}.churn-classifier", "2").tags
    assert tags["workbench.champion.reason"] == "reviewed in the notebook"
