"""Which text embedding describes a shop's products best, chosen on its own training data.

The content-aware models rank new products by their words. Which embedding of those words
ranks them best depends on the shop: a pretrained sentence model knows that "mug" and "cup"
are alike, which helps descriptive catalogs; TF-IDF (+ SVD) keeps exact words, which helps
catalogs whose products are told apart by codes, sizes or collection names. ``text_method``
``"auto"`` therefore measures both on an **inner item cold start split of the training data**:
a seeded share of the warm items is hidden from the users' histories, each user's content
profile (the sum of the content vectors of the items they still have) ranks the hidden items,
and Recall@K among them is compared per user. TF-IDF replaces the sentence model only when a
paired bootstrap over users puts its gain above zero at 95 % (the sentence model stays the
default otherwise); without the sentence model installed TF-IDF is used with no test. Test
pairs are never seen: the caller passes the training matrix of whatever protocol it runs in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["TextChoice", "choose_text_method", "held_out_item_recall"]

log = logging.getLogger(__name__)

#: Items hidden on the inner split (share of the warm items, at most this many) and users
#: evaluated (a seeded sample): bounded work on large catalogs.
HELD_SHARE, MAX_HELD, MAX_USERS = 0.2, 2000, 5000


@dataclass(frozen=True)
class TextChoice:
    """The chosen method, its content vectors and what the inner split measured."""

    method: str
    content: np.ndarray
    note: str
    recall: dict[str, float]


def held_out_item_recall(x: sp.csr_matrix, contents: dict[str, np.ndarray], *, seed: int = 0,
                         k: int = 10) -> dict[str, np.ndarray]:
    """Per-user Recall@``k`` among hidden items, ranked by content profile, for each content
    matrix (items × d, unit rows) on one inner item cold start split of ``x`` (users × items,
    binary). The same users and items for every matrix, so the figures are paired."""
    x = sp.csr_matrix(x, dtype=np.float32)
    popularity = np.diff(x.tocsc().indptr)
    warm = np.flatnonzero(popularity > 0)
    rng = np.random.default_rng(seed)
    n_held = int(min(MAX_HELD, max(2, round(len(warm) * HELD_SHARE))))
    if len(warm) < 2 * n_held or n_held < k:
        return {name: np.zeros(0) for name in contents}
    held = np.sort(rng.choice(warm, size=n_held, replace=False))
    hidden = np.zeros(x.shape[1], dtype=bool)
    hidden[held] = True
    train = (x @ sp.diags((~hidden).astype(np.float32))).tocsr()
    test = x[:, held].tocsr()
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    if len(users) > MAX_USERS:
        users = np.sort(rng.choice(users, size=MAX_USERS, replace=False))
    truth = test[users]
    relevant = truth.toarray() > 0                              # users × hidden items
    out = {}
    for name, content in contents.items():
        profile = np.asarray(train[users] @ content, dtype=np.float32)
        scores = profile @ content[held].T                      # users × hidden items
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        hits = np.take_along_axis(relevant, top, axis=1).sum(axis=1)
        out[name] = hits / np.minimum(np.diff(truth.indptr), k)
    return out


def choose_text_method(x: sp.csr_matrix, build: Callable[[str], tuple[np.ndarray, str]], *,
                       sentence_available: bool, seed: int = 0) -> TextChoice:
    """``text_method="auto"``: the sentence model unless TF-IDF ranks hidden training items
    better beyond noise (see the module docstring). ``build(method)`` returns the content
    vectors and a note for ``"sentence-model"`` or ``"tfidf"``."""
    from recsys.models.selection import paired_bootstrap

    if not sentence_available:
        content, note = build("tfidf")
        return TextChoice("tfidf", content, note, {})
    built = {m: build(m) for m in ("sentence-model", "tfidf")}
    recall = held_out_item_recall(x, {m: c for m, (c, _) in built.items()}, seed=seed)
    sentence, tfidf = recall["sentence-model"], recall["tfidf"]
    means = {m: float(r.mean()) if len(r) else float("nan") for m, r in recall.items()}
    test = paired_bootstrap(tfidf, sentence, seed=seed) if len(sentence) else None
    method = "tfidf" if test is not None and test["lower"] > 0 else "sentence-model"
    content, note = built[method]
    if test is None:
        why = "too few items for an inner check"
    else:
        why = (f"inner item cold start split: Recall@10 among hidden items "
               f"{means['sentence-model']:.3f} (sentence model) vs {means['tfidf']:.3f} "
               f"(TF-IDF) over {len(sentence):,} users")
    log.info("text embedding: %s (%s)", method, why)
    return TextChoice(method, content, f"{note}; chosen on {why}", means)
