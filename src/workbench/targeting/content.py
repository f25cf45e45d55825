"""Personalised content fields per message, and a preview rendered from a Jinja2 template.

Fields (one row per customer and audience, see :func:`content_fields`):

``first_name_key``
    The name of the platform's profile field that holds the first name (the platform
    merges it); the workbench never reads or writes the name itself.
``top_category``
    The category with the largest share of the customer's spend, else the most viewed.
``product_<k>_id``, ``product_<k>_name``, ``product_<k>_reason``
    The ``n_products`` best recommendations (names from ``products`` when given).
``churn_reasons``, ``clv_tier``
    The churn model's reasons (joined by `` | ``) and the CLV tier, when those inputs exist.
``why``
    The values of the audience's ``explain`` columns: what put the customer there.

The preview (:func:`render_preview`) uses ``templates/message.html.j2`` shipped with the
package (or a template of the user's) with autoescaping on, so every value from the data
is HTML-escaped; the first name shows as the masked merge field ``[first_name]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from workbench.frames import isin
from workbench.targeting.inputs import join_list
from workbench.targeting.rules import Audience

__all__ = [
    "SUBJECTS",
    "INTROS",
    "content_fields",
    "default_template_path",
    "load_template",
    "preview_messages",
    "render_preview",
]

log = logging.getLogger(__name__)

#: Example subject line per message type of the built-in audiences (template text only).
SUBJECTS = {
    "cart_reminder": "You left something in your basket",
    "retention_offer": "A thank-you for being one of our best customers",
    "winback_offer": "We miss you: here is something new",
    "best_arm_offer": "Picked for you",
    "welcome_series": "Welcome! A few things to get you started",
    "vip_perks": "Your VIP perks this month",
    "reengagement_series": "Still interested? Tell us what you like",
}
#: Example first sentence per message type.
INTROS = {
    "cart_reminder": "Your basket is still waiting for you.",
    "retention_offer": "You have been with us for a while, and we want to say thank you.",
    "winback_offer": "It has been a while. Here is what is new since your last visit.",
    "best_arm_offer": "We think you will like these.",
    "welcome_series": "Thanks for joining us. Here is where to start.",
    "vip_perks": "As one of our best customers you get early access this month.",
    "reengagement_series": "We would love to send you only what you care about.",
}


def _fmt(value: Any) -> str:
    text = join_list(value)
    if isinstance(text, float | np.floating):
        number = float(text)
        return f"{number:.3g}" if abs(number) < 1000 else f"{number:,.0f}"
    return str(text)


def content_fields(
    assigned: pd.DataFrame,
    table: pd.DataFrame,
    *,
    audiences: Sequence[Audience],
    recommendations: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    n_products: int = 3,
    first_name_key: str = "first_name",
) -> pd.DataFrame:
    """The template fields for every (customer, audience) row of ``assigned``.

    Parameters
    ----------
    assigned : DataFrame
        customer_id and audience (plus whatever else; kept in front).
    table : DataFrame
        The targeting table (:func:`~workbench.targeting.inputs.targeting_table`).
    audiences : list of Audience
        For each audience's ``explain`` columns.
    recommendations : DataFrame, optional
        customer_id, rank, product_id, and optionally reason (checked and sorted by
        :func:`~workbench.targeting.inputs.check_recommendations`).
    products : DataFrame, optional
        product_id and name, for product names.
    n_products : int, default 3
    first_name_key : str, default "first_name"

    Returns
    -------
    DataFrame
        ``assigned``'s columns followed by the fields listed in the module notes (a new
        frame; missing inputs give empty fields).
    """
    out = assigned.reset_index(drop=True).copy()
    info = table.drop_duplicates("customer_id").set_index("customer_id")
    ids = out["customer_id"].astype("str")

    def column(name: str) -> pd.Series:
        if name not in info.columns:
            return pd.Series(None, index=out.index, dtype="object")
        return pd.Series(info[name].reindex(ids).to_numpy(), index=out.index)

    out["first_name_key"] = first_name_key
    top = column("top_category").astype("object")
    top = top.where(top.notna() & (top.astype("str") != "nan"), column("most_viewed_category"))
    out["top_category"] = top.astype("str")
    out = pd.concat([out, _products(ids, recommendations, products, n_products)], axis=1)
    out["churn_reasons"] = column("top_reasons").map(join_list).astype("str")
    out["clv_tier"] = column("clv_tier").astype("str")
    explain = {a.name: [c for c in a.explain if c in info.columns] for a in audiences}
    why = pd.Series("", index=out.index, dtype="object")
    for name, cols in explain.items():
        rows = out.index[out["audience"] == name]
        if not len(rows) or not cols:
            continue
        values = info.loc[ids[rows], cols]
        why.loc[rows] = [
            "; ".join(
                f"{c.replace('_', ' ')}: {_fmt(v)}"
                for c, v in zip(cols, row, strict=True)
                if v is not None and not (isinstance(v, float) and np.isnan(v))
            )
            for row in values.itertuples(index=False, name=None)
        ]
    out["why"] = why.astype("str")
    return out


def _products(
    ids: pd.Series, recs: pd.DataFrame | None, products: pd.DataFrame | None, n: int
) -> pd.DataFrame:
    names = [f"product_{k}_{part}" for k in range(1, n + 1) for part in ("id", "name", "reason")]
    out = pd.DataFrame({c: pd.Series(None, index=ids.index, dtype="str") for c in names})
    if recs is None or not len(recs):
        return out
    top = recs[isin(recs["customer_id"], set(ids))].copy()
    top["slot"] = top.groupby("customer_id", sort=False).cumcount() + 1
    top = top[top["slot"] <= n]
    if products is not None and "name" in products.columns:
        lookup = products.drop_duplicates("product_id").set_index(
            products["product_id"].drop_duplicates().astype("str")
        )["name"]
        top["name"] = top["product_id"].map(lookup)
    else:
        top["name"] = None
    if "reason" not in top.columns:
        top["reason"] = None
    wide = top.pivot(index="customer_id", columns="slot", values=["product_id", "name", "reason"])
    for k in range(1, n + 1):
        for part, source in (("id", "product_id"), ("name", "name"), ("reason", "reason")):
            if (source, k) in wide.columns:
                values = wide[(source, k)].reindex(ids).to_numpy()
                out[f"product_{k}_{part}"] = pd.Series(values, index=ids.index).astype("str")
    return out


def default_template_path() -> Path:
    """Path of the preview template shipped with the package."""
    return Path(str(resources.files("workbench.targeting").joinpath("templates/message.html.j2")))


def load_template(path: str | Path | None = None) -> jinja2.Template:
    """A Jinja2 template with autoescaping on and strict undefined names."""
    path = Path(path) if path is not None else default_template_path()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(path.name)


def _blank(value: Any) -> bool:
    """Missing (None, NaN, pd.NA — e.g. a send hour without e-mail events) or ``"nan"``.

    Examples
    --------
    >>> [_blank(v) for v in (None, float("nan"), pd.NA, "nan", "", 0, "x")]
    [True, True, True, True, False, False, False]
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and value == "nan"


def preview_messages(rows: pd.DataFrame, *, n: int = 3, seed: int = 7) -> list[dict[str, Any]]:
    """Template contexts of ``n`` sample rows: one per audience first (highest priority
    first), then more at random (seeded); treatment rows before control rows."""
    if not len(rows):
        return []
    control = rows["control"].astype(bool) if "control" in rows else False
    keys = ["_c", "priority"] if "priority" in rows else ["_c"]
    order = rows.assign(_c=control).sort_values(keys, kind="stable")
    first = order.drop_duplicates("audience")
    rest = order.drop(first.index)
    extra = rest.sample(n=min(max(n - len(first), 0), len(rest)), random_state=seed)
    sample = pd.concat([first, extra]).head(n)
    messages = []
    for _, r in sample.iterrows():
        products = []
        k = 1
        while f"product_{k}_id" in r.index:
            if not _blank(r[f"product_{k}_id"]):
                products.append(
                    {
                        "id": r[f"product_{k}_id"],
                        "name": None if _blank(r[f"product_{k}_name"]) else r[f"product_{k}_name"],
                        "reason": None
                        if _blank(r[f"product_{k}_reason"])
                        else r[f"product_{k}_reason"],
                    }
                )
            k += 1
        send_hour = r.get("send_hour")
        messages.append(
            {
                "audience": r["audience"],
                "message_type": r.get("message_type", ""),
                "send_hour": "not set" if _blank(send_hour) else f"{int(send_hour):02d}:00",
                "control": bool(r.get("control", False)),
                "top_category": None if _blank(r.get("top_category")) else r["top_category"],
                "products": products,
                "why": None if _blank(r.get("why")) or r.get("why") == "" else r["why"],
            }
        )
    return messages


def render_preview(
    rows: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str = "",
    n: int = 3,
    seed: int = 7,
    template: str | Path | None = None,
    first_name_key: str = "first_name",
) -> str:
    """HTML preview of the message for ``n`` sample customers (names masked).

    The page is self-contained (inline CSS, no scripts, no external resources). Values
    from the data are escaped by Jinja2's autoescaping.

    Examples
    --------
    >>> rows = pd.DataFrame({"customer_id": ["c1"], "audience": ["vip"], "priority": [1],
    ...     "message_type": ["vip_perks"], "control": [False], "send_hour": [19],
    ...     "top_category": ["<b>home</b>"], "why": ["rfm segment: Champions"]})
    >>> html = render_preview(rows)
    >>> "&lt;b&gt;home&lt;/b&gt;" in html, "[first_name]" in html, "c1" in html
    (True, True, False)
    """
    messages = preview_messages(rows, n=n, seed=seed)
    as_of_text = str(pd.Timestamp(as_of).date()) if str(as_of) else ""
    return load_template(template).render(
        messages=messages,
        as_of=as_of_text,
        first_name=f"[{first_name_key}]",
        subjects=SUBJECTS,
        intros=INTROS,
    )
