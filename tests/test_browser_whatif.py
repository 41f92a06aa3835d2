"""What-if in a real Chromium: a model kept in the workspace, the page opened from the sidebar,
the strength slider moved with the keyboard, the metrics follow. Run alone with
``pytest -m browser``; skipped when Chromium is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_support import kept_ease_shop
from tests.browser_support import MIN_PNG_BYTES, choose, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _metric_value(page, label: str) -> str:
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id(
        "stMetricValue").inner_text()


def test_whatif_slider_moves_the_metrics(server, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    kept_ease_shop(workspace)

    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(url)
    page.get_by_role("link", name="What-if").click()
    expect(page.get_by_role("heading", name="What-if")).to_be_visible()
    aplt = page.get_by_test_id("stMetric").filter(has_text="Tail share (APLT)")
    expect(aplt).to_be_visible()
    settle(page, charts=1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    before = _metric_value(page, "Tail share (APLT)")
    ndcg_before = _metric_value(page, "NDCG@K")
    first = shot(page, tmp_path / "whatif-0.3.png")

    slider = page.locator(".st-key-whatif_strength input[type=range]")
    slider.focus()
    slider.press("End")  # strength 1.0
    expect(slider).to_have_attribute("aria-valuetext", "1.00")
    expect(aplt.get_by_test_id("stMetricValue")).not_to_have_text(before)
    settle(page, charts=1)
    after = _metric_value(page, "Tail share (APLT)")
    assert float(after) > float(before), (before, after)
    assert _metric_value(page, "NDCG@K") != ndcg_before or float(after) > float(before)
    expect(page.get_by_text("tail bonus").first).to_be_visible()  # reasons in the preview

    slider.press("Home")  # strength 0: the model's own lists, no deltas
    expect(slider).to_have_attribute("aria-valuetext", "0.00")
    expect(aplt.get_by_test_id("stMetricDelta")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    unboosted = _metric_value(page, "Tail share (APLT)")
    second = shot(page, tmp_path / "whatif-0.png")

    # The best setting within the accuracy budget is applied by its button
    use = page.get_by_role("button", name="Use the best:", exact=False)
    label = use.inner_text()  # "Use the best: <method> at <strength>"
    strength = label.rsplit(" at ", 1)[1]
    use.click()
    expect(slider).to_have_attribute("aria-valuetext", strength)
    expect(aplt.get_by_test_id("stMetricDelta")).to_have_count(1)
    settle(page, charts=1)
    expect(page.get_by_test_id("stException")).to_have_count(0)

    # A global promotion by expected NDCG loss: the hit model is fitted, the lists follow
    choose(page, "Method", "Promotion quota")
    radio = page.get_by_test_id("stRadio")  # the captions name the allocations too
    radio.filter(has_text="Allocation").get_by_text("same total, where it costs least").click()
    radio.filter(has_text="Cost of a slot").get_by_text("expected NDCG loss").click()
    expect(page.get_by_text("Promotion quota at", exact=False).first).to_be_visible()
    settle(page, charts=1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_text("promotion quota").first).to_be_visible()  # reasons in the preview
    assert float(_metric_value(page, "Tail share (APLT)")) > float(unboosted)
    third = shot(page, tmp_path / "whatif-expected.png")
    for png in (first, second, third):
        assert png.stat().st_size > MIN_PNG_BYTES, png
