"""Print every import cycle among the modules of ``recsys`` (imports inside functions count).

Exit code 1 when there is one; run by ``scripts/test.sh`` beside ``lint-imports`` (whose layers
contract does not look at imports within one layer or one package).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import grimp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("import_cycles")


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1 (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    graph = grimp.build_graph("recsys", cache_dir=None)
    modules = set(graph.modules)
    cycles = strongly_connected(graph, modules)
    for comp in cycles:
        log.info("import cycle: %s", " <-> ".join(comp))
    log.info("%d modules, %d import cycles", len(modules), len(cycles))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
