"""Business measures where the catalog has prices: what the lists put on show, in money terms.

Accuracy and tail share say nothing about revenue. When the catalog carries a ``price`` column,
these measures translate lists (and the shop's own history) into the figures a merchandiser
reports:

* **price on show**: the average price of the listed items, each slot weighted by how likely it
  is to be looked at (position-based examination, ``1 / log2(rank + 1)``, the NDCG discount), so
  rank 1 counts more than rank 10;
* **tail share of expected revenue**: the share of that examination-weighted price that falls on
  long-tail items (mid + far tail: everything outside the head). It assumes a shown item is
  bought with a chance proportional to its examination, the same for every item: a statement
  about exposure, not a forecast of sales;
* **exposure by price band**: the share of list slots per price quartile of the catalog, baseline
  against the re-ranked lists, next to each band's share of the catalog;
* **revenue by segment** of the history: price × quantity (or × events when the log has no
  quantity) per head / mid / tail segment, the money behind the popularity shares.

Items without a price are left out of the price-weighted figures (their slots still count in
the price-band table as "no price"). Pure NumPy / pandas over a
:class:`~recsys.data.dataset.Dataset`; no Streamlit.
"""

from __future__ import annotations

import logging
from itertools import pairwise

import numpy as np
import pandas as pd

from recsys.data.dataset import SEGMENTS, Dataset
from recsys.rerank.candidates import Reranked

__all__ = ["item_prices", "price_bands", "BusinessTally", "list_business", "price_band_exposure",
           "revenue_by_segment", "BUSINESS_LABELS", "NO_PRICE"]

log = logging.getLogger(__name__)

#: Display labels of :func:`list_business`'s measures.
BUSINESS_LABELS: dict[str, str] = {
    "price_on_show": "Price on show (position-weighted)",
    "tail_revenue_share": "Long tail's share of expected revenue",
    "priced_slots": "Slots with a known price",
}
#: Price band of items whose price is unknown.
NO_PRICE = "no price"


def item_prices(ds: Dataset) -> np.ndarray | None:
    """Price per item (catalog row order, float64, NaN where unknown or not positive);
    ``None`` when the catalog has no price column or no usable price at all."""
    if "price" not in ds.catalog.columns:
        return None
    prices = pd.to_numeric(ds.catalog["price"], errors="coerce").to_numpy(dtype=np.float64)
    prices = np.where(np.isfinite(prices) & (prices > 0), prices, np.nan)
    return None if np.isnan(prices).all() else prices


def _money(x: float) -> str:
    return f"{x:,.2f}"


def price_bands(prices: np.ndarray, n_bands: int = 4) -> tuple[np.ndarray, list[str]]:
    """Quantile bands of the catalog's prices: a code per item (``-1`` = no price) and a label
    per band ("0.42–1.25", …). Fewer bands when prices repeat (edges are deduplicated)."""
    prices = np.asarray(prices, dtype=np.float64)
    known = np.isfinite(prices)
    codes = np.full(len(prices), -1, dtype=np.int64)
    if not known.any():
        return codes, []
    edges = np.unique(np.quantile(prices[known], np.linspace(0, 1, n_bands + 1)))
    if len(edges) == 1:
        codes[known] = 0
        return codes, [_money(edges[0])]
    inner = edges[1:-1]
    codes[known] = np.searchsorted(inner, prices[known], side="right")
    labels = [f"{_money(lo)}–{_money(hi)}" for lo, hi in pairwise(edges)]
    return codes, labels


def _topk(lists: Reranked | np.ndarray) -> np.ndarray:
    return lists.items if isinstance(lists, Reranked) else np.asarray(lists)


class BusinessTally:
    """Running sums behind :func:`list_business` and the slot shares per price band, so lists
    scored in chunks (an export) are measured as one. Build it with :meth:`for_dataset`."""

    def __init__(self, prices: np.ndarray, is_tail: np.ndarray, n_bands: int = 4) -> None:
        self.prices = np.asarray(prices, dtype=np.float64)
        self.is_tail = np.asarray(is_tail, dtype=bool)
        codes, labels = price_bands(self.prices, n_bands)
        self.band_names = [*labels, NO_PRICE]
        self.band_of = np.where(codes >= 0, codes, len(labels))  # "no price" is the last bin
        self.sums = dict.fromkeys(("money", "weight", "tail_money", "priced", "slots"), 0.0)
        self.bands = np.zeros(len(self.band_names), dtype=np.float64)

    @classmethod
    def for_dataset(cls, ds: Dataset, n_bands: int = 4) -> BusinessTally | None:
        """A tally over ``ds``'s prices and tail; ``None`` when the catalog has no prices."""
        prices = item_prices(ds)
        return None if prices is None else cls(prices, ds.is_tail, n_bands)

    def add(self, lists: Reranked | np.ndarray) -> None:
        """Count top-K ``lists`` (rows of item positions, ``-1`` = padding)."""
        topk = _topk(lists)
        if not topk.size:
            return
        valid = topk >= 0
        safe = np.maximum(topk, 0)
        weight = np.broadcast_to(1.0 / np.log2(np.arange(2, topk.shape[1] + 2)), topk.shape)
        price = self.prices[safe]
        priced = valid & np.isfinite(price)
        w = np.where(priced, weight, 0.0)
        money = np.where(priced, price, 0.0) * w
        self.sums["money"] += float(money.sum())
        self.sums["weight"] += float(w.sum())
        self.sums["tail_money"] += float(money[self.is_tail[safe] & priced].sum())
        self.sums["priced"] += float(priced.sum())
        self.sums["slots"] += float(valid.sum())
        self.bands += np.bincount(self.band_of[topk[valid]], minlength=len(self.band_names))

    def result(self) -> dict[str, float]:
        """The :data:`BUSINESS_LABELS` measures of everything added (NaN where undefined)."""
        s = self.sums
        return {
            "price_on_show": s["money"] / s["weight"] if s["weight"] > 0 else float("nan"),
            "tail_revenue_share": s["tail_money"] / s["money"] if s["money"] > 0 else float("nan"),
            "priced_slots": s["priced"] / s["slots"] if s["slots"] > 0 else float("nan"),
        }

    def band_shares(self) -> dict[str, float]:
        """Share of the listed slots per price band (cheapest first, "no price" last when any)."""
        total = max(1.0, float(self.bands.sum()))
        return {name: float(n / total) for name, n in zip(self.band_names, self.bands, strict=True)
                if name != NO_PRICE or n > 0}

    def manifest_entry(self) -> dict[str, object]:
        """JSON-ready summary for an export manifest (rounded: these are for people to read)."""
        return {**{k: (None if np.isnan(v) else round(v, 4)) for k, v in self.result().items()},
                "price_band_shares": {k: round(v, 4) for k, v in self.band_shares().items()},
                "assumption": "slots weighted by position-based examination 1/log2(rank+1); "
                              "long tail = mid + far tail (outside the head)"}


def list_business(lists: Reranked | np.ndarray, ds: Dataset) -> dict[str, float] | None:
    """:data:`BUSINESS_LABELS` measures of top-K ``lists`` (rows of item positions, ``-1`` =
    padding) on ``ds``'s prices and tail; ``None`` when the catalog has no prices."""
    tally = BusinessTally.for_dataset(ds)
    if tally is None:
        return None
    tally.add(lists)
    return tally.result()


def price_band_exposure(base: Reranked | np.ndarray, current: Reranked | np.ndarray,
                        ds: Dataset, n_bands: int = 4) -> pd.DataFrame | None:
    """Share of list slots per price band, baseline vs current, with the band's catalog
    share; ``None`` without prices. Bands run from cheapest to dearest, "no price" last."""
    before, after = BusinessTally.for_dataset(ds, n_bands), BusinessTally.for_dataset(ds, n_bands)
    if before is None or after is None:
        return None
    before.add(base)
    after.add(current)
    names = before.band_names
    catalog = np.bincount(before.band_of, minlength=len(names)) / max(1, len(before.band_of))
    frame = pd.DataFrame({"price band": names,
                          "baseline": before.bands / max(1.0, before.bands.sum()),
                          "current": after.bands / max(1.0, after.bands.sum()),
                          "catalog share": catalog})
    frame["change"] = frame["current"] - frame["baseline"]
    keep = (frame["price band"] != NO_PRICE) | (frame[["baseline", "current", "catalog share"]]
                                                .sum(axis=1) > 0)
    return frame.loc[keep].reset_index(drop=True)


def _quantities(ds: Dataset) -> np.ndarray:
    """Units per interaction event: the value column when it reads as a quantity, else 1.

    A value column is taken for ratings (not quantities) when the dataset keeps ratings above a
    threshold, or when every value lies on a 0.5–5 star scale with a fractional or small range.
    """
    n = ds.n_interactions
    if "value" not in ds.interactions.columns or ds.config.rating_threshold is not None:
        return np.ones(n)
    value = pd.to_numeric(ds.interactions["value"], errors="coerce").to_numpy(np.float64)
    known = value[np.isfinite(value)]
    if not len(known) or (known.min() >= 0.5 and known.max() <= 5
                          and np.any(known != np.round(known))):
        return np.ones(n)
    return np.where(np.isfinite(value) & (value > 0), value, 0.0)


def revenue_by_segment(ds: Dataset) -> pd.DataFrame | None:
    """Revenue of the history per head / mid / tail segment: price × quantity summed over the
    kept interactions (× 1 per event when the log has no quantity); ``None`` without prices.
    Columns: segment, revenue, revenue share, items share, priced events share."""
    prices = item_prices(ds)
    if prices is None or not ds.n_interactions:
        return None
    items = ds.item_index.get_indexer(ds.interactions["item_id"])
    ok = items >= 0
    quantity = _quantities(ds)
    price = np.where(ok, prices[np.maximum(items, 0)], np.nan)
    revenue = np.where(np.isfinite(price) & np.isfinite(quantity), price * quantity, 0.0)
    seg = np.asarray(ds.segment, dtype=object)[np.maximum(items, 0)]
    total = float(revenue[ok].sum())
    rows = []
    for name in SEGMENTS:
        mine = ok & (seg == name)
        rows.append({"segment": name, "revenue": float(revenue[mine].sum()),
                     "revenue share": float(revenue[mine].sum() / total) if total > 0 else 0.0,
                     "items share": float(np.mean(ds.segment == name)) if ds.n_items else 0.0,
                     "priced events": float(np.isfinite(price[mine]).mean()) if mine.any()
                     else 0.0})
    return pd.DataFrame(rows)
