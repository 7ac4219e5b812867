"""The engine. ``Pregel`` is the compiled-graph class (loaded lazily, for import time)."""

from typing import Any

__all__ = ["Pregel"]


def __getattr__(name: str) -> Any:
    if name == "Pregel":
        from asyncgraph.pregel.main import Pregel

        return Pregel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
