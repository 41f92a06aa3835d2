"""``python -m recsys validate``: the report on real files, JSON output, column overrides."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_loaders import ML100K, RETAIL, needs_ml, needs_retail

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@needs_retail
def test_validate_online_retail_json():
    proc = run_cli("validate", "--interactions", str(RETAIL), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["rows_read"] == 541_909
    counts = {i["code"]: i["count"] for i in report["issues"]}
    assert counts["cancelled"] == 9_288
    assert counts["missing_user_id"] == 135_080
    assert report["ok"] is True and report["file_format"] == "online-retail"


@needs_ml
def test_validate_movielens_text():
    proc = run_cli("validate", "--interactions", str(ML100K), "--format", "movielens")
    assert proc.returncode == 0, proc.stderr
    assert "100,000 read, 100,000 kept" in proc.stdout
    assert "users: 943  items: 1,682" in proc.stdout


def test_columns_override(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("buyer,thing,when\nb1,t1,2024-01-01\nb2,t1,2024-01-02\nb2,t2,2024-01-03\n")
    guessed = run_cli("validate", "--interactions", str(path))
    assert guessed.returncode == 1  # 'buyer' / 'thing' are not recognised names
    assert "No user id column" in guessed.stdout
    proc = run_cli("validate", "--interactions", str(path), "--columns",
                   "user_id=buyer,item_id=thing,timestamp=when", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["rows_kept"] == 3 and report["n_users"] == 2
    assert report["mapping"]["roles"]["user_id"] == "buyer"


@pytest.mark.parametrize("bad", ["user_id", "user_id=", "=buyer"])
def test_bad_columns_argument(tmp_path, bad):
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n")
    proc = run_cli("validate", "--interactions", str(path), "--columns", bad)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: bad column mapping")
    assert "Traceback" not in proc.stderr


@needs_ml
def test_recommend_contract(tmp_path):
    out = tmp_path / "recs.csv"
    proc = run_cli("recommend", "--interactions", str(ML100K), "--model", "ease", "--k", "5",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "is_tail"]
    assert recs["user_id"].nunique() == 943  # every user of the input
    assert (recs.groupby("user_id").size() == 5).all()
    assert recs.groupby("user_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert (recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    seen = pd.read_csv(ML100K, sep="\t", header=None, names=["u", "i", "r", "t"], dtype=str)
    overlap = recs.merge(seen, left_on=["user_id", "item_id"], right_on=["u", "i"])
    assert overlap.empty  # only unseen items


@needs_ml
def test_recommend_never_offers_back_items_rated_below_the_threshold(tmp_path):
    """With ratings ≥ 4 as positives, a film rated 1–3 is still seen: kept as context by
    default (never listed), listed again only when those ratings are dropped."""
    import pandas as pd

    rated = pd.read_csv(ML100K, sep="\t", header=None, names=["user_id", "item_id", "r", "t"],
                        dtype={"user_id": str, "item_id": str})
    low = rated.loc[rated["r"] < 4, ["user_id", "item_id"]]
    overlaps = {}
    for mode in ("seen", "drop"):
        out = tmp_path / f"recs-{mode}.csv"
        proc = run_cli("recommend", "--interactions", str(ML100K), "--model", "ease",
                       "--rating-threshold", "4", "--below-threshold", mode, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
        overlaps[mode] = len(recs.merge(low, on=["user_id", "item_id"]))
    assert overlaps["seen"] == 0
    assert overlaps["drop"] > 100  # many lists would otherwise offer films already rated low


def test_recommend_and_evaluate_on_a_small_file(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    users = rng.integers(0, 60, 1500)
    items = (users % 6) * 10 + rng.integers(0, 10, 1500)  # six taste groups
    pd.DataFrame({"customer": users, "sku": items}).drop_duplicates().to_csv(
        tmp_path / "log.csv", index=False)
    out = tmp_path / "recs.parquet"
    proc = run_cli("recommend", "--interactions", str(tmp_path / "log.csv"), "--model", "itemknn",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    recs = pd.read_parquet(out)
    assert recs["user_id"].nunique() == 60
    report = tmp_path / "eval.json"
    proc = run_cli("evaluate", "--interactions", str(tmp_path / "log.csv"), "--models",
                   "pop,itemknn,ease", "--config", '{"ease": {"l2": 50}}', "--json", str(report))
    assert proc.returncode == 0, proc.stderr
    results = {r["model"]: r for r in json.loads(report.read_text())["results"]}
    assert results["ease"]["config"]["l2"] == 50
    assert results["itemknn"]["ndcg"] > results["pop"]["ndcg"]
    assert "ndcg" in proc.stdout and "aplt" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["--model", "nope"], "Unknown model 'nope'"),
    (["--model", "ease", "--config", "{bad"], "--config is not valid JSON"),
    (["--model", "ease", "--config", '{"l3": 1}'], "Extra inputs are not permitted"),
    (["--model", "ease", "--device", "cuda"], "no CUDA GPU"),
])
def test_recommend_errors_are_one_line(tmp_path, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA GPU")
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,a\nu1,b\nu2,a\n")
    proc = run_cli("recommend", "--interactions", str(path), "--out", str(tmp_path / "o.csv"), *args)
    assert proc.returncode != 0
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@needs_ml
def test_evaluate_item_cold_start_without_timestamps(tmp_path, capsys):
    """``--split item-cold`` on a slice of ml-100k with no timestamp column: the header says
    how many items were held out as new, table and JSON carry the new-item figures, and no
    new item reaches training (popularity can never list one)."""
    import pandas as pd

    from recsys.cli import main

    rated = pd.read_csv(ML100K, sep="\t", header=None, names=["user_id", "item_id", "r", "t"])
    small = rated.loc[rated["user_id"] <= 200, ["user_id", "item_id"]]
    small.to_csv(tmp_path / "log.csv", index=False)
    report = tmp_path / "eval.json"
    code = main(["evaluate", "--interactions", str(tmp_path / "log.csv"), "--models",
                 "pop,ease", "--split", "item-cold", "--cold-item-frac", "0.25", "--seed", "3",
                 "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(report.read_text())
    n_items = small["item_id"].nunique()
    assert data["split"]["method"] == "item-cold" and data["split"]["cold_item_frac"] == 0.25
    assert data["new_items"] == round(0.25 * n_items)
    assert f"{data['new_items']:,} of {n_items:,} items held out" in out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["model"])
    assert "new_recall" in header.split() and "new_share" in header.split()
    results = {r["model"]: r for r in data["results"]}
    for r in results.values():
        assert 0.0 <= r["new_recall"] <= 1.0 and 0.0 <= r["new_share"] <= 1.0
        assert r["new_users"] > 0
    assert results["pop"]["new_share"] == 0.0  # new items have no training interaction
    assert results["ease"]["ndcg"] > results["pop"]["ndcg"]


@needs_ml
def test_train_item_cold_start_holds_out_the_asked_share(tmp_path, capsys):
    """``train --split item-cold --cold-item-frac`` holds out that share of items whole, as
    ``evaluate`` does: metrics.json records the share and the figures ``evaluate`` gives with
    the same options (and a different share gives different figures)."""
    import pandas as pd

    from recsys.cli import main

    rated = pd.read_csv(ML100K, sep="\t", header=None, names=["user_id", "item_id", "r", "t"])
    log = tmp_path / "log.csv"
    rated.loc[rated["user_id"] <= 100, ["user_id", "item_id"]].to_csv(log, index=False)
    runs = {}
    for frac in ("0.1", "0.4"):
        split = ["--split", "item-cold", "--cold-item-frac", frac]
        out, report = tmp_path / f"model-{frac}", tmp_path / f"eval-{frac}.json"
        assert main(["train", "--interactions", str(log), "--model", "pop", *split,
                     "--out", str(out)]) == 0
        assert main(["evaluate", "--interactions", str(log), "--models", "pop", *split,
                     "--json", str(report)]) == 0
        record = json.loads((out / "metrics.json").read_text())
        assert record["split"]["method"] == "item-cold"
        assert record["split"]["cold_item_frac"] == float(frac)
        evaluated = json.loads(report.read_text())["results"][0]
        for name in ("ndcg", "recall", "new_recall", "new_share"):
            assert record["metrics"][name] == pytest.approx(evaluated[name]), name
        runs[frac] = record["metrics"]
    capsys.readouterr()
    assert runs["0.1"]["ndcg"] != runs["0.4"]["ndcg"]


@pytest.mark.parametrize("command", [["evaluate", "--models", "pop"],
                                     ["train", "--model", "pop", "--out", "m"]])
def test_cold_item_frac_out_of_range_is_one_line(tmp_path, capsys, command):
    from recsys.cli import main

    (tmp_path / "log.csv").write_text("user_id,item_id\n1,1\n1,2\n2,1\n")
    code = main([command[0], "--interactions", str(tmp_path / "log.csv"), *command[1:],
                 "--split", "item-cold", "--cold-item-frac", "1.5"])
    assert code == 2
    assert "--cold-item-frac must be a share between 0 and 1" in capsys.readouterr().err
