"""A ``Send``, a ``Command(goto=...)`` or a conditional edge naming a node the graph does not
have: LangGraph drops it and goes on; asyncgraph ends the run the same way (with a
``UserWarning``; ``compile(strict=True)`` refuses it instead)."""

from __future__ import annotations

import warnings
from typing import Any, TypedDict

import pytest

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: int


def _graphs(pkg: str) -> dict[str, Any]:
    m = modules(pkg)
    out = {}
    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: {"x": s["x"] + 1})
    g.add_edge(m.graph.START, "a")
    g.add_conditional_edges("a", lambda s: [m.types.Send("nope", s)])
    out["edge_send"] = g.compile()
    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: {"x": s["x"] + 1})
    g.add_edge(m.graph.START, "a")
    g.add_conditional_edges("a", lambda s: "ghost")
    out["edge_name"] = g.compile()
    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: m.types.Command(update={"x": 7}, goto=[m.types.Send("nope", s), "ghost"]))
    g.add_node("b", lambda s: {"x": s["x"] * 2})
    g.add_edge(m.graph.START, "a")
    g.add_edge("a", "b")
    out["command"] = g.compile()
    return out


@pytest.mark.parametrize("case", ["edge_send", "edge_name", "command"])
async def test_a_missing_destination_is_dropped_as_on_langgraph(case: str) -> None:
    results = {}
    for pkg in PACKAGES:
        app = _graphs(pkg)[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[pkg] = (
                await app.ainvoke({"x": 1}),
                [c async for c in app.astream({"x": 1}, stream_mode="updates")],
            )
    assert results["asyncgraph"] == results["langgraph"]
