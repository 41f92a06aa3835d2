"""Users: segments (heavy, light, cold-start, tail lovers), lookup by id and a user's history.

Everything here is a pure function over a :class:`~recsys.data.dataset.Dataset` (or plain arrays):

* **user segments** (vectorised over all users): *heavy* = the users with the most
  interactions, *light* = users below the median who are not cold-start, *cold-start* = the
  users with the fewest interactions, *tail lovers* = the highest share of tail items in their
  history (among users with a minimum history, so one-purchase users do not dominate);
* a user's **history** frame (titles, category, tail flag, last time, newest first);

List overlap lives in :mod:`recsys.evaluation`, score breakdowns in :mod:`recsys.rerank.preview`.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.dataset import Dataset, positions

__all__ = ["SegmentConfig", "UserSegment", "USER_SEGMENTS", "SEGMENT_LABELS", "user_segments", "user_activity",
           "user_history", "find_user"]

log = logging.getLogger(__name__)

#: The user segments; the tuple (CLI choices, export scopes) and the labels follow this Literal.
UserSegment = Literal["heavy", "light", "cold_start", "tail_lovers"]
USER_SEGMENTS: tuple[UserSegment, ...] = get_args(UserSegment)
SEGMENT_LABELS: dict[UserSegment, str] = {
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
    pos = dataset.user_positions([key], missing="negative")[0]
    if pos < 0:
        as_text = pd.Index(dataset.user_ids.astype(str))
        pos = positions(as_text, [key], missing="negative")[0] if as_text.is_unique else -1
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
    pos = dataset.item_positions(mine["item_id"], missing="negative")
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
