"""``blend``: a weighted sum of two models' per-user standardised scores.

Models of different kinds make different mistakes, so a blend of EASE with a neighbourhood or
a neural model usually beats both; :mod:`.auto` builds its blends from candidates it has already
fitted (:meth:`Blend.from_parts`), so trying one costs no training.

A model without a cold-start path scores products nobody has bought yet at random or near its
floor; blended in, it drowns the first model's cold-start path and new products leave the
lists. With ``cold_items="first"`` (what ``auto`` uses when the catalog has new products) those
products keep the first model's standing: their second-model part is the first model's own.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, ModelConfig, Recommender
from recsys.models.registry import create_model, register

__all__ = ["BlendConfig", "Blend", "model_key", "to_numpy", "standardise"]


def model_key(name: str, config: dict[str, Any]) -> str:
    """One string per (model name, config): the identity of a candidate."""
    return json.dumps([name, config], sort_keys=True)


def to_numpy(scores: Any) -> np.ndarray:
    """Scores as a NumPy array (a torch tensor is copied to the host)."""
    return scores if isinstance(scores, np.ndarray) else scores.float().cpu().numpy()


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores (a constant row stays at 0)."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


class BlendConfig(ModelConfig):
    """Weighted sum of standardised scores of two models (each given as name + config)."""

    first: dict[str, Any] = Field(default_factory=lambda: {"name": "ease", "config": {}})
    second: dict[str, Any] = Field(default_factory=lambda: {"name": "itemknn", "config": {}})
    weight: float = Field(0.2, ge=0.0, le=1.0, description="Weight of the second model.")
    cold_items: Literal["blend", "first"] = Field(
        "blend", description="Products without interactions in the training data: blended like "
        "the others, or scored by the first model alone (its cold-start path; the second "
        "model knows nothing of them).")


@register
class Blend(Recommender):
    """Blend of two models: (1 − w)·z(first) + w·z(second), z = per-user standardisation."""

    name = "blend"
    label = "Blend of two models"
    updatable = False
    config_cls = BlendConfig

    @classmethod
    def from_parts(cls, first: Recommender, second: Recommender, first_spec: dict[str, Any],
                   second_spec: dict[str, Any], weight: float,
                   cold_items: Literal["blend", "first"] = "blend") -> Blend:
        """A blend of two models already fitted on the same data (no refit); the specs
        (``{"name", "config"}``) make it saveable and refittable like any blend."""
        blend = cls(BlendConfig(first=first_spec, second=second_spec, weight=weight,
                                cold_items=cold_items, seed=first.config.seed))
        blend.parts_ = [first, second]
        blend.device_, blend.seen_, blend.known_ = first.device_, first.seen_, first.exclusion
        blend.n_users_, blend.n_items_ = first.n_users_, first.n_items_
        blend.fingerprint_, blend.history_ = first.fingerprint_, []
        return blend

    def _parts(self) -> list[Recommender]:
        return [create_model(p["name"], {**p.get("config", {}), "seed": self.config.seed})
                for p in (self.config.first, self.config.second)]

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        self.parts_ = [m.fit(dataset, device=self.device_) for m in self._parts()]

    def score(self, users: np.ndarray) -> np.ndarray:
        w = self.config.weight
        a, b = (standardise(to_numpy(m.score(users))) for m in self.parts_)
        if self.config.cold_items == "first":
            cold = self.cold_mask()
            b[:, cold] = a[:, cold]
        return ((1 - w) * a + w * b).astype(np.float32)

    def fitted_notes(self) -> dict[str, str]:
        """Each part's own choices, labelled by the part (``hybrid · new products``)."""
        return {f"{m.name} · {label}": note for m in getattr(self, "parts_", [])
                for label, note in m.fitted_notes().items()}

    def cold_mask(self) -> np.ndarray:
        """Products without a single interaction in the training histories."""
        cached = getattr(self, "cold_", None)
        if cached is None or cached[0] is not self.seen_:  # recomputed when the histories change
            self.cold_ = (self.seen_, np.diff(sp.csc_matrix(self.seen_).indptr) == 0)
        return self.cold_[1]

    def _state(self) -> dict[str, np.ndarray]:
        out = super()._state()
        for i, m in enumerate(self.parts_):
            out.update({f"p{i}.{k}": v for k, v in m._state().items()})
        return out

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.parts_ = self._parts()
        for i, m in enumerate(self.parts_):
            m.n_users_, m.n_items_, m.device_ = self.n_users_, self.n_items_, self.device_
            m._load_state({k.split(".", 1)[1]: v for k, v in state.items()
                           if k.startswith(f"p{i}.")})
