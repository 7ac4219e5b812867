"""astream_events(v2): the run tree (which runs start and end, under which names) is
LangGraph's, so tracing UIs and event filters by name keep working after migrating."""

from __future__ import annotations

import importlib
from collections import Counter
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


async def _agent_events(pkg: str) -> Counter[tuple[str, str]]:
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool

    from asyncgraph.testing import ScriptedChatModel

    G: Any = importlib.import_module(f"{pkg}.graph")

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return f"results for {query}"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "w"}, "id": "c1"}]),
            "It is sunny today.",
        ]
    ).bind_tools([lookup])

    async def call_model(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def call_tools(state: dict[str, Any]) -> dict[str, Any]:
        calls = state["messages"][-1].tool_calls
        return {"messages": [await lookup.ainvoke(tc) for tc in calls]}

    def route(state: dict[str, Any]) -> str:
        return "tools" if state["messages"][-1].tool_calls else G.END

    g = G.StateGraph(G.MessagesState)
    g.add_node("model", call_model)
    g.add_node("tools", call_tools)
    g.add_edge(G.START, "model")
    g.add_conditional_edges("model", route, ["tools", G.END])
    g.add_edge("tools", "model")
    events = [
        (e["event"], e["name"])
        async for e in g.compile().astream_events({"messages": [HumanMessage("q")]}, version="v2")
    ]
    return Counter(events)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_agent_events_match_langgraph_event_for_event() -> None:
    ours, theirs = await _agent_events("asyncgraph"), await _agent_events("langgraph")
    assert ours == theirs
    # Tokens and the per-node streamed outputs are all there.
    assert ours[("on_chat_model_stream", "ScriptedChatModel")] > 5
    assert ours[("on_chain_stream", "model")] == 2 and ours[("on_chain_stream", "tools")] == 1
