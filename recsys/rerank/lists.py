"""The working state of a re-ranking pipeline: every candidate of every user in its current
order, with what it carries along (base score, base rank, current score, why it moved).

Every step returns a new :class:`WorkingLists` whose rows are a permutation of the previous
ones; ``reorder`` applies per-row permutations and records which items the step moved up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from recsys.rerank.candidates import Candidates

__all__ = ["WorkingLists", "Reason", "REASONS", "normalised", "ranks_of"]



class Reason(IntEnum):
    """Why a slot holds its item: the code stored per slot (``int8``) while re-ranking."""

    UNCHANGED = 0
    TAIL_BONUS = 1
    POPULARITY_PENALTY = 2
    XQUAD = 3
    CALIBRATION = 4
    PROMOTION = 5
    BOOSTED_SET = 6
    BURIED_SET = 7
    PINNED = 8

    @property
    def label(self) -> str:
        """The words shown to merchandisers ("" when unchanged)."""
        return _LABELS[self]


_LABELS: dict[Reason, str] = {
    Reason.UNCHANGED: "", Reason.TAIL_BONUS: "tail bonus",
    Reason.POPULARITY_PENALTY: "popularity penalty", Reason.XQUAD: "xQuAD tail coverage",
    Reason.CALIBRATION: "calibration", Reason.PROMOTION: "promotion quota",
    Reason.BOOSTED_SET: "boosted set", Reason.BURIED_SET: "buried set", Reason.PINNED: "pinned",
}

#: Reason code → label shown to merchandisers (code 0: unchanged).
REASONS: tuple[str, ...] = tuple(reason.label for reason in Reason)


def normalised(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-row min-max scaling of valid scores to [0, 1] (1 when a row's scores are all equal);
    ``-inf`` where not valid."""
    s = np.where(valid, scores, np.nan).astype(np.float32)
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(valid, s, np.inf), axis=1, keepdims=True)
        hi = np.nanmax(np.where(valid, s, -np.inf), axis=1, keepdims=True)
        span = hi - lo
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1), 1.0)
    return np.where(valid, out, -np.inf).astype(np.float32)


def ranks_of(order: np.ndarray) -> np.ndarray:
    """Inverse permutation per row: new position of each old column."""
    ranks = np.empty_like(order)
    rows = np.arange(order.shape[0])[:, None]
    ranks[rows, order] = np.arange(order.shape[1])[None, :]
    return ranks


@dataclass(frozen=True, eq=False)
class WorkingLists:
    """All candidates in their current order (U, C) and what travels with them."""

    items: np.ndarray
    base_score: np.ndarray
    base_rank: np.ndarray
    score: np.ndarray
    code: np.ndarray

    @classmethod
    def start(cls, cands: Candidates) -> WorkingLists:
        items = np.asarray(cands.items, dtype=np.int64)
        valid = items >= 0
        scores = np.where(valid, cands.scores, -np.inf).astype(np.float32)
        base_rank = np.broadcast_to(np.arange(1, items.shape[1] + 1, dtype=np.int64),
                                    items.shape).copy()
        return cls(items, scores, base_rank, scores.copy(), np.zeros(items.shape, np.int8))

    @property
    def valid(self) -> np.ndarray:
        return self.items >= 0

    def norm_score(self) -> np.ndarray:
        """Current scores scaled to [0, 1] per user (``-inf`` on padding)."""
        return normalised(self.score, self.valid)

    def reorder(self, order: np.ndarray, new_score: np.ndarray, reason: Reason,
                marked: np.ndarray | None = None) -> WorkingLists:
        """Apply per-row permutation ``order`` (positions of the old columns, new order).

        ``new_score`` is aligned with the *old* columns. Items in ``marked`` (old columns) that
        the step moved up get ``reason``; padding always stays last.
        """
        rows = np.arange(order.shape[0])[:, None]
        code = self.code
        if marked is not None:
            moved_up = ranks_of(order) < np.arange(order.shape[1])[None, :]
            code = np.where(marked & moved_up & self.valid, np.int8(reason), code)
        return WorkingLists(self.items[rows, order], self.base_score[rows, order],
                            self.base_rank[rows, order], new_score[rows, order], code[rows, order])

    def sort_by(self, key: np.ndarray, reason: Reason, marked: np.ndarray | None = None
                ) -> WorkingLists:
        """Stable descending sort by ``key`` (aligned with current columns), padding last; the
        key becomes the new score."""
        key = np.where(self.valid, key, -np.inf).astype(np.float32)
        order = np.argsort(-key, axis=1, kind="stable")
        return self.reorder(order, key, reason, marked)

    def with_order(self, order: np.ndarray, reason: Reason, marked: np.ndarray | None = None
                   ) -> WorkingLists:
        """Re-order by ``order`` (greedy methods); the new score is the position mapped to
        [0, 1] (1 at the top), so that later steps see a consistent ranking."""
        c = order.shape[1]
        pos_score = (1.0 - np.arange(c, dtype=np.float32) / max(1, c - 1))[None, :]
        new = np.empty(order.shape, dtype=np.float32)
        rows = np.arange(order.shape[0])[:, None]
        new[rows, order] = np.broadcast_to(pos_score, order.shape)
        new = np.where(self.valid, new, -np.inf)
        return self.reorder(order, new, reason, marked)
