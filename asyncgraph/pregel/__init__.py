"""The engine. ``Pregel`` is the compiled-graph class, and with ``NodeBuilder`` the
low-level API (graphs made of nodes and channels). Both load lazily, for import time."""

from typing import Any

__all__ = ["NodeBuilder", "Pregel"]


def __getattr__(name: str) -> Any:
    if name == "Pregel":
        from asyncgraph.pregel.main import Pregel

        return Pregel
    if name == "NodeBuilder":
        from asyncgraph.pregel._lowlevel import NodeBuilder

        return NodeBuilder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
