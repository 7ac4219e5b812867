"""Graph building: ``StateGraph``, ``START``, ``END``, ``MessagesState``, ``add_messages``
(and the deprecated ``MessageGraph``)."""

from typing import Any

from asyncgraph.constants import END, START
from asyncgraph.graph.state import StateGraph

__all__ = ["END", "START", "MessageGraph", "MessagesState", "StateGraph", "add_messages"]


def __getattr__(name: str) -> Any:
    # The message helpers import langchain-core's message classes (~0.2 s): load them
    # on first use, for import time.
    if name in ("MessageGraph", "MessagesState", "add_messages"):
        from asyncgraph.graph import message

        return getattr(message, name)
    if name == "CompiledStateGraph":
        from asyncgraph.pregel.main import CompiledStateGraph

        return CompiledStateGraph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
