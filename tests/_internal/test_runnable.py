"""RunnableCallable (langgraph._internal._runnable's contract) on asyncgraph."""

import asyncio
import threading
from typing import Any, TypedDict

import pytest

from asyncgraph._internal._config import patch_configurable
from asyncgraph._internal._runnable import RunnableCallable
from asyncgraph.graph import START, StateGraph
from asyncgraph.runtime import Runtime


class S(TypedDict, total=False):
    x: int
    seen: Any


def test_invoke_calls_the_sync_function_and_ainvoke_the_async_one() -> None:
    rc = RunnableCallable(lambda s: "sync", _async_const("async"))
    assert rc.invoke(1) == "sync"
    assert asyncio.run(rc.ainvoke(1)) == "async"


def _async_const(value: str) -> Any:
    async def f(s: Any) -> str:
        return value

    return f


def test_without_a_sync_function_invoke_is_a_type_error_naming_it() -> None:
    async def only_async(s: Any) -> int:
        return 1

    with pytest.raises(TypeError, match="only_async"):
        RunnableCallable(None, only_async).invoke(1)


async def test_ainvoke_without_an_async_function_runs_the_sync_one_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    rc = RunnableCallable(lambda s: threading.get_ident())
    assert await rc.ainvoke(1) != loop_thread


def test_constructor_kwargs_and_explode_args_are_passed() -> None:
    rc = RunnableCallable(lambda a, b=0, c=0: (a, b, c), c=3)
    assert rc.invoke(1) == (1, 0, 3)
    exploded = RunnableCallable(lambda a, b=0, c=0: (a, b, c), explode_args=True)
    assert exploded.invoke(((1,), {"b": 2})) == (1, 2, 0)


def test_a_required_runtime_outside_a_graph_is_a_value_error_naming_it() -> None:
    def node(state: Any, runtime: Runtime) -> None:
        return None

    with pytest.raises(ValueError, match="'runtime'"):
        RunnableCallable(node).invoke({})
    assert RunnableCallable(lambda s, store=None: store).invoke({}) is None


def test_a_returned_runnable_is_invoked_with_the_same_input() -> None:
    inner = RunnableCallable(lambda s: s * 2)
    assert RunnableCallable(lambda s: inner).invoke(21) == 42
    assert RunnableCallable(lambda s: inner, recurse=False).invoke(21) is inner


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_as_a_node_it_receives_the_runtime_config_and_context(mode: str) -> None:
    def node(state: S, runtime: Runtime, config: Any) -> S:
        return {"seen": (runtime.context, config["configurable"]["thread_id"])}

    async def anode(state: S, runtime: Runtime, config: Any) -> S:
        return node(state, runtime, config)

    g: Any = StateGraph(S, context_schema=dict)
    g.add_node("n", RunnableCallable(node, anode if mode == "async" else None, trace=False))
    g.add_edge(START, "n")
    app = g.compile()
    cfg: Any = {"configurable": {"thread_id": "t1"}}
    out = asyncio.run(app.ainvoke({"x": 1}, cfg, context={"user": "u"}))
    assert out["seen"] == ({"user": "u"}, "t1")


def test_patch_configurable_copies_and_merges() -> None:
    base: Any = {"tags": ["a"], "configurable": {"thread_id": "1", "k": 1}}
    patched = patch_configurable(base, {"thread_id": "2"})
    assert patched == {"tags": ["a"], "configurable": {"thread_id": "2", "k": 1}}
    assert base["configurable"]["thread_id"] == "1"
    assert patch_configurable(None, {"a": 1}) == {"configurable": {"a": 1}}
    assert patch_configurable({"tags": []}, {"a": 1}) == {"tags": [], "configurable": {"a": 1}}


@pytest.mark.parametrize("with_config", [False, True])
async def test_as_a_conditional_edge_its_sync_path_runs_on_the_loop_thread(with_config: bool) -> None:
    # LangChain's create_agent routes with RunnableCallable(fn): called on the loop's
    # thread like any sync path function (as LangGraph does), not hopped to a worker
    # thread on every step; it still gets the runtime and the run's config.
    loop_thread = threading.get_ident()
    seen: list[Any] = []

    def route(state: S, runtime: Runtime, config: Any) -> str:
        seen.append((threading.get_ident(), runtime.context, config["configurable"].get("thread_id")))
        return "b" if state["x"] > 0 else "c"

    g: Any = StateGraph(S, context_schema=dict)
    g.add_node("a", lambda s: {"x": s["x"]})
    g.add_node("b", lambda s: {"seen": "b"})
    g.add_node("c", lambda s: {"seen": "c"})
    g.add_edge(START, "a")
    g.add_conditional_edges("a", RunnableCallable(route, trace=False), ["b", "c"])
    app = g.compile()
    cfg: Any = {"configurable": {"thread_id": "t1"}} if with_config else None
    assert (await app.ainvoke({"x": 1}, cfg, context={"u": 1}))["seen"] == "b"
    assert (await app.ainvoke({"x": 0}, cfg, context={"u": 1}))["seen"] == "c"
    thread_id = "t1" if with_config else None
    assert seen == [(loop_thread, {"u": 1}, thread_id)] * 2
    # The sync API still works (the path then runs in the caller's thread).
    assert (await asyncio.to_thread(app.invoke, {"x": 1}, cfg, context={"u": 1}))["seen"] == "b"
    # As a node, a sync-only RunnableCallable still runs off the loop.
    g2: Any = StateGraph(S)
    g2.add_node("n", RunnableCallable(lambda s: {"seen": threading.get_ident()}, trace=False))
    g2.add_edge(START, "n")
    assert (await g2.compile().ainvoke({"x": 1}))["seen"] != loop_thread


async def test_a_given_config_reaches_the_function_as_it_is() -> None:
    # As in LangGraph: the config the engine (or a caller) passes is not copied per call.
    seen: list[Any] = []

    def f(state: Any, config: Any) -> None:
        seen.append(config)

    async def af(state: Any, config: Any) -> None:
        seen.append(config)

    cfg: Any = {"configurable": {"k": 1}}
    RunnableCallable(f, trace=False).invoke(1, cfg)
    await RunnableCallable(f, af, trace=False).ainvoke(1, cfg)
    assert seen[0] is cfg and seen[1] is cfg
    RunnableCallable(f, trace=False).invoke(1)  # without one, a complete default config
    assert seen[2]["configurable"] == {} and seen[2]["tags"] == []
