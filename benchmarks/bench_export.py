"""Export speed: every Online Retail user's tail-boost list in CSV, Parquet and JSON Lines.

Loads the full UCI Online Retail file, trains EASE on every interaction, then exports the top-10
of all users (every seen item excluded) with and without an additive tail bonus, in each
format, and prints seconds, rows, rows per second and file size; also times the user segments
of the Compare page. Needs ``../shared/data`` (or ``TAILSTUDIO_SHARED_DATA``).

    python benchmarks/bench_export.py [--model ease] [--chunk-users 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys import build_dataset, load_files  # noqa: E402
from recsys.data.segments import user_segments  # noqa: E402
from recsys.export import ExportConfig, export_lists  # noqa: E402
from recsys.models import create_model  # noqa: E402
from recsys.rerank import RerankConfig  # noqa: E402

SHARED = Path(os.environ.get("TAILSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
RETAIL = SHARED / "online-retail" / "online_retail.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ease")
    parser.add_argument("--chunk-users", type=int, default=2048)
    args = parser.parse_args()
    if not RETAIL.exists():
        print(f"skipped: {RETAIL} not found (set TAILSTUDIO_SHARED_DATA)")
        return 0
    loaded = load_files(RETAIL)
    ds = build_dataset(loaded.interactions, loaded.catalog, name="online-retail")
    t0 = time.perf_counter()
    model = create_model(args.model).fit(ds, device="cpu")
    print(f"online-retail: {ds.n_users:,} users x {ds.n_items:,} items; {args.model} trained in "
          f"{time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    for _ in range(10):
        user_segments(ds.matrix, ds.is_tail)
    print(f"user segments (all users): {(time.perf_counter() - t0) / 10 * 1000:.1f} ms")
    print(f"{'format':>8} {'re-rank':>18} {'seconds':>8} {'rows':>8} {'rows/s':>9} {'MB':>6} {'vs csv':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for rerank in (None, RerankConfig(method="tail_bonus", strength=0.5)):
            base = None
            for fmt in ("csv", "parquet", "json"):
                folder = Path(tmp) / f"{fmt}-{rerank is not None}"
                result = export_lists(model, ds, folder, ExportConfig(format=fmt, chunk_users=args.chunk_users),
                                      rerank=rerank)
                base = base or result.seconds
                size = result.files[0].stat().st_size / 1e6
                label = rerank.label() if rerank else "none"
                print(f"{fmt:>8} {label:>18} {result.seconds:>8.2f} {result.rows:>8,} "
                      f"{result.rows / result.seconds:>9,.0f} {size:>6.1f} {result.seconds / base:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
