"""Who may be e-mailed: opt-in, unsubscribes, bounces and a suppression list.

The rules, in the order an exclusion is attributed (a customer broken by several rules is
counted once under the first, and under every rule in the ``flagged`` counts):

1. ``no_opt_in`` — ``email_opt_in`` is not True (missing consent counts as no consent).
2. ``unsubscribed`` — an ``unsubscribe`` e-mail event before ``as_of``. There is no
   re-subscribe event in the canonical tables, so an unsubscribe is final.
3. ``bounced`` — at least ``bounce_limit`` ``bounce`` events before ``as_of`` (the
   canonical table does not separate hard from soft bounces; every bounce counts).
4. ``suppressed_id`` — the customer id is in the suppression list.
5. ``suppressed_email`` — the customer's e-mail address is in the suppression list;
   addresses are compared as SHA-256 of the trimmed, lower-cased address, so a list
   may hold hashes only (column ``email_sha256``).

Without ``email_events`` the unsubscribe and bounce flags of the feature table
(``email_unsubscribed``, ``email_bounced``) are used when present.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.frames import isin

__all__ = [
    "CONSENT_RULES",
    "SuppressionList",
    "email_sha256",
    "read_suppression_list",
    "consent_table",
    "exclusion_counts",
]

log = logging.getLogger(__name__)

#: Exclusion rules in the order they are attributed.
CONSENT_RULES = ("no_opt_in", "unsubscribed", "bounced", "suppressed_id", "suppressed_email")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def email_sha256(emails: pd.Series) -> pd.Series:
    """SHA-256 (hex) of each trimmed, lower-cased address; missing stays missing.

    Examples
    --------
    >>> email_sha256(pd.Series([" Ann@X.org", "ann@x.org", None])).str[:12].tolist()
    ['367a1e74302c', '367a1e74302c', nan]
    """
    text = pd.Series(emails, dtype="str").str.strip().str.lower()
    hashed = [
        hashlib.sha256(t.encode("utf-8")).hexdigest() if isinstance(t, str) and t else None
        for t in text
    ]
    return pd.Series(hashed, index=emails.index, dtype="str")


@dataclass(frozen=True)
class SuppressionList:
    """Customer ids and e-mail hashes that must never be e-mailed.

    Attributes
    ----------
    customer_ids : frozenset of str
    email_hashes : frozenset of str
        SHA-256 of trimmed, lower-cased addresses (:func:`email_sha256`).
    source : str
        Where the list came from (a path, never its content).
    rows : int
        Rows read.
    """

    customer_ids: frozenset[str] = frozenset()
    email_hashes: frozenset[str] = frozenset()
    source: str = "(empty)"
    rows: int = 0

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "(a frame)") -> SuppressionList:
        """From columns ``customer_id``, ``email`` and/or ``email_sha256`` (any case)."""
        columns = {str(c).strip().lower(): c for c in frame.columns}
        known = [c for c in ("customer_id", "email", "email_sha256") if c in columns]
        if not known:
            raise ValueError(
                f"suppression list {source}: expected a column customer_id, email or "
                f"email_sha256 (header row), got {', '.join(map(str, frame.columns[:10]))}"
            )

        def values(name: str) -> pd.Series:
            if name not in columns:
                return pd.Series([], dtype="str")
            col = frame[columns[name]].astype("str").str.strip()
            return col[col.notna() & (col != "")]

        ids = frozenset(values("customer_id"))
        hashes = set(email_sha256(values("email")).dropna())
        given = values("email_sha256").str.lower()
        bad = given[~given.str.match(_HEX64)]
        if len(bad):
            raise ValueError(
                f"suppression list {source}: column email_sha256 must hold 64 hex characters "
                f"(SHA-256 of the trimmed, lower-cased address); {len(bad):,} values do not"
            )
        hashes |= set(given)
        return cls(frozenset(ids), frozenset(hashes), source, len(frame))


def read_suppression_list(path: str | Path) -> SuppressionList:
    """Read a CSV suppression list (see :meth:`SuppressionList.from_frame`).

    The file's addresses are hashed on reading and never logged.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype="str", keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"suppression list {path}: cannot be read ({exc})") from exc
    out = SuppressionList.from_frame(frame, str(path))
    log.info(
        "suppression list %s: %s rows, %s ids, %s addresses",
        path,
        f"{out.rows:,}",
        f"{len(out.customer_ids):,}",
        f"{len(out.email_hashes):,}",
    )
    return out


def _flag(ids: pd.Series, frame: pd.DataFrame | None, column: str) -> pd.Series | None:
    if frame is None or column not in frame.columns or frame[column].notna().sum() == 0:
        return None
    values = frame.assign(customer_id=frame["customer_id"].astype("str"))
    values = values.drop_duplicates("customer_id").set_index("customer_id")[column]
    return values.reindex(ids).astype("boolean").fillna(False).to_numpy(dtype=bool)


def consent_table(
    ids: pd.Series,
    as_of: pd.Timestamp,
    *,
    customers: pd.DataFrame | None = None,
    features: pd.DataFrame | None = None,
    email_events: pd.DataFrame | None = None,
    suppression: SuppressionList | None = None,
    bounce_limit: int = 1,
) -> tuple[pd.DataFrame, list[str]]:
    """One row per customer: each rule's flag, ``eligible`` and ``excluded_by``.

    Parameters
    ----------
    ids : Series
        The customers to judge.
    as_of : Timestamp
        Only e-mail events strictly before it count.
    customers : DataFrame, optional
        Canonical customers: ``email_opt_in`` (preferred over the features') and
        ``email`` (only to match suppressed addresses; never returned).
    features : DataFrame, optional
        ``email_opt_in`` and, without e-mail events, ``email_unsubscribed`` /
        ``email_bounced``.
    email_events : DataFrame, optional
        Canonical e-mail events (``unsubscribe`` and ``bounce`` rows are read).
    suppression : SuppressionList, optional
    bounce_limit : int, default 1

    Returns
    -------
    (DataFrame, list of str)
        customer_id, one boolean column per rule of :data:`CONSENT_RULES`, eligible,
        excluded_by (the first rule broken, or missing); and notes on the sources used.

    Examples
    --------
    >>> c = pd.DataFrame({"customer_id": ["a", "b", "c"], "email_opt_in": [True, False, True]})
    >>> e = pd.DataFrame({"customer_id": ["c"], "event_type": ["unsubscribe"],
    ...                   "occurred_at": [pd.Timestamp("2026-06-01", tz="UTC")]})
    >>> t, _ = consent_table(pd.Series(["a", "b", "c"]), pd.Timestamp("2026-06-30", tz="UTC"),
    ...                      customers=c, email_events=e)
    >>> t[["customer_id", "eligible", "excluded_by"]].values.tolist()
    [['a', True, nan], ['b', False, 'no_opt_in'], ['c', False, 'unsubscribed']]
    """
    ids = pd.Series(ids, dtype="str").drop_duplicates().reset_index(drop=True)
    n = len(ids)
    notes: list[str] = []
    out = pd.DataFrame({"customer_id": ids})
    opt_in = _flag(ids, customers, "email_opt_in")
    origin = "customers"
    if opt_in is None:
        opt_in, origin = _flag(ids, features, "email_opt_in"), "features"
    if opt_in is None:
        notes.append(
            "no e-mail consent (email_opt_in) in customers or features: nobody may be e-mailed"
        )
        opt_in = np.zeros(n, dtype=bool)
    else:
        notes.append(f"opt-in from {origin}.email_opt_in (missing counts as no consent)")
    out["no_opt_in"] = ~opt_in
    if email_events is not None:
        # the few unsubscribe and bounce rows only: a copy of every event before as_of
        # (37.5 M rows at 1 M customers) is gigabytes
        kind = email_events["event_type"].astype("str")
        before = pd.to_datetime(email_events["occurred_at"], utc=True) < as_of
        wanted = (before & kind.isin(["unsubscribe", "bounce"])).to_numpy(dtype=bool)
        kind = kind[wanted]
        who = email_events.loc[wanted, "customer_id"].astype("str")
        unsub = set(who[kind == "unsubscribe"])
        bounces = who[kind == "bounce"].value_counts()
        out["unsubscribed"] = np.asarray(isin(ids, unsub))
        out["bounced"] = bounces.reindex(ids).fillna(0).to_numpy() >= bounce_limit
        notes.append(
            f"unsubscribes and bounces (>= {bounce_limit}) from email_events before {as_of.date()}"
        )
    else:
        for rule, column in (("unsubscribed", "email_unsubscribed"), ("bounced", "email_bounced")):
            flag = _flag(ids, features, column)
            out[rule] = np.zeros(n, dtype=bool) if flag is None else flag
            notes.append(
                f"{rule}: from features.{column}"
                if flag is not None
                else f"{rule}: no email_events and no features.{column}; not checked"
            )
    suppression = suppression or SuppressionList()
    out["suppressed_id"] = np.asarray(isin(ids, suppression.customer_ids))
    out["suppressed_email"] = np.zeros(n, dtype=bool)
    if suppression.email_hashes:
        if customers is None or "email" not in customers.columns:
            notes.append("suppression list has addresses but no customers.email to match them")
        else:
            emails = customers.assign(customer_id=customers["customer_id"].astype("str"))
            emails = emails.drop_duplicates("customer_id").set_index("customer_id")["email"]
            hashed = email_sha256(emails.reindex(ids))
            out["suppressed_email"] = np.asarray(isin(hashed, suppression.email_hashes))
    flags = out[list(CONSENT_RULES)].to_numpy(dtype=bool)
    out["eligible"] = ~flags.any(axis=1)
    first = np.where(flags.any(axis=1), flags.argmax(axis=1), -1)
    out["excluded_by"] = pd.Series(
        [CONSENT_RULES[i] if i >= 0 else None for i in first], dtype="str"
    )
    return out, notes


def exclusion_counts(consent: pd.DataFrame, members: pd.DataFrame | None = None) -> pd.DataFrame:
    """Who was excluded by which rule: all customers and audience members.

    Columns: rule, flagged (customers breaking the rule), excluded (customers attributed
    to it: the first rule they break), and with ``members`` the same two counts among
    customers in at least one audience (``members_flagged``, ``members_excluded``).
    A last row ``eligible`` counts who remains.
    """
    groups = {"": consent}
    if members is not None:
        groups["members_"] = consent[isin(consent["customer_id"], members["customer_id"])]
    rows = []
    for rule in (*CONSENT_RULES, "eligible"):
        row: dict[str, object] = {"rule": rule}
        for prefix, frame in groups.items():
            if rule == "eligible":
                row[f"{prefix}flagged"] = row[f"{prefix}excluded"] = int(frame["eligible"].sum())
            else:
                row[f"{prefix}flagged"] = int(frame[rule].sum())
                row[f"{prefix}excluded"] = int((frame["excluded_by"] == rule).sum())
        rows.append(row)
    return pd.DataFrame(rows)
