"""NeuMF / neural collaborative filtering (He et al., 2017): a GMF tower and an MLP tower.

GMF multiplies a user and an item vector element-wise; the MLP concatenates two other vectors and
passes them through ReLU layers; a final linear layer fuses both (plus an item bias, which gives
users with no history a sensible popularity-like ranking). Trained on positives and sampled
negatives with binary cross-entropy (the paper's log loss) or the BPR loss.

``mlp_layers`` follows the paper's code: the first entry is the width of the concatenated user and
item MLP vectors (each gets half), the others are the hidden ReLU layers. Scoring all items is
batched on the device: the first MLP layer splits into a user part and an item part, so only the
later (small) layers run on every (user, item) pair, in chunks of users that bound the memory.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.online import pad_rows
from recsys.models.registry import register
from recsys.models.training import (
    PairSampler,
    TorchStateMixin,
    TrainConfig,
    make_generator,
    train,
    update_pairs,
)

__all__ = ["NeuMF", "NeuMFConfig", "NeuMFNet"]

#: Elements of the (users × items × hidden) activation computed at once when scoring.
SCORE_CHUNK_ELEMENTS = 2**25


class NeuMFConfig(TrainConfig):
    factors: int = Field(32, ge=1, le=1024, description="Size of the GMF user and item vectors.")
    mlp_layers: tuple[Annotated[int, Field(ge=1, le=4096)], ...] = Field(
        (64, 32, 16), min_length=2, max_length=8,
        description="MLP widths: the concatenated user+item vector (even), then the hidden layers.")
    epochs: int = Field(20, ge=1, le=2000, description="Passes over the positive pairs.")
    batch_size: int = Field(8192, ge=1, le=1_048_576, description="Positive pairs per update.")
    lr: float = Field(0.01, gt=0.0, le=1.0, description="Adam learning rate.")
    loss: Literal["bce", "bpr"] = Field("bce", description="Log loss on positives and negatives, or BPR.")
    negatives: int = Field(8, ge=1, le=256, description="Negative items drawn per positive pair.")
    l2: float = Field(0.01, ge=0.0, le=1.0, description="L2 penalty on the batch's embeddings.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Adam weight decay on all weights.")
    init_std: float = Field(0.1, gt=0.0, le=1.0, description="Std of the initial embeddings.")

    @field_validator("mlp_layers")
    @classmethod
    def _even_input(cls, layers: tuple[int, ...]) -> tuple[int, ...]:
        if layers[0] % 2:
            raise ValueError("the first MLP width is the user+item concatenation and must be even")
        return layers


class NeuMFNet(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int, layers: tuple[int, ...]) -> None:
        super().__init__()
        half = layers[0] // 2
        self.gmf_user = torch.nn.Parameter(torch.empty(n_users, factors))
        self.gmf_item = torch.nn.Parameter(torch.empty(n_items, factors))
        self.mlp_user = torch.nn.Parameter(torch.empty(n_users, half))
        self.mlp_item = torch.nn.Parameter(torch.empty(n_items, half))
        self.bias = torch.nn.Parameter(torch.empty(n_items))
        self.mlp = torch.nn.ModuleList(torch.nn.Linear(a, b, device="meta") for a, b in pairwise(layers))
        self.out = torch.nn.Linear(factors + layers[-1], 1, device="meta")
        self.to_empty(device="cpu")

    def reset_parameters(self, std: float, gen: torch.Generator) -> None:
        with torch.no_grad():
            for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
                emb.normal_(0.0, std, generator=gen)
            self.bias.zero_()
            for lin in [*self.mlp, self.out]:
                torch.nn.init.xavier_uniform_(lin.weight, generator=gen)
                lin.bias.zero_()

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``users[B]`` × ``items[B, k]`` → logits ``[B, k]``."""
        k = items.shape[1]
        gmf = F.embedding(users, self.gmf_user)[:, None, :] * F.embedding(items, self.gmf_item)
        mu = F.embedding(users, self.mlp_user)[:, None, :].expand(-1, k, -1)
        h = torch.cat([mu, F.embedding(items, self.mlp_item)], dim=-1)
        for lin in self.mlp:
            h = F.relu(lin(h))
        return self.out(torch.cat([gmf, h], dim=-1)).squeeze(-1) + F.embedding(items, self.bias[:, None]).squeeze(-1)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """Logits of ``users`` × every item, in chunks of users (no Python loop over items)."""
        nf = self.gmf_user.shape[1]
        w_gmf, w_mlp = self.out.weight[0, :nf], self.out.weight[0, nf:]
        gmf = (F.embedding(users, self.gmf_user) * w_gmf) @ self.gmf_item.T + self.bias + self.out.bias
        first, half = self.mlp[0], self.mlp_user.shape[1]
        user_part = F.embedding(users, self.mlp_user) @ first.weight[:, :half].T + first.bias
        item_part = self.mlp_item @ first.weight[:, half:].T
        n_items, width = item_part.shape
        chunk = max(1, SCORE_CHUNK_ELEMENTS // max(1, n_items * width))
        for start in range(0, len(users), chunk):
            h = F.relu(user_part[start:start + chunk, None, :] + item_part[None, :, :])
            for lin in self.mlp[1:]:
                h = F.relu(lin(h))
            gmf[start:start + chunk] += h @ w_mlp
        return gmf


@register
class NeuMF(TorchStateMixin, Recommender):
    """Neural matrix factorisation: GMF and MLP towers fused by a linear layer."""

    name = "neumf"
    label = "NeuMF (neural CF)"
    #: Online updates: without epochs only what the lists exclude changes (new users and items
    #: get zero vectors: lists from the item side); with epochs the embeddings learn.
    adds_items = True
    update_method = "history fold-in (lists leave out the new items; embeddings as trained)"
    config_cls = NeuMFConfig
    iterative = True

    def _build(self) -> NeuMFNet:
        return NeuMFNet(self.n_users_, self.n_items_, self.config.factors, self.config.mlp_layers)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        net = self._build()
        net.reset_parameters(cfg.init_std, make_generator(cfg.seed))
        self.net_ = net.to(device)
        self._loop(PairSampler(self.seen_, device), cfg, dataset=dataset, callback=callback,
                   validation=validation)

    def _loop(self, sampler: PairSampler, cfg: NeuMFConfig, *, dataset: Dataset | None,
              callback: Callback | None, validation: sp.csr_matrix | None) -> None:
        """The shared loop on ``self.net_`` over ``sampler``'s pairs with ``cfg``'s epochs and
        learning rate (a fit, or an update's incremental epochs)."""
        net, device = self.net_, torch.device(self.device_)

        def loss_fn(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
            logits = net.pair_scores(users, torch.cat([pos[:, None], neg], dim=1)).float()
            if cfg.loss == "bce":
                labels = torch.zeros_like(logits)
                labels[:, 0] = 1.0
                fit = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / len(users)
            else:
                fit = -F.logsigmoid(logits[:, :1] - logits[:, 1:]).mean()
            items = torch.cat([pos, neg.reshape(-1)])
            reg = (F.embedding(users, net.gmf_user).pow(2).sum() + F.embedding(users, net.mlp_user).pow(2).sum()
                   + F.embedding(items, net.gmf_item).pow(2).sum() + F.embedding(items, net.mlp_item).pow(2).sum())
            return fit + cfg.l2 * reg / len(users)

        train(self, net, loss_fn, lambda gen: sampler.epoch(cfg.batch_size, cfg.negatives, gen), cfg,
              dataset=dataset, generator=make_generator(cfg.seed, device), callback=callback,
              validation=validation, weight_decay=cfg.weight_decay)

    def _warm_train(self, users: np.ndarray, cfg: NeuMFConfig, callback: Callback | None) -> None:
        """Incremental epochs of an update over ``users``' pairs (negatives avoid all they have)."""
        self._loop(update_pairs(self, users), cfg, dataset=None, callback=callback, validation=None)

    def _grow(self, n_users: int, n_items: int) -> None:
        """New users and items get zero embeddings (new items the lowest item bias: they rank
        below most learned items until incremental epochs or a refit train them)."""
        old = self.net_
        net = NeuMFNet(n_users, n_items, self.config.factors, self.config.mlp_layers)
        low = float(old.bias.detach().min()) if len(old.bias) else 0.0
        with torch.no_grad():
            for name in ("gmf_user", "mlp_user", "gmf_item", "mlp_item"):
                rows = n_users if name.endswith("user") else n_items
                getattr(net, name).copy_(pad_rows(getattr(old, name).detach().cpu(), rows))
            net.bias.copy_(pad_rows(old.bias.detach().cpu(), n_items, low))
            for lin_new, lin_old in zip([*net.mlp, net.out], [*old.mlp, old.out], strict=True):
                lin_new.load_state_dict(lin_old.state_dict())
        self.net_ = net.to(old.bias.device).eval()

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × GMF + MLP factors), e.g. for the embedding map."""
        return torch.cat([self.net_.gmf_item, self.net_.mlp_item], dim=1).detach().float().cpu().numpy()

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.net_.bias.device)
        with torch.no_grad():
            return self.net_(idx).float()

