"""Control groups: a seeded random holdout of each audience, so every send can be measured.

Each customer of an audience gets a uniform number from a keyed hash of (seed, audience,
customer id) — BLAKE2b, not Python's ``hash`` — and the ``round(share · n)`` customers
with the smallest numbers form the control group. So the group has exactly the stated
share (up to rounding), the same inputs and seed always give the same group, and a
customer's number does not depend on who else is in the audience (runs on slightly
different audiences keep most assignments).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["uniform_from_hash", "assign_control", "control_table"]

log = logging.getLogger(__name__)


def uniform_from_hash(ids: pd.Series, *, seed: int, salt: str = "") -> np.ndarray:
    """A number in [0, 1) per id from BLAKE2b of ``seed``, ``salt`` and the id.

    Examples
    --------
    >>> u = uniform_from_hash(pd.Series(["a", "b"]), seed=7, salt="win_back")
    >>> bool(((0 <= u) & (u < 1)).all()), u.tolist() == uniform_from_hash(
    ...     pd.Series(["a", "b"]), seed=7, salt="win_back").tolist()
    (True, True)
    """
    key = f"{seed}|{salt}|".encode()
    out = np.empty(len(ids), dtype=np.float64)
    for i, value in enumerate(pd.Series(ids).astype("str")):
        digest = hashlib.blake2b(key + value.encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def assign_control(
    assigned: pd.DataFrame, shares: Mapping[str, float], *, seed: int
) -> pd.DataFrame:
    """Add ``control`` (bool) to the (customer, audience) rows that will be messaged.

    Parameters
    ----------
    assigned : DataFrame
        customer_id and audience (after consent and capping).
    shares : mapping of audience -> share in [0, 1)
        Holdout share per audience; audiences not named get 0.
    seed : int
        Seed of the draw (recorded by :func:`control_table`).

    Returns
    -------
    DataFrame
        A copy of ``assigned`` with ``control``.

    Examples
    --------
    >>> a = pd.DataFrame({"customer_id": [f"c{i}" for i in range(200)], "audience": "x"})
    >>> int(assign_control(a, {"x": 0.1}, seed=7)["control"].sum())
    20
    """
    out = assigned.copy()
    audience = out["audience"].astype("str").to_numpy()
    ids = out["customer_id"].astype("str").to_numpy()
    control = np.zeros(len(out), dtype=bool)
    for name in pd.unique(audience):
        share = float(shares.get(name, 0.0))
        if not 0 <= share < 1:
            raise ValueError(f"control share of audience {name!r} must be in [0, 1), got {share!r}")
        rows = np.flatnonzero(audience == name)
        k = int(round(share * len(rows)))
        if k == 0:
            continue
        u = uniform_from_hash(pd.Series(ids[rows]), seed=seed, salt=name)
        # ties are practically impossible with 64-bit numbers; the id breaks them anyway
        order = np.lexsort((ids[rows], u))
        control[rows[order[:k]]] = True
    out["control"] = control
    return out


def control_table(
    assigned: pd.DataFrame, shares: Mapping[str, float], *, seed: int, audiences: list[str]
) -> pd.DataFrame:
    """Per audience: stated share, customers, control, treatment, realised share, seed."""
    rows = []
    for name in audiences:
        part = assigned[assigned["audience"] == name]
        n, k = len(part), int(part["control"].sum()) if len(part) else 0
        rows.append(
            {
                "audience": name,
                "control_share": float(shares.get(name, 0.0)),
                "customers": n,
                "control": k,
                "treatment": n - k,
                "realised_share": round(k / n, 6) if n else None,
                "seed": seed,
            }
        )
    return pd.DataFrame(rows)
