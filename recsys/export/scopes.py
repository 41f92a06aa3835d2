"""Which users an export covers and which items their lists may hold.

Scopes (:class:`ExportScope`):

* ``all`` — every user of the dataset, lists over the whole catalog.
* ``segment`` — the users of one user segment (``heavy``, ``light``, ``cold_start``,
  ``tail_lovers``; see :mod:`recsys.data.segments`), judged on all of their interactions; lists over
  the whole catalog.
* ``cluster`` / ``item_set`` — items of one cluster of the latest item map, or of a saved item
  set. ``restrict="users"`` (default): the users whose history touches at least one of those
  items, with lists over the whole catalog (lists for the fans of that group).
  ``restrict="lists"``: every user, with lists made only of those items (a campaign list per
  user for the group; a user with no unseen item of it gets no rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys.data.dataset import Dataset
from recsys.data.segments import USER_SEGMENTS, SegmentConfig, user_segments
from recsys.workspace import safe_name

__all__ = ["ExportScope", "ScopeSelection", "resolve_scope", "item_clusters", "ScopeKind",
           "SCOPE_KINDS", "ScopeRestrict", "SCOPE_RESTRICTS"]

#: Who an export covers (see the module docstring); the tuples follow their Literals.
ScopeKind = Literal["all", "segment", "cluster", "item_set"]
SCOPE_KINDS: tuple[ScopeKind, ...] = get_args(ScopeKind)
#: For a cluster or item set: its users' full lists, or every user's lists from its items only.
ScopeRestrict = Literal["users", "lists"]
SCOPE_RESTRICTS: tuple[ScopeRestrict, ...] = get_args(ScopeRestrict)


class ExportScope(BaseModel):
    """Who is exported and from which items (see the module docstring for the semantics)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ScopeKind = "all"
    value: str | None = Field(None, max_length=200, description="Segment name, cluster id or "
                              "item-set name (not used for 'all').")
    restrict: ScopeRestrict = Field(
        "users", description="cluster / item set: export the users who touched it ('users') "
        "or every user's list made of its items only ('lists').")

    @model_validator(mode="after")
    def _check(self) -> ExportScope:
        if self.kind != "all" and not (self.value or "").strip():
            raise ValueError(f"an export scope of kind '{self.kind}' needs a value (which one)")
        if self.kind == "segment" and self.value not in USER_SEGMENTS:
            raise ValueError(f"unknown user segment '{self.value}'; choose one of "
                             f"{', '.join(USER_SEGMENTS)}")
        if self.kind == "cluster":
            try:
                int(str(self.value))
            except ValueError:
                raise ValueError(f"a cluster id is a whole number, not '{self.value}'") from None
        return self

    def label(self) -> str:
        """Short name used in file names, e.g. ``all``, ``segment-heavy``, ``cluster-3-lists``."""
        if self.kind == "all":
            return "all"
        label = f"{self.kind.replace('_', '-')}-{safe_name(str(self.value))}"
        return f"{label}-lists" if self.kind in ("cluster", "item_set") and self.restrict == "lists" \
            else label


@dataclass(frozen=True)
class ScopeSelection:
    """A resolved scope: user positions, an optional item mask (True = may be listed), a text."""

    users: np.ndarray
    allowed_items: np.ndarray | None
    description: str


def item_clusters(dataset: Dataset, item_map: pd.DataFrame | None) -> np.ndarray:
    """Cluster of each dataset item (by position) from an item map frame; ``-1`` where the map
    has no cluster for it (HDBSCAN noise uses -1 too), and everywhere when there is no map."""
    from recsys.rerank import item_clusters_from_map

    clusters = item_clusters_from_map(dataset, item_map)
    return clusters if clusters is not None else np.full(dataset.n_items, -1, dtype=np.int64)


def _item_mask(dataset: Dataset, scope: ExportScope, clusters: np.ndarray | None,
               item_set: Sequence[str] | None) -> tuple[np.ndarray, str]:
    if scope.kind == "cluster":
        if clusters is None or not (np.asarray(clusters) >= 0).any():
            raise ValueError("No item map with clusters for this dataset: build one on the Map "
                             "page first.")
        cid = int(str(scope.value))
        mask = np.asarray(clusters) == cid
        if not mask.any():
            known = sorted(set(np.asarray(clusters)[np.asarray(clusters) >= 0].tolist()))
            raise ValueError(f"Cluster {cid} is not in the item map (clusters: "
                             f"{', '.join(map(str, known[:20]))}).")
        return mask, f"cluster {cid} ({int(mask.sum()):,} items)"
    ids = [str(i) for i in (item_set or [])]
    pos = dataset.item_positions(ids)
    if not len(pos):
        raise ValueError(f"The item set '{scope.value}' has no item of this dataset.")
    mask = np.zeros(dataset.n_items, dtype=bool)
    mask[pos] = True
    return mask, f"item set '{scope.value}' ({len(pos):,} of {len(ids):,} items in the dataset)"


def resolve_scope(scope: ExportScope, dataset: Dataset, *, clusters: np.ndarray | None = None,
                  item_set: Sequence[str] | None = None,
                  segments: SegmentConfig | None = None) -> ScopeSelection:
    """Users and item mask of ``scope`` on ``dataset``.

    ``clusters`` (per item position, from :func:`item_clusters`) is needed for cluster scopes,
    ``item_set`` (item ids) for item-set scopes. Raises ``ValueError`` with a readable reason.
    """
    every = np.arange(dataset.n_users, dtype=np.int64)
    if scope.kind == "all":
        return ScopeSelection(every, None, f"all {dataset.n_users:,} users")
    if scope.kind == "segment":
        users = user_segments(dataset.matrix, dataset.is_tail, segments)[str(scope.value)]
        return ScopeSelection(np.sort(users), None, f"segment {scope.value} ({len(users):,} users)")
    mask, what = _item_mask(dataset, scope, clusters, item_set)
    if scope.restrict == "lists":
        return ScopeSelection(every, mask, f"all users, lists from {what}")
    touched = (dataset.matrix @ mask.astype(np.float32)) > 0
    users = np.flatnonzero(np.asarray(touched).ravel()).astype(np.int64)
    if not len(users):
        raise ValueError(f"No user has interacted with {what}.")
    return ScopeSelection(users, None, f"{len(users):,} users who interacted with {what}")
