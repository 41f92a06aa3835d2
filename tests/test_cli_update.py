"""``python -m recsys update``: a kept run updated from a feedback file or log becomes a new run
beside the old one (or a folder with ``--out``), with a one-line summary; bad input is one line
on stderr and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.cli import main
from recsys.models import create_model, load_model
from recsys.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def kept(tmp_path: Path) -> tuple[Path, str]:
    """A workspace keeping an EASE run for a small shop; returns its folder and dataset name."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, 80, 900)
    frame = pd.DataFrame({"user_id": [f"c{u}" for u in users],
                          "item_id": [f"p{(u // 3 + k) % 40}" for u, k in
                                      zip(users, rng.integers(0, 8, 900), strict=True)]})
    ds = build_dataset(frame, name="shop")
    ws = Workspace(tmp_path / "ws")
    name = ws.save_dataset(ds)
    ws.save_model(name, create_model("ease").fit(ds, device="cpu"), run="ease")
    return tmp_path / "ws", name


def _write(path: Path, **columns) -> Path:
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_update_keeps_a_new_run_and_prints_one_line(kept, tmp_path, capsys):
    root, name = kept
    feedback = _write(tmp_path / "day1.csv", customer=["c1", "c1", "newcomer"],
                      product=["p30", "p31", "p2"])
    code = main(["update", "--model", "ease", "--feedback", str(feedback), "--workspace",
                 str(root), "--columns", "user_id=customer,item_id=product"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    assert "3 interactions folded in" in out[0] and "ease-updated-1" in out[0]
    runs = {r.run: r for r in Workspace(root).kept_runs(name)}
    assert set(runs) == {"ease", "ease-updated-1"}
    assert "updated from ease with 3 interactions from day1.csv" in \
        (runs["ease-updated-1"].path / "results.json").read_text()
    model = Workspace(root).load_model(name, "ease-updated-1")
    assert model.user_ids_[-1] == "newcomer"
    assert (model.recommend(np.array([model.n_users_ - 1]), 5)[0] >= 0).all()
    assert main(["update", "--model", "ease-updated-1", "--feedback", str(feedback),
                 "--workspace", str(root), "--dataset", name, "--columns",
                 "user_id=customer,item_id=product"]) == 0
    assert "ease-updated-2" in capsys.readouterr().out


def test_a_feedback_log_and_out_folder(kept, tmp_path, capsys):
    root, _ = kept
    log = _write(tmp_path / "log.csv", user_id=["c1", "c2", "c3"], item_id=["p5", "p6", "p7"],
                 position=[1, 2, 1], propensity=[0.5, 0.5, 1.0], reward=[1, 0, 1])
    out = tmp_path / "updated"
    assert main(["update", "--model", "ease", "--feedback", str(log), "--workspace", str(root),
                 "--out", str(out)]) == 0
    assert "2 interactions folded in" in capsys.readouterr().out
    model = load_model(out)
    assert model.seen_[list(model.user_ids_).index("c3"), list(model.item_ids_).index("p7")] > 0
    assert (out / "update.json").is_file()
    again = tmp_path / "again"
    assert main(["update", "--model", str(out), "--feedback", str(log), "--out",
                 str(again)]) == 0  # a folder with its own ids needs no dataset


def _fails(capsys, *argv: str) -> str:
    code = main(["update", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def test_bad_input_is_one_line_and_exit_2(kept, tmp_path, capsys):
    root, _ = kept
    good = _write(tmp_path / "good.csv", user_id=["c1"], item_id=["p1"])
    ws = ["--workspace", str(root)]
    assert "no such file" in _fails(capsys, "--model", "ease", "--feedback",
                                    str(tmp_path / "missing.csv"), *ws)
    assert "No kept model 'nope'" in _fails(capsys, "--model", "nope", "--feedback", str(good),
                                            *ws)
    assert "No dataset named" in _fails(capsys, "--model", "ease", "--feedback", str(good),
                                        "--dataset", "other", *ws)
    wrong = _write(tmp_path / "wrong.csv", foo=["a"], bar=["b"])
    assert "user id" in _fails(capsys, "--model", "ease", "--feedback", str(wrong), *ws)
    bad_log = _write(tmp_path / "bad_log.csv", user_id=["c1"], item_id=["p1"], position=[1],
                     propensity=[2.0], reward=[1])
    assert "propensity" in _fails(capsys, "--model", "ease", "--feedback", str(bad_log), *ws)
    no_reward = _write(tmp_path / "no_reward.csv", user_id=["c1"], item_id=["p1"],
                       position=[1], propensity=[0.5], reward=[0])
    assert "reward" in _fails(capsys, "--model", "ease", "--feedback", str(no_reward), *ws)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in _fails(capsys, "--model", "ease", "--feedback", str(empty), *ws)
    assert "--columns" in _fails(capsys, "--model", "ease", "--feedback", str(good), *ws,
                                 "--columns", "shop=user_id")
    assert "--epochs must be between 0 and" in _fails(capsys, "--model", "ease", "--feedback",
                                                      str(good), *ws, "--epochs", "-1")
    assert "must not be the model's own folder" in _fails(
        capsys, "--model", str(next((root / "models").iterdir()) / "ease"), "--feedback",
        str(good), "--out", str(next((root / "models").iterdir()) / "ease"), *ws)


def test_a_model_folder_without_ids_needs_its_dataset(kept, tmp_path, capsys):
    root, name = kept
    folder = tmp_path / "plain"
    Workspace(root).load_model(name, "ease").save(folder)
    good = _write(tmp_path / "good.csv", user_id=["c1"], item_id=["p1"])
    assert "--dataset" in _fails(capsys, "--model", str(folder), "--feedback", str(good))
    assert main(["update", "--model", str(folder), "--feedback", str(good), "--workspace",
                 str(root), "--dataset", name]) == 0
    assert (tmp_path / "plain-updated-1" / "model.json").is_file()


def test_the_command_line_has_no_traceback(kept, tmp_path):
    root, _ = kept
    bad = _write(tmp_path / "bad.csv", user_id=["c1"], item_id=["p1"], position=[0],
                 propensity=[0.5], reward=[1])
    proc = subprocess.run([sys.executable, "-m", "recsys", "update", "--model", "ease",
                           "--feedback", str(bad), "--workspace", str(root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2 and "position" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_epochs_reach_a_torch_model_and_zero_is_the_fold_in_only(kept, tmp_path, capsys):
    """``--epochs N`` runs N incremental epochs of a kept torch model (the summary says so);
    ``--epochs 0`` folds in only."""
    root, name = kept
    ws = Workspace(root)
    ws.save_model(name, create_model("bpr", {"epochs": 2, "factors": 8}).fit(
        ws.load_dataset(name), device="cpu"), run="bpr")
    feedback = _write(tmp_path / "day1.csv", user_id=["c1", "c2"], item_id=["p30", "p31"])
    argv = ["update", "--model", "bpr", "--feedback", str(feedback), "--workspace", str(root)]
    assert main([*argv, "--epochs", "2"]) == 0
    assert "2 warm epochs of its training loop" in capsys.readouterr().out
    assert main([*argv, "--epochs", "0"]) == 0
    assert "warm epoch" not in capsys.readouterr().out
