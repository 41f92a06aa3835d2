"""DeepFM (Guo et al., 2017) for top-N recommendation with item / user side features.

Fields: user id, the user's categorical attributes (country, gender, age bucket… when the dataset
has a users table), item id, the item's category / subcategory / brand / price bucket, and the
item's text embedding (frozen, from :mod:`recsys.features.text`) as a dense field projected to the
factor size. One embedding per field value is shared by

* the FM part: a first-order weight per field value plus all pairwise dot products, and
* the deep part: an MLP over the concatenated field embeddings.

Training runs in the shared loop of :mod:`recsys.models.training` (early stopping, cancel, AMP on
CUDA) with the observed (user, item) pairs as positives and items sampled uniformly among
items with training interactions as negatives (BPR or BCE loss), on the model's device, with
mixed precision on CUDA only. Items without interactions are never sampled, so their id
embedding stays neutral and their score comes from the category, brand, price and text fields.

Scoring all items for a block of users needs no loop over users or items: every term is split
into a user part and an item part (the first MLP layer is linear, so ``W·[e_u; e_i] = W_u·e_u +
W_i·e_i``). Item parts are computed once after training and reused for every user block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.registry import register
from recsys.models.training import TorchStateMixin, TrainConfig, make_generator, train

__all__ = ["DeepFMConfig", "DeepFM"]

log = logging.getLogger(__name__)

_SCORE_CHUNK_ELEMS = 1 << 24  # users × items × width elements per scoring chunk


class DeepFMConfig(TrainConfig):
    """DeepFM settings (defaults tuned on ml-100k and the demo shop)."""

    epochs: int = Field(20, ge=1, le=500, description="Passes over the training pairs.")
    factors: int = Field(32, ge=4, le=256, description="Embedding size of every field.")
    mlp_width: int = Field(64, ge=8, le=1024, description="Width of the first deep layer.")
    mlp_layers: int = Field(1, ge=1, le=4, description="Hidden layers of the deep part (each "
                            "half as wide as the one before).")
    dropout: float = Field(0.0, ge=0.0, le=0.9, description="Dropout in the deep part.")
    lr: float = Field(2e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    l2: float = Field(1e-4, ge=0.0, le=1.0, description="L2 penalty on the embeddings used in "
                      "a batch.")
    negatives: int = Field(4, ge=1, le=100, description="Sampled negatives per positive.")
    loss: Literal["bpr", "bce"] = Field("bce", description="Pairwise BPR or pointwise BCE.")
    batch_size: int = Field(2048, ge=64, le=262_144, description="Positives per batch.")
    use_item_features: bool = Field(True, description="Category, subcategory, brand and price "
                                    "bucket fields.")
    use_user_features: bool = Field(True, description="User attribute fields.")
    use_text: bool = Field(True, description="Text embedding of title/description as a field.")
    text_method: Literal["auto", "sentence-model", "tfidf"] = Field(
        "auto", description="Text embedding: sentence model when installed, or TF-IDF + SVD.")


def _torch():
    import torch

    return torch


@register
class DeepFM(TorchStateMixin, Recommender):
    """DeepFM over ids, categorical side features and a frozen text embedding."""

    name = "deepfm"
    label = "DeepFM (ids + side features + text)"
    #: Online updates: without epochs only what the lists exclude changes; with epochs the
    #: embeddings learn. New users get zero id rows inserted at the end of the user id field of
    #: the one shared table of field values (later fields shift), their attributes the unknown
    #: code: :meth:`_grow`. That needs the field sizes (:attr:`field_cards_`), which saves made
    #: before they were kept lack: those models cannot add users (:attr:`adds_users`).
    update_method = "history fold-in (lists leave out the new items; embeddings as trained)"
    config_cls = DeepFMConfig
    iterative = True
    note_attrs = (("text", "text_note_"),)
    #: Values per field, user fields first then item fields (``None``: an older save).
    field_cards_: np.ndarray | None = None

    @property  # type: ignore[misc]
    def adds_users(self) -> bool:  # type: ignore[override]
        """New users can be added when the field sizes are known (every fit since they are
        saved; not a model saved before)."""
        return self.field_cards_ is not None

    # -- features ---------------------------------------------------------------------------
    def _features(self, dataset: Dataset) -> None:
        from recsys.features.side import item_categorical_features, user_categorical_features

        cfg = self.config
        n_users, n_items = dataset.n_users, dataset.n_items
        u_cols = [np.arange(n_users, dtype=np.int64)[:, None]]
        u_cards = [n_users]
        if cfg.use_user_features:
            uf = user_categorical_features(dataset)
            u_cols.append(uf.codes)
            u_cards += list(uf.cardinalities)
        i_cols = [np.arange(n_items, dtype=np.int64)[:, None]]
        i_cards = [n_items]
        if cfg.use_item_features:
            itf = item_categorical_features(dataset)
            i_cols.append(itf.codes)
            i_cards += list(itf.cardinalities)
        cards = np.array(u_cards + i_cards, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
        user_idx = np.hstack(u_cols) + offsets[:len(u_cards)]
        item_idx = np.hstack(i_cols) + offsets[len(u_cards):]
        self.user_index_ = user_idx.astype(np.int64)
        self.item_index_ = item_idx.astype(np.int64)
        self.n_values_ = int(cards.sum())
        self.field_cards_ = cards
        self.text_ = np.zeros((n_items, 0), dtype=np.float32)
        self.text_note_ = "no text"
        if cfg.use_text:
            from recsys.features.text import item_texts, text_embeddings

            emb = text_embeddings(item_texts(dataset), device=self.device_,
                                  method=cfg.text_method, seed=cfg.seed)
            self.text_ = np.array(emb.vectors, dtype=np.float32)  # writable copy for torch
            self.text_note_ = emb.describe()

    # -- learning ---------------------------------------------------------------------------
    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        torch = _torch()
        cfg = self.config
        self._features(dataset)
        device = torch.device(self.device_)
        fork = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(cfg.seed)
            self._train(dataset, callback, validation)

    def _train(self, dataset: Dataset, callback: Callback | None,
               validation: sp.csr_matrix | None) -> None:
        """The shared loop (:func:`~recsys.models.training.train`) over DeepFM's own batches:
        positives in a seeded order, negatives drawn among items that have interactions."""
        self.net_ = self._build().to(_torch().device(self.device_))
        self._loop(self.seen_, self.config, dataset=dataset, callback=callback,
                   validation=validation)

    def _loop(self, pairs: sp.csr_matrix, cfg: DeepFMConfig, *, dataset: Dataset | None,
              callback: Callback | None, validation: sp.csr_matrix | None) -> None:
        """The shared loop on ``self.net_`` over the positive ``pairs`` with ``cfg``'s epochs
        and learning rate (a fit, or an update's incremental epochs); negatives are drawn among
        every item with an interaction."""
        torch = _torch()
        device = torch.device(self.device_)
        coo = sp.coo_matrix(pairs)
        pos_u = torch.as_tensor(coo.row.astype(np.int64), device=device)
        pos_i = torch.as_tensor(coo.col.astype(np.int64), device=device)
        warm = np.flatnonzero(np.diff(self.seen_.tocsc().indptr) > 0)
        warm_t = torch.as_tensor(warm if len(warm) else np.arange(self.n_items_), device=device)

        def batches(gen: Any) -> Iterator[tuple[Any, ...]]:
            order = torch.randperm(len(pos_u), generator=gen, device=device)
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start:start + cfg.batch_size]
                draws = torch.randint(len(warm_t), (len(batch), cfg.negatives), generator=gen,
                                      device=device)
                yield pos_u[batch], pos_i[batch], warm_t[draws]

        loss = partial(self._batch_loss, cfg=cfg)
        train(self, self.net_, loss, batches, cfg, dataset=dataset,
              generator=make_generator(cfg.seed, device), callback=callback,
              validation=validation)
        self._refresh_items()

    def _warm_train(self, users: np.ndarray, cfg: DeepFMConfig, callback: Callback | None) -> None:
        """Incremental epochs of an update over ``users``' pairs, seeded as a fit is (the
        deep part's dropout draws from torch's generator, forked here)."""
        from recsys.models.online import keep_rows

        torch = _torch()
        device = torch.device(self.device_)
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            self._loop(keep_rows(self.seen_, users), cfg, dataset=None, callback=callback,
                       validation=None)

    def _batch_loss(self, u: Any, i: Any, j: Any, *, cfg: DeepFMConfig) -> Any:
        torch = _torch()
        net = self.net_
        self.item_terms_ = None  # the weights move: item terms are recomputed when next scored
        n, n_neg = j.shape
        ut = net.user_terms(self.user_index_t_[u])
        items = torch.cat([i, j.reshape(-1)])
        it = net.item_terms(self.item_index_t_[items], self._text_rows(items))
        pos = net.pair_scores(ut, it.rows(slice(None, n)))
        neg = net.pair_scores(ut.repeat_rows(n_neg), it.rows(slice(n, None))).view(n, n_neg)
        if cfg.loss == "bpr":
            loss = -torch.nn.functional.logsigmoid(pos.float()[:, None] - neg.float()).mean()
        else:
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            loss = (bce(pos.float(), torch.ones_like(pos, dtype=torch.float32), reduction="sum")
                    + bce(neg.float(), torch.zeros_like(neg, dtype=torch.float32),
                          reduction="sum")) / (n * (1 + n_neg))
        if cfg.l2 > 0:
            reg = ut.sq.float().sum() + it.sq.float().sum()
            loss = loss + cfg.l2 * reg / n
        return loss

    def _text_rows(self, items: Any) -> Any | None:
        return self.text_t_[items] if self.text_t_ is not None else None

    def _grow(self, n_users: int, n_items: int) -> None:
        """Zero embedding and first-order rows for the new users, inserted after the last user
        id value; every later field value moves up by as many rows, in both tables and in
        :attr:`user_index_` / :attr:`item_index_`. The new users' attribute fields take the
        unknown code (0). Old users and all items keep their values exactly, so with no epochs
        their scores do not change."""
        torch = _torch()
        cards = np.asarray(self.field_cards_, dtype=np.int64)
        added = n_users - self.n_users_
        grown = cards.copy()
        grown[0] += added  # field 0 is the user id
        old_off = np.concatenate([[0], np.cumsum(cards)[:-1]])
        new_off = np.concatenate([[0], np.cumsum(grown)[:-1]])
        moved = np.arange(self.n_values_) + np.repeat(new_off - old_off, cards)
        n_uf = self.user_index_.shape[1]
        rows = np.empty((added, n_uf), dtype=np.int64)
        rows[:, 0] = self.n_users_ + np.arange(added)
        rows[:, 1:] = new_off[1:n_uf]  # code 0 (unknown) of each user attribute
        self.user_index_ = np.vstack([moved[self.user_index_], rows])
        self.item_index_ = moved[self.item_index_]
        net = self.net_
        with torch.no_grad():
            for name in ("embed", "first"):
                old = getattr(net, name).weight.detach()
                weight = torch.zeros((int(grown.sum()), old.shape[1]), dtype=old.dtype,
                                     device=old.device)
                weight[torch.as_tensor(moved, device=old.device)] = old
                setattr(net, name, torch.nn.Embedding.from_pretrained(weight, freeze=False))
        self.field_cards_, self.n_values_ = grown, int(grown.sum())
        device = torch.device(self.device_)
        self.user_index_t_ = torch.as_tensor(self.user_index_, device=device)
        self.item_index_t_ = torch.as_tensor(self.item_index_, device=device)
        self.item_terms_ = None  # recomputed (to the same values) when next scored
        net.eval()

    # -- state -> device tensors --------------------------------------------------------------
    def _build(self) -> Any:
        """The network for the features in ``user_index_`` / ``item_index_`` / ``text_`` (their
        device copies are made here too)."""
        torch = _torch()
        device = torch.device(self.device_)
        self.user_index_t_ = torch.as_tensor(self.user_index_, device=device)
        self.item_index_t_ = torch.as_tensor(self.item_index_, device=device)
        self.text_t_ = (torch.as_tensor(self.text_, device=device) if self.text_.shape[1]
                        else None)
        self.item_terms_ = None
        from recsys.models.deepfm_net import DeepFMNet, NetShape

        cfg = self.config
        return DeepFMNet(NetShape(n_values=self.n_values_, n_user_fields=self.user_index_.shape[1],
                                  n_item_fields=self.item_index_.shape[1],
                                  text_dim=self.text_.shape[1], factors=cfg.factors,
                                  mlp_width=cfg.mlp_width, mlp_layers=cfg.mlp_layers,
                                  dropout=cfg.dropout))

    def _refresh_items(self) -> None:
        """Item-side terms of every item, computed once and reused by :meth:`score`."""
        torch = _torch()
        self.net_.eval()
        with torch.no_grad():
            items = torch.arange(self.n_items_, device=self.item_index_t_.device)
            self.item_terms_ = self.net_.item_terms(self.item_index_t_[items],
                                                    self._text_rows(items))

    def score(self, users: np.ndarray) -> Any:
        torch = _torch()
        net = self.net_
        net.eval()
        if self.item_terms_ is None:  # first scoring since a training step (validation)
            self._refresh_items()
        users_t = torch.as_tensor(np.asarray(users, dtype=np.int64),
                                  device=self.item_index_t_.device)
        width = self.item_terms_.hidden.shape[1]
        chunk = max(1, _SCORE_CHUNK_ELEMS // max(1, self.n_items_ * width))
        out = []
        with torch.no_grad():
            for start in range(0, len(users_t), chunk):
                ut = net.user_terms(self.user_index_t_[users_t[start:start + chunk]])
                out.append(net.all_scores(ut, self.item_terms_).float())
        if not out:
            return torch.zeros((0, self.n_items_), device=users_t.device)
        return torch.cat(out)

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "user_index": self.user_index_, "item_index": self.item_index_,
                "text": self.text_, "n_values": np.array(self.n_values_, dtype=np.int64),
                "text_note": np.array(self.text_note_),
                **({} if self.field_cards_ is None else {"field_cards": self.field_cards_})}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_index_ = state["user_index"].astype(np.int64)
        self.item_index_ = state["item_index"].astype(np.int64)
        self.text_ = np.array(state["text"], dtype=np.float32)
        self.n_values_ = int(state["n_values"])
        self.field_cards_ = (state["field_cards"].astype(np.int64) if "field_cards" in state
                             else None)  # saved before the field sizes were kept: no new users
        self.text_note_ = str(state["text_note"]) if "text_note" in state else ""
        super()._load_state(state)  # rebuilds the network through ``_build``
        self._refresh_items()
