"""Typed records of the workspace's JSON files, so a hand-edited file of the wrong shape is
skipped with a warning instead of crashing whoever reads it.

* :class:`DatasetRecord` — ``datasets/<name>/meta.json``: folder name, display name, source,
  fingerprint, config, summary and validation report.
* :class:`ActiveRecord` — ``active.json``: the dataset new sessions start on.
* :class:`ItemSetRecord` — ``item_sets/<dataset>/<name>.json``.
* :class:`RuleSetRecord` — ``rule_sets/<dataset>/<name>.json``.
* :class:`ModelRecord` / :class:`ModelMeta` — ``results.json`` and ``model.json`` of a kept model.
* :class:`MapRecord` — ``maps/<dataset>/latest.json``.

Unknown fields are kept (``extra="allow"``), so records written by newer versions survive a
round trip; missing optional fields get defaults, so older workspaces keep loading.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["DatasetRecord", "DatasetSummary", "ActiveRecord", "ItemSetRecord", "RuleSetRecord", "ModelRecord",
           "ModelMeta", "MapRecord", "read_record"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class DatasetSummary(_Record):
    """The headline numbers every dataset list shows."""

    users: int
    items: int
    interactions: int


class DatasetRecord(_Record):
    """``meta.json`` of a saved dataset. ``name`` is its folder name; ``display_name`` the name
    it was saved under (absent in workspaces written before names were kept apart)."""

    name: str = Field(min_length=1)
    display_name: str | None = None
    source: str = ""
    saved_at: str = ""
    fingerprint: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    summary: DatasetSummary
    meta: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The name to show: the display name, else the folder name."""
        return self.display_name or self.name


class ActiveRecord(_Record):
    """``active.json``: the dataset a new browser session starts on."""

    dataset: str = Field(min_length=1)


class RuleSetRecord(_Record):
    """A named set of merchandiser rules (validated by :class:`recsys.rerank.rulesets.RuleSet`
    when used; kept here as plain JSON so the workspace needs no re-ranking code)."""

    name: str = Field(min_length=1)
    rules: dict[str, Any]
    saved_at: str | None = None


class ItemSetRecord(_Record):
    """A named set of item ids (ids kept as strings, the way datasets keep them)."""

    name: str = Field(min_length=1)
    note: str = ""
    items: list[str]
    saved_at: str | None = None

    @field_validator("items", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) for v in value if isinstance(v, str | int | float)
                    and not isinstance(v, bool)]
        return value


class ModelRecord(_Record):
    """``results.json`` of a kept model: run name, model name, save time, results."""

    run: str = Field(min_length=1)
    model: str = Field(min_length=1)
    saved_at: str | None = None
    results: dict[str, Any] = Field(default_factory=dict)


class ModelMeta(_Record):
    """The part of ``model.json`` the workspace reads: fingerprint and config."""

    fingerprint: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


class MapRecord(_Record):
    """``latest.json`` of an item map: the settings that produced it."""

    settings: dict[str, Any] = Field(default_factory=dict)
    saved_at: str | None = None


def read_record(path: Path, kind: type[R], *, warn: bool = True) -> R | None:
    """``path`` parsed as ``kind``, or ``None`` (with a logged warning) when it is missing,
    not JSON or of the wrong shape."""
    try:
        return kind.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        if warn:
            log.warning("skipping %s: not a valid %s (%s)", path, kind.__name__,
                        str(exc).splitlines()[0])
        return None
