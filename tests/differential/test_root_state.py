"""A root state (``StateGraph(Annotated[list, operator.add])``, ``StateGraph(list[str])``):
the state is one value that nodes read and return, on LangGraph and on asyncgraph."""

from __future__ import annotations

import importlib
import operator
import types
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

PACKAGES = ("langgraph", "asyncgraph")


def _m(pkg: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        graph=importlib.import_module(f"{pkg}.graph"),
        types=importlib.import_module(f"{pkg}.types"),
        InMemorySaver=importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver,
    )


def _fan_out(m: Any) -> Any:
    b = m.graph.StateGraph(Annotated[list, operator.add])
    b.add_node("a", lambda s: ["a"])
    b.add_node("b", lambda s: [f"b{len(s)}"])
    b.add_node("c", lambda s: None)  # writes nothing
    b.add_edge(m.graph.START, "a")
    b.add_conditional_edges("a", lambda s: [m.types.Send("b", s), m.types.Send("b", s), "c"])
    return b.compile(checkpointer=m.InMemorySaver())


def _commands(m: Any) -> Any:
    def node_a(state: str) -> Any:
        return [m.types.Command(update="a1"), m.types.Command(update="a2")]

    def node_b(state: str) -> Any:
        return [m.types.Command(update="b"), "c"]

    b = m.graph.StateGraph(Annotated[str, operator.add])
    b.add_sequence([node_a, node_b]).add_edge(m.graph.START, "node_a")
    return b.compile(checkpointer=m.InMemorySaver())


def _plain(m: Any) -> Any:
    b = m.graph.StateGraph(list[str])
    b.add_node("n", lambda s: [*s, "n"])
    b.add_edge(m.graph.START, "n")
    return b.compile(checkpointer=m.InMemorySaver())


class RootKey(TypedDict):
    __root__: Annotated[list, operator.add]


def _root_key(m: Any) -> Any:
    # A TypedDict whose only key is __root__ is a root state too.
    b = m.graph.StateGraph(RootKey)
    b.add_node("n", lambda s: [len(s)])
    b.add_edge(m.graph.START, "n")
    return b.compile(checkpointer=m.InMemorySaver())


def _interrupting(m: Any) -> Any:
    def ask(state: list) -> list:
        return [m.types.interrupt("why?")]

    b = m.graph.StateGraph(Annotated[list, operator.add])
    b.add_node("ask", ask)
    b.add_edge(m.graph.START, "ask")
    return b.compile(checkpointer=m.InMemorySaver())


@pytest.mark.parametrize(
    "build,inp",
    [(_fan_out, ["x"]), (_commands, ""), (_plain, ["q"]), (_root_key, ["r"])],
    ids=["fan_out", "commands", "plain", "root_key"],
)
def test_output_streams_and_state(build: Any, inp: Any) -> None:
    seen = {}
    for pkg in PACKAGES:
        m = _m(pkg)
        graph = build(m)
        cfg = {"configurable": {"thread_id": "1"}}
        out = graph.invoke(inp, cfg)
        chunks = list(graph.stream(inp, {"configurable": {"thread_id": "2"}}, stream_mode=["values", "updates"]))
        state = graph.get_state(cfg)
        history = [(s.values, s.next, [t.result for t in s.tasks]) for s in graph.get_state_history(cfg)]
        graph.update_state(cfg, inp, as_node=state.metadata and "__start__")
        seen[pkg] = (out, chunks, state.values, history, graph.get_state(cfg).values)
    assert seen["asyncgraph"] == seen["langgraph"]


def test_interrupt_and_resume() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = _m(pkg)
        graph = _interrupting(m)
        cfg = {"configurable": {"thread_id": "1"}}
        paused = graph.invoke(["start"], cfg)
        done = graph.invoke(m.types.Command(resume="because"), cfg)
        seen[pkg] = ([i.value for i in paused["__interrupt__"]], list(paused), done)
    assert seen["asyncgraph"] == seen["langgraph"]


class PlainClass:
    info: Annotated[list, operator.add]


def test_a_plain_annotated_class_is_a_dict_state() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = _m(pkg)
        b = m.graph.StateGraph(PlainClass)
        b.add_node("n", lambda s: {"info": [len(s["info"])]})
        b.add_edge(m.graph.START, "n")
        seen[pkg] = b.compile().invoke({"info": ["a"]})
    assert seen["asyncgraph"] == seen["langgraph"] == {"info": ["a", 1]}
