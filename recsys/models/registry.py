"""The registry of recommenders: names, classes, creation from a config, loading any saved model.

Model modules register themselves with :func:`register` when imported; they are imported on
first use of the registry (:func:`available_models`, :func:`get_model_class`), so
``import recsys`` never pays for torch.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from recsys.models.base import Recommender, read_meta

__all__ = ["REGISTRY", "MODEL_MODULES", "register", "get_model_class", "create_model",
           "load_model", "available_models"]

log = logging.getLogger(__name__)

REGISTRY: dict[str, type[Recommender]] = {}

#: Module of each model, in the order the UI lists them.
MODEL_MODULES: dict[str, str] = {
    "pop": "simple", "itemknn": "simple", "ease": "simple", "als": "als", "bpr": "bpr", "neumf": "neumf",
    "deepfm": "deepfm", "multvae": "multvae", "sasrec": "sequence", "hybrid": "hybrid",
    "coldstart": "coldstart", "contentmf": "content_mf", "blend": "blend", "auto": "auto",
}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator adding a model to :data:`REGISTRY` under ``cls.name``."""
    REGISTRY[cls.name] = cls
    return cls


def _ensure_registered() -> None:
    """Import every model module that exists (each registers itself)."""
    package = __name__.rsplit(".", 1)[0]
    for module in dict.fromkeys(MODEL_MODULES.values()):
        try:
            importlib.import_module(f"{package}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{module}":
                raise
            log.debug("model module %s not available", module)


def available_models() -> list[str]:
    """Registered model names, in display order."""
    _ensure_registered()
    return [name for name in MODEL_MODULES if name in REGISTRY]


def get_model_class(name: str) -> type[Recommender]:
    _ensure_registered()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown model '{name}'; choose one of {', '.join(sorted(REGISTRY))}.") \
            from None


def create_model(name: str, config: dict[str, Any] | None = None) -> Recommender:
    """Instantiate a registered model from a plain config dict (validated, typos refused)."""
    cls = get_model_class(name)
    return cls(cls.config_cls(**(config or {})))


def load_model(folder: str | Path, device: str | None = None) -> Recommender:
    """Load any saved model, whatever its class (its ``model.json`` names it; no pickle)."""
    return get_model_class(read_meta(folder)["name"]).load(folder, device=device)
