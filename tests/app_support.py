"""AppTest support: open the dashboard and switch to one of its pages, as a user would."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, timeout: float = 180) -> AppTest:
    """Run the app (router, sidebar, active dataset), switch to ``pages/<page>.py`` and check
    that neither run raised."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at
