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
