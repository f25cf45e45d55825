"""Stage 05 A/B analysis: inputs, checks, models against closed forms, decisions, demo truth."""

from __future__ import annotations

import ast
import json
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
    assert "SAMPLE RATIO MISMATCH" in ex.srm_banner(flagged)
    fine = ex.srm_check(pd.DataFrame({"variant": ["control", "b"], "users": [10_000, 10_050]}))
    assert not fine["mismatch"] and "passed" in ex.srm_banner(fine)
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


def test_conversion_posterior_agrees_with_the_closed_form(three_arm):
    data, post = three_arm
    exact = ex.beta_posterior(data.counts).set_index("variant")
    table = ex.metric_table(post.conversion, data.control)
    # tolerance: 0.1 posterior sd for the mean, 0.35 sd for HDI ends (2,000 draws; measured
    # worst cases over six seeds: 0.05 and 0.22)
    for variant in data.variants:
        sd = exact.loc[variant, "sd"]
        assert abs(table.loc[variant, "mean"] - exact.loc[variant, "mean"]) < 0.1 * sd
        assert abs(table.loc[variant, "hdi_low"] - exact.loc[variant, "hdi_low"]) < 0.35 * sd
        assert abs(table.loc[variant, "hdi_high"] - exact.loc[variant, "hdi_high"]) < 0.35 * sd
    assert post.diagnostics["ok"], post.diagnostics["problems"]
    assert post.revenue_per_user is None and "aggregated" in post.notes[0]


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
    assert post.diagnostics["max_r_hat"] < 1.05, "a fixed price must not stall the sampler"
    effects = ex.segment_effects(ex.fit_segments(data, sampling=quick))
    assert len(effects) == 6 and set(effects["variant"]) == {"b", "c"}
    empty = effects.set_index(["segment", "variant"]).loc[("s3", "c")]
    assert empty["users"] == 0 and empty["lift_hdi_high"] - empty["lift_hdi_low"] > 0.5
    by = effects.set_index(["segment", "variant"])["lift_mean"]
    assert by[("s1", "c")] > by[("s2", "c")], "c works in s1 only (planted +150 % vs 0 %)"
    fig = ex.forest_figure(effects)
    assert len(fig.data) == 2


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

    segmented, note = ex.with_segments(
        data, "persona", segment_path=demo_dir / "_truth" / "customers.parquet"
    )
    assert "customers.parquet" in note
    seg = ex.fit_segments(
        segmented, sampling=ex.Sampling(draws=500, tune=500, chains=2, random_seed=11)
    )
    effects = ex.segment_effects(seg).set_index("segment")
    planted = pd.Series(truth["planted_relative_lift"])
    top, flat = planted.idxmax(), planted.idxmin()  # bargain_hunter (+40%), loyal_high_value (0%)
    found = effects["lift_mean"]
    assert found[top] - found[flat] > 0.15, (
        f"posterior mean lifts by persona: {found.round(3).to_dict()}"
    )
    i, j = seg.segments.index(top), seg.segments.index(flat)
    lift = seg.rates[:, :, 1] / seg.rates[:, :, 0] - 1
    assert (lift[:, i] > lift[:, j]).mean() > 0.95, "the planted persona gap is credible"
    rho = stats.spearmanr(planted[found.index], found).statistic
    assert rho >= 0.6, (
        f"planted vs posterior persona lifts: Spearman {rho:.2f}; {found.round(3).to_dict()}"
    )
    assert seg.diagnostics["divergences"] == 0


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_ab_test_notebook_runs(small_demo_dir, run_stages):
    personas = small_demo_dir / "_truth" / "customers.parquet"
    result = run_stages(
        small_demo_dir,
        ["ab_test"],
        ["draws=300", "tune=300", "chains=2", "segment_column=persona", f"segment_path={personas}"],
    )
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
    assert summary["decision"]["action"] in ex.ACTIONS and summary["decision"]["reason"]
    assert summary["cuped"]["available"] is True
    assert summary["segments"]["available"] is True and len(summary["segments"]["effects"]) == 6
    assert (stage.notebook.parent / "ab_test.html").exists()
