"""Seeded demo data: a retail business with personas, an experiment and planted faults.

:func:`simulate` draws every canonical table (see :mod:`workbench.schema`) for a retail
business over ``years`` of history ending at ``end``, together with the ground truth that
tests and notebooks use to check whether the workbench finds what is really there:
personas, churn, the future, product tastes, experiment effects per customer, e-mail
habits and every planted data-quality fault.

Conventions the downstream stages rely on:

* History is the half-open interval ``[end - years, end)``: every clean timestamp is
  strictly before ``end`` (so ``as_of=end`` sees all of it) and only planted
  ``future_timestamp`` faults lie after it.
* ``customers`` has exactly ``customers`` rows, about 2 % of which are second accounts of
  the same person (``_truth/duplicates.parquet``); after a second sign-up, half of the
  person's orders, sessions and campaigns go to the second account. Customer ids are
  numbered in sign-up order with gaps: the gaps are deleted accounts, which orphan
  orders still reference.
* ``email_opt_in`` is the consent given at sign-up; unsubscribes and bounces live in
  ``email_events`` only (after them the customer receives no more e-mail). Each customer
  gets at most one send per campaign; :mod:`~workbench.simulate.email` describes the
  programme (promotions, a weekly newsletter and deals e-mails for the engaged over the
  last 26 weeks, welcome and cart-reminder flows).
* Money is in one currency with cents; an order's ``amount`` equals the sum of its lines'
  ``quantity * unit_price`` except where a fault says otherwise.

The ground truth, written to ``_truth/`` by :func:`write_demo_data` (``truth`` and
``truth_meta`` of :func:`simulate`); customer ids are those of ``customers``:

``customers``
    One row per customer: ``persona`` (never a column of ``customers``), ``churn_date``
    (when the person stops buying; missing beyond ``end`` + 180 days), ``churned`` (by
    ``end``), ``is_duplicate_of`` (a second account's first account),
    ``preferred_open_hour`` (UTC hour, float, around which the person opens e-mail; NaN
    for the quarter who open at hours drawn from one population profile,
    :data:`~workbench.simulate.email.OPEN_PROFILE`), ``machine_opener`` (their mail client
    opens every delivered message 1–30 s after its send) and ``reads_marketing_email``.
``faults``
    Every planted data-quality fault: ``table, key, column, fault, detail``.
``duplicates``
    ``duplicate_id, original_id`` of every second account.
``future_orders``, ``future_order_items``
    Every completed order of the 180 days after ``end`` (``customer_id, order_id,
    ordered_at, amount, replenishment``) and its lines (``order_id, product_id,
    quantity, unit_price``), drawn by the same processes as the history (order ids
    continue the history's numbering). Same-day orders are separate rows.
``clv``
    Per customer, from the generating process: ``alive_at_end``, ``purchases_per_year``
    (completed orders while alive), ``expected_order_value`` (the person's mean target
    value times their persona's mean ratio of amount to target) and, for 180 and 365 days
    after ``end``, ``expected_purchases_<h>d`` (knowing the true churn date, so actual
    minus expected is noise), ``expected_purchases_<h>d_given_alive`` (knowing only
    whether the customer is alive at ``end``) and ``expected_revenue_<h>d``.
``experiment_users``
    Per assigned user of ``exp_personalised_recs``: ``variant, persona, group,
    assigned_at, p_conversion`` and ``expected_revenue`` in their arm, ``converted``, the
    outcome's ``order_id`` and ``amount``.
``uplift``
    Per customer eligible at assignment (assigned or not; ``variant`` missing when not):
    ``assigned_at, persona, group`` (``sleeping_dog``, ``sure_thing``, ``persuadable``,
    ``other``; see :mod:`~workbench.simulate.experiment`), ``alive``, the features the
    effects depend on as of ``assigned_at`` (``recency_days, orders_365d,
    reactions_90d, sends_90d``), ``p_<variant>`` and ``expected_revenue_<variant>`` for
    every variant, ``true_uplift_<arm>`` and ``true_revenue_uplift_<arm>`` for each
    treatment, ``true_best_arm`` (and ``true_best_arm_revenue``: the treatment with the
    largest positive gain, missing when none helps), ``converted`` and ``revenue``.
``product_affinity``
    Each customer's favourites (``kind`` ``favourite``, ``line_share``: the expected
    share of their order lines that is this product) and replenished products (``kind``
    ``replenishment``, ``cycle_days``).
``persona_products``
    Each persona's taste for each product: ``share_in_category`` when price plays no part.
``bought_together``
    Planted pairs: a line of ``product_a`` brings ``product_b`` into the same order with
    probability ``p_b_given_a``.
``replenishment``
    ``customer_id, product_id, cycle_days``: a consumable re-bought every ``cycle_days``
    days on average (gaps vary by 20 %), in the history and in the future orders.
``machine_opens``
    ``event_id, customer_id`` of every open a mail client made by itself.
``campaigns``
    ``campaign_id, kind, scheduled_at`` of every campaign.
``experiment.json``
    The experiment's design and its true effects per arm, persona and group.
``summary.json``
    ``data_version`` (:data:`~workbench.simulate.truth.DATA_VERSION`, raised whenever the
    same arguments would draw other data), seed, period, rows per table, persona shares,
    e-mail event counts, fault counts.

Everything is drawn from ``numpy.random.default_rng(seed)`` (one spawned child per
generation step), so the same arguments give byte-identical files.

The package, one job per module (lower ones never import higher ones):

* :mod:`~workbench.simulate.clock`: the time axis (seconds since the history start),
  seasonality and event times; :mod:`~workbench.simulate.ids`: id formatting;
  :mod:`~workbench.simulate.columns`: ids, codes and seconds to columns;
* :mod:`~workbench.simulate.personas`: the personas and the product categories;
* :mod:`~workbench.simulate.products` (catalogue, pairs, cycles),
  :mod:`~workbench.simulate.people`, :mod:`~workbench.simulate.affinity` (favourites and
  replenishment habits), :mod:`~workbench.simulate.orders`,
  :mod:`~workbench.simulate.web`, :mod:`~workbench.simulate.email` and
  :mod:`~workbench.simulate.experiment`: the generation steps;
* :mod:`~workbench.simulate.faults`: planted faults and their log;
* :mod:`~workbench.simulate.tables` (canonical tables) and
  :mod:`~workbench.simulate.truth` (truth tables and summary);
* this module: :func:`simulate`, :func:`write_demo_data` and the order of the steps.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from workbench.schema import TABLES
from workbench.simulate.affinity import draw_tastes
from workbench.simulate.clock import FUTURE_DAYS, Clock, make_clock
from workbench.simulate.email import draw_email_events
from workbench.simulate.experiment import (
    EXPERIMENT_ID,
    TREATMENTS,
    VARIANTS,
    WINDOW_DAYS,
    assign_experiment,
)
from workbench.simulate.faults import (
    FAULT_RATES,
    FAULT_TYPES,
    FaultLog,
    plant_faults,
    plant_order_faults,
)
from workbench.simulate.orders import draw_order_items, draw_orders, value_ratio
from workbench.simulate.people import (
    customer_records,
    draw_accounts,
    draw_people,
    move_to_duplicates,
)
from workbench.simulate.personas import CATEGORIES, PERSONAS, Persona
from workbench.simulate.products import draw_products
from workbench.simulate.tables import emit, trim_heap
from workbench.simulate.web import draw_browse_sessions, draw_web_events

__all__ = [
    "CATEGORIES",
    "EXPERIMENT_ID",
    "FAULT_TYPES",
    "FUTURE_DAYS",
    "PERSONAS",
    "Persona",
    "SimulatedData",
    "TREATMENTS",
    "TRUTH_FILES",
    "VARIANTS",
    "WINDOW_DAYS",
    "simulate",
    "write_demo_data",
]

log = logging.getLogger(__name__)

_ROW_GROUP = 1 << 20  # Parquet rows per row group (pyarrow's default)

_STEPS = ("people", "accounts", "products", "tastes", "orders", "browse", "email", "experiment",
          "items", "web", "faults", "tables")  # fmt: skip

#: The Parquet files of ``_truth/`` (besides ``experiment.json`` and ``summary.json``).
TRUTH_FILES = ("customers", "faults", "duplicates", "future_orders", "future_order_items", "clv",
               "experiment_users", "uplift", "product_affinity", "persona_products",
               "bought_together", "replenishment", "machine_opens", "campaigns")  # fmt: skip


@dataclass(frozen=True)
class SimulatedData:
    """Everything :func:`simulate` draws.

    Attributes
    ----------
    tables : dict[str, pandas.DataFrame]
        Every canonical table, typed as declared in :mod:`workbench.schema`.
    truth : dict[str, pandas.DataFrame]
        The frames of :data:`TRUTH_FILES` (see the module's description).
    truth_meta : dict
        JSON-able: ``experiment`` (true effects) and ``summary`` (counts).
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    truth_meta: dict[str, Any]


def simulate(
    customers: int = 20_000,
    seed: int = 7,
    end: str = "2026-06-30",
    years: float = 2.0,
    progress: bool = False,
) -> SimulatedData:
    """Draw the demo business: every canonical table plus its ground truth.

    Parameters
    ----------
    customers : int, default 20_000
        Rows of the ``customers`` table (people plus their ~2 % duplicate accounts).
    seed : int, default 7
        Seed of ``numpy.random.default_rng``; the same arguments give the same data.
    end : str, default "2026-06-30"
        End of the history (UTC, exclusive): every clean timestamp is before it.
    years : float, default 2.0
        Length of the history.
    progress : bool, default False
        Show a tqdm bar over the generation steps.

    Returns
    -------
    SimulatedData
        ``tables`` (canonical), ``truth`` (frames) and ``truth_meta`` (JSON-able).

    Examples
    --------
    >>> data = simulate(customers=2_000, seed=1)
    >>> sorted(data.tables) == sorted(TABLES)
    True
    >>> len(data.tables["customers"])
    2000
    """
    parts: dict[str, dict[str, Any]] = {"table": {}, "truth": {}, "meta": {}}
    for kind, name, obj in _generate(customers, seed, end, years, progress):
        if not isinstance(obj, pd.DataFrame | dict):  # a large table, in slices
            obj = pd.concat(list(obj), ignore_index=True)
        parts[kind][name] = obj
    tables = {name: parts["table"][name] for name in TABLES}  # canonical order
    data = SimulatedData(tables=tables, truth=parts["truth"], truth_meta=parts["meta"])
    rows = data.truth_meta["summary"]["rows"]
    log.info(
        "simulated %s customers, %s orders, %s e-mail and %s web events (seed %s, end %s)",
        *(f"{rows[t]:,}" for t in ("customers", "orders", "email_events", "web_events")),
        seed,
        data.truth_meta["summary"]["end"],
    )
    return data


def write_demo_data(
    out_dir: str | Path,
    customers: int = 20_000,
    seed: int = 7,
    end: str = "2026-06-30",
    progress: bool = True,
    years: float = 2.0,
) -> dict[str, Any]:
    """Simulate the demo business and write it as Parquet with its truth beside it.

    Writes ``<table>.parquet`` for every canonical table into ``out_dir`` and the ground
    truth into ``out_dir/_truth/`` (:data:`TRUTH_FILES` as Parquet, ``experiment.json``
    and ``summary.json``). Existing files of those names are overwritten; other files are
    left alone. The same arguments give byte-identical files.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created when missing).
    customers, seed, end, years :
        As in :func:`simulate`.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    dict
        The content of ``summary.json``: seed, customers, end, ``rows`` per table,
        persona shares and fault counts by type.
    """
    _check_args(customers, years)
    out = Path(out_dir)
    truth_dir = out / "_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    # tables are written as they are built, so only one large frame is in memory at a time
    for kind, name, obj in _generate(customers, seed, end, years, progress):
        if kind == "meta":
            text = json.dumps(obj, indent=2) + "\n"
            (truth_dir / f"{name}.json").write_text(text, encoding="utf-8")
            summary = obj if name == "summary" else summary
        else:
            path = (out if kind == "table" else truth_dir) / f"{name}.parquet"
            _write_parquet([obj] if isinstance(obj, pd.DataFrame) else obj, path)
        del obj
    log.info("wrote demo data (%s customers, seed %s) to %s", customers, seed, out)
    return summary


def _write_parquet(frames: Iterable[pd.DataFrame], path: Path) -> None:
    """Write the frames (slices of one table, at least one) as one Parquet file."""
    writer: pq.ParquetWriter | None = None
    try:
        for frame in frames:
            with warnings.catch_warnings():  # pyarrow reads tz-aware columns via Series.values
                warnings.filterwarnings(
                    "ignore", message="Series.values returning", category=Warning
                )
                table = pa.Table.from_pandas(frame, preserve_index=False)
            del frame
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd",
                                          write_statistics=True)  # fmt: skip
            writer.write_table(table, row_group_size=_ROW_GROUP)
            del table
    finally:
        if writer is not None:
            writer.close()


def _generate(
    customers: int, seed: int, end: str, years: float, progress: bool
) -> Iterator[tuple[str, str, Any]]:
    """Draw the business, then yield ``(kind, name, object)`` for every output.

    ``kind`` is ``meta`` (JSON-able truth), ``truth`` or ``table``. Each large frame is
    built when it is asked for and its arrays are released afterwards.
    """
    customers, years = _check_args(customers, years)
    clock = make_clock(end, years)
    rngs = dict(zip(_STEPS, np.random.default_rng(seed).spawn(len(_STEPS)), strict=True))
    with tqdm(total=len(_STEPS), desc="demo data", unit="step", disable=not progress) as bar:

        def step(name: str) -> np.random.Generator:
            trim_heap()  # hand back what the step before freed: lower peaks at 1M
            bar.set_postfix_str(name)
            log.debug("simulate: %s", name)
            return rngs[name]

        world = _draw(step, bar, customers, clock)
        step("tables")
        yield from emit(world, clock, seed)
        bar.update()


def _draw(
    step: Callable[[str], np.random.Generator], bar: Any, customers: int, clock: Clock
) -> dict[str, Any]:
    """Run the generation steps; every step has its own child generator."""
    n_dup = max(1, round(FAULT_RATES["duplicate_customer"] * customers))
    w: dict[str, Any] = {}
    w["people"] = people = draw_people(step("people"), customers - n_dup, clock)
    bar.update()
    rng = step("accounts")
    w["accounts"] = draw_accounts(rng, people, n_dup, clock)
    w["recs"] = customer_records(rng, people, clock)
    bar.update()
    w["products"] = products = draw_products(step("products"))
    bar.update()
    w["tastes"] = tastes = draw_tastes(step("tastes"), people, products)
    bar.update()
    orders, future = draw_orders(step("orders"), people, tastes, clock)
    bar.update()
    browse = draw_browse_sessions(step("browse"), people, tastes, products, clock)
    bar.update()
    email = draw_email_events(step("email"), people, browse, clock)
    bar.update()
    rng = step("experiment")
    orders, w["exp"] = assign_experiment(rng, people, orders, email, clock)
    w["orders"], future, w["email"] = move_to_duplicates(rng, people, orders, future, email)
    bar.update()
    rng = step("items")
    w["items"] = draw_order_items(rng, people, tastes, w["orders"], products)
    w["future_items"] = draw_order_items(rng, people, tastes, future, products,
                                         first_number=len(w["orders"]["t"]) + 1)  # fmt: skip
    w["future"] = future
    w["value_ratio"] = value_ratio(people, w["orders"])  # before faults change amounts
    bar.update()
    # order faults come first so that tracked purchase sessions only follow clean orders
    rng = step("faults")
    faults = FaultLog()
    touched = plant_order_faults(rng, w["accounts"], w["orders"], clock, faults)
    w["web"] = draw_web_events(step("web"), w["accounts"], w["orders"], w["items"], browse,
                               touched, clock)  # fmt: skip
    del browse
    trim_heap()
    bar.update()
    plant_faults(rng, people, w["accounts"], w["recs"], w["items"], w["web"], w["email"],
                 w["exp"], touched, clock, faults)  # fmt: skip
    w["faults"] = faults.frame()
    bar.update()
    return w


def _check_args(customers: int, years: float) -> tuple[int, float]:
    if isinstance(customers, bool) or not isinstance(customers, int | np.integer):
        raise TypeError(f"customers must be an int, got {type(customers).__name__}")
    if customers < 100:
        raise ValueError(f"customers must be at least 100, got {customers}")
    if not 0.25 <= float(years) <= 10:
        raise ValueError(f"years must be between 0.25 and 10, got {years}")
    return int(customers), float(years)
