"""Customer 360: per-customer data access, audiences, waterfall, the widget and notebook."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from workbench import churn, customer360, widgets
from workbench.customer360 import Customer360, CustomerNotFound
from workbench.schema import parse_as_of

AS_OF = "2026-06-30"
CUTOFF = parse_as_of(AS_OF)  # parsed once, as a stage does
FAST = churn.ChurnParams(cv_folds=0, n_estimators=80, early_stopping_rounds=15)
REPO = Path(__file__).resolve().parents[1]


def _ts(values: list[str]) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True)


# --------------------------------------------------------------------------- units


def test_recent_orders_by_hand():
    orders = pd.DataFrame(
        {
            "order_id": ["A", "B", "C", "D", "E"],
            "customer_id": ["C1", "C1", "C1", "C2", "C1"],
            "ordered_at": _ts(
                ["2026-01-05", "2026-03-01", "2026-06-29", "2026-06-01", "2026-07-02"]
            ),
            "amount": [10.0, 20.0, 30.0, 5.0, 99.0],
            "status": ["completed", "returned", "completed", "completed", "completed"],
        }
    )
    lines = pd.DataFrame(
        {
            "order_id": ["C", "C", "B"],
            "quantity": [1.0, 2.0, 1.0],
            "category": ["books", "toys", "books"],
        }
    )
    before = orders.copy()
    out = customer360.recent_orders(orders, "C1", CUTOFF, n=2, lines=lines)
    assert out["order_id"].tolist() == ["C", "B"], "newest first, none on or after as_of"
    assert out["items"].tolist() == [3.0, 1.0]
    assert out["categories"].tolist() == ["books, toys", "books"]
    pd.testing.assert_frame_equal(orders, before)
    assert len(customer360.recent_orders(orders, "C1", None)) == 4
    with pytest.raises(ValueError, match="n must be a positive"):
        customer360.recent_orders(orders, "C1", CUTOFF, n=0)
    with pytest.raises(ValueError, match=r"orders: column\(s\) amount missing"):
        customer360.recent_orders(orders.drop(columns="amount"), "C1", CUTOFF)


def test_engagement_table_by_hand():
    email = pd.DataFrame(
        {
            "customer_id": ["C1"] * 5 + ["C2"],
            "event_type": ["sent", "sent", "open", "open", "open", "open"],
            "occurred_at": _ts(
                [
                    "2026-06-25",  # 5 days before as_of
                    "2026-02-01",
                    "2026-06-10",  # 20 days
                    "2026-04-15",  # 76 days
                    "2026-07-01",  # after as_of: left out
                    "2026-06-25",
                ]
            ),
        }
    )
    web = pd.DataFrame(
        {
            "customer_id": ["C1", None],
            "event_type": ["page_view", "page_view"],
            "occurred_at": _ts(["2025-01-01", "2026-06-01"]),
        }
    )
    out = customer360.engagement_table(email, web, "C1", CUTOFF).set_index(["channel", "event"])
    assert out.loc[("e-mail", "open")][["last_30d", "last_90d", "all"]].tolist() == [1, 2, 2]
    assert out.loc[("e-mail", "sent")][["last_30d", "last_90d", "all"]].tolist() == [1, 1, 2]
    assert out.loc[("web", "page_view")][["last_30d", "all"]].tolist() == [0, 1]
    assert out.loc[("e-mail", "open"), "last_at"] == pd.Timestamp("2026-06-10", tz="UTC")
    empty = customer360.engagement_table(None, None, "C1", CUTOFF)
    assert empty.empty and "last_30d" in empty.columns


def _score(p: float, band: str = "high") -> pd.Series:
    return pd.Series(
        {
            "customer_id": "C1",
            "churn_probability": p,
            "risk_band": band,
            "top_reasons": ["no purchase for 200 days (raises risk)"],
            "reason_codes": ["recency_days:+"],
        }
    )


def _with(row: pd.Series, **values) -> pd.Series:
    out = row.copy()
    for key, value in values.items():
        out[key] = value
    return out


def test_audiences_follow_the_winback_rule():
    row = pd.Series(
        {
            "customer_id": "C1",
            "rfm_segment": "At Risk",
            "engagement_tier": "Low",
            "lifecycle_stage": "at-risk",
            "email_opt_in": True,
            "email_unsubscribed": False,
        }
    )
    cluster = pd.Series({"customer_id": "C1", "cluster": 2, "cluster_name": "Lapsing"})
    table = customer360.audience_table(row, score=_score(0.8), cluster=cluster).set_index(
        "audience"
    )
    assert bool(table.loc["win-back e-mail", "member"])
    for name in (
        "RFM segment: At Risk",
        "engagement tier: Low",
        "lifecycle stage: at-risk",
        "cluster 2: Lapsing",
        "churn risk: high",
    ):
        assert bool(table.loc[name, "member"]), name

    def winback(row_, score_, **kw):
        t = customer360.audience_table(row_, score=score_, **kw).set_index("audience")
        return bool(t.loc["win-back e-mail", "member"]), t.loc["win-back e-mail", "detail"]

    assert winback(row, _score(0.6, "medium")) == (False, "churn probability 0.60 below 0.7")
    assert winback(row, _score(0.6, "medium"), target_threshold=0.5)[0]
    assert winback(_with(row, email_unsubscribed=True), _score(0.9)) == (False, "unsubscribed")
    assert winback(_with(row, email_opt_in=False), _score(0.9)) == (
        False,
        "did not opt in to e-mail",
    )
    assert winback(row.drop(["email_opt_in", "email_unsubscribed"]), _score(0.9)) == (
        False,
        "no e-mail consent recorded",
    )
    member, detail = winback(row, None)
    assert not member and detail.startswith("not scored")


def _tiny_view(**kw) -> Customer360:
    features = pd.DataFrame(
        {
            "customer_id": ["C0001", "C0002", "AbC-9"],
            "email": ["a@x.com", "b@x.com", "c@x.com"],
            "first_name": ["Ann", "Bob", "Cy"],
            "recency_days": [10.0, 200.0, None],
            "frequency": [5, 1, 0],
            "rfm_segment": ["Champions", "At Risk", "No Purchase"],
        }
    )
    return Customer360(features=features, as_of=CUTOFF, **kw)


def test_view_from_frames_resolves_ids_and_drops_personal_columns():
    scores = pd.DataFrame(
        {"customer_id": ["C0002"], "churn_probability": [0.9], "risk_band": ["high"]}
    )
    view = _tiny_view(scores=scores)
    assert "email" not in view.features.columns and "first_name" not in view.features.columns
    assert view.resolve(" abc-9 ") == "AbC-9", "case and surrounding spaces do not matter"
    assert view.suggestions(2) == ["C0002"], "highest churn risk first; only scored ids"
    with pytest.raises(CustomerNotFound, match=r"'C0003' is not in the feature table \(as of "):
        view.resolve("C0003")
    with pytest.raises(CustomerNotFound, match=r"closest: C000[12], C000[12]$"):
        view.resolve("C000")
    with pytest.raises(CustomerNotFound, match="type a customer id"):
        view.resolve("")
    profile = view.profile("c0001")
    assert profile.customer_id == "C0001" and profile.churn is None
    assert profile.rfm.set_index("feature").loc["frequency", "value"] == 5
    assert any("was not scored by the churn stage" in n for n in profile.notes)
    assert profile.orders.empty and profile.waterfall is None
    scored = view.profile("C0002")
    assert scored.churn["probability"] == 0.9 and scored.headline["risk_band"] == "high"
    with pytest.raises(ValueError, match="no 'customer_id' column"):
        Customer360(features=pd.DataFrame({"id": ["x"]}))


def test_rfm_table_and_drop_personal():
    row = pd.Series({"customer_id": "C1", "recency_days": float("nan"), "r_score": pd.NA})
    table = customer360.rfm_table(row, {"recency_days": "days since"})
    assert table.values.tolist() == [["recency_days", None, "days since"], ["r_score", None, ""]]
    frame = pd.DataFrame({"customer_id": ["C1"], "Last_Name": ["X"], "email_opens": [3]})
    assert customer360.drop_personal(frame).columns.tolist() == ["customer_id", "email_opens"]


# --------------------------------------------------------------------------- small demo


@pytest.fixture(scope="module")
def project(small_demo_dir, tmp_path_factory):
    """Features, segments, churn scores and a champion for the small demo, built in
    process (the stages' own functions) into an isolated data tree and MLflow store."""
    import mlflow

    from workbench import catalog, segmentation, tracking
    from workbench.canonical import open_tables
    from workbench.features import FEATURE_TABLES, build_features
    from workbench.settings import get_settings

    base = tmp_path_factory.mktemp("c360")
    settings = get_settings(root=base, data_dir=base / "data")
    stamp = catalog.Stamp("features", CUTOFF, catalog.fingerprint(small_demo_dir))
    uri = f"sqlite:///{base / 'mlruns' / 'mlflow.db'}"
    (base / "mlruns").mkdir()
    inputs = open_tables(small_demo_dir, tables=FEATURE_TABLES)
    table = build_features(inputs, CUTOFF)
    catalog.write_table(
        settings, "customer_features", table, stamp.with_extra(read_from=inputs.source)
    )
    result = segmentation.segment_customers(
        table,
        segmentation.SegmentationParams(k=3, k_min=3, k_max=3, n_bootstrap=0, n_init=1),
    )
    catalog.write_table(settings, "segments", segmentation.segments_output(result.segments), stamp)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("c360-test")
    data = churn.prepare_data(small_demo_dir, CUTOFF, FAST)
    models = churn.train_models(data.training, FAST)
    name = tracking.model_name(settings.for_source(small_demo_dir), "churn-classifier")
    decoy = "another-source-123abc.churn-classifier"  # another project in the same store
    with mlflow.start_run():
        for _ in range(2):
            churn.log_churn_model(models.xgboost, data.scoring, registered_model=decoy)
        churn.promote(mlflow.MlflowClient(), decoy, "2", who="test", why="decoy champion")
        decision = churn.register_and_gate(
            models, data, registered_model=name, as_of=CUTOFF, params=FAST
        )
    model, version, _ = churn.scoring_model(name, decision, list(data.scoring.columns))
    scores, _ = churn.score_customers(model, data.scoring, FAST, meanings=data.meanings)
    catalog.write_table(
        settings,
        "churn_scores",
        scores,
        stamp.with_extra(model=name, version=version, target_threshold=0.65),
    )
    return {
        "data_root": str(base / "data"),
        "tracking_uri": uri,
        "scores": scores,
        "data": data,
        "model_name": name,
    }


@pytest.fixture(scope="module")
def view(project, small_demo_dir):
    return customer360.open_customer360(
        data_root=project["data_root"],
        tracking_uri=project["tracking_uri"],
        data_dir=str(small_demo_dir),
    )


def _customers(small_demo_dir) -> pd.DataFrame:
    return pd.read_parquet(small_demo_dir / "customers.parquet")


def _personal_strings(customers: pd.DataFrame, ids: list[str]) -> list[str]:
    rows = customers[customers["customer_id"].isin(ids)]
    found = rows["email"].dropna().tolist()
    names = rows[["first_name", "last_name"]].dropna()
    found += [f"{f} {last}" for f, last in names.itertuples(index=False)]
    found += [n for n in rows["last_name"].dropna() if len(n) >= 4]
    return found


def _profile_text(profile) -> str:
    parts = [
        json.dumps(profile.headline, default=str),
        profile.rfm.to_csv(),
        profile.orders.to_csv(),
        profile.engagement.to_csv(),
        profile.audiences.to_csv(),
        json.dumps(profile.churn, default=str),
        " ".join(profile.notes),
    ]
    if profile.waterfall is not None:
        parts.append(profile.waterfall.to_json())
    return "\n".join(parts)


@pytest.mark.slow
def test_open_on_the_small_demo(view, project):
    scores = project["scores"]
    assert len(view) == len(
        pd.read_parquet(Path(project["data_root"]) / "processed" / "customer_features.parquet")
    )
    assert view.model_version == "1" and view.scored_with == "1", (
        "the champion of this data's project (v1), not another project's (v2)"
    )
    assert view.as_of == CUTOFF and view.target_threshold == 0.65, (
        "the audience rule the churn stage stamped on its scores"
    )
    assert view.segments is not None, view.notes
    # this project ran features, segmentation and churn only: the later stages' sections
    # say which stage to run, nothing else is missing
    assert sorted(view.notes) == [
        "no clv for this feature table: run stage 'clv' for this section",
        "no recommendations for this feature table: run stage 'recommendations' for this section",
    ], view.notes
    assert view.suggestions(3) == scores["customer_id"].head(3).tolist(), (
        "the picker offers the highest churn risk first"
    )


@pytest.mark.slow
def test_profile_agrees_with_the_stage_outputs(view, project, small_demo_dir):
    scores = project["scores"].set_index("customer_id")
    cid = project["scores"]["customer_id"].iloc[0]
    profile = view.profile(cid)
    row = view.features.set_index("customer_id").loc[cid]
    assert profile.churn["probability"] == pytest.approx(scores.loc[cid, "churn_probability"])
    assert profile.churn["top_reasons"] == list(scores.loc[cid, "top_reasons"])
    assert not any("gives" in n for n in profile.notes), (
        "the champion explains the same probability as churn_scores.parquet"
    )
    assert profile.waterfall is not None and cid in profile.waterfall.layout.title.text
    segments = pd.read_parquet(Path(project["data_root"]) / "processed" / "segments.parquet")
    cluster = segments.set_index("customer_id").loc[cid]
    assert profile.headline["cluster"] == f"{cluster['cluster']}: {cluster['cluster_name']}"
    assert profile.headline["rfm_segment"] == row["rfm_segment"]

    orders = pd.read_parquet(small_demo_dir / "orders.parquet")
    mine = orders[(orders["customer_id"] == cid) & (orders["ordered_at"] < CUTOFF)]
    assert len(profile.orders) == min(10, len(mine))
    assert set(profile.orders["order_id"]) <= set(mine["order_id"])
    assert profile.orders["ordered_at"].is_monotonic_decreasing
    assert profile.orders["ordered_at"].iloc[0] == mine["ordered_at"].max()
    engagement = profile.engagement.set_index(["channel", "event"])["all"]
    for event, column in (("sent", "email_sends"), ("open", "email_opens")):
        expected = int(row[column])
        assert int(engagement.get(("e-mail", event), 0)) == expected, (
            f"e-mail {event} events before as_of must equal the feature {column}"
        )


@pytest.mark.slow
def test_winback_membership_matches_the_churn_audience(view, project):
    scores, data = project["scores"], project["data"]
    audience, _ = churn.winback_audience(scores, data.scoring, target_threshold=0.65)
    members = set(audience["customer_id"])
    high = scores[scores["churn_probability"] >= 0.65]["customer_id"]
    outside = [c for c in high if c not in members][:2]
    for cid in [*audience["customer_id"].head(2), *outside]:
        table = view.profile(cid).audiences.set_index("audience")
        assert bool(table.loc["win-back e-mail", "member"]) == (cid in members), cid


@pytest.mark.slow
def test_unknown_customer_and_no_personal_data(view, small_demo_dir):
    with pytest.raises(
        CustomerNotFound, match=r"'X123' is not in the feature table \(as of 2026-06-30"
    ):
        view.profile("X123")
    ids = [*view.suggestions(3), view.features["customer_id"].iloc[-1]]
    customers = _customers(small_demo_dir)
    personal = _personal_strings(customers, ids)
    assert personal, "the demo customers table holds e-mails and names to look for"
    text = "\n".join(_profile_text(view.profile(cid)) for cid in ids)
    leaked = [p for p in personal if re.search(re.escape(p), text)]
    assert not leaked, f"personal data in the 360 view: {leaked[:3]}"
    assert "@" not in text


@pytest.mark.slow
def test_widget_updates_on_a_typed_id(view):
    box = widgets.customer_360(view, options=5)
    combo, status = box.children[0], box.children[1]
    assert combo.options == tuple(view.suggestions(5))
    assert combo.value == view.suggestions(1)[0]
    assert status.value == "", "the first customer is shown without an error"
    combo.value = "no-such-id"
    assert "is not in the feature table" in status.value
    other = view.features["customer_id"].iloc[5]
    combo.value = other.lower()
    assert status.value == ""


# --------------------------------------------------------------------------- notebook


@pytest.mark.notebooks
@pytest.mark.slow
def test_customer_360_notebook_runs(project, tmp_path, monkeypatch):
    """Headless, as a scheduled run would execute it: the static view (the live widget is
    checked in JupyterLab below; headless widget cells can hang nbclient)."""
    import nbformat
    import papermill as pm

    monkeypatch.setenv("WORKBENCH_BATCH", "1")
    out = tmp_path / "customer_360.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks" / "customer_360.ipynb"),
        str(out),
        parameters={
            "data_root": project["data_root"],
            "tracking_uri": project["tracking_uri"],
            "customer_id": project["scores"]["customer_id"].iloc[1],
        },
        progress_bar=False,
        kernel_name="python3",
    )
    nb = nbformat.read(str(out), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" not in kinds, "no live widget in batch"
    assert "application/vnd.plotly.v1+json" in kinds, "the static view draws the waterfall"
    html = json.dumps([o.get("data", {}).get("text/html", "") for o in outputs])
    assert "open this notebook in JupyterLab" in html
    assert "@" not in json.dumps([o.get("data", {}) for o in outputs])


# --------------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
@pytest.mark.slow
def test_customer_360_in_jupyterlab(project, tmp_path, chromium):
    """JupyterLab in headless Chromium: run all cells, type an id, the view updates."""
    import shutil

    from playwright.sync_api import sync_playwright

    shutil.copy(REPO / "notebooks" / "customer_360.ipynb", tmp_path / "customer_360.ipynb")
    port = _free_port()
    env = {
        **os.environ,
        "WORKBENCH_DATA_DIR": project["data_root"],
        "MLFLOW_TRACKING_URI": project["tracking_uri"],
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            f"--port={port}", "--ServerApp.token=", "--ServerApp.password=",
            f"--notebook-dir={tmp_path}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _run_in_lab(sync_playwright, chromium, f"http://127.0.0.1:{port}", tmp_path)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_for_kernel(page, base: str, seconds: float = 90) -> None:
    """Until the notebook's kernel is idle, accepting JupyterLab's "Select Kernel" dialog
    (the notebook's own python3) when it asks."""
    import urllib.request

    dialog = page.locator(".jp-Dialog button.jp-mod-accept")
    deadline = time.monotonic() + seconds
    sessions = []
    while time.monotonic() < deadline:
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
        sessions = json.load(urllib.request.urlopen(f"{base}/api/sessions", timeout=5))
        if any((s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions):
            return
        time.sleep(0.5)
    raise AssertionError(f"no idle kernel after {seconds:.0f} s: {sessions}")


def _wait_for_widget(page, folder: Path, seconds: float = 120):
    """The id box of the 360 widget once the cells ran."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        box = page.query_selector(".widget-text input[list]")
        if box is not None:
            return box
        time.sleep(0.5)
    page.screenshot(path=str(folder / "failed.png"))
    errors = page.inner_text(".jp-Notebook")[-1500:]
    raise AssertionError(f"the widget did not appear (see {folder / 'failed.png'}): {errors}")


def _run_in_lab(sync_playwright, chromium: str, base: str, folder: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/lab/tree/customer_360.ipynb", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        _wait_for_kernel(page, base)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        combo = _wait_for_widget(page, folder)
        page.wait_for_function(
            "() => { const h = document.querySelector('.widget-output h3');"
            " return h && h.innerText.startsWith('Customer ')"
            " && document.querySelector('.widget-output .js-plotly-plot'); }",
            timeout=120_000,
        )
        first = page.inner_text(".widget-output h3")
        target = "C0000005" if "C0000005" not in first else "C0000006"
        combo.fill(target.lower())
        # the header changes first; the other sections follow while the status line says
        # "loading …": read the view once the status line is empty again
        page.wait_for_function(
            "() => { const h = document.querySelector('.widget-output h3');"
            " const v = document.querySelector('.jp-OutputArea-output .widget-vbox');"
            f" return h && h.innerText.includes('{target}')"
            " && v && !v.innerText.includes('loading '); }",
            timeout=60_000,
        )
        header = page.inner_text(".widget-output h3")
        shown = page.inner_text(".jp-OutputArea-output .widget-vbox")
        page.screenshot(path=str(folder / "customer_360.png"))
        combo.fill("Z-unknown")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-html')]"
            ".some(h => h.innerText.includes('is not in the feature table'))",
            timeout=60_000,
        )
        browser.close()
    assert target in header and target not in first, (first, header)
    for section in ("RFM values and segment", "Churn", "Recent orders", "Engagement", "Audiences"):
        assert section in shown, f"{section!r} missing from the widget output"
    assert "@" not in shown
    assert not errors, errors[:3]


def test_the_360_view_shows_a_customers_lifetime_value():
    """The CLV stage's numbers reach the profile, its widget sections and the compact table;
    a customer without a CLV row gets a note, not an error."""
    from workbench.customer360 import Customer360
    from workbench.widgets import customer_table

    features = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "frequency": [3, 1, 0]})
    clv = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "clv": [250.0, 40.0], "clv_tier": ["top 1%", "rest"],
         "p_alive": [0.92, 0.41], "expected_purchases": [2.5, 0.4],
         "expected_order_value": [100.0, 100.0], "frequency": [3, 1], "recency": [20.0, 3.0],
         "T": [30.0, 30.0]}
    )  # fmt: skip
    view = Customer360(features=features, clv=clv)
    first = view.profile("C1")
    assert first.value["clv"] == 250.0 and first.value["clv_rank"] == 1
    assert first.value["p_alive"] == pytest.approx(0.92)
    shown = customer_table(first).set_index("what")["value"]
    assert shown["lifetime value"] == "250.00" and shown["CLV tier"] == "top 1%"
    assert shown["P(still a customer)"] == "92.0%"
    third = view.profile("C3")
    assert third.value is None and any("C3 has no CLV" in n for n in third.notes)
    assert Customer360(features=features).profile("C1").value is None
