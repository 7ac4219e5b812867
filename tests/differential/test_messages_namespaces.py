"""``stream_mode="messages"`` and subgraphs, on LangGraph and asyncgraph side by side:
without ``subgraphs=True`` a subgraph's model tokens stay out of the parent's stream
(the subgraph node's returned message shows instead), and a graph streamed explicitly
inside a node shows its own tokens to its own caller only."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig

from asyncgraph.testing import ScriptedChatModel

PACKAGES = ("langgraph", "asyncgraph")


def _model_graph(G: Any) -> tuple[Any, Any]:
    """A one-node graph whose node calls a scripted model; and that node's function."""
    model = ScriptedChatModel(responses=["three word answer"], cycle=True)

    def call(state: Any) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    g = G.StateGraph(G.MessagesState)
    g.add_node("call", call)
    g.add_edge(G.START, "call")
    return g.compile(), call


def _nested_graph(pkg: str) -> Any:
    G = importlib.import_module(f"{pkg}.graph")
    sub, call = _model_graph(G)
    parent = G.StateGraph(G.MessagesState)
    parent.add_node("inner", sub)
    parent.add_node("top", call)
    parent.add_edge(G.START, "inner")
    parent.add_edge("inner", "top")
    return parent.compile()


def _streamed_inside_a_node(pkg: str) -> tuple[Any, list[str]]:
    G = importlib.import_module(f"{pkg}.graph")
    inner_app, _ = _model_graph(G)
    seen_inside: list[str] = []

    def node(state: Any, config: RunnableConfig) -> dict[str, Any]:
        text = ""
        for chunk, _ in inner_app.stream(state, config, stream_mode="messages"):
            text += chunk.content
        seen_inside.append(text)
        return {"messages": [("ai", text)]}

    outer = G.StateGraph(G.MessagesState)
    outer.add_node("node", node)
    outer.add_edge(G.START, "node")
    return outer.compile(), seen_inside


def _tokens(app: Any, subgraphs: bool) -> list[tuple[Any, ...]]:
    out = []
    for item in app.stream({"messages": [("user", "hi")]}, stream_mode="messages", subgraphs=subgraphs):
        ns, (chunk, meta) = item if subgraphs else ((), item)
        out.append((len(ns), meta["langgraph_node"], chunk.content))
    return out


@pytest.mark.parametrize("subgraphs", [False, True])
def test_subgraph_tokens_follow_the_subgraphs_flag(subgraphs: bool) -> None:
    expected, got = (_tokens(_nested_graph(pkg), subgraphs) for pkg in PACKAGES)
    assert got == expected
    if not subgraphs:
        assert {node for _, node, _ in got} == {"inner", "top"}  # never the subgraph's "call"


def test_a_graph_streamed_inside_a_node_keeps_its_tokens() -> None:
    results = []
    for pkg in PACKAGES:
        app, seen_inside = _streamed_inside_a_node(pkg)
        results.append((_tokens(app, False), seen_inside))
    assert results[1] == results[0]
    outer_stream, seen_inside = results[1]
    assert outer_stream == [] and seen_inside == ["three word answer"]


def _invoked_inside_a_node(pkg: str, is_async: bool) -> Any:
    """A parent whose node invokes a model subgraph itself, passing no config (the
    subgraph finds the node's callbacks through langchain-core's context)."""
    G = importlib.import_module(f"{pkg}.graph")
    sub, call = _model_graph(G)

    def node(state: Any) -> dict[str, Any]:
        return {"messages": sub.invoke(state)["messages"][-1:]}

    async def anode(state: Any) -> dict[str, Any]:
        return {"messages": (await sub.ainvoke(state))["messages"][-1:]}

    parent = G.StateGraph(G.MessagesState)
    parent.add_node("wrapper", anode if is_async else node)
    parent.add_node("top", call)
    parent.add_edge(G.START, "wrapper")
    parent.add_edge("wrapper", "top")
    return parent.compile()


async def _atokens(app: Any, subgraphs: bool) -> list[tuple[Any, ...]]:
    out = []
    async for item in app.astream({"messages": [("user", "hi")]}, stream_mode="messages", subgraphs=subgraphs):
        ns, (chunk, meta) = item if subgraphs else ((), item)
        out.append((len(ns), meta["langgraph_node"], chunk.content))
    return out


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("subgraphs", [False, True])
def test_tokens_of_a_subgraph_invoked_inside_a_node(subgraphs: bool, is_async: bool) -> None:
    def tokens(pkg: str) -> list[tuple[Any, ...]]:
        app = _invoked_inside_a_node(pkg, is_async)
        return asyncio.run(_atokens(app, subgraphs)) if is_async else _tokens(app, subgraphs)

    expected, got = (tokens(pkg) for pkg in PACKAGES)
    assert got == expected
    if subgraphs:  # the subgraph's model, under the wrapper task's namespace
        assert (1, "call", "answer") in got
    else:
        assert all(depth == 0 for depth, _, _ in got)
