"""Numbers and money: non-finite values, order amounts from clean lines, revenue reconciled.

* :func:`check_non_finite` — ``non_finite`` (error): ``inf`` or ``-inf`` in a numeric
  column (``amount``, ``quantity``, ``unit_price``, ``price``). A NaN is a blank: in a
  required column it is ``missing_required``. Either way the row is quarantined, so no
  later stage receives a non-finite number from the clean tables.
* **Amounts from clean lines.** When the orders were *derived from order lines* (a
  line-level export: the loader's ``amount`` is Σ quantity × unit_price of every line), a
  clean order's amount is recomputed from its clean lines only: a quarantined line (an
  exact duplicate, a negative quantity on a sale, an unknown product …) adds nothing to
  revenue, and an order whose every line was quarantined is quarantined itself
  (``lines_quarantined``). When the orders come with their own amounts (an orders table),
  that amount is the source's figure — it may include shipping, tax or discounts — and is
  kept; ``amount_mismatch`` then compares it with the sum of the order's *clean* lines.
  Recomputing (rather than quarantining every order with a bad line) keeps the valid part
  of an order — its customer, date and good lines — while making the amount agree with
  exactly the lines a later stage can see.
* **Revenue reconciled** (:class:`Revenue`): revenue is the amount of completed orders
  with a finite positive amount. Revenue of the orders as loaded = revenue of the clean
  orders + revenue of the quarantined orders + revenue of quarantined lines of clean
  orders (the recomputation) + revenue of the orders set aside after ``as_of``.

Examples
--------
>>> revenue_of(pd.Series([10.0, -5.0, float("inf"), 3.0]),
...            pd.Series(["completed", "completed", "completed", "cancelled"])).tolist()
[10.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from workbench.audit.rules import Finding
from workbench.schema import table_spec

__all__ = ["Revenue", "check_non_finite", "revenue_of"]


def check_non_finite(table: str, frame: pd.DataFrame) -> list[Finding]:
    """``non_finite`` (error) for each numeric column of ``table`` holding ``inf``/``-inf``."""
    findings = []
    for column in table_spec(table).numeric_columns:
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        rows = np.flatnonzero(np.isinf(values))
        findings.append(
            Finding(
                table,
                "non_finite",
                rows.astype(np.int64),
                np.array(
                    [f"{column} {values[r]} is not a finite number" for r in rows], dtype=object
                ),
                column=column,
            )
        )
    return findings


def revenue_of(amount: pd.Series, status: pd.Series) -> np.ndarray:
    """Each order's revenue: its amount when completed, finite and positive, else 0."""
    values = amount.to_numpy(dtype=float, na_value=np.nan)
    completed = (status == "completed").fillna(False).to_numpy(dtype=bool)
    counted = completed & np.isfinite(values) & (values > 0)
    return np.where(counted, values, 0.0)


@dataclass
class Revenue:
    """Revenue of the orders as loaded and where every unit of it went.

    Attributes
    ----------
    raw : float
        Orders as loaded (all rows, set-aside ones included).
    clean : float
        Clean orders (amounts recomputed from clean lines where the orders were derived).
    quarantined_orders : float
        Quarantined orders (their amount as loaded).
    quarantined_lines : float
        Quarantined lines of clean orders derived from lines (raw − recomputed amount).
    after_as_of : float
        Orders set aside at or after ``as_of``.
    """

    raw: float = 0.0
    clean: float = 0.0
    quarantined_orders: float = 0.0
    quarantined_lines: float = 0.0
    after_as_of: float = 0.0

    @property
    def quarantined(self) -> float:
        return self.quarantined_orders + self.quarantined_lines

    @property
    def reconciled(self) -> bool:
        """raw = clean + quarantined + after as_of, to the cent (relative 1e-9 for sums of
        billions)."""
        parts = self.clean + self.quarantined + self.after_as_of
        return bool(abs(self.raw - parts) <= max(0.01, 1e-9 * abs(self.raw)))

    def as_dict(self) -> dict[str, float | bool]:
        out: dict[str, float | bool] = {k: round(v, 2) for k, v in asdict(self).items()}
        out["quarantined"] = round(self.quarantined, 2)
        out["reconciled"] = self.reconciled
        return out
