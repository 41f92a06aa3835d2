"""A read-through cache for expensive, deterministic results (embeddings, item maps).

:class:`ReadThroughCache` keeps the last few results in process (a bounded LRU memo) and, when
given a folder, also on disk: a value missing from the memo is read from its file, and a value
missing there is computed, remembered and written. Files are written atomically (a temporary
file in the same folder, then :func:`os.replace`), so a reader never sees half a file, and they
hold plain payloads (``.npz`` arrays read with ``allow_pickle=False``, parquet, JSON): nothing
is unpickled. A file that cannot be read is ignored (and recomputed); a folder that cannot be
written only costs time.

Keys are content addresses: :func:`content_key` hashes a namespace, a format version and the
inputs that determine the result, so a change to any of them is a miss and bumping the version
retires every old entry.

The module also defines the progress callback shapes shared by the library. It imports nothing
from :mod:`recsys`, so every layer may use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["Progress", "CountProgress", "ReadThroughCache", "content_key", "atomic_write",
           "noop_progress", "Cancelled"]

log = logging.getLogger(__name__)

#: ``progress(fraction in [0, 1], message)``: how far a long step is, in words for the user.
Progress = Callable[[float, str], None]
#: ``progress(done, total)``: how many of a known number of units (e.g. users) are done.
CountProgress = Callable[[int, int], None]

T = TypeVar("T")


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation (a user pressed Cancel).

    Code that falls back on errors (the sentence model → TF-IDF) re-raises it untouched, so a
    cancel always ends the computation and nothing half-done is cached.
    """


def noop_progress(fraction: float, message: str) -> None:
    """A :data:`Progress` that ignores what it hears (the default when none is given)."""
    return None


def _part_bytes(part: Any) -> tuple[bytes, bytes]:
    """A tag and the bytes of one key part; sequences of strings are framed text by text."""
    if isinstance(part, str):
        return b"s", part.encode("utf-8", "surrogatepass")
    if isinstance(part, bytes):
        return b"b", part
    if isinstance(part, Sequence) and part and all(isinstance(p, str) for p in part):
        raw = bytearray(len(part).to_bytes(8, "little"))
        for text in part:
            data = text.encode("utf-8", "surrogatepass")
            raw += len(data).to_bytes(8, "little") + data
        return b"t", bytes(raw)
    return b"j", json.dumps(part, sort_keys=True, default=str).encode()


def content_key(namespace: str, version: int | str, *parts: Any, length: int = 24) -> str:
    """A hex digest of ``namespace``, ``version`` and ``parts`` (the inputs of a result).

    Strings and bytes are hashed as they are, lists of strings text by text (each one
    length-prefixed, so ``["ab", "c"]`` and ``["a", "bc"]`` differ), anything else as sorted
    JSON. Every part is tagged and length-prefixed, so no two different part lists collide by
    concatenation.
    """
    digest = hashlib.sha256(f"{namespace}|v{version}|{len(parts)}".encode())
    for part in parts:
        tag, raw = _part_bytes(part)
        digest.update(tag + len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()[:length]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place.

    The temporary file keeps ``path``'s suffix (writers such as ``numpy.savez`` add one
    otherwise). On failure it is removed and the error is raised.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ReadThroughCache(Generic[T]):
    """Results of one kind, memoised in process and optionally kept in a folder.

    ``namespace`` and ``version`` go into every key (:meth:`key`); at most ``max_entries``
    values stay in memory (least recently used first out). Files are named
    ``{file_prefix}-{key}{suffix}`` in ``folder`` (or the folder given per call). ``dump(value,
    path)`` and ``load(path)`` write and read one file; they are given per call or here. A
    ``None`` value is never cached (it reads as a miss).
    """

    def __init__(self, namespace: str, version: int | str, max_entries: int,
                 folder: str | os.PathLike[str] | None = None, *, file_prefix: str | None = None,
                 suffix: str = ".npz", dump: Callable[[T, Path], None] | None = None,
                 load: Callable[[Path], T] | None = None) -> None:
        self.namespace = namespace
        self.version = version
        self.max_entries = max(0, int(max_entries))
        self.folder = Path(folder) if folder is not None else None
        self.file_prefix = file_prefix or namespace
        self.suffix = suffix
        self._dump = dump
        self._load = load
        self._memo: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    # -- keys and files ---------------------------------------------------------------------
    def key(self, *parts: Any) -> str:
        """The content key of a result made from ``parts`` (see :func:`content_key`)."""
        return content_key(self.namespace, self.version, *parts)

    def path(self, key: str, folder: str | os.PathLike[str] | None = None) -> Path | None:
        """Where the file of ``key`` lives (``None`` without a folder)."""
        base = Path(folder) if folder is not None else self.folder
        return base / f"{self.file_prefix}-{key}{self.suffix}" if base is not None else None

    # -- memo -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._memo)

    def clear(self) -> None:
        """Forget every in-process value (files stay)."""
        with self._lock:
            self._memo.clear()

    def recall(self, key: str) -> T | None:
        """The in-process value of ``key``, if any (and mark it recently used)."""
        with self._lock:
            value = self._memo.get(key)
            if value is not None:
                self._memo.move_to_end(key)
            return value

    def remember(self, key: str, value: T) -> T:
        """Keep ``value`` in process under ``key``, dropping the least recently used beyond
        ``max_entries``; returns ``value``."""
        with self._lock:
            self._memo[key] = value
            self._memo.move_to_end(key)
            while len(self._memo) > self.max_entries:
                self._memo.popitem(last=False)
        return value

    # -- read through -----------------------------------------------------------------------
    def get(self, key: str, *, folder: str | os.PathLike[str] | None = None,
            load: Callable[[Path], T] | None = None) -> T | None:
        """The value of ``key`` from memory, else from its file (then remembered), else None."""
        hit = self.recall(key)
        if hit is not None:
            return hit
        path = self.path(key, folder)
        load = load or self._load
        if path is None or load is None or not path.is_file():
            return None
        try:
            value = load(path)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring unreadable %s cache %s: %s", self.namespace, path, exc)
            return None
        return self.remember(key, value)

    def put(self, key: str, value: T, *, folder: str | os.PathLike[str] | None = None,
            dump: Callable[[T, Path], None] | None = None) -> T:
        """Remember ``value`` and, with a folder and a ``dump``, write its file atomically."""
        self.remember(key, value)
        path = self.path(key, folder)
        dump = dump or self._dump
        if path is not None and dump is not None:
            try:
                atomic_write(path, lambda tmp: dump(value, tmp))
            except OSError as exc:  # a read-only cache folder only costs time
                log.warning("could not write %s cache %s: %s", self.namespace, path, exc)
        return value

    def get_or_compute(self, key_parts: Sequence[Any], compute: Callable[[], T], *,
                       folder: str | os.PathLike[str] | None = None,
                       dump: Callable[[T, Path], None] | None = None,
                       load: Callable[[Path], T] | None = None) -> tuple[T, bool]:
        """``(value, cached)``: the value of ``key_parts`` read through memory and disk, or
        ``compute()`` (then remembered and written); ``cached`` says whether it was a hit."""
        key = self.key(*key_parts)
        hit = self.get(key, folder=folder, load=load)
        if hit is not None:
            return hit, True
        return self.put(key, compute(), folder=folder, dump=dump), False
