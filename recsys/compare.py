"""Per-user comparison: user segments, a user's history, list overlap and score breakdowns.

Everything here is a pure function over a :class:`~recsys.dataset.Dataset` (or plain arrays):

* **user segments** (vectorised over all users): *heavy* = the users with the most
  interactions, *light* = users below the median who are not cold-start, *cold-start* = the
  users with the fewest interactions, *tail lovers* = the highest share of tail items in their
  history (among users with a minimum history, so one-purchase users do not dominate);
* a user's **history** frame (titles, category, tail flag, last time, newest first);
* **overlap** between two ranked lists: Jaccard of the sets and rank-biased overlap
  (Webber, Moffat & Zobel 2010, "A similarity measure for indefinite rankings", the
  extrapolated RBO_ext of their eq. 32 / 30 for lists of unequal length), plus a table over
  every pair of lists;
* a **score breakdown** of one user's re-ranked list (base score and rank, final score,
  whether it was boosted and why).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from .dataset import Dataset

__all__ = ["SegmentConfig", "USER_SEGMENTS", "SEGMENT_LABELS", "user_segments", "user_activity",
           "user_history", "jaccard", "rank_biased_overlap", "overlap_table", "tail_counts",
           "score_breakdown", "find_user"]

log = logging.getLogger(__name__)

UserSegment = Literal["heavy", "light", "cold_start", "tail_lovers"]
USER_SEGMENTS: tuple[str, ...] = ("heavy", "light", "cold_start", "tail_lovers")
SEGMENT_LABELS: dict[str, str] = {
    "heavy": "Heavy users (most interactions)",
    "light": "Light users (below the median)",
    "cold_start": "Cold-start users (fewest interactions)",
    "tail_lovers": "Tail lovers (highest tail share)",
}


class SegmentConfig(BaseModel):
    """How large the user segments are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    share: float = Field(0.1, gt=0.0, le=0.5, description="Share of users in the heavy, "
                         "cold-start and tail-lover segments.")
    min_history: int = Field(3, ge=1, le=1000, description="Tail lovers need at least this many "
                             "items in their history.")


def user_activity(matrix: sp.csr_matrix, is_tail: np.ndarray) -> pd.DataFrame:
    """Per user (row): distinct items, tail items and tail share of the history."""
    matrix = sp.csr_matrix(matrix)
    n_items = np.diff(matrix.indptr).astype(np.int64)
    tail_col = np.asarray(is_tail, dtype=bool)[matrix.indices]
    rows = np.repeat(np.arange(matrix.shape[0]), n_items)
    n_tail = np.bincount(rows, weights=tail_col, minlength=matrix.shape[0]).astype(np.int64)
    share = np.divide(n_tail, n_items, out=np.zeros(len(n_items)), where=n_items > 0)
    return pd.DataFrame({"items": n_items, "tail_items": n_tail, "tail_share": share})


def user_segments(matrix: sp.csr_matrix, is_tail: np.ndarray,
                  config: SegmentConfig | None = None) -> dict[str, np.ndarray]:
    """User positions of each segment, most typical first.

    ``matrix`` is the users × items history to judge by (a model's training matrix, or the
    whole dataset's). Ties are broken by position, so segments are deterministic. Users with an
    empty history count as cold-start.
    """
    config = config or SegmentConfig()
    act = user_activity(matrix, is_tail)
    n = len(act)
    if n == 0:
        return {name: np.zeros(0, dtype=np.int64) for name in USER_SEGMENTS}
    count = act["items"].to_numpy()
    share = act["tail_share"].to_numpy()
    pos = np.arange(n)
    size = max(1, round(config.share * n))
    ascending = np.lexsort((pos, count))            # fewest interactions first
    descending = np.lexsort((pos, -count))          # most interactions first
    cold = ascending[:size]
    below_median = ascending[: n // 2]
    light = below_median[~np.isin(below_median, cold)]
    eligible = np.flatnonzero(count >= config.min_history)
    by_share = eligible[np.lexsort((eligible, -count[eligible], -share[eligible]))]
    lovers = by_share[:size]
    lovers = lovers[share[lovers] > 0]
    return {"heavy": descending[:size].astype(np.int64), "light": light.astype(np.int64),
            "cold_start": cold.astype(np.int64), "tail_lovers": lovers.astype(np.int64)}


def find_user(dataset: Dataset, text: str) -> int:
    """Position of the user whose id is ``text`` (ids are matched as text, spaces trimmed).

    Raises ``ValueError`` with a readable reason when it is empty or unknown.
    """
    key = str(text).strip()
    if not key:
        raise ValueError("Type a user id.")
    pos = dataset.user_index.get_indexer([key])[0]
    if pos < 0:
        as_text = pd.Index(dataset.user_ids.astype(str))
        pos = as_text.get_indexer([key])[0] if as_text.is_unique else -1
    if pos < 0:
        example = ", ".join(map(str, dataset.user_ids[:3]))
        raise ValueError(f"No user '{key}' in {dataset.name} ({dataset.n_users:,} users, e.g. "
                         f"{example}).")
    return int(pos)


def user_history(dataset: Dataset, user: int, *, clusters: np.ndarray | None = None,
                 limit: int | None = None) -> pd.DataFrame:
    """One row per item the user interacted with: ``item_id, title[, category], segment,
    is_tail[, cluster], interactions[, last_time]``, newest first when there are timestamps
    (else most interacted first)."""
    row = dataset.matrix[user]
    items = row.indices.astype(np.int64)
    frame = pd.DataFrame({"item": items})
    inter = dataset.interactions
    mine = inter.loc[inter["user_id"].to_numpy() == dataset.user_ids[user]]
    pos = dataset.item_index.get_indexer(mine["item_id"])
    stats = pd.DataFrame({"item": pos})
    aggs: dict[str, tuple[str, str]] = {"interactions": ("item", "size")}
    if dataset.has_timestamps:
        stats["last_time"] = mine["timestamp"].to_numpy()
        aggs["last_time"] = ("last_time", "max")
    stats = stats.groupby("item").agg(**aggs)
    frame = frame.join(stats, on="item")
    frame["interactions"] = frame["interactions"].fillna(0).astype(np.int64)
    catalog = dataset.catalog
    out = pd.DataFrame({"item_id": dataset.item_ids[items], "title": catalog["title"].to_numpy()[items]})
    if "category" in catalog.columns:
        out["category"] = catalog["category"].to_numpy()[items]
    out["segment"] = dataset.segment[items]
    out["is_tail"] = dataset.is_tail[items]
    if clusters is not None:
        out["cluster"] = np.asarray(clusters)[items]
    out["interactions"] = frame["interactions"].to_numpy()
    if dataset.has_timestamps:
        out["last_time"] = frame["last_time"].to_numpy()
        out = out.sort_values(["last_time", "item_id"], ascending=[False, True], kind="stable")
    else:
        out = out.sort_values(["interactions", "item_id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    return out.head(limit) if limit is not None else out


def _clean(items: Sequence[Any] | np.ndarray) -> list[Any]:
    """A ranked list without padding (-1 / None) and without repeats (first place kept)."""
    seen: set[Any] = set()
    out = []
    for item in np.asarray(items, dtype=object).tolist():
        if item is None or (isinstance(item, int | np.integer) and item < 0) or item in seen:
            continue
        seen.add(item)
        out.append(item)
    return out


def jaccard(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of the two lists' items (1.0 when both are empty)."""
    sa, sb = set(_clean(a)), set(_clean(b))
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def rank_biased_overlap(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray,
                        p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap RBO_ext of two ranked lists (Webber et al. 2010).

    ``p`` is the persistence: the weight of the first d ranks is 1 - p^d (p = 0.9 puts about
    86 % of the weight on the top 10). Identical lists give 1, disjoint lists 0. Lists of
    different lengths use eq. 30 (the shorter list's overlap is assumed to continue at its
    rate). Padding (-1) and repeated items are dropped first.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be between 0 and 1 (exclusive)")
    a, b = _clean(a), _clean(b)
    if len(a) > len(b):
        a, b = b, a
    s, ll = len(a), len(b)
    if ll == 0:
        return 1.0
    if s == 0:
        return 0.0
    # X_d: size of the overlap of the two prefixes of depth d (d = 1 … l).
    seen_a: set[Any] = set()
    seen_b: set[Any] = set()
    overlap = np.zeros(ll, dtype=np.float64)
    x = 0
    for d in range(ll):
        if d < s:
            item_a = a[d]
            x += item_a in seen_b
            seen_a.add(item_a)
        item_b = b[d]
        x += item_b in seen_a
        seen_b.add(item_b)
        overlap[d] = x
    depth = np.arange(1, ll + 1, dtype=np.float64)
    weights = p ** depth
    x_s, x_l = overlap[s - 1], overlap[-1]
    total = np.sum(overlap / depth * weights)
    beyond = depth > s
    total += np.sum(x_s * (depth[beyond] - s) / (s * depth[beyond]) * weights[beyond])
    return float((1 - p) / p * total + ((x_l - x_s) / ll + x_s / s) * p ** ll)


def overlap_table(lists: Mapping[str, Sequence[Any] | np.ndarray], p: float = 0.9) -> pd.DataFrame:
    """Jaccard, RBO and the number of shared items for every pair of named lists."""
    rows = []
    for (na, la), (nb, lb) in combinations(lists.items(), 2):
        shared = len(set(_clean(la)) & set(_clean(lb)))
        rows.append({"list A": na, "list B": nb, "shared": shared, "jaccard": jaccard(la, lb),
                     "rbo": rank_biased_overlap(la, lb, p=p)})
    return pd.DataFrame(rows, columns=["list A", "list B", "shared", "jaccard", "rbo"])


def tail_counts(items: np.ndarray, is_tail: np.ndarray) -> np.ndarray:
    """Number of tail items per row of a (users × K) position array (-1 padding ignored)."""
    items = np.atleast_2d(np.asarray(items, dtype=np.int64))
    valid = items >= 0
    flags = np.asarray(is_tail, dtype=bool)[np.where(valid, items, 0)] & valid
    return flags.sum(axis=1)


def score_breakdown(dataset: Dataset, items: np.ndarray, score: np.ndarray, *,
                    base_score: np.ndarray | None = None, base_rank: np.ndarray | None = None,
                    boosted: np.ndarray | None = None, reason: np.ndarray | None = None) -> pd.DataFrame:
    """Why each item of one user's list is there: ``rank, item_id, title, is_tail, base_rank,
    moved`` (places gained against the model's own ranking), ``base_score, score, boosted,
    reason``. ``items`` are positions (-1 padding dropped); the other arrays align with it."""
    items = np.asarray(items, dtype=np.int64)
    keep = items >= 0
    pos = items[keep]
    k = len(pos)
    rank = np.arange(1, len(items) + 1)[keep]

    def col(values: np.ndarray | None, default: Any) -> np.ndarray:
        return np.asarray(values)[keep] if values is not None else np.full(k, default)

    b_rank = col(base_rank, 0).astype(np.int64) if base_rank is not None else rank.copy()
    frame = pd.DataFrame({
        "rank": rank, "item_id": dataset.item_ids[pos],
        "title": dataset.catalog["title"].to_numpy()[pos], "is_tail": dataset.is_tail[pos],
        "base_rank": b_rank, "moved": b_rank - rank,
        "base_score": col(base_score, np.nan).astype(np.float64) if base_score is not None
        else col(score, np.nan).astype(np.float64),
        "score": col(score, np.nan).astype(np.float64),
        "boosted": col(boosted, False).astype(bool),
        "reason": col(reason, "").astype(str),
    })
    return frame
