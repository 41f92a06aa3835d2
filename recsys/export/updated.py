"""Exports of an updated run: a model whose own id vocabularies run past the dataset's.

An online update (:mod:`recsys.feedback.update`) appends the customers and products it has
not seen to the model's own vocabularies (``model.user_ids_`` / ``model.item_ids_``), after
the dataset's, and folds the new pairs into the model's histories (``model.exclusion``).
:func:`covering_dataset` is the dataset seen through those vocabularies, so every part of an
export (candidates, re-ranking, rows, the business tally) works on the model's positions:

* appended customers and products get empty history rows plus what the update folded in;
* appended products have popularity 0, so they are far tail (``is_tail``), and an empty
  title (and cluster ``-1``) where the catalog lacks them;
* lists leave out everything the customer had in the dataset *and* in the model
  (:func:`covering_exclusion`: the folded-in pairs included);
* scopes still come from the dataset (:func:`covering_selection`): the new customers are in
  "all users" only, and item masks do not hold the new products.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.export.scopes import ScopeSelection
from recsys.models.online import pad_csr
from recsys.rerank import RerankContext

__all__ = ["has_own_ids", "covering_dataset", "covering_exclusion", "covering_selection",
           "covering_context", "refuse_opinion", "updated_entry"]

log = logging.getLogger(__name__)


def has_own_ids(model: Any, dataset: Dataset) -> bool:
    """Whether ``model`` carries its own id vocabularies (an updated model); ``ValueError``
    (one line) when they do not start with ``dataset``'s ids, position for position."""
    users, items = getattr(model, "user_ids_", None), getattr(model, "item_ids_", None)
    if users is None or items is None:
        return False
    users, items = np.asarray(users).astype(str), np.asarray(items).astype(str)
    fits = (len(users) >= dataset.n_users and len(items) >= dataset.n_items
            and np.array_equal(users[:dataset.n_users], dataset.user_ids.astype(str))
            and np.array_equal(items[:dataset.n_items], dataset.item_ids.astype(str)))
    if not fits:
        raise ValueError(f"the updated model's customer and product ids do not match dataset "
                         f"'{dataset.name}' as it is now (was the dataset replaced after the "
                         "update?): retrain the model on the Train page")
    return True


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def covering_dataset(dataset: Dataset, model: Any) -> Dataset:
    """``dataset`` over the model's own vocabularies (see the module docstring): its users
    and items first, then those the update appended; positives = the dataset's plus the
    model's histories (what the update folded in)."""
    users = np.asarray(model.user_ids_).astype(str).astype(object)
    items = np.asarray(model.item_ids_).astype(str).astype(object)
    shape = (len(users), len(items))
    new_items = items[dataset.n_items:]
    history = sp.csr_matrix(model.seen_, dtype=np.float32)
    if history.shape != shape:
        raise ValueError(f"the updated model has {history.shape[0]:,} × {history.shape[1]:,} "
                         f"histories for {shape[0]:,} customers × {shape[1]:,} products")
    padded = pad_csr(sp.csr_matrix(dataset.matrix, dtype=np.float32), *shape)
    matrix = sp.csr_matrix((padded + history) > 0, dtype=np.float32)
    context = (None if dataset.context_matrix is None else
               pad_csr(sp.csr_matrix(dataset.context_matrix, dtype=np.float32), *shape))
    if context is not None:  # a pair folded in as a positive is no longer context
        context = sp.csr_matrix(context - context.multiply(matrix), dtype=np.float32)
        context.eliminate_zeros()
    catalog = pd.concat([dataset.catalog, pd.DataFrame({"item_id": new_items, "title": ""})],
                        ignore_index=True) if len(new_items) else dataset.catalog
    popularity = np.concatenate([dataset.popularity, np.zeros(len(new_items), np.int64)])
    segment = np.concatenate([np.asarray(dataset.segment, dtype=object),
                              np.full(len(new_items), "tail", dtype=object)])
    log.info("export of an updated model: %d customers and %d products added to %s",
             shape[0] - dataset.n_users, len(new_items), dataset.name)
    return dataclasses.replace(
        dataset, catalog=catalog, user_ids=_readonly(users), item_ids=_readonly(items),
        matrix=matrix, popularity=_readonly(popularity), segment=_readonly(segment),
        fingerprint=f"{dataset.fingerprint}+{getattr(model, 'fingerprint_', '')}",
        context_matrix=context if context is not None and context.nnz else None)


def covering_exclusion(covering: Dataset, model: Any) -> sp.csr_matrix:
    """What no list may hold: everything each customer has in the dataset or in the model's
    own history (the pairs the update folded in, context pairs included)."""
    return sp.csr_matrix((covering.known + sp.csr_matrix(model.exclusion)) > 0,
                         dtype=np.float32)


def covering_selection(selection: ScopeSelection, kind: str, dataset: Dataset,
                       covering: Dataset) -> ScopeSelection:
    """A scope resolved on ``dataset`` in the positions of ``covering``: "all users" gains
    the customers the update added; an item mask is padded with ``False`` (the dataset's
    item sets and clusters do not hold the new products)."""
    added = covering.n_users - dataset.n_users
    users, description = selection.users, selection.description
    if kind == "all":
        users = np.arange(covering.n_users, dtype=np.int64)
        if added:
            description = f"all {covering.n_users:,} users ({added:,} added by the update)"
    mask = selection.allowed_items
    if mask is not None:
        mask = np.concatenate([np.asarray(mask, dtype=bool),
                               np.zeros(covering.n_items - dataset.n_items, dtype=bool)])
    return ScopeSelection(users, mask, description)


def refuse_opinion(opinion: str) -> None:
    """One-line ``ValueError`` for a second opinion (``opinion`` other than ``"none"``) on an
    updated run: that opinion model knows neither the customers nor the products the update
    added (callers check before fitting anything)."""
    if opinion != "none":
        raise ValueError("the 'expected' swap cost with a second opinion cannot score an "
                         "updated model's new customers and products: choose the opinion "
                         "'none', or the 'gap' or 'ratio' swap cost")


def covering_context(context: RerankContext, covering: Dataset) -> RerankContext:
    """``context`` on ``covering``: clusters padded with ``-1`` for the new products; a hit
    model reading a second opinion is refused (one line), as that opinion model knows
    neither the customers nor the products the update added."""
    hits = context.hit_model
    if hits is not None:
        refuse_opinion(getattr(hits, "opinion_name", "none") or "none")
    clusters = context.item_clusters
    if clusters is not None:
        extra = covering.n_items - len(clusters)
        clusters = np.concatenate([np.asarray(clusters, dtype=np.int64),
                                   np.full(max(extra, 0), -1, dtype=np.int64)])
    return RerankContext(covering, item_clusters=clusters, item_set=context.item_set,
                         hit_model=hits)


def updated_entry(model_info: dict[str, Any] | None, dataset: Dataset,
                  covering: Dataset) -> dict[str, Any]:
    """The manifest's ``updated`` entry: the run it was updated from, the update's summary
    (both from ``model_info``, as the run record gives them), the customers and products it
    added, and that it was not evaluated."""
    info = model_info or {}
    return {"updated_from": info.get("updated_from"), "update": info.get("update"),
            "users_added": covering.n_users - dataset.n_users,
            "items_added": covering.n_items - dataset.n_items,
            "evaluated": False,
            "note": "not evaluated: an online update of a kept model, exported as updated "
                    "(no held-out metrics; retrain on the Train page to evaluate)"}
