"""Showing an export folder on a page: download buttons for its list file and a zip of it all,
a preview of the first rows and the manifest, with a message (never a traceback) when a file of
the folder is missing or was changed by hand. Shared by the Export and Explore pages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import recsys.export as export_package
import ui
from recsys.export import read_manifest

MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/jsonl"}
PREVIEW_ROWS = 20


def head_of_file(path: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of an export file, read without loading the whole file (CSV cells
    as written, so neutralised cells show their guard)."""
    ext = path.suffix.lstrip(".")
    if ext == "parquet":
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        return batch.to_pandas() if batch is not None else pd.DataFrame()
    if ext == "jsonl":
        return pd.read_json(path, lines=True, nrows=rows, dtype=False)
    return pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)


#: What can go wrong reading an export folder someone changed by hand (a deleted, truncated or
#: edited file): each is shown as a message naming the file, never as a traceback.
DAMAGED = (OSError, ValueError, KeyError, IndexError, TypeError)


def damaged_export(path: Path, exc: Exception) -> None:
    """Say that ``path`` of an export is missing or unreadable, and how to get it back."""
    reason = "it is missing" if not path.exists() else \
        f"it cannot be read ({str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__})"
    st.warning(f"The export file {ui.md_escape(path)} cannot be shown: {ui.md_escape(reason)}. "
               "Export again with the button above (the old folder can be deleted).")


def open_export(folder: Path) -> tuple[dict, Path] | None:
    """The manifest of an export and its list file, or ``None`` (with a message) when either is
    missing or damaged."""
    try:
        manifest = read_manifest(folder)
        name = str(manifest["files"][0]["name"])
    except DAMAGED as exc:
        damaged_export(folder / "manifest.json", exc)
        return None
    path = folder / name
    if not path.is_file():
        damaged_export(path, FileNotFoundError(str(path)))
        return None
    return manifest, path


def show_export(folder: Path, key: str) -> None:
    """Download buttons (the list file, and everything as a zip) and the manifest."""
    opened = open_export(folder)
    if opened is None:
        return
    manifest, path = opened
    try:
        head = head_of_file(path, PREVIEW_ROWS)  # reads the file: a damaged one fails here
    except DAMAGED as exc:
        damaged_export(path, exc)
        return
    ext = path.suffix.lstrip(".")
    b = st.columns(2)
    # Both downloads are made when clicked (callables), not on every rerun of the page.
    b[0].download_button(f"Download {ui.md_escape(path.name)}", path.read_bytes, file_name=path.name,
                         mime=MIME.get(ext, "application/octet-stream"), key=f"{key}_file", type="primary",
                         on_click="ignore")  # a download needs no rerun of the page
    b[1].download_button("Download all (zip with manifest.json)", lambda: export_package.zip_folder(folder),
                         file_name=f"{folder.name}.zip", mime="application/zip", key=f"{key}_zip",
                         on_click="ignore")
    st.dataframe(head, hide_index=True, key=f"{key}_preview")
    st.caption(f"The first {PREVIEW_ROWS} rows of {ui.md_escape(path.name)}, as written.")
    with st.expander("manifest.json", expanded=False):
        st.json(manifest)
