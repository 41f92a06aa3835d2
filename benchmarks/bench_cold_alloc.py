"""Benchmark: could new-product slots be allocated per user instead of by one global scale?

The hybrid's ``scale_search`` (:mod:`recsys.models.cold_scale`) multiplies the cold-item part
(content + generated scores) by one factor for every user, chosen on an inner item cold start
split of the training data. This measures, on that same inner split (the hybrid's own, fitted
exactly as in ``fit``; test pairs are never read), what per-user allocation could add:

* **per user group**: Recall@10 of every factor within groups of users (terciles of history
  length × halves of the mean log-popularity of their products), the paired gain of each
  group's best factor over the global one and its standard error;
* **calibrated merge**: each user's warm list (EASE + content at ×1, warm items only) and
  new-product list (cold-item score, new items only) merged greedily by P(hit), calibrated on
  half of the users (warm: by position and history-length tercile; new: by score decile),
  evaluated on the other half against the global factors there;
* **oracle**: every user's best factor (an upper bound, partly noise);
* each with the catalog's never-sold products (no pair in the training matrix) kept out of the
  inner lists, as ``scale_search`` does, or a share of them competing (``--unsold``), as in the
  benchmark's lists.

    python benchmarks/bench_cold_alloc.py [--datasets demo,online-retail] [--seed 0]
                                          [--inner] [--unsold 0,0.2,1]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def inner_arrays(name: str, seed: int, inner: bool) -> dict[str, np.ndarray]:
    """Scores of the scale search's inner users: collaborative and cold parts, the inner
    truth, the users' inner history lengths and popularity feature, and item masks."""
    import bench_coldstart as bc
    import scipy.sparse as sp

    import recsys.models.cold_scale as cs
    from recsys.models import create_model

    split, _ = bc.protocol_split(bc.load(name), seed, inner)
    seen: dict[str, object] = {}
    original = cs.choose_cold_scale

    def capture(x, parts, **kw):  # type: ignore[no-untyped-def]
        seen["x"], seen["parts"] = x, parts
        return original(x, parts, **kw)

    cs.choose_cold_scale = capture
    try:
        create_model("hybrid", {"seed": seed}).fit(split.train)
    finally:
        cs.choose_cold_scale = original
    x = sp.csr_matrix(seen["x"])
    train, test = cs.inner_item_cold_split(x, seed)
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    if len(users) > cs.MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, cs.MAX_USERS, replace=False))
    collab, cold = seen["parts"](train)(users)  # type: ignore[operator]
    listed = np.diff(x.tocsc().indptr) > 0
    pop = np.diff(train.tocsc().indptr)
    rows = train[users]
    length = np.diff(rows.indptr)
    mean_pop = np.asarray(rows @ np.log1p(pop).astype(np.float32)).ravel() / np.maximum(length, 1)
    return {"collab": collab, "cold": cold, "known": rows.toarray() > 0,
            "truth": test[users].toarray() > 0, "n_rel": np.minimum(np.diff(test.indptr)[users], 10),
            "hidden": listed & (pop == 0), "unsold": ~listed, "length": length,
            "mean_pop": mean_pop}


def recall_of(scores: np.ndarray, a: dict[str, np.ndarray], blocked: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-user Recall@10 and number of no-pair products in the top 10."""
    s = np.where(blocked, -np.inf, scores)
    top = np.argpartition(-s, 9, axis=1)[:, :10]
    hits = np.take_along_axis(a["truth"], top, 1).sum(1) / a["n_rel"]
    fresh = (a["hidden"] | a["unsold"])[top].sum(1)
    return hits, fresh


def report(name: str, a: dict[str, np.ndarray], unsold_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    unsold = np.flatnonzero(a["unsold"])
    compete = np.zeros_like(a["unsold"])
    compete[rng.choice(unsold, round(unsold_share * len(unsold)), replace=False)] = True
    blocked = a["known"] | (a["unsold"] & ~compete)[None, :]
    per, fresh = {}, {}
    for s in SCALES:
        per[s], fresh[s] = recall_of(a["collab"] + np.float32(s) * a["cold"], a, blocked)
    best = max(SCALES, key=lambda s: per[s].mean())
    print(f"\n{name}: {len(a['n_rel']):,} inner users, {int(a['hidden'].sum()):,} hidden "
          f"products, {len(unsold):,} never-sold of which {int(compete.sum()):,} compete")
    print("  global: " + "  ".join(f"×{s:g} {per[s].mean():.4f} ({fresh[s].mean():.2f} new/list)"
                                   for s in SCALES) + f"  → ×{best:g}")
    oracle = np.vstack([per[s] for s in SCALES]).max(0).mean()
    print(f"  oracle (each user's best factor): {oracle:.4f}")
    le = np.quantile(a["length"], [1 / 3, 2 / 3])
    pe = np.quantile(a["mean_pop"], [0.5])
    group = np.searchsorted(le, a["length"], side="right") * 2 + np.searchsorted(
        pe, a["mean_pop"], side="right")
    for g in range(6):
        m = group == g
        if m.sum() < 2:
            continue
        top = max(SCALES, key=lambda s: per[s][m].mean())
        d = per[top][m] - per[best][m]
        se = d.std(ddof=1) / np.sqrt(m.sum())
        print(f"  group {g} (length bin {g // 2}, popularity bin {g % 2}), {int(m.sum())} users: "
              + " ".join(f"×{s:g} {per[s][m].mean():.4f}" for s in SCALES)
              + f"; best ×{top:g}, gain {d.mean():+.4f} ± {se:.4f} (1 s.e.)")
    merge(a, blocked, per, group, seed)


def merge(a: dict[str, np.ndarray], blocked: np.ndarray, per: dict[float, np.ndarray],
          group: np.ndarray, seed: int) -> None:
    """Greedy P(hit) merge of a warm list and a new-product list (module docstring)."""
    fresh = (a["hidden"] | a["unsold"])[None, :]
    warm = np.where(blocked | fresh, -np.inf, a["collab"] + a["cold"])
    new = np.where(blocked | ~fresh, -np.inf, a["cold"])
    wt, nt = np.argsort(-warm, 1)[:, :10], np.argsort(-new, 1)[:, :10]
    wh, nh = np.take_along_axis(a["truth"], wt, 1), np.take_along_axis(a["truth"], nt, 1)
    ns = np.take_along_axis(new, nt, 1)
    cal = np.random.default_rng(seed).random(len(a["n_rel"])) < 0.5
    finite = np.isfinite(ns[cal])
    edges = np.quantile(ns[cal][finite], np.linspace(0, 1, 11)[1:-1]) if finite.any() else [0.0]
    nb = np.searchsorted(edges, ns)
    p_new = np.array([nh[cal][nb[cal] == b].mean() if (nb[cal] == b).any() else 0.0
                      for b in range(len(edges) + 1)])[nb]
    p_new[~np.isfinite(ns)] = -1.0
    lb = group // 2
    p_warm = np.array([[wh[cal & (lb == g)][:, p].mean() if (cal & (lb == g)).any() else 0.0
                        for p in range(10)] for g in range(3)])[lb]
    hits, slots = [], []
    for u in np.flatnonzero(~cal):
        i = j = h = 0
        for _ in range(10):
            if j < 10 and (i >= 10 or p_new[u, j] > p_warm[u, i]):
                h, j = h + nh[u, j], j + 1
            else:
                h, i = h + wh[u, i], i + 1
        hits.append(h / a["n_rel"][u])
        slots.append(j)
    shown = "  ".join(f"×{s:g} {per[s][~cal].mean():.4f}" for s in SCALES)
    print(f"  calibrated merge (evaluation half): {np.mean(hits):.4f} with {np.mean(slots):.2f} "
          f"new/list; global on the same half: {shown}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="demo,online-retail")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inner", action="store_true", help="start from the training part of the "
                   "benchmark's inner split (bench_coldstart.py --inner) instead of the outer one")
    p.add_argument("--unsold", default="0,0.2,1", help="shares of the never-sold products that "
                   "compete in the inner lists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    for name in args.datasets.split(","):
        a = inner_arrays(name, args.seed, args.inner)
        for share in (float(s) for s in args.unsold.split(",")):
            report(name, a, share, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
