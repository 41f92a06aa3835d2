"""Item vectors for the map: text, collaborative or a weighted mix of both.

* **text**: catalog text (title, description, category, brand) through
  :func:`recsys.features.text.text_embeddings` (the offline sentence model, or TF-IDF + SVD when it
  cannot be used; :attr:`ItemVectors.note` then says so).
* **cf**: item vectors of a trained model (``item_factors_`` of BPR-MF / NeuMF / Mult-VAE, the
  rows of EASE's item-item weights or item-kNN's similarities, reduced by a seeded SVD); without a
  model, a seeded SVD of the log-scaled, IDF-weighted item × user matrix of the dataset.
* **hybrid**: unit-normalised text and cf vectors concatenated with weights ``√w`` and
  ``√(1-w)``, so cosine similarity is ``w·cos_text + (1-w)·cos_cf``.

Every function returns L2-normalised ``float32`` rows aligned with ``dataset.item_ids``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recsys.features.text import item_texts, l2_normalise, text_embeddings

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset

__all__ = ["ItemVectors", "text_vectors", "cf_vectors", "model_item_vectors", "hybrid_vectors",
           "interaction_vectors", "model_key", "MapDataError"]

log = logging.getLogger(__name__)


class MapDataError(ValueError):
    """The data (or model) cannot give a map; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class ItemVectors:
    """Unit-length item vectors (row ``i`` ↔ ``dataset.item_ids[i]``) and how they were made."""

    vectors: np.ndarray
    description: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    fallback: bool = False  # text vectors from TF-IDF + SVD instead of the sentence model

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def _svd(matrix: Any, dims: int, seed: int) -> np.ndarray:
    """Seeded truncated SVD (``U·Σ``) to at most ``dims`` columns; small inputs kept as they are."""
    from sklearn.decomposition import TruncatedSVD
    from threadpoolctl import threadpool_limits

    n, m = matrix.shape
    k = min(dims, n - 1, m - 1)
    if k < 1 or m <= dims:
        return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=seed)
    with threadpool_limits(limits=1, user_api="blas"):  # thin products: one thread is faster
        return svd.fit_transform(matrix).astype(np.float32)


def text_vectors(dataset: Dataset, *, method: str = "auto", cache_dir: Any = None,
                 device: str | None = None, seed: int = 0,
                 progress: Callable[[float, str], None] | None = None) -> ItemVectors:
    """Catalog text → vectors; says plainly when the TF-IDF + SVD fallback was used."""
    emb = text_embeddings(item_texts(dataset), method=method, cache_dir=cache_dir, device=device,
                          seed=seed, progress=progress)
    fallback = emb.method != "sentence-model"
    notes: tuple[str, ...] = ()
    if fallback:
        why = emb.note or "TF-IDF was chosen"
        notes = (f"Text embedding: TF-IDF + SVD fallback, not the sentence model ({why}).",)
    return ItemVectors(l2_normalise(emb.vectors), f"text · {emb.describe()}", notes, fallback)


def interaction_vectors(dataset: Dataset, *, dims: int = 64, seed: int = 0) -> ItemVectors:
    """Collaborative vectors from the interactions alone (no trained model needed).

    Items are rows of the item × user matrix, counts log-scaled and users weighted by inverse
    frequency (a heavy buyer says less about each item), then reduced by a seeded SVD.
    """
    x = sp.csr_matrix(dataset.matrix.T, dtype=np.float32)
    if x.nnz == 0:
        raise MapDataError("No interactions: a collaborative map needs a purchase or rating "
                           "history. Use the text source instead.")
    x.data = np.log1p(x.data)
    user_items = np.diff(dataset.matrix.indptr).astype(np.float32)
    idf = np.log1p(dataset.n_items / np.maximum(user_items, 1.0)).astype(np.float32)
    x = sp.csr_matrix(x @ sp.diags(idf))
    vectors = _svd(x, dims, seed)
    cold = int((dataset.popularity == 0).sum())
    notes = (f"{cold:,} items without interactions have no collaborative signal and sit "
             "together.",) if cold else ()
    return ItemVectors(l2_normalise(vectors), f"collaborative · SVD of interactions "
                       f"({vectors.shape[1]}-d)", notes)


def _model_matrix(model: Any) -> tuple[Any, str]:
    """The item-aligned matrix a trained model offers for the map, and what it is."""
    inner = getattr(model, "inner_", None)
    if inner is not None:  # auto-tuned models wrap the chosen one
        matrix, what = _model_matrix(inner)
        return matrix, f"{what} (chosen by {model.name})"
    if isinstance(getattr(type(model), "item_factors_", None), property) or \
            "item_factors_" in vars(model):
        return np.asarray(model.item_factors_, dtype=np.float32), "item factors"
    for attr, what in (("weights_", "item-item weights"), ("collab_", "item-item weights"),
                       ("similarity_", "item similarities")):
        value = getattr(model, attr, None)
        if value is not None and getattr(value, "ndim", 0) == 2:
            return value, what
    raise MapDataError(f"The model '{model.name}' has no item vectors to map; use BPR, NeuMF, "
                       "Mult-VAE, EASE, item-kNN or the hybrid model.")


def model_item_vectors(dataset: Dataset, model: Any, *, dims: int = 64,
                       seed: int = 0) -> ItemVectors:
    """Item vectors of a trained model, reduced by a seeded SVD when wider than ``dims``."""
    matrix, what = _model_matrix(model)
    if matrix.shape[0] != dataset.n_items:
        raise MapDataError(f"The model '{model.name}' was trained on {matrix.shape[0]:,} items "
                           f"but the dataset has {dataset.n_items:,}; retrain it on this data.")
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
    else:
        matrix = np.nan_to_num(np.asarray(matrix, dtype=np.float32))
    vectors = _svd(matrix, dims, seed) if matrix.shape[1] > dims else (
        matrix.toarray() if sp.issparse(matrix) else matrix)
    return ItemVectors(l2_normalise(vectors), f"collaborative · {model.name} {what} "
                       f"({vectors.shape[1]}-d)")


def cf_vectors(dataset: Dataset, model: Any = None, *, dims: int = 64, seed: int = 0) -> ItemVectors:
    """Collaborative vectors: from ``model`` when given, else from the interactions."""
    if model is not None:
        return model_item_vectors(dataset, model, dims=dims, seed=seed)
    return interaction_vectors(dataset, dims=dims, seed=seed)


def hybrid_vectors(text: ItemVectors, cf: ItemVectors, weight: float) -> ItemVectors:
    """``weight`` of text, ``1 - weight`` of collaborative similarity, unit-normalised."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError("the hybrid weight must be between 0 and 1")
    joined = np.hstack([np.sqrt(weight) * l2_normalise(text.vectors),
                        np.sqrt(1.0 - weight) * l2_normalise(cf.vectors)])
    return ItemVectors(l2_normalise(joined), f"hybrid · {weight:.0%} {text.description} + "
                       f"{1 - weight:.0%} {cf.description}", text.notes + cf.notes, text.fallback)


def model_key(model: Any) -> str:
    """A short content key of a model's item vectors (for the map cache)."""
    if model is None:
        return "none"
    matrix, _ = _model_matrix(model)
    digest = hashlib.sha256(f"{model.name}|{matrix.shape}".encode())
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix)
        for part in (matrix.data, matrix.indices, matrix.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(np.ascontiguousarray(matrix, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]
