"""The torch module of SASRec (:mod:`.sequence`): a causal self-attention encoder over item sequences.

Pre-norm transformer blocks (attention, then a two-layer feed-forward), learned positional
embeddings, and one item table shared by the input and the output. Item ``0`` of the input is
padding; item ``i + 1`` is catalog item ``i``. An item's vector is a free ID embedding, plus,
when text vectors are given, a learned linear projection of its (frozen) text vector: items
with few interactions then start from, and keep, what their text says.

Dropout draws from an explicit ``torch.Generator`` (not the global RNG), so a fit on the CPU is
exactly repeatable for a seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["SASRecNet"]


def _dropout(x: torch.Tensor, p: float, gen: torch.Generator | None, training: bool) -> torch.Tensor:
    """Inverted dropout with masks from ``gen`` (identity when not training or ``p == 0``)."""
    if not training or p <= 0.0 or gen is None:
        return x
    keep = torch.rand(x.shape, generator=gen, device=x.device) >= p
    return x * keep / (1.0 - p)


class _Block(torch.nn.Module):
    """One pre-norm transformer block with causal multi-head self-attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim)
        self.ff1 = torch.nn.Linear(dim, dim)
        self.ff2 = torch.nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, p: float,
                gen: torch.Generator | None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])
        x = x + _dropout(self.out(att.transpose(1, 2).reshape(b, n, d)), p, gen, self.training)
        h = _dropout(F.gelu(self.ff1(self.norm2(x))), p, gen, self.training)
        return x + _dropout(self.ff2(h), p, gen, self.training)


class SASRecNet(torch.nn.Module):
    """Self-attentive sequential recommender: item sequences → a state per position."""

    def __init__(self, n_items: int, dim: int, heads: int, blocks: int, max_len: int,
                 text_dim: int = 0) -> None:
        super().__init__()
        self.n_items, self.dim, self.dropout = n_items, dim, 0.0
        self.item = torch.nn.Parameter(torch.zeros(n_items + 1, dim))  # row 0: padding
        self.position = torch.nn.Parameter(torch.zeros(max_len, dim))
        self.blocks = torch.nn.ModuleList(_Block(dim, heads) for _ in range(blocks))
        self.norm = torch.nn.LayerNorm(dim)
        self.register_buffer("text", torch.zeros(n_items, text_dim))
        self.text_proj = torch.nn.Linear(text_dim, dim, bias=False) if text_dim else None

    def reset_parameters(self, gen: torch.Generator, std: float = 0.05) -> None:
        with torch.no_grad():
            self.item.normal_(0.0, std, generator=gen)
            self.item[0].zero_()
            self.position.normal_(0.0, std, generator=gen)
            for block in self.blocks:
                for lin in (block.qkv, block.out, block.ff1, block.ff2):
                    bound = 1.0 / math.sqrt(lin.in_features)
                    lin.weight.uniform_(-bound, bound, generator=gen)
                    lin.bias.zero_()
            if self.text_proj is not None:
                bound = 1.0 / math.sqrt(self.text_proj.in_features)
                self.text_proj.weight.uniform_(-bound, bound, generator=gen)

    def item_table(self) -> torch.Tensor:
        """Vectors of the catalog items (``n_items × dim``), the output side of the dot product."""
        table = self.item[1:]
        if self.text_proj is not None:
            table = table + self.text_proj(self.text)
        return table

    def forward(self, seq: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """States ``[B, L, dim]`` for left-padded sequences ``seq`` (``[B, L]``, 0 = padding)."""
        table = self.item_table()
        table = torch.cat([table.new_zeros(1, self.dim), table])
        valid = seq > 0
        n = seq.shape[1]
        x = F.embedding(seq, table) * math.sqrt(self.dim) + self.position[-n:]
        x = _dropout(x, self.dropout, gen, self.training) * valid[..., None]
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        eye = torch.eye(n, dtype=torch.bool, device=seq.device)
        mask = causal & (valid[:, None, :] | eye)  # a padding row attends to itself only: no NaN
        for block in self.blocks:
            x = block(x, mask, self.dropout, gen) * valid[..., None]
        return self.norm(x)
