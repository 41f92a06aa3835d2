"""Workspace under stress: killed writers, concurrent writers, readers during writes, colliding
names, hand-edited JSON of the wrong shape and workspaces in the older on-disk layout."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.workspace import Workspace, WorkspaceError

ROOT = Path(__file__).resolve().parents[1]


def shop(rows: int, name: str = "shop"):
    """A dataset with ``rows`` interactions (its size tells which save it came from)."""
    users = [f"u{i % 97}" for i in range(rows)]
    items = [f"i{i % 89}" for i in range(rows)]
    return build_dataset(pd.DataFrame({"user_id": users, "item_id": items}), name=name)


class FakeModel:
    """Just enough of a recommender for :meth:`Workspace.save_model`: weights that say which
    save wrote them, so a torn model is detectable."""

    name = "fake"

    def __init__(self, i: int) -> None:
        self.i = i

    def save(self, folder: Path) -> None:
        np.savez(folder / "weights.npz", w=np.full(200_000, self.i, dtype=np.int64))
        (folder / "model.json").write_text(json.dumps(
            {"name": "fake", "fingerprint": f"fp{self.i}", "config": {"i": self.i}}))


#: A writer process: saves the dataset, a model and an item set in a loop until killed.
WRITER = """
import sys, time
from pathlib import Path
from recsys.workspace import Workspace
from tests.test_workspace_atomic import FakeModel, shop
ws = Workspace(sys.argv[1])
sizes = [int(x) for x in sys.argv[2].split(',')]
rounds = int(sys.argv[3])
datasets = [shop(n) for n in sizes]
go = Path(sys.argv[1]) / 'go'
print('ready', flush=True)
while not go.exists():
    time.sleep(0.01)
for i in range(rounds):
    ws.save_dataset(datasets[i % len(datasets)], activate=True)
    ws.save_model('shop', FakeModel(i), run='fake')
    ws.save_item_set('shop', 'picked', [str(i)])
"""


def _writer(root: Path, sizes: str, rounds: int = 10**9) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), sizes, str(rounds)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _check_complete(ws: Workspace, sizes: set[int]) -> None:
    """The workspace holds one complete version of each thing the writer saves."""
    assert ws.names() == ["shop"] and ws.active_name() == "shop"
    ds = ws.load_dataset("shop")
    assert ds.n_interactions in sizes
    assert ws.read_meta("shop")["fingerprint"] == ds.fingerprint
    (kept,) = ws.kept_runs("shop")
    i = kept.config["i"]
    assert kept.fingerprint == f"fp{i}"
    with np.load(kept.path / "weights.npz") as weights:
        assert (weights["w"] == i).all() and weights["w"].size == 200_000
    assert len(ws.load_item_set("shop", "picked")) == 1


def test_sigkill_during_saves_keeps_a_complete_version(tmp_path):
    root = tmp_path / "ws"
    ws = Workspace(root)
    ws.save_dataset(shop(3000))
    ws.save_model("shop", FakeModel(-1), run="fake")
    ws.save_item_set("shop", "picked", ["x"])
    rng = random.Random(13)
    for _ in range(15):
        proc = _writer(root, "3000,5000")
        (root / "go").touch()
        time.sleep(rng.uniform(0.02, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        (root / "go").unlink()
        _check_complete(Workspace(root), {3000, 5000})


def test_stale_temps_and_old_versions_are_cleaned_at_start(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    for n in (10, 20, 30):
        ws.save_dataset(shop(n))
        ws.save_model("shop", FakeModel(n), run="fake")
    (tmp_path / "datasets" / ".shop-abc123").mkdir()  # a temp folder of an older version
    (tmp_path / "models" / "shop" / ".fake-xyz").mkdir()
    monkeypatch.setenv("TAILSTUDIO_STALE_S", "0")
    time.sleep(0.05)
    Workspace(tmp_path)
    hidden = [p for p in tmp_path.rglob(".*") if p.parts[-2:] != (".locks",)
              and ".locks" not in p.parts and p.name not in (".store", ".locks")]
    assert hidden == []
    for versions in ((tmp_path / ".store" / "datasets" / "shop"),
                     (tmp_path / ".store" / "models" / "shop" / "fake")):
        assert len(list(versions.iterdir())) == 1
    assert ws.load_dataset("shop").n_interactions == 30
    ws.save_model("shop", FakeModel(40), run="fake")  # a long-lived process prunes on save
    time.sleep(0.05)
    ws.save_model("shop", FakeModel(50), run="fake")
    assert len(list((tmp_path / ".store" / "models" / "shop" / "fake").iterdir())) == 1


def test_hidden_folders_are_never_listed(tmp_path):
    ws = Workspace(tmp_path)
    ws.save_dataset(shop(10))
    ws.save_model("shop", FakeModel(1), run="fake")
    hidden = tmp_path / "models" / "shop" / ".fake-tmp1234"
    hidden.mkdir()
    FakeModel(2).save(hidden)
    (hidden / "results.json").write_text(json.dumps({"run": ".fake-tmp1234", "model": "fake"}))
    shutil_copy = tmp_path / "datasets" / ".shop-tmp"
    shutil_copy.mkdir()
    (shutil_copy / "meta.json").write_text(json.dumps(ws.read_meta("shop")))
    assert [m["run"] for m in ws.list_models("shop")] == ["fake"]
    assert ws.names() == ["shop"]


def test_two_processes_saving_the_same_names_never_fail(tmp_path):
    root = tmp_path / "ws"
    Workspace(root)
    procs = [_writer(root, "300,500", rounds=12), _writer(root, "400", rounds=12)]
    (root / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    _check_complete(Workspace(root), {300, 400, 500})


def test_a_reader_during_writes_sees_a_complete_version(tmp_path):
    root = tmp_path / "ws"
    ws = Workspace(root)
    ws.save_dataset(shop(3000))
    proc = _writer(root, "3000,5000")
    (root / "go").touch()
    try:
        for _ in range(25):
            ds = ws.load_dataset("shop")
            assert ds.n_interactions in (3000, 5000)
            assert ws.names() == ["shop"]
            assert len(ws.kept_runs("shop")) <= 1
    finally:
        proc.kill()
        proc.wait()


def test_names_that_slug_alike_stay_apart(tmp_path):
    ws = Workspace(tmp_path)
    names = ["日本の店", "中国商店", "my shop", "my-shop", "my/shop", "x" * 70, "x" * 64 + "y"]
    keys = [ws.save_dataset(shop(5 + i, name=name)) for i, name in enumerate(names)]
    assert len(set(keys)) == len(names)
    assert all(len(k) <= 64 and "/" not in k for k in keys)
    by_display = {m["display_name"]: m["name"] for m in ws.list_datasets()}
    assert by_display == dict(zip(names, keys, strict=True))
    for i, key in enumerate(keys):
        assert ws.load_dataset(key).n_interactions == 5 + i
    # the same display name replaces its own dataset, and nothing else
    assert ws.save_dataset(shop(99, name="中国商店")) == keys[1]
    assert ws.load_dataset(keys[1]).n_interactions == 99
    assert ws.load_dataset(keys[0]).n_interactions == 5
    assert len(ws.names()) == len(names)
    # a display name also finds its dataset
    assert ws.load_dataset("中国商店").n_interactions == 99


def _broken(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.save_dataset(shop(10, name="good"))
    ws.save_dataset(shop(12, name="bad"))
    ws.save_model("good", FakeModel(1), run="fake")
    ws.save_item_set("good", "fine", ["a"])
    return ws


@pytest.mark.parametrize("damage", ["meta_empty", "meta_list", "meta_no_summary"])
def test_damaged_meta_is_skipped_with_a_warning(tmp_path, caplog, damage):
    ws = _broken(tmp_path)
    text = {"meta_empty": "{}", "meta_list": "[1, 2]",
            "meta_no_summary": json.dumps({**ws.read_meta("bad"), "summary": "?"})}[damage]
    (tmp_path / "datasets" / "bad" / "meta.json").write_text(text)
    with caplog.at_level(logging.WARNING):
        assert ws.names() == ["good"]
    assert "bad" in caplog.text
    with pytest.raises(WorkspaceError, match="bad"):
        ws.load_dataset("bad")
    with pytest.raises(WorkspaceError, match="bad"):
        ws.read_meta("bad")
    ws.delete_dataset("bad")
    assert ws.names() == ["good"]


@pytest.mark.parametrize("text", ['"good"', "[]", '{"dataset": 3}', "{}", "null"])
def test_active_pointer_of_the_wrong_shape(tmp_path, text):
    ws = _broken(tmp_path)
    (tmp_path / "active.json").write_text(text)
    assert ws.active_name() is None
    ws.set_active("good")
    assert ws.active_name() == "good"


def test_item_sets_and_models_of_the_wrong_shape_are_skipped(tmp_path, caplog):
    ws = _broken(tmp_path)
    sets = tmp_path / "item_sets" / "good"
    (sets / "noname.json").write_text(json.dumps({"items": ["a"]}))
    (sets / "items.json").write_text(json.dumps({"name": "items", "items": "abc"}))
    (sets / "list.json").write_text("[]")
    runs = tmp_path / "models" / "good"
    for run, text in (("r1", "{}"), ("r2", "[]"), ("r3", '{"run": "r3", "model": 5}')):
        folder = runs / run
        folder.mkdir()
        FakeModel(1).save(folder)
        (folder / "results.json").write_text(text)
    (runs / "fake" / "model.json").write_text("{}")  # no fingerprint
    with caplog.at_level(logging.WARNING):
        assert [s["name"] for s in ws.list_item_sets("good")] == ["fine"]
        assert ws.list_models("good") == [] and ws.kept_runs("good") == []
    with pytest.raises(WorkspaceError, match="noname"):
        ws.load_item_set("good", "noname")


def test_older_layout_keeps_loading_and_is_replaced_cleanly(tmp_path):
    ws = Workspace(tmp_path / "new")
    ws.save_dataset(shop(10))
    ws.save_model("shop", FakeModel(1), run="fake")
    ws.save_item_map("shop", pd.DataFrame({"item_id": ["i1"], "x": [0.0]}), {"seed": 1})
    old = tmp_path / "old"
    # the older layout: real folders where links are now (a copy without links looks the same)
    import shutil

    shutil.copytree(tmp_path / "new", old, ignore=shutil.ignore_patterns(".store", ".locks"))
    assert not (old / "datasets" / "shop").is_symlink()
    legacy = Workspace(old)
    assert legacy.load_dataset("shop").n_interactions == 10
    assert legacy.kept_runs("shop")[0].config == {"i": 1}
    assert legacy.load_item_map("shop")[1] == {"seed": 1}
    legacy.save_dataset(shop(20))
    legacy.save_model("shop", FakeModel(2), run="fake")
    legacy.save_item_map("shop", pd.DataFrame({"item_id": ["i2"], "x": [1.0]}), {"seed": 2})
    again = Workspace(old)
    assert again.names() == ["shop"] and again.load_dataset("shop").n_interactions == 20
    assert [k.config for k in again.kept_runs("shop")] == [{"i": 2}]
    assert again.load_item_map("shop")[1] == {"seed": 2}
    again.delete_dataset("shop")
    assert again.names() == [] and again.list_models("shop") == []
    assert again.load_item_map("shop") is None


def test_locks_time_out_with_a_message(tmp_path, monkeypatch):
    from filelock import FileLock

    ws = Workspace(tmp_path)
    monkeypatch.setenv("TAILSTUDIO_LOCK_TIMEOUT_S", "0.2")
    with FileLock(tmp_path / ".locks" / "datasets.lock"):
        code = ("import sys; from recsys.workspace import Workspace, WorkspaceError\n"
                "from tests.test_workspace_atomic import shop\n"
                "try:\n    Workspace(sys.argv[1]).save_dataset(shop(5))\n"
                "except WorkspaceError as exc:\n    print(exc)\n")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert "TAILSTUDIO_LOCK_TIMEOUT_S" in out.stdout, out.stderr
    assert ws.names() == []
