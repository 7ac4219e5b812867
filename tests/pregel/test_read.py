"""``graph.nodes[name]``: each node of a compiled graph runs on its own."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig

from asyncgraph.graph import START, StateGraph


class S(TypedDict):
    x: int


def test_nodes_run_their_action_alone() -> None:
    offset = 1

    def add(state: S, config: RunnableConfig) -> dict[str, Any]:
        assert isinstance(config, dict)
        return {"x": state["x"] + offset}

    async def double(state: S) -> dict[str, Any]:
        return {"x": state["x"] * 2}

    g = StateGraph(S)
    g.add_node("add", add, metadata={"k": "v"})
    g.add_node("double", double)
    g.add_edge(START, "add")
    g.add_edge("add", "double")
    app = g.compile()
    assert set(app.nodes) == {"add", "double"}
    assert app.nodes["add"].invoke({"x": 1}) == {"x": 2}
    assert app.nodes["add"].metadata == {"k": "v"}
    assert inspect.getclosurevars(app.nodes["add"].bound.func).nonlocals == {"offset": 1}
    assert asyncio.run(app.nodes["double"].ainvoke({"x": 3})) == {"x": 6}
    assert app.nodes is app.nodes  # built once


async def test_a_runnable_node_is_its_own_bound() -> None:
    from langchain_core.runnables import RunnableLambda

    inc = RunnableLambda(lambda s: {"x": s["x"] + 10})
    g = StateGraph(S)
    g.add_node("inc", inc)
    g.add_edge(START, "inc")
    app = g.compile()
    assert app.nodes["inc"].bound is inc
    assert await app.nodes["inc"].ainvoke({"x": 1}) == {"x": 11}
