"""Measuring on a seeded sample of evaluation users, with 95 % confidence bands.

A shop with 300,000 evaluation customers makes every What-if slider move and every Compare
view re-rank and measure 300,000 lists. Above :attr:`SampleConfig.max_users` (default 20,000,
``TAILSTUDIO_EVAL_USERS``) the dashboard measures a seeded random sample instead
(:func:`sample_users`): the sample depends only on the users and the seed, so every slider
move and every model is measured on the *same* users and their figures are paired.

Bands (:func:`mean_band`, :func:`paired_band`) are the normal approximation of a mean: mean ±
1.96 × std / √n of the per-user values. It costs one pass over the values, so it is cheap
enough for every slider move (a bootstrap of 20,000 users × 200 resamples is 4M draws per
metric), and with thousands of users the mean of the per-user figures is close to normal
(central limit theorem), which is where a bootstrap would land too. Without sampling the band
is still shown: it is the band over users, how much the figure would move on other customers
like these. Deltas use the per-user *differences* (the same users under both lists), which
cancels the spread between users and gives a much narrower band than two separate bands.

Coverage and Gini are properties of the whole set of lists, not means over users: their band
comes from a small seeded bootstrap over the sampled users (:func:`bootstrap_bands`). They also
grow with the number of lists, so on a sample they read lower than on every customer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SampleConfig", "UserSample", "Band", "sample_users", "mean_band", "paired_band",
           "bootstrap_bands", "default_max_users", "Z95", "EVAL_USERS_ENV"]

log = logging.getLogger(__name__)

#: Two-sided 95 % quantile of the normal distribution.
Z95 = 1.959963984540054
#: The setting that bounds the measured users.
EVAL_USERS_ENV = "TAILSTUDIO_EVAL_USERS"
DEFAULT_MAX_USERS = 20_000


def default_max_users() -> int:
    """``TAILSTUDIO_EVAL_USERS`` when set to a positive whole number, else 20,000."""
    raw = os.environ.get(EVAL_USERS_ENV)
    if raw is None:
        return DEFAULT_MAX_USERS
    try:
        return max(1, int(raw))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", EVAL_USERS_ENV, raw,
                    DEFAULT_MAX_USERS)
        return DEFAULT_MAX_USERS


class SampleConfig(BaseModel):
    """How many evaluation users the dashboard measures at most, and the sample's seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: int = Field(default_factory=default_max_users, ge=1, le=100_000_000,
                           title="Evaluation users measured at most",
                           description="Above this many evaluation users, What-if and Compare "
                           f"measure a seeded random sample of this size ({EVAL_USERS_ENV}).")
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Sample seed",
                      description="Same users + seed = same sample, for every model.")


@dataclass(frozen=True)
class UserSample:
    """The measured users (sorted positions), out of ``total`` evaluation users."""

    users: np.ndarray
    total: int
    seed: int

    @property
    def size(self) -> int:
        return len(self.users)

    @property
    def sampled(self) -> bool:
        return self.size < self.total

    def describe(self, noun: str = "customers") -> str:
        """``measured on 20,000 of 312,455 customers, seed 0`` (or ``on all 3,000 …``)."""
        if self.sampled:
            return f"measured on {self.size:,} of {self.total:,} {noun}, seed {self.seed}"
        return f"measured on all {self.total:,} {noun}"


def sample_users(users: np.ndarray, config: SampleConfig | None = None) -> UserSample:
    """At most ``config.max_users`` of ``users``, drawn without replacement with the seed.

    The draw is made from the sorted distinct users, so the same users and seed give the same
    sample whatever their order, for every model and every call.
    """
    config = config or SampleConfig()
    pool = np.sort(np.asarray(users, dtype=np.int64).ravel())
    if len(pool) > 1 and not (pool[1:] != pool[:-1]).all():  # np.unique, without its cost
        pool = pool[np.concatenate([[True], pool[1:] != pool[:-1]])]
    if len(pool) <= config.max_users:
        return UserSample(pool, len(pool), config.seed)
    rng = np.random.default_rng(config.seed)
    chosen = np.sort(pool[rng.choice(len(pool), config.max_users, replace=False)])
    return UserSample(chosen, len(pool), config.seed)


@dataclass(frozen=True)
class Band:
    """A figure with its 95 % confidence band."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def span(self, fmt: str = "{:.4f}", signed: bool = False) -> str:
        """The band alone, ``0.1201–0.1267``; ``signed`` (a change) writes the sign of both
        ends and joins them with "to", ``-0.0010 to +0.0023``, where a dash would read as a
        minus."""
        if signed:
            sign = fmt.replace("{:", "{:+", 1)
            return f"{sign.format(self.low)} to {sign.format(self.high)}"
        return f"{fmt.format(self.low)}–{fmt.format(self.high)}"

    def format(self, fmt: str = "{:.4f}", signed: bool = False) -> str:
        """The figure and its band, ``0.1234 (0.1201–0.1267)``, or signed (a change)
        ``+0.0012 (-0.0010 to +0.0023)``: what What-if and Compare show."""
        value = fmt.replace("{:", "{:+", 1) if signed else fmt
        return f"{value.format(self.value)} ({self.span(fmt, signed)})"


def mean_band(values: np.ndarray) -> Band:
    """Mean of per-user values ± 1.96 standard errors (normal approximation)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Band(float("nan"), float("nan"), float("nan"))
    mean = float(x.mean())
    if len(x) < 2:
        return Band(mean, mean, mean)
    half = Z95 * float(x.std(ddof=1)) / np.sqrt(len(x))
    return Band(mean, mean - half, mean + half)


def paired_band(current: np.ndarray, baseline: np.ndarray) -> Band:
    """The mean per-user difference ``current − baseline`` with its band (same users, same
    order in both arrays)."""
    a, b = np.asarray(current, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired figures need the same users: {a.shape} vs {b.shape}")
    return mean_band(a - b)


def bootstrap_bands(n_users: int, statistic: Callable[[np.ndarray], dict[str, float]], *,
                    resamples: int = 30, seed: int = 0) -> dict[str, Band]:
    """Figures that are not means over users (coverage, Gini, their paired differences):
    ``statistic(rows)`` on every row gives the values, its 2.5–97.5 % percentiles over
    ``resamples`` seeded resamples of the rows with replacement the bands. A statistic that
    returns differences of two lists on the same rows gives paired bands."""
    values = statistic(np.arange(n_users))
    if n_users < 2 or resamples < 2:
        return {name: Band(float(v), float(v), float(v)) for name, v in values.items()}
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, n_users, n_users)) for _ in range(resamples)]
    out = {}
    for name, value in values.items():
        low, high = np.percentile([d[name] for d in draws], [2.5, 97.5])
        out[name] = Band(float(value), float(min(low, value)), float(max(high, value)))
    return out
