"""Stage 05 A/B analysis: inputs, checks, models against closed forms, decisions, demo truth."""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench import catalog
from workbench import experiments as ex
from workbench.experiments import ExperimentInputError
from workbench.loading import load_tables
from workbench.schema import parse_as_of
from workbench.settings import get_settings
from workbench.stage import CONTEXT, build_params

AS_OF = parse_as_of("2026-06-30")
FAST = ex.Sampling(draws=1000, tune=500, chains=2, cores=1, random_seed=11)
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_ab_test.ipynb"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --------------------------------------------------------------------------- inputs: tables


@pytest.fixture
def tiny_tables() -> dict[str, pd.DataFrame]:
    """Two experiments; e1 has every messy case the loader of outcomes must handle."""
    rows = [
        ("e_old", "c9", "control", "2026-01-01"),
        ("e_old", "c10", "b", "2026-01-01"),
        ("e1", "c1", "control", "2026-03-01"),
        ("e1", "c2", "control", "2026-03-02"),
        ("e1", "c11", "control", "2026-03-04"),
        ("e1", "c3", " b", "2026-03-01"),  # stray space in the variant
        ("e1", "c4", "b", "2026-03-03"),
        ("e1", "c5", "control", "2026-03-01"),  # in both variants: excluded
        ("e1", "c5", "b", "2026-03-02"),
        ("e1", "c6", "b", "2026-03-01"),  # assigned twice to b: first kept
        ("e1", "c6", "b", "2026-03-02"),
        ("e1", "c7", "control", "2026-06-25"),  # window not over by as_of
        ("e1", "c12", "c", "2026-06-28"),  # ditto: variant c is left without users
        ("e1", "c8", "b", "2026-07-01"),  # after as_of
    ]
    assignments = pd.DataFrame(rows, columns=["experiment_id", "customer_id", "variant", "at"])
    assignments["assigned_at"] = pd.to_datetime(assignments.pop("at"), utc=True)
    orders = pd.DataFrame(
        [
            ("o1", "c1", "2026-03-01 00:00", 10.0, "completed"),  # at assignment: counts
            ("o2", "c1", "2026-03-15 00:00", 99.0, "completed"),  # at window end: excluded
            ("o3", "c1", "2026-02-01", 50.0, "completed"),  # pre-period
            ("o4", "c1", "2025-10-01", 70.0, "completed"),  # before the 90-day pre-period
            ("o5", "c2", "2026-03-03", 40.0, "cancelled"),  # not a conversion
            ("o6", "c2", "2026-03-05", np.nan, "completed"),  # converts, no amount
            ("o7", "c3", "2026-03-02", 20.0, "completed"),
            ("o8", "c3", "2026-03-09", 30.0, "completed"),
            ("o9", "c5", "2026-03-05", 25.0, "completed"),
            ("o10", "c7", "2026-06-26", 15.0, "completed"),
        ],
        columns=["order_id", "customer_id", "at", "amount", "status"],
    )
    orders["ordered_at"] = pd.to_datetime(orders.pop("at"), utc=True, format="ISO8601")
    return {"experiment_assignments": assignments, "orders": orders}


def test_outcomes_from_tables_follow_the_window_rules(tiny_tables):
    before = {k: v.copy() for k, v in tiny_tables.items()}
    data = ex.load_experiment(tiny_tables, as_of=AS_OF, control="Control")
    assert data.experiment_id == "e1", "default experiment is the most recently assigned"
    assert data.control == "control" and data.variants == ("control", "b")
    counts = data.counts.set_index("variant")
    assert counts.loc["control", ["users", "conversions"]].tolist() == [3, 2]
    assert counts.loc["b", ["users", "conversions"]].tolist() == [3, 1]
    assert counts.loc["control", "revenue"] == 10.0 and counts.loc["b", "revenue"] == 50.0
    users = data.users.set_index("customer_id")
    assert set(users.index) == {"c1", "c2", "c11", "c3", "c4", "c6"}
    assert users.loc["c1", "revenue"] == 10.0 and users.loc["c1", "orders"] == 1
    assert users.loc["c1", "pre_spend"] == 50.0, "only the 90 days before assignment count"
    assert bool(users.loc["c2", "converted"]) and users.loc["c2", "revenue"] == 0.0
    assert users.loc["c3", "orders"] == 2 and users.loc["c3", "revenue"] == 50.0
    assert users.loc["c6", "assigned_at"] == _ts("2026-03-01")
    notes = " | ".join(data.notes)
    for fragment in (
        "1 assignment(s) at or after as_of",
        "1 customer(s) assigned to more than one variant",
        "1 repeated assignment(s)",
        "2 customer(s) whose 14-day window is not over",
        "variant(s) c have no users left",
        "1 order(s) in the windows without an amount",
    ):
        assert fragment in notes
    for name, frame in tiny_tables.items():
        pd.testing.assert_frame_equal(frame, before[name])  # inputs untouched


def test_list_experiments_and_explicit_choice(tiny_tables):
    listing = ex.list_experiments(tiny_tables["experiment_assignments"])
    assert listing["experiment_id"].tolist() == ["e1", "e_old"]
    old = ex.load_experiment(tiny_tables, as_of=AS_OF, experiment_id="e_old")
    assert old.counts["users"].tolist() == [1, 1] and old.counts["conversions"].sum() == 0


def test_bad_table_inputs_name_what_exists(tiny_tables):
    assignments, orders = tiny_tables["experiment_assignments"], tiny_tables["orders"]
    with pytest.raises(ExperimentInputError, match=r"'nope' is not in .*e1 \(.*e_old"):
        ex.experiment_from_tables(assignments, orders, as_of=AS_OF, experiment_id="nope")
    with pytest.raises(
        ExperimentInputError, match=r"control 'ctrl' .* variants with users are: b, control"
    ):
        ex.experiment_from_tables(assignments, orders, as_of=AS_OF, control="ctrl")
    single = assignments[assignments["variant"].str.strip() == "b"]
    with pytest.raises(ExperimentInputError, match=r"control 'control' is not a variant"):
        ex.experiment_from_tables(single, orders, as_of=AS_OF, experiment_id="e1")
    with pytest.raises(ExperimentInputError, match=r"single variant with users \(b\)"):
        ex.experiment_from_tables(single, orders, as_of=AS_OF, experiment_id="e1", control="b")
    with pytest.raises(
        ExperimentInputError, match=r"experiment_assignments: column\(s\) variant missing"
    ):
        ex.experiment_from_tables(assignments.drop(columns="variant"), orders, as_of=AS_OF)
    with pytest.raises(ExperimentInputError, match=r"no experiment_assignments table .*orders"):
        ex.load_experiment({"orders": orders}, as_of=AS_OF)
    with pytest.raises(
        ExperimentInputError, match=r"no assigned customer left .*window is not over"
    ):
        ex.experiment_from_tables(assignments, orders, as_of=_ts("2026-03-05"), experiment_id="e1")
    with pytest.raises(ExperimentInputError, match=r"window_days: expected a positive number"):
        ex.experiment_from_tables(assignments, orders, as_of=AS_OF, window_days=0)


# --------------------------------------------------------------------------- inputs: summary CSV


def test_summary_csv_is_read_tolerantly(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeff Variant ;  USERS ; Conversions; Conv. rate ; Revenue\n"
        "Control; 12,000 ; 1,200 ; 10.0% ; $24,000.50\n"
        "Offer;12,100;1,331;11.0%;€26,620\n"
        "\n"
        "Total;24,100;2,531;10.5%;50,620.50\n",
        encoding="utf-8",
    )
    frame = ex.read_summary_csv(path)
    assert frame["variant"].tolist() == ["Control", "Offer"], "total row dropped"
    assert frame["users"].tolist() == [12_000, 12_100]
    assert frame["conversions"].tolist() == [1_200, 1_331]
    assert frame["revenue"].tolist() == [24_000.5, 26_620.0]
    data = ex.load_experiment(None, as_of=AS_OF, summary_path=str(path))
    assert data.experiment_id == "export" and data.control == "Control", (
        "control matched case-insensitively"
    )
    assert data.source == "summary" and not data.has_users and data.has_revenue
    with pytest.raises(ExperimentInputError, match=r"'export': no per-user outcomes \(source"):
        data.user_table  # noqa: B018 (the property raises)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "variant,visits,conversions\na,10,1\nb,10,2\n",
            r"column\(s\) users missing.*found columns: variant, visits, conversions",
        ),
        (
            "variant,users,conversions\ncontrol,100,5\nb,100,120\n",
            r"conversions exceed users for variant\(s\) b",
        ),
        ("variant,users,conversions\ncontrol,100,5\nb,0,0\n", r"variant\(s\) b have zero users"),
        ("variant,users,conversions\ncontrol,100,5\n", r"single variant with users \(control\)"),
        (
            "variant,users,conversions\ncontrol,100,5\nb,100.5,3\n",
            r"'users' expected whole non-negative counts",
        ),
        (
            "variant,users,conversions\ncontrol,100,5\nb,lots,3\n",
            r"'users' expected numbers; got 'lots'",
        ),
        (
            "variant,users,conversions\ncontrol,100,5\ncontrol,90,3\n",
            r"control appear more than once",
        ),
        (
            "variant,users,conversions\nA,100,5\nB,90,3\n",
            r"control 'control' is not a variant .*: A, B",
        ),
    ],
)
def test_summary_csv_bad_inputs(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ExperimentInputError, match=match):
        ex.load_experiment(None, as_of=AS_OF, summary_path=str(path))


def test_missing_summary_file_is_named(tmp_path):
    with pytest.raises(ExperimentInputError, match=r"nothere.csv' does not exist \(looked for /"):
        ex.load_experiment(None, as_of=AS_OF, summary_path=str(tmp_path / "nothere.csv"))


# --------------------------------------------------------------------------- parameters


def _parameters_cell(path: Path) -> dict[str, object]:
    cells = json.loads(path.read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}


def test_ab_test_params_are_the_notebook_parameters_and_build_priors_and_sampling():
    cell = _parameters_cell(NOTEBOOK)
    assert {k: v for k, v in cell.items() if k not in CONTEXT} == ex.AbTestParams().as_dict(), (
        "every parameter of notebook 05 but the run context, with the same default"
    )
    assert build_params(ex.AbTestParams, cell) == ex.AbTestParams()
    params = ex.AbTestParams(
        conversion_prior_alpha=2.0,
        conversion_prior_beta=18.0,
        value_likelihood="lognormal",
        value_prior_sd=0.5,
        effect_prior_sd=0.3,
        effect_spread_prior=0.1,
        draws=200,
        tune=0,
        chains=3,
        cores=2,
        random_seed=11,
        intended_split={"control": 1, "b": 3},
        summary_path=Path("/data/export.csv"),
    )
    assert params.priors == ex.Priors(
        conversion_alpha=2.0,
        conversion_beta=18.0,
        value_likelihood="lognormal",
        value_mean_sd=0.5,
        effect_sd=0.3,
        effect_spread=0.1,
    )
    assert params.sampling == ex.Sampling(draws=200, tune=0, chains=3, cores=2, random_seed=11)
    assert params.summary_path == "/data/export.csv", "a path becomes its text"
    logged = params.as_dict()
    assert logged["intended_split"] == {"control": 1, "b": 3} and logged["draws"] == 200
    assert json.loads(json.dumps(logged)) == logged, "MLflow parameters are plain JSON"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"window_days": 0}, r"window_days must be a positive int, got 0"),
        ({"window_days": 7.5}, r"window_days must be a positive int, got 7.5"),
        ({"pre_period_days": -1}, r"pre_period_days must be an int >= 0, got -1"),
        ({"max_segments": 1}, r"max_segments must be an int >= 2, got 1"),
        ({"chains": 0}, r"chains must be a positive int, got 0"),
        ({"random_seed": -3}, r"random_seed must be an int >= 0, got -3"),
        ({"control": " "}, r"control must name a variant, got ' '"),
        ({"segment_column": None}, r"segment_column must be a string, got None"),
        ({"intended_split": {"control": 0.5, "b": 0}}, r"intended_split must map each variant"),
        ({"intended_split": [0.5, 0.5]}, r"intended_split must map .*got \[0.5, 0.5\]"),
        ({"srm_alpha": 0.0}, r"srm_alpha must be a probability between 0 and 1"),
        ({"hdi_prob": 1.0}, r"hdi_prob must be a probability between 0 and 1 .*got 1.0"),
        ({"prob_threshold": 0.5}, r"prob_threshold must be between 0.5 and 1 .*got 0.5"),
        ({"max_expected_loss": -0.1}, r"max_expected_loss must be a number >= 0, got -0.1"),
        ({"rope": float("nan")}, r"rope must be a number >= 0, got nan"),
        ({"conversion_prior_beta": 0}, r"conversion_prior_beta must be a positive number"),
        ({"decision_metric": "revenue"}, r"decision_metric must be one of conversion, revenue_per"),
        ({"value_likelihood": "normal"}, r"value_likelihood must be one of gamma, lognormal"),
        ({"non_inferiority": "yes"}, r"non_inferiority must be True or False, got 'yes'"),
    ],
)
def test_ab_test_params_refuse_bad_values(change, match):
    with pytest.raises(ValueError, match=rf"^AbTestParams: {match}"):
        ex.AbTestParams(**change)


# --------------------------------------------------------------------------- segments


def test_segments_attach_with_missing_labels_and_merging(tiny_tables, tmp_path):
    data = ex.load_experiment(tiny_tables, as_of=AS_OF)
    labels = pd.DataFrame({"customer_id": ["c1", "c3", "c4", "c2"], "tier": ["x", "x", "y", "z"]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    segmented, note = ex.with_segments(data, "tier", segment_path=tmp_path / "labels.csv")
    assert "labels.csv" in note
    seg = segmented.users.set_index("customer_id")["segment"]
    assert seg["c1"] == "x" and seg["c11"] == ex.MISSING_SEGMENT
    assert any("have no 'tier' label" in n for n in segmented.notes)
    merged = ex.attach_segments(
        data, pd.Series({"c1": "x", "c3": "y", "c4": "z"}, name="t"), max_segments=2
    )
    assert set(merged.users["segment"]) == {ex.MISSING_SEGMENT, "other"}
    skipped, why = ex.with_segments(data, "rfm_segment", processed_dir=tmp_path)
    assert skipped is data and "skipped" in why and "customer_features.parquet (absent)" in why
    features = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c6", "c11"],
            "rfm_segment": ["Champions", "Lost"] * 3,
        }
    )
    built_from = tmp_path / "raw"
    built_from.mkdir()
    stamp = catalog.Stamp("features", parse_as_of("2026-06-30"), catalog.fingerprint(built_from))
    settings = get_settings(root=tmp_path, data_dir=tmp_path / "data")
    catalog.write_table(settings, "customer_features", features, stamp, copies=[tmp_path])
    by_rfm, why = ex.with_segments(data, "rfm_segment", processed_dir=tmp_path)
    assert "customer_features.parquet" in why and by_rfm.segment_column == "rfm_segment"
    assert "after the first assignment (2026-03-01)" in why, "post-assignment labels are flagged"
    assert by_rfm.users.set_index("customer_id")["segment"]["c2"] == "Lost"
    same, why = ex.with_segments(data, "rfm_segment", processed_dir=tmp_path, source=built_from)
    assert same.segment_column == "rfm_segment", "the source the features were built from"
    (built_from / "orders.csv").write_text("changed after the features were built\n")
    stale, why = ex.with_segments(data, "rfm_segment", processed_dir=tmp_path, source=built_from)
    assert stale is data and "another data source" in why
    other_source = tmp_path / "other"
    other_source.mkdir()
    stale, why = ex.with_segments(data, "rfm_segment", processed_dir=tmp_path, source=other_source)
    assert stale is data and "another data source" in why
    with pytest.raises(ExperimentInputError, match=r"match none of the 6 assigned customers"):
        ex.attach_segments(data, pd.Series({"zz": "x"}, name="t"))
    with pytest.raises(ExperimentInputError, match=r"expected columns customer_id and 'nope'"):
        ex.with_segments(data, "nope", segment_path=tmp_path / "labels.csv")


# --------------------------------------------------------------------------- checks


def test_srm_is_flagged_against_the_intended_split():
    counts = pd.DataFrame({"variant": ["control", "b"], "users": [10_000, 10_500]})
    flagged = ex.srm_check(counts)
    expected_chi2 = (10_000 - 10_250) ** 2 / 10_250 * 2
    assert flagged["chi2"] == pytest.approx(expected_chi2)
    assert flagged["mismatch"] and flagged["p_value"] < 0.001
    alert = ex.srm_banner(flagged).data
    assert "Sample ratio mismatch" in alert and "workbench-alert" in alert, "an alert callout"
    assert "control: 10,000" in alert and "b: 10,500" in alert
    fine = ex.srm_check(pd.DataFrame({"variant": ["control", "b"], "users": [10_000, 10_050]}))
    assert not fine["mismatch"] and "passed" in ex.srm_banner(fine).data
    uneven = pd.DataFrame({"variant": ["control", "b"], "users": [8_000, 2_000]})
    assert not ex.srm_check(uneven, {"control": 80, "b": 20})["mismatch"], "weights are normalised"
    assert ex.srm_check(uneven)["mismatch"]
    with pytest.raises(ExperimentInputError, match=r"unknown: c\).*missing: b"):
        ex.srm_check(uneven, {"control": 0.5, "c": 0.5})


def test_frequentist_cross_check_matches_hand_computation():
    counts = pd.DataFrame(
        {"variant": ["control", "b"], "users": [1000, 1200], "conversions": [100, 150]}
    )
    row = ex.proportion_tests(counts, "control").loc["b"]
    p1, p2, pooled = 0.1, 0.125, 250 / 2200
    z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1200))
    half = 1.959964 * np.sqrt(p1 * (1 - p1) / 1000 + p2 * (1 - p2) / 1200)
    assert row["z"] == pytest.approx(z) and row["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert row["diff_ci_low"] == pytest.approx(0.025 - half, abs=1e-6)
    assert row["lift"] == pytest.approx(0.25)

    rng = np.random.default_rng(3)
    users = pd.DataFrame(
        {
            "variant": ["control"] * 300 + ["b"] * 200,
            "revenue": np.r_[rng.gamma(2, 10, 300), rng.gamma(2, 12, 200)],
        }
    )
    welch = ex.welch_tests(users, "control").loc["b"]
    reference = stats.ttest_ind(users.revenue[300:], users.revenue[:300], equal_var=False)
    assert welch["t"] == pytest.approx(reference.statistic)
    assert welch["p_value"] == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval(0.95)
    assert (welch["ci_low"], welch["ci_high"]) == pytest.approx((ci.low, ci.high))


def _per_user(n: int = 4000, effect: float = 2.0, seed: int = 5) -> ex.ExperimentData:
    rng = np.random.default_rng(seed)
    variant = np.where(np.arange(n) % 2 == 0, "control", "b")
    pre = rng.gamma(1.5, 40, n)
    revenue = 0.6 * pre + rng.normal(0, 15, n) + np.where(variant == "b", effect, 0.0)
    users = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "variant": variant,
            "revenue": revenue,
            "pre_spend": pre,
            "converted": revenue > 30,
        }
    )
    counts = users.groupby("variant").agg(
        users=("revenue", "size"), conversions=("converted", "sum"), revenue=("revenue", "sum")
    )
    counts = counts.loc[["control", "b"]].reset_index()
    return ex.ExperimentData("t", "control", ("control", "b"), counts, users=users)


def test_cuped_reduces_variance_by_the_squared_correlation():
    data = _per_user()
    result = ex.cuped(data)
    assert result.available
    corr = np.corrcoef(data.users["pre_spend"], data.users["revenue"])[0, 1]
    assert result.variance_reduction == pytest.approx(corr**2, rel=1e-6)
    assert result.variance_reduction > 0.5, "a strong covariate removes most of the noise"
    table = result.table.loc["b"]
    assert table.loc["cuped", "ci_width"] < 0.75 * table.loc["unadjusted", "ci_width"]
    assert table.loc["cuped", "ci_low"] < 2.0 < table.loc["cuped", "ci_high"], (
        "same effect, tighter"
    )
    no_pre = ex.ExperimentData(
        "t", "control", ("control", "b"), data.counts, users=data.users.assign(pre_spend=0.0)
    )
    assert (
        not ex.cuped(no_pre).available
        and "no customer has completed orders" in ex.cuped(no_pre).note
    )
    summary_only = ex.experiment_from_summary(data.counts)
    assert "per-user data" in ex.cuped(summary_only).note


# --------------------------------------------------------------------------- decision quantities


def _draws(params: dict[str, tuple[float, float]], n: int = 8000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({v: rng.beta(a, b, n) for v, (a, b) in params.items()})


def test_metric_table_quantities():
    draws = _draws({"control": (100, 900), "b": (120, 880), "c": (90, 910)})
    table = ex.metric_table(draws, "control", rope=0.05)
    assert table["prob_best"].sum() == pytest.approx(1.0)
    best = draws.max(axis=1)
    for v in draws.columns:
        assert table.loc[v, "expected_loss"] == pytest.approx((best - draws[v]).mean())
    lift = draws["b"] / draws["control"] - 1
    assert table.loc["b", "prob_beat_control"] == pytest.approx(
        (draws["b"] > draws["control"]).mean()
    )
    assert table.loc["b", "prob_in_rope"] == pytest.approx((lift.abs() <= 0.05).mean())
    assert table.loc["b", "prob_noninferior"] == pytest.approx((lift > -0.05).mean())
    assert (
        table.loc["b", "lift_hdi_low"]
        < table.loc["b", "lift_mean"]
        < table.loc["b", "lift_hdi_high"]
    )
    assert np.isnan(table.loc["control", "prob_beat_control"])
    assert (
        table.loc["b", "prob_best"]
        > table.loc["control", "prob_best"]
        > table.loc["c", "prob_best"]
    )


@pytest.mark.parametrize(
    ("params", "kwargs", "action", "words"),
    [
        (
            {"control": (100, 900), "b": (200, 800)},
            {},
            "ship",
            "beats control with probability 100.0%",
        ),
        (
            {"control": (100, 900), "b": (60, 940)},
            {},
            "keep_control",
            "control is at least as good",
        ),
        ({"control": (100, 900), "b": (105, 895)}, {}, "keep_testing", "below the 95% needed"),
        (
            {"control": (10_000, 90_000), "b": (10_000, 90_000)},
            {"rope": 0.05},
            "keep_control",
            "below the 5.0% that matters",
        ),
        (
            {"control": (10_000, 90_000), "b": (10_000, 90_000)},
            {"rope": 0.05, "non_inferiority": True, "max_expected_loss": 0.002},
            "ship",
            "no worse than control",
        ),
        (
            {"control": (100, 900), "b": (200, 800)},
            {"srm_mismatch": True},
            "keep_testing",
            "sample ratio",
        ),
        (
            {"control": (100, 900), "b": (200, 800)},
            {"diagnostics_ok": False},
            "keep_testing",
            "diagnostics",
        ),
        (
            {"control": (1000, 9000), "b": (1040, 8960)},
            {"prob_threshold": 0.6, "max_expected_loss": 1e-5},
            "keep_testing",
            "above the limit",
        ),
    ],
)
def test_decision_rule(params, kwargs, action, words):
    table = ex.metric_table(_draws(params), "control", rope=kwargs.get("rope", 0.01))
    decision = ex.decide(table, control="control", **kwargs)
    assert decision.action == action, decision.reason
    assert words in decision.reason and decision.variant == "b"
    assert decision.action in ex.ACTIONS


def test_decision_rule_rejects_bad_parameters():
    table = ex.metric_table(_draws({"control": (100, 900), "b": (120, 880)}), "control")
    with pytest.raises(ValueError, match=r"prob_threshold: expected a value between 0.5 and 1"):
        ex.decide(table, control="control", prob_threshold=1.5)
    with pytest.raises(ValueError, match=r"metric: expected one of conversion, revenue_per_user"):
        ex.decide(table, control="control", metric="clicks")
    with pytest.raises(ValueError, match=r"'revenue_per_user' has no posterior"):
        ex.decide(None, control="control", metric="revenue_per_user")


def test_beta_hdi_is_the_shortest_interval():
    for a, b in [(3, 40), (51, 951), (400, 600)]:
        low, high = ex.beta_hdi(a, b, 0.95)
        dist = stats.beta(a, b)
        assert dist.cdf(high) - dist.cdf(low) == pytest.approx(0.95, abs=1e-6)
        tails = np.linspace(0, 0.05, 2001)
        widths = dist.ppf(tails + 0.95) - dist.ppf(tails)
        assert high - low <= widths.min() + 1e-9
        assert dist.pdf(low) == pytest.approx(dist.pdf(high), rel=1e-3), (
            "equal density at both ends"
        )
    assert ex.beta_hdi(1, 500)[0] == 0.0, "a decreasing density's HDI starts at 0"


# --------------------------------------------------------------------------- models (PyMC)


@pytest.fixture(scope="module")
def three_arm(tmp_path_factory):
    """Three variants from an aggregated CSV, fitted once for the tests below."""
    path = tmp_path_factory.mktemp("ab") / "subject_lines.csv"
    path.write_text(
        "variant,users,conversions,revenue\n"
        'control,"4,000",400,"20,000"\n'
        'short,"4,000",440,"22,500"\n'
        'emoji,"4,050",520,"27,000"\n'
    )
    data = ex.load_experiment(None, as_of=AS_OF, summary_path=str(path))
    return data, ex.fit_variants(data, sampling=FAST)


def _quadrature(a: np.ndarray, b: np.ndarray, control: int = 0) -> dict[str, np.ndarray]:
    """P(beat control), P(best) and expected loss of independent Beta(a_j, b_j) arms by
    one-dimensional numerical integration (no draws): the reference the draws must meet."""
    grid = np.linspace(0, 1, 200_001)
    pdf = np.array([stats.beta(x, y).pdf(grid) for x, y in zip(a, b, strict=True)])
    cdf = np.array([stats.beta(x, y).cdf(grid) for x, y in zip(a, b, strict=True)])
    beat = np.array([np.trapezoid(pdf[control] * (1 - cdf[j]), grid) for j in range(len(a))])
    best = np.array(
        [
            np.trapezoid(pdf[j] * np.prod(np.delete(cdf, j, axis=0), axis=0), grid)
            for j in range(len(a))
        ]
    )
    expected_max = np.trapezoid(1 - np.prod(cdf, axis=0), grid)
    loss = expected_max - a / (a + b)
    return {"prob_beat_control": beat, "prob_best": best, "expected_loss": loss}


def test_conversion_posterior_is_the_closed_form_exactly(three_arm):
    data, post = three_arm
    assert post.idata is None and post.diagnostics["method"] == "exact", "no sampler ran"
    assert len(post.conversion) == FAST.draws * FAST.chains
    exact = ex.beta_posterior(data.counts).set_index("variant")
    for variant in data.variants:  # the draws come from Beta(1 + conversions, 1 + non-conv.)
        a, b = exact.loc[variant, ["alpha", "beta"]]
        ks = stats.kstest(post.conversion[variant], stats.beta(a, b).cdf)
        assert ks.pvalue > 0.001, f"{variant}: draws are not Beta({a}, {b}) (KS p={ks.pvalue})"
    table = ex.metric_table(post.conversion, data.control, exact=ex.beta_posterior(data.counts))
    for column in ("mean", "hdi_low", "hdi_high"):  # exactly the closed form, not estimates
        assert table[column].to_dict() == exact[column].to_dict()
    a, b = exact["alpha"].to_numpy(), exact["beta"].to_numpy()
    reference = _quadrature(a, b)
    n = len(post.conversion)
    for key, values in reference.items():
        for j, variant in enumerate(data.variants):
            if key == "prob_beat_control" and variant == data.control:
                continue
            got = table.loc[variant, key]
            if key == "expected_loss":  # Monte Carlo error of a mean of max − x
                draws = post.conversion.to_numpy()
                spread = (draws.max(axis=1) - draws[:, j]).std() / np.sqrt(n)
            else:
                spread = np.sqrt(values[j] * (1 - values[j]) / n)
            assert abs(got - values[j]) <= 4 * spread + 1e-9, (key, variant, got, values[j])
    with pytest.raises(KeyError, match="exact posterior lacks variant"):
        ex.metric_table(
            post.conversion, data.control, exact=exact.drop(index="emoji").reset_index()
        )


def test_three_variants_and_the_aggregated_summary(three_arm):
    data, post = three_arm
    assert data.variants == ("control", "emoji", "short")
    table = ex.metric_table(post.conversion, data.control, counts=data.counts)
    assert table["prob_best"].sum() == pytest.approx(1.0)
    assert table["prob_best"].idxmax() == "emoji"  # 12.8% vs 11.0% and 10.0%
    decision = ex.decide(table, control=data.control, max_expected_loss=0.002)
    assert (decision.action, decision.variant) == ("ship", "emoji"), decision.reason
    srm = ex.srm_check(data.counts)
    summary = ex.ab_summary(
        data,
        srm=srm,
        conversion=table,
        decision=decision,
        diagnostics={"variant_model": post.diagnostics},
        proportions=ex.proportion_tests(data.counts, data.control),
        cuped_result=ex.cuped(data),
    )
    summary = json.loads(json.dumps(summary))  # strict JSON
    assert summary["experiment"] == "subject_lines" and summary["control"] == "control"
    assert set(summary["srm"]) >= {"p_value", "mismatch"} and summary["srm"]["mismatch"] is False
    emoji = summary["metrics"]["conversion"]["emoji"]
    required = {
        "users",
        "conversions",
        "mean",
        "hdi_low",
        "hdi_high",
        "lift_mean",
        "prob_beat_control",
        "prob_best",
        "expected_loss",
    }
    assert required <= set(emoji) and emoji["users"] == 4050 and isinstance(emoji["users"], int)
    assert summary["metrics"]["revenue_per_user"]["emoji"]["observed"] == pytest.approx(
        27_000 / 4050
    )
    assert summary["decision"]["action"] == "ship" and summary["decision"]["variant"] == "emoji"
    assert summary["cuped"]["available"] is False and summary["segments"]["available"] is False


def test_hurdle_model_recovers_revenue_per_user():
    rng = np.random.default_rng(2)
    n = 3000
    variant = np.where(np.arange(n) % 2 == 0, "control", "b")
    p = np.where(variant == "b", 0.3, 0.2)
    converted = rng.random(n) < p
    value = rng.gamma(2.0, np.where(variant == "b", 30.0, 25.0))  # means 60 and 50
    users = pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "variant": variant,
            "converted": converted,
            "revenue": np.where(converted, value, 0.0),
        }
    )
    counts = (
        users.groupby("variant")
        .agg(
            users=("converted", "size"),
            conversions=("converted", "sum"),
            revenue=("revenue", "sum"),
        )
        .loc[["control", "b"]]
        .reset_index()
    )
    data = ex.ExperimentData("t", "control", ("control", "b"), counts, users=users)
    post = ex.fit_variants(data, sampling=ex.Sampling(draws=500, tune=500, chains=2, random_seed=4))
    table = ex.metric_table(post.revenue_per_user, "control", counts=counts)
    observed = counts.set_index("variant")["revenue"] / counts.set_index("variant")["users"]
    for v in ("control", "b"):  # the Gamma hurdle's posterior mean follows the observed mean
        assert table.loc[v, "hdi_low"] < observed[v] < table.loc[v, "hdi_high"]
        assert table.loc[v, "mean"] == pytest.approx(observed[v], rel=0.05)
    truth = (0.3 * 60) - (0.2 * 50)
    assert table.loc["b", "diff_hdi_low"] < truth < table.loc["b", "diff_hdi_high"]
    diagnostics = post.diagnostics  # short chains: a loose r-hat bound, no divergences
    assert diagnostics["max_r_hat"] < 1.05 and diagnostics["divergences"] == 0, diagnostics


def test_three_variant_segments_with_an_empty_cell_and_a_fixed_price():
    rng = np.random.default_rng(0)
    n = 3000
    segment = rng.choice(["s1", "s2", "s3"], n, p=[0.6, 0.35, 0.05])
    variant = rng.choice(["control", "b", "c"], n)
    variant = np.where((segment == "s3") & (variant == "c"), "b", variant)  # no s3 user in c
    p = 0.1 + 0.05 * (variant == "b") + 0.15 * ((variant == "c") & (segment == "s1"))
    converted = rng.random(n) < p
    users = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "variant": variant,
            "converted": converted,
            "revenue": np.where(converted, 9.99, 0.0),  # a subscription at one price
        }
    )
    counts = (
        users.groupby("variant")
        .agg(users=("converted", "size"), conversions=("converted", "sum"))
        .loc[["control", "b", "c"]]
        .reset_index()
        .assign(revenue=np.nan)
    )
    data = ex.ExperimentData("t", "control", ("control", "b", "c"), counts, users=users)
    data = ex.attach_segments(data, pd.Series(segment, index=users["customer_id"], name="tier"))
    quick = ex.Sampling(draws=300, tune=300, chains=2, random_seed=3)
    post = ex.fit_variants(data, sampling=quick)
    assert any("every converter spent 9.99" in n for n in post.notes)
    np.testing.assert_allclose(post.revenue_per_user, post.conversion * 9.99)
    assert post.idata is None and post.diagnostics["method"] == "exact", "nothing to sample"
    effects = ex.segment_effects(ex.fit_segments(data, sampling=quick))
    assert len(effects) == 6 and set(effects["variant"]) == {"b", "c"}
    empty = effects.set_index(["segment", "variant"]).loc[("s3", "c")]
    assert empty["users"] == 0 and empty["lift_hdi_high"] - empty["lift_hdi_low"] > 0.5
    by = effects.set_index(["segment", "variant"])["lift_mean"]
    assert by[("s1", "c")] > by[("s2", "c")], "c works in s1 only (planted +150 % vs 0 %)"
    fig = ex.forest_figure(effects)
    assert len(fig.data) == 2


def test_order_value_stats_by_hand():
    revenue = pd.Series([10.0, 20.0, 5.0, 40.0])
    variant = pd.Series(["a", "a", "b", "b"])
    table = ex.order_value_stats(revenue, variant, ["a", "b", "c"])
    assert table["converters"].tolist() == [2, 2, 0]
    assert table["revenue"].tolist() == [30.0, 45.0, 0.0]
    assert table.loc["a", "log_revenue"] == pytest.approx(np.log(200.0))
    assert table.loc["b", "log_mean"] == pytest.approx(np.log(200.0) / 2)
    assert table.loc["b", "log_ss"] == pytest.approx(2 * (np.log(40 / 5) / 2) ** 2)
    assert table.loc["c", ["log_mean", "log_ss"]].tolist() == [0.0, 0.0], "no converter: zeros"


@pytest.mark.parametrize("likelihood", ["gamma", "lognormal"])
def test_order_value_model_is_the_per_converter_likelihood(likelihood):
    """The sufficient-statistics model has exactly the log density of the per-converter
    model: priors plus the sum of every converter's log-likelihood (checked at two points)."""
    rng = np.random.default_rng(8)
    revenue = pd.Series(rng.gamma(2.0, 20.0, 40))
    variant = pd.Series(["control"] * 25 + ["b"] * 15)
    table = ex.order_value_stats(revenue, variant, ["control", "b", "empty"])
    table.attrs.update(
        pooled_mean=float(revenue.mean()), pooled_log_mean=float(np.log(revenue).mean())
    )
    priors = ex.Priors(value_likelihood=likelihood, value_mean_sd=0.7, value_shape_sd=1.3)
    model = ex.order_value_model(table, priors)
    logp = model.compile_logp(jacobian=False)
    codes = variant.map({"control": 0, "b": 1}).to_numpy()
    x = revenue.to_numpy()
    for seed in (1, 2):
        point = np.random.default_rng(seed).normal(0, 0.5, size=(2, 3))
        if likelihood == "gamma":
            log_mean = np.log(revenue.mean()) + point[0]
            log_shape = point[1]
            values = {"log_order_value": log_mean, "log_value_shape": log_shape}
            shape, mean = np.exp(log_shape), np.exp(log_mean)
            expected = stats.norm(np.log(revenue.mean()), 0.7).logpdf(log_mean).sum()
            expected += stats.norm(0, 1.3).logpdf(log_shape).sum()
            expected += stats.gamma(shape[codes], scale=mean[codes] / shape[codes]).logpdf(x).sum()
        else:
            mu = np.log(revenue).mean() + point[0]
            sigma = np.exp(point[1])
            values = {"log_value_mu": mu, "log_value_sigma_log__": np.log(sigma)}
            expected = stats.norm(np.log(revenue).mean(), 0.7).logpdf(mu).sum()
            expected += stats.halfnorm(scale=1.3).logpdf(sigma).sum()
            expected += stats.lognorm(sigma[codes], scale=np.exp(mu[codes])).logpdf(x).sum()
        assert logp(values) == pytest.approx(expected, rel=1e-9, abs=1e-8)


def test_sampler_output_is_logged_not_printed(capfd, caplog):
    import pymc as pm

    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
    quick = ex.Sampling(draws=50, tune=50, chains=1, random_seed=1, sampler="pymc")
    with caplog.at_level(logging.DEBUG, logger="workbench.experiments.sampler"):
        idata = ex.sample(model, quick, label="toy model")
    out, err = capfd.readouterr()
    assert out == "" and err == "", "nothing from the sampler reaches the notebook"
    assert idata.posterior["x"].shape == (1, 50)
    logged = [r.getMessage() for r in caplog.records]
    assert any("toy model" in m and "pymc" in m for m in logged), logged
    assert ex.nuts_sampler("pymc") == "pymc"
    assert ex.nuts_sampler("auto") in ("pymc", "nutpie")
    with pytest.raises(ValueError, match="sampler: expected one of auto, pymc, nutpie"):
        ex.Sampling(sampler="stan")


# --------------------------------------------------------------------------- segments before the test


def _thin_segments_data() -> ex.ExperimentData:
    """Users in four segments; conversions per segment and arm (control, b): big 30/40,
    mid 12/15, tiny 1/2, small 4/3 (tiny and small together: 5/5)."""
    rows = []
    for segment, n, conv in [("big", 200, (30, 40)), ("mid", 100, (12, 15)),
                             ("tiny", 10, (1, 2)), ("small", 20, (4, 3))]:  # fmt: skip
        for arm, converted in zip(("control", "b"), conv, strict=True):
            for i in range(n):
                rows.append((f"{segment}-{arm}-{i}", arm, i < converted, segment))
    users = pd.DataFrame(rows, columns=["customer_id", "variant", "converted", "label"])
    users["revenue"] = 0.0
    counts = (
        users.groupby("variant")
        .agg(users=("converted", "size"), conversions=("converted", "sum"))
        .loc[["control", "b"]]
        .reset_index()
        .assign(revenue=np.nan)
    )
    return ex.ExperimentData("t", "control", ("control", "b"), counts, users=users)


def test_thin_segments_are_pooled_and_said_so_calmly():
    data = _thin_segments_data()
    labels = data.users.set_index("customer_id")["label"].rename("tier")
    pooled = ex.attach_segments(data, labels, min_conversions=4)
    segment = pooled.users.groupby("label")["segment"].first()
    assert segment.to_dict() == {"big": "big", "mid": "mid", "small": "other", "tiny": "other"}
    assert pooled.notes[-1].startswith("2 segment(s) with fewer than 4 conversions in an arm")
    assert "60 users" in pooled.notes[-1] and "enough data" in pooled.notes[-1]
    # the pool has 5 and 5 conversions: still thin at 10 -> left out of the per-segment view
    strict = ex.attach_segments(data, labels, min_conversions=10)
    assert strict.users.groupby("label")["segment"].first().isna().to_dict() == {
        "big": False, "mid": False, "small": True, "tiny": True
    }  # fmt: skip
    assert "they count in every overall number" in strict.notes[-1]
    post = ex.fit_segments(strict, sampling=ex.Sampling(draws=200, tune=200, chains=2))
    assert post.segments == ["big", "mid"], "the thin pool is not modelled"
    assert int(post.cells["users"].sum()) == 600
    untouched = ex.attach_segments(data, labels)  # min_conversions=0 keeps every segment
    assert set(untouched.users["segment"]) == {"big", "mid", "small", "tiny"}
    with pytest.raises(ExperimentInputError, match="min_conversions: expected 0 or more, got -1"):
        ex.attach_segments(data, labels, min_conversions=-1)


def test_segments_are_built_as_of_the_first_assignment(tiny_tables):
    data = ex.load_experiment(tiny_tables, as_of=AS_OF)
    assert ex.first_assignment_day(data) == pd.Timestamp("2026-03-01", tz="UTC")
    labels, note = ex.pre_assignment_labels(tiny_tables, data, "rfm_segment")
    assert labels.attrs["as_of"] == pd.Timestamp("2026-03-01", tz="UTC")
    assert "as of 2026-03-01, the day of the first assignment" in note
    # c1 bought before 2026-03-01 (o3, o4); c3 only on 2026-03-02 (after): No Purchase
    assert labels["c1"] != "No Purchase" and labels["c3"] == "No Purchase"
    rfm = ex.pre_assignment_labels(tiny_tables, data, "frequency")[0]
    assert rfm["c1"] == 2, "two completed orders before the first assignment, none after"
    segmented, why = ex.with_segments(data, "rfm_segment", canonical=tiny_tables)
    assert why.startswith("segments: 'rfm_segment' as of 2026-03-01")
    assert segmented.users.set_index("customer_id")["segment"]["c3"] == "No Purchase"
    later, why = ex.with_segments(
        data, "rfm_segment", canonical=tiny_tables, segments_as_of="as_of", processed_dir=None
    )
    assert later is data and "no processed folder" in why
    with pytest.raises(ExperimentInputError, match="segments_as_of: expected one of"):
        ex.with_segments(data, "rfm_segment", canonical=tiny_tables, segments_as_of="today")


# --------------------------------------------------------------------------- applicability


def test_unanalysable_reason_says_why_nothing_can_be_analysed_yet(tiny_tables):
    assignments = tiny_tables["experiment_assignments"]
    ready = ex.unanalysable_reason(tiny_tables, as_of=AS_OF)
    assert ready == "", "e1 and e_old have closed windows by 2026-06-30"
    early = parse_as_of("2025-12-01")
    assert ex.unanalysable_reason(assignments, as_of=early) == (
        "no experiment has an assignment before 2025-12-01"
    )
    assert ex.unanalysable_reason(tiny_tables, as_of=parse_as_of("2026-03-05"), window_days=14) == (
        "no 14-day conversion window of experiment 'e1' is over by 2026-03-05 "
        "(first assignment 2026-03-01)"
    )
    assert ex.unanalysable_reason(assignments, as_of=early, experiment_id="e1") == (
        "experiment 'e1' has no assignment before 2025-12-01"
    )
    assert ex.unanalysable_reason(assignments, as_of=early, experiment_id="nope") == "", (
        "an unknown experiment is an error the loader reports, not a reason to skip"
    )
    orders_only = {"orders": tiny_tables["orders"]}
    assert ex.unanalysable_reason(orders_only, as_of=AS_OF) == (
        "needs an experiment_assignments table or summary_path"
    )
    # the default choice is the latest experiment that had started by as_of
    later = pd.concat(
        [assignments, assignments.assign(experiment_id="e_next", assigned_at=_ts("2026-07-02"))]
    )
    data = ex.load_experiment({**tiny_tables, "experiment_assignments": later}, as_of=AS_OF)
    assert data.experiment_id == "e1"
    assert any("2 experiments had started by 2026-06-30" in n for n in data.notes)


# --------------------------------------------------------------------------- names as data

HOSTILE = {
    "control": "control",
    "b": 'a//b "quoted" </script><img src=x onerror=alert(1)>',
    "c": "🎉 " + "x" * 500,
}


def _hostile_tables(tiny_tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    assignments = tiny_tables["experiment_assignments"].copy()
    assignments["variant"] = assignments["variant"].str.strip().map(lambda v: HOSTILE.get(v, v))
    assignments["experiment_id"] = assignments["experiment_id"].replace({"e1": "exp <b>//</b> 1"})
    return {**tiny_tables, "experiment_assignments": assignments}


def test_names_with_any_characters_work_through_the_analysis(tiny_tables):
    tables = _hostile_tables(tiny_tables)
    data = ex.load_experiment(tables, as_of=AS_OF)
    assert data.experiment_id == "exp <b>//</b> 1" and data.variants == ("control", HOSTILE["b"])
    post = ex.fit_variants(data, sampling=ex.Sampling(draws=200, tune=200, chains=2))
    conversion = ex.metric_table(
        post.conversion, data.control, counts=data.counts, exact=ex.beta_posterior(data.counts)
    )
    decision = ex.decide(conversion, control=data.control, max_expected_loss=1.0,
                         prob_threshold=0.51)  # fmt: skip
    srm = ex.srm_check(data.counts)
    labels = pd.Series({"c1": "seg/1 <i>", "c2": "seg/1 <i>", "c3": "😀//", "c4": "😀//"})
    segmented = ex.attach_segments(data, labels.rename("tier"))
    effects = ex.segment_effects(
        ex.fit_segments(segmented, sampling=ex.Sampling(draws=100, tune=100, chains=2))
    )
    summary = ex.ab_summary(
        segmented,
        srm=srm,
        conversion=conversion,
        decision=decision,
        diagnostics={"conversion_model": ex.exact_diagnostics("exact")},
        segment_table=effects,
    )
    summary = json.loads(json.dumps(summary))
    assert HOSTILE["b"] in summary["metrics"]["conversion"], "the JSON keeps the names as they are"
    assert "😀//" in summary["segments"]["effects"]
    shown = "\n".join(
        [
            ex.srm_banner(srm).data,
            ex.decision_banner(decision).data,
            ex.interpretation(conversion, data.control),
            ex.notes_markdown([f"variant {HOSTILE['b']}"]),
            ex.counts_view(data).to_html(),
            ex.metric_view(conversion).to_html(),
            ex.segment_view(effects).to_html(),
        ]
    )
    assert "<script>" not in shown and "</script>" not in shown and "<img" not in shown
    assert "&lt;/script&gt;" in shown and "&lt;img src=x onerror=alert\\(1\\)&gt;" in shown
    for figure in (
        ex.posterior_figure(post.conversion, title="t", x_title="x"),
        ex.lift_figure(post.conversion, data.control),
        ex.forest_figure(effects, overall=conversion),
        ex.cumulative_conversion_figure(data.users),
    ):
        text = figure.to_json()
        assert "<img" not in text and "<i>" not in text and "x" * 61 not in text
    headline = ex.headline(summary)
    assert HOSTILE["b"] in headline.sentence or decision.action != "ship"


def test_names_from_data_become_safe_mlflow_keys(tiny_tables):
    """Contract 5: the summary keeps the names; the keys logged to MLflow are sanitised by
    tracking.safe_key where the summary is logged (a // in a variant must not fail)."""
    from workbench import tracking

    if not hasattr(tracking, "summary_metrics"):
        pytest.skip("tracking.safe_key / summary_metrics land with the runner's branch (p2-runner)")
    from mlflow.utils.validation import _validate_metric_name

    data = ex.load_experiment(_hostile_tables(tiny_tables), as_of=AS_OF)
    post = ex.fit_variants(data, sampling=ex.Sampling(draws=100, tune=100, chains=2))
    conversion = ex.metric_table(post.conversion, data.control, counts=data.counts)
    summary = ex.ab_summary(
        data,
        srm=ex.srm_check(data.counts),
        conversion=conversion,
        decision=ex.decide(conversion, control=data.control),
        diagnostics={},
    )
    metrics = tracking.summary_metrics(json.loads(json.dumps(summary)))
    assert len(metrics) >= 2 * 10, "every variant's numbers are logged"
    for key in metrics:
        _validate_metric_name(key)  # raises on a key MLflow refuses (a//b, too long, <, …)


# --------------------------------------------------------------------------- headline


def test_headline_leads_with_the_decision():
    counts = pd.DataFrame(
        {"variant": ["control", "b"], "users": [4000, 4000], "conversions": [400, 520]}
    )
    data = ex.experiment_from_summary(counts, experiment_id="subject")
    post = ex.fit_variants(data, sampling=ex.Sampling(draws=2000, chains=2))
    conversion = ex.metric_table(post.conversion, "control", counts=counts,
                                 exact=ex.beta_posterior(counts))  # fmt: skip
    decision = ex.decide(conversion, control="control")
    srm = ex.srm_check(counts)
    summary = ex.ab_summary(data, srm=srm, conversion=conversion, decision=decision,
                            diagnostics={})  # fmt: skip
    head = ex.headline(summary)
    assert decision.action == "ship" and head.status == "ok"
    assert head.sentence.startswith("Ship b: b beats control with probability 100.0%")
    items = {i.label: i for i in head.items}
    assert items["decision"].value == "Ship b"
    assert items["P(beat control)"].kind == "pct" and items["P(beat control)"].value > 0.999
    assert items["lift"].value == pytest.approx(0.3, abs=0.01)
    assert items["users"].formatted() == "8,000"
    loss = summary["metrics"]["conversion"]["b"]["expected_loss_per_1000_users"]
    assert items["expected loss per 1,000 users"].value == loss
    mismatch = {**summary, "srm": {**summary["srm"], "mismatch": True}}
    alarmed = ex.headline(mismatch)
    assert alarmed.status == "alert" and alarmed.sentence.startswith("Sample ratio mismatch")


# --------------------------------------------------------------------------- demo ground truth


@pytest.mark.slow
def test_demo_planted_effects_are_recovered(demo_dir):
    truth = json.loads((demo_dir / "_truth" / "experiment.json").read_text())
    tables = load_tables(demo_dir, tables=["orders", "experiment_assignments"])
    data = ex.load_experiment(tables, as_of=AS_OF)
    assert data.experiment_id == truth["experiment_id"] and data.control == truth["control"]
    assert data.counts.set_index("variant")["users"].to_dict() == truth["users"]
    assert not ex.srm_check(data.counts, truth["intended_split"])["mismatch"]
    post = ex.fit_variants(data, sampling=FAST)
    conv = ex.metric_table(post.conversion, data.control)
    rev = ex.metric_table(post.revenue_per_user, data.control)
    t = truth["treatment"]
    report = {
        "abs": (truth["absolute_lift"], conv.loc[t, ["diff_hdi_low", "diff_hdi_high"]].tolist()),
        "rel": (truth["relative_lift"], conv.loc[t, ["lift_hdi_low", "lift_hdi_high"]].tolist()),
        "rev_abs": (
            truth["revenue_absolute_lift"],
            rev.loc[t, ["diff_hdi_low", "diff_hdi_high"]].tolist(),
        ),
        "rev_rel": (
            truth["revenue_relative_lift"],
            rev.loc[t, ["lift_hdi_low", "lift_hdi_high"]].tolist(),
        ),
    }
    for name, (planted, (low, high)) in report.items():
        assert low < planted < high, f"planted {name} lift {planted} outside the 95% HDI: {report}"
    assert ex.decide(conv, control=data.control).action == "ship"
    assert ex.cuped(data).variance_reduction > 0, "pre-assignment spend predicts revenue"

    defaults = ex.AbTestParams()  # the stage's default settings: 1,000 draws x 4 chains
    segmented, note = ex.with_segments(
        data,
        "persona",
        segment_path=demo_dir / "_truth" / "customers.parquet",
        min_conversions=defaults.min_segment_conversions,
    )
    assert "customers.parquet" in note
    seg = ex.fit_segments(segmented, sampling=defaults.sampling)
    assert seg.diagnostics["divergences"] == 0 and seg.diagnostics["ok"], seg.diagnostics
    effects = ex.segment_effects(seg)
    effects = effects[effects["variant"] == t].set_index("segment")  # the planted arm
    planted = pd.Series(truth["planted_relative_lift"])
    top, flat = planted.idxmax(), planted.idxmin()  # bargain_hunter (+40%), loyal_high_value (0%)
    found = effects["lift_mean"]
    assert found[top] - found[flat] > 0.15, (
        f"posterior mean lifts by persona: {found.round(3).to_dict()}"
    )
    i, j = seg.segments.index(top), seg.segments.index(flat)
    arm, control = seg.variants.index(t), seg.variants.index(data.control)
    lift = seg.rates[:, :, arm] / seg.rates[:, :, control] - 1
    assert (lift[:, i] > lift[:, j]).mean() > 0.95, "the planted persona gap is credible"
    rho = stats.spearmanr(planted[found.index], found).statistic
    assert rho >= 0.6, (
        f"planted vs posterior persona lifts: Spearman {rho:.2f}; {found.round(3).to_dict()}"
    )


@pytest.mark.slow
def test_demo_ab_run_has_no_divergences_at_default_settings(demo_dir):
    """The stage's defaults on the demo: revenue model and the segment model over RFM
    segments as of the first assignment (thin ones pooled) sample cleanly."""
    defaults = ex.AbTestParams()
    data = ex.load_experiment(demo_dir, as_of=AS_OF)
    post = ex.fit_variants(data, priors=defaults.priors, sampling=defaults.sampling)
    assert post.diagnostics["divergences"] == 0 and post.diagnostics["ok"], post.diagnostics
    segmented, note = ex.with_segments(
        data,
        defaults.segment_column,
        canonical=demo_dir,
        min_conversions=defaults.min_segment_conversions,
        max_segments=defaults.max_segments,
    )
    first = ex.first_assignment_day(data).date()
    assert note.startswith(f"segments: 'rfm_segment' as of {first}"), note
    assert "after the first assignment" not in note, "pre-treatment segments need no caveat"
    cells = segmented.users.dropna(subset=["segment"]).pivot_table(
        index="segment", columns="variant", values="converted", aggfunc="sum", observed=True
    )
    assert cells.min().min() >= defaults.min_segment_conversions, "no thin segment is shown"
    seg = ex.fit_segments(segmented, priors=defaults.priors, sampling=defaults.sampling)
    assert seg.diagnostics["divergences"] == 0 and seg.diagnostics["ok"], seg.diagnostics


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_ab_test_notebook_runs(small_demo_dir, run_stages):
    result = run_stages(small_demo_dir, ["ab_test"], ["draws=300", "tune=300", "chains=2"])
    stage = result.stages[0]
    assert stage.status == "ok", stage.error
    summary = stage.summary
    truth = json.loads((small_demo_dir / "_truth" / "experiment.json").read_text())
    assert summary["experiment"] == truth["experiment_id"] and summary["control"] == "control"
    assert summary["srm"]["mismatch"] is False and 0 <= summary["srm"]["p_value"] <= 1
    for metric in ("conversion", "revenue_per_user"):
        block = summary["metrics"][metric][truth["treatment"]]
        assert {
            "users",
            "mean",
            "hdi_low",
            "hdi_high",
            "lift_mean",
            "prob_beat_control",
            "prob_best",
            "expected_loss",
        } <= set(block)
        assert block["users"] == truth["users"][truth["treatment"]]
    exact = ex.beta_posterior(
        pd.DataFrame(
            {
                "variant": list(truth["users"]),
                "users": [summary["metrics"]["conversion"][v]["users"] for v in truth["users"]],
                "conversions": [
                    summary["metrics"]["conversion"][v]["conversions"] for v in truth["users"]
                ],
            }
        )
    ).set_index("variant")
    for variant in truth["users"]:  # the reported posterior is the closed form
        reported = summary["metrics"]["conversion"][variant]
        assert reported["mean"] == pytest.approx(exact.loc[variant, "mean"], rel=1e-12)
        assert reported["hdi_low"] == pytest.approx(exact.loc[variant, "hdi_low"], rel=1e-12)
    assert summary["decision"]["action"] in ex.ACTIONS and summary["decision"]["reason"]
    assert summary["cuped"]["available"] is True
    segments = summary["segments"]
    assert segments["available"] is True and segments["column"] == "rfm_segment"
    assert re.search(r"as of \d{4}-\d\d-\d\d, the day of the first assignment", segments["note"])
    for model in ("revenue_model", "segment_model"):
        assert summary["diagnostics"][model]["divergences"] == 0, summary["diagnostics"][model]
    headline = summary["headline"]
    assert headline["items"][0]["label"] == "decision" and headline["sentence"]
    assert {i["label"] for i in headline["items"]} >= {"P(beat control)", "users"}
    html = (stage.notebook.parent / "ab_test.html").read_text()
    assert "Initializing NUTS" not in html and "Sequential sampling" not in html, (
        "sampler output stays out of the report"
    )


@pytest.mark.notebooks
@pytest.mark.slow
def test_ab_test_is_not_applicable_before_the_experiment(small_demo_dir, run_stages):
    from workbench.stage import Stage

    if not hasattr(Stage, "not_applicable"):
        pytest.skip("Stage.not_applicable (contract 1) lands with the runner's branch (p2-runner)")
    result = run_stages(small_demo_dir, ["ab_test"], as_of="2026-03-31")
    stage = result.stages[0]
    assert stage.status == "not_applicable", (stage.status, stage.error)
    assert stage.reason == "no experiment has an assignment before 2026-03-31"
