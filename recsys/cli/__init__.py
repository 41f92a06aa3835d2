"""Command-line front end: ``python -m recsys <command> …`` over the same library.

One module per command, each with ``add_arguments(parser)`` and ``run(args) -> exit code``:
:mod:`~recsys.cli.validate` (report on files), :mod:`~recsys.cli.recommend` (train on
everything, write top-K unseen items per user), :mod:`~recsys.cli.evaluate` (split, train,
measure every protocol metric), :mod:`~recsys.cli.train` (split, train one model and save
it, also under ``torchrun``), :mod:`~recsys.cli.export` (train on everything, write
tail-boost lists + ``manifest.json``), :mod:`~recsys.cli.map` (item map, and ``warmup``:
compile the map's numba code ahead of the first map), :mod:`~recsys.cli.ope` (off-policy
estimates of a target policy from a feedback log), :mod:`~recsys.cli.simulate` (replay a policy
day by day), :mod:`~recsys.cli.update` (fold feedback into a kept model),
:mod:`~recsys.cli.demo` (a generated shop as files). Shared options live in
:mod:`~recsys.cli.args`. Nothing in the library imports this package.

Errors go to stderr as one line with a non-zero exit code (2 for files that cannot be read or
bad arguments, 1 for a validation report with errors, 3 for anything unexpected).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from recsys.cli import demo, evaluate, export, ope, recommend, simulate, train, update, validate
from recsys.cli import map as map_command
from recsys.cli.args import CliError, check_ranges, one_line
from recsys.data.reading import IngestError

__all__ = ["main", "build_parser", "CliError"]

log = logging.getLogger(__name__)

#: name → (help, add_arguments, run), in the order ``--help`` lists them.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "validate": ("read and validate files, print the report", validate.add_arguments,
                 validate.run),
    "recommend": ("train on all interactions, write top-K per user", recommend.add_arguments,
                  recommend.run),
    "evaluate": ("split, train and measure models", evaluate.add_arguments, evaluate.run),
    "train": ("split, train one model, save its folder with metrics.json (works under torchrun)",
              train.add_arguments, train.run),
    "export": ("train on all interactions, write tail-boost lists + manifest.json into a folder",
               export.add_arguments, export.run),
    "map": ("item map: embed, project to 2-D, cluster, flag tail clusters; write CSV or Parquet",
            map_command.add_arguments, map_command.run),
    "ope": ("off-policy estimates (IPS, SNIPS, DR) of a target policy's reward from a feedback log",
            ope.add_arguments, ope.run),
    "simulate": ("replay a policy day by day on time-ordered data; write days, log and summary",
                 simulate.add_arguments, simulate.run),
    "update": ("fold new interactions (a feedback file or log) into a kept model without a "
               "full retrain; keep it as a new run", update.add_arguments, update.run),
    "demo": ("write a generated shop (the demo shop, or --users/--items/--interactions at any "
             "size) as files", demo.add_arguments, demo.run),
    "warmup": ("compile the item map's numba code into the persistent cache (run by "
               "scripts/setup.sh)", map_command.add_warmup_arguments, map_command.run_warmup),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys",
                                     description="Tail Studio command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _run) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        check_ranges(args)
        return COMMANDS[args.command][2](args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (IngestError, ValueError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for the user; details with --verbose
        log.info("unexpected failure", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {one_line(exc)} (run with -v for details)",
              file=sys.stderr)
        return 3
