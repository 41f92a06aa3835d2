"""``manifest.json`` of an export and the folders exports are kept in.

The manifest says exactly what produced a set of lists: the dataset (name + fingerprint), the
model (name, config, run, what it was trained on), the re-ranking steps, the evaluation metrics
when known, the scope, row and user counts, columns, format, files (size + SHA-256), the
creation time and the versions of the software.

Exports made from the dashboard live under
``<workspace root>/exports/<dataset>/<UTC timestamp>-<model>[-<method>]/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import platform
import zipfile
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from recsys.workspace import safe_name

__all__ = ["MANIFEST_NAME", "MANIFEST_VERSION", "FORMAT_NOTES", "build_manifest", "software_versions",
           "file_entry", "write_manifest",
           "read_manifest", "export_root", "new_export_dir", "list_exports", "zip_folder"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def software_versions() -> dict[str, str | None]:
    """Versions of recsys, Python and the numeric stack (``None`` when not installed).

    Read from package metadata, so torch is not imported just to name its version.
    """
    from recsys import __version__

    out: dict[str, str | None] = {"recsys": __version__, "python": platform.python_version()}
    for package in ("numpy", "pandas", "scipy", "pyarrow", "torch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def file_entry(path: Path) -> dict[str, Any]:
    """Name, size and SHA-256 of a written file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


#: How each list file format is written, as the manifest states it.
FORMAT_NOTES: dict[str, str] = {
    "csv": "UTF-8 CSV with a header; text cells starting with = + - @ ' or a tab / carriage "
           "return are prefixed with an apostrophe (') so spreadsheets do not run them. Scores "
           "keep full precision for the programs that read them (round them for display).",
    "parquet": "Apache Parquet (zstd), one row group per chunk of users.",
    "json": "JSON Lines: one JSON object per row, UTF-8; missing numbers are null.",
}
#: What every export's lists leave out.
EXCLUDED = ("every item the user has interacted with (all interactions, including those below "
            "the rating threshold kept as seen)")


def build_manifest(*, model: Any, dataset: Any, steps: Sequence[Any], hit_model: Any, k: int,
                   candidates: int, scope: dict[str, Any], scope_description: str,
                   metrics: dict[str, Any] | None, model_info: dict[str, Any] | None,
                   counts: dict[str, int], columns: dict[str, str], file_format: str,
                   files: list[dict[str, Any]], seconds: float,
                   business: dict[str, Any] | None = None,
                   engine: dict[str, Any] | None = None,
                   updated: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of an export: the dataset and model (with ``model_info``), the re-ranking
    ``steps`` and ``hit_model``, list length and candidate pool, the ``scope`` (with its
    description), ``metrics`` as given, the ``counts`` (rows, users, users with rows), columns,
    format, files, seconds and software versions; created now (UTC). ``business`` (the
    exported lists' price on show, the long tail's share of expected revenue and the slot share
    per price band, :class:`recsys.rerank.business.BusinessTally`) is ``None`` without prices;
    ``engine`` says where the lists were scored (:mod:`recsys.export.engines`; local when
    ``None``); ``updated`` (an updated run's origin, update summary and "not evaluated",
    :func:`recsys.export.updated.updated_entry`) is ``None`` for a model as trained."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint,
                    "users": dataset.n_users, "items": dataset.n_items,
                    "interactions": dataset.n_interactions,
                    "context_pairs": dataset.n_context_pairs,
                    "config": dataset.config.model_dump(mode="json")},
        "model": {"name": getattr(model, "name", type(model).__name__),
                  "config": model.config.model_dump(mode="json") if hasattr(model, "config") else {},
                  "fingerprint": getattr(model, "fingerprint_", None), **(model_info or {})},
        "rerank": [s.model_dump(mode="json") for s in steps],
        "hit_model": hit_model.to_dict() if hit_model is not None else None,
        "k": k,
        "candidates": candidates,
        "excluded": EXCLUDED,
        "scope": {**scope, "description": scope_description},
        "metrics": metrics,
        "updated": updated,
        "business": business,
        "rows": counts["rows"],
        "users": counts["users"],
        "users_with_rows": counts["users_with_rows"],
        "columns": columns,
        "format": file_format,
        "format_notes": FORMAT_NOTES[file_format],
        "files": files,
        "seconds": round(seconds, 3),
        "engine": engine or {"name": "local"},
        "versions": software_versions(),
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (atomically: a temporary file renamed into place)."""
    path = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))


def export_root(workspace_root: Path, dataset: str) -> Path:
    return Path(workspace_root) / "exports" / safe_name(dataset)


def new_export_dir(workspace_root: Path, dataset: str, model: str, method: str | None = None,
                   *, now: datetime | None = None) -> Path:
    """A new, empty ``exports/<dataset>/<timestamp>-<model>[-<method>]`` folder (a suffix keeps
    two exports of the same second apart)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    parts = [stamp, safe_name(model)] + ([safe_name(method)] if method and method != "none" else [])
    name = "-".join(parts)
    base = export_root(workspace_root, dataset)
    base.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = base / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"Too many exports named {name} in {base}")


def list_exports(workspace_root: Path, dataset: str) -> list[dict[str, Any]]:
    """Past exports of ``dataset``, newest first: folder, manifest (unreadable ones skipped)."""
    out = []
    for path in export_root(workspace_root, dataset).glob(f"*/{MANIFEST_NAME}"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("skipping unreadable export manifest %s", path)
            continue
        out.append({"folder": path.parent, "manifest": manifest})
    return sorted(out, key=lambda e: (e["manifest"].get("created", ""), e["folder"].name), reverse=True)


def zip_folder(folder: Path, names: Collection[str] | None = None) -> bytes:
    """The files of an export folder (or only ``names``) as one zip archive, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file() and not path.name.startswith(".") and (names is None or path.name in names):
                archive.write(path, arcname=path.name)
    return buffer.getvalue()
