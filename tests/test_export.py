"""Export library: round trips, CSV injection, safe names, manifests, chunking and scopes."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.data.segments import user_segments
from recsys.export import (
    EXPORT_COLUMNS,
    ExportConfig,
    ExportScope,
    export_frame,
    export_lists,
    item_clusters,
    list_exports,
    neutralise_cells,
    new_export_dir,
    open_writer,
    read_export,
    resolve_scope,
    unneutralise_cells,
    zip_folder,
)
from recsys.models import create_model
from recsys.rerank import RerankConfig, RerankContext

TRICKY = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "'quoted",
          "plain", "comma, inside", 'quote " inside', "line\nbreak", "ünïcødé ✓", "NA", "",
          "  spaced", "1e5"]


def _frame(n: int, offset: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(offset)
    titles = [TRICKY[(i + offset) % len(TRICKY)] for i in range(n)]
    score = rng.normal(size=n)
    base = rng.normal(size=n)
    base[::5] = np.nan
    return pd.DataFrame({
        "user_id": [f"-u{(i + offset) // 3}" if i % 4 == 0 else f"u{(i + offset) // 3}" for i in range(n)],
        "rank": (np.arange(n) % 3 + 1).astype(np.int64),
        "item_id": [f"=i{i}" if i % 7 == 0 else f"{i:05d}" for i in range(n)],
        "title": pd.Series(titles, dtype=object),
        "score": score, "base_score": base,
        "is_tail": rng.random(n) < 0.5, "boosted": rng.random(n) < 0.3,
        "cluster": rng.integers(-1, 5, n).astype(np.int64),
    })[list(EXPORT_COLUMNS)]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_round_trip_reads_back_identical(tmp_path: Path, fmt: str):
    chunks = [_frame(40, 0), _frame(0, 40), _frame(33, 40)]
    path = tmp_path / f"lists.{fmt}"
    with open_writer(path, fmt) as writer:
        for chunk in chunks:
            writer.write(chunk)
    assert writer.rows == 73
    expected = pd.concat(chunks, ignore_index=True)
    back = read_export(path, fmt)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)


def test_csv_injection_neutralised(tmp_path: Path):
    path = tmp_path / "lists.csv"
    with open_writer(path, "csv") as writer:
        writer.write(_frame(len(TRICKY)))
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for col in ("user_id", "item_id", "title"):
            assert not row[col].startswith(("=", "+", "-", "@", "\t", "\r")), (col, row[col])
    titles = [r["title"] for r in rows]
    assert "'=HYPERLINK(\"http://x\")" in titles and "'@SUM(A1)" in titles and "''quoted" in titles
    assert "plain" in titles and "1e5" in titles
    assert any(r["score"].startswith("-") for r in rows)  # numbers stay numbers
    assert list(neutralise_cells(["-x", "x", "'y"])) == ["'-x", "x", "''y"]
    assert list(unneutralise_cells(neutralise_cells(TRICKY))) == TRICKY


def test_writer_refuses_wrong_columns(tmp_path: Path):
    with open_writer(tmp_path / "x.csv", "csv") as writer, pytest.raises(ValueError, match="columns"):
        writer.write(_frame(3).drop(columns="cluster"))
    with pytest.raises(ValueError, match="Unknown export format"):
        open_writer(tmp_path / "x.xlsx", "xlsx")


# ------------------------------------------------------------------ exports of a real model
@pytest.fixture(scope="module")
def shop():
    """120 users × 60 items with a popular head, categories and times; EASE trained on all."""
    rng = np.random.default_rng(3)
    pop = 1.0 / np.arange(1, 61) ** 1.1
    rows = []
    for u in range(120):
        n = int(rng.integers(2, 15))
        for i in rng.choice(60, size=n, replace=False, p=pop / pop.sum()):
            rows.append((f"C{u:03d}", f"=SKU{i:02d}" if i == 5 else f"SKU{i:02d}",
                         pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(0, 5000)))))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    ids = sorted(inter["item_id"].unique())
    catalog = pd.DataFrame({"item_id": ids, "title": [f"@Product {i}" if n % 9 == 0 else f"Product {i}"
                                                      for n, i in enumerate(ids)],
                            "category": [f"cat{n % 4}" for n in range(len(ids))]})
    ds = build_dataset(inter, catalog, name="shop ../x")
    model = create_model("ease", {"l2": 50.0}).fit(ds)
    item_map = pd.DataFrame({"item_id": ds.item_ids, "cluster": np.arange(ds.n_items) % 3})
    return ds, model, item_map


def test_export_matches_model_and_excludes_seen(shop, tmp_path: Path):
    ds, model, _ = shop
    result = export_lists(model, ds, tmp_path, ExportConfig(k=5, format="parquet"))
    frame = read_export(result.files[0])
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    items, scores = model.recommend(np.arange(ds.n_users), n=5)  # trained on all: seen = everything
    expected_items = ds.item_ids[items[items >= 0]].astype(str)
    assert list(frame["item_id"]) == list(expected_items)
    np.testing.assert_allclose(frame["score"], scores[items >= 0], rtol=1e-6)
    assert (frame["score"] == frame["base_score"]).all() and not frame["boosted"].any()
    seen = set(zip(ds.interactions["user_id"].astype(str), ds.interactions["item_id"].astype(str),
                   strict=True))
    assert not any(pair in seen for pair in zip(frame["user_id"], frame["item_id"], strict=True))
    assert (frame.groupby("user_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1)))).all()
    assert (frame["cluster"] == -1).all()  # no item map given


def test_reranked_export_raises_tail_share(shop, tmp_path: Path):
    ds, model, _ = shop
    base = export_lists(model, ds, tmp_path / "a", ExportConfig(k=5))
    zero = export_lists(model, ds, tmp_path / "b", ExportConfig(k=5),
                        rerank=RerankConfig(method="tail_bonus", strength=0.0))
    full = export_lists(model, ds, tmp_path / "c", ExportConfig(k=5),
                        rerank=RerankConfig(method="tail_bonus", strength=1.0))
    a, b, c = (read_export(r.files[0]) for r in (base, zero, full))
    assert list(a["item_id"]) == list(b["item_id"])  # strength 0 leaves the lists unchanged
    assert c["is_tail"].mean() > a["is_tail"].mean()
    assert c["boosted"].any() and (c.loc[c["boosted"], "is_tail"]).all()
    assert full.manifest["rerank"][0]["method"] == "tail_bonus"


def test_manifest_contents(shop, tmp_path: Path):
    ds, model, item_map = shop
    clusters = item_clusters(ds, item_map)
    result = export_lists(model, ds, tmp_path, ExportConfig(k=4, format="json"),
                          rerank=[RerankConfig(method="pop_penalty", strength=0.3)],
                          context=RerankContext(ds, item_clusters=clusters),
                          model_info={"run": "ease", "trained_on": "all interactions"},
                          metrics={"ndcg": 0.1})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest, default=str))
    assert manifest["dataset"]["fingerprint"] == ds.fingerprint and manifest["dataset"]["name"] == ds.name
    assert manifest["model"]["name"] == "ease" and manifest["model"]["config"]["l2"] == 50.0
    assert manifest["model"]["run"] == "ease"
    assert manifest["rerank"] == [RerankConfig(method="pop_penalty", strength=0.3).model_dump(mode="json")]
    assert manifest["metrics"] == {"ndcg": 0.1}
    assert manifest["format"] == "json" and manifest["columns"] == EXPORT_COLUMNS
    assert manifest["users"] == ds.n_users
    lines = (tmp_path / manifest["files"][0]["name"]).read_text().splitlines()
    assert manifest["rows"] == len(lines) == result.rows
    entry = manifest["files"][0]
    data = (tmp_path / entry["name"]).read_bytes()
    assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert {"recsys", "python", "numpy", "pandas", "torch"} <= set(manifest["versions"])
    assert datetime.fromisoformat(manifest["created"]).tzinfo is not None
    frame = read_export(tmp_path / entry["name"])
    assert (frame["cluster"].to_numpy() == clusters[ds.item_index.get_indexer(frame["item_id"])]).all()


def test_chunked_writing_reports_progress(shop, tmp_path: Path):
    ds, model, _ = shop
    calls: list[tuple[int, int]] = []
    one = export_lists(model, ds, tmp_path / "one", ExportConfig(k=3, chunk_users=10_000))
    many = export_lists(model, ds, tmp_path / "many", ExportConfig(k=3, chunk_users=7),
                        progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == math.ceil(ds.n_users / 7)
    assert calls[-1] == (ds.n_users, ds.n_users)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls))
    pd.testing.assert_frame_equal(read_export(one.files[0]), read_export(many.files[0]))


def test_scopes(shop, tmp_path: Path):
    ds, model, item_map = shop
    clusters = item_clusters(ds, item_map)
    seg = export_lists(model, ds, tmp_path / "seg", ExportConfig(
        k=3, scope=ExportScope(kind="segment", value="heavy")))
    heavy = user_segments(ds.matrix, ds.is_tail)["heavy"]
    assert set(read_export(seg.files[0])["user_id"]) == set(ds.user_ids[heavy].astype(str))
    assert seg.files[0].name == "lists-segment-heavy.csv"

    fans = resolve_scope(ExportScope(kind="cluster", value="1"), ds, clusters=clusters)
    touched = [(clusters[ds.matrix[u].indices] == 1).any() for u in range(ds.n_users)]
    assert list(fans.users) == list(np.flatnonzero(touched)) and fans.allowed_items is None

    lists = export_lists(model, ds, tmp_path / "cl", ExportConfig(
        k=3, scope=ExportScope(kind="cluster", value="2", restrict="lists")),
        context=RerankContext(ds, item_clusters=clusters))
    frame = read_export(lists.files[0])
    assert len(frame) and (frame["cluster"] == 2).all()
    assert lists.manifest["users"] == ds.n_users

    chosen = [str(i) for i in ds.item_ids[:4]] + ["NOT-AN-ITEM"]
    by_set = export_lists(model, ds, tmp_path / "set", ExportConfig(
        k=3, scope=ExportScope(kind="item_set", value="../../evil name", restrict="lists")), item_set=chosen)
    got = read_export(by_set.files[0])
    assert set(got["item_id"]) <= set(chosen[:4])
    assert by_set.files[0].parent == tmp_path / "set" and "/" not in by_set.files[0].name
    assert by_set.files[0].name.startswith("lists-item-set-evil-name")

    with pytest.raises(ValueError, match="No item map"):
        resolve_scope(ExportScope(kind="cluster", value="1"), ds, clusters=None)
    with pytest.raises(ValueError, match="Cluster 9 is not in the item map"):
        resolve_scope(ExportScope(kind="cluster", value="9"), ds, clusters=clusters)
    with pytest.raises(ValueError, match="no item of this dataset"):
        resolve_scope(ExportScope(kind="item_set", value="x"), ds, item_set=["nope"])
    with pytest.raises(ValueError, match="unknown user segment"):
        ExportScope(kind="segment", value="whales")
    with pytest.raises(ValueError, match="needs a value"):
        ExportScope(kind="cluster")


def test_export_frame_drops_padding(shop):
    ds = shop[0]
    from recsys.export import plain_lists
    from recsys.rerank import Candidates

    cands = Candidates(np.array([0, 1]), np.array([[3, -1, -1], [4, 2, -1]]),
                       np.array([[1.0, -np.inf, -np.inf], [2.0, 1.5, -np.inf]], dtype=np.float32))
    frame = export_frame(plain_lists(cands, 3), ds)
    assert list(frame["rank"]) == [1, 1, 2]
    assert list(frame["item_id"]) == [str(ds.item_ids[i]) for i in (3, 4, 2)]


def test_safe_export_folders_and_listing(tmp_path: Path):
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    a = new_export_dir(tmp_path, "../../shop", "../ease x", "tail_bonus", now=now)
    b = new_export_dir(tmp_path, "../../shop", "../ease x", "tail_bonus", now=now)
    root = tmp_path / "exports"
    assert a.parent.parent == root and a.parent == b.parent and a != b
    assert a.name == "20250301T120000Z-ease-x-tail_bonus" and b.name.endswith("-2")
    assert new_export_dir(tmp_path, "shop", "ease", "none", now=now).name == "20250301T120000Z-ease"
    (a / "manifest.json").write_text(json.dumps({"created": "2025-03-01T12:00:00+00:00"}))
    (a / "lists-all.csv").write_text("x\n")
    (b / "manifest.json").write_text("{broken")
    listed = list_exports(tmp_path, "../../shop")
    assert [e["folder"] for e in listed] == [a]
    with zipfile.ZipFile(BytesIO(zip_folder(a))) as archive:
        assert sorted(archive.namelist()) == ["lists-all.csv", "manifest.json"]
