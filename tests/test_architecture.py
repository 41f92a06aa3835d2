"""The architecture contract the project checks itself: no import cycle inside ``recsys``
(imports inside functions count), no library module over 450 lines, no Streamlit in the
library. The layers themselves are checked by ``lint-imports`` (pyproject.toml)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450


def _cycles_module():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_package(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_finder_sees_a_cycle_hidden_in_a_function(tmp_path: Path, monkeypatch):
    _write_package(tmp_path, {
        "cyc/__init__.py": "",
        "cyc/a.py": "from cyc import b\n",
        "cyc/b.py": "def f():\n    from cyc import c\n",
        "cyc/c.py": "def g():\n    import cyc.a\n",
        "cyc/d.py": "import cyc.a\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyc", cache_dir=None)
    cycles = _cycles_module().strongly_connected(graph, set(graph.modules))
    assert cycles == [["cyc.a", "cyc.b", "cyc.c"]]


def test_recsys_has_no_import_cycle():
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("recsys", cache_dir=None)
    assert _cycles_module().strongly_connected(graph, set(graph.modules)) == []


@pytest.mark.parametrize("path", sorted((ROOT / "recsys").rglob("*.py")), ids=lambda p: p.name)
def test_library_modules_stay_small(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_library_never_imports_streamlit():
    offenders = [p.relative_to(ROOT).as_posix() for p in (ROOT / "recsys").rglob("*.py")
                 if "import streamlit" in p.read_text(encoding="utf-8")
                 or "from streamlit" in p.read_text(encoding="utf-8")]
    assert offenders == []
