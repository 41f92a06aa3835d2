"""Per-item facts the re-rankers need, derived once from a dataset (and the optional map /
item set / hit model): tail flags, normalised log-popularity, category membership and user
mixes, bundled in a :class:`RerankContext` that every re-ranking call takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.rerank.hits import HitModel

__all__ = ["RerankContext", "item_categories", "category_matrix", "item_clusters_from_map",
           "item_set_positions"]


def item_categories(dataset: Dataset) -> np.ndarray | None:
    """The ``category`` of each item position (strings, "" when missing), or ``None``."""
    if "category" not in dataset.catalog.columns:
        return None
    values = dataset.catalog["category"].astype("string").fillna("").to_numpy(dtype=object)
    return values if (values != "").any() else None


def category_matrix(dataset: Dataset) -> tuple[sp.csr_matrix, list[str]] | None:
    """Items × categories, rows summing to 1 (p(g | i), Steck 2018); ``None`` without categories.

    Multi-label ``genres`` (``|``-separated) are used when present, else the ``category`` column.
    Items without any category get an all-zero row.
    """
    cat = dataset.catalog
    if "genres" in cat.columns:
        dummies = cat["genres"].astype("string").fillna("").str.get_dummies(sep="|")
    elif item_categories(dataset) is not None:
        values = cat["category"].astype("string").fillna("")
        dummies = pd.get_dummies(values.mask(values == "")).astype(np.float32)
    else:
        return None
    dummies = dummies.loc[:, [c for c in dummies.columns if str(c).strip()]]
    if dummies.shape[1] == 0:
        return None
    m = dummies.to_numpy(dtype=np.float32)
    rows = m.sum(axis=1, keepdims=True)
    m = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    return sp.csr_matrix(m), [str(c) for c in dummies.columns]


def item_set_positions(dataset: Dataset, item_ids: Sequence[str] | None) -> set[int] | None:
    """Positions of the known ids among ``item_ids`` (``None`` stays ``None``)."""
    if item_ids is None:
        return None
    return {int(p) for p in dataset.item_positions([str(i) for i in item_ids])}


def item_clusters_from_map(dataset: Dataset, frame: pd.DataFrame | None) -> np.ndarray | None:
    """Cluster per item position from an item map frame (``item_id, cluster``); ``-1`` when an
    item is not on the map or has no readable cluster (HDBSCAN noise is -1 too). ``None`` when
    there is no map. Duplicate ids keep their first row."""
    if frame is None or not len(frame) or "cluster" not in frame.columns \
            or "item_id" not in frame.columns:
        return None
    lookup = (pd.Series(pd.to_numeric(frame["cluster"], errors="coerce").to_numpy(),
                        index=frame["item_id"].astype(str).to_numpy())
              .loc[lambda s: ~s.index.duplicated()])
    values = lookup.reindex(pd.Index(dataset.item_ids.astype(str))).to_numpy(dtype=float)
    out = np.full(dataset.n_items, -1, dtype=np.int64)
    known = np.isfinite(values)
    out[known] = values[known].astype(np.int64)
    return out


@dataclass(eq=False)
class RerankContext:
    """Everything a re-ranking step reads besides the candidates, computed lazily and shared
    by composed steps and by every chunk of an export.

    ``dataset`` gives tail flags, popularity, categories and users' histories (the training
    part when measuring on a split); ``item_clusters`` (cluster per item position, from the
    item map) and ``item_set`` (item positions) serve promotions of a cluster or a saved set;
    ``hit_model`` serves the ``expected`` swap cost of a global promotion.
    """

    dataset: Dataset
    item_clusters: np.ndarray | None = None
    item_set: set[int] | None = None
    hit_model: HitModel | None = None
    _cache: dict = field(default_factory=dict)

    @classmethod
    def for_items(cls, dataset: Dataset, *, item_clusters: np.ndarray | None = None,
                  item_ids: Sequence[str] | None = None, hit_model: HitModel | None = None
                  ) -> RerankContext:
        """A context whose item set is given by item ids (unknown ids are dropped)."""
        return cls(dataset, item_clusters=item_clusters,
                   item_set=item_set_positions(dataset, item_ids), hit_model=hit_model)

    def on(self, dataset: Dataset) -> RerankContext:
        """This context for another dataset of the same items (e.g. a split's training part);
        ``self`` when it already is."""
        if dataset is self.dataset:
            return self
        return RerankContext(dataset, item_clusters=self.item_clusters, item_set=self.item_set,
                             hit_model=self.hit_model)

    @property
    def is_tail(self) -> np.ndarray:
        return np.asarray(self.dataset.is_tail, dtype=bool)

    @cached_property
    def log_popularity(self) -> np.ndarray:
        """log(1 + popularity) scaled to [0, 1] over the catalog."""
        lp = np.log1p(np.asarray(self.dataset.popularity, dtype=np.float64))
        top = lp.max() if len(lp) else 0.0
        return (lp / top if top > 0 else lp).astype(np.float32)

    @cached_property
    def categories(self) -> np.ndarray | None:
        return item_categories(self.dataset)

    @cached_property
    def category_matrix(self) -> tuple[sp.csr_matrix, list[str]] | None:
        return category_matrix(self.dataset)

    @cached_property
    def segment_matrix(self) -> sp.csr_matrix:
        """Items × (head, mid, tail) one-hot: the popularity 'categories' of calibration."""
        seg = np.asarray(self.dataset.segment)
        cols = np.select([seg == "head", seg == "mid"], [0, 1], 2)
        return sp.csr_matrix((np.ones(len(seg), np.float32), (np.arange(len(seg)), cols)),
                             shape=(len(seg), 3))

    def user_mix(self, users: np.ndarray, item_groups: sp.csr_matrix) -> np.ndarray:
        """(U, G) share of each user's history in each group (rows sum to 1, or 0 if empty)."""
        hist = (sp.csr_matrix(self.dataset.matrix)[users] > 0).astype(np.float32)
        mix = np.asarray((hist @ item_groups).todense(), dtype=np.float32)
        total = mix.sum(axis=1, keepdims=True)
        return np.divide(mix, total, out=np.zeros_like(mix), where=total > 0)

    def hit_probability(self, base_score: np.ndarray, base_rank: np.ndarray, items: np.ndarray,
                        users: np.ndarray, opinion: str | None = None) -> np.ndarray:
        """(U, C) chance that each candidate is a hit, from the context's hit model (which
        must read the second ``opinion`` a config asks for, when one is given)."""
        if self.hit_model is None:
            raise ValueError("the 'expected' swap cost needs a hit model fitted on a validation "
                             "split (recsys.rerank.fit_hit_model_on_split); use the 'gap' or "
                             "'ratio' swap cost instead")
        if opinion is not None and opinion != self.hit_model.opinion_name:
            raise ValueError(f"the hit model reads the second opinion "
                             f"'{self.hit_model.opinion_name}', the re-rank settings ask for "
                             f"'{opinion}': fit the hit model with opinion='{opinion}'")
        return self.hit_model.predict_lists(base_score, base_rank, items, users, self.dataset)

    def target_mask(self, target: str, value: str | None) -> np.ndarray:
        """Boolean per item: does it match a promotion target?"""
        n = self.dataset.n_items
        if target == "tail":
            return self.is_tail
        if target == "item_set":
            if not self.item_set:
                raise ValueError("a promotion of an item set needs the set's items (item_set=…)")
            mask = np.zeros(n, dtype=bool)
            pos = np.fromiter(self.item_set, dtype=np.int64)
            mask[pos[(pos >= 0) & (pos < n)]] = True
            return mask
        if target == "cluster":
            if self.item_clusters is None:
                raise ValueError("a promotion of a cluster needs the item map's clusters "
                                 "(build the map first)")
            try:
                wanted = int(str(value))
            except ValueError:
                raise ValueError(f"cluster '{value}' is not a cluster number") from None
            return np.asarray(self.item_clusters) == wanted
        if target == "category":
            cats = self.categories
            if cats is None and "genres" not in self.dataset.catalog.columns:
                raise ValueError("a promotion of a category needs a category column in the "
                                 "catalog")
            mask = np.zeros(n, dtype=bool) if cats is None else cats == value
            if "genres" in self.dataset.catalog.columns:
                genres = self.dataset.catalog["genres"].astype("string").fillna("")
                mask |= genres.str.split("|").apply(lambda g: value in g).to_numpy(dtype=bool)
            return mask
        raise ValueError(f"unknown promotion target '{target}'")
