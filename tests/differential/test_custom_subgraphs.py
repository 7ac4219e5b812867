"""``stream_mode="custom"`` and subgraphs, on LangGraph and asyncgraph side by side: without
``subgraphs=True`` only the root graph's custom chunks reach the stream, whether the subgraph
is a node or invoked inside one; with it, the subgraph's come with its namespace."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from typing_extensions import TypedDict


class S(TypedDict):
    x: int


def _graph(pkg: str, how: str) -> Any:
    G = importlib.import_module(f"{pkg}.graph")
    C = importlib.import_module(f"{pkg}.config")

    def inner(s: S) -> dict[str, int]:
        C.get_stream_writer()("from-sub")
        return {"x": 1}

    sb = G.StateGraph(S)
    sb.add_node("inner", inner)
    sb.add_edge(G.START, "inner")
    sub = sb.compile()

    def outer(s: S) -> dict[str, int]:
        C.get_stream_writer()("from-parent")
        return {"x": 2}

    def call_sub(s: S) -> Any:
        return sub.invoke(s)

    b = G.StateGraph(S)
    b.add_node("outer", outer)
    b.add_node("sub", sub if how == "node" else call_sub)
    b.add_edge(G.START, "outer")
    b.add_edge("outer", "sub")
    return b.compile()


def _shape(items: list[Any]) -> list[Any]:
    # Namespaces carry task ids: keep the node names only.
    return [(tuple(n.split(":")[0] for n in ns), chunk) if isinstance(ns, tuple) else ns for ns, chunk in items] \
        if items and isinstance(items[0], tuple) else items


@pytest.mark.parametrize("how", ["node", "invoked in a node"])
def test_custom_chunks_of_a_subgraph_need_subgraphs_true(how: str) -> None:
    plain = {pkg: list(_graph(pkg, how).stream({"x": 0}, stream_mode="custom")) for pkg in ("langgraph", "asyncgraph")}
    assert plain["asyncgraph"] == plain["langgraph"] == ["from-parent"]
    nested = {
        pkg: _shape(list(_graph(pkg, how).stream({"x": 0}, stream_mode="custom", subgraphs=True)))
        for pkg in ("langgraph", "asyncgraph")
    }
    assert nested["asyncgraph"] == nested["langgraph"] == [((), "from-parent"), (("sub",), "from-sub")]
