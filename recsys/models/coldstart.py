"""``coldstart``: collaborative embeddings generated from content for new and rare products.

A product nobody has bought yet has no collaborative signal, only its catalog text and fields.
This model learns, on the warm products, a map from a product's content to the embedding a
collaborative model gives it, and scores a new product with the embedding generated from its
content, in the same space (and so on the same scale) as the warm products' scores:

1. **Factor model.** EASE (Steck, 2019) item weights ``B`` on the training matrix, factorised
   by a truncated SVD, ``B ≈ P Qᵀ`` (``factors`` dimensions): a user's embedding is
   ``e_u = Σ_{i∈u} P_i`` and a warm item's is ``Q_i``, so ``e_u·Q_j`` is a low-rank EASE score.
   Closed form and fast on the CPU, and more accurate than BPR on the sparse shops at hand.
2. **Generator** ``G(content) → embedding`` (:mod:`.coldstart_net`), trained on warm pairs
   ``(u, i)`` with the user embedding leaving item ``i`` out:

   * ``generator="adversarial"`` — in the spirit of GAR (Chen et al., SIGIR 2022, "Generative
     Adversarial Framework for Cold-Start Item Recommendation"): a recommender / critic ``D``
     (a learned linear map of the user embedding) is trained to rank each real warm embedding
     above the one generated from the item's content for the item's users, while ``G`` is
     trained to make its embeddings rank as high as the real ones, plus a ranking loss;
   * ``generator="mapping"`` — the non-adversarial comparison (CB2CF / Heater style):
     regression of ``G(c_i)`` on ``Q_i`` plus the same ranking loss with fixed user vectors.

3. **Scoring.** ``score_j = (1 − β_j)·Σ_{i∈u} B_ij + β_j·γ·(e_u A)·G(c_j)`` with
   ``β_j = s/(s + n_j)`` (1 for a product without interactions, ``s`` = ``cold_shrink``,
   ``n_j`` its training interactions) and ``γ`` = ``cold_scale``: warm products are ranked by
   EASE, new ones by their generated embedding, rare ones by a mix (the spirit of the hybrid's
   content share). ``A`` is the critic's map (the identity for the mapping generator).

Trained in the shared loop (:func:`recsys.models.training.train`: device, AMP on CUDA, cancel
through the callback) for a fixed number of epochs: a validation split of warm pairs says
nothing about new products, so it does not steer the generator. What is saved is plain arrays
(EASE weights scaled by ``1 − β``, the user-side projection ``P A``, the generated embeddings
scaled by ``β γ``), so scoring needs no torch network. Defaults were chosen on inner item cold
start splits of the training parts of the demo shop and Online Retail (see
``benchmarks/bench_coldstart.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.coldstart_net import GENERATOR_PREFIX, generate_from_arrays, generator_arrays
from recsys.models.content import ContentItems
from recsys.models.registry import register
from recsys.models.training import TrainConfig, make_generator, train

__all__ = ["ColdStartConfig", "ColdStart", "GeneratorSettings", "GeneratedEmbeddings",
           "factorise", "generate_embeddings", "GENERATORS", "GENERATOR_PREFIX",
           "generator_arrays", "generate_from_arrays"]

log = logging.getLogger(__name__)

Generator = Literal["adversarial", "mapping"]
GENERATORS: tuple[str, ...] = ("adversarial", "mapping")


class GeneratorSettings(TrainConfig):
    """How the content → embedding generator is trained (shared by ``coldstart`` and the
    hybrid's generated cold path)."""

    generator: Generator = Field("mapping", description="adversarial = GAR-style generator "
                                 "trained against a critic; mapping = content → embedding "
                                 "regression plus a ranking loss (no critic).")
    factors: int = Field(64, ge=2, le=512, description="Size of the collaborative embeddings "
                         "(rank of the EASE factorisation).")
    hidden: int = Field(256, ge=8, le=4096, description="Hidden units of the generator.")
    epochs: int = Field(60, ge=1, le=2000, description="Passes over the warm items.")
    batch_size: int = Field(512, ge=2, le=65_536, description="Warm items per update (the "
                            "batch's other items are each pair's negatives).")
    users_per_item: int = Field(4, ge=1, le=256, description="Buyers drawn per item and "
                                "update.")
    lr: float = Field(0.003, gt=0.0, le=1.0, description="Adam learning rate.")
    weight_decay: float = Field(1e-5, ge=0.0, le=1.0, description="Adam weight decay.")
    adversarial_weight: float = Field(0.5, ge=0.0, le=1.0, description="adversarial: share "
                                      "of the generator's loss that fools the critic (the rest "
                                      "ranks generated positives above generated negatives).")
    regression_weight: float = Field(1.0, ge=0.0, le=100.0, description="mapping: weight of "
                                     "the regression on the warm embeddings.")


class ColdStartConfig(GeneratorSettings):
    """``coldstart`` settings: the factor model, the generator and how scores are blended."""

    l2: float = Field(200.0, gt=0.0, le=1e5, description="EASE L2 regularisation λ.")
    cold_shrink: float = Field(1.0, ge=0.0, le=1000.0, description="Interactions at which a "
                               "product's generated share has fallen to one half.")
    cold_scale: float = Field(2.0, ge=0.0, le=100.0, description="Size of generated scores "
                              "relative to collaborative ones (higher puts more new products "
                              "in the lists).")
    side_weight: float = Field(0.3, ge=0.0, le=1.0, description="Share of the categorical "
                               "fields (category, brand, price bucket) in the content vector.")
    text_method: Literal["auto", "sentence-model", "tfidf"] = Field(
        "auto", description="Text embedding: the sentence model or TF-IDF + SVD; auto measures "
        "both on an inner split of the training data (hidden products ranked by users' "
        "profiles) and keeps the sentence model unless TF-IDF is better beyond noise.")


def factorise(weights: np.ndarray, factors: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``B ≈ P Qᵀ`` by a randomised truncated SVD (``P = U√S``, ``Q = V√S``), rescaled so the
    item embeddings have unit mean norm (the products ``P Qᵀ`` are unchanged)."""
    from sklearn.utils.extmath import randomized_svd

    k = int(min(factors, max(1, min(weights.shape) - 1)))
    u, s, vt = randomized_svd(weights, k, n_iter=4, random_state=seed)
    root = np.sqrt(s)[None, :]
    p, q = u * root, vt.T * root
    norms = np.linalg.norm(q, axis=1)
    scale = float(norms[norms > 0].mean()) if (norms > 0).any() else 1.0
    return (p * scale).astype(np.float32), (q / scale).astype(np.float32)


@dataclass(frozen=True)
class GeneratedEmbeddings:
    """What scoring needs: ``score_gen(u, j) = (Σ_{i∈u} user_proj_i)·items_j``."""

    user_proj: np.ndarray  # items × k: P A
    items: np.ndarray      # items × k: G(content) for every item
    temperature: float
    #: The trained generator as plain arrays (:func:`generator_arrays`): it embeds products
    #: added after training (online updates).
    generator: dict[str, np.ndarray] = field(default_factory=dict)


class _WarmItems:
    """Batches of warm items, each with ``users_per_item`` of its buyers drawn at random: the
    generator runs once per item of a batch, and a batch's other items are each pair's
    negatives. Every warm item comes once per epoch, so rare items weigh as much as best
    sellers (new products are rare ones too)."""

    def __init__(self, x: sp.csr_matrix, device: torch.device) -> None:
        csc = sp.csc_matrix(x)
        counts = np.diff(csc.indptr)
        self.items = torch.as_tensor(np.flatnonzero(counts > 0).astype(np.int64), device=device)
        self.start = torch.as_tensor(csc.indptr[:-1].astype(np.int64), device=device)
        self.count = torch.as_tensor(counts.astype(np.int64), device=device)
        self.buyers = torch.as_tensor(csc.indices.astype(np.int64), device=device)
        self.device = device

    def __len__(self) -> int:
        return len(self.items)

    def epoch(self, batch_size: int, users_per_item: int, gen: torch.Generator
              ) -> Iterator[tuple[torch.Tensor, ...]]:
        """``(users[N], pair items[N], batch items[B], column of each pair's item[N])``."""
        order = self.items[torch.randperm(len(self.items), generator=gen, device=self.device)]
        for start in range(0, len(order), batch_size):
            items = order[start:start + batch_size]
            col = torch.arange(len(items), device=self.device).repeat_interleave(users_per_item)
            pair_items = items[col]
            draw = torch.rand(len(col), generator=gen, device=self.device)
            offset = (draw * self.count[pair_items]).long().clamp_(max=self.count[pair_items] - 1)
            yield self.buyers[self.start[pair_items] + offset], pair_items, items, col


def generate_embeddings(model: Recommender, x: sp.csr_matrix, weights: np.ndarray,
                        content: np.ndarray, cfg: GeneratorSettings, *, dataset: Dataset,
                        callback: Callback | None) -> GeneratedEmbeddings:
    """Factorise the EASE ``weights``, train the generator on the warm items of ``x`` and
    return the user projection and the generated embedding of every item.

    ``model`` receives the epoch history (``history_``) and its ``device_`` is used.
    """
    from recsys.models.coldstart_net import GeneratorNet, adversarial_loss, mapping_loss

    device = torch.device(model.device_)
    p, q = factorise(weights, cfg.factors, cfg.seed)
    popularity = np.diff(x.tocsc().indptr)
    warm = popularity > 0
    net = GeneratorNet(content.shape[1], cfg.hidden, p.shape[1])
    net.reset_parameters(make_generator(cfg.seed))
    net = net.to(device)
    if warm.sum() < 2 or not x.nnz:
        log.warning("%s: fewer than two items with interactions; the generator is untrained",
                    model.name)
        return _finish(net, p, content, 1.0, device)
    p_t = torch.as_tensor(p, device=device)
    q_t = torch.as_tensor(q, device=device)
    c_t = torch.as_tensor(content, device=device)
    e_t = torch.as_tensor(np.asarray(x @ p, dtype=np.float32), device=device)
    batches = _WarmItems(x, device)
    with torch.no_grad():  # logits in units of the spread of the real positive scores
        u, i, _, _ = next(iter(batches.epoch(4096, 4, make_generator(cfg.seed, device))))
        real = ((e_t[u] - p_t[i]) * q_t[i]).sum(-1)
        temperature = float(real.std().clamp(min=1e-4).item()) if len(real) > 1 else 1.0

    def loss_fn(users: torch.Tensor, pair_items: torch.Tensor, items: torch.Tensor,
                col: torch.Tensor) -> torch.Tensor:
        u = e_t[users] - p_t[pair_items]  # the user's embedding without the item itself
        if cfg.generator == "adversarial":
            return adversarial_loss(net, u, q_t[items], c_t[items], col, temperature=temperature,
                                    adversarial_weight=cfg.adversarial_weight)
        return mapping_loss(net, u, q_t[items], c_t[items], col, temperature=temperature,
                            regression_weight=cfg.regression_weight)

    train(model, net, loss_fn,
          lambda gen: batches.epoch(cfg.batch_size, cfg.users_per_item, gen),
          cfg, dataset=dataset, generator=make_generator(cfg.seed, device), callback=callback,
          validation=None, weight_decay=cfg.weight_decay)
    return _finish(net, p, content, temperature, device)


def _finish(net: Any, p: np.ndarray, content: np.ndarray, temperature: float,
            device: torch.device) -> GeneratedEmbeddings:
    with torch.no_grad():
        items = net.generator(torch.as_tensor(content, device=device)).float().cpu().numpy()
        critic = net.critic.weight.detach().float().cpu().numpy()
    return GeneratedEmbeddings((p @ critic).astype(np.float32), items.astype(np.float32),
                               temperature, generator_arrays(net.generator))


def generated_share(popularity: np.ndarray, cold_shrink: float) -> np.ndarray:
    """Per-item share of the generated score, ``β = s/(s + n)`` (1 without interactions)."""
    n = np.asarray(popularity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(n > 0, cold_shrink / (cold_shrink + n), 1.0)
    return beta.astype(np.float32)


@register
class ColdStart(ContentItems, Recommender):
    """EASE for known products, embeddings generated from content for new and rare ones."""

    name = "coldstart"
    label = "Cold start (generated embeddings)"
    config_cls = ColdStartConfig
    iterative = True
    note_attrs = (("text", "text_note_"),)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        from recsys.models.content import ease_item_weights, item_content

        cfg = self.config
        t0 = time.perf_counter()
        x = (self.seen_ > 0).astype(np.float32).tocsr()
        content, self.text_note_, self.encoder_ = item_content(
            dataset, x, text_method=cfg.text_method, side_weight=cfg.side_weight,
            device=self.device_, seed=cfg.seed)
        weights = ease_item_weights(x, cfg.l2, self.device_)
        gen = generate_embeddings(self, x, weights, content, cfg, dataset=dataset,
                                  callback=callback)
        beta = generated_share(np.diff(x.tocsc().indptr), cfg.cold_shrink)
        self.collab_ = (weights * (1.0 - beta)[None, :]).astype(np.float32)
        self.user_proj_ = gen.user_proj
        self.gen_out_ = (gen.items * (beta * cfg.cold_scale)[:, None]).astype(np.float32)
        self.generator_ = gen.generator
        log.info("coldstart (%s) fitted in %.1f s (%s)", cfg.generator,
                 time.perf_counter() - t0, self.text_note_)

    def score_parts(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Collaborative and generated parts of :meth:`score` (their sum)."""
        history = (self.seen_[np.asarray(users, dtype=np.int64)] > 0).astype(np.float32)
        collab = np.asarray(history @ self.collab_, dtype=np.float32)
        user = np.asarray(history @ self.user_proj_, dtype=np.float32)
        return collab, user @ self.gen_out_.T

    def score(self, users: np.ndarray) -> np.ndarray:
        collab, generated = self.score_parts(users)
        return collab + generated

    def _grow(self, n_users: int, n_items: int) -> None:
        """New products (``new_content_``, see :class:`ContentItems`): no EASE weights, their
        generated embedding at the full generated share."""
        if self.new_content_ is not None:
            self._grow_generated(n_items, self.config.cold_scale)

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "collab": self.collab_, "user_proj": self.user_proj_,
                "gen_out": self.gen_out_, "text_note": np.array(self.text_note_),
                **self._encoder_state()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.collab_ = state["collab"]
        self.user_proj_ = state["user_proj"]
        self.gen_out_ = state["gen_out"]
        self.text_note_ = str(state["text_note"]) if "text_note" in state else ""
        self._load_encoder(state)
