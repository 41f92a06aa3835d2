"""Benchmark: ``auto`` against EASE λ=200 on the independent protocol, one run, side by side.

Protocol: ratings ≥ 4 with lower ratings dropped (ml-100k), 5-core, per-user 80/20 split
(random and per-user temporal for ml-100k; temporal for Online Retail; ``demo:random`` and
``online-retail:random`` and the like on request, the demo shop as generated), seed 0, full ranking,
training items excluded, K = 10. For each case it prints both models' NDCG@10, the ratio, the
inner split ``auto`` used, what it kept and why, and its inner-validation figures (the only
figures its choice saw).

    python benchmarks/bench_auto.py [--cases ml-100k:random,ml-100k:temporal,online-retail:temporal]
                                    [--quick] [--seeds 0] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
log = logging.getLogger("bench_auto")

CASES = "ml-100k:random,ml-100k:temporal,online-retail:temporal"


def load(name: str, split: str, seed: int):
    """The protocol's split of ``name`` (ratings below 4 dropped, 5-core)."""
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files
    from recsys.data.splits import SplitConfig, split_dataset

    if name == "demo":  # the embedded demo shop (implicit purchases, a year of timestamps)
        from recsys.data.demo import generate_demo_shop

        shop = generate_demo_shop(seed=0)
        ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name=name)
        return split_dataset(ds, SplitConfig(method=split, test_frac=0.2, seed=seed))
    if name == "ml-100k":
        r = load_files(SHARED / "ml-100k" / "u.data.gz")
        cfg = DatasetConfig(rating_threshold=4, kcore=5, below_threshold="drop")
    else:
        r = load_files(SHARED / "online-retail" / "online_retail.csv.gz")
        cfg = DatasetConfig(kcore=5)
    ds = build_dataset(r.interactions, r.catalog, users=r.users, name=name, config=cfg)
    return split_dataset(ds, SplitConfig(method=split, test_frac=0.2, seed=seed))


def run_case(name: str, split_name: str, seed: int, quick: bool) -> dict:
    from recsys.evaluation import evaluate_split
    from recsys.models import create_model

    split = load(name, split_name, seed)
    row: dict = {"case": f"{name}:{split_name}", "seed": seed}
    for model_name, config in (("ease", {"l2": 200}), ("auto", {"neural": not quick})):
        t0 = time.perf_counter()
        model = create_model(model_name, config).fit(split.train)
        row[f"{model_name}_s"] = time.perf_counter() - t0
        row[model_name] = evaluate_split(model, split).summary["ndcg"]
        if model_name == "auto":
            row["chosen"] = model.chosen_
            row["report"] = model.report_
            row["search"] = [{k: r[k] for k in ("name", "config", "val_ndcg")}
                             for r in model.search_]
    row["ratio"] = row["auto"] / row["ease"] if row["ease"] else 0.0
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=CASES)
    p.add_argument("--seeds", default="0")
    p.add_argument("--quick", action="store_true", help="no neural candidates (CI)")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found (the shared data sets are not beside the project)")
        return 0
    rows = []
    print(f"{'case':<24} {'seed':>4} {'EASE':>7} {'auto':>7} {'ratio':>6} {'inner':>9}  kept")
    for case in args.cases.split(","):
        name, split_name = case.split(":")
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run_case(name, split_name, seed, args.quick)
            rows.append(r)
            chosen = json.dumps(r["chosen"], sort_keys=True)
            print(f"{r['case']:<24} {seed:>4} {r['ease']:>7.4f} {r['auto']:>7.4f} "
                  f"{r['ratio']:>5.3f}x {r['report']['inner_split']['method']:>9}  "
                  f"{chosen[:90]}", flush=True)
            print(f"{'':<24} why: {r['report']['reason']}; auto {r['auto_s']:.0f} s, "
                  f"EASE {r['ease_s']:.1f} s", flush=True)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
