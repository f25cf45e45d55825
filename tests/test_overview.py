"""Stage 00: coverage, monthly volumes, mix and activity — on hand-made tables and the demo."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench import overview
from workbench.loading import load_tables
from workbench.schema import parse_as_of

AS_OF = parse_as_of("2024-04-01")


@pytest.fixture
def tiny(tmp_path):
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5"],
            "customer_id": ["a", "a", "b", "b", "c"],
            "ordered_at": [
                "2024-01-10",
                "2024-02-10",
                "2024-02-11",
                "2024-03-31 23:59",
                "2024-04-01",
            ],
            "amount": [10.0, 20.0, 5.0, 7.0, 100.0],
            "status": ["completed", "returned", "completed", "completed", "completed"],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "country": ["DE", "DE", "FR", None],
            "email_opt_in": ["yes", "no", "yes", "no"],
        }
    ).to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["a", "c"],
            "event_type": ["open", "sent"],
            "occurred_at": ["2024-03-01", "2024-05-01"],
        }
    ).to_csv(tmp_path / "email_events.csv", index=False)
    return load_tables(tmp_path)


def test_monthly_orders_count_revenue_of_completed_orders_before_as_of(tiny):
    monthly = overview.monthly_orders(tiny["orders"], AS_OF).set_index("month")
    assert monthly["orders"].tolist() == [1, 2, 1]  # o5 is on as_of: excluded
    assert monthly["revenue"].tolist() == [10.0, 5.0, 7.0]  # the return adds no revenue
    assert monthly["customers"].tolist() == [1, 2, 1]
    assert monthly["cancelled_or_returned"].tolist() == [0, 1, 0]
    last_two = overview.monthly_orders(tiny["orders"], AS_OF, months=2)
    assert len(last_two) == 2 and last_two["month"].min() == pd.Timestamp("2024-02-01")


def test_completed_order_values_and_their_quantiles(tiny):
    values = overview.completed_order_values(tiny["orders"], AS_OF)
    assert values.tolist() == [10.0, 5.0, 7.0]  # o2 returned, o5 on as_of
    summary = overview.order_value_summary(tiny["orders"], AS_OF).set_index("quantile")
    assert summary.loc[0.5, "amount"] == 7.0 and summary.loc[1.0, "amount"] == 10.0


def test_overview_params():
    assert overview.OverviewParams().as_dict() == {"chart_months": 36}
    with pytest.raises(ValueError, match="OverviewParams: chart_months must be a positive int"):
        overview.OverviewParams(chart_months=True)


def test_coverage_counts_rows_at_or_after_as_of(tiny):
    cov = overview.table_coverage(tiny, AS_OF).set_index("table")
    assert cov.loc["orders", "rows"] == 5
    assert cov.loc["orders", "rows_at_or_after_as_of"] == 1
    assert cov.loc["email_events", "rows_at_or_after_as_of"] == 1
    assert not cov.loc["web_events", "present"]


def test_activity_shares_and_mix(tiny):
    shares = overview.activity_shares(tiny, AS_OF)
    assert shares["with_orders"] == pytest.approx(2 / 4)  # a and b before as_of; c on it
    assert shares["with_email_activity"] == pytest.approx(1 / 4)  # c's event is after as_of
    assert shares["with_web_activity"] is None  # no table: unknown, not zero
    assert shares["email_opt_in"] == pytest.approx(0.5)
    mix = overview.customer_mix(tiny["customers"], "country").set_index("country")
    assert mix.loc["DE", "customers"] == 2 and mix.loc["missing", "customers"] == 1
    with pytest.raises(KeyError, match="no column 'channel'"):
        overview.customer_mix(tiny["customers"], "channel")


def test_summary_on_the_demo_matches_the_tables(demo_dir):
    data = load_tables(demo_dir)
    as_of = parse_as_of("2026-06-30")
    summary = overview.overview_summary(data, as_of)
    orders = data["orders"]
    expected = orders.loc[(orders.ordered_at < as_of) & orders.status.eq("completed"), "amount"]
    assert summary["completed_revenue"] == pytest.approx(expected.sum(), rel=1e-9)
    assert summary["tables_present"] == 7
    assert 0.5 < summary["activity"]["email_opt_in"] < 0.9  # the simulator's ~70 % consent
    json.dumps(summary)  # strict JSON-able


@pytest.mark.notebooks
def test_overview_notebook_runs(small_demo_dir, run_stages):
    result = run_stages(small_demo_dir, ["overview"])
    assert result.ok, result.stages[0].error
    summary = json.loads((result.output_dir / "overview.json").read_text())
    assert summary["customers"] == 3000 and summary["tables_present"] == 7
    page = (result.output_dir / "overview.html").read_text()
    assert page.count("Plotly.newPlot") >= 4
