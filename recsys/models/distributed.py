"""Data-parallel training under ``torchrun``: one process per device, gradients all-reduced by
``torch.nn.parallel.DistributedDataParallel`` (DDP).

Nothing here is switched on by hand: :meth:`Shards.from_env` reads the variables ``torchrun``
sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and, when
more than one process was started, joins the process group (gloo on the CPU, NCCL on CUDA,
chosen from the model's device). Without those variables it returns the one-process shard and
every fit runs exactly as before, bit for bit.

What each rank does (the shared loop, :func:`recsys.models.training.train`):

* every rank holds the whole training matrix and draws the *same* permutation of the epoch's
  examples (pairs, users or sequences) from a generator seeded alike on all ranks, then takes
  every ``world_size``-th of them (padded by wrapping, as ``DistributedSampler`` does, so every
  rank runs the same number of batches and no collective waits forever);
* a rank's batch is ``ceil(batch_size / world_size)`` examples, so one step still averages the
  gradient of about ``batch_size`` examples and an epoch has as many steps as on one process:
  the optimisation is the one-process one, which is why the quality matches;
* negatives and dropout masks come from a per-rank generator (the seed plus the rank), so ranks
  do not draw the same noise for different examples;
* validation, early stopping and the callback run on rank 0; its verdict is broadcast, so all
  ranks stop after the same epoch and keep the same best weights. Only rank 0 writes anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from recsys.device import torchrun_env

__all__ = ["Shards", "RankFailed", "torchrun_env"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RankFailed(RuntimeError):
    """Raised on the other ranks when rank 0 failed in a step they wait on (rank 0 raises the
    original error and reports it)."""

#: Rank ``r``'s noise generator is seeded ``seed + r * RANK_SEED_STEP``.
RANK_SEED_STEP = 1_000_003


@dataclass
class Shards:
    """This process's place in a data-parallel fit (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    backend: str = "none"
    seed: int = 0
    _order_gen: torch.Generator | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, device: str, seed: int) -> Shards:
        """Join the torchrun process group when the environment says so (once per process)."""
        env = torchrun_env()
        if env is None:
            return cls(seed=seed)
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if not dist.is_initialized():
            if torch.device(device).type == "cuda":
                torch.cuda.set_device(torch.device(device))
            dist.init_process_group(backend=backend)
            log.info("joined the process group: rank %d of %d (%s)", dist.get_rank(),
                     dist.get_world_size(), backend)
        backend = dist.get_backend()
        gen = torch.Generator(device=torch.device(device))
        gen.manual_seed(int(seed) + 7)  # the same on every rank: the shared permutation
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), backend=backend,
                   seed=seed, _order_gen=gen)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Rank 0: validates, decides, writes."""
        return self.rank == 0

    @property
    def noise_seed(self) -> int:
        """Seed of this rank's negatives / dropout generator (the config's seed on rank 0)."""
        return self.seed + self.rank * RANK_SEED_STEP

    def batch_size(self, batch_size: int) -> int:
        """This rank's share of a batch: the step still averages about ``batch_size`` examples."""
        return max(1, math.ceil(batch_size / self.world_size))

    def permutation(self, n: int, gen: torch.Generator, device: torch.device | str) -> torch.Tensor:
        """This rank's shuffled positions ``0..n-1`` of an epoch (all of them on one process)."""
        if not self.active:
            return torch.randperm(n, generator=gen, device=device)
        order = torch.randperm(n, generator=self._order_gen, device=device)
        total = math.ceil(n / self.world_size) * self.world_size
        if n and total > n:  # wrap around, so every rank gets as many
            order = order.repeat(math.ceil(total / n))[:total]
        return order[self.rank::self.world_size]

    def wrap(self, loss_module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``loss_module`` under DDP (itself on one process); its forward must return the loss."""
        if not self.active:
            return loss_module
        ids = [device] if device.type == "cuda" else None
        # buffers (SASRec's frozen text vectors) never change: synced once, not every step
        return torch.nn.parallel.DistributedDataParallel(loss_module, device_ids=ids,
                                                         forward_sync_buffers=False)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over the ranks (``values`` itself on one process)."""
        if self.active:
            values = values.clone()
            dist.all_reduce(values)
        return values

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value`` (a picklable object) on every rank."""
        if not self.active:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, compute: Callable[[], T]) -> T:
        """``compute()`` run on rank 0, its result on every rank. A failure there is raised on
        every rank (the others would otherwise wait in the broadcast for ever)."""
        if not self.active:
            return compute()
        result, error, failure = None, None, None
        if self.main:
            try:
                result = compute()
            except Exception as exc:  # re-raised below, after the others are told
                failure, error = exc, f"{type(exc).__name__}: {exc}"
        result, error = self.from_main((result, error))
        if failure is not None:
            raise failure
        if error is not None:
            raise RankFailed(f"rank 0 failed, so this rank stops too: {error}")
        return result

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (``[value]`` on one process)."""
        if not self.active:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "backend": self.backend}
