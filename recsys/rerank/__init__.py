"""Re-ranking for tail exposure: candidates from any model, re-ranked per user, measured.

::

    cands = candidates_from_model(model, dataset, c=100)
    result = rerank(cands, dataset, RerankConfig(method="tail_bonus", strength=0.5), k=10)

Methods (:data:`METHODS`): additive tail bonus, popularity penalty, xQuAD for popularity,
calibration to the user's category mix and a promotion quota, plus merchandiser rules (pins,
boost / bury sets, blocked items). Strength 0 leaves the model's lists exactly as they were.
A hit model fitted on a validation split (:mod:`recsys.rerank.hits`) lets a global promotion
spend its slots where the fewest expected hits are lost (``swap_cost="expected"``).
"""

from __future__ import annotations

from recsys.rerank.candidates import Candidates, Reranked, candidates_from_model
from recsys.rerank.config import METHODS, TARGETS, RerankConfig
from recsys.rerank.context import RerankContext, category_matrix, item_categories, item_clusters_from_map
from recsys.rerank.engine import as_configs, rerank
from recsys.rerank.hits import HitModel, fit_hit_model, fit_hit_model_on_split, needs_hit_model
from recsys.rerank.lists import REASONS
from recsys.rerank.measure import STRENGTHS, best_within, exposure, exposure_table, frontier, measure
from recsys.rerank.preview import changed_rows, preview_frame

__all__ = ["Candidates", "Reranked", "RerankConfig", "RerankContext", "METHODS", "TARGETS",
           "REASONS", "candidates_from_model", "rerank", "as_configs", "category_matrix",
           "item_categories", "item_clusters_from_map", "measure", "exposure", "exposure_table",
           "frontier", "best_within", "STRENGTHS", "preview_frame", "changed_rows", "HitModel",
           "fit_hit_model", "fit_hit_model_on_split", "needs_hit_model"]
