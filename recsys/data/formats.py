"""From files to validated frames: the generic path and the public formats.

:func:`load_files` is the single entry point used by the CLI and the dashboard. It reads the
files (:mod:`recsys.data.reading`), recognises well-known public formats and otherwise maps columns
by name, then validates (:mod:`recsys.data.validation`). Public formats:

* **MovieLens** 100K (``u.data`` / ``u.item`` / ``u.user``), 1M (``ratings.dat`` /
  ``movies.dat`` / ``users.dat``) and latest (``ratings.csv`` / ``movies.csv``).
* **UCI Online Retail** (CSV or XLSX): cancellations and lines without a customer are dropped,
  quantity is summed per customer and item, the first purchase time kept; the catalog takes the
  most frequent description, the median unit price and a product type from the description;
  customers keep their country.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from recsys.data.dataset import Dataset, build_dataset
from recsys.data.decoding import GZIP_MAGIC, gunzip, load_bytes
from recsys.data.limits import check_columns, check_first_line, check_rows, count_lines
from recsys.data.reading import (
    ColumnChooser,
    IngestError,
    IngestLimits,
    RawTable,
    Source,
    read_table,
)
from recsys.data.report import IssueCode
from recsys.data.schema import CATALOG_ROLES, ColumnMapping, guess_mapping, normalise_name
from recsys.data.validation import ValidationResult, normalise_ids, validate

__all__ = ["INPUT_FORMATS", "InputFormat", "LoadOptions", "ReadOptions", "detect_format",
           "load_files", "load_movielens", "load_online_retail", "MOVIELENS_GENRES",
           "demo_dataset", "DEMO_NAME"]

log = logging.getLogger(__name__)

#: How input files are read (``auto`` recognises the others); the tuple follows the Literal.
InputFormat = Literal["auto", "generic", "movielens", "online-retail"]
INPUT_FORMATS: tuple[InputFormat, ...] = get_args(InputFormat)

MOVIELENS_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
_RETAIL_COLUMNS = {"invoiceno", "stockcode", "customerid", "quantity", "invoicedate"}
_MOVIELENS_COLUMNS = {"userid", "movieid", "rating"}
_DERIVED_ROLES = ("title", "description", "category", "brand", "price")  # as derive_catalog


@dataclass(frozen=True)
class ReadOptions:
    """Overrides for how a file is read (``None`` = sniff)."""

    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    sheet: str | None = None


def _read(source: Source, opts: ReadOptions | None, name: str | None,
          limits: IngestLimits | None, usecols: ColumnChooser | None = None) -> RawTable:
    o = opts or ReadOptions()
    return read_table(source, name=name, sheet=o.sheet, delimiter=o.delimiter,
                      encoding=o.encoding, header=o.header, limits=limits, usecols=usecols)


def _source_name(source: Source | None, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return Path(source).name
    return getattr(source, "name", "uploaded file")


def _base_name(name: str) -> str:
    """File name without compression suffix, lower-case (``u.data.gz`` → ``u.data``)."""
    name = name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(name: str, raw: RawTable | None = None) -> str:
    """Recognise a public format from the file name and columns; ``generic`` otherwise."""
    base = _base_name(name)
    if base in ("u.data", "ratings.dat") or base.startswith("u1.") or base.startswith("ua."):
        return "movielens"
    if raw is not None:
        return _format_from_columns(raw.frame.columns)
    return "generic"


def _format_from_columns(columns: Sequence[object]) -> str:
    """Online Retail or MovieLens latest when the column names say so; ``generic`` otherwise."""
    cols = {normalise_name(c) for c in columns}
    if cols >= _RETAIL_COLUMNS:
        return "online-retail"
    if cols >= _MOVIELENS_COLUMNS:
        return "movielens"
    return "generic"


class _UsedColumns:
    """Chooses, from an interaction file's header, the columns :func:`load_files` can use.

    Those are the mapped roles (guessed, with the overrides), the catalog attributes that
    :func:`~recsys.data.validation.derive_catalog` guesses from the other columns, and the
    columns that format detection reads. Guessing on a subset that holds every column a guess
    on the whole header picks gives the same guess, so the result is as for a whole read.
    ``None`` (parse everything) when the user or item id column is not in the header, so that
    the report lists the file's columns, or when the file is MovieLens (read again anyway).
    ``header`` keeps the last header seen, for the reading line.
    """

    def __init__(self, file_format: str, mapping: Mapping[str, str | None] | None) -> None:
        self.file_format, self.mapping = file_format, mapping
        self.header: tuple[str, ...] = ()

    def __call__(self, header: Sequence[str]) -> set[str] | None:
        self.header = tuple(header)
        fmt = _format_from_columns(header) if self.file_format == "auto" else self.file_format
        if fmt == "movielens":
            return None
        if fmt == "online-retail" and not self.mapping:
            last = {normalise_name(c): c for c in header}  # as load_online_retail picks them
            roles = {r: last.get(n) for r, n in (("user_id", "customerid"),
                                                  ("item_id", "stockcode"),
                                                  ("timestamp", "invoicedate"),
                                                  ("value", "quantity"),
                                                  ("order_id", "invoiceno"))}
        else:
            roles = dict(guess_mapping(header).with_overrides(self.mapping or {}).roles)
        if any(roles.get(r) not in header for r in ("user_id", "item_id")):
            return None
        used = {c for c in roles.values() if c}
        free = [c for c in header if c not in used]
        derived = {c for c in guess_mapping(free, roles=_DERIVED_ROLES).roles.values() if c}
        detection = {c for c in header if normalise_name(c) in
                     _RETAIL_COLUMNS | _MOVIELENS_COLUMNS | {"country"}}
        return used | derived | detection


def _describe(raw: RawTable, header: Sequence[str]) -> str:
    """``raw.describe()``, counting the file's columns when only some were parsed."""
    text = raw.describe()
    if len(header) > raw.frame.shape[1]:
        text = f"{text.rsplit(', ', 1)[0]}, {len(raw.frame):,} rows × {len(header)} columns"
    return text


@dataclass(frozen=True)
class LoadOptions:
    """How :func:`load_files` treats its files; the defaults sniff, recognise and guess.

    ``mapping`` / ``catalog_mapping`` override guessed columns (role → column name),
    ``value_kind`` the guessed meaning of the value column; the ``*_name`` fields name uploads
    (whose file names the format detection reads) and ``limits`` caps their size.
    """

    file_format: InputFormat = "auto"
    mapping: Mapping[str, str | None] | None = None
    catalog_mapping: Mapping[str, str | None] | None = None
    value_kind: str | None = None
    read_options: ReadOptions | None = None
    catalog_read_options: ReadOptions | None = None
    interactions_name: str | None = None
    catalog_name: str | None = None
    limits: IngestLimits | None = None


def load_files(interactions: Source | RawTable, catalog: Source | None = None,
               options: LoadOptions | None = None, **settings: Any) -> ValidationResult:
    """Read, recognise and validate an interaction file (and optional catalog).

    Settings come from ``options``; keyword ``settings`` (any field of :class:`LoadOptions`,
    e.g. ``file_format="generic"`` or ``mapping={...}``) override them.
    Raises :class:`~recsys.data.reading.IngestError` only when a file cannot be read at all;
    problems with rows are in the returned report.
    """
    opts = replace(options or LoadOptions(), **settings)
    file_format, mapping, value_kind = opts.file_format, opts.mapping, opts.value_kind
    interactions_name, catalog_name, limits = opts.interactions_name, opts.catalog_name, opts.limits
    if isinstance(interactions, RawTable):  # already read (the dashboard previews it first)
        interactions_name = interactions_name or interactions.name
    name = _source_name(interactions, interactions_name)
    if file_format == "movielens" or (file_format == "auto" and detect_format(name) == "movielens"):
        return load_movielens(interactions, catalog, interactions_name=name,
                              catalog_name=catalog_name, limits=limits)
    chooser = _UsedColumns(file_format, mapping)
    raw = (interactions if isinstance(interactions, RawTable)
           else _read(interactions, opts.read_options, name, limits, chooser))
    fmt = detect_format(name, raw) if file_format == "auto" else file_format
    if fmt == "movielens":  # ratings.csv of MovieLens latest: header names say it all
        return load_movielens(interactions, catalog, interactions_name=name,
                              catalog_name=catalog_name, limits=limits)
    if fmt == "online-retail" and not mapping:
        return load_online_retail(raw, described=_describe(raw, chooser.header))
    guessed = guess_mapping(raw.frame.columns)
    inter_map = guessed.with_overrides(mapping or {})
    if value_kind:
        inter_map = ColumnMapping(inter_map.roles, value_kind)  # type: ignore[arg-type]
    reading = [f"{raw.name}: {_describe(raw, chooser.header)}", *raw.notes]
    cat_frame, cat_map = None, None
    if catalog is not None:
        cat_raw = _read(catalog, opts.catalog_read_options, _source_name(catalog, catalog_name),
                        limits)
        reading += [f"{cat_raw.name}: {cat_raw.describe()}", *cat_raw.notes]
        cat_frame = cat_raw.frame
        cat_map = guess_mapping(cat_frame.columns, CATALOG_ROLES).with_overrides(
            opts.catalog_mapping or {})
    return validate(raw.frame, cat_frame, mapping=inter_map, catalog_mapping=cat_map,
                    source=raw.name, file_format="generic", reading=reading,
                    has_header=raw.has_header)


# --------------------------------------------------------------------------- MovieLens


def _sibling(source: Source, names: tuple[str, ...]) -> Path | None:
    if not isinstance(source, str | os.PathLike):
        return None
    folder = Path(source).parent
    for n in names:
        for candidate in (folder / n, folder / f"{n}.gz"):
            if candidate.exists():
                return candidate
    return None


def _read_dat(source: Source, name: str, limits: IngestLimits | None,
              encoding: str | None = None) -> RawTable:
    """Read a MovieLens ``::``-separated file (fields may contain ``|``, so no CSV parser).

    Read within ``limits`` like any other file: gzip is unpacked as a capped stream, and lines
    and fields are counted before the table is built.
    """
    lim = limits or IngestLimits()
    data = load_bytes(source, lim)[0]
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, name, lim)
    check_first_line(data, name, lim)
    check_rows(count_lines(data), name, lim)
    lines = [ln for ln in data.decode(encoding or "latin-1").splitlines() if ln.strip()]
    if not lines:
        raise IngestError(f"'{name}' is empty.")
    check_columns(lines[0].count("::") + 1, name, lim)
    parts = pd.DataFrame([ln.split("::") for ln in lines], dtype="string")
    parts.columns = [f"column_{i + 1}" for i in range(parts.shape[1])]
    return RawTable(parts, name, "csv", encoding=encoding or "latin-1", delimiter="::",
                    has_header=False, size_bytes=len(data))


def load_movielens(
    interactions: Source,
    catalog: Source | None = None,
    *,
    users: Source | None = None,
    interactions_name: str | None = None,
    catalog_name: str | None = None,
    limits: IngestLimits | None = None,
) -> ValidationResult:
    """Load MovieLens 100K, 1M or latest; the catalog and users are found beside a path.

    Ratings go to ``value`` (kind ``rating``), genres to ``category`` (first genre) and
    ``genres`` (all, ``|``-separated).
    """
    name = _source_name(interactions, interactions_name)
    base = _base_name(name)
    variant = "1m" if base.endswith(".dat") else "latest" if base.endswith(".csv") else "100k"
    if variant == "100k":
        raw = read_table(interactions, name=name, delimiter="\t", header=False, limits=limits)
        cat_names, user_names = ("u.item",), ("u.user",)
    elif variant == "1m":
        raw = _read_dat(interactions, name, limits)
        cat_names, user_names = ("movies.dat",), ("users.dat",)
    else:
        raw = read_table(interactions, name=name, limits=limits)
        cat_names, user_names = ("movies.csv",), ()
    frame = raw.frame
    if variant != "latest":
        frame = frame.iloc[:, :4].set_axis(["user_id", "item_id", "rating", "timestamp"], axis=1)
    mapping = ColumnMapping(guess_mapping(frame.columns).roles, "rating")
    reading = [f"{raw.name}: MovieLens {variant}, {raw.describe()}"]
    catalog = catalog if catalog is not None else _sibling(interactions, cat_names)
    cat_frame = None
    if catalog is not None:
        cat_name = _source_name(catalog, catalog_name)
        cat_frame = _movielens_catalog(catalog, cat_name, variant, limits)
        reading.append(f"{cat_name}: {len(cat_frame):,} movies")
    result = validate(frame, cat_frame, mapping=mapping, source=raw.name, has_header=raw.has_header,
                      file_format=f"movielens-{variant}", reading=reading,
                      catalog_mapping=guess_mapping(cat_frame.columns, CATALOG_ROLES)
                      if cat_frame is not None else None)
    users = users if users is not None else _sibling(interactions, user_names)
    if users is not None and result.ok:
        result = replace(result, users=_movielens_users(users, variant, limits))
    return result


def mapping_col(frame: pd.DataFrame, role: str) -> str | None:
    """The column of ``frame`` whose normalised name equals ``role`` (or ``None``)."""
    for col in frame.columns:
        if normalise_name(col) == normalise_name(role):
            return str(col)
    return None


def _movielens_catalog(source: Source, name: str, variant: str,
                       limits: IngestLimits | None) -> pd.DataFrame:
    if variant == "100k":
        raw = read_table(source, name=name, delimiter="|", header=False, encoding="latin-1",
                         limits=limits).frame
        flags = raw.iloc[:, 5:24].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
        genres = ["|".join(g for g, f in zip(MOVIELENS_GENRES, row, strict=True) if f)
                  for row in flags]
        cat = pd.DataFrame({"item_id": raw.iloc[:, 0], "title": raw.iloc[:, 1],
                            "release_date": raw.iloc[:, 2], "genres": genres})
    elif variant == "1m":
        raw = _read_dat(source, name, limits).frame
        cat = pd.DataFrame({"item_id": raw.iloc[:, 0], "title": raw.iloc[:, 1],
                            "genres": raw.iloc[:, 2]})
    else:
        raw = read_table(source, name=name, limits=limits).frame
        cat = raw.rename(columns={mapping_col(raw, "movieId"): "item_id"})
    cat["category"] = cat["genres"].astype("string").str.split("|").str[0]
    return cat


def _movielens_users(source: Source, variant: str, limits: IngestLimits | None) -> pd.DataFrame:
    name = _source_name(source, None)
    if variant == "100k":
        raw = read_table(source, name=name, delimiter="|", header=False, limits=limits).frame
        cols = ["user_id", "age", "gender", "occupation", "zip"]
    else:
        raw = _read_dat(source, name, limits).frame
        cols = ["user_id", "gender", "age", "occupation", "zip"]
    users = raw.iloc[:, :5].set_axis(cols, axis=1)
    users["user_id"] = normalise_ids(users["user_id"])[0].astype(str)
    return users


# --------------------------------------------------------------------------- Online Retail


def load_online_retail(source: Source | RawTable, *, limits: IngestLimits | None = None,
                       top_types: int = 60, described: str | None = None) -> ValidationResult:
    """Load UCI Online Retail (CSV or XLSX) as customer × product purchases.

    Line-level validation first (the report counts the raw invoice lines), then one row per
    customer and product: summed quantity, first purchase time, number of orders.
    ``described`` replaces ``raw.describe()`` in the report (for a file read in part).
    """
    raw = source if isinstance(source, RawTable) else _read(source, None, None, limits)
    cols = {normalise_name(c): c for c in raw.frame.columns}
    missing = _RETAIL_COLUMNS - set(cols)
    mapping = ColumnMapping({
        "user_id": cols.get("customerid"), "item_id": cols.get("stockcode"),
        "timestamp": cols.get("invoicedate"), "value": cols.get("quantity"),
        "order_id": cols.get("invoiceno"),
    }, "quantity")
    reading = [f"{raw.name}: Online Retail, {described or raw.describe()}", *raw.notes]
    result = validate(raw.frame, mapping=mapping, source=raw.name,
                      file_format="online-retail", reading=reading)
    if missing:
        result.report.add("info", IssueCode.RETAIL_COLUMNS, "Online Retail columns not found: "
                          f"{', '.join(sorted(missing))}.")
    if not result.ok:
        return result
    lines = result.interactions
    pairs = (lines.groupby(["user_id", "item_id"], sort=False)
             .agg(timestamp=("timestamp", "min"), value=("value", "sum"),
                  orders=("timestamp", "nunique"))
             .reset_index())
    report = result.report
    report.add("info", IssueCode.AGGREGATED, f"{len(lines):,} invoice lines were combined into "
               f"{len(pairs):,} customer–product pairs (quantities summed, first purchase time "
               "kept).", len(pairs))
    catalog = result.catalog
    if catalog is not None and "title" in catalog.columns:
        catalog = catalog.assign(category=_product_type(catalog["title"], top_types))
    users = None
    if (country := cols.get("country")) is not None:
        ids = normalise_ids(raw.frame[cols["customerid"]])[0]
        frame = pd.DataFrame({"user_id": ids, "country": raw.frame[country]}).dropna()
        users = (frame.groupby(["user_id", "country"], sort=False).size().reset_index(name="n")
                 .sort_values("n", ascending=False, kind="stable").drop_duplicates("user_id")
                 [["user_id", "country"]].reset_index(drop=True))
        users["user_id"] = users["user_id"].astype(str)
        users = users.loc[users["user_id"].isin(pairs["user_id"].unique())].reset_index(drop=True)
    return ValidationResult(report, pairs, catalog, users)


_NOT_A_TYPE = frozenset(
    "PINK BLUE RED WHITE BLACK GREEN IVORY CREAM GOLD SILVER PURPLE ORANGE YELLOW BROWN GREY "
    "TURQUOISE LILAC NATURAL ASSORTED SMALL LARGE MEDIUM MINI JUMBO BIG SET OF THE AND WITH IN "
    "DESIGN COLOUR COLOURS VINTAGE RETROSPOT POLKADOT SPOTTY HEART HEARTS FLOWER FLOWERS LOVE "
    "CHRISTMAS XMAS S M L XL A B C D CM TO FOR".split()
)


def _product_type(titles: pd.Series, top: int) -> pd.Series:
    """A coarse product type from a description: its last word that is not a colour, size or
    pattern (``SET OF 3 CAKE TINS PANTRY DESIGN`` → ``Tins``); rare types become ``Other``.
    Online Retail has no category column, and the type makes the tail profile readable."""
    words = (titles.astype("string").str.upper().str.replace(r"[^A-Z\- ]", " ", regex=True)
             .str.split())
    exploded = words.explode()
    exploded = exploded[~exploded.isin(_NOT_A_TYPE) & exploded.notna()]
    last = exploded.groupby(level=0).last().reindex(titles.index).fillna("OTHER")
    singular = last.str.removesuffix("S")
    last = last.where(~(last.str.endswith("S") & singular.isin(set(last.unique()))), singular)
    keep = last.value_counts().head(top).index
    return last.where(last.isin(keep), "OTHER").str.capitalize().astype(str)


# --------------------------------------------------------------------------- demo shop

DEMO_NAME = "demo-shop"


def demo_dataset(seed: int = 0, name: str = DEMO_NAME) -> Dataset:
    """The embedded demo shop as a ready :class:`~recsys.data.dataset.Dataset` (deterministic)."""
    from recsys.data.demo import generate_demo_shop

    shop = generate_demo_shop(seed=seed)
    return build_dataset(shop.interactions, shop.catalog, users=shop.users, name=name,
                         meta={"source": f"generated demo shop (seed {seed})"})
