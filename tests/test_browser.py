"""One end-to-end check in a real Chromium against ``streamlit run app.py``.

Opens the dashboard on a fresh workspace, checks the demo shop, uploads a CSV through the real
file input, validates it, uses it, and keeps screenshots under the test's ``tmp_path``.
Run alone with ``pytest -m browser``; skipped when Chromium is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 90
WAIT_MS = 60_000  # longest wait for one text; the first page load generates the demo shop
MIN_PNG_BYTES = 20_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` on a free port with its own workspace; yields (url, workspace)."""
    workspace = tmp_path / "workspace"
    port = _free_port()
    env = {**os.environ, "TAILSTUDIO_WORKSPACE": str(workspace), "RECSYS_DEVICE": "cpu",
           "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{url}/_stcore/health", proc, log)
        yield url, workspace
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture
def browser_page():
    """A Chromium page (1400 × 1000) through Playwright's sync API."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; install it (apt-get install chromium) to run "
                    "the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    sync_api.expect.set_options(timeout=WAIT_MS)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()
            sync_api.expect.set_options(timeout=5_000)  # Playwright's default


def _csv() -> bytes:
    """20 customers × 5 order lines on 30 products, plus 3 lines validation must drop."""
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    for u in range(20):
        for i in range(5):
            lines.append(f"{1000 + u},SKU{(3 * u + i) % 30:03d},2024-01-{i + 1:02d} 10:00,{i + 1}")
    lines += [",SKU001,2024-01-01 10:00,1", "1001,SKU002,2024-01-01 10:00,-3",
              "1002,SKU003,not a date,2"]
    return ("\n".join(lines) + "\n").encode()


def _settle(page, charts: int = 0) -> None:
    """Wait until the script run is over and at least ``charts`` Plotly charts have drawn."""
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= n", arg=charts)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")


def _shot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    return path


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
    _settle(page, charts=3)  # popularity curve, tail share per category, price by segment
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    shots.append(_shot(page, tmp_path / "01-profile-demo.png"))

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
    _settle(page)
    shots.append(_shot(page, tmp_path / "02-validation-report.png"))

    # Use it: the sidebar, the profile and the workspace follow
    page.locator(".st-key-use_dataset button").click()
    expect(page.get_by_text("'shop_log' is now the active dataset (20 users, 30 items).")).to_be_visible()
    expect(switcher).to_have_value("shop_log")
    expect(sidebar).to_contain_text("100 interactions")
    assert json.loads((workspace / "active.json").read_text()) == {"dataset": "shop_log"}
    page.get_by_role("tab", name="Profile").click()
    expect(metrics.first).to_have_text("20")
    _settle(page, charts=2)  # popularity curve, last interaction (no category, no price)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shots.append(_shot(page, tmp_path / "03-profile-shop-log.png"))

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
    expect(table).to_contain_text("ndcg")
    assert (workspace / "models" / "shop_log" / "ease" / "weights.npz").exists()
    _settle(page, charts=1)
    shots.append(_shot(page, tmp_path / "04-train-results.png"))

    for shot in shots:
        assert shot.exists() and shot.stat().st_size > MIN_PNG_BYTES, shot
    print("screenshots:", *shots, sep="\n  ")
