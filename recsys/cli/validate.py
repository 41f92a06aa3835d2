"""``python -m recsys validate``: read and validate files, print the report."""

from __future__ import annotations

import argparse
import json
import sys

from recsys.cli.args import add_input_args, load_result

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the report (text or JSON); exit code 1 when it has errors."""
    result = load_result(args)
    report = result.report
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.to_text())
    if not report.ok:
        print(f"error: {report.errors[0].message}", file=sys.stderr)
        return 1
    return 0
