"""Mult-VAE (Liang et al., 2018): a variational autoencoder over users' interaction rows.

The encoder reads a user's L2-normalised, dropped-out training row and outputs a Gaussian latent;
the decoder maps a latent sample to logits over all items, trained with the multinomial
log-likelihood plus a KL term whose weight grows linearly from 0 to ``beta`` over the first
``anneal_steps`` updates. Scores are the decoder logits of the mean latent of the user's row, so a
user with no training items still gets a (popularity-like) finite ranking.

With ``debias="ipw"`` each item's term of the likelihood is weighed by the inverse of its
exposure propensity ``θ_i ∝ popularity^η`` (:mod:`.propensity`, ``η`` = ``debias_strength``),
so the decoder is not rewarded as much for putting its mass on the items everyone was shown.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.distributed import Shards
from recsys.models.propensity import item_loss_weights
from recsys.models.registry import register
from recsys.models.training import RowSource, TorchStateMixin, TrainConfig, make_generator, train

__all__ = ["MultVAE", "MultVAEConfig", "MultVAENet"]


class MultVAEConfig(TrainConfig):
    encoder: tuple[Annotated[int, Field(ge=1, le=8192)], ...] = Field(
        (600, 200), min_length=1, max_length=6,
        description="Encoder widths; the last is the latent size (the decoder mirrors them).")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Input dropout while training.")
    beta: float = Field(0.2, ge=0.0, le=10.0, description="Final weight of the KL term.")
    anneal_steps: int = Field(200, ge=0, le=10_000_000, description="Updates over which the KL "
                              "weight grows linearly from 0 to beta (0 = beta from the start).")
    epochs: int = Field(50, ge=1, le=2000, description="Passes over the users.")
    batch_size: int = Field(256, ge=1, le=1_048_576, description="Users per update.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Adam weight decay.")
    debias: Literal["none", "ipw"] = Field(
        "none", description="Debiased training: none, or ipw (each item's likelihood term "
        "weighed by 1 / propensity, propensity ∝ popularity^strength).")
    debias_strength: float = Field(0.5, ge=0.0, le=1.0, description="ipw: the exponent η of the "
                                   "popularity propensity (0 = the plain likelihood).")
    propensity_clip: float = Field(0.05, gt=0.0, le=1.0, description="ipw: smallest propensity "
                                   "(caps any weight at 1/clip before normalising).")


class MultVAENet(torch.nn.Module):
    def __init__(self, n_items: int, encoder: tuple[int, ...]) -> None:
        super().__init__()
        dims = (n_items, *encoder)
        enc = [*pairwise(dims[:-1]), (dims[-2], 2 * dims[-1])]  # last layer: mean and log-variance
        self.encoder = torch.nn.ModuleList(torch.nn.Linear(a, b, device="meta") for a, b in enc)
        self.decoder = torch.nn.ModuleList(torch.nn.Linear(a, b, device="meta") for a, b in pairwise(dims[::-1]))
        self.to_empty(device="cpu")

    def reset_parameters(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            for lin in [*self.encoder, *self.decoder]:
                torch.nn.init.xavier_uniform_(lin.weight, generator=gen)
                lin.bias.zero_()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        for lin in self.encoder[:-1]:
            h = torch.tanh(lin(h))
        mu, logvar = self.encoder[-1](h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        for lin in self.decoder[:-1]:
            z = torch.tanh(lin(z))
        return self.decoder[-1](z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over all items from the mean latent (inference)."""
        return self.decode(self.encode(x)[0])


@register
class MultVAE(TorchStateMixin, Recommender):
    """Variational autoencoder with a multinomial likelihood over each user's items."""

    name = "multvae"
    label = "Mult-VAE"
    config_cls = MultVAEConfig
    iterative = True

    def _build(self) -> MultVAENet:
        return MultVAENet(self.n_items_, self.config.encoder)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        net = self._build()
        net.reset_parameters(make_generator(cfg.seed))
        self.net_ = net.to(device)
        shards = Shards.from_env(self.device_, cfg.seed)  # under torchrun: this rank's users
        self._loop(RowSource(self.seen_, device), cfg, shards, anneal_from=0, dataset=dataset,
                   callback=callback, validation=validation)

    def _loop(self, rows: RowSource, cfg: MultVAEConfig, shards: Shards, *, anneal_from: int,
              dataset: Dataset | None, callback: Callback | None,
              validation: sp.csr_matrix | None) -> None:
        """The shared loop on ``self.net_`` over ``rows``' users with ``cfg``'s epochs and
        learning rate; the KL weight's annealing starts at update ``anneal_from``."""
        net, device = self.net_, torch.device(self.device_)
        gen = make_generator(shards.noise_seed, device)
        step = [anneal_from]
        weights = torch.as_tensor(item_loss_weights(self.seen_, cfg.debias, cfg.debias_strength,
                                                    cfg.propensity_clip), device=device)

        def loss_fn(x: torch.Tensor) -> torch.Tensor:
            keep = torch.rand(x.shape, generator=gen, device=device) >= cfg.dropout
            mu, logvar = net.encode(x * keep / (1.0 - cfg.dropout))
            z = mu + torch.randn(mu.shape, generator=gen, device=device) * torch.exp(0.5 * logvar)
            nll = -(F.log_softmax(net.decode(z).float(), dim=1) * x * weights).sum(dim=1).mean()
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).float().sum(dim=1).mean()
            beta = cfg.beta * min(1.0, step[0] / cfg.anneal_steps) if cfg.anneal_steps else cfg.beta
            step[0] += 1
            return nll + beta * kl

        train(self, net, loss_fn, lambda g: rows.epoch(cfg.batch_size, g, shards), cfg, dataset=dataset,
              generator=gen, callback=callback, validation=validation, weight_decay=cfg.weight_decay,
              shards=shards)

    def _warm_train(self, users: np.ndarray, cfg: MultVAEConfig, callback: Callback | None) -> None:
        """Incremental epochs of an update over ``users``' rows, the KL weight at its full
        ``beta`` (the annealing was done by the fit)."""
        from recsys.models.online import keep_rows

        rows = RowSource(keep_rows(self.seen_, users), torch.device(self.device_))
        self._loop(rows, cfg, Shards(seed=cfg.seed), anneal_from=cfg.anneal_steps, dataset=None,
                   callback=callback, validation=None)

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × last decoder width: the output layer's rows), e.g. for the map."""
        return self.net_.decoder[-1].weight.detach().float().cpu().numpy()

    def score(self, users: np.ndarray) -> torch.Tensor:
        device = self.net_.decoder[-1].weight.device
        x = torch.as_tensor((self.seen_[np.asarray(users, dtype=np.int64)] > 0).toarray(), dtype=torch.float32,
                            device=device)
        with torch.no_grad():
            return self.net_(x).float()

