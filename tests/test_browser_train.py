"""Train in a real Chromium: the settings panels follow the model picker at once, a finished
run shows in Results without leaving the page, and "Stop and keep" stops a long run within
seconds and keeps it marked "stopped at epoch N" there and in What-if's picker. Run alone with
``pytest -m browser``; skipped when Chromium is not installed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recsys import Workspace
from tests.browser_support import MIN_PNG_BYTES, settle, shot
from tests.test_rerank import synthetic_dataset

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")


def test_train_page_follows_the_picker_and_the_run(server, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, workspace = server
    ws = Workspace(workspace)
    ws.save_dataset(synthetic_dataset(n_users=150, n_items=80, seed=2, name="small-shop"),
                    source="test", activate=True)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(url)
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible()
    expect(page.get_by_text("No trained model yet for this dataset.")).to_be_visible()
    settle(page)

    # The default models: once the run is done, Results show them without leaving the page
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Last run: done.")).to_be_visible(timeout=120_000)
    table = page.get_by_test_id("stDataFrame")  # the Results table: the only one yet
    expect(table).to_contain_text("ease")
    expect(page.get_by_text("No trained model yet for this dataset.")).to_have_count(0)
    settle(page, charts=1)

    # Adding BPR to the picker shows its settings panel at once, before Train is pressed
    page.locator(".st-key-train_models").get_by_role("combobox").click()
    page.get_by_role("option", name="BPR matrix factorisation (bpr)").click()
    page.keyboard.press("Escape")
    panel = page.get_by_test_id("stExpander").filter(has_text="BPR matrix factorisation (bpr) "
                                                              "settings")
    expect(panel).to_be_visible()
    panel.get_by_text("BPR matrix factorisation (bpr) settings").click()
    _set_number(page, "Epochs (at most)", 2000)   # long enough to press Stop in the middle
    _set_number(page, "Early-stopping patience (validations)", 100)  # no early stop:
    _set_number(page, "Validate every (epochs)", 20)  # 100 validations of 20 epochs each
    first = shot(page, tmp_path / "train-picker.png")

    # Train pop, ease, bpr again; stop bpr and keep it: the page follows without a reload
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Training bpr…")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Validation NDCG")).to_be_visible()  # live curves
    page.get_by_role("button", name="Stop and keep").click()
    pressed = time.monotonic()
    expect(page.get_by_text("Last run: stopped.")).to_be_visible(timeout=30_000)
    stop_s = time.monotonic() - pressed
    expect(page.get_by_text("bpr: stopped at epoch", exact=False)).to_be_visible()
    # Results follow at once (no leaving the page); the review tables of the retrained pop and
    # ease come before them
    expect(page.get_by_role("heading", name="New runs to review")).to_be_visible()
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_have_count(3)
    expect(table.last).to_contain_text("bpr")
    expect(table.last).to_contain_text("stopped at epoch")
    expect(page.get_by_text("No trained model yet for this dataset.")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    settle(page, charts=1)
    second = shot(page, tmp_path / "train-stopped.png")
    # pop and ease were kept already: their new runs wait for a decision, the old ones stay
    expect(page.get_by_role("button", name="Use the new run")).to_have_count(2)
    assert {m.run for m in ws.pending_runs("small-shop")} == {"pop", "ease"}
    kept = {m.run: m.results for m in ws.kept_runs("small-shop")}
    assert set(kept) == {"pop", "ease", "bpr"}
    assert kept["bpr"].stopped and kept["bpr"].epochs and kept["bpr"].epochs < 2000
    assert not kept["ease"].stopped

    # What-if lists the stopped run with its marker
    page.get_by_role("link", name="What-if").click()
    expect(page.get_by_role("heading", name="What-if")).to_be_visible()
    picker = page.locator(".st-key-whatif_model")
    picker.get_by_role("combobox").click()
    expect(page.get_by_role("option", name="stopped at epoch", exact=False)).to_have_count(1)
    page.keyboard.press("Escape")
    for png in (first, second):
        assert png.stat().st_size > MIN_PNG_BYTES, png
    print(f"Stop and keep took {stop_s:.1f} s to show 'Last run: stopped.'")
