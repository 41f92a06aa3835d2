"""What a policy chooses from: the model's candidates plus its best tail / new items, and the
per-dataset inputs each policy needs.

A model whose top-C holds only head items would leave ε-greedy nothing to explore and
Thompson sampling no tail item to discover, so exploring lists choose from the model's ``C``
best unseen items followed by its ``C`` best exploration targets (tail or new items) that are
not already among them (:func:`with_target_candidates`). The first columns keep the model's
own order, so the greedy list is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.feedback.items import exploration_targets, item_content_vectors
from recsys.feedback.policies import ItemFeedback, PolicyConfig
from recsys.rerank import Candidates, candidates_from_model

__all__ = ["with_target_candidates", "policy_inputs"]


def with_target_candidates(model: Any, dataset: Dataset, cands: Candidates, c: int,
                           targets: np.ndarray, exclude: sp.csr_matrix,
                           allowed: np.ndarray | None) -> Candidates:
    """The model's ``c`` best candidates followed by its ``c`` best exploration targets (tail
    or new items) not already among them: a model whose top-C holds only head items still
    has tail items to explore. The first columns keep the model's own order."""
    mask = targets if allowed is None else targets & allowed
    extra = candidates_from_model(model, dataset, cands.users, c, exclude=exclude,
                                  allowed_items=mask)
    n = dataset.n_items
    rows = np.arange(cands.n_users, dtype=np.int64)[:, None]
    main_keys = np.where(cands.items >= 0, rows * n + cands.items, -1)
    extra_keys = rows * n + extra.items
    dup = (extra.items < 0) | np.isin(extra_keys, main_keys[main_keys >= 0])
    items = np.concatenate([cands.items, np.where(dup, -1, extra.items)], axis=1)
    scores = np.concatenate([cands.scores, np.where(dup, -np.inf, extra.scores)], axis=1)
    return Candidates(cands.users, items, scores.astype(np.float32))


def policy_inputs(dataset: Dataset, policy: PolicyConfig,
                  feedback: ItemFeedback | None = None) -> dict[str, Any]:
    """What the policy needs from the dataset: exploration targets (tail or new items),
    LinUCB's item content vectors and exposure (the feedback's shows, else the training
    interactions per item)."""
    inputs: dict[str, Any] = {"targets": exploration_targets(dataset, policy.new_item_days),
                              "feedback": feedback}
    if policy.policy == "linucb":
        inputs["vectors"] = item_content_vectors(dataset, seed=policy.seed)
        inputs["exposure"] = (feedback.shows if feedback is not None
                              else np.asarray(dataset.popularity, dtype=np.float64))
    return inputs
