"""Export the send lists: one CSV and one Parquet file per audience, and a manifest.

Each row carries a pseudonymous key — HMAC-SHA256 of the customer id keyed with a secret
salt, 64 hex characters: stable for one salt, and without the salt it cannot be turned
back into the id (nor recomputed from a guessed id) — the customer id, audience,
priority, message type, send hour, control flag and the content fields. E-mail addresses
appear only with ``include_contact=True`` (read from ``customers``); any other value that
looks like an e-mail address stops the export. The manifest lists every file with its
row count and SHA-256.

The salt comes from the ``salt`` argument, else the environment variable
``WORKBENCH_TARGETING_SALT``, else a salt file (created with 32 random bytes on first
use when asked). It is never written to the export or the manifest; the manifest holds a
``salt_id`` (an HMAC of a fixed text) that tells whether two exports used the same salt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.loading import file_digest
from workbench.targeting.params import SALT_ENV

__all__ = [
    "MANIFEST_FILE",
    "EXPORT_FORMATS",
    "resolve_salt",
    "pseudonymous_key",
    "email_columns",
    "export_audiences",
]

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
EXPORT_FORMATS = ("csv", "parquet")
_MIN_SALT = 16
_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}")
_CONTACT = ("email", "first_name", "last_name")


def resolve_salt(
    salt: str | bytes | None = None,
    *,
    salt_file: str | Path | None = None,
    create: bool = False,
) -> bytes:
    """The salt of the pseudonymous key: argument, environment, or salt file.

    Parameters
    ----------
    salt : str or bytes, optional
        At least 16 characters.
    salt_file : path, optional
        Read when neither the argument nor ``WORKBENCH_TARGETING_SALT`` is set; with
        ``create=True`` and no file yet, 32 random bytes (hex) are written to it (keep it
        out of version control and out of reports; the data folder is a good place).

    Raises
    ------
    ValueError
        No salt anywhere, or one shorter than 16 characters.
    """
    value: str | bytes | None = salt
    origin = "argument"
    if value is None and os.environ.get(SALT_ENV):
        value, origin = os.environ[SALT_ENV], f"environment variable {SALT_ENV}"
    if value is None and salt_file is not None:
        path = Path(salt_file)
        if not path.exists() and create:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32) + "\n")
            path.chmod(0o600)
            log.info("created a new targeting salt file %s", path)
        if path.exists():
            value, origin = path.read_text().strip(), f"salt file {path}"
    if value is None:
        raise ValueError(
            "pseudonymous key: no salt; pass salt=..., set the environment variable "
            f"{SALT_ENV}, or give a salt_file (create=True makes one)"
        )
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) < _MIN_SALT:
        raise ValueError(
            f"pseudonymous key: the salt from the {origin} must have at least {_MIN_SALT} "
            f"characters, got {len(raw)}"
        )
    return raw


def pseudonymous_key(ids: pd.Series, salt: bytes) -> pd.Series:
    """HMAC-SHA256(salt, customer id) as 64 hex characters, index kept.

    Examples
    --------
    >>> key = pseudonymous_key(pd.Series(["C001"]), b"a secret of 16+ chars")
    >>> len(key[0]), key[0] == pseudonymous_key(pd.Series(["C001"]), b"a secret of 16+ chars")[0]
    (64, True)
    """
    if not isinstance(salt, bytes) or len(salt) < _MIN_SALT:
        raise ValueError(
            f"pseudonymous_key: salt must be bytes of length >= {_MIN_SALT} (see resolve_salt)"
        )
    values = pd.Series(ids).astype("str")
    # RFC 2104 HMAC with the two padded-key states computed once: the same digests as
    # hmac.new(salt, id, sha256), about 3x faster per id than building an hmac object
    block = hashlib.sha256(salt).digest() if len(salt) > 64 else salt
    block = block.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    keys = []
    for value in values:
        step = inner.copy()
        step.update(value.encode("utf-8"))
        final = outer.copy()
        final.update(step.digest())
        keys.append(final.hexdigest())
    return pd.Series(keys, index=values.index, dtype="str")


def _salt_id(salt: bytes) -> str:
    return hmac.new(salt, b"workbench targeting salt id", hashlib.sha256).hexdigest()[:16]


def email_columns(frame: pd.DataFrame) -> list[str]:
    """Columns named like contact data (email, first_name, last_name) or holding any value
    that looks like an e-mail address.

    Examples
    --------
    >>> email_columns(pd.DataFrame({"a": ["x"], "why": ["write to ann@x.org"], "email": [""]}))
    ['why', 'email']
    """
    found = []
    for col in frame.columns:
        if str(col).lower() in _CONTACT:
            found.append(col)
            continue
        values = frame[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.dropna().astype("str")
            if len(text) and text.str.contains(_EMAIL).any():
                found.append(col)
    return [c for c in frame.columns if c in found]


def _contact(rows: pd.DataFrame, customers: pd.DataFrame | None) -> pd.Series:
    if customers is None or "email" not in customers.columns:
        raise ValueError(
            "export_audiences: include_contact=True needs the customers table with an "
            "'email' column"
        )
    lookup = customers.assign(customer_id=customers["customer_id"].astype("str"))
    lookup = lookup.drop_duplicates("customer_id").set_index("customer_id")["email"]
    emails = lookup.reindex(rows["customer_id"].astype("str")).astype("str").str.strip()
    return pd.Series(emails.to_numpy(), index=rows.index, dtype="str")


def export_audiences(
    rows: pd.DataFrame,
    folder: str | Path,
    *,
    salt: bytes,
    audiences: Sequence[str] | None = None,
    include_contact: bool = False,
    customers: pd.DataFrame | None = None,
    include_customer_id: bool = True,
    formats: Sequence[str] = EXPORT_FORMATS,
    refuse_inside: Sequence[str | Path] = (),
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<audience>.csv`` / ``<audience>.parquet`` and ``manifest.json`` into ``folder``.

    Parameters
    ----------
    rows : DataFrame
        One row per customer and audience (:attr:`TargetingPlan.rows`): customer_id,
        audience, and the other columns to export.
    folder : path
        Export folder (created). Keep it outside ``reports/``.
    salt : bytes
        From :func:`resolve_salt`.
    audiences : list of str, optional
        Audiences to write (also the empty ones, as header-only files); default: those
        in ``rows``.
    include_contact : bool, default False
        Add each customer's e-mail address (``email``), read from ``customers``.
    include_customer_id : bool, default True
        Keep the customer id beside the key (False leaves only the key).
    formats : ("csv", "parquet") or a subset
    refuse_inside : list of paths
        Folders the export must not be inside (e.g. the reports folder).
    meta : dict, optional
        Extra JSON-able values for the manifest (e.g. ``as_of``, run id).

    Returns
    -------
    dict
        The manifest: files (audience, format, file, rows, control_rows, sha256), columns,
        include_contact, key, salt_id, created_at and ``meta``.
    """
    folder = Path(folder).expanduser().resolve()
    for bad in refuse_inside:
        root = Path(bad).expanduser().resolve()
        if folder == root or root in folder.parents:
            raise ValueError(
                f"export_audiences: folder {folder} is inside {root}; send lists "
                "must be written elsewhere"
            )
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"export_audiences: formats must be a non-empty subset of "
            f"{EXPORT_FORMATS}, got {list(formats)}"
        )
    for col in ("customer_id", "audience"):
        if col not in rows.columns:
            raise ValueError(f"export_audiences: rows have no column {col!r}")
    table = rows.drop(columns=[c for c in rows.columns if str(c).lower() in _CONTACT])
    leaked = email_columns(table)
    if leaked:
        raise ValueError(
            f"export_audiences: column(s) {', '.join(map(str, leaked))} hold "
            "e-mail addresses; they must not be exported"
        )
    table.insert(0, "key", pseudonymous_key(table["customer_id"], salt))
    if include_contact:
        table["email"] = _contact(table, customers)
    if not include_customer_id:
        table = table.drop(columns="customer_id")
    names = list(audiences) if audiences is not None else sorted(rows["audience"].unique())
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in names:
        part = table[table["audience"] == name]
        sort = ["key"] if "customer_id" not in part else ["customer_id"]
        part = part.sort_values(sort, kind="stable", ignore_index=True)
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            if fmt == "csv":
                part.to_csv(path, index=False)
            else:
                pq.write_table(
                    pa.Table.from_pandas(part, preserve_index=False), path, compression="zstd"
                )
            files.append(
                {
                    "audience": name,
                    "format": fmt,
                    "file": path.name,
                    "rows": len(part),
                    "control_rows": int(part["control"].sum()) if "control" in part else None,
                    "sha256": file_digest(path).removeprefix("sha256:"),
                }
            )
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "columns": list(table.columns),
        "include_contact": include_contact,
        "include_customer_id": include_customer_id,
        "key": "HMAC-SHA256(salt, customer_id), hex",
        "salt_id": _salt_id(salt),
        "meta": meta or {},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    log.info("exported %s audiences (%s rows) to %s", len(names), f"{len(table):,}", folder)
    return manifest
