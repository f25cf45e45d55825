"""Parameters of the targeting stage: frequency cap, control groups, send time, content.

Every number a marketer may want to change is a field of :class:`TargetingParams`; the
notebook's parameters cell maps one to one onto these fields. The audiences themselves
(rules, priorities, message types, control shares) live in a YAML file
(:mod:`workbench.targeting.rules`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TargetingParams", "SALT_ENV", "FIRST_NAME_KEY"]

#: Environment variable holding the salt of the pseudonymous key.
SALT_ENV = "WORKBENCH_TARGETING_SALT"
#: Default merge field of the first name: the platform fills it, the export never holds it.
FIRST_NAME_KEY = "first_name"


@dataclass(frozen=True)
class TargetingParams:
    """Caps, holdouts, send-time and content settings of one targeting run.

    Attributes
    ----------
    max_messages : int, default 1
        At most this many targeted messages per customer in any ``cap_days`` window,
        counting the campaign sends already made in the ``cap_days`` before ``as_of``.
        With the default a customer in several audiences gets only the one with the
        highest priority.
    cap_days : int, default 7
        Length of the frequency-cap window (days). 1 message / 7 days is a common
        starting point for triggered and lifecycle mail; Klaviyo's "smart sending" uses
        16 hours, which corresponds to ``cap_days=1`` here.
    count_recent_sends : bool, default True
        Count the ``sent`` e-mail events of the ``cap_days`` before ``as_of`` against the
        cap (needs ``email_events``).
    bounce_limit : int, default 1
        Customers with at least this many ``bounce`` events before ``as_of`` are excluded
        (the canonical table does not tell hard from soft bounces, so every bounce is
        treated as hard by default).
    control_seed : int, default 7
        Seed of the control-group draw (hashed with the audience name and customer id).
    default_control_share : float, default 0.0
        Holdout share of an audience whose YAML entry sets none.
    machine_open_seconds : float, default 120
        Opens within this many seconds of the customer's send are treated as machine
        opens (mail-privacy prefetching, security scanners) and ignored by send-time
        optimisation.
    hour_window : int, default 1
        The send hour is chosen to maximise the expected share of interactions within
        ± ``hour_window`` hours of it; the evaluation counts held-out interactions in
        the same window.
    prior_strength : float or None, default None
        Dirichlet prior weight (pseudo-interactions) pulling each customer's hour
        distribution toward the population's. None estimates it by empirical Bayes
        (maximum Dirichlet–multinomial marginal likelihood).
    holdout_days : int, default 56
        Send-time evaluation: interactions in the last ``holdout_days`` before ``as_of``
        are held out; the hours are learnt from the interactions before them.
    n_products : int, default 3
        Recommended products carried per customer.
    first_name_key : str, default "first_name"
        Name of the e-mail platform's profile field the template merges as first name.
    preview_customers : int, default 3
        Customers rendered in the template preview.
    include_contact : bool, default False
        Put each customer's e-mail address into the export files (column ``email``).
        Addresses never reach the report, the summary, the logs or MLflow either way.
    audiences_file : str, default ""
        A YAML file of audiences; empty means ``audiences.yml`` beside the data when it
        exists, else the built-in defaults.
    suppression_file : str, default ""
        A CSV suppression list (customer_id, email and/or email_sha256); empty means
        ``suppression.csv`` beside the data when it exists, else none.

    Examples
    --------
    >>> TargetingParams(max_messages=2).cap_days
    7
    >>> TargetingParams(cap_days=0)
    Traceback (most recent call last):
    ...
    ValueError: TargetingParams: cap_days must be a positive int, got 0
    """

    max_messages: int = 1
    cap_days: int = 7
    count_recent_sends: bool = True
    bounce_limit: int = 1
    control_seed: int = 7
    default_control_share: float = 0.0
    machine_open_seconds: float = 120.0
    hour_window: int = 1
    prior_strength: float | None = None
    holdout_days: int = 56
    n_products: int = 3
    first_name_key: str = FIRST_NAME_KEY
    preview_customers: int = 3
    include_contact: bool = False
    audiences_file: str = ""
    suppression_file: str = ""

    def __post_init__(self) -> None:
        for name in ("max_messages", "cap_days", "bounce_limit", "holdout_days", "n_products"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TargetingParams: {name} must be a positive int, got {value!r}")
        for name in ("control_seed", "preview_customers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TargetingParams: {name} must be an int >= 0, got {value!r}")
        if not isinstance(self.hour_window, int) or not 0 <= self.hour_window <= 11:
            raise ValueError(
                f"TargetingParams: hour_window must be an int in [0, 11], got {self.hour_window!r}"
            )
        share = self.default_control_share
        if not isinstance(share, int | float) or not 0 <= share < 1:
            raise ValueError(
                f"TargetingParams: default_control_share must be in [0, 1), got {share!r}"
            )
        if not isinstance(self.machine_open_seconds, int | float) or self.machine_open_seconds < 0:
            raise ValueError(
                "TargetingParams: machine_open_seconds must be a number >= 0, "
                f"got {self.machine_open_seconds!r}"
            )
        strength = self.prior_strength
        if strength is not None and (not isinstance(strength, int | float) or strength <= 0):
            raise ValueError(
                f"TargetingParams: prior_strength must be positive or None, got {strength!r}"
            )
        if not isinstance(self.include_contact, bool):
            raise ValueError(
                f"TargetingParams: include_contact must be True or False, got {self.include_contact!r}"
            )
        for name in ("audiences_file", "suppression_file"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(
                    f"TargetingParams: {name} must be a path or empty, got {getattr(self, name)!r}"
                )
        key = self.first_name_key
        if not isinstance(key, str) or not key.replace("_", "").isalnum():
            raise ValueError(
                "TargetingParams: first_name_key must be a field name of letters, digits and "
                f"underscores, got {key!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for MLflow parameters."""
        return asdict(self)
