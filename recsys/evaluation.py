"""Evaluation: accuracy and long-tail metrics on top-K lists, full-ranking evaluation of a
model on a split, and the overlap of ranked lists.

Pure functions, arrays in, arrays out, all computed on the *same* lists so trade-offs are
honest (DESIGN.md protocol):

* accuracy, per user: Recall@K = hits / min(|test|, K); NDCG@K with binary gains; HitRate@K;
  MAP@K (average precision normalised by min(|test|, K));
* long tail: APLT@K = share of tail items in a list; ARP@K = mean training popularity of the
  listed items; Coverage@K = distinct listed items / catalog size; Gini@K over how often each
  catalog item is listed; Novelty@K = mean −log2 p(i) with p(i) the share of training users
  who interacted with item i (at least one user, so cold items stay finite);
* full ranking (:func:`evaluate`): every test user, all items ranked by the model's
  ``recommend`` (the one lists path), every item the user already has excluded;
* overlap between two ranked lists: Jaccard of the sets and rank-biased overlap
  (Webber, Moffat & Zobel 2010, "A similarity measure for indefinite rankings", the
  extrapolated RBO_ext of their eq. 32 / 30 for lists of unequal length).

``topk`` is an int array (users × K) of item positions, ``-1`` where a list is shorter. This
module sits below every other layer: models call it for validation metrics, so it knows them
only through the :class:`Ranker` protocol.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:  # types only: the data layer sits above this module
    from recsys.data.dataset import Dataset
    from recsys.data.splits import Split


__all__ = ["hits_matrix", "accuracy_per_user", "beyond_accuracy_per_user", "catalog_metrics",
           "summarise", "measure_lists", "METRIC_NAMES", "NEW_ITEM_METRIC_NAMES", "gini", "Ranker",
           "Evaluation", "evaluate", "evaluate_split", "new_item_metrics", "validation_metrics",
           "jaccard", "rank_biased_overlap", "overlap_table", "tail_counts"]

METRIC_NAMES: tuple[str, ...] = ("ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage",
                                 "gini", "novelty")
#: Extra figures of an item cold start split (:func:`new_item_metrics`).
NEW_ITEM_METRIC_NAMES: tuple[str, ...] = ("new_recall", "new_share")


def hits_matrix(topk: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (users × K): is the item at each rank in the user's relevant set?

    ``relevant`` rows align with ``topk`` rows. Vectorised: each (user, item) pair is turned
    into one integer key and looked up in the sorted keys of the relevant pairs.
    """
    relevant = sp.csr_matrix(relevant)
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    keys = np.sort(rows * n_items + relevant.indices.astype(np.int64))
    valid = topk >= 0
    query = np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_items + np.where(valid, topk, 0)
    pos = np.searchsorted(keys, query)
    found = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == query) if len(keys) else (
        np.zeros(topk.shape, dtype=bool))
    return found & valid


def accuracy_per_user(topk: np.ndarray, relevant: sp.csr_matrix) -> dict[str, np.ndarray]:
    """NDCG, Recall, HitRate and MAP at K = ``topk.shape[1]`` for every row."""
    k = topk.shape[1]
    hits = hits_matrix(topk, relevant).astype(np.float64)
    n_rel = np.diff(sp.csr_matrix(relevant).indptr).astype(np.float64)
    denom = np.minimum(n_rel, k)
    safe = np.where(denom > 0, denom, 1.0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[denom.astype(int)]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    out = {
        "ndcg": np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0),
        "recall": hits.sum(axis=1) / safe,
        "hitrate": (hits.sum(axis=1) > 0).astype(np.float64),
        "map": (precision_at * hits).sum(axis=1) / safe,
    }
    return {name: np.where(denom > 0, v, 0.0) for name, v in out.items()}


def beyond_accuracy_per_user(topk: np.ndarray, popularity: np.ndarray, is_tail: np.ndarray,
                             n_train_users: int) -> dict[str, np.ndarray]:
    """Per-list tail share (APLT), mean popularity (ARP) and novelty."""
    valid = topk >= 0
    safe = np.where(valid, topk, 0)
    length = np.maximum(valid.sum(axis=1), 1)
    pop = np.asarray(popularity, dtype=np.float64)
    p = np.maximum(pop, 1.0) / max(1, n_train_users)
    return {
        "aplt": (np.asarray(is_tail)[safe] & valid).sum(axis=1) / length,
        "arp": np.where(valid, pop[safe], 0.0).sum(axis=1) / length,
        "novelty": np.where(valid, -np.log2(p[safe]), 0.0).sum(axis=1) / length,
    }


def catalog_metrics(topk: np.ndarray, n_items: int) -> dict[str, float]:
    """Coverage@K and Gini@K over how often each catalog item appears in the lists."""
    listed = topk[topk >= 0]
    counts = np.bincount(listed, minlength=n_items)
    return {"coverage": float((counts > 0).sum() / max(1, n_items)), "gini": gini(counts)}


def summarise(topk: np.ndarray, relevant: sp.csr_matrix, popularity: np.ndarray,
              is_tail: np.ndarray, n_train_users: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Every protocol metric for these lists: the summary (means) and a per-user frame."""
    per_user = {**accuracy_per_user(topk, relevant),
                **beyond_accuracy_per_user(topk, popularity, is_tail, n_train_users)}
    frame = pd.DataFrame(per_user)
    summary = {name: float(values.mean()) if len(values) else 0.0
               for name, values in per_user.items()}
    summary.update(catalog_metrics(topk, len(popularity)))
    summary["users"] = int(topk.shape[0])
    return {name: summary[name] for name in (*METRIC_NAMES, "users")}, frame


def measure_lists(items: np.ndarray, train: Dataset, test: sp.csr_matrix, users: np.ndarray, *,
                  per_user: bool = False
                  ) -> dict[str, float] | tuple[dict[str, float], pd.DataFrame]:
    """Every protocol metric of the lists ``items`` (rows = ``users``) against the held-out
    ``test`` pairs, popularity and tail flags from ``train``: the one way lists are measured
    on a split (model evaluation, re-ranked lists, an export's manifest).

    Users without held-out items are left out, as in the protocol. With ``per_user`` the
    per-user frame (one row per measured user) comes along.
    """
    topk = np.asarray(items)
    users = np.asarray(users, dtype=np.int64)
    test = sp.csr_matrix(test)
    has_test = np.diff(test.indptr)[users] > 0
    n_train_users = int((np.diff(train.matrix.indptr) > 0).sum())
    summary, frame = summarise(topk[has_test], test[users[has_test]], train.popularity,
                               train.is_tail, n_train_users)
    return (summary, frame) if per_user else summary


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 = perfectly equal, →1 = all on one."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * x).sum()) / (n * total) - (n + 1) / n)


class Ranker(Protocol):
    """What :func:`evaluate` needs of a model (every :class:`~recsys.models.Recommender`)."""

    name: str

    def recommend(self, users: np.ndarray, n: int = 10, **kwargs: Any
                  ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Evaluation:
    """Summary metrics, per-user metrics and the evaluated lists of one model."""

    model: str
    k: int
    summary: dict[str, float]
    per_user: pd.DataFrame
    topk: np.ndarray
    users: np.ndarray
    seconds: float
    protocol: dict[str, Any] = field(default_factory=dict)


def evaluate(model: Ranker, train: Dataset, test: sp.csr_matrix, *, k: int = 10,
             users: np.ndarray | None = None, block: int = 2048,
             allowed_items: np.ndarray | None = None) -> Evaluation:
    """Rank all items for each test user (everything the user already has excluded: training
    positives and context pairs) and measure the lists (:func:`measure_lists`; users without
    held-out items are not evaluated). ``allowed_items`` (a boolean mask over items) keeps
    every other item out of the lists."""
    test = sp.csr_matrix(test)
    held = np.diff(test.indptr) > 0
    users = np.flatnonzero(held) if users is None else np.asarray(users, dtype=np.int64)
    users = users[held[users]]
    t0 = time.perf_counter()
    topk, _ = model.recommend(users, k, exclude_seen=True, block=block,
                              allowed_items=allowed_items)
    summary, per_user = measure_lists(topk, train, test, users, per_user=True)
    seconds = time.perf_counter() - t0
    per_user.insert(0, "user_id", train.user_ids[users])
    return Evaluation(model.name, k, summary, per_user, topk, users, seconds,
                      {"k": k, "head_share": train.config.head_share,
                       "excluded_context_pairs": train.n_context_pairs})


def new_item_metrics(topk: np.ndarray, relevant: sp.csr_matrix, cold_items: np.ndarray
                     ) -> dict[str, float]:
    """Item cold start figures of lists (rows of ``topk`` align with ``relevant``'s rows).

    ``new_recall``: Recall@K among new items only = hits on new items / min(|held-out new
    items|, K), averaged over the users with at least one held-out new item;
    ``new_share``: mean share of new items in a list (all users); ``new_users``: how many
    users the first is averaged over.
    """
    topk = np.asarray(topk)
    cold = np.asarray(cold_items, dtype=bool)
    relevant = sp.csr_matrix(relevant)
    k = max(topk.shape[1], 1)
    listed_new = (topk >= 0) & cold[np.maximum(topk, 0)]
    new_relevant = relevant.multiply(cold[None, :].astype(np.float32)).tocsr()
    new_relevant.eliminate_zeros()
    n_new = np.diff(new_relevant.indptr)
    has_new = n_new > 0
    hits = hits_matrix(topk, new_relevant) & listed_new
    recall = hits.sum(axis=1)[has_new] / np.minimum(n_new[has_new], k)
    return {"new_recall": float(recall.mean()) if len(recall) else 0.0,
            "new_share": float(listed_new.sum(axis=1).mean() / k) if len(topk) else 0.0,
            "new_users": int(has_new.sum())}


def evaluate_split(model: Ranker, split: Split, *, k: int = 10,
                   allowed_items: np.ndarray | None = None) -> Evaluation:
    """:func:`evaluate` on a :class:`~recsys.data.splits.Split`, protocol recorded; on an
    item cold start split the summary also holds :func:`new_item_metrics`."""
    ev = evaluate(model, split.train, split.test, k=k, allowed_items=allowed_items)
    ev.protocol.update(split=split.config.model_dump(mode="json"))
    if split.cold_items is not None:
        ev.summary.update(new_item_metrics(ev.topk, sp.csr_matrix(split.test)[ev.users],
                                           split.cold_items))
    return ev


def validation_metrics(model: Ranker, train: Dataset, validation: sp.csr_matrix,
                       k: int = 10, max_users: int = 5000, seed: int = 0) -> dict[str, float]:
    """NDCG / Recall / APLT on a validation matrix (users sampled for speed), for callbacks."""
    users = np.flatnonzero(np.diff(sp.csr_matrix(validation).indptr) > 0)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    ev = evaluate(model, train, validation, k=k, users=users)
    return {f"val_{m}": ev.summary[m] for m in ("ndcg", "recall", "aplt")}


# -- overlap of ranked lists --------------------------------------------------------------
def _clean(items: Sequence[Any] | np.ndarray) -> list[Any]:
    """A ranked list without padding (-1 / None) and without repeats (first place kept)."""
    seen: set[Any] = set()
    out = []
    for item in np.asarray(items, dtype=object).tolist():
        if item is None or (isinstance(item, int | np.integer) and item < 0) or item in seen:
            continue
        seen.add(item)
        out.append(item)
    return out


def jaccard(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of the two lists' items (1.0 when both are empty)."""
    sa, sb = set(_clean(a)), set(_clean(b))
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def rank_biased_overlap(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray,
                        p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap RBO_ext of two ranked lists (Webber et al. 2010).

    ``p`` is the persistence: the weight of the first d ranks is 1 - p^d (p = 0.9 puts about
    86 % of the weight on the top 10). Identical lists give 1, disjoint lists 0. Lists of
    different lengths use eq. 30 (the shorter list's overlap is assumed to continue at its
    rate). Padding (-1) and repeated items are dropped first.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be between 0 and 1 (exclusive)")
    a, b = _clean(a), _clean(b)
    if len(a) > len(b):
        a, b = b, a
    s, ll = len(a), len(b)
    if ll == 0:
        return 1.0
    if s == 0:
        return 0.0
    # X_d: size of the overlap of the two prefixes of depth d (d = 1 … l).
    seen_a: set[Any] = set()
    seen_b: set[Any] = set()
    overlap = np.zeros(ll, dtype=np.float64)
    x = 0
    for d in range(ll):
        if d < s:
            item_a = a[d]
            x += item_a in seen_b
            seen_a.add(item_a)
        item_b = b[d]
        x += item_b in seen_a
        seen_b.add(item_b)
        overlap[d] = x
    depth = np.arange(1, ll + 1, dtype=np.float64)
    weights = p ** depth
    x_s, x_l = overlap[s - 1], overlap[-1]
    total = np.sum(overlap / depth * weights)
    beyond = depth > s
    total += np.sum(x_s * (depth[beyond] - s) / (s * depth[beyond]) * weights[beyond])
    return float((1 - p) / p * total + ((x_l - x_s) / ll + x_s / s) * p ** ll)


def overlap_table(lists: Mapping[str, Sequence[Any] | np.ndarray], p: float = 0.9) -> pd.DataFrame:
    """Jaccard, RBO and the number of shared items for every pair of named lists."""
    rows = []
    for (na, la), (nb, lb) in combinations(lists.items(), 2):
        shared = len(set(_clean(la)) & set(_clean(lb)))
        rows.append({"list A": na, "list B": nb, "shared": shared, "jaccard": jaccard(la, lb),
                     "rbo": rank_biased_overlap(la, lb, p=p)})
    return pd.DataFrame(rows, columns=["list A", "list B", "shared", "jaccard", "rbo"])


def tail_counts(items: np.ndarray, is_tail: np.ndarray) -> np.ndarray:
    """Number of tail items per row of a (users × K) position array (-1 padding ignored)."""
    items = np.atleast_2d(np.asarray(items, dtype=np.int64))
    valid = items >= 0
    flags = np.asarray(is_tail, dtype=bool)[np.where(valid, items, 0)] & valid
    return flags.sum(axis=1)
