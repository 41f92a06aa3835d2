"""Arguments every command shares, and the one way a command turns them into a Dataset.

Choices come from the library's own option sets (input formats, devices, model names), so the
help never drifts from what the library accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recsys.data.batched import read_batched, wants_batched
from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.data.formats import INPUT_FORMATS, load_files
from recsys.data.report import ValidationResult
from recsys.data.schema import CATALOG_ROLES, INTERACTION_ROLES, ColumnMapping
from recsys.device import DEVICE_CHOICES

__all__ = ["CliError", "parse_columns", "add_input_args", "add_filter_args", "add_dataset_args",
           "add_model_args", "check_ranges", "load_result", "load_dataset", "json_arg",
           "rerank_arg", "one_line", "model_names_help", "add_engine_args", "open_engine_arg",
           "add_cold_item_frac_arg", "MAX_K"]

#: The longest list ``--k`` asks for; beyond it a "list" is a dump of the catalog.
MAX_K = 1000


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def parse_columns(text: str | None, roles: Sequence[str] | None = None,
                  flag: str = "--columns") -> dict[str, str]:
    """``user_id=CustomerID,item_id=StockCode`` → dict.

    Raises ``ValueError`` on a pair that is not ``ROLE=COLUMN``; with ``roles``, ``CliError``
    (exit 2) on a role not among them or one column given to two roles, naming ``flag``.
    """
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise ValueError(f"bad column mapping '{part}'; write ROLE=COLUMN, e.g. "
                             "user_id=CustomerID")
        role = role.strip()
        if roles is not None and role not in roles:
            raise CliError(f"{flag}: unknown role '{role}'; the roles are {', '.join(roles)}")
        out[role] = column.strip()
    if roles is not None:
        _refuse_shared(ColumnMapping(out), flag)
    return out


def _refuse_shared(mapping: ColumnMapping | Mapping[str, Any], flag: str) -> None:
    """One column read as two roles (user and item id, say) gives nonsense: exit 2."""
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping(dict(mapping.get("roles") or {}))
    for column, roles in mapping.shared_columns().items():
        raise CliError(f"{flag} maps column '{column}' to both {' and '.join(roles)}; give each "
                       f"role its own column, e.g. {flag} {roles[-1]}=OTHER_COLUMN")


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
    p.add_argument("--reader", choices=["auto", "plain", "batched"], default="auto",
                   help="how to read a Parquet or CSV interaction file: batched (in batches "
                   "into compact arrays, for large files), plain (whole), or auto: batched above "
                   "2,000,000 rows (default)")


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


def add_cold_item_frac_arg(p: argparse.ArgumentParser) -> None:
    """``--cold-item-frac``: the share of items ``--split item-cold`` holds out whole
    (``evaluate`` and ``train``; its range is checked by :func:`check_ranges`)."""
    p.add_argument("--cold-item-frac", type=float, default=0.2,
                   help="--split item-cold: share of items held out whole as new products "
                   "(default 0.2)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model NAME --config JSON`` (commands that train one model)."""
    p.add_argument("--model", required=True, help=f"model name ({model_names_help()})")
    p.add_argument("--config", help="model config as JSON, e.g. '{\"l2\": 300}'")


def _range_problem(value: float, low: float, high: float | None, open_bounds: bool) -> bool:
    if open_bounds:
        return not low < value < (high if high is not None else float("inf"))
    return value < low or (high is not None and value > high)


#: attribute → (flag, lowest, highest or None, bounds excluded, what the flag must be).
RANGES: dict[str, tuple[str, float, float | None, bool, str]] = {
    "k": ("--k", 1, MAX_K, False, f"a list length from 1 to {MAX_K}"),
    "candidates": ("--candidates", 1, None, False, "at least 1"),
    "chunk_users": ("--chunk-users", 1, 200_000, False, "from 1 to 200,000 users"),
    "kcore": ("--kcore", 0, 100, False, "from 0 (off) to 100"),
    "test_frac": ("--test-frac", 0, 1, True, "a share between 0 and 1 (both excluded), e.g. 0.2"),
    "cold_item_frac": ("--cold-item-frac", 0, 1, True,
                       "a share between 0 and 1 (both excluded), e.g. 0.2"),
    "head_share": ("--head-share", 0, 1, True, "a share between 0 and 1 (both excluded), e.g. 0.8"),
}


def check_ranges(args: argparse.Namespace) -> None:
    """Numbers argparse accepts but the commands cannot use (``--k 0``, ``--test-frac 1``…):
    a one-line CliError (exit 2) naming the flag, before any file is read."""
    for attr, (flag, low, high, open_bounds, must) in RANGES.items():
        value = getattr(args, attr, None)
        if value is not None and _range_problem(value, low, high, open_bounds):
            raise CliError(f"{flag} must be {must} (got {value:g})")


def load_result(args: argparse.Namespace) -> ValidationResult:
    """Read and validate the files with the command's column options.

    Unknown roles, and a column given to two roles (with each other or with a guessed role),
    are a one-line CliError (exit 2).
    """
    mapping = parse_columns(args.columns, INTERACTION_ROLES, "--columns")
    catalog_mapping = parse_columns(args.catalog_columns, CATALOG_ROLES, "--catalog-columns")
    if wants_batched(args.interactions, args.format, getattr(args, "reader", "auto")):
        result = read_batched(args.interactions, args.catalog, mapping=mapping,
                              catalog_mapping=catalog_mapping, value_kind=args.value_kind)
    else:
        result = load_files(args.interactions, args.catalog, file_format=args.format,
                            mapping=mapping, catalog_mapping=catalog_mapping,
                            value_kind=args.value_kind)
    if mapping:
        _refuse_shared(result.report.mapping, "--columns")
    if catalog_mapping and args.catalog:
        _refuse_shared(result.report.catalog_mapping, "--catalog-columns")
    return result


def load_dataset(args: argparse.Namespace) -> Dataset:
    """Validated files → Dataset; a report with errors becomes a one-line CliError.

    ``--rating-threshold`` on a file without a value column keeps every interaction: said on
    stderr as one warning line, and the command goes on.
    """
    result = load_result(args)
    if not result.ok:
        raise CliError(result.report.errors[0].message, code=1)
    if args.rating_threshold is not None and "value" not in result.interactions.columns:
        print(f"warning: --rating-threshold {args.rating_threshold:g} ignored: "
              f"{Path(args.interactions).name} has no rating or quantity column, so every "
              "interaction is kept (map one with --columns value=COLUMN)", file=sys.stderr)
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


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine local|ray`` and ``--ray-address``: where the blocks of users are scored."""
    from recsys.export.engines import ENGINES, RAY_INSTALL_HINT

    p.add_argument("--engine", choices=list(ENGINES), default="local", help="where blocks of "
                   "users are scored: local (this process, default) or ray (Ray actors; "
                   f"{RAY_INSTALL_HINT})")
    p.add_argument("--ray-address", metavar="auto|HOST:PORT", help="--engine ray: connect to "
                   "a running Ray cluster (auto: the one this node belongs to); without it a "
                   "local Ray on this machine's cores is started and stopped")


def open_engine_arg(args: argparse.Namespace) -> Any:
    """The engine ``--engine`` / ``--ray-address`` ask for, opened (Ray started or connected)
    before any data is read; an unusable one is a one-line CliError (exit 2)."""
    from recsys.export.engines import EngineError, open_engine

    try:
        return open_engine(args.engine, args.ray_address)
    except EngineError as exc:
        raise CliError(str(exc)) from exc
