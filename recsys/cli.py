"""Command-line front end: ``python -m recsys <command> …`` over the same library.

Errors go to stderr as one line with a non-zero exit code (2 for files that cannot be read or
bad arguments, 1 for a validation report with errors).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from .ingest import IngestError
from .loaders import FORMATS, load_files

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys",
                                     description="Tail Studio command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="read and validate files, print the report")
    val.add_argument("--interactions", required=True, help="interaction file (CSV, gz, "
                     "Parquet, XLSX, MovieLens u.data / ratings.dat)")
    val.add_argument("--catalog", help="optional catalog file")
    val.add_argument("--format", default="auto", choices=[f for f in FORMATS],
                     help="file format (default: recognise it)")
    val.add_argument("--columns", help="override the interaction column mapping, e.g. "
                     "user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate")
    val.add_argument("--catalog-columns", help="override the catalog column mapping, e.g. "
                     "item_id=sku,title=name")
    val.add_argument("--value-kind", choices=["rating", "quantity", "weight"],
                     help="how to read the value column")
    val.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "validate":
            return _cmd_validate(args)
    except (IngestError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for the user; details with --verbose
        log.info("unexpected failure", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)
        return 3
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2
