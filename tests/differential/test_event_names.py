"""astream_events(v2): the run tree (which runs start and end, under which names) is
LangGraph's, so tracing UIs and event filters by name keep working after migrating."""

from __future__ import annotations

import importlib
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableLambda


class S(TypedDict):
    x: int


async def _run_tree(pkg: str) -> list[tuple[str, str]]:
    G: Any = importlib.import_module(f"{pkg}.graph")
    inner = RunnableLambda(lambda x: x + 1).with_config(run_name="inner_fn")

    async def node(state: S) -> dict[str, int]:
        return {"x": await inner.ainvoke(state["x"])}

    def route(state: S) -> str:
        return "sub"

    sub = G.StateGraph(S)
    sub.add_node("subnode", node)
    sub.add_edge(G.START, "subnode")
    g = G.StateGraph(S)
    g.add_node("node", node)
    g.add_node("sub", sub.compile())
    g.add_node("lam", RunnableLambda(lambda s: {"x": s["x"] * 2}).with_config(run_name="doubler"))
    g.add_edge(G.START, "node")
    g.add_conditional_edges("node", route, ["sub"])
    g.add_edge("sub", "lam")
    return [
        (e["event"], e["name"])
        async for e in g.compile().astream_events({"x": 0}, version="v2")
        if e["event"].endswith(("_start", "_end"))
    ]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_astream_events_run_tree_matches_langgraph() -> None:
    ours = await _run_tree("asyncgraph")
    theirs = await _run_tree("langgraph")
    assert ours == theirs
    # Runnables called inside a node keep their own names (not the node's).
    assert ("on_chain_start", "inner_fn") in ours
