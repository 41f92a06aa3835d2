"""Canonical column schema and automatic column mapping.

Every file a merchandiser brings is mapped onto one canonical schema before anything else
happens, so the rest of the library only ever sees these names:

* interactions: ``user_id, item_id[, timestamp][, value][, order_id]`` (``value`` is a rating,
  a quantity or a weight; ``order_id`` lets cancelled orders be recognised),
* catalog: ``item_id, title[, description, category, brand, price]`` plus any extra columns.

Column names in the wild vary (``CustomerID``, ``userId``, ``StockCode``, ``movieId``…), so the
mapping is guessed from synonyms and can always be overridden by the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "INTERACTION_ROLES",
    "CATALOG_ROLES",
    "REQUIRED_INTERACTION_ROLES",
    "REQUIRED_CATALOG_ROLES",
    "ValueKind",
    "ColumnMapping",
    "normalise_name",
    "guess_mapping",
    "guess_value_kind",
]

ValueKind = Literal["auto", "rating", "quantity", "weight"]

#: Interaction roles, in display order.
INTERACTION_ROLES: tuple[str, ...] = ("user_id", "item_id", "timestamp", "value", "order_id")
#: Catalog roles, in display order (other catalog columns are kept as they are).
CATALOG_ROLES: tuple[str, ...] = ("item_id", "title", "description", "category", "brand", "price")
REQUIRED_INTERACTION_ROLES: tuple[str, ...] = ("user_id", "item_id")
REQUIRED_CATALOG_ROLES: tuple[str, ...] = ("item_id",)

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "user_id": (
        "userid", "user", "customerid", "customer", "custid", "customerno", "clientid",
        "client", "visitorid", "visitor", "memberid", "accountid", "buyerid", "uid", "shopperid",
    ),
    "item_id": (
        "itemid", "item", "stockcode", "productid", "product", "sku", "movieid", "movie",
        "articleid", "article", "asin", "productcode", "itemcode", "iid", "bookid", "isbn",
        "trackid", "skuid", "variantid",
    ),
    "timestamp": (
        "timestamp", "time", "datetime", "date", "invoicedate", "orderdate", "eventtime",
        "ts", "createdat", "purchasedate", "eventdate", "unixtime", "ratingtime",
    ),
    "value": (
        "value", "rating", "quantity", "qty", "score", "weight", "count", "amount", "stars",
        "units", "clicks", "plays", "playcount", "strength",
    ),
    "order_id": (
        "orderid", "order", "invoiceno", "invoice", "invoiceid", "transactionid",
        "transaction", "basketid", "orderno", "ordernumber", "receiptid",
    ),
    "title": ("title", "name", "productname", "itemname", "description", "moviename", "label"),
    "description": ("description", "desc", "details", "longdescription", "text", "summary", "body"),
    "category": (
        "category", "categories", "genre", "genres", "department", "productcategory", "type",
        "producttype", "class", "section", "categoryname",
    ),
    "brand": ("brand", "manufacturer", "maker", "vendor", "label", "brandname"),
    "price": ("price", "unitprice", "listprice", "cost", "saleprice", "amount", "unitcost"),
}

_RATING_NAMES = {"rating", "score", "stars"}
_QUANTITY_NAMES = {"quantity", "qty", "units", "count", "amount"}


def normalise_name(name: object) -> str:
    """Lower-case a column name and drop everything but letters and digits."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column plays which canonical role (``None`` = not present).

    ``roles`` maps a canonical role (``user_id``…) to a source column name.
    ``value_kind`` tells how to read the ``value`` column: ratings keep any value, quantities
    and weights must be positive.
    """

    roles: Mapping[str, str | None] = field(default_factory=dict)
    value_kind: ValueKind = "auto"

    def get(self, role: str) -> str | None:
        """Source column for ``role``, or ``None``."""
        return self.roles.get(role)

    def with_overrides(self, overrides: Mapping[str, str | None]) -> ColumnMapping:
        """A new mapping where ``overrides`` replace the guessed roles."""
        roles = dict(self.roles)
        roles.update({k: (v or None) for k, v in overrides.items()})
        return ColumnMapping(roles=roles, value_kind=self.value_kind)

    def shared_columns(self) -> dict[str, tuple[str, ...]]:
        """Columns that play more than one role (column → its roles, in role order).

        A column read as both user and item id (say) gives nonsense pairs, so a caller that
        takes a mapping from a person refuses these.
        """
        roles_of: dict[str, list[str]] = {}
        for role, column in self.roles.items():
            if column:
                roles_of.setdefault(column, []).append(role)
        return {c: tuple(r) for c, r in roles_of.items() if len(r) > 1}

    def as_dict(self) -> dict[str, object]:
        """Plain dict for reports and manifests."""
        return {"roles": dict(self.roles), "value_kind": self.value_kind}


def guess_mapping(
    columns: Iterable[object], roles: Iterable[str] = INTERACTION_ROLES
) -> ColumnMapping:
    """Guess which column plays which role from the column names.

    An exact canonical name wins, then the first synonym in priority order. A column is used for
    at most one role, and roles are filled in the order given, so ``Description`` becomes the
    catalog title when no better title exists but not also its description.
    """
    columns = [str(c) for c in columns]
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_name(col), col)
    taken: set[str] = set()
    found: dict[str, str | None] = {}
    for role in roles:
        found[role] = None
        for candidate in (normalise_name(role), *_SYNONYMS.get(role, ())):
            col = by_norm.get(candidate)
            if col is not None and col not in taken:
                found[role] = col
                taken.add(col)
                break
    kind = guess_value_kind(found.get("value")) if "value" in found else "auto"
    return ColumnMapping(roles=found, value_kind=kind)


def guess_value_kind(column: str | None) -> ValueKind:
    """Guess whether a value column holds ratings, quantities or generic weights."""
    if column is None:
        return "auto"
    norm = normalise_name(column)
    if norm in _RATING_NAMES or "rating" in norm:
        return "rating"
    if norm in _QUANTITY_NAMES or "quant" in norm:
        return "quantity"
    return "weight"
