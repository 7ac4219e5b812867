"""Details of LangGraph's behaviour that its own test suite checks, compared on both
libraries: stream order, breakpoint markers, error messages and types."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from typing_extensions import TypedDict

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict):
    a: int
    log: Annotated[list, operator.add]


def _graph(pkg: str, **compile_kw: Any) -> Any:
    g = importlib.import_module(f"{pkg}.graph")
    t = importlib.import_module(f"{pkg}.types")
    mem = importlib.import_module(f"{pkg}.checkpoint.memory")

    def x(s: S) -> dict:
        return {"a": 1, "log": ["x"]}

    def y(s: S) -> dict:
        return {"a": t.interrupt("q"), "log": ["y"]}

    b = g.StateGraph(S)
    b.add_node("x", x)
    b.add_node("y", y)
    b.add_edge(g.START, "x")
    b.add_edge("x", "y")
    return b.compile(checkpointer=mem.InMemorySaver(), **compile_kw)


def _shape(chunk: Any) -> Any:
    mode, data = chunk
    if mode == "tasks":
        return (mode, data["name"], "result" in data)
    if mode == "updates" and "__interrupt__" in data:
        return (mode, "__interrupt__", len(data["__interrupt__"]))
    return (mode, data)


def test_updates_come_before_the_task_result() -> None:
    seen = {}
    for pkg in PACKAGES:
        graph = _graph(pkg)
        cfg = {"configurable": {"thread_id": "1"}}
        seen[pkg] = [_shape(c) for c in graph.stream({"a": 0}, cfg, stream_mode=["updates", "tasks"])]
    assert seen["asyncgraph"] == seen["langgraph"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_breakpoint_streams_an_empty_interrupt_in_updates(where: str) -> None:
    seen = {}
    for pkg in PACKAGES:
        graph = _graph(pkg, **{f"interrupt_{where}": ["x"]})
        cfg = {"configurable": {"thread_id": "1"}}
        first = list(graph.stream({"a": 0}, cfg, stream_mode="updates"))
        seen[pkg] = (first, graph.invoke({"a": 0}, {"configurable": {"thread_id": "2"}}))
    assert seen["asyncgraph"] == seen["langgraph"]


class _Outputs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.outputs: list[Any] = []

    def on_chain_end(self, outputs: Any, *, parent_run_id: Any = None, **kwargs: Any) -> None:
        if parent_run_id is None:
            self.outputs.append(outputs)


def test_tracers_see_a_paused_state_without_the_interrupt_key() -> None:
    seen = {}
    for pkg in PACKAGES:
        handler = _Outputs()
        graph = _graph(pkg)
        out = graph.invoke({"a": 0}, {"configurable": {"thread_id": "1"}, "callbacks": [handler]})
        seen[pkg] = (sorted(out), handler.outputs)
    assert seen["asyncgraph"] == seen["langgraph"]


def test_two_overwrites_in_a_step() -> None:
    for pkg in PACKAGES:
        g = importlib.import_module(f"{pkg}.graph")
        t = importlib.import_module(f"{pkg}.types")
        errors = importlib.import_module(f"{pkg}.errors")
        b = g.StateGraph(S)
        b.add_node("p", lambda s: {"log": t.Overwrite(["p"])})
        b.add_node("q", lambda s: {"log": t.Overwrite(["q"])})
        b.add_edge(g.START, "p")
        b.add_edge(g.START, "q")
        with pytest.raises(errors.InvalidUpdateError, match="Can receive only one Overwrite value per super-step"):
            b.compile().invoke({"a": 0})


def _bad_reducer(a: Any) -> Any:
    return a


class BadReducer(TypedDict):
    hello: Annotated[str, _bad_reducer]


class NotASaver:
    pass


def test_schema_and_checkpointer_errors() -> None:
    for pkg in PACKAGES:
        g = importlib.import_module(f"{pkg}.graph")
        with pytest.raises(ValueError, match="Invalid reducer"):
            g.StateGraph(BadReducer)
        b = g.StateGraph(S)
        b.add_node("x", lambda s: s)
        b.add_edge(g.START, "x")
        with pytest.raises(TypeError, match="Invalid checkpointer provided"):
            b.compile(checkpointer=NotASaver())


class Joined(TypedDict):
    foo: Annotated[str, lambda a, b: ", ".join(x for x in (a, b) if x)]


def test_a_key_written_twice_by_one_node() -> None:
    seen = {}
    for pkg in PACKAGES:
        g = importlib.import_module(f"{pkg}.graph")
        t = importlib.import_module(f"{pkg}.types")
        mem = importlib.import_module(f"{pkg}.checkpoint.memory")
        b = g.StateGraph(Joined)
        b.add_node("one", lambda s: t.Command(update=[("foo", "a"), ("foo", "b")]))
        b.add_edge(g.START, "one")
        graph = b.compile(checkpointer=mem.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        chunks = [
            (mode, {k: v for k, v in data.items() if k != "id"} if mode == "tasks" else data)
            for mode, data in graph.stream({"foo": "in"}, cfg, stream_mode=["updates", "tasks"])
        ]
        history = [[(x.name, x.result) for x in s.tasks] for s in graph.get_state_history(cfg)]
        seen[pkg] = (chunks, history, graph.get_state(cfg).values)
    assert seen["asyncgraph"] == seen["langgraph"]
