"""Run history: a retrained model waits until accepted; nothing displaced is lost."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import Workspace
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from recsys.runs import RunResults
from recsys.workspace import WorkspaceError
from tests.app_support import kept_ease_shop, open_page

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _lists(ws: Workspace, ds, run: str = "ease", **kwargs) -> np.ndarray:
    return ws.load_model(ds.name, run, **kwargs).recommend(np.arange(ds.n_users), n=5)[0]


def _retrain(ws: Workspace, ds, l2: float, ndcg: float, **kwargs) -> None:
    from recsys.models import create_model

    model = create_model("ease", {"l2": l2})
    model.fit(ds)
    ws.save_model(ds.name, model, results=RunResults(ndcg=ndcg), **kwargs)


def test_pending_run_waits_until_accepted(workspace_dir):
    ws, ds = kept_ease_shop(workspace_dir)
    before = _lists(ws, ds)
    first = ws.kept_runs(ds.name)[0]
    _retrain(ws, ds, l2=1.0, ndcg=0.123, pending=True)

    assert [m.results.metric("ndcg") for m in ws.kept_runs(ds.name)] == [first.results.metric("ndcg")]
    assert np.array_equal(_lists(ws, ds), before)  # the pages still get the previous run
    waiting = ws.pending_runs(ds.name)
    assert [(m.run, m.results.metric("ndcg")) for m in waiting] == [("ease", 0.123)]
    assert not np.array_equal(_lists(ws, ds, pending=True), before)  # l2 = 1 ranks otherwise

    ws.accept_pending(ds.name, "ease")
    assert ws.pending_runs(ds.name) == []
    assert ws.kept_runs(ds.name)[0].results.metric("ndcg") == 0.123
    history = ws.run_history(ds.name, "ease")
    assert [m.results.metric("ndcg") for m in history] == [first.results.metric("ndcg")]

    ws.restore_run(ds.name, "ease", history[0].version)  # back to the first run, exactly
    assert np.array_equal(_lists(ws, ds), before)
    assert [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")] == [0.123]


def test_keep_previous_puts_the_new_run_in_history(workspace_dir):
    ws, ds = kept_ease_shop(workspace_dir)
    before = _lists(ws, ds)
    _retrain(ws, ds, l2=1.0, ndcg=0.2, pending=True)
    _retrain(ws, ds, l2=5.0, ndcg=0.3, pending=True)  # a second retrain replaces the waiting one
    assert [m.results.metric("ndcg") for m in ws.pending_runs(ds.name)] == [0.3]
    assert [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")] == [0.2]
    ws.discard_pending(ds.name, "ease")
    assert ws.pending_runs(ds.name) == []
    assert np.array_equal(_lists(ws, ds), before)
    assert [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")] == [0.3, 0.2]
    with pytest.raises(WorkspaceError, match="No new run"):
        ws.accept_pending(ds.name, "ease")
    with pytest.raises(WorkspaceError, match="No earlier version"):
        ws.restore_run(ds.name, "ease", "v-unknown")


def test_direct_replacement_keeps_history_and_delete_removes_all(workspace_dir):
    from recsys.workspace.models import HISTORY_KEEP

    ws, ds = kept_ease_shop(workspace_dir)
    for i in range(HISTORY_KEEP + 2):
        _retrain(ws, ds, l2=10.0 + i, ndcg=i / 10)
    assert ws.kept_runs(ds.name)[0].results.metric("ndcg") == (HISTORY_KEEP + 1) / 10
    history = [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")]
    assert history == [i / 10 for i in range(HISTORY_KEEP, 0, -1)]  # newest first, capped
    _retrain(ws, ds, l2=1.0, ndcg=0.9, pending=True)
    ws.delete_model(ds.name, "ease")
    assert ws.kept_runs(ds.name) == [] and ws.pending_runs(ds.name) == []
    assert ws.run_history(ds.name, "ease") == []
    _retrain(ws, ds, l2=1.0, ndcg=0.9, pending=True)  # nothing kept: saved as the kept run
    assert [m.results.metric("ndcg") for m in ws.kept_runs(ds.name)] == [0.9]


def test_training_job_asks_before_replacing(workspace_dir):
    ws, ds = kept_ease_shop(workspace_dir)
    job = train_models(ds, {"ease": {"l2": 3.0}, "pop": {}}, workspace=ws,
                       split=SplitConfig(method="random", seed=0), ask_before_replacing=True)
    assert job.status == "done", job.message
    ease, pop = job.runs
    assert ease.pending and "waiting for you to accept it" in ease.outcome
    assert not pop.pending and pop.outcome == "done"  # first of its name: kept at once
    assert [m.config["l2"] for m in ws.pending_runs(ds.name)] == [3.0]
    assert {m.run for m in ws.kept_runs(ds.name)} == {"ease", "pop"}
    assert next(m for m in ws.kept_runs(ds.name) if m.run == "ease").config["l2"] != 3.0


def test_train_page_review_and_history(workspace_dir):
    ws, ds = kept_ease_shop(workspace_dir)
    first = ws.kept_runs(ds.name)[0].results.metric("ndcg")
    _retrain(ws, ds, l2=1.0, ndcg=first / 2, pending=True)
    at = open_page("train")
    assert any(h.value == "New runs to review" for h in at.subheader)
    review = next(d.value for d in at.dataframe if "new run" in d.value.columns)
    row = review.set_index("figure").loc["NDCG@K"]
    assert row["in use"] == pytest.approx(first) and row["new run"] == pytest.approx(first / 2)
    assert row["change %"] == pytest.approx(-50.0)
    at.button(key="discard_ease").click().run()
    assert not at.exception
    assert ws.pending_runs(ds.name) == []
    assert any("previous run stays in use" in s.value for s in at.success)
    assert not any(h.value == "New runs to review" for h in at.subheader)

    at.button(key="history_restore").click().run()  # the discarded run, back in use
    assert not at.exception
    assert ws.kept_runs(ds.name)[0].results.metric("ndcg") == pytest.approx(first / 2)
    assert [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")] == [
        pytest.approx(first)]


def test_restoring_the_oldest_version_of_a_full_history(workspace_dir):
    """The oldest of HISTORY_KEEP versions comes back in use (not trimmed away by the
    retiring of the run in use), and a direct save supersedes a run still waiting."""
    from recsys.workspace.models import HISTORY_KEEP

    ws, ds = kept_ease_shop(workspace_dir)
    for i in range(HISTORY_KEEP):
        _retrain(ws, ds, l2=10.0 + i, ndcg=i / 10)
    history = ws.run_history(ds.name, "ease")
    assert len(history) == HISTORY_KEEP
    oldest = history[-1]
    ws.restore_run(ds.name, "ease", oldest.version)
    assert ws.kept_runs(ds.name)[0].results.metric("ndcg") == oldest.results.metric("ndcg")
    assert len(ws.run_history(ds.name, "ease")) == HISTORY_KEEP

    _retrain(ws, ds, l2=1.0, ndcg=0.7, pending=True)
    _retrain(ws, ds, l2=2.0, ndcg=0.8)  # direct save: the waiting run is superseded
    assert ws.pending_runs(ds.name) == []
    assert ws.kept_runs(ds.name)[0].results.metric("ndcg") == 0.8
    assert 0.7 in [m.results.metric("ndcg") for m in ws.run_history(ds.name, "ease")]
