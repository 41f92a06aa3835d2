"""Real-browser test support: a ``streamlit run app.py`` server and a Chromium page.

The fixtures ``server`` and ``browser_page`` are registered in ``conftest.py``; ``settle`` and
``shot`` are helpers for the browser tests. Chromium is Debian's (``apt-get install chromium``),
driven by Playwright; the tests skip with a reason when it is absent.
"""

from __future__ import annotations

import contextlib
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


def settle(page, charts: int = 0) -> None:
    """Wait until the script run is over and at least ``charts`` Plotly charts have drawn."""
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= n", arg=charts)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")


def open_page(page, url: str, name: str, *, width: int = 1400, height: int = 2000,
              charts: int = 0) -> None:
    """Open the dashboard at ``url``, follow the sidebar link ``name``, wait for its heading and
    the end of the script run (and ``charts`` drawn charts), and check no exception is shown."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    settle(page, charts=charts)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def shot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    return path


def choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, reopening the list if it did not open.

    A click that lands while the page is still laying out (an expander opening, a chart drawing)
    can leave the list closed; a second click then opens it.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_role("combobox", name=label, exact=True)
    box.scroll_into_view_if_needed()
    for _ in range(attempts):
        box.click()
        item = page.get_by_role("option", name=option, exact=True)
        try:
            item.wait_for(state="visible", timeout=10_000)
            item.click()
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"option {option!r} of {label!r} never showed after {attempts} clicks")
