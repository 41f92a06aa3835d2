"""How much memory a dense item × item model may take, and the refusal when it would take more.

EASE and item-kNN hold dense items × items matrices while fitting (EASE: a float64 Gram matrix,
its inverse and the float32 weights). At 100,000 products that is hundreds of GB: such a fit must
be refused up front with a way out (a factor model, ALS or BPR, whose memory grows with users +
items), never left to the out-of-memory killer.

The bound is ``TAILSTUDIO_MAX_DENSE_GB`` when set, else 60 % of the memory available when asked
(``MemAvailable`` of ``/proc/meminfo``; 8 GB where that cannot be read).
"""

from __future__ import annotations

import logging
import os

from recsys.data.limits import fmt_size

__all__ = ["ModelTooLarge", "dense_bound_bytes", "dense_item_bytes", "check_dense_items",
           "dense_fits", "DENSE_BYTES_PER_ENTRY", "SCALABLE_ALTERNATIVES"]

log = logging.getLogger(__name__)

#: Peak bytes per item × item entry while fitting (EASE: float64 Gram + inverse + scaled copy +
#: float32 weights; item-kNN: float32 co-counts, float64 similarities and their outer norms).
DENSE_BYTES_PER_ENTRY: dict[str, int] = {"ease": 28, "itemknn": 28, "hybrid": 16}
#: What to use instead, named in every refusal.
SCALABLE_ALTERNATIVES = "als or bpr (factor models whose memory grows with users + items)"
_FALLBACK_GB = 8.0


class ModelTooLarge(ValueError):
    """A model whose fit would need more memory than the configured bound; says what to use."""


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def dense_bound_bytes() -> int:
    """The memory bound for dense item × item matrices, in bytes (see the module docstring)."""
    text = os.environ.get("TAILSTUDIO_MAX_DENSE_GB")
    if text:
        try:
            value = float(text)
            if value > 0:
                return int(value * 2**30)
        except ValueError:
            pass
        log.warning("TAILSTUDIO_MAX_DENSE_GB=%r is not a positive number; using the default", text)
    available = _available_bytes()
    return int(0.6 * available) if available else int(_FALLBACK_GB * 2**30)


def dense_item_bytes(model: str, n_items: int) -> int:
    """Estimated peak bytes of fitting ``model`` on ``n_items`` products."""
    return DENSE_BYTES_PER_ENTRY.get(model, 28) * n_items * n_items


def dense_fits(model: str, n_items: int) -> bool:
    """Whether ``model``'s dense item × item fit stays within :func:`dense_bound_bytes`."""
    return dense_item_bytes(model, n_items) <= dense_bound_bytes()


def check_dense_items(model: str, label: str, n_items: int) -> None:
    """Raise :class:`ModelTooLarge` when ``model`` (shown as ``label``) would not fit."""
    need, bound = dense_item_bytes(model, n_items), dense_bound_bytes()
    if need > bound:
        raise ModelTooLarge(
            f"{label} needs a dense {n_items:,} × {n_items:,} item matrix (about {fmt_size(need)} "
            f"while fitting), over the memory bound of {fmt_size(bound)}. Use --model "
            f"{SCALABLE_ALTERNATIVES}, or raise the bound with TAILSTUDIO_MAX_DENSE_GB.")
