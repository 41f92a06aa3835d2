"""Typed settings of a re-ranking step: the method, its strength, its options and the
merchandiser rules. One frozen config per step; a list of them composes steps in order.

Strength is a number in [0, 1] for every method: 0 leaves the lists exactly as the model made
them, 1 is the method's strongest sensible setting, and tail exposure grows with it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from recsys.labels import field_title, method_label

__all__ = ["RerankConfig", "METHODS", "TARGETS", "MAX_POSITION", "RERANK_POOL",
           "rerank_config_from_args", "RERANK_OPTIONS_HELP"]

#: Re-ranking methods by name (plus ``"none"``: rules only, or the model's own lists).
METHODS: tuple[str, ...] = ("tail_bonus", "pop_penalty", "xquad", "calibrated", "promotion")
#: What a promotion quota can guarantee slots to.
TARGETS: tuple[str, ...] = ("tail", "cluster", "category", "item_set")
#: Deepest position a pin may ask for.
MAX_POSITION = 1000
#: Candidates per user a re-ranker chooses from (each user's best unseen items by the model),
#: wherever no pool is asked for: ``recommend`` and ``export`` (``--candidates``), the
#: dashboard's pages, hit models (fitted on pools of the size they rank). Chosen on the inner
#: validation split, never on held-out pairs: on ml-100k (ratings under 4 dropped, ``auto``,
#: global promotion with ``swap_cost="expected"`` and ``opinion="multvae"``) the best APLT@10
#: within 5 % NDCG loss was 0.214 with a pool of 100, 0.226 with 200 and 0.224 with 300, so
#: a larger pool than 200 buys nothing but scoring time.
RERANK_POOL: int = 200


class RerankConfig(BaseModel):
    """One re-ranking step.

    * ``tail_bonus`` — adds ``strength`` to the per-user normalised score (0 … 1 over the
      candidates) of every tail item; at 1 any tail candidate beats any head candidate.
    * ``pop_penalty`` — subtracts ``strength`` × normalised log-popularity.
    * ``xquad`` — xQuAD for popularity (Abdollahpouri et al., 2019) with λ = ``strength``,
      ``binary`` or ``smooth`` coverage of the head and tail classes.
    * ``calibrated`` — Steck's (2018) calibrated greedy list, λ = ``strength``, towards the
      user's category mix (or head/mid/tail mix with ``calibrate_on="popularity"``).
    * ``promotion`` — a quota of ``strength`` × ``quota_share`` × K slots for items matching
      the target (tail, a cluster, a category or a saved item set), placed at the bottom of
      the list where they cost the least accuracy. With ``allocation="global"`` the same total
      number of promoted slots goes to the lists where a swap costs the least (``swap_cost``).

    Rules (pins, boost, bury, block) are explicit decisions and apply whatever the strength.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=field_title)

    method: Literal["none", "tail_bonus", "pop_penalty", "xquad", "calibrated", "promotion"] = (
        "none")
    strength: float = Field(0.0, ge=0.0, le=1.0, description="How strongly the method acts: "
                            "0 = the model's lists, 1 = the strongest sensible setting.")
    # promotion quota
    target: Literal["tail", "cluster", "category", "item_set"] = Field(
        "tail", description="Which items a promotion quota guarantees slots to.")
    target_value: str | None = Field(None, max_length=200, description="Cluster id, category "
                                     "name or item-set name for targets other than tail.")
    quota_share: float = Field(0.5, gt=0.0, le=1.0, description="Share of the K slots the "
                               "quota reaches at strength 1.")
    allocation: Literal["per_user", "global"] = Field(
        "per_user", description="per_user: every list gets the same quota; global: the same "
        "total number of promoted slots goes to the lists where it costs the least score.")
    swap_cost: Literal["gap", "ratio", "expected"] = Field(
        "gap", description="Global allocation: a swap costs the gap between the normalised "
        "scores of the item pushed out and the target brought in (gap), the log of their "
        "score ratio (ratio: scale-free across users, for models with positive scores), or "
        "the NDCG it is expected to lose (expected: needs a hit model fitted on a validation "
        "split, see recsys.rerank.hits).")
    opinion: Literal["none", "multvae", "bpr-macr", "itemknn"] = Field(
        "none", description="Expected swap cost: a second model whose ranking of each "
        "candidate the hit model also reads (trained beside the main one; models of another "
        "family tell the good tail candidates apart better).")
    # xQuAD
    xquad_variant: Literal["binary", "smooth"] = Field(
        "smooth", description="Binary: a class counts as covered once any item of it is listed; "
        "smooth: by the share of listed items in it.")
    personalised: bool = Field(True, description="xQuAD: weigh head and tail by the user's own "
                               "history mix (otherwise equally).")
    # calibration
    calibrate_on: Literal["category", "popularity"] = Field(
        "category", description="Calibrate to the user's category mix, or to the head/mid/tail "
        "mix of their history.")
    # merchandiser rules (item ids)
    pins: dict[str, int] = Field(default_factory=dict, description="Item id → 1-based position "
                                 "it is pinned at (for every user whose candidates allow it).")
    boost: tuple[str, ...] = Field((), description="Item ids moved up by ``rule_weight``.")
    bury: tuple[str, ...] = Field((), description="Item ids moved down by ``rule_weight``.")
    block: tuple[str, ...] = Field((), description="Item ids never recommended.")
    rule_weight: float = Field(1.0, ge=0.0, le=1.0, description="Boost / bury amount on the "
                               "per-user normalised score (1 = ahead of / behind everything).")

    @field_validator("pins")
    @classmethod
    def _check_pins(cls, pins: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in pins.items() if not 1 <= int(v) <= MAX_POSITION}
        if bad:
            raise ValueError(f"pin positions must be between 1 and {MAX_POSITION}: {bad}")
        if len(set(pins.values())) != len(pins):
            raise ValueError("two items are pinned at the same position")
        return {str(k): int(v) for k, v in pins.items()}

    @field_validator("boost", "bury", "block", mode="before")
    @classmethod
    def _as_ids(cls, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        return tuple(sorted({str(v) for v in value}))  # type: ignore[union-attr]

    @model_validator(mode="after")
    def _check_target(self) -> RerankConfig:
        if self.method == "promotion" and self.target != "tail" and not self.target_value:
            raise ValueError(f"a promotion of a {self.target} needs target_value (which one)")
        return self

    @property
    def has_rules(self) -> bool:
        return bool(self.pins or self.boost or self.bury or self.block)

    def label(self) -> str:
        """Short human label, e.g. "Tail bonus (additive) at 0.50" (:func:`recsys.labels.method_label`)."""
        if self.method == "none":
            return "rules" if self.has_rules else "model"
        return method_label(self.method, self.strength)


#: Help of the command line's ``--rerank-options``.
RERANK_OPTIONS_HELP = ("more re-rank settings as JSON, e.g. '{\"allocation\": \"global\", "
                       "\"swap_cost\": \"expected\"}' (fields of recsys.rerank.RerankConfig)")


def rerank_config_from_args(method: str | None, strength: float | None,
                            options: str | None = None) -> RerankConfig | None:
    """The command line's ``--rerank METHOD --strength X [--rerank-options JSON]`` as a config
    (``None`` without ``--rerank``); ``ValueError`` with a one-line reason when they are off."""
    if method is None:
        if strength is not None:
            raise ValueError("--strength needs --rerank METHOD")
        if options:
            raise ValueError("--rerank-options needs --rerank METHOD")
        return None
    if method not in METHODS:
        raise ValueError(f"unknown re-rank method '{method}'; choose one of {', '.join(METHODS)}")
    if strength is None:
        raise ValueError("--rerank needs --strength X, a number between 0 and 1")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"--strength must be between 0 and 1 (got {strength:g})")
    extra: object = {}
    if options:
        try:
            extra = json.loads(options)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--rerank-options is not valid JSON ({exc.msg} at column "
                             f"{exc.colno})") from None
    if not isinstance(extra, dict):
        raise ValueError("--rerank-options must be a JSON object of re-rank settings")
    for key in ("method", "strength"):
        if key in extra:
            raise ValueError(f"--rerank-options must not set '{key}' (use --rerank / --strength)")
    try:
        return RerankConfig(method=method, strength=strength, **extra)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"--rerank-options: {problems}") from None
