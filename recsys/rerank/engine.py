"""``rerank``: run one or more re-ranking steps over candidate lists and keep the top K.

Each config is applied as: block → method → boost / bury → pins; a list of configs composes
steps in order, each working on the previous step's full candidate order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from recsys.data.dataset import Dataset
from recsys.rerank.candidates import Candidates, Reranked
from recsys.rerank.config import RerankConfig
from recsys.rerank.context import RerankContext
from recsys.rerank.lists import REASONS, Reason, WorkingLists
from recsys.rerank.methods import apply_method
from recsys.rerank.rules import block, boost_bury, pin

__all__ = ["rerank", "as_configs"]

log = logging.getLogger(__name__)

_REASON_LABELS = np.array(REASONS, dtype=object)


def as_configs(config: RerankConfig | Sequence[RerankConfig] | dict | None) -> list[RerankConfig]:
    """One config, a list of them, a plain dict or ``None`` (no re-ranking) as a list."""
    if config is None:
        return []
    if isinstance(config, RerankConfig):
        return [config]
    if isinstance(config, dict):
        return [RerankConfig(**config)]
    return [c if isinstance(c, RerankConfig) else RerankConfig(**c) for c in config]


def rerank(cands: Candidates, dataset: Dataset,
           config: RerankConfig | Sequence[RerankConfig] | None, k: int = 10, *,
           context: RerankContext | None = None) -> Reranked:
    """Re-rank every user's candidates and return the top-``k`` with scores and reasons.

    ``dataset`` provides tail flags, popularity, categories and users' histories (pass the
    training part when measuring on a split). ``context`` carries the item map's clusters,
    a saved item set and the hit model (:class:`~recsys.rerank.context.RerankContext`); pass
    one prepared context to reuse its caches across calls (it defaults to one built on
    ``dataset`` with none of them).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    ctx = context or RerankContext(dataset)
    users = np.asarray(cands.users, dtype=np.int64)
    lists = WorkingLists.start(cands)
    for cfg in as_configs(config):
        if cfg.block:
            lists = block(lists, cfg, dataset)
        lists = apply_method(lists, cfg, ctx, k, users)
        if cfg.boost or cfg.bury:
            lists = boost_bury(lists, cfg, dataset)
        if cfg.pins:
            lists = pin(lists, cfg, dataset, users)
    return _result(users, lists, k)


def _result(users: np.ndarray, lists: WorkingLists, k: int) -> Reranked:
    """Top-``k`` slice with boosted flags and reason labels."""
    k_eff = min(k, lists.items.shape[1])
    items = lists.items[:, :k_eff]
    valid = items >= 0
    base_rank = np.where(valid, lists.base_rank[:, :k_eff], 0)
    code = np.where(valid, lists.code[:, :k_eff], 0)
    position = np.arange(1, k_eff + 1)[None, :]
    changed = base_rank != position
    boosted = valid & (code > 0) & (code != Reason.BURIED_SET) & (
        (base_rank > position) | (base_rank == 0))
    shown = boosted | (changed & np.isin(code, [Reason.PINNED, Reason.BURIED_SET]))
    reason = np.where(shown & valid, _REASON_LABELS[code], "").astype(object)
    score = np.where(valid, lists.score[:, :k_eff], np.nan).astype(np.float32)
    base = np.where(valid, lists.base_score[:, :k_eff], np.nan).astype(np.float32)
    if k_eff < k:  # fewer candidates than K: pad
        pad = k - k_eff

        def _pad(a: np.ndarray, fill) -> np.ndarray:
            return np.concatenate([a, np.full((a.shape[0], pad), fill, dtype=a.dtype)], axis=1)

        items, score, base = _pad(items, -1), _pad(score, np.nan), _pad(base, np.nan)
        base_rank, boosted, reason = _pad(base_rank, 0), _pad(boosted, False), _pad(reason, "")
    return Reranked(users=users, items=items.astype(np.int64), score=score, base_score=base,
                    base_rank=base_rank.astype(np.int64), boosted=boosted, reason=reason)
