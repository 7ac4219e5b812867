"""Which ``langgraph`` names a library's source imports that asyncgraph lacks.

Used by ``scripts/ecosystem.sh``; not a test module. Reads the ``from langgraph...
import name`` and ``import langgraph...`` statements of the given source trees (AST
only, nothing of theirs is run), then looks each one up in asyncgraph (the
``asyncgraph`` module of the same path). Prints the missing modules and names, each
with the number of files that import it.

    python tests/ecosystem/missing_names.py SRC_DIR [SRC_DIR ...]   (one report per dir)
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections import defaultdict
from pathlib import Path


def langgraph_imports(roots: list[Path]) -> dict[tuple[str, str], set[str]]:
    """{(module, name or ""): files that import it}."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for root in roots:
        for path in root.rglob("*.py"):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    if node.module == "langgraph" or node.module.startswith("langgraph."):
                        for alias in node.names:
                            found[(node.module, alias.name)].add(str(path))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name == "langgraph" or alias.name.startswith("langgraph."):
                            found[(alias.name, "")].add(str(path))
    return found


def missing(found: dict[tuple[str, str], set[str]]) -> list[tuple[str, int]]:
    out: dict[str, set[str]] = defaultdict(set)
    for (module, name), files in found.items():
        target = "asyncgraph" + module[len("langgraph") :]
        try:
            mod = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            out[f"module {exc.name or target}"] |= files
            continue
        except Exception as exc:  # the module exists but fails to import
            out[f"module {target} fails to import: {type(exc).__name__}: {exc}"[:160]] |= files
            continue
        if name and name != "*" and not hasattr(mod, name):
            try:
                importlib.import_module(f"{target}.{name}")
            except ImportError:
                out[f"{target}.{name}"] |= files
    return sorted(((k, len(v)) for k, v in out.items()), key=lambda kv: (-kv[1], kv[0]))


def main(argv: list[str]) -> int:
    for root in argv:
        rows = missing(langgraph_imports([Path(root)]))
        print(f"## {root}: {len(rows)} langgraph imports that asyncgraph lacks")
        for what, files in rows:
            print(f"  {files:4d} files  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
