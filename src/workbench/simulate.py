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
"""

from __future__ import annotations

import contextlib
import ctypes
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

DAY = 86_400  # seconds; every internal time is int64 seconds since the history start
CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "grocery", "books", "toys")
EXPERIMENT_ID = "exp_personalised_recs"
WINDOW_DAYS = 14
FUTURE_DAYS = 180
FAULT_TYPES = (
    "duplicate_customer",
    "invalid_email",
    "orphan_order",
    "outlier_amount",
    "future_timestamp",
    "negative_quantity",
    "missing_value",
    "duplicate_row",
    "before_signup",
)


@dataclass(frozen=True)
class Persona:
    """Behaviour of one kind of customer; every rate is a population mean.

    Attributes
    ----------
    name : str
        Persona label used in the truth tables.
    share : float
        Share of people with this persona.
    orders_per_year : float
        Order rate while the customer is alive (before churn).
    first_order_prob : float
        Probability of an order right after a sign-up inside the history.
    basket_median, basket_sigma : float
        Order value is lognormal with this median and log-scale sigma.
    lines_per_order : float
        Mean number of order lines.
    category_weights : tuple[float, ...]
        Mean taste over :data:`CATEGORIES` (each customer draws a Dirichlet around it).
    mean_lifetime_days : float
        Mean of the exponential time from sign-up (or the history start) to churn.
    prehistory_share : float
        Share of these customers who signed up before the history starts.
    opt_in : float
        Probability of e-mail consent at sign-up.
    open_rate, click_rate : float
        Probability of opening a campaign, and of clicking given an open.
    unsubscribe_rate : float
        Probability of unsubscribing per campaign received.
    open_hour : float
        Preferred hour of day (UTC) for opening e-mails.
    browse_sessions_per_year : float
        Web sessions that do not end in a purchase.
    views_per_session : float
        Mean product views per browsing session.
    cart_rate : float
        Probability that a browsing session adds to cart (and is then abandoned).
    channel_weights : tuple[float, float, float]
        Order channel probabilities for web, app and store.
    exp_control_rate : float
        Probability of converting within the experiment window without treatment.
    exp_relative_lift : float
        Relative lift of that probability under the personalised variant.
    """

    name: str
    share: float
    orders_per_year: float
    first_order_prob: float
    basket_median: float
    basket_sigma: float
    lines_per_order: float
    category_weights: tuple[float, ...]
    mean_lifetime_days: float
    prehistory_share: float
    opt_in: float
    open_rate: float
    click_rate: float
    unsubscribe_rate: float
    open_hour: float
    browse_sessions_per_year: float
    views_per_session: float
    cart_rate: float
    channel_weights: tuple[float, float, float]
    exp_control_rate: float
    exp_relative_lift: float


# category_weights follow CATEGORIES: electronics fashion home beauty sports grocery books toys
PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="loyal_high_value",
        share=0.14,
        orders_per_year=32.0,
        first_order_prob=0.7,
        basket_median=80.0,
        basket_sigma=0.5,
        lines_per_order=2.8,
        category_weights=(0.15, 0.08, 0.42, 0.08, 0.12, 0.05, 0.05, 0.05),
        mean_lifetime_days=2500.0,
        prehistory_share=0.45,
        opt_in=0.8,
        open_rate=0.45,
        click_rate=0.3,
        unsubscribe_rate=0.002,
        open_hour=19.0,
        browse_sessions_per_year=3.0,
        views_per_session=2.0,
        cart_rate=0.2,
        channel_weights=(0.35, 0.5, 0.15),
        exp_control_rate=0.45,
        exp_relative_lift=0.0,
    ),
    Persona(
        name="bargain_hunter",
        share=0.22,
        orders_per_year=13.0,
        first_order_prob=0.6,
        basket_median=24.0,
        basket_sigma=0.45,
        lines_per_order=2.8,
        category_weights=(0.03, 0.12, 0.06, 0.18, 0.03, 0.45, 0.04, 0.09),
        mean_lifetime_days=1100.0,
        prehistory_share=0.3,
        opt_in=0.88,
        open_rate=0.62,
        click_rate=0.38,
        unsubscribe_rate=0.003,
        open_hour=12.0,
        browse_sessions_per_year=4.0,
        views_per_session=2.5,
        cart_rate=0.35,
        channel_weights=(0.6, 0.3, 0.1),
        exp_control_rate=0.25,
        exp_relative_lift=0.4,
    ),
    Persona(
        name="occasional",
        share=0.24,
        orders_per_year=3.5,
        first_order_prob=0.7,
        basket_median=55.0,
        basket_sigma=0.55,
        lines_per_order=2.0,
        category_weights=(0.04, 0.08, 0.12, 0.06, 0.05, 0.05, 0.42, 0.18),
        mean_lifetime_days=1000.0,
        prehistory_share=0.3,
        opt_in=0.65,
        open_rate=0.22,
        click_rate=0.15,
        unsubscribe_rate=0.006,
        open_hour=9.0,
        browse_sessions_per_year=2.0,
        views_per_session=1.5,
        cart_rate=0.2,
        channel_weights=(0.3, 0.1, 0.6),
        exp_control_rate=0.08,
        exp_relative_lift=0.25,
    ),
    Persona(
        name="one_and_done",
        share=0.15,
        orders_per_year=4.0,
        first_order_prob=0.95,
        basket_median=45.0,
        basket_sigma=0.55,
        lines_per_order=1.8,
        category_weights=(0.03, 0.5, 0.06, 0.18, 0.05, 0.04, 0.04, 0.1),
        mean_lifetime_days=45.0,
        prehistory_share=0.02,
        opt_in=0.55,
        open_rate=0.08,
        click_rate=0.08,
        unsubscribe_rate=0.02,
        open_hour=15.0,
        browse_sessions_per_year=2.0,
        views_per_session=1.5,
        cart_rate=0.3,
        channel_weights=(0.55, 0.15, 0.3),
        exp_control_rate=0.03,
        exp_relative_lift=0.1,
    ),
    Persona(
        name="browser_abandoner",
        share=0.13,
        orders_per_year=1.5,
        first_order_prob=0.3,
        basket_median=75.0,
        basket_sigma=0.55,
        lines_per_order=1.6,
        category_weights=(0.14, 0.16, 0.08, 0.06, 0.42, 0.04, 0.04, 0.06),
        mean_lifetime_days=1000.0,
        prehistory_share=0.25,
        opt_in=0.65,
        open_rate=0.32,
        click_rate=0.2,
        unsubscribe_rate=0.004,
        open_hour=22.0,
        browse_sessions_per_year=24.0,
        views_per_session=2.0,
        cart_rate=0.55,
        channel_weights=(0.7, 0.25, 0.05),
        exp_control_rate=0.05,
        exp_relative_lift=0.3,
    ),
    Persona(
        name="lapsing_big_spender",
        share=0.12,
        orders_per_year=7.0,
        first_order_prob=0.6,
        basket_median=260.0,
        basket_sigma=0.5,
        lines_per_order=2.2,
        category_weights=(0.5, 0.08, 0.18, 0.04, 0.1, 0.03, 0.03, 0.04),
        mean_lifetime_days=330.0,
        prehistory_share=0.3,
        opt_in=0.7,
        open_rate=0.15,
        click_rate=0.25,
        unsubscribe_rate=0.008,
        open_hour=6.0,
        browse_sessions_per_year=4.0,
        views_per_session=2.0,
        cart_rate=0.25,
        channel_weights=(0.5, 0.3, 0.2),
        exp_control_rate=0.12,
        exp_relative_lift=0.15,
    ),
)

_CATEGORY_PRICES = (  # (median price, log sigma) per category
    (140.0, 0.9), (40.0, 0.6), (45.0, 0.8), (20.0, 0.5),
    (45.0, 0.7), (7.0, 0.6), (16.0, 0.35), (25.0, 0.6),
)  # fmt: skip
_CATEGORY_QTY = np.array([0.03, 0.15, 0.15, 0.35, 0.1, 0.9, 0.15, 0.2])  # extra units (Poisson)
_PRODUCTS_PER_CATEGORY = 50
_CHANNELS = ("web", "app", "store")
_STATUSES = ("completed", "cancelled", "returned")
_STATUS_P = (0.93, 0.03, 0.04)
_EMAIL_TYPES = ("sent", "open", "click", "bounce", "unsubscribe")
_WEB_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
_VARIANTS = ("control", "personalised")
_REVENUE_MULTIPLIER = (1.0, 1.08)
_PARTICIPATION = 0.75
_ASSIGN_DAYS = 28
_TRACKED = 0.2  # share of online orders whose session the web analytics captured
_MONTHLY = np.array([0.85, 0.80, 0.90, 0.92, 0.95, 0.92, 0.95, 0.92, 0.95, 1.05, 1.45, 1.55])
_WEEKLY = np.array([1.0, 0.95, 0.95, 1.0, 1.05, 1.1, 1.15])
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5,  # orders by hour (UTC)
                   5.5, 5, 4.5, 4.5, 4.8, 5.2, 6, 6.5, 6.5, 5.5, 4, 2])  # fmt: skip
_FAULT_RATES = {  # share of rows of the table that carry the fault
    "duplicate_customer": 0.02,
    "invalid_email": 0.005,
    "orphan_order": 0.003,
    "outlier_amount": 0.001,
    "future_order": 0.001,
    "before_signup": 0.001,
    "duplicate_order": 0.001,
    "missing_order_channel": 0.005,
    "negative_quantity": 0.002,
    "duplicate_web": 0.002,
    "future_event": 0.001,
}
_MISSING_CUSTOMER = {"country": 0.01, "birth_date": 0.015, "email": 0.01, "signup_channel": 0.02}

_FEMALE = """Emma Olivia Ava Sophia Isabella Mia Amelia Harper Evelyn Abigail Emily Ella Elizabeth
Camila Luna Sofia Avery Mila Aria Scarlett Penelope Layla Chloe Victoria Madison Eleanor Grace Nora
Riley Zoey Hannah Hazel Lily Ellie Violet Lillian Zoe Stella Aurora Natalie Emilia Everly Leah
Aubrey Willow Addison Lucy Audrey Bella Nova Brooklyn Paisley Savannah Claire Skylar Isla Genesis
Naomi Elena Caroline Eliana Anna Maya Valentina Ruby Kennedy Ivy Ariana Aaliyah Cora Madelyn Alice
Kinsley Hailey Gabriella Allison Gianna Serenity Samantha Sarah Autumn Quinn Eva Piper Sophie Sadie
Delilah Josephine Nevaeh Adeline Arya Emery Lydia Clara Vivian Madeline Peyton Julia Rylee Brielle
Reagan Natalia Jade Athena Maria Leilani Everleigh Liliana Melanie Mackenzie Hadley Raelynn Kaylee
Rose Arianna Isabelle Melody Eliza Lyla Katherine Aubree Adalynn Kylie Faith Mary Margaret Ximena
Iris Alexandra Jasmine Charlotte Amaya Taylor Isabel Ashley Khloe Ryleigh Alexa Amara Valeria
Andrea Norah Eden Elliana Brianna Valerie Anastasia Eloise Cecilia Remi Josie Reese Bailey Lucia
Molly Ayla Sara Daisy Jordyn Esther Genevieve Harmony Annabelle Alyssa Ariel Aliyah Juliana Morgan
Summer Juliette Trinity Callie Sienna Alaina Amy Laura Fiona Helen Ingrid Greta Hanna Lena Marie Lea
Chiara Giulia Carmen Lucie Manon Camille Ines Freya Siobhan Aoife Niamh Saoirse Katharina Sabine"""
_MALE = """Liam Noah Oliver Elijah James William Benjamin Lucas Henry Theodore Jack Levi Alexander
Jackson Mateo Daniel Michael Mason Sebastian Ethan Logan Owen Samuel Jacob Asher Aiden John Joseph
Wyatt David Leo Luke Julian Hudson Grayson Matthew Ezra Gabriel Carter Isaac Jayden Luca Anthony
Dylan Lincoln Thomas Maverick Elias Josiah Charles Caleb Christopher Ezekiel Miles Jaxon Isaiah
Andrew Joshua Nathan Nolan Adrian Cameron Santiago Eli Aaron Ryan Angel Cooper Waylon Easton Kai
Christian Landon Colton Roman Axel Brooks Jonathan Robert Jameson Ian Everett Greyson Wesley
Jeremiah Hunter Leonardo Jordan Jose Bennett Silas Nicholas Parker Beau Weston Austin Connor Carson
Dominic Xavier Jaxson Jace Emmett Adam Declan Rowan Micah Kayden Gael River Ryder Kingston Damian
Sawyer Luka Evan Vincent Myles Harrison August Bryson Amir Giovanni Chase Diego Milo Jasper Walker
Jason Brayden Cole Nathaniel George Lorenzo Zion Luis Archer Enzo Jonah Thiago Theo Ayden Zachary
Calvin Braxton Ashton Rhett Atlas Jude Bentley Carlos Ryker Adriel Arthur Tyler Jayce Max Elliot
Graham Kaiden Maxwell Juan Dean Matteo Malachi Ivan Elliott Emiliano Gavin Maddox Camden Hayden
Leon Antonio Justin Tucker Brandon Kevin Judah Finn Brody Xander Nicolas Charlie Arlo Emmanuel
Barrett Felix Alex Miguel Abel Alan Patrick Paul Peter Lukas Jonas Hugo Louis Pierre Marco Pablo
Javier Sean Ciaran Cian Oisin Niall Stefan Jan Lars Erik Tobias Florian Matthias Sven"""
_LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez
Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green
Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz
Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan
Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood
James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster
Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Fisher Vasquez
Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole
Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens
Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker
Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz
Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley
Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham
Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman
Johnston Matthews Pena Richards Willis Carpenter Lawrence Sandoval Muller Schneider Fischer Weber
Becker Schulz Koch Richter Klein Wolf Neumann Schwarz Zimmermann Braun Hartmann Lange Dubois Durand
Leroy Moreau Simon Laurent Lefebvre Michel Bertrand Roux Vincent Fournier Girard Bonnet Dupont
Lambert Fontaine Rousseau Blanc Guerin Boyer Jansen Bakker Visser Smit Meijer Mulder Bos Vos Peeters
Maes Jacobs Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti
Costa Giordano Mancini Rizzo Lombardi Moretti Byrne O'Brien Walsh Doyle McCarthy Gallagher Doherty
Lynch Quinn McLaughlin Connolly Daly O'Connor O'Sullivan Fitzgerald Kavanagh Brennan Nolan"""
_COUNTRIES = {  # country -> (share, {city: share})
    "GB": (0.35, {"London": 0.45, "Manchester": 0.15, "Birmingham": 0.14, "Leeds": 0.1,
                  "Glasgow": 0.08, "Bristol": 0.08}),
    "DE": (0.20, {"Berlin": 0.3, "Hamburg": 0.2, "Munich": 0.2, "Cologne": 0.15,
                  "Frankfurt": 0.15}),
    "FR": (0.15, {"Paris": 0.45, "Lyon": 0.2, "Marseille": 0.15, "Toulouse": 0.1, "Lille": 0.1}),
    "NL": (0.10, {"Amsterdam": 0.4, "Rotterdam": 0.25, "Utrecht": 0.2, "Eindhoven": 0.15}),
    "ES": (0.08, {"Madrid": 0.45, "Barcelona": 0.4, "Valencia": 0.15}),
    "IT": (0.07, {"Milan": 0.4, "Rome": 0.4, "Turin": 0.2}),
    "IE": (0.05, {"Dublin": 0.6, "Cork": 0.25, "Galway": 0.15}),
}  # fmt: skip
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "example.com")
_DOMAIN_P = (0.45, 0.18, 0.22, 0.15)
_SIGNUP_CHANNELS = ("web", "app", "store", "referral")
_PRODUCT_WORDS = {
    "electronics": ("Headphones", "Smartwatch", "Speaker", "Tablet", "E-Reader", "Webcam",
                    "Keyboard", "Monitor", "Charger", "Camera"),
    "fashion": ("Jacket", "Sneakers", "Dress", "Jeans", "Scarf", "Hoodie", "Boots", "Shirt",
                "Handbag", "Sunglasses"),
    "home": ("Lamp", "Cushion", "Blanket", "Vase", "Kettle", "Pan Set", "Rug", "Mirror",
             "Storage Box", "Coffee Maker"),
    "beauty": ("Moisturiser", "Serum", "Lipstick", "Shampoo", "Perfume", "Face Mask",
               "Nail Polish", "Sunscreen", "Hair Oil", "Cleanser"),
    "sports": ("Yoga Mat", "Running Shoes", "Dumbbells", "Water Bottle", "Bike Helmet",
               "Tennis Racket", "Gym Bag", "Resistance Bands", "Football", "Sports Watch"),
    "grocery": ("Coffee Beans", "Olive Oil", "Pasta", "Green Tea", "Granola", "Dark Chocolate",
                "Honey", "Rice", "Spice Mix", "Peanut Butter"),
    "books": ("Novel", "Cookbook", "Biography", "Thriller", "Travel Guide", "Poetry",
              "Children's Book", "History Book", "Science Book", "Comic"),
    "toys": ("Puzzle", "Building Blocks", "Board Game", "Plush Bear", "Toy Car", "Doll",
             "Kite", "Train Set", "Art Kit", "Robot Kit"),
}  # fmt: skip
_ADJECTIVES = ("Classic", "Pro", "Lite", "Max", "Eco", "Smart", "Premium", "Essential", "Urban",
               "Nova", "Aero", "Prime")  # fmt: skip
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


@dataclass(frozen=True)
class _Clock:
    start: pd.Timestamp  # history start (UTC midnight)
    end: pd.Timestamp
    end_s: int  # seconds from start to end
    future_s: int  # seconds from start to end + FUTURE_DAYS
    cum: np.ndarray  # cumulative seasonal intensity at day boundaries 0..n_days

    def to_us(self, seconds: np.ndarray) -> np.ndarray:
        return (self.start.value // 1_000 + seconds.astype(np.int64) * 1_000_000).astype(np.int64)


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
    clock = _make_clock(end, years)
    rngs = dict(zip(_STEPS, np.random.default_rng(seed).spawn(len(_STEPS)), strict=True))
    with tqdm(total=len(_STEPS), desc="demo data", unit="step", disable=not progress) as bar:

        def step(name: str) -> np.random.Generator:
            bar.set_postfix_str(name)
            log.debug("simulate: %s", name)
            return rngs[name]

        world = _draw(step, bar, customers, clock)
        step("tables")
        yield from _emit(world, clock, seed)
        bar.update()


def _draw(
    step: Callable[[str], np.random.Generator], bar: Any, customers: int, clock: _Clock
) -> dict[str, Any]:
    """Run the generation steps; every step has its own child generator."""
    n_dup = max(1, round(_FAULT_RATES["duplicate_customer"] * customers))
    w: dict[str, Any] = {}
    w["people"] = people = _people(step("people"), customers - n_dup, clock)
    bar.update()
    rng = step("accounts")
    w["accounts"] = _accounts(rng, people, n_dup, clock)
    w["recs"] = _customer_records(rng, people, clock)
    bar.update()
    w["products"] = _products(step("products"))
    bar.update()
    email = _email_events(step("email"), people, clock)
    bar.update()
    orders, future = _orders(step("orders"), people, clock)
    bar.update()
    rng = step("experiment")
    orders, w["exp_users"] = _experiment(rng, people, orders, email, clock)
    w["orders"], w["future"], w["email"] = _move_to_duplicates(rng, people, orders, future, email)
    bar.update()
    w["items"] = _order_items(step("items"), people, w["orders"], w["products"])
    bar.update()
    # order faults come first so that tracked purchase sessions only follow clean orders
    rng = step("faults")
    faults = _FaultLog()
    touched = _order_faults(rng, w["accounts"], w["orders"], clock, faults)
    w["web"] = _web_events(step("web"), people, w["accounts"], w["orders"], w["items"],
                           w["products"], touched, clock)  # fmt: skip
    _trim_heap()
    bar.update()
    _plant_faults(rng, people, w["accounts"], w["recs"], w["items"], w["web"], w["email"],
                  w["exp_users"], touched, clock, faults)  # fmt: skip
    w["faults"] = faults.frame()
    bar.update()
    return w


def _trim_heap() -> None:
    """Return freed heap pages to the system (glibc only; elsewhere a no-op).

    Generation frees many large temporaries; without this, fragmentation keeps the
    resident size well above the live data at a million customers.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _check_args(customers: int, years: float) -> tuple[int, float]:
    if isinstance(customers, bool) or not isinstance(customers, int | np.integer):
        raise TypeError(f"customers must be an int, got {type(customers).__name__}")
    if customers < 100:
        raise ValueError(f"customers must be at least 100, got {customers}")
    if not 0.25 <= float(years) <= 10:
        raise ValueError(f"years must be between 0.25 and 10, got {years}")
    return int(customers), float(years)


def _make_clock(end: str, years: float) -> _Clock:
    stamp = pd.Timestamp(end)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    days = round(years * 365.25)
    start = stamp.normalize() - pd.Timedelta(days=days)
    end_s = int((stamp - start).total_seconds())
    n_days = int(np.ceil(end_s / DAY)) + FUTURE_DAYS + 1
    dates = pd.date_range(start, periods=n_days, freq="D")
    month, dom = dates.month.to_numpy(), dates.day.to_numpy()
    f = _MONTHLY[month - 1] * _WEEKLY[dates.day_of_week.to_numpy()]
    f = f * np.where((month == 11) & (dom >= 24), 1.6, 1.0)  # Black Friday week
    f = f * np.where((month == 12) & (dom >= 24) & (dom <= 26), 0.5, 1.0)
    f = f / f[: max(1, end_s // DAY)].mean()
    cum = np.concatenate([[0.0], np.cumsum(f)])
    return _Clock(start, stamp, end_s, end_s + FUTURE_DAYS * DAY, cum)


def _persona_param(attr: str) -> np.ndarray:
    return np.array([getattr(p, attr) for p in PERSONAS], dtype=np.float64)


def _poisson_times(
    rng: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray, clock: _Clock
) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal Poisson process per owner on ``[a, b)`` seconds; ``rate`` is per day.

    Returns the owner index and time (seconds) of every event, hours drawn from the
    daily profile where that keeps the event inside its window.
    """
    grid = np.arange(len(clock.cum), dtype=np.float64)
    live = b > a
    lam_a = np.interp(np.where(live, a, 0) / DAY, grid, clock.cum)
    lam_b = np.interp(np.where(live, b, 0) / DAY, grid, clock.cum)
    counts = rng.poisson(np.where(live, rate * (lam_b - lam_a), 0.0))
    owner = np.repeat(np.arange(len(rate), dtype=np.int32), counts)
    lam = lam_a[owner] + rng.random(len(owner)) * (lam_b - lam_a)[owner]
    t_day = np.interp(lam, clock.cum, grid)
    plain = np.clip(np.floor(t_day * DAY).astype(np.int64), a[owner], b[owner] - 1)
    hour = rng.choice(24, size=len(owner), p=_HOURS / _HOURS.sum())
    shaped = (np.floor(t_day).astype(np.int64) * 24 + hour) * 3600 + rng.integers(
        0, 3600, len(owner)
    )
    inside = (shaped >= a[owner]) & (shaped < b[owner])
    return owner, np.where(inside, shaped, plain)


def _people(rng: np.random.Generator, n: int, clock: _Clock) -> dict[str, np.ndarray]:
    """Persona, sign-up, churn and behavioural parameters of each real person."""
    persona = rng.choice(len(PERSONAS), size=n, p=_persona_param("share")).astype(np.int8)
    pre = rng.random(n) < _persona_param("prehistory_share")[persona]
    growth = 0.3  # sign-ups grow over the history: density proportional to 1 + growth * t / T
    u = rng.random(n)
    x = (np.sqrt(1 + 2 * growth * u * (1 + growth / 2)) - 1) / growth
    signup_days = np.where(pre, -rng.uniform(0, 3 * 365, n), x * clock.end_s / DAY)
    signup = np.minimum(np.floor(signup_days * DAY).astype(np.int64), clock.end_s - 3600)
    life = rng.exponential(_persona_param("mean_lifetime_days")[persona]) * DAY
    # exponential lifetimes are memoryless: people signed up earlier are alive at the start
    churn = np.maximum(signup, 0) + np.floor(life).astype(np.int64) + 3600

    def beta(mean: np.ndarray, k: float = 12.0) -> np.ndarray:
        return rng.beta(mean * k, (1 - mean) * k)

    shares = np.empty((n, len(CATEGORIES)), dtype=np.float64)
    for code, p in enumerate(PERSONAS):
        rows = np.flatnonzero(persona == code)
        shares[rows] = rng.dirichlet(np.array(p.category_weights) * 60, size=len(rows))
    hour = (_persona_param("open_hour")[persona] + rng.normal(0, 1.0, n)) % 24
    return {
        "persona": persona,
        "signup": signup,
        "churn": churn,
        "rate_mult": rng.gamma(6.0, 1 / 6, n),
        "basket_mult": np.exp(rng.normal(-(0.25**2) / 2, 0.25, n)),
        "web_mult": rng.gamma(4.0, 0.25, n),
        "opt_in": rng.random(n) < _persona_param("opt_in")[persona],
        "open_p": beta(_persona_param("open_rate")[persona]),
        "click_p": beta(_persona_param("click_rate")[persona]),
        "hour": hour,
        "cat_cum": np.cumsum(shares, axis=1).astype(np.float32),
    }


def _accounts(
    rng: np.random.Generator, people: dict[str, np.ndarray], n_dup: int, clock: _Clock
) -> dict[str, np.ndarray]:
    """Customer records: one per person, second accounts of some people, deleted accounts.

    Customer numbers follow sign-up order; deleted accounts (kind 2) leave gaps that
    orphan orders refer to. Adds ``dup_account`` and ``dup_signup`` to ``people``.
    """
    n = len(people["persona"])
    a = np.maximum(people["signup"], 0)
    b = np.minimum(people["churn"], clock.end_s)
    candidates = np.flatnonzero(b - a >= 90 * DAY)
    n_dup = min(n_dup, len(candidates))
    originals = np.sort(rng.choice(candidates, size=n_dup, replace=False))
    frac = rng.uniform(0.15, 0.85, n_dup)
    dup_signup = a[originals] + np.floor(frac * (b - a)[originals]).astype(np.int64)
    n_ghost = max(2, round(0.01 * n))
    ghost_signup = rng.integers(-365 * DAY, clock.end_s - 30 * DAY, n_ghost)
    person = np.concatenate([np.arange(n), originals, np.full(n_ghost, -1)]).astype(np.int32)
    kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n, n_dup, n_ghost])
    signup = np.concatenate([people["signup"], dup_signup, ghost_signup])
    chrono = np.lexsort((np.arange(len(signup)), signup))
    number = np.empty(len(signup), dtype=np.int64)
    number[chrono] = np.arange(1, len(signup) + 1)
    people["dup_account"] = np.full(n, -1, dtype=np.int32)
    people["dup_account"][originals] = np.arange(n, n + n_dup, dtype=np.int32)
    people["dup_signup"] = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    people["dup_signup"][originals] = dup_signup
    return {"person": person, "kind": kind, "signup": signup, "number": number}


def _products(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A catalogue of ``_PRODUCTS_PER_CATEGORY`` products per category, sorted by price."""
    k = _PRODUCTS_PER_CATEGORY
    cat = np.repeat(np.arange(len(CATEGORIES), dtype=np.int8), k)
    cents = np.empty(len(cat), dtype=np.int64)
    names: list[str] = []
    for c, (median, sigma) in enumerate(_CATEGORY_PRICES):
        price = np.exp(rng.normal(np.log(median), sigma, k))
        cents[c * k : (c + 1) * k] = np.sort(np.maximum(np.round(price) * 100 - 1, 99))
        words = _PRODUCT_WORDS[CATEGORIES[c]]
        adj = rng.choice(_ADJECTIVES, size=k)
        noun = rng.choice(words, size=k)
        names.extend(f"{x} {y}" for x, y in zip(adj, noun, strict=True))
    named = pd.Series(names)
    repeat = named.groupby(named).cumcount().to_numpy()
    names = [f"{x} {r + 1}" if r else x for x, r in zip(names, repeat, strict=True)]
    number = rng.permutation(len(cat)) + 1
    key = cat * 100.0 + np.log(cents)
    popularity = rng.pareto(1.2, len(cat)) + 1
    starts = np.arange(len(CATEGORIES)) * k
    return {"cat": cat, "cents": cents, "name": np.array(names, dtype=object), "number": number,
            "key": key, "popularity": popularity, "start": starts}  # fmt: skip


def _draw_rows(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A category per element, drawn from row ``rows[i]`` of cumulative shares ``cum``."""
    u = rng.random(len(rows)).astype(np.float32)
    out = np.empty(len(rows), dtype=np.int8)
    chunk = 2_000_000  # bounds the (chunk x categories) temporary
    for s in range(0, len(rows), chunk):
        part = cum[rows[s : s + chunk], :-1]
        out[s : s + chunk] = (u[s : s + chunk, None] > part).sum(axis=1)
    return out


def _product_in_category(
    rng: np.random.Generator, products: dict[str, np.ndarray], cat: np.ndarray
) -> np.ndarray:
    """A product per element from category ``cat``, weighted by popularity."""
    k = _PRODUCTS_PER_CATEGORY
    pop = products["popularity"].reshape(len(CATEGORIES), k)
    within = np.cumsum(pop / pop.sum(axis=1, keepdims=True), axis=1)
    edges = (np.arange(len(CATEGORIES))[:, None] + within).ravel()  # category c spans (c, c+1]
    pos = np.searchsorted(edges, cat + rng.random(len(cat)), side="right")
    return np.clip(pos, products["start"][cat], products["start"][cat] + k - 1)


def _email_events(
    rng: np.random.Generator, people: dict[str, np.ndarray], clock: _Clock
) -> dict[str, np.ndarray]:
    """Campaign sends every two weeks and each recipient's reaction.

    Campaigns go to a sample of the customers who opted in, have signed up and have
    neither unsubscribed nor bounced. Returns the events (per person; moved to second
    accounts later) and ``stop``: when each person stopped receiving campaigns.
    """
    n = len(people["persona"])
    persona = people["persona"]
    subscribed = people["opt_in"].copy()
    stop = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    p_bounce = np.where(rng.random(n) < 0.015, 0.5, 0.001)
    p_unsub = _persona_param("unsubscribe_rate")[persona]
    sends = np.arange(2 * DAY + 9 * 3600, clock.end_s, 14 * DAY, dtype=np.int64)
    sends = sends + rng.integers(0, 4, len(sends)) * 3600  # 9:00 to 12:00 UTC
    parts: list[tuple[np.ndarray, ...]] = []
    for c, send in enumerate(sends):
        month = (clock.start + pd.Timedelta(seconds=int(send))).month
        share = 0.85 if month in (11, 12) else 0.6
        idx = np.flatnonzero(subscribed & (people["signup"] < send) & (rng.random(n) < share))
        k = len(idx)
        sent = send + rng.integers(0, 1200, k)
        bounce = rng.random(k) < p_bounce[idx]
        engaged = np.exp(-np.maximum(send - people["churn"][idx], 0) / (45 * DAY))
        opened = ~bounce & (rng.random(k) < people["open_p"][idx] * engaged)
        t_open = _open_times(rng, sent, people["hour"][idx])
        clicked = opened & (rng.random(k) < people["click_p"][idx])
        t_click = t_open + 10 + rng.exponential(180, k).astype(np.int64)
        unsub = ~bounce & (rng.random(k) < p_unsub[idx] * (1 + 3 * (1 - engaged)))
        late = sent + 60 + rng.exponential(6 * 3600, k).astype(np.int64)
        t_unsub = np.where(opened, t_open + 30 + rng.exponential(120, k).astype(np.int64), late)
        t_bounce = sent + rng.integers(5, 120, k)
        for mask, when, code in (
            (np.ones(k, dtype=bool), sent, 0),
            (opened, t_open, 1),
            (clicked, t_click, 2),
            (bounce, t_bounce, 3),
            (unsub, t_unsub, 4),
        ):
            m = int(mask.sum())
            parts.append((idx[mask].astype(np.int32), np.full(m, c, np.int16),
                          np.full(m, code, np.int8), when[mask]))  # fmt: skip
        gone = bounce | unsub
        subscribed[idx[gone]] = False
        stop[idx[gone]] = np.where(bounce, t_bounce, t_unsub)[gone]
    person, campaign, etype, t = (np.concatenate(x) for x in zip(*parts, strict=True))
    keep = t < clock.end_s
    return {"person": person[keep], "campaign": campaign[keep], "type": etype[keep],
            "t": t[keep], "stop": stop, "n_campaigns": np.array(len(sends))}  # fmt: skip


def _open_times(rng: np.random.Generator, sent: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Open time: around the person's preferred hour on the send day or a later day."""
    k = len(sent)
    day_start = (sent // DAY) * DAY
    target = day_start + ((hour + rng.normal(0, 1.0, k)) * 3600).astype(np.int64)
    target = np.where(target < sent + 300, target + DAY, target)
    target = target + (rng.geometric(0.7, k) - 1) * DAY
    quick = sent + 60 + rng.exponential(3600, k).astype(np.int64)
    return np.where(rng.random(k) < 0.1, quick, target)


def _orders(
    rng: np.random.Generator, people: dict[str, np.ndarray], clock: _Clock
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Organic orders between sign-up and churn, and the completed ones after ``end``."""
    signup, churn, persona = people["signup"], people["churn"], people["persona"]
    rate = _persona_param("orders_per_year")[persona] / 365.25 * people["rate_mult"]
    a = np.maximum(signup, 0)
    b = np.minimum(churn, clock.end_s)
    owner, t = _poisson_times(rng, rate, a, b, clock)
    # many first orders are placed right after signing up
    first = (signup >= 0) & (rng.random(len(signup)) < _persona_param("first_order_prob")[persona])
    t_first = signup + 1800 + rng.exponential(0.3 * DAY, len(signup)).astype(np.int64)
    first &= t_first < b
    owner = np.concatenate([owner, np.flatnonzero(first).astype(np.int32)])
    t = np.concatenate([t, t_first[first]])
    orders = _order_attributes(rng, people, owner, t)
    f_owner, f_t = _poisson_times(rng, rate, np.maximum(a, clock.end_s),
                                  np.minimum(churn, clock.future_s), clock)  # fmt: skip
    future = _order_attributes(rng, people, f_owner, f_t)
    future = {k: v[future["status"] == 0] for k, v in future.items()}
    return orders, future


def _order_attributes(
    rng: np.random.Generator, people: dict[str, np.ndarray], owner: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """Status, channel and target value (cents) of orders placed by ``owner`` at ``t``."""
    persona = people["persona"][owner]
    k = len(owner)
    channel_cum = np.cumsum([p.channel_weights for p in PERSONAS], axis=1)
    channel = (rng.random(k)[:, None] > channel_cum[persona, :-1]).sum(axis=1).astype(np.int8)
    status = rng.choice(len(_STATUSES), size=k, p=_STATUS_P).astype(np.int8)
    return {
        "person": owner.astype(np.int32),
        "t": t.astype(np.int64),
        "status": status,
        "channel": channel,
        "target": _basket_cents(rng, people, owner),
        "is_exp": np.zeros(k, dtype=bool),
    }


def _basket_cents(
    rng: np.random.Generator, people: dict[str, np.ndarray], owner: np.ndarray
) -> np.ndarray:
    persona = people["persona"][owner]
    mu = np.log(_persona_param("basket_median")[persona])
    value = people["basket_mult"][owner] * np.exp(
        rng.normal(mu, _persona_param("basket_sigma")[persona])
    )
    return np.maximum(np.round(value * 100), 100).astype(np.int64)


def _expected_basket(people: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    persona = people["persona"][rows]
    median = _persona_param("basket_median")[persona]
    sigma = _persona_param("basket_sigma")[persona]
    return people["basket_mult"][rows] * median * np.exp(sigma**2 / 2)


def _experiment(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    clock: _Clock,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Assign ``exp_personalised_recs`` and replace the window's orders by its outcome.

    Eligible: opted in and still subscribed, signed up before assignment and alive until
    the window closes, no second account. Each assigned user converts (one completed order in the window) with
    a known per-user probability; organic orders inside the window are removed.
    """
    n = len(people["persona"])
    window = WINDOW_DAYS * DAY
    last = clock.end_s - window - 2 * DAY
    assigned = last - rng.integers(0, _ASSIGN_DAYS * DAY, n)
    eligible = (
        people["opt_in"]
        & (people["signup"] < assigned)
        & (people["churn"] > assigned + window)  # alive for the whole window
        & (email["stop"] > assigned)
        & (people["dup_account"] < 0)
    )
    users = np.flatnonzero(eligible & (rng.random(n) < _PARTICIPATION)).astype(np.int32)
    arm = np.zeros(len(users), dtype=np.int8)
    arm[rng.permutation(len(users))[: len(users) // 2]] = 1
    persona = people["persona"][users]
    p_control = np.clip(
        _persona_param("exp_control_rate")[persona] * np.sqrt(people["rate_mult"][users]),
        0.005,
        0.9,
    )
    p_treat = np.clip(p_control * (1 + _persona_param("exp_relative_lift")[persona]), 0.0, 0.95)
    p = np.where(arm == 1, p_treat, p_control)
    mult = np.asarray(_REVENUE_MULTIPLIER)[arm]
    converted = rng.random(len(users)) < p
    start = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    start[users] = assigned[users]
    o_start = start[orders["person"]]
    inside = (orders["t"] >= o_start) & (orders["t"] < o_start + window)
    orders = {k: v[~inside] for k, v in orders.items()}
    buyers = users[converted]
    extra = _order_attributes(
        rng, people, buyers, assigned[buyers] + rng.integers(0, window, len(buyers))
    )
    extra["status"][:] = 0
    extra["channel"] = (rng.random(len(buyers)) < 0.5).astype(np.int8)  # web or app
    extra["target"] = np.round(extra["target"] * mult[converted]).astype(np.int64)
    extra["is_exp"][:] = True
    orders = {k: np.concatenate([orders[k], extra[k]]) for k in orders}
    exp_users = {
        "person": users,
        "assigned": assigned[users],
        "arm": arm,
        "p": p,
        "p_control": p_control,
        "p_treat": p_treat,
        "revenue": p * _expected_basket(people, users) * mult,
        "basket": _expected_basket(people, users),
        "converted": converted,
    }
    log.debug("experiment: %d users, %d orders removed from windows", len(users), inside.sum())
    return orders, exp_users


def _move_to_duplicates(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    future: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Give every row an ``account``; half of a person's rows after their second sign-up
    move to the second account (e-mails by campaign, so a send and its reactions stay)."""
    for table in (orders, future):
        after = table["t"] >= people["dup_signup"][table["person"]]
        move = after & (rng.random(len(after)) < 0.5)
        table["account"] = np.where(move, people["dup_account"][table["person"]], table["person"])
    n_campaigns = int(email["n_campaigns"])
    has_dup = people["dup_account"] >= 0
    rows = np.flatnonzero(has_dup)
    lookup = np.full(len(has_dup), -1, dtype=np.int64)
    lookup[rows] = np.arange(len(rows))
    coin = rng.random((len(rows), max(n_campaigns, 1))) < 0.5
    person = email["person"]
    slot = lookup[person]
    sent_at = _campaign_sent_at(email)
    move = (slot >= 0) & (sent_at >= people["dup_signup"][person])
    move[move] = coin[slot[move], email["campaign"][move]]
    email["account"] = np.where(move, people["dup_account"][person], person).astype(np.int32)
    return orders, future, email


def _campaign_sent_at(email: dict[str, np.ndarray]) -> np.ndarray:
    """For each e-mail event, the time its send went out to that person."""
    sent = email["type"] == 0
    key = email["person"].astype(np.int64) * 100_000 + email["campaign"]
    order = np.argsort(key[sent], kind="stable")
    keys_sorted = key[sent][order]
    times_sorted = email["t"][sent][order]
    pos = np.searchsorted(keys_sorted, key)
    return times_sorted[np.clip(pos, 0, len(keys_sorted) - 1)]


def _order_items(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Number the orders by time, draw their lines and set each order's amount.

    Lines follow the customer's category taste; products are picked near the unit price
    the order's target value implies; unit prices are the list price scaled by at most
    ±30 % (discounts, bundles) so the lines add up to about the target. Experiment orders
    hit their target exactly (to the cent), which keeps the planted revenue effect exact.
    """
    chrono = np.lexsort((orders["account"], orders["t"]))
    for key in list(orders):
        orders[key] = orders[key][chrono]
    n = len(chrono)
    persona = people["persona"][orders["person"]]
    n_lines = 1 + rng.poisson(_persona_param("lines_per_order")[persona] - 1)
    line_order = np.repeat(np.arange(n, dtype=np.int32), n_lines)
    cat = _draw_rows(rng, people["cat_cum"], orders["person"][line_order])
    qty = (1 + np.minimum(rng.poisson(_CATEGORY_QTY[cat]), 5)).astype(np.int16)
    # share the order's value among its lines in proportion to typical category prices
    typical = np.array([m for m, _ in _CATEGORY_PRICES])[cat] * np.exp(rng.normal(0, 0.3, len(cat)))
    weight = np.bincount(line_order, weights=qty * typical, minlength=n)
    target_unit = orders["target"][line_order] * typical / weight[line_order]
    product = _nearest_product(rng, products, cat, target_unit).astype(np.int16)
    del typical, weight, target_unit, cat
    base = np.bincount(line_order, weights=qty * products["cents"][product], minlength=n)
    scale = orders["target"] / base
    scale = np.where(orders["is_exp"], scale, np.clip(scale, 0.7, 1.3))
    unit = np.maximum(np.round(products["cents"][product] * scale[line_order]), 1).astype(np.int64)
    amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    exp_rows = np.flatnonzero(orders["is_exp"])
    if len(exp_rows):  # put the rounding residue on one unit of the order's first line
        first_line = np.concatenate([[0], np.cumsum(n_lines)[:-1]])[exp_rows]
        residue = orders["target"][exp_rows] - amount[exp_rows]
        fixable = (qty[first_line] == 1) & (unit[first_line] + residue > 0)
        unit[first_line[fixable]] += residue[fixable]
        amount = np.bincount(line_order, weights=qty * unit, minlength=n).astype(np.int64)
    orders["amount"] = amount
    orders["number"] = np.arange(1, n + 1, dtype=np.int64)
    clean_order = (orders["status"] == 0) & ~orders["is_exp"]
    return {"order": line_order, "product": product, "qty": qty, "unit": unit.astype(np.int32),
            "n_lines": n_lines.astype(np.int16), "clean": clean_order}  # fmt: skip


def _nearest_product(
    rng: np.random.Generator,
    products: dict[str, np.ndarray],
    cat: np.ndarray,
    target_cents: np.ndarray,
) -> np.ndarray:
    """In category ``cat``, a product priced near ``target_cents`` (with a little jitter)."""
    key = products["key"]
    query = cat * 100.0 + np.log(np.maximum(target_cents, 1.0))
    lo = products["start"][cat]
    hi = lo + _PRODUCTS_PER_CATEGORY - 1
    pos = np.clip(np.searchsorted(key, query), lo, hi)
    prev = np.clip(pos - 1, lo, hi)
    pos = np.where(np.abs(key[prev] - query) < np.abs(key[pos] - query), prev, pos)
    return np.clip(pos + rng.integers(-2, 3, len(cat)), lo, hi)


def _web_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    touched: np.ndarray,
    clock: _Clock,
) -> dict[str, np.ndarray]:
    """Browsing sessions (some with abandoned carts, some anonymous) and the tracked
    sessions that end in an online order's purchase event at the order's time."""
    browse = _browse_sessions(rng, people, products, clock)
    bought = _purchase_sessions(rng, orders, items, touched)
    n_browse = len(browse["account"])
    s_account = np.concatenate([browse["account"], bought["account"]])
    s_anchor = np.concatenate([browse["t0"], bought["t_end"]])
    n_sessions = len(s_account)
    session = np.concatenate([browse.pop("ev_session"), bought.pop("ev_session") + n_browse])
    etype = np.concatenate([browse.pop("ev_type"), bought.pop("ev_type")])
    product = np.concatenate([browse.pop("ev_product"), bought.pop("ev_product")])
    order = np.lexsort((etype, session))  # page views, product views, cart, checkout, purchase
    session, etype, product = session[order], etype[order], product[order]
    del order
    counts = np.bincount(session, minlength=n_sessions)
    first = (np.cumsum(counts) - counts).astype(np.int64)
    offset = np.cumsum(5 + rng.exponential(40, len(session)).astype(np.int64))
    offset -= offset[first][session]
    last_offset = offset[np.maximum(first + counts - 1, 0)]
    t = s_anchor[session]
    bought_ev = session >= n_browse
    t[~bought_ev] += offset[~bought_ev]
    t[bought_ev] -= last_offset[session[bought_ev]] - offset[bought_ev]  # purchase at t_end
    del offset, bought_ev, last_offset
    account = s_account[session]
    known = account >= 0
    t[known] = np.maximum(t[known], accounts["signup"][account[known]])
    keep = t < clock.end_s
    session, etype, product, t = session[keep], etype[keep], product[keep], t[keep]
    del account, known, keep
    # sessions are numbered by start time, events by time (then session, then position)
    counts = np.bincount(session, minlength=n_sessions)
    first = np.cumsum(counts) - counts
    starts = np.full(n_sessions, np.iinfo(np.int64).max, dtype=np.int64)
    starts[counts > 0] = t[first[counts > 0]]  # times rise within a session
    s_number = np.empty(n_sessions, dtype=np.int32)
    s_number[np.lexsort((np.arange(n_sessions), starts))] = np.arange(1, n_sessions + 1)
    position = (np.arange(len(session)) - first[session]).astype(np.int16)
    session = s_number[session]
    chrono = np.lexsort((position, session, t))
    del position
    return {"session": session[chrono], "account": s_account[s_number.argsort()][session[chrono] - 1],
            "type": etype[chrono], "product": product[chrono], "t": t[chrono],
            "number": np.arange(1, len(chrono) + 1, dtype=np.int32)}  # fmt: skip


def _browse_sessions(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    products: dict[str, np.ndarray],
    clock: _Clock,
) -> dict[str, np.ndarray]:
    """Sessions without a purchase: page views, product views, sometimes a cart."""
    n = len(people["persona"])
    rate = (
        _persona_param("browse_sessions_per_year")[people["persona"]] / 365.25 * people["web_mult"]
    )
    a = np.maximum(people["signup"], 0)
    owner, t0 = _poisson_times(rng, rate, a, np.minimum(people["churn"], clock.end_s), clock)
    after = t0 >= people["dup_signup"][owner]
    move = after & (rng.random(len(owner)) < 0.5)
    account = np.where(move, people["dup_account"][owner], owner).astype(np.int32)
    # anonymous visitors: ~6 % extra sessions, tastes of a random persona
    n_anon_target = 0.06 * len(owner)
    day_end = clock.end_s / DAY
    anon_rate = np.array([n_anon_target / np.interp(day_end, np.arange(len(clock.cum)), clock.cum)])
    _, anon_t0 = _poisson_times(
        rng, anon_rate, np.zeros(1, np.int64), np.array([clock.end_s]), clock
    )
    anon_persona = rng.choice(len(PERSONAS), size=len(anon_t0), p=_persona_param("share"))
    persona = np.concatenate([people["persona"][owner], anon_persona]).astype(np.int64)
    taste_row = np.concatenate([owner, n + anon_persona]).astype(np.int64)
    account = np.concatenate([account, np.full(len(anon_t0), -1, np.int32)])
    t0 = np.concatenate([t0, anon_t0])
    k = len(t0)
    n_pv = 1 + rng.poisson(0.4, k)
    cart = rng.random(k) < _persona_param("cart_rate")[persona]
    n_view = np.maximum(rng.poisson(_persona_param("views_per_session")[persona]), cart)
    checkout = cart & (rng.random(k) < 0.3)
    taste = np.vstack(
        [people["cat_cum"], np.cumsum([p.category_weights for p in PERSONAS], axis=1)]
    )
    view_session = np.repeat(np.arange(k), n_view)
    cat = _draw_rows(rng, taste.astype(np.float32), taste_row[view_session])
    view_product = _product_in_category(rng, products, cat)
    first_view = np.concatenate([[0], np.cumsum(n_view)[:-1]])
    cart_sessions = np.flatnonzero(cart)
    ev_session = np.concatenate([np.repeat(np.arange(k), n_pv), view_session, cart_sessions,
                                 np.flatnonzero(checkout)]).astype(np.int32)  # fmt: skip
    ev_type = np.repeat(np.array([0, 1, 2, 3], np.int8),
                        [n_pv.sum(), len(view_session), len(cart_sessions), checkout.sum()])  # fmt: skip
    ev_product = np.concatenate([np.full(n_pv.sum(), -1), view_product,
                                 view_product[first_view[cart_sessions]],
                                 np.full(checkout.sum(), -1)]).astype(np.int16)  # fmt: skip
    return {"account": account, "t0": t0, "ev_session": ev_session, "ev_type": ev_type,
            "ev_product": ev_product}  # fmt: skip


def _purchase_sessions(
    rng: np.random.Generator,
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    touched: np.ndarray,
) -> dict[str, np.ndarray]:
    """Tracked sessions of clean online orders: view and add one or two of the order's
    lines, check out, purchase at the order's time."""
    online = (orders["channel"] == 0) | (orders["channel"] == 1)
    tracked = np.flatnonzero(online & ~touched & (rng.random(len(online)) < _TRACKED))
    k = len(tracked)
    n_pv = 1 + rng.poisson(0.2, k)
    n_show = np.minimum(items["n_lines"][tracked], 1 + (rng.random(k) < 0.3))
    first_line = np.concatenate([[0], np.cumsum(items["n_lines"])[:-1]])[tracked]
    line_session = np.repeat(np.arange(k), n_show)
    within = np.arange(len(line_session)) - np.repeat(np.cumsum(n_show) - n_show, n_show)
    line_product = items["product"][np.repeat(first_line, n_show) + within]
    ev_session = np.concatenate([np.repeat(np.arange(k), n_pv), line_session, line_session,
                                 np.arange(k), np.arange(k)]).astype(np.int32)  # fmt: skip
    ev_type = np.repeat(np.array([0, 1, 2, 3, 4], np.int8),
                        [n_pv.sum(), len(line_session), len(line_session), k, k])  # fmt: skip
    ev_product = np.concatenate([np.full(n_pv.sum(), -1), line_product, line_product,
                                 np.full(2 * k, -1)]).astype(np.int16)  # fmt: skip
    return {"account": orders["account"][tracked], "t_end": orders["t"][tracked],
            "ev_session": ev_session, "ev_type": ev_type, "ev_product": ev_product}  # fmt: skip


def _names(text: str) -> np.ndarray:
    return np.array(list(dict.fromkeys(text.split())), dtype=object)


def _zipf_choice(rng: np.random.Generator, values: np.ndarray, size: int) -> np.ndarray:
    """Draw names with a long-tailed popularity so that common names repeat."""
    weights = 1.0 / (np.arange(len(values)) + 8.0)
    order = rng.permutation(len(values))
    return values[order][rng.choice(len(values), size=size, p=weights / weights.sum())]


def _demographics(rng: np.random.Generator, n: int, clock: _Clock) -> dict[str, np.ndarray]:
    """Name, gender, birth date, place, sign-up channel and e-mail of each person."""
    gender = rng.choice(np.array(["F", "M", "X"], dtype=object), size=n, p=(0.51, 0.47, 0.02))
    female = _zipf_choice(rng, _names(_FEMALE), n)
    male = _zipf_choice(rng, _names(_MALE), n)
    use_female = (gender == "F") | ((gender == "X") & (rng.random(n) < 0.5))
    first = np.where(use_female, female, male)
    last = _zipf_choice(rng, _names(_LAST), n)
    age_days = np.clip(rng.normal(40, 13, n), 18, 85) * 365.25
    end_day = clock.end_s // DAY
    birth = ((end_day - np.floor(age_days)).astype(np.int64)) * DAY
    countries = np.array(list(_COUNTRIES), dtype=object)
    country = rng.choice(countries, size=n, p=[v[0] for v in _COUNTRIES.values()])
    city = np.empty(n, dtype=object)
    for code, (_, cities) in _COUNTRIES.items():
        rows = np.flatnonzero(country == code)
        city[rows] = rng.choice(np.array(list(cities), dtype=object), size=len(rows),
                                p=list(cities.values()))  # fmt: skip
    channel = rng.choice(np.array(_SIGNUP_CHANNELS, dtype=object), size=n, p=(0.45, 0.25, 0.2, 0.1))
    year = (clock.start + pd.to_timedelta(birth, unit="s")).year.to_numpy()
    email = _emails(rng, first, last, year)
    return {"first": first, "last": last, "gender": gender, "birth": birth, "country": country,
            "city": city, "channel": channel, "email": email}  # fmt: skip


def _emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, year: np.ndarray
) -> np.ndarray:
    """first.last and its common variants at a few domains, unique even after normalising."""
    n = len(first)
    f = pd.Series(first, dtype="str").str.lower().str.replace(r"[^a-z]", "", regex=True)
    la = pd.Series(last, dtype="str").str.lower().str.replace(r"[^a-z]", "", regex=True)
    nn = pd.Series(rng.integers(1, 99, n)).astype("str").str.zfill(2)
    yy = pd.Series(year % 100).astype("str").str.zfill(2)
    patterns = [f + "." + la, f + la, f + "_" + la, f.str[0] + la, f + "." + la + nn,
                la + "." + f, f + yy]  # fmt: skip
    pick = rng.choice(len(patterns), size=n, p=(0.35, 0.15, 0.08, 0.12, 0.12, 0.08, 0.1))
    local = patterns[0].copy()
    for k, pattern in enumerate(patterns[1:], start=1):
        local = local.where(pick != k, pattern)
    domain = pd.Series(
        rng.choice(np.array(_DOMAINS, dtype=object), size=n, p=_DOMAIN_P), dtype="str"
    )
    for _ in range(20):  # re-draw a numeric suffix until no two people share an address
        key = (
            local.str.replace(".", "", regex=False).str.replace("_", "", regex=False) + "@" + domain
        )
        clash = key.duplicated(keep="first").to_numpy()
        if not clash.any():
            break
        extra = pd.Series(rng.integers(1, 999, clash.sum())).astype("str").to_numpy()
        local[clash] = local[clash] + extra
    return (local + "@" + domain).to_numpy(dtype=object)


def _email_key(email: str) -> str:
    """The normalised address used to check that variants and new addresses stay apart."""
    local, _, domain = email.strip().lower().partition("@")
    return local.split("+")[0].replace(".", "").replace("_", "") + "@" + domain


def _customer_records(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    clock: _Clock,
) -> dict[str, np.ndarray]:
    """Customer attributes per account: persons first, then their second accounts.

    A second account keeps the person's birth date (sometimes left blank), gender,
    country, city and consent, and varies the e-mail and/or the name.
    """
    n = len(people["persona"])
    demo = _demographics(rng, n, clock)
    originals = np.flatnonzero(people["dup_account"] >= 0)
    recs = {k: np.concatenate([v, v[originals]]) for k, v in demo.items()}
    recs["opt_in"] = np.concatenate([people["opt_in"], people["opt_in"][originals]])
    recs["birth_missing"] = np.zeros(len(recs["opt_in"]), dtype=bool)
    recs["birth_missing"][n:] = rng.random(len(originals)) < 0.1
    recs["channel"][n:] = rng.choice(np.array(_SIGNUP_CHANNELS, dtype=object), size=len(originals))
    keys = {_email_key(e) for e in demo["email"]}
    details = [_vary_duplicate(rng, recs, n + j, keys) for j in range(len(originals))]
    recs["dup_detail"] = np.array(details, dtype=object)
    return recs


def _vary_duplicate(
    rng: np.random.Generator, recs: dict[str, np.ndarray], row: int, keys: set[str]
) -> str:
    """Change row ``row`` (a copy of the original person) into a plausible second account.

    Either the e-mail normalises to the original's (case, blanks, gmail dots, +tag) and
    the name may carry a typo or be swapped, or the address is new and the name is
    exactly the original's (possibly swapped) - so a matcher always has a route.
    """
    email = recs["email"][row]
    local, domain = email.split("@")
    kind = rng.choice(["case", "whitespace", "gmail_dots", "plus_tag", "new_address"],
                      p=(0.25, 0.15, 0.15, 0.2, 0.25))  # fmt: skip
    if kind == "gmail_dots" and (domain != "gmail.com" or len(local.replace(".", "")) < 3):
        kind = "case"
    if kind == "case":
        email = email.upper() if rng.random() < 0.5 else local.title() + "@" + domain.title()
    elif kind == "whitespace":
        email = rng.choice([" ", "  ", "\t"]) + email + rng.choice(["", " ", "  "])
    elif kind == "gmail_dots":
        bare = local.replace(".", "")
        cut = int(rng.integers(1, len(bare)))
        email = bare[:cut] + "." + bare[cut:] + "@" + domain
    elif kind == "plus_tag":
        email = f"{local}+{rng.choice(['shop', 'news', 'deals', 'promo', '2025'])}@{domain}"
    else:
        other = [d for d in _DOMAINS if d != domain]
        base = "".join(
            ch for ch in (recs["first"][row] + recs["last"][row]).lower() if ch.isalpha()
        )
        email = f"{base}{rng.integers(100, 9999)}@{rng.choice(other)}"
        while _email_key(email) in keys:
            email = email.replace("@", f"{rng.integers(0, 9)}@")
        keys.add(_email_key(email))
    recs["email"][row] = email
    names = ["same", "typo", "swapped"]
    name_kind = rng.choice(names, p=(0.6, 0.0, 0.4) if kind == "new_address" else (0.4, 0.4, 0.2))
    if name_kind == "swapped":
        recs["first"][row], recs["last"][row] = recs["last"][row], recs["first"][row]
    elif name_kind == "typo":
        column = "first" if rng.random() < 0.5 else "last"
        recs[column][row] = _typo(rng, recs[column][row])
        name_kind = f"typo in {column}_name"
    return f"email {kind}; name {name_kind}"


def _typo(rng: np.random.Generator, word: str) -> str:
    """One edit (substitute, delete, transpose or double a character) after the first."""
    if len(word) < 3:
        return word + word[-1]
    i = int(rng.integers(1, len(word) - 1))
    op = rng.choice(["substitute", "delete", "transpose", "double"])
    if op == "substitute":
        letters = [c for c in "aeiourstnlm" if c != word[i].lower()]
        return word[:i] + str(rng.choice(letters)) + word[i + 1 :]
    if op == "delete":
        return word[:i] + word[i + 1 :]
    if op == "transpose" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


_ID_WIDTH = {"C": 7, "O": 8, "L": 9, "E": 9, "W": 9, "S": 9, "P": 4, "CMP": 3}


def _width(prefix: str, largest: int) -> int:
    return max(_ID_WIDTH[prefix], len(str(int(largest))))


def _fmt(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Ids of a few rows as a Python object array (for fault keys and details)."""
    return np.array([f"{prefix}{int(x):0{width}d}" for x in numbers], dtype=object)


def _iso(seconds: np.ndarray, clock: _Clock) -> np.ndarray:
    stamps = pd.to_datetime(clock.to_us(np.asarray(seconds)), unit="us", utc=True)
    return stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)


class _FaultLog:
    """Collects planted faults as (table, key, column, fault, detail) rows."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self, table: str, keys: np.ndarray, column: str | None, fault: str, detail: Any
    ) -> None:
        if len(keys) == 0:
            return
        detail = np.broadcast_to(np.asarray(detail, dtype=object), (len(keys),))
        self.parts.append(pd.DataFrame({"table": table, "key": keys, "column": column,
                                        "fault": fault, "detail": detail}))  # fmt: skip

    def frame(self) -> pd.DataFrame:
        out = pd.concat(self.parts, ignore_index=True).astype("str")
        out = out.sort_values(["table", "fault", "key", "column"], kind="stable", ignore_index=True)
        return out


def _count(rate_key: str, n: int) -> int:
    return min(n, max(1, round(_FAULT_RATES[rate_key] * n))) if n else 0


def _plant_faults(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    recs: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    web: dict[str, np.ndarray],
    email: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    touched: np.ndarray,
    clock: _Clock,
    log_: _FaultLog,
) -> None:
    """Plant the faults of customers, order lines and events in place (orders: see
    :func:`_order_faults`). Each row carries at most one fault (blanks aside), and
    faults are chosen so that each stays detectable."""
    cw = _width("C", accounts["number"].max())
    _customer_faults(rng, people, accounts, recs, exp_users, cw, log_)
    _item_faults(rng, touched, items, log_)
    _email_order(email)
    for table, prefix, events in (("web_events", "W", web), ("email_events", "E", email)):
        _event_faults(rng, table, prefix, events, clock, log_)


def _customer_faults(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    recs: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    cw: int,
    log_: _FaultLog,
) -> None:
    """Second accounts, invalid e-mails and blanks in customers."""
    n = len(people["persona"])
    ids = _fmt("C", accounts["number"][: len(recs["email"])], cw)
    dups = np.arange(n, len(recs["email"]))
    log_.add("customers", ids[dups], None, "duplicate_customer",
             "second account of " + ids[accounts["person"][dups]] + ": " + recs["dup_detail"])  # fmt: skip
    log_.add("customers", ids[dups[recs["birth_missing"][dups]]], "birth_date", "missing_value",
             "second account without birth date")  # fmt: skip
    in_exp = np.zeros(n, dtype=bool)
    in_exp[exp_users["person"]] = True
    free = np.flatnonzero((people["dup_account"] < 0) & ~in_exp)
    pool = rng.permutation(free)
    k_invalid = _count("invalid_email", len(recs["email"]))
    bad, pool = pool[:k_invalid], pool[k_invalid:]
    kinds = rng.choice(["missing @", "space inside", "missing domain", "double @", "no dot in domain"],
                       size=len(bad))  # fmt: skip
    for row, kind in zip(bad, kinds, strict=True):
        recs["email"][row] = _break_email(recs["email"][row], kind)
    log_.add("customers", ids[bad], "email", "invalid_email", kinds)
    for column, rate in _MISSING_CUSTOMER.items():
        k = min(len(pool), max(1, round(rate * len(recs["email"]))))
        rows, pool = pool[:k], pool[k:]
        if column == "birth_date":
            recs["birth_missing"][rows] = True
        else:
            recs[{"signup_channel": "channel"}.get(column, column)][rows] = None
        log_.add("customers", ids[rows], column, "missing_value", "blank")


def _break_email(email: str, kind: str) -> str:
    local, domain = email.split("@")
    if kind == "missing @":
        return local + domain
    if kind == "space inside":
        cut = max(1, len(local) // 2)
        return local[:cut] + " " + local[cut:] + "@" + domain
    if kind == "missing domain":
        return local + "@"
    if kind == "double @":
        return local + "@@" + domain
    return local + "@" + domain.split(".")[0]


def _order_faults(
    rng: np.random.Generator,
    accounts: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    clock: _Clock,
    log_: _FaultLog,
) -> np.ndarray:
    """Orphans, outliers, future and pre-sign-up dates, blank channels, repeated rows.

    Experiment orders are left alone. Returns a mask of the orders that carry a fault
    (their lines and web sessions stay clean).
    """
    n = len(orders["t"])
    cw = _width("C", accounts["number"].max())
    ow = _width("O", n)
    pool = rng.permutation(np.flatnonzero(~orders["is_exp"]))
    picked: dict[str, np.ndarray] = {}
    for name in ("orphan_order", "outlier_amount", "future_order", "before_signup",
                 "duplicate_order", "missing_order_channel"):  # fmt: skip
        k = _count(name, n)
        picked[name], pool = np.sort(pool[:k]), pool[k:]

    def ids(rows: np.ndarray) -> np.ndarray:
        return _fmt("O", orders["number"][rows], ow)

    rows = picked["orphan_order"]
    ghosts = np.flatnonzero(accounts["kind"] == 2)
    old = _fmt("C", accounts["number"][orders["account"][rows]], cw)
    orders["account"][rows] = rng.choice(ghosts, size=len(rows))
    log_.add("orders", ids(rows), "customer_id", "orphan_order", "was " + old)

    rows = picked["outlier_amount"]
    factor = rng.uniform(50, 200, len(rows))
    lines = orders["amount"][rows]
    orders["amount"][rows] = np.round(lines * factor).astype(np.int64)
    detail = [f"x{f:.1f}; lines sum {c / 100:.2f}" for f, c in zip(factor, lines, strict=True)]
    log_.add("orders", ids(rows), "amount", "outlier_amount", np.array(detail, dtype=object))

    rows = picked["future_order"]
    was = _iso(orders["t"][rows], clock)
    orders["t"][rows] = clock.end_s + rng.integers(30 * DAY, 3 * 365 * DAY, len(rows))
    log_.add("orders", ids(rows), "ordered_at", "future_timestamp", "was " + was)

    rows = picked["before_signup"]
    signup = accounts["signup"][orders["account"][rows]]
    was = _iso(orders["t"][rows], clock)
    orders["t"][rows] = signup - rng.integers(3600, 180 * DAY, len(rows))
    log_.add("orders", ids(rows), "ordered_at", "before_signup",
             "signup_at " + _iso(signup, clock) + "; was " + was)  # fmt: skip

    rows = picked["missing_order_channel"]
    orders["channel"][rows] = -1
    log_.add("orders", ids(rows), "channel", "missing_value", "blank")

    rows = picked["duplicate_order"]
    orders["repeat"] = rows
    log_.add("orders", ids(rows), None, "duplicate_row", "row appears twice")
    touched = np.zeros(n, dtype=bool)
    for rows in picked.values():
        touched[rows] = True
    return touched


def _item_faults(
    rng: np.random.Generator, touched: np.ndarray, items: dict[str, np.ndarray], log_: _FaultLog
) -> None:
    """Negative quantities on lines of clean, completed, non-experiment orders."""
    order = items["order"]
    ok = items["clean"][order] & ~touched[order]
    k = _count("negative_quantity", len(order))
    rows = np.sort(rng.choice(np.flatnonzero(ok), size=min(k, int(ok.sum())), replace=False))
    detail = np.array(
        [f"quantity was {q}; order completed" for q in items["qty"][rows]], dtype=object
    )
    items["qty"][rows] = -items["qty"][rows]
    lw = _width("L", len(order))
    log_.add("order_items", _fmt("L", rows + 1, lw), "quantity", "negative_quantity", detail)


def _email_order(email: dict[str, np.ndarray]) -> None:
    """Sort e-mail events by time and number them."""
    chrono = np.lexsort((email["type"], email["campaign"], email["account"], email["t"]))
    for key in ("person", "campaign", "type", "t", "account"):
        email[key] = email[key][chrono]
    email["number"] = np.arange(1, len(chrono) + 1, dtype=np.int64)


def _event_faults(
    rng: np.random.Generator,
    table: str,
    prefix: str,
    events: dict[str, np.ndarray],
    clock: _Clock,
    log_: _FaultLog,
) -> None:
    """Future timestamps on events (both tables) and repeated rows (web events)."""
    n = len(events["t"])
    width = _width(prefix, n)
    pool = rng.permutation(n)
    k = _count("future_event", n)
    rows, pool = np.sort(pool[:k]), pool[k:]
    was = _iso(events["t"][rows], clock)
    events["t"][rows] = clock.end_s + rng.integers(30 * DAY, 3 * 365 * DAY, len(rows))
    log_.add(table, _fmt(prefix, events["number"][rows], width), "occurred_at",
             "future_timestamp", "was " + was)  # fmt: skip
    events["repeat"] = np.zeros(0, dtype=np.int64)
    if table == "web_events":
        rows = np.sort(pool[: _count("duplicate_web", n)])
        events["repeat"] = rows
        log_.add(table, _fmt(prefix, events["number"][rows], width), None, "duplicate_row",
                 "row appears twice")  # fmt: skip


def _id_array(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as an Arrow string array, built without Python
    strings (fixed-width bytes plus offsets)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = len(head) + width
    buf = np.empty((len(numbers), size), dtype=np.uint8)
    buf[:, : len(head)] = head
    rest = numbers.copy()
    for k in range(size - 1, len(head) - 1, -1):
        buf[:, k] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(len(numbers) + 1, dtype=np.int64) * size
    return pa.LargeStringArray.from_buffers(
        len(numbers), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buf))
    )


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return pd.Series(_id_array(prefix, numbers, width), dtype="str")


def _take(values: pa.Array, index: np.ndarray) -> pd.Series:
    """``values[index]`` as a pandas ``str`` series; negative indexes give missing values."""
    index = np.asarray(index, dtype=np.int64)
    mask = index < 0
    taken = values.take(pa.array(np.where(mask, 0, index), mask=mask if mask.any() else None))
    return pd.Series(taken, dtype="str")


def _vocab(words: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(words), type=pa.large_string())


def _strings(values: np.ndarray) -> pd.Series:
    return pd.Series(pa.array(values, type=pa.large_string(), from_pandas=True), dtype="str")


def _ts(seconds: np.ndarray, clock: _Clock, missing: np.ndarray | None = None) -> pd.Series:
    us = clock.to_us(np.asarray(seconds))
    if missing is not None:
        us = np.where(missing, np.iinfo(np.int64).min, us)
    return pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC")


def _frame(name: str, columns: dict[str, Any]) -> pd.DataFrame:
    """A canonical table with its columns in declaration order."""
    order = list(TABLES[name].columns)
    return pd.DataFrame({c: columns[c] for c in order}, copy=False)


def _with_repeats(n: int, repeat: np.ndarray) -> np.ndarray:
    """Row order with each repeated row's copy right after it."""
    return np.sort(
        np.concatenate([np.arange(n), np.asarray(repeat, dtype=np.int64)]), kind="stable"
    )


def _emit(world: dict[str, Any], clock: _Clock, seed: int) -> Iterator[tuple[str, str, Any]]:
    """Yield the truth, then each table, releasing the arrays a table was built from."""
    people, accounts, orders = world["people"], world["accounts"], world["orders"]
    cust_ids = _id_array("C", accounts["number"], _width("C", accounts["number"].max()))
    prod_ids = _id_array("P", world["products"]["number"], _width("P", _PRODUCTS_PER_CATEGORY * 8))
    exp_users = world["exp_users"]
    yield "meta", "experiment", _experiment_truth(people, exp_users, clock)
    yield "meta", "summary", _summary(world, clock, seed)
    yield "truth", "customers", _truth_customers(people, accounts, cust_ids, clock)
    yield "truth", "faults", world.pop("faults")
    yield "truth", "duplicates", _truth_duplicates(accounts, cust_ids)
    yield "truth", "future_orders", _truth_future(world.pop("future"), accounts, cust_ids, clock)
    yield "truth", "experiment_users", _truth_experiment_users(people, exp_users, orders,
                                                               cust_ids, clock)  # fmt: skip
    n_orders = len(orders["t"])
    del orders
    # the largest tables first, while few other frames exist (lower peak memory)
    yield "table", "web_events", _web_table(world.pop("web"), cust_ids, prod_ids, clock)
    _trim_heap()
    yield "table", "email_events", _email_table(world.pop("email"), cust_ids, clock)
    _trim_heap()
    yield "table", "order_items", _items_table(world.pop("items"), n_orders, prod_ids)
    _trim_heap()
    yield "table", "orders", _orders_table(world.pop("orders"), cust_ids, clock)
    _trim_heap()
    yield "table", "customers", _customers_table(accounts, world.pop("recs"), cust_ids, clock)
    yield "table", "products", _products_table(world.pop("products"), prod_ids)
    yield (
        "table",
        "experiment_assignments",
        _assignments_table(exp_users, accounts, cust_ids, clock),
    )


def _customers_table(
    accounts: dict[str, np.ndarray], recs: dict[str, np.ndarray], cust_ids: pa.Array, clock: _Clock
) -> pd.DataFrame:
    n_rec = len(recs["email"])
    rows = np.argsort(accounts["number"][:n_rec], kind="stable")
    return _frame("customers", {
        "customer_id": _take(cust_ids, rows),
        "email": _strings(recs["email"][rows]),
        "first_name": _strings(recs["first"][rows]),
        "last_name": _strings(recs["last"][rows]),
        "birth_date": _ts(recs["birth"][rows], clock, recs["birth_missing"][rows]),
        "gender": _strings(recs["gender"][rows]),
        "country": _strings(recs["country"][rows]),
        "city": _strings(recs["city"][rows]),
        "signup_at": _ts(accounts["signup"][rows], clock),
        "signup_channel": _strings(recs["channel"][rows]),
        "email_opt_in": pd.array(recs["opt_in"][rows], dtype="boolean"),
    })  # fmt: skip


def _orders_table(orders: dict[str, np.ndarray], cust_ids: pa.Array, clock: _Clock) -> pd.DataFrame:
    rows = _with_repeats(len(orders["t"]), orders["repeat"])
    ow = _width("O", len(orders["t"]))
    return _frame("orders", {
        "order_id": _ids("O", orders["number"][rows], ow),
        "customer_id": _take(cust_ids, orders["account"][rows]),
        "ordered_at": _ts(orders["t"][rows], clock),
        "amount": orders["amount"][rows] / 100.0,
        "status": _take(_vocab(_STATUSES), orders["status"][rows]),
        "channel": _take(_vocab(_CHANNELS), orders["channel"][rows]),
    })  # fmt: skip


def _items_table(items: dict[str, np.ndarray], n_orders: int, prod_ids: pa.Array) -> pd.DataFrame:
    n = len(items["order"])
    return _frame("order_items", {
        "line_id": _ids("L", np.arange(1, n + 1), _width("L", n)),
        "order_id": _ids("O", items["order"] + 1, _width("O", n_orders)),  # orders are numbered 1..n
        "product_id": _take(prod_ids, items["product"]),
        "quantity": items["qty"].astype(np.float64),
        "unit_price": items["unit"] / 100.0,
    })  # fmt: skip


def _products_table(products: dict[str, np.ndarray], prod_ids: pa.Array) -> pd.DataFrame:
    rows = np.argsort(products["number"], kind="stable")
    return _frame("products", {
        "product_id": _take(prod_ids, rows),
        "category": _take(_vocab(CATEGORIES), products["cat"][rows]),
        "name": _strings(products["name"][rows]),
        "price": products["cents"][rows] / 100.0,
    })  # fmt: skip


def _email_table(email: dict[str, np.ndarray], cust_ids: pa.Array, clock: _Clock) -> pd.DataFrame:
    """Built column by column, releasing each source array as soon as it is used."""
    n = len(email["t"])
    n_campaigns = int(email["n_campaigns"])
    campaigns = _id_array("CMP", np.arange(1, n_campaigns + 1), _width("CMP", n_campaigns))
    return _frame("email_events", {
        "event_id": _ids("E", email.pop("number"), _width("E", n)),
        "customer_id": _take(cust_ids, email.pop("account")),
        "campaign_id": _take(campaigns, email.pop("campaign")),
        "event_type": _take(_vocab(_EMAIL_TYPES), email.pop("type")),
        "occurred_at": _ts(email.pop("t"), clock),
    })  # fmt: skip


def _web_table(
    web: dict[str, np.ndarray], cust_ids: pa.Array, prod_ids: pa.Array, clock: _Clock
) -> pd.DataFrame:
    """Built column by column, releasing each source array as soon as it is used."""
    n = len(web["t"])
    rows = _with_repeats(n, web.pop("repeat"))
    sw = _width("S", web["session"].max() if n else 1)
    return _frame("web_events", {
        "event_id": _ids("W", web.pop("number")[rows], _width("W", n)),
        "session_id": _ids("S", web.pop("session")[rows], sw),
        "customer_id": _take(cust_ids, web.pop("account")[rows]),
        "event_type": _take(_vocab(_WEB_TYPES), web.pop("type")[rows]),
        "product_id": _take(prod_ids, web.pop("product")[rows]),
        "occurred_at": _ts(web.pop("t")[rows], clock),
    })  # fmt: skip


def _assignments_table(
    exp_users: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: _Clock,
) -> pd.DataFrame:
    rows = np.argsort(accounts["number"][exp_users["person"]], kind="stable")
    n = len(rows)
    return _frame("experiment_assignments", {
        "experiment_id": pd.Series([EXPERIMENT_ID] * n, dtype="str"),
        "customer_id": _take(cust_ids, exp_users["person"][rows]),
        "variant": _take(_vocab(_VARIANTS), exp_users["arm"][rows]),
        "assigned_at": _ts(exp_users["assigned"][rows], clock),
    })  # fmt: skip


def _truth_customers(
    people: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: _Clock,
) -> pd.DataFrame:
    """Persona, churn date and duplicate link of every row of ``customers``."""
    real = np.flatnonzero(accounts["kind"] < 2)
    rows = real[np.argsort(accounts["number"][real], kind="stable")]
    person = accounts["person"][rows]
    churn = people["churn"][person]
    dup_of = np.where(accounts["kind"][rows] == 1, person, -1)
    return pd.DataFrame({
        "customer_id": _take(cust_ids, rows),
        "persona": _take(_vocab([p.name for p in PERSONAS]), people["persona"][person]),
        "churn_date": _ts(churn, clock, churn > clock.future_s),
        "churned": churn <= clock.end_s,
        "is_duplicate_of": _take(cust_ids, dup_of),
    })  # fmt: skip


def _truth_duplicates(accounts: dict[str, np.ndarray], cust_ids: pa.Array) -> pd.DataFrame:
    rows = np.flatnonzero(accounts["kind"] == 1)
    rows = rows[np.argsort(accounts["number"][rows], kind="stable")]
    return pd.DataFrame({"duplicate_id": _take(cust_ids, rows),
                         "original_id": _take(cust_ids, accounts["person"][rows])})  # fmt: skip


def _truth_future(
    future: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: _Clock,
) -> pd.DataFrame:
    rows = np.lexsort((accounts["number"][future["account"]], future["t"]))
    return pd.DataFrame({
        "customer_id": _take(cust_ids, future["account"][rows]),
        "ordered_at": _ts(future["t"][rows], clock),
        "amount": future["target"][rows] / 100.0,
    })  # fmt: skip


def _truth_experiment_users(
    people: dict[str, np.ndarray],
    exp_users: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    cust_ids: pa.Array,
    clock: _Clock,
) -> pd.DataFrame:
    """Per assigned user: arm, persona, true probability and expected revenue, outcome."""
    person = exp_users["person"]
    rows = np.argsort(cust_ids.take(pa.array(person)).to_numpy(zero_copy_only=False), kind="stable")
    exp_rows = np.flatnonzero(orders["is_exp"])
    order_of = np.full(len(people["persona"]), -1, dtype=np.int64)
    order_of[orders["person"][exp_rows]] = exp_rows
    o = order_of[person[rows]]
    ow = _width("O", len(orders["t"]))
    amount = np.where(o >= 0, orders["amount"][np.maximum(o, 0)] / 100.0, np.nan)
    return pd.DataFrame({
        "customer_id": _take(cust_ids, person[rows]),
        "variant": _take(_vocab(_VARIANTS), exp_users["arm"][rows]),
        "persona": _take(_vocab([p.name for p in PERSONAS]), people["persona"][person[rows]]),
        "assigned_at": _ts(exp_users["assigned"][rows], clock),
        "p_conversion": exp_users["p"][rows],
        "expected_revenue": exp_users["revenue"][rows],
        "converted": exp_users["converted"][rows],
        "order_id": _take(_id_array("O", orders["number"], ow), o),
        "amount": amount,
    })  # fmt: skip


def _arm_block(p: np.ndarray, revenue: np.ndarray, arm: np.ndarray) -> dict[str, Any]:
    """True conversion and revenue per user of each arm, and the lifts between them."""
    users = {v: int((arm == a).sum()) for a, v in enumerate(_VARIANTS)}
    conv = {v: float(p[arm == a].mean()) if users[v] else None for a, v in enumerate(_VARIANTS)}
    rev = {
        v: float(revenue[arm == a].mean()) if users[v] else None for a, v in enumerate(_VARIANTS)
    }

    def lifts(x: dict[str, float | None]) -> tuple[float | None, float | None]:
        c, t = x["control"], x["personalised"]
        if c is None or t is None:
            return None, None
        return round(t - c, 6), (round(t / c - 1, 6) if c else None)

    conv_abs, conv_rel = lifts(conv)
    rev_abs, rev_rel = lifts(rev)
    return {
        "users": users,
        "conversion_rate": {k: None if v is None else round(v, 6) for k, v in conv.items()},
        "absolute_lift": conv_abs,
        "relative_lift": conv_rel,
        "revenue_per_user": {k: None if v is None else round(v, 4) for k, v in rev.items()},
        "revenue_absolute_lift": rev_abs,
        "revenue_relative_lift": rev_rel,
    }


def _potential_outcomes(exp_users: dict[str, np.ndarray]) -> dict[str, Any]:
    """Both arms' true rates over *all* assigned users (free of arm-composition noise)."""
    if len(exp_users["p"]) == 0:
        return {}
    conv = [exp_users["p_control"].mean(), exp_users["p_treat"].mean()]
    rev = [
        (exp_users[k] * exp_users["basket"]).mean() * m
        for k, m in zip(("p_control", "p_treat"), _REVENUE_MULTIPLIER, strict=True)
    ]
    return {
        "conversion_rate": {v: round(float(c), 6) for v, c in zip(_VARIANTS, conv, strict=True)},
        "absolute_lift": round(float(conv[1] - conv[0]), 6),
        "relative_lift": round(float(conv[1] / conv[0] - 1), 6),
        "revenue_per_user": {v: round(float(r), 4) for v, r in zip(_VARIANTS, rev, strict=True)},
        "revenue_relative_lift": round(float(rev[1] / rev[0] - 1), 6),
    }


def _experiment_truth(
    people: dict[str, np.ndarray], exp_users: dict[str, np.ndarray], clock: _Clock
) -> dict[str, Any]:
    """The true effect of ``exp_personalised_recs`` as the sample should show it."""
    persona = people["persona"][exp_users["person"]]
    assigned = exp_users["assigned"]
    out: dict[str, Any] = {
        "experiment_id": EXPERIMENT_ID,
        "control": _VARIANTS[0],
        "treatment": _VARIANTS[1],
        "window_days": WINDOW_DAYS,
        "intended_split": {v: 0.5 for v in _VARIANTS},
        "assigned_from": str(_iso(np.array([assigned.min()]), clock)[0]) if len(assigned) else None,
        "assigned_to": str(_iso(np.array([assigned.max()]), clock)[0]) if len(assigned) else None,
        "definition": (
            "conversion: at least one completed order in [assigned_at, assigned_at + window_days);"
            " revenue: sum of those orders' amounts (0 for non-converters); rates are means of"
            " the per-user true probabilities (and expected revenues) of the users in each arm"
        ),
        "revenue_multiplier": dict(zip(_VARIANTS, _REVENUE_MULTIPLIER, strict=True)),
        "planted_relative_lift": {p.name: p.exp_relative_lift for p in PERSONAS},
    }
    out.update(_arm_block(exp_users["p"], exp_users["revenue"], exp_users["arm"]))
    out["potential_outcomes"] = _potential_outcomes(exp_users)
    out["by_persona"] = {
        p.name: _arm_block(
            exp_users["p"][persona == code],
            exp_users["revenue"][persona == code],
            exp_users["arm"][persona == code],
        )  # fmt: skip
        for code, p in enumerate(PERSONAS)
    }
    return out


def _day_or_iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()


def _summary(world: dict[str, Any], clock: _Clock, seed: int) -> dict[str, Any]:
    """Seed, period, rows per table, persona shares and fault counts."""
    persona = world["people"]["persona"]
    counts = np.bincount(persona, minlength=len(PERSONAS))
    by_fault = world["faults"]["fault"].value_counts()
    rows = {
        "customers": len(world["recs"]["email"]),
        "orders": len(world["orders"]["t"]) + len(world["orders"]["repeat"]),
        "order_items": len(world["items"]["order"]),
        "products": len(world["products"]["number"]),
        "email_events": len(world["email"]["t"]),
        "web_events": len(world["web"]["t"]) + len(world["web"]["repeat"]),
        "experiment_assignments": len(world["exp_users"]["person"]),
    }
    return {
        "seed": int(seed),
        "customers": rows["customers"],
        "people": len(persona),
        "start": _day_or_iso(clock.start),
        "end": _day_or_iso(clock.end),  # as `workbench demo-data --end` takes it
        "years": round((clock.end - clock.start) / pd.Timedelta(days=365.25), 4),
        "rows": rows,
        "persona_shares": {
            p.name: round(float(c / counts.sum()), 6) for p, c in zip(PERSONAS, counts, strict=True)
        },
        "faults": {f: int(by_fault.get(f, 0)) for f in FAULT_TYPES},
    }
