"""Arguments every command shares, and the one way a command turns them into a Dataset.

Choices come from the library's own option sets (input formats, devices, model names), so the
help never drifts from what the library accepts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.data.formats import INPUT_FORMATS, load_files
from recsys.device import DEVICE_CHOICES

__all__ = ["CliError", "parse_columns", "add_input_args", "add_filter_args", "add_dataset_args",
           "add_model_args", "load_dataset", "json_arg", "rerank_arg", "one_line", "model_names_help"]


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def parse_columns(text: str | None) -> dict[str, str]:
    """``user_id=CustomerID,item_id=StockCode`` → dict; raises ``ValueError`` on bad pairs."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise ValueError(f"bad column mapping '{part}'; write ROLE=COLUMN, e.g. "
                             "user_id=CustomerID")
        out[role.strip()] = column.strip()
    return out


def add_input_args(p: argparse.ArgumentParser, format_flag: str = "--format") -> None:
    """The files and how to read them (every command)."""
    p.add_argument("--interactions", required=True, help="interaction file (CSV, gz, Parquet, "
                   "XLSX, MovieLens u.data / ratings.dat)")
    p.add_argument("--catalog", help="optional catalog file")
    p.add_argument(format_flag, dest="format", default="auto", choices=list(INPUT_FORMATS),
                   help="file format (default: recognise it)")
    p.add_argument("--columns", help="override the interaction column mapping, e.g. "
                   "user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate")
    p.add_argument("--catalog-columns", help="override the catalog column mapping, e.g. "
                   "item_id=sku,title=name")
    p.add_argument("--value-kind", choices=["rating", "quantity", "weight"],
                   help="how to read the value column")


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """How interactions become a dataset (:class:`~recsys.data.dataset.DatasetConfig`); every
    command that builds one takes these, read back by :func:`load_dataset`."""
    p.add_argument("--rating-threshold", type=float, help="keep values ≥ this (e.g. 4)")
    p.add_argument("--below-threshold", choices=["seen", "drop"], default="seen",
                   help="interactions under the threshold: kept as seen (never recommended "
                   "back; default) or dropped")
    p.add_argument("--kcore", type=int, default=0, help="k-core filter (0 = off)")
    p.add_argument("--head-share", type=float, default=0.8,
                   help="share of interactions the short head covers (default 0.8)")


def add_device_arg(p: argparse.ArgumentParser, help: str = "compute device (default auto: "
                   "CUDA > MPS > CPU)") -> None:
    p.add_argument("--device", default="auto", choices=list(DEVICE_CHOICES), help=help)


def add_dataset_args(p: argparse.ArgumentParser) -> None:
    """Dataset filters, list length and device (commands that train)."""
    add_filter_args(p)
    p.add_argument("--k", type=int, default=10, help="list length K (default 10)")
    add_device_arg(p)


def model_names_help() -> str:
    """The registered model names, for help texts."""
    from recsys.models.registry import MODEL_MODULES

    return ", ".join(MODEL_MODULES)


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model NAME --config JSON`` (commands that train one model)."""
    p.add_argument("--model", required=True, help=f"model name ({model_names_help()})")
    p.add_argument("--config", help="model config as JSON, e.g. '{\"l2\": 300}'")


def load_dataset(args: argparse.Namespace) -> Dataset:
    """Validated files → Dataset; a report with errors becomes a one-line CliError."""
    result = load_files(args.interactions, args.catalog, file_format=args.format,
                        mapping=parse_columns(args.columns),
                        catalog_mapping=parse_columns(args.catalog_columns),
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


def json_arg(text: str | None, what: str, flag: str = "--config") -> dict[str, Any]:
    """A JSON object option (``{}`` when absent); anything else is a one-line CliError."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag} is not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise CliError(f"{flag} must be a JSON object of {what}")
    return value


def rerank_arg(method: str | None, strength: float | None, options: str | None = None) -> Any:
    """``--rerank METHOD --strength X [--rerank-options JSON]`` as a config (``None`` without
    ``--rerank``)."""
    from recsys.rerank.config import rerank_config_from_args

    try:
        return rerank_config_from_args(method, strength, options)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def one_line(exc: Exception) -> str:
    """Pydantic and other errors can span lines; the CLI contract is one line."""
    return " ".join(str(exc).split())
