"""Frequency capping across audiences, and the overlaps before and after it.

Every customer may receive at most ``max_messages`` targeted messages in any ``cap_days``
window. The campaign sends already made in the ``cap_days`` before ``as_of`` use up part
of that allowance; what remains goes to the customer's audiences in priority order
(1 = highest). With ``max_messages=1`` (the default) a customer in several audiences gets
the highest-priority one only.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["recent_sends", "apply_frequency_cap", "overlap_matrix", "cap_table"]

log = logging.getLogger(__name__)


def recent_sends(email_events: pd.DataFrame, as_of: pd.Timestamp, cap_days: int) -> pd.Series:
    """Number of ``sent`` e-mail events per customer in ``[as_of - cap_days, as_of)``.

    Examples
    --------
    >>> e = pd.DataFrame({"customer_id": ["a", "a", "b"], "event_type": ["sent"] * 3,
    ...     "occurred_at": pd.to_datetime(["2026-06-28", "2026-06-01", "2026-06-29"], utc=True)})
    >>> recent_sends(e, pd.Timestamp("2026-06-30", tz="UTC"), 7).to_dict()
    {'a': 1, 'b': 1}
    """
    at = pd.to_datetime(email_events["occurred_at"], utc=True)
    since = as_of - pd.Timedelta(days=cap_days)
    sent = (email_events["event_type"].astype("str") == "sent") & (at >= since) & (at < as_of)
    counts = email_events.loc[sent, "customer_id"].astype("str").value_counts()
    counts.index.name = "customer_id"
    return counts.rename("recent_sends").astype("int64")


def apply_frequency_cap(
    members: pd.DataFrame, *, max_messages: int, recent: pd.Series | None = None
) -> pd.DataFrame:
    """Mark which (customer, audience) memberships are kept under the cap.

    Parameters
    ----------
    members : DataFrame
        customer_id, audience, priority (eligible customers only).
    max_messages : int
        Messages allowed per customer in the cap window.
    recent : Series, optional
        Sends already made in the window, indexed by customer id (:func:`recent_sends`).

    Returns
    -------
    DataFrame
        A copy of ``members`` sorted by customer and priority with ``kept`` (bool) and
        ``cap_reason``: missing when kept, ``"recent sends"`` when the customer's
        allowance was used up by earlier campaigns, ``"higher-priority audience"``
        otherwise.

    Examples
    --------
    >>> m = pd.DataFrame({"customer_id": ["a", "a", "b"], "audience": ["x", "y", "y"],
    ...                   "priority": [2, 1, 1]})
    >>> apply_frequency_cap(m, max_messages=1)[["customer_id", "audience", "kept"]].values.tolist()
    [['a', 'y', True], ['a', 'x', False], ['b', 'y', True]]
    """
    if not isinstance(max_messages, int) or max_messages < 1:
        raise ValueError(
            f"apply_frequency_cap: max_messages must be an int >= 1, got {max_messages!r}"
        )
    out = members.sort_values(["customer_id", "priority"], kind="stable", ignore_index=True)
    rank = out.groupby("customer_id", sort=False).cumcount().to_numpy()
    used = np.zeros(len(out), dtype=np.int64)
    if recent is not None and len(out):
        used = recent.reindex(out["customer_id"]).fillna(0).to_numpy(dtype=np.int64)
    allowance = np.maximum(max_messages - used, 0)
    out["kept"] = rank < allowance
    reason = np.where(rank < max_messages, "recent sends", "higher-priority audience")
    reason = pd.Series(reason, index=out.index, dtype="str")
    out["cap_reason"] = reason.where(~out["kept"])
    return out


def overlap_matrix(members: pd.DataFrame, audiences: list[str]) -> pd.DataFrame:
    """Customers in both audiences (row, column); the diagonal is each audience's size.

    Examples
    --------
    >>> m = pd.DataFrame({"customer_id": ["a", "a", "b"], "audience": ["x", "y", "y"]})
    >>> overlap_matrix(m, ["x", "y"]).values.tolist()
    [[1, 1], [1, 2]]
    """
    if not len(members):
        return pd.DataFrame(0, index=pd.Index(audiences, name="audience"), columns=audiences)
    customers, rows = np.unique(members["customer_id"].astype("str"), return_inverse=True)
    position = {a: i for i, a in enumerate(audiences)}
    cols = members["audience"].map(position).to_numpy()
    keep = ~pd.isna(cols)
    x = np.zeros((len(customers), len(audiences)), dtype=np.int64)
    x[rows[keep], cols[keep].astype(int)] = 1
    return pd.DataFrame(x.T @ x, index=pd.Index(audiences, name="audience"), columns=audiences)


def cap_table(capped: pd.DataFrame, audiences: list[str]) -> pd.DataFrame:
    """Per audience: eligible members, kept, lost to a higher-priority audience, lost to
    recent sends."""
    rows = []
    for name in audiences:
        part = capped[capped["audience"] == name]
        rows.append(
            {
                "audience": name,
                "eligible": len(part),
                "after_cap": int(part["kept"].sum()),
                "lost_to_priority": int((part["cap_reason"] == "higher-priority audience").sum()),
                "lost_to_recent_sends": int((part["cap_reason"] == "recent sends").sum()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["audience", "eligible", "after_cap", "lost_to_priority", "lost_to_recent_sends"],
    )
