"""``python -m recsys export``: train on every interaction, write tail-boost lists + manifest.

The parser and the body live here so :mod:`recsys.cli` only wires them in; dataset loading,
``--config`` parsing and error reporting are the CLI's own.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compare import USER_SEGMENTS
from ..rerank.config import METHODS, RERANK_OPTIONS_HELP
from .scopes import ExportScope
from .writers import FORMATS

__all__ = ["add_export_arguments", "run_export_command"]

log = logging.getLogger(__name__)



def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The export-specific options (input and dataset options are added by the CLI)."""
    p.add_argument("--model", required=True, help="model name (pop, itemknn, ease, bpr, neumf, "
                   "deepfm, multvae, hybrid, auto)")
    p.add_argument("--config", help="model config as JSON, e.g. '{\"l2\": 300}'")
    p.add_argument("--rerank", choices=METHODS, help="re-rank method for tail exposure")
    p.add_argument("--strength", type=float, help="re-rank strength in [0, 1] (0 = the model's "
                   "own lists; required with --rerank)")
    p.add_argument("--rerank-options", metavar="JSON", help=RERANK_OPTIONS_HELP)
    p.add_argument("--candidates", type=int, default=100, help="candidate pool per user the "
                   "re-ranker chooses from (default 100)")
    p.add_argument("--segment", choices=USER_SEGMENTS, help="export only this user segment "
                   "(default: every user)")
    p.add_argument("--format", dest="out_format", default="csv", choices=list(FORMATS),
                   help="csv, parquet or json (JSON Lines); default csv")
    p.add_argument("--out", required=True, help="output folder (created; lists file + "
                   "manifest.json)")


def run_export_command(args: argparse.Namespace, load_dataset: Callable[[argparse.Namespace], Any],
                       model_config: dict[str, Any]) -> int:
    """Validate the options, load and train, export; returns the exit code (0).

    Raises ``ValueError`` (bad options, exit code 2 in the CLI) before any training starts.
    """
    from ..models import create_model
    from ..rerank.config import rerank_config_from_args
    from ..rerank.hits import hit_model_for
    from .lists import ExportConfig, export_lists

    step = rerank_config_from_args(args.rerank, args.strength, args.rerank_options)
    steps = [step] if step is not None else []
    scope = ExportScope(kind="segment", value=args.segment) if args.segment else ExportScope()
    config = ExportConfig(k=args.k, format=args.out_format,
                          candidates=max(args.candidates, args.k), scope=scope)
    model = create_model(args.model, model_config)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, '{out}' is a file")
    ds = load_dataset(args)
    t0 = time.perf_counter()
    model.fit(ds, device=args.device)
    train_s = time.perf_counter() - t0
    result = export_lists(model, ds, out, config, rerank=steps,
                          model_info={"run": None, "trained_on": "all interactions",
                                      "train_s": round(train_s, 3)},
                          metrics=None, hit_model=hit_model_for(steps, model, ds))
    print(f"{result.rows:,} rows for {result.users:,} users -> {result.files[0]} "
          f"(+ {result.files[1].name}) in {time.perf_counter() - t0:.1f}s")
    return 0
