"""Recommenders behind one contract (:mod:`recsys.models.base`) and their registry
(:mod:`recsys.models.registry`).

Model modules are imported on first use of the registry, so ``import recsys`` never pays for
torch. Names: ``pop, itemknn, ease, bpr, neumf, deepfm, multvae, sasrec, hybrid, coldstart, blend,
auto``.
"""

from __future__ import annotations

from recsys.models.base import FitStopped, ModelConfig, Recommender, topk_from_scores
from recsys.models.registry import (
    MODEL_MODULES,
    REGISTRY,
    available_models,
    create_model,
    get_model_class,
    load_model,
    register,
)

__all__ = ["REGISTRY", "FitStopped", "ModelConfig", "Recommender", "create_model",
           "get_model_class", "load_model", "register", "topk_from_scores", "MODEL_MODULES",
           "available_models"]
