"""Merchandiser rules: block items, boost or bury an item set, pin an item at a position.

Rules are explicit decisions, so they apply whatever the strength. Items are given by id and
looked up in the dataset; unknown ids are ignored (logged), so a rule written for a catalog
survives a catalog update.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.rerank.config import RerankConfig
from recsys.rerank.lists import Reason, WorkingLists, ranks_of

__all__ = ["item_positions", "block", "boost_bury", "pin"]

log = logging.getLogger(__name__)


def item_positions(dataset: Dataset, ids) -> np.ndarray:
    """Positions of the known item ids among ``ids`` (unknown ones dropped, with a log line)."""
    ids = [str(i) for i in ids]
    if not ids:
        return np.zeros(0, dtype=np.int64)
    pos = dataset.item_positions(ids, missing="negative")
    if (pos < 0).any():
        log.info("rules: %d unknown item ids ignored", int((pos < 0).sum()))
    return pos[pos >= 0]


def _member(items: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.isin(items, positions) & (items >= 0)


def block(lists: WorkingLists, cfg: RerankConfig, dataset: Dataset) -> WorkingLists:
    """Remove blocked items (they become padding at the end of each list)."""
    blocked = _member(lists.items, item_positions(dataset, cfg.block))
    if not blocked.any():
        return lists
    items = np.where(blocked, -1, lists.items)
    trimmed = WorkingLists(items, np.where(blocked, -np.inf, lists.base_score), lists.base_rank,
                           np.where(blocked, -np.inf, lists.score), lists.code)
    order = np.argsort(blocked, axis=1, kind="stable")
    return trimmed.reorder(order, trimmed.score, Reason.UNCHANGED)


def boost_bury(lists: WorkingLists, cfg: RerankConfig, dataset: Dataset) -> WorkingLists:
    """Add (boost) or subtract (bury) ``rule_weight`` on the normalised score."""
    up = _member(lists.items, item_positions(dataset, cfg.boost))
    down = _member(lists.items, item_positions(dataset, cfg.bury))
    if not (up.any() or down.any()) or cfg.rule_weight == 0:
        return lists
    key = lists.norm_score() + cfg.rule_weight * up - cfg.rule_weight * down
    key = np.where(lists.valid, key, -np.inf).astype(np.float32)
    order = np.argsort(-key, axis=1, kind="stable")
    moved_down = ranks_of(order) > np.arange(order.shape[1])[None, :]
    code = np.where(down & moved_down, np.int8(Reason.BURIED_SET), lists.code)
    marked = WorkingLists(lists.items, lists.base_score, lists.base_rank, lists.score, code)
    return marked.reorder(order, key, Reason.BOOSTED_SET, up)


def pin(lists: WorkingLists, cfg: RerankConfig, dataset: Dataset, users: np.ndarray
        ) -> WorkingLists:
    """Put each pinned item at its 1-based position in every list, unless the user already
    has it (their row of ``dataset.known``) or it is blocked. Pinned items the model did not
    propose are added (base score NaN, base rank 0, score just below the row's lowest)."""
    if not cfg.pins:
        return lists
    wanted = [(p, pos) for item, pos in sorted(cfg.pins.items(), key=lambda kv: kv[1])
              for p in item_positions(dataset, [item])]
    blocked = set(item_positions(dataset, cfg.block).tolist())
    wanted = [(p, pos) for p, pos in wanted if p not in blocked]
    if not wanted:
        return lists
    seen = sp.csr_matrix(dataset.known)[np.asarray(users, dtype=np.int64)]
    return _pin_positions(lists, wanted, seen)


def _pin_positions(lists: WorkingLists, wanted: list[tuple[int, int]], seen: sp.csr_matrix
                   ) -> WorkingLists:
    n = lists.items.shape[0]
    pinned_items = np.array([p for p, _ in wanted], dtype=np.int64)
    has = np.asarray(seen[:, pinned_items].todense(), dtype=bool)            # (U, P)
    present = np.stack([(lists.items == p).any(axis=1) for p in pinned_items], axis=1)
    add = ~present & ~has
    items, base, brank, score, code = (lists.items, lists.base_score, lists.base_rank,
                                       lists.score, lists.code)
    if add.any():  # one extra column per pinned item that some lists lack
        cols = add.any(axis=0)
        col = np.where(add[:, cols], pinned_items[cols][None, :], -1)
        low = np.where(lists.valid, lists.score, np.inf).min(axis=1, keepdims=True)
        low = np.where(np.isfinite(low), low - 1, 0.0).astype(np.float32)
        items = np.concatenate([items, col], axis=1)
        base = np.concatenate([base, np.full(col.shape, np.nan, np.float32)], axis=1)
        brank = np.concatenate([brank, np.zeros(col.shape, np.int64)], axis=1)
        score = np.concatenate([score, np.where(col >= 0, low, -np.inf)], axis=1)
        code = np.concatenate([code, np.zeros(col.shape, np.int8)], axis=1)
    c = items.shape[1]
    valid = items >= 0
    is_pin = np.zeros(items.shape, dtype=bool)
    target = np.full(items.shape, np.inf)
    for p, pos in wanted:
        hit = items == p
        is_pin |= hit
        target = np.where(hit, pos - 1, target)
    # Non-pinned items keep their order and fill the free slots around the pins.
    rest = valid & ~is_pin
    slot = (np.cumsum(rest, axis=1) - 1).astype(np.float64)
    pin_pos = np.sort(np.where(is_pin, target, np.inf), axis=1)
    for j in range(len(wanted)):
        slot = np.where(slot >= pin_pos[:, j:j + 1], slot + 1, slot)
    key = np.where(is_pin, target - 0.5, slot)
    key = np.where(valid, key, 1e12 + np.arange(c)[None, :])
    order = np.argsort(key, axis=1, kind="stable")
    code = np.where(is_pin, np.int8(Reason.PINNED), code)
    widened = WorkingLists(items, base, brank, score, code)
    rows = np.arange(n)[:, None]
    return WorkingLists(items[rows, order], base[rows, order], brank[rows, order],
                        score[rows, order], widened.code[rows, order])
