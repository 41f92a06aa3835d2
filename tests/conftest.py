"""Shared fixtures: an isolated workspace per test, a demo workspace with trained models, a shim
that lets AppTest run st.navigation apps, and the real-browser ``server`` / ``browser_page``."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from tests.browser_support import browser_page, server  # noqa: F401  (fixtures)


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


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory) -> Path:
    """The demo shop with ``pop`` and ``itemknn`` kept, as the Train page leaves them (trained
    once per test run; tests work on a copy, :func:`workspace_copy`)."""
    from recsys import SplitConfig, Workspace
    from recsys.data.formats import demo_dataset
    from recsys.jobs import TrainingJob

    root = tmp_path_factory.mktemp("trained") / "workspace"
    ws = Workspace(root)
    ds = demo_dataset()
    ws.save_dataset(ds, source="generated demo shop", activate=True)
    job = TrainingJob(ds, {"pop": {}, "itemknn": {}}, SplitConfig(method="random", seed=0),
                      workspace=ws, device="cpu")
    job.run()
    assert job.status == "done", job.message
    return root


@pytest.fixture
def workspace_copy(trained_workspace: Path, workspace_dir: Path) -> Path:
    """A private copy of :func:`trained_workspace` as this test's workspace."""
    shutil.copytree(trained_workspace, workspace_dir)
    return workspace_dir


@pytest.fixture(scope="session")
def ml100k_ease():
    """ml-100k on the protocol's split (ratings ≥ 4, 5-core, random 80/20, seed 0) with EASE
    trained on its train part and each test user's top-100 candidates: (split, model, cands).
    Skips when the shared data folder is absent."""
    from tests.test_loaders import ML100K

    if not ML100K.exists():
        pytest.skip(f"ml-100k not found at {ML100K} (shared data folder absent)")
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models import create_model
    from recsys.rerank import candidates_from_model

    r = load_files(ML100K)
    ds = build_dataset(r.interactions, r.catalog, name="ml-100k",
                       config=DatasetConfig(rating_threshold=4, kcore=5))
    split = split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=0))
    model = create_model("ease").fit(split.train, device="cpu")
    return split, model, candidates_from_model(model, split.train, split.test_users, c=100)
