"""Real Chromium: open the Export page, export a re-ranked list, download the file and read it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys import SplitConfig, Workspace
from recsys.data.formats import demo_dataset
from recsys.export import read_export
from recsys.jobs import TrainingJob
from tests.browser_support import open_page, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def trained_server(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Path]:
    """The demo shop with a kept ``pop`` model in the server's workspace, then the server."""
    ws = Workspace(tmp_path / "workspace")
    ds = demo_dataset()
    ws.save_dataset(ds, source="generated demo shop", activate=True)
    job = TrainingJob(ds, {"pop": {}}, SplitConfig(method="random"), workspace=ws, device="cpu")
    job.run()
    assert job.status == "done", job.message
    return request.getfixturevalue("server")


def test_export_and_download_in_browser(trained_server, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = trained_server
    page = browser_page
    open_page(page, url, "Export")

    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.get_by_text("30,000 rows for 3,000 users exported", exact=False)).to_be_visible(
        timeout=120_000)
    settle(page)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    png = shot(page, tmp_path / "export-page.png")

    with page.expect_download() as info:
        page.locator(".st-key-export_download_file button").click()
    settle(page)
    expect(page.locator(".st-key-export_download_file button")).to_have_count(1)  # no rerun
    expect(page.locator(".st-key-export_download_file button")).to_have_text("Download lists-all.csv")
    download = info.value
    assert download.suggested_filename == "lists-all.csv"
    saved = tmp_path / "downloaded.csv"
    download.save_as(saved)
    frame = read_export(saved)
    assert len(frame) == 30_000 and frame["user_id"].nunique() == 3_000
    folder = next((workspace / "exports" / "demo-shop").iterdir())
    assert saved.read_bytes() == (folder / "lists-all.csv").read_bytes()

    with page.expect_download() as info:
        page.locator(".st-key-export_download_zip button").click()
    assert info.value.suggested_filename == f"{folder.name}.zip"
    assert png.stat().st_size > 20_000
