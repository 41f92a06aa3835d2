"""Exposure propensities of items and the weights that undo them (debiased training).

Interactions are observed more often for items that are shown more often, and popular items are
shown more often. Treating an item's chance of being observed as ``θ_i ∝ popularity_i^η``
(Yang et al., RecSys 2018), an inverse-propensity weighted loss (Saito et al., WSDM 2020: the
unbiased estimator of the loss on all relevant items) weighs each observed positive by
``1 / θ_i``. Small propensities are clipped from below so a few rare items cannot dominate the
loss (the clipped estimator trades a little bias for a lot of variance). Weights are scaled to
a mean of one over the observed interactions, so the loss keeps its size and the learning rate
its meaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["item_propensity", "ipw_weights", "item_loss_weights", "DEBIAS_METHODS"]

#: Debiased-training settings a model may offer (``none``: the plain loss).
DEBIAS_METHODS: tuple[str, ...] = ("none", "ipw", "macr")


def item_propensity(popularity: np.ndarray, eta: float, clip: float) -> np.ndarray:
    """``θ_i = max(clip, (pop_i / max pop)^η)``: 1 for the most popular item; items without
    interactions get ``clip`` (1 when ``η = 0``). ``η = 0`` makes every propensity 1 (no debiasing)."""
    pop = np.asarray(popularity, dtype=np.float64)
    top = pop.max(initial=0.0)
    rel = pop / top if top > 0 else np.zeros_like(pop)
    theta = np.power(rel, float(eta))  # 0^η = 0 (then the clip), 0^0 = 1
    return np.clip(theta, float(clip), 1.0)


def ipw_weights(popularity: np.ndarray, eta: float, clip: float) -> np.ndarray:
    """Per-item weights ``1 / θ_i`` (:func:`item_propensity`), scaled so that their mean over
    the observed interactions (each item counted ``popularity_i`` times) is one."""
    pop = np.asarray(popularity, dtype=np.float64)
    w = 1.0 / item_propensity(pop, eta, clip)
    total = pop.sum()
    mean = float((w * pop).sum() / total) if total > 0 else 1.0
    return (w / mean).astype(np.float32)


def item_loss_weights(seen: sp.spmatrix, debias: str, eta: float, clip: float) -> np.ndarray:
    """Per-item weights of a model's loss on its training matrix ``seen`` (users × items):
    :func:`ipw_weights` of the items' numbers of users when ``debias == "ipw"``, else ones."""
    popularity = np.asarray((seen > 0).sum(axis=0)).ravel()
    if debias != "ipw":
        return np.ones(len(popularity), np.float32)
    return ipw_weights(popularity, eta, clip)
