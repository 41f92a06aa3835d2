"""A second model's opinion of each candidate, read by the hit model.

The main model ranks tail items badly, so the hit chances the expected-loss promotion spends
its tail slots by are only as sharp as that model's scores. A second model of another family
(Mult-VAE, a popularity-debiased BPR, item-kNN) ranks the same tail candidates differently;
where both agree a tail candidate is good it is a hit more often. The opinion is two numbers
per candidate: the second model's score standardised over the user's unseen items, and the log
of its rank among them. They join the hit model's features
(:data:`recsys.rerank.hits.OPINION_FEATURES`); the candidate pool stays the main model's.

The opinion model is trained on the same data as the main model: on the inner split while
the hit model learns, on the full data when its probabilities are used.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from recsys.data.dataset import Dataset
from recsys.models.base import SCORE_BLOCK_ENTRIES

__all__ = ["OPINIONS", "opinion_columns", "fit_opinion"]

log = logging.getLogger(__name__)

#: Second models the hit model can read: option value → (registered model, config).
OPINIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "multvae": ("multvae", {}),
    "bpr-macr": ("bpr", {"debias": "macr", "debias_strength": 1.0}),
    "itemknn": ("itemknn", {}),
}
#: Users scored at once (a users × items block of scores).
BLOCK = 1024


def fit_opinion(name: str, dataset: Dataset, *, seed: int = 0, device: str | None = "cpu"):
    """The opinion model ``name`` (:data:`OPINIONS`) trained on ``dataset``."""
    from recsys.models import create_model

    if name not in OPINIONS:
        raise ValueError(f"unknown second opinion '{name}'; choose one of {', '.join(OPINIONS)}")
    model_name, config = OPINIONS[name]
    return create_model(model_name, {**config, "seed": seed}).fit(dataset, device=device)


def opinion_columns(opinion, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, C) float32 standardised score and log rank (1-based, among the user's unseen items)
    of each candidate by the ``opinion`` model; padding (``items < 0``) gets zeros."""
    users = np.asarray(users, dtype=np.int64)
    z_out = np.zeros(items.shape, dtype=np.float32)
    r_out = np.zeros(items.shape, dtype=np.float32)
    known = opinion.exclusion.tocsr()
    step = max(1, min(BLOCK, SCORE_BLOCK_ENTRIES // 4 // max(known.shape[1], 1)))
    for start in range(0, len(users), step):
        rows = slice(start, start + step)
        block = users[rows]
        raw = opinion.score(block)
        if not isinstance(raw, np.ndarray):  # a torch model's scores
            raw = raw.detach().float().cpu().numpy()
        s = np.array(raw, dtype=np.float64)
        seen = known[block].toarray() > 0
        s[~np.isfinite(s)] = np.nan
        s[seen] = np.nan
        n_unseen = np.maximum((~np.isnan(s)).sum(axis=1, keepdims=True), 1)
        with np.errstate(all="ignore"):
            mean = np.nanmean(s, axis=1, keepdims=True)
            std = np.nanstd(s, axis=1, keepdims=True)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        order = np.argsort(np.where(np.isnan(s), np.inf, -s), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(1, s.shape[1] + 1)[None, :], axis=1)
        its = items[rows]
        safe = np.maximum(its, 0)
        r = np.arange(len(block))[:, None]
        cand = s[r, safe]
        z = np.where(np.isnan(cand), 0.0, (np.nan_to_num(cand) - mean) / std)
        lr = np.log(np.minimum(rank[r, safe], n_unseen))
        valid = its >= 0
        z_out[rows] = np.where(valid, z, 0.0)
        r_out[rows] = np.where(valid, lr, 0.0)
    return z_out, r_out
