"""``python -m recsys ope``: the JSON contract, one-line errors with exit code 2 for every bad
log, and the loop export --policy → feedback log → ope."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.feedback.synthetic import make_bandit

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    bandit = make_bandit(0, users=150)
    log, lists = tmp_path / "log.csv", tmp_path / "lists.csv"
    bandit.log_frame.to_csv(log, index=False)
    bandit.lists_frame.to_csv(lists, index=False)
    return log, lists, bandit.log_frame


def test_happy_path_writes_the_json_contract(files, tmp_path):
    log, lists, frame = files
    out = tmp_path / "ope.json"
    proc = run_cli("ope", "--log", str(log), "--lists", str(lists), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(out.read_text())
    assert list(data) == ["estimators", "logged_reward", "rows", "warnings"]
    assert list(data["estimators"]) == ["ips", "snips", "dr"]
    for est in data["estimators"].values():
        assert list(est) == ["value", "stderr", "ci95", "ess"]
        assert len(est["ci95"]) == 2 and est["ci95"][0] <= est["value"] <= est["ci95"][1]
    assert data["rows"] == len(frame)
    assert data["logged_reward"] == pytest.approx(frame["reward"].mean())
    assert "ips" in proc.stdout and "snips" in proc.stdout


def test_estimators_subset_gzip_and_json_on_stdout(files, tmp_path, capsys):
    log, lists, _ = files
    packed = tmp_path / "log.csv.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert main(["ope", "--log", str(packed), "--lists", str(lists), "--estimators", "snips",
                 "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["estimators"]) == ["snips"]


def _bad(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    f = frame.astype({"propensity": object, "position": object, "reward": object})
    if case == "missing column":
        return f.drop(columns="propensity")
    column, value = {"propensity 0": ("propensity", 0), "propensity above 1": ("propensity", 1.5),
                     "propensity negative": ("propensity", -0.2),
                     "propensity text": ("propensity", "high"), "position 0": ("position", 0),
                     "position fraction": ("position", 2.5), "position text": ("position", "top"),
                     "reward text": ("reward", "yes"), "reward blank": ("reward", ""),
                     "user blank": ("user_id", "")}[case]
    f.loc[7, column] = value
    return f


BAD_CASES = ["missing column", "propensity 0", "propensity above 1", "propensity negative",
             "propensity text", "position 0", "position fraction", "position text",
             "reward text", "reward blank", "user blank"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_every_bad_log_exits_2_with_one_line(files, tmp_path, capsys, case):
    _, lists, frame = files
    bad = tmp_path / "bad.csv"
    _bad(frame, case).to_csv(bad, index=False)
    assert main(["ope", "--log", str(bad), "--lists", str(lists)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert "bad.csv" in err
    if case != "missing column" and case != "user blank":
        assert "data row 8" in err  # the eighth row under the header


@pytest.mark.parametrize("case", ["empty", "no file", "binary", "bad lists"])
def test_unreadable_inputs_exit_2(files, tmp_path, case):
    log, lists, _ = files
    path = tmp_path / "x.csv"
    if case == "empty":
        path.write_text("")
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    args = ["ope", "--log", str(path), "--lists", str(lists)]
    if case == "bad lists":
        path.write_text("user_id,item_id\nu1,i1\n")
        args = ["ope", "--log", str(log), "--lists", str(path)]
    proc = run_cli(*args) if case == "empty" else None
    if proc is not None:  # one real process: no traceback, exit 2
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        return
    assert main(args) == 2


def test_bad_estimator_name_exits_2(files, capsys):
    log, lists, _ = files
    assert main(["ope", "--log", str(log), "--lists", str(lists), "--estimators", "ips,ipw"]) == 2
    assert "ipw" in capsys.readouterr().err


def test_exported_exploring_lists_evaluate_off_policy(tmp_path, capsys):
    """export --policy epsilon → rewards on its rows → ope of the greedy lists."""
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    for u in range(40):
        for j in range(6):
            item = (u * 7 + j * j) % 40 if j % 2 else j
            lines.append(f"{1000 + u},P{item:02d},2024-01-{j + 1:02d} 10:00,1")
    inter = tmp_path / "orders.csv"
    inter.write_text("\n".join(lines) + "\n")
    exports = {}
    for policy in ("epsilon", "greedy"):
        out = tmp_path / policy
        code = main(["export", "--interactions", str(inter), "--model", "itemknn", "--k", "4",
                     "--policy", policy, "--exploration", "0.5", "--seed", "3", "--out", str(out)])
        assert code == 0
        exports[policy] = pd.read_csv(next(out.glob("lists-*.csv")), dtype={"user_id": str})
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["policy"]["policy"] == policy and manifest["policy"]["seed"] == 3
    shown = exports["epsilon"]
    rng = np.random.default_rng(0)
    log = shown.rename(columns={"rank": "position"})[["user_id", "item_id", "position",
                                                      "propensity"]]
    log = log.assign(reward=(rng.random(len(log)) < 0.3).astype(int))
    log_path, lists_path = tmp_path / "feedback.csv", tmp_path / "target.csv"
    log.to_csv(log_path, index=False)
    exports["greedy"][["user_id", "item_id", "rank"]].to_csv(lists_path, index=False)
    capsys.readouterr()
    assert main(["ope", "--log", str(log_path), "--lists", str(lists_path), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == len(log)
    assert data["estimators"]["ips"]["ess"] > 0


@pytest.mark.parametrize("extra, flag", [(["--rerank", "tail_bonus", "--strength", "0.5"],
                                          "--rerank"), (["--exploration", "1.5"], "--exploration")])
def test_export_policy_bad_options_exit_2(tmp_path, capsys, extra, flag):
    inter = tmp_path / "orders.csv"
    inter.write_text("user_id,item_id\n1,a\n1,b\n2,a\n")
    code = main(["export", "--interactions", str(inter), "--model", "pop", "--policy", "epsilon",
                 *extra, "--out", str(tmp_path / "o")])
    assert code == 2
    assert flag in capsys.readouterr().err


def test_examination_option_and_its_errors(files, capsys):
    log, lists, _ = files
    assert main(["ope", "--log", str(log), "--lists", str(lists), "--examination", "log",
                 "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["estimators"]["ips"]["ess"] > 0
    for bad in ("1,0.5", "1,0.5,x,0.2", "1,2,0.5,0.4"):
        assert main(["ope", "--log", str(log), "--lists", str(lists), "--examination", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: examination") and "\n" not in err


def test_stochastic_target_lists_with_probabilities(files, tmp_path, capsys):
    log, lists, _ = files
    frame = pd.read_csv(lists)
    half = frame.assign(probability=0.5)  # each listed item at its rank half the time
    path = tmp_path / "half.csv"
    half.to_csv(path, index=False)
    assert main(["ope", "--log", str(log), "--lists", str(lists), "--estimators", "ips",
                 "--json", "-"]) == 0
    full = json.loads(capsys.readouterr().out)["estimators"]["ips"]["value"]
    assert main(["ope", "--log", str(log), "--lists", str(path), "--estimators", "ips",
                 "--json", "-"]) == 0
    halved = json.loads(capsys.readouterr().out)["estimators"]["ips"]["value"]
    assert halved == pytest.approx(full / 2)
    over = pd.concat([half, half.assign(item_id=half["item_id"] + "x", probability=0.6)])
    over.to_csv(path, index=False)
    assert main(["ope", "--log", str(log), "--lists", str(path)]) == 2
    assert "add up to more than 1" in capsys.readouterr().err
