"""How ``auto`` chooses: which inner validation split fits the data, and when a candidate's
validation gain over the baseline is real rather than noise.

Pure functions (arrays and datasets in, decisions out, seeded) so each rule is testable alone:

* :func:`inner_protocol` picks the inner split: the protocol the training part was carved
  with when it says so (a model judged on a random holdout is chosen on a random holdout,
  one judged on the future on the future, one judged on new products on new products), else
  an item cold start split when the catalog holds products nobody has interacted with yet,
  else temporal when the timestamps carry an order, else random.
* :func:`paired_bootstrap` compares two candidates on the same validation users: the mean
  per-user gain, its one-sided lower confidence bound, and the share of resamples in which the
  candidate wins.
* :func:`choose` applies the rule "leave the baseline only for a gain beyond noise", for the
  accuracy objective or the tail objective (the most long-tail candidate within an accuracy
  budget of the best one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from recsys.data.dataset import Dataset
from recsys.data.splits import recorded_carve

__all__ = ["InnerProtocol", "inner_protocol", "new_item_share", "time_is_meaningful", "candidate_label", "choice_rows",
           "paired_bootstrap", "Choice", "choose", "Objective"]

Objective = Literal["ndcg", "tail"]


@dataclass(frozen=True)
class InnerProtocol:
    """The inner validation split ``auto`` uses and why (shown with the run)."""

    method: str
    reason: str
    cold_item_frac: float = 0.2


def new_items(dataset: Dataset) -> np.ndarray:
    """Boolean mask of the catalog items without a single training interaction (new products)."""
    return np.asarray(dataset.popularity) == 0


def new_item_share(dataset: Dataset) -> float:
    """Share of catalog items without a single training interaction (new products)."""
    return float(new_items(dataset).mean()) if dataset.n_items else 0.0


def time_is_meaningful(dataset: Dataset, min_share: float = 0.5) -> bool:
    """Timestamps order the data when most users' pairs fall at more than one distinct time
    (a log stamped with one import date, or one time per user, orders nothing)."""
    if not dataset.has_timestamps:
        return False
    pairs = dataset.pairs
    if "timestamp" not in pairs.columns or not len(pairs):
        return False
    distinct = pairs.groupby("user")["timestamp"].nunique()
    return bool((distinct > 1).mean() >= min_share)


def inner_protocol(dataset: Dataset, requested: str = "auto") -> InnerProtocol:
    """The inner split for choosing a model on ``dataset`` (see the module docstring)."""
    if requested != "auto":
        if requested == "temporal" and not dataset.has_timestamps:
            return InnerProtocol("random", "temporal was asked for, but the data has no "
                                 "timestamps: random holdout")
        return InnerProtocol(requested, "set in the model's settings")
    record, method = dataset.meta.get("split") or {}, recorded_carve(dataset)
    if method and (method != "temporal" or dataset.has_timestamps):
        frac = float(record.get("cold_item_frac") or 0.2)
        return InnerProtocol(method, f"mirrors the '{record['method']}' split this training data was "
                             "carved with", cold_item_frac=frac)
    share = new_item_share(dataset)
    if share >= 0.01:
        return InnerProtocol("item-cold", f"{share:.0%} of the catalog has no interactions yet: "
                             "validated on products held out whole",
                             cold_item_frac=float(np.clip(share, 0.05, 0.3)))
    if time_is_meaningful(dataset):
        return InnerProtocol("temporal", "the data has timestamps: validated on each user's "
                             "latest interactions (recommend the future)")
    return InnerProtocol("random", "no usable time order: validated on a random holdout")


def paired_bootstrap(candidate: np.ndarray, baseline: np.ndarray, *, n_resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Paired bootstrap over users of the mean gain ``candidate − baseline`` (per-user
    figures on the same users): ``gain`` (mean), ``lower`` (one-sided lower bound at
    ``confidence``), ``p_better`` (share of resamples with a positive mean gain)."""
    diff = np.asarray(candidate, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    if not len(diff):
        return {"gain": 0.0, "lower": 0.0, "p_better": 0.0}
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 250):  # blocks of resamples: bounded memory
        stop = min(start + 250, n_resamples)
        idx = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        means[start:stop] = diff[idx].mean(axis=1)
    return {"gain": float(diff.mean()), "lower": float(np.quantile(means, 1 - confidence)),
            "p_better": float((means > 0).mean())}


@dataclass(frozen=True)
class Choice:
    """The kept candidate (index into the results), against which baseline, and why."""

    index: int
    baseline: int
    reason: str
    test: dict[str, float]

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def choose(results: list[dict[str, Any]], per_user: list[np.ndarray], baseline: int, *,
           objective: Objective = "ndcg", accuracy_budget: float = 0.05, seed: int = 0,
           confidence: float = 0.95) -> Choice:
    """Index of the candidate to keep.

    ``results[i]`` holds ``val_ndcg`` and ``val_aplt``; ``per_user[i]`` the per-user NDCG of
    candidate ``i`` on the shared validation users. With ``objective="ndcg"`` the best
    candidate replaces the baseline only when a paired bootstrap puts its gain above zero at
    ``confidence``. With ``"tail"`` the candidates whose NDCG is within ``accuracy_budget`` of
    the accuracy choice compete on tail share (APLT) and the most long-tail one is kept.
    """
    best = max(range(len(results)), key=lambda i: results[i]["val_ndcg"])
    test = {"gain": 0.0, "lower": 0.0, "p_better": 0.0}
    if best == baseline:
        pick, reason = baseline, "the baseline had the best validation NDCG"
    else:
        test = paired_bootstrap(per_user[best], per_user[baseline], seed=seed,
                                confidence=confidence)
        if test["lower"] > 0:
            pick, reason = best, (f"validation NDCG gain over the baseline beyond noise "
                                  f"(bootstrap over users: {test['p_better']:.1%} of resamples "
                                  "better)")
        else:
            pick, reason = baseline, (f"the best candidate's validation gain is within noise "
                                      f"(bootstrap: {test['p_better']:.1%} of resamples better, "
                                      f"{confidence:.0%} needed): kept the baseline")
    if objective == "tail":
        floor = (1 - accuracy_budget) * results[pick]["val_ndcg"]
        within = [i for i in range(len(results)) if results[i]["val_ndcg"] >= floor]
        tail = max(within, key=lambda i: results[i].get("val_aplt", 0.0))
        if tail != pick:
            pick, reason = tail, (f"the most long-tail candidate within {accuracy_budget:.0%} of "
                                  "the accuracy choice's validation NDCG")
    return Choice(pick, baseline, reason, test)


_MODEL_LABELS = {"ease": "EASE", "itemknn": "item-kNN", "multvae": "Mult-VAE", "hybrid": "Hybrid",
                 "bpr": "BPR", "neumf": "NeuMF", "deepfm": "DeepFM", "pop": "Popularity",
                 "sasrec": "SASRec", "als": "ALS", "coldstart": "Cold start", "contentmf": "Content MF"}
_SETTING_LABELS = {"l2": "λ {}", "side_weight": "side info ×{}", "context_weight": "context ×{}",
                   "history_half_life_days": "recency half-life {:g} d", "neighbours": "{} neighbours",
                   "shrinkage": "shrinkage {:g}", "cold_path": "{} cold path"}


def candidate_label(name: str, config: dict[str, Any]) -> str:
    """A readable name of a candidate: ``EASE (λ 200, side info ×20)``, or for a blend
    ``EASE (λ 200) 50 % + Mult-VAE 50 %``."""
    if name == "blend":
        w = float(config.get("weight", 0.0))
        first, second = config.get("first", {}), config.get("second", {})
        cold = ", new products by the first alone" if config.get("cold_items") == "first" else ""
        return (f"{candidate_label(first.get('name', '?'), first.get('config', {}))} {1 - w:.0%} + "
                f"{candidate_label(second.get('name', '?'), second.get('config', {}))} {w:.0%}"
                f"{cold}")
    parts = [_SETTING_LABELS[k].format(v) for k, v in config.items() if k in _SETTING_LABELS]
    label = _MODEL_LABELS.get(name, name)
    return f"{label} ({', '.join(parts)})" if parts else label


def choice_rows(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per tried candidate of a recorded choice (best validation NDCG first), with a
    readable name and whether it was kept or is the baseline."""
    chosen = choice.get("chosen") or {}
    base = choice.get("baseline") or {}
    rows = []
    for r in choice.get("search", []):
        spec = {"name": r.get("name"), "config": r.get("config")}
        rows.append({"candidate": candidate_label(r.get("name", "?"), r.get("config", {})),
                     "validation NDCG": r.get("val_ndcg"), "validation tail share": r.get("val_aplt"),
                     "seconds": r.get("seconds"),
                     "role": "kept" if spec == chosen else (
                         "baseline" if spec == {"name": base.get("name"), "config": base.get("config")}
                         else "")})
    return sorted(rows, key=lambda row: -(row["validation NDCG"] or 0.0))
