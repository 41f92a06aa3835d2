"""``auto``: what a merchandiser who does not tune gets.

It carves a validation split out of the training data, tries a small, time-bounded set of
strong candidates (EASE over a λ grid, with context pairs, item side information and recency-weighted
histories when the data has them, item-kNN, a Mult-VAE) and blends of the best EASE with each
other family (models of different kinds make different mistakes, so a blend usually beats
both), keeps the one with the best validation NDCG@K and refits it on all the training data.
The search log is kept in ``search_``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.models.base import Callback, FitStopped, ModelConfig, Recommender
from recsys.models.registry import create_model, register

__all__ = ["AutoConfig", "AutoRecommender", "Blend", "BlendConfig"]

log = logging.getLogger(__name__)


class BlendConfig(ModelConfig):
    """Weighted sum of standardised scores of two models (each given as name + config)."""

    first: dict[str, Any] = Field(default_factory=lambda: {"name": "ease", "config": {}})
    second: dict[str, Any] = Field(default_factory=lambda: {"name": "itemknn", "config": {}})
    weight: float = Field(0.2, ge=0.0, le=1.0, description="Weight of the second model.")


@register
class Blend(Recommender):
    """Blend of two models: (1 − w)·z(first) + w·z(second), z = per-user standardisation."""

    name = "blend"
    label = "Blend of two models"
    config_cls = BlendConfig

    @classmethod
    def from_parts(cls, first: Recommender, second: Recommender, first_spec: dict[str, Any],
                   second_spec: dict[str, Any], weight: float) -> Blend:
        """A blend of two models already fitted on the same data (no refit); the specs
        (``{"name", "config"}``) make it saveable and refittable like any blend."""
        blend = cls(BlendConfig(first=first_spec, second=second_spec, weight=weight,
                                seed=first.config.seed))
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
        a, b = (_standardise(_to_numpy(m.score(users))) for m in self.parts_)
        return ((1 - w) * a + w * b).astype(np.float32)

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


def _key(name: str, config: dict[str, Any]) -> str:
    return json.dumps([name, config], sort_keys=True)


def _to_numpy(scores: Any) -> np.ndarray:
    return scores if isinstance(scores, np.ndarray) else scores.float().cpu().numpy()


def _standardise(scores: np.ndarray) -> np.ndarray:
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


class AutoConfig(ModelConfig):
    time_budget_s: float = Field(120.0, ge=5.0, le=3600.0, description="Stop trying new "
                                 "candidates after this many seconds.")
    validation: Literal["auto", "random", "temporal"] = Field(
        "auto", description="Internal validation split; auto = temporal when timestamps exist "
        "(recommend the future), random otherwise.")
    valid_frac: float = Field(0.2, gt=0.0, lt=0.5)
    k: int = Field(10, ge=1, le=100, description="Cut-off of the NDCG used to choose.")
    neural: bool = Field(True, description="Also try a Mult-VAE and blends with it (slower, "
                         "usually the most accurate).")


@register
class AutoRecommender(Recommender):
    """Chooses and tunes a strong model on an internal validation split, then refits it."""

    name = "auto"
    label = "Auto (tuned)"
    config_cls = AutoConfig

    def _stages(self, dataset: Dataset) -> list[list[tuple[str, dict[str, Any]]]]:
        """Candidate stages; each EASE stage starts from the best EASE config found so far."""
        from recsys.models.simple import item_attributes

        stages: list[list[tuple[str, dict[str, Any]]]] = [
            [("ease", {"l2": l2}) for l2 in (200, 100, 400, 800)]]
        if dataset.n_context_pairs:
            stages.append([("ease", {"context_weight": w}) for w in (0.3, 0.6)])
        if item_attributes(dataset) is not None:
            stages.append([("ease", {"side_weight": w}) for w in (5.0, 20.0)])
        if dataset.has_timestamps:
            stages.append([("ease", {"history_half_life_days": h}) for h in (90.0, 30.0, 180.0)])
        stages.append([("itemknn", {"neighbours": 100, "shrinkage": 10.0})])
        if self.config.neural:
            stages.append([("multvae", {})])
        return stages

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        from recsys.evaluation import evaluate

        method = self.config.validation
        if method == "auto":
            method = "temporal" if dataset.has_timestamps else "random"
        inner = split_dataset(dataset, SplitConfig(method=method, test_frac=self.config.valid_frac,
                                                   seed=self.config.seed))
        start = time.perf_counter()
        results: list[dict[str, Any]] = []

        def over_budget() -> bool:
            return bool(results) and time.perf_counter() - start > self.config.time_budget_s

        fitted: dict[str, Recommender] = {}

        def record(name: str, config: dict[str, Any], model: Recommender, t0: float) -> None:
            ndcg = evaluate(model, inner.train, inner.test, k=self.config.k).summary["ndcg"]
            results.append({"name": name, "config": config, "val_ndcg": ndcg,
                            "seconds": time.perf_counter() - t0})
            log.info("auto: %s %s -> val NDCG@%d %.4f", name, config, self.config.k, ndcg)
            self.history_.append({"epoch": len(results), "val_ndcg": ndcg})
            if callback is not None and callback(len(results), {"val_ndcg": ndcg}) is False:
                raise FitStopped

        def trial(name: str, config: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            model = create_model(name, {**config, "seed": self.config.seed})
            # An iterative candidate stops at the end of the budget (and is judged as it is then).
            model.fit(inner.train, device=self.device_,
                      callback=lambda epoch, metrics: not over_budget())
            fitted[_key(name, config)] = model
            record(name, config, model, t0)

        def blend_trial(first: dict[str, Any], second: dict[str, Any], weight: float) -> None:
            t0 = time.perf_counter()
            specs = [{"name": r["name"], "config": r["config"]} for r in (first, second)]
            model = Blend.from_parts(fitted[_key(**specs[0])], fitted[_key(**specs[1])], *specs,
                                     weight=weight)
            record("blend", {"first": specs[0], "second": specs[1], "weight": weight}, model, t0)

        def best_of(name: str) -> dict[str, Any] | None:
            done = [r for r in results if r["name"] == name]
            return max(done, key=lambda r: r["val_ndcg"]) if done else None

        try:
            for stage in self._stages(dataset):
                for name, update in stage:
                    if over_budget():
                        raise FitStopped
                    base = best_of(name)
                    config = {**(base["config"] if base and name == "ease" else {}), **update}
                    if not any(r["name"] == name and r["config"] == config for r in results):
                        trial(name, config)
        except FitStopped:
            log.info("auto: stopped after %d candidates (budget or callback)", len(results))
        # Blends reuse the fitted candidates: cheap, so tried even when the budget is spent. The
        # Mult-VAE weights start at 0.5: the final refit trains it on a quarter more data than the
        # inner split gave it, which helps it more than EASE, so validation underrates its weight.
        try:
            first = best_of("ease")
            for other, weights in (("itemknn", (0.2, 0.4)), ("multvae", (0.5, 0.7))):
                second = best_of(other)
                for w in weights if first and second else ():
                    blend_trial(first, second, w)
        except FitStopped:
            log.info("auto: blends stopped by the callback")
        best = max(results, key=lambda r: r["val_ndcg"])
        self.search_ = results
        self.chosen_ = {"name": best["name"], "config": best["config"]}
        self.inner_ = create_model(best["name"], {**best["config"], "seed": self.config.seed})
        self.inner_.fit(dataset, device=self.device_)

    def score(self, users: np.ndarray) -> Any:
        return self.inner_.score(users)

    def _state(self) -> dict[str, np.ndarray]:
        out = {f"inner.{k}": v for k, v in self.inner_._state().items()}
        out["chosen"] = np.array(json.dumps(self.chosen_))
        out["search"] = np.array(json.dumps(self.search_))
        return out

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.chosen_ = json.loads(str(state["chosen"]))
        self.search_ = json.loads(str(state["search"]))
        self.inner_ = create_model(self.chosen_["name"], {**self.chosen_["config"],
                                                          "seed": self.config.seed})
        self.inner_.n_users_, self.inner_.n_items_ = self.n_users_, self.n_items_
        self.inner_.device_ = self.device_
        self.inner_._load_state({k.split(".", 1)[1]: v for k, v in state.items()
                                 if k.startswith("inner.")})
        self.seen_, self.known_ = self.inner_.seen_, self.inner_.exclusion
