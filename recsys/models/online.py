"""The numeric pieces of online updates (:meth:`recsys.models.base.Recommender.update`).

A full retrain re-learns every vector from all interactions; an update changes only what the
new interactions touch:

* **fold-in** of a factor model's user vectors with the item vectors fixed: ALS solves each
  affected user's least-squares system exactly (:func:`als_fold_in`), BPR takes a few Adam
  steps of its ranking loss on those users only (:func:`bpr_fold_in`);
* **padding** of learned arrays for appended users and items (:func:`pad_rows`,
  :func:`pad_square`): a new item without collaborative signal gets zero weights;
* **sequences** of sequence models gain the new events at their end (:func:`append_events`);
* **incremental epochs** of a torch model train on the affected users' histories mixed with a
  replay sample of other users' (:func:`replay_users`, :func:`keep_rows`), so the shared
  weights learn the new pairs without forgetting the old ones.

Everything here is deterministic for a given seed, so an update is repeatable.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["pad_rows", "pad_csr", "pad_square", "als_fold_in", "bpr_fold_in", "append_events",
           "replay_users", "keep_rows"]


def pad_rows(array: np.ndarray | torch.Tensor, n_rows: int, fill: float = 0.0
             ) -> np.ndarray | torch.Tensor:
    """``array`` with rows of ``fill`` appended up to ``n_rows`` (NumPy or torch, same device)."""
    extra = n_rows - array.shape[0]
    if extra <= 0:
        return array
    if isinstance(array, torch.Tensor):
        pad = torch.full((extra, *array.shape[1:]), fill, dtype=array.dtype, device=array.device)
        return torch.cat([array, pad])
    pad = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
    return np.concatenate([array, pad])


def pad_csr(matrix: sp.spmatrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """A CSR copy of ``matrix`` with empty rows and columns appended up to ``n_rows`` ×
    ``n_cols``."""
    out = sp.csr_matrix(matrix, copy=True)
    out.resize(n_rows, n_cols)
    return out


def pad_square(weights: np.ndarray | sp.spmatrix, n: int) -> np.ndarray | sp.csr_matrix:
    """An items × items matrix with zero rows and columns appended up to ``n`` × ``n``."""
    if sp.issparse(weights):
        return pad_csr(weights, n, n)
    out = np.zeros((n, n), dtype=weights.dtype)
    out[:weights.shape[0], :weights.shape[1]] = weights
    return out


def als_fold_in(rows: sp.csr_matrix, other: torch.Tensor, reg: float, alpha: float,
                budget: int = 1 << 16) -> torch.Tensor:
    """Exact implicit-ALS vectors for the binary ``rows`` (n × cols) given ``other`` (cols × f).

    Each row solves ``(YᵀY + λI + α Σᵢ yᵢyᵢᵀ) x = (1 + α) Σᵢ yᵢ`` over its items ``i`` (Hu et
    al., 2008): the products in float32, the solve in float64. Rows are taken shortest first,
    in blocks whose padded histories hold at most ``budget`` item slots; a block's
    ``Σ yᵢyᵢᵀ`` is one batched matrix product of its padded item vectors. A row without items
    gets the zero vector.
    """
    device, f = other.device, other.shape[1]
    y = torch.cat([other.float(), torch.zeros((1, f), dtype=torch.float32, device=device)])
    pad = other.shape[0]  # index of the zero row that pads short histories
    y64 = y.double()
    gram = y64.T @ y64 + reg * torch.eye(f, device=device, dtype=torch.float64)
    rows = sp.csr_matrix(rows)
    counts = np.diff(rows.indptr)
    order = np.argsort(counts, kind="stable")
    out = torch.zeros((rows.shape[0], f), dtype=other.dtype, device=device)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * counts[order[stop]] <= budget:
            stop += 1
        block = order[start:stop]
        width = max(1, int(counts[block].max()))
        src = rows.indptr[block][:, None] + np.arange(width)[None, :]
        inside = np.arange(width)[None, :] < counts[block][:, None]
        index = np.where(inside, rows.indices[np.minimum(src, max(rows.nnz - 1, 0))]
                         if rows.nnz else pad, pad).astype(np.int64)
        vecs = y[torch.as_tensor(index, device=device)]              # block × width × f
        a = gram + alpha * torch.bmm(vecs.transpose(1, 2), vecs).double()
        b = (1.0 + alpha) * vecs.sum(1).double()
        out[torch.as_tensor(block, device=device)] = torch.linalg.solve(a, b).to(other.dtype)
        start = stop
    return out


def bpr_fold_in(user: torch.Tensor, item: torch.Tensor, bias: torch.Tensor, rows: sp.csr_matrix,
                *, l2: float, steps: int = 20, lr: float = 0.1, seed: int = 0) -> torch.Tensor:
    """User vectors for the binary ``rows`` (n × items) by Adam on the BPR loss, items fixed.

    ``user`` (n × f) is the starting point (the old vectors, or zeros for new users). Every step
    takes all the rows' positive pairs, one fresh uniform negative each, and the loss
    ``−mean log σ(xᵤᵢ − xᵤⱼ) + l2 · mean ‖u‖²``; only these users' vectors move. The gradient
    is written out in closed form (one ``index_add_`` per step, no autograd), so a step costs
    ``O(pairs × factors)``.
    """
    device = item.device
    rows = sp.csr_matrix(rows)
    counts = np.diff(rows.indptr).astype(np.int64)
    owner = torch.as_tensor(np.repeat(np.arange(rows.shape[0]), counts), device=device)
    pos = torch.as_tensor(rows.indices.astype(np.int64), device=device)
    u = user.detach().clone().float()
    if not len(pos):
        return u.to(user.dtype)
    vecs, b = item.detach().float(), bias.detach().float()
    v_pos, b_pos = vecs[pos], b[pos]
    gen = torch.Generator(device=device).manual_seed(seed)
    m1, m2 = torch.zeros_like(u), torch.zeros_like(u)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        neg = torch.randint(0, item.shape[0], (len(pos),), generator=gen, device=device)
        diff = v_pos - vecs[neg]                                     # pairs × f
        x = (u[owner] * diff).sum(1) + b_pos - b[neg]
        weight = torch.sigmoid(-x) / len(pos)                        # −dloss/dx per pair
        grad = torch.zeros_like(u).index_add_(0, owner, -weight[:, None] * diff)
        grad += (2.0 * l2 / len(u)) * u
        m1.mul_(beta1).add_(grad, alpha=1 - beta1)
        m2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = lr * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)
        u -= step * m1 / (m2.sqrt() + eps)
    return u.to(user.dtype)


def append_events(indptr: np.ndarray, items: np.ndarray, n_users: int, users: np.ndarray,
                  new_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user sequences (CSR-like ``indptr``, ``items``) with ``new_items`` of ``users``
    appended at the end of each user's sequence, in the given order; ``n_users`` ≥ the old
    number of users (new users start empty)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    old_users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    owner = np.concatenate([old_users, np.asarray(users, dtype=np.int64)])
    seq = np.concatenate([np.asarray(items, dtype=np.int64), np.asarray(new_items, np.int64)])
    order = np.argsort(owner, kind="stable")  # old events first per user, then the new ones
    out_indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n_users), out=out_indptr[1:])
    return out_indptr, seq[order]


def replay_users(seen: sp.csr_matrix, affected: np.ndarray, ratio: float, seed: int
                 ) -> np.ndarray:
    """The users an incremental epoch trains on: ``affected`` plus a seeded uniform sample of
    ``ratio`` × as many other users with a history (all of them when fewer), sorted."""
    has = np.flatnonzero(np.diff(sp.csr_matrix(seen).indptr) > 0)
    affected = np.unique(np.asarray(affected, dtype=np.int64))
    others = np.setdiff1d(has, affected, assume_unique=True)
    n = min(len(others), round(ratio * len(affected)))
    picked = np.random.default_rng(seed).choice(others, n, replace=False) if n else others[:0]
    return np.union1d(affected, picked).astype(np.int64)


def keep_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix`` (same shape) with every row but ``rows`` emptied."""
    mask = np.zeros(matrix.shape[0], dtype=np.float32)
    mask[np.asarray(rows, dtype=np.int64)] = 1.0
    out = sp.csr_matrix(sp.diags(mask) @ sp.csr_matrix(matrix))
    out.eliminate_zeros()
    return out
