"""Shared fixtures: an isolated workspace per test and a shim that lets AppTest run st.navigation apps."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest


@pytest.fixture
def workspace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``TAILSTUDIO_WORKSPACE`` for this test (never ``./workspace``), on the CPU."""
    ws = tmp_path / "workspace"
    monkeypatch.setenv("TAILSTUDIO_WORKSPACE", str(ws))
    monkeypatch.setenv("RECSYS_DEVICE", "cpu")
    return ws


@pytest.fixture
def navigation_apptest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the app through ``st.navigation`` on every AppTest run, as the server does.

    A ``pages/`` folder next to the entry script switches Streamlit to legacy multipage mode until
    ``st.navigation`` is first called; a server then stays in navigation mode, but AppTest resets
    the flag before each run, so every run after the first executes only the page script (no
    sidebar). Keeping the flag off reproduces what a running server does.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    @functools.wraps(original)  # the original stays reachable as ``__wrapped__``
    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
