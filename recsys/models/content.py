"""Content vectors and EASE weights shared by the content-aware models (``hybrid``,
``coldstart``): one unit vector per item from its text embedding and categorical fields, the
EASE item-item weights, and the per-item content share of the hybrid."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp

from recsys.features.encoder import ItemEncoder, content_vectors

if TYPE_CHECKING:
    import pandas as pd

    from recsys.data.dataset import Dataset

__all__ = ["ItemContent", "ContentItems", "content_vectors", "item_content", "ease_item_weights", "content_blend"]

log = logging.getLogger(__name__)


class ItemContent(NamedTuple):
    """Content vectors of the catalog, a note on the text embedding, and the fitted encoder
    that gives products added later their vectors in the same space."""

    vectors: np.ndarray
    note: str
    encoder: ItemEncoder


def item_content(dataset: Dataset, x: sp.csr_matrix, *, text_method: str, side_weight: float,
                 device: str, seed: int) -> ItemContent:
    """Unit content vector per item (text embedding ⊕ categorical fields), a note saying
    which text embedding was used and the encoder. ``text_method="auto"`` chooses between the
    sentence model and TF-IDF on an inner split of the training matrix ``x``
    (:mod:`recsys.models.text_choice`)."""
    from recsys.features.side import item_categorical_features
    from recsys.features.text import item_texts, sentence_model_available, text_embeddings
    from recsys.models.text_choice import choose_text_method

    fields = item_categorical_features(dataset)
    if side_weight >= 1.0:
        return ItemContent(content_vectors(None, fields.codes, fields.cardinalities, 1.0),
                           "no text", ItemEncoder.fit(dataset, "none", 1.0, seed=seed))
    texts = item_texts(dataset)

    def build(method: str) -> tuple[np.ndarray, str]:
        emb = text_embeddings(texts, device=device, method=method, seed=seed)
        return content_vectors(emb.vectors, fields.codes, fields.cardinalities,
                               side_weight), emb.describe()

    if text_method != "auto":
        vectors, note = build(text_method)
        method = text_method
    else:
        choice = choose_text_method(x, build, sentence_available=sentence_model_available(),
                                    seed=seed)
        vectors, note, method = choice.content, choice.note, choice.method
    return ItemContent(vectors, note, ItemEncoder.fit(dataset, method, side_weight, seed=seed))


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


class ContentItems:
    """Mixin for content models (``hybrid``, ``coldstart``): in an online update, products the
    model has never seen enter through the content path, embedded by the model's own
    :class:`~recsys.features.encoder.ItemEncoder` from their catalog rows.

    :meth:`update` takes ``items`` (the catalog rows of the new columns, in column order) and
    leaves their vectors in ``new_content_`` for the model's ``_grow``; a model saved before it
    kept an encoder cannot add products and says so.
    """

    adds_items: ClassVar[bool] = True
    #: New products need their catalog rows (``items``) to be added.
    needs_item_rows: ClassVar[bool] = True
    encoder_: ItemEncoder | None = None
    new_content_: np.ndarray | None = None
    #: The content → embedding generator as plain arrays (``generator.<name>``; empty on the
    #: hybrid's content path) and the scoring arrays a new product is added to.
    generator_: dict[str, np.ndarray]
    collab_: np.ndarray
    user_proj_: np.ndarray
    gen_out_: np.ndarray

    def update(self, new: sp.csr_matrix, *, events: tuple[np.ndarray, np.ndarray] | None = None,
               items: pd.DataFrame | None = None, **settings: Any) -> str:
        extra = new.shape[1] - self.n_items_  # type: ignore[attr-defined]
        self.new_content_ = None
        if extra > 0:
            if self.encoder_ is None:
                raise ValueError("this model was saved without its content encoder, so it "
                                 "cannot add new products; retrain it")
            if items is None or len(items) != extra:
                raise ValueError(f"{extra:,} new products need their catalog rows (title, "
                                 "category…) to enter through the content path")
            self.new_content_ = self.encoder_.encode(items, device=self.device_)  # type: ignore[attr-defined]
        try:
            return super().update(new, events=events, **settings)  # type: ignore[misc]
        finally:
            self.new_content_ = None

    def _encoder_state(self) -> dict[str, np.ndarray]:
        """What embeds new products, for the saved state: the encoder's arrays and the
        generator's weights (``generator.<name>``; none for the hybrid's content path)."""
        encoder = self.encoder_.state() if self.encoder_ is not None else {}
        return {**encoder, **self.generator_}

    def _load_encoder(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`_encoder_state` (no encoder or generator in older saves)."""
        from recsys.models.coldstart_net import GENERATOR_PREFIX

        self.encoder_ = ItemEncoder.from_state(state)
        self.generator_ = {k: v for k, v in state.items() if k.startswith(GENERATOR_PREFIX)}

    def _grow_generated(self, n_items: int, *scales: float) -> None:
        """Shared part of a ``_grow`` for ``new_content_``: no EASE weights to or from the new
        products (``collab_`` padded with zeros), zero rows of ``user_proj_``, and their
        generated embeddings, multiplied in turn by ``scales``, appended to ``gen_out_`` (zero
        rows when the model has no generated part)."""
        from recsys.models.coldstart_net import generate_from_arrays
        from recsys.models.online import pad_rows, pad_square

        self.collab_ = pad_square(self.collab_, n_items)
        self.user_proj_ = pad_rows(self.user_proj_, n_items)
        if not self.gen_out_.shape[1]:
            self.gen_out_ = pad_rows(self.gen_out_, n_items)
            return
        made = generate_from_arrays(self.generator_, self.new_content_)
        for scale in scales:
            made = made * scale
        self.gen_out_ = np.concatenate([self.gen_out_, made.astype(np.float32)])
