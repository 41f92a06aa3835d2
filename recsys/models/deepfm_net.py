"""The DeepFM network: field embeddings shared by an FM part and an MLP, split per side.

Kept apart from :mod:`recsys.models.deepfm` (the recommender: features, training, scoring),
which imports it when it builds a network. Every score is the sum of a user part and an item part (see
:class:`SideTerms`), so the item parts of all items can be computed once and reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["DeepFMNet", "NetShape", "SideTerms"]


class SideTerms(NamedTuple):
    """One side's (user or item) share of the DeepFM score, one row per user or item.

    ``first``: first-order weights plus the FM pairs inside the side; ``sum``: the sum of the
    side's field embeddings (its dot product with the other side's gives the cross pairs);
    ``hidden``: the side's share of the first MLP layer; ``sq``: squared embedding norms (L2).
    """

    first: torch.Tensor
    sum: torch.Tensor
    hidden: torch.Tensor
    sq: torch.Tensor

    def rows(self, index: slice | torch.Tensor) -> SideTerms:
        """The terms of some rows only."""
        return SideTerms(*(t[index] for t in self))

    def repeat_rows(self, times: int) -> SideTerms:
        """Every row repeated ``times`` times in place (aligned with ``times`` negatives each)."""
        return SideTerms(*(t.repeat_interleave(times, dim=0) for t in self))


@dataclass(frozen=True)
class NetShape:
    """Sizes of a DeepFM network: field values, fields per side, text width and layers."""

    n_values: int
    n_user_fields: int
    n_item_fields: int
    text_dim: int
    factors: int
    mlp_width: int
    mlp_layers: int
    dropout: float


class DeepFMNet(nn.Module):
    """DeepFM parameters (created under the caller's seeded RNG, in a fixed order)."""

    def __init__(self, shape: NetShape) -> None:
        super().__init__()
        k, text_dim = shape.factors, shape.text_dim
        self.n_user_fields = shape.n_user_fields
        self.embed = nn.Embedding(shape.n_values, k)
        self.first = nn.Embedding(shape.n_values, 1)
        nn.init.normal_(self.embed.weight, std=0.01)
        nn.init.zeros_(self.first.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        self.text_proj = nn.Linear(text_dim, k, bias=False) if text_dim else None
        self.text_first = nn.Linear(text_dim, 1, bias=False) if text_dim else None
        if self.text_proj is not None and self.text_first is not None:
            nn.init.normal_(self.text_proj.weight, std=1.0 / math.sqrt(text_dim))
            nn.init.zeros_(self.text_first.weight)
        n_fields = shape.n_user_fields + shape.n_item_fields + (1 if text_dim else 0)
        widths = [max(4, shape.mlp_width // 2 ** i) for i in range(shape.mlp_layers)]
        self.w_user = nn.Linear(shape.n_user_fields * k, widths[0], bias=False)
        self.w_item = nn.Linear((n_fields - shape.n_user_fields) * k, widths[0])
        layers: list[nn.Module] = []
        for a, b in pairwise(widths):
            layers += [nn.ReLU(), nn.Dropout(shape.dropout), nn.Linear(a, b)]
        layers += [nn.ReLU(), nn.Dropout(shape.dropout), nn.Linear(widths[-1], 1)]
        self.mlp_rest = nn.Sequential(*layers)

    def _side(self, idx: torch.Tensor, text: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(idx)  # (n, F, k)
        first = self.first(idx).sum(dim=(1, 2))
        if text is not None and self.text_proj is not None and self.text_first is not None:
            emb = torch.cat([emb, self.text_proj(text).unsqueeze(1)], dim=1)
            first = first + self.text_first(text).squeeze(1)
        return emb, first

    def user_terms(self, idx: torch.Tensor) -> SideTerms:
        """User-side terms of users given by their field value indices ``(n, user fields)``."""
        emb, first = self._side(idx, None)
        return self._terms(emb, first, self.w_user(emb.flatten(1)))

    def item_terms(self, idx: torch.Tensor, text: torch.Tensor | None) -> SideTerms:
        """Item-side terms of items (field value indices and, when used, text vectors)."""
        emb, first = self._side(idx, text)
        return self._terms(emb, first, self.w_item(emb.flatten(1)))

    @staticmethod
    def _terms(emb: torch.Tensor, first: torch.Tensor, hidden: torch.Tensor) -> SideTerms:
        s = emb.sum(dim=1)
        sq = (emb * emb).sum(dim=(1, 2))
        # FM pairs inside this side: ½(‖Σv‖² − Σ‖v‖²)
        inner = 0.5 * ((s * s).sum(1) - sq)
        return SideTerms(first + inner, s, hidden, sq)

    def pair_scores(self, u: SideTerms, i: SideTerms) -> torch.Tensor:
        """Scores of aligned pairs: ``u`` terms (n, …) with ``i`` terms (n, …)."""
        cross = (u.sum * i.sum).sum(-1)
        deep = self.mlp_rest(u.hidden + i.hidden).squeeze(-1)
        return self.bias + u.first + i.first + cross + deep

    def all_scores(self, u: SideTerms, i: SideTerms) -> torch.Tensor:
        """Scores of every user × every item (users (U, …), items (I, …))."""
        cross = u.sum @ i.sum.T
        deep = self.mlp_rest(u.hidden[:, None, :] + i.hidden[None, :, :]).squeeze(-1)
        return self.bias + u.first[:, None] + i.first[None, :] + cross + deep
