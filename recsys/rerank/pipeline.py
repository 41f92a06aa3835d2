"""How a list is made: model → candidates → re-rank → the top K (:func:`make_lists`).

Every list of the library comes out of this one path: the ``recommend`` and ``export``
commands, each chunk of an export, the held-out figures of an export's manifest and the
Compare page call :func:`make_lists`; the What-if page and :func:`~recsys.rerank.frontier`
keep the candidates once and re-rank them many times (:func:`lists_from_candidates`).

1. candidates: each user's best ``candidates`` items by the model's scores, leaving out what
   they already have (:func:`~recsys.rerank.candidates_from_model`, over the model's one
   block top-k loop :meth:`~recsys.models.base.Recommender.recommend`);
2. re-rank: the steps in order (:func:`~recsys.rerank.rerank`), or none: the model's own
   top-K (:func:`plain_lists`);
3. measure (:func:`recsys.evaluation.measure_lists`) or export (:mod:`recsys.export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recsys.data.dataset import Dataset
from recsys.rerank.candidates import Candidates, Reranked, candidates_from_model
from recsys.rerank.config import RERANK_POOL, RerankConfig
from recsys.rerank.context import RerankContext
from recsys.rerank.engine import as_configs, rerank

__all__ = ["make_lists", "lists_from_candidates", "plain_lists", "active_steps", "Steps"]

#: Re-ranking steps as accepted everywhere: one config, a list of them, a dict or ``None``.
Steps = RerankConfig | Sequence[RerankConfig] | dict | None


def active_steps(steps: Steps) -> list[RerankConfig]:
    """The steps that change a list (method ``none`` without rules is dropped)."""
    return [s for s in as_configs(steps) if s.method != "none" or s.has_rules]


def plain_lists(cands: Candidates, k: int) -> Reranked:
    """The model's own top-``k`` as a :class:`~recsys.rerank.Reranked` (nothing re-ranked)."""
    items = cands.items[:, :k]
    valid = items >= 0
    score = np.where(valid, cands.scores[:, :k], np.nan).astype(np.float32)
    rank = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape).copy()
    return Reranked(users=cands.users, items=items, score=score, base_score=score.copy(),
                    base_rank=np.where(valid, rank, 0), boosted=np.zeros(items.shape, dtype=bool),
                    reason=np.full(items.shape, "", dtype=object))


def lists_from_candidates(cands: Candidates, dataset: Dataset, k: int, *, steps: Steps = None,
                          context: RerankContext | None = None) -> Reranked:
    """The final top-``k`` of these candidates: re-ranked by ``steps`` when any of them
    changes a list, the model's own order otherwise."""
    active = active_steps(steps)
    if not active:
        return plain_lists(cands, k)
    ctx = context.on(dataset) if context is not None else None
    return rerank(cands, dataset, active, k=k, context=ctx)


def make_lists(model: Any, dataset: Dataset, users: np.ndarray | None, k: int, *,
               steps: Steps = None, context: RerankContext | None = None,
               candidates: int = RERANK_POOL, exclude: Any = None,
               allowed_items: np.ndarray | None = None) -> Reranked:
    """The final lists of ``users`` (all when ``None``): each user's ``candidates`` best
    items (at least ``k``) by ``model``, re-ranked by ``steps``, cut to ``k``.

    ``exclude`` (users × items) is what no list may hold, by default what the model knows
    each user has (``model.exclusion``); exports pass ``dataset.known``. ``allowed_items``
    (boolean item mask) keeps every other item out. ``context`` (clusters, item set, hit
    model) is reused as given when it is built on ``dataset``.
    """
    cands = candidates_from_model(model, dataset, users, c=max(candidates, k), exclude=exclude,
                                  allowed_items=allowed_items)
    return lists_from_candidates(cands, dataset, k, steps=steps, context=context)
