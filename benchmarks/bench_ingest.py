"""Benchmark: read, validate and build the Dataset for the full UCI Online Retail file.

Prints wall seconds per stage and peak resident memory, and compares against a bare
``pandas.read_csv`` of the same file (the floor any loader pays). Targets on a 2-core machine:
under 5 s end to end and under 1.5 GB peak.

    python benchmarks/bench_ingest.py [--path ../shared/data/online-retail/online_retail.csv.gz]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
TARGET_SECONDS, TARGET_MB = 5.0, 1536.0
log = logging.getLogger("bench_ingest")


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if not args.path.exists():
        log.info("SKIP: %s not found (the shared data folder is absent)", args.path)
        return 0
    import pandas as pd

    from recsys.data.dataset import build_dataset
    from recsys.data.formats import load_online_retail
    from recsys.data.reading import read_table

    base_mb = peak_mb()
    t0 = time.perf_counter()
    pd.read_csv(args.path, dtype=str)
    bare = time.perf_counter() - t0

    t0 = time.perf_counter()
    raw = read_table(args.path)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = load_online_retail(raw)
    t_validate = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = build_dataset(result.interactions, result.catalog, users=result.users, name="retail")
    t_build = time.perf_counter() - t0
    total = t_read + t_validate + t_build
    figures = {
        "rows_read": result.report.rows_read, "users": ds.n_users, "items": ds.n_items,
        "pairs": ds.n_pairs, "read_s": round(t_read, 3), "validate_s": round(t_validate, 3),
        "build_s": round(t_build, 3), "total_s": round(total, 3),
        "bare_pandas_read_s": round(bare, 3), "ratio_vs_bare_read": round(total / bare, 2),
        "peak_rss_mb": round(peak_mb(), 1), "rss_after_imports_mb": round(base_mb, 1),
    }
    log.info("Online Retail: %s rows -> %s users x %s items, %s pairs", f"{figures['rows_read']:,}",
             f"{ds.n_users:,}", f"{ds.n_items:,}", f"{ds.n_pairs:,}")
    log.info("%-28s %8s", "stage", "seconds")
    for key in ("read_s", "validate_s", "build_s", "total_s", "bare_pandas_read_s"):
        log.info("%-28s %8.3f", key, figures[key])
    log.info("full pipeline / bare pandas.read_csv: %.2fx", figures["ratio_vs_bare_read"])
    log.info("peak RSS: %.0f MB (after imports: %.0f MB)", figures["peak_rss_mb"], base_mb)
    ok = total < TARGET_SECONDS and figures["peak_rss_mb"] < TARGET_MB
    log.info("target (< %.0f s, < %.0f MB): %s", TARGET_SECONDS, TARGET_MB,
             "met" if ok else "MISSED")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
