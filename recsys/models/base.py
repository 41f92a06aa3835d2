"""The one contract every recommender follows (the registry of them: :mod:`.registry`).

scikit-learn-like: ``__init__(config)`` stores a typed config; ``fit(dataset, *, device,
callback, validation)`` learns and returns ``self``; learned state ends in ``_``;
``score(users)`` returns a dense block (users × items, higher is better) as a NumPy array or a
torch tensor on the model's device; ``recommend(users, n, exclude=..., allowed_items=...)``
returns the top-``n`` items, by default leaving out what each user already has.

Artifacts are a folder with ``model.json`` (name, config, dataset fingerprint, sizes) and
``weights.npz`` (plain arrays, loaded with ``allow_pickle=False``): enough to rebuild the model
exactly, without unpickling anything.

``update(new)`` folds new interactions into a trained model without a full retrain (online
updates, :mod:`recsys.models.online`), and ``update(new, epochs=N)`` then continues a torch
model's training loop for N warm-started epochs; a model updated with new users or items keeps its own id
vocabulary (:attr:`Recommender.user_ids_`, saved as plain text arrays) because its positions no
longer match the dataset it was first fitted on.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.dataset import Dataset
from recsys.labels import field_title
from recsys.models.online import pad_csr

__all__ = ["ModelConfig", "Recommender", "Callback", "Exclude", "topk_from_scores", "FitStopped", "pack_csr",
           "unpack_csr", "read_meta", "stop_requested"]

log = logging.getLogger(__name__)

#: ``callback(epoch, metrics)``; returning ``False`` asks the model to stop (cancel). A callback
#: that also has a ``stop_requested()`` method is polled between batches too (see
#: :func:`stop_requested`), so a cancel acts within a batch instead of at the end of an epoch.
Callback = Callable[[int, dict[str, float]], bool | None]
#: What a list leaves out: ``"known"`` (the model's :attr:`Recommender.exclusion`), ``None``
#: (nothing) or a sparse users × items matrix.
Exclude = Literal["known"] | sp.spmatrix | sp.sparray | None

#: The most user × item scores one block of :meth:`Recommender.recommend` holds (128 MB of
#: float32): at 100,000 products a block is 335 users, at 1,000 products the full ``block``.
SCORE_BLOCK_ENTRIES = 2**25


class FitStopped(Exception):
    """Raised inside a training loop when the callback asks to stop; caught by ``fit``."""


def stop_requested(callback: Callback | None) -> bool:
    """Whether ``callback`` asks the fit to stop now, between two batches.

    Training loops call this after every batch; a plain function callback never asks (it can
    still stop at the end of an epoch by returning ``False``), an object with a
    ``stop_requested()`` method (a training job's cancel flag) is asked each time.
    """
    check = getattr(callback, "stop_requested", None)
    return bool(check()) if callable(check) else False


class ModelConfig(BaseModel):
    """Base of every model config: frozen, typos refused, seeded."""

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=field_title)

    seed: int = Field(0, ge=0, description="Random seed: same data + seed = same model.")


def topk_from_scores(scores: Any, k: int, seen: sp.csr_matrix | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item positions and scores per row, excluding ``seen`` items.

    Works on NumPy arrays (``argpartition``) and torch tensors (``torch.topk`` on the device).
    Rows with fewer than ``k`` eligible items are padded with ``-1``.
    """
    k = min(k, scores.shape[1])
    if not isinstance(scores, np.ndarray):  # torch tensor
        import torch

        scores = scores.float().clone()
        if seen is not None and seen.nnz:
            coo = seen.tocoo()
            idx = torch.as_tensor(np.vstack([coo.row, coo.col]), device=scores.device,
                                  dtype=torch.long)
            scores[idx[0], idx[1]] = -torch.inf
        vals, items = torch.topk(scores, k, dim=1)
        vals, items = vals.cpu().numpy(), items.cpu().numpy()
    else:
        scores = np.array(scores, dtype=np.float32, copy=True)
        if seen is not None and seen.nnz:
            coo = seen.tocoo()
            scores[coo.row, coo.col] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        items = np.take_along_axis(part, order, axis=1)
        vals = np.take_along_axis(part_scores, order, axis=1)
    items = np.where(np.isfinite(vals), items, -1)
    return items.astype(np.int64), vals


def pack_csr(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as three plain arrays for ``weights.npz``."""
    m = sp.csr_matrix(matrix)
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr}


def unpack_csr(state: dict[str, np.ndarray], prefix: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """Inverse of :func:`pack_csr`."""
    return sp.csr_matrix((state[f"{prefix}_data"], state[f"{prefix}_indices"],
                          state[f"{prefix}_indptr"]), shape=shape)


class Recommender(ABC):
    """Base class: holds the config, the training matrix and the save/load logic."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    config_cls: ClassVar[type[ModelConfig]] = ModelConfig
    #: Trained in epochs with early stopping on a validation matrix: a training job fits it on
    #: an inner split of the training data and reports each epoch.
    iterative: ClassVar[bool] = False
    #: Online updates (:meth:`update`): whether new users (rows) and new items (columns) can be
    #: added, and whether the model can be updated at all.
    updatable: ClassVar[bool] = True
    adds_users: ClassVar[bool] = True
    adds_items: ClassVar[bool] = False
    #: What the default :meth:`_update` does, as the update result reports it.
    update_method: ClassVar[str] = "history fold-in (learned weights kept)"
    #: Whether :meth:`update` can run warm-started epochs of the training loop (``epochs``).
    incremental: ClassVar[bool] = False
    #: Settings the model chooses on its own data while it fits (text embedding, how loud new
    #: products are): ``(label, attribute)`` pairs, the attribute a one-line note that
    #: :meth:`fitted_notes` reports so the run record and the Train page can say what was chosen.
    note_attrs: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Id vocabularies of an updated model (``None``: the positions of the dataset it was fitted on).
    user_ids_: np.ndarray | None = None
    item_ids_: np.ndarray | None = None

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config if config is not None else self.config_cls()
        if not isinstance(self.config, self.config_cls):
            raise TypeError(f"{type(self).__name__} needs a {self.config_cls.__name__}")
        self.device_ = "cpu"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # -- learning ---------------------------------------------------------------------------
    def fit(self, dataset: Dataset, *, device: str | None = None, callback: Callback | None = None,
            validation: sp.csr_matrix | None = None) -> Self:
        """Learn from ``dataset`` (its matrix is the training data) and return ``self``.

        ``validation`` (held-out pairs in the same positions) drives early stopping for
        iterative models; ``callback(epoch, metrics)`` receives progress and may cancel.
        """
        from recsys.device import resolve_device

        self.device_ = resolve_device(device)
        self.use_history(dataset)
        self.n_users_, self.n_items_ = dataset.matrix.shape
        self.fingerprint_ = dataset.fingerprint
        self.history_: list[dict[str, float]] = []
        try:
            self._fit(dataset, callback=callback, validation=validation)
        except FitStopped:  # models that cannot stop midway keep what they have
            log.info("%s: training stopped by the callback", self.name)
        return self

    def use_history(self, dataset: Dataset) -> None:
        """Take ``dataset``'s users' histories: :attr:`seen_` (the positives, which scoring
        reads) and :attr:`known_` (positives plus context pairs, which lists exclude)."""
        self.seen_ = sp.csr_matrix(dataset.matrix, dtype=np.float32)
        self.known_ = (sp.csr_matrix(dataset.known, dtype=np.float32)
                       if dataset.n_context_pairs else self.seen_)  # saved once, not twice

    # -- online updates --------------------------------------------------------------------
    def update(self, new: sp.csr_matrix, *, events: tuple[np.ndarray, np.ndarray] | None = None,
               items: pd.DataFrame | None = None, epochs: int = 0,
               callback: Callback | None = None) -> str:
        """Fold the new positives ``new`` in without retraining; returns how (one phrase).

        ``new`` is users × items in the grown shape: rows from :attr:`n_users_` on are new users,
        columns from :attr:`n_items_` on new items (refused with ``ValueError`` where the model
        cannot add them: :attr:`adds_users`, :attr:`adds_items`). The affected users' histories
        gain the new pairs; what else changes is model-specific (:meth:`_update`). Users without
        new pairs score exactly as before, except where the model's scores are shared by
        everyone (popularity counts). ``events`` (user, item positions in time order) lets
        sequence models append in order. ``items`` (catalog rows of the new columns, in column
        order) lets content models embed new products (:class:`~recsys.models.content.
        ContentItems`); other models ignore it.

        ``epochs`` > 0 (torch models, :attr:`incremental`) then runs that many warm-started
        epochs of the model's own training loop on the affected users' updated histories plus
        a seeded replay sample of other users' (:meth:`_train_more`): the weights shared by
        everyone (item vectors, network layers) move, so every user's list may change; with
        ``epochs=0`` the guarantee above holds. ``callback`` gets those epochs and may cancel
        (the weights then stay as the last finished batch left them). Other models ignore
        ``epochs``.
        """
        if epochs < 0:
            raise ValueError(f"epochs must be 0 or more, got {epochs}")
        if not self.updatable:
            raise ValueError(f"{self.label or self.name} cannot be updated online; retrain it")
        new = sp.csr_matrix(new, dtype=np.float32)
        n_users, n_items = new.shape
        if n_users < self.n_users_ or n_items < self.n_items_:
            raise ValueError(f"update needs at least {self.n_users_} users × {self.n_items_} "
                             f"items, got {n_users} × {n_items}")
        if n_users > self.n_users_ and not self.adds_users:
            raise ValueError(f"{self.label or self.name} cannot add users without a retrain")
        if n_items > self.n_items_ and not self.adds_items:
            raise ValueError(f"{self.label or self.name} cannot add items without a retrain")
        if (n_users, n_items) != (self.n_users_, self.n_items_):
            self._grow(n_users, n_items)
            self.seen_ = pad_csr(self.seen_, n_users, n_items)
            known = getattr(self, "known_", None)
            self.known_ = self.seen_ if known is None or known is self.seen_ else pad_csr(
                known, n_users, n_items)
            self.n_users_, self.n_items_ = n_users, n_items
        separate = self.exclusion is not self.seen_
        self.seen_ = sp.csr_matrix(self.seen_ + new, dtype=np.float32)
        self.known_ = sp.csr_matrix(((self.known_ + new) > 0), dtype=np.float32) if separate \
            else self.seen_
        affected = np.flatnonzero(np.diff(new.indptr) > 0)
        how = self._update(new, affected, events)
        if epochs and self.incremental:
            how = f"{how}; then {self._train_more(affected, epochs, callback)}"
        return how

    def _grow(self, n_users: int, n_items: int) -> None:
        """Pad the learned arrays to ``n_users`` × ``n_items`` before an update (the history
        matrices are padded by :meth:`update`); models with per-user or per-item state override."""
        return None

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Model-specific part of :meth:`update` (``seen_`` already holds the new pairs); by
        default nothing more: a model that scores from each user's history changes those
        users' lists only."""
        return self.update_method

    def _train_more(self, affected: np.ndarray, epochs: int, callback: Callback | None) -> str:
        """Warm-started epochs after an update (models with :attr:`incremental`); returns how."""
        raise NotImplementedError(f"{self.name} has no incremental epochs")

    @property
    def exclusion(self) -> sp.csr_matrix:
        """Users × items a list must not contain: everything the user already interacted with."""
        known = getattr(self, "known_", None)
        return self.seen_ if known is None else known

    @abstractmethod
    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        """Model-specific learning; ``self.device_`` and ``self.seen_`` are set."""

    @abstractmethod
    def score(self, users: np.ndarray) -> Any:
        """Scores for ``users`` (positions) × all items; higher is better."""

    def recommend(self, users: np.ndarray, n: int = 10, *, exclude: Exclude = "known",
                  allowed_items: np.ndarray | None = None, block: int = 2048,
                  exclude_seen: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item positions and their scores for ``users``, scored in blocks of users.

        Blocks hold at most :data:`SCORE_BLOCK_ENTRIES` scores (fewer users for large
        catalogs), so no users × items matrix is ever built.
        This is the one top-k loop of the library: candidate pools for re-ranking
        (:func:`recsys.rerank.candidates_from_model`) and export scopes are built on it.
        ``exclude`` is ``"known"`` (what the model knows each user has: :attr:`exclusion`),
        ``None`` (nothing excluded) or a sparse users × items matrix (e.g. ``dataset.known``);
        ``exclude_seen`` is the older spelling (``True`` = ``"known"``, ``False`` = ``None``).
        ``allowed_items`` (a boolean mask over items) keeps every other item out of the lists.
        Rows with fewer than ``n`` eligible items are padded with ``-1`` and ``-inf`` scores.
        """
        if exclude_seen is not None:
            exclude = "known" if exclude_seen else None
        users = np.asarray(users, dtype=np.int64)
        n_items = getattr(self, "n_items_", 0) or 1
        block = max(1, min(block, SCORE_BLOCK_ENTRIES // n_items))  # large catalogs: fewer users
        matrix = self._exclusion_matrix(exclude)
        mask = None if allowed_items is None else np.asarray(allowed_items, dtype=bool)
        items_out, scores_out = [], []
        for start in range(0, len(users), block):
            part = users[start:start + block]
            scores = self.score(part)
            if mask is not None:  # on the scores' own device: no copy to the host for top-k
                if isinstance(scores, np.ndarray):
                    scores = np.array(scores, dtype=np.float32, copy=True)
                    scores[:, ~mask] = -np.inf
                else:
                    import torch

                    scores = scores.float().clone()
                    scores[:, torch.as_tensor(~mask, device=scores.device)] = -torch.inf
            items, vals = topk_from_scores(scores, n, None if matrix is None else matrix[part])
            items_out.append(items)
            scores_out.append(np.where(items >= 0, vals, -np.inf).astype(np.float32))
        if not items_out:
            return np.zeros((0, n), dtype=np.int64), np.zeros((0, n), dtype=np.float32)
        return np.vstack(items_out), np.vstack(scores_out)

    def _exclusion_matrix(self, exclude: Exclude) -> sp.csr_matrix | None:
        """The users × items matrix ``exclude`` stands for (see :meth:`recommend`)."""
        if exclude is None:
            return None
        if isinstance(exclude, str):
            if exclude != "known":
                raise ValueError(f"exclude must be 'known', None or a users × items matrix, "
                                 f"not '{exclude}'")
            return self.exclusion
        matrix = sp.csr_matrix(exclude)
        n_items = getattr(self, "n_items_", matrix.shape[1])
        if matrix.shape[1] != n_items:
            raise ValueError(f"exclude has {matrix.shape[1]} items, the model {n_items}")
        return matrix

    def fitted_notes(self) -> dict[str, str]:
        """What the fit chose on its own data, ``{label: note}`` (empty notes left out)."""
        notes = {label: str(getattr(self, attr, "") or "") for label, attr in self.note_attrs}
        return {label: note for label, note in notes.items() if note}

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (models override and call ``super()``)."""
        state = pack_csr("seen", self.seen_)
        if self.exclusion is not self.seen_:
            state.update(pack_csr("known", self.exclusion))
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore learned arrays (models override and call ``super()``)."""
        shape = (self.n_users_, self.n_items_)
        self.seen_ = unpack_csr(state, "seen", shape)
        self.known_ = unpack_csr(state, "known", shape) if "known_data" in state else self.seen_

    def save(self, folder: str | Path) -> Path:
        """Write ``model.json`` + ``weights.npz`` into ``folder`` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"name": self.name, "config": self.config.model_dump(mode="json"),
                "fingerprint": self.fingerprint_, "n_users": self.n_users_,
                "n_items": self.n_items_, "history": self.history_}
        state = self._state()
        if self.user_ids_ is not None and self.item_ids_ is not None:  # an updated model
            state["vocab_users"] = np.asarray(self.user_ids_, dtype=str)
            state["vocab_items"] = np.asarray(self.item_ids_, dtype=str)
        np.savez(folder / "weights.npz", **state)
        (folder / "model.json").write_text(json.dumps(meta, indent=2, default=float))
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Recommender:
        """Rebuild a saved model exactly (no pickle)."""
        from recsys.device import resolve_device

        if cls is Recommender:
            raise TypeError("Recommender.load needs a model class; use recsys.models.load_model "
                            "to load a model of any class")
        folder = Path(folder)
        meta = read_meta(folder)
        model = cls(cls.config_cls(**meta["config"]))
        model.device_ = resolve_device(device)
        model.n_users_, model.n_items_ = meta["n_users"], meta["n_items"]
        model.fingerprint_ = meta["fingerprint"]
        model.history_ = meta.get("history", [])
        with np.load(folder / "weights.npz", allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        if "vocab_users" in state:
            model.user_ids_ = state.pop("vocab_users").astype(object)
            model.item_ids_ = state.pop("vocab_items").astype(object)
        model._load_state(state)
        return model


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a saved model (name, config, fingerprint, sizes, history)."""
    return json.loads((Path(folder) / "model.json").read_text())
