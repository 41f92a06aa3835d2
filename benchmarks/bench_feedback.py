"""Exploration and off-policy evaluation: estimator accuracy, policy speed, and a replay on
Online Retail with an off-policy check whose truth is known.

1. **Synthetic logged bandit** (:mod:`recsys.feedback.synthetic`, exact truth): over
   ``--seeds`` seeds, the bias, RMSE, mean standard error and 95 % interval coverage of IPS,
   SNIPS, DR and the naive logged average.
2. **Policy speed**: ``--users`` users × 200 candidate columns, K = 10, each policy (Thompson
   with its default 100 draws), milliseconds per call.
3. **Online Retail replay** (needs ``../shared/data`` or ``TAILSTUDIO_SHARED_DATA``): the model
   fitted before the last ``--days`` days, then each policy replayed day by day: hits, tail
   hits, tail items discovered, tail exposure. Then the off-policy check: the greedy lists'
   hit rate per slot estimated from the ε-greedy replay's log, against what greedy actually
   earned on the same user-days (in a replay a slot's reward is whether that user bought that
   item that day, so per-slot independence holds exactly and the truth is known).

    python benchmarks/bench_feedback.py [--seeds 50] [--users 4000] [--days 14] [--model ease]
                                        [--skip-retail | --only-retail]
    python benchmarks/bench_feedback.py --only-retail --inner --pseudo-hits 10,100,1000

``--inner`` replays the ``--days`` days *before* the last ones (the replayed days of the main
run never seen): the validation replay on which Thompson's prior weight was chosen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys import build_dataset, load_files  # noqa: E402
from recsys.feedback import PolicyConfig, explore, thompson  # noqa: E402
from recsys.feedback.logs import check_lists, check_log  # noqa: E402
from recsys.feedback.ope import off_policy_estimates  # noqa: E402
from recsys.feedback.replay import ReplayConfig, replay  # noqa: E402
from recsys.feedback.synthetic import make_bandit  # noqa: E402
from recsys.models import create_model  # noqa: E402

SHARED = Path(os.environ.get("TAILSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
RETAIL = SHARED / "online-retail" / "online_retail.csv.gz"
POLICIES = [("greedy", 0.0), ("epsilon", 0.1), ("epsilon", 0.3), ("thompson", 0.1),
            ("thompson", 0.3), ("linucb", 0.1), ("linucb", 0.3)]


def synthetic(seeds: int) -> None:
    errors: dict[str, list[float]] = {n: [] for n in ("ips", "snips", "dr", "naive")}
    ses: dict[str, list[float]] = {n: [] for n in ("ips", "snips", "dr")}
    cover: dict[str, int] = {n: 0 for n in ("ips", "snips", "dr")}
    t0 = time.perf_counter()
    for seed in range(seeds):
        bandit = make_bandit(seed)
        res = off_policy_estimates(bandit.log, bandit.target, seed=seed)
        for name, est in res.estimators.items():
            errors[name].append(est.value - bandit.truth)
            ses[name].append(est.stderr)
            cover[name] += est.ci95[0] <= bandit.truth <= est.ci95[1]
        errors["naive"].append(res.logged_reward - bandit.truth)
    per = (time.perf_counter() - t0) / seeds
    print(f"synthetic bandit: {seeds} seeds, 800 users x 3 lists x 4 slots (9,600 rows), "
          f"20 items; {per * 1000:.0f} ms per estimate (3 estimators, 200 bootstraps)")
    print(f"{'estimator':>10} {'bias':>8} {'rmse':>8} {'mean se':>8} {'95% cover':>10}")
    for name, errs in errors.items():
        e = np.asarray(errs)
        se = f"{np.mean(ses[name]):8.4f}" if name in ses else f"{'-':>8}"
        cov = f"{cover[name]}/{seeds}" if name in cover else "-"
        print(f"{name:>10} {e.mean():8.4f} {np.sqrt((e ** 2).mean()):8.4f} {se} {cov:>10}")


def speed(users: int) -> None:
    rng = np.random.default_rng(0)
    n_items, cols, k = 5000, 200, 10
    items = np.stack([rng.choice(n_items, cols, replace=False) for _ in range(users)])
    scores = -np.sort(rng.random((users, cols)), axis=1)
    targets = rng.random(n_items) < 0.6
    vectors = rng.normal(size=(n_items, 32))
    exposure = rng.integers(0, 50, n_items).astype(float)
    print(f"\npolicy speed: {users:,} users x {cols} candidates, K={k}")
    for policy in ("greedy", "epsilon", "thompson", "linucb"):
        cfg = PolicyConfig(policy=policy, exploration=0.3)
        t0 = time.perf_counter()
        explore(np.arange(users), items, scores, k, cfg, targets=targets, vectors=vectors,
                exposure=exposure)
        print(f"{policy:>10} {(time.perf_counter() - t0) * 1000:8.0f} ms")


def retail(days: int, model_name: str, inner: bool, pseudo_hits: list[float]) -> None:
    if not RETAIL.exists():
        print(f"\nOnline Retail replay skipped: {RETAIL} not found (set TAILSTUDIO_SHARED_DATA)")
        return
    loaded = load_files(RETAIL)
    inter = loaded.interactions
    where = "the last"
    if inner:  # validation: drop the replayed days, replay the days before them
        stamps = pd.to_datetime(inter["timestamp"])
        start = stamps.max().normalize() - pd.Timedelta(days=days - 1)
        inter = inter.loc[stamps < start]
        where = f"the {days} days before the last"
    ds = build_dataset(inter, loaded.catalog, name="online-retail")
    print(f"\nOnline Retail{' (inner validation replay)' if inner else ''}: {ds.n_users:,} users "
          f"x {ds.n_items:,} items; {model_name} fitted before {where} {days} days, K=10, 100 "
          "candidates (+100 tail / new)")
    if pseudo_hits:
        sweep(ds, days, model_name, pseudo_hits)
        return
    print(f"{'policy':>10} {'weight':>6} {'user-days':>9} {'hits':>6} {'hit/slot':>8} "
          f"{'tail hits':>9} {'discovered':>10} {'tail exp':>8} {'seconds':>7}")
    runs = {}
    for policy, weight in POLICIES:
        res = replay(create_model(model_name), ds,
                     PolicyConfig(policy=policy, exploration=weight, seed=0),
                     ReplayConfig(days=days, k=10, candidates=100))
        s = res.summary
        runs[(policy, weight)] = res
        print(f"{policy:>10} {weight:6.1f} {s['user_days']:9,} {s['hits']:6,} "
              f"{s['hit_rate_per_slot']:8.4f} {s['tail_hits']:9,} {s['tail_items_discovered']:10,} "
              f"{s['tail_exposure']:8.3f} {s['seconds']:7.1f}")
    greedy = runs[("greedy", 0.0)]
    target = greedy.log.assign(user_id=greedy.log["user_id"] + "@" + greedy.log["day"].astype(str))
    lists = check_lists(target.rename(columns={"position": "rank"})[["user_id", "item_id", "rank"]])
    truth = greedy.summary["hit_rate_per_slot"]
    print(f"\noff-policy check: greedy's hit rate per slot, truth {truth:.4f} (its own replay)")
    for weight in (0.1, 0.3):
        logged = runs[("epsilon", weight)].log
        logged = logged.assign(user_id=logged["user_id"] + "@" + logged["day"].astype(str))
        res = off_policy_estimates(check_log(logged), lists, seed=0)
        for name, est in res.estimators.items():
            print(f"  from epsilon {weight:.1f}: {name:>5} {est.value:.4f} (se {est.stderr:.4f}, "
                  f"95% [{est.ci95[0]:.4f}, {est.ci95[1]:.4f}], ess {est.ess:,.0f}); logged "
                  f"average {res.logged_reward:.4f}")
        for line in res.warnings:
            print(f"  warning: {line}")


def sweep(ds, days: int, model_name: str, pseudo_hits: list[float]) -> None:
    """Thompson's prior weight (pseudo-hits at weight 0) against greedy, at weights 0.1 / 0.3."""
    base = replay(create_model(model_name), ds, PolicyConfig(policy="greedy"),
                  ReplayConfig(days=days)).summary
    print(f"greedy: hit/slot {base['hit_rate_per_slot']:.4f}, discovered "
          f"{base['tail_items_discovered']}, tail exposure {base['tail_exposure']:.3f}")
    print(f"{'pseudo-hits':>11} {'weight':>6} {'hit/slot':>8} {'vs greedy':>9} {'discovered':>10} "
          f"{'tail exp':>8}")
    for most in pseudo_hits:
        thompson.PSEUDO_HITS = most
        for weight in (0.1, 0.3):
            s = replay(create_model(model_name), ds,
                       PolicyConfig(policy="thompson", exploration=weight, seed=0),
                       ReplayConfig(days=days)).summary
            print(f"{most:11g} {weight:6.1f} {s['hit_rate_per_slot']:8.4f} "
                  f"{s['hit_rate_per_slot'] / base['hit_rate_per_slot']:9.3f} "
                  f"{s['tail_items_discovered']:10,} {s['tail_exposure']:8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--model", default="ease")
    parser.add_argument("--skip-retail", action="store_true")
    parser.add_argument("--only-retail", action="store_true")
    parser.add_argument("--inner", action="store_true", help="replay the days before the last "
                        "--days instead (a validation replay for choosing defaults)")
    parser.add_argument("--pseudo-hits", default="", help="with --inner: sweep Thompson's prior "
                        "weight, e.g. 30,100,1000")
    args = parser.parse_args()
    if not args.only_retail:
        synthetic(args.seeds)
        speed(args.users)
    if not args.skip_retail:
        retail(args.days, args.model, args.inner,
               [float(x) for x in args.pseudo_hits.split(",") if x.strip()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
