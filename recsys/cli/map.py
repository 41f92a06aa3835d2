"""``python -m recsys map`` (draw the item map of a dataset, write it as CSV or Parquet) and
``python -m recsys warmup`` (compile the map's numba code into the persistent cache).

Writes one row per item with ``item_id, x, y, cluster, is_tail, is_tail_cluster,
cluster_label`` (``--all-columns`` adds title, category, price, popularity and the cluster's
figures). Bad options raise ``ValueError`` (exit code 2 in the CLI) before any work starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recsys.cli.args import CliError, add_device_arg, add_filter_args, add_input_args, load_dataset

__all__ = ["add_arguments", "run", "write_map", "add_warmup_arguments", "run_warmup"]

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    p.add_argument("--source", default="text", choices=["text", "cf", "hybrid"],
                   help="item vectors: catalog text (default), collaborative (SVD of the "
                   "interactions) or both")
    p.add_argument("--method", default="umap", choices=["umap", "tsne", "pca"],
                   help="2-D projection (default umap; pca is an instant preview)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--config", help="more map settings as JSON, e.g. '{\"n_neighbors\": 30, "
                   "\"min_cluster_size\": 20, \"text_method\": \"tfidf\"}'")
    p.add_argument("--all-columns", action="store_true", help="also write title, category, "
                   "price, popularity and per-cluster figures")
    add_filter_args(p)
    add_device_arg(p, help="device for the sentence model and neighbour search")
    p.add_argument("--cache-dir", help="folder to cache embeddings and maps in (default: none)")
    p.add_argument("--out", required=True, help="output file: .csv or .parquet")


def _config(args: argparse.Namespace) -> Any:
    from recsys.maps.pipeline import MapConfig

    extra: dict[str, Any] = {}
    if args.config:
        try:
            extra = json.loads(args.config)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config is not valid JSON ({exc.msg} at column {exc.colno})") \
                from None
        if not isinstance(extra, dict):
            raise ValueError("--config must be a JSON object of map settings")
    clash = {"source", "method", "seed"} & set(extra)
    if clash:
        raise ValueError(f"set {', '.join(sorted(clash))} with its own option, not in --config")
    try:
        return MapConfig(source=args.source, method=args.method, seed=args.seed, **extra)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ValueError(f"invalid map setting {where}: {err['msg']}") from None


def write_map(frame: Any, path: str | Path, *, all_columns: bool = False) -> Path:
    """Write a map frame as Parquet (``.parquet``/``.pq``) or spreadsheet-safe CSV (anything
    else: titles and labels starting with ``= + - @`` are neutralised, as in exports)."""
    from recsys.export.writers import write_table
    from recsys.maps.pipeline import MAP_COLUMNS

    return write_table(frame if all_columns else frame.loc[:, list(MAP_COLUMNS)], path)


def run(args: argparse.Namespace) -> int:
    """Validate options, load the files, build the map, write it; returns the exit code (0)."""
    from recsys.maps.pipeline import build_map
    from recsys.maps.sources import MapDataError

    if args.out.lower().endswith((".xlsx", ".json")):
        raise ValueError("--out must be a .csv or .parquet file")
    config = _config(args)
    if config.source != "cf" and not args.catalog:
        raise ValueError(f"--source {config.source} needs --catalog (item titles and "
                         "descriptions); use --source cf to map from interactions alone")
    dataset = load_dataset(args)
    t0 = time.perf_counter()
    device = None if args.device == "auto" else args.device
    try:
        frame = build_map(dataset, config, cache_dir=args.cache_dir, device=device,
                          progress=lambda f, m: log.info("%3.0f%% %s", 100 * f, m))
    except MapDataError as exc:  # the data cannot give a map: exit code 1
        raise CliError(str(exc), code=1) from None
    for note in frame.attrs.get("notes", []):
        log.warning("%s", note)
    path = write_map(frame, args.out, all_columns=args.all_columns)
    log.info("map of %d items (%d clusters, %d tail clusters) in %.1f s -> %s", len(frame),
             frame.attrs.get("n_clusters", 0), frame.attrs.get("n_tail_clusters", 0),
             time.perf_counter() - t0, path)
    return 0


def add_warmup_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m recsys warmup``."""
    p.add_argument("--cache-dir", help="numba cache folder (default: NUMBA_CACHE_DIR, else "
                   "tail-studio/numba in $XDG_CACHE_HOME or ~/.cache)")
    p.add_argument("--force", action="store_true", help="compile again even if the cache is "
                   "warm for the installed library versions")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_warmup(args: argparse.Namespace) -> int:
    """Compile the map's numba kernels into the cache; prints one line (or JSON)."""
    from recsys.maps.warmup import warm_up

    report = warm_up(args.cache_dir, force=args.force)
    if args.json:
        print(json.dumps(report))
    elif report["skipped"]:
        print(f"numba cache {report['cache_dir']} is already warm")
    else:
        print(f"numba cache {report['cache_dir']} warmed in {report['seconds']:.1f} s")
    return 0
