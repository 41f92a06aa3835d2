"""Hard limits on what a user's file may cost to read, and the bounded readers that enforce them.

An upload is untrusted: a few MB of gzip can unpack to many GB, an XLSX (a zip) can hold a
million rows in a few hundred KB, a "CSV" can be one line of 200 MB or a million columns, and a
path can name ``/dev/zero`` or a pipe that never ends. Every limit here is checked *while*
reading, before the data is held in memory, and stops with an :class:`IngestError` whose message
names the limit and the setting that raises it. The limits come from :class:`IngestLimits`,
whose defaults read environment variables (listed in the README's Settings table).
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = ["IngestError", "IngestLimits", "default_max_upload_mb", "fmt_size", "gunzip_capped",
           "read_path_capped", "read_stream_capped", "check_rows", "check_columns",
           "check_first_line", "check_xlsx", "count_lines"]

log = logging.getLogger(__name__)

#: Bytes read at a time from a compressed stream.
CHUNK = 1 << 20
#: Unpacked data kept in memory during the first (checking) pass; beyond it the stream is only
#: counted and then unpacked a second time, so that a bomb never occupies more than this.
KEEP_WHILE_CHECKING = 64 << 20


class IngestError(ValueError):
    """A file that cannot be read at all; the message says why and what to do."""


def _env_int(name: str, default: int) -> int:
    """A positive integer setting from the environment; ``default`` when unset or not a number."""
    try:
        return max(1, int(os.environ.get(name, str(default))))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", name, os.environ.get(name), default)
        return default


def default_max_upload_mb() -> int:
    """Upload size limit in MB: ``TAILSTUDIO_MAX_UPLOAD_MB`` or 500."""
    try:
        return max(1, int(os.environ.get("TAILSTUDIO_MAX_UPLOAD_MB", "500")))
    except ValueError:
        return 500


@dataclass(frozen=True)
class IngestLimits:
    """Guards against files too large (or too hostile) to handle.

    ``max_bytes`` caps the file as given; unpacked (gzip, XLSX) data is capped at
    ``max_bytes × max_expand`` and at ``max_unpacked_bytes``, whichever is smaller. ``max_rows``
    caps the lines of a text file and the rows of a sheet or Parquet file, ``max_columns`` the
    fields of the first line, ``max_line_bytes`` the length of the first line (a header longer
    than this is not a table header). Defaults come from ``TAILSTUDIO_MAX_UPLOAD_MB``,
    ``TAILSTUDIO_MAX_UNPACKED_MB``, ``TAILSTUDIO_MAX_ROWS``, ``TAILSTUDIO_MAX_COLUMNS`` and
    ``TAILSTUDIO_MAX_LINE_KB``.
    """

    max_bytes: int = field(default_factory=lambda: default_max_upload_mb() * 2**20)
    max_expand: int = 20
    max_unpacked_bytes: int = field(
        default_factory=lambda: _env_int("TAILSTUDIO_MAX_UNPACKED_MB", 2048) * 2**20)
    max_rows: int = field(default_factory=lambda: _env_int("TAILSTUDIO_MAX_ROWS", 20_000_000))
    max_columns: int = field(default_factory=lambda: _env_int("TAILSTUDIO_MAX_COLUMNS", 2000))
    max_line_bytes: int = field(
        default_factory=lambda: _env_int("TAILSTUDIO_MAX_LINE_KB", 128) * 1024)

    @property
    def unpacked_cap(self) -> int:
        """The most bytes a compressed file may unpack to."""
        return min(self.max_bytes * self.max_expand, self.max_unpacked_bytes)


def fmt_size(n: float) -> str:
    """``n`` bytes for people: ``146.5 KB``, ``2.0 MB``."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _too_much_unpacked(name: str, cap: int) -> IngestError:
    return IngestError(
        f"'{name}' unpacks to more than {fmt_size(cap)}; it is too large (the limit for unpacked "
        "data). If the file is genuine, unpack and filter it first, or raise the limit with "
        "TAILSTUDIO_MAX_UNPACKED_MB (and TAILSTUDIO_MAX_UPLOAD_MB, of which at most 20 times is "
        "unpacked).")


def check_rows(rows: int, name: str, limits: IngestLimits, *, at_least: bool = False) -> None:
    """Refuse more than ``limits.max_rows`` rows (``at_least``: counting stopped early)."""
    if rows > limits.max_rows:
        count = f"more than {limits.max_rows:,}" if at_least else f"{rows:,}"
        raise IngestError(
            f"'{name}' has {count} rows, over the limit of {limits.max_rows:,}. Filter or split "
            "the file, or raise the limit with TAILSTUDIO_MAX_ROWS.")


def check_columns(columns: int, name: str, limits: IngestLimits) -> None:
    """Refuse a table wider than ``limits.max_columns`` (checked on the first line)."""
    if columns > limits.max_columns:
        raise IngestError(
            f"'{name}' has {columns:,} columns in its first line, over the limit of "
            f"{limits.max_columns:,}. Keep only the columns needed (user, item, time, value, …), "
            "check the delimiter in the reading options, or raise the limit with "
            "TAILSTUDIO_MAX_COLUMNS.")


def check_first_line(data: bytes, name: str, limits: IngestLimits) -> None:
    """Refuse a text file whose first line is longer than ``limits.max_line_bytes``.

    Such a line is no header (and would trip the csv module's field limit); it is usually one
    record per file, a wrong line ending or a binary file.
    """
    end = data.find(b"\n", 0, limits.max_line_bytes + 1)
    if end == -1 and len(data) > limits.max_line_bytes:
        raise IngestError(
            f"The first line of '{name}' is longer than {fmt_size(limits.max_line_bytes)}, so it "
            "is not a table header. Check that the file has one record per line (a CSV, TSV or "
            "TXT table), or raise the limit with TAILSTUDIO_MAX_LINE_KB.")


def count_lines(data: bytes) -> int:
    """Lines in ``data`` (a last line without a newline counts)."""
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def read_stream_capped(stream: BinaryIO, name: str, limits: IngestLimits) -> bytes:
    """All bytes of ``stream``, refusing more than ``limits.max_bytes`` (read at most one more)."""
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise IngestError(
            f"'{name}' is over the upload limit of {fmt_size(limits.max_bytes)}. Filter or split "
            "the file, or raise the limit with TAILSTUDIO_MAX_UPLOAD_MB.")
    return data


def read_path_capped(path: Path, limits: IngestLimits) -> bytes:
    """The bytes of a regular file ≤ ``limits.max_bytes``; devices, pipes and sockets refused."""
    name = path.name or str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise IngestError(f"File not found: {path}") from exc
    if stat.S_ISDIR(mode):
        raise IngestError(f"{path} is a folder; choose a file inside it.")
    if not stat.S_ISREG(mode):
        raise IngestError(
            f"'{name}' is not a regular file (a device, pipe or socket), so its size is unknown "
            "and reading it may never end. Save the data to a file and choose that file.")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise IngestError(
            f"'{name}' is {fmt_size(size)}, over the upload limit of "
            f"{fmt_size(limits.max_bytes)}. Filter or split the file, or raise the limit "
            "with TAILSTUDIO_MAX_UPLOAD_MB.")
    with path.open("rb") as fh:  # the size may change while reading: read at most one more
        return read_stream_capped(fh, name, limits)


def gunzip_capped(data: bytes, name: str, limits: IngestLimits) -> bytes:
    """Unpack gzip ``data`` as a stream, refusing more than ``limits.unpacked_cap`` bytes or (for
    text) more than ``limits.max_rows`` lines.

    The first pass keeps at most :data:`KEEP_WHILE_CHECKING` bytes; a larger stream is only
    counted, and unpacked again once it is known to fit, so a bomb never fills memory.
    """
    cap = limits.unpacked_cap
    kept: list[bytes] | None = []
    total = lines = 0
    text: bool | None = None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(CHUNK):
                if text is None:  # binary payloads (Parquet, XLSX) have no lines to count
                    text = chunk[:4] not in (b"PAR1", b"PK\x03\x04")
                total += len(chunk)
                if total > cap:
                    raise _too_much_unpacked(name, cap)
                if text:
                    lines += chunk.count(b"\n")
                    check_rows(lines - 1, name, limits, at_least=True)  # less a header
                if kept is not None:
                    kept.append(chunk)
                    if total > KEEP_WHILE_CHECKING:
                        kept = None
            if kept is not None:
                return b"".join(kept)
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            return fh.read(cap + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: corrupt deflate data
        raise IngestError(f"'{name}' looks like gzip but cannot be unpacked ({exc}).") from exc


_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
#: The most of a sheet's XML searched for the end of its first row (to count its cells).
FIRST_ROW_BYTES = 8 << 20


def check_xlsx(zf: zipfile.ZipFile, name: str, limits: IngestLimits) -> None:
    """Refuse a workbook that unpacks to more than ``limits.unpacked_cap`` or holds a sheet with
    more than ``limits.max_rows`` rows or a first row of more than ``limits.max_columns`` cells,
    reading each sheet's XML as a stream (tags counted, not parsed), before any spreadsheet
    reader loads it whole.

    The sizes a zip declares are upper bounds: Python's zip reader stops at them.
    """
    cap = limits.unpacked_cap
    if sum(info.file_size for info in zf.infolist()) > cap:
        raise _too_much_unpacked(name, cap)
    for info in zf.infolist():
        if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
            continue
        rows, tail, head = 0, b"", b""
        head_done = False
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK):
                block = tail + chunk
                rows += len(_ROW_TAG.findall(block))
                tail = block[-8:]
                rows -= len(_ROW_TAG.findall(tail))  # counted again with the next chunk
                # header row + max_rows data rows are allowed
                check_rows(rows - 1, name, limits, at_least=True)
                if not head_done:
                    head += chunk
                    head_done = _check_first_row(head, name, limits)


def _check_first_row(head: bytes, name: str, limits: IngestLimits) -> bool:
    """Count the cells of the first row in ``head`` (the start of a sheet's XML); ``True`` once
    the row is complete (or ``head`` is long enough to judge)."""
    start = _ROW_TAG.search(head)
    if start is None:
        return len(head) > FIRST_ROW_BYTES
    end = _ROW_END.search(head, start.end())
    if end is None and len(head) <= FIRST_ROW_BYTES:
        return False
    stop = end.start() if end is not None else len(head)
    check_columns(len(_CELL_TAG.findall(head, start.end(), stop)), name, limits)
    return True
