"""Command-line front end: ``python -m recsys <command> …`` over the same library.

Commands: ``validate`` (report on files), ``recommend`` (train on everything, write top-K
unseen items per user), ``evaluate`` (split, train, measure every protocol metric) and
``export`` (train on everything, write tail-boost lists + ``manifest.json``; see
:mod:`recsys.export.command`), ``map`` (item map) and ``warmup`` (compile the map's numba code
ahead of the first map; see :mod:`recsys.maps.command`).
Errors go to stderr as one line with a non-zero exit code (2 for files that cannot be read or
bad arguments, 1 for a validation report with errors, 3 for anything unexpected).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .export.command import add_export_arguments, run_export_command
from .ingest import IngestError
from .loaders import FORMATS, load_files
from .maps.command import add_map_arguments, add_warmup_arguments, run_map_command, run_warmup_command
from .rerank.config import RERANK_OPTIONS_HELP

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _parse_columns(text: str | None) -> dict[str, str]:
    """``user_id=CustomerID,item_id=StockCode`` → dict; raises ``ValueError`` on bad pairs."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise ValueError(f"bad column mapping '{part}'; write ROLE=COLUMN, e.g. "
                             "user_id=CustomerID")
        out[role.strip()] = column.strip()
    return out


def _add_input_args(p: argparse.ArgumentParser, format_flag: str = "--format") -> None:
    p.add_argument("--interactions", required=True, help="interaction file (CSV, gz, Parquet, "
                   "XLSX, MovieLens u.data / ratings.dat)")
    p.add_argument("--catalog", help="optional catalog file")
    p.add_argument(format_flag, dest="format", default="auto", choices=list(FORMATS),
                   help="file format (default: recognise it)")
    p.add_argument("--columns", help="override the interaction column mapping, e.g. "
                   "user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate")
    p.add_argument("--catalog-columns", help="override the catalog column mapping, e.g. "
                   "item_id=sku,title=name")
    p.add_argument("--value-kind", choices=["rating", "quantity", "weight"],
                   help="how to read the value column")


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """How interactions become a dataset (:class:`~recsys.dataset.DatasetConfig`); every
    command that builds one takes these, read back by :func:`_load_dataset`."""
    p.add_argument("--rating-threshold", type=float, help="keep values ≥ this (e.g. 4)")
    p.add_argument("--below-threshold", choices=["seen", "drop"], default="seen",
                   help="interactions under the threshold: kept as seen (never recommended "
                   "back; default) or dropped")
    p.add_argument("--kcore", type=int, default=0, help="k-core filter (0 = off)")
    p.add_argument("--head-share", type=float, default=0.8,
                   help="share of interactions the short head covers (default 0.8)")


def _add_dataset_args(p: argparse.ArgumentParser) -> None:
    add_filter_args(p)
    p.add_argument("--k", type=int, default=10, help="list length K (default 10)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys",
                                     description="Tail Studio command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    val = sub.add_parser("validate", help="read and validate files, print the report")
    _add_input_args(val)
    val.add_argument("--json", action="store_true", help="print the report as JSON")

    rec = sub.add_parser("recommend", help="train on all interactions, write top-K per user")
    _add_input_args(rec)
    _add_dataset_args(rec)
    rec.add_argument("--model", required=True, help="model name (pop, itemknn, ease, bpr, neumf, "
                     "deepfm, multvae, hybrid, auto)")
    rec.add_argument("--config", help="model config as JSON, e.g. '{\"l2\": 300}'")
    rec.add_argument("--rerank", metavar="METHOD", help="re-rank for tail exposure: "
                     "tail_bonus, pop_penalty, xquad, calibrated or promotion (needs --strength)")
    rec.add_argument("--strength", type=float, help="re-rank strength in [0, 1]: 0 = the "
                     "model's lists, 1 = the method's strongest setting")
    rec.add_argument("--rerank-options", metavar="JSON", help=RERANK_OPTIONS_HELP)
    rec.add_argument("--out", required=True, help="output CSV (or .parquet)")

    eva = sub.add_parser("evaluate", help="split, train and measure models")
    _add_input_args(eva)
    _add_dataset_args(eva)
    eva.add_argument("--models", required=True, help="comma-separated model names")
    eva.add_argument("--config", help="JSON object of configs per model, e.g. "
                     "'{\"ease\": {\"l2\": 300}}'")
    eva.add_argument("--split", default="random", choices=["random", "temporal", "time",
                                                           "leave-last"])
    eva.add_argument("--test-frac", type=float, default=0.2)
    eva.add_argument("--seed", type=int, default=0)
    eva.add_argument("--json", dest="json_path", help="write results as JSON to this path")

    exp = sub.add_parser("export", help="train on all interactions, write tail-boost lists + "
                         "manifest.json into a folder")
    _add_input_args(exp, format_flag="--input-format")
    _add_dataset_args(exp)
    add_export_arguments(exp)

    mp = sub.add_parser("map", help="item map: embed, project to 2-D, cluster, flag tail "
                        "clusters; write CSV or Parquet")
    _add_input_args(mp)
    add_map_arguments(mp)

    wu = sub.add_parser("warmup", help="compile the item map's numba code into the persistent "
                        "cache (run by scripts/setup.sh)")
    add_warmup_arguments(wu)
    return parser


def _load_dataset(args: argparse.Namespace):
    """Validated files → Dataset; a report with errors becomes a one-line CliError."""
    from .dataset import DatasetConfig, build_dataset

    result = load_files(args.interactions, args.catalog, file_format=args.format,
                        mapping=_parse_columns(args.columns),
                        catalog_mapping=_parse_columns(args.catalog_columns),
                        value_kind=args.value_kind)
    if not result.ok:
        raise CliError(result.report.errors[0].message, code=1)
    config = DatasetConfig(head_share=args.head_share, mid_share=max(0.95, args.head_share),
                           rating_threshold=args.rating_threshold, kcore=args.kcore,
                           below_threshold=args.below_threshold)
    ds = build_dataset(result.interactions, result.catalog, users=result.users, config=config,
                       name=Path(args.interactions).stem)
    if ds.n_pairs == 0:
        raise CliError("no interaction left after the rating threshold and k-core filter", 1)
    return ds


def _json_arg(text: str | None, what: str, flag: str = "--config") -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag} is not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise CliError(f"{flag} must be a JSON object of {what}")
    return value


def _rerank_arg(method: str | None, strength: float | None, options: str | None = None):
    """``--rerank METHOD --strength X [--rerank-options JSON]`` as a config (``None`` without
    ``--rerank``)."""
    from .rerank.config import rerank_config_from_args

    try:
        return rerank_config_from_args(method, strength, options)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _cmd_validate(args: argparse.Namespace) -> int:
    result = load_files(
        args.interactions, args.catalog, file_format=args.format,
        mapping=_parse_columns(args.columns), catalog_mapping=_parse_columns(args.catalog_columns),
        value_kind=args.value_kind,
    )
    report = result.report
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.to_text())
    if not report.ok:
        print(f"error: {report.errors[0].message}", file=sys.stderr)
        return 1
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from .models import create_model

    model = create_model(args.model, _json_arg(args.config, "model settings"))
    rerank_config = _rerank_arg(args.rerank, args.strength, args.rerank_options)
    ds = _load_dataset(args)
    t0 = time.perf_counter()
    model.fit(ds, device=args.device)
    users = np.arange(ds.n_users)
    if rerank_config is None:
        items, scores = model.recommend(users, n=args.k, exclude_seen=True)
    else:
        from .rerank import candidates_from_model, rerank
        from .rerank.hits import hit_model_for

        cands = candidates_from_model(model, ds, users, c=max(100, args.k), exclude=ds.known)
        result = rerank(cands, ds, rerank_config, k=args.k,
                        hit_model=hit_model_for(rerank_config, model, ds))
        items, scores = result.items, result.score
    rank = np.tile(np.arange(1, items.shape[1] + 1), len(users))
    flat = items.ravel()
    keep = flat >= 0
    out = pd.DataFrame({
        "user_id": np.repeat(ds.user_ids, items.shape[1])[keep],
        "item_id": ds.item_ids[flat[keep]],
        "rank": rank[keep],
        "score": scores.ravel()[keep].astype(float),
        "is_tail": ds.is_tail[flat[keep]],
    })
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    log.info("%s: %d users, %d rows in %.1fs -> %s", args.model, len(users), len(out),
             time.perf_counter() - t0, path)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_split
    from .models import create_model, get_model_class
    from .splits import SplitConfig, split_dataset

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    configs = _json_arg(args.config, "configs per model")
    for name in names:
        get_model_class(name)  # unknown names fail before any work
    ds = _load_dataset(args)
    split = split_dataset(ds, SplitConfig(method=args.split, test_frac=args.test_frac,
                                          seed=args.seed))
    rows = []
    for name in names:
        model = create_model(name, configs.get(name, {}))
        t0 = time.perf_counter()
        model.fit(split.train, device=args.device)
        train_s = time.perf_counter() - t0
        ev = evaluate_split(model, split, k=args.k)
        rows.append({"model": name, "config": model.config.model_dump(mode="json"),
                     "train_s": train_s, "eval_s": ev.seconds, **ev.summary})
    header = ["model", "ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage", "gini",
              "novelty", "train_s"]
    print(f"{ds.name}: {ds.n_users:,} users x {ds.n_items:,} items, split={args.split} "
          f"test_frac={args.test_frac} seed={args.seed}, K={args.k}")
    print(" ".join(f"{h:>9}" for h in header))
    for r in rows:
        print(" ".join(f"{r[h]:>9}" if isinstance(r[h], str) else f"{r[h]:>9.4f}" for h in header))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "dataset": ds.summary(), "split": split.config.model_dump(mode="json"), "k": args.k,
            "results": rows}, indent=2, default=str))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    return run_export_command(args, _load_dataset, _json_arg(args.config, "model settings"))


def _cmd_map(args: argparse.Namespace) -> int:
    return run_map_command(args, _load_dataset)


COMMANDS = {"validate": _cmd_validate, "recommend": _cmd_recommend, "evaluate": _cmd_evaluate,
            "export": _cmd_export, "map": _cmd_map, "warmup": run_warmup_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (IngestError, ValueError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for the user; details with --verbose
        log.info("unexpected failure", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (run with -v for details)",
              file=sys.stderr)
        return 3


def _one_line(exc: Exception) -> str:
    """Pydantic and other errors can span lines; the CLI contract is one line."""
    return " ".join(str(exc).split())
