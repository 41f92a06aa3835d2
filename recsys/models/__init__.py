"""Recommenders behind one contract (see :mod:`recsys.models.base`).

Model modules are imported on first use of the registry, so ``import recsys`` never pays for
torch. Names: ``pop, itemknn, ease, bpr, neumf, deepfm, multvae, hybrid, auto``.
"""

from __future__ import annotations

import importlib
import logging

from .base import (
    REGISTRY,
    FitStopped,
    ModelConfig,
    Recommender,
    create_model,
    get_model_class,
    load_model,
    register,
    topk_from_scores,
)

__all__ = ["REGISTRY", "FitStopped", "ModelConfig", "Recommender", "create_model",
           "get_model_class", "load_model", "register", "topk_from_scores", "MODEL_MODULES",
           "available_models"]

log = logging.getLogger(__name__)

#: Module of each model, in the order the UI lists them.
MODEL_MODULES: dict[str, str] = {
    "pop": "simple", "itemknn": "simple", "ease": "simple", "bpr": "bpr", "neumf": "neumf",
    "deepfm": "deepfm", "multvae": "multvae", "hybrid": "hybrid", "blend": "auto", "auto": "auto",
}


def _ensure_registered() -> None:
    """Import every model module that exists (each registers itself)."""
    for module in dict.fromkeys(MODEL_MODULES.values()):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
            log.debug("model module %s not available", module)


def available_models() -> list[str]:
    """Registered model names, in display order."""
    _ensure_registered()
    return [name for name in MODEL_MODULES if name in REGISTRY]
