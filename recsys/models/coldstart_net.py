"""Torch parts of the generative cold start model (:mod:`recsys.models.coldstart`).

* :class:`Generator`: content vector → collaborative item embedding (a two-layer MLP with a
  linear skip, so a plain linear content-to-embedding map is the starting point).
* :class:`Critic`: GAR's recommender / discriminator, a learned linear map of the user
  embedding, ``D(u, v) = (e_u A)·v``; it starts as the identity (the factor model's own scores)
  and is linear so that it folds into the user side of the saved model (no torch at scoring).
* :func:`adversarial_loss` and :func:`mapping_loss`: the two training objectives over a batch
  of (user, positive item, negative items) of warm pairs.

Parameters are initialised from a seeded generator (no global RNG), so a seed gives the same
weights on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Generator", "Critic", "GeneratorNet", "adversarial_loss", "mapping_loss",
           "GENERATOR_PREFIX", "generator_arrays", "generate_from_arrays"]


class Generator(nn.Module):
    """``G(c) = W_skip c + W_2 gelu(W_1 c)``: content vectors ``[B, d]`` → embeddings ``[B, k]``."""

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out, bias=False)
        self.hidden = nn.Linear(d_in, hidden)
        self.out = nn.Linear(hidden, d_out)

    def reset_parameters(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            for lin in (self.skip, self.hidden, self.out):
                bound = 1.0 / math.sqrt(lin.in_features)
                lin.weight.uniform_(-bound, bound, generator=gen)
                if lin.bias is not None:
                    lin.bias.zero_()

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.skip(content) + self.out(F.gelu(self.hidden(content)))


class Critic(nn.Module):
    """Linear user transform ``A`` (identity at the start) of GAR's recommender."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(k))

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.eye(self.weight.shape[0]))

    def users(self, u: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """``e_u A``; ``frozen`` stops gradients into ``A`` (the generator's turn)."""
        return u @ (self.weight.detach() if frozen else self.weight)


class GeneratorNet(nn.Module):
    """The generator and (for the adversarial objective) its critic, trained as one module."""

    def __init__(self, d_in: int, hidden: int, k: int) -> None:
        super().__init__()
        self.generator = Generator(d_in, hidden, k)
        self.critic = Critic(k)

    def reset_parameters(self, gen: torch.Generator) -> None:
        self.generator.reset_parameters(gen)
        self.critic.reset_parameters()


def _rank_loss(scores: torch.Tensor, col: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean ``−log σ((s⁺ − s⁻)/t)`` of each row's positive (column ``col``) over the batch's
    other items (``scores[N, B]``: N pairs against the batch's B items)."""
    pos = scores.gather(1, col[:, None])
    loss = -F.logsigmoid((pos - scores) / temperature)
    keep = torch.ones_like(scores).scatter_(1, col[:, None], 0.0)
    return ((loss * keep).sum(1) / keep.sum(1).clamp(min=1.0)).mean()


def mapping_loss(net: GeneratorNet, users: torch.Tensor, real: torch.Tensor,
                 content: torch.Tensor, col: torch.Tensor, *, temperature: float,
                 regression_weight: float) -> torch.Tensor:
    """Non-adversarial (CB2CF / Heater style): regress ``G(c_i)`` on the warm embedding ``q_i``
    and rank ``G(c_i)`` above the batch's other generated items for the item's users (fixed
    user vectors). ``real[B, k]`` and ``content[B, d]`` are the batch's items, ``users[N, k]``
    its pairs' users and ``col[N]`` each pair's item in the batch."""
    g = net.generator(content)
    rank = _rank_loss(users @ g.T, col, temperature)
    regress = (g - real).pow(2).sum(-1).mean()
    return rank + regression_weight * regress


def adversarial_loss(net: GeneratorNet, users: torch.Tensor, real: torch.Tensor,
                     content: torch.Tensor, col: torch.Tensor, *, temperature: float,
                     adversarial_weight: float) -> torch.Tensor:
    """GAR-style objective, both players in one loss with their gradients kept apart.

    Critic (recommender / discriminator), on detached generated embeddings: rank each real warm
    embedding above its generated copy for the item's users, ``−log σ(D(u,q_i) − D(u,G(c_i)))``,
    and above the batch's other real items, ``−log σ(D(u,q_i) − D(u,q_j))``. Generator, through
    a frozen critic: make the generated embedding rank as high as the real one,
    ``−log σ(D(u,G(c_i)) − D(u,q_i))`` (weight ``adversarial_weight``), and above the batch's
    other generated items (weight ``1 − adversarial_weight``). Inputs as :func:`mapping_loss`.
    """
    t = temperature
    g = net.generator(content)
    u_live = net.critic.users(users)
    d_real = (u_live * real[col]).sum(-1)
    d_fake = (u_live * g.detach()[col]).sum(-1)
    critic = (-F.logsigmoid((d_real - d_fake) / t)).mean() + _rank_loss(u_live @ real.T, col, t)
    u_frozen = net.critic.users(users, frozen=True)
    g_real = (u_frozen * real[col]).sum(-1).detach()
    g_scores = u_frozen @ g.T
    g_fake = g_scores.gather(1, col[:, None]).squeeze(1)
    fool = (-F.logsigmoid((g_fake - g_real) / t)).mean()
    rank = _rank_loss(g_scores, col, t)
    return critic + adversarial_weight * fool + (1.0 - adversarial_weight) * rank


#: Key prefix of the generator's weights in a content model's saved state.
GENERATOR_PREFIX = "generator."


def generator_arrays(generator: torch.nn.Module) -> dict[str, np.ndarray]:
    """The generator's weights as ``float32`` arrays keyed ``generator.<name>`` (for a model's
    saved state; no pickle)."""
    return {GENERATOR_PREFIX + k: v.detach().float().cpu().numpy()
            for k, v in generator.state_dict().items()}


def generate_from_arrays(arrays: dict[str, np.ndarray], content: np.ndarray) -> np.ndarray:
    """``G(content)`` with the generator saved by :func:`generator_arrays` (CPU, float32)."""
    weights = {k[len(GENERATOR_PREFIX):]: torch.as_tensor(v) for k, v in arrays.items()
               if k.startswith(GENERATOR_PREFIX)}
    if not weights:
        raise ValueError("the model was saved without its generator; retrain it to add "
                         "new products")
    hidden, d_in = weights["hidden.weight"].shape
    net = Generator(d_in, hidden, weights["out.weight"].shape[0])
    net.load_state_dict(weights)
    with torch.no_grad():
        return net(torch.as_tensor(content, dtype=torch.float32)).numpy().astype(np.float32)
