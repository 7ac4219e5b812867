"""What ``stream()`` shows around an ``interrupt()`` and its resume, on LangGraph and
asyncgraph side by side: the ``values`` chunk carrying the interrupt when it happens,
the state with the finished siblings' writes when the step pauses, the state a resume
starts from, and the finished siblings' updates marked ``cached`` on resume."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

import pytest

from tests.differential.test_persistence_flows import _clean

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict):
    v: Annotated[list, operator.add]


def _scenario(pkg: str, modes: Any, *, subgraphs: bool = False) -> list[Any]:
    G = importlib.import_module(f"{pkg}.graph")
    T = importlib.import_module(f"{pkg}.types")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")

    def a(s: S) -> dict[str, Any]:
        return {"v": ["a"]}

    def ask(s: S) -> dict[str, Any]:
        return {"v": ["ask:" + T.interrupt("which?")]}

    def sibling(s: S) -> dict[str, Any]:
        return {"v": ["sibling"]}

    def last(s: S) -> dict[str, Any]:
        return {"v": ["last"]}

    g = G.StateGraph(S)
    for fn in (a, ask, sibling, last):
        g.add_node(fn.__name__, fn)
    g.add_edge(G.START, "a")
    g.add_edge("a", "ask")
    g.add_edge("a", "sibling")
    g.add_edge(["ask", "sibling"], "last")
    app = g.compile(checkpointer=M.InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    first = list(app.stream({"v": ["in"]}, config, stream_mode=modes, subgraphs=subgraphs))
    resumed = list(app.stream(T.Command(resume="this"), config, stream_mode=modes, subgraphs=subgraphs))
    return [first, resumed, app.get_state(config).values]


@pytest.mark.parametrize("modes", ["values", ["values", "updates"], "updates"])
def test_stream_around_an_interrupt_and_its_resume(modes: Any) -> None:
    expected, got = (_scenario(pkg, modes) for pkg in PACKAGES)
    assert _clean(got) == _clean(expected)


def test_values_stream_marks_the_interrupt_and_restarts_from_the_saved_state() -> None:
    first, resumed, final = _scenario("asyncgraph", "values")
    paused = [c for c in first if "__interrupt__" in c]
    assert len(paused) == 1 and paused[0]["v"] == ["in", "a"]  # the state the step found
    assert first[-1] == {"v": ["in", "a", "sibling"]}  # with the finished sibling's write
    assert resumed[0] == {"v": ["in", "a"]}  # a resume first shows where it starts
    assert final == {"v": ["in", "a", "ask:this", "sibling", "last"]}


def test_resume_shows_finished_siblings_as_cached_updates() -> None:
    _, resumed, _ = _scenario("asyncgraph", "updates")
    assert resumed[0] == {"sibling": {"v": ["sibling"]}, "__metadata__": {"cached": True}}


def _breakpoint_scenario(pkg: str, where: str) -> list[Any]:
    G = importlib.import_module(f"{pkg}.graph")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")

    def a(s: S) -> dict[str, Any]:
        return {"v": ["a"]}

    def b(s: S) -> dict[str, Any]:
        return {"v": ["b"]}

    g = G.StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(G.START, "a")
    g.add_edge("a", "b")
    app = g.compile(checkpointer=M.InMemorySaver(), **{where: ["b" if where == "interrupt_before" else "a"]})
    config = {"configurable": {"thread_id": "t"}}
    modes = ["values", "updates"]
    return [list(app.stream({"v": ["in"]}, config, stream_mode=modes)), list(app.stream(None, config, stream_mode=modes))]


@pytest.mark.parametrize("where", ["interrupt_before", "interrupt_after"])
def test_a_breakpoint_streams_an_empty_interrupt_update(where: str) -> None:
    expected, got = (_breakpoint_scenario(pkg, where) for pkg in PACKAGES)
    assert got == expected
    assert got[0][-1] == ("updates", {"__interrupt__": ()})
