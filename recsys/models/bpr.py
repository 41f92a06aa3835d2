"""BPR matrix factorisation (Rendle et al., 2009), trained with Adam on the device.

A user vector, an item vector and an item bias; the score is ``u·v + b``. Each positive pair is
contrasted with ``negatives`` uniformly drawn unseen items through the BPR loss
``-log σ(s⁺ - s⁻)`` plus an L2 penalty on the embeddings the batch touches.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
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

        def loss_fn(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            s_pos = net.pair_scores(users, pos[:, None])
            s_neg = net.pair_scores(users, neg)
            rank = -torch.nn.functional.logsigmoid(s_pos - s_neg).mean()
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
            return self.net_(idx).float()

