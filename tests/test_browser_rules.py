"""Rules in a real Chromium: search a product, pin it at the top, see the effect on the metrics
and on a user's list, keep the rule set. Screenshots stay in the test's temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.rerank.rulesets import RuleSet
from tests.app_support import kept_ease_shop
from tests.browser_support import MIN_PNG_BYTES, open_page, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_rules_pin_a_product_in_browser(server, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    ws, ds = kept_ease_shop(workspace)
    pos = int(np.argmin(ds.popularity))
    target, title = str(ds.item_ids[pos]), str(ds.catalog["title"].iloc[pos])

    page = browser_page
    open_page(page, url, "Rules", height=2400)
    expect(page.get_by_text("No rule yet.")).to_be_visible()
    search = page.get_by_label("Search by id or title")
    search.fill(target)
    search.press("Enter")
    settle(page)
    page.get_by_role("combobox", name="Products").click()
    page.get_by_role("option", name=f"{target} · {title}").click()
    page.keyboard.press("Escape")
    settle(page)
    page.get_by_text("Pin at a position", exact=True).click()
    settle(page)
    page.get_by_role("button", name="Add for 1 product").click()
    expect(page.get_by_role("heading", name="Rules (1)")).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    changed = page.get_by_test_id("stMetric").filter(has_text="Lists changed")
    expect(changed).to_be_visible()
    assert int(changed.get_by_test_id("stMetricValue").inner_text().rstrip("%")) >= 50
    first = shot(page, tmp_path / "rules-pinned.png")

    name = page.get_by_label("Save as")
    name.fill("launch")
    name.press("Enter")
    settle(page)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Rule set 'launch' kept (1 rules).")).to_be_visible()
    settle(page)
    second = shot(page, tmp_path / "rules-kept.png")
    assert RuleSet(**ws.load_rule_set(ds.name, "launch")).pins == {target: 1}
    for png in (first, second):
        assert png.stat().st_size > MIN_PNG_BYTES, png
