"""Re-ranking for tail exposure: candidates from any model, re-ranked per user, measured.

How a list is made (:mod:`recsys.rerank.pipeline`)::

    lists = make_lists(model, dataset, users, k=10,
                       steps=RerankConfig(method="tail_bonus", strength=0.5),
                       context=RerankContext(dataset, item_clusters=clusters))

is ``candidates_from_model`` (each user's best ``candidates`` unseen items, over the model's
``recommend``; :data:`RERANK_POOL`, 200, unless asked) followed by ``rerank`` (or, with no
step, the model's own top-K: ``plain_lists``). Pages that re-rank the same users many times keep the candidates::

    cands = candidates_from_model(model, dataset, c=RERANK_POOL)
    result = rerank(cands, dataset, RerankConfig(method="tail_bonus", strength=0.5), k=10)

Methods (:data:`METHODS`, dispatched through :data:`recsys.rerank.methods.METHOD_STEPS`):
additive tail bonus, popularity penalty, xQuAD for popularity, calibration to the user's
category mix and a promotion quota, plus merchandiser rules (pins, boost / bury sets, blocked
items). Strength 0 leaves the model's lists exactly as they were. A :class:`RerankContext`
carries what steps read besides the candidates (item map clusters, a saved item set, the hit
model). A hit model (:mod:`recsys.rerank.hits`, fitted on an inner split by
:mod:`recsys.rerank.refit`) lets a global promotion spend its slots where the fewest expected
hits are lost (``swap_cost="expected"``); it can also read a second model's opinion of each
candidate (``opinion``, :mod:`recsys.rerank.opinion`). Lists are measured with :func:`measure` (the
protocol's :func:`recsys.evaluation.measure_lists`).
"""

from __future__ import annotations

from recsys.rerank.candidates import Candidates, Reranked, candidates_from_model
from recsys.rerank.config import METHODS, RERANK_POOL, TARGETS, RerankConfig
from recsys.rerank.context import (
    RerankContext,
    category_matrix,
    item_categories,
    item_clusters_from_map,
    item_set_positions,
)
from recsys.rerank.engine import as_configs, rerank
from recsys.rerank.hits import HitModel, fit_hit_model
from recsys.rerank.lists import REASONS, Reason
from recsys.rerank.measure import STRENGTHS, best_within, exposure, exposure_table, frontier, measure
from recsys.rerank.pipeline import active_steps, lists_from_candidates, make_lists, plain_lists
from recsys.rerank.preview import changed_rows, preview_frame
from recsys.rerank.refit import (
    fit_hit_model_on_split,
    hit_model_for,
    inner_split_method,
    needs_hit_model,
    opinion_of,
)

__all__ = ["Candidates", "Reranked", "RerankConfig", "RerankContext", "METHODS", "TARGETS",
           "RERANK_POOL",
           "REASONS", "Reason", "candidates_from_model", "rerank", "as_configs", "category_matrix",
           "item_categories", "item_clusters_from_map", "item_set_positions", "measure", "exposure",
           "exposure_table", "frontier", "best_within", "STRENGTHS", "preview_frame",
           "changed_rows", "HitModel", "fit_hit_model", "fit_hit_model_on_split",
           "needs_hit_model", "hit_model_for", "inner_split_method", "opinion_of", "make_lists",
           "lists_from_candidates", "plain_lists", "active_steps"]
