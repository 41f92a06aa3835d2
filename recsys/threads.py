"""OpenMP settings for torch on a small, shared CPU: idle worker threads sleep instead of spinning.

PyTorch's CPU kernels (the sentence model, the torch recommenders) run on a GNU OpenMP team.
By default its idle workers *spin* (busy-wait about 300,000 rounds) at every barrier, and a
transformer forward pass has hundreds of barriers per batch. On a machine with as many cores as
the team has threads and anything else running (the dashboard's own server thread, other
processes), the spinning workers take the cores the real work needs: measured on 2 cores, the
same matrix products cost up to 4x the CPU time, and how much a thread's team spins depends on
how many OpenMP threads the process happens to have (every thread that runs torch code, a
Streamlit script or map job thread, gets a team of its own), so the same encoding ran at
different speeds in different threads.

:func:`configure_openmp` sets ``OMP_WAIT_POLICY=PASSIVE`` (workers sleep on a futex at once)
unless the user set it. libgomp reads it when it is loaded, so it must run before torch is
first imported; ``import recsys`` calls it. Set ``OMP_WAIT_POLICY=ACTIVE`` to get the spinning
back (a little lower latency on an otherwise idle machine).
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["configure_openmp", "openmp_settings", "WAIT_POLICY"]

log = logging.getLogger(__name__)

#: What ``OMP_WAIT_POLICY`` is set to when the user has not chosen.
WAIT_POLICY = "PASSIVE"


def configure_openmp() -> bool:
    """Set ``OMP_WAIT_POLICY`` (unless given) before torch loads; returns whether it applies.

    False when torch (and with it libgomp) was already imported with another policy: the
    setting then only takes effect in the next process.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    if "torch" in sys.modules and os.environ["OMP_WAIT_POLICY"].upper() == WAIT_POLICY:
        log.debug("torch was imported before recsys: OMP_WAIT_POLICY applies to new processes")
        return False
    return True


def openmp_settings() -> dict[str, object]:
    """The thread settings a calling thread's torch work runs with (for logs and benchmarks)."""
    import threading

    info: dict[str, object] = {"thread": threading.current_thread().name,
                               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
    if "torch" in sys.modules:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    return info
