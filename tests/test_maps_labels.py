"""Cluster names, label placement without overlap, outlines, the map job and the map figure."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from map_chart import map_figure
from recsys.cache import Cancelled
from recsys.maps import (
    MapConfig,
    MapJob,
    build_map,
    cluster_name,
    cluster_outline,
    cluster_stats,
    dominant_category,
    place_labels,
)

from .test_maps_data import planted_shop

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))
FAST = {"method": "pca", "text_method": "tfidf", "cluster_on": "embedding"}


def test_cluster_name_terms_and_dominant_category():
    assert cluster_name(["lantern", "candle"], "Home decor") == "Lantern · Candle (Home decor)"
    assert cluster_name(["lantern", "home"], "Home") == "Lantern · Home"  # said by a term already
    assert cluster_name([], "", fallback="cluster 3") == "cluster 3"
    assert cluster_name([], "Garden") == "Garden"
    assert dominant_category(["a", "a", "b", "c", "d", "e"]) == ""  # 33 %: below the 40 % needed
    assert dominant_category(["a", "a", "b", "c", "d"]) == "a"  # 40 %
    assert dominant_category(["a", "a", "a", "b", ""]) == "a"
    assert dominant_category(["", None, ""]) == ""


def test_cluster_stats_name_the_dominant_category():
    titles = ["red lantern wick", "lantern candle", "candle lantern glass", "teapot kettle",
              "kettle teapot infuser", "teapot infuser"]
    labels = np.array([0, 0, 0, 1, 1, 1])
    cats = ["Lights", "Lights", "Kitchen", "Kitchen", "Kitchen", "Kitchen"]
    stats = cluster_stats(labels, popularity=np.ones(6), is_tail=np.zeros(6, bool), titles=titles,
                          categories=cats)
    by = stats.set_index("cluster")
    assert by.loc[0, "category"] == "Lights" and by.loc[1, "category"] == "Kitchen"
    assert by.loc[0, "label"].startswith("Lantern") and by.loc[0, "label"].endswith("(Lights)")
    assert "Teapot" in by.loc[1, "label"] and by.loc[1, "label"].endswith("(Kitchen)")


def _overlap(a, b) -> bool:
    return abs(a.x - b.x) < a.half_w + b.half_w and abs(a.y - b.y) < a.half_h + b.half_h


def test_labels_crowded_on_one_spot_never_overlap():
    rng = np.random.default_rng(0)
    anchors = rng.normal(scale=0.5, size=(14, 2))  # all near the middle of a 20 x 20 map
    texts = [f"#{i + 1} Lantern · Candle · Glass (Home decor)"[: 12 + i * 2] for i in range(14)]
    boxes = place_labels(anchors, texts, x_range=(-10, 10), y_range=(-10, 10))
    placed = [b for b in boxes if b is not None]
    assert len(placed) >= 10  # most find a place near their cluster
    for i, a in enumerate(placed):
        assert a.x - a.half_w >= -10 and a.x + a.half_w <= 10
        for b in placed[i + 1:]:
            assert not _overlap(a, b), (a, b)
    assert not boxes[0].moved  # the first (best) label sits on its cluster


def test_label_without_room_is_left_out():
    anchors = np.zeros((3, 2))
    boxes = place_labels(anchors, ["x" * 150] * 3, x_range=(-1, 1), y_range=(-1, 1),
                         width_px=1200, height_px=60)
    assert boxes[0] is not None and boxes[1] is None and boxes[2] is None


def test_outline_surrounds_the_core_points():
    rng = np.random.default_rng(1)
    pts = np.vstack([rng.normal(size=(200, 2)), [[40.0, 40.0]]])  # one stray point
    ring = cluster_outline(pts)
    assert len(ring) >= 4 and np.allclose(ring[0], ring[-1])
    assert ring[:, 0].max() < 10  # the stray point does not stretch it
    assert len(cluster_outline(np.array([[0, 0], [1, 1], [2, 2]]))) == 0  # a line: no outline


def test_map_job_builds_and_cancel_stops_it():
    ds, _ = planted_shop(per_cluster=20, n_users=80)
    config = MapConfig(seed=3, **FAST)
    done = MapJob(ds, config)
    done.run()
    assert done.status == "done" and done.frame is not None and done.fraction == 1.0

    class Stopping(MapJob):  # cancel from outside while the build reports its first step
        def _progress(self, fraction: float, message: str) -> None:
            if fraction > 0:
                threading.Thread(target=self.cancel).start()
                self._cancel.wait(5)
            super()._progress(fraction, message)

    job = Stopping(ds, MapConfig(seed=4, **FAST)).start()
    job.join(60)
    assert job.status == "stopped" and job.frame is None and not job.running
    assert job.fraction < 1.0
    again = build_map(ds, MapConfig(seed=4, **FAST))
    assert not again.attrs["cached"]  # nothing of the cancelled build was kept


def test_eta_follows_the_progress():
    ds, _ = planted_shop(per_cluster=10, n_users=40)
    job = MapJob(ds, MapConfig(**FAST))
    job.status, job.started_at = "running", 100.0
    job.fraction = 0.01
    assert job.eta_s is None  # too early to say
    job.fraction, job.finished_at = 0.25, 110.0  # 10 s for a quarter → 30 s left
    assert job.eta_s == pytest.approx(30.0)
    with pytest.raises(Cancelled):
        job.cancel()
        job._progress(0.5, "x")


def test_figure_draws_tail_clusters_last_larger_with_outlines_and_labels():
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    frame = build_map(ds, MapConfig(**FAST))
    assert frame["is_tail_cluster"].any()
    fig, rows = map_figure(frame, "cluster", True)
    assert len(rows) == len(fig.data)
    names = [t.name for t in fig.data]
    n_tail = frame.loc[frame["is_tail_cluster"], "cluster"].nunique()
    tail_traces = [t for t in fig.data if t.name.startswith("#") and t.mode == "markers"]
    assert len(tail_traces) == n_tail
    assert names[-n_tail:] == [t.name for t in tail_traces]  # drawn last, on top
    others = [t for t in fig.data if t.mode == "markers" and not t.name.startswith("#")]
    assert min(t.marker.size for t in tail_traces) > max(t.marker.size for t in others)
    assert sum(t.mode == "lines" for t in fig.data) == n_tail  # one outline each, underneath
    assert all(t.fill == "toself" for t in fig.data[:n_tail])
    texts = [a.text for a in fig.layout.annotations]
    assert len(texts) == n_tail and all(t.startswith("#") for t in texts)
    hover = tail_traces[0].customdata[0]
    assert hover[0] in set(frame["item_id"]) and hover[1].startswith("price ")
    assert "." not in hover[2]  # popularity shown as a whole number


def test_popularity_colouring_draws_the_head_on_top():
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    frame = build_map(ds, MapConfig(**FAST))
    fig, _ = map_figure(frame, "popularity bucket", True)
    names = [t.name for t in fig.data]
    assert names[-1] == "head" and names.index("tail") < names.index("head")
    by = {t.name: t for t in fig.data}
    assert by["head"].marker.size > by["tail"].marker.size
    assert by["head"].marker.opacity > by["tail"].marker.opacity


def test_hover_rounds_prices():
    ds, _ = planted_shop(per_cluster=10, n_users=40)
    frame = build_map(ds, MapConfig(**FAST)).assign(price=lambda f: f["price"] + 1 / 3)
    frame.loc[frame.index[0], "price"] = np.nan
    fig, _ = map_figure(frame, "category", True)
    prices = pd.Series([c[1] for t in fig.data for c in t.customdata])
    assert (prices == "no price").sum() == 1
    assert prices[prices != "no price"].str.fullmatch(r"price [\d,]+\.\d\d").all()
