"""Content + collaborative hybrid for cold and sparse items.

Every item has a *content vector*: its text embedding (sentence model, or TF-IDF + SVD, see
:mod:`recsys.features.text`), optionally joined with one-hot category / subcategory / brand / price
bucket fields, L2-normalised. A user's score for item ``j`` blends

* a **collaborative** part: EASE (Steck, 2019) item-item weights, ``Σ_{i∈u} B_ij``, and
* a **content** part: the user's content profile (sum of the vectors of their items) against the
  item's vector, ``Σ_{i∈u} c_i·c_j``, rescaled to the magnitude of the collaborative weights,

with a per-item weight ``α_j = w + (1 − w)·s / (s + n_j)`` on the content part, where ``n_j`` is
the item's number of training interactions, ``w`` the ``content_weight`` and ``s`` the
``cold_shrink``. An item nobody has interacted with (``n_j = 0``) is scored by content alone —
EASE gives it nothing — while a well-known item is scored mostly collaboratively.

``cold_path="generated"`` adds, on the same share ``α_j``, a collaborative score generated from
the item's content (:mod:`recsys.models.coldstart`: a generator trained on the warm items maps
content to the embedding a low-rank factorisation of the EASE weights gives them), so a new
product is ranked by what buyers of similar-looking products bought as well as by its words.

``scale_search`` (on by default) multiplies the content and generated parts by the factor with
the best full-list recall on an inner item cold start split of the training data
(:mod:`recsys.models.cold_scale`): how many new products deserve a slot depends on the shop.

The content path is closed form, with no epochs; the generated path trains the generator for a
fixed number of epochs on the CPU in seconds. Scoring is one sparse × dense product plus one low-rank
product per block of users (on the GPU when the model's device is CUDA).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, FitStopped, ModelConfig, Recommender
from recsys.models.content import (
    ContentItems,
    content_blend,
    content_vectors,
    ease_item_weights,
    item_content,
)
from recsys.models.registry import register

__all__ = ["HybridConfig", "Hybrid", "content_vectors", "ease_item_weights", "content_blend"]

log = logging.getLogger(__name__)


class HybridConfig(ModelConfig):
    """Hybrid settings (defaults chosen on the demo shop with held-out cold items, and ml-100k)."""

    l2: float = Field(200.0, gt=0.0, le=1e5, description="EASE L2 regularisation λ.")
    content_weight: float = Field(0.1, ge=0.0, le=1.0, description="Share of the content score "
                                  "for items with many interactions (cold items always get 1).")
    cold_shrink: float = Field(2.0, ge=0.0, le=1000.0, description="Interactions at which the "
                               "content share has moved half-way from 1 to content_weight.")
    content_scale: float = Field(1.0, ge=0.0, le=100.0, description="Size of content scores "
                                 "relative to collaborative ones (higher puts more new and tail "
                                 "items in the lists).")
    side_weight: float = Field(0.3, ge=0.0, le=1.0, description="Share of the categorical "
                               "fields (category, brand, price bucket) in the content vector.")
    text_method: Literal["auto", "sentence-model", "tfidf"] = Field(
        "auto", description="Text embedding: the sentence model or TF-IDF + SVD; auto measures "
        "both on an inner split of the training data (hidden products ranked by users' "
        "profiles) and keeps the sentence model unless TF-IDF is better beyond noise.")
    cold_path: Literal["content", "generated"] = Field(
        "generated", description="How new and rare products are scored: content = their text "
        "and fields against the user's profile; generated = that plus collaborative embeddings "
        "generated from their content (chosen on inner item cold start splits).")
    generator: Literal["adversarial", "mapping"] = Field(
        "mapping", description="generated path: the generator (see the coldstart model).")
    generated_scale: float = Field(1.0, ge=0.0, le=100.0, description="generated path: size "
                                   "of the generated scores relative to collaborative ones.")
    scale_search: bool = Field(True, description="Multiply the content and generated scores "
                               "by the factor (0.25–4) with the best full-list recall on an "
                               "inner item cold start split of the training data (one extra "
                               "fit on that split).")


@register
class Hybrid(ContentItems, Recommender):
    """EASE blended with a text/attribute content profile, favouring content for rare items."""

    name = "hybrid"
    label = "Hybrid (EASE + item text)"
    config_cls = HybridConfig
    note_attrs = (("text", "text_note_"), ("new products", "scale_note_"))

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        from recsys.models.memory import check_dense_items

        check_dense_items(self.name, self.label, self.seen_.shape[1])
        cfg = self.config
        t0 = time.perf_counter()
        x = (self.seen_ > 0).astype(np.float32).tocsr()
        content, self.text_note_, self.encoder_ = item_content(
            dataset, x, text_method=cfg.text_method, side_weight=cfg.side_weight,
            device=self.device_, seed=cfg.seed)
        self.cold_scale_, self.scale_note_ = 1.0, ""
        if cfg.scale_search:
            from recsys.models.cold_scale import choose_cold_scale

            def scorer(train: sp.csr_matrix) -> Any:
                parts = self._parts(dataset, train, content)
                return lambda users: _score_parts(parts, train[users])

            choice = choose_cold_scale(x, scorer, seed=cfg.seed, dataset=dataset)
            self.cold_scale_, self.scale_note_ = choice.scale, choice.note
        parts = self._parts(dataset, x, content)
        self.gamma_, self.generator_ = parts["gamma"], parts["generator"]
        self.collab_, self.content_, self.alpha_ = parts["collab"], content, parts["alpha"]
        self.content_out_ = (parts["content_out"] * self.cold_scale_).astype(np.float32)
        self.user_proj_ = parts["user_proj"]
        self.gen_out_ = (parts["gen_out"] * self.cold_scale_).astype(np.float32)
        self._to_device()
        seconds = time.perf_counter() - t0
        metrics = {"seconds": seconds, "gamma": parts["gamma"], "cold_scale": self.cold_scale_}
        if validation is not None:
            from recsys.evaluation import validation_metrics

            metrics.update(validation_metrics(self, dataset, validation))
        self.history_.append({"epoch": 1, **metrics})
        if callback is not None:
            with contextlib.suppress(FitStopped):  # nothing left to cancel: fitting is done
                callback(1, metrics)

    def _parts(self, dataset: Dataset, x: sp.csr_matrix, content: np.ndarray
               ) -> dict[str, Any]:
        """The scoring arrays fitted on the binary training matrix ``x`` (the whole training
        data, or the inner split of the scale search): EASE weights times ``1 − α``, the
        content and generated parts at their configured size, and the content share."""
        cfg = self.config
        popularity = np.diff(x.tocsc().indptr)
        collab = ease_item_weights(x, cfg.l2, self.device_)
        alpha = content_blend(popularity, cfg.content_weight, cfg.cold_shrink)
        # Match the content part's magnitude to the collaborative weights over warm items:
        # ‖C C_warmᵀ‖_F (diagonal left out, like EASE's) computed in the content dimension.
        warm = popularity > 0
        collab_norm = float(np.linalg.norm(collab[:, warm])) if warm.any() else 0.0
        cw = content[warm].astype(np.float64)
        gram = content.T.astype(np.float64) @ content.astype(np.float64)
        self_sq = np.einsum("ij,ij->i", cw, cw)
        content_sq = float(((cw @ gram) * cw).sum() - np.sum(self_sq ** 2))
        ratio = collab_norm / np.sqrt(content_sq) if content_sq > 0 and collab_norm > 0 else 1.0
        gamma = cfg.content_scale * ratio
        user_proj = np.zeros((len(alpha), 0), dtype=np.float32)
        gen_out = np.zeros((len(alpha), 0), dtype=np.float32)
        generator: dict[str, np.ndarray] = {}
        if cfg.cold_path == "generated":
            user_proj, gen_out, generator = self._fit_generated(dataset, x, collab, content,
                                                                alpha)
        return {"collab": collab * (1.0 - alpha)[None, :], "content": content,
                "content_out": (content * (alpha * gamma)[:, None]).astype(np.float32),
                "user_proj": user_proj, "gen_out": gen_out, "alpha": alpha,
                "gamma": float(gamma), "generator": generator}

    def _fit_generated(self, dataset: Dataset, x: sp.csr_matrix, collab: np.ndarray,
                       content: np.ndarray, alpha: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Train the content → embedding generator on the warm items of ``x`` and return its
        scoring arrays (user projection, scaled generated embeddings) and its weights (for
        products added later). The hybrid still
        reports once, when it is done: the generator's epochs are logged, not added to the
        history."""
        from recsys.models.coldstart import GeneratorSettings, generate_embeddings

        cfg = self.config
        gen = generate_embeddings(self, x, collab, content,
                                  GeneratorSettings(generator=cfg.generator, seed=cfg.seed),
                                  dataset=dataset, callback=None)
        log.info("hybrid: generator trained for %d epochs", len(self.history_))
        self.history_.clear()
        return gen.user_proj, (gen.items * (alpha * cfg.generated_scale)[:, None]).astype(
            np.float32), gen.generator

    def _to_device(self) -> None:
        self.tensors_: dict[str, Any] | None = None
        if self.device_.startswith("cuda"):
            import torch

            dev = torch.device(self.device_)
            self.tensors_ = {k: torch.as_tensor(np.ascontiguousarray(v), device=dev)
                             for k, v in (("collab", self.collab_), ("content", self.content_),
                                          ("content_out", self.content_out_),
                                          ("user_proj", self.user_proj_),
                                          ("gen_out", self.gen_out_))}

    def score_parts(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Collaborative and content parts of :meth:`score` (their sum), as NumPy arrays; the
        content part holds the generated scores too (generated cold path)."""
        parts = {"collab": self.collab_, "content": self.content_,
                 "content_out": self.content_out_, "user_proj": self.user_proj_,
                 "gen_out": self.gen_out_}
        return _score_parts(parts, self.seen_[np.asarray(users, dtype=np.int64)])

    def score(self, users: np.ndarray) -> Any:
        if self.tensors_ is not None:
            import torch

            t = self.tensors_
            history = (self.seen_[np.asarray(users, dtype=np.int64)] > 0).astype(np.float32)
            h = torch.as_tensor(history.toarray(), device=t["collab"].device)
            out = h @ t["collab"] + (h @ t["content"]) @ t["content_out"].T
            if t["gen_out"].shape[1]:
                out += (h @ t["user_proj"]) @ t["gen_out"].T
            return out
        collab, content = self.score_parts(users)
        return collab + content

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "collab": self.collab_, "content": self.content_,
                "content_out": self.content_out_, "alpha": self.alpha_,
                "user_proj": self.user_proj_, "gen_out": self.gen_out_,
                "text_note": np.array(self.text_note_), "cold_scale": np.array(self.cold_scale_),
                "scale_note": np.array(self.scale_note_), "gamma": np.float64(self.gamma_),
                **self._encoder_state()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.collab_ = state["collab"]
        self.content_ = state["content"]
        self.content_out_ = state["content_out"]
        self.alpha_ = state["alpha"]
        empty = np.zeros((len(self.alpha_), 0), dtype=np.float32)  # saved before the path
        self.user_proj_ = state.get("user_proj", empty)
        self.gen_out_ = state.get("gen_out", empty)
        self.text_note_ = str(state["text_note"]) if "text_note" in state else ""
        self.cold_scale_ = float(state["cold_scale"]) if "cold_scale" in state else 1.0
        self.scale_note_ = str(state["scale_note"]) if "scale_note" in state else ""
        self.gamma_ = float(state["gamma"]) if "gamma" in state else self._saved_gamma()
        self._load_encoder(state)
        self._to_device()

    def _grow(self, n_users: int, n_items: int) -> None:
        """New products (``new_content_``, see :class:`ContentItems`): scored by content alone
        (content share 1, no EASE weights), plus their generated embedding on the generated
        path, at the chosen cold scale: exactly as a catalog product without interactions was
        at training."""
        if self.new_content_ is None:
            return
        fresh = self.new_content_.astype(np.float32)
        scale = np.float32(self.cold_scale_)
        self.content_ = np.concatenate([self.content_, fresh])
        self.alpha_ = np.concatenate([self.alpha_, np.ones(len(fresh), np.float32)])
        self.content_out_ = np.concatenate([self.content_out_,
                                            fresh * np.float32(self.gamma_) * scale])
        self._grow_generated(n_items, self.config.generated_scale, scale)
        self._to_device()

    def _saved_gamma(self) -> float:
        """γ of a model saved before it was stored: content_out = content · α · γ · scale."""
        scale = self.content_ * self.alpha_[:, None] * self.cold_scale_
        big = np.abs(scale) > 1e-6
        return float(np.median(self.content_out_[big] / scale[big])) if big.any() else 1.0


def _score_parts(parts: dict[str, np.ndarray], rows: sp.csr_matrix
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Collaborative and content (+ generated) scores of the users whose training rows are
    ``rows``, from the arrays of :meth:`Hybrid._parts`."""
    history = (rows > 0).astype(np.float32)
    collab = np.asarray(history @ parts["collab"], dtype=np.float32)
    profile = np.asarray(history @ parts["content"], dtype=np.float32)
    content = profile @ parts["content_out"].T
    if parts["gen_out"].shape[1]:
        content += np.asarray(history @ parts["user_proj"], dtype=np.float32) @ parts["gen_out"].T
    return collab, content
