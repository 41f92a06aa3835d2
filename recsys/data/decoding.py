"""The bytes of a user's file: reading within limits, gzip, text encoding, delimiter and header sniffing.

The first step of :func:`recsys.data.reading.read_table`: everything here looks at raw bytes
(or a decoded sample of them) and either says how to read them or raises :class:`IngestError`
with a message for the person who uploaded the file. :class:`RawTable`, what every reader
returns, lives here too so that the per-format readers share it without importing each other.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import pandas as pd

from recsys.data.limits import (
    IngestError,
    IngestLimits,
    default_max_upload_mb,
    fmt_size,
    gunzip_capped,
    read_path_capped,
    read_stream_capped,
)

__all__ = ["IngestError", "IngestLimits", "RawTable", "Source", "DELIMITERS", "SNIFF_BYTES",
           "GZIP_MAGIC", "ZIP_MAGIC", "PARQUET_MAGIC", "OLE_MAGIC", "default_max_upload_mb",
           "sniff_delimiter", "looks_like_header", "load_bytes", "gunzip", "check_signature",
           "describe_content", "decode_sample",
           "mostly_utf8", "fmt_size"]

#: Delimiters the sniffer considers, most common first.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
SNIFF_BYTES = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls and other OLE files

Source = str | os.PathLike | bytes | BinaryIO


@dataclass(frozen=True)
class RawTable:
    """A file read into a frame of (mostly) strings, plus how it was read."""

    frame: pd.DataFrame
    name: str
    file_format: Literal["csv", "parquet", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    compressed: bool = False
    has_header: bool = True
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    size_bytes: int = 0

    def describe(self) -> str:
        """One line on how the file was read, for the UI and the CLI."""
        parts = [f"{self.file_format.upper()}{' (gzip)' if self.compressed else ''}"]
        if self.encoding:
            parts.append(f"encoding {self.encoding}")
        if self.delimiter:
            parts.append(f"delimiter {_delimiter_name(self.delimiter)}")
        if self.sheet:
            parts.append(f"sheet '{self.sheet}'")
        if not self.has_header:
            parts.append("no header row")
        parts.append(f"{len(self.frame):,} rows × {self.frame.shape[1]} columns")
        return ", ".join(parts)


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))


def load_bytes(source: Source, limits: IngestLimits) -> tuple[bytes, str, int]:
    """Return the raw bytes, a display name and the size, refusing files over the limit and
    files that are not regular files (devices, pipes: they may never end)."""
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), "uploaded file"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        name = path.name
        data = read_path_capped(path, limits)
    else:
        name = getattr(source, "name", "uploaded file")
        size = getattr(source, "size", None)
        if size is not None and size > limits.max_bytes:
            raise IngestError(
                f"'{name}' is {fmt_size(size)}, over the upload limit of "
                f"{fmt_size(limits.max_bytes)}."
            )
        data = (source.getvalue() if hasattr(source, "getvalue")
                else read_stream_capped(source, name, limits))
    if len(data) > limits.max_bytes:
        raise IngestError(
            f"'{name}' is {fmt_size(len(data))}, over the upload limit of "
            f"{fmt_size(limits.max_bytes)}. Raise it with TAILSTUDIO_MAX_UPLOAD_MB."
        )
    return data, name, len(data)


#: File-name endings whose content has a fixed signature: ending → (what it should be, magic).
_SIGNED_SUFFIXES: dict[str, tuple[str, bytes]] = {
    ".gz": ("a gzip file", GZIP_MAGIC), ".gzip": ("a gzip file", GZIP_MAGIC),
    ".zip": ("a ZIP archive", ZIP_MAGIC), ".xlsx": ("an Excel workbook (.xlsx)", ZIP_MAGIC),
    ".parquet": ("a Parquet file", PARQUET_MAGIC), ".pq": ("a Parquet file", PARQUET_MAGIC),
}


def describe_content(data: bytes) -> str:
    """What the bytes are, from their first bytes: ``plain text``, ``a gzip archive``…"""
    for magic, what in ((GZIP_MAGIC, "a gzip archive"), (ZIP_MAGIC, "a ZIP archive"),
                        (PARQUET_MAGIC, "a Parquet file"), (OLE_MAGIC, "a legacy Office file")):
        if data.startswith(magic):
            return what
    head = data[:8192]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\x00" not in head:
        return "plain text"
    return "binary data of another kind"


def check_signature(data: bytes, name: str, *, unpacked: bool = False) -> None:
    """Refuse a file whose name promises a format its first bytes do not have (a plain CSV named
    ``.csv.gz``, a text file named ``.xlsx``), with a message that says so, rather than a
    misleading one from the wrong reader later. ``unpacked``: ``data`` came out of a gzip
    archive, so a trailing ``.gz`` is dropped and the inner name checked."""
    suffixes = [x.lower() for x in Path(name).suffixes]
    if unpacked and suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in _SIGNED_SUFFIXES:
        return
    what, magic = _SIGNED_SUFFIXES[suffixes[-1]]
    if data.startswith(magic) or (not unpacked and data.startswith(GZIP_MAGIC)):
        return  # a gzip-compressed .xlsx / .parquet is unpacked, then checked again
    if data.startswith(OLE_MAGIC):
        return  # a legacy .xls: the reader's own message says to save it as .xlsx or CSV
    content = describe_content(data)
    hint = (f" Rename it to end in {''.join(suffixes[:-1]) or '.csv'}, or upload the "
            "compressed file." if magic == GZIP_MAGIC and content == "plain text" else
            " Check that the right file was chosen, or rename it to match its content.")
    raise IngestError(f"'{name}' is not {what} (its name ends in {suffixes[-1]}, but its content "
                      f"is {content}).{hint}")


def gunzip(data: bytes, name: str, limits: IngestLimits) -> bytes:
    """Unpack gzip ``data`` within ``limits`` (see :func:`recsys.data.limits.gunzip_capped`)."""
    return gunzip_capped(data, name, limits)


def decode_sample(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """Pick the encoding and return it with a decoded sample of the start of the file."""
    if encoding is None:
        if data[:3] == b"\xef\xbb\xbf":
            encoding = "utf-8-sig"
        elif data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):  # before UTF-16's BOM
            encoding = "utf-32"
        elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16"
        elif b"\x00" in data[:8192]:
            raise IngestError(
                f"'{name}' looks like a binary file, not a text table. Upload a CSV, TSV, "
                "Parquet or XLSX file."
            )
        else:
            encoding = _guess_text_encoding(data)
    try:
        sample = data[:SNIFF_BYTES].decode(encoding, errors="strict")
    except UnicodeDecodeError:
        # The cut may fall inside a multi-byte character; retry a few bytes shorter.
        sample = data[: SNIFF_BYTES - 4].decode(encoding, errors="ignore")
    except LookupError as exc:
        raise IngestError(f"Unknown text encoding '{encoding}'.") from exc
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    if sample and control / len(sample) > 0.01:
        raise IngestError(
            f"'{name}' does not look like a text table (it contains binary data). Upload a CSV, "
            "TSV, Parquet or XLSX file."
        )
    return encoding, sample


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def mostly_utf8(data: bytes) -> tuple[bytes, int] | None:
    """Repair a UTF-8 file with a few stray bytes (e.g. one pasted latin-1 character).

    When valid multi-byte UTF-8 characters outnumber invalid bytes ten to one, reading the file
    as Windows-1252 would garble every accent, so the stray bytes become U+FFFD instead. Returns
    the repaired bytes and the number of replacements, or ``None`` when not mostly UTF-8.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = len(_NON_ASCII.findall(text)) - bad
    if bad and multibyte >= 10 * bad:
        return text.encode("utf-8"), bad
    return None


def _guess_text_encoding(data: bytes) -> str:
    """UTF-8 when the whole file decodes as UTF-8, else Windows-1252, else latin-1."""
    for enc in ("utf-8", "cp1252"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def sniff_delimiter(sample: str) -> str:
    """Choose the delimiter that splits the sample's lines into the most consistent columns."""
    lines = [ln for ln in sample.splitlines()[:200] if ln.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (freq / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def looks_like_header(first_row: list[str]) -> bool:
    """A header has at least one field that is not a number or a date-like value."""
    return not all(_NUMERIC.match(f) or _DATE_LIKE.match(f) for f in first_row if f.strip()) and any(
        f.strip() for f in first_row
    )


_NUMERIC = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_DATE_LIKE = re.compile(
    r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
