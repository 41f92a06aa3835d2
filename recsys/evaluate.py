"""Full-ranking evaluation: every test user, all items ranked, training items excluded.

Users are scored in blocks (``torch.topk`` on the device for torch models,
``np.argpartition`` otherwise) and every metric of :mod:`recsys.metrics` is computed on the
same lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .dataset import Dataset
from .metrics import summarise
from .models.base import Recommender
from .splits import Split

__all__ = ["Evaluation", "evaluate", "evaluate_split", "validation_metrics"]


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


def evaluate(model: Recommender, train: Dataset, test: sp.csr_matrix, *, k: int = 10,
             users: np.ndarray | None = None, block: int = 2048) -> Evaluation:
    """Rank all items for each test user (everything the user already has excluded: training
    positives and context pairs) and measure the lists."""
    test = sp.csr_matrix(test)
    if users is None:
        users = np.flatnonzero(np.diff(test.indptr) > 0)
    t0 = time.perf_counter()
    topk, _ = model.recommend(users, k, exclude_seen=True, block=block)
    n_train_users = int((np.diff(train.matrix.indptr) > 0).sum())
    summary, per_user = summarise(topk, test[users], train.popularity, train.is_tail,
                                  n_train_users)
    seconds = time.perf_counter() - t0
    per_user.insert(0, "user_id", train.user_ids[users])
    return Evaluation(model.name, k, summary, per_user, topk, users, seconds,
                      {"k": k, "head_share": train.config.head_share,
                       "excluded_context_pairs": train.n_context_pairs})


def evaluate_split(model: Recommender, split: Split, *, k: int = 10) -> Evaluation:
    """:func:`evaluate` on a :class:`~recsys.splits.Split`, protocol recorded."""
    ev = evaluate(model, split.train, split.test, k=k)
    ev.protocol.update(split=split.config.model_dump(mode="json"))
    return ev


def validation_metrics(model: Recommender, train: Dataset, validation: sp.csr_matrix,
                       k: int = 10, max_users: int = 5000, seed: int = 0) -> dict[str, float]:
    """NDCG / Recall / APLT on a validation matrix (users sampled for speed), for callbacks."""
    users = np.flatnonzero(np.diff(sp.csr_matrix(validation).indptr) > 0)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    ev = evaluate(model, train, validation, k=k, users=users)
    return {f"val_{m}": ev.summary[m] for m in ("ndcg", "recall", "aplt")}
