"""Stage 04 churn: leak-free labels, own tables, metrics, SHAP, the registry gate, the notebook."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from canonical import canonical_table, ts
from sklearn.metrics import roc_auc_score, roc_curve

from workbench import churn
from workbench.canonical import open_tables
from workbench.churn import explain, figures
from workbench.churn.model import original_columns
from workbench.features import FEATURE_TABLES, build_features
from workbench.schema import parse_as_of

AS_OF = parse_as_of("2026-06-30")  # parsed once, as a stage does
FAST = churn.ChurnParams(cv_folds=0, n_estimators=120, early_stopping_rounds=20)


_ts = ts
_table = canonical_table


def _order(i: int, customer: str, when: str, status: str = "completed", amount: float = 20.0):
    return {
        "order_id": f"O{i}",
        "customer_id": customer,
        "ordered_at": when,
        "amount": amount,
        "status": status,
    }


@pytest.fixture
def shop() -> dict[str, pd.DataFrame]:
    """Six customers; as_of 2026-06-30, horizon 90 -> snapshot 2026-04-01, label window
    [2026-04-01, 2026-06-30), lookback from 2025-04-01.

    C1 buys before and inside the window (retained); C2 only before (churned); C3 last
    bought before the lookback (not eligible); C4 buys at 23:00 the day before the snapshot
    and exactly at the snapshot (retained); C5's order in the window is cancelled
    (churned); C6 buys exactly at as_of, outside the window (churned).
    """
    customers = _table(
        "customers",
        [
            {"customer_id": f"C{i}", "signup_at": "2024-06-01", "email_opt_in": True}
            for i in range(1, 7)
        ],
    )
    orders = _table(
        "orders",
        [
            _order(1, "C1", "2025-06-01"),
            _order(2, "C1", "2026-03-15"),
            _order(3, "C1", "2026-05-01"),
            _order(4, "C2", "2026-02-01"),
            _order(5, "C3", "2024-12-01"),
            _order(6, "C3", "2026-05-10"),
            _order(7, "C4", "2026-03-31T23:00:00Z"),
            _order(8, "C4", "2026-04-01T00:00:00Z"),
            _order(9, "C5", "2026-03-20"),
            _order(10, "C5", "2026-04-15", status="cancelled"),
            _order(11, "C6", "2026-03-01"),
            _order(12, "C6", "2026-06-30T00:00:00Z"),
        ],
    )
    return {"customers": customers, "orders": orders}


# --------------------------------------------------------------------------- labels


def test_training_windows_end_at_as_of():
    w = churn.training_windows(AS_OF, churn.ChurnParams(horizon_days=90, lookback_days=365))
    assert str(w.snapshot.date()) == "2026-04-01"
    assert w.label_end == pd.Timestamp("2026-06-30", tz="UTC"), "the label window must end at as_of"
    assert str(w.lookback_start.date()) == "2025-04-01"
    assert list(w.table()["window"]) == ["activity (eligibility)", "features", "label"]


def test_point_in_time_labels_by_hand(shop):
    data = churn.point_in_time_set(shop, AS_OF, churn.ChurnParams())
    got = dict(zip(data.features["customer_id"], data.labels, strict=True))
    assert got == {"C1": False, "C2": True, "C4": False, "C5": True, "C6": True}
    assert data.counts == {"customers": 6, "eligible": 5, "churned": 3, "buyers_in_label_window": 3}
    assert "rfm_score" not in data.features and "customer_id" in data.features


def test_feature_and_label_windows_never_overlap(shop):
    """Changing every order on or after the snapshot leaves the training features as they
    were (while the labels change), and the features equal those built from only the
    orders strictly before the label window starts."""
    params = churn.ChurnParams()
    windows = churn.training_windows(AS_OF, params)
    base = churn.point_in_time_set(shop, AS_OF, params)

    orders = shop["orders"]
    before = orders[orders["ordered_at"] < windows.snapshot]
    assert before["ordered_at"].max() < windows.snapshot <= windows.label_end
    perturbed = pd.concat(
        [
            before,
            _table(
                "orders",
                [
                    _order(90, "C2", "2026-04-02", amount=5000.0),
                    _order(91, "C5", "2026-06-29"),
                    _order(92, "C1", "2026-04-01T00:00:00Z", status="returned"),
                ],
            ),
        ],
        ignore_index=True,
    )
    changed = churn.point_in_time_set({**shop, "orders": perturbed}, AS_OF, params)

    pd.testing.assert_frame_equal(base.features, changed.features)
    assert changed.labels.tolist() != base.labels.tolist(), "the perturbation must move labels"
    assert dict(zip(changed.features["customer_id"], changed.labels, strict=True))["C2"] is False
    only_before = build_features({**shop, "orders": before}, windows.snapshot)
    full = build_features(shop, windows.snapshot)
    pd.testing.assert_frame_equal(full, only_before)


def test_churn_labels_rejects_features_of_another_date(shop):
    features = build_features(shop, parse_as_of("2026-05-01"))
    windows = churn.label_windows(parse_as_of("2026-04-01"), horizon_days=90, lookback_days=365)
    with pytest.raises(ValueError, match="built as of 2026-05-01"):
        churn.churn_labels(features, pd.Index([]), windows)


def test_nothing_to_label_is_a_clear_error(shop):
    with pytest.raises(ValueError, match="nothing to label"):
        churn.point_in_time_set(shop, parse_as_of("2020-01-01"), churn.ChurnParams())


def test_scoring_features_are_as_of_and_active_only(shop):
    scoring = churn.scoring_features(shop, AS_OF, churn.ChurnParams(lookback_days=60))
    # last completed orders before 2026-06-30: C1 05-01 (60 d), C2 02-01, C3 05-10 (51 d),
    # C4 04-01 (90 d), C5 03-20, C6 03-01
    assert sorted(scoring["customer_id"]) == ["C1", "C3"]
    assert scoring.attrs["as_of"] == "2026-06-30"


# --------------------------------------------------------------------------- own tables


def test_parse_labels_accepts_common_spellings():
    values = pd.Series(["Yes", "no", " CHURNED", "Retained", "TRUE", "f", "1", "0", ""])
    assert churn.parse_labels(values).tolist() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        pd.NA,
    ]
    assert churn.parse_labels(pd.Series([1.0, 0.0])).tolist() == [True, False]
    assert churn.parse_labels(pd.Series([True, False])).tolist() == [True, False]
    with pytest.raises(ValueError, match="'Exited'.*'maybe'"):
        churn.parse_labels(pd.Series(["yes", "maybe"]), "Exited")
    with pytest.raises(ValueError, match="expected 0/1"):
        churn.parse_labels(pd.Series([0, 2]), "Exited")


def test_coerce_numeric_text_counts_blank_cells():
    frame = pd.DataFrame(
        {
            "TotalCharges": ["29.85", " ", "1889.5", ""],
            "plan": ["a", "b", "a", "b"],
            "n": [1, 2, 3, 4],
        }
    )
    out, report = churn.coerce_numeric_text(frame)
    assert out["TotalCharges"].tolist()[::2] == [29.85, 1889.5]
    assert out["TotalCharges"].isna().sum() == 2
    assert report.to_dict("records") == [{"column": "TotalCharges", "blank_cells": 2}]
    assert frame["TotalCharges"].tolist()[1] == " ", "the input must not be modified"
    assert out["plan"].tolist() == ["a", "b", "a", "b"]


def _telco(n: int = 900, seed: int = 3) -> pd.DataFrame:
    """A Telco-churn-like export: string labels, categoricals, blank TotalCharges."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    tenure = rng.integers(0, 72, n)
    monthly = rng.uniform(20, 110, n).round(2)
    logit = -0.5 + 1.8 * (contract == "Month-to-month") - 0.04 * tenure + 0.015 * (monthly - 60)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    total = np.where(tenure == 0, " ", (tenure * monthly).round(2).astype(str))
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-{rng.integers(10**4):04d}" for i in range(n)],
            "gender": rng.choice(["Male", "Female"], n),
            "Contract": contract,
            "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Card"], n),
            "tenure": tenure,
            "MonthlyCharges": monthly,
            "TotalCharges": total,
            "Churn": np.where(churned, "Yes", "No"),
        }
    )


def test_own_table_trains_and_explains(tmp_path):
    path = tmp_path / "telco.csv"
    table = _telco()
    table.to_csv(path, index=False)
    data = churn.custom_training_set(path, "Churn", id_column="customerID")
    blanks = int((table["TotalCharges"] == " ").sum())
    assert data.mode == "custom_table" and data.windows is None
    assert any(f"{blanks:,} blank cell(s)" in n for n in data.notes), data.notes
    assert data.features["TotalCharges"].dtype == "float64"
    assert data.labels.dtype == bool and data.labels.sum() == (table["Churn"] == "Yes").sum()

    models = churn.train_models(data, FAST)
    assert set(models.columns.categorical) == {"gender", "Contract", "PaymentMethod"}
    assert "customerID" not in models.columns.inputs
    auc = models.holdout_metrics().loc["xgboost", "roc_auc"]
    assert auc > 0.7, f"holdout ROC-AUC {auc:.3f} on a planted signal should exceed 0.7"

    contributions = churn.native_contributions(
        models.xgboost, data.features, id_column="customerID"
    )
    assert list(contributions.values.columns) == models.columns.inputs
    reasons = churn.top_reasons(contributions)
    assert reasons["customer_id"].tolist() == data.features["customerID"].tolist()
    assert all(len(r) == 3 for r in reasons["top_reasons"])
    assert any("Contract: Month-to-month (raises risk)" in r for r in reasons["top_reasons"].sum())


def test_prepare_data_takes_the_own_table_from_the_params(tmp_path):
    path = tmp_path / "telco.csv"
    _telco(120).to_csv(path, index=False)
    params = churn.ChurnParams(
        features_path=str(path), label_column="Churn", id_column="customerID"
    )
    assert params.own_table and not churn.ChurnParams().own_table
    data = churn.prepare_data(None, AS_OF, params, source_label="own table")
    assert data.training.mode == "custom_table" and data.training.id_column == "customerID"
    assert data.source == str(path) and len(data.scoring) == 120 and data.manifest.empty
    with pytest.raises(TypeError, match="prepare_data: as_of must be a pd.Timestamp"):
        churn.prepare_data(None, "2026-06-30", params)


def test_churn_params_hold_every_notebook_setting():
    params = churn.ChurnParams(risk_medium=0.25, risk_high=0.8, target_threshold=0.6)
    assert params.risk_edges == (0.25, 0.8)
    flat = params.as_dict()
    assert flat["risk_medium"] == 0.25 and flat["registered_model"] == "churn-classifier"
    assert {"shap_check_rows", "beeswarm_points", "mlflow_evaluator", "min_auc_gain"} <= set(flat)
    with pytest.raises(ValueError, match="ChurnParams: target_threshold must be a probability"):
        churn.ChurnParams(target_threshold=1.5)
    with pytest.raises(ValueError, match="ChurnParams: shap_check_rows must be a positive int"):
        churn.ChurnParams(shap_check_rows=0)
    with pytest.raises(ValueError, match="ChurnParams: id_column must be a non-empty text"):
        churn.ChurnParams(id_column=" ")
    with pytest.raises(ValueError, match="ChurnParams: mlflow_evaluator must be True or False"):
        churn.ChurnParams(mlflow_evaluator="yes")


def test_label_windows_take_a_parsed_cut_off():
    with pytest.raises(TypeError, match="label_windows: as_of must be a pd.Timestamp"):
        churn.label_windows("2026-04-01", horizon_days=90, lookback_days=365)


def test_own_table_label_errors():
    table = _telco(50)
    with pytest.raises(
        ValueError, match=r"'churn' is not a column.*Did you mean 'Churn'.*customerID"
    ):
        churn.custom_training_set(table, "churn")
    with pytest.raises(ValueError, match="single class"):
        churn.custom_training_set(table.assign(Churn="No"), "Churn")


def test_own_table_without_id_column_numbers_rows():
    data = churn.custom_training_set(_telco(40), "Churn")
    assert data.features["customer_id"].iloc[:2].tolist() == ["row-1", "row-2"]
    assert any("no id column" in n for n in data.notes)
    columns = churn.split_feature_columns(data.features, exclude=["customer_id"])
    assert "customerID" in columns.dropped, "an id-like text column is never a model input"


# --------------------------------------------------------------------------- model inputs


def test_frame_prep_normalises_types():
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "x": [1.0, np.inf, 2.0],
            "cat": ["u", None, "v"],
        }
    )
    out = churn.FramePrep(["n", "flag", "x"], ["cat"]).fit(frame).transform(frame)
    assert out.dtypes.astype(str).tolist() == ["float64", "float64", "float64", "object"]
    assert out["x"].isna().tolist() == [False, True, False]
    assert out["cat"].tolist() == ["u", "(missing)", "v"]
    with pytest.raises(ValueError, match="lacks 1 model input column"):
        churn.FramePrep(["n", "gone"], []).fit(frame)


def test_split_feature_columns_reasons():
    frame = pd.DataFrame(
        {
            "id": list("abcd"),
            "const": [1, 1, 1, 1],
            "empty": [None] * 4,
            "when": pd.to_datetime(["2026-01-01"] * 4),
            "n": [1, 2, 3, 4],
            "b": [True, False, True, True],
            "c": ["x", "y", "x", "x"],
        }
    )
    cols = churn.split_feature_columns(frame, exclude=["id"])
    assert cols.numeric == ["n", "b"] and cols.categorical == ["c"]
    assert set(cols.dropped) == {"id", "const", "empty", "when"}
    with pytest.raises(ValueError, match="no usable model inputs"):
        churn.split_feature_columns(frame[["id", "const"]], exclude=["id"])


# --------------------------------------------------------------------------- metrics


def test_metrics_by_hand():
    y = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    p = [0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]
    assert churn.top_decile_lift(y, p) == pytest.approx(5.0)  # top 1 of 10 is a churner; rate 0.2
    m = churn.classification_metrics(y, p)
    assert m["rows"] == 10 and m["positive_rate"] == 0.2
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    table = churn.confusion_table(y, p, 0.5)
    assert table.to_numpy().tolist() == [[7, 1], [1, 1]]
    gains = churn.gains_table(y, p, points=10)
    assert gains["churners_captured"].iloc[[0, 1, -1]].tolist() == [0.0, 0.5, 1.0]
    assert churn.choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.35)
    calib = churn.calibration_table(y, p, bins=2)
    assert calib["customers"].tolist() == [5, 5]
    assert calib["observed"].tolist() == [0.0, 0.4]


def test_risk_bands_and_shares():
    bands = churn.risk_band(pd.Series([0.0, 0.29, 0.3, 0.699, 0.7, 1.0]))
    assert bands.tolist() == ["low", "low", "medium", "medium", "high", "high"]
    assert churn.risk_band([0.5], (0.5, 0.9)).tolist() == ["medium"]
    shares = churn.risk_band_shares(pd.DataFrame({"risk_band": bands}))
    assert shares == {
        "low": pytest.approx(1 / 3),
        "medium": pytest.approx(1 / 3),
        "high": pytest.approx(1 / 3),
    }
    with pytest.raises(ValueError, match="risk_edges"):
        churn.ChurnParams(risk_medium=0.7, risk_high=0.3)


def test_winback_audience_is_opted_in_only():
    scores = churn.scores_table(
        pd.Series(["a", "b", "c", "d", "e"]),
        np.array([0.9, 0.8, 0.75, 0.95, 0.2]),
        pd.DataFrame(
            {
                "customer_id": list("abcde"),
                "top_reasons": [["r1", "r2"]] * 5,
                "reason_codes": [["x:+"]] * 5,
            }
        ),
    )
    features = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "email_opt_in": pd.array([True, False, None, True, True], dtype="boolean"),
            "email_unsubscribed": [False, False, False, True, False],
        }
    )
    audience, notes = churn.winback_audience(scores, features, target_threshold=0.7)
    assert audience["customer_id"].tolist() == ["a"], "no consent, unknown consent, unsubscribed"
    assert audience.loc[0, "top_reasons"] == "r1 | r2"
    assert not [c for c in audience.columns if "email" in c or "name" in c]
    assert "3 left out" in notes[0]
    empty, notes = churn.winback_audience(scores, features.drop(columns="email_opt_in"))
    assert empty.empty and "nobody can be e-mailed" in notes[0]


def test_reason_phrases():
    assert churn.phrase("recency_days", pd.Series([240.4])).tolist() == ["no purchase for 240 days"]
    assert churn.phrase("frequency_90d", pd.Series([1.0, 3.0])).tolist() == [
        "1 order in the last 90 days",
        "3 orders in the last 90 days",
    ]
    assert churn.phrase("email_open_rate", pd.Series([0.123])).tolist() == ["opens 12% of e-mails"]
    assert churn.phrase("email_opt_in", pd.Series([1.0, 0.0])).tolist() == [
        "opted in to e-mail",
        "not opted in to e-mail",
    ]
    assert churn.phrase("rfm_segment", pd.Series(["At Risk"]), categorical=True).tolist() == [
        "RFM segment At Risk"
    ]
    assert churn.phrase("MonthlyCharges", pd.Series([70.35])).tolist() == ["MonthlyCharges = 70.3"]


def test_top_reasons_rank_by_size_and_say_the_direction():
    contributions = churn.Contributions(
        values=pd.DataFrame(
            {
                "recency_days": [1.2, -0.1],
                "frequency": [-0.5, 0.0],
                "age": [0.1, 0.3],
                "country": [0.05, -0.7],
            }
        ),
        base_value=0.0,
        data=pd.DataFrame(
            {
                "recency_days": [240.0, 5.0],
                "frequency": [3.0, 1.0],
                "age": [41.0, np.nan],
                "country": ["DE", "(missing)"],
            }
        ),
        ids=pd.Series(["a", "b"]),
        categorical=["country"],
    )
    reasons = churn.top_reasons(contributions)
    assert reasons.loc[0, "top_reasons"] == [
        "no purchase for 240 days (raises risk)",
        "3 completed orders (lowers risk)",
        "aged 41 (raises risk)",
    ]
    assert reasons.loc[1, "top_reasons"] == [
        "country not recorded (lowers risk)",
        "age not recorded (raises risk)",
        "no purchase for 5 days (lowers risk)",
    ]
    assert reasons.loc[0, "reason_codes"] == ["recency_days:+", "frequency:-", "age:+"]


# --------------------------------------------------------------------------- SHAP


@pytest.fixture(scope="module")
def telco_models():
    data = churn.custom_training_set(_telco(700, seed=5), "Churn", id_column="customerID")
    return data, churn.train_models(data, FAST)


def test_native_contributions_agree_with_shap_tree_explainer(telco_models):
    data, models = telco_models
    sample = data.features.head(200)
    native = explain.encoded_contributions(models.xgboost, sample)
    reference = explain.reference_shap_values(models.xgboost, sample)
    assert np.abs(native[:, :-1] - reference).max() < 1e-4, "SHAP's Tree SHAP disagrees"
    delegated = explain.treeexplainer_shap_values(models.xgboost, sample)
    assert np.abs(native[:, :-1] - delegated).max() < 1e-4
    contributions = churn.native_contributions(models.xgboost, sample, id_column="customerID")
    probability = models.xgboost.predict_proba(sample)[:, 1]
    assert np.abs(contributions.probability().to_numpy() - probability).max() < 1e-5, (
        "base value + contributions must reproduce the model's probability"
    )
    check = churn.check_contributions(models.xgboost, sample, rows=100)
    assert check["max_abs_diff"] < 1e-4 and check["additivity_error"] < 1e-4
    batched = churn.native_contributions(
        models.xgboost, sample, id_column="customerID", batch_size=64
    )
    np.testing.assert_allclose(batched.values.to_numpy(), contributions.values.to_numpy())


def test_min_delta_early_stopping_keeps_fewer_trees_and_leaves_no_callback():
    """A round must lower the validation log-loss by min_delta to count: with a large one
    the model keeps fewer trees; predictions and contributions use exactly those trees, and
    the fitted model holds no callback object (it is logged and loaded with skops)."""
    data = churn.custom_training_set(_telco(1500, seed=8), "Churn", id_column="customerID")
    X, y = data.features, data.labels
    columns = churn.split_feature_columns(X, exclude=["customerID"])
    fit, valid = X.index[:1000], X.index[1000:]
    kept = {}
    for delta in (0.0, 0.02):
        params = dataclasses.replace(
            FAST, n_estimators=300, early_stopping_min_delta=delta, learning_rate=0.05
        )
        model = churn.fit_xgboost(
            X.loc[fit], y.loc[fit], X.loc[valid], y.loc[valid], columns, params
        )
        booster = model[-1]
        kept[delta] = int(booster.best_iteration)
        assert booster.get_params()["callbacks"] is None
        assert booster.get_params()["early_stopping_rounds"] == FAST.early_stopping_rounds
        sample = X.loc[valid].head(50)
        contributions = churn.native_contributions(model, sample, id_column="customerID")
        np.testing.assert_allclose(
            contributions.probability().to_numpy(), model.predict_proba(sample)[:, 1], atol=1e-5
        )
    assert 0 < kept[0.02] < kept[0.0], kept
    with pytest.raises(ValueError, match="early_stopping_min_delta"):
        churn.ChurnParams(early_stopping_min_delta=-0.1)


def test_linear_contributions_are_exact_by_hand():
    """Baseline: coefficient × standardised value per encoded column, summed per input (a
    number with its missing-value indicator, a category with its one-hot columns)."""
    X = pd.DataFrame(
        {
            "customer_id": list("abcdefgh"),
            "n": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, np.nan, 8.0],
            "c": ["x", "y", "x", "y", "x", "y", "y", "x"],
        }
    )
    y = pd.Series([0, 0, 1, 1, 0, 1, 1, 0])
    model = churn.fit_baseline(X, y, churn.ModelColumns(["n"], ["c"]))
    names, owner = original_columns(model)
    assert names == ["n", "c"]
    assert owner.tolist() == [0, 0, 1, 1], "n, its indicator, then the two levels of c"
    z = model[:-1].transform(X)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)  # standardised on training
    w = model[-1].coef_.ravel()
    values = churn.linear_contributions(model, X)
    np.testing.assert_allclose(values.values["n"], z[:, 0] * w[0] + z[:, 1] * w[1])
    np.testing.assert_allclose(values.values["c"], z[:, 2] * w[2] + z[:, 3] * w[3])
    assert values.base_value == pytest.approx(float(model[-1].intercept_[0]))
    np.testing.assert_allclose(values.log_odds(), model.decision_function(X))
    np.testing.assert_allclose(values.probability(), model.predict_proba(X)[:, 1])
    assert values.ids.tolist() == list("abcdefgh")
    check = churn.check_contributions(model, X, rows=8)
    assert check["max_abs_diff"] < 1e-9 and check["additivity_error"] < 1e-9
    assert churn.model_kind(model) == "baseline"
    with pytest.raises(TypeError, match="expected the logistic baseline"):
        churn.linear_contributions(churn.xgboost_pipeline(churn.ModelColumns(["n"], [])), X)


def test_explanation_figures_build(telco_models):
    data, models = telco_models
    contributions = churn.native_contributions(
        models.xgboost, data.features, id_column="customerID"
    )
    importance = churn.global_importance(contributions)
    assert importance["share"].sum() == pytest.approx(1.0)
    top = importance["feature"].head(4).tolist()
    swarm = figures.beeswarm_figure(contributions, top, max_points=300)
    assert len(swarm.data) >= 4
    # a sampled picture: single precision, values as numbers shown to 4 significant
    # digits on hover, each point's SHAP value and value still the customer's own; the
    # colour (value rank) in one byte, the row (with its jitter) in hundredths in two
    numeric = next(t for t in swarm.data if t.name == "tenure")
    assert {numeric.x.dtype, numeric.customdata.dtype} == {np.dtype("float32")}
    assert (numeric.y.dtype, numeric.marker.color.dtype) == (np.int16, np.uint8)
    row = swarm.layout.yaxis.tickvals[list(swarm.layout.yaxis.ticktext).index("tenure")]
    assert np.abs(numeric.y.astype(int) - row).max() <= 30  # within 0.3 of its row
    order = np.argsort(numeric.customdata, kind="stable")
    assert (np.diff(numeric.marker.color[order].astype(int)) >= 0).all()  # higher value, redder
    assert numeric.marker.color.max() == swarm.data[0].marker.cmax == 255
    assert "%{customdata:.4~g}" in numeric.hovertemplate
    pairs = set(zip(numeric.x.tolist(), numeric.customdata.tolist(), strict=True))
    truth = zip(
        contributions.values["tenure"].astype("float32").tolist(),
        contributions.data["tenure"].astype("float32").tolist(),
        strict=True,
    )
    assert pairs <= set(truth)
    category = next(t for t in swarm.data if t.name == "Contract")
    assert set(category.customdata) <= set(contributions.data["Contract"].astype("str"))
    assert figures.dependence_figure(contributions, "Contract").data
    tenure = figures.dependence_figure(contributions, "tenure")
    assert tenure.data[0].x.dtype == np.float32
    fig = figures.waterfall_figure(contributions, data.features["customerID"].iloc[0], top=3)
    assert len(fig.data[0].x) == 3 + 1 + 2  # base, 3 inputs, the rest, total
    with pytest.raises(KeyError, match="not among"):
        figures.waterfall_figure(contributions, "nobody")
    figures.gains_figure(models.y_holdout, models.holdout_scores)
    figures.confusion_figure(models.y_holdout, models.holdout_scores, models.thresholds)


def test_score_figures_do_not_grow_with_the_customers():
    """The risk bands are counted before drawing and the curves thinned: at 1 M customers
    the histogram carried every score (~7 MB) and the precision–recall curve a point per
    distinct score into the churn report."""
    rng = np.random.default_rng(3)
    p = rng.beta(2, 5, 300_000)
    y = (rng.random(p.size) < p).astype(int)
    scores = pd.DataFrame({"churn_probability": p, "risk_band": churn.risk_band(p)})
    fig = figures.risk_band_figure(scores)
    assert [t.name for t in fig.data] == list(churn.RISK_BANDS) and fig.layout.barmode == "stack"
    counts = scores["risk_band"].value_counts()
    assert {t.name: int(np.sum(t.y)) for t in fig.data} == counts.to_dict()
    low = next(t for t in fig.data if t.name == "low")  # below 0.3: the first 12 of 40 bins
    assert low.y[:12].sum() == counts["low"] and np.allclose(low.x[:2], [0.0125, 0.0375])
    assert len(fig.to_json()) < 30_000
    curves = figures.roc_pr_figure(y, {"xgboost": p})
    drawn = [t for t in curves.data if t.name == "xgboost"]
    assert len(drawn) == 2 and all(len(t.x) <= figures.CURVE_POINTS for t in drawn)
    fpr, tpr, _ = roc_curve(y, p)
    roc = drawn[0]
    assert len(fpr) > 10 * figures.CURVE_POINTS  # a curve that needed thinning
    assert (roc.x[0], roc.y[0], roc.x[-1], roc.y[-1]) == (0, 0, 1, 1)
    # every drawn point is on the full curve; the area under the drawn curve is the AUC
    on_curve = set(zip(fpr.astype("float32").tolist(), tpr.astype("float32").tolist(), strict=True))
    assert set(zip(roc.x.tolist(), roc.y.tolist(), strict=True)) <= on_curve
    assert np.trapezoid(roc.y, roc.x) == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert len(curves.to_json()) < 100_000


# --------------------------------------------------------------------------- registry


def test_gate_decision_rule():
    assert churn.gate_decision({"roc_auc": 0.7}, None) == (True, "no champion yet")
    passed, reason = churn.gate_decision({"roc_auc": 0.8913}, {"roc_auc": 0.8913})
    assert not passed and "ties with the champion (0.8913)" in reason, "a tie keeps the champion"
    assert not churn.gate_decision({"roc_auc": 0.80}, {"roc_auc": 0.80}, min_auc_gain=0.0)[0]
    assert churn.gate_decision({"roc_auc": 0.8001}, {"roc_auc": 0.80}, min_auc_gain=0.0)[0]
    passed, reason = churn.gate_decision({"roc_auc": 0.801}, {"roc_auc": 0.80})
    assert not passed and "by only 0.0010, less than min_auc_gain 0.002" in reason
    # exactly the gain asked passes, whatever float noise the subtraction leaves
    assert churn.gate_decision({"roc_auc": 0.8933}, {"roc_auc": 0.8913}, min_auc_gain=0.002)[0]
    passed, reason = churn.gate_decision({"roc_auc": 0.79}, {"roc_auc": 0.80}, min_auc_gain=0.01)
    assert not passed and "is 0.0100 below the champion (0.8000)" in reason
    assert churn.ChurnParams().min_auc_gain == 0.002
    with pytest.raises(ValueError, match="min_auc_gain"):
        churn.gate_decision({"roc_auc": 0.8}, {"roc_auc": 0.8}, min_auc_gain=-0.1)
    with pytest.raises(ValueError, match=r"ChurnParams: min_auc_gain must be a number in \[0, 1\)"):
        churn.ChurnParams(min_auc_gain=-0.01)


def _linear_table(n: int = 400, seed: int = 0, k: int = 8) -> pd.DataFrame:
    """A purely linear churn signal on few rows: the logistic baseline's home ground."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    churned = rng.random(n) < 1 / (1 + np.exp(-0.8 * X.sum(axis=1)))
    frame = pd.DataFrame(X.round(4), columns=[f"x{i}" for i in range(k)])
    frame.insert(0, "customer_id", [f"C{i:04d}" for i in range(n)])
    frame["plan"] = rng.choice(["basic", "plus"], n)
    frame["churned"] = churned
    return frame


def test_choose_model_and_cv_sample():
    y = [0, 0, 1, 1]
    good, poor = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.4, 0.1, 0.3, 0.2])
    choice = churn.choose_model(y, {"xgboost": poor, "baseline": good})
    assert (choice.winner, choice.other, choice.margin) == ("baseline", "xgboost", 0.5)
    assert "won against XGBoost on the validation split: ROC-AUC 1.000 vs 0.500" in (
        choice.sentence()
    )
    assert churn.choose_model(y, {"xgboost": good, "baseline": good}).winner == "baseline"
    with pytest.raises(ValueError, match="no validation scores of baseline"):
        churn.choose_model(y, {"xgboost": good})
    with pytest.raises(ValueError, match="single class"):
        churn.choose_model([1, 1, 1, 1], {"xgboost": good, "baseline": good})
    X = pd.DataFrame({"n": range(1000)})
    labels = pd.Series([True] * 100 + [False] * 900)
    Xs, ys = churn.cv_sample(X, labels, churn.ChurnParams(cv_max_rows=200))
    assert len(Xs) == 200 and int(ys.sum()) == 20, "stratified: the churn rate is kept"
    assert churn.cv_sample(X, labels, churn.ChurnParams(cv_max_rows=0))[0] is X
    with pytest.raises(ValueError, match="ChurnParams: cv_max_rows must be an int >= 0"):
        churn.ChurnParams(cv_max_rows=-1)


@pytest.mark.slow
def test_baseline_wins_is_registered_and_an_identical_rerun_keeps_the_champion(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("churn-winner-test")
    client = mlflow.MlflowClient(uri, uri)
    data = churn.ChurnData(
        training=churn.custom_training_set(_linear_table(), "churned"),
        scoring=_linear_table().drop(columns="churned"),
        source="a linear table",
    )
    models = churn.train_models(data.training, FAST)
    assert models.choice.winner == "baseline" and models.choice.margin > 0.02, (
        f"on a purely linear signal the baseline must win on validation: {models.choice}"
    )
    assert models.chosen is models.baseline
    params = churn.ChurnParams(cv_folds=0, n_estimators=120, early_stopping_rounds=20)
    decisions = []
    for _ in range(2):  # the same models again: an identical scheduled rerun
        with mlflow.start_run():
            decisions.append(
                churn.register_and_gate(
                    models, data, registered_model="p.churn", as_of=AS_OF, params=params
                )
            )
    first, again = decisions
    assert first.promoted and first.version == "1"
    assert not again.promoted and again.alias == "challenger" and again.version == "2"
    assert again.champion_auc == pytest.approx(again.candidate_auc, abs=1e-12)
    assert "ties with the champion" in again.reason
    assert str(client.get_model_version_by_alias("p.churn", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("p.churn", "challenger").version) == "2"
    version = client.get_model_version("p.churn", "1")
    assert version.tags["workbench.model_type"] == "baseline"
    assert version.tags["workbench.created_by"] and "input_digests" not in str(version.tags)
    assert all(len(v) <= 300 for v in version.tags.values()), "version tags stay short"
    assert "The logistic baseline won against XGBoost" in version.description
    assert "first champion" in version.description
    assert "stays challenger" in client.get_model_version("p.churn", "2").description
    assert (
        "probability that a customer churns" in client.get_registered_model("p.churn").description
    )

    model, scored, note = churn.scoring_model("p.churn", again, list(data.scoring.columns))
    assert scored == "1" and churn.model_kind(model) == "baseline"
    scores, contributions = churn.score_customers(model, data.scoring, params)
    np.testing.assert_allclose(
        contributions.probability().to_numpy(),
        model.predict_proba(data.scoring)[:, 1],
        atol=1e-9,
    )
    assert scores["top_reasons"].map(len).eq(3).all()
    assert (
        scores["reason_codes"]
        .map(lambda r: r[0].split(":")[0])
        .isin([f"x{i}" for i in range(8)] + ["plan"])
        .all()
    )
    explained, on = churn.explain_new_version(
        models,
        data.scoring,
        params,
        decision=again,
        scored_version=scored,
        scoring_contributions=contributions,
    )
    assert "version 1 scored them" in on and len(explained.values) == len(data.scoring)


@pytest.mark.slow
def test_registry_first_champion_worse_challenger_better_promoted(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("churn-registry-test")
    client = mlflow.MlflowClient(uri, uri)
    data = churn.custom_training_set(_telco(600, seed=11), "Churn", id_column="customerID")
    X, y = data.features, data.labels
    hold, fit = X.index[:200], X.index[200:]
    cols_all = churn.split_feature_columns(X, exclude=["customerID"])
    weak = churn.ModelColumns(numeric=["MonthlyCharges"], categorical=[])
    noise = y.sample(frac=1.0, random_state=1).to_numpy()
    fits = {
        "first": churn.fit_xgboost(X.loc[fit], y.loc[fit], X.loc[hold], y.loc[hold], weak, FAST),
        "worse": churn.fit_xgboost(
            X.loc[fit], pd.Series(noise[200:], index=fit), X.loc[hold], y.loc[hold], cols_all, FAST
        ),
        "better": churn.fit_xgboost(
            X.loc[fit], y.loc[fit], X.loc[hold], y.loc[hold], cols_all, FAST
        ),
    }
    decisions = {}
    with mlflow.start_run():
        for name, model in fits.items():
            _, version = churn.log_churn_model(model, X.loc[hold], registered_model="churn-test")
            decisions[name] = churn.promote_if_better(
                client,
                "churn-test",
                version,
                X.loc[hold],
                y.loc[hold],
                min_auc_gain=0.0,
                who="tester",
            )
    first, worse, better = decisions["first"], decisions["worse"], decisions["better"]
    assert first.promoted and first.alias == "champion" and first.reason == "no champion yet"
    assert not worse.promoted and worse.alias == "challenger"
    assert worse.champion_version == "1" and worse.champion_auc == pytest.approx(
        first.candidate_auc
    )
    assert better.promoted and better.candidate_auc > better.champion_auc
    assert str(client.get_model_version_by_alias("churn-test", "champion").version) == "3"
    assert churn.alias_version(client, "churn-test", "challenger") is None, (
        "the challenger alias moves off a version once it is promoted"
    )
    tags = client.get_model_version("churn-test", "3").tags
    assert tags["workbench.champion.set_by"] == "tester"
    assert (
        tags["workbench.gate.promoted"] == "True"
        and "gate passed" in tags["workbench.champion.reason"]
    )
    # the holdout AUC MLflow's evaluator computed equals ours
    ours = churn.classification_metrics(
        y.loc[hold], churn.predict_churn(fits["better"], X.loc[hold])
    )
    assert better.candidate_auc == pytest.approx(ours["roc_auc"], abs=1e-9)
    mlflow_metrics = churn.evaluate_version("churn-test", "3", X.loc[hold], y.loc[hold])
    assert mlflow_metrics["roc_auc"] == pytest.approx(ours["roc_auc"], abs=1e-9), (
        "MLflow's evaluator and the gate's own scoring must agree"
    )
    # loading by alias gives the trained model's probabilities on the raw feature frame
    loaded = churn.load_model("churn-test")
    np.testing.assert_allclose(
        loaded.predict_proba(X)[:, 1], fits["better"].predict_proba(X)[:, 1], rtol=0, atol=1e-7
    )
    pyfunc = mlflow.pyfunc.load_model("models:/churn-test@champion")
    np.testing.assert_allclose(
        np.asarray(pyfunc.predict(churn.model_input(loaded, X.head(20))))[:, 1],
        fits["better"].predict_proba(X.head(20))[:, 1],
        atol=1e-7,
    )
    # manual promotion (what `workbench registry promote` calls) records who and why
    moved = churn.promote(client, "churn-test", "1", who="lead", why="rollback drill")
    assert moved == {"version": "1", "previous_champion": "3"}
    tags = client.get_model_version("churn-test", "1").tags
    assert tags["workbench.champion.set_by"] == "lead"
    assert tags["workbench.champion.reason"] == "rollback drill"


# --------------------------------------------------------------------------- demo truth


@pytest.mark.slow
def test_demo_auc_against_planted_churn(demo_dir):
    """Default demo (20,000 customers): holdout, future-label and planted-churn ROC-AUC."""
    params = churn.ChurnParams(cv_folds=0, n_estimators=400)
    inputs = open_tables(demo_dir, tables=FEATURE_TABLES)
    data = churn.prepare_data(inputs, AS_OF, params)
    models = churn.train_models(data.training, params)
    metrics = models.holdout_metrics()
    auc, base = metrics.loc["xgboost", "roc_auc"], metrics.loc["baseline", "roc_auc"]
    assert auc >= 0.85, f"holdout ROC-AUC {auc:.3f} should be at least 0.85"
    assert auc > base, f"XGBoost ({auc:.3f}) should beat the baseline ({base:.3f})"
    assert models.choice.winner == "xgboost", "XGBoost also wins on the validation split"

    scoring = data.scoring
    probability = models.xgboost.predict_proba(scoring)[:, 1]
    future = pd.read_parquet(demo_dir / "_truth" / "future_orders.parquet")
    end = pd.Timestamp("2026-06-30", tz="UTC") + pd.Timedelta(days=params.horizon_days)
    buyers = set(future.loc[future["ordered_at"] < end, "customer_id"])
    real = ~scoring["customer_id"].isin(buyers)
    truth = pd.read_parquet(demo_dir / "_truth" / "customers.parquet").set_index("customer_id")
    planted = truth["churned"].reindex(scoring["customer_id"]).fillna(False).to_numpy(dtype=bool)
    from sklearn.metrics import roc_auc_score

    future_auc = roc_auc_score(real, probability)
    planted_auc = roc_auc_score(planted, probability)
    assert future_auc >= 0.85, f"ROC-AUC against the next 90 days {future_auc:.3f} < 0.85"
    assert planted_auc >= 0.88, f"ROC-AUC against the planted churners {planted_auc:.3f} < 0.88"


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_churn_notebook(run_stages, small_demo_dir, isolated_settings, tmp_path):
    """The stage on the small demo; an identical rerun keeps the champion; a second data
    source in the same tracking store gets its own experiment and registered model."""
    from workbench import tracking
    from workbench.tracking import flatten_metrics

    fast = ["churn.cv_folds=2", "churn.n_estimators=150", "churn.shap_check_rows=200"]
    result = run_stages(small_demo_dir, ["churn"], fast)
    stage = {s.name: s for s in result.stages}["churn"]
    assert stage.status == "ok", stage.error
    summary = json.loads(stage.summary_path.read_text())
    project = isolated_settings.for_source(small_demo_dir)
    name = tracking.model_name(project, "churn-classifier")
    assert name.startswith(project.project + ".") and name.endswith(".churn-classifier")
    assert summary["registered_model"] == name and summary["version"] == "1"
    assert summary["alias"] == "champion" and summary["promoted"] is True
    assert summary["model"] in ("xgboost", "baseline")
    chosen, other = summary["selection"]["chosen"], summary["selection"]["other"]
    assert chosen >= other, "the registered model won on the validation split"
    assert summary["roc_auc"] > 0.8, summary["roc_auc"]
    assert sum(summary["risk_bands"].values()) == pytest.approx(1.0, abs=1e-5)
    assert summary["shap_check"]["max_abs_diff"] < 1e-4
    headline = summary["headline"]
    labels = [item["label"] for item in headline["items"]]
    assert labels[:2] == [
        f"ROC-AUC {'XGBoost' if summary['model'] == 'xgboost' else 'baseline'} vs "
        f"{'baseline' if summary['model'] == 'xgboost' else 'XGBoost'}",
        "champion",
    ]
    assert headline["items"][1]["value"] == "v1 (new)"
    assert "win-back audience" in labels
    metrics = flatten_metrics(summary)
    for setting in ("horizon_days", "lookback_days", "min_auc_gain", "target_threshold"):
        assert not any(k.endswith(setting) for k in metrics), f"{setting} is a param"
    assert not any("candidate" in k for k in metrics), "the candidate AUC is roc_auc, once"
    scores = pd.read_parquet(isolated_settings.processed_dir / "churn_scores.parquet")
    assert list(scores.columns[:4]) == [
        "customer_id",
        "churn_probability",
        "risk_band",
        "top_reasons",
    ]
    assert len(scores) == summary["scored_customers"]
    audience = pd.read_csv(result.output_dir / "winback_audience.csv")
    assert (
        len(audience) == summary["audience_size"] and (audience["churn_probability"] >= 0.7).all()
    )
    customers = pd.read_parquet(small_demo_dir / "customers.parquet").set_index("customer_id")
    consent = customers.loc[audience["customer_id"], "email_opt_in"].astype("boolean")
    assert consent.fillna(False).all(), "only customers who opted in may be in the audience"
    html = (result.output_dir / "churn.html").read_text()
    assert "{'mode'" not in html, "the report does not end with a raw dict"

    # the same data again: an identical rerun leaves the champion where it was
    again = run_stages(small_demo_dir, ["churn"], fast)
    second = json.loads(again.stages[0].summary_path.read_text())
    assert again.stages[0].status == "ok", again.stages[0].error
    assert second["version"] == "2" and second["alias"] == "challenger"
    assert second["promoted"] is False and second["champion_version"] == "1"
    assert second["roc_auc"] == pytest.approx(summary["roc_auc"], abs=1e-9)
    assert second["gate"]["champion_auc"] == pytest.approx(summary["roc_auc"], abs=1e-9)
    assert second["scored_with"] == "1", "scores come from the champion"
    assert second["headline"]["items"][1]["value"] == "v1 (unchanged)"

    # a second source in the same tracking store: its own experiment and registry
    other_source = tmp_path / "second-shop" / "raw"
    shutil.copytree(small_demo_dir, other_source, ignore=shutil.ignore_patterns("_truth"))
    third = run_stages(other_source, ["churn"], fast)
    assert third.stages[0].status == "ok", third.stages[0].error
    other = json.loads(third.stages[0].summary_path.read_text())
    other_name = tracking.model_name(isolated_settings.for_source(other_source), "churn-classifier")
    assert other_name.startswith("second-shop-") and other_name != name
    assert other["registered_model"] == other_name
    assert other["version"] == "1" and other["promoted"] is True, "a new registry: version 1"
    client = tracking.client(isolated_settings)
    versions = {
        n: sorted(str(v.version) for v in client.search_model_versions(f"name = '{n}'"))
        for n in (name, other_name)
    }
    assert versions == {name: ["1", "2"], other_name: ["1"]}
    experiments = {e.name for e in client.search_experiments()}
    first_project = project.project
    second_project = other_name.split(".")[0]
    assert {f"workbench/{first_project}/churn", f"workbench/{second_project}/churn"} <= experiments
