"""The contract: the canonical tables, declared once, and the parsed cut-off date.

Each table is a pandera ``DataFrameModel`` (column names, types, allowed values)
plus a :class:`TableSpec` with what pandera cannot say: which columns a source
must provide, the key, the foreign keys and which columns are ids or timestamps.
The loader, the audit and the demo simulator all read these declarations.

Types after loading: ids are strings (pandas ``str``), timestamps are
``datetime64[us, UTC]``, money and quantities are ``float64``, flags are the
nullable ``boolean`` type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

__all__ = [
    "TIMESTAMP_DTYPE",
    "ORDER_STATUSES",
    "EMAIL_EVENT_TYPES",
    "WEB_EVENT_TYPES",
    "CustomersModel",
    "OrdersModel",
    "OrderItemsModel",
    "ProductsModel",
    "EmailEventsModel",
    "WebEventsModel",
    "ExperimentAssignmentsModel",
    "TableSpec",
    "TABLES",
    "REQUIRED_TABLES",
    "table_spec",
    "canonical_columns",
    "empty_table",
    "parse_as_of",
    "check_as_of",
]

TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
_TS = {"unit": "us", "tz": "UTC"}  # dtype_kwargs of every timestamp column

ORDER_STATUSES = ("completed", "cancelled", "returned")
EMAIL_EVENT_TYPES = ("sent", "open", "click", "bounce", "unsubscribe")
WEB_EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")


class _Base(pa.DataFrameModel):
    class Config:
        strict = False  # extra user columns are carried along, not rejected
        coerce = False  # the loader coerces and reports; validation only checks


class CustomersModel(_Base):
    customer_id: Series[str] = pa.Field(nullable=False, unique=True)
    email: Series[str] = pa.Field(nullable=True)
    first_name: Series[str] = pa.Field(nullable=True)
    last_name: Series[str] = pa.Field(nullable=True)
    birth_date: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs=_TS)
    gender: Series[str] = pa.Field(nullable=True)
    country: Series[str] = pa.Field(nullable=True)
    city: Series[str] = pa.Field(nullable=True)
    signup_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs=_TS)
    signup_channel: Series[str] = pa.Field(nullable=True)
    email_opt_in: Series[pd.BooleanDtype] = pa.Field(nullable=True)


class OrdersModel(_Base):
    order_id: Series[str] = pa.Field(nullable=False, unique=True)
    customer_id: Series[str] = pa.Field(nullable=False)
    ordered_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=False, dtype_kwargs=_TS)
    amount: Series[float] = pa.Field(nullable=False)
    status: Series[str] = pa.Field(nullable=False, isin=list(ORDER_STATUSES))
    channel: Series[str] = pa.Field(nullable=True)


class OrderItemsModel(_Base):
    line_id: Series[str] = pa.Field(nullable=True)  # optional: many exports have no line key
    order_id: Series[str] = pa.Field(nullable=False)
    product_id: Series[str] = pa.Field(nullable=False)
    quantity: Series[float] = pa.Field(nullable=False)
    unit_price: Series[float] = pa.Field(nullable=False)


class ProductsModel(_Base):
    product_id: Series[str] = pa.Field(nullable=False, unique=True)
    category: Series[str] = pa.Field(nullable=True)
    name: Series[str] = pa.Field(nullable=True)
    price: Series[float] = pa.Field(nullable=True)


class EmailEventsModel(_Base):
    event_id: Series[str] = pa.Field(nullable=True)  # optional
    customer_id: Series[str] = pa.Field(nullable=False)
    campaign_id: Series[str] = pa.Field(nullable=True)
    event_type: Series[str] = pa.Field(nullable=False, isin=list(EMAIL_EVENT_TYPES))
    occurred_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=False, dtype_kwargs=_TS)


class WebEventsModel(_Base):
    event_id: Series[str] = pa.Field(nullable=True)  # optional
    session_id: Series[str] = pa.Field(nullable=False)
    customer_id: Series[str] = pa.Field(nullable=True)  # anonymous visitors have none
    event_type: Series[str] = pa.Field(nullable=False, isin=list(WEB_EVENT_TYPES))
    product_id: Series[str] = pa.Field(nullable=True)
    occurred_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=False, dtype_kwargs=_TS)


class ExperimentAssignmentsModel(_Base):
    experiment_id: Series[str] = pa.Field(nullable=False)
    customer_id: Series[str] = pa.Field(nullable=False)
    variant: Series[str] = pa.Field(nullable=False)
    assigned_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=False, dtype_kwargs=_TS)


@dataclass(frozen=True)
class TableSpec:
    """What the workbench knows about one canonical table.

    Attributes
    ----------
    name : str
        Canonical table name, also the file stem (``orders.parquet``).
    model : type[pa.DataFrameModel]
        The pandera model: every canonical column with its type and rules.
    required : tuple[str, ...]
        Columns a source must provide; the others are optional and added empty.
    key : tuple[str, ...]
        Columns that identify a row (empty when the table has no key). A key made
        of optional columns that a source does not provide is simply not checked.
    foreign_keys : dict[str, str]
        Column -> referenced table (whose key is that column's name).
    time_column : str | None
        The column that says when a row happened (for point-in-time filters).
    defaults : dict[str, object]
        Values for optional columns a source lacks, applied by the loader and logged.
    """

    name: str
    model: type[pa.DataFrameModel]
    required: tuple[str, ...]
    key: tuple[str, ...] = ()
    foreign_keys: dict[str, str] = field(default_factory=dict)
    time_column: str | None = None
    defaults: dict[str, object] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, object]:
        """Canonical column -> pandas dtype, in declaration order."""
        schema = self.model.to_schema()
        return {name: col.dtype.type for name, col in schema.columns.items()}

    @property
    def id_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c.endswith("_id"))

    @property
    def timestamp_columns(self) -> tuple[str, ...]:
        return tuple(c for c, dt in self.columns.items() if isinstance(dt, pd.DatetimeTZDtype))

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(
            c
            for c, dt in self.columns.items()
            if not isinstance(dt, pd.DatetimeTZDtype) and str(dt) in ("float64", "int64")
        )

    @property
    def boolean_columns(self) -> tuple[str, ...]:
        return tuple(c for c, dt in self.columns.items() if str(dt) == "boolean")


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            CustomersModel,
            required=("customer_id",),
            key=("customer_id",),
            time_column="signup_at",
        ),
        TableSpec(
            "orders",
            OrdersModel,
            required=("order_id", "customer_id", "ordered_at", "amount"),
            key=("order_id",),
            foreign_keys={"customer_id": "customers"},
            time_column="ordered_at",
            defaults={"status": "completed"},
        ),
        TableSpec(
            "order_items",
            OrderItemsModel,
            required=("order_id", "product_id", "quantity", "unit_price"),
            key=("line_id",),
            foreign_keys={"order_id": "orders", "product_id": "products"},
        ),
        TableSpec(
            "products",
            ProductsModel,
            required=("product_id",),
            key=("product_id",),
        ),
        TableSpec(
            "email_events",
            EmailEventsModel,
            required=("customer_id", "event_type", "occurred_at"),
            key=("event_id",),
            foreign_keys={"customer_id": "customers"},
            time_column="occurred_at",
        ),
        TableSpec(
            "web_events",
            WebEventsModel,
            required=("session_id", "event_type", "occurred_at"),
            key=("event_id",),
            foreign_keys={"customer_id": "customers", "product_id": "products"},
            time_column="occurred_at",
        ),
        TableSpec(
            "experiment_assignments",
            ExperimentAssignmentsModel,
            required=("experiment_id", "customer_id", "variant", "assigned_at"),
            key=("experiment_id", "customer_id"),
            foreign_keys={"customer_id": "customers"},
            time_column="assigned_at",
        ),
    )
}

REQUIRED_TABLES = ("customers", "orders")


def table_spec(name: str) -> TableSpec:
    """Return the spec of canonical table ``name`` or raise a ``KeyError`` listing them."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(
            f"unknown table {name!r}; the canonical tables are: {', '.join(TABLES)}"
        ) from None


def canonical_columns(name: str) -> list[str]:
    """Column names of canonical table ``name`` in declaration order."""
    return list(table_spec(name).columns)


def empty_table(name: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and types of table ``name``."""
    spec = table_spec(name)
    data = {}
    for col, dtype in spec.columns.items():
        data[col] = pd.Series([], dtype=_pandas_dtype(dtype))
    return pd.DataFrame(data)


def parse_as_of(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """The cut-off as a UTC timestamp at midnight; features use data strictly before it.

    Parsed once, where a value enters the workbench (a stage's parameters, the command
    line); every function below takes the parsed timestamp.

    Examples
    --------
    >>> parse_as_of("2026-06-30")
    Timestamp('2026-06-30 00:00:00+0000', tz='UTC')
    """
    try:
        stamp = pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"as_of: expected a date such as 2026-06-30, got {as_of!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"as_of: expected a date such as 2026-06-30, got {as_of!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.normalize()


def check_as_of(as_of: pd.Timestamp, where: str) -> pd.Timestamp:
    """``as_of`` itself when it is a parsed cut-off (a UTC midnight ``pd.Timestamp``).

    Nothing is parsed here: a text or another time is refused with the way to parse it
    (:func:`workbench.schema.parse_as_of`), so that a cut-off is parsed once, where it
    enters the workbench.

    Raises
    ------
    TypeError
        ``as_of`` is not a ``pd.Timestamp``.
    ValueError
        It is not in UTC or not at midnight.

    Examples
    --------
    >>> check_as_of(pd.Timestamp("2026-06-30", tz="UTC"), "build_features").day
    30
    >>> check_as_of("2026-06-30", "build_features")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: build_features: as_of must be a pd.Timestamp (UTC midnight), got '2026-06-30'; ...
    """
    if not isinstance(as_of, pd.Timestamp):
        raise TypeError(
            f"{where}: as_of must be a pd.Timestamp (UTC midnight), got {as_of!r}; "
            "parse it once with workbench.schema.parse_as_of('2026-06-30')"
        )
    if as_of.tzinfo is None or as_of.utcoffset() or as_of != as_of.normalize():
        raise ValueError(
            f"{where}: as_of must be a UTC midnight, got {as_of!r}; "
            "parse it with workbench.schema.parse_as_of"
        )
    return as_of


def _pandas_dtype(dtype: object) -> object:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return TIMESTAMP_DTYPE
    text = str(dtype)
    if text in ("str", "string", "object"):
        return "str"
    return text
