"""The simulator's time axis: integer seconds since the history start, and seasonal event times.

Every internal time of the simulator is an ``int64`` count of seconds since
:attr:`Clock.start`, the UTC midnight ``years`` before ``end``. :func:`make_clock` builds the
axis with its seasonal intensity (month, weekday, Black Friday, Christmas), which runs
:data:`HORIZON_DAYS` past ``end`` so that expected future purchases can be integrated;
:func:`poisson_times` draws event times on it, :func:`order_hours` moves times to an hour
of the daily order profile; :func:`expected_events` integrates the intensity;
:meth:`Clock.to_us` and :func:`iso` turn seconds back into timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DAY",
    "FUTURE_DAYS",
    "HORIZON_DAYS",
    "Clock",
    "expected_events",
    "iso",
    "make_clock",
    "order_hours",
    "poisson_times",
]

DAY = 86_400  # seconds; every internal time is int64 seconds since the history start

FUTURE_DAYS = 180  # days after ``end`` drawn for the churn truth (``future_orders``)
HORIZON_DAYS = 365  # days after ``end`` the seasonal intensity covers (CLV expectations)

_MONTHLY = np.array([0.85, 0.80, 0.90, 0.92, 0.95, 0.92, 0.95, 0.92, 0.95, 1.05, 1.45, 1.55])
_WEEKLY = np.array([1.0, 0.95, 0.95, 1.0, 1.05, 1.1, 1.15])
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5,  # orders by hour (UTC)
                   5.5, 5, 4.5, 4.5, 4.8, 5.2, 6, 6.5, 6.5, 5.5, 4, 2])  # fmt: skip


@dataclass(frozen=True)
class Clock:
    """The history's time axis; times are int64 seconds since ``start``."""

    start: pd.Timestamp  # history start (UTC midnight)
    end: pd.Timestamp
    end_s: int  # seconds from start to end
    future_s: int  # seconds from start to end + FUTURE_DAYS
    cum: np.ndarray  # cumulative seasonal intensity at day boundaries 0..n_days

    def to_us(self, seconds: np.ndarray) -> np.ndarray:
        """Seconds since ``start`` as microseconds since the Unix epoch."""
        return (self.start.value // 1_000 + seconds.astype(np.int64) * 1_000_000).astype(np.int64)


def make_clock(end: str, years: float) -> Clock:
    """The axis of ``years`` of history ending at ``end`` (UTC) and its seasonal intensity."""
    stamp = pd.Timestamp(end)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    days = round(years * 365.25)
    start = stamp.normalize() - pd.Timedelta(days=days)
    end_s = int((stamp - start).total_seconds())
    n_days = int(np.ceil(end_s / DAY)) + max(FUTURE_DAYS, HORIZON_DAYS) + 1
    dates = pd.date_range(start, periods=n_days, freq="D")
    month, dom = dates.month.to_numpy(), dates.day.to_numpy()
    f = _MONTHLY[month - 1] * _WEEKLY[dates.day_of_week.to_numpy()]
    f = f * np.where((month == 11) & (dom >= 24), 1.6, 1.0)  # Black Friday week
    f = f * np.where((month == 12) & (dom >= 24) & (dom <= 26), 0.5, 1.0)
    f = f / f[: max(1, end_s // DAY)].mean()
    cum = np.concatenate([[0.0], np.cumsum(f)])
    return Clock(start, stamp, end_s, end_s + FUTURE_DAYS * DAY, cum)


def poisson_times(
    rng: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray, clock: Clock
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
    return owner, order_hours(rng, plain, a[owner], b[owner])


def order_hours(
    rng: np.random.Generator, t: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Each time moved to an hour of its day drawn from the daily order profile, where
    that keeps it inside its window ``[a, b)``."""
    hour = rng.choice(24, size=len(t), p=_HOURS / _HOURS.sum())
    shaped = ((t // DAY) * 24 + hour) * 3600 + rng.integers(0, 3600, len(t))
    return np.where((shaped >= a) & (shaped < b), shaped, t)


def expected_events(rate: np.ndarray, a: np.ndarray, b: np.ndarray, clock: Clock) -> np.ndarray:
    """Expected count of the seasonal Poisson process of :func:`poisson_times` on
    ``[a, b)`` seconds (0 where ``b <= a``); ``rate`` is per day."""
    grid = np.arange(len(clock.cum), dtype=np.float64)
    lam_a = np.interp(a / DAY, grid, clock.cum)
    lam_b = np.interp(np.maximum(a, b) / DAY, grid, clock.cum)
    return rate * (lam_b - lam_a)


def iso(seconds: np.ndarray, clock: Clock) -> np.ndarray:
    """Seconds since the history start as ``YYYY-MM-DDTHH:MM:SSZ`` text (object array)."""
    stamps = pd.to_datetime(clock.to_us(np.asarray(seconds)), unit="us", utc=True)
    return stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)
