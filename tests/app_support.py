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


def kept_ease_shop(workspace: Path, name: str = "small-shop"):
    """A workspace holding a small synthetic shop (active) and an EASE model kept for it, as
    the What-if, Rules and Export tests start from; returns the workspace and the dataset."""
    from recsys import Workspace
    from recsys.data.splits import SplitConfig
    from recsys.jobs import train_models
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace)
    ds = synthetic_dataset(n_users=150, n_items=80, seed=2, name=name)
    ws.save_dataset(ds, source="test", activate=True)
    job = train_models(ds, {"ease": {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
    assert job.status == "done", job.message
    return ws, ds
