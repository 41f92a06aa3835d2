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
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.propensity import ipw_weights
from recsys.models.registry import register
from recsys.models.training import PairSampler, TorchStateMixin, TrainConfig, make_generator, train

__all__ = ["BPR", "BPRConfig", "MatrixFactorization"]


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
        u, v = F.embedding(users, self.user), F.embedding(items, self.item)
        return (u[:, None, :] * v).sum(-1) + F.embedding(items, self.bias[:, None]).squeeze(-1)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.user[users] @ self.item.T + self.bias


@register
class BPR(TorchStateMixin, Recommender):
    """Matrix factorisation ranked with the Bayesian Personalised Ranking loss."""

    name = "bpr"
    label = "BPR matrix factorisation"
    config_cls = BPRConfig
    iterative = True

    def _build(self) -> MatrixFactorization:
        return MatrixFactorization(self.n_users_, self.n_items_, self.config.factors)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        net = self._build()
        net.reset_parameters(cfg.init_std, make_generator(cfg.seed))
        self.net_ = net.to(device)
        sampler = PairSampler(self.seen_, device)
        popularity = np.asarray((self.seen_ > 0).sum(axis=0)).ravel()
        weights = torch.as_tensor(ipw_weights(popularity, cfg.debias_strength, cfg.propensity_clip)
                                  if cfg.debias == "ipw" else np.ones(len(popularity), np.float32),
                                  device=device)

        def rank_loss(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            if cfg.debias == "macr":
                return _macr_loss(net, users, pos, neg, cfg.macr_weight)
            s_pos = net.pair_scores(users, pos[:, None])
            s_neg = net.pair_scores(users, neg)
            return -(F.logsigmoid(s_pos - s_neg).mean(dim=1) * weights[pos]).mean()

        def loss_fn(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            rank = rank_loss(users, pos, neg)
            reg = (F.embedding(users, net.user).pow(2).sum() + F.embedding(pos, net.item).pow(2).sum()
                   + F.embedding(neg, net.item).pow(2).sum() / neg.shape[1]) / len(users)
            return rank + cfg.l2 * reg

        train(self, net, loss_fn, lambda gen: sampler.epoch(cfg.batch_size, cfg.negatives, gen), cfg,
              dataset=dataset, generator=make_generator(cfg.seed, device), callback=callback,
              validation=validation)

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × factors), e.g. for the embedding map."""
        return self.net_.item.detach().float().cpu().numpy()

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.net_.item.device)
        with torch.no_grad():
            if self.config.debias == "macr":
                net = self.net_
                match = F.logsigmoid((net.user[idx] @ net.item.T).float())
                return match + (1.0 - self.config.debias_strength) * F.logsigmoid(net.bias.float())
            return self.net_(idx).float()


def _macr_loss(net: MatrixFactorization, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
               aux_weight: float) -> torch.Tensor:
    """MACR's multi-task loss: BCE on ``σ(u·v)·σ(b)`` (positives 1, sampled negatives 0) plus
    ``aux_weight`` × BCE on the popularity branch ``σ(b)`` alone."""
    u = F.embedding(users, net.user)
    m_pos = (u * F.embedding(pos, net.item)).sum(-1).float()
    m_neg = (u[:, None, :] * F.embedding(neg, net.item)).sum(-1).float()
    b_pos, b_neg = net.bias[pos].float(), net.bias[neg].float()
    log_pos = F.logsigmoid(m_pos) + F.logsigmoid(b_pos)                  # log ŷ⁺
    y_neg = torch.sigmoid(m_neg) * torch.sigmoid(b_neg)                  # ŷ⁻
    main = -log_pos.mean() - torch.log1p(-y_neg.clamp(max=1 - 1e-6)).mean()
    aux = -F.logsigmoid(b_pos).mean() - F.logsigmoid(-b_neg).mean()
    return main + aux_weight * aux

