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


# -- the engine's fast path: engine_node / engine_path ---------------------------------


@pytest.mark.parametrize("with_saver", [False, True])
async def test_a_node_on_the_fast_path_gets_runtime_config_error_and_kwargs(with_saver: bool) -> None:
    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.config import get_config

    seen: list[Any] = []

    async def anode(state: S, runtime: Runtime, config: Any, store: Any = "default", error: Any = "e",
                    extra: int = 0) -> S:
        seen.append((runtime.context, config["configurable"].get("thread_id"), store, error, extra,
                     get_config()["metadata"]["langgraph_node"]))
        return {"x": state["x"] + 1}

    def snode(state: S, runtime: Runtime, config: Any, store: Any = "default", error: Any = "e",
              extra: int = 0) -> S:
        return {"x": -1}

    node = RunnableCallable(snode, anode, trace=False, extra=7)
    assert node.engine_node() is not None
    g: Any = StateGraph(S, context_schema=dict)
    g.add_node("n", node)
    g.add_edge(START, "n")
    app = g.compile(checkpointer=InMemorySaver() if with_saver else None)
    cfg: Any = {"configurable": {"thread_id": "t"}}
    assert await app.ainvoke({"x": 1}, cfg, context={"u": 1}) == {"x": 2}
    assert seen == [({"u": 1}, "t", None, None, 7, "n")]
    # The sync API runs the sync function (in a worker thread), as LangGraph does.
    assert (await asyncio.to_thread(app.invoke, {"x": 1}, {"configurable": {"thread_id": "t2"}}))["x"] == -1


async def test_a_node_on_the_fast_path_invokes_a_returned_runnable() -> None:
    async def ainner(s: Any) -> S:
        return {"x": s["x"] * 10}

    inner = RunnableCallable(None, ainner)

    async def anode(s: Any) -> Any:
        return inner

    g: Any = StateGraph(S)
    g.add_node("n", RunnableCallable(None, anode, trace=False))
    g.add_edge(START, "n")
    assert await g.compile().ainvoke({"x": 3}) == {"x": 30}
    g2: Any = StateGraph(S)
    g2.add_node("n", RunnableCallable(None, anode, trace=False, recurse=False))
    g2.add_edge(START, "n")
    with pytest.raises(Exception, match="RunnableCallable"):
        await g2.compile().ainvoke({"x": 3})


async def test_subclasses_overriding_invoke_or_ainvoke_are_called_through_them() -> None:
    calls: list[str] = []

    class Logged(RunnableCallable):
        async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            calls.append("ainvoke")
            return await super().ainvoke(input, config, **kwargs)

        def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            calls.append("invoke")
            return super().invoke(input, config, **kwargs)

    async def anode(s: Any) -> S:
        return {"x": 1}

    node = Logged(lambda s: {"x": 1}, anode, trace=False)
    assert node.engine_node() is None
    assert Logged(lambda s: "b", trace=False).engine_path() is None
    g: Any = StateGraph(S)
    g.add_node("a", node)
    g.add_node("b", lambda s: {"seen": "b"})
    g.add_edge(START, "a")
    g.add_conditional_edges("a", Logged(lambda s: "b", trace=False), ["b"])
    assert await g.compile().ainvoke({"x": 0}) == {"x": 1, "seen": "b"}
    assert calls == ["ainvoke", "invoke"]


def test_what_needs_invoke_or_ainvoke_gets_no_fast_path() -> None:
    async def anode(s: Any) -> Any:
        return s

    assert RunnableCallable(None, anode, trace=True).engine_node() is None
    assert RunnableCallable(None, anode, explode_args=True, trace=False).engine_node() is None
    assert RunnableCallable(lambda s: s, trace=False).engine_node() is None  # sync only
    assert RunnableCallable(lambda s: "a", trace=False).engine_path() is not None
    assert RunnableCallable(lambda s, config: "a", trace=False).engine_path() is None
    assert RunnableCallable(lambda s, k: "a", trace=False, k=1).engine_path() is None


async def test_an_edge_on_the_fast_path_invokes_a_returned_runnable_and_sees_the_config() -> None:
    from langchain_core.runnables.config import var_child_runnable_config

    seen: list[Any] = []

    def route(s: Any) -> str:
        cfg = var_child_runnable_config.get()
        seen.append(None if cfg is None else cfg["configurable"].get("thread_id"))
        return "b"

    g: Any = StateGraph(S)
    g.add_node("a", _async_const_node)
    g.add_node("b", lambda s: {"seen": "b"})
    g.add_edge(START, "a")
    g.add_conditional_edges("a", RunnableCallable(lambda s: RunnableCallable(route), trace=False), ["b"])
    app = g.compile()
    assert await app.ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}}) == {"x": 0, "seen": "b"}
    assert seen == ["t"]


async def _async_const_node(s: Any) -> S:
    return {"x": s["x"]}
