"""Reading and validating a large interaction file in batches, into compact arrays.

The plain path (:func:`recsys.data.formats.load_files`) holds the whole file as a table of
Python strings, then validates it: fine for an upload of a few million rows, several GB at ten
million. This path reads Parquet (row groups) or CSV (blocks) with pyarrow one batch at a time,
validates each batch with the very same rules (:func:`~recsys.data.validation.clean_interactions`)
and keeps only compact arrays: user and item ids as int32 codes into first-seen vocabularies
(pandas categoricals in the result), timestamps as datetime64 and values as float32.

The report is the plain path's: the batch reports are merged (counts summed, the first
offending rows kept with their row numbers in the whole file), then the checks that need every
row run once on the compact arrays: duplicates *across* batches (compared on the parsed
user, item, timestamp and value), the catalog match, the user and item counts. Without a
catalog the catalog is the item ids (no attributes derived from the interaction file).
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.decoding import PARQUET_MAGIC, IngestError, IngestLimits, Source, sniff_delimiter
from recsys.data.limits import check_columns, check_rows, fmt_size
from recsys.data.report import Issue, IssueCode, ValidationReport, ValidationResult
from recsys.data.schema import CATALOG_ROLES, ColumnMapping, guess_mapping
from recsys.data.validation import clean_catalog, clean_interactions

__all__ = ["BATCH_ROWS", "BATCHED_FROM_ROWS", "read_batched", "batch_source_kind", "peek",
           "wants_batched", "Vocabulary"]

log = logging.getLogger(__name__)

#: Rows per batch: a batch as Python strings costs a few hundred MB at most.
BATCH_ROWS = 1_000_000
_NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"]
#: Issues whose message starts with the count of the batch (rewritten to the file's count).
_COUNTED = (IssueCode.for_role("float", "user_id"), IssueCode.for_role("float", "item_id"))


class Vocabulary:
    """Ids → dense int32 codes in first-seen order, grown batch by batch."""

    def __init__(self) -> None:
        self._codes: dict[Any, int] = {}
        self.ids: list[Any] = []

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes of ``values`` (new ids get the next codes)."""
        local, uniques = pd.factorize(values)
        table, ids = self._codes, self.ids
        lookup = np.empty(len(uniques), dtype=np.int32)
        for j, value in enumerate(uniques):
            code = table.get(value)
            if code is None:
                code = table[value] = len(ids)
                ids.append(value)
            lookup[j] = code
        return lookup[local]

    def categories(self) -> pd.Index:
        return pd.Index(np.asarray(self.ids, dtype=object), dtype=object)


def batch_source_kind(path: str | Path) -> str | None:
    """``parquet`` or ``csv`` when ``path`` is a file the batched reader can stream, else
    ``None`` (XLSX, gzip Parquet, MovieLens ``.dat``… take the plain path)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    if head == PARQUET_MAGIC:
        return "parquet"
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if (suffixes and suffixes[-1] in (".csv", ".tsv", ".txt")) or suffixes[-2:] in (
            [".csv", ".gz"], [".tsv", ".gz"]):
        return "csv"
    return None


def peek(path: str | Path) -> tuple[list[str], int]:
    """Column names and rows of a file :func:`batch_source_kind` accepts, without reading it:
    Parquet from its footer, CSV from the header line and an estimate from the file's size
    (bytes per line of the first 64 KB)."""
    path = Path(path)
    if batch_source_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception:  # unreadable: the reader says why
            return [], 0
        return list(pf.schema_arrow.names), int(pf.metadata.num_rows)
    sample, delimiter = _csv_sample(path)
    names = [str(c) for c in pd.read_csv(io.StringIO(sample), sep=delimiter, nrows=0,
                                         dtype=str).columns]
    lines = max(1, sample.count("\n"))
    size = path.stat().st_size * (4 if path.suffix.lower() == ".gz" else 1)
    return names, int(size / max(1.0, len(sample.encode()) / lines))


def _csv_sample(path: Path) -> tuple[str, str]:
    """The first 64 KB of a CSV (gzip unpacked) and its sniffed delimiter."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            sample = fh.read(64 * 1024)
    except (OSError, EOFError) as exc:
        raise IngestError(f"'{path.name}' cannot be read ({exc}).") from exc
    return sample, sniff_delimiter(sample)


#: Interaction files with more rows than this are read in batches (by :func:`read_batched`)
#: unless the reader is chosen: the plain path holds the whole file as text first.
BATCHED_FROM_ROWS = 2_000_000


def wants_batched(source: Source, file_format: str = "auto",
                  reader: str = "auto") -> bool:
    """Whether ``source`` is read by the batched reader: ``reader`` ``batched`` (for any
    Parquet or CSV path), ``plain`` (never) or ``auto``: a generic Parquet or CSV file (not
    a public format) of more than :data:`BATCHED_FROM_ROWS` rows."""
    from recsys.data.formats import _format_from_columns, detect_format

    if reader == "plain" or not isinstance(source, str | os.PathLike):
        return False
    if batch_source_kind(source) is None or file_format not in ("auto", "generic"):
        return False
    try:
        names, rows = peek(source)
    except Exception as exc:  # empty, damaged, not a table: the plain reader says what is wrong
        log.debug("batched reader not chosen for %s: %s", source, exc)
        return False
    if reader == "batched":
        return True
    if file_format == "auto" and detect_format(Path(source).name) != "generic":
        return False
    if file_format == "auto" and _format_from_columns(names) != "generic":
        return False
    return rows > BATCHED_FROM_ROWS


@dataclass
class _Parts:
    """The compact columns gathered over the batches."""

    users: list[np.ndarray] = field(default_factory=list)
    items: list[np.ndarray] = field(default_factory=list)
    timestamps: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)


def _parquet_batches(path: Path, limits: IngestLimits, batch_rows: int
                     ) -> tuple[list[str], int | None, Iterator[Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise IngestError(f"'{path.name}' is not a readable Parquet file ({exc}).") from exc
    names = list(pf.schema_arrow.names)
    check_columns(len(names), path.name, limits)
    check_rows(pf.metadata.num_rows, path.name, limits)
    return names, pf.metadata.num_rows, pf.iter_batches(batch_size=batch_rows)


def _csv_batches(path: Path, limits: IngestLimits, batch_rows: int
                 ) -> tuple[list[str], int | None, Iterator[Any]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sample, delimiter = _csv_sample(path)
    names = [str(c) for c in pd.read_csv(io.StringIO(sample), sep=delimiter, nrows=0,
                                         dtype=str).columns]
    check_columns(len(names), path.name, limits)
    try:
        reader = pcsv.open_csv(
            path, read_options=pcsv.ReadOptions(block_size=32 << 20, encoding="utf-8"),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                null_values=_NA_VALUES,
                                                strings_can_be_null=True))
    except Exception as exc:  # pyarrow.lib.ArrowInvalid and friends
        raise IngestError(f"'{path.name}' could not be read as a CSV table ({exc}).") from exc

    def batches() -> Iterator[Any]:
        rows = 0
        try:
            for batch in reader:
                rows += batch.num_rows
                check_rows(rows, path.name, limits, at_least=True)
                yield batch
        except IngestError:
            raise
        except Exception as exc:
            raise IngestError(f"'{path.name}' could not be read as a CSV table after {rows:,} "
                              f"rows ({exc}).") from exc

    return names, None, batches()


def _merge(total: ValidationReport, part: ValidationReport, first: bool) -> None:
    """Add one batch's report into ``total`` (issues with the same level and code merged)."""
    total.rows_read += part.rows_read
    total.rows_kept += part.rows_kept
    total.rows_several_reasons += part.rows_several_reasons
    if first:
        total.mapping, total.timestamps_read_as = part.mapping, part.timestamps_read_as
    if part.first_timestamp and (not total.first_timestamp or part.first_timestamp < total.first_timestamp):
        total.first_timestamp = part.first_timestamp
    if part.last_timestamp and part.last_timestamp > total.last_timestamp:
        total.last_timestamp = part.last_timestamp
    index = {(i.level, i.code, i.table): n for n, i in enumerate(total.issues)}
    for issue in part.issues:
        key = (issue.level, issue.code, issue.table)
        if key not in index:
            total.issues.append(issue)
            continue
        old = total.issues[index[key]]
        count = old.count + issue.count
        message = old.message
        if issue.code in _COUNTED:
            message = message.replace(f"{old.count:,}", f"{count:,}", 1)
        total.issues[index[key]] = Issue(old.level, old.code, message, count, old.table,
                                         old.sample)


def read_batched(interactions: str | Path, catalog: str | Path | None = None, *,
                 mapping: Mapping[str, str | None] | None = None,
                 catalog_mapping: Mapping[str, str | None] | None = None,
                 value_kind: str | None = None, limits: IngestLimits | None = None,
                 batch_rows: int = BATCH_ROWS) -> ValidationResult:
    """Read, validate and encode a Parquet or CSV interaction file batch by batch.

    Returns the :class:`~recsys.data.report.ValidationResult` of the plain path, whose
    interactions hold categorical ids, datetime64 timestamps and float32 values. Raises
    :class:`~recsys.data.reading.IngestError` when the file cannot be read (or is over the row
    cap); problems with rows are in the report.
    """
    t0 = time.perf_counter()
    path, limits = Path(interactions), limits or IngestLimits()
    kind = batch_source_kind(path)
    if kind is None:
        raise IngestError(f"'{path.name}' is not a Parquet or CSV file; the batched reader "
                          "reads those only.")
    opener = _parquet_batches if kind == "parquet" else _csv_batches
    names, n_rows, batches = opener(path, limits, batch_rows)
    inter_map = guess_mapping(names).with_overrides(mapping or {})
    if value_kind:
        inter_map = ColumnMapping(inter_map.roles, value_kind)  # type: ignore[arg-type]
    size = fmt_size(path.stat().st_size)
    rows_note = f"{n_rows:,} rows" if n_rows is not None else "rows counted while reading"
    report = ValidationReport(source=path.name, file_format="generic",
                              reading=[f"{path.name}: {kind}, {size}, {rows_note} × {len(names)} "
                                       f"columns, read in batches of {batch_rows:,} rows"])
    used = [c for c in inter_map.roles.values() if c in names]
    users, items, parts, offset = Vocabulary(), Vocabulary(), _Parts(), 0
    for number, batch in enumerate(batches):
        frame = batch.select([c for c in dict.fromkeys(used)]).to_pandas() if used else batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        part = ValidationReport(source=path.name, first_line=2)
        kept = clean_interactions(frame, inter_map, part)
        errors = [i for i in part.errors if i.code != IssueCode.NO_ROWS]
        if errors:  # a column problem: the same for every batch, reported as is
            part.issues = [i for i in part.issues if i.code != IssueCode.NO_ROWS]
            _merge(report, part, number == 0)
            return ValidationResult(report)
        part.issues = [i for i in part.issues if i.code != IssueCode.NO_ROWS]
        _merge(report, part, number == 0)
        if kept is None or kept.empty:
            continue
        parts.users.append(users.encode(kept["user_id"].to_numpy()))
        parts.items.append(items.encode(kept["item_id"].to_numpy()))
        if "timestamp" in kept.columns:
            parts.timestamps.append(kept["timestamp"].to_numpy(dtype="datetime64[ns]"))
        if "value" in kept.columns:
            parts.values.append(kept["value"].to_numpy(dtype=np.float32))
        log.info("read %d rows of %s (%.1fs)", offset, path.name, time.perf_counter() - t0)
    inter = _compact_frame(parts, users, items)
    inter = _drop_cross_batch_duplicates(inter, report)
    cat = None
    if catalog is not None:
        inter, cat = _with_catalog(inter, catalog, catalog_mapping, limits, report)
        if cat is None or inter is None:
            return ValidationResult(report)
    if inter.empty:
        report.add("error", IssueCode.NO_ROWS, "No interaction row survived validation; see the "
                   "reasons above.")
        return ValidationResult(report)
    report.rows_kept = len(inter)
    report.n_users = int(inter["user_id"].nunique())
    report.n_items = int(inter["item_id"].nunique())
    if cat is not None:
        known = pd.Index(inter["item_id"].cat.categories[np.unique(inter["item_id"].cat.codes)])
        report.n_cold_items = int((~cat["item_id"].isin(known)).sum())
        if report.n_cold_items:
            report.add("info", IssueCode.COLD_ITEMS, "Catalog items without interactions are kept "
                       "as cold items (they can still be recommended by content).",
                       report.n_cold_items, table="catalog")
        report.n_items = len(cat)
    log.info("batched read of %s: %d of %d rows kept in %.1fs", path.name, report.rows_kept,
             report.rows_read, time.perf_counter() - t0)
    return ValidationResult(report, inter, cat)


def _compact_frame(parts: _Parts, users: Vocabulary, items: Vocabulary) -> pd.DataFrame:
    """The canonical interaction frame over the compact arrays (categorical ids)."""
    def cat(codes: list[np.ndarray], vocab: Vocabulary) -> pd.Categorical:
        joined = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
        return pd.Categorical.from_codes(joined, categories=vocab.categories())

    data: dict[str, Any] = {"user_id": cat(parts.users, users), "item_id": cat(parts.items, items)}
    if parts.timestamps:
        data["timestamp"] = np.concatenate(parts.timestamps)
    if parts.values:
        data["value"] = np.concatenate(parts.values)
    return pd.DataFrame(data)


def _repeated_rows(inter: pd.DataFrame) -> np.ndarray:
    """Mask of rows equal to an earlier row, by a stable sort of the compact keys (a few
    hundred MB at ten million rows, where a hash table of the rows takes GB)."""
    pair = (inter["user_id"].cat.codes.to_numpy().astype(np.uint64) << np.uint64(32)) | \
        inter["item_id"].cat.codes.to_numpy().astype(np.uint64)
    keys = [inter[c].to_numpy().view(np.int64) if c == "timestamp" else inter[c].to_numpy()
            for c in ("value", "timestamp") if c in inter.columns]
    order = np.lexsort((*keys, pair))  # stable: equal rows stay in file order
    same = pair[order[1:]] == pair[order[:-1]]
    for key in keys:
        same &= key[order[1:]] == key[order[:-1]]
    dup = np.zeros(len(inter), dtype=bool)
    dup[order[1:][same]] = True
    return dup


def _drop_cross_batch_duplicates(inter: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Rows repeating an earlier batch's row (same parsed user, item, time and value): dropped
    and counted with the within-batch duplicates."""
    if inter.empty:
        return inter
    dup = _repeated_rows(inter)
    n = int(dup.sum())
    if not n:
        return inter
    existing = next((j for j, i in enumerate(report.issues) if i.code == IssueCode.DUPLICATE), None)
    if existing is None:
        report.add("warning", IssueCode.DUPLICATE, "Exact duplicate rows were dropped (first "
                   "kept).", n)
    else:
        old = report.issues[existing]
        report.issues[existing] = Issue(old.level, old.code, old.message, old.count + n,
                                        old.table, old.sample)
    report.rows_kept -= n
    return inter.loc[~dup].reset_index(drop=True)


def _with_catalog(inter: pd.DataFrame, catalog: str | Path,
                  catalog_mapping: Mapping[str, str | None] | None, limits: IngestLimits,
                  report: ValidationReport) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Read and clean the catalog (plain reader: a catalog is small), drop interactions on
    items it lacks (reported like the plain path)."""
    from recsys.data.reading import read_table

    raw = read_table(catalog, limits=limits)
    report.reading.append(f"{raw.name}: {raw.describe()}")
    cat_map = guess_mapping(raw.frame.columns, CATALOG_ROLES).with_overrides(catalog_mapping or {})
    cat = clean_catalog(raw.frame, cat_map, report)
    if cat is None:
        return None, None
    vocab = inter["item_id"].cat.categories
    listed = vocab.isin(cat["item_id"])
    inside = listed[inter["item_id"].cat.codes.to_numpy()] if len(inter) else np.zeros(0, bool)
    if len(inter) and not inside.any():
        report.add("error", IssueCode.CATALOG_NO_MATCH,
                   "None of the catalog's item ids match the interactions' item ids (catalog "
                   f"e.g. {', '.join(cat['item_id'].head(3))}; interactions e.g. "
                   f"{', '.join(map(str, vocab[:3]))}). Check that both files use the same item "
                   "id column.", len(inter), table="catalog")
        report.rows_kept = 0
        return None, None
    missing = ~inside
    if missing.any():
        report.add("warning", IssueCode.UNKNOWN_ITEM, "Interactions on items missing from the "
                   "catalog were dropped.", int(missing.sum()), sample=inter.loc[missing])
        inter = inter.loc[inside].reset_index(drop=True)
    return inter, cat
