"""Closed-form and neighbourhood models: popularity, item-kNN (cosine, shrinkage) and EASE.

These need no gradient descent; EASE (Steck, 2019) solves a ridge regression of every item on
all others in closed form and is the strongest simple peer on implicit feedback.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from ..dataset import Dataset
from .base import Callback, ModelConfig, Recommender, register

__all__ = ["Popularity", "ItemKNN", "EASE", "PopConfig", "ItemKNNConfig", "EASEConfig"]


class PopConfig(ModelConfig):
    """Popularity has nothing to tune."""


@register
class Popularity(Recommender):
    """Recommends the most popular unseen items to everyone (the baseline)."""

    name = "pop"
    label = "Popularity"
    config_cls = PopConfig

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        pop = np.asarray((self.seen_ > 0).sum(axis=0)).ravel().astype(np.float32)
        self.item_scores_ = pop / max(1.0, pop.max())

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_)).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "item_scores": self.item_scores_}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.item_scores_ = state["item_scores"]


class ItemKNNConfig(ModelConfig):
    neighbours: int = Field(100, ge=1, le=2000, description="Neighbours kept per item.")
    shrinkage: float = Field(10.0, ge=0.0, le=1000.0, description="Shrinks similarities of "
                             "items with few common users.")


@register
class ItemKNN(Recommender):
    """Item-based collaborative filtering with cosine similarity and shrinkage."""

    name = "itemknn"
    label = "Item-kNN (cosine)"
    config_cls = ItemKNNConfig

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        x = (self.seen_ > 0).astype(np.float32).tocsc()
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.config.shrinkage + 1e-9)
        np.fill_diagonal(sim, 0.0)
        k = min(self.config.neighbours, sim.shape[0] - 1)
        if 0 < k < sim.shape[0] - 1:  # keep the k largest per column (item as neighbour)
            cut = np.partition(sim, -k, axis=0)[-k]
            sim[sim < cut[None, :]] = 0.0
        self.similarity_ = sp.csr_matrix(sim.astype(np.float32))

    def score(self, users: np.ndarray) -> np.ndarray:
        history = (self.seen_[users] > 0).astype(np.float32)
        return np.asarray((history @ self.similarity_).todense(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {**super()._state(), "sim_data": s.data, "sim_indices": s.indices,
                "sim_indptr": s.indptr}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.similarity_ = sp.csr_matrix((state["sim_data"], state["sim_indices"],
                                          state["sim_indptr"]), shape=(self.n_items_,) * 2)


class EASEConfig(ModelConfig):
    l2: float = Field(200.0, gt=0.0, le=1e5, description="L2 regularisation λ.")


@register
class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder: B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹."""

    name = "ease"
    label = "EASE"
    config_cls = EASEConfig

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        b = ease_weights((self.seen_ > 0).astype(np.float32), self.config.l2, self.device_)
        self.weights_ = b

    def score(self, users: np.ndarray) -> np.ndarray:
        history = (self.seen_[users] > 0).astype(np.float32)
        return np.asarray(history @ self.weights_, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "weights": self.weights_}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.weights_ = state["weights"]


def ease_weights(x: sp.csr_matrix, l2: float, device: str = "cpu") -> np.ndarray:
    """Closed-form EASE item-item weights (on the GPU when ``device`` is CUDA)."""
    gram = (x.T @ x).toarray().astype(np.float64)
    if device.startswith("cuda"):
        import torch

        g = torch.as_tensor(gram, device=device)
        g.diagonal().add_(l2)
        p = torch.linalg.inv(g)
        b = p / (-p.diagonal())
        b.fill_diagonal_(0.0)
        return b.float().cpu().numpy()
    gram[np.diag_indices_from(gram)] += l2
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32)
