"""The CPU kernel of BPR's ``sgd`` solver: one epoch of per-sample SGD, compiled by numba.

Autograd and Adam pay a fixed cost per batch in tensor operations; on a CPU, one pass of plain
SGD over single (user, positive, negative) triples in compiled code is a hundred times faster
(the algorithm of Rendle et al., 2009, and of the ``implicit`` library). Samples are drawn with
replacement from the positive pairs, a negative is redrawn while it is one of the user's items
(binary search in the user's sorted row, at most five tries). With one thread the loop is
serial and seeded, so an epoch is exactly repeatable; with more (``threads``), each thread runs
its share of the samples from its own seeded generator and all update the shared vectors
without locks ("Hogwild", Niu et al., 2011, as ``implicit`` does): collisions are rare because a
sample touches one user and two items, but the order of the updates, hence the last bits of the
result, then depends on timing. Compiled code is cached on disk (``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sgd_epoch"]

_KERNEL: Any = None


def _compile() -> Any:
    import numba

    @numba.njit(cache=True, inline="always")
    def draw(state, n):
        """splitmix64: the next state and a draw in [0, n) (a generator per thread)."""
        state = state + np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return state, np.int64(z % np.uint64(n))

    @numba.njit(parallel=True, cache=True, fastmath=True)
    def kernel(indptr, indices, pair_users, pair_items, user, item, bias, weights, lr, reg,
               seeds):
        n, n_items, f = len(pair_users), item.shape[0], user.shape[1]
        threads = len(seeds)
        totals = np.zeros(threads)
        for t in numba.prange(threads):
            state = np.uint64(seeds[t])
            total = 0.0
            for _ in range(t * n // threads, (t + 1) * n // threads):
                state, k = draw(state, n)
                u, i = pair_users[k], pair_items[k]
                lo, hi = indptr[u], indptr[u + 1]
                state, j = draw(state, n_items)
                for _try in range(5):
                    at = lo + np.searchsorted(indices[lo:hi], j)
                    if at >= hi or indices[at] != j:
                        break
                    state, j = draw(state, n_items)
                x = bias[i] - bias[j]
                for a in range(f):
                    x += user[u, a] * (item[i, a] - item[j, a])
                z = 1.0 / (1.0 + np.exp(x))  # sigmoid(-x)
                total += np.log1p(np.exp(-x)) if x > -30.0 else -x
                g = weights[i] * z
                for a in range(f):
                    uf, vi, vj = user[u, a], item[i, a], item[j, a]
                    user[u, a] = uf + lr * (g * (vi - vj) - reg * uf)
                    item[i, a] = vi + lr * (g * uf - reg * vi)
                    item[j, a] = vj + lr * (-g * uf - reg * vj)
                bias[i] += lr * (g - reg * bias[i])
                bias[j] += lr * (-g - reg * bias[j])
            totals[t] = total
        return totals.sum() / max(n, 1)

    return kernel


def sgd_epoch(indptr: np.ndarray, indices: np.ndarray, pair_users: np.ndarray,
              pair_items: np.ndarray, user: np.ndarray, item: np.ndarray, bias: np.ndarray,
              weights: np.ndarray, lr: float, reg: float, seed: int, threads: int = 1) -> float:
    """One epoch (as many samples as positive pairs) updating ``user``, ``item`` and ``bias``
    (float32, in place) on ``threads`` threads (1: exactly repeatable); returns the mean BPR
    loss of the samples."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _compile()
    seeds = np.array([(seed * 0x9E3779B1 + t * 0x85EBCA77 + 1) % 2**63 for t in range(threads)],
                     dtype=np.uint64)
    import numba

    with _threads(numba, threads):
        return float(_KERNEL(indptr, indices, pair_users, pair_items, user, item, bias, weights,
                             np.float32(lr), np.float32(reg), seeds))


class _threads:
    """Run numba's parallel loop on at least ``n`` threads for the call (then restore)."""

    def __init__(self, numba: Any, n: int) -> None:
        self.numba, self.n, self.before = numba, n, None

    def __enter__(self) -> None:
        self.before = self.numba.get_num_threads()
        self.numba.set_num_threads(max(1, min(self.n, self.numba.config.NUMBA_NUM_THREADS)))

    def __exit__(self, *exc: object) -> None:
        self.numba.set_num_threads(self.before)
