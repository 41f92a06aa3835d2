"""Candidate lists (top-C per user from any model) and the re-ranked result type.

Re-rankers never look at the full catalog: they re-order the model's best ``C`` unseen items
of each user. Both types are plain arrays aligned by row (one row per user).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset

__all__ = ["Candidates", "Reranked", "candidates_from_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Top-C candidates per user.

    ``users`` (U,) user positions; ``items`` (U, C) item positions, ``-1`` padded;
    ``scores`` (U, C) float32 base scores, sorted descending per row (``-inf`` on padding).
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if self.items.shape != self.scores.shape or self.items.ndim != 2:
            raise ValueError(f"items {self.items.shape} and scores {self.scores.shape} must be "
                             "two arrays of the same (users, C) shape")
        if len(self.users) != self.items.shape[0]:
            raise ValueError("one row of candidates per user is needed")

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def c(self) -> int:
        return int(self.items.shape[1])

    @property
    def pool(self) -> int:
        """The most real (unpadded) candidates any user has: ``c``, or fewer when the catalog
        holds fewer unseen items than the pool asked for (what a caption should state)."""
        if self.items.size == 0:
            return 0
        return int((self.items >= 0).sum(axis=1).max())

    def take(self, rows: np.ndarray | slice) -> Candidates:
        """The candidates of a subset of rows (e.g. one user for a preview)."""
        return Candidates(self.users[rows], self.items[rows], self.scores[rows])

    def top(self, k: int) -> np.ndarray:
        """The model's own top-``k`` (the unboosted lists)."""
        return self.items[:, :k]


@dataclass(frozen=True, eq=False)
class Reranked:
    """Re-ranked top-K lists with what each slot owes to the re-ranker.

    ``items`` (U, K) item positions (``-1`` padded); ``score`` final score of the last step;
    ``base_score`` the model's score; ``base_rank`` the 1-based position in the candidate list;
    ``boosted`` True where the re-ranker moved the item up; ``reason`` why ("" if unchanged).
    """

    users: np.ndarray
    items: np.ndarray
    score: np.ndarray
    base_score: np.ndarray
    base_rank: np.ndarray
    boosted: np.ndarray
    reason: np.ndarray

    @property
    def k(self) -> int:
        return int(self.items.shape[1])


def candidates_from_model(model, dataset: Dataset, users: np.ndarray | None = None, c: int = 100,
                          exclude: sp.spmatrix | sp.sparray | None = None, block: int = 2048, *,
                          allowed_items: np.ndarray | None = None) -> Candidates:
    """Each user's ``c`` best items by ``model.score`` (all users when ``users`` is ``None``).

    A thin wrapper over :meth:`recsys.models.base.Recommender.recommend`, the one block top-k
    loop: ``exclude`` (users × items) defaults to what the model knows each user has
    (``model.exclusion``: training positives plus context pairs); exports pass the full
    ``dataset.known`` so nothing a user already has is recommended. ``allowed_items`` (a
    boolean item mask) keeps every other item out. Padding is ``-1`` with ``-inf`` scores.
    """
    users = np.arange(dataset.n_users, dtype=np.int64) if users is None else np.asarray(
        users, dtype=np.int64)
    if c < 1:
        raise ValueError("the candidate pool size c must be at least 1")
    if exclude is None:
        matrix = model.exclusion
    else:
        matrix = sp.csr_matrix(exclude)
        if matrix.shape[1] != dataset.n_items:
            raise ValueError(f"exclude has {matrix.shape[1]} items, the dataset "
                             f"{dataset.n_items}")
    if not len(users):
        c = min(c, dataset.n_items)
        return Candidates(users, np.zeros((0, c), np.int64), np.zeros((0, c), np.float32))
    items, scores = model.recommend(users, c, exclude=matrix, allowed_items=allowed_items,
                                    block=block)
    return Candidates(users, items, scores)
