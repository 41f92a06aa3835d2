"""Public-format loaders: MovieLens (100K / 1M / latest) and UCI Online Retail.

The real files come from ``../shared/data`` (never committed); those tests skip with a reason
when the folder is absent, as on a user's machine. The 1M and latest layouts are generated.
"""

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.dataset import DatasetConfig, build_dataset
from recsys.data.formats import detect_format, load_files, load_online_retail

SHARED = Path(os.environ.get("TAILSTUDIO_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
ML100K = SHARED / "ml-100k" / "u.data.gz"
RETAIL = SHARED / "online-retail" / "online_retail.csv.gz"
needs_ml = pytest.mark.skipif(not ML100K.exists(), reason=f"MovieLens 100K not found at {ML100K}")
needs_retail = pytest.mark.skipif(not RETAIL.exists(), reason=f"Online Retail not found at {RETAIL}")


@needs_ml
def test_movielens_100k_exact_counts():
    result = load_files(ML100K)
    assert result.ok, result.report.to_text()
    assert result.report.file_format == "movielens-100k"
    ds = build_dataset(result.interactions, result.catalog, users=result.users, name="ml")
    assert ds.n_interactions == 100_000
    assert ds.n_users == 943
    assert ds.n_items == 1_682
    assert ds.interactions["value"].between(1, 5).all()
    assert ds.interactions["timestamp"].min() == pd.Timestamp(874724710, unit="s")
    toy = ds.catalog.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["genres"] == "Animation|Children's|Comedy" and toy["category"] == "Animation"
    assert len(result.users) == 943 and set(result.users.columns) >= {"age", "gender"}
    # latin-1 titles decoded correctly
    assert ds.catalog["title"].str.contains("é").any()


@needs_ml
def test_movielens_protocol_filters():
    result = load_files(ML100K)
    ds = build_dataset(result.interactions, result.catalog,
                       config=DatasetConfig(rating_threshold=4, kcore=5))
    assert (ds.interactions["value"] >= 4).all()
    assert (ds.popularity >= 5).all() and (pd.Series(ds.matrix.getnnz(axis=1)) >= 5).all()
    assert 40_000 < ds.n_interactions < 55_375  # 55,375 ratings are >= 4 before the 5-core


@needs_retail
def test_online_retail_report_counts():
    result = load_files(RETAIL)
    report = result.report
    assert result.ok, report.to_text()
    assert report.file_format == "online-retail"
    assert report.rows_read == 541_909
    assert report.count("cancelled") == 9_288
    assert report.count("missing_user_id") == 135_080
    assert report.count("non_positive") > 0
    ds = build_dataset(result.interactions, result.catalog, users=result.users, name="retail")
    assert ds.n_users == 4_339  # customers with at least one valid purchase
    assert 3_600 < ds.n_items <= 4_070
    assert ds.n_interactions == ds.n_pairs  # one row per customer and product
    assert (ds.interactions["value"] > 0).all()
    assert not ds.user_ids[0].endswith(".0")  # 17850.0 -> 17850
    assert "17850" in set(ds.user_ids)
    assert {"title", "price", "category"} <= set(ds.catalog.columns)
    assert ds.catalog["category"].nunique() > 10
    assert set(result.users.columns) == {"user_id", "country"}
    assert result.users.set_index("user_id").loc["17850", "country"] == "United Kingdom"


@needs_retail
def test_online_retail_xlsx(tmp_path):
    sample = pd.read_csv(RETAIL, nrows=3000, dtype=str)
    path = tmp_path / "Online Retail.xlsx"
    sample.to_excel(path, index=False, sheet_name="Online Retail")
    result = load_files(path)
    assert result.report.file_format == "online-retail"
    assert result.report.rows_read == 3000
    expected = sample.dropna(subset=["CustomerID"])
    expected = expected[~expected["InvoiceNo"].str.startswith("C")]
    expected = expected[pd.to_numeric(expected["Quantity"]) > 0]
    pairs = expected.assign(c=expected["CustomerID"].str.replace(".0", "", regex=False))
    assert len(result.interactions) == pairs.drop_duplicates(["c", "StockCode"]).shape[0]


def test_online_retail_aggregates_lines(tmp_path):
    csv = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,4,2010-12-02 09:00:00,2.95,17850.0,United Kingdom\n"
        "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-03 09:41:00,2.55,17850.0,United Kingdom\n"
        "536367,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:34:00,7.65,13047.0,France\n"
        "536368,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:34:00,7.65,,United Kingdom\n"
    )
    path = tmp_path / "retail.csv"
    path.write_text(csv)
    result = load_online_retail(path)
    inter = result.interactions.set_index(["user_id", "item_id"])
    assert inter.loc[("17850", "85123A"), "value"] == 10
    assert inter.loc[("17850", "85123A"), "timestamp"] == pd.Timestamp("2010-12-01 08:26:00")
    assert inter.loc[("17850", "85123A"), "orders"] == 2
    assert result.report.count("cancelled") == 1 and result.report.count("missing_user_id") == 1
    price = result.catalog.set_index("item_id").loc["85123A", "price"]
    assert price == pytest.approx(2.75)  # median unit price over valid lines
    assert result.users.set_index("user_id").loc["13047", "country"] == "France"


def test_movielens_1m_layout(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n"
                                          "2::1193::4::978298413\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach "
        "(1996)::Animation|Children's|Musical\n".encode("latin-1"))
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    result = load_files(tmp_path / "ratings.dat")
    assert result.ok, result.report.to_text()
    assert result.report.file_format == "movielens-1m"
    assert len(result.interactions) == 3
    cat = result.catalog.set_index("item_id")
    assert cat.loc["661", "category"] == "Animation"
    assert cat.loc["1193", "title"].startswith("One Flew")
    assert list(result.users["user_id"]) == ["1", "2"]


def test_movielens_latest_layout(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                                          "1,3,4.5,964981247\n2,1,2.5,964982224\n")
    (tmp_path / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),'
                                         'Adventure|Animation\n3,"Grumpier Old Men, The (1995)",'
                                         "Comedy|Romance\n")
    result = load_files(tmp_path / "ratings.csv")
    assert result.ok, result.report.to_text()
    assert result.report.file_format == "movielens-latest"
    assert result.interactions["value"].tolist() == [4.0, 4.5, 2.5]
    assert result.catalog.set_index("item_id").loc["3", "title"] == "Grumpier Old Men, The (1995)"


def test_movielens_100k_from_gzip_upload_bytes(tmp_path):
    data = gzip.compress(b"1\t10\t4\t881250949\n2\t10\t3\t891717742\n")
    result = load_files(data, interactions_name="u.data.gz")
    assert result.report.file_format == "movielens-100k"
    assert len(result.interactions) == 2


def test_detect_format_names():
    assert detect_format("u.data") == "movielens"
    assert detect_format("ratings.dat.gz") == "movielens"
    assert detect_format("orders.csv") == "generic"
