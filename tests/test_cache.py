"""The read-through cache: content keys, the bounded memo, atomic files, unreadable files."""

from pathlib import Path

import numpy as np
import pytest

from recsys.cache import ReadThroughCache, atomic_write, content_key


def _dump(value: np.ndarray, path: Path) -> None:
    np.savez(path, x=value)


def _load(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        return np.array(data["x"])


def test_content_keys_tell_inputs_apart():
    key = content_key("ns", 1, ["ab", "c"], "m", 3)
    assert key == content_key("ns", 1, ["ab", "c"], "m", 3)
    assert len({key, content_key("ns", 1, ["a", "bc"], "m", 3), content_key("ns", 2, ["ab", "c"], "m", 3),
                content_key("other", 1, ["ab", "c"], "m", 3), content_key("ns", 1, ["ab", "c"], "m", 4),
                content_key("ns", 1, {"b": 1, "a": 2}), content_key("ns", 1, "abc")}) == 7
    assert content_key("ns", 1, {"b": 1, "a": 2}) == content_key("ns", 1, {"a": 2, "b": 1})


def test_memo_is_bounded_and_read_through_disk(tmp_path):
    cache: ReadThroughCache[np.ndarray] = ReadThroughCache("vec", 1, 2, tmp_path, dump=_dump, load=_load)
    calls: list[int] = []

    def compute(i: int):
        return lambda: calls.append(i) or np.full(3, float(i))

    first, hit = cache.get_or_compute([0], compute(0))
    assert not hit and calls == [0]
    again, hit = cache.get_or_compute([0], compute(0))
    assert hit and again is first and calls == [0]
    for i in (1, 2):
        cache.get_or_compute([i], compute(i))
    assert len(cache) == 2  # the least recently used one left memory …
    cache.clear()
    from_disk, hit = cache.get_or_compute([0], compute(0))
    assert hit and calls == [0, 1, 2]  # … and came back from its file
    np.testing.assert_array_equal(from_disk, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"vec-{cache.key(i)}.npz" for i in (0, 1, 2))  # no temporary file left behind


def test_unreadable_file_is_recomputed_and_failed_write_leaves_nothing(tmp_path):
    cache: ReadThroughCache[np.ndarray] = ReadThroughCache("vec", 1, 4, dump=_dump, load=_load)
    key = cache.key("a")
    cache.path(key, tmp_path).write_bytes(b"not an npz file")
    assert cache.get(key, folder=tmp_path) is None
    _, hit = cache.get_or_compute(["a"], lambda: np.ones(2), folder=tmp_path)
    assert not hit and _load(cache.path(key, tmp_path)).tolist() == [1.0, 1.0]

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    target = tmp_path / "sub" / "file.json"
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert not target.exists() and list(target.parent.iterdir()) == []
