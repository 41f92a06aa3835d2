"""BPR matrix factorisation (Rendle et al., 2009), trained with Adam on the device.

A user vector, an item vector and an item bias; the score is ``u·v + b``. Each positive pair is
contrasted with ``negatives`` uniformly drawn unseen items through the BPR loss
``-log σ(s⁺ - s⁻)`` plus an L2 penalty on the embeddings the batch touches.

Two debiased variants lift the long tail out of the popularity the data was collected under
(``debias``): ``ipw`` weighs each positive pair by the inverse of its item's exposure propensity
``θ_i ∝ popularity^η`` (Saito et al., WSDM 2020; :mod:`.propensity`), ``η`` = ``debias_strength``;
``macr`` (Wei et al., KDD 2021) trains the user–item match ``σ(u·v)`` jointly with an item
popularity branch ``σ(b)`` (the item bias) on ``ŷ = σ(u·v)·σ(b)`` with a binary cross-entropy,
plus an auxiliary loss on the branch alone, and ranks by the counterfactual score with a share
``c`` = ``debias_strength`` of the popularity branch's direct effect taken out, in log space:
``log ŷ − c·log σ(b) = log σ(u·v) + (1 − c)·log σ(b)`` (``c = 1``: the match alone). The
product form ``(σ(u·v) − c)·σ(b)`` of the paper multiplies every positive margin by the item's
popularity, which on the data at hand ranked the head even higher than plain BPR.

Under ``torchrun`` (:mod:`.distributed`) the Adam path trains with DDP; the ``sgd`` solver and
``sparse_updates="on"`` (which update the weights without autograd) are refused there, and
``sparse_updates="auto"`` stays off, said in the log.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.distributed import Shards
from recsys.models.online import bpr_fold_in, pad_rows
from recsys.models.propensity import item_loss_weights
from recsys.models.registry import register
from recsys.models.training import (
    PairSampler,
    TorchStateMixin,
    TrainConfig,
    make_generator,
    train,
    update_pairs,
)

__all__ = ["BPR", "BPRConfig", "MatrixFactorization", "SPARSE_FROM"]

log = logging.getLogger(__name__)

#: ``sparse_updates="auto"`` turns sparse updates on above this many user + item numbers
#: (about 260,000 customers at 64 factors): below it a dense Adam step is cheap and exact runs
#: stay as they were.
SPARSE_FROM = 2**24
#: Adam steps (learning rate 0.1) an online update spends on the affected users' vectors: 20 and
#: 0.1 scored best of 20–100 steps × 0.05–0.1 on an inner Online Retail period (bench_update.py).
FOLD_IN_STEPS = 20


class BPRConfig(TrainConfig):
    factors: int = Field(64, ge=1, le=1024, description="Size of the user and item vectors.")
    epochs: int = Field(30, ge=1, le=2000, description="Passes over the positive pairs.")
    batch_size: int = Field(8192, ge=1, le=1_048_576, description="Positive pairs per update.")
    lr: float = Field(0.01, gt=0.0, le=1.0, description="Adam learning rate.")
    l2: float = Field(0.01, ge=0.0, le=1.0, description="L2 penalty on the batch's embeddings.")
    negatives: int = Field(1, ge=1, le=256, description="Negative items drawn per positive pair.")
    init_std: float = Field(0.1, gt=0.0, le=1.0, description="Std of the initial embeddings.")
    debias: Literal["none", "ipw", "macr"] = Field(
        "none", description="Debiased training: none; ipw (inverse-propensity weighted pairs, "
        "propensity ∝ popularity^strength); macr (a popularity branch trained jointly, a share "
        "c = strength of its effect taken out at ranking).")
    debias_strength: float = Field(0.5, ge=0.0, le=1.0, description="ipw: the exponent η of "
                                   "the popularity propensity (0 = plain BPR); macr: the "
                                   "share c of the popularity branch taken out (0 = the factual score, 1 = "
                                   "the match alone).")
    propensity_clip: float = Field(0.05, gt=0.0, le=1.0, description="ipw: smallest propensity "
                                   "(caps any weight at 1/clip before normalising).")
    macr_weight: float = Field(0.1, ge=0.0, le=10.0, description="macr: weight of the "
                               "auxiliary loss that trains the popularity branch on its own.")
    sparse_updates: Literal["auto", "on", "off"] = Field(
        "auto", description="Update only the user and item vectors a batch touches (gradients "
        "written out in closed form, a lazy Adam on the touched rows) instead of every vector "
        "at every step: what makes BPR scale to millions of customers; auto = on when the user "
        f"and item tables hold more than {SPARSE_FROM:,} numbers. Not with debias macr.")
    solver: Literal["adam", "sgd"] = Field(
        "adam", description="adam: mini-batches with Adam on the model's device; sgd: plain "
        "per-sample SGD in compiled code on the CPU (``lr`` per sample, ``l2`` per update, as "
        "the implicit library): far faster on a CPU for large shops. sgd: not with debias macr.")
    sgd_threads: int = Field(1, ge=0, le=256, description="sgd: threads updating the vectors "
                             "at once (0 = every core). 1 is exactly repeatable; more is "
                             "faster, lock-free (Hogwild) and repeatable only to rounding.")


class MatrixFactorization(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.user = torch.nn.Parameter(torch.empty(n_users, factors))
        self.item = torch.nn.Parameter(torch.empty(n_items, factors))
        self.bias = torch.nn.Parameter(torch.empty(n_items))

    def reset_parameters(self, std: float, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.user.normal_(0.0, std, generator=gen)
            self.item.normal_(0.0, std, generator=gen)
            self.bias.zero_()

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``users[B]`` × ``items[B, k]`` → scores ``[B, k]``."""
        u, v = self.users(users), self.items(items)
        return (u[:, None, :] * v).sum(-1) + F.embedding(items, self.bias[:, None]).squeeze(-1)

    def users(self, idx: torch.Tensor) -> torch.Tensor:
        """User vectors of ``idx``."""
        return F.embedding(idx, self.user)

    def items(self, idx: torch.Tensor) -> torch.Tensor:
        """Item vectors of ``idx``."""
        return F.embedding(idx, self.item)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.user[users] @ self.item.T + self.bias


@register
class BPR(TorchStateMixin, Recommender):
    """Matrix factorisation ranked with the Bayesian Personalised Ranking loss."""

    name = "bpr"
    label = "BPR matrix factorisation"
    config_cls = BPRConfig
    iterative = True
    adds_items = True

    def _build(self) -> MatrixFactorization:
        return MatrixFactorization(self.n_users_, self.n_items_, self.config.factors)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        net = self._build()
        bulk = cfg.debias != "macr" and (cfg.sparse_updates == "on" or (
            cfg.sparse_updates == "auto" and (self.n_users_ + self.n_items_) * cfg.factors > SPARSE_FROM))
        shards = Shards.from_env(self.device_, cfg.seed)
        if shards.active:
            bulk = self._ddp_solver(bulk)
        net.reset_parameters(cfg.init_std, make_generator(cfg.seed))
        weights = self._item_weights()
        if cfg.solver == "sgd" and cfg.debias != "macr":
            self._fit_sgd(net, dataset, weights, callback, validation)
            return
        self.net_ = net.to(device)
        self._adam_loop(PairSampler(self.seen_, device), cfg, weights, bulk, shards,
                        dataset=dataset, callback=callback, validation=validation)

    def _item_weights(self) -> torch.Tensor:
        """Per-item weights of the loss: inverse propensities (``debias="ipw"``) or ones."""
        cfg = self.config
        return torch.as_tensor(item_loss_weights(self.seen_, cfg.debias, cfg.debias_strength,
                                                 cfg.propensity_clip),
                               device=torch.device(self.device_))

    def _adam_loop(self, sampler: PairSampler, cfg: BPRConfig, weights: torch.Tensor, bulk: bool,
                   shards: Shards, *, dataset: Dataset | None, callback: Callback | None,
                   validation: sp.csr_matrix | None) -> None:
        """The Adam path of the shared loop on ``self.net_`` over ``sampler``'s pairs (a fit's
        every pair, or an update's sample), with ``cfg``'s epochs and learning rate."""
        net, device = self.net_, torch.device(self.device_)

        def rank_loss(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            if cfg.debias == "macr":
                return _macr_loss(net, users, pos, neg, cfg.macr_weight)
            s_pos = net.pair_scores(users, pos[:, None])
            s_neg = net.pair_scores(users, neg)
            return -(F.logsigmoid(s_pos - s_neg).mean(dim=1) * weights[pos]).mean()

        def loss_fn(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            rank = rank_loss(users, pos, neg)
            reg = (net.users(users).pow(2).sum() + net.items(pos).pow(2).sum()
                   + net.items(neg).pow(2).sum() / neg.shape[1]) / len(users)
            return rank + cfg.l2 * reg

        train(self, net, loss_fn, lambda gen: sampler.epoch(cfg.batch_size, cfg.negatives, gen, shards), cfg,
              dataset=dataset, generator=make_generator(shards.noise_seed, device), callback=callback,
              validation=validation,
              manual_step=_BulkStep(net, weights, cfg.lr, cfg.l2) if bulk else None, shards=shards)

    def _warm_train(self, users: np.ndarray, cfg: BPRConfig, callback: Callback | None) -> None:
        """Incremental epochs of an update: the Adam path over ``users``' pairs (negatives
        avoid everything they have), sparse updates as a fit would choose them."""
        bulk = cfg.debias != "macr" and (cfg.sparse_updates == "on" or (
            cfg.sparse_updates == "auto" and (self.n_users_ + self.n_items_) * cfg.factors > SPARSE_FROM))
        self._adam_loop(update_pairs(self, users), cfg, self._item_weights(), bulk, Shards(seed=cfg.seed), dataset=None,
                        callback=callback, validation=None)

    def _update_lr(self) -> float:
        """The sgd solver's ``lr`` is per sample: the warm epochs scale Adam's default then."""
        cfg = self.config
        return cfg.lr if cfg.solver == "adam" else float(BPRConfig.model_fields["lr"].default)

    def _ddp_solver(self, bulk: bool) -> bool:
        """Under torchrun only the autograd + Adam path runs (DDP all-reduces its gradients):
        a solver that updates the weights itself is refused when asked for by name, and the
        automatic sparse updates are turned off (logged). Returns whether to use them (never)."""
        cfg = self.config
        if cfg.solver == "sgd" and cfg.debias != "macr":
            raise ValueError("BPR solver 'sgd' trains in one CPU process and cannot run under "
                             "torchrun (DDP); use solver 'adam' there, or run without torchrun")
        if cfg.sparse_updates == "on" and bulk:
            raise ValueError("BPR sparse_updates 'on' cannot run under torchrun (DDP all-reduces "
                             "dense gradients); use sparse_updates 'off' or 'auto' there")
        if bulk:
            log.warning("bpr: sparse updates are off under torchrun: DDP trains with dense "
                        "gradients (%d user and item vectors all-reduced per step)",
                        self.n_users_ + self.n_items_)
        return False

    def _fit_sgd(self, net: MatrixFactorization, dataset: Dataset, weights: torch.Tensor,
                 callback: Callback | None, validation: sp.csr_matrix | None) -> None:
        """Train with :func:`recsys.models.bpr_kernels.sgd_epoch` on the CPU (one call per
        epoch, through the shared loop: history, validation, early stopping, callback), then
        move the network to the model's device."""
        from recsys.models.bpr_kernels import sgd_epoch

        cfg = self.config
        net.cpu()
        binary = (sp.csr_matrix(self.seen_) > 0).astype(np.float32).tocsr()
        binary.sort_indices()
        indptr, indices = binary.indptr.astype(np.int64), binary.indices.astype(np.int32)
        pair_users = np.repeat(np.arange(binary.shape[0], dtype=np.int32), np.diff(indptr))
        arrays = [p.detach().numpy() for p in (net.user, net.item, net.bias)]  # shared memory
        w = weights.detach().cpu().numpy().astype(np.float32)
        epochs = iter(range(1, cfg.epochs + 1))
        examples = torch.empty(len(indices), dtype=torch.uint8)  # counts the epoch's samples
        threads = cfg.sgd_threads or (os.cpu_count() or 1)

        def one_epoch(_: torch.Tensor) -> torch.Tensor:
            seed = cfg.seed * 1_000_003 + next(epochs)
            return torch.tensor(sgd_epoch(indptr, indices, pair_users, indices, *arrays, w,
                                          cfg.lr, cfg.l2, seed, threads=threads))

        device_, self.device_ = self.device_, "cpu"
        self.net_ = net  # validation scores it during training
        try:
            with torch.no_grad():
                train(self, net, lambda *a: torch.zeros(()), lambda gen: [(examples,)], cfg,
                      dataset=dataset, generator=make_generator(cfg.seed), callback=callback,
                      validation=validation, manual_step=one_epoch)
        finally:
            self.device_ = device_
        self.net_ = net.to(torch.device(self.device_))

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × factors), e.g. for the embedding map."""
        return self.net_.item.detach().float().cpu().numpy()

    def _grow(self, n_users: int, n_items: int) -> None:
        """New users start at zero; new items get zero vectors and the lowest item bias (no
        collaborative signal: they start below most learned items until a refit)."""
        old, net = self.net_, MatrixFactorization(n_users, n_items, self.config.factors)
        low = float(old.bias.detach().min()) if len(old.bias) else 0.0
        with torch.no_grad():
            net.user.copy_(pad_rows(old.user.detach(), n_users))
            net.item.copy_(pad_rows(old.item.detach(), n_items))
            net.bias.copy_(pad_rows(old.bias.detach(), n_items, low))
        self.net_ = net.to(old.user.device).eval()

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Fold-in: a few Adam steps of the BPR loss on the affected users' vectors only (their
        whole updated histories, fresh negatives), items fixed; everyone else is untouched."""
        net = self.net_
        rows = (sp.csr_matrix(self.seen_)[affected] > 0).astype(np.float32).tocsr()
        idx = torch.as_tensor(affected, device=net.user.device)
        with torch.no_grad():
            start = net.user[idx]
        vectors = bpr_fold_in(start, net.item, net.bias, rows, l2=self.config.l2,
                              steps=FOLD_IN_STEPS, seed=self.config.seed)
        with torch.no_grad():
            net.user[idx] = vectors
        return f"user fold-in ({FOLD_IN_STEPS} BPR steps on those users, item vectors fixed)"

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.net_.item.device)
        with torch.no_grad():
            if self.config.debias == "macr":
                net = self.net_
                match = F.logsigmoid((net.user[idx] @ net.item.T).float())
                return match + (1.0 - self.config.debias_strength) * F.logsigmoid(net.bias.float())
            return self.net_(idx).float()


class _BulkStep:
    """One BPR update without autograd: the gradients of the loss written out in closed form
    for the batch's rows only, summed per distinct row (``unique`` + ``index_add_``), then a lazy
    Adam (moments of the touched rows only, bias correction by the global step, as
    ``torch.optim.SparseAdam``). Costs ``O(batch × factors)`` whatever the table sizes."""

    def __init__(self, net: MatrixFactorization, weights: torch.Tensor, lr: float, l2: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.net, self.weights, self.lr, self.l2 = net, weights, lr, l2
        self.betas, self.eps, self.t = betas, eps, 0
        self.moments = {name: (torch.zeros_like(p), torch.zeros_like(p))
                        for name, p in (("user", net.user), ("item", net.item), ("bias", net.bias))}

    def _adam(self, name: str, param: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor) -> None:
        m, v = self.moments[name]
        b1, b2 = self.betas
        uniq, inv = torch.unique(rows, return_inverse=True)
        g = torch.zeros((len(uniq), *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
        g.index_add_(0, inv, grad)
        m_rows = m[uniq].mul_(b1).add_(g, alpha=1 - b1)
        v_rows = v[uniq].mul_(b2).addcmul_(g, g, value=1 - b2)
        m[uniq], v[uniq] = m_rows, v_rows
        step = self.lr * (1 - b2 ** self.t) ** 0.5 / (1 - b1 ** self.t)
        param[uniq] = param[uniq] - step * m_rows / (v_rows.sqrt() + self.eps)

    @torch.no_grad()
    def __call__(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        net, n, k = self.net, len(users), neg.shape[1]
        self.t += 1
        u, vi, vj = net.user[users], net.item[pos], net.item[neg]            # B×f, B×f, B×k×f
        x = ((u * vi).sum(-1) + net.bias[pos])[:, None] - (torch.einsum("bf,bkf->bk", u, vj)
                                                           + net.bias[neg])
        w = self.weights[pos][:, None]
        loss = -(F.logsigmoid(x).mean(1) * w[:, 0]).mean()
        reg = (u.pow(2).sum() + vi.pow(2).sum() + vj.pow(2).sum() / k) / n
        c = torch.sigmoid(-x) * w / (n * k)                                  # -dL/dx, B×k
        scale = 2 * self.l2 / n
        g_u = -(c.sum(1, keepdim=True) * vi - torch.einsum("bk,bkf->bf", c, vj)) + scale * u
        g_i = -c.sum(1, keepdim=True) * u + scale * vi
        g_j = c[..., None] * u[:, None, :] + (scale / k) * vj
        self._adam("user", net.user, users, g_u)
        self._adam("item", net.item, torch.cat([pos, neg.reshape(-1)]),
                   torch.cat([g_i, g_j.reshape(-1, g_j.shape[-1])]))
        self._adam("bias", net.bias, torch.cat([pos, neg.reshape(-1)]),
                   torch.cat([-c.sum(1), c.reshape(-1)]))
        return loss + self.l2 * reg


def _macr_loss(net: MatrixFactorization, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
               aux_weight: float) -> torch.Tensor:
    """MACR's multi-task loss: BCE on ``σ(u·v)·σ(b)`` (positives 1, sampled negatives 0) plus
    ``aux_weight`` × BCE on the popularity branch ``σ(b)`` alone."""
    u = net.users(users)
    m_pos = (u * net.items(pos)).sum(-1).float()
    m_neg = (u[:, None, :] * net.items(neg)).sum(-1).float()
    b_pos, b_neg = net.bias[pos].float(), net.bias[neg].float()
    log_pos = F.logsigmoid(m_pos) + F.logsigmoid(b_pos)                  # log ŷ⁺
    y_neg = torch.sigmoid(m_neg) * torch.sigmoid(b_neg)                  # ŷ⁻
    main = -log_pos.mean() - torch.log1p(-y_neg.clamp(max=1 - 1e-6)).mean()
    aux = -F.logsigmoid(b_pos).mean() - F.logsigmoid(-b_neg).mean()
    return main + aux_weight * aux

