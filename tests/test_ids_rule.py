"""One rule for ids and list files whatever the format: missing-id tokens, Unicode NFC, line
separators inside JSON Lines, and export downloads built only when asked for."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.formats import load_files
from recsys.data.parsing import MISSING_ID_TOKENS, normalise_ids
from recsys.export.writers import EXPORT_COLUMNS, open_writer, read_export

from .app_support import open_page


def _log(item_ids: list[str]) -> pd.DataFrame:
    n = len(item_ids)
    return pd.DataFrame({"user_id": [f"u{i % 3}" for i in range(n)], "item_id": item_ids})


def test_missing_id_tokens_are_one_rule_for_csv_and_parquet(tmp_path: Path):
    items = ["a", "NA", "b", "null", "None", "c", "", "N/A", "d"]
    frame = _log(items)
    frame.to_csv(tmp_path / "log.csv", index=False)
    frame.to_parquet(tmp_path / "log.parquet", index=False)
    csv = load_files(tmp_path / "log.csv")
    parquet = load_files(tmp_path / "log.parquet")
    assert csv.report.count("missing_item_id") == parquet.report.count("missing_item_id") == 5
    assert sorted(csv.interactions["item_id"]) == sorted(parquet.interactions["item_id"]) == ["a", "b", "c", "d"]


def test_ids_are_unicode_nfc():
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    ids, _ = normalise_ids(pd.Series([nfc, nfd, " " + nfd + " "]))
    assert ids.tolist() == [nfc, nfc, nfc]
    assert set(normalise_ids(pd.Series(sorted(MISSING_ID_TOKENS)))[0].isna()) == {True}


def test_nfc_and_nfd_spellings_are_one_item(tmp_path: Path):
    nfc, nfd = unicodedata.normalize("NFC", "crème"), unicodedata.normalize("NFD", "crème")
    _log([nfc, nfd, "x", nfd, "y", nfc]).to_csv(tmp_path / "log.csv", index=False, encoding="utf-8")
    result = load_files(tmp_path / "log.csv")
    assert result.ok
    assert set(result.interactions["item_id"]) == {nfc, "x", "y"}


def test_json_lines_keep_line_separators_inside_titles(tmp_path: Path):
    frame = pd.DataFrame({
        "user_id": ["u1", "u2"], "rank": [1, 1], "item_id": ["i1", "i2"],
        "title": ["Lamp\u2028with a break", "Mug\u2029para"], "score": [0.5, np.nan],
        "base_score": [0.5, 0.25], "is_tail": [True, False], "boosted": [False, True],
        "cluster": [-1, 3],
    })[list(EXPORT_COLUMNS)]
    path = tmp_path / "lists.jsonl"
    with open_writer(path, "json") as writer:
        writer.write(frame)
    back = read_export(path)
    assert back["title"].tolist() == frame["title"].tolist()
    assert len(back) == 2 and back["cluster"].tolist() == [-1, 3]


@pytest.mark.usefixtures("navigation_apptest")
def test_export_page_builds_the_zip_only_when_downloaded(workspace_copy: Path, monkeypatch):
    import recsys.export as export_package
    import recsys.export.manifest as manifest_module

    calls: list[Path] = []
    real = manifest_module.zip_folder

    def counting(folder, *args, **kwargs):
        calls.append(Path(folder))
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(manifest_module, "zip_folder", counting)
    monkeypatch.setattr(export_package, "zip_folder", counting)
    at = open_page("export", timeout=180)
    at.selectbox(key="export_model").set_value("itemknn")
    at.checkbox(key="export_retrain").uncheck()
    at.button(key="export_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list((workspace_copy / "exports" / "demo-shop").iterdir())  # the export is there …
    at.run()  # … and reruns (any widget) draw its download buttons again
    assert not at.exception
    assert calls == []  # no zip was built for a download nobody asked for


def _parquet(tmp_path: Path, name: str, **columns) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_float_ids_with_infinity_or_huge_values_do_not_crash(tmp_path: Path):
    import pyarrow as pa

    inf = load_files(_parquet(tmp_path, "inf", user_id=pa.array([1.0, np.inf, 3.0]), item_id=["a", "b", "c"]))
    assert inf.ok and inf.report.count("missing_user_id") == 1  # an infinite id is no id
    assert sorted(inf.interactions["user_id"]) == ["1", "3"]
    huge = load_files(_parquet(tmp_path, "huge", user_id=pa.array([1.0, 1e30, 3.0]), item_id=["a", "b", "c"]))
    assert huge.ok and "1e+30" in set(huge.interactions["user_id"])  # not a rounded integer


@pytest.mark.parametrize("kind", ["struct", "list", "binary"])
def test_parquet_id_columns_that_hold_no_ids_are_named(tmp_path: Path, kind: str):
    import pyarrow as pa

    values = {"struct": pa.array([{"x": 1}, {"x": 2}, {"x": 3}]), "list": pa.array([[1], [2], [3]]),
              "binary": pa.array([b"\xff\xfe", b"ok", b"\x80"], pa.binary())}[kind]
    result = load_files(_parquet(tmp_path, kind, user_id=["u1", "u2", "u3"], sku=values))
    assert not result.ok
    message = result.report.errors[0].message
    assert "'sku'" in message and ("nested" in message or "UTF-8" in message)


def test_parquet_binary_ids_in_utf8_are_read_as_text(tmp_path: Path):
    import pyarrow as pa

    result = load_files(_parquet(tmp_path, "bin", user_id=["u1", "u2", "u3"],
                                 item_id=pa.array([b"caf\xc3\xa9", b"ok", b"x"], pa.binary())))
    assert result.ok and sorted(result.interactions["item_id"]) == ["café", "ok", "x"]


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-be"])
def test_utf32_with_a_bom_is_text(tmp_path: Path, codec: str):
    text = "user_id,item_id\nu1,café\nu2,b\nu1,b\n"
    data = text.encode(codec)
    if codec == "utf-32-be":
        data = b"\x00\x00\xfe\xff" + data  # the explicit codecs write no BOM
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    result = load_files(path)
    assert result.ok, result.report.errors
    assert sorted(result.interactions["item_id"]) == ["b", "b", "café"]
