"""``python -m recsys demo --out DIR``: write a generated shop as files.

Without sizes it writes the embedded demo shop (the dashboard's: 3,000 customers × 5,000
products); with ``--users --items --interactions`` a shop of that size from
:mod:`recsys.data.scale_shop` (written in chunks, for scale tests and benchmarks). Either way
the folder gets ``interactions.<format>`` and ``catalog.<format>``, ready for ``recommend``,
``export`` and the dashboard's upload.
"""

from __future__ import annotations

import argparse
import logging

from recsys.cli.args import CliError

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)

_SIZES = ("users", "items", "interactions")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--users", type=int, help="customers of a generated scale shop")
    p.add_argument("--items", type=int, help="products of a generated scale shop")
    p.add_argument("--interactions", type=int, help="purchases (rows) of a generated scale shop")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--format", dest="shop_format", default="parquet", choices=["parquet", "csv"],
                   help="file format (default parquet)")


def run(args: argparse.Namespace) -> int:
    from recsys.data.scale_shop import write_demo_files, write_scale_shop

    given = [s for s in _SIZES if getattr(args, s) is not None]
    if given and len(given) < len(_SIZES):
        missing = ", ".join(f"--{s}" for s in _SIZES if s not in given)
        raise CliError(f"a scale shop needs --users, --items and --interactions; missing {missing}")
    if args.seed < 0:
        raise CliError(f"--seed must be 0 or more (got {args.seed})")
    if given:
        shop = write_scale_shop(args.out, n_users=args.users, n_items=args.items,
                                n_interactions=args.interactions, seed=args.seed,
                                fmt=args.shop_format)
    else:
        shop = write_demo_files(args.out, seed=args.seed, fmt=args.shop_format)
    print(f"{shop.n_interactions:,} interactions, {shop.n_users:,} customers, {shop.n_items:,} "
          f"products -> {shop.interactions} (+ {shop.catalog.name}) in {shop.seconds:.1f}s")
    return 0
