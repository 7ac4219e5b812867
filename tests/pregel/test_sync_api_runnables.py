"""A Runnable node runs its sync path under sync invoke / stream and its async path under
ainvoke / astream, as in LangGraph (LangChain's middleware relies on it)."""

from __future__ import annotations

import threading
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableLambda


class S(TypedDict):
    path: list[str]


def _graph(impl: str, node: Any, *, subgraph: bool = False) -> Any:
    if impl == "asyncgraph":
        from asyncgraph.graph import START, StateGraph
    else:
        from langgraph.graph import START, StateGraph  # type: ignore[assignment]
    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    app = g.compile()
    if not subgraph:
        return app
    outer = StateGraph(S)
    outer.add_node("inner", app)
    outer.add_edge(START, "inner")
    return outer.compile()


def _two_faced() -> Any:
    def sync_fn(state: S) -> dict[str, list[str]]:
        return {"path": ["sync"]}

    async def async_fn(state: S) -> dict[str, list[str]]:
        return {"path": ["async"]}

    return RunnableLambda(sync_fn, afunc=async_fn)


@pytest.mark.parametrize("impl", ["asyncgraph", "langgraph"])
@pytest.mark.parametrize("subgraph", [False, True])
def test_sync_apis_run_the_sync_path_of_a_runnable_node(impl: str, subgraph: bool) -> None:
    app = _graph(impl, _two_faced(), subgraph=subgraph)
    assert app.invoke({"path": []}) == {"path": ["sync"]}
    assert app.invoke({"path": []}, stream_mode="updates")[-1] in (
        {"node": {"path": ["sync"]}}, {"inner": {"path": ["sync"]}})
    assert list(app.stream({"path": []}, stream_mode="values"))[-1] == {"path": ["sync"]}


@pytest.mark.parametrize("impl", ["asyncgraph", "langgraph"])
@pytest.mark.parametrize("subgraph", [False, True])
async def test_async_apis_run_the_async_path_of_a_runnable_node(impl: str, subgraph: bool) -> None:
    app = _graph(impl, _two_faced(), subgraph=subgraph)
    assert await app.ainvoke({"path": []}) == {"path": ["async"]}
    assert [c async for c in app.astream({"path": []}, stream_mode="values")][-1] == {"path": ["async"]}


@pytest.mark.parametrize("impl", ["asyncgraph", "langgraph"])
def test_an_async_only_runnable_node_fails_under_sync_invoke(impl: str) -> None:
    async def only_async(state: S) -> dict[str, list[str]]:
        return {"path": ["async"]}

    class NoSync(RunnableLambda):  # type: ignore[type-arg]
        def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            raise NotImplementedError("no sync path")

    app = _graph(impl, NoSync(only_async))
    with pytest.raises(NotImplementedError, match="no sync path"):
        app.invoke({"path": []})


def test_the_sync_path_runs_off_the_event_loop_thread() -> None:
    seen: list[str] = []

    def sync_fn(state: S) -> dict[str, list[str]]:
        import asyncio

        try:
            asyncio.get_running_loop()
            seen.append("loop")
        except RuntimeError:
            seen.append("no loop")
        return {"path": [threading.current_thread().name]}

    app = _graph("asyncgraph", RunnableLambda(sync_fn))
    app.invoke({"path": []})
    assert seen == ["no loop"]
