"""A policy's full slot distribution for the users of a feedback log, and its off-policy
estimate on that log.

An uploaded feedback log says what the shop showed and what was clicked or bought; to
estimate what a policy *would* have earned on it, :func:`policy_targets` builds the policy's
lists for the log's users from a model's candidates (every item the user has interacted with
excluded, the model's best ``C`` items plus its best ``C`` tail / new items) and keeps, for
each rank, every item the policy could show there with its probability (the marginals of
:func:`~recsys.feedback.policies.explore`; the shown item alone, probability 1, for
deterministic policies). :func:`estimate_policy` hands them to
:func:`~recsys.feedback.ope.off_policy_estimates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recsys.data.dataset import Dataset
from recsys.feedback.logs import FeedbackLog, TargetLists
from recsys.feedback.ope import ESTIMATORS, OpeResult, off_policy_estimates
from recsys.feedback.policies import PolicyConfig, explore
from recsys.feedback.pools import policy_inputs, prior_means, with_target_candidates
from recsys.rerank import candidates_from_model

__all__ = ["policy_targets", "estimate_policy"]


def policy_targets(model: Any, dataset: Dataset, user_ids: Sequence[str], k: int,
                   policy: PolicyConfig, *, hit_model: Any = None, candidates: int = 100
                   ) -> tuple[TargetLists, int]:
    """The policy's slot distribution for ``user_ids`` (text ids; ids not in ``dataset`` are
    skipped) and the number of users skipped. Raises ``ValueError`` when none is known."""
    ids = np.unique(np.asarray(list(user_ids), dtype=str))
    positions = dataset.user_positions(ids, missing="negative")
    users = np.asarray(positions, dtype=np.int64)
    users = users[users >= 0]
    if not len(users):
        raise ValueError("no user of the log is in this dataset; check that the log uses the "
                         "same user ids")
    c = max(candidates, k)
    cands = candidates_from_model(model, dataset, users, c, exclude=dataset.known)
    inputs = policy_inputs(dataset, policy)
    if policy.policy != "greedy":
        cands = with_target_candidates(model, dataset, cands, c, inputs["targets"],
                                       dataset.known, None)
    lists = explore(cands.users, cands.items, cands.scores, k, policy,
                    prior_mean=prior_means(hit_model, cands, dataset), **inputs)
    u, s, col = np.nonzero(lists.marginals > 0)
    items = cands.items[u, col]
    keep = items >= 0
    u, s, items, prob = u[keep], s[keep], items[keep], lists.marginals[u, s, col][keep]
    target = TargetLists(dataset.user_ids[cands.users[u]].astype(str),
                         dataset.item_ids[items].astype(str), (s + 1).astype(np.int64),
                         prob.astype(np.float64))
    return target, int(len(ids) - len(users))


def estimate_policy(model: Any, dataset: Dataset, log: FeedbackLog, policy: PolicyConfig, *,
                    estimators: Sequence[str] = ESTIMATORS, hit_model: Any = None,
                    bootstrap: int = 200, seed: int = 0) -> OpeResult:
    """IPS / SNIPS / DR of ``policy`` (lists as long as the log's deepest position) on
    ``log``; a warning counts the log's users the dataset does not know."""
    k = int(log.position.max()) if log.rows else 1
    target, unknown = policy_targets(model, dataset, log.user, k, policy, hit_model=hit_model)
    result = off_policy_estimates(log, target, estimators, bootstrap=bootstrap, seed=seed)
    if unknown:
        result.warnings.append(f"{unknown:,} log users are not in this dataset: the policy has "
                               "no list for them")
    return result
