"""Seeded train/test splits on distinct (user, item) pairs.

Five protocols: per-user random holdout, per-user temporal (each user's latest pairs), a global
time cut-off, leave-last-out, and item cold start (a seeded share of items held out whole, with
every interaction they have, plus a per-user random share of the other pairs: a model that fills
its lists with new items pays for the warm hits it misses). The train part is a full
:class:`~recsys.data.dataset.Dataset` sharing the original id positions, so its matrix lines up
with the test matrix; a validation split is carved by splitting ``split.train`` again.

Context pairs (seen below the rating threshold) are never held out; the train part keeps those
a model could know at prediction time: all of them for a random split, and for the time-based
splits only those older than the user's first held-out pair (the cut-off, for a global one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.dataset import Dataset, build_dataset

__all__ = ["SplitConfig", "Split", "split_dataset", "cold_item_mask", "SplitMethod", "SPLIT_METHODS",
           "recorded_carve", "validation_split"]

#: The split protocols (see the module docstring); the tuple is derived so the two never drift.
SplitMethod = Literal["random", "temporal", "time", "leave-last", "item-cold"]
SPLIT_METHODS: tuple[SplitMethod, ...] = get_args(SplitMethod)


class SplitConfig(BaseModel):
    """Which split, how large, and the seed that makes it repeatable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: SplitMethod = "random"
    test_frac: float = Field(0.2, gt=0.0, lt=1.0, description="Share of each user's pairs "
                             "(or of all pairs, for a time cut-off) held out.")
    seed: int = Field(0, ge=0)
    cutoff: datetime | None = Field(None, description="Time cut-off for method 'time'; "
                                    "default: the (1 - test_frac) quantile of timestamps.")
    min_user_pairs: int = Field(2, ge=2, description="Users with fewer pairs stay in train.")
    cold_item_frac: float = Field(0.2, gt=0.0, lt=1.0, description="Share of the items with "
                                  "interactions held out whole (method 'item-cold').")


@dataclass(frozen=True, eq=False)
class Split:
    """Train dataset plus held-out pairs in the same id positions."""

    train: Dataset
    test: sp.csr_matrix
    test_pairs: pd.DataFrame
    config: SplitConfig
    #: Boolean mask over items held out whole (method ``"item-cold"``), else ``None``.
    cold_items: np.ndarray | None = None

    @property
    def test_users(self) -> np.ndarray:
        """Positions of users with at least one held-out pair."""
        return np.flatnonzero(np.diff(self.test.indptr) > 0)


def _within_user_rank(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each pair inside its user by ascending ``keys``, and the user's pair count."""
    order = np.lexsort((keys, users))
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, counts[users]


def _per_user_test(users: np.ndarray, keys: np.ndarray, n_test: np.ndarray) -> np.ndarray:
    """Mask of the ``n_test`` pairs with the *largest* keys inside each user."""
    rank, counts = _within_user_rank(users, keys)
    return rank >= counts - n_test


def cold_item_mask(pairs: pd.DataFrame, n_items: int, frac: float,
                   rng: np.random.Generator) -> np.ndarray:
    """A seeded, uniform share ``frac`` of the items that have pairs (at least one item)."""
    items = np.unique(pairs["item"].to_numpy())
    mask = np.zeros(n_items, dtype=bool)
    if len(items):
        n_cold = int(np.clip(round(len(items) * frac), 1, max(len(items) - 1, 1)))
        mask[rng.choice(items, n_cold, replace=False)] = True
    return mask


def _item_cold_test(pairs: pd.DataFrame, cfg: SplitConfig, cold: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Every pair of a cold item, plus a random ``test_frac`` of each user's warm pairs."""
    is_cold = cold[pairs["item"].to_numpy()]
    test = is_cold.copy()
    warm = pairs.loc[~is_cold, ["user"]]
    if len(warm):
        test[np.flatnonzero(~is_cold)] = _test_mask(warm, cfg.model_copy(update={
            "method": "random"}), rng)
    return test


def _test_mask(pairs: pd.DataFrame, cfg: SplitConfig, rng: np.random.Generator) -> np.ndarray:
    users = pairs["user"].to_numpy()
    counts = np.bincount(users)[users]
    eligible = counts >= cfg.min_user_pairs
    tie = rng.random(len(pairs))
    if cfg.method in ("temporal", "leave-last", "time") and "timestamp" not in pairs.columns:
        raise ValueError(f"The '{cfg.method}' split needs timestamps, and this dataset has none.")
    if cfg.method == "time":
        ts = pairs["timestamp"].to_numpy()
        cutoff = np.datetime64(cfg.cutoff) if cfg.cutoff else np.quantile(
            ts.astype("datetime64[ns]").astype(np.int64), 1 - cfg.test_frac
        ).astype("datetime64[ns]")
        return ts >= cutoff
    if cfg.method == "leave-last":
        n_test = eligible.astype(np.int64)
    else:
        n_test = np.clip(np.round(counts * cfg.test_frac), 1, counts - 1).astype(np.int64)
        n_test[~eligible] = 0
    if cfg.method == "random":
        keys = tie
    else:  # latest pairs last; random tie-break keeps equal timestamps fair
        ts = pairs["timestamp"].to_numpy().astype("datetime64[ns]").astype(np.int64)
        keys = ts.astype(np.float64) + tie * 1e-3
    return _per_user_test(users, keys, n_test)


def _of_cold_items(dataset: Dataset, item_ids: pd.Series, cold: np.ndarray) -> np.ndarray:
    """Which rows (by their item ids) belong to a cold item; ids outside the vocabulary: no."""
    items = dataset.item_positions(item_ids, missing="negative")
    return (items >= 0) & cold[np.maximum(items, 0)]


def _train_context(dataset: Dataset, test_pairs: pd.DataFrame, cfg: SplitConfig,
                   cold: np.ndarray | None = None) -> pd.DataFrame | None:
    """The context rows known before the held-out pairs (all of them for a random split)."""
    ctx = dataset.context
    if cfg.method == "item-cold" and ctx is not None and len(ctx) and cold is not None:
        # A new item has no history at all: not even the low ratings kept as context.
        return ctx.loc[~_of_cold_items(dataset, ctx["item_id"], cold)].reset_index(drop=True)
    if ctx is None or not len(ctx) or cfg.method in ("random", "item-cold") or not len(test_pairs):
        return ctx
    if "timestamp" not in ctx.columns:
        return None  # no time: nothing proves the context is older than the held-out pairs
    ts = ctx["timestamp"].to_numpy().astype("datetime64[ns]")
    if cfg.method == "time":
        return ctx.loc[ts < test_pairs["timestamp"].min().to_datetime64()].reset_index(drop=True)
    first = test_pairs.groupby("user")["timestamp"].min()
    users = dataset.user_positions(ctx["user_id"], missing="negative")
    limit = first.reindex(users).to_numpy().astype("datetime64[ns]")
    keep = np.isnat(limit) | (ts < limit)
    return ctx.loc[keep].reset_index(drop=True)


#: Split method → the inner split that mirrors it.
_MIRROR = {"random": "random", "item-cold": "item-cold", "temporal": "temporal",
           "leave-last": "temporal", "time": "temporal"}


def recorded_carve(dataset: Dataset) -> str:
    """How ``dataset`` was carved out of a larger one, as the inner split that mirrors it
    (``random``, ``item-cold`` or ``temporal``, from the split its ``meta`` records; ``""``
    for data with no record, such as a whole shop)."""
    return _MIRROR.get(str((dataset.meta.get("split") or {}).get("method") or ""), "")


def validation_split(train: Dataset, frac: float, seed: int = 0) -> Split:
    """Early-stopping pairs carved out of a training part as the part itself was carved:
    each user's latest ``frac`` when it was carved in time (the model then stops on the future,
    and its own inner checks read that record), else ``frac`` of the pairs at random."""
    method = "temporal" if recorded_carve(train) == "temporal" and train.has_timestamps \
        else "random"
    return split_dataset(train, SplitConfig(method=method, test_frac=frac, seed=seed))


def split_dataset(dataset: Dataset, config: SplitConfig | None = None) -> Split:
    """Split ``dataset`` into a train :class:`Dataset` and a test matrix, reproducibly."""
    cfg = config or SplitConfig()
    rng = np.random.default_rng(cfg.seed)
    pairs = dataset.pairs
    n_items = dataset.n_items
    cold = None
    if cfg.method == "item-cold":
        cold = cold_item_mask(pairs, n_items, cfg.cold_item_frac, rng)
        test = _item_cold_test(pairs, cfg, cold, rng)
    else:
        test = _test_mask(pairs, cfg, rng)
    pair_key = pairs["user"].to_numpy() * n_items + pairs["item"].to_numpy()
    inter = dataset.interactions
    row_key = (dataset.user_positions(inter["user_id"], missing="negative") * n_items
               + dataset.item_positions(inter["item_id"], missing="negative"))
    train_rows = ~np.isin(row_key, pair_key[test])
    if cold is not None:  # below-threshold rows of a new item are not pairs: drop them too
        train_rows &= ~_of_cold_items(dataset, inter["item_id"], cold)
    train_cfg = dataset.config.model_copy(update={"rating_threshold": None, "kcore": 0})
    test_pairs = pairs.loc[test].reset_index(drop=True)
    train = build_dataset(
        inter.loc[train_rows], dataset.catalog, config=train_cfg, name=f"{dataset.name}/train",
        users=dataset.users, user_ids=dataset.user_ids, item_ids=dataset.item_ids,
        meta={"split": cfg.model_dump(mode="json"), "parent": dataset.fingerprint},
        context=_train_context(dataset, test_pairs, cfg, cold),
    )
    test_matrix = sp.csr_matrix(
        (np.ones(len(test_pairs), dtype=np.float32),
         (test_pairs["user"].to_numpy(), test_pairs["item"].to_numpy())),
        shape=(dataset.n_users, n_items),
    )
    return Split(train=train, test=test_matrix, test_pairs=test_pairs, config=cfg,
                 cold_items=cold)
