"""The Map page in a real Chromium: draw a map (tail clusters labelled on top, settings folded),
box-select points, save the selection and a whole cluster as item sets.

Uses the ``server`` and ``browser_page`` fixtures of :mod:`tests.test_browser`; skipped when
Chromium is not installed. Run alone with ``pytest -m browser tests/test_browser_map.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recsys import Workspace
from tests.browser_support import MIN_PNG_BYTES, choose, settle, shot

from .test_maps_data import planted_shop

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_map_box_selection_in_browser(server: tuple[str, Path], browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    Workspace(workspace).save_dataset(ds, source="test shop")  # active, so no demo is generated
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1800})

    page.goto(f"{url}/map")
    expect(page.get_by_role("heading", name="Map")).to_be_visible()
    expect(page.get_by_text("No map yet for this dataset.")).to_be_visible()
    choose(page, "Method", "pca")
    page.get_by_text("Advanced: embedding, neighbours", exact=False).click()  # the rest of the settings
    expect(page.get_by_role("combobox", name="Text embedding", exact=True)).to_be_visible()
    choose(page, "Text embedding", "tfidf")
    choose(page, "Cluster on", "embedding")
    page.get_by_role("button", name="Draw map").click()
    expect(page.get_by_text("Map ready (", exact=False)).to_be_visible()
    settle(page, charts=1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("TF-IDF + SVD fallback", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Draw map")).to_be_hidden()  # settings folded
    labels = page.locator("[data-testid=stPlotlyChart] .annotation-text")
    expect(labels.first).to_contain_text("#1 ")  # tail clusters labelled
    texts = labels.all_text_contents()
    assert len(texts) == 2 and all(t.startswith("#") for t in texts), texts
    legend = page.locator("[data-testid=stPlotlyChart] .legendtext").all_text_contents()
    assert legend[-2].startswith("#") and legend[-1].startswith("#"), legend  # drawn last
    shots = [shot(page, tmp_path / "01-map.png")]

    # Box selection: the chart opens in box-select mode; drag over most of the plot area
    area = page.locator("[data-testid=stPlotlyChart] .nsewdrag").first
    box = area.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=12)
    page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] * 0.95, steps=12)
    page.mouse.up()
    heading = page.get_by_role("heading", name="Selected items")
    expect(heading).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Tail share")).to_be_visible()
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(2)  # the selected items, then the cluster table
    expect(tables.first).to_contain_text("cluster_label")
    expect(tables.first).to_contain_text("popularity")
    settle(page, charts=1)
    shots.append(shot(page, tmp_path / "02-selection.png"))

    # Save it as a named item set
    page.get_by_role("textbox", name="Item set name").fill("tail-picks")
    page.get_by_role("button", name="Save as item set").click()
    expect(page.get_by_text("Saved item set 'tail-picks'", exact=False)).to_be_visible()
    saved = json.loads((workspace / "item_sets" / ds.name / "tail-picks.json").read_text())
    assert len(saved["items"]) > 10 and set(saved["items"]) <= set(ds.item_ids)

    # A whole cluster in one click: the best tail cluster is offered first
    page.get_by_role("button", name="Save cluster as item set").click()
    expect(page.get_by_text("Saved item set 'tail-1", exact=False)).to_be_visible()
    shots.append(shot(page, tmp_path / "03-cluster-saved.png"))
    kept = [json.loads(p.read_text()) for p in (workspace / "item_sets" / ds.name).glob("tail-1*.json")]
    assert len(kept) == 1 and len(kept[0]["items"]) >= 20
    for png in shots:
        assert png.exists() and png.stat().st_size > MIN_PNG_BYTES, png
