"""Learning from feedback: exploration policies with propensities
(:mod:`~recsys.feedback.policies`, choosing from the candidate pools of
:mod:`~recsys.feedback.pools`), off-policy estimates of any list policy's reward from a
feedback log (:mod:`~recsys.feedback.ope`, read and checked by :mod:`~recsys.feedback.logs`)
and a day-by-day replay (:mod:`~recsys.feedback.replay`). NumPy, no Streamlit."""

from recsys.feedback.items import exploration_targets, item_content_vectors, new_item_mask
from recsys.feedback.policies import (
    POLICIES,
    ExploredLists,
    ItemFeedback,
    PolicyConfig,
    explore,
    list_ids,
)
from recsys.feedback.pools import (
    calibration_model,
    policy_inputs,
    prior_means,
    with_target_candidates,
)

__all__ = ["POLICIES", "ExploredLists", "ItemFeedback", "PolicyConfig", "explore", "list_ids",
           "exploration_targets", "item_content_vectors", "new_item_mask", "policy_inputs",
           "with_target_candidates", "calibration_model", "prior_means"]
