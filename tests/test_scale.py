"""Shop scale: the generated shop, batched reading, ALS, BPR's large-shop solvers, the dense-model
refusal, blocked recommending and streamed output. Everything trains on small data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.cli import main
from recsys.data.batched import read_batched, wants_batched
from recsys.data.dataset import build_dataset
from recsys.data.formats import load_files
from recsys.data.scale_shop import write_scale_shop
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.export.writers import open_table_writer, write_table
from recsys.models import create_model
from recsys.models.memory import ModelTooLarge


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    """A small generated shop (2,000 customers × 1,500 products × 20,000 purchases), in chunks
    of 600 customers so that the Parquet file has several row groups."""
    out = tmp_path_factory.mktemp("shop")
    return write_scale_shop(out, n_users=2000, n_items=1500, n_interactions=20_000, seed=7,
                            chunk_users=600)


@pytest.fixture(scope="module")
def shop_ds(shop):
    result = load_files(shop.interactions, shop.catalog)
    return build_dataset(result.interactions, result.catalog, name="shop")


def _planted(seed: int = 0, n_users: int = 400, n_items: int = 200, groups: int = 4,
             per_user: int = 12):
    """Customers buying only from their own taste group, uniformly: popularity says nothing,
    the group structure everything."""
    rng = np.random.default_rng(seed)
    size = n_items // groups
    rows = []
    for u in range(n_users):
        g = u % groups
        for i in rng.choice(size, per_user, replace=False):
            rows.append((f"u{u:04d}", f"i{g * size + i:04d}"))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    ds = build_dataset(inter, name="planted")
    return split_dataset(ds, SplitConfig(method="random", test_frac=0.25, seed=seed))


# --------------------------------------------------------------------------- generator


def test_generator_is_seeded_exact_and_long_tailed(shop, tmp_path):
    inter = pd.read_parquet(shop.interactions)
    assert len(inter) == 20_000 and inter["user_id"].nunique() == 2000
    again = write_scale_shop(tmp_path / "again", n_users=2000, n_items=1500, n_interactions=20_000,
                             seed=7, chunk_users=600)
    pd.testing.assert_frame_equal(pd.read_parquet(again.interactions), inter)
    pd.testing.assert_frame_equal(pd.read_parquet(again.catalog), pd.read_parquet(shop.catalog))
    other = write_scale_shop(tmp_path / "other", n_users=2000, n_items=1500, n_interactions=20_000,
                             seed=8, chunk_users=600)
    assert not pd.read_parquet(other.interactions).equals(inter)
    counts = np.sort(inter["item_id"].value_counts().to_numpy())[::-1]
    head = int(np.searchsorted(np.cumsum(counts) / counts.sum(), 0.8)) + 1
    assert head / len(counts) < 0.3, "80 % of the purchases should sit on a short head"
    assert (counts <= 3).sum() > 0.1 * len(counts), "a long tail of rarely bought products"
    catalog = pd.read_parquet(shop.catalog)
    assert len(catalog) == 1500 and catalog["description"].str.len().min() > 20
    assert (~catalog["item_id"].isin(inter["item_id"])).sum() >= 1, "cold products exist"


def test_generator_refuses_impossible_sizes(tmp_path):
    with pytest.raises(ValueError, match="at least --users"):
        write_scale_shop(tmp_path, n_users=100, n_items=100, n_interactions=50)


def test_demo_command_without_sizes_writes_the_demo_shop(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--format", "csv"]) == 0
    inter = pd.read_csv(tmp_path / "d" / "interactions.csv")
    assert inter["user_id"].nunique() == 3000
    assert main(["demo", "--out", str(tmp_path / "x"), "--users", "100"]) == 2
    assert "--items, --interactions" in capsys.readouterr().err


# --------------------------------------------------------------------------- batched reading


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batched_reading_gives_the_plain_dataset(fmt, shop, shop_ds, tmp_path):
    path = shop.interactions
    if fmt == "csv":
        path = tmp_path / "interactions.csv"
        pd.read_parquet(shop.interactions).to_csv(path, index=False)
    result = read_batched(path, shop.catalog, batch_rows=3000)
    assert result.ok
    ds = build_dataset(result.interactions, result.catalog, name="shop")
    assert isinstance(result.interactions["user_id"].dtype, pd.CategoricalDtype)
    assert result.interactions["value"].dtype == np.float32
    np.testing.assert_array_equal(ds.user_ids, shop_ds.user_ids)
    np.testing.assert_array_equal(ds.item_ids, shop_ds.item_ids)
    assert (ds.matrix != shop_ds.matrix).nnz == 0
    np.testing.assert_array_equal(ds.segment, shop_ds.segment)
    plain = load_files(path, shop.catalog).report
    assert (result.report.rows_read, result.report.rows_kept, result.report.n_users,
            result.report.n_items, result.report.n_cold_items) == (
        plain.rows_read, plain.rows_kept, plain.n_users, plain.n_items, plain.n_cold_items)


def test_batched_report_counts_bad_rows_like_the_plain_reader(tmp_path):
    rows = [("u1", "a", "2024-01-01", "1"), ("u2", "b", "2024-01-02", "2"),
            ("", "c", "2024-01-03", "1"), ("u3", "d", "not a date", "1"),
            ("u4", "e", "2024-01-05", "-3"), ("u1", "a", "2024-01-01", "1"),  # duplicate
            ("u5", "f", "2024-01-06", "1"), ("u2", "b", "2024-01-02", "2")]   # duplicate, later batch
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "quantity"]).to_csv(path, index=False)
    batched = read_batched(path, batch_rows=3).report
    plain = load_files(path).report
    assert batched.rows_read == plain.rows_read == 8
    assert batched.rows_kept == plain.rows_kept
    assert {i.code: i.count for i in batched.issues} == {i.code: i.count for i in plain.issues}
    samples = {i.code: [r["row"] for r in i.sample] for i in batched.issues if i.sample}
    plain_samples = {i.code: [r["row"] for r in i.sample] for i in plain.issues if i.sample}
    for code, rows_ in samples.items():  # row numbers of the whole file, not of a batch
        assert rows_ == plain_samples[code]


def test_batched_reader_is_chosen_for_large_generic_files(shop, monkeypatch):
    assert not wants_batched(shop.interactions)  # 20,000 rows: the plain path
    assert wants_batched(shop.interactions, reader="batched")
    monkeypatch.setattr("recsys.data.batched.BATCHED_FROM_ROWS", 10_000)
    assert wants_batched(shop.interactions)
    assert not wants_batched(shop.interactions, reader="plain")


def test_batched_reader_refuses_files_over_the_row_cap(shop, monkeypatch):
    from recsys.data.reading import IngestError

    monkeypatch.setenv("TAILSTUDIO_MAX_ROWS", "5000")
    with pytest.raises(IngestError, match="TAILSTUDIO_MAX_ROWS"):
        read_batched(shop.interactions)


# --------------------------------------------------------------------------- models


def _ndcg(model, split) -> float:
    return evaluate_split(model, split).summary["ndcg"]


def test_als_learns_the_planted_groups():
    split = _planted()
    pop = _ndcg(create_model("pop").fit(split.train, device="cpu"), split)
    als = create_model("als", {"factors": 8, "iterations": 8, "regularization": 1.0})
    assert _ndcg(als.fit(split.train, device="cpu"), split) > 2 * pop


def test_als_torch_solve_matches_the_compiled_one():
    from recsys.models.als import cg_solve
    from recsys.models.als_kernels import cg_half_step

    rng = np.random.default_rng(0)
    x = sp.random(60, 40, density=0.1, random_state=1, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    x.sort_indices()
    users = rng.normal(size=(60, 5)).astype(np.float32)
    items = rng.normal(size=(40, 5)).astype(np.float32)
    import torch

    expected = cg_solve(torch.as_tensor(users), torch.as_tensor(items), x, 2.0, 10.0, 3,
                        block_pairs=50).numpy()
    cg_half_step(x.indptr, x.indices, users, items, 2.0, 10.0, 3)
    np.testing.assert_allclose(users, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("config", [{"solver": "sgd", "epochs": 60, "lr": 0.05},
                                    {"sparse_updates": "on", "epochs": 20, "lr": 0.05}])
def test_bpr_large_shop_solvers_learn_and_repeat(config):
    split = _planted()
    pop = _ndcg(create_model("pop").fit(split.train, device="cpu"), split)
    model = create_model("bpr", {"factors": 8, **config}).fit(split.train, device="cpu")
    assert _ndcg(model, split) > 1.5 * pop
    again = create_model("bpr", {"factors": 8, **config}).fit(split.train, device="cpu")
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(again.recommend(users, 10)[0], model.recommend(users, 10)[0])


def test_bpr_sgd_on_two_threads_learns_as_well_as_one():
    """Hogwild SGD (two threads updating the shared vectors) learns the planted tastes as well
    as the repeatable single-thread loop, within noise."""
    split = _planted()
    pop = _ndcg(create_model("pop").fit(split.train, device="cpu"), split)
    config = {"factors": 8, "solver": "sgd", "epochs": 60, "lr": 0.05}
    one = _ndcg(create_model("bpr", config).fit(split.train, device="cpu"), split)
    two = _ndcg(create_model("bpr", {**config, "sgd_threads": 2}).fit(split.train, device="cpu"),
                split)
    assert two > 1.5 * pop
    assert two > 0.9 * one


@pytest.mark.parametrize("name", ["ease", "itemknn"])
def test_dense_models_are_refused_above_the_memory_bound(name, shop_ds, monkeypatch):
    monkeypatch.setenv("TAILSTUDIO_MAX_DENSE_GB", "0.001")
    with pytest.raises(ModelTooLarge, match="als or bpr") as info:
        create_model(name).fit(shop_ds, device="cpu")
    message = str(info.value)
    assert f"{shop_ds.n_items:,} × {shop_ds.n_items:,}" in message
    assert "TAILSTUDIO_MAX_DENSE_GB" in message
    monkeypatch.setenv("TAILSTUDIO_MAX_DENSE_GB", "1")
    create_model(name).fit(shop_ds, device="cpu")  # within the bound: trains


def test_refusal_is_one_line_in_the_cli(shop, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAILSTUDIO_MAX_DENSE_GB", "0.001")
    code = main(["recommend", "--interactions", str(shop.interactions), "--model", "ease",
                 "--out", str(tmp_path / "x.csv"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "--model als or bpr" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_auto_keeps_als_when_the_dense_candidates_do_not_fit(shop_ds, monkeypatch):
    monkeypatch.setenv("TAILSTUDIO_MAX_DENSE_GB", "0.001")
    model = create_model("auto", {"neural": False}).fit(shop_ds, device="cpu")
    assert model.chosen_["name"] == "als"
    assert "memory bound" in model.report_["reason"]
    assert model.recommend(np.arange(5), 10)[0].shape == (5, 10)


# --------------------------------------------------------------------------- recommend, export


def test_blocked_recommend_equals_unblocked(shop_ds):
    model = create_model("als", {"factors": 8, "iterations": 3}).fit(shop_ds, device="cpu")
    users = np.arange(shop_ds.n_users)
    whole_items, whole_scores = model.recommend(users, 10, block=10**6)
    items, scores = model.recommend(users, 10, block=37)
    np.testing.assert_array_equal(items, whole_items)
    np.testing.assert_allclose(scores, whole_scores, rtol=1e-5)
    seen = shop_ds.known
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(0, shop_ds.n_users, 50))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_recommend_streams_the_same_rows_in_any_block_size(suffix, shop, tmp_path, monkeypatch):
    args = ["recommend", "--interactions", str(shop.interactions), "--model", "pop",
            "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / f"one.{suffix}")]) == 0
    monkeypatch.setattr("recsys.cli.recommend.block_users", lambda n_items: 333)
    assert main([*args, "--out", str(tmp_path / f"blocks.{suffix}")]) == 0
    read = pd.read_parquet if suffix == "parquet" else pd.read_csv
    one, blocks = read(tmp_path / f"one.{suffix}"), read(tmp_path / f"blocks.{suffix}")
    assert len(one) == 2000 * 10
    pd.testing.assert_frame_equal(one, blocks)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_writer_chunks_equal_the_whole_table(suffix, tmp_path):
    frame = pd.DataFrame({"user_id": [f"=u{i % 7}" for i in range(100)],
                          "item_id": [f"i{i}" for i in range(100)],
                          "rank": np.arange(100), "score": np.linspace(0, 1, 100),
                          "is_tail": np.arange(100) % 3 == 0})
    whole = write_table(frame, tmp_path / f"whole.{suffix}")
    with open_table_writer(tmp_path / f"chunks.{suffix}") as writer:
        for start in range(0, 100, 30):
            writer.write(frame.iloc[start:start + 30])
    assert writer.rows == 100
    assert (tmp_path / f"chunks.{suffix}").read_bytes() == whole.read_bytes() or suffix == "parquet"
    read = pd.read_parquet if suffix == "parquet" else pd.read_csv
    pd.testing.assert_frame_equal(read(tmp_path / f"chunks.{suffix}"), read(whole))
