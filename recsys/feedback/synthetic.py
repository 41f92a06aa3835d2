"""A synthetic logged bandit whose policy values are known exactly: the OPE tests and the
feedback benchmark check the estimators against it.

Users see ``P`` slots; slot ``k`` is looked at with probability ``e_k`` and a looked-at item
``i`` is clicked with probability ``rel(u, i)`` (a position-based click model). The logging
policy fills every slot independently from a softmax over a noisy copy of the relevance (known
propensities); the target policy is a deterministic top-P list of a less noisy copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.feedback.logs import FeedbackLog, TargetLists, check_lists, check_log

__all__ = ["Bandit", "make_bandit"]


@dataclass
class Bandit:
    """The checked log and target lists, the target's exact value per slot, and both as
    frames (the files a shop would send)."""

    log: FeedbackLog
    target: TargetLists
    truth: float
    log_frame: pd.DataFrame
    lists_frame: pd.DataFrame


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _ids(prefix: str, codes: np.ndarray) -> np.ndarray:
    return (prefix + pd.Series(codes).astype(str)).to_numpy(dtype=object)


def make_bandit(seed: int, users: int = 800, items: int = 20, slots: int = 4, lists: int = 3,
                tilt: float = 0.5) -> Bandit:
    """Log ``lists`` lists per user; the truth is the target's exact expected reward per slot for
    these users."""
    rng = np.random.default_rng(seed)
    pref = rng.normal(size=(users, items))
    rel = 1.0 / (1.0 + np.exp(-(pref - 1.0)))                     # click prob when looked at
    exam = 1.0 / np.arange(1, slots + 1) ** 0.8                    # position-based examination
    noisy = pref + rng.normal(scale=1.0, size=pref.shape)
    mu = _softmax(tilt * noisy)  # logging leans a little towards what the user likes
    # every slot drawn independently from mu (per-slot independence)
    cum = mu.cumsum(axis=1)
    draws = (rng.random((users, lists * slots, 1)) > cum[:, None, :]).sum(axis=2)
    draws = np.minimum(draws, items - 1)
    u_idx = np.repeat(np.arange(users), lists * slots)
    k_idx = np.tile(np.arange(slots), users * lists)
    shown = draws.ravel()
    click_p = exam[k_idx] * rel[u_idx, shown]
    reward = (rng.random(len(shown)) < click_p).astype(float)
    log_frame = pd.DataFrame({"user_id": _ids("u", u_idx),
                              "item_id": _ids("i", shown),
                              "position": k_idx + 1, "propensity": mu[u_idx, shown],
                              "reward": reward})
    top = np.argsort(-(pref + rng.normal(scale=0.5, size=pref.shape)), axis=1)[:, :slots]
    truth = float((exam[None, :] * np.take_along_axis(rel, top, axis=1)).mean())
    lists_frame = pd.DataFrame({"user_id": _ids("u", np.repeat(np.arange(users), slots)),
                                "item_id": _ids("i", top.ravel()),
                                "rank": np.tile(np.arange(1, slots + 1), users)})
    return Bandit(check_log(log_frame), check_lists(lists_frame), truth, log_frame, lists_frame)
