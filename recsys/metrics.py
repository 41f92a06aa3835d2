"""Accuracy and long-tail metrics on top-K lists: pure functions, arrays in, arrays out.

All metrics are computed on the *same* lists so trade-offs are honest (DESIGN.md protocol):

* accuracy, per user: Recall@K = hits / min(|test|, K); NDCG@K with binary gains; HitRate@K;
  MAP@K (average precision normalised by min(|test|, K));
* long tail: APLT@K = share of tail items in a list; ARP@K = mean training popularity of the
  listed items; Coverage@K = distinct listed items / catalog size; Gini@K over how often each
  catalog item is listed; Novelty@K = mean −log2 p(i) with p(i) the share of training users
  who interacted with item i (at least one user, so cold items stay finite).

``topk`` is an int array (users × K) of item positions, ``-1`` where a list is shorter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .profile import gini

__all__ = ["hits_matrix", "accuracy_per_user", "beyond_accuracy_per_user", "catalog_metrics",
           "summarise", "METRIC_NAMES"]

METRIC_NAMES: tuple[str, ...] = ("ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage",
                                 "gini", "novelty")


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
