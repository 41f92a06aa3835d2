"""Tail-boost list exports: scopes, streaming CSV / Parquet / JSON Lines writers, manifests.

``export_lists(model, dataset, folder, ExportConfig(...), rerank=RerankConfig(...))`` writes
``lists-<scope>.<csv|parquet|jsonl>`` and ``manifest.json`` into ``folder``; see the modules
for the scope semantics (:mod:`.scopes`), the file formats and CSV escaping (:mod:`.writers`)
and the manifest and export folders (:mod:`.manifest`).
"""

from recsys.export.lists import (
    ExportConfig,
    ExportResult,
    Progress,
    export_frame,
    export_lists,
    plain_lists,
    split_metrics,
)
from recsys.export.manifest import (
    MANIFEST_NAME,
    build_manifest,
    export_root,
    list_exports,
    new_export_dir,
    read_manifest,
    software_versions,
    write_manifest,
    zip_folder,
)
from recsys.export.scopes import SCOPE_KINDS, ExportScope, ScopeSelection, item_clusters, resolve_scope
from recsys.export.writers import (
    EXPORT_COLUMNS,
    EXPORT_FORMATS,
    EXTENSIONS,
    neutralise_cells,
    open_writer,
    read_export,
    unneutralise_cells,
)

__all__ = [
    "EXPORT_COLUMNS", "EXTENSIONS", "EXPORT_FORMATS", "MANIFEST_NAME", "SCOPE_KINDS", "ExportConfig",
    "build_manifest",
    "ExportResult", "ExportScope", "Progress", "ScopeSelection", "export_frame", "export_lists",
    "export_root", "item_clusters", "list_exports", "neutralise_cells", "new_export_dir",
    "open_writer", "plain_lists", "read_export", "read_manifest", "resolve_scope",
    "software_versions", "split_metrics", "unneutralise_cells", "write_manifest", "zip_folder",
]

