"""``python -m recsys map``: exact columns in CSV and Parquet, one-line errors, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from recsys.cli import main
from recsys.maps import MAP_COLUMNS

from .test_maps_data import write_shop_files

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_shop_files(tmp_path_factory.mktemp("shop"))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_map_writes_exact_columns(files, tmp_path, suffix):
    inter, cat = files
    out = tmp_path / f"map.{suffix}"
    code = main(["map", "--interactions", inter, "--catalog", cat, "--method", "pca", "--seed", "1",
                 "--config", '{"text_method": "tfidf", "cluster_on": "embedding"}', "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert tuple(frame.columns) == MAP_COLUMNS
    assert len(frame) == 180 and frame["item_id"].is_unique
    assert frame["cluster"].max() >= 3 and frame["is_tail_cluster"].any()
    assert frame["x"].notna().all()


def test_map_all_columns_and_cf_source(files, tmp_path):
    inter, _ = files
    out = tmp_path / "cf.csv"
    assert main(["map", "--interactions", inter, "--source", "cf", "--method", "pca",
                 "--all-columns", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert tuple(frame.columns[:7]) == MAP_COLUMNS and "popularity" in frame.columns


def test_map_errors_are_one_line(files, tmp_path, capsys):
    inter, cat = files
    out = str(tmp_path / "m.csv")
    assert main(["map", "--interactions", inter, "--out", out]) == 2  # text needs a catalog
    assert "--catalog" in capsys.readouterr().err
    assert main(["map", "--interactions", inter, "--catalog", cat, "--config", '{"n_neighbors": 1}',
                 "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n_neighbors" in err
    assert main(["map", "--interactions", inter, "--catalog", cat, "--config", "{oops",
                 "--out", out]) == 2
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("user_id,item_id\nu1,a\nu1,b\nu2,a\n")
    assert main(["map", "--interactions", str(tiny), "--source", "cf", "--out", out]) == 1
    assert "at least 5" in capsys.readouterr().err
