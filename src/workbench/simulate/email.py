"""The e-mail programme and each recipient's reactions.

:func:`draw_email_events` sends, in time order (one campaign id per send batch, one send
per customer and campaign):

* **promotions** every two weeks (9–12 UTC, the last two days before ``end``) to a
  sample of the subscribers (50 %, 80 % in November and December);
* for the last :data:`PROGRAMME_WEEKS` weeks (the business's newer, engagement-based
  cadence): a weekly **newsletter** to subscribers who opened or clicked in the last
  :data:`ENGAGED_DAYS` days (or signed up in them) and two **deals** e-mails a week to
  those who clicked in the last :data:`CLICKED_DAYS` days — engaged customers get more,
  while subscribers without an open or click for :data:`SUNSET_DAYS` days get only every
  other promotion;
* triggered flows: a **welcome** series (three e-mails in the first five days after an
  opted-in sign-up) and a **cart reminder** one to four hours after an abandoned cart
  (at most one a week, one campaign per week).

Reactions: a bounce, or delivery; then a human open with the person's open probability
(higher for welcome and cart e-mails, fading after churn), at the person's preferred hour
(``hour``, ± N(0, :data:`HOUR_NOISE`) h) on the send day or a later one, or — for people
without one (``hour`` NaN) — at an hour drawn from :data:`OPEN_PROFILE`; clicks minutes
after an open; further opens (at the reader's next reading times) and clicks of the same
message (Poisson, the reader's ``depth`` on average); unsubscribes. A **machine opener**'s
mail client also opens every delivered message 1–30 s after it was sent (flagged
``machine``). Unsubscribing or bouncing ends all sends. :func:`number_email_events`
puts the events in time order. Event types are codes into :data:`EMAIL_TYPES`,
campaign kinds codes into :data:`CAMPAIGN_KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.simulate.clock import DAY, Clock
from workbench.simulate.personas import persona_param

__all__ = [
    "CAMPAIGN_KINDS",
    "EMAIL_TYPES",
    "CLICKED_DAYS",
    "ENGAGED_DAYS",
    "SUNSET_DAYS",
    "HOUR_NOISE",
    "MACHINE_DELAY_SECONDS",
    "OPEN_PROFILE",
    "PROGRAMME_WEEKS",
    "draw_email_events",
    "number_email_events",
]

EMAIL_TYPES = ("sent", "open", "click", "bounce", "unsubscribe")
CAMPAIGN_KINDS = ("promotion", "newsletter", "deals", "welcome", "cart_reminder")
PROGRAMME_WEEKS = 26  # weeks before ``end`` since newsletters and deals e-mails are sent
ENGAGED_DAYS = 21  # an open or click this recent puts a subscriber on the newsletter
CLICKED_DAYS = 10  # a click this recent puts a subscriber on the deals e-mails
SUNSET_DAYS = 180  # no open or click for this long: every other promotion only
HOUR_NOISE = 0.75  # sd (hours) of a human open around the preferred hour
MACHINE_DELAY_SECONDS = (1, 30)  # a machine open follows its send by this many seconds

#: Share of human opens per UTC hour of the people without a preferred hour.
OPEN_PROFILE = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 3.5, 3.0, 2.8,
                         3.0, 2.8, 2.5, 2.5, 2.8, 3.2, 4.0, 4.5, 4.5, 3.8, 2.8, 1.8])  # fmt: skip
OPEN_PROFILE = OPEN_PROFILE / OPEN_PROFILE.sum()

_RECENT = 4  # reactions per person the programme's rules remember

# open and click multipliers per campaign kind (welcome and cart e-mails are wanted)
_BOOST = {"promotion": (1.0, 1.0), "newsletter": (1.0, 1.0), "deals": (1.1, 1.3),
          "welcome": (1.5, 1.3), "cart_reminder": (1.4, 1.6)}  # fmt: skip


@dataclass(frozen=True)
class _Batch:
    """One campaign: scheduled (``send`` time, recipients by rule) or triggered
    (``persons`` with their own send ``times``)."""

    kind: str
    start: int
    share: float = 1.0  # promotions: the share of subscribers sampled
    sunset: bool = False  # promotions: skip the subscribers without a recent reaction
    persons: np.ndarray | None = None
    times: np.ndarray | None = None


def draw_email_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    browse: dict[str, np.ndarray],
    clock: Clock,
) -> dict[str, np.ndarray]:
    """Every campaign's sends and each recipient's reactions (per person; moved to
    second accounts later). Returns the events (``person``, ``campaign``, ``type``,
    ``t``, ``machine``), ``stop`` (when each person stopped receiving e-mail),
    ``n_campaigns``, ``campaign_kind`` and ``campaign_start``."""
    n = len(people["persona"])
    batches = sorted(_schedule(rng, people, browse, clock), key=lambda x: (x.start, x.kind))
    state = {
        "subscribed": people["opt_in"].copy(),
        # the latest reactions of each person (a few, as the programme's rules see them)
        "opens": np.full((n, _RECENT), -(10**12), dtype=np.int64),
        "clicks": np.full((n, _RECENT), -(10**12), dtype=np.int64),
        "p_bounce": np.where(rng.random(n) < 0.015, 0.5, 0.001),
        "p_unsub": persona_param("unsubscribe_rate")[people["persona"]],
        "stop": np.full(n, np.iinfo(np.int64).max, dtype=np.int64),
    }
    parts: list[dict[str, np.ndarray]] = []
    for c, batch in enumerate(batches):
        idx, sent = _recipients(rng, people, state, batch)
        parts.extend(_react(rng, people, state, idx, sent, c, batch.kind))
    # a send batch is processed as a whole: drop what it sent after an earlier-stamped
    # unsubscribe or bounce (and the reactions to it); field by field to bound the memory
    keep = [(p.pop("sent") <= state["stop"][p["person"]]) & (p["t"] < clock.end_s) for p in parts]
    email = {k: np.concatenate([p.pop(k)[m] for p, m in zip(parts, keep, strict=True)])
             for k in ("person", "campaign", "type", "t", "machine")}  # fmt: skip
    email.update({"stop": state["stop"], "n_campaigns": np.array(len(batches)),
                  "campaign_kind": np.array([CAMPAIGN_KINDS.index(b.kind) for b in batches],
                                            np.int8),
                  "campaign_start": np.array([b.start for b in batches], np.int64)})  # fmt: skip
    return email


def _schedule(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    browse: dict[str, np.ndarray],
    clock: Clock,
) -> list[_Batch]:
    """Every campaign of the history: scheduled sends and the triggered flows."""
    last = (clock.end_s // DAY - 2) * DAY + 9 * 3600  # the last one two days before the end
    sends = np.arange(last, 2 * DAY, -14 * DAY, dtype=np.int64)[::-1]
    sends = sends + rng.integers(0, 4, len(sends)) * 3600  # 9:00 to 12:00 UTC
    month = (clock.start + pd.to_timedelta(sends, unit="s")).month
    batches = [_Batch("promotion", int(s), 0.8 if m in (11, 12) else 0.5, sunset=bool(i % 2))
               for i, (s, m) in enumerate(zip(sends[::-1], month[::-1], strict=True))]  # fmt: skip
    begin = (clock.end_s // DAY - 7 * PROGRAMME_WEEKS) * DAY
    weeks = np.arange(begin, clock.end_s, 7 * DAY, dtype=np.int64)
    batches += [_Batch("newsletter", int(w + DAY + 17 * 3600)) for w in weeks]
    batches += [_Batch("deals", int(w + d * DAY + 11 * 3600)) for w in weeks for d in (2, 5)]
    batches = [b for b in batches if b.start < clock.end_s]
    # welcome series: one campaign per step, each new opted-in subscriber receives it once
    new = np.flatnonzero(people["opt_in"] & (people["signup"] >= 0))
    signup = people["signup"][new]
    for delay in (0, 2 * DAY, 5 * DAY):
        at = signup + delay + 600 + rng.integers(0, 7200, len(new))
        if len(new):
            batches.append(_Batch("welcome", int(at.min()), persons=new, times=at))
    # cart reminders: one campaign per week, at most one reminder a week per person
    cart = np.flatnonzero((browse["account"] >= 0) & browse["cart"])
    person = browse["person"][cart]
    at = browse["t0"][cart] + 3600 + rng.integers(0, 3 * 3600, len(cart))
    week = at // (7 * DAY)
    first = np.unique(week * (len(people["persona"]) + 1) + person, return_index=True)[1]
    person, at, week = person[first], at[first], week[first]
    for w in np.unique(week):
        rows = np.flatnonzero(week == w)
        start = int(w * 7 * DAY)
        batches.append(_Batch("cart_reminder", start, persons=person[rows], times=at[rows]))
    return batches


def _recipients(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    state: dict[str, np.ndarray],
    batch: _Batch,
) -> tuple[np.ndarray, np.ndarray]:
    """Who receives ``batch`` (subscribed, signed up, and the kind's rule) and when."""
    if batch.persons is not None and batch.times is not None:
        ok = state["subscribed"][batch.persons] & (people["signup"][batch.persons] < batch.times)
        return batch.persons[ok], batch.times[ok]
    send = batch.start
    live = state["subscribed"] & (people["signup"] < send)

    def reacted(kinds: tuple[str, ...], days: int) -> np.ndarray:
        """Opened or clicked (``kinds``) in the ``days`` before the send."""
        since = send - days * DAY
        hit = np.zeros(len(live), dtype=bool)
        for kind in kinds:
            hit |= ((state[kind] >= since) & (state[kind] < send)).any(axis=1)
        return hit

    if batch.kind == "promotion":
        live &= rng.random(len(live)) < batch.share
        if batch.sunset:  # this one skips the long-unengaged
            fresh = people["signup"] >= send - SUNSET_DAYS * DAY
            live &= reacted(("opens", "clicks"), SUNSET_DAYS) | fresh
    elif batch.kind == "newsletter":
        fresh = people["signup"] >= send - ENGAGED_DAYS * DAY
        live &= reacted(("opens", "clicks"), ENGAGED_DAYS) | fresh
    else:  # deals
        live &= reacted(("clicks",), CLICKED_DAYS)
    idx = np.flatnonzero(live)
    return idx, send + rng.integers(0, 1200, len(idx))


def _react(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    state: dict[str, np.ndarray],
    idx: np.ndarray,
    sent: np.ndarray,
    campaign: int,
    kind: str,
) -> list[dict[str, np.ndarray]]:
    """Sends and reactions of one campaign; updates the subscription state."""
    k = len(idx)
    boost_open, boost_click = _BOOST[kind]
    bounce = rng.random(k) < state["p_bounce"][idx]
    engaged = np.exp(-np.maximum(sent - people["churn"][idx], 0) / (45 * DAY))
    p_open = np.minimum(people["open_p"][idx] * boost_open * engaged, 0.97)
    opened = ~bounce & (rng.random(k) < p_open)
    t_open = _open_times(rng, sent, people["hour"][idx])
    clicked = opened & (rng.random(k) < np.minimum(people["click_p"][idx] * boost_click, 0.95))
    t_click = t_open + 10 + rng.exponential(180, k).astype(np.int64)
    machine = ~bounce & people["machine"][idx]
    t_machine = sent + rng.integers(MACHINE_DELAY_SECONDS[0], MACHINE_DELAY_SECONDS[1] + 1, k)
    unsub = ~bounce & (rng.random(k) < state["p_unsub"][idx] * (1 + 3 * (1 - engaged)))
    late = sent + 60 + rng.exponential(6 * 3600, k).astype(np.int64)
    t_unsub = np.where(opened, t_open + 30 + rng.exponential(120, k).astype(np.int64), late)
    t_bounce = sent + rng.integers(5, 120, k)
    depth = people["depth"][idx]  # a reader's further opens (and clicks) per message
    reopen = np.flatnonzero(opened)
    reopen = np.repeat(reopen, rng.poisson(depth[reopen]))
    # a further open: at one of the person's next reading times (hours as the first)
    t_reopen = _open_times(rng, t_open[reopen], people["hour"][idx[reopen]])
    again = np.flatnonzero(clicked)
    again = np.repeat(again, rng.poisson(depth[again]))
    t_again = t_click[again] + 5 + rng.exponential(120, len(again)).astype(np.int64)
    machine_rows, open_rows = np.flatnonzero(machine), np.flatnonzero(opened)
    click_rows, bounce_rows, unsub_rows = (np.flatnonzero(x) for x in (clicked, bounce, unsub))
    parts: list[dict[str, np.ndarray]] = []
    for rows, times, code, by_machine in (
        (np.arange(k), sent, 0, False),
        (machine_rows, t_machine[machine_rows], 1, True),
        (open_rows, t_open[open_rows], 1, False),
        (reopen, t_reopen, 1, False),
        (click_rows, t_click[click_rows], 2, False),
        (again, t_again, 2, False),
        (bounce_rows, t_bounce[bounce_rows], 3, False),
        (unsub_rows, t_unsub[unsub_rows], 4, False),
    ):
        m = len(rows)
        parts.append({"person": idx[rows].astype(np.int32),
                      "campaign": np.full(m, campaign, np.int16),
                      "type": np.full(m, code, np.int8), "t": times,
                      "machine": np.full(m, by_machine), "sent": sent[rows]})  # fmt: skip
    gone = bounce | unsub
    t_gone = np.where(bounce, t_bounce, t_unsub)
    state["subscribed"][idx[gone]] = False
    state["stop"][idx[gone]] = np.minimum(state["stop"][idx[gone]], t_gone[gone])
    for kind, mask, when in (("opens", opened, t_open), ("clicks", clicked, t_click)):
        who = idx[mask]  # each person once per campaign: replace their oldest entry
        recent = state[kind]
        oldest = np.argmin(recent[who], axis=1)
        recent[who, oldest] = np.maximum(recent[who, oldest], when[mask])
    return parts


def _open_times(rng: np.random.Generator, sent: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Human open time: around the person's preferred hour (or an hour of the shared
    profile) on the send day, or a later day when that hour has passed."""
    k = len(sent)
    day_start = (sent // DAY) * DAY
    profile = rng.choice(24, size=k, p=OPEN_PROFILE) + rng.random(k)
    h = np.where(np.isnan(hour), profile, hour + rng.normal(0, HOUR_NOISE, k))
    target = day_start + (h * 3600).astype(np.int64)
    target = np.where(target < sent + 300, target + DAY, target)
    return target + (rng.geometric(0.7, k) - 1) * DAY


def number_email_events(email: dict[str, np.ndarray]) -> None:
    """Sort e-mail events by time (then account, campaign and type): an event's number
    is its row plus one. The per-person column is dropped (accounts are what remains)."""
    chrono = np.lexsort((email["type"], email["campaign"], email["account"], email["t"]))
    del email["person"]
    for key in ("campaign", "type", "t", "account", "machine"):
        email[key] = email[key][chrono]
