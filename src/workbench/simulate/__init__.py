"""Seeded demo data: a retail business with personas, one experiment and planted faults.

:func:`simulate` draws every canonical table (see :mod:`workbench.schema`) for a retail
business over ``years`` of history ending at ``end``, together with the ground truth that
tests and notebooks use to check whether the workbench finds what is really there:

* each customer's **persona** (never a column of ``customers``) and churn date;
* the orders each customer would place in the 180 days after ``end`` (churn labels);
* one A/B experiment (``exp_personalised_recs``) with a known effect per persona;
* every planted **data-quality fault**, one row per faulty cell or row.

Conventions the downstream stages rely on:

* History is the half-open interval ``[end - years, end)``: every clean timestamp is
  strictly before ``end`` (so ``as_of=end`` sees all of it) and only planted
  ``future_timestamp`` faults lie after it.
* ``customers`` has exactly ``customers`` rows, about 2 % of which are second accounts of
  the same person (``_truth/duplicates.parquet``). Customer ids are numbered in sign-up
  order with gaps: the gaps are deleted accounts, which orphan orders still reference.
* ``email_opt_in`` is the consent given at sign-up; unsubscribes and bounces live in
  ``email_events`` only (after them the customer receives no more campaigns).
* Money is in one currency with cents; an order's ``amount`` equals the sum of its lines'
  ``quantity * unit_price`` except where a fault says otherwise.

Everything is drawn from ``numpy.random.default_rng(seed)`` (one spawned child per
generation step), so the same arguments give byte-identical files.

The package, one job per module (lower ones never import higher ones):

* :mod:`~workbench.simulate.clock`: the time axis (seconds since the history start),
  seasonality and Poisson event times; :mod:`~workbench.simulate.ids`: id formatting;
* :mod:`~workbench.simulate.personas`: the personas and the product categories;
* :mod:`~workbench.simulate.people`, :mod:`~workbench.simulate.products`,
  :mod:`~workbench.simulate.orders`, :mod:`~workbench.simulate.experiment` and
  :mod:`~workbench.simulate.events`: the generation steps;
* :mod:`~workbench.simulate.faults`: planted faults and their log;
* :mod:`~workbench.simulate.tables`: the canonical tables, truth tables and summary;
* this module: :func:`simulate`, :func:`write_demo_data` and the order of the steps.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from workbench.schema import TABLES
from workbench.simulate.clock import FUTURE_DAYS, Clock, make_clock
from workbench.simulate.events import draw_email_events, draw_web_events
from workbench.simulate.experiment import EXPERIMENT_ID, WINDOW_DAYS, assign_experiment
from workbench.simulate.faults import (
    FAULT_RATES,
    FAULT_TYPES,
    FaultLog,
    plant_faults,
    plant_order_faults,
)
from workbench.simulate.orders import draw_order_items, draw_orders
from workbench.simulate.people import (
    customer_records,
    draw_accounts,
    draw_people,
    move_to_duplicates,
)
from workbench.simulate.personas import CATEGORIES, PERSONAS, Persona
from workbench.simulate.products import draw_products
from workbench.simulate.tables import emit, trim_heap

__all__ = [
    "CATEGORIES",
    "EXPERIMENT_ID",
    "FAULT_TYPES",
    "FUTURE_DAYS",
    "PERSONAS",
    "Persona",
    "SimulatedData",
    "WINDOW_DAYS",
    "simulate",
    "write_demo_data",
]

log = logging.getLogger(__name__)

_STEPS = ("people", "accounts", "products", "email", "orders", "experiment", "items", "web",
          "faults", "tables")  # fmt: skip


@dataclass(frozen=True)
class SimulatedData:
    """Everything :func:`simulate` draws.

    Attributes
    ----------
    tables : dict[str, pandas.DataFrame]
        Every canonical table, typed as declared in :mod:`workbench.schema`.
    truth : dict[str, pandas.DataFrame]
        ``customers`` (persona, churn), ``faults``, ``duplicates``, ``future_orders`` and
        ``experiment_users`` (per assigned user: variant, persona, true conversion
        probability and expected revenue, outcome).
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
    truth into ``out_dir/_truth/`` (``customers``, ``faults``, ``duplicates``,
    ``future_orders`` and ``experiment_users`` as Parquet, ``experiment.json`` and
    ``summary.json``). Existing files of those names are overwritten; other files are
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
            _write_parquet(obj, (out if kind == "table" else truth_dir) / f"{name}.parquet")
        del obj
    log.info("wrote demo data (%s customers, seed %s) to %s", customers, seed, out)
    return summary


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with warnings.catch_warnings():  # pyarrow reads tz-aware columns through Series.values
        warnings.filterwarnings("ignore", message="Series.values returning", category=Warning)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True)


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
    w["products"] = draw_products(step("products"))
    bar.update()
    email = draw_email_events(step("email"), people, clock)
    bar.update()
    orders, future = draw_orders(step("orders"), people, clock)
    bar.update()
    rng = step("experiment")
    orders, w["exp_users"] = assign_experiment(rng, people, orders, email, clock)
    w["orders"], w["future"], w["email"] = move_to_duplicates(rng, people, orders, future, email)
    bar.update()
    w["items"] = draw_order_items(step("items"), people, w["orders"], w["products"])
    bar.update()
    # order faults come first so that tracked purchase sessions only follow clean orders
    rng = step("faults")
    faults = FaultLog()
    touched = plant_order_faults(rng, w["accounts"], w["orders"], clock, faults)
    w["web"] = draw_web_events(
        step("web"), people, w["accounts"], w["orders"], w["items"], w["products"], touched, clock
    )
    trim_heap()
    bar.update()
    plant_faults(rng, people, w["accounts"], w["recs"], w["items"], w["web"], w["email"],
                 w["exp_users"], touched, clock, faults)  # fmt: skip
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
