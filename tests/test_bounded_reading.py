"""Bounded reading: decompression bombs, very wide or very long files and endless inputs stop early
with a message naming the limit and the setting that raises it, and with bounded memory.

Bombs are generated here in streaming chunks, so they stay small on disk; memory is measured in
a subprocess (its peak resident size) so that the test run's own memory does not count.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.formats import load_files
from recsys.data.reading import IngestError, IngestLimits, read_table

ROOT = Path(__file__).resolve().parents[1]


def _gzip_stream(path: Path, piece: bytes, total: int, head: bytes = b"") -> Path:
    """Write ``head`` then ``piece`` repeated up to ``total`` bytes, gzip-compressed chunk by
    chunk (never more than a few MB in memory)."""
    block = piece * max(1, (1 << 20) // len(piece))
    with gzip.open(path, "wb", compresslevel=6) as fh:
        fh.write(head)
        written = 0
        while written < total:
            fh.write(block)
            written += len(block)
    return path


def _run_child(code: str, env: dict[str, str], timeout: float = 120) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, timeout=timeout,
                            env={**os.environ, **env}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


_MEASURE = """
    import json, sys
    from recsys.data.formats import load_files
    from recsys.data.reading import IngestError
    def peak_kb():  # this process's own high-water mark: ru_maxrss would carry the parent's
        with open("/proc/self/status") as fh:  # peak over fork + exec
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    before = peak_kb()
    try:
        load_files(sys.argv[-1] if len(sys.argv) > 1 else {path!r})
        message = None
    except IngestError as exc:
        message = str(exc)
    after = peak_kb()
    print(json.dumps({{"message": message, "grew_kb": after - before, "peak_kb": after}}))
"""


# --------------------------------------------------------------------------- decompression bombs


def test_gzip_bomb_stopped_at_the_unpacked_cap_with_bounded_memory(tmp_path: Path) -> None:
    # 600 MB of zeros in ~600 KB; the cap is 256 MB: more than the bytes kept while checking
    path = _gzip_stream(tmp_path / "bomb.csv.gz", b"\0", 600 << 20, head=b"user_id,item_id\n")
    assert path.stat().st_size < 4 << 20
    out = _run_child(_MEASURE.format(path=str(path)), {"TAILSTUDIO_MAX_UNPACKED_MB": "256"})
    assert out["message"] is not None
    assert "'bomb.csv.gz' unpacks to more than 256.0 MB" in out["message"]
    assert "TAILSTUDIO_MAX_UNPACKED_MB" in out["message"]
    assert out["grew_kb"] < 128 * 1024, out  # far less than the cap: the bomb was only counted
    assert out["peak_kb"] < 1024 * 1024, out


def test_gzip_of_many_lines_stopped_at_the_row_cap(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _gzip_stream(tmp_path / "lines.csv.gz", b"u1,A\n", 20 << 20, head=b"user_id,item_id\n")
    monkeypatch.setenv("TAILSTUDIO_MAX_ROWS", "100000")
    with pytest.raises(IngestError, match=r"'lines\.csv\.gz' has more than 100,000 rows, over the "
                       r"limit of 100,000\. .*TAILSTUDIO_MAX_ROWS"):
        read_table(path)


def test_plain_csv_over_the_row_cap(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"user_id,item_id\n" + b"u1,A\n" * 5000)
    with pytest.raises(IngestError, match=r"'long\.csv' has 5,000 rows, over the limit of 1,000"):
        read_table(path, limits=IngestLimits(max_rows=1000))
    assert len(read_table(path, limits=IngestLimits(max_rows=5000)).frame) == 5000


def test_gzip_larger_than_kept_while_checking_is_read_whole(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A genuine file bigger than what the first pass keeps is unpacked a second time, whole."""
    import recsys.data.limits as limits_module

    monkeypatch.setattr(limits_module, "KEEP_WHILE_CHECKING", 1 << 20)
    monkeypatch.setattr(limits_module, "CHUNK", 64 << 10)
    lines = b"".join(b"u%d,item%d\n" % (i, i % 97) for i in range(300_000))  # ~4 MB
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(b"user_id,item_id\n" + lines, mtime=0))
    raw = read_table(path)
    assert raw.compressed and len(raw.frame) == 300_000
    assert raw.frame["user_id"].iloc[-1] == "u299999"


def test_ratings_dat_gz_bomb_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _gzip_stream(tmp_path / "ratings.dat.gz", b"1::1::5::978300760\n", 12 << 20)
    monkeypatch.setenv("TAILSTUDIO_MAX_UNPACKED_MB", "4")
    with pytest.raises(IngestError, match=r"'ratings\.dat\.gz' unpacks to more than 4\.0 MB"):
        load_files(path)
    monkeypatch.setenv("TAILSTUDIO_MAX_UNPACKED_MB", "64")
    monkeypatch.setenv("TAILSTUDIO_MAX_ROWS", "1000")
    with pytest.raises(IngestError, match=r"'ratings\.dat\.gz' has more than 1,000 rows"):
        load_files(path)


def test_ratings_dat_gz_within_limits_still_loads(tmp_path: Path) -> None:
    rows = "".join(f"{u}::{i}::{(u + i) % 5 + 1}::97830{u:04d}\n" for u in range(1, 30) for i in range(1, 20))
    path = tmp_path / "ratings.dat.gz"
    path.write_bytes(gzip.compress(rows.encode(), mtime=0))
    assert load_files(path).ok


def _write_xlsx(path: Path, rows: int, text: str = "A") -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Orders")
    sheet.append(["user_id", "item_id"])
    for i in range(rows):
        sheet.append([f"u{i}", f"{text}{i}"])
    book.save(path)
    return path


def test_xlsx_with_more_rows_than_the_cap_is_stopped(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_xlsx(tmp_path / "many.xlsx", 3000)
    monkeypatch.setenv("TAILSTUDIO_MAX_ROWS", "1000")
    with pytest.raises(IngestError, match=r"'many\.xlsx' has more than 1,000 rows, over the limit "
                       r"of 1,000\. .*TAILSTUDIO_MAX_ROWS"):
        read_table(path)
    monkeypatch.setenv("TAILSTUDIO_MAX_ROWS", "3000")
    assert len(read_table(path).frame) == 3000


def test_xlsx_unpacking_over_the_cap_is_stopped(tmp_path: Path) -> None:
    path = _write_xlsx(tmp_path / "wide_text.xlsx", 200, text="x" * 10_000)  # ~2 MB of XML
    with pytest.raises(IngestError, match=r"'wide_text\.xlsx' unpacks to more than 1\.0 MB"):
        read_table(path, limits=IngestLimits(max_unpacked_bytes=2**20))


def test_xlsx_row_count_survives_tags_split_across_chunks(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys.data.limits as limits_module

    monkeypatch.setattr(limits_module, "CHUNK", 7)  # every <row> tag straddles some boundary
    path = _write_xlsx(tmp_path / "small.xlsx", 50)
    with pytest.raises(IngestError, match=r"more than 49 rows"):
        read_table(path, limits=IngestLimits(max_rows=49))
    assert len(read_table(path, limits=IngestLimits(max_rows=50)).frame) == 50


def test_parquet_rows_and_columns_checked_from_the_footer(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"user_id": [f"u{i}" for i in range(5000)], "item_id": "A"}).to_parquet(path)
    with pytest.raises(IngestError, match=r"'rows\.parquet' has 5,000 rows, over the limit of 1,000"):
        read_table(path, limits=IngestLimits(max_rows=1000))
    wide = tmp_path / "wide.parquet"
    pd.DataFrame({f"c{i}": [1] for i in range(3000)}).to_parquet(wide)
    with pytest.raises(IngestError, match=r"'wide\.parquet' has 3,000 columns"):
        read_table(wide)


# --------------------------------------------------------------------------- very wide files


def test_too_many_columns_refused_after_the_header(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    header = ",".join(f"c{i}" for i in range(3000))
    path = tmp_path / "wide.csv"
    path.write_text(header + "\n" + ",".join("1" * 3000) + "\n")
    with pytest.raises(IngestError, match=r"'wide\.csv' has 3,000 columns in its first line, over "
                       r"the limit of 2,000\. .*TAILSTUDIO_MAX_COLUMNS"):
        read_table(path)
    monkeypatch.setenv("TAILSTUDIO_MAX_COLUMNS", "3000")
    assert read_table(path).frame.shape == (1, 3000)


def test_a_million_columns_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "million.csv"
    row = b",".join([b"1"] * 1_000_000)
    path.write_bytes(b"\n".join([row, row, row]) + b"\n")  # no header: numbers, 2 MB a line
    out = _run_child(_MEASURE.format(path=str(path)), {}, timeout=60)
    assert out["message"] is not None and "longer than 128.0 KB" in out["message"]
    out = _run_child(_MEASURE.format(path=str(path)), {"TAILSTUDIO_MAX_LINE_KB": "4096"}, timeout=60)
    assert out["message"] is not None and "has 1,000,000 columns in its first line" in out["message"]
    assert out["grew_kb"] < 512 * 1024, out


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_first_line_over_the_line_limit(tmp_path: Path, suffix: str) -> None:
    data = b"user_id," + b"x" * 200_000 + b"\nu1,A\n"
    path = tmp_path / f"long_line{suffix}"
    path.write_bytes(gzip.compress(data, mtime=0) if suffix.endswith(".gz") else data)
    with pytest.raises(IngestError, match=r"The first line of 'long_line.*' is longer than 128\.0 KB, "
                       r"so it is not a table header\. .*TAILSTUDIO_MAX_LINE_KB") as caught:
        read_table(path)
    assert "field limit" not in str(caught.value)


def test_single_line_of_many_megabytes(tmp_path: Path) -> None:
    path = tmp_path / "one_line.txt"
    with path.open("wb") as fh:
        for _ in range(50):
            fh.write(b"y" * (1 << 20))  # 50 MB, no line break
    out = _run_child(_MEASURE.format(path=str(path)), {}, timeout=60)
    assert out["message"] is not None and "is longer than 128.0 KB" in out["message"]
    assert out["peak_kb"] < 1024 * 1024, out


def test_line_limit_can_be_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long_header.csv"
    path.write_bytes(b"user_id,item_id," + b"n" * 150_000 + b"\nu1,A,1\n")
    with pytest.raises(IngestError, match=r"longer than 128\.0 KB"):
        read_table(path)
    monkeypatch.setenv("TAILSTUDIO_MAX_LINE_KB", "256")
    assert read_table(path).frame.shape == (1, 3)


# --------------------------------------------------------------------------- endless inputs

_ENDLESS = """
    import io, json, os, sys
    from recsys.data.reading import IngestError, IngestLimits, read_table
    messages = {{}}
    fifo = {fifo!r}
    os.mkfifo(fifo)
    for key, source in [("zero", "/dev/zero"), ("fifo", fifo)]:
        try:
            read_table(source)
            messages[key] = None
        except IngestError as exc:
            messages[key] = str(exc)
    class Stream(io.RawIOBase):  # a file object of unknown size that never ends
        name = "endless.csv"
        def readable(self): return True
        def readinto(self, b):
            b[:] = b"1" * len(b)
            return len(b)
    try:
        read_table(io.BufferedReader(Stream()), limits=IngestLimits(max_bytes=2**20))
        messages["stream"] = None
    except IngestError as exc:
        messages["stream"] = str(exc)
    print(json.dumps(messages))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(),
                    reason="needs /dev/zero and named pipes")
def test_devices_pipes_and_endless_streams_refused(tmp_path: Path) -> None:
    out = _run_child(_ENDLESS.format(fifo=str(tmp_path / "pipe.csv")), {}, timeout=60)
    assert out["zero"] == ("'zero' is not a regular file (a device, pipe or socket), so its size is "
                           "unknown and reading it may never end. Save the data to a file and "
                           "choose that file.")
    assert out["fifo"] is not None and out["fifo"].startswith("'pipe.csv' is not a regular file")
    assert out["stream"] is not None
    assert out["stream"].startswith("'endless.csv' is over the upload limit of 1.0 MB")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_cli_refuses_a_device_with_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "recsys", "validate", "--interactions", "/dev/zero"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: 'zero' is not a regular file (a device, pipe or socket), so its size is unknown and "
        "reading it may never end. Save the data to a file and choose that file."]


def test_bad_limit_settings_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TAILSTUDIO_MAX_UNPACKED_MB", "TAILSTUDIO_MAX_ROWS", "TAILSTUDIO_MAX_COLUMNS",
                "TAILSTUDIO_MAX_LINE_KB"):
        monkeypatch.setenv(var, "lots")
    limits = IngestLimits()
    assert (limits.max_unpacked_bytes, limits.max_rows, limits.max_columns, limits.max_line_bytes) == (
        2048 * 2**20, 20_000_000, 2000, 128 * 1024)
    assert limits.unpacked_cap == 2048 * 2**20  # below 20 × the 500 MB upload limit


def test_xlsx_wider_than_the_cap_refused_before_the_sheet_is_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Wide")
    sheet.append([f"c{i}" for i in range(2500)])
    sheet.append(list(range(2500)))
    book.save(tmp_path / "wide.xlsx")
    import recsys.data.reading as reading

    def never(*_args, **_kwargs):
        raise AssertionError("the sheet was loaded")

    monkeypatch.setattr(reading.pd, "ExcelFile", never)
    with pytest.raises(IngestError, match=r"'wide\.xlsx' has 2,500 columns in its first line, over "
                       r"the limit of 2,000"):
        read_table(tmp_path / "wide.xlsx")
