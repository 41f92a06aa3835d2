"""Benchmark: data-parallel training under ``torchrun`` (DDP) against one process.

Each model is trained by ``python -m recsys train`` in one process and under ``torchrun
--nproc-per-node N`` on the same generated shop (:mod:`recsys.data.scale_shop`), split and
seeds, then measured on the same held-out part. Reported per model and process count: the
steady epoch time (median of the fit's per-epoch ``seconds``: start-up, reading and validation
excluded), the examples per second of all ranks together, NDCG@10 (mean, and min–max over the
seeds), and the ratios against one process measured in the same run: the speed-up
(epoch time 1 / epoch time N) and the NDCG difference.

On the CPU the processes use gloo and one thread each (``OMP_NUM_THREADS=1``; the one-process
row gets the same single thread, so the ratio is the parallel speed-up and not a thread count);
with CUDA the same table is made for 1 GPU against every GPU of the machine (NCCL).

``--quick`` is the shop and configs of ``tests/test_ddp.py``; with ``--seeds 5`` it prints the
seed-to-seed spread the test's tolerance is taken from.

    python benchmarks/bench_ddp.py [--quick] [--seeds 3] [--nproc 2] [--models bpr,multvae,sasrec]
                                   [--users 20000 --items 5000 --interactions 400000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Shop sizes (users, items, interactions): the default run and ``--quick`` (the test's).
SIZES = {"full": (20_000, 5_000, 400_000), "quick": (1_200, 600, 24_000)}
#: Model configs of each mode (the quick ones are ``tests/test_ddp.py``'s).
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {"bpr": {"epochs": 5, "batch_size": 8192},
             "multvae": {"epochs": 5},
             "sasrec": {"epochs": 3, "loss": "sampled", "max_len": 30, "text_init": False}},
    "quick": {"bpr": {"epochs": 8, "batch_size": 1024},
              "multvae": {"epochs": 10, "encoder": [200, 64], "batch_size": 128},
              "sasrec": {"epochs": 3, "dim": 16, "blocks": 1, "max_len": 20, "text_init": False}},
}


def train(shop: Path, out: Path, model: str, config: dict[str, Any], nproc: int, device: str) -> dict[str, Any]:
    """One ``recsys train`` run; its ``metrics.json`` plus the epochs' history."""
    launcher = [sys.executable] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--standalone"]
    cmd = [*launcher, "-m", "recsys", "train", "--interactions", str(shop / "interactions.csv"),
           "--model", model, "--config", json.dumps(config), "--out", str(out), "--device", device]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{model} with {nproc} process(es) failed:\n{proc.stderr[-3000:]}")
    record = json.loads((out / "metrics.json").read_text())
    record["history"] = json.loads((out / "model.json").read_text())["history"]
    return record


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median epoch time, examples per second of all ranks, and NDCG over the seeds' runs."""
    epoch_s = statistics.median(h["seconds"] for r in runs for h in r["history"])
    examples = statistics.median(h["examples_per_s"] for r in runs for h in r["history"])
    ndcg = [r["metrics"]["ndcg"] for r in runs]
    return {"epoch_s": epoch_s, "examples_per_s": examples, "ndcg": statistics.fmean(ndcg),
            "ndcg_min": min(ndcg), "ndcg_max": max(ndcg),
            "ndcg_sd": statistics.stdev(ndcg) if len(ndcg) > 1 else 0.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the test's small shop and configs")
    p.add_argument("--models", default="bpr,multvae,sasrec")
    p.add_argument("--seeds", type=int, default=1, help="model seeds per row (0..N-1)")
    p.add_argument("--nproc", type=int, default=2, help="CPU processes against one (default 2)")
    p.add_argument("--users", type=int)
    p.add_argument("--items", type=int)
    p.add_argument("--interactions", type=int)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()

    import torch

    from recsys.data.scale_shop import write_scale_shop

    mode = "quick" if args.quick else "full"
    users, items, inter = SIZES[mode]
    users, items, inter = args.users or users, args.items or items, args.interactions or inter
    setups = [("cpu", args.nproc)]
    if torch.cuda.is_available():
        setups.append(("cuda", torch.cuda.device_count()))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop"
        write_scale_shop(shop, n_users=users, n_items=items, n_interactions=inter, seed=0, fmt="csv")
        print(f"shop: {users:,} customers x {items:,} products x {inter:,} purchases; "
              f"seeds 0..{args.seeds - 1}; OMP_NUM_THREADS=1 per process")
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            for device, n in setups:
                base = None
                for nproc in sorted({1, n}):
                    runs = [train(shop, Path(tmp) / f"{model}-{device}-{nproc}-{seed}", model,
                                  {**CONFIGS[mode][model], "seed": seed}, nproc, device)
                            for seed in range(args.seeds)]
                    row = {"model": model, "device": device, "procs": nproc, **summarise(runs),
                           "world_size": runs[0]["world_size"]}
                    base = base or row
                    row["speedup"] = base["epoch_s"] / row["epoch_s"]
                    row["ndcg_diff"] = row["ndcg"] - base["ndcg"]
                    rows.append(row)
                    print(f"{model:8} {device:4} procs={nproc} epoch {row['epoch_s']:7.3f}s "
                          f"{row['examples_per_s']:10,.0f} ex/s  NDCG@10 {row['ndcg']:.4f} "
                          f"[{row['ndcg_min']:.4f}-{row['ndcg_max']:.4f}, sd {row['ndcg_sd']:.4f}]  "
                          f"speed-up x{row['speedup']:.2f}  NDCG {row['ndcg_diff']:+.4f} vs 1 process",
                          flush=True)
                if n == 1 and device == "cuda":
                    print(f"{model:8} cuda: one GPU only, no multi-GPU row")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
