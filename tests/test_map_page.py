"""Map page (AppTest): draw a map, see tail clusters, search an item, keep the map and item sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace, build_dataset
from tests.app_support import open_page

from .test_maps_data import planted_shop

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _map_page(workspace_dir, dataset) -> AppTest:
    ws = Workspace(workspace_dir)
    ws.save_dataset(dataset, source="test shop")
    return open_page("map", timeout=120)


def _draw(at: AppTest, timeout: float = 120) -> AppTest:
    """Press Draw map, wait for the background build and draw the page with its outcome."""
    at.button(key="FormSubmitter:map_form-Draw map").click().run()
    assert not at.exception, [e.value for e in at.exception]
    if "map_job" in at.session_state:  # still drawing: the run after it ends shows the outcome
        at.session_state["map_job"][0].join(timeout)
        at.run()
    assert any("Map ready (" in s.value for s in at.success) or at.error, "no outcome shown"
    return at


def test_draw_map_search_and_keep(workspace_dir):
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    at = _map_page(workspace_dir, ds)
    assert any("Draw map" in i.value for i in at.info)  # nothing drawn yet
    at.selectbox(key="map_cfg.method").set_value("pca")
    at.selectbox(key="map_cfg.text_method").set_value("tfidf")
    at.selectbox(key="map_cfg.cluster_on").set_value("embedding")
    _draw(at)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("TF-IDF + SVD fallback" in w.value for w in at.warning)  # said plainly
    clusters = next(d.value for d in at.dataframe if "tail_share" in d.value.columns)
    assert clusters["is_tail_cluster"].sum() == 2
    assert clusters.loc[clusters["is_tail_cluster"], "tail_rank"].tolist() == [1, 2]

    saved = Workspace(workspace_dir).load_item_map(ds.name)  # kept for the other pages
    assert saved is not None
    frame, settings = saved
    assert list(frame.columns[:7]) == ["item_id", "x", "y", "cluster", "is_tail", "is_tail_cluster",
                                       "cluster_label"]
    assert settings["fingerprint"] == ds.fingerprint and settings["settings"]["method"] == "pca"

    at.text_input(key="map_search").set_value("terrarium").run()
    assert not at.exception
    neighbours = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert len(neighbours) == 10
    assert neighbours["title"].str.contains("terrarium|succulent|moss").mean() >= 0.8

    for colour in ("popularity bucket", "category", "price"):
        at.radio(key="map_colour").set_value(colour).run()
        assert not at.exception, colour

    fresh = open_page("map", timeout=120)  # a new session reads the kept map
    assert not fresh.exception
    assert any("tail_share" in d.value.columns for d in fresh.dataframe)


def test_tiny_catalog_gets_a_message(workspace_dir):
    inter = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"]})
    at = _map_page(workspace_dir, build_dataset(inter, name="tiny"))
    assert not at.exception
    assert any("needs at least 5" in i.value for i in at.info)


def test_strict_thresholds_still_draw_a_map(workspace_dir):
    ds, _ = planted_shop(per_cluster=10, n_users=50)
    at = _map_page(workspace_dir, ds)
    at.number_input(key="map_cfg.min_cluster_size").set_value(0)
    at.selectbox(key="map_cfg.method").set_value("pca")
    at.selectbox(key="map_cfg.text_method").set_value("tfidf")
    at.number_input(key="map_cfg.tail_share_threshold").set_value(1.0)
    _draw(at)
    assert not at.exception
    assert not at.error  # a valid map even with strict thresholds
    assert any("tail_share" in d.value.columns for d in at.dataframe)


def _settings(at: AppTest):
    return next(e for e in at.expander if e.label.startswith("Map settings"))


def test_settings_fold_and_a_cluster_is_kept_in_one_click(workspace_dir):
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    at = _map_page(workspace_dir, ds)
    assert _settings(at).proto.expanded  # open until a map exists
    at.selectbox(key="map_cfg.method").set_value("pca")
    at.selectbox(key="map_cfg.text_method").set_value("tfidf")
    at.selectbox(key="map_cfg.cluster_on").set_value("embedding")
    _draw(at)
    assert not at.exception and any("Map ready (" in s.value for s in at.success)
    assert not _settings(at).proto.expanded  # folded once the map is drawn
    chart = at.get("plotly_chart")[0]
    traces = json.loads(chart.proto.spec)["data"]
    markers = [t for t in traces if t.get("mode") == "markers"]
    assert markers[-1]["name"].startswith("#") and markers[-2]["name"].startswith("#")

    pick = at.selectbox(key="map_cluster_pick")
    assert pick.value is not None and "#1 " in pick.format_func(pick.value)  # best tail first
    at.button(key="map_save_cluster").click().run()
    assert not at.exception and any("Saved item set" in s.value for s in at.success)
    ws = Workspace(workspace_dir)
    [kept] = ws.list_item_sets(ds.name)
    frame, _ = ws.load_item_map(ds.name)
    members = frame.loc[frame["cluster"] == pick.value, "item_id"]
    assert sorted(ws.load_item_set(ds.name, kept["name"])) == sorted(members)
    assert kept["name"].startswith("tail-1")


def test_cancel_stops_a_build(workspace_dir, monkeypatch):
    import threading

    import recsys.maps.job as job_module

    started = threading.Event()

    def slow_build(dataset, config, *, progress, **_):
        for step in range(600):  # a long build that reports often, like the sentence model
            progress(step / 600, f"batch {step}")
            started.set()
            threading.Event().wait(0.05)
        raise AssertionError("the cancel was not heard")

    monkeypatch.setattr(job_module, "build_map", slow_build)
    ds, _ = planted_shop(per_cluster=10, n_users=50)
    at = _map_page(workspace_dir, ds)
    at.button(key="FormSubmitter:map_form-Draw map").click().run()
    assert started.wait(30)
    job = at.session_state["map_job"][0]
    assert job.running and at.button(key="map_cancel")
    assert at.button(key="FormSubmitter:map_form-Draw map").disabled  # one build at a time
    at.button(key="map_cancel").click().run()
    job.join(10)
    assert job.status == "stopped"
    at.run()
    assert not at.exception
    assert any("cancelled" in i.value for i in at.info)
    assert "map_job" not in at.session_state
    assert Workspace(workspace_dir).load_item_map(ds.name) is None  # nothing kept


def test_a_low_item_cap_draws_a_sample_and_says_so(workspace_dir):
    ds, _ = planted_shop(per_cluster=60, n_users=200)
    at = _map_page(workspace_dir, ds)
    at.selectbox(key="map_cfg.method").set_value("pca")
    at.selectbox(key="map_cfg.text_method").set_value("tfidf")
    at.selectbox(key="map_cfg.cluster_on").set_value("embedding")
    at.number_input(key="map_cfg.max_items").set_value(250)
    _draw(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    note = next(i.value for i in at.info if "Showing 250 of" in i.value)
    assert f"of {ds.n_items:,} items" in note and "tail clusters" in note
    assert "Items on the map at most" in note
    clusters = next(d.value for d in at.dataframe if "tail_share" in d.value.columns)
    assert clusters["size"].sum() == 250 and clusters["is_tail_cluster"].any()
    fresh = open_page("map", timeout=120)  # the kept map still says it is a sample
    assert any("Showing 250 of" in i.value for i in fresh.info)
