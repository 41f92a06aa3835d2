"""Item-map speed: Online Retail's ~4,000 items from raw text to a clustered UMAP map; 100k items.

Each measurement of a *cold* map runs in a fresh Python process (imports, numba, the sentence
model and the text embedding all included); the *warm* map is the next one in the same process
with another seed (vectors memoised, numba loaded), as on a running dashboard.

* full run: Online Retail with the sentence model (1) first ever, with an empty numba cache
  folder (everything compiles), (2) cold with a numba cache warmed by ``python -m recsys
  warmup`` (what ``scripts/setup.sh`` leaves for the dashboard), then warm; (3) cold with
  TF-IDF text; then a 100,000-item synthetic shop with planted product groups (TF-IDF + SVD of
  the interactions as hybrid vectors, approximate neighbours, UMAP, HDBSCAN), with the share of
  the planted groups recovered (adjusted Rand index). ``--repeats N`` repeats every run.
* ``--quick`` (CI, 20–40 s): warm-up of the persistent ``NUMBA_CACHE_DIR`` (skipped when
  already warm), then a cold and a warm TF-IDF map of Online Retail; no 100k run.

Targets on a 2-core machine: cold < 30 s, warm < 10 s, 100k items < 3 min. Every figure is
printed with its ratio to the target.
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
    from recsys.data.formats import load_files

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
    if len(r.get("runs_s", [])) > 1:
        print(f"    runs: {', '.join(f'{s:.1f} s' for s in r['runs_s'])}")
    print(f"    vectors {steps['vectors_s']:.1f} s · projection {steps['projection_s']:.1f} s · "
          f"clustering {steps['clustering_s']:.1f} s · stats {steps['stats_s']:.1f} s")
    print(_row("warm map (same process, new seed)", r["warm_s"], TARGETS["warm"]))


def synthetic_shop(n_items: int = 100_000, n_clusters: int = 40, n_users: int = 50_000,
                   seed: int = 0):
    """A generated shop with planted product groups: (interactions, catalog, planted labels).

    ``n_clusters`` groups of lognormal sizes (0.2 % to ~8 % of the items); every group has its
    own eight made-up words, a title takes two of them (the first word is the most common), a
    word its family of related groups shares half the time, and one or two generic words
    ("vintage", "set", …). A quarter of the groups hardly sell (tail-heavy); users buy mostly in
    two favourite groups, with popularity falling off steeply by an item's rank in its group.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    w = rng.lognormal(0.0, 0.9, n_clusters)
    w = np.maximum(w / w.sum(), 0.002)
    sizes = rng.multinomial(n_items, w / w.sum())
    planted = np.repeat(np.arange(n_clusters), sizes)
    rng.shuffle(planted)
    syllables = np.array(["ka", "lo", "mi", "ne", "ru", "to", "vi", "sa", "de", "po", "gu", "fe",
                          "zi", "ba", "ho", "ly"])

    def words(count: int) -> np.ndarray:
        return np.array(["".join(s) for s in syllables[rng.integers(0, len(syllables), (count, 3))]])

    own = words(n_clusters * 8).reshape(n_clusters, 8)
    n_families = max(1, n_clusters // 4)
    family_words = words(n_families * 3).reshape(n_families, 3)
    family = rng.integers(0, n_families, n_clusters)
    generic = np.array(["classic", "deluxe", "small", "large", "mini", "set", "pack", "blue",
                        "green", "red", "white", "black", "vintage", "modern", "retro", "gift",
                        "home", "kids"])
    zipf8 = 1.0 / np.arange(1, 9)
    zipf7 = 1.0 / np.arange(1, 8)
    first = rng.choice(8, size=n_items, p=zipf8 / zipf8.sum())
    second = (first + 1 + rng.choice(7, size=n_items, p=zipf7 / zipf7.sum())) % 8
    fam = np.where(rng.random(n_items) < 0.5,
                   family_words[family[planted], rng.integers(0, 3, n_items)], "")
    extra = np.where(rng.random(n_items) < 0.4, generic[rng.integers(0, len(generic), n_items)], "")
    titles = (pd.Series(generic[rng.integers(0, len(generic), n_items)]) + " " + own[planted, first]
              + " " + own[planted, second] + " " + fam + " " + extra).str.split().str.join(" ")
    catalog = pd.DataFrame({"item_id": [f"S{i:06d}" for i in range(n_items)], "title": titles,
                            "category": [f"family-{f}" for f in family[planted]],
                            "price": np.round(rng.lognormal(2.5, 0.6, n_items), 2)})
    tail_groups = rng.choice(n_clusters, size=n_clusters // 4, replace=False)
    appeal = rng.lognormal(0.0, 0.5, n_clusters)
    appeal[tail_groups] *= 0.03
    appeal /= appeal.sum()
    users = np.repeat(np.arange(n_users), rng.geometric(1 / 20, size=n_users))
    favourite = rng.choice(n_clusters, size=(n_users, 2), p=appeal)
    group = favourite[users, rng.integers(0, 2, len(users))]
    stray = rng.random(len(users)) < 0.1
    group[stray] = rng.integers(0, n_clusters, int(stray.sum()))
    order = np.argsort(planted, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.minimum((sizes[group] * rng.power(0.3, len(users))).astype(np.int64), sizes[group] - 1)
    items = order[starts[group] + rank]
    inter = pd.DataFrame({"user_id": users.astype(str),
                          "item_id": catalog["item_id"].to_numpy()[items]})
    return inter, catalog, planted


def _synthetic(n_items: int, repeats: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from recsys import build_dataset
    from recsys.maps import MapConfig, build_map, clear_memo
    from recsys.maps._numba import import_umap

    inter, catalog, planted = synthetic_shop(n_items)
    ds = build_dataset(inter, catalog, name=f"synthetic-{n_items}")
    planted = planted[pd.Index(catalog["item_id"]).get_indexer(ds.item_ids)]
    import_umap()  # numba loading is measured by the Online Retail runs
    config = MapConfig(source="hybrid", text_method="tfidf", method="umap")
    runs = []
    for _ in range(repeats):
        clear_memo()
        t0 = time.perf_counter()
        frame = build_map(ds, config)
        runs.append((time.perf_counter() - t0, frame))
    seconds = [r[0] for r in runs]
    frame = runs[int(np.argsort(seconds)[len(seconds) // 2])][1]
    st = frame.attrs["timings"]
    labels = frame["cluster"].to_numpy()
    print(f"synthetic shop: {ds.n_items:,} items in {len(np.unique(planted))} planted groups, "
          f"{ds.n_users:,} users, {ds.n_pairs:,} pairs, {ds.is_tail.mean():.0%} tail items · "
          f"{frame.attrs['n_clusters']} clusters ({(labels < 0).mean():.0%} noise), "
          f"{frame.attrs['n_tail_clusters']} tail clusters · planted groups recovered: ARI "
          f"{adjusted_rand_score(planted, labels):.2f} · neighbours {frame.attrs['neighbours']}")
    print(_row(f"{n_items // 1000}k items: hybrid vectors → UMAP → HDBSCAN (median)",
               float(np.median(seconds)), TARGETS["100k"]))
    if len(seconds) > 1:
        print(f"    runs: {', '.join(f'{s:.1f} s' for s in seconds)}")
    print(f"    vectors {st['vectors_s']:.1f} s · projection {st['projection_s']:.1f} s · "
          f"clustering {st['clustering_s']:.1f} s · stats {st['stats_s']:.1f} s")


def _warm(numba_dir: str) -> dict:
    """``python -m recsys warmup`` into ``numba_dir`` in its own process; its JSON report."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "recsys", "warmup", "--cache-dir", numba_dir,
                           "--json"], cwd=ROOT, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    report["process_s"] = time.perf_counter() - t0
    return report


def _median(runs: list[dict]) -> dict:
    """The run with the median cold time (all cold times kept under ``runs_s``)."""
    ordered = sorted(runs, key=lambda r: r["cold_s"])
    pick = dict(ordered[len(ordered) // 2])
    pick["runs_s"] = [r["cold_s"] for r in runs]
    return pick


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI run: warm-up, TF-IDF text, "
                        "persistent numba cache, no 100k run")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement "
                        "(median reported; default 1)")
    parser.add_argument("--items", type=int, default=100_000, help="synthetic catalog size")
    parser.add_argument("--child", nargs=2, metavar=("TEXT_METHOD", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    repeats = max(1, args.repeats)
    print(f"item-map benchmark on {os.cpu_count()} CPU cores (load average now "
          f"{os.getloadavg()[0]:.1f}: timings include whatever else runs on the machine)")
    persistent = os.environ.get("NUMBA_CACHE_DIR") or str(ROOT / ".cache" / "numba")
    if not RETAIL.exists():
        print(f"Online Retail not found at {RETAIL}; skipping the text-map runs")
    elif args.quick:
        w = _warm(persistent)
        state = "already warm" if w["skipped"] else f"compiled in {w['seconds']:.1f} s"
        print(f"numba warm-up of {persistent}: {state} ({w['process_s']:.1f} s with the process)")
        _report("Online Retail, TF-IDF text, warmed numba cache",
                _median([_run_child("tfidf", persistent) for _ in range(repeats)]))
    else:
        first = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as empty:
                first.append(_run_child("auto", empty))
        _report("Online Retail, sentence model, EMPTY numba cache (first map ever, no warm-up)",
                _median(first))
        with tempfile.TemporaryDirectory() as numba_dir:
            w = _warm(numba_dir)
            print(f"python -m recsys warmup (scripts/setup.sh): {w['seconds']:.1f} s of "
                  f"compilation, {w['process_s']:.1f} s with the process")
            _report("Online Retail, sentence model, numba cache warmed by setup",
                    _median([_run_child("auto", numba_dir) for _ in range(repeats)]))
            _report("Online Retail, TF-IDF text, numba cache warmed by setup",
                    _median([_run_child("tfidf", numba_dir) for _ in range(repeats)]))
    if not args.quick:
        os.environ.setdefault("NUMBA_CACHE_DIR", persistent)
        _synthetic(args.items, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
