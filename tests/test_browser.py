"""One end-to-end check in a real Chromium against ``streamlit run app.py``.

Opens the dashboard on a fresh workspace, checks the demo shop, uploads a CSV through the real
file input, validates it, uses it, and keeps screenshots under the test's ``tmp_path``.
Run alone with ``pytest -m browser``; skipped when Chromium is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser_support import MIN_PNG_BYTES, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _csv() -> bytes:
    """20 customers × 5 order lines on 30 products, plus 3 lines validation must drop."""
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    for u in range(20):
        for i in range(5):
            lines.append(f"{1000 + u},SKU{(3 * u + i) % 30:03d},2024-01-{i + 1:02d} 10:00,{i + 1}")
    lines += [",SKU001,2024-01-01 10:00,1", "1001,SKU002,2024-01-01 10:00,-3",
              "1002,SKU003,not a date,2"]
    return ("\n".join(lines) + "\n").encode()


def test_upload_validate_use_in_browser(server: tuple[str, Path], browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2200})  # the app scrolls inside its own container
    sidebar = page.get_by_test_id("stSidebar")
    switcher = sidebar.get_by_role("combobox", name="Dataset")
    shots: list[Path] = []

    # The demo shop is generated on first start and profiled
    page.goto(url)
    expect(page.get_by_text("Gini of interactions")).to_be_visible()
    metrics = page.get_by_test_id("stMetricValue")
    expect(metrics.first).to_have_text("3,000")
    expect(switcher).to_have_value("demo-shop")
    expect(sidebar).to_contain_text("CPU")
    settle(page, charts=3)  # popularity curve, tail share per category, price by segment
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    shots.append(shot(page, tmp_path / "01-profile-demo.png"))

    # Load data: upload through the real <input type=file>, validate, read the report
    page.get_by_role("tab", name="Load data").click()
    expect(page.get_by_role("button", name="Load the demo shop")).to_be_visible()
    page.locator(".st-key-upload_interactions input[type=file]").set_input_files(
        {"name": "shop_log.csv", "mimeType": "text/csv", "buffer": _csv()})
    expect(page.get_by_text("103 rows × 4 columns")).to_be_visible()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Validation passed: 100 of 103 interaction rows kept.")).to_be_visible()
    report = page.get_by_test_id("stMetric")
    expect(report.filter(has_text="Rows kept")).to_contain_text("100")
    expect(report.filter(has_text="Rows dropped")).to_contain_text("3")
    expect(switcher).to_have_value("demo-shop")  # nothing replaced before "Use this dataset"
    settle(page)
    shots.append(shot(page, tmp_path / "02-validation-report.png"))

    # Use it: the sidebar, the profile and the workspace follow
    page.locator(".st-key-use_dataset button").click()
    expect(page.get_by_text("'shop_log' is now the active dataset (20 users, 30 items).")).to_be_visible()
    expect(switcher).to_have_value("shop_log")
    expect(sidebar).to_contain_text("100 interactions")
    assert json.loads((workspace / "active.json").read_text()) == {"dataset": "shop_log"}
    page.get_by_role("tab", name="Profile").click()
    expect(metrics.first).to_have_text("20")
    settle(page, charts=2)  # popularity curve, last interaction (no category, no price)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shots.append(shot(page, tmp_path / "03-profile-shop-log.png"))

    # A reload is a new session: the choice persists
    page.reload()
    expect(metrics.first).to_have_text("20")
    expect(switcher).to_have_value("shop_log")

    # Train: the default models on this dataset, in the background, results kept
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible()
    expect(page.get_by_text("training on CPU")).to_be_visible()
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Training done.")).to_be_visible(timeout=120_000)
    page.reload()  # results come back from the workspace
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_contain_text("ease")
    expect(table).to_contain_text("NDCG@K")
    assert (workspace / "models" / "shop_log" / "ease" / "weights.npz").exists()
    settle(page, charts=1)
    shots.append(shot(page, tmp_path / "04-train-results.png"))

    for png in shots:
        assert png.exists() and png.stat().st_size > MIN_PNG_BYTES, png
    print("screenshots:", *shots, sep="\n  ")
