"""Segmentation: the k rule, sampled silhouette, input handling, profiles, names, stability,
the demo personas and the stage notebook."""

from __future__ import annotations

import json
import logging

import nbformat
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from workbench import segmentation as S
from workbench.features import build_features
from workbench.schema import parse_as_of

AS_OF = parse_as_of("2026-06-30")


# --------------------------------------------------------------------------- tiny frames


def _groups(n_per: int = 40, seed: int = 0) -> pd.DataFrame:
    """Three well-separated kinds of customer, plus two who never bought."""
    rng = np.random.default_rng(seed)
    centres = [  # purchase rate, basket, open rate, share_food, share_toys
        (30.0, 20.0, 0.7, 0.9, 0.1),
        (2.0, 200.0, 0.1, 0.1, 0.9),
        (8.0, 60.0, 0.4, 0.5, 0.5),
    ]
    rows = []
    for g, (rate, basket, opens, food, toys) in enumerate(centres):
        for i in range(n_per):
            rows.append(
                {
                    "customer_id": f"C{g}{i:03d}",
                    "frequency": 3,
                    "monetary_total": rate * basket,
                    "purchase_rate_per_year": rate * rng.uniform(0.9, 1.1),
                    "avg_order_value": basket * rng.uniform(0.9, 1.1),
                    "email_open_rate": float(np.clip(opens + rng.normal(0, 0.03), 0, 1)),
                    "share_food": food,
                    "share_toys": toys,
                    "group": g,
                    "rfm_segment": "Champions" if g == 0 else "Lost",
                }
            )
    rows += [
        {
            "customer_id": f"N{i}",
            "frequency": 0,
            "monetary_total": 0.0,
            "purchase_rate_per_year": 0.0,
            "avg_order_value": np.nan,
            "email_open_rate": np.nan,
            "share_food": np.nan,
            "share_toys": np.nan,
            "group": -1,
            "rfm_segment": "No Purchase",
        }
        for i in range(2)
    ]
    return pd.DataFrame(rows)


TINY_FEATURES = ("purchase_rate_per_year", "avg_order_value", "email_open_rate", "share_*")


def _tiny_params(**kw) -> S.SegmentationParams:
    base = {"features": TINY_FEATURES, "k_min": 2, "k_max": 4, "n_init": 2, "random_state": 0}
    base["n_threads"] = 1  # OpenMP threads spin against each other on a busy shared machine
    return S.SegmentationParams(**{**base, **kw})


# --------------------------------------------------------------------------- choosing k


def _scores(sil: list[float], share: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"k": range(2, 2 + len(sil)), "silhouette": sil, "min_cluster_share": share}
    )


def test_rule_takes_best_silhouette_among_large_enough_solutions():
    # k=5 has the best silhouette but a 2 % cluster; k=4 is the best of the rest
    scores = _scores([0.20, 0.25, 0.31, 0.40, 0.30], [0.40, 0.20, 0.10, 0.02, 0.06])
    choice = S.choose_k(scores, min_cluster_share=0.05)
    assert (choice.k, choice.chosen_by) == (4, "rule")
    assert "best silhouette (0.310)" in choice.reason and "at least 5%" in choice.reason
    assert S.choose_k(scores, min_cluster_share=0.01).k == 5  # a lower bar admits k=5


def test_rule_ties_go_to_the_smaller_k_and_nan_is_ignored():
    scores = _scores([0.3, np.nan, 0.3], [0.3, 0.3, 0.3])
    assert S.choose_k(scores, 0.05).k == 2
    assert S.choose_k(scores, 0.05, tolerance=0).k == 2


def test_rule_treats_silhouettes_within_the_tolerance_as_a_tie_and_takes_the_smaller_k():
    # k = 2..6; k=6 has the best silhouette, k=4 and k=5 are within 0.01 of it, k=3 is not
    scores = _scores([0.150, 0.205, 0.212, 0.213, 0.2171], [0.4, 0.3, 0.2, 0.1, 0.06])
    choice = S.choose_k(scores, 0.05, tolerance=0.01)
    assert (choice.k, choice.best_k, choice.ties) == (4, 6, (4, 5, 6))
    assert "smallest k whose silhouette (0.212) is within 0.01 of the best (0.217 at k = 6)" in (
        choice.reason
    )
    assert S.choose_k(scores, 0.05, tolerance=0).k == 6  # the plain best silhouette
    assert S.choose_k(scores, 0.05, tolerance=0.02).k == 3  # 0.205 >= 0.2171 - 0.02
    # the tie is among the eligible solutions only: k=4 has a 2 % cluster
    small = _scores([0.150, 0.205, 0.212, 0.213, 0.2171], [0.4, 0.3, 0.02, 0.1, 0.06])
    assert S.choose_k(small, 0.05, tolerance=0.01).k == 5
    # the default is the stage's: SegmentationParams().silhouette_tolerance
    assert S.choose_k(scores, 0.05).k == 4 and S.SegmentationParams().silhouette_tolerance == 0.01
    with pytest.raises(ValueError, match=r"tolerance must be in \[0, 0.5\), got -0.1"):
        S.choose_k(scores, 0.05, tolerance=-0.1)


def test_rule_without_any_large_enough_solution_says_so(caplog):
    scores = _scores([0.2, 0.5], [0.01, 0.02])
    with caplog.at_level(logging.WARNING, logger="workbench"):
        choice = S.choose_k(scores, 0.05)
    assert choice.k == 3 and "No solution has a smallest cluster" in choice.reason
    assert "No solution" in caplog.text


def test_parameter_overrides_the_rule():
    scores = _scores([0.2, 0.5, 0.1], [0.3, 0.3, 0.3])
    choice = S.choose_k(scores, 0.05, k=4)
    assert (choice.k, choice.chosen_by) == (4, "parameter")
    with pytest.raises(ValueError, match=r"k=7 was not fitted; fitted k: \[2, 3, 4\]"):
        S.choose_k(scores, 0.05, k=7)
    with pytest.raises(ValueError, match=r"columns \['min_cluster_share'\] are missing"):
        S.choose_k(scores.drop(columns="min_cluster_share"))


def test_parameters_are_validated_with_the_name_and_value():
    with pytest.raises(ValueError, match="k_max \\(3\\) must be at least k_min \\(5\\)"):
        S.SegmentationParams(k_min=5, k_max=3)
    with pytest.raises(ValueError, match="k must be 0 .* or an int >= 2, got 1"):
        S.SegmentationParams(k=1)
    with pytest.raises(ValueError, match="min_cluster_share must be in"):
        S.SegmentationParams(min_cluster_share=0.7)
    with pytest.raises(ValueError, match=r"silhouette_tolerance must be a number in .*got '0.01'"):
        S.SegmentationParams(silhouette_tolerance="0.01")
    with pytest.raises(ValueError, match=r"silhouette_tolerance must be .*got 0.6"):
        S.SegmentationParams(silhouette_tolerance=0.6)
    assert S.SegmentationParams(silhouette_tolerance=0).silhouette_tolerance == 0.0
    assert S.SegmentationParams(features=()).features == S.DEFAULT_FEATURES
    # a notebook's list (papermill passes lists) becomes a tuple of trimmed names
    assert S.SegmentationParams(features=[" recency_days", "share_*"]).features == (
        "recency_days",
        "share_*",
    )
    assert S.SegmentationParams(k=12).k_values()[-1] == 12
    assert S.SegmentationParams(k_min=2, k_max=10).stability_ks(6) == [5, 6, 7]
    assert S.SegmentationParams(stability_all_k=True).stability_ks(6) == list(range(2, 11))


# --------------------------------------------------------------------------- silhouette


def test_sampled_silhouette_is_close_to_the_full_computation():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 3, size=(4, 5))
    Z = np.vstack([c + rng.normal(0, 1.5, size=(1000, 5)) for c in centres])
    labels = np.repeat(np.arange(4), 1000)
    full = silhouette_score(Z, labels)
    for seed in range(3):
        sampled = S.sampled_silhouette(Z, labels, sample_size=1500, random_state=seed)
        assert abs(sampled - full) < 0.02, f"sampled {sampled:.4f} vs full {full:.4f} (seed {seed})"
    assert S.sampled_silhouette(Z, labels, 10_000, 0) == pytest.approx(full)  # no sampling
    assert np.isnan(S.sampled_silhouette(Z, np.zeros(4000, dtype=int), 100, 0))


def test_sample_rows_is_seeded_and_sorted():
    a, b = S.sample_rows(1000, 10, 5), S.sample_rows(1000, 10, 5)
    assert (a == b).all() and (np.diff(a) > 0).all() and len(a) == 10
    assert (S.sample_rows(5, 10, 0) == np.arange(5)).all()


# --------------------------------------------------------------------------- inputs


def test_transforms_by_name_and_shape():
    assert S.transform_for("share_toys") == "sqrt"
    assert S.transform_for("cart_abandonment_rate") == "clip01"
    assert S.transform_for("monetary_total") == "log1p"
    assert S.transform_for("recency_days") == "log1p"
    assert S.transform_for("purchase_rate_per_year") == "log1p"
    heavy = pd.Series(np.r_[np.zeros(50), 1.0, 2.0, 500.0])
    assert S.transform_for("loyalty_points", heavy) == "log1p"
    assert S.transform_for("age", pd.Series([20.0, 30, 40, 50])) == "none"
    assert S.transform_for("balance", pd.Series(np.r_[-5.0, np.zeros(50), 900.0])) == "none"


def test_columns_resolve_names_and_patterns_with_clear_errors():
    frame = _groups(3)
    cols, absent = S.resolve_columns(frame, ["avg_order_value", "share_*", "web_*"])
    assert cols == ["avg_order_value", "share_food", "share_toys"]
    assert absent["column"].tolist() == ["web_*"]
    with pytest.raises(ValueError, match="column 'web_sessions' is not in the feature table"):
        S.resolve_columns(frame, ["web_sessions"])
    with pytest.raises(ValueError, match="column 'rfm_segment' holds str values"):
        S.resolve_columns(frame, ["rfm_segment"])


def test_default_features_skip_what_the_source_cannot_provide(caplog):
    # orders only: no e-mail, web or category columns, and no revenue column either
    frame = _groups().drop(
        columns=["email_open_rate", "share_food", "share_toys", "monetary_total"]
    )
    frame["recency_days"] = np.where(
        frame["frequency"] > 0, frame["purchase_rate_per_year"], np.nan
    )
    with caplog.at_level(logging.INFO, logger="workbench"):
        result = S.segment_customers(frame, S.SegmentationParams(k_max=4, n_init=2))
    assert result.inputs.columns == ["purchase_rate_per_year", "avg_order_value", "recency_days"]
    report = result.inputs.report.set_index("column")
    assert report.loc["email_open_rate", "status"] == "absent"
    assert report.loc["share_*", "status"] == "absent"
    assert "default feature 'web_sessions' is not in the feature table; skipped" in caplog.text
    overview = S.cluster_overview(frame, result.segments, result.inputs.columns)
    assert overview["revenue_share"].isna().all() and (overview["top categories"] == "").all()
    with pytest.raises(ValueError, match="column 'email_open_rate' is not in the feature table"):
        S.prepare_inputs(frame, S.SegmentationParams(features=("email_open_rate",)))


def test_customers_without_purchases_are_kept_out_of_the_clustering_but_in_the_segments():
    frame = _groups()
    inputs = S.prepare_inputs(frame, _tiny_params())
    assert len(inputs.X) == 120 and not inputs.customer_ids.str.startswith("N").any()
    assert "2 of 122 customers have no completed order" in inputs.notes[0]
    result = S.segment_customers(frame, _tiny_params())
    seg = result.segments
    assert seg["customer_id"].tolist() == frame["customer_id"].tolist()
    assert (seg.loc[seg["customer_id"].str.startswith("N"), "cluster"] == -1).all()
    assert set(seg.loc[seg["cluster"] == -1, "cluster_name"]) == {S.NO_HISTORY}
    everyone = S.prepare_inputs(frame, _tiny_params(purchasers_only=False))
    assert len(everyone.X) == 122


def test_missing_values_are_imputed_and_reported(caplog):
    frame = _groups()
    frame.loc[frame.index[:10], "email_open_rate"] = np.nan  # 10 buyers without e-mail data
    with caplog.at_level(logging.INFO, logger="workbench"):
        inputs = S.prepare_inputs(frame, _tiny_params())
    row = inputs.report.set_index("column").loc["email_open_rate"]
    assert row["missing"] == 10 and row["status"] == "used"
    assert "imputed with the column median (of 120 customers): email_open_rate 10 " in caplog.text
    result = S.segment_customers(frame, _tiny_params(k=3))
    assert adjusted_rand_score(frame["group"][:120], result.labels) == pytest.approx(1.0)
    assert (result.pipeline.predict(inputs.X) == result.labels).all()  # NaN rows predicted too


def test_zero_variance_and_empty_columns_are_dropped_with_a_message(caplog):
    frame = _groups().assign(constant=1.0, empty=np.nan)
    params = _tiny_params(features=(*TINY_FEATURES, "constant", "empty"))
    with caplog.at_level(logging.WARNING, logger="workbench"):
        inputs = S.prepare_inputs(frame, params)
    report = inputs.report.set_index("column")
    assert report.loc["constant", "status"] == "dropped"
    assert "zero variance: every known value is 1" in report.loc["constant", "note"]
    assert report.loc["empty", "note"] == "every value is missing"
    assert "Column constant dropped: zero variance" in caplog.text
    assert "constant" not in inputs.columns and "empty" not in inputs.columns
    with pytest.raises(ValueError, match="no usable feature column: constant: zero variance"):
        S.prepare_inputs(frame, _tiny_params(features=("constant", "empty")))


def test_out_of_range_values_are_counted_and_clipped():
    frame = _groups()
    frame.loc[0, "share_food"] = 1.7  # a return booked against another order
    frame.loc[1, "avg_order_value"] = -5.0
    inputs = S.prepare_inputs(frame, _tiny_params())
    report = inputs.report.set_index("column")
    assert report.loc["share_food", "out_of_domain"] == 1
    assert report.loc["avg_order_value", "out_of_domain"] == 1
    assert any("share_food 1 outside [0, 1]" in n for n in inputs.notes)
    Z = S.make_pipeline(inputs.transforms, 2)[:-1].fit_transform(inputs.X)
    assert np.isfinite(Z).all()


def test_infinite_values_fail_naming_the_table_column_and_customers():
    frame = _groups()
    frame.loc[[3, 7], "avg_order_value"] = [np.inf, -np.inf]  # an infinite amount upstream
    frame.loc[5, "monetary_total"] = np.inf
    with pytest.raises(ValueError) as caught:
        S.segment_customers(frame, _tiny_params())
    message = str(caught.value)
    assert message.startswith("customer_features: column 'avg_order_value' is infinite for 2 ")
    assert "customer(s): C0003, C0007" in message
    assert "column 'monetary_total' is infinite for 1 customer(s): C0005" in message
    assert "input='clean'" in message
    # many customers: ten named, the rest counted
    frame = _groups()
    frame.loc[:11, "purchase_rate_per_year"] = np.inf
    with pytest.raises(ValueError, match=r"for 12 customer\(s\): C0000, .*C0009 and 2 more"):
        S.prepare_inputs(frame, _tiny_params())
    # a customer left out of the clustering (no purchase) does not matter; NaN is imputed
    frame = _groups()
    frame.loc[frame["customer_id"] == "N0", "purchase_rate_per_year"] = np.inf
    frame.loc[0, "email_open_rate"] = np.nan
    assert len(S.prepare_inputs(frame, _tiny_params()).X) == 120


def test_inputs_are_not_modified():
    frame = _groups()
    frame.loc[frame.index[:5], "email_open_rate"] = np.nan
    before = frame.copy(deep=True)
    result = S.segment_customers(frame, _tiny_params())
    S.bootstrap_stability(
        result.inputs.X,
        result.fits.pipelines,
        result.fits.labels,
        ks=[3],
        n_bootstrap=2,
        n_threads=1,
    )
    S.cluster_overview(frame, result.segments, result.inputs.columns)
    X_before = result.inputs.X.copy()
    S.fit_k_range(result.inputs.X, result.inputs.transforms, _tiny_params(), ks=[2])
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(result.inputs.X, X_before)


def test_too_few_customers_or_too_many_clusters_fail_clearly():
    frame = _groups(1)  # 3 buyers
    with pytest.raises(ValueError, match=r"\[3, 4\] cluster\(s\) requested but only 3 customers"):
        S.segment_customers(frame, _tiny_params())
    with pytest.raises(ValueError, match="only 0 customer"):
        S.prepare_inputs(frame[frame["frequency"] == 0], _tiny_params())


# --------------------------------------------------------------------------- the pipeline


def test_pipeline_clusters_are_numbered_by_size_and_predict_agrees():
    frame = pd.concat([_groups(60).iloc[:60], _groups(30).iloc[30:90]], ignore_index=True)
    result = S.segment_customers(frame, _tiny_params(k=3))
    sizes = np.bincount(result.labels)
    assert (np.diff(sizes) <= 0).all(), f"cluster 0 must be the largest: {sizes}"
    assert (result.pipeline.predict(result.inputs.X) == result.labels).all()
    assert [name for name, _ in result.pipeline.steps] == ["prepare", "scale", "kmeans"]
    scores = result.fits.scores
    assert scores["k"].tolist() == [2, 3, 4]
    assert {"silhouette", "inertia", "calinski_harabasz", "davies_bouldin"} <= set(scores)
    assert scores.set_index("k")["silhouette"].idxmax() == 3


def test_stability_and_hierarchical_agree_on_clear_groups():
    frame = _groups()
    result = S.segment_customers(frame, _tiny_params())
    assert result.k == 3 and result.choice.chosen_by == "rule"
    stability = S.bootstrap_stability(
        result.inputs.X,
        result.fits.pipelines,
        result.fits.labels,
        ks=[2, 3],
        n_bootstrap=4,
        random_state=1,
    )
    assert stability.ari(3) == pytest.approx(1.0)
    assert len(stability.pairs) == 2 * 6 and (stability.pairs["common_rows"] > 0).all()
    ward = S.hierarchical_comparison(result.fits.Z, result.labels, 3, sample_size=90)
    assert ward.ari == pytest.approx(1.0) and len(ward.sample) == 90
    assert ward.linkage[-3, 2] < ward.cut_height < ward.linkage[-2, 2]


def test_checks_use_the_results_own_parameters(tmp_path):
    """The one-call checks give what the explicit calls give with the same settings."""
    frame = _groups()
    result = S.segment_customers(frame, _tiny_params(n_bootstrap=4, hierarchical_sample=90))
    stability = S.stability_check(result)
    explicit = S.bootstrap_stability(
        result.inputs.X,
        result.fits.pipelines,
        result.fits.labels,
        ks=result.params.stability_ks(result.k),
        n_bootstrap=4,
        pool_size=result.params.stability_sample,
        random_state=0,
        n_threads=1,
    )
    pd.testing.assert_frame_equal(stability.by_k, explicit.by_k)
    assert list(stability.by_k["k"]) == [2, 3, 4] and stability.ari(3) == pytest.approx(1.0)
    off = S.segment_customers(frame, _tiny_params(n_bootstrap=1))
    assert S.stability_check(off) is None, "below 2 refits the check is off"
    ward = S.hierarchical_check(result)
    assert len(ward.sample) == 90 and ward.k == 3 and ward.ari == pytest.approx(1.0)
    # personas: none beside a source without ground truth; read from _truth/ when there
    assert S.persona_check(result.segments, tmp_path) is None
    (tmp_path / "_truth").mkdir()
    personas = "p" + result.segments["cluster"].astype("str")  # planted = the clusters found
    truth = pd.DataFrame({"customer_id": result.segments["customer_id"], "persona": personas})
    truth.to_parquet(tmp_path / "_truth" / "customers.parquet", index=False)
    found = S.persona_check(result.segments, tmp_path)
    assert found["ari"] == pytest.approx(1.0) and found["customers"] == 120


# --------------------------------------------------------------------------- profiles and names


def test_sizes_and_value_index_by_hand():
    sizes = S.cluster_sizes(np.array([0, 0, 0, 1]), np.array([10.0, 10.0, 10.0, 70.0]))
    assert sizes["customers"].tolist() == [3, 1]
    assert sizes["revenue_share"].tolist() == pytest.approx([0.3, 0.7])
    assert sizes["value_index"].tolist() == pytest.approx([0.4, 2.8])


def test_standardised_differences_by_hand():
    Z = np.array([[0.0], [2.0], [4.0], [6.0]])  # mean 3, sd sqrt(5)
    diff = S.standardised_differences(Z, np.array([0, 0, 1, 1]), ["x"])
    assert diff.loc[0, "x"] == pytest.approx(-2 / np.sqrt(5))
    assert diff.loc[1, "x"] == pytest.approx(2 / np.sqrt(5))


def test_names_are_readable_and_unique():
    diffs = pd.DataFrame(
        {
            "purchase_rate_per_year": [1.5, 1.4, -1.0],
            "email_open_rate": [0.9, 0.8, 0.0],
            "share_grocery": [0.1, 0.0, 0.05],
            "avg_order_value": [0.5, -0.6, 0.0],
            "recency_days": [0.0, 0.0, 0.1],
        }
    )
    names = S.cluster_names(diffs, {0: 2.0, 1: 2.0, 2: 0.2}, max_terms=3)
    assert names[0] == "High value · frequent · e-mail engaged · big baskets"
    assert names[1] == "High value · frequent · e-mail engaged · small baskets"
    assert names[2] == "Low value · infrequent"
    twins = S.cluster_names(pd.DataFrame({"x_feature": [1.0, 1.0]}))
    assert twins == {0: "High x feature (1)", 1: "High x feature (2)"}
    assert S.cluster_names(pd.DataFrame({"x": [0.01]})) == {0: "Typical customers"}


def test_headline_gives_k_silhouette_and_the_named_segments():
    frame = _groups()
    result = S.segment_customers(frame, _tiny_params(k=3))
    summary = S.segmentation_summary(result)
    headline = S.headline(summary)
    items = {i.label: (i.value, i.kind) for i in headline.items}
    assert items["segments"] == (3, "int") and items["customers clustered"] == (120, "int")
    assert items["silhouette"] == (summary["silhouette"], "number")
    assert items["largest segment"] == (pytest.approx(40 / 120), "pct")
    assert "stability (ARI)" not in items  # not computed
    assert headline.sentence.startswith("3 segments of 120 customers with a purchase history")
    assert ", k set by the parameter" in headline.sentence
    for name in result.names.values():
        assert f"{name} 40" in headline.sentence
    assert S.NO_HISTORY not in headline.sentence and headline.status == "ok"
    shaky = S.headline({**summary, "stability_ari": 0.41})
    assert shaky.status == "warning" and "agree only at ARI 0.41" in shaky.sentence
    assert S.headline({**summary, "rule": "No solution has a smallest cluster …"}).status == (
        "warning"
    )


def test_figures_escape_segment_names():
    frame = _groups()
    result = S.segment_customers(frame, _tiny_params(k=3))
    names = {c: f'<img src=x onerror="alert({c})">' for c in result.names}
    figure = S.sizes_figure(result.sizes, names)
    labels = {str(y) for trace in figure.data for y in trace.y}
    assert labels == {f"{c}: &lt;img src=x onerror=&quot;alert({c})&quot;&gt;" for c in names}
    heatmap = S.profile_heatmap(result.differences, names)
    assert all("<img" not in str(y) for y in heatmap.data[0].y)


def test_segments_table_keeps_everyone():
    seg = S.segments_table(
        pd.Series(["a", "b", "c"]), pd.Series(["c", "a"]), np.array([0, 1]), {0: "Big", 1: "Small"}
    )
    assert seg.to_dict("list") == {
        "customer_id": ["a", "b", "c"],
        "cluster": [1, -1, 0],
        "cluster_name": ["Small", S.NO_HISTORY, "Big"],
    }
    with pytest.raises(ValueError, match="appears twice"):
        S.segments_table(pd.Series(["a"]), pd.Series(["a", "a"]), np.array([0, 1]), {})


def test_cluster_detail_and_overview():
    frame = _groups()
    result = S.segment_customers(frame, _tiny_params())
    detail = S.cluster_detail(frame, result.segments, 0, result.inputs.columns)
    assert detail.customers == 40
    assert list(detail.categories.columns) == ["cluster", "overall", "lift"]
    assert detail.categories["cluster"].sum() == pytest.approx(1.0)
    assert detail.rfm_mix["cluster"].sum() == pytest.approx(1.0)
    overview = S.cluster_overview(frame, result.segments, result.inputs.columns)
    assert overview["cluster"].tolist() == [0, 1, 2, -1]
    assert overview["customers"].sum() == len(frame)
    assert overview.loc[3, "main RFM segments"] == "No Purchase 100%"
    with pytest.raises(ValueError, match="cluster 9: no customer"):
        S.cluster_detail(frame, result.segments, 9, result.inputs.columns)


def test_explorer_widget_builds_and_switches():
    from workbench.widgets import cluster_explorer

    frame = _groups()
    result = S.segment_customers(frame, _tiny_params())
    box = cluster_explorer(frame, result.segments, result.inputs.columns)
    dropdown = box.children[0]
    assert [v for _, v in dropdown.options] == [0, 1, 2, -1]
    dropdown.value = -1  # re-renders without error
    assert "No purchase history (2)" in dropdown.options[-1][0]


def test_explorer_is_one_compact_table_in_batch_runs(monkeypatch, capsys):
    """workbench run sets WORKBENCH_BATCH=1: one table, a row per cluster, no live widget
    (a headless widget cell can hang nbclient) and nothing printed per cluster."""
    from workbench.widgets import cluster_explorer

    frame = _groups()
    result = S.segment_customers(frame, _tiny_params())
    monkeypatch.setenv("WORKBENCH_BATCH", "1")
    shown = cluster_explorer(frame, result.segments, result.inputs.columns)
    page = shown.to_html()
    assert page.count("<table") == 1 and "JupyterLab" in page
    assert page.count("<tr>") == 1 + 4, "a header and a row per cluster (3 and no-purchase)"
    assert capsys.readouterr().out == ""


def test_persona_agreement_excludes_duplicates():
    segments = pd.DataFrame({"customer_id": list("abcdef"), "cluster": [0, 0, 1, 1, -1, 1]})
    truth = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "persona": list("xxyyzx"),
            "is_duplicate_of": [None] * 5 + ["a"],
        }
    )
    found = S.persona_agreement(segments, truth)
    assert found["ari"] == pytest.approx(1.0) and found["customers"] == 4
    assert found["excluded_duplicates"] == 1
    assert found["ari_all"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- files


def test_segments_output_keeps_the_three_columns_and_names_what_is_missing():
    seg = S.segments_table(pd.Series(["a", "b"]), pd.Series(["a"]), np.array([0]), {0: "One"})
    out = S.segments_output(seg.assign(extra=1))
    assert list(out.columns) == ["customer_id", "cluster", "cluster_name"]
    assert out["cluster_name"].tolist() == ["One", "No purchase history"]
    with pytest.raises(ValueError, match=r"columns \['cluster_name'\] are missing"):
        S.segments_output(seg.drop(columns="cluster_name"))


# --------------------------------------------------------------------------- demo personas


@pytest.fixture(scope="module")
def demo_features(demo_dir) -> pd.DataFrame:
    return build_features(demo_dir, AS_OF)


@pytest.fixture(scope="module")
def demo_result(demo_features) -> S.SegmentationResult:
    # default features and rule; one thread only keeps a busy shared machine fast
    return S.segment_customers(demo_features, S.SegmentationParams(n_threads=1))


@pytest.mark.slow
def test_default_segments_recover_the_planted_personas(demo_result, demo_dir):
    truth = pd.read_parquet(demo_dir / "_truth" / "customers.parquet")
    found = S.persona_agreement(demo_result.segments, truth)
    assert demo_result.choice.chosen_by == "rule"
    assert found["ari"] >= 0.5, (
        f"ARI {found['ari']:.3f} against the 6 personas at the rule's k={demo_result.k} "
        "(default features, duplicates excluded) must be at least 0.5"
    )
    assert found["customers"] > 15_000


@pytest.mark.slow
def test_demo_segments_are_named_sized_and_stable(demo_result, demo_features):
    names = list(demo_result.names.values())
    assert len(set(names)) == len(names) and S.NO_HISTORY not in names
    assert len(demo_result.segments) == len(demo_features)
    assert (
        demo_result.fits.scores["min_cluster_share"]
        .loc[demo_result.fits.scores["k"] == demo_result.k]
        .item()
        >= 0.05
    ), "the rule must respect min_cluster_share"
    stability = S.bootstrap_stability(
        demo_result.inputs.X,
        demo_result.fits.pipelines,
        demo_result.fits.labels,
        ks=[demo_result.k],
        n_bootstrap=4,
        pool_size=5_000,
        n_threads=1,
    )
    assert stability.ari(demo_result.k) >= 0.7, "bootstrap refits should agree (ARI >= 0.7)"
    ward = S.hierarchical_comparison(demo_result.fits.Z, demo_result.labels, demo_result.k)
    assert ward.ari >= 0.4, f"Ward vs k-means ARI {ward.ari:.3f} should be at least 0.4"


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_segmentation_notebook(run_stages, small_demo_dir, isolated_settings):
    overrides = [
        "features.input=raw",  # no audit in this run: the source as delivered, asked for
        "segmentation.k_max=7",
        "segmentation.n_bootstrap=3",
        "segmentation.stability_sample=1500",
        "segmentation.silhouette_sample=1500",
        "segmentation.n_threads=1",
    ]
    result = run_stages(small_demo_dir, ["features", "segmentation"], overrides)
    statuses = {s.name: (s.status, s.error) for s in result.stages}
    assert statuses["segmentation"][0] == "ok", statuses
    summary = json.loads((result.output_dir / "segmentation.json").read_text())
    assert summary["chosen_by"] == "rule" and 2 <= summary["k"] <= 7
    items = {i["label"]: i["value"] for i in summary["headline"]["items"]}
    assert items["segments"] == summary["k"] and items["silhouette"] == summary["silhouette"]
    assert summary["headline"]["sentence"].startswith(f"{summary['k']} segments of ")
    executed = nbformat.read(str(result.output_dir / "03_segmentation.ipynb"), as_version=4)
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    assert not [o for o in last.outputs if o.output_type == "execute_result"], "no raw dict"
    assert set(summary["silhouette_by_k"]) == {str(k) for k in range(2, 8)}
    assert summary["silhouette"] == summary["silhouette_by_k"][str(summary["k"])]
    assert sum(summary["cluster_sizes"].values()) == summary["customers"]
    assert len(summary["cluster_sizes"]) == summary["k"] + 1  # + No purchase history
    assert 0 < summary["stability_ari"] <= 1 and 0 <= summary["hierarchical_ari"] <= 1
    assert summary["persona_ari"] is not None and summary["model_version"] >= 1
    for folder in (isolated_settings.processed_dir, result.output_dir):
        segments = pd.read_parquet(folder / "segments.parquet")
        assert list(segments.columns) == ["customer_id", "cluster", "cluster_name"]
        assert len(segments) == summary["customers"]
    import mlflow.sklearn

    from workbench import tracking

    client = tracking.client(isolated_settings)
    name = tracking.model_name(isolated_settings.for_source(small_demo_dir), S.MODEL_NAME)
    assert name.endswith(".customer-segmenter"), "registered in the source's project"
    version = client.get_model_version(name, str(summary["model_version"]))
    model = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    example = pd.DataFrame({c: [1.0, 2.0] for c in summary["features"]})
    assert set(model.predict(example)) <= set(range(summary["k"]))
