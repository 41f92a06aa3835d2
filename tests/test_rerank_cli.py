"""``python -m recsys recommend --rerank METHOD --strength X``: same output contract, one-line
errors with exit code 2 for bad re-rank arguments."""

from __future__ import annotations

import pandas as pd
import pytest

import recsys.cli.recommend as recommend_cli
from recsys.cli import main
from recsys.export.lists import BlockScorer
from recsys.rerank import RERANK_POOL
from tests.test_rerank import synthetic_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    ds = synthetic_dataset(n_users=80, n_items=50, seed=4)
    folder = tmp_path_factory.mktemp("rerank_cli")
    ds.interactions.to_csv(folder / "log.csv", index=False)
    ds.catalog.to_csv(folder / "catalog.csv", index=False)
    return folder, ds


def _recommend(folder, *extra: str, out_name: str = "recs.csv") -> tuple[int, pd.DataFrame | None]:
    out = folder / out_name
    code = main(["recommend", "--interactions", str(folder / "log.csv"), "--catalog",
                 str(folder / "catalog.csv"), "--model", "ease", "--k", "5", "--out", str(out),
                 *extra])
    return code, (pd.read_csv(out, dtype={"user_id": str, "item_id": str}) if code == 0 else None)


def test_rerank_keeps_the_output_contract_and_adds_tail(files):
    folder, ds = files
    code, plain = _recommend(folder, out_name="plain.csv")
    assert code == 0
    code, boosted = _recommend(folder, "--rerank", "tail_bonus", "--strength", "1",
                               out_name="boosted.csv")
    assert code == 0
    assert list(boosted.columns) == ["user_id", "item_id", "rank", "score", "is_tail"]
    assert boosted["user_id"].nunique() == ds.n_users
    assert boosted.groupby("user_id")["rank"].apply(list).map(lambda r: r == list(
        range(1, len(r) + 1))).all()
    seen = set(zip(ds.interactions["user_id"], ds.interactions["item_id"], strict=False))
    assert not any(pair in seen for pair in zip(boosted["user_id"], boosted["item_id"], strict=False))
    assert boosted["is_tail"].mean() > plain["is_tail"].mean()
    code, zero = _recommend(folder, "--rerank", "promotion", "--strength", "0",
                            out_name="zero.csv")
    assert code == 0
    pd.testing.assert_frame_equal(zero[["user_id", "item_id", "rank"]],
                                  plain[["user_id", "item_id", "rank"]])


@pytest.mark.parametrize("extra, message", [
    (["--rerank", "tail_bonus", "--strength", "1.5"], "--strength must be between 0 and 1"),
    (["--rerank", "tail_bonus", "--strength", "-0.1"], "--strength must be between 0 and 1"),
    (["--rerank", "tail_bonus"], "--rerank needs --strength"),
    (["--strength", "0.5"], "--strength needs --rerank"),
    (["--rerank", "magic", "--strength", "0.5"], "unknown re-rank method 'magic'"),
    (["--rerank-options", "{}"], "--rerank-options needs --rerank"),
    (["--rerank", "promotion", "--strength", "0.5", "--rerank-options", "{bad"],
     "--rerank-options is not valid JSON"),
    (["--rerank", "promotion", "--strength", "0.5", "--rerank-options", "[1]"],
     "must be a JSON object"),
    (["--rerank", "promotion", "--strength", "0.5", "--rerank-options", '{"strength": 1}'],
     "must not set 'strength'"),
    (["--rerank", "promotion", "--strength", "0.5", "--rerank-options", '{"alocation": "x"}'],
     "--rerank-options: alocation: Extra inputs are not permitted"),
    (["--rerank", "promotion", "--strength", "0.5", "--rerank-options",
      '{"swap_cost": "cheap"}'], "--rerank-options: swap_cost:"),
])
def test_bad_rerank_arguments_exit_2_with_one_line(files, capsys, extra, message):
    folder, _ = files
    code, _ = _recommend(folder, *extra, out_name="bad.csv")
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "\n" not in err and "Traceback" not in err


def test_rerank_options_reach_the_re_ranker(files):
    """A global promotion by expected loss (hit model fitted on an inner split) promotes the
    same number of tail slots as the per-user quota but spreads them unevenly."""
    folder, ds = files
    code, per_user = _recommend(folder, "--rerank", "promotion", "--strength", "0.8",
                                out_name="per_user.csv")
    assert code == 0
    code, spent = _recommend(folder, "--rerank", "promotion", "--strength", "0.8",
                             "--rerank-options", '{"allocation": "global", "swap_cost": "expected"}',
                             out_name="expected.csv")
    assert code == 0
    assert list(spent.columns) == ["user_id", "item_id", "rank", "score", "is_tail"]
    assert spent["user_id"].nunique() == ds.n_users
    assert abs(int(spent["is_tail"].sum()) - int(per_user["is_tail"].sum())) <= ds.n_users * 0.05
    assert spent.groupby("user_id")["is_tail"].sum().nunique() > \
        per_user.groupby("user_id")["is_tail"].sum().nunique()


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """The candidate pool of every BlockScorer ``recommend`` builds (the real scorer is used)."""
    seen: list[int] = []

    def spy(*args, **kwargs):
        scorer = BlockScorer(*args, **kwargs)
        seen.append(scorer.candidates)
        return scorer

    monkeypatch.setattr(recommend_cli, "BlockScorer", spy)
    return seen


def test_candidates_set_the_pool_the_re_ranker_chooses_from(files, pools):
    """``--candidates`` reaches the scorer (default :data:`RERANK_POOL`); a pool of K leaves the
    re-ranker nothing to bring in, so each list holds the model's own top-K items."""
    folder, _ = files
    code, boosted = _recommend(folder, "--rerank", "tail_bonus", "--strength", "1",
                               out_name="default_pool.csv")
    assert code == 0 and pools == [RERANK_POOL]
    code, _ = _recommend(folder, "--rerank", "tail_bonus", "--strength", "1", "--candidates",
                         "150", out_name="pool_150.csv")
    assert code == 0 and pools[-1] == 150
    code, plain = _recommend(folder, out_name="plain_pool.csv")
    assert code == 0
    code, narrow = _recommend(folder, "--rerank", "tail_bonus", "--strength", "1", "--candidates",
                              "5", out_name="pool_5.csv")
    assert code == 0 and pools[-1] == 5

    def items(frame: pd.DataFrame) -> pd.Series:
        return frame.groupby("user_id")["item_id"].apply(frozenset)

    pd.testing.assert_series_equal(items(narrow), items(plain))
    assert boosted["is_tail"].mean() > narrow["is_tail"].mean()


def test_candidates_below_k_read_as_k(files, pools):
    folder, _ = files
    code, lists = _recommend(folder, "--rerank", "tail_bonus", "--strength", "1", "--candidates",
                             "2", out_name="pool_2.csv")
    assert code == 0 and pools == [5]
    assert (lists.groupby("user_id").size() == 5).all()
