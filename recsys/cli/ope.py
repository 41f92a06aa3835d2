"""``python -m recsys ope``: off-policy estimates of a target policy's reward per shown slot.

``--log`` is a feedback log (``user_id, item_id, position, propensity, reward``), ``--lists``
the target policy (``user_id, item_id, rank[, probability]``), both read and checked by
:mod:`recsys.feedback.logs`. Prints one line per estimator and writes the JSON contract
(:meth:`recsys.feedback.ope.OpeResult.to_dict`) to ``--json`` (``-`` = stdout). A file that
cannot be used is one line on stderr and exit code 2; warnings go to stderr as ``warning:``
lines and the command still succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recsys.cli.args import CliError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", required=True, help="feedback log: user_id, item_id, position (from "
                   "1), propensity (0 < p <= 1), reward (CSV, gz, Parquet, XLSX)")
    p.add_argument("--lists", required=True, help="target policy: user_id, item_id, rank and "
                   "optionally probability (1 when absent)")
    p.add_argument("--estimators", default="ips,snips,dr",
                   help="comma-separated: ips, snips, dr (default all three)")
    p.add_argument("--examination", help="position-based examination instead of per-slot "
                   "independence: 'log' (1/log2(k+1)) or comma-separated weights per position")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples over users "
                   "for the 95%% intervals (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the DR "
                   "reward model's folds (default 0)")
    p.add_argument("--json", dest="json_path", help="write the estimates as JSON to this path "
                   "('-' for stdout)")


def run(args: argparse.Namespace) -> int:
    from recsys.feedback.logs import read_lists, read_log
    from recsys.feedback.ope import ESTIMATORS, off_policy_estimates

    names = [n.strip().lower() for n in args.estimators.split(",") if n.strip()]
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names:
        raise CliError(f"--estimators: unknown {', '.join(unknown) or '(none given)'}; choose "
                       f"from {', '.join(ESTIMATORS)}")
    if not 10 <= args.bootstrap <= 10_000:
        raise CliError(f"--bootstrap must be from 10 to 10000 (got {args.bootstrap})")
    for flag, path in (("--log", args.log), ("--lists", args.lists)):
        if not Path(path).is_file():
            raise CliError(f"{flag}: no such file '{path}'")
    log_rows = read_log(args.log)
    target = read_lists(args.lists)
    result = off_policy_estimates(log_rows, target, names, examination=args.examination,
                                  bootstrap=args.bootstrap, seed=args.seed)
    payload = result.to_dict()
    text = json.dumps(payload, indent=2, allow_nan=False)
    if args.json_path == "-":
        print(text)
    else:
        print(f"{result.rows:,} log rows, logged reward {result.logged_reward:.4f} per slot")
        for name, est in result.estimators.items():
            value = "undefined" if est.value is None else f"{est.value:.4f}"
            lo, hi = est.ci95
            ci = f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else "[-, -]"
            se = f"{est.stderr:.4f}" if est.stderr is not None else "-"
            print(f"{name:>6} {value}  stderr {se}  95% {ci}  ess {est.ess:,.1f}")
        if args.json_path:
            Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0
