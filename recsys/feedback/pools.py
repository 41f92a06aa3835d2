"""What a policy chooses from: the model's candidates plus its best tail / new items, and the
per-dataset inputs each policy needs.

A model whose top-C holds only head items would leave ε-greedy nothing to explore and
Thompson sampling no tail item to discover, so exploring lists choose from the model's ``C``
best unseen items followed by its ``C`` best exploration targets (tail or new items) that are
not already among them (:func:`with_target_candidates`). The first columns keep the model's
own order, so the greedy list is unchanged.

Thompson sampling's prior means are the candidates' hit probabilities from the hit model
(:mod:`recsys.rerank.hits`: a logistic regression on the score relative to the user's best,
the rank, popularity, tail flag and user activity), fitted on an inner split of the data the
model is trained on with the model's setting refitted there (:func:`calibration_model`), so
they are calibrated across users; the appended tail / new columns are given ranks after the
model's ``C`` (their true rank is lower still). The probabilities are handed out in the
model's score order, so the prior keeps the model's ranking and a strong prior (weight near 0)
reproduces the model's own list.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.feedback.items import exploration_targets, item_content_vectors
from recsys.feedback.policies import ItemFeedback, PolicyConfig
from recsys.rerank import (
    Candidates,
    HitModel,
    candidates_from_model,
    fit_hit_model_on_split,
    inner_split_method,
)

__all__ = ["with_target_candidates", "policy_inputs", "calibration_model", "prior_means"]

log = logging.getLogger(__name__)


def with_target_candidates(model: Any, dataset: Dataset, cands: Candidates, c: int,
                           targets: np.ndarray, exclude: sp.csr_matrix,
                           allowed: np.ndarray | None) -> Candidates:
    """The model's ``c`` best candidates followed by its ``c`` best exploration targets (tail
    or new items) not already among them: a model whose top-C holds only head items still
    has tail items to explore. The first columns keep the model's own order. Without any
    target item (e.g. no new item within the age cut-off) nothing is scored for them: the
    added columns are padding."""
    mask = targets if allowed is None else targets & allowed
    if np.any(mask):
        extra = candidates_from_model(model, dataset, cands.users, c, exclude=exclude,
                                      allowed_items=mask)
    else:  # no target to add: the padding the model's top-c of nothing is, without scoring
        width = c if cands.n_users else min(c, dataset.n_items)
        extra = Candidates(cands.users, np.full((cands.n_users, width), -1, dtype=np.int64),
                           np.full((cands.n_users, width), -np.inf, dtype=np.float32))
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


def calibration_model(model: Any, dataset: Dataset, policy: PolicyConfig,
                      device: str | None = "cpu", *, c: int) -> HitModel | None:
    """The hit model behind Thompson's calibrated prior (``None`` for other policies, for
    ``prior="rank"``, or when the inner split leaves nothing to learn from), learnt from
    candidate pools of ``c``: the size of the pools the policy will choose from."""
    if policy.policy != "thompson" or policy.prior != "calibrated":
        return None
    t0 = time.perf_counter()
    method = inner_split_method(dataset)
    try:
        hits = fit_hit_model_on_split(model, dataset, method=method, device=device, c=c)
    except ValueError as exc:  # too little data for an inner split: fall back to ranks
        log.warning("Thompson prior from ranks: no hit model (%s)", exc)
        return None
    log.info("Thompson prior: hit model fitted on an inner %s split in %.1fs", method,
             time.perf_counter() - t0)
    return hits


def prior_means(hit_model: HitModel | None, cands: Candidates, dataset: Dataset
                ) -> np.ndarray | None:
    """(U, C) calibrated hit probabilities of the candidate columns, in the model's order (the
    user's probabilities sorted and handed out by score, so a strong prior reproduces the
    model's list and calibration only sets the scale); ``None`` without a hit model (the
    policy then calibrates by rank)."""
    if hit_model is None:
        return None
    valid = cands.items >= 0
    rank = np.broadcast_to(np.arange(1, cands.c + 1, dtype=np.float32), cands.items.shape)
    scores = np.where(valid, cands.scores, 0.0).astype(np.float32)
    p = np.where(valid, hit_model.predict_lists(scores, rank, cands.items, cands.users, dataset),
                 -np.inf)
    by_score = np.argsort(np.where(valid, -cands.scores, np.inf), axis=1, kind="stable")
    out = np.empty_like(p, dtype=np.float64)
    np.put_along_axis(out, by_score, -np.sort(-p, axis=1), axis=1)
    return np.where(valid, out, 0.0)
