"""A graph invoked inside a node, passing no config, runs under that node's callbacks
(langchain-core's context config), on LangGraph and asyncgraph alike: a tracer passed
to the outer call sees the inner graph's run nested under the node's run, and the
inner graph's chat model under the inner node."""

from __future__ import annotations

import importlib
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from asyncgraph.testing import ScriptedChatModel


class _Tree(BaseCallbackHandler):
    """Records (run name, parent run name) for every chain and chat model run."""

    def __init__(self) -> None:
        self.names: dict[UUID, str] = {}
        self.edges: set[tuple[str, str | None]] = set()

    def _start(self, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
        self.names[run_id] = name
        self.edges.add((name, self.names.get(parent_run_id) if parent_run_id else None))

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._start(kwargs.get("name") or "?", run_id, parent_run_id)

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._start("model", run_id, parent_run_id)


def _edges(pkg: str, is_async: bool) -> set[tuple[str, str | None]]:
    import asyncio

    G = importlib.import_module(f"{pkg}.graph")
    model = ScriptedChatModel(responses=["hello"], cycle=True)

    def call(state: Any) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    inner = G.StateGraph(G.MessagesState)
    inner.add_node("call", call)
    inner.add_edge(G.START, "call")
    sub = inner.compile(name="inner_graph")

    def wrapper(state: Any) -> dict[str, Any]:
        return {"messages": sub.invoke(state)["messages"][-1:]}

    async def awrapper(state: Any) -> dict[str, Any]:
        return {"messages": (await sub.ainvoke(state))["messages"][-1:]}

    outer = G.StateGraph(G.MessagesState)
    outer.add_node("wrapper", awrapper if is_async else wrapper)
    outer.add_edge(G.START, "wrapper")
    app = outer.compile(name="outer_graph")
    tree = _Tree()
    inp = {"messages": [("user", "hi")]}
    cfg: Any = {"callbacks": [tree]}
    if is_async:
        asyncio.run(app.ainvoke(inp, cfg))
    else:
        app.invoke(inp, cfg)
    return tree.edges


@pytest.mark.parametrize("is_async", [False, True])
def test_inner_graph_runs_nest_under_the_calling_node(is_async: bool) -> None:
    expected, got = (_edges(pkg, is_async) for pkg in ("langgraph", "asyncgraph"))
    assert {("inner_graph", "wrapper"), ("call", "inner_graph"), ("model", "call")} <= got
    assert got == expected
