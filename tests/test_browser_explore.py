"""Explore in a real Chromium: the demo shop with kept models, the page opened from the
sidebar, a short simulation run in the background, the curves and metrics shown. Run alone
with ``pytest -m browser``; skipped when Chromium is not installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser_support import MIN_PNG_BYTES, choose, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def test_explore_runs_a_short_simulation(server, browser_page, trained_workspace: Path,
                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    shutil.copytree(trained_workspace, workspace)  # the demo shop with pop and itemknn kept

    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.goto(url)
    page.get_by_role("link", name="Explore").click()
    expect(page.get_by_role("heading", name="Explore", exact=True)).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    choose(page, "Policy", "ε-greedy (tail slots)")
    settle(page)
    _number(page, "Days to replay", 3)
    _number(page, "Seeds", 2)
    page.get_by_role("button", name="Run the simulation").click()
    expect(page.get_by_text("Simulation done", exact=False)).to_be_visible(timeout=180_000)
    settle(page, charts=2)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    for label in ("Hits", "Tail items discovered", "Regret vs best list",
                  "OPE cost per slot (DR)"):
        expect(page.get_by_test_id("stMetric").filter(has_text=label).first).to_be_visible()
    expect(page.get_by_text("biased toward the logging policy", exact=False).first
           ).to_be_visible()
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts.filter(has_text="Cumulative hits").first).to_be_visible()
    expect(charts.filter(has_text="Tail items discovered").first).to_be_visible()
    png = shot(page, tmp_path / "explore.png")
    assert png.stat().st_size > MIN_PNG_BYTES, png
