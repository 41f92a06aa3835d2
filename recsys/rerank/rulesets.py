"""Named rule sets: a merchandiser's pins, boosts, burials and blocks, kept and applied as one.

A :class:`RuleSet` holds at most one rule per item (adding a rule for an item replaces the one
it had), so a set never pins and blocks the same product. :meth:`RuleSet.step` turns it into
the re-ranking step that applies it (:class:`~recsys.rerank.RerankConfig` with method
``none``); :func:`with_rules` puts that step *after* a tail method, so rules have the last word
whatever the strength. The workspace keeps sets as plain JSON
(:meth:`recsys.workspace.Workspace.save_rule_set`); this module validates them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.dataset import Dataset
from recsys.rerank.config import MAX_POSITION, RerankConfig

__all__ = ["RuleSet", "RuleAction", "RULE_ACTIONS", "RULE_LABELS", "with_rules"]

log = logging.getLogger(__name__)

RuleAction = Literal["pin", "boost", "bury", "block"]
RULE_ACTIONS: tuple[RuleAction, ...] = get_args(RuleAction)
RULE_LABELS: dict[RuleAction, str] = {
    "pin": "Pin at a position", "boost": "Boost (move up)", "bury": "Bury (move down)",
    "block": "Block (never recommend)"}


class RuleSet(BaseModel):
    """Rules by item id: pins (id → 1-based position), boosted, buried and blocked ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pins: dict[str, int] = Field(default_factory=dict)
    boost: tuple[str, ...] = ()
    bury: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    rule_weight: float = Field(1.0, ge=0.0, le=1.0, description="How far boosts and burials "
                               "move an item on the per-user normalised score (1 = ahead of / "
                               "behind everything else).")
    note: str = Field("", max_length=500)

    @property
    def is_empty(self) -> bool:
        return not (self.pins or self.boost or self.bury or self.block)

    @property
    def n_rules(self) -> int:
        return len(self.pins) + len(self.boost) + len(self.bury) + len(self.block)

    def step(self) -> RerankConfig:
        """The re-ranking step applying these rules (validated like any config)."""
        return RerankConfig(method="none", pins=dict(self.pins), boost=self.boost,
                            bury=self.bury, block=self.block, rule_weight=self.rule_weight)

    def without(self, item_ids: Iterable[object]) -> RuleSet:
        """This set with no rule left for ``item_ids``."""
        drop = {str(i) for i in item_ids}
        return self.model_copy(update={
            "pins": {k: v for k, v in self.pins.items() if k not in drop},
            "boost": tuple(i for i in self.boost if i not in drop),
            "bury": tuple(i for i in self.bury if i not in drop),
            "block": tuple(i for i in self.block if i not in drop)})

    def with_rule(self, item_ids: Sequence[object], action: RuleAction,
                  position: int | None = None) -> RuleSet:
        """This set plus ``action`` for ``item_ids`` (their earlier rules replaced). Pins take
        consecutive positions from ``position``; a position another item holds moves that item
        off it (its pin is dropped), so two items never share a slot."""
        ids = list(dict.fromkeys(str(i) for i in item_ids))
        if action not in RULE_ACTIONS:
            raise ValueError(f"unknown rule '{action}'; choose one of {', '.join(RULE_ACTIONS)}")
        if not ids:
            return self
        base = self.without(ids)
        if action == "pin":
            start = 1 if position is None else int(position)
            if start < 1 or start + len(ids) - 1 > MAX_POSITION:
                raise ValueError(f"pins need positions between 1 and {MAX_POSITION}")
            wanted = {item: start + n for n, item in enumerate(ids)}
            kept = {k: v for k, v in base.pins.items() if v not in set(wanted.values())}
            return base.model_copy(update={"pins": {**kept, **wanted}})
        return base.model_copy(update={action: (*getattr(base, action), *ids)})

    def rows(self, dataset: Dataset | None = None) -> pd.DataFrame:
        """One row per rule: item id, title (when the dataset knows it), rule, position,
        and whether the dataset has the item."""
        rows = [{"item_id": i, "rule": "pin", "position": p}
                for i, p in sorted(self.pins.items(), key=lambda kv: kv[1])]
        rows += [{"item_id": i, "rule": action, "position": None}
                 for action in ("boost", "bury", "block") for i in getattr(self, action)]
        frame = pd.DataFrame(rows, columns=["item_id", "rule", "position"])
        if dataset is not None:
            known = dataset.item_positions(frame["item_id"], missing="negative")
            titles = (dataset.catalog["title"].astype(str).to_numpy()
                      if "title" in dataset.catalog.columns else None)
            frame.insert(1, "title", [titles[p] if titles is not None and p >= 0 else ""
                                      for p in known])
            frame["in catalog"] = known >= 0
        frame["position"] = frame["position"].astype("Int64")
        return frame

    def unknown_items(self, dataset: Dataset) -> list[str]:
        """Ids of the set that ``dataset`` does not have (their rules do nothing there)."""
        ids = [*self.pins, *self.boost, *self.bury, *self.block]
        pos = dataset.item_positions(ids, missing="negative")
        return [i for i, p in zip(ids, pos, strict=True) if p < 0]


def with_rules(steps: RerankConfig | Sequence[RerankConfig] | None,
               rules: RuleSet | None) -> list[RerankConfig]:
    """``steps`` (a tail method, or none) followed by the rule set's step, when it has rules."""
    out = [] if steps is None else [steps] if isinstance(steps, RerankConfig) else list(steps)
    if rules is not None and not rules.is_empty:
        out.append(rules.step())
    return out
