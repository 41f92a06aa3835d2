"""Content vectors and EASE weights shared by the content-aware models (``hybrid``,
``coldstart``): one unit vector per item from its text embedding and categorical fields, the
EASE item-item weights, and the per-item content share of the hybrid."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset

__all__ = ["content_vectors", "item_content", "ease_item_weights", "content_blend"]

log = logging.getLogger(__name__)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def content_vectors(text: np.ndarray | None, codes: np.ndarray, cardinalities: tuple[int, ...],
                    side_weight: float) -> np.ndarray:
    """Unit content vector per item: ``√(1−s)·text ⊕ √s·one-hot(fields)`` (unknown code dropped).

    Either part may be missing (no text, or no categorical fields); the other then takes all.
    """
    n = codes.shape[0]
    onehot = [np.eye(card, dtype=np.float32)[codes[:, f]][:, 1:]
              for f, card in enumerate(cardinalities) if card > 1]
    side = _normalise(np.hstack(onehot)) if onehot else np.zeros((n, 0), dtype=np.float32)
    text = _normalise(text) if text is not None and text.shape[1] else np.zeros((n, 0), np.float32)
    if not side.shape[1] or not side.any():
        side_weight = 0.0
    if not text.shape[1]:
        side_weight = 1.0 if side.shape[1] else 0.0
    parts = [text * np.float32(np.sqrt(1.0 - side_weight)),
             side * np.float32(np.sqrt(side_weight))]
    out = _normalise(np.hstack(parts))
    if not out.shape[1]:
        out = np.zeros((n, 1), dtype=np.float32)
    return out


def item_content(dataset: Dataset, x: sp.csr_matrix, *, text_method: str, side_weight: float,
                 device: str, seed: int) -> tuple[np.ndarray, str]:
    """Unit content vector per item (text embedding ⊕ categorical fields) and a note saying
    which text embedding was used. ``text_method="auto"`` chooses between the sentence model
    and TF-IDF on an inner split of the training matrix ``x``
    (:mod:`recsys.models.text_choice`)."""
    from recsys.features.side import item_categorical_features
    from recsys.features.text import item_texts, sentence_model_available, text_embeddings
    from recsys.models.text_choice import choose_text_method

    fields = item_categorical_features(dataset)
    if side_weight >= 1.0:
        return content_vectors(None, fields.codes, fields.cardinalities, 1.0), "no text"
    texts = item_texts(dataset)

    def build(method: str) -> tuple[np.ndarray, str]:
        emb = text_embeddings(texts, device=device, method=method, seed=seed)
        return content_vectors(emb.vectors, fields.codes, fields.cardinalities,
                               side_weight), emb.describe()

    if text_method != "auto":
        return build(text_method)
    choice = choose_text_method(x, build, sentence_available=sentence_model_available(),
                                seed=seed)
    return choice.content, choice.note


def ease_item_weights(x: sp.csr_matrix, l2: float, device: str = "cpu") -> np.ndarray:
    """EASE weights ``B = I − P·diag(1/diag P)``, ``P = (XᵀX + λI)⁻¹``, zero diagonal.

    On the CPU ``P`` comes from a single-precision Cholesky factorisation (LAPACK ``potrf`` /
    ``potri``: about four times faster than a double-precision ``inv``; the gram matrix plus λ is
    well conditioned), falling back to double precision if the factorisation fails. CUDA uses
    :func:`recsys.models.simple.ease_weights`.
    """
    if device.startswith("cuda"):
        from recsys.models.simple import ease_weights

        return ease_weights(x, l2, device)
    from scipy.linalg import lapack

    gram = (x.T @ x).toarray()
    for dtype, potrf, potri in ((np.float32, lapack.spotrf, lapack.spotri),
                                (np.float64, lapack.dpotrf, lapack.dpotri)):
        g = gram.astype(dtype)
        g[np.diag_indices_from(g)] += l2
        chol, info = potrf(g, lower=True, overwrite_a=True, clean=False)
        if info == 0:
            p, info = potri(chol, lower=True, overwrite_c=True)
        if info == 0:
            p = np.tril(p)
            p += np.tril(p, -1).T
            b = p / (-np.diag(p))
            np.fill_diagonal(b, 0.0)
            return b.astype(np.float32)
        log.warning("EASE Cholesky in %s failed (info %d); retrying", np.dtype(dtype).name, info)
    raise np.linalg.LinAlgError("EASE gram matrix is not positive definite")


def content_blend(popularity: np.ndarray, content_weight: float, cold_shrink: float
                  ) -> np.ndarray:
    """Per-item content share ``α = w + (1 − w)·s/(s + n)`` (1 for items without interactions)."""
    n = np.asarray(popularity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(n > 0, cold_shrink / (cold_shrink + n), 1.0)
    return (content_weight + (1.0 - content_weight) * frac).astype(np.float32)
