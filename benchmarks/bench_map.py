"""Item-map speed: Online Retail's ~4,000 items from raw text to a clustered UMAP map.

Each measurement of a *cold* map runs in a fresh Python process (imports, numba, the sentence
model and the text embedding all included); the *warm* map is the next one in the same process
with another seed (vectors memoised, numba compiled), as on a running dashboard.

* full run: a first-ever map (empty numba cache dir), a cold map with the numba cache kept from
  it, a warm map, all with the sentence model; then 100,000 synthetic items (collaborative
  vectors of a generated shop, UMAP, HDBSCAN).
* ``--quick`` (CI, about a minute): TF-IDF text vectors and the persistent numba cache of
  ``NUMBA_CACHE_DIR``; cold and warm only, no 100k run.

Targets on a 2-core machine: cold < 30 s, warm < 10 s, 100k items < 3 min.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TAILSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
RETAIL = SHARED / "online-retail" / "online_retail.csv.gz"
TARGETS = {"cold": 30.0, "warm": 10.0, "100k": 180.0}


def _child(text_method: str, out: Path) -> None:
    """One process: load the data, then a cold and a warm map; timings to ``out`` as JSON."""
    t0 = time.perf_counter()
    from recsys import build_dataset
    from recsys.loaders import load_files

    result = load_files(RETAIL)
    ds = build_dataset(result.interactions, result.catalog, name="online-retail")
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    from recsys.maps import MapConfig, build_map

    config = MapConfig(method="umap", text_method=text_method)
    frame = build_map(ds, config)
    cold_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    warm = build_map(ds, config.model_copy(update={"seed": 1}))
    warm_s = time.perf_counter() - t2
    out.write_text(json.dumps({
        "items": ds.n_items, "load_s": load_s, "cold_s": cold_s, "warm_s": warm_s,
        "cold_steps": frame.attrs["timings"], "warm_steps": warm.attrs["timings"],
        "embedding": frame.attrs["embedding"], "clusters": frame.attrs["n_clusters"],
        "tail_clusters": frame.attrs["n_tail_clusters"]}))


def _run_child(text_method: str, numba_dir: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "NUMBA_CACHE_DIR": numba_dir, "TAILSTUDIO_WORKSPACE": tmp,
               "RECSYS_DEVICE": os.environ.get("RECSYS_DEVICE", "auto")}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", text_method, str(out)], env=env,
                       check=True)
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - t0
        return result


def _row(name: str, seconds: float, target: float) -> str:
    verdict = "ok" if seconds <= target else "over"
    return f"  {name:<46} {seconds:8.1f} s   target < {target:5.0f} s   ({seconds / target:4.2f}× target, {verdict})"


def _report(label: str, r: dict) -> None:
    steps = r["cold_steps"]
    print(f"{label}: {r['items']:,} items · {r['embedding']} · {r['clusters']} clusters, "
          f"{r['tail_clusters']} tail clusters")
    print(f"  data load (ingest, not counted)                {r['load_s']:8.1f} s")
    print(_row("cold map (imports + numba + model + embed)", r["cold_s"], TARGETS["cold"]))
    print(f"    vectors {steps['vectors_s']:.1f} s · projection {steps['projection_s']:.1f} s · "
          f"clustering {steps['clustering_s']:.1f} s · stats {steps['stats_s']:.1f} s")
    print(_row("warm map (same process, new seed)", r["warm_s"], TARGETS["warm"]))


def _synthetic_100k(n_items: int = 100_000, n_users: int = 30_000, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    from recsys import build_dataset
    from recsys.maps import MapConfig, build_map

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 200, size=n_items)
    words = np.array([f"w{g}" for g in range(200)])
    catalog = pd.DataFrame({"item_id": [f"S{i:06d}" for i in range(n_items)],
                            "title": [f"{words[g]} item {words[(g * 7) % 200]}" for g in groups]})
    per_user = 20
    users = np.repeat(np.arange(n_users), per_user)
    taste = rng.integers(0, 200, size=n_users)
    # users mostly buy within two favourite groups; popularity is skewed inside each group
    fav = np.where(rng.random(len(users)) < 0.8, taste[users], rng.integers(0, 200, len(users)))
    order = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[order], np.arange(200))
    sizes = np.bincount(groups, minlength=200)
    pick = (rng.pareto(1.5, size=len(users)) * 3).astype(np.int64) % np.maximum(sizes[fav], 1)
    items = order[starts[fav] + pick]
    inter = pd.DataFrame({"user_id": users.astype(str), "item_id": catalog["item_id"].to_numpy()[items]})
    ds = build_dataset(inter, catalog, name="synthetic-100k")
    t0 = time.perf_counter()
    frame = build_map(ds, MapConfig(source="cf", method="umap"))
    seconds = time.perf_counter() - t0
    st = frame.attrs["timings"]
    print(f"synthetic: {ds.n_items:,} items, {ds.n_users:,} users, {ds.n_pairs:,} pairs · "
          f"{frame.attrs['n_clusters']} clusters, {frame.attrs['n_tail_clusters']} tail clusters")
    print(_row("100k items: cf vectors → UMAP → HDBSCAN", seconds, TARGETS["100k"]))
    print(f"    vectors {st['vectors_s']:.1f} s · projection {st['projection_s']:.1f} s · "
          f"clustering {st['clustering_s']:.1f} s · stats {st['stats_s']:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI run: TF-IDF text, persistent "
                        "numba cache, no 100k run")
    parser.add_argument("--child", nargs=2, metavar=("TEXT_METHOD", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    print(f"item-map benchmark on {os.cpu_count()} CPU cores")
    if not RETAIL.exists():
        print(f"Online Retail not found at {RETAIL}; skipping the text-map runs")
    elif args.quick:
        numba_dir = os.environ.get("NUMBA_CACHE_DIR") or str(ROOT / ".cache" / "numba")
        _report("Online Retail, TF-IDF text, persistent numba cache",
                _run_child("tfidf", numba_dir))
    else:
        with tempfile.TemporaryDirectory() as numba_dir:
            _report("Online Retail, sentence model, EMPTY numba cache (first run ever)",
                    _run_child("auto", numba_dir))
            _report("Online Retail, sentence model, numba cache kept from the run above",
                    _run_child("auto", numba_dir))
        _report("Online Retail, TF-IDF fallback, persistent numba cache",
                _run_child("tfidf", os.environ.get("NUMBA_CACHE_DIR")
                           or str(ROOT / ".cache" / "numba")))
    if not args.quick:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
        _synthetic_100k()
    return 0


if __name__ == "__main__":
    sys.exit(main())
