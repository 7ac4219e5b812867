"""``stream_mode="checkpoints"`` on LangGraph and asyncgraph side by side: each chunk's
metadata and its ``parent_config``, which names the checkpoint before it."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict):
    v: Annotated[list, operator.add]


def _chunks(pkg: str) -> list[dict[str, Any]]:
    G = importlib.import_module(f"{pkg}.graph")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")
    g = G.StateGraph(S)
    g.add_node("a", lambda s: {"v": ["a"]})
    g.add_node("b", lambda s: {"v": ["b"]})
    g.add_edge(G.START, "a")
    g.add_edge("a", "b")
    app = g.compile(checkpointer=M.InMemorySaver())
    return list(app.stream({"v": ["in"]}, {"configurable": {"thread_id": "t"}}, stream_mode="checkpoints"))


def _shape(chunks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    ids = [c["config"]["configurable"]["checkpoint_id"] for c in chunks]
    out = []
    for i, c in enumerate(chunks):
        parent = c["parent_config"]
        parent_index = ids.index(parent["configurable"]["checkpoint_id"]) if parent else None
        out.append((c["metadata"], parent_index, c["next"], c["values"]))
    return out


def test_checkpoint_chunks_link_to_their_parents_like_langgraph() -> None:
    expected, got = (_shape(_chunks(pkg)) for pkg in PACKAGES)
    assert got == expected
    assert [parent for _, parent, _, _ in got] == [None, 0, 1, 2]
