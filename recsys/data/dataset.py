"""The one ``Dataset`` type every later step takes.

A :class:`Dataset` is built once from clean canonical frames (see :mod:`recsys.data.validation`) and
never changes: id vocabularies, a sparse user×item matrix, item popularity, head/mid/tail
labels and a content fingerprint used as cache key and written into manifests.

Popularity is the number of distinct users who interacted with an item. The **head** is the
most popular items that together cover ``head_share`` of the user-item interactions (80 % by
default), **mid** the next items up to ``mid_share`` (95 %), **tail** the rest including cold
items. ``is_tail`` (used by the long-tail metrics) is every item outside the head.

With a rating threshold, the interactions below it are not positives, but the user has still
seen those items (rated a film 2 stars, returned a product). By default they are kept apart as
**context** (:attr:`Dataset.context`, :attr:`Dataset.context_matrix`): never recommended back
to that user (:attr:`Dataset.known`) and available to models as a weak signal, never counted as
hits, popularity or training positives.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DatasetConfig", "Dataset", "build_dataset", "kcore_filter", "segment_items",
           "positions", "Missing", "SEGMENTS", "FINGERPRINT_VERSION"]

log = logging.getLogger(__name__)

SEGMENTS: tuple[str, ...] = ("head", "mid", "tail")
#: What people read for each segment code. Every tail metric (APLT, tail share, ``is_tail``)
#: means the **long tail** = mid + far tail (everything outside the head), so the code ``tail``
#: (the last stretch of the popularity curve) is shown as "far tail" to keep the two apart.
SEGMENT_NAMES: dict[str, str] = {"head": "head", "mid": "mid", "tail": "far tail"}
FINGERPRINT_VERSION = 1


class DatasetConfig(BaseModel):
    """How interactions become a dataset: filters and the head/tail split."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head_share: float = Field(0.8, gt=0.0, lt=1.0, description="Share of interactions the "
                              "short head covers.")
    mid_share: float = Field(0.95, gt=0.0, le=1.0, description="Cumulative share where the mid "
                             "segment ends (the tail covers the rest).")
    rating_threshold: float | None = Field(None, description="Keep interactions whose value is "
                                           "at least this (e.g. ratings ≥ 4).")
    below_threshold: Literal["seen", "drop"] = Field(
        "seen", description="Interactions below the rating threshold: 'seen' keeps them as "
        "context (the user has seen the item: it is never recommended back to them, and models "
        "may use it as a weak signal); 'drop' discards them.")
    kcore: int = Field(0, ge=0, le=100, description="Keep only users and items with at least "
                       "this many interactions (applied repeatedly); 0 = off.")
    keep_cold_items: bool = Field(True, description="Keep catalog items that have no "
                                  "interactions.")

    @model_validator(mode="after")
    def _check_shares(self) -> DatasetConfig:
        if self.mid_share < self.head_share:
            raise ValueError("mid_share must be at least head_share")
        return self


#: What :func:`positions` does with an id outside the vocabulary: leave it out, or give ``-1``.
Missing = Literal["drop", "negative"]


def positions(vocabulary: pd.Index, ids: Iterable[Any], missing: Missing = "drop") -> np.ndarray:
    """Positions (``int64``) of ``ids`` in ``vocabulary``, in the order of ``ids``.

    Ids are matched exactly (a dataset keeps its ids as strings). ``missing="drop"`` leaves
    unknown ids out, so the result may be shorter than ``ids``; ``missing="negative"`` keeps
    one entry per id with ``-1`` for the unknown ones (a mask with ``>= 0``).
    """
    if missing not in ("drop", "negative"):
        raise ValueError(f"missing must be 'drop' or 'negative', not {missing!r}")
    keys = ids if isinstance(ids, pd.Index | pd.Series | np.ndarray) else pd.Index(list(ids))
    pos = vocabulary.get_indexer(keys).astype(np.int64)
    return pos[pos >= 0] if missing == "drop" else pos


def kcore_filter(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Mask of (user, item) pairs kept by an iterative k-core on distinct pairs."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1 or len(users) == 0:
        return keep
    while True:
        u, i = users[keep], items[keep]
        u_counts = np.bincount(u, minlength=users.max() + 1)
        i_counts = np.bincount(i, minlength=items.max() + 1)
        ok = (u_counts[users] >= k) & (i_counts[items] >= k) & keep
        if ok.sum() == keep.sum():
            return ok
        keep = ok


def segment_items(popularity: np.ndarray, head_share: float = 0.8,
                  mid_share: float = 0.95) -> np.ndarray:
    """Label each item ``head``, ``mid`` or ``tail`` from its popularity.

    Items are ranked by popularity (ties by index, so it is deterministic); an item is in the
    head while the interactions of the items ranked before it cover less than ``head_share``.
    """
    pop = np.asarray(popularity, dtype=np.float64)
    labels = np.full(len(pop), "tail", dtype=object)
    total = pop.sum()
    if total <= 0:
        return labels
    order = np.lexsort((np.arange(len(pop)), -pop))
    before = (np.cumsum(pop[order]) - pop[order]) / total
    ranked = np.where(before < head_share, "head", np.where(before < mid_share, "mid", "tail"))
    ranked[pop[order] == 0] = "tail"
    labels[order] = ranked
    return labels


@dataclass(frozen=True, eq=False)
class Dataset:
    """Immutable interactions + catalog with vocabularies, matrix and long-tail labels.

    Build it with :func:`build_dataset`. Arrays are read-only; frames must not be modified.
    Row ``u`` of :attr:`matrix` is user ``user_ids[u]``; column ``i`` is item ``item_ids[i]``
    and catalog row ``i``.
    """

    name: str
    interactions: pd.DataFrame
    catalog: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix
    popularity: np.ndarray
    segment: np.ndarray
    config: DatasetConfig
    fingerprint: str
    users: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    context: pd.DataFrame | None = None
    context_matrix: sp.csr_matrix | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        """Interaction events kept (rows of :attr:`interactions`)."""
        return len(self.interactions)

    @property
    def n_pairs(self) -> int:
        """Distinct (user, item) pairs: the non-zeros of the matrix."""
        return int(self.matrix.nnz)

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.interactions.columns

    @property
    def n_context_pairs(self) -> int:
        """Distinct (user, item) pairs seen below the rating threshold (context, not positives)."""
        return 0 if self.context_matrix is None else int(self.context_matrix.nnz)

    @cached_property
    def known(self) -> sp.csr_matrix:
        """Everything each user has already interacted with: the positives of :attr:`matrix`
        plus the context pairs. Recommendations exclude these."""
        if not self.n_context_pairs:
            return self.matrix
        known = ((self.matrix + self.context_matrix) > 0).astype(np.float32)
        return sp.csr_matrix(known)

    @cached_property
    def is_tail(self) -> np.ndarray:
        """Boolean per item: outside the short head (the protocol's tail)."""
        return _readonly(self.segment != "head")

    @cached_property
    def user_index(self) -> pd.Index:
        """Position of each user id (``get_indexer`` maps ids to rows)."""
        return pd.Index(self.user_ids)

    @cached_property
    def item_index(self) -> pd.Index:
        return pd.Index(self.item_ids)

    def user_positions(self, ids: Iterable[Any], missing: Missing = "drop") -> np.ndarray:
        """Row positions (``int64``) of user ``ids``, in their order; see :func:`positions`."""
        return positions(self.user_index, ids, missing)

    def item_positions(self, ids: Iterable[Any], missing: Missing = "drop") -> np.ndarray:
        """Column positions (``int64``) of item ``ids``, in their order; see :func:`positions`."""
        return positions(self.item_index, ids, missing)

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """One row per distinct (user, item): ``user, item`` positions, first ``timestamp``,
        summed ``value`` and ``count`` of events. Splits work on these."""
        frame = pd.DataFrame({
            "user": self.user_index.get_indexer(self.interactions["user_id"]),
            "item": self.item_index.get_indexer(self.interactions["item_id"]),
        })
        aggs: dict[str, tuple[str, str]] = {"count": ("user", "size")}
        if self.has_timestamps:
            frame["timestamp"] = self.interactions["timestamp"].to_numpy()
            aggs["timestamp"] = ("timestamp", "min")
        if "value" in self.interactions.columns:
            frame["value"] = self.interactions["value"].to_numpy()
            aggs["value"] = ("value", "sum")
        return frame.groupby(["user", "item"], sort=True).agg(**aggs).reset_index()

    def summary(self) -> dict[str, Any]:
        """Headline numbers for the sidebar, the CLI and manifests."""
        counts = {s: int((self.segment == s).sum()) for s in SEGMENTS}
        span = None
        if self.has_timestamps and self.n_interactions:
            ts = self.interactions["timestamp"]
            span = [str(ts.min()), str(ts.max())]
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "pairs": self.n_pairs,
            "context_pairs": self.n_context_pairs,
            "density": self.n_pairs / max(1, self.n_users * self.n_items),
            "cold_items": int((self.popularity == 0).sum()),
            "segments": counts,
            "time_span": span,
            "config": self.config.model_dump(),
        }


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _fingerprint(interactions: pd.DataFrame, catalog: pd.DataFrame,
                 users: pd.DataFrame | None, config: DatasetConfig,
                 context: pd.DataFrame | None = None) -> str:
    """Content hash of the frames and config: equal data ⇒ equal fingerprint.

    Without context pairs the context setting changes nothing, so it is left out of the hash
    (datasets saved before the setting existed keep their fingerprints)."""
    digest = hashlib.sha256(f"v{FINGERPRINT_VERSION}".encode())
    frames = (interactions, catalog, users) + ((context,) if context is not None else ())
    for frame in frames:
        if frame is None:
            digest.update(b"none")
            continue
        digest.update(json.dumps([str(c) for c in frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    exclude = None if context is not None else {"below_threshold"}
    digest.update(config.model_dump_json(exclude=exclude).encode())
    return digest.hexdigest()[:16]


def build_dataset(
    interactions: pd.DataFrame,
    catalog: pd.DataFrame | None = None,
    *,
    config: DatasetConfig | None = None,
    name: str = "dataset",
    users: pd.DataFrame | None = None,
    item_ids: np.ndarray | None = None,
    user_ids: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    context: pd.DataFrame | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from clean canonical frames.

    Applies the rating threshold and k-core filter of ``config``. Vocabularies are the sorted
    ids unless ``user_ids`` / ``item_ids`` are given (splits pass the full dataset's so that
    train and test share positions; interactions outside them are dropped). Rows below the
    threshold become context (``config.below_threshold == "seen"``), as do the rows of
    ``context`` (splits and reloads pass a dataset's own context back in).
    """
    config = config or DatasetConfig()
    inter = interactions
    context_parts = [] if context is None else [context]
    if config.rating_threshold is not None and "value" in inter.columns:
        positive = (inter["value"] >= config.rating_threshold).to_numpy()
        if config.below_threshold == "seen":
            context_parts.append(inter.loc[~positive & inter["value"].notna().to_numpy()])
        inter = inter.loc[positive]
    if config.kcore > 1 and len(inter):
        u_codes = pd.factorize(inter["user_id"])[0]
        i_codes = pd.factorize(inter["item_id"])[0]
        pair = pd.DataFrame({"u": u_codes, "i": i_codes}).drop_duplicates()
        keep_pair = kcore_filter(pair["u"].to_numpy(), pair["i"].to_numpy(), config.kcore)
        kept = pair.loc[keep_pair]
        keep = pd.MultiIndex.from_arrays([u_codes, i_codes]).isin(
            pd.MultiIndex.from_frame(kept[["u", "i"]]))
        inter = inter.loc[keep]
    catalog = _catalog_frame(inter, catalog)
    if item_ids is None:
        known = pd.Index(inter["item_id"].unique())
        if config.keep_cold_items and config.kcore <= 1:
            known = known.union(pd.Index(catalog["item_id"]))
        item_ids = np.sort(known.to_numpy(dtype=object))
    if user_ids is None:
        user_ids = np.sort(inter["user_id"].unique().astype(object))
    item_index, user_index = pd.Index(item_ids), pd.Index(user_ids)
    rows = user_index.get_indexer(inter["user_id"])
    cols = item_index.get_indexer(inter["item_id"])
    inside = (rows >= 0) & (cols >= 0)
    if not inside.all():
        inter, rows, cols = inter.loc[inside], rows[inside], cols[inside]
    inter = inter.reset_index(drop=True)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(user_ids), len(item_ids)),
    )
    matrix.sum_duplicates()
    popularity = np.diff(matrix.tocsc().indptr).astype(np.int64)
    segment = segment_items(popularity, config.head_share, config.mid_share)
    catalog = (catalog.drop_duplicates("item_id").set_index("item_id")
               .reindex(pd.Index(item_ids, name="item_id")).reset_index())
    catalog["title"] = catalog["title"].fillna(catalog["item_id"]).astype(str)
    if users is not None:
        users = users.loc[users["user_id"].isin(user_index)].reset_index(drop=True)
    ctx, ctx_matrix = _context_pairs(context_parts, user_index, item_index, matrix)
    fingerprint = _fingerprint(inter, catalog, users, config, ctx)
    log.info("dataset %s: %d users, %d items, %d interactions, %d context pairs (%s)", name,
             len(user_ids), len(item_ids), len(inter), 0 if ctx_matrix is None else
             ctx_matrix.nnz, fingerprint)
    return Dataset(
        name=name, interactions=inter, catalog=catalog,
        user_ids=_readonly(np.asarray(user_ids, dtype=object)),
        item_ids=_readonly(np.asarray(item_ids, dtype=object)),
        matrix=matrix, popularity=_readonly(popularity), segment=_readonly(segment),
        config=config, fingerprint=fingerprint, users=users, meta=dict(meta or {}),
        context=ctx, context_matrix=ctx_matrix,
    )


def _context_pairs(parts: list[pd.DataFrame], user_index: pd.Index, item_index: pd.Index,
                   matrix: sp.csr_matrix) -> tuple[pd.DataFrame | None, sp.csr_matrix | None]:
    """Context rows inside the vocabularies and not already positives, and their binary
    user × item matrix; ``(None, None)`` when there are none."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None, None
    frame = pd.concat(parts, ignore_index=True)
    rows = user_index.get_indexer(frame["user_id"])
    cols = item_index.get_indexer(frame["item_id"])
    inside = (rows >= 0) & (cols >= 0)
    if inside.any():
        positive = np.asarray(matrix[rows[inside], cols[inside]]).ravel() > 0
        inside[np.flatnonzero(inside)[positive]] = False
    if not inside.any():
        return None, None
    frame = frame.loc[inside].reset_index(drop=True)
    ctx = sp.csr_matrix((np.ones(int(inside.sum()), dtype=np.float32),
                         (rows[inside], cols[inside])), shape=matrix.shape)
    ctx.sum_duplicates()
    ctx.data[:] = 1.0
    return frame, ctx


def _catalog_frame(inter: pd.DataFrame, catalog: pd.DataFrame | None) -> pd.DataFrame:
    """The given catalog, or a minimal one (title = id) when there is none."""
    if catalog is None:
        ids = inter["item_id"].drop_duplicates()
        return pd.DataFrame({"item_id": ids.to_numpy(), "title": ids.to_numpy()})
    if "title" not in catalog.columns:
        catalog = catalog.assign(title=catalog["item_id"])
    return catalog
