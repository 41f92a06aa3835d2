"""Crash- and multi-process-safe storage under a workspace root.

A saved dataset, model or item map is a *version*: a folder written completely under a hidden
temporary name, then renamed into ``<root>/.store/<area>/<name>/<version>/``. The visible
path (``<root>/datasets/<name>``, ``<root>/models/<dataset>/<run>``, ``<root>/maps/<dataset>``)
is a relative symbolic link to the current version, switched with one ``os.replace`` — so a
process killed at any moment leaves either the previous or the new version in place, complete,
and a reader that resolved the link keeps reading one version even while a writer switches it.

Writers switch links under a cross-process file lock per area (``<root>/.locks/<area>.lock``,
:mod:`filelock`); small JSON files (item sets, the active pointer) are written to a unique
temporary file and renamed over the old one. At start, :meth:`Store.clean` removes temporary
files and superseded versions that nothing has touched for ``TAILSTUDIO_STALE_S`` seconds
(default 60), so a reader still busy with an old version is not cut off.

Folders of the older layout (a real folder where the link now is) are read as they are and
moved into the store the first time they are replaced.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

__all__ = ["Store", "WorkspaceError", "write_json", "visible", "lock_timeout_s", "stale_after_s"]

log = logging.getLogger(__name__)

#: Areas holding versioned folders, and how many name levels lead to a version.
AREAS: dict[str, int] = {"datasets": 1, "models": 2, "pending": 2, "maps": 1}


class WorkspaceError(RuntimeError):
    """A workspace operation that cannot be done (unknown name, unreadable folder, busy)."""


def stale_after_s() -> float:
    """Age (``TAILSTUDIO_STALE_S``, default 60 s) after which an untouched temporary file or a
    superseded version counts as left over and is removed at start."""
    return float(os.environ.get("TAILSTUDIO_STALE_S", "60"))


def lock_timeout_s() -> float:
    """How long a writer waits for another one (``TAILSTUDIO_LOCK_TIMEOUT_S``, default 120 s)."""
    return float(os.environ.get("TAILSTUDIO_LOCK_TIMEOUT_S", "120"))


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, through a unique temporary sibling file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _token() -> str:
    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}"


def _last_touched(path: Path) -> float:
    """Newest modification time of ``path`` and its direct entries (a temp being written)."""
    try:
        times = [path.lstat().st_mtime]
        if path.is_dir() and not path.is_symlink():
            times += [p.lstat().st_mtime for p in path.iterdir()]
    except OSError:
        return time.time()
    return max(times)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def visible(folder: Path) -> list[Path]:
    """Entries of ``folder`` without hidden (dot) ones, sorted; empty when it does not exist."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return []


class Store:
    """Versioned folders, links and locks under one workspace root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / ".store"
        self._locks: dict[str, FileLock] = {}

    # -- locks -----------------------------------------------------------------------------
    def _lock(self, area: str) -> FileLock:
        if area not in self._locks:
            (self.root / ".locks").mkdir(parents=True, exist_ok=True)
            self._locks[area] = FileLock(self.root / ".locks" / f"{area}.lock")
        return self._locks[area]

    @contextmanager
    def locked(self, area: str) -> Iterator[None]:
        """Hold the cross-process writer lock of ``area``; a clear error when it stays busy."""
        lock = self._lock(area)
        timeout = lock_timeout_s()
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise WorkspaceError(
                f"The workspace is busy: another process has been writing {area} for more than "
                f"{timeout:g} s ({lock.lock_file}). Try again, or raise "
                "TAILSTUDIO_LOCK_TIMEOUT_S.") from None
        try:
            yield
        finally:
            lock.release()

    # -- versions --------------------------------------------------------------------------
    @contextmanager
    def staging(self, area: str) -> Iterator[Path]:
        """A new hidden temporary folder to write a version into (removed unless published)."""
        base = self.store / area
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
        try:
            yield tmp
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def current(self, rel: Path) -> Path | None:
        """The folder holding the current version of ``rel`` (e.g. ``datasets/shop``), or
        ``None``. A real folder at the link's place is the older layout and is used as it is;
        with no usable link the newest stored version is used (a save killed mid-switch)."""
        link = self.root / rel
        if link.is_symlink():
            target = Path(os.path.realpath(link))
            if target.is_dir():
                return target
        elif link.is_dir():
            return link
        versions = visible(self.store / rel)
        return versions[-1] if versions else None

    def publish(self, tmp: Path, rel: Path) -> Path:
        """Make the finished folder ``tmp`` the current version of ``rel`` (the caller holds the
        area lock); returns the version folder."""
        vdir = self.store / rel
        vdir.mkdir(parents=True, exist_ok=True)
        version = vdir / f"v{_token()}"
        tmp.rename(version)
        link = self.root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        old = Path(os.path.realpath(link)) if link.is_symlink() else None
        if link.is_dir() and not link.is_symlink():  # the older layout: keep it as a version
            legacy = vdir / f"v{0:020d}-legacy-{secrets.token_hex(3)}"
            link.rename(legacy)
            old = legacy
        tmp_link = link.parent / f".{link.name}.{secrets.token_hex(4)}.link"
        os.symlink(os.path.relpath(version, link.parent), tmp_link)
        os.replace(tmp_link, link)
        if old is not None and old.exists():
            os.utime(old)  # superseded now: kept a while for readers still on it
        self._clean_versions(rel, time.time() - stale_after_s())  # bounded in long-lived servers
        return version

    def delete(self, rel: Path) -> None:
        """Remove ``rel`` (a version chain, or a folder of them) and its link (lock held)."""
        for path in (self.store / rel, self.root / rel):
            if path.is_symlink():
                path.unlink(missing_ok=True)
            elif path.exists():
                trash = path.parent / f".trash-{path.name}-{secrets.token_hex(4)}"
                path.rename(trash)  # gone for readers at once; removed below or at start
                shutil.rmtree(trash, ignore_errors=True)

    # -- cleanup ---------------------------------------------------------------------------
    def clean(self) -> None:
        """Remove left-over temporaries and superseded versions of every area whose lock is
        free now (a busy area is cleaned at a later start)."""
        stale = time.time() - stale_after_s()
        for area, depth in AREAS.items():
            lock = self._lock(area)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                self._clean_area(area, depth, stale)
            except OSError as exc:  # cleanup is best effort; never block a start
                log.warning("workspace cleanup of %s stopped: %s", area, exc)
            finally:
                lock.release()
        for folder in [self.root, self.root / "item_sets", *visible(self.root / "item_sets")]:
            self._clean_hidden(folder, stale, only_tmp=True)

    def _clean_hidden(self, folder: Path, stale: float, only_tmp: bool = False) -> None:
        """Remove hidden entries of ``folder`` (temporaries, trash) untouched since ``stale``;
        with ``only_tmp`` only temporary files (``*.tmp``)."""
        try:
            entries = [p for p in folder.iterdir() if p.name.startswith(".")
                       and (not only_tmp or p.name.endswith(".tmp"))]
        except OSError:
            return
        for path in entries:
            if _last_touched(path) < stale:
                log.info("removing left-over %s", path)
                _remove(path)

    def _clean_area(self, area: str, depth: int, stale: float) -> None:
        rels = [Path(area)]
        for _ in range(depth):
            for rel in rels:
                self._clean_hidden(self.root / rel, stale)
                self._clean_hidden(self.store / rel, stale)
            rels = sorted({rel / p.name for rel in rels
                           for p in (*visible(self.root / rel), *visible(self.store / rel))})
        for rel in rels:
            self._clean_versions(rel, stale)

    def _clean_versions(self, rel: Path, stale: float) -> None:
        vdir = self.store / rel
        if not vdir.is_dir():
            return
        self._clean_hidden(vdir, stale)
        link = self.root / rel
        versions = visible(vdir)
        if versions and not link.exists():  # a save killed mid-switch: point at the newest
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp_link = link.parent / f".{link.name}.{secrets.token_hex(4)}.link"
            os.symlink(os.path.relpath(versions[-1], link.parent), tmp_link)
            os.replace(tmp_link, link)
            log.info("relinked %s to %s", link, versions[-1].name)
        current = Path(os.path.realpath(link)) if link.is_symlink() else None
        for version in versions:
            if version != current and _last_touched(version) < stale:
                log.info("removing superseded %s", version)
                shutil.rmtree(version, ignore_errors=True)
        if not visible(vdir) and not link.is_symlink():
            shutil.rmtree(vdir, ignore_errors=True)
