"""Content MF: a softmax factor model whose item vectors are built from the catalog.

Each user's purchases are modelled as draws from a softmax over the products with
interactions, with logits ``p_u · v_i + b_i`` where the item side is ``v_i = e_i + W c_i`` and
``b_i = d_i + w · c_i``: an identity part (``e_i``, ``d_i``) plus a part shared through the
item's content vector ``c_i`` (text embedding ⊕ category / brand / price fields, the same
vectors as the hybrid, :mod:`recsys.models.content`). Products that look alike share signal,
so a tail product with a handful of buyers is placed by what its look-alikes' buyers did — the
identity part only has to learn what content cannot say. Trained with the multinomial
log-likelihood (as Mult-VAE) and a strong L2 penalty, in the shared loop (device, AMP on CUDA,
early stopping, cancel).

New products (no interactions) have no identity part. Two views score them, in the same
units (each tower's logits turned into log-probabilities over the products with interactions,
so a new product's score reads as "how likely, next to the known products"): the main tower's
content part (``p_u · W c_i + w · c_i``) and a second, *content-only* tower
(``p'_u · W' c_i + w' · c_i``, trained in the same loop on the same purchases, so its content map
has to carry everything). Their weighted mean (``cold_mix``, the main tower's weight) is
shifted by ``cold_shift`` (how loud new products are; the item cold start protocol of
``evaluate --split item-cold`` is where both were chosen). The mean ranks new products better
than either tower alone on the inner split of both shops measured: the main tower knows each
customer best, the content-only tower's map is the better content model.

An online update re-fits the affected users' vectors (fold-in, the item side kept), so new
customers get personal lists; new products enter through both towers' content maps, embedded
by the model's own content encoder.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, Recommender, stop_requested
from recsys.models.content import ContentItems, item_content
from recsys.models.registry import register
from recsys.models.training import RowSource, TrainConfig, make_generator, train

__all__ = ["ContentMF", "ContentMFConfig", "ContentMFNet"]

log = logging.getLogger(__name__)

#: Cold shifts the search tries (log-probability units).
SHIFTS: tuple[float, ...] = tuple(np.arange(-3.0, 3.01, 0.5).round(1).tolist())
#: Adam steps of a fold-in (an update's new or changed users), on their vectors only.
FOLD_IN_STEPS = 100


class ContentMFConfig(TrainConfig):
    """Content MF settings (defaults chosen on inner item cold start splits of the demo shop;
    ``cold_mix`` on those of Online Retail too)."""

    factors: int = Field(64, ge=2, le=1024, description="Size of the user and item vectors.")
    epochs: int = Field(300, ge=1, le=5000, description="Passes over the users.")
    batch_size: int = Field(512, ge=1, le=1_048_576, description="Users per update.")
    lr: float = Field(0.02, gt=0.0, le=1.0, description="Adam learning rate.")
    eval_every: int = Field(10, ge=1, le=100, description="Validate every this many epochs.")
    l2: float = Field(1e-2, ge=0.0, le=10.0, description="L2 penalty of the main tower (user "
                      "vectors per batch, item vectors and content weights per user).")
    content_l2: float = Field(1e-3, ge=0.0, le=10.0, description="L2 penalty of the "
                              "content-only tower that scores new products.")
    cold_mix: float = Field(0.5, ge=0.0, le=1.0, description="Weight of the main tower in "
                            "new products' scores (the rest is the content-only tower's).")
    cold_shift: float = Field(-0.5, ge=-20.0, le=20.0, description="Added to new products' "
                              "log-probabilities: higher lists more of them (used as set when "
                              "the shift search is off).")
    shift_search: bool = Field(True, description="Choose the cold shift on an inner item cold "
                               "start split of the training data (one more fit).")
    text_method: Literal["auto", "tfidf", "sentence-model", "none"] = Field(
        "tfidf", description="Text part of the content vectors: TF-IDF + SVD, the offline "
        "sentence model, the better of the two on an inner split (auto), or none (fields only).")
    side_weight: float = Field(0.5, ge=0.0, le=1.0, description="Share of the category / "
                               "brand / price fields in the content vectors (the rest is text).")


class ContentMFNet(torch.nn.Module):
    """Both towers. Item tables have ``factors + 1`` columns: the last is the bias, matched by a
    constant 1 appended to the user vectors."""

    def __init__(self, n_users: int, n_items: int, content_dim: int, factors: int) -> None:
        super().__init__()
        width = factors + 1
        self.user = torch.nn.Parameter(torch.zeros(n_users, factors))
        self.item = torch.nn.Parameter(torch.zeros(n_items, width))
        self.content = torch.nn.Parameter(torch.zeros(content_dim, width))
        self.cold_user = torch.nn.Parameter(torch.zeros(n_users, factors))
        self.cold_content = torch.nn.Parameter(torch.zeros(content_dim, width))

    def reset_parameters(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            for p in (self.user, self.cold_user):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
            for p in (self.content, self.cold_content):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
                p[:, -1] = 0.0
            self.item.zero_()

    def item_tables(self, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Item vectors (with the bias column) of the main and the content-only tower."""
        return self.item + content @ self.content, content @ self.cold_content


def _with_one(users: torch.Tensor) -> torch.Tensor:
    return torch.cat([users, torch.ones(len(users), 1, dtype=users.dtype, device=users.device)], 1)


def _log_probs(users: torch.Tensor, items: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
    """Logits of ``users`` × every item minus each user's log-partition over the ``warm`` items."""
    logits = _with_one(users) @ items.T
    return logits - torch.logsumexp(logits[:, warm], dim=1, keepdim=True)


@register
class ContentMF(ContentItems, Recommender):
    """Softmax factor model with content-built item vectors and a content tower for new products."""

    name = "contentmf"
    label = "Content MF"
    config_cls = ContentMFConfig
    iterative = True
    update_method = "fold-in of the updated users' vectors (item side kept)"
    note_attrs = (("text", "text_note_"), ("new products", "shift_note_"))

    def _fit(self, dataset: Dataset, *, callback: Callback | None,
             validation: sp.csr_matrix | None) -> None:
        cfg = self.config
        x = (self.seen_ > 0).astype(np.float32).tocsr()
        content, self.text_note_, self.encoder_ = item_content(
            dataset, x, text_method=cfg.text_method, side_weight=cfg.side_weight,
            device=self.device_, seed=cfg.seed)
        self.generator_ = {}
        self.cold_shift_, self.shift_note_ = float(cfg.cold_shift), ""
        if cfg.shift_search:
            self._search_shift(x, content, callback, dataset)
        self._train(x, content, dataset=dataset, callback=callback, validation=validation)

    def _search_shift(self, x: sp.csr_matrix, content: np.ndarray,
                      callback: Callback | None, dataset: Dataset | None = None) -> None:
        """``cold_shift_``: the shift of :data:`SHIFTS` with the best full-list recall on an
        inner item cold start split of ``x``, or a temporal one where ``dataset`` was carved in
        time (:func:`~recsys.models.cold_scale.choose_cold_scale`;
        the shift is applied at scoring, so one inner fit serves every shift tried). A cancel
        during the inner fit keeps the configured shift (the main fit then stops at once)."""
        from recsys.models.cold_scale import choose_cold_scale

        cancel = _CancelOnly(callback)
        stopped = [False]

        def scorer(train_x: sp.csr_matrix):
            inner = ContentMF(self.config.model_copy(update={"shift_search": False,
                                                             "cold_shift": 0.0}))
            inner.device_, inner.history_, inner.cold_shift_ = self.device_, [], 0.0
            inner.seen_ = inner.known_ = train_x
            inner.n_users_, inner.n_items_ = train_x.shape
            inner._train(train_x, content, dataset=None, callback=cancel, validation=None)
            stopped[0] = inner.stopped_at_ is not None
            new = (~inner.warm_).float().cpu().numpy()[None, :]

            def parts(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                scores = inner.score(users).cpu().numpy()
                return scores, np.broadcast_to(new, scores.shape)

            return parts

        choice = choose_cold_scale(x, scorer, scales=SHIFTS, seed=self.config.seed,
                                   additive=True, dataset=dataset)
        if stopped[0]:
            self.shift_note_ = f"cold shift {self.cold_shift_:+g} (its search was cancelled)"
        else:
            self.cold_shift_, self.shift_note_ = choice.scale, choice.note

    def _train(self, x: sp.csr_matrix, content: np.ndarray, *, dataset: Dataset | None,
               callback: Callback | None, validation: sp.csr_matrix | None) -> None:
        """Both towers on the binary matrix ``x`` in the shared loop, then the scoring tables."""
        cfg, device = self.config, torch.device(self.device_)
        self.content_ = torch.as_tensor(content.astype(np.float32), device=device)
        self.warm_ = torch.as_tensor(np.asarray(x.sum(axis=0)).ravel() > 0, device=device)
        net = ContentMFNet(*x.shape, content.shape[1], cfg.factors)
        net.reset_parameters(make_generator(cfg.seed))
        self.net_ = net.to(device)
        rows = RowSource(x, device)
        warm, n_active = self.warm_, max(1, len(rows.active))

        def loss_fn(batch: torch.Tensor) -> torch.Tensor:
            x = rows.rows(batch)[:, warm]
            main, cold = net.item_tables(self.content_)
            share = len(batch) / n_active
            main_reg = net.item[warm].pow(2).sum() + net.content.pow(2).sum()
            return (_nll(net.user[batch], main[warm], x, cfg.l2, share * main_reg)
                    + _nll(net.cold_user[batch], cold[warm], x, cfg.content_l2,
                           share * net.cold_content.pow(2).sum()))

        def batches(g: torch.Generator):
            order = rows.active[torch.randperm(len(rows.active), generator=g, device=device)]
            for start in range(0, len(order), cfg.batch_size):
                yield (order[start:start + cfg.batch_size],)

        try:
            train(self, net, loss_fn, batches, cfg, dataset=dataset,  # type: ignore[arg-type]
                  generator=make_generator(cfg.seed, device), callback=callback,
                  validation=validation)
        finally:
            self._freeze()

    def _freeze(self) -> None:
        """Scoring tables from the trained net (user vectors, item tables, the content → new
        product map); the net and the content vectors are then let go."""
        with torch.no_grad():
            main, cold = self.net_.item_tables(self.content_)
            self.user_main_ = self.net_.user.detach().clone()
            self.user_cold_ = self.net_.cold_user.detach().clone()
            self.item_main_, self.item_cold_ = main.detach().clone(), cold.detach().clone()
            self.main_content_ = self.net_.content.detach().clone()
            self.cold_content_ = self.net_.cold_content.detach().clone()
        del self.net_, self.content_

    def _tables(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """User and item tables of both towers (from the net while it trains)."""
        net = getattr(self, "net_", None)
        if net is None:
            return self.user_main_[idx], self.item_main_, self.user_cold_[idx], self.item_cold_
        main, cold = net.item_tables(self.content_)
        return net.user[idx], main, net.cold_user[idx], cold

    def score(self, users: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.warm_.device)
        with torch.no_grad():
            user_main, main, user_cold, cold = self._tables(idx)
            known = _log_probs(user_main, main, self.warm_)
            mix = self.config.cold_mix
            new = _log_probs(user_cold, cold, self.warm_)
            new = mix * known + (1.0 - mix) * new + self.cold_shift_
            return torch.where(self.warm_[None, :], known, new).float()

    # -- online updates ---------------------------------------------------------------------
    def _grow(self, n_users: int, n_items: int) -> None:
        """New users start at zero vectors (a popularity-like list until their fold-in); new
        products (``new_content_``) get both towers' content vectors and no identity part."""
        from recsys.models.online import pad_rows

        self.user_main_ = pad_rows(self.user_main_, n_users)
        self.user_cold_ = pad_rows(self.user_cold_, n_users)
        self.warm_ = pad_rows(self.warm_, n_items, fill=False)
        extra = n_items - self.item_cold_.shape[0]
        if extra > 0:
            self.item_main_ = torch.cat([self.item_main_, self._fresh(self.item_main_,
                                                                     self.main_content_, extra)])
            self.item_cold_ = torch.cat([self.item_cold_, self._fresh(self.item_cold_,
                                                                     self.cold_content_, extra)])

    def _fresh(self, items: torch.Tensor, content_map: torch.Tensor, extra: int) -> torch.Tensor:
        """Item vectors of ``extra`` new products from one tower's content map (from
        ``new_content_``; without catalog rows, the tower's average product)."""
        if self.new_content_ is not None:
            return torch.as_tensor(self.new_content_.astype(np.float32),
                                   device=content_map.device) @ content_map
        return items.mean(dim=0, keepdim=True).expand(extra, -1)

    def _update(self, new: sp.csr_matrix, affected: np.ndarray,
                events: tuple[np.ndarray, np.ndarray] | None) -> str:
        """Fold-in: the affected users' vectors re-fitted to their whole updated history with
        the item side kept, :data:`FOLD_IN_STEPS` Adam steps, seeded."""
        if len(affected):
            x = (self.seen_[affected] > 0).astype(np.float32)
            device = self.warm_.device
            rows = torch.as_tensor(x.toarray()[:, self.warm_.cpu().numpy()], device=device)
            idx = torch.as_tensor(affected, dtype=torch.int64, device=device)
            warm = self.warm_
            for users, items, l2 in ((self.user_main_, self.item_main_, self.config.l2),
                                     (self.user_cold_, self.item_cold_, self.config.content_l2)):
                users[idx] = _fold_in(users[idx], items[warm], rows, l2, self.config)
        return self.update_method

    # -- persistence ------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        tables = {k: getattr(self, f"{k}_").cpu().numpy() for k in _TABLES}
        return {**super()._state(), **tables, "text_note": np.array(self.text_note_),
                "cold_shift": np.float64(self.cold_shift_), "shift_note": np.array(self.shift_note_),
                **self._encoder_state()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        device = torch.device(self.device_)
        for k in _TABLES:
            setattr(self, f"{k}_", torch.as_tensor(state[k], device=device))
        self.text_note_ = str(state["text_note"])
        self.cold_shift_ = float(state["cold_shift"])
        self.shift_note_ = str(state["shift_note"])
        self._load_encoder(state)


class _CancelOnly:
    """A callback for an inner fit: passes a job's cancel on, reports no epochs."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        return None

    def stop_requested(self) -> bool:
        return stop_requested(self.callback)


#: The scoring tables a fitted model keeps (and saves).
_TABLES = ("user_main", "user_cold", "item_main", "item_cold", "main_content", "cold_content",
           "warm")


def _nll(users: torch.Tensor, items: torch.Tensor, x: torch.Tensor, l2: float,
         item_reg: torch.Tensor | float) -> torch.Tensor:
    """Multinomial negative log-likelihood of the rows ``x`` (mean over users) plus the L2
    penalty: the batch's user vectors and the item side's share ``item_reg``."""
    logits = (_with_one(users) @ items.T).float()
    nll = -(torch.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
    return nll + l2 * (users.pow(2).sum() + item_reg)


def _fold_in(users: torch.Tensor, items: torch.Tensor, rows: torch.Tensor, l2: float,
             cfg: ContentMFConfig) -> torch.Tensor:
    """``users``' vectors fitted to their ``rows`` against fixed ``items`` (the fold-in), with
    each user's terms weighed as in a training batch of ``cfg.batch_size`` users."""
    vec = users.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([vec], lr=cfg.lr)
    scale = len(vec) / cfg.batch_size
    for _ in range(FOLD_IN_STEPS):
        opt.zero_grad(set_to_none=True)
        logits = (_with_one(vec) @ items.T).float()
        nll = -(torch.log_softmax(logits, dim=1) * rows).sum(dim=1).mean()
        loss = nll * scale + l2 * vec.pow(2).sum()
        loss.backward()
        opt.step()
    return vec.detach()
