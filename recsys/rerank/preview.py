"""Side-by-side view of one user's list before and after re-ranking (for pages and reports)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.rerank.candidates import Candidates, Reranked

__all__ = ["preview_frame", "changed_rows", "score_breakdown"]


def preview_frame(cands: Candidates, result: Reranked, dataset: Dataset, row: int) -> pd.DataFrame:
    """One row per rank: the model's item and the re-ranked item, with titles, tail flags,
    the re-ranked item's base rank and why it is there. ``row`` indexes ``cands``/``result``."""
    k = result.k
    before = cands.items[row, :k]
    after = result.items[row]
    titles = dataset.catalog["title"].to_numpy(dtype=object)
    tail = np.asarray(dataset.is_tail)

    def _title(items: np.ndarray) -> np.ndarray:
        return np.where(items >= 0, titles[np.maximum(items, 0)], "")

    def _tail(items: np.ndarray) -> np.ndarray:
        return np.where(items >= 0, tail[np.maximum(items, 0)], False)

    return pd.DataFrame({
        "rank": np.arange(1, k + 1),
        "model's item": _title(before),
        "model tail": _tail(before),
        "re-ranked item": _title(after),
        "tail": _tail(after),
        "was rank": np.where(result.base_rank[row] > 0, result.base_rank[row], -1),
        "score": result.score[row],
        "base score": result.base_score[row],
        "reason": result.reason[row],
    })


def changed_rows(cands: Candidates, result: Reranked) -> np.ndarray:
    """Rows (users) whose top-K changed, most changed first."""
    before = cands.items[:, :result.k]
    moved = (before != result.items).sum(axis=1)
    order = np.argsort(-moved, kind="stable")
    return order[moved[order] > 0]


def score_breakdown(dataset: Dataset, items: np.ndarray, score: np.ndarray, *,
                    base_score: np.ndarray | None = None, base_rank: np.ndarray | None = None,
                    boosted: np.ndarray | None = None, reason: np.ndarray | None = None) -> pd.DataFrame:
    """Why each item of one user's list is there: ``rank, item_id, title, is_tail, base_rank,
    moved`` (places gained against the model's own ranking), ``base_score, score, boosted,
    reason``. ``items`` are positions (-1 padding dropped); the other arrays align with it."""
    items = np.asarray(items, dtype=np.int64)
    keep = items >= 0
    pos = items[keep]
    k = len(pos)
    rank = np.arange(1, len(items) + 1)[keep]

    def col(values: np.ndarray | None, default: Any) -> np.ndarray:
        return np.asarray(values)[keep] if values is not None else np.full(k, default)

    b_rank = col(base_rank, 0).astype(np.int64) if base_rank is not None else rank.copy()
    frame = pd.DataFrame({
        "rank": rank, "item_id": dataset.item_ids[pos],
        "title": dataset.catalog["title"].to_numpy()[pos], "is_tail": dataset.is_tail[pos],
        "base_rank": b_rank, "moved": b_rank - rank,
        "base_score": col(base_score, np.nan).astype(np.float64) if base_score is not None
        else col(score, np.nan).astype(np.float64),
        "score": col(score, np.nan).astype(np.float64),
        "boosted": col(boosted, False).astype(bool),
        "reason": col(reason, "").astype(str),
    })
    return frame
