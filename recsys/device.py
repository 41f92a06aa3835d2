"""Choose the compute device in one place: argument > ``RECSYS_DEVICE`` > CUDA > MPS > CPU.

Models receive the resolved device; nothing else in the library decides it. ``torch`` is
imported lazily so that data work never pays for it.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Literal, get_args

__all__ = ["resolve_device", "describe_device", "torchrun_env", "DeviceChoice", "DEVICE_CHOICES",
           "TORCHRUN_VARS"]

log = logging.getLogger(__name__)

#: What a user may ask for (``cuda:N`` is accepted too, see :func:`resolve_device`).
DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_CHOICES: tuple[DeviceChoice, ...] = get_args(DeviceChoice)
#: The variables ``torchrun`` sets for every process it starts.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def torchrun_env() -> dict[str, str] | None:
    """The torchrun variables when this process was started by torchrun with more than one
    process (all of :data:`TORCHRUN_VARS` set, ``WORLD_SIZE`` > 1), else ``None``: the one
    rule for "under torchrun" (each process's GPU here, the rank that writes in ``recsys
    train``; the process group of :mod:`recsys.models.distributed` follows the same rule).
    A ``WORLD_SIZE`` that is not a whole number is a ``ValueError`` saying so."""
    env = {k: os.environ[k] for k in TORCHRUN_VARS if k in os.environ}
    if len(env) < len(TORCHRUN_VARS):
        return None
    try:
        world = int(env["WORLD_SIZE"])
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be a whole number (got '{env['WORLD_SIZE']}')") from None
    return env if world > 1 else None


def resolve_device(preference: str | None = None) -> str:
    """Return ``"cuda"``, ``"mps"`` or ``"cpu"`` (``"cuda:LOCAL_RANK"`` for a plain ``cuda``
    under torchrun with several processes, so each process trains on its own GPU).

    ``preference`` (or ``RECSYS_DEVICE``) may be ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or
    ``mps``. An explicit accelerator that is not available raises ``ValueError`` with a clear
    reason rather than silently training on the CPU.
    """
    choice = (preference or os.environ.get("RECSYS_DEVICE") or "auto").strip().lower()
    if choice == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        if choice == "auto":
            return "cpu"
        raise ValueError(f"Device '{choice}' needs PyTorch, which is not installed.") from None
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if choice == "auto":
        return _local_gpu() if cuda else "mps" if mps else "cpu"
    if choice.startswith("cuda"):
        if not cuda:
            raise ValueError(f"Device '{choice}' was requested but no CUDA GPU is available.")
        return _local_gpu() if choice == "cuda" else choice
    if choice == "mps":
        if not mps:
            raise ValueError("Device 'mps' was requested but Apple MPS is not available.")
        return "mps"
    raise ValueError(f"Unknown device '{choice}'; use one of {', '.join(DEVICE_CHOICES)}.")


def _local_gpu() -> str:
    """``cuda``, or under torchrun with several processes ``cuda:LOCAL_RANK`` (one GPU each)."""
    env = torchrun_env()
    if env is not None and env["LOCAL_RANK"].isdigit():
        return f"cuda:{env['LOCAL_RANK']}"
    return "cuda"


@lru_cache(maxsize=4)
def describe_device(preference: str | None = None) -> str:
    """Human-readable device, e.g. ``CUDA · NVIDIA H100 (80 GB)`` or ``CPU (2 threads)``."""
    try:
        device = resolve_device(preference)
    except ValueError as exc:
        return f"unavailable: {exc}"
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        return f"CUDA · {props.name} ({props.total_memory / 2**30:.0f} GB)"
    if device == "mps":
        return "Apple MPS"
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = os.cpu_count() or 1
    return f"CPU ({threads} threads)"
