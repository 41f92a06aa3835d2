"""The re-ranking methods, each a pure step ``WorkingLists → WorkingLists`` vectorised over
users, all with one signature (:data:`MethodStep`) and dispatched by name through
:data:`METHOD_STEPS`. Greedy methods (xQuAD, calibration) loop over the first K positions
only, scoring every candidate of every user at once; the rest of each list keeps its order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recsys.rerank.config import METHODS, RerankConfig
from recsys.rerank.context import RerankContext
from recsys.rerank.hits import expected_gain_values
from recsys.rerank.lists import Reason, WorkingLists

__all__ = ["apply_method", "METHOD_STEPS", "MethodStep", "tail_bonus", "pop_penalty", "xquad",
           "calibrated", "promotion", "per_list_slots", "swap_values"]

#: Steck's (2018) smoothing of the list distribution, so the KL stays finite.
CALIBRATION_ALPHA = 0.01


def _take(values: np.ndarray, items: np.ndarray, fill=0):
    """Per-item ``values`` looked up at candidate positions (``fill`` on padding)."""
    return np.where(items >= 0, np.asarray(values)[np.maximum(items, 0)], fill)


def tail_bonus(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
               users: np.ndarray | None = None) -> WorkingLists:
    """Add ``strength`` to the normalised score of tail items (1 ⇒ every tail item first)."""
    tail = _take(ctx.is_tail, lists.items, False).astype(bool)
    bonus = np.float32(cfg.strength * (1.0 + 1e-3))  # strictly ahead at 1, despite ties
    return lists.sort_by(lists.norm_score() + bonus * tail, Reason.TAIL_BONUS, tail)


def pop_penalty(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
                users: np.ndarray | None = None) -> WorkingLists:
    """Subtract ``strength`` × normalised log-popularity from the normalised score."""
    lp = _take(ctx.log_popularity, lists.items, 0.0)
    return lists.sort_by(lists.norm_score() - cfg.strength * lp, Reason.POPULARITY_PENALTY,
                         lists.valid)


def _greedy(lists: WorkingLists, depth: int,
            gain: Callable[[np.ndarray, int], np.ndarray],
            update: Callable[[np.ndarray, np.ndarray], None]) -> np.ndarray:
    """Fill ``depth`` positions greedily; returns the new column order (picked first, the rest
    in their current order). ``gain(selected, p)`` scores every column at step ``p``;
    ``update(pick, has)`` is told the picked column of each row (``has``: a pick was made)."""
    n, c = lists.items.shape
    selected = np.zeros((n, c), dtype=bool)
    key = np.arange(c, dtype=np.float64)[None, :].repeat(n, 0) + depth
    rows = np.arange(n)
    for p in range(min(depth, c)):
        avail = lists.valid & ~selected
        has = avail.any(axis=1)
        if not has.any():
            break
        g = np.where(avail, gain(selected, p), -np.inf)
        pick = np.argmax(g, axis=1)
        selected[rows[has], pick[has]] = True
        key[rows[has], pick[has]] = p
        update(pick, has)
    return np.argsort(key, axis=1, kind="stable")


def xquad(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
          users: np.ndarray) -> WorkingLists:
    """xQuAD for popularity (Abdollahpouri et al., 2019): head and tail are the two 'aspects'.

    gain(i) = (1−λ)·s(i) + λ·Σ_c P(c|u)·[i ∈ c]·cover(c | S), with ``binary`` cover 1 until any
    item of c is listed, ``smooth`` cover 1 − |S ∩ c| / |S|. A tiny share of the score breaks
    ties at λ = 1.
    """
    lam = float(cfg.strength)
    s = np.where(lists.valid, lists.norm_score(), 0.0)
    tail = _take(ctx.is_tail, lists.items, False).astype(bool)
    if cfg.personalised:
        groups = sp.csr_matrix(np.stack([~ctx.is_tail, ctx.is_tail], axis=1).astype(np.float32))
        mix = ctx.user_mix(users, groups)
        empty = mix.sum(axis=1) == 0
        mix[empty] = 0.5
    else:
        mix = np.full((len(users), 2), 0.5, dtype=np.float32)
    n_in = np.zeros((len(users), 2), dtype=np.float64)
    rows = np.arange(len(users))

    def gain(selected: np.ndarray, p: int) -> np.ndarray:
        if cfg.xquad_variant == "binary":
            cover = (n_in == 0).astype(np.float64)
        else:
            cover = 1.0 - n_in / max(p, 1)
        div = np.where(tail, mix[:, 1:2] * cover[:, 1:2], mix[:, 0:1] * cover[:, 0:1])
        return (1 - lam) * s + lam * div + 1e-6 * s

    def update(pick: np.ndarray, has: np.ndarray) -> None:
        is_t = tail[rows, pick]
        n_in[has & ~is_t, 0] += 1
        n_in[has & is_t, 1] += 1

    order = _greedy(lists, k, gain, update)
    return lists.with_order(order, Reason.XQUAD, tail)


def calibrated(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
               users: np.ndarray) -> WorkingLists:
    """Calibrated recommendations (Steck, 2018): greedy max of (1−λ)·Σ s − λ·KL(p ‖ q̃).

    p is the user's category mix (or head/mid/tail mix), q̃ = (1−α)·q + α·p the list's mix.
    """
    if cfg.calibrate_on == "popularity":
        groups = ctx.segment_matrix
    else:
        cm = ctx.category_matrix
        if cm is None:
            raise ValueError("calibration to the category mix needs a category (or genres) "
                             "column in the catalog; calibrate on popularity instead")
        groups = cm[0]
    lam = np.float32(cfg.strength)
    p_u = ctx.user_mix(users, groups)                                          # (U, G)
    idx, weight = _sparse_rows(groups)                                         # (I, L)
    safe = np.maximum(lists.items, 0)
    idx_c = idx[safe]                                                          # (U, C, L)
    w_c = weight[safe] * lists.valid[..., None]
    rows = np.arange(len(users))
    p_c = p_u[rows[:, None, None], idx_c]
    s = np.where(lists.valid, lists.norm_score(), 0.0).astype(np.float32)
    acc = np.zeros_like(p_u)

    # KL(p ‖ q̃) = Σ p log p − Σ p log q̃. Adding item i only changes q̃ in i's own categories,
    # so each candidate's change of the cross-entropy is computed from its few categories.
    def gain(selected: np.ndarray, p: int) -> np.ndarray:
        shrink = np.float32((1 - CALIBRATION_ALPHA) / (p + 1))
        base = acc * shrink + np.float32(CALIBRATION_ALPHA) * p_u              # (U, G)
        b_c = base[rows[:, None, None], idx_c]
        after = np.log(np.maximum(b_c + shrink * w_c, 1e-12))
        change = p_c * (after - np.log(np.maximum(b_c, 1e-12)))
        return (1 - lam) * s + lam * change.sum(axis=2) + 1e-6 * s

    def update(pick: np.ndarray, has: np.ndarray) -> None:
        r = rows[has]
        np.add.at(acc, (r[:, None], idx_c[r, pick[has]]), w_c[r, pick[has]])

    order = _greedy(lists, k, gain, update)
    return lists.with_order(order, Reason.CALIBRATION, lists.valid)


def _sparse_rows(groups: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Items × groups as padded (items, L) column indices and weights (L = most groups of an
    item; padding has weight 0)."""
    g = sp.csr_matrix(groups)
    counts = np.diff(g.indptr)
    width = max(1, int(counts.max()) if len(counts) else 1)
    idx = np.zeros((g.shape[0], width), dtype=np.int64)
    weight = np.zeros((g.shape[0], width), dtype=np.float32)
    slot = np.arange(g.nnz) - np.repeat(g.indptr[:-1], counts)
    rows = np.repeat(np.arange(g.shape[0]), counts)
    idx[rows, slot] = g.indices
    weight[rows, slot] = g.data
    return idx, weight


def promotion(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
              users: np.ndarray | None = None) -> WorkingLists:
    """Guarantee each list about ``q = strength · quota_share · K`` slots for target items.

    Lists already holding enough targets are unchanged; otherwise the best target candidates
    from below K replace the lowest non-target items of the top K and take the bottom slots
    (where a slot costs the least accuracy). A list's need (``q`` minus the targets it holds,
    at most what it can take) is rarely whole: ``per_user`` allocation rounds the needs
    cumulatively down the lists (each list gets its need rounded down or up, e.g. 2.5 a list
    gives 3, 2, 3, 2 …), so the total is the sum of the needs, rounded once, and grows smoothly
    with the strength. ``global`` allocation spends exactly that total on the lists where the
    score given up is smallest, up to the full quota (``quota_share`` × K) per list: at any
    strength both allocations promote the same number of slots.
    """
    n, c = lists.items.shape
    k = min(k, c)
    quota = cfg.strength * cfg.quota_share * k
    target = _take(ctx.target_mask(cfg.target, cfg.target_value), lists.items, False).astype(bool)
    target &= lists.valid
    if n == 0 or quota <= 0:
        return lists
    pos = np.arange(c)[None, :]
    top = pos < k
    n_have = (target & top).sum(axis=1)
    extra = target & ~top
    extra_rank = np.cumsum(extra, axis=1)                     # 1-based among targets below K
    other = ~target & top & lists.valid
    other_rank = np.cumsum(other[:, ::-1], axis=1)[:, ::-1]   # 1-based from the bottom
    available = np.minimum(extra.sum(axis=1), other.sum(axis=1))
    m = per_list_slots(np.clip(quota - n_have, 0, available))
    if cfg.allocation == "global":
        full = int(np.floor(cfg.quota_share * k + 0.5))
        budget = int(m.sum())  # the per-user total: one tail budget for both allocations
        values = swap_values(lists, cfg.swap_cost, ctx=ctx, users=users, k=k, cfg=cfg)
        if cfg.swap_cost == "expected":  # not monotone in the score: most valuable first
            extra_rank = _rank_within(values, extra, descending=True)
            other_rank = _rank_within(values, other, descending=False)
        m = _allocate_globally(values, extra, extra_rank, other, other_rank,
                               np.minimum(np.clip(full - n_have, 0, None), available), budget)
    inserted = extra & (extra_rank <= m[:, None])
    displaced = other & (other_rank <= m[:, None])
    group = np.where(inserted, 1, np.where(displaced, 2, np.where(top, 0, 3)))
    order = np.lexsort((np.broadcast_to(pos, (n, c)), group), axis=1)
    return lists.with_order(order, Reason.PROMOTION, inserted)


def _rank_within(values: np.ndarray, mask: np.ndarray, *, descending: bool) -> np.ndarray:
    """1-based rank of each ``mask`` slot by ``values`` within its row (ties by position);
    0 outside the mask."""
    key = np.where(mask, -values if descending else values, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, order.shape[1] + 1)[None, :], axis=1)
    return np.where(mask, ranks, 0)


def per_list_slots(needs: np.ndarray) -> np.ndarray:
    """Whole slots per list for fractional ``needs``, rounded cumulatively down the lists:
    each list gets its need rounded down or up (a whole need exactly), and the total is the
    sum of the needs rounded once (not the sum of each rounded need)."""
    cumulative = np.floor(np.cumsum(np.asarray(needs, dtype=np.float64)) + 0.5 + 1e-9)
    return np.diff(cumulative, prepend=0.0).astype(np.int64)


def swap_values(lists: WorkingLists, swap_cost: str = "gap", *,
                ctx: RerankContext | None = None, users: np.ndarray | None = None,
                k: int = 10, cfg: RerankConfig | None = None) -> np.ndarray:
    """Per-candidate values whose difference is the cost of swapping two items of one list.

    ``gap``: the per-user min-max normalised score. ``ratio``: the log of the score relative to
    the user's best, so a swap costs the log of the score ratio, the same for a user whose
    scores are all ten times larger; scores are clipped at 10⁻⁴ of the best (a list without
    any positive score falls back to the log of its normalised score plus 0.01).
    ``expected``: the expected NDCG@``k`` worth of the slot from the context's hit model
    (:func:`~recsys.rerank.hits.expected_gain_values`), comparable across users and models.
    """
    if swap_cost == "gap":
        return lists.norm_score()
    if swap_cost == "expected":
        if ctx is None or users is None:
            raise ValueError("the 'expected' swap cost needs the re-ranking context and users")
        p = ctx.hit_probability(lists.base_score, lists.base_rank, lists.items, users,
                                opinion=cfg.opinion if cfg is not None else None)
        return np.where(lists.valid, expected_gain_values(p, k), -np.inf)
    if swap_cost != "ratio":
        raise ValueError(f"unknown swap cost '{swap_cost}' (gap, ratio or expected)")
    valid = lists.valid
    s = np.where(valid, lists.score, np.nan).astype(np.float64)
    top = np.max(np.where(valid, s, -np.inf), axis=1, keepdims=True)
    positive = top > 0
    with np.errstate(all="ignore"):
        ratio = np.log(np.maximum(s / np.where(positive, top, 1.0), 1e-4))
        fallback = np.log(np.maximum(lists.norm_score(), 0.0) + 0.01)
    return np.where(valid, np.where(positive, ratio, fallback), -np.inf)


def _allocate_globally(s: np.ndarray, extra, extra_rank, other, other_rank,
                       cap: np.ndarray, budget: int) -> np.ndarray:
    """Promoted slots per user: the ``budget`` cheapest swaps overall, a swap's cost being the
    value ``s`` (:func:`swap_values`) of the item pushed out minus that of the target brought
    in."""
    n = s.shape[0]
    depth = int(cap.max()) if len(cap) else 0
    if depth == 0:
        return np.zeros(n, dtype=np.int64)
    j = np.arange(1, depth + 1)
    inc = np.full((n, depth), np.nan)
    out = np.full((n, depth), np.nan)
    rr, cc = np.nonzero(extra & (extra_rank <= depth))
    inc[rr, extra_rank[rr, cc] - 1] = s[rr, cc]
    rr, cc = np.nonzero(other & (other_rank <= depth))
    out[rr, other_rank[rr, cc] - 1] = s[rr, cc]
    cost = out - inc
    cost = np.where((j[None, :] <= cap[:, None]) & np.isfinite(cost), cost, np.inf)
    cost = np.maximum.accumulate(cost, axis=1)                # keep each user's swaps in order
    flat = cost.ravel()
    budget = min(budget, int(np.isfinite(flat).sum()))
    if budget <= 0:
        return np.zeros(n, dtype=np.int64)
    chosen = np.zeros(flat.shape, dtype=bool)
    chosen[np.argpartition(flat, budget - 1)[:budget]] = True
    return chosen.reshape(n, depth).sum(axis=1)


#: One re-ranking step: ``(lists, config, context, k, users) → lists``.
MethodStep = Callable[[WorkingLists, RerankConfig, RerankContext, int, np.ndarray], WorkingLists]

#: Method name → its step; every name of :data:`~recsys.rerank.config.METHODS` has one.
METHOD_STEPS: dict[str, MethodStep] = {
    "tail_bonus": tail_bonus,
    "pop_penalty": pop_penalty,
    "xquad": xquad,
    "calibrated": calibrated,
    "promotion": promotion,
}
if set(METHOD_STEPS) != set(METHODS):  # a method added to the config needs its step here
    raise RuntimeError(f"re-rank steps {sorted(METHOD_STEPS)} do not match METHODS {METHODS}")


def apply_method(lists: WorkingLists, cfg: RerankConfig, ctx: RerankContext, k: int,
                 users: np.ndarray) -> WorkingLists:
    """Run ``cfg.method`` (nothing at strength 0 or for ``none``)."""
    if cfg.method == "none" or cfg.strength <= 0:
        return lists
    step = METHOD_STEPS.get(cfg.method)
    if step is None:
        raise ValueError(f"unknown re-rank method '{cfg.method}'")
    return step(lists, cfg, ctx, k, users)
