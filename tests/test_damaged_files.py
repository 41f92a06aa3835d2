"""Damaged or missing files give a message naming the file and a way out, never a traceback.

A truncated ``weights.npz`` (What-if, Compare, Export), an export file deleted under the
Export page and a truncated or empty embedding cache file, each in a copy of a workspace. And
no file planted in the workspace is ever executed: numba's compiled cache, whose index numba
reads with ``pickle``, lives outside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.features import text as embeddings
from recsys.features.text import text_embeddings
from tests.app_support import open_page

WEIGHTS = Path("models") / "demo-shop" / "itemknn" / "weights.npz"


def _truncate(path: Path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _messages(at) -> str:
    return " ".join(m.value for kind in (at.error, at.warning) for m in kind)


@pytest.mark.usefixtures("navigation_apptest")
@pytest.mark.parametrize("page", ["whatif", "compare"])
def test_truncated_weights_name_the_file_and_say_retrain(workspace_copy: Path, page: str):
    _truncate(workspace_copy / WEIGHTS)
    at = open_page(page, timeout=180)
    if page == "whatif":
        at.selectbox(key="whatif_model").set_value("itemknn").run()
    else:
        at.multiselect(key="compare_models").set_value(["itemknn"]).run()
    assert not at.exception, [e.value for e in at.exception]
    text = _messages(at)
    assert "weights.npz" in text and "itemknn" in text, text
    assert "Train page" in text, text


@pytest.mark.usefixtures("navigation_apptest")
def test_truncated_weights_on_export(workspace_copy: Path):
    _truncate(workspace_copy / WEIGHTS)
    at = open_page("export", timeout=180)
    at.selectbox(key="export_model").set_value("itemknn")
    at.checkbox(key="export_retrain").uncheck()
    at.button(key="export_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = _messages(at)
    assert "weights.npz" in text and "Train page" in text, text


@pytest.mark.usefixtures("navigation_apptest")
def test_deleted_export_file_says_export_again(workspace_copy: Path):
    at = open_page("export", timeout=180)
    at.selectbox(key="export_model").set_value("pop")
    at.checkbox(key="export_retrain").uncheck()
    at.button(key="export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = next((workspace_copy / "exports" / "demo-shop").iterdir())
    (folder / "lists-all.csv").unlink()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = _messages(at)
    assert "lists-all.csv" in text and "Export again" in text, text
    (folder / "manifest.json").write_text("{not json")  # a damaged manifest: skipped, no crash
    at.run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def _fresh_memo():
    embeddings.clear_memo()
    yield
    embeddings.clear_memo()


TEXTS = [f"lantern number {i} for the garden" for i in range(40)]


@pytest.mark.usefixtures("_fresh_memo")
@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_embedding_cache_is_rebuilt(tmp_path: Path, damage: str):
    first = text_embeddings(TEXTS, method="tfidf", cache_dir=tmp_path)
    (path,) = tmp_path.glob("text-*.npz")
    if damage == "truncated":
        _truncate(path)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    embeddings.clear_memo()  # the next call reads the file
    again = text_embeddings(TEXTS, method="tfidf", cache_dir=tmp_path)
    assert not again.cached
    np.testing.assert_array_equal(again.vectors, first.vectors)
    embeddings.clear_memo()
    third = text_embeddings(TEXTS, method="tfidf", cache_dir=tmp_path)  # the file was rewritten
    assert third.cached
    np.testing.assert_array_equal(third.vectors, first.vectors)


def test_compiled_cache_is_outside_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from recsys.maps._numba import numba_cache_dir
    from recsys.workspace import default_workspace_path

    workspace = tmp_path / "workspace"
    monkeypatch.setenv("TAILSTUDIO_WORKSPACE", str(workspace))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_workspace_path() == workspace
    assert numba_cache_dir() == tmp_path / "xdg" / "tail-studio" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numba_cache_dir() == tmp_path / "home" / ".cache" / "tail-studio" / "numba"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored, as the spec says
    assert numba_cache_dir() == tmp_path / "home" / ".cache" / "tail-studio" / "numba"
    assert workspace not in numba_cache_dir().parents
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "chosen"))  # the override stays
    assert numba_cache_dir() == tmp_path / "chosen"


# ----------------------------------------------------------------- a name that promises another format

CSV_TEXT = b"user_id,item_id\nu1,A\nu2,B\n"


def _xlsx_bytes() -> bytes:
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"user_id": ["u1"], "item_id": ["A"]}).to_excel(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("orders.csv.gz", CSV_TEXT, "'orders.csv.gz' is not a gzip file (its name ends in .gz, but its "
     "content is plain text). Rename it to end in .csv, or upload the compressed file."),
    ("orders.gz", CSV_TEXT, "is not a gzip file (its name ends in .gz, but its content is plain "
     "text). Rename it to end in .csv"),
    ("orders.zip", CSV_TEXT, "'orders.zip' is not a ZIP archive (its name ends in .zip, but its "
     "content is plain text)."),
    ("orders.xlsx", CSV_TEXT, "'orders.xlsx' is not an Excel workbook (.xlsx) (its name ends in "
     ".xlsx, but its content is plain text)."),
    ("orders.parquet", CSV_TEXT, "'orders.parquet' is not a Parquet file (its name ends in .parquet, "
     "but its content is plain text)."),
    ("orders.PQ", b"PK\x03\x04rest", "is not a Parquet file (its name ends in .pq, but its content "
     "is a ZIP archive)."),
    ("orders.parquet.gz", None, "'orders.parquet.gz' is not a Parquet file (its name ends in "
     ".parquet, but its content is plain text)."),
])
def test_content_that_does_not_match_the_name_is_named(name: str, data: bytes | None, expected: str):
    import gzip

    from recsys.data.reading import IngestError, read_table

    payload = gzip.compress(CSV_TEXT) if data is None else data
    with pytest.raises(IngestError) as err:
        read_table(payload, name=name)
    assert expected in str(err.value)
    assert "header but no data rows" not in str(err.value)


@pytest.mark.parametrize("name", ["orders.csv.gz", "orders.gz", "orders.csv", "orders.txt",
                                  "orders", "orders.tsv.gzip"])
def test_content_that_matches_the_name_still_reads(name: str):
    import gzip

    from recsys.data.reading import read_table

    data = gzip.compress(CSV_TEXT) if name.endswith(("gz", "gzip")) else CSV_TEXT
    table = read_table(data, name=name)
    assert table.frame.shape == (2, 2) and table.compressed == name.endswith(("gz", "gzip"))
    book = read_table(_xlsx_bytes(), name="orders.xlsx")
    assert book.file_format == "xlsx" and len(book.frame) == 1
    # a gzip-compressed workbook under its inner name is unpacked, then checked
    assert read_table(gzip.compress(_xlsx_bytes()), name="orders.xlsx.gz").file_format == "xlsx"


@pytest.mark.usefixtures("navigation_apptest")
def test_a_plain_csv_named_gz_is_explained_on_the_catalog_page(workspace_dir: Path):
    from tests.test_app import upload

    at = open_page("catalog", timeout=120)
    at = upload(at, "orders.csv.gz", CSV_TEXT, mime="application/gzip")
    text = _messages(at)
    assert "'orders.csv.gz' is not a gzip file (its name ends in .gz, but its content is plain " \
           "text)" in text, text
    assert "no data rows" not in text
