"""The shared PyTorch training loop of the gradient-trained recommenders (BPR, NeuMF, Mult-VAE).

nanoGPT-style: one function, :func:`train`, that fits on a screen. Everything stays on the model's
device: positive pairs and user rows are device tensors, negatives are drawn with ``torch.randint``
from a seeded ``torch.Generator`` (no global seeding), the loss is accumulated on the device and
read back once per epoch. Mixed precision (bf16, or fp16 with a ``GradScaler``) is used on CUDA
only, so CPU runs are exactly repeatable; no global RNG state or global flags are touched. After
every epoch the callback gets ``epoch``, ``loss`` (mean per example), ``examples_per_s`` (positive
pairs or users per second), ``seconds`` (training time of the epoch, validation excluded) and,
when a validation matrix is given, ``val_ndcg``, ``val_recall``, ``val_aplt``; early stopping
watches ``val_ndcg`` and restores the best weights; a callback returning ``False`` (or raising
:class:`~recsys.models.base.FitStopped`) stops cleanly. A callback with a ``stop_requested()``
method is also asked after every batch (:func:`~recsys.models.base.stop_requested`): a cancel
then acts within a batch, the epoch in progress is abandoned (no validation, no callback) and
``model.stopped_at_`` records the epoch it stopped in (``None`` when the fit was not cut short).
Under ``torchrun`` (``shards``, :mod:`.distributed`) the step goes through DDP, each rank runs
its shard of the epoch, the loss is summed over the ranks, and validation, early stopping and
the callback (asked once per epoch, not per batch) are rank 0's verdict, broadcast.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from recsys.data.dataset import Dataset
from recsys.models.base import Callback, FitStopped, ModelConfig, Recommender, stop_requested
from recsys.models.distributed import Shards

__all__ = ["TorchStateMixin", "TrainConfig", "train", "make_generator", "PairSampler", "RowSource", "module_state",
           "load_module_state", "update_pairs"]

log = logging.getLogger(__name__)

#: Incremental epochs of an online update: other users' histories replayed per affected user
#: (so the shared weights do not forget them) and the share of the model's learning rate.
REPLAY_RATIO = 1.0
UPDATE_LR_SHARE = 0.5

#: ``loss_fn(*batch) -> scalar`` (mean over the batch) and ``batches(generator)`` per epoch.
LossFn = Callable[..., torch.Tensor]
Batches = Callable[[torch.Generator], Iterable[tuple[torch.Tensor, ...]]]


class TrainConfig(ModelConfig):
    """Fields shared by every gradient-trained model (each model sets its own defaults)."""

    epochs: int = Field(30, ge=1, le=2000, description="Passes over the training data.")
    batch_size: int = Field(8192, ge=1, le=1_048_576, description="Examples per update.")
    lr: float = Field(0.01, gt=0.0, le=1.0, description="Adam learning rate.")
    patience: int = Field(3, ge=1, le=100, description="Validations without a better val_ndcg "
                          "before stopping (only with a validation matrix).")
    eval_every: int = Field(1, ge=1, le=100, description="Validate every this many epochs.")


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator on ``device``: all randomness of a fit flows from it."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


def train(model: Recommender, net: torch.nn.Module, loss_fn: LossFn, batches: Batches,
          config: TrainConfig, *, dataset: Dataset, generator: torch.Generator,
          callback: Callback | None = None, validation: sp.csr_matrix | None = None,
          weight_decay: float = 0.0, manual_step: LossFn | None = None,
          shards: Shards | None = None) -> None:
    """Optimise ``net`` with Adam for ``config.epochs``; history goes to ``model.history_``.

    ``manual_step(*batch)`` (no autograd) replaces the optimiser: it updates ``net`` itself
    and returns the batch's mean loss (one process only). ``shards``: this process's place in
    a torchrun fit (``batches`` must already yield only its shard); ``model.distributed_``
    records the world size and each rank's examples.
    """
    shards = shards or Shards()
    if shards.active and manual_step is not None:
        raise ValueError(f"{model.name}: this solver updates the weights itself and cannot run "
                         "under torchrun (DDP); use the default Adam solver there")
    device = torch.device(model.device_)
    step_loss = shards.wrap(_LossModule(net, loss_fn), device) if shards.active else loss_fn
    cuda = device.type == "cuda"
    amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=weight_decay, fused=cuda or None)
    best, best_state, bad, best_epoch = -math.inf, None, 0, 0
    model.stopped_at_ = None
    examples = 0
    for epoch in range(1, config.epochs + 1):
        net.train()
        t0, total, seen = time.perf_counter(), torch.zeros((), device=device), 0
        for batch in batches(generator):
            if manual_step is not None:
                loss = manual_step(*batch)
            else:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=cuda):
                    loss = step_loss(*batch)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            total += loss.detach().float() * len(batch[0])
            seen += len(batch[0])
            if not shards.active and stop_requested(callback):  # acts within a batch
                model.stopped_at_ = epoch
                break
        if model.stopped_at_ is not None:
            log.info("%s: stopped by a cancel during epoch %d", model.name, epoch)
            break
        examples += seen
        if shards.active:  # the loss and the examples of every rank
            total, seen = shards.sum(torch.stack([total.float(), torch.tensor(float(seen), device=device)])
                                     ).tolist()
            seen = int(seen)
        loss_value = float(total) / max(1, seen)  # the one host sync of the epoch
        seconds = time.perf_counter() - t0
        metrics = {"epoch": float(epoch), "loss": loss_value, "examples_per_s": seen / max(seconds, 1e-9),
                   "seconds": seconds}
        net.eval()
        if validation is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
            from recsys.evaluation import validation_metrics

            metrics.update(shards.on_main(lambda: validation_metrics(model, dataset, validation)))
            if metrics["val_ndcg"] > best:
                best, bad, best_epoch = metrics["val_ndcg"], 0, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
        model.history_.append(metrics)
        if shards.main:
            log.info("%s epoch %d: %s", model.name, epoch, {k: round(v, 5) for k, v in metrics.items()})
        if not math.isfinite(loss_value):
            log.warning("%s: loss is not finite at epoch %d; stopping", model.name, epoch)
            break
        stop = shards.on_main(partial(_ask, callback, epoch, metrics, shards))
        if stop:
            log.info("%s: stopped by the callback after epoch %d", model.name, epoch)
            model.stopped_at_ = epoch
            break
        if bad >= config.patience:
            log.info("%s: early stop at epoch %d (best val_ndcg %.4f at epoch %d)", model.name, epoch, best,
                     best_epoch)
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    model.best_epoch_ = best_epoch if best_state is not None else len(model.history_)
    # each rank's examples and (under torchrun) a sum of its weights: equal sums show the ranks
    # stayed in step; accumulated in float64 without a float64 copy of the weights
    model.distributed_ = {**shards.describe(), "examples_per_rank": shards.gather(examples)}
    if shards.active:
        weight_sum = float(sum(p.detach().abs().sum(dtype=torch.float64)
                               for p in net.parameters()))
        model.distributed_["weight_sum_per_rank"] = shards.gather(weight_sum)
    net.eval()


def _ask(callback: Callback | None, epoch: int, metrics: dict[str, float], shards: Shards) -> bool:
    """Whether the callback stops the fit after ``epoch`` (under torchrun its cancel flag is
    asked here too, once per epoch: a per-batch poll would need a collective per batch)."""
    try:
        stop = callback is not None and callback(epoch, dict(metrics)) is False
    except FitStopped:
        stop = True
    return stop or (shards.active and stop_requested(callback))


class _LossModule(torch.nn.Module):
    """``net`` with the loss as its forward, so DDP sees the forward of every step (its
    gradient hooks only all-reduce after a forward through the wrapper)."""

    def __init__(self, net: torch.nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.net, self.loss_fn = net, loss_fn

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(*batch)


class PairSampler:
    """Positive (user, item) pairs as device tensors, shuffled per epoch, with negatives.

    Negatives are uniform item draws; a draw that hits one of the user's positives is redrawn
    (a fixed number of rounds, membership by ``searchsorted`` on sorted pair keys: no host sync).
    ``known`` (a sample's full matrix) makes negatives avoid all its pairs, not only the sampled.
    """

    def __init__(self, matrix: sp.csr_matrix, device: torch.device, rounds: int = 2,
                 known: sp.csr_matrix | None = None) -> None:
        coo = sp.coo_matrix(matrix)
        self.n_items, self.rounds = matrix.shape[1], rounds
        self.users = torch.as_tensor(coo.row.astype(np.int64), device=device)
        self.items = torch.as_tensor(coo.col.astype(np.int64), device=device)
        if known is None:  # negatives avoid the training pairs, or every pair in ``known``
            self.keys = torch.sort(self.users * self.n_items + self.items).values
        else:
            kc = sp.coo_matrix(known)
            self.keys = torch.sort(torch.as_tensor(kc.row.astype(np.int64) * self.n_items
                                                   + kc.col.astype(np.int64), device=device)).values
        self.device = device

    def __len__(self) -> int:
        return len(self.users)

    def negatives(self, users: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
        neg = torch.randint(0, self.n_items, (len(users), k), generator=gen, device=self.device)
        for _ in range(self.rounds if len(self.keys) else 0):
            key = users[:, None] * self.n_items + neg
            pos = torch.searchsorted(self.keys, key).clamp_(max=len(self.keys) - 1)
            redraw = torch.randint(0, self.n_items, neg.shape, generator=gen, device=self.device)
            neg = torch.where(self.keys[pos] == key, redraw, neg)
        return neg

    def epoch(self, batch_size: int, k: int, gen: torch.Generator,
              shards: Shards | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
        """Shuffled ``(users, positives, negatives[B, k])`` batches covering every pair once
        (this rank's shard of them under torchrun)."""
        shards = shards or Shards()
        order = shards.permutation(len(self.users), gen, self.device)
        batch_size = shards.batch_size(batch_size)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            users = self.users[idx]
            yield users, self.items[idx], self.negatives(users, k, gen)


def update_pairs(model: Recommender, users: np.ndarray) -> PairSampler:
    """The pairs of an update's incremental epochs: ``users``' rows of the model's training
    matrix (binary), on its device, with negatives that avoid every pair the model has."""
    from recsys.models.online import keep_rows

    return PairSampler(keep_rows((model.seen_ > 0).astype(np.float32), users),
                       torch.device(model.device_), known=model.seen_)


class RowSource:
    """Users' training rows (binary) as dense float batches on the device.

    Kept dense (as ``uint8``) when the matrix is small enough, else as a sparse COO tensor whose
    rows are selected with ``index_select``.
    """

    def __init__(self, matrix: sp.csr_matrix, device: torch.device, dense_limit: int = 2**28) -> None:
        x = (sp.csr_matrix(matrix) > 0).astype(np.float32)
        self.shape, self.device = x.shape, device
        self.active = torch.as_tensor(np.flatnonzero(np.diff(x.indptr) > 0), device=device)
        if x.shape[0] * x.shape[1] <= dense_limit:
            self.dense: torch.Tensor | None = torch.as_tensor(x.toarray().astype(np.uint8), device=device)
        else:
            coo = x.tocoo()
            idx = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64))
            self.sparse = torch.sparse_coo_tensor(idx, torch.ones(x.nnz), x.shape).coalesce().to(device)
            self.dense = None

    def rows(self, users: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return self.dense[users].float()
        return self.sparse.index_select(0, users).to_dense()

    def epoch(self, batch_size: int, gen: torch.Generator,
              shards: Shards | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
        """Shuffled batches ``(rows,)`` of every user with at least one training item (this
        rank's shard of them under torchrun)."""
        shards = shards or Shards()
        order = self.active[shards.permutation(len(self.active), gen, self.device)]
        batch_size = shards.batch_size(batch_size)
        for start in range(0, len(order), batch_size):
            yield (self.rows(order[start:start + batch_size]),)


def module_state(net: torch.nn.Module, prefix: str = "net.") -> dict[str, np.ndarray]:
    """Every tensor of ``net`` as a float32 NumPy array (for ``weights.npz``)."""
    return {prefix + k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}


def load_module_state(net: torch.nn.Module, state: dict[str, np.ndarray], prefix: str = "net.") -> None:
    """Inverse of :func:`module_state` (shapes are checked by ``load_state_dict``)."""
    net.load_state_dict({k[len(prefix):]: torch.as_tensor(v) for k, v in state.items() if k.startswith(prefix)})


class TorchStateMixin:
    """Save / restore a torch model's network (``self.net_``, built by ``self._build()``) as plain
    arrays next to the base state, and put it back on the model's device in eval mode; and the
    incremental epochs of an online update (:meth:`_train_more`), which the model's
    ``_warm_train(users, config, callback)`` runs through its own loop on the weights it has."""

    incremental = True

    def _train_more(self, affected: np.ndarray, epochs: int, callback: Callback | None) -> str:
        """``epochs`` warm epochs on the affected users plus :data:`REPLAY_RATIO` × as many
        replayed users (their whole histories), at :data:`UPDATE_LR_SHARE` of the model's
        learning rate, seeded; the fit's history and best epoch are kept as they were."""
        from recsys.models.online import replay_users

        cfg = self.config  # type: ignore[attr-defined]
        users = replay_users(self.seen_, affected, REPLAY_RATIO, cfg.seed)  # type: ignore[attr-defined]
        warm = cfg.model_copy(update={"epochs": epochs, "lr": self._update_lr() * UPDATE_LR_SHARE})
        kept = {k: getattr(self, k) for k in ("history_", "best_epoch_", "stopped_at_",
                                              "distributed_") if hasattr(self, k)}
        self.history_ = []
        try:
            self._warm_train(users, warm, callback)  # type: ignore[attr-defined]
            done = len(self.history_)
        finally:
            for k, v in kept.items():
                setattr(self, k, v)
        self.net_.eval()  # type: ignore[attr-defined]
        return (f"{done} warm epoch{'s' if done != 1 else ''} of its training loop on "
                f"{len(users):,} users' histories ({len(affected):,} updated, "
                f"{len(users) - len(affected):,} replayed), lr {warm.lr:.2g}: weights shared "
                "by everyone move, so other users' lists may change too")

    def _update_lr(self) -> float:
        """The Adam learning rate the warm epochs scale (the config's, by default)."""
        return float(self.config.lr)  # type: ignore[attr-defined]

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), **module_state(self.net_)}  # type: ignore[misc]

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)  # type: ignore[misc]
        net = self._build()  # type: ignore[attr-defined]
        load_module_state(net, state)
        self.net_ = net.to(torch.device(self.device_)).eval()  # type: ignore[attr-defined]
