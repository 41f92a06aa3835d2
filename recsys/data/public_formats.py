"""How the recognised public formats (UCI Online Retail, MovieLens) map a file's columns, in
words a merchandiser reads on the Load data tab (the loaders in :mod:`recsys.data.formats`
apply these rules)."""

from __future__ import annotations

from collections.abc import Sequence

from recsys.data.schema import normalise_name

__all__ = ["recognised_mapping"]


def recognised_mapping(file_format: str, columns: Sequence[object]) -> list[dict[str, str]]:
    """How a recognised public format maps its interaction columns, for people to read: one row
    per role (``role``, ``column``, ``how``). ``columns`` are the file's (a MovieLens file without
    a header has positions). Empty for ``generic``, whose mapping the user picks."""
    if file_format == "online-retail":
        cols = {normalise_name(c): str(c) for c in columns}
        rows = [("user_id", "customerid", "customer; lines without one are dropped"),
                ("item_id", "stockcode", "product"),
                ("timestamp", "invoicedate", "first purchase of the product by the customer"),
                ("value", "quantity", "quantity, summed per customer and product"),
                ("order_id", "invoiceno", "invoices starting with C are cancellations, dropped"),
                ("title", "description", "catalog title (most frequent per product)"),
                ("price", "unitprice", "catalog price")]
        return [{"role": role, "column": cols.get(col, f"({col} not found)"), "how": how}
                for role, col, how in rows]
    if file_format == "movielens":
        names = [str(c) for c in columns]
        positional = all(n.isdigit() for n in names)

        def col(i: int, name: str) -> str:
            return f"column {i + 1}" if positional or i >= len(names) else names[i]

        return [{"role": "user_id", "column": col(0, "userId"), "how": "user"},
                {"role": "item_id", "column": col(1, "movieId"), "how": "movie"},
                {"role": "value", "column": col(2, "rating"), "how": "rating (1–5 stars)"},
                {"role": "timestamp", "column": col(3, "timestamp"), "how": "Unix seconds"},
                {"role": "title, category", "column": "u.item / movies file beside it",
                 "how": "title; first genre as category, all genres kept"}]
    return []
