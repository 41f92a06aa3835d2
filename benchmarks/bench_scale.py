"""Benchmark: a generated shop from 10,000 to 100,000 customers (1M with --full), per stage.

For every size (products = customers / 10, purchases = customers × 10) it generates the shop
(``python -m recsys demo``), then, in one child process per model, reads and validates it in
batches, trains, recommends the top 10 for every customer (streamed to Parquet) and exports
tail-boost lists (CSV + manifest), then (with Ray installed) starts a local Ray on the same cores
and exports the same lists with ``--engine ray``: the ratio against the local export is printed,
with whether both files are identical. Each stage gets its wall time and its own peak resident memory
(the process's high-water mark is reset between stages through ``/proc/self/clear_refs``). The
``implicit`` library's ALS and BPR run in their own child on the same matrix with the same factors,
iterations, regularisation and confidence (implicit's ``alpha`` on a binary matrix is our
``1 + alpha``), recommending for every customer too. The last column is the time per customer
of training + recommending (it should stay flat as the shop grows).

    python benchmarks/bench_scale.py            # 10k and 100k customers
    python benchmarks/bench_scale.py --quick    # 50k customers, ALS only (about 2 minutes)
    python benchmarks/bench_scale.py --full     # 10k, 100k and 1M (by hand: ~16 GB, long)
    python benchmarks/bench_scale.py --read-rows 10000000   # plain vs batched reading only
    python benchmarks/bench_scale.py --whatif [--quick]     # What-if slider: sample vs everyone

``--whatif`` times what one What-if slider move costs (re-rank every measured customer's 100
candidates with a tail bonus, measure the lists and the unboosted ones, their 95 % bands and
the paired deltas) on a random split of a 200,000-customer shop (``--quick``: 50,000), once on
every evaluation customer and once on the seeded sample the dashboard measures
(``TAILSTUDIO_EVAL_USERS``, 20,000), with the time to score the candidates (page load), the
ratio, and the full population's NDCG beside the sample's band. The model is a small ALS (32
factors, 3 iterations): the slider's cost does not depend on the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
log = logging.getLogger("bench_scale")

ALS = {"factors": 64, "iterations": 15, "regularization": 50.0, "alpha": 10.0}
BPR = {"factors": 64, "epochs": 100, "lr": 0.05, "l2": 0.01, "solver": "sgd",
       "sgd_threads": 0}  # every core the child has (NUMBA_NUM_THREADS), as implicit
K = 10


def peak_mb() -> float:
    """This process's resident high-water mark since the last :func:`reset_peak`, in MB."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def reset_peak() -> None:
    """Start a new high-water mark (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not permitted: the figure is then the process's peak so far
        pass


class Stages:
    """Times and peaks of the stages of one child process."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn: Any) -> Any:
        reset_peak()
        t0 = time.perf_counter()
        out = fn()
        self.rows[name] = {"seconds": time.perf_counter() - t0, "peak_mb": peak_mb()}
        return out


def _read(folder: Path) -> Any:
    from recsys.data.batched import read_batched
    from recsys.data.dataset import build_dataset

    result = read_batched(folder / "interactions.parquet", folder / "catalog.parquet")
    return build_dataset(result.interactions, result.catalog, name=folder.name)


def worker_read(folder: Path, reader: str) -> dict[str, Any]:
    """Read + validate + build the Dataset with the plain or the batched reader."""
    from recsys.data.dataset import build_dataset
    from recsys.data.formats import load_files

    st = Stages()

    def read() -> Any:
        if reader == "batched":
            return _read(folder)
        result = load_files(folder / "interactions.parquet", folder / "catalog.parquet")
        return build_dataset(result.interactions, result.catalog, name=folder.name)

    ds = st.run(f"read {reader}", read)
    return {"users": ds.n_users, "items": ds.n_items, "pairs": ds.n_pairs, "stages": st.rows}


def read_comparison(rows: int, env: dict[str, str], tmp: Path) -> None:
    """Peak memory and time of reading ``rows`` purchases (customers = rows / 50, 20,000
    products), plain against batched, each in a fresh process."""
    users = rows // 50
    folder = tmp / f"read-{rows}"
    cmd = [sys.executable, "-m", "recsys", "demo", "--users", str(users), "--items", "20000",
           "--interactions", str(rows), "--out", str(folder)]
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    print(f"{'rows':>12} {'reader':>8} {'seconds':>9} {'peak MB':>9}")
    for reader in ("plain", "batched"):
        row = _child(["--worker", "read", reader, str(folder), str(folder)], env)
        if "error" in row:
            print(f"{rows:>12,} {reader:>8} failed: {row['error']}")
            continue
        fig = row["stages"][f"read {reader}"]
        print(f"{rows:>12,} {reader:>8} {fig['seconds']:>9.1f} {fig['peak_mb']:>9.0f}")


def worker_own(folder: Path, model_name: str, out: Path, ray_cpus: int = 0) -> dict[str, Any]:
    """Read, train, recommend all (streamed), export: our engine; with ``ray_cpus`` also a
    local Ray of that many CPUs started and the same export run on it."""
    import numpy as np

    from recsys.cli.recommend import block_users, list_frame
    from recsys.export.lists import ExportConfig, export_lists
    from recsys.export.writers import open_table_writer
    from recsys.models import create_model
    from recsys.rerank import make_lists

    st = Stages()
    ds = st.run("read+validate", lambda: _read(folder))
    config = ALS if model_name == "als" else BPR
    model = create_model(model_name, config)
    st.run(f"train {model_name}", lambda: model.fit(ds, device="cpu"))

    def recommend_all() -> int:
        block, rows = block_users(ds.n_items), 0
        with open_table_writer(out / f"{model_name}.parquet") as writer:
            for start in range(0, ds.n_users, block):
                users = np.arange(start, min(start + block, ds.n_users))
                lists = make_lists(model, ds, users, K, candidates=K)
                frame = list_frame(ds, users, np.asarray(lists.items), np.asarray(lists.score))
                writer.write(frame)
                rows += len(frame)
        return rows

    st.run("recommend all", recommend_all)
    local = st.run("export", lambda: export_lists(model, ds, out / f"export-{model_name}",
                                                  ExportConfig(k=K, candidates=K)))
    row: dict[str, Any] = {"users": ds.n_users, "items": ds.n_items, "pairs": ds.n_pairs,
                           "stages": st.rows}
    if ray_cpus:
        from recsys.export.engines import RayEngine

        engine = st.run("ray start", lambda: RayEngine(num_cpus=ray_cpus))
        try:
            on_ray = st.run("export ray", lambda: export_lists(
                model, ds, out / f"export-{model_name}-ray", ExportConfig(k=K, candidates=K),
                engine=engine))
        finally:
            engine.close()
        row["same_lists"] = on_ray.manifest["files"] == local.manifest["files"]  # SHA-256
    return row


def worker_implicit(folder: Path, model_name: str, threads: int) -> dict[str, Any]:
    """The same matrix through ``implicit`` (fit, then recommend for every customer)."""
    import numpy as np
    import scipy.sparse as sp

    st = Stages()
    ds = st.run("read+validate", lambda: _read(folder))
    binary = (sp.csr_matrix(ds.matrix) > 0).astype(np.float32).tocsr()
    if model_name == "als":
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(factors=ALS["factors"], iterations=ALS["iterations"],
                                        regularization=ALS["regularization"],
                                        alpha=1.0 + ALS["alpha"], random_state=0,
                                        num_threads=threads, calculate_training_loss=False)
    else:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(factors=BPR["factors"], iterations=BPR["epochs"],
                                            learning_rate=BPR["lr"], regularization=BPR["l2"],
                                            random_state=0, num_threads=threads)
    st.run(f"train {model_name}", lambda: model.fit(binary, show_progress=False))

    def recommend_all() -> None:
        block = 20_000
        for start in range(0, ds.n_users, block):
            users = np.arange(start, min(start + block, ds.n_users))
            model.recommend(users, binary[users], N=K, filter_already_liked_items=True)

    st.run("recommend all", recommend_all)
    return {"users": ds.n_users, "items": ds.n_items, "pairs": ds.n_pairs, "stages": st.rows}


def whatif_latency(folder: Path, repeats: int = 3) -> dict[str, Any]:
    """One What-if slider move on every evaluation customer and on the dashboard's sample."""
    import numpy as np

    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models import create_model
    from recsys.rerank import RerankConfig, candidates_from_model, lists_from_candidates
    from recsys.rerank.bands import banded_pair, measure_banded
    from recsys.sampling import SampleConfig, sample_users

    ds = _read(folder)
    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    model = create_model("als", {"factors": 32, "iterations": 3}).fit(split.train, device="cpu")
    step = RerankConfig(method="tail_bonus", strength=0.3)
    out: dict[str, Any] = {"customers": ds.n_users, "products": ds.n_items}
    for label, cfg in (("every customer", SampleConfig(max_users=100_000_000)),
                       ("sample", SampleConfig())):
        sample = sample_users(split.test_users, cfg)
        t0 = time.perf_counter()
        cands = candidates_from_model(model, split.train, sample.users, c=100)
        score_s = time.perf_counter() - t0
        moves = []
        for _ in range(repeats):
            t1 = time.perf_counter()
            result = lists_from_candidates(cands, split.train, K, steps=step)
            now = measure_banded(result, split.train, split.test, cands.users)
            base = measure_banded(cands.top(K), split.train, split.test, cands.users)
            bands, deltas = banded_pair(now, base)
            moves.append(time.perf_counter() - t1)
        out[label] = {"users": sample.size, "score_s": score_s,
                      "move_ms": 1000 * float(np.median(moves)), "ndcg": bands["ndcg"].value,
                      "ndcg_low": bands["ndcg"].low, "ndcg_high": bands["ndcg"].high,
                      "ndcg_change_low": deltas["ndcg"].low,
                      "ndcg_change_high": deltas["ndcg"].high}
        del cands, result
    return out


def print_whatif(row: dict[str, Any]) -> None:
    print(f"What-if slider move, {row['customers']:,} customers × {row['products']:,} products "
          "(tail bonus 0.3, K = 10, 100 candidates):")
    print(f"{'measured on':>16} {'customers':>10} {'score (s)':>10} {'move (ms)':>10} "
          f"{'NDCG@10 (95 % band)':>28} {'change (95 % band)':>22}")
    for label in ("every customer", "sample"):
        r = row[label]
        print(f"{label:>16} {r['users']:>10,} {r['score_s']:>10.1f} {r['move_ms']:>10.0f} "
              f"{r['ndcg']:>9.4f} ({r['ndcg_low']:.4f}–{r['ndcg_high']:.4f}) "
              f"{r['ndcg_change_low']:>+10.4f} to {r['ndcg_change_high']:+.4f}")
    full, part = row["every customer"], row["sample"]
    inside = part["ndcg_low"] <= full["ndcg"] <= part["ndcg_high"]
    print(f"ratio every customer / sample: move {full['move_ms'] / part['move_ms']:.1f}×, "
          f"scoring {full['score_s'] / max(part['score_s'], 1e-9):.1f}×; the sample's NDCG band "
          f"{'holds' if inside else 'misses'} every customer's NDCG")


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _generate(folder: Path, users: int, env: dict[str, str]) -> dict[str, float]:
    cmd = [sys.executable, "-c", "import sys, resource; from recsys.cli import main; code = main("
           "sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
           "sys.exit(code)", "demo", "--users", str(users), "--items", str(users // 10),
           "--interactions", str(users * 10), "--out", str(folder)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return {"seconds": time.perf_counter() - t0,
            "peak_mb": int(proc.stdout.strip().splitlines()[-1]) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k customers only")
    parser.add_argument("--full", action="store_true", help="also 1M customers (by hand)")
    parser.add_argument("--sizes", type=int, nargs="*", help="customer counts to run")
    parser.add_argument("--models", nargs="*", choices=["als", "bpr"],
                        help="models to run (default als and bpr; --quick: als)")
    parser.add_argument("--threads", type=int, default=2, help="threads per process (default 2)")
    parser.add_argument("--no-implicit", action="store_true", help="skip the implicit peer")
    parser.add_argument("--no-ray", action="store_true", help="skip the export on Ray")
    parser.add_argument("--ray", action="store_true", help=argparse.SUPPRESS)  # worker: Ray too
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--read-rows", type=int, help="only compare the plain and the batched "
                        "reader on a file of this many purchases")
    parser.add_argument("--whatif", action="store_true", help="only the What-if slider move "
                        "on every customer vs the dashboard's sample")
    parser.add_argument("--worker", nargs=4, metavar=("ENGINE", "MODEL", "FOLDER", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, model, folder, out = args.worker
        import torch

        torch.set_num_threads(args.threads)
        if engine == "read":
            print(json.dumps(worker_read(Path(folder), model)))
            return 0
        if engine == "whatif":
            print(json.dumps(whatif_latency(Path(folder))))
            return 0
        fn = worker_own if engine == "own" else worker_implicit
        extra = ((Path(out), args.threads if args.ray else 0) if engine == "own"
                 else (args.threads,))
        print(json.dumps(fn(Path(folder), model, *extra)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    sizes = args.sizes or ([50_000] if args.quick else [10_000, 100_000] + ([1_000_000]
                                                                            if args.full else []))
    env = {**os.environ, "NUMBA_NUM_THREADS": str(args.threads),
           "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads),
           "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR",
                                             str(Path.home() / ".cache/tail-studio/numba"))}
    if args.read_rows:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            read_comparison(args.read_rows, env, Path(tmp))
        return 0
    if args.whatif:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            for users in args.sizes or ([50_000] if args.quick else [200_000]):
                folder = Path(tmp) / f"shop-{users}"
                gen = _generate(folder, users, env)
                log.info("generated %d customers in %.1f s", users, gen["seconds"])
                row = _child(["--threads", str(args.threads), "--worker", "whatif", "-",
                              str(folder), "-"], env)
                if "error" in row:
                    print(f"What-if benchmark failed: {row['error']}")
                    return 1
                print_whatif(row)
                sys.stdout.flush()
        return 0
    try:
        import implicit  # noqa: F401
        peers = not args.no_implicit
    except ImportError:
        log.info("implicit is not installed (pip install -r requirements-bench.txt): no peer")
        peers = False
    try:
        import ray  # noqa: F401
        on_ray = not args.no_ray
    except ImportError:
        log.info("ray is not installed (pip install -r requirements-scale.txt): no Ray export")
        on_ray = False
    models = args.models or (["als"] if args.quick else ["als", "bpr"])
    results: list[dict[str, Any]] = []
    print(f"{'customers':>10} {'engine':>9} {'model':>5} {'stage':>14} {'seconds':>9} "
          f"{'peak MB':>9} {'ms/1k cust':>11}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for users in sizes:
            folder = Path(tmp) / f"shop-{users}"
            gen = _generate(folder, users, env)
            print(f"{users:>10,} {'own':>9} {'':>5} {'generate':>14} {gen['seconds']:>9.1f} "
                  f"{gen['peak_mb']:>9.0f}")
            results.append({"users": users, "engine": "own", "model": "", "stages":
                            {"generate": gen}})
            for model in models:
                for engine in ["own"] + (["implicit"] if peers else []):
                    out = Path(tmp) / f"out-{users}-{engine}"
                    out.mkdir(exist_ok=True)
                    ray_flag = ["--ray"] if on_ray and engine == "own" else []
                    row = _child(["--threads", str(args.threads), *ray_flag, "--worker", engine,
                                  model, str(folder), str(out)], env)
                    row.update(users=users, engine=engine, model=model)
                    results.append(row)
                    if "error" in row:
                        print(f"{users:>10,} {engine:>9} {model:>5} failed: {row['error']}")
                        continue
                    for stage, fig in row["stages"].items():
                        per = ""
                        if stage.startswith("train") or stage == "recommend all":
                            per = f"{1e6 * fig['seconds'] / users:>11.1f}"
                        print(f"{users:>10,} {engine:>9} {model:>5} {stage:>14} "
                              f"{fig['seconds']:>9.1f} {fig['peak_mb']:>9.0f} {per}")
                    total = sum(row["stages"][s]["seconds"] for s in row["stages"]
                                if s.startswith("train") or s == "recommend all")
                    print(f"{users:>10,} {engine:>9} {model:>5} {'train+recommend':>14} "
                          f"{total:>9.1f} {'':>9} {1e6 * total / users:>11.1f}")
                    if "export ray" in row["stages"]:
                        fig = row["stages"]
                        print(f"{users:>10,} {'ray':>9} {model:>5} export on Ray / local: "
                              f"{fig['export ray']['seconds'] / fig['export']['seconds']:.2f}x "
                              f"({args.threads} CPUs, Ray start "
                              f"{fig['ray start']['seconds']:.1f}s not counted; same lists: "
                              f"{'yes' if row['same_lists'] else 'NO'})")
                    sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
