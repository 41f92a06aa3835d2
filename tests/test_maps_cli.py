"""``python -m recsys map``: exact columns in CSV and Parquet, one-line errors, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.maps import MAP_COLUMNS

from .test_loaders import RETAIL, needs_retail
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


def test_warmup_compiles_into_the_cache_once(tmp_path):
    """A fresh process (numba reads its cache folder at start-up), as ``scripts/setup.sh`` runs it."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    cache = tmp_path / "numba"
    env = {**os.environ, "TAILSTUDIO_WORKSPACE": str(tmp_path / "ws")}
    env.pop("NUMBA_CACHE_DIR", None)
    cmd = [sys.executable, "-m", "recsys", "warmup", "--cache-dir", str(cache)]
    first = subprocess.run([*cmd, "--json"], cwd=root, env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert not report["skipped"] and report["cache_dir"] == str(cache.resolve())
    assert {"umap_cosine_s", "umap_euclidean_s", "umap_large_s", "hdbscan_s"} <= set(report["steps"])
    compiled = {p.name.split("-")[0] for p in cache.rglob("*.nbi")}
    assert any(name.startswith("layouts.") for name in compiled), compiled  # UMAP's layout
    assert any(name.startswith("umap_.") for name in compiled), compiled  # and its graph
    assert (cache / "tailstudio-warmup.json").is_file()
    again = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already warm" in again.stdout


def test_lazy_pynndescent_import_still_finds_neighbours():
    """pynndescent imported with its signatures deferred compiles what it runs, and works."""
    from recsys.maps import import_umap

    import_umap()
    from pynndescent import NNDescent

    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    idx, _ = NNDescent(x, n_neighbors=5, random_state=0, n_jobs=1).neighbor_graph
    assert idx.shape == (300, 5) and (idx[:, 0] == np.arange(300)).all()


@needs_retail
def test_same_seed_same_map_in_separate_processes(tmp_path):
    """Two processes, same data and seed ⇒ byte-identical maps. Online Retail's text graph has
    many pieces, where umap-learn's spectral start used to differ from process to process."""
    import subprocess
    import sys

    retail = RETAIL
    root = Path(__file__).resolve().parent.parent
    outs = []
    for run in range(2):
        out = tmp_path / f"map{run}.csv"
        cmd = [sys.executable, "-m", "recsys", "map", "--interactions", str(retail), "--catalog",
               str(retail), "--config", '{"text_method": "tfidf"}', "--seed", "3", "--out", str(out)]
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
