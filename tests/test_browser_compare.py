"""Real Chromium: the Compare page finds a user by segment and shows two models' lists, a boosted
variant, their overlap and the score breakdown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser_support import MIN_PNG_BYTES, choose, open_page, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def compare_server(trained_workspace: Path, tmp_path: Path, request: pytest.FixtureRequest):
    """The demo shop with ``pop`` and ``itemknn`` kept, served from a private copy."""
    shutil.copytree(trained_workspace, tmp_path / "workspace")
    return request.getfixturevalue("server")


def test_compare_lists_in_browser(compare_server, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, _ = compare_server
    page = browser_page
    open_page(page, url, "Compare", width=1600, height=2200)

    # Both kept models are picked by default; a tail lover is found by segment
    page.get_by_text("by segment", exact=True).click()
    settle(page)
    choose(page, "Segment", "Tail lovers (highest tail share)")
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Tail share of training items")).to_be_visible()

    # Four lists: two models and their tail-bonus variants, each headed by its tail count
    for name in ("pop", "itemknn"):
        expect(page.get_by_text(f"{name} + Tail bonus (additive) at 0.50", exact=False).first).to_be_visible()
    overlap = page.get_by_test_id("stDataFrame").filter(has_text="Jaccard")
    expect(overlap).to_have_count(1)
    expect(overlap).to_contain_text("RBO")
    expect(page.get_by_role("heading", name="Score breakdown")).to_be_visible()
    page.get_by_text("itemknn + Tail bonus (additive) at 0.50", exact=True).last.click()  # its breakdown
    settle(page)
    expect(page.get_by_test_id("stDataFrame").filter(has_text="Model's score").first).to_be_visible()
    png = shot(page, tmp_path / "compare.png")
    assert png.stat().st_size > MIN_PNG_BYTES
