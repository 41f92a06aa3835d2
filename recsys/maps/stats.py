"""What is in each cluster: size, tail share, exposure, reach, price, a readable label.

* **Labels** come from class-based TF-IDF over item titles (the terms frequent in a cluster and
  rare in the others) plus the cluster's dominant category when one holds 40 % of its items,
  e.g. ``Lantern · Candle · Glass (Home decor)`` (:mod:`recsys.maps.labels`).
* **Exposure** is a cluster's share of interactions divided by its share of items (1 = its fair
  share; 0.2 = a fifth of it).
* **Tail clusters** have a tail share of at least ``tail_share_threshold`` and an exposure of at
  most ``max_exposure``; they are ranked by **opportunity** = tail items × affinity, where
  affinity is the share of users who already bought or rated something in the cluster.

All vectorised: one sparse product gives every cluster's reach.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.maps.labels import cluster_name, dominant_category

__all__ = ["NOISE_LABEL", "class_tfidf_terms", "cluster_stats", "flag_tail_clusters",
           "cluster_labels", "TailFigures", "tail_figures", "tail_cluster_rule"]

log = logging.getLogger(__name__)

NOISE_LABEL = "unclustered"
_TOKENS = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # words of two letters or more, no digits


def _groups(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group index per item (clusters 0..K-1, noise K) and the cluster id of each group."""
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    has_noise = bool((labels < 0).any())
    group = np.where(labels < 0, k, labels)
    ids = np.arange(k + (1 if has_noise else 0), dtype=np.int64)
    if has_noise:
        ids[-1] = -1
    return group, ids


class TailFigures(NamedTuple):
    """Per group of items: its size, tail items, total popularity, tail share and exposure."""

    size: np.ndarray
    tail_items: np.ndarray
    total_popularity: np.ndarray
    tail_share: np.ndarray
    exposure: np.ndarray


def tail_figures(group: np.ndarray, n_groups: int, popularity: np.ndarray,
                 is_tail: np.ndarray) -> TailFigures:
    """What :func:`tail_cluster_rule` judges, for items in groups ``0..n_groups-1``: tail
    share (0 for an empty group) and exposure (share of interactions / share of items, 0 for an
    empty group or no interactions). Used by :func:`cluster_stats` and the coarse clusters of
    :mod:`recsys.maps.sample`."""
    n = len(group)
    pop = np.asarray(popularity, dtype=np.float64)
    size = np.bincount(group, minlength=n_groups).astype(np.int64)
    tail_items = np.bincount(group, weights=np.asarray(is_tail, dtype=bool).astype(np.float64),
                             minlength=n_groups).astype(np.int64)
    total_pop = np.bincount(group, weights=pop, minlength=n_groups)
    all_pop = pop.sum()
    interaction_share = total_pop / all_pop if all_pop > 0 else np.zeros(n_groups)
    item_share = size / max(n, 1)
    exposure = interaction_share / np.where(item_share > 0, item_share, 1.0)
    return TailFigures(size, tail_items, total_pop, tail_items / np.maximum(size, 1), exposure)


def tail_cluster_rule(tail_share: np.ndarray, exposure: np.ndarray, *,
                      tail_share_threshold: float = 0.8, max_exposure: float = 0.5) -> np.ndarray:
    """The map's one tail-cluster rule (boolean per cluster): a tail share of at least
    ``tail_share_threshold`` and an exposure of at most ``max_exposure``. Callers add that
    the group is a cluster (not noise, not empty)."""
    return ((np.asarray(tail_share) >= tail_share_threshold)
            & (np.asarray(exposure) <= max_exposure))


def _membership(group: np.ndarray, n_groups: int) -> sp.csr_matrix:
    n = len(group)
    return sp.csr_matrix((np.ones(n, dtype=np.float32), (np.arange(n), group)),
                         shape=(n, n_groups))


def class_tfidf_terms(titles: Sequence[str], labels: np.ndarray, n_terms: int = 3,
                      min_count: int = 2) -> dict[int, list[str]]:
    """The ``n_terms`` most distinctive title words per cluster (class-based TF-IDF).

    Per cluster, term frequency (normalised by the cluster's word count) times
    ``log(1 + A / f_t)``, where ``A`` is the mean word count per cluster and ``f_t`` the
    term's count over all clusters. Words must occur ``min_count`` times in a cluster (or once in
    a cluster smaller than five items). English stop words and digits are left out.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    group, ids = _groups(labels)
    out: dict[int, list[str]] = {int(c): [] for c in ids}
    if len(titles) == 0 or len(ids) == 0:
        return out
    vectoriser = CountVectorizer(lowercase=True, stop_words="english", token_pattern=_TOKENS,
                                 strip_accents="unicode", dtype=np.float32)
    try:
        counts = vectoriser.fit_transform([str(t) for t in titles])
    except ValueError:  # no usable word in any title
        return out
    terms = vectoriser.get_feature_names_out()
    per_class = sp.csr_matrix(_membership(group, len(ids)).T @ counts)
    words = np.asarray(per_class.sum(axis=1)).ravel()
    freq = np.asarray(per_class.sum(axis=0)).ravel()
    avg = words.sum() / max(len(ids), 1)
    idf = np.log1p(avg / np.maximum(freq, 1e-9))
    sizes = np.bincount(group, minlength=len(ids))
    for g, cid in enumerate(ids):
        lo, hi = per_class.indptr[g], per_class.indptr[g + 1]
        cols, vals = per_class.indices[lo:hi], per_class.data[lo:hi]
        need = min_count if sizes[g] >= 5 else 1
        keep = vals >= need
        if not keep.any() or words[g] == 0:
            continue
        cols, vals = cols[keep], vals[keep]
        score = vals / words[g] * idf[cols]
        order = np.lexsort((terms[cols], -score))[:n_terms]
        out[int(cid)] = [str(terms[c]) for c in cols[order]]
    return out


def cluster_labels(terms: dict[int, list[str]]) -> dict[int, str]:
    """Readable labels: ``word · word · word``; ``unclustered`` for noise."""
    return {c: NOISE_LABEL if c < 0 else (" · ".join(t) if t else f"cluster {c}")
            for c, t in terms.items()}


def cluster_stats(labels: np.ndarray, *, popularity: np.ndarray, is_tail: np.ndarray,
                  matrix: sp.csr_matrix | None = None, price: np.ndarray | None = None,
                  titles: Sequence[str] | None = None, n_terms: int = 3,
                  categories: Sequence[object] | None = None) -> pd.DataFrame:
    """One row per cluster (noise last, ``cluster = -1``) with its size and tail figures.

    Columns: ``cluster, label, size, tail_items, tail_share, mean_popularity,
    total_popularity, interaction_share, item_share, exposure, users_reached, affinity,
    opportunity`` and, with ``price``, ``price_min, price_median, price_max``; with
    ``categories`` (one per item) also ``category``, the dominant one ("" when none dominates),
    which the label then names.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    group, ids = _groups(labels)
    g = len(ids)
    fig = tail_figures(group, g, popularity, is_tail)
    all_pop = fig.total_popularity.sum()
    frame = pd.DataFrame({
        "cluster": ids,
        "size": fig.size,
        "tail_items": fig.tail_items,
        "tail_share": fig.tail_share,
        "mean_popularity": fig.total_popularity / np.maximum(fig.size, 1),
        "total_popularity": fig.total_popularity,
        "interaction_share": fig.total_popularity / all_pop if all_pop > 0 else np.zeros(g),
        "item_share": fig.size / max(n, 1),
        "exposure": fig.exposure,
    })
    if matrix is not None and matrix.shape[0] > 0:
        hits = sp.csr_matrix(matrix, dtype=np.float32) @ _membership(group, g)
        reached = np.diff(sp.csc_matrix(hits).indptr).astype(np.int64)  # users with ≥ 1 item
        frame["users_reached"] = reached
        frame["affinity"] = reached / matrix.shape[0]
    else:
        frame["users_reached"] = 0
        frame["affinity"] = 0.0
    frame["opportunity"] = frame["tail_items"] * frame["affinity"]
    if price is not None:
        prices = pd.DataFrame({"g": group, "p": pd.to_numeric(pd.Series(price), errors="coerce")})
        agg = prices.groupby("g")["p"].agg(["min", "median", "max"]).reindex(range(g))
        frame["price_min"] = agg["min"].to_numpy()
        frame["price_median"] = agg["median"].to_numpy()
        frame["price_max"] = agg["max"].to_numpy()
    terms = class_tfidf_terms(titles if titles is not None else [], labels, n_terms)
    names = cluster_labels(terms)
    if categories is not None:
        cats = pd.Series(list(categories), dtype="string")
        dominant = {int(ids[g]): dominant_category(cats[group == g].tolist())
                    for g in range(len(ids))}
        frame["category"] = [dominant[int(c)] for c in ids]
        names = {c: name if c < 0 else cluster_name(terms.get(c, []), dominant.get(c, ""),
                                                    fallback=name)
                 for c, name in names.items()}
    frame.insert(1, "label", [names.get(int(c), f"cluster {c}") for c in ids])
    return frame


def flag_tail_clusters(stats: pd.DataFrame, *, tail_share_threshold: float = 0.8,
                       max_exposure: float = 0.5) -> pd.DataFrame:
    """Add ``is_tail_cluster`` and ``tail_rank`` (1 = best opportunity, 0 = not flagged).

    Noise is never a tail cluster: it is not a neighbourhood of products.
    """
    out = stats.copy()
    flag = (out["cluster"].to_numpy() >= 0) & tail_cluster_rule(
        out["tail_share"].to_numpy(), out["exposure"].to_numpy(),
        tail_share_threshold=tail_share_threshold, max_exposure=max_exposure)
    out["is_tail_cluster"] = flag
    rank = np.zeros(len(out), dtype=np.int64)
    flagged = np.flatnonzero(flag)
    if len(flagged):
        order = np.lexsort((out["cluster"].to_numpy()[flagged],
                            -out["tail_items"].to_numpy()[flagged],
                            -out["opportunity"].to_numpy()[flagged]))
        rank[flagged[order]] = np.arange(1, len(flagged) + 1)
    out["tail_rank"] = rank
    return out
