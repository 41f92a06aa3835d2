"""``auto``: what a merchandiser who does not tune gets.

It carves a validation split out of the training data (the protocol that fits the data, see
:func:`recsys.models.selection.inner_protocol`), tries a fixed list of strong candidates (EASE
over a λ grid, with context pairs, item side information and recency-weighted histories when the
data has them, item-kNN, a Mult-VAE, content MF, the content hybrid when the catalog has new
products) and
blends of the best of one family with each other family (models of different kinds make
different mistakes), then keeps EASE λ=200, the baseline, unless a candidate's validation gain
is beyond noise (a paired bootstrap over users), and refits the kept one on all the training
data. When the catalog holds products nobody has interacted with, only candidates with a
cold-start path can be kept, so new products reach the lists: the hybrid, content MF, and the
hybrid's blends that keep at least half of its validation recall among new products (each blend is tried with the
second model's scores of new products blended in and left out, see :class:`Blend`). Its
validation lists then leave out the products never sold in the training data, which cannot be
hits on an inner split (the inner split's own held-out products play the new ones).
A catalog too large for EASE's dense item × item matrix (over the memory bound of
:mod:`recsys.models.memory`) skips the search and keeps ALS, saying so in the report.

The search is bounded by its candidate list, not by the clock, so a busy machine gets the same
choice later rather than a worse one sooner; ``time_budget_s`` is only a safety cap (recorded
when it cuts the search). Every candidate's validation figures, the inner split and the reason
for the choice are kept in ``search_`` and ``report_`` (saved with the model).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.models.base import Callback, FitStopped, ModelConfig, Recommender
from recsys.models.blend import Blend, model_key
from recsys.models.registry import create_model, register
from recsys.models.selection import Objective, choose, inner_protocol, new_item_share, new_items

__all__ = ["AutoConfig", "AutoRecommender", "BASELINE"]

log = logging.getLogger(__name__)

#: What ``auto`` keeps unless a candidate beats it beyond noise on validation.
BASELINE: tuple[str, dict[str, Any]] = ("ease", {"l2": 200})
#: What ``auto`` keeps when the catalog is too large for the dense candidates (EASE, item-kNN).
SCALABLE: tuple[str, dict[str, Any]] = ("als", {})
#: The baseline when new products must reach the lists.
COLD_BASELINE: tuple[str, dict[str, Any]] = ("hybrid", {"l2": 200})
#: Second models of the blends tried with the best EASE (the hybrid with new products), and
#: the weights of the second. The Mult-VAE and content MF weights start at 0.3: the final refit
#: trains them on a quarter more data than the inner split gave them, which helps them more
#: than EASE, so validation underrates their weight.
BLEND_WEIGHTS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("itemknn", (0.2, 0.4, 0.6)), ("multvae", (0.3, 0.5, 0.7)), ("contentmf", (0.3, 0.5, 0.7)))
#: Candidates with their own path for new products (they may be kept when the catalog has some).
COLD_PATH_MODELS: frozenset[str] = frozenset({"hybrid", "contentmf"})
#: With new products, a blend may be kept only when it keeps at least this share of the
#: hybrid's validation recall among new products (a blend that quiets them can win on NDCG
#: by listing none, which is not a cold-start path).
NEW_RECALL_FLOOR = 0.5


class AutoConfig(ModelConfig):
    time_budget_s: float = Field(1800.0, ge=5.0, le=7200.0, description="Safety cap: stop "
                                 "trying new candidates after this many seconds (the search is "
                                 "otherwise bounded by its list of candidates).")
    validation: Literal["auto", "random", "temporal", "item-cold"] = Field(
        "auto", description="Inner validation split; auto = the split the training data was "
        "carved with, else new products held out when the catalog has some, else temporal when "
        "the timestamps order the data, else random.")
    valid_frac: float = Field(0.2, gt=0.0, lt=0.5, description="Share of each user's training "
                              "interactions held out for validation.")
    k: int = Field(10, ge=1, le=100, description="Cut-off of the NDCG used to choose.")
    neural: bool = Field(True, description="Also try a Mult-VAE, content MF and blends with "
                         "them (slower, often the most accurate).")
    objective: Objective = Field("ndcg", description="ndcg = the most accurate; tail = the "
                                 "highest long-tail share within the accuracy budget.")
    accuracy_budget: float = Field(0.05, ge=0.0, le=0.5, description="With objective tail: "
                                   "validation NDCG the choice may give up, as a share.")
    confidence: float = Field(0.95, ge=0.5, lt=1.0, description="How sure the bootstrap must be "
                              "that a candidate beats the baseline before it is kept.")


@register
class AutoRecommender(Recommender):
    """Chooses and tunes a strong model on an inner validation split, then refits it."""

    name = "auto"
    label = "Auto (tuned)"
    config_cls = AutoConfig

    def _stages(self, dataset: Dataset, cold_path: bool) -> list[list[tuple[str, dict[str, Any]]]]:
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
        if cold_path:
            stages.append([COLD_BASELINE])
        stages.append([("itemknn", {"neighbours": 100, "shrinkage": 10.0})])
        if self.config.neural:
            stages.append([("multvae", {})])
            # its shift search only matters where new products are listed
            stages.append([("contentmf", {} if cold_path else {"shift_search": False})])
        return stages

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        from recsys.evaluation import evaluate_split
        from recsys.models.memory import dense_bound_bytes, dense_fits, dense_item_bytes

        if not dense_fits(BASELINE[0], dataset.n_items):
            need, bound = dense_item_bytes(BASELINE[0], dataset.n_items), dense_bound_bytes()
            self._keep_scalable(dataset, f"the catalog of {dataset.n_items:,} products needs "
                                f"about {need / 2**30:,.1f} GB for EASE / item-kNN, over the "
                                f"memory bound of {bound / 2**30:,.1f} GB "
                                "(TAILSTUDIO_MAX_DENSE_GB): kept ALS, whose memory grows with "
                                "users + products")
            return
        protocol = inner_protocol(dataset, self.config.validation)
        inner = split_dataset(dataset, SplitConfig(
            method=protocol.method, test_frac=self.config.valid_frac, seed=self.config.seed,
            cold_item_frac=protocol.cold_item_frac))
        cold_path = protocol.method == "item-cold" or new_item_share(dataset) >= 0.01
        log.info("auto: inner split %s (%s)", protocol.method, protocol.reason)
        start = time.perf_counter()
        results: list[dict[str, Any]] = []
        per_user: list[np.ndarray] = []
        capped = False

        def over_budget() -> bool:
            return bool(results) and time.perf_counter() - start > self.config.time_budget_s

        fitted: dict[str, Recommender] = {}
        # Products never sold in ``dataset`` cannot be hits on its inner split (they have no
        # pairs on either side of it): as new products they would crowd the validation lists
        # and penalise every cold-start path for listing what may sell later. They are kept
        # out of those lists, as in the cold shift and scale searches (the inner split's own
        # held-out products stay in).
        never_sold = new_items(dataset)
        allowed = ~never_sold if cold_path and never_sold.any() else None

        def record(name: str, config: dict[str, Any], model: Recommender, t0: float) -> None:
            ev = evaluate_split(model, inner, k=self.config.k, allowed_items=allowed)
            row = {"name": name, "config": config, "val_ndcg": ev.summary["ndcg"],
                   "val_recall": ev.summary["recall"], "val_aplt": ev.summary["aplt"],
                   "seconds": time.perf_counter() - t0}
            if "new_recall" in ev.summary:
                row.update(val_new_recall=ev.summary["new_recall"],
                           val_new_share=ev.summary["new_share"])
            results.append(row)
            per_user.append(ev.per_user["ndcg"].to_numpy(dtype=np.float64))
            log.info("auto: %s %s -> val NDCG@%d %.4f", name, config, self.config.k, row["val_ndcg"])
            self.history_.append({"epoch": len(results), "val_ndcg": row["val_ndcg"]})
            if callback is not None and callback(len(results), {"val_ndcg": row["val_ndcg"]}) is False:
                raise FitStopped

        def trial(name: str, config: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            model = create_model(name, {**config, "seed": self.config.seed})
            model.fit(inner.train, device=self.device_)
            fitted[model_key(name, config)] = model
            record(name, config, model, t0)

        def blend_trial(first: dict[str, Any], second: dict[str, Any], weight: float,
                        cold: str = "blend") -> None:
            t0 = time.perf_counter()
            specs = [{"name": r["name"], "config": r["config"]} for r in (first, second)]
            model = Blend.from_parts(fitted[model_key(**specs[0])], fitted[model_key(**specs[1])],
                                     *specs, weight=weight, cold_items=cold)
            config = {"first": specs[0], "second": specs[1], "weight": weight}
            record("blend", {**config, "cold_items": cold} if cold_path else config, model, t0)

        def best_of(name: str) -> dict[str, Any] | None:
            done = [r for r in results if r["name"] == name]
            return max(done, key=lambda r: r["val_ndcg"]) if done else None

        try:
            for stage in self._stages(dataset, cold_path):
                for name, update in stage:
                    if over_budget():
                        capped = True
                        raise FitStopped
                    base = best_of(name)
                    config = {**(base["config"] if base and name == "ease" else {}), **update}
                    if not any(r["name"] == name and r["config"] == config for r in results):
                        trial(name, config)
        except FitStopped:
            log.info("auto: stopped after %d candidates (%s)", len(results),
                     "time cap" if capped else "callback")
        # Blends reuse the fitted candidates: cheap, so tried even past the time cap.
        try:
            first = best_of("hybrid" if cold_path else "ease")
            for other, weights in BLEND_WEIGHTS:
                second = best_of(other)
                for w in weights if first and second else ():
                    # with new products: the second model's view of them blended in (which
                    # quiets them) or left out (they keep the hybrid's own standing)
                    for cold in ("blend", "first") if cold_path else ("blend",):
                        blend_trial(first, second, w, cold)
        except FitStopped:
            log.info("auto: blends stopped by the callback")
        self._choose(results, per_user, cold_path)
        self.report_.update(inner_split={"method": protocol.method, "reason": protocol.reason,
                                         "valid_frac": self.config.valid_frac,
                                         "cold_item_frac": protocol.cold_item_frac,
                                         "never_sold_left_out": int(never_sold.sum())
                                         if allowed is not None else 0},
                            candidates=len(results), time_capped=capped,
                            search_seconds=time.perf_counter() - start)
        self.inner_ = create_model(self.chosen_["name"], {**self.chosen_["config"],
                                                          "seed": self.config.seed})
        self.inner_.fit(dataset, device=self.device_)

    def _keep_scalable(self, dataset: Dataset, reason: str) -> None:
        """Skip the search (its candidates do not fit): keep ALS with its defaults."""
        log.info("auto: %s", reason)
        self.search_ = []
        self.chosen_ = {"name": SCALABLE[0], "config": dict(SCALABLE[1])}
        self.report_ = {"baseline": {"name": SCALABLE[0], "config": dict(SCALABLE[1])},
                        "reason": reason, "objective": self.config.objective,
                        "cold_path": False, "candidates": 0,
                        "inner_split": {"method": "none", "reason": "no search: the dense "
                                        "candidates do not fit the memory bound"}}
        self.inner_ = create_model(SCALABLE[0], {**SCALABLE[1], "seed": self.config.seed})
        self.inner_.fit(dataset, device=self.device_)

    def _choose(self, results: list[dict[str, Any]], per_user: list[np.ndarray],
                cold_path: bool) -> None:
        """Keep the baseline unless a candidate beats it beyond noise (see :func:`choose`)."""
        if cold_path:  # only what puts new products in lists may be kept
            keep = [i for i, r in enumerate(results) if r["name"] in COLD_PATH_MODELS]
            hybrids = [results[i] for i in keep if results[i]["name"] == "hybrid"]
            keep += [i for i, r in enumerate(results) if r["name"] == "blend"
                     and r["config"]["first"]["name"] == "hybrid"
                     and self._keeps_new_products(r, hybrids)]
        else:
            keep = list(range(len(results)))
        keep = keep or list(range(len(results)))
        pool = [results[i] for i in keep]
        name, config = COLD_BASELINE if cold_path else BASELINE
        base = next((j for j, r in enumerate(pool) if r["name"] == name and r["config"] == config),
                    max(range(len(pool)), key=lambda j: -pool[j]["seconds"]))
        decision = choose(pool, [per_user[i] for i in keep], base,
                          objective=self.config.objective,
                          accuracy_budget=self.config.accuracy_budget, seed=self.config.seed,
                          confidence=self.config.confidence)
        picked = pool[decision.index]
        self.search_ = results
        self.chosen_ = {"name": picked["name"], "config": picked["config"]}
        self.report_ = {"baseline": {"name": pool[base]["name"], "config": pool[base]["config"],
                                     "val_ndcg": pool[base]["val_ndcg"]},
                        "chosen_val_ndcg": picked["val_ndcg"], "reason": decision.reason,
                        "bootstrap": decision.test, "objective": self.config.objective,
                        "cold_path": cold_path}
        log.info("auto: kept %s %s (%s)", picked["name"], picked["config"], decision.reason)

    @staticmethod
    def _keeps_new_products(blend: dict[str, Any], hybrids: list[dict[str, Any]]) -> bool:
        """Whether a blend of the hybrid keeps its cold-start path: at least
        :data:`NEW_RECALL_FLOOR` of the hybrid's validation recall among new products; on an
        inner split without new products (random or temporal, no such recall measured) only
        the blends that leave new products to the hybrid (``cold_items: first``)."""
        measured = [r["val_new_recall"] for r in hybrids if "val_new_recall" in r]
        if not measured or "val_new_recall" not in blend:
            return blend["config"].get("cold_items") == "first"
        return blend["val_new_recall"] >= NEW_RECALL_FLOOR * max(measured)

    def score(self, users: np.ndarray) -> Any:
        return self.inner_.score(users)

    def update(self, new: sp.csr_matrix, *, events: tuple[np.ndarray, np.ndarray] | None = None,
               items: pd.DataFrame | None = None, epochs: int = 0, callback: Any = None
               ) -> str:
        """The kept candidate's own update (see its ``_update``; ``epochs`` for torch ones)."""
        inner = self.inner_
        if (new.shape[0] > self.n_users_ and not inner.adds_users) or \
                (new.shape[1] > self.n_items_ and not inner.adds_items):
            raise ValueError(f"auto kept {inner.label}, which cannot add users or items "
                             "without a retrain")
        how = inner.update(new, events=events, items=items, epochs=epochs, callback=callback)
        self.n_users_, self.n_items_ = inner.n_users_, inner.n_items_
        self.seen_, self.known_ = inner.seen_, inner.exclusion
        return f"{inner.name}: {how}"

    def fitted_notes(self) -> dict[str, str]:
        """The kept candidate's own choices (text embedding, how loud new products are)."""
        inner = getattr(self, "inner_", None)
        return inner.fitted_notes() if inner is not None else {}

    def _state(self) -> dict[str, np.ndarray]:
        out = {f"inner.{k}": v for k, v in self.inner_._state().items()}
        out["chosen"] = np.array(json.dumps(self.chosen_))
        out["search"] = np.array(json.dumps(self.search_))
        out["report"] = np.array(json.dumps(self.report_))
        return out

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.chosen_ = json.loads(str(state["chosen"]))
        self.search_ = json.loads(str(state["search"]))
        self.report_ = json.loads(str(state["report"])) if "report" in state else {}
        self.inner_ = create_model(self.chosen_["name"], {**self.chosen_["config"],
                                                          "seed": self.config.seed})
        self.inner_.n_users_, self.inner_.n_items_ = self.n_users_, self.n_items_
        self.inner_.device_ = self.device_
        self.inner_._load_state({k.split(".", 1)[1]: v for k, v in state.items()
                                 if k.startswith("inner.")})
        self.seen_, self.known_ = self.inner_.seen_, self.inner_.exclusion
