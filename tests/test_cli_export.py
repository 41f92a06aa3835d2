"""``python -m recsys export``: lists + manifest in a folder, every seen item excluded, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys.cli import main
from recsys.export import EXPORT_COLUMNS, read_export
from tests.test_loaders import ML100K, needs_ml

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture
def shop_files(tmp_path: Path) -> tuple[Path, Path]:
    """30 customers × 40 products (a popular head), a catalog with a formula-like title."""
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    for u in range(30):
        for j in range(6):
            item = (u * 7 + j * j) % 40 if j % 2 else j  # items 0-5 are bought by everyone
            lines.append(f"{1000 + u},P{item:02d},2024-01-{j + 1:02d} 10:00,1")
    inter = tmp_path / "orders.csv"
    inter.write_text("\n".join(lines) + "\n")
    cat = tmp_path / "products.csv"
    cat.write_text("item_id,title\n" + "\n".join(
        f"P{i:02d},{'=cmd()' if i == 7 else f'Product {i}'}" for i in range(40)) + "\n")
    return inter, cat


def test_export_csv_with_rerank(shop_files, tmp_path: Path):
    inter, cat = shop_files
    out = tmp_path / "out"
    proc = run_cli("export", "--interactions", str(inter), "--catalog", str(cat), "--model", "itemknn",
                   "--rerank", "tail_bonus", "--strength", "0.8", "--k", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "rows for 30 users" in proc.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["lists-all.csv", "manifest.json"]
    frame = read_export(out / "lists-all.csv")
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    assert frame["user_id"].nunique() == 30 and frame.groupby("user_id").size().max() == 5
    orders = pd.read_csv(inter, dtype=str)
    seen = set(zip(orders["CustomerID"], orders["StockCode"], strict=True))
    assert not any(p in seen for p in zip(frame["user_id"], frame["item_id"], strict=True))
    raw = (out / "lists-all.csv").read_text()
    assert ",=cmd()" not in raw  # neutralised (if listed at all)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["name"] == "itemknn" and manifest["model"]["trained_on"] == "all interactions"
    assert manifest["rerank"][0]["method"] == "tail_bonus" and manifest["rerank"][0]["strength"] == 0.8
    assert manifest["rows"] == len(frame) and manifest["format"] == "csv"
    assert len(manifest["dataset"]["fingerprint"]) == 16


def test_export_global_promotion_by_expected_loss_records_its_hit_model(shop_files,
                                                                       tmp_path: Path):
    inter, cat = shop_files
    out = tmp_path / "out"
    proc = run_cli("export", "--interactions", str(inter), "--catalog", str(cat), "--model",
                   "itemknn", "--rerank", "promotion", "--strength", "0.6", "--rerank-options",
                   '{"allocation": "global", "swap_cost": "expected"}', "--k", "5",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    step = manifest["rerank"][0]
    assert (step["method"], step["allocation"], step["swap_cost"]) == (
        "promotion", "global", "expected")
    hits = manifest["hit_model"]
    assert hits["features"][0] == "log_score_ratio" and len(hits["coef"]) == len(hits["features"])
    assert hits["n_pairs"] > 0
    frame = read_export(out / "lists-all.csv")
    assert frame["boosted"].any() and frame["is_tail"].any()


@pytest.mark.parametrize("fmt,name", [("parquet", "lists-all.parquet"), ("json", "lists-all.jsonl")])
def test_export_other_formats_and_segment(shop_files, tmp_path: Path, fmt: str, name: str):
    inter, _ = shop_files
    out = tmp_path / "out"
    proc = run_cli("export", "--interactions", str(inter), "--model", "pop", "--format", fmt,
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    frame = read_export(out / name)
    assert frame["user_id"].nunique() == 30 and not frame["boosted"].any()
    assert json.loads((out / "manifest.json").read_text())["rerank"] == []
    seg = run_cli("export", "--interactions", str(inter), "--model", "pop", "--format", fmt,
                  "--segment", "heavy", "--out", str(tmp_path / "seg"))
    assert seg.returncode == 0, seg.stderr
    assert read_export(tmp_path / "seg" / name.replace("all", "segment-heavy"))["user_id"].nunique() == 3


@pytest.mark.parametrize("args,code,message", [
    (["--model", "nope"], 2, "Unknown model 'nope'"),
    (["--model", "pop", "--strength", "0.3"], 2, "--strength needs --rerank"),
    (["--model", "pop", "--rerank", "tail_bonus"], 2, "--rerank needs --strength"),
    (["--model", "pop", "--rerank", "tail_bonus", "--strength", "1.5"], 2, "strength"),
    (["--model", "pop", "--config", "{bad"], 2, "--config is not valid JSON"),
    (["--model", "pop", "--rerank", "promotion", "--strength", "0.5", "--rerank-options",
      '{"quota_share": 3}'], 2, "--rerank-options: quota_share"),
    (["--model", "pop", "--rerank", "magic"], 2, "invalid choice"),
    (["--model", "pop", "--format", "xlsx"], 2, "invalid choice"),
])
def test_bad_arguments_one_line(shop_files, tmp_path: Path, capsys, args, code, message):
    inter, _ = shop_files
    argv = ["export", "--interactions", str(inter), *args, "--out", str(tmp_path / "o")]
    if "invalid choice" in message:  # argparse refuses it (and prints its usage)
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == code
    else:
        assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    if "invalid choice" not in message:
        assert err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "o").exists()


def test_bad_data_exit_code(tmp_path: Path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("CustomerID,StockCode\n,\n")
    assert main(["export", "--interactions", str(path), "--model", "pop", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@needs_ml
def test_export_movielens(tmp_path: Path):
    out = tmp_path / "ml"
    proc = run_cli("export", "--interactions", str(ML100K), "--input-format", "movielens", "--model", "ease",
                   "--rerank", "xquad", "--strength", "0.5", "--format", "parquet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    frame = read_export(out / "lists-all.parquet")
    assert frame["user_id"].nunique() == 943 and len(frame) == 9430
    assert json.loads((out / "manifest.json").read_text())["users"] == 943
