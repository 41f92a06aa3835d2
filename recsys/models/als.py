"""Implicit-feedback ALS (Hu, Koren & Volinsky, 2008) solved with conjugate gradient, in torch.

Every user-item pair is a preference ``p = 1`` (bought) or ``0`` (not), weighted by a confidence
``c = 1 + alpha`` for the pairs bought and ``1`` for all the others. ALS alternates two ridge
regressions: the user vectors given the item vectors, then the other way round. Each user's
system ``(YᵀY + λI + Yᵀ(Cᵤ − I)Y) xᵤ = YᵀCᵤpᵤ`` is not solved exactly but improved by a few
conjugate-gradient steps from the previous solution (Takács, Pilászy & Tikk, 2011), which is what
makes ALS cheap at scale: a step costs ``O(nnz · factors)``, the dense ``YᵀY`` is
``factors × factors``, and no users × items matrix is ever built.

All users (or items) are solved at once, vectorised: the pairs are taken in blocks of rows
(``block_pairs`` pairs at a time), the item vectors of a block gathered once and reused by every
CG step, on an accelerator (CUDA when lent one); on the CPU a numba-compiled loop over each
user's items does the same solve in place (:mod:`recsys.models.als_kernels`), several times
faster. Both in float32.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, ModelConfig, Recommender
from recsys.models.online import als_fold_in, pad_rows
from recsys.models.registry import register
from recsys.models.training import make_generator

__all__ = ["ALS", "ALSConfig", "cg_solve"]

log = logging.getLogger(__name__)


class ALSConfig(ModelConfig):
    factors: int = Field(64, ge=1, le=1024, description="Size of the user and item vectors.")
    iterations: int = Field(15, ge=1, le=200, description="Alternations (users, then items).")
    regularization: float = Field(50.0, ge=0.0, le=1000.0, description="L2 penalty λ "
                                  "(50 chosen on an inner validation split of the demo shop).")
    alpha: float = Field(10.0, ge=0.0, le=10_000.0, description="Extra confidence of an "
                         "observed pair: c = 1 + alpha (unobserved pairs weigh 1).")
    cg_steps: int = Field(3, ge=1, le=50, description="Conjugate-gradient steps per solve.")
    init_std: float = Field(0.01, gt=0.0, le=1.0, description="Std of the initial vectors.")
    block_pairs: int = Field(1_000_000, ge=1000, le=100_000_000, description="Pairs handled at "
                             "once in a solve (bounds the memory of a step).")


def _blocks(indptr: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Row ranges whose pairs add up to at most ``budget`` (a single longer row on its own)."""
    out, start, n = [], 0, len(indptr) - 1
    while start < n:
        stop = int(np.searchsorted(indptr, indptr[start] + budget, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        out.append((start, stop))
        start = stop
    return out


def cg_solve(x: torch.Tensor, other: torch.Tensor, matrix: sp.csr_matrix, reg: float,
             alpha: float, steps: int, block_pairs: int) -> torch.Tensor:
    """One ALS half-step: improve every row of ``x`` (rows × f) given ``other`` (cols × f) and the
    binary rows × cols ``matrix``, by ``steps`` CG steps per row; returns the new ``x``."""
    device = x.device
    gram = other.T @ other + reg * torch.eye(other.shape[1], device=device, dtype=other.dtype)
    indptr = matrix.indptr
    indices = torch.as_tensor(matrix.indices.astype(np.int64), device=device)
    out = x.clone()
    for start, stop in _blocks(indptr, block_pairs):
        lo, hi = int(indptr[start]), int(indptr[stop])
        counts = torch.as_tensor(np.diff(indptr[start:stop + 1]).astype(np.int64), device=device)
        rows = torch.repeat_interleave(torch.arange(stop - start, device=device), counts)
        yc = other[indices[lo:hi]]                               # pairs × f, reused by every step
        xb = out[start:stop]

        def apply(v: torch.Tensor, yc: torch.Tensor = yc, rows: torch.Tensor = rows) -> torch.Tensor:
            """``(YᵀY + λI + alpha · Σ yᵢyᵢᵀ) v`` per row, over the block's pairs."""
            d = (yc * v[rows]).sum(1) * alpha
            return (v @ gram).index_add_(0, rows, yc * d[:, None])

        b = torch.zeros_like(xb).index_add_(0, rows, yc * (1.0 + alpha))
        r = b - apply(xb)
        p = r.clone()
        rs = (r * r).sum(1)
        for _ in range(steps):
            ap = apply(p)
            denom = (p * ap).sum(1)
            step = torch.where(denom > 1e-20, rs / denom.clamp_min(1e-20), torch.zeros_like(rs))
            xb = xb + step[:, None] * p
            r = r - step[:, None] * ap
            rs_new = (r * r).sum(1)
            p = r + torch.where(rs > 1e-20, rs_new / rs.clamp_min(1e-20), torch.zeros_like(rs))[:, None] * p
            rs = rs_new
        out[start:stop] = xb
    return out


@register
class ALS(Recommender):
    """Matrix factorisation of implicit feedback by alternating least squares (CG solves)."""

    name = "als"
    label = "ALS (implicit feedback)"
    config_cls = ALSConfig
    adds_items = True

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        binary = (sp.csr_matrix(self.seen_) > 0).astype(np.float32).tocsr()
        binary.sort_indices()
        transposed = binary.T.tocsr()
        gen = make_generator(cfg.seed)
        users = torch.zeros(binary.shape[0], cfg.factors)
        items = torch.randn(binary.shape[1], cfg.factors, generator=gen) * cfg.init_std
        compiled = device.type == "cpu"  # numba kernel in place; torch on an accelerator
        if compiled:
            from recsys.models.als_kernels import cg_half_step

            users_np, items_np = users.numpy(), items.numpy()
        else:
            users, items = users.to(device), items.to(device)
        with torch.no_grad():
            for it in range(1, cfg.iterations + 1):
                t0 = time.perf_counter()
                if compiled:
                    cg_half_step(binary.indptr, binary.indices, users_np, items_np,
                                 cfg.regularization, cfg.alpha, cfg.cg_steps)
                    cg_half_step(transposed.indptr, transposed.indices, items_np, users_np,
                                 cfg.regularization, cfg.alpha, cfg.cg_steps)
                else:
                    users = cg_solve(users, items, binary, cfg.regularization, cfg.alpha,
                                     cfg.cg_steps, cfg.block_pairs)
                    items = cg_solve(items, users, transposed, cfg.regularization, cfg.alpha,
                                     cfg.cg_steps, cfg.block_pairs)
                metrics = {"epoch": float(it), "seconds": time.perf_counter() - t0}
                self.history_.append(metrics)
                log.debug("als iteration %d: %.2fs", it, metrics["seconds"])
                if callback is not None and callback(it, dict(metrics)) is False:
                    log.info("als: stopped by the callback after iteration %d", it)
                    break
        self.user_factors_, self.item_vectors_ = users, items

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × factors), e.g. for the embedding map."""
        return self.item_vectors_.detach().float().cpu().numpy()

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.item_vectors_.device)
        with torch.no_grad():
            return self.user_factors_[idx] @ self.item_vectors_.T

    def _grow(self, n_users: int, n_items: int) -> None:
        self.new_items_ = np.arange(self.n_items_, n_items)
        self.user_factors_ = pad_rows(self.user_factors_, n_users)
        self.item_vectors_ = pad_rows(self.item_vectors_, n_items)

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Fold-in: each affected user's vector is the exact least-squares solve of their
        whole updated history with the item vectors fixed; new items (appended columns) get
        the solve of their buyers' vectors, then those users are solved once more. Every
        other user and item keeps its vector."""
        cfg = self.config
        binary = (sp.csr_matrix(self.seen_) > 0).astype(np.float32).tocsr()
        idx = torch.as_tensor(affected, device=self.item_vectors_.device)
        solve = lambda: als_fold_in(binary[affected], self.item_vectors_,  # noqa: E731
                                    cfg.regularization, cfg.alpha)
        self.user_factors_[idx] = solve()
        fresh = getattr(self, "new_items_", np.zeros(0, dtype=np.int64))
        if len(fresh):
            cols = torch.as_tensor(fresh, device=self.item_vectors_.device)
            self.item_vectors_[cols] = als_fold_in(binary.T.tocsr()[fresh], self.user_factors_,
                                                   cfg.regularization, cfg.alpha)
            self.user_factors_[idx] = solve()
        self.new_items_ = np.zeros(0, dtype=np.int64)
        return "user fold-in (exact least squares, item vectors fixed)" + (
            f"; {len(fresh)} new items solved from their buyers" if len(fresh) else "")

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "user_factors": self.user_factors_.cpu().numpy(),
                "item_factors": self.item_factors_}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        device = torch.device(self.device_)
        self.user_factors_ = torch.as_tensor(state["user_factors"], device=device)
        self.item_vectors_ = torch.as_tensor(state["item_factors"], device=device)
