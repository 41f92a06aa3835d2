"""Long-tail profile of a dataset: how concentrated is attention, and on what.

Pure functions over a :class:`~recsys.data.dataset.Dataset` (or plain arrays) returning small frames
for tables and charts: Lorenz curve and Gini of item popularity, the head/mid/tail table, tail
share per category, and price and recency of tail items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.dataset import SEGMENTS, Dataset
from recsys.evaluation import gini

__all__ = ["lorenz_curve", "segment_table", "tail_share_by", "segment_stats",
           "item_table", "profile_summary"]


def lorenz_curve(values: np.ndarray, max_points: int = 400) -> pd.DataFrame:
    """Cumulative share of interactions held by the least popular share of items.

    Returns ``items_share`` and ``interactions_share`` from (0, 0) to (1, 1), thinned to at most
    ``max_points`` for plotting.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    total = x.sum()
    y = np.concatenate([[0.0], np.cumsum(x) / total if total > 0 else np.zeros(len(x))])
    xs = np.linspace(0.0, 1.0, len(y))
    if len(y) > max_points:
        keep = np.unique(np.linspace(0, len(y) - 1, max_points).round().astype(int))
        xs, y = xs[keep], y[keep]
    return pd.DataFrame({"items_share": xs, "interactions_share": y})


def segment_table(ds: Dataset) -> pd.DataFrame:
    """Items and interactions per head/mid/tail segment, with shares and mean popularity."""
    pop = ds.popularity
    total_items, total_pop = max(1, ds.n_items), max(1, int(pop.sum()))
    rows = []
    for seg in SEGMENTS:
        mask = ds.segment == seg
        rows.append({
            "segment": seg,
            "items": int(mask.sum()),
            "items_share": mask.sum() / total_items,
            "interactions": int(pop[mask].sum()),
            "interactions_share": pop[mask].sum() / total_pop,
            "mean_popularity": float(pop[mask].mean()) if mask.any() else 0.0,
            "cold_items": int((mask & (pop == 0)).sum()),
        })
    return pd.DataFrame(rows)


def tail_share_by(ds: Dataset, column: str = "category", top: int = 25) -> pd.DataFrame:
    """Per value of a catalog column: items, share of them in the long tail, and share of all
    interactions. The ``top`` largest groups first, then the rest pooled in one last row named
    ``(N others)`` (N = how many values it pools, ``pooled`` true), so a chart stays readable."""
    if column not in ds.catalog.columns:
        return pd.DataFrame(columns=["group", "items", "tail_items", "tail_share",
                                     "interactions_share", "pooled"])
    group = ds.catalog[column].astype("string").fillna("(none)").to_numpy(dtype=object)
    frame = pd.DataFrame({"group": group, "tail": ds.is_tail, "pop": ds.popularity})
    sizes = frame["group"].value_counts(sort=False).sort_index()
    sizes = sizes.iloc[np.lexsort((np.arange(len(sizes)), -sizes.to_numpy()))]  # ties by name
    pooled = f"({len(sizes) - top:,} others)"
    if len(sizes) > top:
        frame.loc[~frame["group"].isin(sizes.index[:top]), "group"] = pooled
    out = frame.groupby("group").agg(items=("tail", "size"), tail_items=("tail", "sum"),
                                     pop=("pop", "sum")).reset_index()
    out["tail_share"] = out["tail_items"] / out["items"]
    out["interactions_share"] = out["pop"] / max(1, frame["pop"].sum())
    last = (out["group"] == pooled).to_numpy() & (len(sizes) > top)
    out["pooled"] = last
    out = out.iloc[np.lexsort((out["group"].to_numpy(dtype=str), -out["items"].to_numpy(), last))]
    return out.drop(columns="pop").reset_index(drop=True)


def _item_times(ds: Dataset) -> pd.DataFrame:
    """First and last interaction time per item (NaT for cold items)."""
    if not ds.has_timestamps:
        return pd.DataFrame(index=pd.Index(ds.item_ids, name="item_id"),
                            columns=["first_seen", "last_seen"])
    g = ds.interactions.groupby("item_id")["timestamp"].agg(["min", "max"])
    g.columns = ["first_seen", "last_seen"]
    return g.reindex(pd.Index(ds.item_ids, name="item_id"))


def item_table(ds: Dataset) -> pd.DataFrame:
    """One row per item: catalog attributes, popularity, segment, first/last interaction."""
    cols = [c for c in ("item_id", "title", "category", "brand", "price") if c in ds.catalog]
    table = ds.catalog[cols].copy()
    table["popularity"] = ds.popularity
    table["segment"] = ds.segment
    table["is_tail"] = ds.is_tail
    times = _item_times(ds)
    table["first_seen"] = times["first_seen"].to_numpy()
    table["last_seen"] = times["last_seen"].to_numpy()
    return table


def segment_stats(ds: Dataset) -> pd.DataFrame:
    """Price and recency per segment: median price, median days since the last interaction
    and share of items first seen in the last 90 days of the data."""
    table = item_table(ds)
    rows = []
    end = table["last_seen"].max() if ds.has_timestamps else None
    for seg in SEGMENTS:
        part = table.loc[table["segment"] == seg]
        row: dict[str, object] = {"segment": seg, "items": len(part)}
        if "price" in part:
            row["median_price"] = float(part["price"].median()) if len(part) else np.nan
        if end is not None and len(part):
            row["median_days_since_last"] = float((end - part["last_seen"]).dt.days.median())
            new = part["first_seen"] >= end - pd.Timedelta(days=90)
            row["new_last_90d_share"] = float(new.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def profile_summary(ds: Dataset) -> dict[str, float]:
    """Headline long-tail numbers: Gini, head size, tail coverage."""
    seg = segment_table(ds).set_index("segment")
    return {
        "gini": gini(ds.popularity),
        "head_items_share": float(seg.loc["head", "items_share"]),
        "head_interactions_share": float(seg.loc["head", "interactions_share"]),
        "tail_items_share": float(1 - seg.loc["head", "items_share"]),
        "cold_items": int((ds.popularity == 0).sum()),
    }
