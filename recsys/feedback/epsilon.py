"""ε-greedy with slots reserved for exploration, and its exact slot probabilities.

Each of the K slots of a list is, independently with probability ε (the exploration weight),
*reserved* for exploration: it shows an item drawn uniformly, without replacement, from the
user's exploration pool (tail or new candidates that are not already in the model's own
top-K). Every other slot shows the model's next best item, in the model's order. When the
pool runs dry the remaining slots go back to the model; when the model's list runs dry (a
user with fewer than K candidates) the remaining slots explore.

Because the number of exploration slots before slot k is a small Markov chain, the
probability that each candidate is shown at each slot is exact: a dynamic programme over
(slot, exploration slots so far), vectorised over users (a loop over the K slots only).
"""

from __future__ import annotations

import numpy as np

__all__ = ["epsilon_marginals", "epsilon_sample"]


def _explore_prob(e: np.ndarray, j: np.ndarray, n_pool: np.ndarray, n_greedy: np.ndarray,
                  eps: float) -> np.ndarray:
    """Probability that a slot explores, given ``e`` exploration slots so far and ``j`` model
    slots so far (arrays broadcast against per-user pool and model-list sizes)."""
    pool_left = e < n_pool
    greedy_left = j < n_greedy
    return np.where(pool_left, np.where(greedy_left, eps, 1.0), 0.0)


def epsilon_marginals(greedy_cols: np.ndarray, pool: np.ndarray, k: int, eps: float
                      ) -> np.ndarray:
    """(U, K, C) probability that candidate column ``c`` is shown at slot ``k``.

    ``greedy_cols`` (U, K): the model's top-K candidate columns per user, ``-1`` where the user
    has fewer; ``pool`` (U, C) boolean: the exploration pool (disjoint from the greedy
    columns). Each slot's probabilities sum to 1 unless both lists ran dry (a short list).
    """
    n_users, n_cols = pool.shape
    n_pool = pool.sum(axis=1)[:, None]                    # (U, 1)
    n_greedy = (greedy_cols >= 0).sum(axis=1)[:, None]    # (U, 1)
    states = np.arange(k + 1)[None, :]                    # e = exploration slots so far
    prob = np.zeros((n_users, k + 1))
    prob[:, 0] = 1.0
    out = np.zeros((n_users, k, n_cols))
    rows = np.arange(n_users)
    safe_pool = np.maximum(n_pool, 1)
    for slot in range(k):
        j = slot - states                                 # model slots so far
        valid = j >= 0
        q = _explore_prob(states, j, n_pool, n_greedy, eps) * valid
        greedy_here = valid & (j < n_greedy)
        p_greedy = prob * np.where(greedy_here, 1.0 - q, 0.0)  # (U, K+1)
        p_explore = (prob * q).sum(axis=1)                # (U,)
        out[:, slot, :] += pool * (p_explore / safe_pool[:, 0])[:, None]
        es = np.arange(slot + 1)                          # model column slot - e
        cols = greedy_cols[:, slot - es]                  # (U, slot + 1)
        ok = cols >= 0
        np.add.at(out[:, slot, :], (np.broadcast_to(rows[:, None], cols.shape)[ok], cols[ok]),
                  p_greedy[:, :slot + 1][ok])
        nxt = np.zeros_like(prob)
        nxt[:, 1:] += (prob * q)[:, :-1]
        nxt += p_greedy
        prob = nxt
    return out


def epsilon_sample(greedy_cols: np.ndarray, pool: np.ndarray, k: int, eps: float,
                   rng: np.random.Generator) -> np.ndarray:
    """(U, K) candidate columns of one draw of the policy (``-1`` = empty slot), following
    exactly the process :func:`epsilon_marginals` describes."""
    n_users, n_cols = pool.shape
    keys = np.where(pool, rng.random((n_users, n_cols)), np.inf)
    pool_order = np.argsort(keys, axis=1, kind="stable")  # pool columns first, random order
    n_pool = pool.sum(axis=1)
    n_greedy = (greedy_cols >= 0).sum(axis=1)
    e = np.zeros(n_users, dtype=np.int64)
    j = np.zeros(n_users, dtype=np.int64)
    out = np.full((n_users, k), -1, dtype=np.int64)
    rows = np.arange(n_users)
    coins = rng.random((n_users, k))
    for slot in range(k):
        q = _explore_prob(e, j, n_pool, n_greedy, eps)
        explore = coins[:, slot] < q
        model = ~explore & (j < n_greedy)
        out[explore, slot] = pool_order[rows[explore], e[explore]]
        out[model, slot] = greedy_cols[rows[model], j[model]]
        e += explore
        j += model
    return out
