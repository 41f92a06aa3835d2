"""Folder names and save times shared by every part of the workspace."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["safe_name", "now_iso"]

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file-system-safe dataset name: letters, digits, ``.``, ``_`` and ``-`` only."""
    cleaned = _NAME_OK.sub("-", name.strip()).strip(".-_")[:64]
    return cleaned or "dataset"


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (what every record's ``saved_at`` holds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
