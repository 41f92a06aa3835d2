"""Which items a policy explores, and what it knows about each item.

* **new items**: items launched (catalog ``launched`` column) or first interacted with within
  ``days`` of the data's last timestamp, and every catalog item nobody has interacted with
  yet: the item-age cut-off of Amazon Personalize's new-item exploration;
* **exploration targets**: tail items (outside the short head) or new items;
* **item content vectors** for LinUCB: the catalog's text embedding (TF-IDF + SVD or the
  sentence model, :mod:`recsys.features.text`), one L2-normalised row per item.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset

__all__ = ["new_item_mask", "exploration_targets", "item_content_vectors"]

log = logging.getLogger(__name__)


def _to_time(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values, errors="coerce", format="mixed")


def new_item_mask(dataset: Dataset, days: float | None) -> np.ndarray:
    """Boolean per item: new under an age cut-off of ``days`` (``None``: only items without
    any interaction are new). Age runs from the catalog's ``launched`` date when it has one,
    else from the item's first interaction, up to the data's last timestamp."""
    new = np.asarray(dataset.popularity) <= 0
    if days is None or not dataset.has_timestamps:
        return new
    inter = dataset.interactions
    stamps = _to_time(inter["timestamp"])
    end = stamps.max()
    if pd.isna(end):
        return new
    first = stamps.groupby(inter["item_id"].astype(str).to_numpy()).min()
    born = pd.Series(pd.NaT, index=pd.Index(dataset.item_ids.astype(str)), dtype=stamps.dtype)
    born.loc[first.index.intersection(born.index)] = first
    if "launched" in dataset.catalog.columns:
        launched = _to_time(dataset.catalog["launched"]).to_numpy()
        launched = pd.Series(launched, index=born.index)
        born = launched.where(launched.notna(), born)
    cutoff = end - pd.Timedelta(days=float(days))
    recent = (born >= cutoff).fillna(False).to_numpy(dtype=bool)
    return new | recent


def exploration_targets(dataset: Dataset, new_item_days: float | None = None) -> np.ndarray:
    """Boolean per item: the items exploration slots are reserved for (tail or new)."""
    return np.asarray(dataset.is_tail, dtype=bool) | new_item_mask(dataset, new_item_days)


def item_content_vectors(dataset: Dataset, *, method: str = "tfidf", dim: int = 32,
                         seed: int = 0) -> np.ndarray:
    """(n_items, d) L2-normalised text vectors of the catalog (TF-IDF + SVD by default: no
    model download, a few seconds on thousands of items)."""
    from recsys.features.text import item_texts, text_embeddings

    emb = text_embeddings(item_texts(dataset), method=method, dim=dim, seed=seed)
    if emb.note:
        log.info("item content vectors: %s", emb.note)
    return np.asarray(emb.vectors, dtype=np.float64)
