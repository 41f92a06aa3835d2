"""Arguments argparse accepts but that make no sense: each is refused (or flagged) in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.cli import main


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """20 users × a few items each, no value column."""
    lines = ["user_id,item_id"]
    for u in range(20):
        lines += [f"u{u},i{(u + j) % 12}" for j in range(4)]
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _base(command: str, log_file: Path, tmp_path: Path) -> list[str]:
    out = {"recommend": ["--model", "pop", "--out", str(tmp_path / "o.csv")],
           "evaluate": ["--models", "pop"],
           "export": ["--model", "pop", "--out", str(tmp_path / "o")],
           "map": ["--source", "cf", "--out", str(tmp_path / "m.csv")]}[command]
    return [command, "--interactions", str(log_file), *out]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("command", ["recommend", "evaluate", "export"])
@pytest.mark.parametrize("value", ["0", "-3", "5000"])
def test_k_outside_1_to_1000_is_refused(log_file, tmp_path, capsys, command, value):
    assert main([*_base(command, log_file, tmp_path), "--k", value]) == 2
    err = _one_line_error(capsys)
    assert "--k" in err and "1000" in err and value in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("command,flag,value", [
    ("export", "--candidates", "0"),
    ("export", "--candidates", "-5"),
    ("recommend", "--candidates", "0"),
    ("evaluate", "--test-frac", "0"),
    ("evaluate", "--test-frac", "1"),
    ("evaluate", "--test-frac", "1.5"),
    ("evaluate", "--test-frac", "-0.2"),
    ("recommend", "--kcore", "-1"),
    ("map", "--kcore", "-2"),
    ("evaluate", "--head-share", "0"),
    ("recommend", "--head-share", "1"),
    ("map", "--head-share", "1.2"),
])
def test_numbers_out_of_range_name_their_flag(log_file, tmp_path, capsys, command, flag, value):
    assert main([*_base(command, log_file, tmp_path), flag, value]) == 2
    err = _one_line_error(capsys)
    assert flag in err and value in err


def test_k_and_candidates_at_their_limits_are_accepted(log_file, tmp_path, capsys):
    assert main([*_base("export", log_file, tmp_path), "--k", "1", "--candidates", "1"]) == 0
    assert main([*_base("recommend", log_file, tmp_path), "--k", "1", "--candidates", "1"]) == 0


def test_rating_threshold_without_a_value_column_is_flagged(log_file, tmp_path, capsys):
    assert main([*_base("recommend", log_file, tmp_path), "--rating-threshold", "4"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and err.count("\n") == 1, err
    assert "--rating-threshold" in err and "no rating" in err
    assert (tmp_path / "o.csv").exists()  # the command still ran


def test_rating_threshold_with_a_value_column_says_nothing(tmp_path, capsys):
    path = tmp_path / "rated.csv"
    path.write_text("user_id,item_id,rating\n" + "".join(
        f"u{u},i{(u + j) % 12},{1 + (u + j) % 5}\n" for u in range(20) for j in range(5)))
    argv = ["recommend", "--interactions", str(path), "--model", "pop", "--rating-threshold", "3",
            "--out", str(tmp_path / "o.csv")]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err


def test_evaluate_without_held_out_users_exits_1(tmp_path, capsys):
    path = tmp_path / "single.csv"
    path.write_text("user_id,item_id\n" + "".join(f"u{u},i{u % 7}\n" for u in range(30)))
    assert main(["evaluate", "--interactions", str(path), "--models", "pop"]) == 1
    err = _one_line_error(capsys)
    assert "no user has held-out interactions" in err
    assert "--kcore" in err and "--split" in err
    assert "ndcg" not in capsys.readouterr().out


@pytest.mark.parametrize("columns,words", [
    ("user_id=item_id", ["'item_id'", "user_id", "item_id", "--columns"]),
    ("user_id=user_id,item_id=user_id", ["'user_id'", "user_id", "item_id"]),
    ("usr=user_id", ["'usr'", "user_id", "item_id", "timestamp"]),
])
@pytest.mark.parametrize("command", ["validate", "recommend"])
def test_bad_column_roles_are_refused(log_file, tmp_path, capsys, command, columns, words):
    argv = (["validate", "--interactions", str(log_file)] if command == "validate"
            else _base(command, log_file, tmp_path))
    assert main([*argv, "--columns", columns]) == 2
    err = _one_line_error(capsys)
    for word in words:
        assert word in err


def test_catalog_columns_name_catalog_roles(log_file, tmp_path, capsys):
    cat = tmp_path / "cat.csv"
    cat.write_text("item_id,name\n" + "".join(f"i{i},Item {i}\n" for i in range(12)))
    base = ["validate", "--interactions", str(log_file), "--catalog", str(cat)]
    assert main([*base, "--catalog-columns", "titel=name"]) == 2
    assert "'titel'" in _one_line_error(capsys)
    assert main([*base, "--catalog-columns", "item_id=name,title=name"]) == 2
    err = _one_line_error(capsys)
    assert "'name'" in err and "--catalog-columns" in err
    assert main([*base, "--catalog-columns", "title=name"]) == 0
