"""Compare policies in one replay: one fitted model, several policies, several seeds.

:func:`simulate` fits the model once before the replayed days and scores every day's
candidates once (:func:`~recsys.feedback.prepare.prepare_replay`), then replays each policy
(:mod:`~recsys.feedback.arms`: the model's plain greedy lists, the tail-bonus re-rank and the
exploration policies) under ``seeds`` seeds. Deterministic policies (greedy, boosted, LinUCB)
are replayed once: their bands have zero width (so has every policy under one seed). Per
policy and day it reports the mean over seeds with a 95 % bootstrap band
(:func:`~recsys.feedback.regret.band_frame`) of cumulative hits, tail hits, discovered tail
items, tail exposure and regret against the best fixed list (:mod:`recsys.feedback.regret`
defines it), and beside each exploring policy's replay its
off-policy estimate on the greedy replay's log (:func:`~recsys.feedback.beside.ope_beside`,
first seed), since replay on logged data is biased toward the logging policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys.data.dataset import Dataset
from recsys.feedback.arms import Arm, ArmName, ArmRun, run_arm
from recsys.feedback.beside import ope_beside
from recsys.feedback.prepare import PreparedReplay, ReplayConfig, prepare_replay
from recsys.feedback.regret import BOOTSTRAP, band_frame, seed_bands
from recsys.feedback.replay import BIAS_NOTE

__all__ = ["SimulationConfig", "SimulationResult", "simulate", "Progress", "REGRET_NOTE",
           "BANDS_NOTE"]

log = logging.getLogger(__name__)

#: ``progress(fraction, message)``: share of the work done (0–1) and what is being done.
Progress = Callable[[float, str], None]
#: Share of the progress bar the preparation (fit, candidates, prior) takes.
PREPARE_SHARE = 0.4
REGRET_NOTE = ("Regret per day = the hits of that day's best fixed list (the K items most taken "
               "up that day, shown to every active user) minus the policy's hits; cumulative "
               "regret is its running sum (negative: the policy beats the best fixed list).")
BANDS_NOTE = ("Bands are 95 % bootstrap intervals of the mean over seeds; greedy, the boosted "
              "re-rank and LinUCB draw nothing at random (one run, zero-width bands), as is any "
              "policy with one seed or exploration 0.")


class SimulationConfig(BaseModel):
    """Which policies to replay, how they explore, and over how many seeds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: tuple[ArmName, ...] = Field(("greedy", "thompson"), description="Policies to "
                                          "replay; greedy (the model's plain lists) is always "
                                          "added: it is the baseline and the logging policy.")
    exploration: float = Field(0.1, ge=0.0, le=1.0, description="Exploration weight (the "
                               "boosted re-rank's strength): 0 = the model's own lists.")
    new_item_days: float | None = Field(None, ge=0.0, description="Item-age cut-off (days): "
                                        "newer items are explored like tail items.")
    prior: Literal["calibrated", "rank"] = Field("calibrated", description="Thompson's prior.")
    draws: int = Field(100, ge=1, le=10_000, description="Thompson's Monte-Carlo draws.")
    seeds: int = Field(1, ge=1, le=50, description="Seeds each stochastic policy is replayed "
                       "under (bands over seeds).")
    seed: int = Field(0, ge=0, description="First seed.")
    bootstrap: int = Field(200, ge=10, le=5000, description="Bootstrap resamples of the "
                           "off-policy intervals.")
    ope: bool = Field(True, description="Estimate each exploring policy off-policy on the "
                      "greedy replay's log.")
    replay: ReplayConfig = Field(default_factory=ReplayConfig)

    @field_validator("policies")
    @classmethod
    def _with_greedy(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(("greedy", *value)))

    def arm(self, name: str) -> Arm:
        return Arm(name, self.exploration, self.new_item_days, self.prior, self.draws)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Every run (policy → one :class:`~recsys.feedback.arms.ArmRun` per seed), the bands,
    the summary (JSON-ready) and the prepared replay (reusable for another simulation with
    the same model, days, K, candidates and item-age cut-off)."""

    runs: dict[str, list[ArmRun]]
    bands: pd.DataFrame
    summary: dict[str, Any]
    prepared: PreparedReplay

    def days(self, policy: str, seed_index: int = 0) -> pd.DataFrame:
        """One run's per-day rows (:data:`~recsys.feedback.replay.DAY_COLUMNS`)."""
        return self.runs[policy][seed_index].days

    def log(self, policy: str, seed_index: int = 0) -> pd.DataFrame:
        """One run's feedback log (what ``python -m recsys ope`` reads, plus ``day``)."""
        return self.runs[policy][seed_index].log_frame(self.prepared.train)


def reusable(prepared: PreparedReplay | None, config: SimulationConfig) -> bool:
    """Whether ``prepared`` fits ``config`` (same replay shape and item-age cut-off, and
    Thompson's prior when a Thompson policy with the calibrated prior is asked for)."""
    if prepared is None:
        return False
    needs_prior = "thompson" in config.policies and config.prior == "calibrated"
    return (prepared.config == config.replay and prepared.new_item_days == config.new_item_days
            and (prepared.has_prior or not needs_prior))


def _totals(runs: list[ArmRun]) -> dict[str, Any]:
    """Final totals per seed, their mean and 95 % band (tail exposure over all slots)."""
    def band(values: list[float]) -> dict[str, float]:
        mean, lo, hi = seed_bands(np.asarray(values, dtype=np.float64)[:, None])
        return {"mean": float(mean[0]), "lo": float(lo[0]), "hi": float(hi[0])}

    frames = [r.days for r in runs]
    slots = [max(int(f["slots"].sum()), 1) for f in frames]
    return {
        "hits": band([f["hits"].sum() for f in frames]),
        "tail_hits": band([f["tail_hits"].sum() for f in frames]),
        "tail_items_discovered": band([f["discovered_tail"].sum() for f in frames]),
        "regret": band([f["regret"].sum() for f in frames]),
        "tail_exposure": band([float((f["tail_exposure"] * f["slots"]).sum()) / s
                               for f, s in zip(frames, slots, strict=True)]),
        "hit_rate_per_slot": band([f["hits"].sum() / s for f, s in zip(frames, slots,
                                                                       strict=True)]),
    }


def simulate(model: Any, dataset: Dataset, config: SimulationConfig | None = None, *,
             device: str | None = "cpu", prepared: PreparedReplay | None = None,
             progress: Progress | None = None) -> SimulationResult:
    """Replay every policy of ``config`` over its seeds on one fitted model.

    ``prepared`` (from an earlier result with the same settings, see :func:`reusable`) skips
    the fit and the candidate scoring. ``progress(fraction, message)`` is called before each
    step and may raise (e.g. :class:`~recsys.cache.Cancelled`) to stop the simulation.
    Raises ``ValueError`` without timestamps or without data before the replayed days."""
    config = config or SimulationConfig()
    report = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    if reusable(prepared, config):
        report(PREPARE_SHARE, "reusing the fitted model and scored candidates")
    else:
        stages = iter(np.linspace(0.0, PREPARE_SHARE, config.replay.days + 3))
        prepared = prepare_replay(
            model, dataset, config.replay, new_item_days=config.new_item_days,
            thompson_prior="thompson" in config.policies and config.prior == "calibrated",
            device=device, step=lambda message: report(float(next(stages, PREPARE_SHARE)),
                                                       message))
    assert prepared is not None
    plan = [(name, [config.seed] if config.arm(name).deterministic
             else list(range(config.seed, config.seed + config.seeds)))
            for name in config.policies]
    total_days = max(sum(len(s) for _, s in plan) * config.replay.days, 1)
    done = 0
    runs: dict[str, list[ArmRun]] = {}
    for name, seeds in plan:
        arm = config.arm(name)
        for i, seed in enumerate(seeds):
            base = PREPARE_SHARE + (1 - PREPARE_SHARE) * done / total_days

            def tick(d: int, n_days: int, name: str = name, i: int = i, n: int = len(seeds),
                     base: float = base) -> None:
                report(base + (1 - PREPARE_SHARE) * d / total_days,
                       f"replaying {name}, seed {i + 1} of {n}, day {d} of {n_days}")

            def check(name: str = name, base: float = base) -> None:
                report(base, f"replaying {name}")

            runs.setdefault(name, []).append(run_arm(
                prepared, arm, seed, progress=tick, check=check,
                keep_targets=config.ope and i == 0 and name != "greedy"))
            done += config.replay.days
    report(1.0, "estimating off-policy beside the replay")
    bands = band_frame({n: [r.days for r in rs] for n, rs in runs.items()}, bootstrap=BOOTSTRAP,
                       seed=config.seed)
    summary = _summary(prepared, config, runs, time.perf_counter() - t0)
    return SimulationResult(runs, bands, summary, prepared)


def _summary(prepared: PreparedReplay, config: SimulationConfig, runs: dict[str, list[ArmRun]],
             seconds: float) -> dict[str, Any]:
    greedy = runs["greedy"][0]
    policies: dict[str, Any] = {}
    for name, arm_runs in runs.items():
        arm = arm_runs[0].arm
        entry: dict[str, Any] = {"policy": arm.describe(config.seed),
                                 "deterministic": arm.deterministic, "seeds": len(arm_runs),
                                 "totals": _totals(arm_runs)}
        if config.ope and name != "greedy":
            try:
                entry["ope"] = ope_beside(greedy, arm_runs[0], bootstrap=config.bootstrap,
                                          seed=config.seed)
            except ValueError as exc:  # e.g. no user-day was active: nothing to estimate on
                entry["ope"] = {"error": str(exc)}
        policies[name] = entry
    model = prepared.model
    return {
        "model": getattr(model, "name", type(model).__name__),
        "settings": config.model_dump(mode="json"),
        "train_until": prepared.start.strftime("%Y-%m-%d"),
        "train_pairs": prepared.train.n_pairs,
        "user_days": int(greedy.days["users"].sum()),
        "best_fixed_hits": int(greedy.days["best_fixed_hits"].sum()),
        "policies": policies,
        "regret_definition": REGRET_NOTE,
        "bands_note": BANDS_NOTE,
        "ope_note": ("Off-policy estimates of each exploring policy on the greedy replay's log "
                     "(first seed): cost = greedy's hit rate per slot minus the estimate."),
        "model_refitted": False,
        "model_updated_online": prepared.updated,
        "fit_s": round(prepared.fit_s, 3),
        "prepare_s": round(prepared.prepare_s, 3),
        "seconds": round(seconds, 3),
        "note": BIAS_NOTE,
    }


