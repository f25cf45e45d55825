"""Customer 360: everything the workbench knows about one customer, by customer id.

Reads the latest processed outputs — ``customer_features.parquet`` (stage 02),
``segments.parquet`` (stage 03) and ``churn_scores.parquet`` (stage 04) — the champion
churn model from the MLflow registry (``models:/churn-classifier@champion``), and the
customer's own rows of the canonical tables (the source the feature table was built from,
else the audit's clean tables, else the raw ones) for recent orders and engagement.
Everything is optional except the feature table: a missing piece is named in
:attr:`Customer360.notes` and its section says so.

Point in time: orders and events are shown up to the feature table's ``as_of`` (rows on
or after it are not part of what the scores and segments saw).

Privacy: the view carries customer ids only. Columns that identify a person (e-mail,
names, phone, address, birth date) are dropped from every table it reads, and the
customers table itself is never read.

Examples
--------
>>> from workbench import customer360
>>> view = customer360.open_customer360()                            # doctest: +SKIP
>>> profile = view.profile("C0000001")                                # doctest: +SKIP
>>> profile.rfm                                                       # doctest: +SKIP
>>> profile.waterfall.show()                                          # doctest: +SKIP

Modules: :mod:`~workbench.customer360.sources` opens the view (catalog, registry, source
tables), :mod:`~workbench.customer360.view` holds it and answers per customer,
:mod:`~workbench.customer360.tables` builds one customer's tables and figure from frames.
"""

from workbench.customer360.sources import open_customer360
from workbench.customer360.tables import (
    PERSONAL_COLUMNS,
    audience_table,
    customer_waterfall,
    drop_personal,
    engagement_table,
    recent_orders,
    rfm_table,
)
from workbench.customer360.view import Customer360, CustomerNotFound, CustomerProfile

__all__ = [
    "PERSONAL_COLUMNS",
    "CustomerNotFound",
    "Customer360",
    "CustomerProfile",
    "open_customer360",
    "drop_personal",
    "rfm_table",
    "recent_orders",
    "engagement_table",
    "audience_table",
    "customer_waterfall",
]
