"""No import circles inside the package, counting imports made inside functions too
(moving an import into a function hides a circle from Python, not from this test).

Not counted: imports under ``if TYPE_CHECKING:`` (annotations only), and the lazy
re-exports of a package's module-level ``__getattr__`` and lazy loads of the modules in
``LAZY`` (they pull in langchain-core's heavy machinery; loaded on first use for import
time, never to dodge a circle: the modules they name import nothing that leads back).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import asyncgraph

ROOT = Path(asyncgraph.__file__).parent
# Loaded on first use, for import time (langchain-core's Runnable and message classes).
LAZY = frozenset({"asyncgraph.pregel.main", "asyncgraph.graph.message"})


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool = False) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "__getattr__" and node in tree.body:
                return  # a package's lazy re-exports
            for child in node.body:
                visit(child, True)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not (in_function and alias.name in LAZY):
                    out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if in_function and mod in LAZY:
                return
            out.add(mod)
            for alias in node.names:  # ``from pkg import module``
                if f"{mod}.{alias.name}" in modules:
                    out.add(f"{mod}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(tree)
    return {m for m in out if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, name, modules) for name, path in paths.items()}
    # Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first.
    for name in list(graph):
        for dep in list(graph[name]):
            parts = dep.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                # (not a module's own ancestors: Python has started those already)
                if parent in modules and parent != name and not name.startswith(parent + "."):
                    graph[name].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_circles() -> None:
    # The walk runs in a fresh interpreter: on CPython 3.11, ast.parse can fail with
    # "SystemError: AST constructor recursion depth mismatch" after an unrelated test left
    # an object whose finalizer formatted a traceback; that says nothing about our imports.
    done = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


if __name__ == "__main__":
    print(json.dumps(cycles(import_graph())))
