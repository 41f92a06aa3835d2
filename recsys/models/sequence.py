"""SASRec (Kang & McAuley, 2018): self-attentive sequential recommendation.

Each user's training items, ordered by time (ties and data without timestamps: the order of
the interaction rows, stably), form a sequence; a causal transformer (:mod:`.sequence_net`)
turns every prefix into a state, and the next item is scored by the dot product of that state
with every item's vector (one item table for input and output). Training predicts, at every
position of the last ``max_len + 1`` items of each sequence, the item that follows, with a
softmax over the whole catalog (``loss="softmax"``) or over the target and ``negatives``
uniformly drawn items shared by the batch (``loss="sampled"``, for large catalogs). A user's
score is the state after their whole training sequence (its last ``max_len`` items).

With ``text_init``, an item's vector is its free ID embedding plus a learned projection of its
frozen text embedding (:func:`recsys.features.text.text_embeddings`), so tail items that look
alike start alike and share what the model learns; a catalog without text falls back to ID
embeddings alone (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender
from recsys.models.distributed import Shards
from recsys.models.online import append_events
from recsys.models.registry import register
from recsys.models.sequence_net import SASRecNet
from recsys.models.training import TorchStateMixin, TrainConfig, make_generator, train

__all__ = ["SASRec", "SASRecConfig", "user_sequences", "sequence_matrix"]

log = logging.getLogger(__name__)


class SASRecConfig(TrainConfig):
    """SASRec settings: the paper's sizes; ``text_init`` and ``dropout`` compared on an inner
    temporal validation split of ml-100k's training part (text on: val NDCG@10 0.173, off 0.166;
    dropout 0.5: 0.168)."""

    dim: int = Field(64, ge=8, le=1024, description="Width of item vectors and hidden states "
                     "(a multiple of heads).")
    heads: int = Field(2, ge=1, le=16, description="Attention heads per block.")
    blocks: int = Field(2, ge=1, le=8, description="Transformer blocks.")
    max_len: int = Field(50, ge=2, le=1000, description="Most recent items of a user's sequence "
                         "the model reads.")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout on embeddings and blocks "
                           "while training.")
    loss: Literal["softmax", "sampled"] = Field(
        "softmax", description="Full softmax over the catalog, or a sampled softmax over the "
        "target and shared random negatives (for large catalogs).")
    negatives: int = Field(256, ge=1, le=65_536, description="Random items per batch for the "
                           "sampled softmax.")
    text_init: bool = Field(True, description="Add a learned projection of each item's text "
                            "embedding to its ID vector (random ID vectors only when off).")
    text_method: Literal["auto", "sentence-model", "tfidf"] = Field(
        "auto", description="Text embedding: sentence model when installed, or TF-IDF + SVD.")
    epochs: int = Field(100, ge=1, le=2000, description="Passes over the users' sequences.")
    batch_size: int = Field(128, ge=1, le=65_536, description="Sequences per update.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    patience: int = Field(5, ge=1, le=100, description="Validations without a better val_ndcg "
                          "before stopping (only with a validation matrix).")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Adam weight decay.")


def user_sequences(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct training items in time order: ``(indptr, items)`` like a CSR row.

    An item's place is its first interaction; equal timestamps keep the row order, and data
    without timestamps is ordered by row. Only the positives of :attr:`Dataset.matrix` count.
    """
    inter = dataset.interactions
    users = dataset.user_positions(inter["user_id"], missing="negative")
    items = dataset.item_positions(inter["item_id"], missing="negative")
    rows = np.arange(len(inter), dtype=np.int64)
    keep = (users >= 0) & (items >= 0)
    users, items, rows = users[keep], items[keep], rows[keep]
    positive = np.asarray(dataset.matrix[users, items]).ravel() > 0 if len(users) else keep[keep]
    users, items, rows = users[positive], items[positive], rows[positive]
    if dataset.has_timestamps:
        ts = inter["timestamp"].to_numpy()[keep][positive].astype("datetime64[ns]").astype(np.int64)
        order = np.lexsort((rows, ts, users))
    else:
        order = np.lexsort((rows, users))
    users, items = users[order], items[order]
    first = np.ones(len(users), dtype=bool)  # first event of each (user, item): drop repeats
    if len(users):
        key = users * dataset.n_items + items
        _, idx = np.unique(key, return_index=True)
        first[:] = False
        first[idx] = True
    users, items = users[first], items[first]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=dataset.n_users))])
    return indptr.astype(np.int64), items.astype(np.int64)


def sequence_matrix(indptr: np.ndarray, items: np.ndarray, length: int) -> np.ndarray:
    """The last ``length`` items of every sequence, left-padded with 0, as ``item + 1`` codes."""
    n_users = len(indptr) - 1
    out = np.zeros((n_users, length), dtype=np.int64)
    counts = np.diff(indptr)
    take = np.minimum(counts, length)
    # position of each kept element: row u, column length - take[u] + j, for j < take[u]
    rows = np.repeat(np.arange(n_users), take)
    offsets = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
    src = np.repeat(indptr[1:] - take, take) + offsets
    out[rows, length - np.repeat(take, take) + offsets] = items[src] + 1
    return out


@register
class SASRec(TorchStateMixin, Recommender):
    """Causal self-attention over each user's item sequence, next item by dot product."""

    name = "sasrec"
    label = "SASRec (sequence)"
    config_cls = SASRecConfig
    iterative = True
    note_attrs = (("text", "text_note_"),)

    def _build(self) -> SASRecNet:
        cfg = self.config
        heads = cfg.heads if cfg.dim % cfg.heads == 0 else 1
        net = SASRecNet(self.n_items_, cfg.dim, heads, cfg.blocks, cfg.max_len, getattr(self, "text_dim_", 0))
        net.dropout = cfg.dropout
        return net

    def _text_vectors(self, dataset: Dataset) -> np.ndarray | None:
        """Text embeddings of the catalog, or ``None`` (and a log line) when it has no text."""
        from recsys.features.text import item_texts, text_embeddings

        texts = item_texts(dataset)
        ids = [str(v) for v in dataset.catalog["item_id"].tolist()]
        if not any(t and t != i for t, i in zip(texts, ids, strict=False)):
            log.info("sasrec: the catalog has no item text; item vectors start at random")
            return None
        emb = text_embeddings(texts, device=self.device_, method=self.config.text_method,
                              seed=self.config.seed)
        self.text_note_ = emb.describe()
        return emb.vectors.astype(np.float32)

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg, device = self.config, torch.device(self.device_)
        if not dataset.has_timestamps:
            log.info("sasrec: %s has no timestamps; sequences follow the row order", dataset.name)
        indptr, items = user_sequences(dataset)
        self.text_note_ = "off"
        text = self._text_vectors(dataset) if cfg.text_init else None
        self.text_dim_ = 0 if text is None else text.shape[1]
        net = self._build()
        net.reset_parameters(make_generator(cfg.seed))
        if text is not None:
            net.text.copy_(torch.as_tensor(text))
        self.net_ = net.to(device)
        self._set_inputs(indptr, items)
        shards = Shards.from_env(self.device_, cfg.seed)  # under torchrun: this rank's sequences
        self._loop(np.flatnonzero(np.diff(indptr) >= 2), cfg, shards, dataset=dataset,
                   callback=callback, validation=validation)

    def _loop(self, users: np.ndarray, cfg: SASRecConfig, shards: Shards, *,
              dataset: Dataset | None, callback: Callback | None,
              validation: sp.csr_matrix | None) -> None:
        """The shared loop on ``self.net_`` over the sequences of ``users`` (those with two
        items or more) with ``cfg``'s epochs and learning rate (a fit, or an update's
        incremental epochs)."""
        net, device = self.net_, torch.device(self.device_)
        indptr, items = self.seq_indptr_, self.seq_items_
        windows = torch.as_tensor(sequence_matrix(indptr, items, cfg.max_len + 1), device=device)
        users = np.asarray(users, dtype=np.int64)
        active = torch.as_tensor(users[np.diff(indptr)[users] >= 2], device=device)
        gen = make_generator(shards.noise_seed, device)
        size = shards.batch_size(cfg.batch_size)

        def batches(g: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
            order = active[shards.permutation(len(active), g, device)]
            for start in range(0, len(order), size):
                yield (windows[order[start:start + size]],)

        def loss_fn(window: torch.Tensor) -> torch.Tensor:
            seq, target = window[:, :-1], window[:, 1:]
            states = net(seq, gen)
            mask = target > 0
            h, y = states[mask], target[mask] - 1  # every position with a next item
            table = net.item_table()
            if cfg.loss == "softmax":
                return F.cross_entropy((h @ table.T).float(), y)
            neg = torch.randint(0, self.n_items_, (cfg.negatives,), generator=gen, device=device)
            pos = (h * table[y]).sum(-1, keepdim=True)
            logits = torch.cat([pos, h @ table[neg].T], dim=1).float()
            logits[:, 1:] = logits[:, 1:].masked_fill(neg[None, :] == y[:, None], -torch.inf)
            return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=device))

        train(self, net, loss_fn, batches, cfg, dataset=dataset, generator=gen, callback=callback,
              validation=validation, weight_decay=cfg.weight_decay, shards=shards)

    def _warm_train(self, users: np.ndarray, cfg: SASRecConfig, callback: Callback | None) -> None:
        """Incremental epochs of an update over ``users``' extended sequences."""
        self._loop(users, cfg, Shards(seed=cfg.seed), dataset=None, callback=callback,
                   validation=None)

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """The affected users' sequences gain the new items at their end (``events`` in time
        order; else each user's new items in item order); the network is kept."""
        if events is None:
            coo = sp.csr_matrix(new).tocoo()
            events = (coo.row, coo.col)
        indptr, items = append_events(self.seq_indptr_, self.seq_items_, self.n_users_,
                                      *events)
        self._set_inputs(indptr, items)
        return "sequence fold-in (new items appended, network kept)"

    def _set_inputs(self, indptr: np.ndarray, items: np.ndarray) -> None:
        """Keep the sequences (plain arrays, saved) and the scoring inputs on the device."""
        self.seq_indptr_, self.seq_items_ = indptr, items
        self.inputs_ = torch.as_tensor(sequence_matrix(indptr, items, self.config.max_len),
                                       device=torch.device(self.device_))

    @property
    def item_factors_(self) -> np.ndarray:
        """Item vectors (items × dim), e.g. for the embedding map."""
        with torch.no_grad():
            return self.net_.item_table().detach().float().cpu().numpy()

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.inputs_.device)
        with torch.no_grad():
            seq = self.inputs_[idx]
            state = self.net_(seq)[:, -1]
            return (state @ self.net_.item_table().T).float()

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "seq_indptr": self.seq_indptr_, "seq_items": self.seq_items_,
                "text_dim": np.array(self.text_dim_), "text_note": np.array(self.text_note_)}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.text_dim_ = int(state["text_dim"])
        self.text_note_ = str(state["text_note"])
        super()._load_state(state)
        self._set_inputs(state["seq_indptr"].astype(np.int64), state["seq_items"].astype(np.int64))
