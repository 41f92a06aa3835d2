"""Side-by-side view of one user's list before and after re-ranking (for pages and reports)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dataset import Dataset
from .candidates import Candidates, Reranked

__all__ = ["preview_frame", "changed_rows"]


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
