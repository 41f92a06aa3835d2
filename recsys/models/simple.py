"""Closed-form and neighbourhood models: popularity, item-kNN (cosine, shrinkage) and EASE.

These need no gradient descent; EASE (Steck, 2019) solves a ridge regression of every item on
all others in closed form and is the strongest simple peer on implicit feedback. Item-kNN and
EASE hold dense items × items matrices, so a catalog whose matrices would exceed the memory
bound is refused before fitting (:mod:`recsys.models.memory`), naming ALS and BPR instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, ModelConfig, Recommender, pack_csr, unpack_csr
from recsys.models.memory import check_dense_items
from recsys.models.online import pad_csr, pad_square
from recsys.models.registry import register

__all__ = ["Popularity", "ItemKNN", "EASE", "PopConfig", "ItemKNNConfig", "EASEConfig", "ease_weights",
           "recency_weighted", "item_attributes"]


class PopConfig(ModelConfig):
    """Popularity has nothing to tune."""


@register
class Popularity(Recommender):
    """Recommends the most popular unseen items to everyone (the baseline)."""

    name = "pop"
    label = "Popularity"
    config_cls = PopConfig
    adds_items = True

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        self._count()

    def _count(self) -> None:
        pop = np.asarray((self.seen_ > 0).sum(axis=0)).ravel().astype(np.float32)
        self.item_scores_ = pop / max(1.0, pop.max())

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Counts recomputed from the updated histories: everyone's list may change."""
        self._count()
        return "popularity counts updated"

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
    adds_items = True

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        check_dense_items(self.name, self.label, self.seen_.shape[1])
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

    def _grow(self, n_users: int, n_items: int) -> None:
        """New items get no neighbours (no co-occurrence signal until a refit)."""
        self.similarity_ = pad_square(self.similarity_, n_items)

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), **pack_csr("sim", self.similarity_)}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.similarity_ = unpack_csr(state, "sim", (self.n_items_, self.n_items_))


class EASEConfig(ModelConfig):
    l2: float = Field(200.0, gt=0.0, le=1e5, description="L2 regularisation λ.")
    history_half_life_days: float | None = Field(
        None, gt=0.0, le=3650.0, description="Weight each user's past interactions by recency "
        "(half-life in days before the last timestamp) when scoring; off when empty. Helps when "
        "the next purchases follow the latest ones.")
    side_weight: float = Field(0.0, ge=0.0, le=1000.0, description="Weight of item side "
                               "information (category, genres, brand) added to the item "
                               "co-occurrences, as if every attribute were a user who had all "
                               "items sharing it (collective EASE); 0 = off.")
    context_weight: float = Field(0.0, ge=0.0, le=1.0, description="Weight of the items a user "
                                  "saw below the rating threshold (context pairs) in their "
                                  "history: a weak 'watched it' signal next to the positives; "
                                  "0 = off.")


@register
class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder: B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹.

    Optionally the user's history is weighted by recency at scoring time (the item-item
    weights still come from the binary matrix), and context pairs (items seen below the rating
    threshold) join the history with ``context_weight``, in the co-occurrences and at scoring.
    """

    name = "ease"
    label = "EASE"
    config_cls = EASEConfig
    adds_items = True

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        check_dense_items(self.name, self.label, self.seen_.shape[1])
        context = _weighted_context(dataset, self.config.context_weight)
        binary = (self.seen_ > 0).astype(np.float32) + context
        side = item_attributes(dataset) if self.config.side_weight > 0 else None
        self.weights_ = ease_weights(binary, self.config.l2, self.device_, side=side,
                                     side_weight=self.config.side_weight)
        history = recency_weighted(dataset, self.config.history_half_life_days) + context
        self.history_matrix_ = sp.csr_matrix(history, dtype=np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_matrix_[users] @ self.weights_, dtype=np.float32)

    def _grow(self, n_users: int, n_items: int) -> None:
        """New items get zero weights in B (no collaborative signal until a refit)."""
        self.weights_ = pad_square(self.weights_, n_items)
        self.history_matrix_ = pad_csr(self.history_matrix_, n_users, n_items)

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Fold-in: the affected users' history rows (X) gain the new pairs at weight 1 (the
        most recent weight when recency weighting is on); B is kept, not refreshed."""
        binary = (sp.csr_matrix(new) > 0).astype(np.float32)
        self.history_matrix_ = sp.csr_matrix(self.history_matrix_.maximum(binary),
                                             dtype=np.float32)
        return "X-row fold-in (B kept)"

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "weights": self.weights_, **pack_csr("h", self.history_matrix_)}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.weights_ = state["weights"]
        self.history_matrix_ = unpack_csr(state, "h", self.seen_.shape)


def _weighted_context(dataset: Dataset, weight: float) -> sp.csr_matrix:
    """The dataset's context pairs at ``weight`` (an all-zero matrix when off or absent)."""
    if weight <= 0 or not dataset.n_context_pairs:
        return sp.csr_matrix(dataset.matrix.shape, dtype=np.float32)
    return (sp.csr_matrix(dataset.context_matrix, dtype=np.float32) * weight).tocsr()


def recency_weighted(dataset: Dataset, half_life_days: float | None) -> sp.csr_matrix:
    """User × item history where each pair weighs 0.5^(age / half-life); binary when off or
    when the dataset has no timestamps. Age is counted back from the dataset's last event."""
    binary = (sp.csr_matrix(dataset.matrix) > 0).astype(np.float32)
    if not half_life_days or not dataset.has_timestamps or dataset.n_pairs == 0:
        return binary
    pairs = dataset.pairs
    age = (pairs["timestamp"].max() - pairs["timestamp"]).dt.total_seconds().to_numpy() / 86400
    weight = np.power(0.5, age / half_life_days).astype(np.float32)
    return sp.csr_matrix((weight, (pairs["user"].to_numpy(), pairs["item"].to_numpy())),
                         shape=binary.shape)


def item_attributes(dataset: Dataset) -> sp.csr_matrix | None:
    """One-hot item attributes (attributes × items) from the catalog's categorical columns:
    ``category``, ``subcategory``, ``brand`` and ``genres`` (``|``-separated); ``None`` if none."""
    blocks = []
    for column in ("category", "subcategory", "brand", "genres"):
        if column not in dataset.catalog.columns:
            continue
        values = dataset.catalog[column].astype("string").fillna("")
        dummies = (values.str.get_dummies(sep="|") if column == "genres"
                   else pd.get_dummies(values.mask(values == "")).astype(np.float32))
        if dummies.shape[1]:
            blocks.append(sp.csr_matrix(dummies.to_numpy(dtype=np.float32).T))
    return sp.vstack(blocks).tocsr() if blocks else None


def ease_weights(x: sp.csr_matrix, l2: float, device: str = "cpu", *,
                 side: sp.csr_matrix | None = None, side_weight: float = 0.0) -> np.ndarray:
    """Closed-form EASE item-item weights (on the GPU when ``device`` is CUDA).

    ``side`` (attributes × items) adds ``side_weight · FᵀF`` to the co-occurrence matrix.
    """
    gram = (x.T @ x).toarray().astype(np.float64)
    if side is not None and side_weight > 0:
        gram += side_weight * (side.T @ side).toarray()
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
