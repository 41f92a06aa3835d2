"""How loud new products should be, chosen per data set on its own training data.

The content-aware hybrid adds a cold-item part (content profile and generated embeddings) to
EASE's collaborative scores. How large that part should be relative to EASE decides how many
new and rare products reach the lists, and the right size depends on the shop: where content
says a lot about taste, new products earn their slots; where buyers follow best sellers that
no text can name, every slot given to a new product displaces a likely hit. A fixed constant
cannot serve both, so ``scale_search`` measures a few multipliers of the cold-item part on an
**inner item cold start split of the training matrix** (a seeded share of the warm items hidden
whole, plus a share of each user's other interactions, the benchmark's protocol in miniature)
and keeps the one with the best full-list Recall@K. Products without any interaction in the
training matrix stay out of the inner lists: nothing on the inner split says whether they
would have sold, and as new products they would crowd out the hidden ones that can be hits.
Test pairs are never seen: the caller passes the training matrix of whatever protocol it runs
in.

Training data carved in time (a temporal, leave-last or global-time split, as its ``meta``
records: :func:`~recsys.data.splits.recorded_carve`) gets a check carved the same way
instead (:func:`cold_check_split`): each user's latest pairs held out, so the products first
sold in that latest part play the new ones, at the rate new products really sell in this
shop. Products hidden at random sell like any other; products never sold by a point in time
sell less, and a check that hides warm products at random makes new products too loud for
lists judged on what sells next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.data.splits import SplitConfig, recorded_carve, split_dataset

__all__ = ["SCALES", "ScaleChoice", "inner_item_cold_split", "cold_check_split",
           "choose_cold_scale"]

log = logging.getLogger(__name__)

#: Multipliers of the cold-item part tried (1 = the configured size).
SCALES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Share of warm items hidden whole, share of each user's other pairs held out, users scored.
HELD_SHARE, TEST_SHARE, MAX_USERS = 0.2, 0.2, 3000

#: A temporal check needs at least this many new products with held-out pairs (else: item cold start).
MIN_NEW_ITEMS = 20

#: Given an inner training matrix, a scorer ``users → (collaborative, cold-item part)``.
PartsFactory = Callable[[sp.csr_matrix], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class ScaleChoice:
    """The chosen multiplier, the inner Recall@K of each one tried and a note for the user."""

    scale: float
    recall: dict[float, float]
    note: str


def inner_item_cold_split(x: sp.csr_matrix, seed: int = 0
                          ) -> tuple[sp.csr_matrix, sp.csr_matrix] | None:
    """``(train, test)`` of a binary users × items matrix: a seeded ``HELD_SHARE`` of the warm
    items with all their pairs in test, and ``TEST_SHARE`` of every other pair (at random)
    too; ``None`` when there are too few warm items for a meaningful split."""
    x = sp.csr_matrix(x > 0, dtype=np.float32)
    x.eliminate_zeros()
    rng = np.random.default_rng(seed)
    warm = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
    n_held = round(len(warm) * HELD_SHARE)
    if n_held < 2 or len(warm) - n_held < 2:
        return None
    hidden = np.zeros(x.shape[1], dtype=bool)
    hidden[rng.choice(warm, size=n_held, replace=False)] = True
    coo = x.tocoo()
    held = hidden[coo.col] | (rng.random(coo.nnz) < TEST_SHARE)

    def part(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=x.shape)

    return part(~held), part(held)


def cold_check_split(dataset: Dataset | None, x: sp.csr_matrix, seed: int = 0
                     ) -> tuple[tuple[sp.csr_matrix, sp.csr_matrix] | None, str]:
    """The inner check's ``(train, test)`` binary matrices (``None``: too few products) and
    what plays the new products there: with training data carved in time (``dataset.meta``)
    and timestamps, each user's latest ``TEST_SHARE`` held out, new = products first sold
    there (at least :data:`MIN_NEW_ITEMS` of them); otherwise :func:`inner_item_cold_split`."""
    if dataset is not None and dataset.has_timestamps and recorded_carve(dataset) == "temporal":
        inner = split_dataset(dataset, SplitConfig(method="temporal", test_frac=TEST_SHARE))
        train = sp.csr_matrix(inner.train.matrix > 0, dtype=np.float32)
        test = sp.csr_matrix(sp.csr_matrix(inner.test) > 0, dtype=np.float32)
        new = (np.diff(train.tocsc().indptr) == 0) & (np.diff(test.tocsc().indptr) > 0)
        if new.sum() >= MIN_NEW_ITEMS:
            return (train, test), "temporal"
    return inner_item_cold_split(x, seed), "item-cold"


def choose_cold_scale(x: sp.csr_matrix, parts: PartsFactory, *, scales: tuple[float, ...] = SCALES,
                      seed: int = 0, k: int = 10, additive: bool = False,
                      dataset: Dataset | None = None) -> ScaleChoice:
    """The multiplier of the cold-item part with the best mean Recall@``k`` (full lists, the
    user's training items and products without interactions in ``x`` excluded) on one inner
    item cold start split of ``x``; 1 when the
    split cannot be made. ``parts(train)`` fits on the inner training matrix and returns the
    scorer (see :data:`PartsFactory`). ``additive``: the cold-item part is an indicator of the
    new products and ``scales`` are shifts added to their scores (``contentmf``), neutral 0.
    ``dataset`` (the training data ``x`` comes from) lets the check mirror a split carved in
    time (:func:`cold_check_split`)."""
    k = min(k, x.shape[1])  # a catalog smaller than the list
    split, carve = cold_check_split(dataset, x, seed)
    neutral, what = (0.0, "cold shift") if additive else (1.0, "cold-item scale")
    if split is None:
        return ScaleChoice(neutral, {}, f"{what} {neutral:g} (too few products for an inner check)")
    train, test = split
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    if len(users) > MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, size=MAX_USERS, replace=False))
    if not len(users):
        return ScaleChoice(neutral, {}, f"{what} {neutral:g} (no users for an inner check)")
    listed = np.diff(sp.csr_matrix(x).tocsc().indptr) > 0  # warm in x: hidden ones included
    score = parts(train)
    hits = {s: np.zeros(len(users)) for s in scales}
    for start in range(0, len(users), 512):
        block = users[start:start + 512]
        collab, cold = score(block)
        seen = (train[block].toarray() > 0) | ~listed[None, :]
        truth = test[block].toarray() > 0
        for s in scales:
            scores = np.where(seen, -np.inf, collab + np.float32(s) * cold)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            hits[s][start:start + len(block)] = np.take_along_axis(truth, top, axis=1).sum(1)
    n_rel = np.minimum(np.diff(test.indptr)[users], k)
    recall = {s: float((h / n_rel).mean()) for s, h in hits.items()}
    def distance(s: float) -> float:  # ties: nearest to the neutral setting
        return abs(s) if additive else abs(np.log(s))

    best = max(scales, key=lambda s: (recall[s], -distance(s)))
    def shown_as(s: float) -> str:
        return f"{s:+g}" if additive else f"×{s:g}"

    shown = ", ".join(f"{shown_as(s)} {r:.4f}" for s, r in recall.items())
    where = ("an inner temporal split (products first sold in each user's latest pairs play "
             "the new ones)" if carve == "temporal" else "an inner item cold start split")
    note = (f"{what} {shown_as(best)} chosen on {where} "
            f"(Recall@{k} over {len(users):,} users: {shown})")
    log.info("%s", note)
    return ScaleChoice(float(best), recall, note)
