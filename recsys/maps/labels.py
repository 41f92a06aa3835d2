"""Readable cluster names, label boxes that do not overlap, and cluster outlines for the map.

* :func:`cluster_name` joins a cluster's most distinctive title words with its dominant
  category, e.g. ``Lantern · Candle · Glass (Home decor)``, so a merchandiser reads what is in
  it and where it sits in the catalog.
* :func:`place_labels` puts one text box per cluster near its centre, trying positions around
  it at growing distances, so no two boxes overlap; a label with no free place is left out (the
  page lists it in the legend by its number instead).
* :func:`cluster_outline` is the convex hull of a cluster's core points (the 90 % nearest its
  centre, so one stray point does not stretch it), as a closed polygon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["cluster_name", "dominant_category", "place_labels", "LabelBox", "cluster_outline",
           "DOMINANT_SHARE"]

#: A category names a cluster when at least this share of its items is in it.
DOMINANT_SHARE = 0.4


def dominant_category(categories: Sequence[object], share: float = DOMINANT_SHARE) -> str:
    """The most common non-blank category if it holds at least ``share`` of the items, else ""."""
    values = pd.Series(list(categories), dtype="string").str.strip()
    values = values[values.notna() & (values != "")]
    if values.empty:
        return ""
    counts = values.value_counts()
    top, n = str(counts.index[0]), int(counts.iloc[0])
    return top if n / len(categories) >= share else ""


def cluster_name(terms: Sequence[str], category: str = "", fallback: str = "") -> str:
    """``Term · Term · Term (Category)``: capitalised words, the category when it adds something."""
    words = [t.strip() for t in terms if t and t.strip()]
    head = " · ".join(w[:1].upper() + w[1:] for w in words)
    cat = category.strip()
    if cat and cat.lower() in (w.lower() for w in words):
        cat = ""  # already said by a term
    if head and cat:
        return f"{head} ({cat})"
    return head or cat or fallback


@dataclass(frozen=True)
class LabelBox:
    """Where one label goes (data units): its centre and half sizes, and its anchor."""

    index: int
    x: float
    y: float
    half_w: float
    half_h: float
    anchor_x: float
    anchor_y: float

    def overlaps(self, other: LabelBox, pad: float = 0.0) -> bool:
        return (abs(self.x - other.x) < self.half_w + other.half_w + pad
                and abs(self.y - other.y) < self.half_h + other.half_h + pad)

    @property
    def moved(self) -> bool:
        return (self.x, self.y) != (self.anchor_x, self.anchor_y)


def _candidates(rings: int = 6) -> list[tuple[float, float]]:
    """Offsets in units of the box size: the centre, then 8 directions at growing distances."""
    out = [(0.0, 0.0)]
    for r in range(1, rings + 1):
        for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)):
            out.append((dx * r * 0.6, dy * r * 1.2))
    return out


def place_labels(anchors: np.ndarray, texts: Sequence[str], *, x_range: tuple[float, float],
                 y_range: tuple[float, float], width_px: float = 1200, height_px: float = 640,
                 char_px: float = 7.0, line_px: float = 18.0) -> list[LabelBox | None]:
    """Boxes for ``texts`` near ``anchors`` (in priority order) that never overlap.

    Box sizes come from the text length in pixels (``char_px`` per character, ``line_px``
    high) converted to data units for a plot of ``width_px`` × ``height_px`` showing
    ``x_range`` × ``y_range``. A label whose every candidate place overlaps a placed box, or
    leaves the plot, gets ``None``.
    """
    anchors = np.asarray(anchors, dtype=float).reshape(-1, 2)
    x_span = max(float(x_range[1] - x_range[0]), 1e-9)
    y_span = max(float(y_range[1] - y_range[0]), 1e-9)
    per_px_x, per_px_y = x_span / width_px, y_span / height_px
    placed: list[LabelBox] = []
    out: list[LabelBox | None] = []
    for i, ((ax, ay), text) in enumerate(zip(anchors, texts, strict=True)):
        half_w = (len(str(text)) * char_px + 8) * per_px_x / 2
        half_h = line_px * per_px_y / 2
        found = None
        for dx, dy in _candidates():
            box = LabelBox(i, ax + dx * 2 * half_w, ay + dy * 2 * half_h, half_w, half_h, ax, ay)
            inside = (box.x - half_w >= x_range[0] and box.x + half_w <= x_range[1]
                      and box.y - half_h >= y_range[0] and box.y + half_h <= y_range[1])
            if inside and not any(box.overlaps(p) for p in placed):
                found = box
                break
        if found is not None:
            placed.append(found)
        out.append(found)
    return out


def cluster_outline(points: np.ndarray, core: float = 0.9) -> np.ndarray:
    """A closed polygon (first point repeated) around the ``core`` share of ``points`` nearest
    their median; fewer than three distinct points give an empty array."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) >= 10 and 0 < core < 1:
        dist = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
        pts = pts[dist <= np.quantile(dist, core)]
    pts = np.unique(pts, axis=0)
    if len(pts) < 3:
        return np.zeros((0, 2))
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):  # all points on a line
        return np.zeros((0, 2))
    ring = pts[hull.vertices]
    return np.vstack([ring, ring[:1]])
