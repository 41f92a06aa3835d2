"""A fitted item content encoder that a saved model keeps, so new products can be embedded later.

The content-aware models (``hybrid``, ``coldstart``) give every catalog item a unit content
vector: its text embedding joined with one-hots of its categorical fields
(:func:`recsys.models.content.content_vectors`). A product that appears only after the model
was trained (in a feedback file, with its catalog row) must get its vector *in the same space*:
the same text encoder (the sentence model, or the TF-IDF + SVD fitted on the catalog), the same
category / brand vocabularies and the same price buckets. :class:`ItemEncoder` holds exactly
that, as plain arrays that go into the model's ``weights.npz`` (no pickle), and
:meth:`ItemEncoder.encode` turns new catalog rows into the vectors the model would have given
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.features.side import (
    bucket_codes,
    clean_labels,
    item_categorical_features,
    quantile_edges,
)
from recsys.features.text import (
    TfidfSvd,
    catalog_texts,
    fit_tfidf_svd,
    l2_normalise,
    text_embeddings,
)

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset

__all__ = ["ItemEncoder", "ENCODER_PREFIX", "content_vectors"]

#: Prefix of the encoder's arrays in a model's saved state.
ENCODER_PREFIX = "encoder."
_PRICE_FIELD = "price_bucket"
_PRICE_BUCKETS = 5


def content_vectors(text: np.ndarray | None, codes: np.ndarray, cardinalities: tuple[int, ...],
                    side_weight: float) -> np.ndarray:
    """Unit content vector per item: ``√(1−s)·text ⊕ √s·one-hot(fields)`` (unknown code dropped).

    Either part may be missing (no text, or no categorical fields); the other then takes all.
    """
    n = codes.shape[0]
    onehot = [np.eye(card, dtype=np.float32)[codes[:, f]][:, 1:]
              for f, card in enumerate(cardinalities) if card > 1]
    side = l2_normalise(np.hstack(onehot)) if onehot else np.zeros((n, 0), dtype=np.float32)
    text = l2_normalise(text) if text is not None and text.shape[1] else np.zeros((n, 0), np.float32)
    if not side.shape[1] or not side.any():
        side_weight = 0.0
    if not text.shape[1]:
        side_weight = 1.0 if side.shape[1] else 0.0
    parts = [text * np.float32(np.sqrt(1.0 - side_weight)),
             side * np.float32(np.sqrt(side_weight))]
    out = l2_normalise(np.hstack(parts))
    if not out.shape[1]:
        out = np.zeros((n, 1), dtype=np.float32)
    return out


@dataclass(frozen=True, eq=False)
class ItemEncoder:
    """What turns a catalog row into an item's content vector, fitted on the training catalog.

    ``text_method`` is ``"sentence-model"``, ``"tfidf-svd"`` or ``"none"`` (fields only);
    ``fields`` / ``vocabularies`` are the categorical fields and their labels (code 0 =
    unknown), ``price_edges`` the inner price bucket edges when a ``price_bucket`` field exists.
    """

    text_method: str
    side_weight: float
    fields: tuple[str, ...]
    vocabularies: tuple[tuple[str, ...], ...]
    price_edges: np.ndarray
    tfidf: TfidfSvd | None = None

    @classmethod
    def fit(cls, dataset: Dataset, text_method: str, side_weight: float, *, seed: int = 0
            ) -> ItemEncoder:
        """The encoder behind the content vectors of ``dataset``'s catalog (``text_method`` as
        the model used it: ``sentence-model``, ``tfidf`` / ``tfidf-svd`` or ``none``)."""
        fields = item_categorical_features(dataset)
        edges = np.zeros(0, dtype=np.float64)
        if _PRICE_FIELD in fields.names:
            edges = quantile_edges(dataset.catalog["price"], _PRICE_BUCKETS)[1:-1]
        method = "tfidf-svd" if text_method in ("tfidf", "tfidf-svd") else text_method
        tfidf = None
        if method == "tfidf-svd":
            tfidf = fit_tfidf_svd(catalog_texts(dataset.catalog), seed=seed)[1]
        return cls(method, float(side_weight), fields.names, fields.vocabularies, edges, tfidf)

    def codes(self, catalog: pd.DataFrame) -> np.ndarray:
        """Field codes of the rows of ``catalog`` (0 where a label was not seen in training)."""
        out = np.zeros((len(catalog), len(self.fields)), dtype=np.int64)
        for f, (name, vocab) in enumerate(zip(self.fields, self.vocabularies, strict=True)):
            if name == _PRICE_FIELD:
                if "price" in catalog.columns:
                    out[:, f] = bucket_codes(catalog["price"], self.price_edges)
            elif name in catalog.columns:
                lookup = {label: code for code, label in enumerate(vocab) if code}
                out[:, f] = [lookup.get(label, 0) for label in clean_labels(catalog[name]).tolist()]
        return out

    def text(self, catalog: pd.DataFrame, device: str | None = None) -> np.ndarray | None:
        """Text vectors of the rows of ``catalog`` (``None`` without a text part)."""
        texts = catalog_texts(catalog)
        if self.text_method == "sentence-model":
            return text_embeddings(texts, method="sentence-model", device=device).vectors
        if self.text_method == "tfidf-svd":
            if self.tfidf is None:  # the training catalog had no word at all
                return np.zeros((len(texts), 1), dtype=np.float32)
            return self.tfidf.transform(texts)
        return None

    def encode(self, catalog: pd.DataFrame, device: str | None = None) -> np.ndarray:
        """Unit content vectors of the rows of ``catalog`` (a canonical catalog frame with any
        of ``title, description, category, subcategory, brand, price``)."""
        cards = tuple(len(v) for v in self.vocabularies)
        weight = 1.0 if self.text_method == "none" else self.side_weight
        return content_vectors(self.text(catalog, device), self.codes(catalog), cards, weight)

    # -- persistence ------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Plain arrays for a model's ``weights.npz`` (keys start with :data:`ENCODER_PREFIX`)."""
        p = ENCODER_PREFIX
        out: dict[str, np.ndarray] = {
            f"{p}info": np.array([self.text_method, repr(self.side_weight)]),
            f"{p}fields": np.asarray(self.fields, dtype=str),
            f"{p}price_edges": np.asarray(self.price_edges, dtype=np.float64)}
        for f, vocab in enumerate(self.vocabularies):
            out[f"{p}vocab{f}"] = np.asarray(vocab, dtype=str)
        if self.tfidf is not None:
            out[f"{p}terms"] = np.asarray(self.tfidf.terms, dtype=str)
            out[f"{p}idf"] = self.tfidf.idf
            if self.tfidf.components is not None:
                out[f"{p}components"] = self.tfidf.components
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ItemEncoder | None:
        """The encoder saved in ``state`` (``None`` for a model saved without one)."""
        p = ENCODER_PREFIX
        if f"{p}info" not in state:
            return None
        method, weight = (str(v) for v in state[f"{p}info"])
        fields = tuple(str(v) for v in state[f"{p}fields"])
        vocabs = tuple(tuple(str(v) for v in state[f"{p}vocab{f}"]) for f in range(len(fields)))
        tfidf = None
        if f"{p}terms" in state:
            tfidf = TfidfSvd(state[f"{p}terms"], state[f"{p}idf"], state.get(f"{p}components"))
        return cls(method, float(weight), fields, vocabs, state[f"{p}price_edges"], tfidf)
