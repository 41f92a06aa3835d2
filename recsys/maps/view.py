"""Helpers for showing a map: nearest neighbours, search, display sampling and colour groups.

Kept out of the page so they are tested like the rest of the library (no Streamlit here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["nearest_items", "search_items", "display_sample", "popularity_bucket",
           "price_bucket", "DISPLAY_LIMIT", "POPULARITY_BUCKETS"]

#: Points drawn at most; beyond it the map shows a sample (every tail-cluster item kept).
DISPLAY_LIMIT = 100_000
POPULARITY_BUCKETS: tuple[str, ...] = ("cold", "tail", "mid", "head")


def nearest_items(vectors: np.ndarray, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items most similar to ``item`` (cosine), itself excluded: (positions, sims)."""
    v = np.asarray(vectors, dtype=np.float32)
    if not 0 <= item < len(v):
        raise IndexError(f"item position {item} is outside 0..{len(v) - 1}")
    norms = np.linalg.norm(v, axis=1)
    sims = (v @ v[item]) / np.maximum(norms * max(float(norms[item]), 1e-12), 1e-12)
    sims[item] = -np.inf
    k = min(k, len(v) - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    part = np.argpartition(-sims, k - 1)[:k]
    order = np.lexsort((part, -sims[part]))
    top = part[order]
    return top.astype(np.int64), sims[top].astype(np.float32)


def search_items(frame: pd.DataFrame, query: str, limit: int = 50) -> pd.DataFrame:
    """Rows whose id equals ``query`` first, then titles / ids containing it (case-insensitive)."""
    q = query.strip()
    if not q:
        return frame.iloc[0:0]
    ids = frame["item_id"].astype(str)
    exact = ids.str.lower() == q.lower()
    contains = (frame["title"].astype(str).str.contains(q, case=False, regex=False)
                | ids.str.contains(q, case=False, regex=False))
    hits = frame.loc[exact | contains].copy()
    hits["_exact"] = exact[hits.index]
    hits = hits.sort_values(["_exact", "popularity"], ascending=[False, False], kind="stable")
    return hits.drop(columns="_exact").head(limit)


def display_sample(frame: pd.DataFrame, limit: int = DISPLAY_LIMIT, seed: int = 0) -> pd.DataFrame:
    """At most ``limit`` rows to draw: every tail-cluster item, a seeded sample of the rest."""
    if len(frame) <= limit:
        return frame
    keep = frame["is_tail_cluster"].to_numpy(dtype=bool)
    budget = max(0, limit - int(keep.sum()))
    rest = np.flatnonzero(~keep)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(rest, size=min(budget, len(rest)), replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(keep)[:limit], chosen]))
    return frame.iloc[rows]


def popularity_bucket(popularity: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``cold`` (no interaction), else the item's head / mid / tail segment."""
    pop = np.asarray(popularity)
    return np.where(pop == 0, "cold", np.asarray(segment, dtype=object)).astype(object)


def price_bucket(price: pd.Series, n: int = 5) -> pd.Series:
    """Price quantile bands (e.g. ``1.25–2.10``), ``no price`` where missing."""
    values = pd.to_numeric(price, errors="coerce")
    out = pd.Series("no price", index=price.index, dtype=object)
    known = values.notna()
    if known.sum() == 0:
        return out
    edges = np.unique(np.quantile(values[known], np.linspace(0, 1, n + 1)))
    if len(edges) < 2:
        out[known] = f"{edges[0]:.2f}"
        return out
    bands = pd.cut(values[known], edges, include_lowest=True, duplicates="drop")
    out[known] = [f"{iv.left:.2f}–{iv.right:.2f}" for iv in bands]
    return out
