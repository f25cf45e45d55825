"""People and their customer accounts.

* :func:`draw_people`: each real person's persona, sign-up, churn and behavioural traits
  (among them the e-mail traits: a preferred open hour or none, a mail client that opens
  every message by itself, and whether they read marketing e-mail at all);
* :func:`expected_basket`: a person's mean order value;
* :func:`draw_accounts`: customer numbers in sign-up order, second accounts of some people
  and deleted accounts (the gaps orphan orders point to);
* :func:`customer_records`: name, gender, birth date, place, channel, consent and e-mail
  per account, second accounts varied so that a matcher can still find them;
* :func:`move_to_duplicates`: half of a person's activity after their second sign-up moves
  to the second account.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.simulate.clock import DAY, Clock
from workbench.simulate.personas import CATEGORIES, PERSONAS, persona_param

__all__ = [
    "MACHINE_OPENER_SHARE",
    "PREFERRED_HOUR_SHARE",
    "customer_records",
    "draw_accounts",
    "draw_people",
    "expected_basket",
    "move_to_duplicates",
]

PREFERRED_HOUR_SHARE = 0.75  # people who open e-mails around an hour of their own
MACHINE_OPENER_SHARE = 0.1  # people whose mail client opens every message by itself
_HOUR_SPREAD = 1.5  # sd (hours) of preferred hours around the persona's mean
_SIGNUP_GROWTH = 0.5  # sign-ups per day at the end of the history: 1.5 times the start
_BURST_SHARE, _BURST_DAYS = 0.06, 28  # an acquisition campaign in the last four weeks

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


def draw_people(rng: np.random.Generator, n: int, clock: Clock) -> dict[str, np.ndarray]:
    """Persona, sign-up, churn and behavioural parameters of each real person."""
    persona = rng.choice(len(PERSONAS), size=n, p=persona_param("share")).astype(np.int8)
    pre = rng.random(n) < persona_param("prehistory_share")[persona]
    growth = _SIGNUP_GROWTH  # sign-up density proportional to 1 + growth * t / T
    u = rng.random(n)
    x = (np.sqrt(1 + 2 * growth * u * (1 + growth / 2)) - 1) / growth
    days = x * clock.end_s / DAY
    # the acquisition campaign of the last weeks brings extra sign-ups
    burst = rng.random(n) < _BURST_SHARE
    days = np.where(burst, clock.end_s / DAY - rng.uniform(0, _BURST_DAYS, n), days)
    signup_days = np.where(pre, -rng.uniform(0, 3 * 365, n), days)
    signup = np.minimum(np.floor(signup_days * DAY).astype(np.int64), clock.end_s - 3600)
    life = rng.exponential(persona_param("mean_lifetime_days")[persona]) * DAY
    # exponential lifetimes are memoryless: people signed up earlier are alive at the start
    churn = np.maximum(signup, 0) + np.floor(life).astype(np.int64) + 3600

    def beta(mean: np.ndarray, k: float = 12.0) -> np.ndarray:
        return rng.beta(mean * k, (1 - mean) * k)

    shares = np.empty((n, len(CATEGORIES)), dtype=np.float64)
    for code, p in enumerate(PERSONAS):
        rows = np.flatnonzero(persona == code)
        shares[rows] = rng.dirichlet(np.array(p.category_weights) * 60, size=len(rows))
    hour = (persona_param("open_hour")[persona] + rng.normal(0, _HOUR_SPREAD, n)) % 24
    hour = np.where(rng.random(n) < PREFERRED_HOUR_SHARE, hour, np.nan)
    reads = rng.random(n) >= persona_param("ignores_email")[persona]
    return {
        "persona": persona,
        "signup": signup,
        "churn": churn,
        "rate_mult": rng.gamma(6.0, 1 / 6, n),
        "basket_mult": np.exp(rng.normal(-(0.25**2) / 2, 0.25, n)),
        "web_mult": rng.gamma(4.0, 0.25, n),
        "opt_in": rng.random(n) < persona_param("opt_in")[persona],
        "open_p": beta(persona_param("open_rate")[persona]) * np.where(reads, 1.0, 0.02),
        "click_p": beta(persona_param("click_rate")[persona]),
        "hour": hour,
        "machine": rng.random(n) < MACHINE_OPENER_SHARE,
        "reads": reads,
        "depth": rng.gamma(0.5, 0.8, n),
        "cat_cum": np.cumsum(shares, axis=1).astype(np.float32),
    }


def expected_basket(people: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Mean target order value (currency units, not cents) of persons ``rows``."""
    persona = people["persona"][rows]
    median = persona_param("basket_median")[persona]
    sigma = persona_param("basket_sigma")[persona]
    return people["basket_mult"][rows] * median * np.exp(sigma**2 / 2)


def draw_accounts(
    rng: np.random.Generator, people: dict[str, np.ndarray], n_dup: int, clock: Clock
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


def customer_records(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    clock: Clock,
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


def _names(text: str) -> np.ndarray:
    return np.array(list(dict.fromkeys(text.split())), dtype=object)


def _zipf_choice(rng: np.random.Generator, values: np.ndarray, size: int) -> np.ndarray:
    """Draw names with a long-tailed popularity so that common names repeat."""
    weights = 1.0 / (np.arange(len(values)) + 8.0)
    order = rng.permutation(len(values))
    return values[order][rng.choice(len(values), size=size, p=weights / weights.sum())]


def _demographics(rng: np.random.Generator, n: int, clock: Clock) -> dict[str, np.ndarray]:
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


def move_to_duplicates(
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
    rows = np.flatnonzero(slot >= 0)  # events of people with a second account
    sub = {k: email[k][rows] for k in ("person", "campaign", "type", "t")}
    move = np.zeros(len(person), dtype=bool)
    move[rows] = _campaign_sent_at(sub) >= people["dup_signup"][sub["person"]]
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
